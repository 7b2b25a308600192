//! Checkpoints: copying committed pages from the WAL back into the database
//! file.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold, adding megabytes of copying and an fsync of the database file
//! to that batch's latency while the writer waits. Instead a dedicated thread
//! with its own connection checkpoints (PASSIVE) at most every [`INTERVAL`]
//! while there are writes, and the writer goes on committing to the WAL
//! meanwhile.
//!
//! A checkpoint running beside the writer never quite catches up (frames keep
//! arriving while it copies), and SQLite starts reusing the WAL from its
//! beginning only after a checkpoint copied all of it. So the writer watches
//! the WAL's size after each commit: past `SqliteOptions::wal_limit_bytes` it
//! runs one checkpoint itself between two batches ([`complete`]): no frames
//! arrive meanwhile, and only what the thread has not copied yet is left.
//! The next write transaction then restarts the WAL and truncates the file
//! back to the limit (`journal_size_limit`), so the file grows past the limit
//! only when the WAL has not restarted for that many bytes.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::{Result, StoreError};

/// The least time between two background checkpoints.
const INTERVAL: Duration = Duration::from_millis(250);

pub(crate) struct Checkpointer {
    wake: SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// (busy, frames in the WAL, frames copied) as `PRAGMA wal_checkpoint` reports.
pub(crate) fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

/// Run by the writer between batches when the WAL is over its limit. Returns
/// whether everything was copied (the WAL restarts with the next write);
/// when not (the thread was checkpointing, or a reader still needs old
/// frames), the writer tries again after its next batch.
pub(crate) fn complete(conn: &Connection) -> bool {
    let started = Instant::now();
    match checkpoint(conn) {
        Ok((0, log, done)) if done >= log => {
            tracing::debug!(frames = log, elapsed = ?started.elapsed(), "WAL checkpoint completed");
            true
        }
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed");
            false
        }
    }
}

impl Checkpointer {
    pub(crate) fn spawn(conn: Connection) -> Result<Checkpointer> {
        let (wake, rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("verge-store-checkpoint".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the store checkpoint thread: {e}"))
            })?;
        Ok(Checkpointer { wake, thread })
    }

    /// Called by the writer after each commit.
    pub(crate) fn notify(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                tracing::error!("the store checkpoint thread is gone");
            }
        }
    }

    /// Stops the thread (after the checkpoint it may be running).
    pub(crate) fn stop(self) {
        drop(self.wake);
        if self.thread.join().is_err() {
            tracing::error!("the store checkpoint thread panicked");
        }
    }
}

fn run(conn: Connection, rx: Receiver<()>) {
    let mut last = Instant::now()
        .checked_sub(INTERVAL)
        .unwrap_or_else(Instant::now);
    // Wait for a commit, then for the interval to pass since the last run.
    while rx.recv().is_ok() {
        let due = last + INTERVAL;
        loop {
            match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(()) => continue,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let started = Instant::now();
        match checkpoint(&conn) {
            Ok((busy, log, done)) => {
                tracing::debug!(busy, frames = log, copied = done, elapsed = ?started.elapsed(), "WAL checkpoint");
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
        last = Instant::now();
    }
}
