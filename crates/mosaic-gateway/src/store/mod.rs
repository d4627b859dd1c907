//! The gateway's database, one interface over two backends. SQLite in the data
//! directory: opened with durable settings, versioned migrations, one writing connection
//! with group commit ([`Store::write`], the one write path) and a pool of read-only
//! connections ([`Store::read`]). PostgreSQL ([`postgres`]): a pool shared by any number
//! of replicas. Each table module owns one table's queries, written once over [`Db`];
//! errors are the store's own ([`StoreError`]); the routes map them to HTTP.
//!
//! The routes only ever hand [`Store::write`], [`Store::read`] and [`Store::run`]
//! closures that call the table modules' functions, so they never know the backend.

pub mod audit;
pub mod certificates;
pub mod credentials;
pub mod db;
pub mod grants;
pub mod migrations;
pub mod page;
pub mod peers;
#[cfg(test)]
mod plans;
pub mod postgres;
mod readers;
pub mod rows;
pub mod stats;
pub mod tokens;
mod writer;

use std::path::Path;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use time::OffsetDateTime;

use audit::Event;
use db::{Db, DbError};
use postgres::{PgOptions, PgStore};
use readers::Readers;
use writer::{Done, Job};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "gateway.db";

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A page size out of range or a cursor this gateway did not hand out: the caller's
    /// mistake, named.
    #[error("{0}")]
    InvalidPage(String),
    #[error("database: {0}")]
    Database(#[from] DbError),
    #[error("database task failed: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.into())
    }
}

impl From<StoreError> for String {
    fn from(e: StoreError) -> String {
        e.to_string()
    }
}

impl StoreError {
    /// Whether the database could not be reached: the request may succeed later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Database(e) if e.is_unavailable())
    }

    /// The same error again, for each caller of a failed batch.
    pub(crate) fn copy(&self) -> StoreError {
        match self {
            StoreError::Database(e) => StoreError::Database(e.copy()),
            StoreError::InvalidPage(m) => StoreError::InvalidPage(m.clone()),
            StoreError::Task(m) => StoreError::Task(m.clone()),
        }
    }
}

/// The database, shared by all requests.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    /// A queue to the writer thread, and the readers.
    Sqlite {
        writer: Sender<Job>,
        readers: Arc<Readers>,
    },
    Postgres(PgStore),
}

impl Store {
    /// Opens (or creates) the database, brings its schema up to date, starts the writer
    /// thread and opens the readers.
    pub fn open(path: &Path) -> Result<Store, String> {
        create_private(path)
            .map_err(|e| format!("cannot create the database {}: {e}", path.display()))?;
        let mut conn = Connection::open(path)
            .map_err(|e| format!("cannot open the database {}: {e}", path.display()))?;
        configure(&conn)?;
        migrations::apply(&mut conn)?;
        peers::release_all_renewals(&conn)
            .map_err(|e| format!("cannot release the renewal claims of the last run: {e}"))?;
        let readers = Readers::open(path)?;
        let writer =
            writer::spawn(conn).map_err(|e| format!("cannot start the database writer: {e}"))?;
        Ok(Store {
            backend: Backend::Sqlite {
                writer,
                readers: Arc::new(readers),
            },
        })
    }

    /// Opens an existing database next to a gateway that may be serving it, for
    /// `gateway reseal`: like [`Store::open`], but a missing file is refused rather than
    /// created, and the renewal claims of a serving gateway are left alone.
    pub fn open_existing(path: &Path) -> Result<Store, String> {
        if !path.is_file() {
            return Err(format!(
                "no gateway database at {}: check --data-dir",
                path.display()
            ));
        }
        let mut conn = Connection::open(path)
            .map_err(|e| format!("cannot open the database {}: {e}", path.display()))?;
        configure(&conn)?;
        migrations::apply(&mut conn)?;
        let readers = Readers::open(path)?;
        let writer =
            writer::spawn(conn).map_err(|e| format!("cannot start the database writer: {e}"))?;
        Ok(Store {
            backend: Backend::Sqlite {
                writer,
                readers: Arc::new(readers),
            },
        })
    }

    /// Connects to PostgreSQL, migrates under the start-up lock and runs `init` while
    /// still holding it (see [`PgStore::open`]).
    pub async fn open_postgres<T: Send + 'static>(
        options: &PgOptions,
        init: impl FnOnce(&dyn Db) -> Result<T, String> + Send + 'static,
    ) -> Result<(Store, T), String> {
        let (pg, value) = PgStore::open(options, init).await?;
        Ok((
            Store {
                backend: Backend::Postgres(pg),
            },
            value,
        ))
    }

    /// Whether the database holds no grant, no peer and no audit record: a gateway that has
    /// never served a request that changed anything.
    pub async fn is_empty(&self) -> Result<bool, String> {
        self.run(|conn| {
            conn.query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM grants) AND NOT EXISTS (SELECT 1 FROM peers) \
                 AND NOT EXISTS (SELECT 1 FROM audit_log)",
                &[],
            )?
            .get::<bool>(0)
            .map_err(StoreError::from)
        })
        .await
        .map_err(|e: StoreError| format!("cannot read the database: {e}"))
    }

    /// Runs `f` with a read-only connection of the pool on a blocking thread, outside any
    /// transaction and without the expiry view of [`Store::read`]: for reads of peers.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, E> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite { readers, .. } => readers
                .with(move |conn| f(&*conn))
                .await
                .map_err(|e| E::from(StoreError::Task(e)))?,
            Backend::Postgres(pg) => pg.run(f).await,
        }
    }

    /// The one write path: `f` with the connection and the "now" of its batch, inside
    /// `BEGIN IMMEDIATE` after the expiry sweep and in its own savepoint; `f`'s audit
    /// event is recorded at that "now"; the answer comes once the batch's commit is on
    /// disk. An error from `f` undoes `f` (and only `f`). No handler can forget a step.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&dyn Db, i64) -> Result<(T, Event), E> + Send + 'static,
    {
        // The request this write serves, for its audit row (the handler's task).
        let request_id = crate::log::request_id();
        // And the admin credential it was made with, for the row's actor.
        let actor = crate::log::actor();
        let writer = match &self.backend {
            Backend::Sqlite { writer, .. } => writer,
            Backend::Postgres(pg) => return pg.write(request_id, actor, f).await,
        };
        submit(writer, move |conn, now| {
            let (value, event) = f(conn, now)?;
            let record = audit::Record {
                request_id: request_id.as_deref(),
                actor_name: actor.as_deref(),
                ..event.record()
            };
            audit::record(conn, now, &record).map_err(StoreError::from)?;
            Ok(value)
        })
        .await
    }

    /// A write that is bookkeeping rather than an auditable action (the claim to renew a
    /// peer, its release): `f` with the connection and the "now" of its batch, in its own
    /// transaction (SQLite: through the one writer, in its own savepoint), without the
    /// expiry sweep and without an audit event.
    pub async fn update<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&dyn Db, i64) -> Result<T, E> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite { writer, .. } => submit(writer, f).await,
            Backend::Postgres(pg) => pg.update(f).await,
        }
    }

    /// A read in which an expired grant never reads as anything else: one snapshot of a
    /// read-only connection in which no grant is past its `expires_at` (one probe of the
    /// expiry index). When some grant is due, the read goes through the writer instead,
    /// after the sweep that records the expiry.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&dyn Db, i64) -> Result<T, E> + Send + 'static,
    {
        let (writer, readers) = match &self.backend {
            Backend::Sqlite { writer, readers } => (writer, readers),
            Backend::Postgres(pg) => return pg.read(f).await,
        };
        let attempt = readers
            .with(move |conn| -> Result<Result<T, E>, F> {
                let now = now_ms();
                let tx = match conn.transaction() {
                    Ok(tx) => tx,
                    Err(e) => return Ok(Err(E::from(StoreError::from(e)))),
                };
                let db: &Connection = &tx;
                match grants::any_due(db, now) {
                    Ok(false) => Ok(f(db, now)),
                    Ok(true) => Err(f),
                    Err(e) => Ok(Err(E::from(StoreError::from(e)))),
                }
            })
            .await
            .map_err(|e| E::from(StoreError::Task(e)))?;
        match attempt {
            Ok(result) => result,
            Err(f) => submit(writer, f).await,
        }
    }
}

/// Queues `f` for the SQLite writer and waits for its batch's commit.
async fn submit<T, E, F>(writer: &Sender<Job>, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&dyn Db, i64) -> Result<T, E> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::oneshot::channel::<Result<T, E>>();
    type Reply<T, E> = Mutex<Option<tokio::sync::oneshot::Sender<Result<T, E>>>>;
    let reply = Arc::new(Mutex::new(Some(sender)));
    let answer = move |reply: &Reply<T, E>, result: Result<T, E>| {
        let sender = reply.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(sender) = sender {
            let _ = sender.send(result);
        }
    };
    let on_abort = reply.clone();
    let job = Job {
        work: Box::new(move |conn, now| {
            let result = f(conn, now);
            Done {
                keep: result.is_ok(),
                answer: Box::new(move |failed| {
                    let result = match (result, failed) {
                        (Ok(_), Some(e)) => Err(E::from(e)),
                        (result, _) => result,
                    };
                    answer(&reply, result);
                }),
            }
        }),
        abort: Box::new(move |e| answer(&on_abort, Err(E::from(e)))),
    };
    writer
        .send(job)
        .map_err(|_| StoreError::Task("the database writer has stopped".into()))?;
    receiver
        .await
        .map_err(|_| StoreError::Task("the write ended without an answer (it panicked)".into()))?
}

/// Creates an empty database file readable by the owner only; SQLite gives its `-wal`
/// and `-shm` files the same permissions.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// WAL lets readers proceed during a write and makes a commit one sequential append.
/// `synchronous = FULL` fsyncs the WAL on every commit: `NORMAL` would already survive
/// `kill -9` (the WAL is in the OS page cache), but not a power cut, and the contract is
/// that an acknowledged write is never lost.
fn configure(conn: &Connection) -> Result<(), String> {
    let fail = |e: rusqlite::Error| format!("cannot configure the database: {e}");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(fail)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("the database refused WAL mode (got {mode})"));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )
    .map_err(fail)
}

/// Starts a write transaction that takes the write lock at once (`BEGIN IMMEDIATE`), so a
/// read-then-write inside it can never be interleaved with another writer.
fn immediate(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Timestamps are stored as Unix milliseconds: they sort, compare and index as integers.
pub fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

pub fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn from_ms_opt(ms: Option<i64>) -> Option<OffsetDateTime> {
    ms.map(from_ms)
}

/// True when the error is a violated UNIQUE or PRIMARY KEY constraint.
pub fn is_unique_violation(e: &DbError) -> bool {
    e.is_unique_violation()
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit::Actor;
    use mosaic_contract::types::AuditAction;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join(DB_FILE)).unwrap();
        (dir, store)
    }

    /// Writes queued together share a commit, each in its own savepoint: a failing or
    /// panicking write leaves nothing behind, and the others are kept and answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failing_write_undoes_only_itself() {
        let (_dir, store) = store();
        let writes = (0..96).map(|i: u32| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(move |conn, now| {
                        conn.execute(
                            "INSERT INTO resource_rows (resource, user_id, id, created_at, \
                             updated_at, fields) VALUES ('tasks', 'u', ?1, ?2, ?2, '{}')",
                            db::args![i.to_string(), now],
                        )?;
                        if i.is_multiple_of(3) {
                            return Err(StoreError::InvalidPage(format!("refused {i}")));
                        }
                        if i.is_multiple_of(7) {
                            panic!("write {i} panics after its insert");
                        }
                        let event = Event::new(AuditAction::DataImported, Actor::Admin)
                            .detail(i.to_string());
                        Ok((i, event))
                    })
                    .await
            })
        });
        let mut kept = Vec::new();
        for (i, write) in (0..96).zip(writes.collect::<Vec<_>>()) {
            match write.await.unwrap() {
                Ok(v) => {
                    assert_eq!(v, i);
                    assert!(
                        !i.is_multiple_of(3) && !i.is_multiple_of(7),
                        "write {i} succeeded"
                    );
                    kept.push(i.to_string());
                }
                Err(StoreError::InvalidPage(m)) => assert_eq!(m, format!("refused {i}")),
                Err(StoreError::Task(_)) => {
                    assert!(i.is_multiple_of(7) && !i.is_multiple_of(3), "write {i}")
                }
                Err(e) => panic!("write {i}: {e}"),
            }
        }
        let (rows, audited) = store
            .run(|conn| {
                let ids = |sql: &str| -> Result<Vec<String>, DbError> {
                    conn.query(sql, &[])?.iter().map(|r| r.get(0)).collect()
                };
                Ok::<_, StoreError>((
                    ids("SELECT id FROM resource_rows ORDER BY CAST(id AS INTEGER)")?,
                    ids("SELECT detail FROM audit_log ORDER BY CAST(detail AS INTEGER)")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(rows, kept);
        assert_eq!(audited, kept);
    }

    /// A read sees every acknowledged write; a grant past its expiry reads as expired
    /// (through the writer's sweep, recorded once).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_see_acknowledged_writes_and_expiry() {
        let (_dir, store) = store();
        let past = now_ms() - 1;
        store
            .write(move |conn, now| {
                conn.execute(
                    "INSERT INTO grants (id, user_id, peer_id, scope, status, created_at, \
                     expires_at) VALUES ('g1', 'u', 'p', '{}', 'pending', ?1, ?2)",
                    db::args![now, past + 50],
                )?;
                Ok::<_, StoreError>(((), Event::new(AuditAction::GrantCreated, Actor::Admin)))
            })
            .await
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60));
        for _ in 0..2 {
            let status = store
                .read(|conn, _| {
                    conn.query_one("SELECT status FROM grants WHERE id = 'g1'", &[])?
                        .get::<String>(0)
                        .map_err(StoreError::from)
                })
                .await
                .unwrap();
            assert_eq!(status, "expired");
        }
        let expiries: i64 = store
            .run(|conn| {
                conn.query_one(
                    "SELECT count(*) FROM audit_log WHERE action = 'grant.expired'",
                    &[],
                )?
                .get::<i64>(0)
                .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(expiries, 1);
    }
}
