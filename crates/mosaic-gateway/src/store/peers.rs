//! The `peers` table: remote gateways this gateway enrolled with (or is enrolling with).
//! The sealed private key goes in and never comes out through these queries.

use super::db::{Db, DbError, Row, Value, args};

use super::page::{KeysetQuery, PageRequest};
use super::{from_ms, from_ms_opt, to_ms};
use mosaic_contract::types::{Page, Peer, PeerStatus};

macro_rules! columns {
    () => {
        "id, name, remote_url, grant_id, subject_user_id, status, cert_fingerprint, \
         cert_serial, cert_not_after, created_at, activated_at, renew_after, grant_ended"
    };
}
/// Every peer, for the list's page query.
pub const SELECT_ALL: &str = concat!("SELECT ", columns!(), " FROM peers");

/// A peer by its ID (the primary key).
pub const BY_ID: &str = concat!("SELECT ", columns!(), " FROM peers WHERE id = ?1");
/// What B needs to call a peer, by its ID.
pub const CREDENTIALS: &str =
    "SELECT status, remote_url, certificate_pem, ca_certificate_pem, cert_fingerprint,
            sealed_private_key, cert_not_after, grant_id, subject_user_id, renewal_failures
     FROM peers WHERE id = ?1";
/// Active peers due for renewal (`peers_renewal_due`) that no renewal has claimed.
pub const DUE_FOR_RENEWAL: &str = "SELECT id, cert_fingerprint FROM peers
     WHERE status = 'active' AND renew_after IS NOT NULL AND renew_after <= ?1
       AND (renewal_claimed_until IS NULL OR renewal_claimed_until <= ?1)
     ORDER BY renew_after, id";
/// Claims the renewal of an active peer for the claim `?2` until `?3`, if no live claim
/// holds it at `?4` (none, or its lease is over).
pub const CLAIM_RENEWAL: &str =
    "UPDATE peers SET renewal_claimed_by = ?2, renewal_claimed_until = ?3
     WHERE id = ?1 AND status = 'active'
       AND (renewal_claimed_until IS NULL OR renewal_claimed_until <= ?4)";
/// [`CLAIM_RENEWAL`], only while the peer is still due at `?4` (the scheduler's claim:
/// another process may have renewed it since the scheduler read it as due).
pub const CLAIM_DUE_RENEWAL: &str =
    "UPDATE peers SET renewal_claimed_by = ?2, renewal_claimed_until = ?3
     WHERE id = ?1 AND status = 'active'
       AND (renewal_claimed_until IS NULL OR renewal_claimed_until <= ?4)
       AND renew_after IS NOT NULL AND renew_after <= ?4";

/// The `status` column as a [`PeerStatus`].
pub fn status_of(column: &str) -> PeerStatus {
    match column {
        "active" => PeerStatus::Active,
        _ => PeerStatus::Pending,
    }
}

/// The status shown: an active peer whose grant the granting gateway said has ended
/// shows that instead (the `status` column stays `active`: the peer keeps its key and
/// certificate until it is removed).
fn shown_status(column: &str, grant_ended: Option<&str>) -> PeerStatus {
    match (status_of(column), grant_ended) {
        (PeerStatus::Active, Some(GRANT_REVOKED)) => PeerStatus::GrantRevoked,
        (PeerStatus::Active, Some(GRANT_EXPIRED)) => PeerStatus::GrantExpired,
        (status, _) => status,
    }
}

/// The `grant_ended` column's values: what the granting gateway said of the grant.
pub const GRANT_REVOKED: &str = "revoked";
pub const GRANT_EXPIRED: &str = "expired";

/// Records that the granting gateway refused a read of an active peer because its grant
/// is `revoked` or `expired` ([`GRANT_REVOKED`], [`GRANT_EXPIRED`]). True if the peer
/// was not recorded so yet.
pub fn record_grant_ended(conn: &dyn Db, id: &str, how: &str) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE peers SET grant_ended = ?2
         WHERE id = ?1 AND status = 'active' AND grant_ended IS NULL",
        args![id, how],
    )?;
    Ok(changed > 0)
}

fn from_row(row: &Row) -> Result<Peer, DbError> {
    let status: String = row.get(5)?;
    let grant_ended: Option<String> = row.get(12)?;
    Ok(Peer {
        id: row.get(0)?,
        name: row.get(1)?,
        remote_url: row.get(2)?,
        grant_id: row.get(3)?,
        subject_user_id: row.get(4)?,
        status: shown_status(&status, grant_ended.as_deref()),
        cert_fingerprint: row.get(6)?,
        cert_serial: row.get(7)?,
        cert_not_after: from_ms_opt(row.get(8)?),
        created_at: from_ms(row.get(9)?),
        activated_at: from_ms_opt(row.get(10)?),
        renewal_due_at: from_ms_opt(row.get(11)?),
    })
}

/// A new pending peer.
pub struct NewPeer<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub remote_url: &'a str,
    pub csr_pem: &'a str,
    pub public_key: &'a [u8],
    pub sealed_private_key: &'a str,
    pub sealed_enrollment: Option<&'a str>,
    pub created_at: i64,
}

pub fn insert(conn: &dyn Db, p: &NewPeer<'_>) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO peers (id, name, remote_url, csr_pem, public_key, sealed_private_key,
                            sealed_enrollment, status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)",
        args![
            p.id,
            p.name,
            p.remote_url,
            p.csr_pem,
            p.public_key,
            p.sealed_private_key,
            p.sealed_enrollment,
            p.created_at
        ],
    )?;
    Ok(())
}

pub fn get(conn: &dyn Db, id: &str) -> Result<Option<Peer>, DbError> {
    conn.query_opt(BY_ID, args![id])?
        .map(|r| from_row(&r))
        .transpose()
}

/// A peer's status, its CSR and the sealed enrollment it keeps (if any).
pub fn enrollment(
    conn: &dyn Db,
    id: &str,
) -> Result<Option<(String, String, Option<String>)>, DbError> {
    conn.query_opt(
        "SELECT status, csr_pem, sealed_enrollment FROM peers WHERE id = ?1",
        args![id],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .transpose()
}

/// The SubjectPublicKeyInfo (DER) of the CSR the peer was created with.
pub fn public_key(conn: &dyn Db, id: &str) -> Result<Option<Vec<u8>>, DbError> {
    conn.query_opt("SELECT public_key FROM peers WHERE id = ?1", args![id])?
        .map(|r| r.get(0))
        .transpose()
}

pub fn list(conn: &dyn Db, page: &PageRequest) -> Result<Page<Peer>, DbError> {
    let rows = list_query(page).fetch(conn, page, from_row)?;
    Ok(page.finish(rows, |p| (to_ms(p.created_at), p.id.clone())))
}

/// The page query of [`list`].
pub fn list_query(page: &PageRequest) -> KeysetQuery<'static> {
    KeysetQuery {
        select: SELECT_ALL,
        time_col: "created_at",
        id_col: "id",
        filters: Vec::new(),
        after: page
            .after
            .clone()
            .map(|(at, id)| (Value::Integer(at), Value::Text(id))),
    }
}

/// The verified certificate that makes a pending peer active.
pub struct PeerCert<'a> {
    pub grant_id: &'a str,
    pub subject_user_id: &'a str,
    pub certificate_pem: &'a str,
    pub ca_certificate_pem: &'a str,
    pub fingerprint: &'a str,
    pub serial: &'a str,
    pub not_after: i64,
    /// When it is due for renewal.
    pub renew_after: i64,
}

/// pending → active. Returns false if the peer was not pending.
pub fn activate(conn: &dyn Db, id: &str, now: i64, c: &PeerCert<'_>) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE peers SET status = 'active', grant_id = ?2, subject_user_id = ?3,
                          certificate_pem = ?4, ca_certificate_pem = ?5, cert_fingerprint = ?6,
                          cert_serial = ?7, cert_not_after = ?8, activated_at = ?9,
                          renew_after = ?10, sealed_enrollment = NULL
         WHERE id = ?1 AND status = 'pending'",
        args![
            id,
            c.grant_id,
            c.subject_user_id,
            c.certificate_pem,
            c.ca_certificate_pem,
            c.fingerprint,
            c.serial,
            c.not_after,
            now,
            c.renew_after
        ],
    )?;
    Ok(n == 1)
}

/// A renewed key and certificate, verified, to replace the current pair.
pub struct RenewedPair<'a> {
    pub csr_pem: &'a str,
    pub public_key: &'a [u8],
    pub sealed_private_key: &'a str,
    pub certificate_pem: &'a str,
    pub fingerprint: &'a str,
    pub serial: &'a str,
    pub not_after: i64,
    pub renew_after: i64,
}

/// Swaps the key and certificate of an active peer in one statement, only if its
/// certificate is still `replaced` (the one the renewal authenticated with) and the
/// renewal still holds its claim `claim`; releases the claim and clears the failures.
/// Returns false otherwise.
pub fn renew(
    conn: &dyn Db,
    id: &str,
    replaced: &str,
    claim: &str,
    p: &RenewedPair<'_>,
) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE peers SET csr_pem = ?3, public_key = ?4, sealed_private_key = ?5,
                          certificate_pem = ?6, cert_fingerprint = ?7, cert_serial = ?8,
                          cert_not_after = ?9, renew_after = ?10, renewal_claimed_by = NULL,
                          renewal_claimed_until = NULL, renewal_failures = 0
         WHERE id = ?1 AND status = 'active' AND cert_fingerprint = ?2
           AND renewal_claimed_by = ?11",
        args![
            id,
            replaced,
            p.csr_pem,
            p.public_key,
            p.sealed_private_key,
            p.certificate_pem,
            p.fingerprint,
            p.serial,
            p.not_after,
            p.renew_after,
            claim
        ],
    )?;
    Ok(n == 1)
}

/// Takes the claim to renew the active peer `id` as `claim` until `until` (ms), if no
/// other claim is live at `now`; with `due_only`, only if its renewal is due at `now`.
/// Of two processes claiming at once, the row lock lets exactly one change the row.
/// Returns whether the claim was taken.
pub fn claim_renewal(
    conn: &dyn Db,
    id: &str,
    claim: &str,
    now: i64,
    until: i64,
    due_only: bool,
) -> Result<bool, DbError> {
    let sql = if due_only {
        CLAIM_DUE_RENEWAL
    } else {
        CLAIM_RENEWAL
    };
    Ok(conn.execute(sql, args![id, claim, until, now])? == 1)
}

/// Releases the claim `claim` on peer `id` (if it still holds it), leaving the rest alone.
pub fn release_renewal(conn: &dyn Db, id: &str, claim: &str) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE peers SET renewal_claimed_by = NULL, renewal_claimed_until = NULL
         WHERE id = ?1 AND renewal_claimed_by = ?2",
        args![id, claim],
    )?;
    Ok(n == 1)
}

/// Records a failed automatic renewal under the claim `claim`: `failures` in a row so
/// far, and the next try at `retry_at` (ms); releases the claim. Also when the claim
/// lapsed before the failure was known (and another renewal, since ended, may have taken
/// it meanwhile): then no live claim holds the peer at `now`, and the failure still counts,
/// so the next try waits for its backoff. A live claim of another renewal is left alone:
/// that renewal settles the peer.
pub fn renewal_failed(
    conn: &dyn Db,
    id: &str,
    claim: &str,
    now: i64,
    failures: i64,
    retry_at: i64,
) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE peers SET renewal_claimed_by = NULL, renewal_claimed_until = NULL,
                          renewal_failures = ?4, renew_after = ?5
         WHERE id = ?1 AND status = 'active'
           AND (renewal_claimed_by = ?2 OR renewal_claimed_until IS NULL
                OR renewal_claimed_until <= ?3)",
        args![id, claim, now, failures, retry_at],
    )?;
    Ok(n == 1)
}

/// Releases every renewal claim: for a SQLite database at start-up, where the only
/// process that could hold one is this gateway's previous run (one process per data
/// directory), so a renewal cut off by a crash does not hold its peer until its lease
/// ends. Returns how many were released.
pub fn release_all_renewals(conn: &dyn Db) -> Result<u64, DbError> {
    conn.execute(
        "UPDATE peers SET renewal_claimed_by = NULL, renewal_claimed_until = NULL
         WHERE renewal_claimed_by IS NOT NULL",
        &[],
    )
}

/// A peer's status and the end of the live renewal claim on it at `now`, if any.
pub fn renewal_claim(
    conn: &dyn Db,
    id: &str,
    now: i64,
) -> Result<Option<(PeerStatus, Option<i64>)>, DbError> {
    conn.query_opt(
        "SELECT status, renewal_claimed_until FROM peers WHERE id = ?1",
        args![id],
    )?
    .map(|r| {
        let status: String = r.get(0)?;
        let until: Option<i64> = r.get(1)?;
        Ok((status_of(&status), until.filter(|&u| u > now)))
    })
    .transpose()
}

/// Active peers whose renewal is due at `now`, with their certificate's fingerprint.
pub fn due_for_renewal(conn: &dyn Db, now: i64) -> Result<Vec<(String, String)>, DbError> {
    conn.query(DUE_FOR_RENEWAL, args![now])?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect()
}

/// Returns false if there was no such peer.
pub fn delete(conn: &dyn Db, id: &str) -> Result<bool, DbError> {
    Ok(conn.execute("DELETE FROM peers WHERE id = ?1", args![id])? == 1)
}

/// What B needs to call the peer over mutual TLS. The sealed key stays sealed here.
pub struct Credentials {
    pub status: PeerStatus,
    pub remote_url: String,
    pub certificate_pem: Option<String>,
    pub ca_certificate_pem: Option<String>,
    pub cert_fingerprint: Option<String>,
    pub cert_not_after: Option<i64>,
    pub grant_id: Option<String>,
    pub subject_user_id: Option<String>,
    pub sealed_private_key: String,
    /// Automatic renewals failed in a row since the last success.
    pub renewal_failures: i64,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("remote_url", &self.remote_url)
            .field("cert_fingerprint", &self.cert_fingerprint)
            .finish_non_exhaustive()
    }
}

pub fn credentials(conn: &dyn Db, id: &str) -> Result<Option<Credentials>, DbError> {
    conn.query_opt(CREDENTIALS, args![id])?
        .map(|row| {
            let status: String = row.get(0)?;
            Ok(Credentials {
                status: status_of(&status),
                remote_url: row.get(1)?,
                certificate_pem: row.get(2)?,
                ca_certificate_pem: row.get(3)?,
                cert_fingerprint: row.get(4)?,
                sealed_private_key: row.get(5)?,
                cert_not_after: row.get(6)?,
                grant_id: row.get(7)?,
                subject_user_id: row.get(8)?,
                renewal_failures: row.get(9)?,
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    //! The renewal claim against a real (SQLite) database: taken by one claim at a time,
    //! lapsing at its lease, released only by its holder, and the swap only under it.

    use super::*;
    use rusqlite::Connection;

    const NOW: i64 = 1_800_000_000_000;

    /// A database with the active peer `p1`, due for renewal at NOW, and the pending `p2`.
    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::apply(&mut conn).unwrap();
        for id in ["p1", "p2"] {
            let peer = NewPeer {
                id,
                name: id,
                remote_url: "https://a.test",
                csr_pem: "csr",
                public_key: b"spki",
                sealed_private_key: "sealed",
                sealed_enrollment: None,
                created_at: NOW - 10_000,
            };
            insert(&conn, &peer).unwrap();
        }
        let cert = PeerCert {
            grant_id: "g1",
            subject_user_id: "u1",
            certificate_pem: "cert",
            ca_certificate_pem: "ca",
            fingerprint: "sha256:old",
            serial: "01",
            not_after: NOW + 30_000,
            renew_after: NOW,
        };
        assert!(activate(&conn, "p1", NOW - 5_000, &cert).unwrap());
        conn
    }

    fn pair(fingerprint: &str) -> RenewedPair<'_> {
        RenewedPair {
            csr_pem: "csr2",
            public_key: b"spki2",
            sealed_private_key: "sealed2",
            certificate_pem: "cert2",
            fingerprint,
            serial: "02",
            not_after: NOW + 60_000,
            renew_after: NOW + 45_000,
        }
    }

    #[test]
    fn one_claim_at_a_time_until_its_lease_ends() {
        let conn = database();
        assert!(claim_renewal(&conn, "p1", "c1", NOW, NOW + 8_000, false).unwrap());
        // Held: any other claim is refused until the lease ends, due or not.
        assert!(!claim_renewal(&conn, "p1", "c2", NOW + 7_999, NOW + 9_000, false).unwrap());
        assert!(!claim_renewal(&conn, "p1", "c2", NOW + 7_999, NOW + 9_000, true).unwrap());
        assert_eq!(
            renewal_claim(&conn, "p1", NOW + 7_999).unwrap(),
            Some((PeerStatus::Active, Some(NOW + 8_000)))
        );
        assert!(due_for_renewal(&conn, NOW + 7_999).unwrap().is_empty());
        // Lapsed: listed as due again, and claimed anew.
        assert_eq!(
            renewal_claim(&conn, "p1", NOW + 8_000).unwrap(),
            Some((PeerStatus::Active, None))
        );
        assert_eq!(due_for_renewal(&conn, NOW + 8_000).unwrap().len(), 1);
        assert!(claim_renewal(&conn, "p1", "c2", NOW + 8_000, NOW + 16_000, true).unwrap());
        // A pending or unknown peer has nothing to claim.
        assert!(!claim_renewal(&conn, "p2", "c3", NOW, NOW + 8_000, false).unwrap());
        assert!(!claim_renewal(&conn, "p9", "c3", NOW, NOW + 8_000, false).unwrap());
        assert_eq!(
            renewal_claim(&conn, "p2", NOW).unwrap(),
            Some((PeerStatus::Pending, None))
        );
        assert_eq!(renewal_claim(&conn, "p9", NOW).unwrap(), None);
    }

    #[test]
    fn the_scheduler_claims_only_a_due_peer() {
        let conn = database();
        assert!(!claim_renewal(&conn, "p1", "c1", NOW - 1, NOW + 8_000, true).unwrap());
        assert!(claim_renewal(&conn, "p1", "c1", NOW, NOW + 8_000, true).unwrap());
    }

    #[test]
    fn only_the_holder_releases_the_claim_or_swaps_the_pair() {
        let conn = database();
        assert!(claim_renewal(&conn, "p1", "c1", NOW, NOW + 8_000, false).unwrap());
        assert!(!release_renewal(&conn, "p1", "c2").unwrap());
        assert!(!renew(&conn, "p1", "sha256:old", "c2", &pair("sha256:new")).unwrap());
        assert!(!renewal_failed(&conn, "p1", "c2", NOW, 1, NOW + 1_000).unwrap());
        // The holder's swap needs the certificate it started from, and releases the claim.
        assert!(!renew(&conn, "p1", "sha256:other", "c1", &pair("sha256:new")).unwrap());
        assert!(renew(&conn, "p1", "sha256:old", "c1", &pair("sha256:new")).unwrap());
        assert_eq!(
            renewal_claim(&conn, "p1", NOW).unwrap(),
            Some((PeerStatus::Active, None))
        );
        let peer = get(&conn, "p1").unwrap().unwrap();
        assert_eq!(peer.cert_fingerprint.as_deref(), Some("sha256:new"));
        assert!(claim_renewal(&conn, "p1", "c2", NOW, NOW + 8_000, false).unwrap());
        assert!(release_renewal(&conn, "p1", "c2").unwrap());
        assert!(!release_renewal(&conn, "p1", "c2").unwrap());
    }

    #[test]
    fn a_failure_keeps_its_count_and_next_try_until_a_swap_clears_them() {
        let conn = database();
        let failures =
            |conn: &Connection| credentials(conn, "p1").unwrap().unwrap().renewal_failures;
        assert!(claim_renewal(&conn, "p1", "c1", NOW, NOW + 8_000, true).unwrap());
        assert!(renewal_failed(&conn, "p1", "c1", NOW, 1, NOW + 1_000).unwrap());
        assert_eq!(failures(&conn), 1);
        // Released, and not due again before the next try.
        assert!(due_for_renewal(&conn, NOW + 999).unwrap().is_empty());
        assert!(!claim_renewal(&conn, "p1", "c2", NOW + 999, NOW + 9_000, true).unwrap());
        assert!(claim_renewal(&conn, "p1", "c2", NOW + 1_000, NOW + 9_000, true).unwrap());
        assert!(renewal_failed(&conn, "p1", "c2", NOW + 1_000, 2, NOW + 3_000).unwrap());
        assert_eq!(failures(&conn), 2);
        assert!(claim_renewal(&conn, "p1", "c3", NOW + 3_000, NOW + 11_000, true).unwrap());
        assert!(renew(&conn, "p1", "sha256:old", "c3", &pair("sha256:new")).unwrap());
        assert_eq!(failures(&conn), 0);
    }

    /// The claim lapsed mid-renewal and another renewal took it and ended (its claim
    /// lapsed too, or was released): the failure of the first still counts, with its next
    /// try. While another renewal's claim is live, it is left alone.
    #[test]
    fn a_failure_counts_after_the_claim_lapsed_unless_another_claim_is_live() {
        let conn = database();
        let failures =
            |conn: &Connection| credentials(conn, "p1").unwrap().unwrap().renewal_failures;
        assert!(claim_renewal(&conn, "p1", "c1", NOW, NOW + 8_000, true).unwrap());
        // c1 lapses; c2 claims the peer and holds it live: c1's failure changes nothing.
        assert!(claim_renewal(&conn, "p1", "c2", NOW + 8_000, NOW + 16_000, false).unwrap());
        assert!(!renewal_failed(&conn, "p1", "c1", NOW + 8_000, 1, NOW + 2_000).unwrap());
        assert_eq!(failures(&conn), 0);
        assert!(due_for_renewal(&conn, NOW + 15_999).unwrap().is_empty());
        // c2's claim lapses in turn: c1's failure counts, releases it and sets the next try.
        assert!(renewal_failed(&conn, "p1", "c1", NOW + 16_000, 1, NOW + 2_000).unwrap());
        assert_eq!(failures(&conn), 1);
        assert!(due_for_renewal(&conn, NOW + 1_999).unwrap().is_empty());
        assert_eq!(due_for_renewal(&conn, NOW + 2_000).unwrap().len(), 1);
        assert_eq!(
            renewal_claim(&conn, "p1", NOW).unwrap(),
            Some((PeerStatus::Active, None))
        );
        // Released by c2 (no claim at all): counts too.
        assert!(claim_renewal(&conn, "p1", "c3", NOW + 2_000, NOW + 10_000, true).unwrap());
        assert!(release_renewal(&conn, "p1", "c3").unwrap());
        assert!(renewal_failed(&conn, "p1", "c1", NOW + 2_000, 2, NOW + 4_000).unwrap());
        assert_eq!(
            credentials(&conn, "p1").unwrap().unwrap().renewal_failures,
            2
        );
        // A pending peer has no renewal to fail.
        assert!(!renewal_failed(&conn, "p2", "c1", NOW, 1, NOW + 2_000).unwrap());
    }

    #[test]
    fn a_start_releases_the_claims_of_the_last_run() {
        let conn = database();
        assert!(claim_renewal(&conn, "p1", "c1", NOW, NOW + 8_000, false).unwrap());
        assert_eq!(release_all_renewals(&conn).unwrap(), 1);
        assert!(claim_renewal(&conn, "p1", "c2", NOW, NOW + 8_000, false).unwrap());
    }
}
