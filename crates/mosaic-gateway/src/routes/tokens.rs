//! `POST /api/admin/federation/grants/{id}/tokens`: single-use enrollment tokens. The
//! token is returned once; the gateway keeps only its SHA-256.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::Duration;

use super::grants::no_such_grant;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{OptionalJsonBody, PathId};
use crate::store::audit::{Actor, Event};
use crate::store::{from_ms, grants, tokens};
use mosaic_contract::paths;
use mosaic_contract::types::{
    AuditAction, CreateTokenRequest, EnrollmentToken, ErrorBody, GrantStatus, TOKEN_TTL_DEFAULT,
    TOKEN_TTL_RANGE,
};
use mosaic_crypto::{random_bytes, random_secret};

/// The SHA-256 of a token, the only form in which it is stored or looked up.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[utoipa::path(
    post,
    path = "/api/admin/federation/grants/{id}/tokens",
    tag = "grants",
    params(("id" = String, Path, description = "The grant's ID")),
    request_body(content = CreateTokenRequest, description = "Optional; `ttl_seconds` from 1 to 900, default 900"),
    responses(
        (status = 201, description = "The token, shown this once", body = EnrollmentToken),
        (status = 400, description = "TTL out of range, or invalid body", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such grant", body = ErrorBody),
        (status = 409, description = "The grant is not `pending`", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    PathId(grant_id): PathId,
    OptionalJsonBody(req): OptionalJsonBody<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<EnrollmentToken>)> {
    let ttl = req.ttl_seconds.unwrap_or(TOKEN_TTL_DEFAULT);
    if !TOKEN_TTL_RANGE.contains(&ttl) {
        return Err(ApiError::invalid(format!(
            "ttl_seconds must be from {} to {} seconds, got {ttl}",
            TOKEN_TTL_RANGE.start(),
            TOKEN_TTL_RANGE.end()
        )));
    }

    // 256 random bits; the handle is a separate random name that is safe to show.
    let secret = random_secret::<32>();
    let token = URL_SAFE_NO_PAD.encode(secret.as_ref());
    let hash = token_hash(&token);
    let handle = format!("tok_{}", hex::encode(random_bytes::<8>()));

    let (grant_id, expires_at) = state
        .store
        .write(move |tx, now| {
            let grant = grants::get(tx, &grant_id)?.ok_or_else(|| no_such_grant(&grant_id))?;
            if grant.status != GrantStatus::Pending {
                return Err(ApiError::conflict(format!(
                    "grant {grant_id} is {}: enrollment tokens are only issued for pending grants",
                    grant.status.as_str()
                )));
            }
            let expires_at = now + Duration::seconds(ttl.into()).whole_milliseconds() as i64;
            tokens::insert(tx, &handle, &grant_id, &hash, now, expires_at)?;
            let event = Event::new(AuditAction::TokenIssued, Actor::Admin)
                .grant(&grant_id)
                .detail(format!(
                    "token {handle}, expires {}",
                    crate::rfc3339(from_ms(expires_at))
                ));
            Ok(((grant_id, expires_at), event))
        })
        .await?;

    let enrollment_url = format!("{}{}{token}", state.public_url, paths::ENROLLMENT);
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentToken {
            grant_id,
            token,
            enrollment_url,
            expires_at: from_ms(expires_at),
            ca_fingerprint: state.ca.fingerprint().to_string(),
        }),
    ))
}
