//! What the metrics and the readiness check read of the store: the grants and peers per
//! status, the certificate expiries, and whether the database answers at all.

use super::db::Db;
use super::{Store, StoreError, from_ms_opt};
use mosaic_contract::types::PeerHealth;

/// Grants (granting side) and peers (enrolling side) per status.
#[derive(Debug, Default)]
pub struct StatusCounts {
    pub grants: Vec<(String, i64)>,
    pub peers: Vec<(String, i64)>,
}

/// Unix milliseconds at which client certificates expire.
#[derive(Debug, Default)]
pub struct Expiries {
    /// Granting side: per peer name, the earliest expiry of the certificates that active
    /// grants were last issued.
    pub granted: Vec<(String, i64)>,
    /// Enrolling side: per active peer (its ID here), this gateway's own certificate.
    pub own: Vec<(String, i64)>,
}

fn pairs(db: &dyn Db, sql: &str) -> Result<Vec<(String, i64)>, StoreError> {
    db.query(sql, &[])?
        .iter()
        .map(|row| Ok((row.get::<String>(0)?, row.get::<i64>(1)?)))
        .collect()
}

impl Store {
    /// Four rows kept by triggers for the grants (no count over the table), a count of
    /// the peers (a gateway enrolls with a handful). Through [`Store::read`], so a grant
    /// past its expiry counts as expired.
    pub async fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        self.read(|db, _| {
            Ok(StatusCounts {
                grants: pairs(
                    db,
                    "SELECT status, n FROM grant_status_counts ORDER BY status",
                )?,
                peers: pairs(
                    db,
                    "SELECT status, CAST(count(*) AS BIGINT) FROM peers GROUP BY status \
                     ORDER BY status",
                )?,
            })
        })
        .await
    }

    /// The certificate expiries, both sides.
    pub async fn certificate_expiries(&self) -> Result<Expiries, StoreError> {
        self.read(|db, _| {
            Ok(Expiries {
                granted: pairs(
                    db,
                    "SELECT peer_id, MIN(peer_cert_not_after) FROM grants \
                     WHERE status = 'active' AND peer_cert_not_after IS NOT NULL \
                     GROUP BY peer_id ORDER BY peer_id",
                )?,
                own: pairs(
                    db,
                    "SELECT id, cert_not_after FROM peers \
                     WHERE status = 'active' AND cert_not_after IS NOT NULL ORDER BY id",
                )?,
            })
        })
        .await
    }

    /// Whether the database answers a query (the readiness check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|db| {
            db.query_one("SELECT 1", &[])
                .map(|_| ())
                .map_err(StoreError::from)
        })
        .await
    }
}

/// Every peer with its certificate and renewal state, most urgent first: pending peers
/// (an enrollment to finish), then by the earliest of expiry and renewal due.
pub async fn peer_health(store: &Store) -> Result<Vec<PeerHealth>, StoreError> {
    store
        .run(|db| {
            db.query(
                "SELECT id, name, status, cert_not_after, renew_after, renewal_failures \
                 FROM peers ORDER BY status = 'active', \
                 COALESCE(renew_after, cert_not_after, 0), id",
                &[],
            )?
            .iter()
            .map(|row| {
                Ok(PeerHealth {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    status: super::peers::status_of(&row.get::<String>(2)?),
                    cert_not_after: from_ms_opt(row.get(3)?),
                    renewal_due_at: from_ms_opt(row.get(4)?),
                    renewal_failures: u32::try_from(row.get::<i64>(5)?).unwrap_or(u32::MAX),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
        })
        .await
}
