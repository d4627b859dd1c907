//! The enrolling gateway's (B's) side of certificate renewal: a new key sealed like the
//! first, A's renew over mutual TLS with the current certificate, every check of `peer
//! add` on the answer, and the swap of key and certificate in one transaction; plus the
//! scheduler that renews each active peer before its certificate expires.

use std::collections::HashMap;
use std::time::Duration;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::rfc3339;
use super::store::audit::{Actor, Event};
use super::store::db::DbError;
use super::store::peers::{self, RenewedPair};
use super::store::{Store, StoreError, from_ms, now_ms, to_ms};
use mosaic_contract::federation::{RenewRequest, codes};
use mosaic_contract::paths;
use mosaic_contract::types::{AuditAction, EnrollResponse, Peer, PeerStatus};
use mosaic_crypto::fingerprint;
use mosaic_crypto::keys::PeerKey;
use mosaic_crypto::verify::{Expected, single_pem_der, verify_issued_cert};

/// When and whether B renews its peers' certificates by itself.
#[derive(Debug, Clone, Copy)]
pub struct RenewalPolicy {
    /// Renewal is due once this share (percent) of a certificate's lifetime has passed.
    pub percent: u8,
    /// Whether the scheduler runs (`--auto-renew off` turns it off).
    pub automatic: bool,
    /// Longest wait for the granting gateway's answer to one renewal
    /// (`--renewal-timeout`).
    pub timeout: Duration,
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
/// `--renewal-timeout`'s default: the peer client's own request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

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
        let random = mosaic_crypto::random_bytes::<8>();
        let jitter_span = left * JITTER_PERCENT / 100;
        let jitter = if jitter_span > 0 {
            (u64::from_le_bytes(random) % jitter_span as u64) as i64
        } else {
            0
        };
        now + left * i64::from(self.percent) / 100 + jitter
    }

    /// How long a claim to renew a peer lasts: twice the longest wait for the granting
    /// gateway, so that no other process renews the peer while A may still be answering
    /// this renewal, and a process killed mid-renewal holds the peer no longer than that.
    pub fn lease(&self) -> Duration {
        self.timeout.saturating_mul(2)
    }
}

/// A claim to renew one peer, held in the database by one renewal of one process
/// ([`peers::claim_renewal`]): of any number of processes on one database (replicas on
/// PostgreSQL, or the scheduler and `peer renew` in one process), one renews the peer at
/// a time. The lease outlasts the renewal's call to the granting gateway
/// ([`RenewalPolicy::lease`]), so a process killed mid-renewal holds the peer no longer
/// than that. Settled by the swap, released after a failure; one dropped unsettled (a
/// renewal cancelled midway) is released by a task of its own.
struct Claim {
    store: Store,
    peer_id: String,
    token: String,
    settled: bool,
}

impl Claim {
    /// The claim on `peer_id`, if no live claim holds it (and, with `due_only`, if its
    /// renewal is still due).
    async fn take(state: &AppState, peer_id: &str, due_only: bool) -> ApiResult<Option<Claim>> {
        let token = hex::encode(mosaic_crypto::random_bytes::<16>());
        let lease = i64::try_from(state.renewal.lease().as_millis()).unwrap_or(i64::MAX);
        let (id, claim) = (peer_id.to_string(), token.clone());
        let taken = state
            .store
            .update(move |conn, now| {
                peers::claim_renewal(conn, &id, &claim, now, now.saturating_add(lease), due_only)
                    .map_err(db)
            })
            .await?;
        Ok(taken.then(|| Claim {
            store: state.store.clone(),
            peer_id: peer_id.to_string(),
            token,
            settled: false,
        }))
    }

    /// The renewal's swap released the claim with the new pair.
    fn settled(mut self) {
        self.settled = true;
    }

    /// Gives the claim back, changing nothing else.
    async fn release(mut self) {
        self.settled = true;
        if let Err(e) = release(&self.store, &self.peer_id, &self.token).await {
            tracing::warn!(
                "cannot release the renewal claim on peer {}: {e}; it lapses \
                 by itself at the end of its lease",
                self.peer_id
            );
        }
    }

    /// Gives the claim back after a failed automatic renewal, with one more failure in a
    /// row and the next try after the backoff; answers (failures in a row, the delay).
    async fn failed(mut self) -> ApiResult<(i64, Duration)> {
        self.settled = true;
        let (id, token) = (self.peer_id.clone(), self.token.clone());
        self.store
            .update(move |conn, now| {
                let creds = peers::credentials(conn, &id).map_err(db)?;
                let (failures, not_after) = creds
                    .map(|c| (c.renewal_failures, c.cert_not_after))
                    .unwrap_or((0, None));
                let attempts = failures.saturating_add(1);
                let delay = backoff(attempts, not_after.map(|n| n - now));
                let retry_at = now.saturating_add(delay.as_millis() as i64);
                peers::renewal_failed(conn, &id, &token, now, attempts, retry_at).map_err(db)?;
                Ok((attempts, delay))
            })
            .await
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, id, token) = (self.store.clone(), self.peer_id.clone(), self.token.clone());
            runtime.spawn(async move {
                let _ = release(&store, &id, &token).await;
            });
        }
    }
}

async fn release(store: &Store, peer_id: &str, token: &str) -> Result<bool, StoreError> {
    let (id, token) = (peer_id.to_string(), token.to_string());
    store
        .update(move |conn, _| peers::release_renewal(conn, &id, &token).map_err(StoreError::from))
        .await
}

/// Renews the certificate of the active peer `peer_id` now (`peer renew`); answers the
/// peer as now stored. While another renewal of the peer holds its claim, in this
/// process or another one on the same database, answers 409 `renewal_in_progress`.
/// Until the final commit nothing on B changes, and A keeps accepting the current
/// certificate until the new one is first presented: a crash at any point leaves B with a
/// pair that works.
pub async fn renew_peer(state: &AppState, peer_id: &str) -> ApiResult<Peer> {
    let mut claim = Claim::take(state, peer_id, false).await?;
    if claim.is_none() {
        // Why not: no such peer, a pending one, or a live claim; a claim released since
        // is taken on a second try.
        let id = peer_id.to_string();
        let seen = state
            .store
            .run(move |conn| peers::renewal_claim(conn, &id, now_ms()).map_err(db))
            .await?;
        match seen {
            None => return Err(ApiError::not_found(format!("no peer with ID {peer_id}"))),
            Some((PeerStatus::Pending, _)) => return Err(pending(peer_id)),
            // The claim reads the `status` column: active, whatever its grant is known as.
            Some((
                PeerStatus::Active | PeerStatus::GrantRevoked | PeerStatus::GrantExpired,
                Some(until),
            )) => return Err(in_progress(peer_id, until)),
            Some((
                PeerStatus::Active | PeerStatus::GrantRevoked | PeerStatus::GrantExpired,
                None,
            )) => {
                claim = Claim::take(state, peer_id, false).await?;
            }
        }
    }
    let Some(claim) = claim else {
        let until = now_ms() + state.renewal.lease().as_millis() as i64;
        return Err(in_progress(peer_id, until));
    };
    let renewed = renew_claimed(state, &claim).await;
    match renewed {
        Ok(_) => claim.settled(),
        Err(_) => claim.release().await,
    }
    renewed.map_err(Failure::into_error)
}

/// Why a renewal under a claim did not swap, as the scheduler decides on it.
#[derive(Debug)]
enum Failure {
    /// Trying again cannot help until something else changes: the certificate expired
    /// (it cannot renew itself), or the peer is not active. The scheduler stops trying
    /// this certificate.
    Final(ApiError),
    /// Anything else: A unreachable or refusing, a bad answer, the database, and a swap
    /// that found the claim gone (it lapsed while A answered, and another renewal took
    /// it). Tried again after a backoff, under a claim taken anew.
    Again(ApiError),
}

impl Failure {
    fn into_error(self) -> ApiError {
        match self {
            Failure::Final(e) | Failure::Again(e) => e,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Again(e.into())
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Again(e)
    }
}

/// The swap found the peer changed or the claim gone: nothing was stored, and the next
/// try (with a claim taken anew) sees what the peer is now.
fn swap_lost(peer_id: &str) -> Failure {
    Failure::Again(ApiError::conflict(format!(
        "peer {peer_id} was removed or changed during the renewal, or its renewal claim \
         lapsed; nothing was stored"
    )))
}

fn pending(peer_id: &str) -> ApiError {
    ApiError::conflict(format!(
        "peer {peer_id} is pending: it has no certificate to renew; finish its enrollment \
         (`mosaic federation peer finish {peer_id}`) or remove it"
    ))
}

fn in_progress(peer_id: &str, until: i64) -> ApiError {
    ApiError::coded(
        axum::http::StatusCode::CONFLICT,
        codes::RENEWAL_IN_PROGRESS,
        format!(
            "peer {peer_id}'s certificate is being renewed right now (automatically or by \
             another `peer renew`, on this gateway or another replica of it); that renewal's \
             claim ends by {} at the latest: see the result with `mosaic federation peer \
             list`, or try again after that",
            rfc3339(from_ms(until))
        ),
    )
}

/// The renewal itself, under `claim`: a new key, A's renew, every check, and the swap
/// that also releases the claim.
async fn renew_claimed(state: &AppState, claim: &Claim) -> Result<Peer, Failure> {
    let peer_id = claim.peer_id.as_str();
    // Read under the claim: the certificate a renewal authenticates with is the one no
    // other renewal can replace until this one is over.
    let id = peer_id.to_string();
    let creds = state
        .store
        .run(move |conn| peers::credentials(conn, &id).map_err(db))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no peer with ID {peer_id}")))?;
    if creds.status != PeerStatus::Active {
        return Err(Failure::Final(pending(peer_id)));
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
        return Err(Failure::Final(ApiError::conflict(format!(
            "peer {peer_id}'s certificate expired at {}: an expired certificate cannot renew \
             itself; a new grant is needed: ask the granting gateway's admin for a new grant \
             and enrollment token, then `mosaic federation peer remove {peer_id}` and \
             `mosaic federation peer add <enrollment-url>`",
            rfc3339(from_ms(not_after))
        ))));
    }

    // A new key, sealed like the first: with B's secret, bound to the peer ID.
    let key = PeerKey::generate().map_err(ApiError::internal)?;
    let csr_pem = key.csr_pem(peer_id).map_err(ApiError::internal)?;
    let sealed = state.secret.seal_peer_key(peer_id, key.pkcs8_der());

    let body = serde_json::to_value(RenewRequest {
        csr_pem: csr_pem.clone(),
    })
    .map_err(ApiError::internal)?;
    // Bounded, so that the claim's lease (twice this) outlasts the call.
    let timeout = state.renewal.timeout;
    let answer = tokio::time::timeout(
        timeout,
        state
            .peer_clients
            .post(&state.secret, peer_id, &creds, paths::RENEW, &body),
    )
    .await
    .map_err(|_| {
        ApiError::coded(
            axum::http::StatusCode::BAD_GATEWAY,
            codes::PEER_UNREACHABLE,
            format!(
                "the granting gateway did not answer the renewal within {} \
                 (--renewal-timeout); peer {peer_id} keeps its current key and certificate",
                humantime::format_duration(timeout)
            ),
        )
    })??;
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
        return Err(Failure::Again(untrusted(format!(
            "the granting gateway answered for grant {} and user {}, not {grant_id} and \
             {subject_user_id}; peer {peer_id} keeps its current key and certificate",
            issued.grant_id, issued.subject_user_id
        ))));
    }

    let (id, token) = (peer_id.to_string(), claim.token.clone());
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
                &token,
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
                return Err(swap_lost(&id));
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
/// and per failure. Each renewal runs under the peer's claim in the database, so that of
/// several processes on one database (replicas) exactly one renews a due peer; the others
/// skip it. A failure is retried with exponential backoff, kept in the database too, so
/// replicas do not each retry on their own.
pub async fn run_scheduler(state: AppState) {
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
                tracing::warn!("automatic renewal cannot read the peers: {e}");
                continue;
            }
        };
        given_up.retain(|id, _| due.iter().any(|(d, _)| d == id));
        for (peer_id, fingerprint) in due {
            if given_up.get(&peer_id) == Some(&fingerprint) {
                continue;
            }
            let claim = match Claim::take(&state, &peer_id, true).await {
                Ok(Some(claim)) => claim,
                // Another renewal holds it, or renewed it since it was read as due.
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("automatic renewal cannot claim peer {peer_id}: {e}");
                    continue;
                }
            };
            match renew_claimed(&state, &claim).await {
                Ok(peer) => {
                    claim.settled();
                    crate::metrics::get().renewal("renewed");
                    tracing::info!(
                        "renewed the certificate of peer {peer_id}: {fingerprint} \
                         -> {}, valid until {}, next renewal due {}",
                        peer.cert_fingerprint.as_deref().unwrap_or("-"),
                        peer.cert_not_after.map(rfc3339).unwrap_or_default(),
                        peer.renewal_due_at.map(rfc3339).unwrap_or_default(),
                    );
                }
                Err(Failure::Final(why)) => {
                    claim.release().await;
                    crate::metrics::get().renewal("given_up");
                    tracing::warn!(
                        "the certificate of peer {peer_id} cannot be renewed: \
                         {why}; no more automatic tries"
                    );
                    given_up.insert(peer_id, fingerprint);
                }
                Err(Failure::Again(e)) => {
                    crate::metrics::get().renewal("failed");
                    match claim.failed().await {
                        Ok((attempts, delay)) => tracing::warn!(
                            "renewing the certificate of peer {peer_id} failed \
                             (attempt {attempts}): {e}; next try in {}s",
                            delay.as_secs()
                        ),
                        Err(stored) => tracing::warn!(
                            "renewing the certificate of peer {peer_id} failed: \
                             {e}; and its backoff cannot be stored ({stored}): the next try comes \
                             when its claim lapses"
                        ),
                    }
                }
            }
        }
    }
}

/// The delay before try `attempts + 1`: doubling from a second, at most five minutes and
/// at most a tenth of the time the peer's certificate has left (`left_ms`).
fn backoff(attempts: i64, left_ms: Option<i64>) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 16) as u32;
    let doubled = FIRST_BACKOFF.saturating_mul(1 << doublings);
    let cap = left_ms
        .map(|left| Duration::from_millis(left.max(0) as u64 / 10))
        .map_or(MAX_BACKOFF, |l| l.clamp(FIRST_BACKOFF, MAX_BACKOFF));
    doubled.min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_second_up_to_five_minutes_and_a_tenth_of_the_time_left() {
        let secs = |a, left: Option<i64>| backoff(a, left).as_secs();
        assert_eq!(
            [1, 2, 3, 4, 9, 10, 99].map(|a| secs(a, None)),
            [1, 2, 4, 8, 256, 300, 300]
        );
        // A tenth of what is left, never under a second.
        assert_eq!(secs(5, Some(60_000)), 6);
        assert_eq!(secs(2, Some(60_000)), 2);
        assert_eq!(secs(5, Some(0)), 1);
        assert_eq!(secs(5, Some(-5_000)), 1);
        assert_eq!(secs(30, Some(86_400_000)), 300);
    }

    /// The scheduler stops only for what a retry cannot change; a swap that found its
    /// claim gone (it lapsed while A answered) is retried, as is any other error.
    #[test]
    fn only_an_expired_or_inactive_peer_ends_automatic_renewal() {
        let again = |f: Failure| matches!(f, Failure::Again(_));
        assert!(again(swap_lost("p1")));
        assert!(again(ApiError::conflict("anything else").into()));
        assert!(again(StoreError::Task("gone".into()).into()));
        let lost = swap_lost("p1").into_error();
        assert!(
            matches!(&lost, ApiError::Conflict(m) if m.contains("claim lapsed")),
            "{lost:?}"
        );
        assert!(!again(Failure::Final(pending("p1"))));
        assert!(matches!(
            Failure::Final(pending("p1")).into_error(),
            ApiError::Conflict(_)
        ));
    }

    #[test]
    fn the_lease_outlasts_the_call_to_the_granting_gateway_twice() {
        let policy = RenewalPolicy {
            percent: DEFAULT_PERCENT,
            automatic: true,
            timeout: Duration::from_secs(7),
        };
        assert_eq!(policy.lease(), Duration::from_secs(14));
    }
}
