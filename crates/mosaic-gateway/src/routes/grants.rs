//! `/api/admin/federation/grants`: create, list, show, revoke.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, OptionalJsonBody, PathId, QueryParams};
use crate::store::audit::{Actor, Event};
use crate::store::grants::{self, GrantFilter};
use crate::store::page::PageRequest;
use crate::store::{from_ms, to_ms, tokens};
use mosaic_contract::query::GrantListQuery;
use mosaic_contract::types::{
    AuditAction, CreateGrantRequest, ErrorBody, Grant, GrantStatus, Page, RevokeGrantRequest,
};

#[utoipa::path(
    post,
    path = "/api/admin/federation/grants",
    tag = "grants",
    request_body = CreateGrantRequest,
    responses(
        (status = 201, description = "The new grant, `pending`", body = Grant),
        (status = 400, description = "Invalid body or scope; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<CreateGrantRequest>,
) -> ApiResult<(StatusCode, Json<Grant>)> {
    req.validate().map_err(|e| ApiError::invalid(e.message))?;
    let grant = state
        .store
        .write(move |tx, now| {
            let created_at = from_ms(now);
            if let Some(expires_at) = req.expires_at
                && expires_at <= created_at
            {
                return Err(ApiError::invalid("expires_at must be in the future"));
            }
            let grant = Grant {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: req.user_id,
                peer_id: req.peer_id,
                scope: req.scope,
                status: GrantStatus::Pending,
                created_at,
                activated_at: None,
                revoked_at: None,
                revoked_reason: None,
                // Stored with millisecond precision; answer with what a read will return.
                expires_at: req.expires_at.map(|t| from_ms(to_ms(t))),
                peer_cert_fingerprint: None,
                peer_cert_not_after: None,
                tokens: None,
            };
            grants::insert(tx, &grant)?;
            let event = Event::new(AuditAction::GrantCreated, Actor::Admin)
                .grant(&grant.id)
                .detail(format!(
                    "for user {} and peer {}",
                    grant.user_id, grant.peer_id
                ));
            Ok((grant, event))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

#[utoipa::path(
    get,
    path = "/api/admin/federation/grants",
    tag = "grants",
    params(GrantListQuery),
    responses(
        (status = 200, description = "One page of grants, in (created_at, id) order", body = Page<Grant>),
        (status = 400, description = "Bad status, limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<GrantListQuery>,
) -> ApiResult<Json<Page<Grant>>> {
    if let Some(peer_id) = &q.peer_id {
        super::check_printable("peer_id", peer_id)?;
    }
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = GrantFilter {
        peer_id: q.peer_id,
        status: q
            .status
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e: String| ApiError::invalid(format!("status: {e}")))?,
    };
    let page = state
        .store
        .read(move |tx, _now| Ok::<_, ApiError>(grants::list(tx, &filter, &page)?))
        .await?;
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/api/admin/federation/grants/{id}",
    tag = "grants",
    params(("id" = String, Path, description = "The grant's ID")),
    responses(
        (status = 200, description = "The grant, with the history of its enrollment tokens", body = Grant),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such grant", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn show(State(state): State<AppState>, PathId(id): PathId) -> ApiResult<Json<Grant>> {
    let grant = state
        .store
        .read(move |tx, now| {
            let mut grant = grants::get(tx, &id)?.ok_or_else(|| no_such_grant(&id))?;
            grant.tokens = Some(tokens::history(tx, &id, now)?);
            Ok::<_, ApiError>(grant)
        })
        .await?;
    Ok(Json(grant))
}

#[utoipa::path(
    patch,
    path = "/api/admin/federation/grants/{id}/revoke",
    tag = "grants",
    params(("id" = String, Path, description = "The grant's ID")),
    request_body(content = RevokeGrantRequest, description = "Optional; the reason goes to the audit log"),
    responses(
        (status = 200, description = "The grant, now `revoked`", body = Grant),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such grant", body = ErrorBody),
        (status = 409, description = "Already revoked or expired", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    PathId(id): PathId,
    OptionalJsonBody(req): OptionalJsonBody<RevokeGrantRequest>,
) -> ApiResult<Json<Grant>> {
    req.validate().map_err(|e| ApiError::invalid(e.message))?;
    let grant = state
        .store
        .write(move |tx, now| {
            let grant = grants::get(tx, &id)?.ok_or_else(|| no_such_grant(&id))?;
            if !grants::revoke(tx, &id, now, req.reason.as_deref())? {
                return Err(ApiError::conflict(format!(
                    "grant {id} is already {}: a grant is revoked at most once, and an expired one stays expired",
                    grant.status.as_str()
                )));
            }
            let mut event = Event::new(AuditAction::GrantRevoked, Actor::Admin).grant(&id);
            event.detail = req.reason;
            let grant = grants::get(tx, &id)?.ok_or_else(|| no_such_grant(&id))?;
            Ok((grant, event))
        })
        .await?;
    Ok(Json(grant))
}

pub fn no_such_grant(id: &str) -> ApiError {
    ApiError::not_found(format!("no grant with ID {id}"))
}
