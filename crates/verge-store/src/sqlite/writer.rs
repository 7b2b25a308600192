//! The writer thread: group commit, revision assignment, event broadcast and
//! compaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};

use super::apply::{WriteOp, WriteOutcome, apply_batch, compact};
use super::checkpoint::{self, Checkpointer};
use super::{Shared, SqliteOptions};
use crate::{Event, Result, Revision, StoreError};

/// The most revisions one compaction step covers, so that a step (which
/// holds the write lock) stays short.
const COMPACT_STEP: Revision = 2_000;

type Reply<T> = oneshot::Sender<Result<T>>;

pub(crate) enum Msg {
    Write(WriteOp, Reply<WriteOutcome>),
    Compact(Revision, Reply<()>),
    /// Finish what was queued before this, then exit.
    Shutdown,
}

struct Writer {
    conn: Connection,
    checkpointer: Option<Checkpointer>,
    wal_path: PathBuf,
    /// Past this size the writer completes a checkpoint (see checkpoint.rs).
    wal_limit: u64,
    shared: Arc<Shared>,
    events: broadcast::Sender<Arc<Event>>,
    retained: Option<Revision>,
    max_batch: usize,
    slow_commit: Duration,
    /// Compact up to here, step by step, between batches.
    compact_goal: Revision,
    /// `compact` calls waiting for the horizon to reach their revision.
    compact_waiters: Vec<(Revision, Reply<()>)>,
}

pub(crate) fn spawn(
    path: &Path,
    conn: Connection,
    checkpoint_conn: Connection,
    rx: Receiver<Msg>,
    events: broadcast::Sender<Arc<Event>>,
    shared: Arc<Shared>,
    opts: &SqliteOptions,
) -> Result<std::thread::JoinHandle<()>> {
    let compacted = shared.compacted.load(Ordering::SeqCst);
    let mut writer = Writer {
        conn,
        checkpointer: Some(Checkpointer::spawn(checkpoint_conn)?),
        wal_path: {
            let mut p = path.as_os_str().to_owned();
            p.push("-wal");
            PathBuf::from(p)
        },
        wal_limit: opts.wal_limit_bytes,
        shared,
        events,
        retained: opts
            .retained_revisions
            .map(|n| Revision::try_from(n).unwrap_or(Revision::MAX)),
        max_batch: opts.max_batch.max(1),
        slow_commit: opts.slow_commit,
        compact_goal: compacted,
        compact_waiters: Vec::new(),
    };
    writer.plan_auto_compaction();
    std::thread::Builder::new()
        .name("verge-store-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| StoreError::Backend(format!("cannot start the store writer thread: {e}")))
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        let mut shutdown = false;
        while !shutdown {
            // Block for work unless compaction has work of its own.
            let mut next = if self.compaction_pending() {
                match rx.try_recv() {
                    Ok(msg) => Some(msg),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => {
                        shutdown = true;
                        None
                    }
                }
            } else {
                match rx.recv() {
                    Ok(msg) => Some(msg),
                    Err(_) => {
                        shutdown = true;
                        None
                    }
                }
            };
            // Group commit: take everything already queued, up to max_batch.
            // Compactions wait for the batch: they may name its revisions.
            let mut compactions = Vec::new();
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Write(op, reply) => batch.push((op, reply)),
                    Msg::Compact(revision, reply) => compactions.push((revision, reply)),
                    Msg::Shutdown => {
                        shutdown = true;
                        break;
                    }
                }
                if batch.len() >= self.max_batch {
                    break;
                }
                next = rx.try_recv().ok();
            }
            if !batch.is_empty() && self.commit(&mut batch) {
                self.plan_auto_compaction();
                if let Some(c) = &self.checkpointer {
                    c.notify();
                }
                let wal = std::fs::metadata(&self.wal_path).map_or(0, |m| m.len());
                if wal > self.wal_limit {
                    checkpoint::complete(&self.conn);
                }
            }
            for (revision, reply) in compactions {
                self.request_compaction(revision, reply);
            }
            if !shutdown && self.compaction_pending() {
                self.compact_step();
            }
        }
        // Requests still queued (sent after the shutdown) are dropped with the
        // receiver: their callers get `Closed`. So do waiting `compact` calls.
        drop(rx);
        self.compact_waiters.clear();
        if let Some(c) = self.checkpointer.take() {
            c.stop();
        }
        // Leave as little as possible in the WAL.
        if let Err(e) = checkpoint::checkpoint(&self.conn) {
            tracing::warn!(error = %e, "final WAL checkpoint failed");
        }
        if let Err((_, e)) = self.conn.close() {
            tracing::warn!(error = %e, "closing the store writer connection failed");
        }
        tracing::debug!("store writer stopped");
    }

    /// Applies `batch` in one transaction and answers it. If the transaction
    /// fails (an SQLite error, not a precondition), each request is retried
    /// in a transaction of its own, so that one bad request cannot fail the
    /// others. Returns whether anything committed.
    fn commit(&mut self, batch: &mut Vec<(WriteOp, Reply<WriteOutcome>)>) -> bool {
        let size = batch.len();
        match self.try_commit(batch.iter().map(|(op, _)| op), size) {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(result);
                }
                true
            }
            Err(e) if size > 1 => {
                tracing::warn!(batch = size, error = %e, "store batch failed; retrying its requests one by one");
                let mut committed = false;
                for (op, reply) in batch.drain(..) {
                    let result = match self.try_commit(std::iter::once(&op), 1) {
                        Ok(mut results) => {
                            committed = true;
                            results.pop().unwrap_or(Err(StoreError::Closed))
                        }
                        Err(e) => Err(e),
                    };
                    let _ = reply.send(result);
                }
                committed
            }
            Err(e) => {
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(copy_err(&e)));
                }
                false
            }
        }
    }

    /// Applies `ops` in one transaction; once it committed, publishes the new
    /// revision and the events.
    fn try_commit<'a>(
        &mut self,
        ops: impl Iterator<Item = &'a WriteOp>,
        size: usize,
    ) -> Result<Vec<Result<WriteOutcome>>> {
        let started = Instant::now();
        let base = self.shared.revision.load(Ordering::SeqCst);
        let mut revision = base;
        let mut events = Vec::new();
        let applied = apply_batch(&mut self.conn, ops, &mut revision, &mut events);
        let elapsed = started.elapsed();
        let s = &self.shared;
        let results = match applied {
            Ok(results) => results,
            Err(e) => {
                s.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(batch = size, error = %e, "store transaction failed; rolled back");
                return Err(e);
            }
        };
        s.revision.store(revision, Ordering::SeqCst);
        for event in events {
            // Err only means nobody is watching.
            let _ = self.events.send(Arc::new(event));
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        s.last_batch_size.store(size as u64, Ordering::Relaxed);
        s.last_commit_micros.store(micros, Ordering::Relaxed);
        s.batches.fetch_add(1, Ordering::Relaxed);
        s.writes.fetch_add(
            u64::try_from(revision - base).unwrap_or(0),
            Ordering::Relaxed,
        );
        if elapsed > self.slow_commit {
            tracing::warn!(batch = size, revision, ?elapsed, "slow store commit");
        } else {
            tracing::debug!(batch = size, revision, ?elapsed, "store batch committed");
        }
        Ok(results)
    }

    fn request_compaction(&mut self, revision: Revision, reply: Reply<()>) {
        let current = self.shared.revision.load(Ordering::SeqCst);
        let compacted = self.shared.compacted.load(Ordering::SeqCst);
        if revision > current {
            let _ = reply.send(Err(StoreError::Backend(format!(
                "cannot compact to revision {revision}: the current revision is {current}"
            ))));
        } else if revision <= compacted {
            let _ = reply.send(Ok(()));
        } else {
            self.compact_goal = self.compact_goal.max(revision);
            self.compact_waiters.push((revision, reply));
        }
    }

    /// Sets the goal so that `retained` revisions stay, once enough history
    /// has piled up to make a compaction worthwhile.
    fn plan_auto_compaction(&mut self) {
        let Some(keep) = self.retained else { return };
        let current = self.shared.revision.load(Ordering::SeqCst);
        let compacted = self.shared.compacted.load(Ordering::SeqCst);
        let horizon = current.saturating_sub(keep);
        let slack = (keep / 10).clamp(1, COMPACT_STEP);
        if horizon - compacted >= slack {
            self.compact_goal = self.compact_goal.max(horizon);
        }
    }

    fn compaction_pending(&self) -> bool {
        self.compact_goal > self.shared.compacted.load(Ordering::SeqCst)
    }

    /// Compacts up to `COMPACT_STEP` revisions towards the goal.
    fn compact_step(&mut self) {
        let from = self.shared.compacted.load(Ordering::SeqCst);
        let to = self.compact_goal.min(from + COMPACT_STEP);
        let started = Instant::now();
        match compact(&mut self.conn, from, to) {
            Ok(removed) => {
                self.shared.compacted.store(to, Ordering::SeqCst);
                tracing::debug!(from, to, removed, elapsed = ?started.elapsed(), "store compacted");
                let (done, waiting) = std::mem::take(&mut self.compact_waiters)
                    .into_iter()
                    .partition(|(rev, _)| *rev <= to);
                self.compact_waiters = waiting;
                for (_, reply) in done {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                // Give up until the next committed batch plans again.
                tracing::error!(from, to, error = %e, "store compaction failed");
                self.compact_goal = from;
                for (_, reply) in self.compact_waiters.drain(..) {
                    let _ = reply.send(Err(copy_err(&e)));
                }
            }
        }
    }
}

/// Every request of a batch gets its own copy of the batch's error.
fn copy_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Closed => StoreError::Closed,
        other => StoreError::Backend(other.to_string()),
    }
}
