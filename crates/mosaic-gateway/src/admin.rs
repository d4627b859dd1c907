//! The admin token: where it comes from (`MOSAIC_ADMIN_TOKEN`, else `DIR/admin-token`,
//! made on first start) and the check in front of every `/api/admin` route: who the
//! caller is (the admin token or a named credential) and whether its role may.

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::AppState;
use super::credentials::{self, Caller, Found};
use super::data_dir::DataDir;
use super::error::ApiError;
use super::roles;
use super::store::{
    self,
    audit::{Actor, Event},
};
use mosaic_contract::credentials::Role;
use mosaic_contract::env::ADMIN_TOKEN as ADMIN_TOKEN_ENV;
use mosaic_contract::types::{AuditAction, codes};
use mosaic_private_files::write_file as write_private_file;

pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// Shortest admin token accepted, from any source.
const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// Only the SHA-256 of the admin token is kept in memory, so comparisons are between
/// two 32-byte values whatever the presented token's length.
pub struct AdminToken {
    digest: [u8; 32],
}

/// Where the admin token came from, for the start-up message (never the token itself).
pub enum AdminTokenSource {
    Env,
    File {
        generated: bool,
    },
    /// `--admin-token-file`.
    Given(std::path::PathBuf),
}

impl AdminToken {
    /// `MOSAIC_ADMIN_TOKEN`'s value (`std::env::var_os`), if set, checked: long enough,
    /// UTF-8. The gateway checks it before anything is written, so a bad value leaves no
    /// data directory behind.
    pub fn from_env(value: Option<std::ffi::OsString>) -> Result<Option<AdminToken>, String> {
        let Some(value) = value else {
            return Ok(None);
        };
        let value = Zeroizing::new(
            value
                .into_string()
                .map_err(|_| format!("{ADMIN_TOKEN_ENV} is not valid UTF-8"))?,
        );
        if value.trim().len() < MIN_ADMIN_TOKEN_LEN {
            return Err(format!(
                "{ADMIN_TOKEN_ENV} is shorter than {MIN_ADMIN_TOKEN_LEN} characters: \
                 use a long random value (or, without --database-url, unset it to have one \
                 generated)"
            ));
        }
        Ok(Some(Self::from_secret(value.trim())))
    }

    /// The admin token of replicas sharing one database: every replica must accept the
    /// same one, so it is never generated: `env` (`MOSAIC_ADMIN_TOKEN`,
    /// [`AdminToken::from_env`]), else the file given to every replica
    /// (`--admin-token-file`).
    pub fn resolve_shared(
        env: Option<AdminToken>,
        file: Option<&std::path::Path>,
    ) -> Result<(AdminToken, AdminTokenSource), String> {
        if let Some(token) = env {
            return Ok((token, AdminTokenSource::Env));
        }
        let Some(path) = file else {
            return Err(format!(
                "with --database-url, every replica needs the same admin token: set \
                 {ADMIN_TOKEN_ENV} or give --admin-token-file"
            ));
        };
        let value = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
        if value.trim().len() < MIN_ADMIN_TOKEN_LEN {
            return Err(format!(
                "{} holds fewer than {MIN_ADMIN_TOKEN_LEN} characters: use a long random value",
                path.display()
            ));
        }
        Ok((
            Self::from_secret(value.trim()),
            AdminTokenSource::Given(path.to_path_buf()),
        ))
    }

    /// The admin token of a gateway with a data directory: `env` (`MOSAIC_ADMIN_TOKEN`,
    /// [`AdminToken::from_env`]), else the directory's `admin-token` file, else a
    /// new random one written there.
    pub fn resolve(
        env: Option<AdminToken>,
        dir: &DataDir,
    ) -> Result<(AdminToken, AdminTokenSource), String> {
        if let Some(token) = env {
            return Ok((token, AdminTokenSource::Env));
        }
        let path = dir.file(ADMIN_TOKEN_FILE);
        if path.exists() {
            let value = Zeroizing::new(
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            );
            // One rule for every source of the token: the environment, --admin-token-file
            // and this file.
            if value.trim().len() < MIN_ADMIN_TOKEN_LEN {
                return Err(format!(
                    "{} holds fewer than {MIN_ADMIN_TOKEN_LEN} characters: put a long random \
                     value in it, or delete it to have one generated",
                    path.display()
                ));
            }
            return Ok((
                Self::from_secret(value.trim()),
                AdminTokenSource::File { generated: false },
            ));
        }
        let bytes = mosaic_crypto::random_secret::<32>();
        let value = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
        write_private_file(&path, format!("{}\n", value.as_str()).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok((
            Self::from_secret(&value),
            AdminTokenSource::File { generated: true },
        ))
    }

    pub(super) fn from_secret(token: &str) -> AdminToken {
        AdminToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Constant-time comparison of the presented token with the admin token.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }
}

/// Lets the request through only with `Authorization: Bearer <credential>` (the
/// bootstrap token or a live named credential) whose role may call the matched route
/// (`roles`): the caller goes into the request's extensions, its name into the audit rows
/// the request writes and into the answer's extensions for the request's log line.
pub async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    // The credential is checked first (constant time, on digests): a valid one always
    // passes, so failures from an address it shares (NAT, load balancer) never lock the
    // admin out. A wrong or missing one counts against the address; past its budget it
    // is 429 until `Retry-After` (docs/gateway.md, `--rate-limit`).
    let caller = match presented {
        Some(token) => match authenticate(&state, token).await {
            Ok(caller) => caller,
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    let Some(caller) = caller else {
        if let (Some(limits), Some(ip)) = (
            state.rate_limits.as_deref(),
            super::rate_limit::client_ip(&req),
        ) && let Err(wait) = limits
            .admin_blocked(ip)
            .and_then(|()| limits.admin_failed(ip))
        {
            return super::rate_limit::too_many(wait, "failed admin authentications");
        }
        return ApiError::Unauthorized.into_response();
    };
    // Before the body is read: a viewer's malformed write is 403, not 400. A path that
    // matched no route goes on to its 404.
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
    let refusal = route.and_then(|route| {
        roles::allow(caller.role, req.method(), route)
            .err()
            .map(|needed| forbidden(&caller, needed))
    });
    let mut response = match refusal {
        Some(refusal) => refusal.into_response(),
        None => {
            let mut req = req;
            req.extensions_mut().insert(caller.clone());
            super::log::with_actor(caller.name.clone(), next.run(req)).await
        }
    };
    response.extensions_mut().insert(caller);
    response
}

/// The caller `token` is, if any: the bootstrap token (unless `--no-bootstrap-token` and
/// a named admin credential is live), else a live named credential. A revoked or expired
/// credential is refused like an unknown one, and its use audited under its name.
async fn authenticate(state: &AppState, token: String) -> Result<Option<Caller>, ApiError> {
    if state.admin.matches(&token) {
        if state.no_bootstrap {
            let named = state
                .store
                .run(|conn| {
                    Ok::<_, ApiError>(store::credentials::any_live_admin(conn, store::now_ms())?)
                })
                .await?;
            if named {
                return Ok(None);
            }
        }
        return Ok(Some(Caller::bootstrap()));
    }
    let found = state
        .store
        .run(move |conn| Ok::<_, ApiError>(credentials::find(conn, &token, store::now_ms())?))
        .await?;
    match found {
        Found::Live(caller) => Ok(Some(caller)),
        Found::Dead(name) => {
            let name: std::sync::Arc<str> = name.into();
            let write = state.store.write(|_, _| {
                let event = Event::new(AuditAction::CredentialRefused, Actor::Admin)
                    .detail("revoked or expired credential presented");
                Ok::<_, ApiError>(((), event))
            });
            super::log::with_actor(name, write).await?;
            Ok(None)
        }
        Found::Unknown => Ok(None),
    }
}

/// 403 `forbidden_role`, naming the role that would be needed.
fn forbidden(caller: &Caller, needed: Option<Role>) -> ApiError {
    let message = match needed {
        Some(role) => format!(
            "this needs the {role} role; credential `{}` has the {} role: ask a gateway admin",
            caller.name, caller.role
        ),
        None => "no role may call this operation".to_string(),
    };
    ApiError::coded(StatusCode::FORBIDDEN, codes::FORBIDDEN_ROLE, message)
}

#[cfg(test)]
mod tests;
