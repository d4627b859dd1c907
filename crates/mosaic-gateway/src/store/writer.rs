//! The one writing connection, on its own thread, with group commit: it takes every write
//! queued while the previous commit was reaching the disk, runs each in its own
//! `SAVEPOINT` inside one `BEGIN IMMEDIATE` transaction (so a failing write undoes only
//! itself), commits once, and only then answers each caller. One fsync serves the whole
//! batch; nothing is acknowledged before the commit that holds it is durable.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use rusqlite::Connection;

use super::db::Db;

use super::{StoreError, grants, now_ms};

/// Writes committed together at most: bounds the time one commit holds its callers.
const MAX_BATCH: usize = 256;

/// What a queued write did, kept until its batch is committed.
pub(super) struct Done {
    /// Whether its changes stay (`RELEASE`) or are undone (`ROLLBACK TO`).
    pub keep: bool,
    /// Answers the caller, with the batch's commit error if the commit failed.
    pub answer: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

/// A write's work: runs on the connection inside its savepoint, with the batch's "now".
pub(super) type Work = Box<dyn FnOnce(&dyn Db, i64) -> Done + Send>;

/// One queued write.
pub(super) struct Job {
    pub work: Work,
    /// Answers the caller with `e` when the batch could not even start.
    pub abort: Box<dyn FnOnce(StoreError) + Send>,
}

/// Starts the writer thread; it ends when every sender is dropped.
pub(super) fn spawn(conn: Connection) -> std::io::Result<Sender<Job>> {
    let (sender, receiver) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("mosaic-store-writer".into())
        .spawn(move || run(conn, receiver))?;
    Ok(sender)
}

fn run(conn: Connection, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        commit_batch(&conn, batch);
    }
}

/// `BEGIN IMMEDIATE`, the expiry sweep, each job in its savepoint, `COMMIT`, then the
/// answers. A failed begin, sweep or commit fails every job of the batch (none of them
/// was acknowledged).
fn commit_batch(conn: &Connection, batch: Vec<Job>) {
    let now = now_ms();
    let start = conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(StoreError::from)
        .and_then(|()| grants::expire_due(conn, now).map_err(StoreError::from));
    let expired = match start {
        Ok(n) => n,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            for job in batch {
                (job.abort)(e.copy());
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            (job.abort)(StoreError::from(e));
            continue;
        }
        // A panicking job is undone like a failing one; its caller sees the task fail.
        let work = job.work;
        match catch_unwind(AssertUnwindSafe(|| work(conn, now))) {
            Ok(done) => {
                let end = if done.keep {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                if conn.execute_batch(end).is_err() {
                    let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                }
                answers.push(done);
            }
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            }
        }
    }
    let committing = std::time::Instant::now();
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            crate::metrics::get().commit(answers.len(), committing.elapsed());
            expired_log(expired);
            for done in answers {
                (done.answer)(None);
            }
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            let e = StoreError::from(e);
            for done in answers {
                (done.answer)(Some(e.copy()));
            }
        }
    }
}

/// The expiry sweep as a log event, once its commit is durable.
pub fn expired_log(expired: usize) {
    if expired > 0 {
        tracing::info!(
            target: "expiry",
            expired,
            "expired {expired} grant(s) past their expires_at"
        );
    }
}
