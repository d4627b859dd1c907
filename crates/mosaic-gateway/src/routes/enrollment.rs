//! The public enrollment endpoint, `/api/federation/enrollment/{token}`: the token in the
//! path is the credential. GET previews what it grants; POST spends it for a certificate.

use std::time::Instant;

use crate::store::db::Db;
use axum::extract::State;
use axum::{Extension, Json};
use subtle::ConstantTimeEq;

use super::tokens::token_hash;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam};
use crate::rate_limit::ClientAddr;
use crate::refusals;
use crate::store::audit::{Actor, Event};
use crate::store::tokens::{self, StoredToken};
use crate::store::{certificates, from_ms, grants, to_ms};
use mosaic_contract::types::{
    AuditAction, EnrollRequest, EnrollResponse, EnrollmentPreview, ErrorBody, Grant, GrantStatus,
};
use mosaic_crypto::ca::{CaError, ClientCert};

/// Why an enrollment was refused: what goes in the audit log, and what the caller sees.
struct Refusal {
    grant_id: Option<String>,
    why: String,
    answer: ApiError,
}

impl Refusal {
    fn token(grant_id: Option<&str>, why: &str) -> Self {
        Refusal {
            grant_id: grant_id.map(str::to_string),
            why: why.to_string(),
            answer: ApiError::TokenInvalid,
        }
    }
}

/// Finds a live token by the hash of `token`: unknown, used and expired tokens are all
/// the same refusal, so the answer never tells which.
fn live_token(
    conn: &dyn Db,
    token: &str,
    now: i64,
) -> Result<Result<StoredToken, Refusal>, ApiError> {
    let hash = token_hash(token);
    let Some(stored) = tokens::find_by_hash(conn, &hash)? else {
        return Ok(Err(Refusal::token(None, "unknown token")));
    };
    // The index found the row by hash; confirm it without a data-dependent early exit.
    if !bool::from(stored.token_hash.as_slice().ct_eq(&hash)) {
        return Ok(Err(Refusal::token(None, "unknown token")));
    }
    if stored.redeemed_at.is_some() {
        return Ok(Err(Refusal::token(
            Some(&stored.grant_id),
            &format!("token {} was already used", stored.handle),
        )));
    }
    if stored.expires_at <= now {
        return Ok(Err(Refusal::token(
            Some(&stored.grant_id),
            &format!("token {} expired", stored.handle),
        )));
    }
    Ok(Ok(stored))
}

/// The grant a live token belongs to, if it can still be enrolled.
fn pending_grant(conn: &dyn Db, token: &StoredToken) -> Result<Result<Grant, Refusal>, ApiError> {
    let grant = grants::get(conn, &token.grant_id)?
        .ok_or_else(|| ApiError::internal(format!("token {} has no grant", token.handle)))?;
    let refuse = |what: &str| Refusal {
        grant_id: Some(grant.id.clone()),
        why: format!("token {}: grant is {what}", token.handle),
        answer: ApiError::conflict(format!(
            "grant {} is {what}: it can no longer be enrolled",
            grant.id
        )),
    };
    Ok(match grant.status {
        GrantStatus::Pending => Ok(grant),
        GrantStatus::Active => Err(refuse("already active (a peer enrolled)")),
        GrantStatus::Revoked => Err(refuse("revoked")),
        GrantStatus::Expired => Err(refuse("expired")),
    })
}

#[utoipa::path(
    get,
    path = "/api/federation/enrollment/{token}",
    tag = "enrollment",
    params(("token" = String, Path, description = "The enrollment token (a secret)")),
    responses(
        (status = 200, description = "What the token grants; the token is not spent", body = EnrollmentPreview),
        (status = 409, description = "The grant is active, revoked or expired", body = ErrorBody),
        (status = 410, description = "Token unknown, used or expired (deliberately not which)", body = ErrorBody),
        (status = 429, description = "Too many enrollment requests from this address (`--rate-limit`); `Retry-After` gives the seconds to wait", body = ErrorBody),
    )
)]
pub async fn preview(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    PathParam(token): PathParam,
) -> Result<Json<EnrollmentPreview>, ApiError> {
    let ca_pem = state.ca.cert_pem().to_string();
    let preview = state
        .store
        .read(move |tx, now| {
            let token = match live_token(tx, &token, now)? {
                Ok(token) => token,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let grant = match pending_grant(tx, &token)? {
                Ok(grant) => grant,
                Err(refusal) => return Ok(Err(refusal)),
            };
            Ok::<_, ApiError>(Ok(EnrollmentPreview {
                grant_id: grant.id,
                subject_user_id: grant.user_id,
                peer_id: grant.peer_id,
                scope: grant.scope,
                expires_at: from_ms(token.expires_at),
                ca_certificate_pem: ca_pem,
            }))
        })
        .await?;
    match preview {
        Ok(preview) => Ok(Json(preview)),
        Err(refusal) => Err(audit_refusal(&state, client, "preview: ", refusal).await),
    }
}

/// Records a refusal in the audit log, collapsed with its repeats from the same address
/// (`refusals`), and gives the answer to send.
async fn audit_refusal(
    state: &AppState,
    client: Option<Extension<ClientAddr>>,
    what: &str,
    refusal: Refusal,
) -> ApiError {
    let addr = client.map(|Extension(ClientAddr(addr))| addr.ip());
    let why = format!("{what}{}", refusal.why);
    let rows = state
        .refusals
        .refused(addr, refusal.grant_id.as_deref(), &why, Instant::now());
    match refusals::write(&state.store, rows).await {
        Ok(()) => refusal.answer,
        Err(e) => e.into(),
    }
}

/// Why an enrollment transaction ended without a certificate: rolled back in both cases
/// (a refusal changes nothing; its audit row is written afterwards, collapsed).
enum Failure {
    Error(ApiError),
    Refused(Refusal),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Error(e)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Failure::Error(e.into())
    }
}

#[utoipa::path(
    post,
    path = "/api/federation/enrollment/{token}",
    tag = "enrollment",
    params(("token" = String, Path, description = "The enrollment token (a secret)")),
    request_body = EnrollRequest,
    responses(
        (status = 200, description = "The signed client certificate; the grant is now `active`", body = EnrollResponse),
        (status = 400, description = "Not a self-signed P-256 ECDSA CSR, or invalid body; the token is not spent", body = ErrorBody),
        (status = 409, description = "The grant is active, revoked or expired", body = ErrorBody),
        (status = 410, description = "Token unknown, used or expired (deliberately not which)", body = ErrorBody),
        (status = 429, description = "Too many enrollment requests from this address (`--rate-limit`); `Retry-After` gives the seconds to wait", body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
    )
)]
pub async fn enroll(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    PathParam(token): PathParam,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let signed = sign_ahead(&state, &token, &req.csr_pem).await?;
    let st = state.clone();
    let outcome = state
        .store
        .write(
            move |tx, now| match redeem(tx, &st, &token, &req.csr_pem, signed, now)? {
                Ok(answer) => Ok(answer),
                Err(refusal) => Err(Failure::Refused(refusal)),
            },
        )
        .await;
    match outcome {
        Ok(response) => Ok(Json(response)),
        Err(Failure::Error(e)) => Err(e),
        Err(Failure::Refused(refusal)) => Err(audit_refusal(&state, client, "", refusal).await),
    }
}

/// The CSR's fate, decided for the grant of a live token before the write transaction.
enum Signed {
    /// Signed for this grant.
    Issued { grant_id: String, cert: ClientCert },
    /// Refused for this grant: the CSR's flaw.
    Rejected { grant_id: String, why: String },
    /// The token was not live or its grant not pending: nothing signed.
    Nothing,
}

/// Parses, checks and signs the CSR for the token's grant on a read-only connection,
/// outside the write transaction, so that concurrent enrollments sign in parallel and the
/// writer spends its time on writes. Nothing is decided here: [`redeem`] checks the token
/// and its grant again inside the transaction, and a certificate signed for a token that
/// another enrollment spent meanwhile is thrown away (never stored, never answered).
async fn sign_ahead(state: &AppState, token: &str, csr_pem: &str) -> Result<Signed, ApiError> {
    let (st, token, csr_pem) = (state.clone(), token.to_string(), csr_pem.to_string());
    state
        .store
        .read(move |conn, now| {
            let Ok(token) = live_token(conn, &token, now)? else {
                return Ok(Signed::Nothing);
            };
            let Ok(grant) = pending_grant(conn, &token)? else {
                return Ok(Signed::Nothing);
            };
            sign(&st, &csr_pem, &grant).map(|signed| match signed {
                Ok(cert) => Signed::Issued {
                    grant_id: grant.id,
                    cert,
                },
                Err(why) => Signed::Rejected {
                    grant_id: grant.id,
                    why,
                },
            })
        })
        .await
}

/// Signs `csr_pem` for `grant`: the certificate, or why the CSR is refused.
fn sign(
    state: &AppState,
    csr_pem: &str,
    grant: &Grant,
) -> Result<Result<ClientCert, String>, ApiError> {
    match state
        .ca
        .issue(csr_pem, &grant.id, &grant.user_id, state.cert_validity)
    {
        Ok(cert) => Ok(Ok(cert)),
        Err(CaError::CsrRejected(why)) => Ok(Err(why)),
        Err(e) => Err(ApiError::internal(format!(
            "signing the client certificate: {e}"
        ))),
    }
}

/// Idempotent redemption: a redeemed token presented again with a CSR for the public key
/// that redeemed it, while its grant is active with that certificate, gets the same
/// certificate again, so that an enroller that crashed after A's commit can fetch what A
/// issued. Anything else (`None`) keeps the one indistinguishable 410.
fn repeat(
    conn: &dyn Db,
    state: &AppState,
    token: &str,
    csr_pem: &str,
) -> Result<Option<(EnrollResponse, Event)>, ApiError> {
    let hash = token_hash(token);
    let Some(stored) = tokens::find_by_hash(conn, &hash)? else {
        return Ok(None);
    };
    if !bool::from(stored.token_hash.as_slice().ct_eq(&hash)) || stored.redeemed_at.is_none() {
        return Ok(None);
    }
    let Some(grant) = grants::get(conn, &stored.grant_id)? else {
        return Ok(None);
    };
    let Some((der, not_after)) = certificates::for_token(conn, &stored.handle)? else {
        return Ok(None);
    };
    let fingerprint = mosaic_crypto::fingerprint(&der);
    if grant.status != GrantStatus::Active
        || grant.peer_cert_fingerprint.as_deref() != Some(fingerprint.as_str())
    {
        return Ok(None);
    }
    let Ok(csr_key) = mosaic_crypto::csr::parse_p256_csr(csr_pem) else {
        return Ok(None);
    };
    let same_key = x509_parser::parse_x509_certificate(&der)
        .map(|(_, cert)| cert.tbs_certificate.subject_pki.raw == csr_key.spki_der())
        .unwrap_or(false);
    if !same_key {
        return Ok(None);
    }
    let event = Event::new(AuditAction::EnrollmentRepeated, Actor::Enrollment)
        .grant(&grant.id)
        .detail(format!(
            "token {} presented again by the key it was redeemed with: certificate {fingerprint} answered again",
            stored.handle
        ));
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64_lines(&der)
    );
    Ok(Some((
        EnrollResponse {
            certificate_pem: pem,
            ca_certificate_pem: state.ca.cert_pem().to_string(),
            grant_id: grant.id,
            subject_user_id: grant.user_id,
            peer_id: grant.peer_id,
            not_after: from_ms(not_after),
        },
        event,
    )))
}

/// Standard base64 in 64-column lines, as PEM wants it.
fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    text.as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Inside the write transaction: check the token and its grant again, take the
/// certificate signed ahead for that grant (or sign now, if none was), spend the token
/// and activate the grant. Of concurrent enrollments for one grant, the first to reach
/// the writer wins; the others find the token used (410) or the grant active (409).
fn redeem(
    conn: &dyn Db,
    state: &AppState,
    token: &str,
    csr_pem: &str,
    signed: Signed,
    now: i64,
) -> Result<Result<(EnrollResponse, Event), Refusal>, ApiError> {
    let token_text = token;
    let token = match live_token(conn, token, now)? {
        Ok(t) => t,
        Err(refusal) => {
            return Ok(match repeat(conn, state, token, csr_pem)? {
                Some(answer) => Ok(answer),
                None => Err(refusal),
            });
        }
    };
    let grant = match pending_grant(conn, &token)? {
        Ok(g) => g,
        Err(refusal) => {
            // On PostgreSQL each statement reads the latest commit: the enrollment that
            // activated the grant may have spent this very token since it was read, and
            // then this is a used token (410, or its repeat), as on a single gateway.
            return Ok(match live_token(conn, token_text, now)? {
                Ok(_) => Err(refusal),
                Err(used) => match repeat(conn, state, token_text, csr_pem)? {
                    Some(answer) => Ok(answer),
                    None => Err(used),
                },
            });
        }
    };
    let signed = match signed {
        Signed::Issued { grant_id, cert } if grant_id == grant.id => Ok(cert),
        Signed::Rejected { grant_id, why } if grant_id == grant.id => Err(why),
        // The token was not live a moment ago on the reader: sign now.
        _ => sign(state, csr_pem, &grant)?,
    };
    // The token stays unspent when the CSR is refused, so the peer can retry.
    let cert = match signed {
        Ok(cert) => cert,
        Err(why) => {
            return Ok(Err(Refusal {
                grant_id: Some(grant.id),
                why: format!("token {}: CSR refused: {why}", token.handle),
                answer: ApiError::InvalidRequest(why),
            }));
        }
    };
    // The conditional UPDATEs decide, not the reads above: on PostgreSQL another replica
    // may have spent the token or activated the grant since (its row lock made this
    // statement wait for that commit), and then this enrollment lost the race.
    if !tokens::redeem(conn, &token.handle, now, &cert.fingerprint)? {
        return Ok(Err(Refusal::token(
            Some(&grant.id),
            &format!("token {} was already used", token.handle),
        )));
    }
    certificates::insert(
        conn,
        &cert,
        &grant.id,
        certificates::Origin::Enrollment {
            token_handle: &token.handle,
        },
        now,
    )?;
    if !grants::activate(
        conn,
        &grant.id,
        now,
        &cert.fingerprint,
        to_ms(cert.not_after),
    )? {
        return Ok(Err(Refusal {
            grant_id: Some(grant.id.clone()),
            why: format!(
                "token {}: grant is already active (a peer enrolled)",
                token.handle
            ),
            answer: ApiError::conflict(format!(
                "grant {} is already active (a peer enrolled): it can no longer be enrolled",
                grant.id
            )),
        }));
    }
    let event = Event::new(AuditAction::GrantActivated, Actor::Enrollment)
        .grant(&grant.id)
        .detail(format!(
            "token {}, certificate {}",
            token.handle, cert.fingerprint
        ));
    let response = EnrollResponse {
        certificate_pem: cert.pem,
        ca_certificate_pem: state.ca.cert_pem().to_string(),
        grant_id: grant.id,
        subject_user_id: grant.user_id,
        peer_id: grant.peer_id,
        not_after: cert.not_after,
    };
    Ok(Ok((response, event)))
}

#[cfg(test)]
mod tests;
