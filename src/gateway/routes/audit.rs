//! `GET /api/admin/federation/audit`: the audit log, oldest first, filtered and paged.

use axum::Json;
use axum::extract::State;

use crate::api::query::AuditListQuery;
use crate::api::types::{AuditEntry, ErrorBody, Page};
use crate::gateway::AppState;
use crate::gateway::error::{ApiError, ApiResult};
use crate::gateway::extract::QueryParams;
use crate::gateway::store::audit::{self, AuditFilter};
use crate::gateway::store::page::PageRequest;
use crate::gateway::store::to_ms;

#[utoipa::path(
    get,
    path = "/api/admin/federation/audit",
    tag = "audit",
    params(AuditListQuery),
    responses(
        (status = 200, description = "One page of audit entries, oldest first", body = Page<AuditEntry>),
        (status = 400, description = "Bad action, since, limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<AuditListQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    if let Some(grant_id) = &q.grant_id {
        super::check_printable("grant_id", grant_id)?;
    }
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let since = q
        .since
        .as_deref()
        .map(crate::api::timestamp::parse)
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
        // Expiring first makes due `grant.expired` entries part of the answer.
        .read(move |tx, _now| Ok::<_, ApiError>(audit::list(tx, &filter, &page)?))
        .await?;
    Ok(Json(page))
}
