//! `GET /api/admin/federation/audit`: the audit log, oldest first, filtered and paged.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::IntoParams;

use crate::api::types::{AuditEntry, ErrorBody, Page};
use crate::gateway::AppState;
use crate::gateway::error::{ApiError, ApiResult};
use crate::gateway::extract::QueryParams;
use crate::gateway::store::audit::{self, AuditFilter};
use crate::gateway::store::grants;
use crate::gateway::store::page::PageRequest;
use crate::gateway::store::to_ms;

/// Query of `GET /audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAuditQuery {
    /// Only entries about this grant.
    pub grant_id: Option<String>,
    /// Only entries of this action, e.g. `grant.revoked`.
    pub action: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/admin/federation/audit",
    tag = "audit",
    params(ListAuditQuery),
    responses(
        (status = 200, description = "One page of audit entries, oldest first", body = Page<AuditEntry>),
        (status = 400, description = "Bad action, since, limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ListAuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let since = q
        .since
        .as_deref()
        .map(|s| OffsetDateTime::parse(s, &Rfc3339))
        .transpose()
        .map_err(|e| ApiError::invalid(format!("since must be an RFC 3339 time: {e}")))?;
    let filter = AuditFilter {
        grant_id: q.grant_id,
        action: q
            .action
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e: String| ApiError::invalid(format!("action: {e}")))?,
        since: since.map(to_ms),
    };
    let page = state
        .store
        .run(move |conn| {
            // Expiring first makes due `grant.expired` entries part of the answer.
            let (tx, _now) = grants::begin(conn)?;
            let page = audit::list(&tx, &filter, &page)?;
            tx.commit()?;
            Ok(page)
        })
        .await?;
    Ok(Json(page))
}
