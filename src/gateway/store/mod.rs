//! The gateway's SQLite database: opening it with durable settings, versioned migrations,
//! one connection shared by all requests, and the one write path ([`Store::write`]).
//! Each submodule owns one table's queries. Errors are the store's own
//! ([`StoreError`]); the routes map them to HTTP.

pub mod audit;
pub mod certificates;
pub mod grants;
pub mod migrations;
pub mod page;
pub mod peers;
#[cfg(test)]
mod plans;
pub mod rows;
pub mod tokens;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use time::OffsetDateTime;

use audit::Event;

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
    Database(#[from] rusqlite::Error),
    #[error("database task failed: {0}")]
    Task(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database, shared by all requests. One connection behind a mutex: the gateway's
/// writes are small, and serialising them makes every state change trivially atomic on
/// top of the `BEGIN IMMEDIATE` transactions each write uses anyway.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (or creates) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, String> {
        create_private(path)
            .map_err(|e| format!("cannot create the database {}: {e}", path.display()))?;
        let mut conn = Connection::open(path)
            .map_err(|e| format!("cannot open the database {}: {e}", path.display()))?;
        configure(&conn)?;
        migrations::apply(&mut conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Whether the database holds no grant, no peer and no audit record: a gateway that has
    /// never served a request that changed anything.
    pub async fn is_empty(&self) -> Result<bool, String> {
        self.run(|conn| {
            conn.query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM grants) AND NOT EXISTS (SELECT 1 FROM peers) \
                 AND NOT EXISTS (SELECT 1 FROM audit_log)",
                [],
                |r| r.get::<_, bool>(0),
            )
            .map_err(StoreError::from)
        })
        .await
        .map_err(|e: StoreError| format!("cannot read the database: {e}"))
    }

    /// Runs `f` with the connection on a blocking thread, so that SQLite's fsyncs never
    /// stall the async workers.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside `f` rolled its transaction back when it unwound, so the
            // connection is still consistent: keep using it.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The one write path: `BEGIN IMMEDIATE`, the expiry sweep, `f` with the transaction
    /// and its "now", `f`'s audit event recorded at that "now", commit. An error from `f`
    /// rolls everything back. No handler can forget a step.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Transaction<'_>, i64) -> Result<(T, Event), E> + Send + 'static,
    {
        self.run(move |conn| {
            let (tx, now) = begin(conn)?;
            let (value, event) = f(&tx, now)?;
            audit::record(&tx, now, &event.record()).map_err(StoreError::from)?;
            tx.commit().map_err(StoreError::from)?;
            Ok(value)
        })
        .await
    }

    /// A read after the expiry sweep, so that an expired grant never reads as anything
    /// else: `BEGIN IMMEDIATE`, the sweep, `f`, commit (of the sweep's changes).
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Transaction<'_>, i64) -> Result<T, E> + Send + 'static,
    {
        self.run(move |conn| {
            let (tx, now) = begin(conn)?;
            let value = f(&tx, now)?;
            tx.commit().map_err(StoreError::from)?;
            Ok(value)
        })
        .await
    }
}

/// Starts a write transaction in which every grant past its `expires_at` already reads
/// as `expired`; returns it with the "now" it used.
fn begin(conn: &mut Connection) -> StoreResult<(Transaction<'_>, i64)> {
    let now = now_ms();
    let tx = immediate(conn)?;
    grants::expire_due(&tx, now)?;
    Ok((tx, now))
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
fn immediate(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
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
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}
