//! `/api/admin/federation/peers`: the enrolling side's records of remote gateways. A peer
//! is stored `pending` with its CSR and sealed key, then made `active` by a certificate
//! that passes every check in `peer_cert`. The sealed key is never returned.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::check_text;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ID_CHARS, JsonBody, PathId, QueryParams, is_path_id};
use crate::store::audit::{Actor, Event};
use crate::store::page::PageRequest;
use crate::store::peers::{self, NewPeer, PeerCert};
use crate::store::{from_ms, is_unique_violation, to_ms};
use mosaic_contract::query::PeerListQuery;
use mosaic_contract::types::{
    AuditAction, CreatePeerRequest, ErrorBody, Page, Peer, PeerEnrollment, PeerStatus,
    StoreCertRequest,
};
use mosaic_crypto::csr::parse_p256_csr;
use mosaic_crypto::keys::PeerKey;
use mosaic_crypto::seal::{self, SealError, SealingSecret};
use mosaic_crypto::verify::{Expected, verify_issued_cert};

/// Peer IDs appear in URL paths, so they are limited to unreserved URL characters.
fn check_peer_id(id: &str) -> Result<(), ApiError> {
    if is_path_id(id) && id != "keypair" {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "id must be {ID_CHARS} (nor \"keypair\")"
        )))
    }
}

fn check_remote_url(remote_url: &str) -> Result<(), ApiError> {
    // Checked on the raw text: the URL parser drops tabs and newlines silently.
    super::check_printable("remote_url", remote_url)?;
    let url = url::Url::parse(remote_url)
        .map_err(|e| ApiError::invalid(format!("remote_url is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ApiError::invalid(
            "remote_url must be an http:// or https:// URL with a host",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::invalid(
            "remote_url must not carry a user name or password",
        ));
    }
    Ok(())
}

/// The sealed key must have the documented layout; it is stored as given and only ever
/// opened by whoever holds `BETTER_AUTH_SECRET`.
fn check_sealed_key(sealed: &str) -> Result<(), ApiError> {
    match seal::decode_sealed(sealed) {
        Ok(_) => Ok(()),
        Err(SealError::Malformed(why)) => {
            Err(ApiError::invalid(format!("sealed_private_key {why}")))
        }
        Err(e) => Err(ApiError::invalid(format!("sealed_private_key: {e}"))),
    }
}

/// A sealed key this gateway cannot open would be lost the first time it is needed, with
/// the single-use token long spent: it must open with this gateway's own secret, bound to
/// this peer ID, and hold the private half of the CSR's key.
fn check_key_opens(
    secret: &SealingSecret,
    peer_id: &str,
    sealed: &str,
    csr_spki: &[u8],
) -> Result<(), ApiError> {
    // Under the sealing secret itself: a key sealed under a previous one would stop
    // opening once that secret is retired, and `reseal` may already have run.
    let opened = secret.open_by(seal::PEER_KEY_INFO, peer_id.as_bytes(), sealed);
    let pkcs8 = opened
        .ok()
        .filter(|(_, by)| *by == seal::OpenedBy::Current)
        .map(|(k, _)| k)
        .ok_or_else(|| {
            ApiError::invalid(
                "sealed_private_key does not open with this gateway's BETTER_AUTH_SECRET: \
             the secret used to seal it differs from the gateway's; run `peer add` with the \
             gateway's own BETTER_AUTH_SECRET (nothing was stored, the token is unspent)",
            )
        })?;
    let key = PeerKey::from_pkcs8_der(&pkcs8).map_err(|_| {
        ApiError::invalid("sealed_private_key does not hold a P-256 PKCS#8 private key")
    })?;
    if key.spki_der() != csr_spki {
        return Err(ApiError::invalid(
            "sealed_private_key is not the private key of csr_pem's public key",
        ));
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/api/admin/federation/peers/keypair",
    tag = "peers",
    request_body = CreatePeerRequest,
    responses(
        (status = 201, description = "The peer, `pending`", body = Peer),
        (status = 400, description = "Invalid ID, URL, CSR or sealed key; a sealed key that does not open with this gateway's secret, or is not the CSR's key", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 409, description = "A peer with this ID exists", body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<CreatePeerRequest>,
) -> ApiResult<(StatusCode, Json<Peer>)> {
    check_peer_id(&req.id)?;
    check_text("name", &req.name)?;
    check_remote_url(&req.remote_url)?;
    super::check_pem_text("csr_pem", &req.csr_pem)?;
    check_sealed_key(&req.sealed_private_key)?;
    if let Some(sealed) = &req.sealed_enrollment {
        seal::decode_sealed(sealed).map_err(|e| match e {
            SealError::Malformed(why) => ApiError::invalid(format!("sealed_enrollment {why}")),
            e => ApiError::invalid(format!("sealed_enrollment: {e}")),
        })?;
    }
    let key = parse_p256_csr(&req.csr_pem).map_err(ApiError::InvalidRequest)?;
    check_key_opens(
        &state.secret,
        &req.id,
        &req.sealed_private_key,
        key.spki_der(),
    )?;
    let peer = state
        .store
        .write(move |tx, now| {
            let inserted = peers::insert(
                tx,
                &NewPeer {
                    id: &req.id,
                    name: &req.name,
                    remote_url: &req.remote_url,
                    csr_pem: &req.csr_pem,
                    public_key: key.spki_der(),
                    sealed_private_key: &req.sealed_private_key,
                    sealed_enrollment: req.sealed_enrollment.as_deref(),
                    created_at: now,
                },
            );
            match inserted {
                Err(e) if is_unique_violation(&e) => {
                    return Err(ApiError::conflict(format!(
                        "a peer with ID {} exists; remove it first or use another ID",
                        req.id
                    )));
                }
                other => other?,
            }
            let peer = peers::get(tx, &req.id)?
                .ok_or_else(|| ApiError::internal("peer vanished inside its own transaction"))?;
            let event = Event::new(AuditAction::PeerAdded, Actor::Admin)
                .peer(&req.id)
                .detail(format!("{} at {}", req.name, req.remote_url));
            Ok((peer, event))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(peer)))
}

#[utoipa::path(
    get,
    path = "/api/admin/federation/peers",
    tag = "peers",
    params(PeerListQuery),
    responses(
        (status = 200, description = "One page of peers, in (created_at, id) order", body = Page<Peer>),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<PeerListQuery>,
) -> ApiResult<Json<Page<Peer>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let page = state
        .store
        .read(move |tx, _now| Ok::<_, ApiError>(peers::list(tx, &page)?))
        .await?;
    Ok(Json(page))
}

#[utoipa::path(
    patch,
    path = "/api/admin/federation/peers/{id}/cert",
    tag = "peers",
    params(("id" = String, Path, description = "The peer's ID")),
    request_body = StoreCertRequest,
    responses(
        (status = 200, description = "The peer, now `active`", body = Peer),
        (status = 400, description = "The certificate failed a check; the message names it", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such peer", body = ErrorBody),
        (status = 409, description = "The peer is already active", body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn store_cert(
    State(state): State<AppState>,
    PathId(id): PathId,
    JsonBody(req): JsonBody<StoreCertRequest>,
) -> ApiResult<Json<Peer>> {
    check_text("grant_id", &req.grant_id)?;
    check_text("subject_user_id", &req.subject_user_id)?;
    super::check_pem_text("certificate_pem", &req.certificate_pem)?;
    super::check_pem_text("ca_certificate_pem", &req.ca_certificate_pem)?;
    let renewal = state.renewal;
    let peer = state
        .store
        .write(move |tx, now| {
            let peer = peers::get(tx, &id)?.ok_or_else(|| no_such_peer(&id))?;
            if peer.status != PeerStatus::Pending {
                return Err(ApiError::conflict(format!(
                    "peer {id} is already active; remove it and enroll again to replace its certificate"
                )));
            }
            let spki = peers::public_key(tx, &id)?.ok_or_else(|| no_such_peer(&id))?;
            let verified = verify_issued_cert(
                &req.certificate_pem,
                &req.ca_certificate_pem,
                &Expected {
                    public_key_spki: &spki,
                    grant_id: &req.grant_id,
                    subject_user_id: &req.subject_user_id,
                    ca_fingerprint: None,
                },
                from_ms(now),
            )
            .map_err(|e| ApiError::invalid(format!("certificate check failed: {e}")))?;
            let activated = peers::activate(
                tx,
                &id,
                now,
                &PeerCert {
                    grant_id: &req.grant_id,
                    subject_user_id: &req.subject_user_id,
                    certificate_pem: &req.certificate_pem,
                    ca_certificate_pem: &req.ca_certificate_pem,
                    fingerprint: &verified.fingerprint,
                    serial: &verified.serial,
                    not_after: to_ms(verified.not_after),
                    renew_after: renewal.due_at(now, to_ms(verified.not_after)),
                },
            )?;
            if !activated {
                return Err(ApiError::internal("peer changed inside its own transaction"));
            }
            let peer = peers::get(tx, &id)?.ok_or_else(|| no_such_peer(&id))?;
            let event = Event::new(AuditAction::PeerActivated, Actor::Admin)
                .peer(&id)
                .detail(format!(
                    "remote grant {}, certificate {}",
                    req.grant_id, verified.fingerprint
                ));
            Ok((peer, event))
        })
        .await?;
    Ok(Json(peer))
}

#[utoipa::path(
    delete,
    path = "/api/admin/federation/peers/{id}",
    tag = "peers",
    params(("id" = String, Path, description = "The peer's ID")),
    responses(
        (status = 204, description = "Removed, with its sealed key and certificate"),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such peer", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn remove(State(state): State<AppState>, PathId(id): PathId) -> ApiResult<StatusCode> {
    let peer_id = id.clone();
    state
        .store
        .write(move |tx, _now| {
            if !peers::delete(tx, &id)? {
                return Err(no_such_peer(&id));
            }
            Ok((
                (),
                Event::new(AuditAction::PeerRemoved, Actor::Admin).peer(&id),
            ))
        })
        .await?;
    state.peer_clients.forget(&peer_id);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/admin/federation/peers/{id}/renew",
    tag = "peers",
    params(("id" = String, Path, description = "The peer's ID")),
    responses(
        (status = 200, description = "The peer with its new certificate: a new key, sealed like the first, renewed over mutual TLS with the current certificate, checked as `peer add` checks, and swapped in with the certificate in one transaction", body = Peer),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "`peer_refused`: the peer refused the renewal (for example its grant was revoked); the message carries its code and message. The current key and certificate are kept", body = ErrorBody),
        (status = 404, description = "No such peer", body = ErrorBody),
        (status = 409, description = "The peer is pending, or its certificate has expired (a new grant and token are needed): `conflict`; or `renewal_in_progress`: another renewal of this peer (automatic, or another call, on this gateway or another replica of it) holds its claim; the message says until when at the latest", body = ErrorBody),
        (status = 502, description = "`peer_unreachable` (also when the peer does not answer within `--renewal-timeout`), or `peer_untrusted`: the peer's server certificate or the renewed certificate failed a check; the current key and certificate are kept", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn renew(State(state): State<AppState>, PathId(id): PathId) -> ApiResult<Json<Peer>> {
    Ok(Json(crate::renewal::renew_peer(&state, &id).await?))
}

#[utoipa::path(
    get,
    path = "/api/admin/federation/peers/{id}/enrollment",
    tag = "peers",
    params(("id" = String, Path, description = "The peer's ID")),
    responses(
        (status = 200, description = "What the pending peer keeps to ask the granting gateway again (`peer finish`)", body = PeerEnrollment),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such peer, or it keeps no enrollment", body = ErrorBody),
        (status = 409, description = "The peer is already active", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn enrollment(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> ApiResult<Json<PeerEnrollment>> {
    let kept = state
        .store
        .read(move |tx, _now| {
            let (status, csr_pem, sealed) =
                peers::enrollment(tx, &id)?.ok_or_else(|| no_such_peer(&id))?;
            if status == "active" {
                return Err(ApiError::conflict(format!(
                    "peer {id} is already active: there is nothing to finish"
                )));
            }
            let sealed_enrollment = sealed.ok_or_else(|| {
                ApiError::not_found(format!(
                    "peer {id} keeps no enrollment to ask again (it was added by an older mosaic)"
                ))
            })?;
            Ok(PeerEnrollment {
                peer_id: id,
                csr_pem,
                sealed_enrollment,
            })
        })
        .await?;
    Ok(Json(kept))
}

fn no_such_peer(id: &str) -> ApiError {
    ApiError::not_found(format!("no peer with ID {id}"))
}
