//! The enrolling gateway's (B's) side of certificate renewal: a new key sealed like the
//! first, A's renew over mutual TLS with the current certificate, every check of `peer
//! add` on the answer, and the swap of key and certificate in one transaction; plus the
//! scheduler that renews each active peer before its certificate expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::rfc3339;
use super::store::audit::{Actor, Event};
use super::store::db::DbError;
use super::store::peers::{self, RenewedPair};
use super::store::{StoreError, from_ms, now_ms, to_ms};
use crate::api::federation::{RenewRequest, codes};
use crate::api::paths;
use crate::api::types::{AuditAction, EnrollResponse, Peer, PeerStatus};
use crate::crypto::fingerprint;
use crate::crypto::keys::PeerKey;
use crate::crypto::verify::{Expected, single_pem_der, verify_issued_cert};

/// When and whether B renews its peers' certificates by itself.
#[derive(Debug, Clone, Copy)]
pub struct RenewalPolicy {
    /// Renewal is due once this share (percent) of a certificate's lifetime has passed.
    pub percent: u8,
    /// Whether the scheduler runs (`--auto-renew off` turns it off).
    pub automatic: bool,
}

impl std::fmt::Display for RenewalPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.automatic {
            write!(f, "at {}% of their lifetime", self.percent)
        } else {
            f.write_str("off (--auto-renew off)")
        }
    }
}

/// `--auto-renew`'s default: about two thirds of the lifetime, as the contract says.
pub const DEFAULT_PERCENT: u8 = 67;
/// The percentages `--auto-renew` accepts.
pub const PERCENT_RANGE: std::ops::RangeInclusive<u8> = 50..=90;

/// Most jitter added to the due time, in percent of the lifetime: peers enrolled
/// together do not all renew in the same second.
const JITTER_PERCENT: i64 = 5;
/// How often the scheduler looks for due peers.
const TICK: Duration = Duration::from_secs(1);
/// First retry delay after a failed renewal; it doubles up to [`MAX_BACKOFF`], and never
/// exceeds a tenth of the certificate's lifetime, so short-lived ones still get retries.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl RenewalPolicy {
    /// When a certificate received at `now` (ms) and valid until `not_after` (ms) is due:
    /// `percent` of the time left, plus up to 5% of it at random.
    pub fn due_at(&self, now: i64, not_after: i64) -> i64 {
        let left = (not_after - now).max(0);
        let random = crate::crypto::random_bytes::<8>();
        let jitter_span = left * JITTER_PERCENT / 100;
        let jitter = if jitter_span > 0 {
            (u64::from_le_bytes(random) % jitter_span as u64) as i64
        } else {
            0
        };
        now + left * i64::from(self.percent) / 100 + jitter
    }
}

/// One renewal at a time per peer: two concurrent ones (the scheduler and an operator)
/// would each get a certificate from A, and only the last one A issued stays accepted.
#[derive(Clone, Default)]
pub struct RenewalLocks {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl RenewalLocks {
    fn of(&self, peer_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(peer_id.to_string())
            .or_default()
            .clone()
    }
}

/// Renews the certificate of the active peer `peer_id`; answers the peer as now stored.
/// Until the final commit nothing on B changes, and A keeps accepting the current
/// certificate until the new one is first presented: a crash at any point leaves B with a
/// pair that works.
pub async fn renew_peer(state: &AppState, peer_id: &str) -> ApiResult<Peer> {
    let lock = state.renewal_locks.of(peer_id);
    let _one_at_a_time = lock.lock().await;

    let id = peer_id.to_string();
    let creds = state
        .store
        .run(move |conn| peers::credentials(conn, &id).map_err(db))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no peer with ID {peer_id}")))?;
    if creds.status != PeerStatus::Active {
        return Err(ApiError::conflict(format!(
            "peer {peer_id} is pending: it has no certificate to renew; finish its enrollment \
             (`mosaic federation peer finish {peer_id}`) or remove it"
        )));
    }
    let stored =
        |what: &str| ApiError::internal(format!("peer {peer_id}'s stored {what} is missing"));
    let current_fp = creds
        .cert_fingerprint
        .clone()
        .ok_or_else(|| stored("certificate"))?;
    let not_after = creds
        .cert_not_after
        .ok_or_else(|| stored("certificate expiry"))?;
    let grant_id = creds.grant_id.clone().ok_or_else(|| stored("grant ID"))?;
    let subject_user_id = creds
        .subject_user_id
        .clone()
        .ok_or_else(|| stored("subject user ID"))?;
    let ca_pem = creds
        .ca_certificate_pem
        .clone()
        .ok_or_else(|| stored("CA certificate"))?;
    if not_after <= now_ms() {
        return Err(ApiError::conflict(format!(
            "peer {peer_id}'s certificate expired at {}: an expired certificate cannot renew \
             itself; a new grant is needed: ask the granting gateway's admin for a new grant \
             and enrollment token, then `mosaic federation peer remove {peer_id}` and \
             `mosaic federation peer add <enrollment-url>`",
            rfc3339(from_ms(not_after))
        )));
    }

    // A new key, sealed like the first: with B's secret, bound to the peer ID.
    let key = PeerKey::generate().map_err(ApiError::internal)?;
    let csr_pem = key.csr_pem(peer_id).map_err(ApiError::internal)?;
    let sealed = state.secret.seal_peer_key(peer_id, key.pkcs8_der());

    let body = serde_json::to_value(RenewRequest {
        csr_pem: csr_pem.clone(),
    })
    .map_err(ApiError::internal)?;
    let answer = state
        .peer_clients
        .post(&state.secret, peer_id, &creds, paths::RENEW, &body)
        .await?;
    let issued: EnrollResponse = serde_json::from_value(answer).map_err(|e| {
        untrusted(format!(
            "the granting gateway's renewal answer does not have the contract's shape: {e}"
        ))
    })?;

    // Every check of `peer add`, against what B stored at enrollment: the CA (pinned by
    // its fingerprint), the grant and the subject user, and the new key.
    let stored_ca_fp = single_pem_der(&ca_pem, "stored CA certificate")
        .map(|der| fingerprint(&der))
        .map_err(ApiError::internal)?;
    let now = now_ms();
    let verified = verify_issued_cert(
        &issued.certificate_pem,
        &issued.ca_certificate_pem,
        &Expected {
            public_key_spki: key.spki_der(),
            grant_id: &grant_id,
            subject_user_id: &subject_user_id,
            ca_fingerprint: Some(&stored_ca_fp),
        },
        from_ms(now),
    )
    .map_err(|e| {
        untrusted(format!(
            "the renewed certificate failed a check: {e}; peer {peer_id} keeps its current \
             key and certificate"
        ))
    })?;
    if issued.grant_id != grant_id || issued.subject_user_id != subject_user_id {
        return Err(untrusted(format!(
            "the granting gateway answered for grant {} and user {}, not {grant_id} and \
             {subject_user_id}; peer {peer_id} keeps its current key and certificate",
            issued.grant_id, issued.subject_user_id
        )));
    }

    let id = peer_id.to_string();
    let new_not_after = to_ms(verified.not_after);
    let renew_after = state.renewal.due_at(now, new_not_after);
    let spki = key.spki_der().to_vec();
    let peer = state
        .store
        .write(move |tx, _| {
            let swapped = peers::renew(
                tx,
                &id,
                &current_fp,
                &RenewedPair {
                    csr_pem: &csr_pem,
                    public_key: &spki,
                    sealed_private_key: &sealed,
                    certificate_pem: &issued.certificate_pem,
                    fingerprint: &verified.fingerprint,
                    serial: &verified.serial,
                    not_after: new_not_after,
                    renew_after,
                },
            )
            .map_err(db)?;
            if !swapped {
                return Err(ApiError::conflict(format!(
                    "peer {id} was removed or changed during the renewal; nothing was stored"
                )));
            }
            let detail = format!(
                "certificate {current_fp} replaced by {}, valid until {}",
                verified.fingerprint,
                rfc3339(verified.not_after)
            );
            let event = Event::new(AuditAction::PeerRenewed, Actor::Gateway)
                .peer(&id)
                .detail(detail);
            let peer = peers::get(tx, &id)
                .map_err(db)?
                .ok_or_else(|| ApiError::internal("peer vanished inside its own transaction"))?;
            Ok((peer, event))
        })
        .await?;
    // The old key leaves memory with its client; the next call builds one for the new pair.
    state.peer_clients.forget(peer_id);
    Ok(peer)
}

fn db(e: DbError) -> ApiError {
    StoreError::from(e).into()
}

fn untrusted(message: String) -> ApiError {
    ApiError::coded(
        axum::http::StatusCode::BAD_GATEWAY,
        codes::PEER_UNTRUSTED,
        message,
    )
}

/// Renews every active peer whose renewal is due, forever: one log line per renewal
/// and per failure; a failed peer is retried with exponential backoff.
pub async fn run_scheduler(state: AppState) {
    // Peer ID → (failed attempts, fingerprint they were for, not before this time).
    let mut retries: HashMap<String, (u32, String, OffsetDateTime)> = HashMap::new();
    // Peer ID → the fingerprint of a certificate that can no longer renew (expired):
    // reported once, not retried.
    let mut given_up: HashMap<String, String> = HashMap::new();
    loop {
        tokio::time::sleep(TICK).await;
        let now = now_ms();
        let due = match state
            .store
            .run(move |conn| peers::due_for_renewal(conn, now).map_err(db))
            .await
        {
            Ok(due) => due,
            Err(e) => {
                eprintln!("mosaic gateway: automatic renewal cannot read the peers: {e}");
                continue;
            }
        };
        retries.retain(|id, _| due.iter().any(|(d, _)| d == id));
        given_up.retain(|id, _| due.iter().any(|(d, _)| d == id));
        for (peer_id, fingerprint) in due {
            if given_up.get(&peer_id) == Some(&fingerprint) {
                continue;
            }
            let waiting = retries
                .get(&peer_id)
                .is_some_and(|(_, fp, at)| *fp == fingerprint && OffsetDateTime::now_utc() < *at);
            if waiting {
                continue;
            }
            match renew_peer(&state, &peer_id).await {
                Ok(peer) => {
                    retries.remove(&peer_id);
                    eprintln!(
                        "mosaic gateway: renewed the certificate of peer {peer_id}: {fingerprint} \
                         -> {}, valid until {}, next renewal due {}",
                        peer.cert_fingerprint.as_deref().unwrap_or("-"),
                        peer.cert_not_after.map(rfc3339).unwrap_or_default(),
                        peer.renewal_due_at.map(rfc3339).unwrap_or_default(),
                    );
                }
                Err(ApiError::Conflict(why)) => {
                    eprintln!(
                        "mosaic gateway: the certificate of peer {peer_id} cannot be renewed: \
                         {why}; no more automatic tries"
                    );
                    given_up.insert(peer_id, fingerprint);
                }
                Err(e) => {
                    let attempts = match retries.get(&peer_id) {
                        Some((n, fp, _)) if *fp == fingerprint => n + 1,
                        _ => 1,
                    };
                    let delay = backoff(attempts, &state, &peer_id).await;
                    eprintln!(
                        "mosaic gateway: renewing the certificate of peer {peer_id} failed \
                         (attempt {attempts}): {e}; next try in {}s",
                        delay.as_secs()
                    );
                    let at = OffsetDateTime::now_utc() + delay;
                    retries.insert(peer_id, (attempts, fingerprint, at));
                }
            }
        }
    }
}

/// The delay before try `attempts + 1`: doubling from a second, at most five minutes and
/// at most a tenth of the time the peer's certificate has left.
async fn backoff(attempts: u32, state: &AppState, peer_id: &str) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << attempts.saturating_sub(1).min(16));
    let id = peer_id.to_string();
    let left = state
        .store
        .run(move |conn| {
            peers::credentials(conn, &id)
                .map(|c| c.and_then(|c| c.cert_not_after))
                .map_err(db)
        })
        .await
        .ok()
        .flatten()
        .map(|not_after| Duration::from_millis((not_after - now_ms()).max(0) as u64 / 10));
    let cap = left.map_or(MAX_BACKOFF, |l| l.clamp(FIRST_BACKOFF, MAX_BACKOFF));
    doubled.min(cap)
}
