//! `mosaic gateway reseal`: every value a gateway keeps sealed (its CA key, each peer's
//! private key, each pending peer's sealed enrollment) sealed again under the current
//! `BETTER_AUTH_SECRET`, after a rotation that left the old secret as a previous one.
//!
//! Safe next to serving gateways and against `kill -9` at any point: each database value
//! is replaced in a transaction of its own, only while it still holds the text that was
//! read (compare-and-swap: a concurrent renewal or removal wins, and the value is read
//! again); the CA key file is replaced atomically (written, synced, renamed). So every
//! value is at all times under the old or the new secret, and a rerun finishes the job.
//! A value no given secret opens is named and left as it is.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mosaic_crypto::seal::{PEER_ENROLLMENT_INFO, PEER_KEY_INFO, SealError, SealingSecret};

use crate::ca::{CA_KEY_AAD, CA_KEY_FILE, CA_KEY_INFO};
use crate::store::db::{Db, args};
use crate::store::{DB_FILE, Store, StoreError};
use crate::{PgOptions, data_dir};

/// Where the values are: the flags `gateway serve` was given.
#[derive(Debug, Clone)]
pub struct ResealConfig {
    pub data_dir: Option<PathBuf>,
    pub database: Option<PgOptions>,
    pub previous_secrets_file: Option<PathBuf>,
}

/// Why `reseal` did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// A missing or short secret, an unreadable file of previous secrets, no gateway data
    /// where it was pointed: nothing was read or changed.
    #[error("{0}")]
    Invalid(String),
    /// Some values open with no secret given: they were left as they are (each named on
    /// standard error), every other value was resealed.
    #[error("{message}")]
    Unopenable { summary: Summary, message: String },
    /// The store failed; a rerun carries on.
    #[error("{0}")]
    Failed(String),
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Values sealed again under the current secret.
    pub resealed: u64,
    /// Values already under it, left as they are.
    pub current: u64,
    /// Values no given secret opens, left as they are.
    pub unopenable: u64,
}

/// A sealed column of the `peers` table.
struct Column {
    /// How the value is named in messages.
    what: &'static str,
    info: &'static [u8],
    /// The associated data when it is not the record's ID.
    aad: Option<&'static [u8]>,
    select: &'static str,
    swap: &'static str,
}

const PEER_KEY: Column = Column {
    what: "sealed private key",
    info: PEER_KEY_INFO,
    aad: None,
    select: "SELECT sealed_private_key FROM peers WHERE id = ?1",
    swap: "UPDATE peers SET sealed_private_key = ?3 WHERE id = ?1 AND sealed_private_key = ?2",
};

const PEER_ENROLLMENT: Column = Column {
    what: "sealed enrollment",
    info: PEER_ENROLLMENT_INFO,
    aad: None,
    select: "SELECT sealed_enrollment FROM peers WHERE id = ?1",
    swap: "UPDATE peers SET sealed_enrollment = ?3 WHERE id = ?1 AND sealed_enrollment = ?2",
};

/// The CA key shared by replicas on PostgreSQL.
const SHARED_CA: Column = Column {
    what: "sealed CA key",
    info: CA_KEY_INFO,
    aad: Some(CA_KEY_AAD),
    select: "SELECT sealed_key FROM gateway_ca WHERE CAST(id AS TEXT) = ?1",
    swap: "UPDATE gateway_ca SET sealed_key = ?3 WHERE CAST(id AS TEXT) = ?1 AND sealed_key = ?2",
};

/// Peers read per query.
const PAGE: i64 = 500;
/// Swaps in flight at once. Each is its own compare-and-swap; on SQLite the writer's group
/// commit lets concurrent ones share a commit (each in its own savepoint), on PostgreSQL
/// they run on as many connections.
pub const IN_FLIGHT: usize = 16;
/// Times a value is read again after a concurrent change before it is counted as changed
/// by someone else (a renewal seals under the current secret anyway).
const ATTEMPTS: usize = 5;

/// Reseals every value, printing progress and the values no secret opens on standard
/// error; the caller shows the summary.
pub async fn reseal(config: ResealConfig) -> Result<Summary, ResealError> {
    let secret = SealingSecret::from_env().map_err(|e| ResealError::Invalid(e.to_string()))?;
    let secret = crate::with_previous_secrets(secret, config.previous_secrets_file.as_deref())
        .map_err(ResealError::Invalid)?;
    let failed = |e: String| ResealError::Failed(e);
    let mut run = Run::new(secret);
    let store = match &config.database {
        None => {
            let dir = match config.data_dir.clone() {
                Some(dir) => dir,
                None => data_dir::default_path().map_err(ResealError::Invalid)?,
            };
            let db = dir.join(DB_FILE);
            if !db.is_file() {
                return Err(ResealError::Invalid(format!(
                    "no gateway data in {}: point --data-dir at the gateway's data directory",
                    dir.display()
                )));
            }
            let store = Store::open_existing(&db).map_err(failed)?;
            run.total = count(&store, false).await.map_err(failed)?;
            // A CA pair a first start left in `ca.ready/` is moved into place by the next
            // start: it is resealed where it is.
            for path in [
                dir.join(CA_KEY_FILE),
                dir.join("ca.ready").join(CA_KEY_FILE),
            ] {
                if path.is_file() {
                    run.total += 1;
                    run.ca_file(&path)?;
                }
            }
            store
        }
        Some(options) => {
            let (store, ()) = Store::open_postgres(options, |_: &dyn Db| Ok::<(), String>(()))
                .await
                .map_err(failed)?;
            run.total = count(&store, true).await.map_err(failed)?;
            run.value(&store, &SHARED_CA, "1", "the CA in the database", None)
                .await?;
            store
        }
    };
    let mut after = String::new();
    let mut swaps = tokio::task::JoinSet::new();
    loop {
        let from = after.clone();
        let page = store
            .run(move |db: &dyn Db| {
                db.query(
                    "SELECT id, sealed_private_key, sealed_enrollment FROM peers \
                     WHERE id > ?1 ORDER BY id LIMIT ?2",
                    args![from, PAGE],
                )?
                .iter()
                .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .collect::<Result<Vec<(String, String, Option<String>)>, StoreError>>()
            })
            .await
            .map_err(|e| ResealError::Failed(e.to_string()))?;
        let Some((last, _, _)) = page.last() else {
            break;
        };
        after = last.clone();
        for (id, key, enrollment) in page {
            let record = format!("peer {id}");
            run.start(&mut swaps, &store, &PEER_KEY, &id, &record, key);
            if let Some(enrollment) = enrollment {
                run.start(
                    &mut swaps,
                    &store,
                    &PEER_ENROLLMENT,
                    &id,
                    &record,
                    enrollment,
                );
            }
            while swaps.len() >= IN_FLIGHT {
                run.settle(&store, swaps.join_next().await).await?;
            }
        }
    }
    while !swaps.is_empty() {
        run.settle(&store, swaps.join_next().await).await?;
    }
    run.finish()
}

/// A swap in flight: its column, record ID and name, and whether it changed the value.
type Swap = (&'static Column, String, String, Result<bool, ResealError>);

/// Replaces `old` by `new` in one transaction, only while the value still holds `old`;
/// whether it did.
async fn swap_once(
    store: &Store,
    column: &'static Column,
    id: &str,
    record: &str,
    old: String,
    new: String,
) -> Result<bool, ResealError> {
    let (sql, key) = (column.swap, id.to_string());
    store
        .update(move |db: &dyn Db, _| {
            db.execute(sql, args![key, old, new])
                .map_err(StoreError::from)
        })
        .await
        .map(|n| n == 1)
        .map_err(|e| ResealError::Failed(format!("{record}: {e}")))
}

/// Sealed values in the store: every peer's key, the sealed enrollments, and on
/// PostgreSQL the CA key.
async fn count(store: &Store, shared_ca: bool) -> Result<u64, String> {
    let n: i64 = store
        .run(move |db: &dyn Db| {
            let sql = if shared_ca {
                "SELECT (SELECT count(*) + count(sealed_enrollment) FROM peers) \
                 + (SELECT count(*) FROM gateway_ca)"
            } else {
                "SELECT count(*) + count(sealed_enrollment) FROM peers"
            };
            db.query_one(sql, &[])?
                .get::<i64>(0)
                .map_err(StoreError::from)
        })
        .await
        .map_err(|e: StoreError| format!("cannot count the sealed values: {e}"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// One run's secret, counts and progress.
struct Run {
    secret: SealingSecret,
    summary: Summary,
    total: u64,
    checked: u64,
    last_progress: Instant,
}

impl Run {
    fn new(secret: SealingSecret) -> Run {
        Run {
            secret,
            summary: Summary::default(),
            total: 0,
            checked: 0,
            last_progress: Instant::now(),
        }
    }

    /// One value of the database: `text` as read (or read now when `None`), resealed
    /// under compare-and-swap, read again after a concurrent change.
    async fn value(
        &mut self,
        store: &Store,
        column: &'static Column,
        id: &str,
        record: &str,
        mut text: Option<String>,
    ) -> Result<(), ResealError> {
        if text.is_none() {
            text = read(store, column, id).await?;
        }
        for _ in 0..ATTEMPTS {
            let Some(old) = text.take() else {
                // Removed (or its enrollment finished) meanwhile: nothing to keep.
                return Ok(());
            };
            let aad = column.aad.unwrap_or(id.as_bytes());
            let Some(new) = self.next(column.info, aad, &old, record, column.what) else {
                return Ok(());
            };
            if swap_once(store, column, id, record, old, new).await? {
                self.summary.resealed += 1;
                return self.progress();
            }
            // Changed since it was read: a renewal, a finished enrollment or a removal.
            text = read(store, column, id).await?;
        }
        Err(ResealError::Failed(format!(
            "{record}: its {} kept changing while it was resealed; run reseal again",
            column.what
        )))
    }

    /// The first swap of a value as a page read it, started in `swaps` when the value
    /// needs one (counted here when it does not).
    fn start(
        &mut self,
        swaps: &mut tokio::task::JoinSet<Swap>,
        store: &Store,
        column: &'static Column,
        id: &str,
        record: &str,
        old: String,
    ) {
        let aad = column.aad.unwrap_or(id.as_bytes());
        if let Some(new) = self.next(column.info, aad, &old, record, column.what) {
            let (store, id, record) = (store.clone(), id.to_string(), record.to_string());
            swaps.spawn(async move {
                let swapped = swap_once(&store, column, &id, &record, old, new).await;
                (column, id, record, swapped)
            });
        }
    }

    /// Counts a finished swap; one that missed (the value changed meanwhile) goes through
    /// [`Self::value`], which reads it again.
    async fn settle(
        &mut self,
        store: &Store,
        done: Option<Result<Swap, tokio::task::JoinError>>,
    ) -> Result<(), ResealError> {
        let Some(done) = done else {
            return Ok(());
        };
        let (column, id, record, swapped) =
            done.map_err(|e| ResealError::Failed(format!("a swap did not finish: {e}")))?;
        if swapped? {
            self.summary.resealed += 1;
            return self.progress();
        }
        self.value(store, column, &id, &record, None).await
    }

    /// The CA key file of a data directory, replaced atomically.
    fn ca_file(&mut self, path: &std::path::Path) -> Result<(), ResealError> {
        let old = std::fs::read_to_string(path)
            .map_err(|e| ResealError::Failed(format!("cannot read {}: {e}", path.display())))?;
        let record = format!("the CA in {}", path.display());
        if let Some(new) = self.next(CA_KEY_INFO, CA_KEY_AAD, old.trim(), &record, "sealed key") {
            mosaic_private_files::write_file(path, new.as_bytes()).map_err(|e| {
                ResealError::Failed(format!("cannot write {}: {e}", path.display()))
            })?;
            self.summary.resealed += 1;
            self.progress()?;
        }
        Ok(())
    }

    /// The text sealed again when a previous secret opens it; `None` (counted) when it is
    /// already under the current secret or opens with none (named on standard error).
    fn next(
        &mut self,
        info: &[u8],
        aad: &[u8],
        old: &str,
        record: &str,
        what: &str,
    ) -> Option<String> {
        match self.secret.reseal(info, aad, old) {
            Ok(Some(new)) => return Some(new),
            Ok(None) => self.summary.current += 1,
            Err(e) => {
                self.summary.unopenable += 1;
                let why = match e {
                    SealError::Unsealable => format!(
                        "does not open with BETTER_AUTH_SECRET or any previous secret given \
                         ({} given)",
                        self.secret.previous_count()
                    ),
                    other => other.to_string(),
                };
                eprintln!("mosaic gateway reseal: {record}: its {what} {why}; left as it is");
            }
        }
        let _ = self.progress();
        None
    }

    /// A progress line every 1,000 values and at least every second.
    fn progress(&mut self) -> Result<(), ResealError> {
        self.checked += 1;
        if self.checked.is_multiple_of(1000)
            || self.last_progress.elapsed() >= Duration::from_secs(1)
        {
            self.last_progress = Instant::now();
            eprintln!(
                "mosaic gateway reseal: {} of {} values checked, {} resealed",
                thousands(self.checked),
                thousands(self.total.max(self.checked)),
                thousands(self.summary.resealed)
            );
        }
        Ok(())
    }

    fn finish(self) -> Result<Summary, ResealError> {
        let s = self.summary;
        if s.unopenable == 0 {
            return Ok(s);
        }
        let one = s.unopenable == 1;
        let message = format!(
            "{} sealed value{} open{} with no secret given (named above) and {} left as {}: \
             give the secret that sealed {} in {} or --previous-secrets-file and run reseal \
             again; keep every previous secret until then",
            thousands(s.unopenable),
            if one { "" } else { "s" },
            if one { "s" } else { "" },
            if one { "was" } else { "were" },
            if one { "it is" } else { "they are" },
            if one { "it" } else { "them" },
            mosaic_crypto::seal::PREVIOUS_SECRETS_ENV,
        );
        Err(ResealError::Unopenable {
            summary: s,
            message,
        })
    }
}

impl Summary {
    /// `resealed 1,203, already current 4, could not open 0`, and when every value is under
    /// the current secret, that the previous secrets can go.
    pub fn lines(&self) -> String {
        let mut text = format!(
            "resealed {}, already current {}, could not open {}\n",
            thousands(self.resealed),
            thousands(self.current),
            thousands(self.unopenable)
        );
        if self.unopenable == 0 {
            text.push_str(
                "every sealed value is under the current BETTER_AUTH_SECRET: the previous \
                 secrets can be removed (then restart the gateway)\n",
            );
        }
        text
    }
}

/// A value as stored now; `None` when its record (or the value) is gone.
async fn read(
    store: &Store,
    column: &'static Column,
    id: &str,
) -> Result<Option<String>, ResealError> {
    let (sql, key) = (column.select, id.to_string());
    store
        .run(move |db: &dyn Db| match db.query_opt(sql, args![key])? {
            Some(row) => row.get::<Option<String>>(0).map_err(StoreError::from),
            None => Ok(None),
        })
        .await
        .map_err(|e: StoreError| ResealError::Failed(e.to_string()))
}

/// `1,203`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: u8) -> SealingSecret {
        SealingSecret::new(vec![c; 32]).unwrap()
    }

    /// A store with one pending peer whose key is `sealed`.
    async fn store_with_peer(dir: &std::path::Path, sealed: &str) -> Store {
        let store = Store::open(&dir.join(DB_FILE)).unwrap();
        let sealed = sealed.to_string();
        store
            .update(move |db: &dyn Db, now| {
                db.execute(
                    "INSERT INTO peers (id, name, remote_url, csr_pem, public_key, \
                     sealed_private_key, status, created_at) \
                     VALUES ('p1', 'A', 'https://a.test', 'csr', x'00', ?1, 'pending', ?2)",
                    args![sealed, now],
                )
                .map_err(StoreError::from)
            })
            .await
            .unwrap();
        store
    }

    async fn stored(store: &Store) -> String {
        read(store, &PEER_KEY, "p1").await.unwrap().unwrap()
    }

    /// A value under a previous secret is swapped for one under the current secret; one
    /// already under it is left; a value no secret opens is counted and left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn values_are_resealed_once_and_unopenable_ones_left() {
        let dir = tempfile::tempdir().unwrap();
        let old = key(b'o').seal_peer_key("p1", b"k");
        let store = store_with_peer(dir.path(), &old).await;
        let mut run = Run::new(key(b'n').with_previous(vec![key(b'o')]));
        run.value(&store, &PEER_KEY, "p1", "peer p1", None)
            .await
            .unwrap();
        let new = stored(&store).await;
        assert_eq!(
            key(b'n').open_peer_key("p1", &new).unwrap().as_slice(),
            b"k"
        );
        run.value(&store, &PEER_KEY, "p1", "peer p1", None)
            .await
            .unwrap();
        assert_eq!(stored(&store).await, new);
        let mut stranger = Run::new(key(b'z').with_previous(vec![key(b'y')]));
        stranger
            .value(&store, &PEER_KEY, "p1", "peer p1", None)
            .await
            .unwrap();
        assert_eq!(stored(&store).await, new, "left as it is");
        assert_eq!(
            (
                run.summary.resealed,
                run.summary.current,
                stranger.summary.unopenable
            ),
            (1, 1, 1)
        );
        assert!(stranger.finish().is_err());
        assert!(run.finish().is_ok());
    }

    /// A value changed since it was read (a renewal sealed a new key meanwhile) is not
    /// overwritten: the swap misses, the value is read again and found current.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_value_changed_since_it_was_read_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let renewed = key(b'n').seal_peer_key("p1", b"renewed");
        let store = store_with_peer(dir.path(), &renewed).await;
        let stale = key(b'o').seal_peer_key("p1", b"old");
        let mut run = Run::new(key(b'n').with_previous(vec![key(b'o')]));
        run.value(&store, &PEER_KEY, "p1", "peer p1", Some(stale))
            .await
            .unwrap();
        assert_eq!(stored(&store).await, renewed);
        assert_eq!((run.summary.resealed, run.summary.current), (0, 1));
        // A peer removed meanwhile is nothing to keep.
        let mut gone = Run::new(key(b'n').with_previous(vec![key(b'o')]));
        let other = key(b'o').seal_peer_key("p2", b"old");
        gone.value(&store, &PEER_KEY, "p2", "peer p2", Some(other))
            .await
            .unwrap();
        assert_eq!(gone.summary, Summary::default());
    }

    /// The CA key file is replaced atomically and only when a previous secret opens it.
    #[test]
    fn the_ca_key_file_is_resealed_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CA_KEY_FILE);
        std::fs::write(&path, key(b'o').seal(CA_KEY_INFO, CA_KEY_AAD, b"ca")).unwrap();
        let mut run = Run::new(key(b'n').with_previous(vec![key(b'o')]));
        run.ca_file(&path).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            key(b'n')
                .open(CA_KEY_INFO, CA_KEY_AAD, &new)
                .unwrap()
                .as_slice(),
            b"ca"
        );
        run.ca_file(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), new);
        assert_eq!((run.summary.resealed, run.summary.current), (1, 1));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }

    #[test]
    fn counts_have_thousands_separators() {
        for (n, want) in [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1000, "1,000"),
            (1203, "1,203"),
            (10_000, "10,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), want);
        }
    }
}
