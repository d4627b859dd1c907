//! `POST /api/federation/v1/renew` on the granting gateway (A): the current, still-valid
//! client certificate authenticates the request for the next one (kubelet's rotation,
//! `step ca renew`). Same OIDs, a fresh validity; the previous certificate stays accepted
//! until the new one is first presented, so a crash of the peer between A's answer and
//! its own commit loses nothing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::federation::{Client, Failed, Presented, Refusal, authorize, refused, settle};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::rfc3339;
use crate::store::StoreError;
use crate::store::audit::{Actor, Event};
use crate::store::certificates::{self, Origin};
use crate::store::db::Db;
use crate::store::grants::{self, CertRole};
use crate::store::{from_ms, to_ms};
use mosaic_contract::federation::{RenewRequest, codes};
use mosaic_contract::types::{AuditAction, EnrollResponse, ErrorBody, Grant};
use mosaic_crypto::ca::CaError;
use mosaic_crypto::certificate_pem;
use mosaic_crypto::csr::parse_p256_csr;
use mosaic_crypto::verify::grant_identity;

#[utoipa::path(
    post,
    path = "/api/federation/v1/renew",
    tag = "federation",
    request_body = RenewRequest,
    responses(
        (status = 200, description = "A new client certificate for the CSR's key: the same two OIDs, a fresh validity. The same CSR key presented again (with the previous certificate) answers the same certificate", body = EnrollResponse),
        (status = 400, description = "`invalid_request`: not a self-signed P-256 ECDSA CSR, or the presented certificate's own key", body = ErrorBody),
        (status = 401, description = "`certificate_required`: no client certificate", body = ErrorBody),
        (status = 403, description = "`certificate_expired` (a new grant and token are needed), `unknown_certificate` (neither the grant's current nor its previous certificate) or `grant_inactive`", body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
        (status = 429, description = "Too many refused data-plane requests from this address (`--rate-limit`): one that would be refused (401, 403 or 400) is answered 429 instead; `Retry-After` gives the seconds to wait. A request that passes the checks is never refused so", body = ErrorBody),
    ),
    security(("client_certificate" = []))
)]
pub async fn renew(
    State(state): State<AppState>,
    client: Client,
    presented: Presented,
    JsonBody(req): JsonBody<RenewRequest>,
) -> Result<Json<EnrollResponse>, Response> {
    let Some(leaf) = presented.and_then(|c| c.0.leaf().map(<[u8]>::to_vec)) else {
        return Err(refused(&state, client, Refusal::certificate_required()).await);
    };
    let st = state.clone();
    // A refusal undoes the transaction; its audit row is written afterwards, collapsed.
    let answer = state
        .store
        .write(move |tx, now| {
            let (response, event) = renew_in(tx, &st, Some(&leaf), &req.csr_pem, now)??;
            Ok::<_, Failed>((Json(response), event))
        })
        .await;
    settle(&state, client, answer).await
}

/// Inside one `BEGIN IMMEDIATE` transaction: the data plane's checks, the CSR's, then
/// either the certificate already issued for this key or a new one, with its audit event.
fn renew_in(
    conn: &dyn Db,
    state: &AppState,
    leaf: Option<&[u8]>,
    csr_pem: &str,
    now: i64,
) -> Result<Result<(EnrollResponse, Event), Refusal>, ApiError> {
    // An expired certificate gets its own answer: it can never renew itself.
    if let Some(identity) = leaf.and_then(|l| grant_identity(l).ok())
        && identity.not_after <= from_ms(now)
    {
        let why = format!(
            "the client certificate expired at {}: an expired certificate cannot renew \
             itself; a new grant and enrollment token from this gateway's admin are needed",
            rfc3339(identity.not_after)
        );
        return Ok(Err(Refusal::new(
            StatusCode::FORBIDDEN,
            codes::CERTIFICATE_EXPIRED,
            why,
        )
        .of(&identity, None)));
    }
    let (grant, identity, role) = match authorize(conn, leaf, now, None) {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let invalid = |why: String| {
        let refusal = Refusal::new(
            StatusCode::BAD_REQUEST,
            mosaic_contract::types::codes::INVALID_REQUEST,
            why,
        )
        .of(&identity, Some(&grant));
        if role == CertRole::Current {
            refusal.retiring()
        } else {
            refusal
        }
    };
    let csr_key = match parse_p256_csr(csr_pem) {
        Ok(key) => key,
        Err(why) => return Ok(Err(invalid(why))),
    };
    let presented_key = leaf.map(public_key_of).transpose()?.unwrap_or_default();
    if csr_key.spki_der() == presented_key.as_slice() {
        return Ok(Err(invalid(
            "csr_pem carries the presented certificate's own key: a renewal needs a new key".into(),
        )));
    }
    // The peer renewed with the previous certificate before and is asking again for the
    // same key (it crashed, or lost the answer): the same certificate again.
    if role == CertRole::Previous
        && let Some(current) = current_certificate(conn, &grant)?
        && public_key_of(&current)? == csr_key.spki_der()
    {
        let detail = format!(
            "certificate {} asked again for {} (same key): answered the same certificate",
            identity.fingerprint,
            grant.peer_cert_fingerprint.as_deref().unwrap_or("-")
        );
        let not_after = grant.peer_cert_not_after.unwrap_or(identity.not_after);
        let response = answer(state, &grant, certificate_pem(&current), not_after);
        return Ok(Ok((response, renewed(&grant, detail))));
    }

    let cert = match state
        .ca
        .issue(csr_pem, &grant.id, &grant.user_id, state.cert_validity)
    {
        Ok(cert) => cert,
        Err(CaError::CsrRejected(why)) => return Ok(Err(invalid(why))),
        Err(e) => {
            return Err(ApiError::internal(format!(
                "signing the renewed certificate: {e}"
            )));
        }
    };
    certificates::insert(
        conn,
        &cert,
        &grant.id,
        Origin::Renewal {
            renewed_from: &identity.fingerprint,
        },
        now,
    )?;
    // Whichever certificate was presented (current, or previous after a lost answer) is
    // the one the peer holds, so it is the one still accepted until the new one is used.
    if !grants::renew_cert(
        conn,
        &grant.id,
        &cert.fingerprint,
        to_ms(cert.not_after),
        &identity.fingerprint,
    )? {
        return Err(ApiError::internal(
            "grant changed inside its own transaction",
        ));
    }
    let detail = format!(
        "certificate {} renewed as {}, valid until {}",
        identity.fingerprint,
        cert.fingerprint,
        rfc3339(cert.not_after)
    );
    let response = answer(state, &grant, cert.pem, cert.not_after);
    Ok(Ok((response, renewed(&grant, detail))))
}

fn answer(
    state: &AppState,
    grant: &Grant,
    certificate_pem: String,
    not_after: time::OffsetDateTime,
) -> EnrollResponse {
    EnrollResponse {
        certificate_pem,
        ca_certificate_pem: state.ca.cert_pem().to_string(),
        grant_id: grant.id.clone(),
        subject_user_id: grant.user_id.clone(),
        peer_id: grant.peer_id.clone(),
        not_after,
    }
}

/// `certificate.renewed` by the grant's peer.
fn renewed(grant: &Grant, detail: String) -> Event {
    Event::new(AuditAction::CertificateRenewed, Actor::Peer)
        .grant(&grant.id)
        .peer(&grant.peer_id)
        .detail(detail)
}

/// The DER of the grant's current certificate.
fn current_certificate(conn: &dyn Db, grant: &Grant) -> Result<Option<Vec<u8>>, ApiError> {
    match &grant.peer_cert_fingerprint {
        Some(fp) => Ok(certificates::der(conn, fp).map_err(StoreError::from)?),
        None => Ok(None),
    }
}

/// SubjectPublicKeyInfo DER of a certificate this CA issued (or the TLS layer verified).
fn public_key_of(der: &[u8]) -> Result<Vec<u8>, ApiError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| ApiError::internal(format!("a stored certificate does not parse: {e}")))?;
    Ok(cert.public_key().raw.to_vec())
}
