//! `/api/admin/credentials` and `/api/admin/whoami`: named admin credentials (create,
//! list, revoke) and who the caller is. A secret is answered once, at creation; the
//! store keeps only its SHA-256.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use time::Duration;

use crate::AppState;
use crate::credentials::{Caller, new_secret};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId};
use crate::store::audit::{Actor, Event};
use crate::store::{credentials, from_ms, is_unique_violation};
use mosaic_contract::credentials::{
    CreateCredentialRequest, CreatedCredential, Credential, MAX_EXPIRES_IN, WhoAmI, check_name,
};
use mosaic_contract::types::{AuditAction, ErrorBody, Page};

#[utoipa::path(
    post,
    path = "/api/admin/credentials",
    tag = "credentials",
    request_body = CreateCredentialRequest,
    responses(
        (status = 201, description = "The new credential and its secret, shown this once", body = CreatedCredential),
        (status = 400, description = "Invalid name, role or expires_in", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "The credential's role may not do this (`forbidden_role`)", body = ErrorBody),
        (status = 409, description = "A credential of that name exists", body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<CreateCredentialRequest>,
) -> ApiResult<(StatusCode, Json<CreatedCredential>)> {
    check_name(&req.name).map_err(ApiError::invalid)?;
    if let Some(secs) = req.expires_in
        && !(1..=MAX_EXPIRES_IN).contains(&secs)
    {
        return Err(ApiError::invalid(format!(
            "expires_in must be from 1 to {MAX_EXPIRES_IN} seconds"
        )));
    }
    let (secret, digest) = new_secret();
    let created = state
        .store
        .write(move |tx, now| {
            let created_at = from_ms(now);
            let credential = Credential {
                id: uuid::Uuid::new_v4().to_string(),
                name: req.name,
                role: req.role,
                created_at,
                created_by: caller.name.to_string(),
                expires_at: req
                    .expires_in
                    .map(|s| created_at + Duration::seconds(s as i64)),
                revoked_at: None,
            };
            credentials::insert(tx, &credential, &digest).map_err(|e| {
                if is_unique_violation(&e) {
                    ApiError::conflict(format!(
                        "a credential named `{}` exists: choose another name, or revoke it \
                         first (`mosaic auth credential revoke <id>`) and pick a new name",
                        credential.name
                    ))
                } else {
                    e.into()
                }
            })?;
            let event = Event::new(AuditAction::CredentialCreated, Actor::Admin).detail(format!(
                "credential {} ({}) with role {}",
                credential.name, credential.id, credential.role
            ));
            Ok::<_, ApiError>((credential, event))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedCredential {
            credential: created,
            secret: secret.to_string(),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/admin/credentials",
    tag = "credentials",
    responses(
        (status = 200, description = "Every named credential, oldest first (never a secret)", body = Page<Credential>),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "The credential's role may not do this (`forbidden_role`)", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Page<Credential>>> {
    let items = state
        .store
        .run(|conn| Ok::<_, ApiError>(credentials::list(conn)?))
        .await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(
    delete,
    path = "/api/admin/credentials/{id}",
    tag = "credentials",
    params(("id" = String, Path, description = "The credential's ID")),
    responses(
        (status = 200, description = "The credential, revoked: refused from its next request on, by every replica", body = Credential),
        (status = 400, description = "Invalid ID", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "The credential's role may not do this (`forbidden_role`)", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 409, description = "Already revoked", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> ApiResult<Json<Credential>> {
    let credential = state
        .store
        .write(move |tx, now| {
            let Some(mut credential) = credentials::find(tx, &id)? else {
                return Err(ApiError::not_found(format!(
                    "no credential {id}: `mosaic auth credential list` shows them"
                )));
            };
            if !credentials::revoke(tx, &id, now)? {
                return Err(ApiError::conflict(format!(
                    "credential {} ({id}) is already revoked",
                    credential.name
                )));
            }
            credential.revoked_at = Some(from_ms(now));
            let event = Event::new(AuditAction::CredentialRevoked, Actor::Admin)
                .detail(format!("credential {} ({id})", credential.name));
            Ok((credential, event))
        })
        .await?;
    Ok(Json(credential))
}

#[utoipa::path(
    get,
    path = "/api/admin/whoami",
    tag = "credentials",
    responses(
        (status = 200, description = "The credential this request was made with", body = WhoAmI),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn whoami(Extension(caller): Extension<Caller>) -> Json<WhoAmI> {
    Json(WhoAmI {
        name: caller.name.to_string(),
        role: caller.role,
        expires_at: caller.expires_at,
    })
}
