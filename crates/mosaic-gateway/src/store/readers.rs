//! A small pool of read-only connections. In WAL mode each reads a consistent snapshot
//! while the writer appends, so reads never wait for a write or its fsync, and a read
//! that starts after a write was acknowledged sees it.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

/// Connections in the pool: enough to keep both cores of a small machine busy while
/// others wait on the disk, few enough that their page caches stay small.
pub const READERS: usize = 4;

pub(super) struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(super) fn open(path: &Path) -> Result<Readers, String> {
        let mut idle = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            idle.push(open_reader(path)?);
        }
        Ok(Readers {
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(READERS)),
        })
    }

    /// Runs `f` with a connection of the pool on a blocking thread, once one is free.
    pub(super) async fn with<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection) -> T + Send + 'static,
    ) -> Result<T, String> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let readers = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut lease = Lease {
                readers: &readers,
                conn: readers
                    .idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop(),
            };
            let conn = lease
                .conn
                .as_mut()
                .ok_or_else(|| "no idle reader although a permit was held".to_string())?;
            Ok(f(conn))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// A connection taken from the pool, put back when dropped (also when `f` panicked: its
/// transaction was rolled back while unwinding).
struct Lease<'a> {
    readers: &'a Readers,
    conn: Option<Connection>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.readers
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }
}

/// A connection that cannot change the database (`query_only`); it never creates the
/// file (the writer did).
fn open_reader(path: &Path) -> Result<Connection, String> {
    let fail = |e: rusqlite::Error| format!("cannot open a reader of {}: {e}", path.display());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    conn.execute_batch(
        "PRAGMA query_only = ON;
         PRAGMA busy_timeout = 5000;",
    )
    .map_err(fail)?;
    Ok(conn)
}
