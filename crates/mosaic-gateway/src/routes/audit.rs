//! `GET /api/admin/federation/audit`: the audit log, oldest first, filtered and paged.

use axum::Json;
use axum::extract::State;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::store::audit::{self, AuditFilter};
use crate::store::page::PageRequest;
use crate::store::to_ms;
use mosaic_contract::query::AuditListQuery;
use mosaic_contract::types::{AuditEntry, ErrorBody, Page};

#[utoipa::path(
    get,
    path = "/api/admin/federation/audit",
    tag = "audit",
    params(AuditListQuery),
    responses(
        (status = 200, description = "One page of audit entries, oldest first", body = Page<AuditEntry>),
        (status = 400, description = "Bad action, since, limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "The credential's role may not do this (`forbidden_role`)", body = ErrorBody),
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
    if let Some(actor) = &q.actor {
        super::check_printable("actor", actor)?;
    }
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let since = q
        .since
        .as_deref()
        .map(mosaic_contract::timestamp::parse)
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
        actor: q.actor,
        since: since.map(to_ms),
    };
    let page = state
        .store
        // Expiring first makes due `grant.expired` entries part of the answer.
        .read(move |tx, _now| Ok::<_, ApiError>(audit::list(tx, &filter, &page)?))
        .await?;
    Ok(Json(page))
}
