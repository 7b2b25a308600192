//! The writer thread: group commit, revision assignment, event broadcast and
//! compaction.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use tokio::sync::{broadcast, oneshot};

use super::schema::{KIND_DELETE, KIND_PUT};
use super::{Shared, SqliteOptions, db_err};
use crate::{Event, EventKind, KeyValue, Result, Revision, StoreError};

/// The most revisions one compaction step covers, so that a step (which
/// holds the write lock) stays short.
const COMPACT_STEP: Revision = 2_000;

pub(crate) enum WriteOp {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Revision,
    },
}

pub(crate) struct WriteOutcome {
    pub(crate) revision: Revision,
    /// For a delete: the value before it.
    pub(crate) deleted: Option<KeyValue>,
}

type Reply<T> = oneshot::Sender<Result<T>>;

pub(crate) enum Msg {
    Write(WriteOp, Reply<WriteOutcome>),
    Compact(Revision, Reply<()>),
    /// Finish what was queued before this, then exit.
    Shutdown,
}

struct Writer {
    conn: Connection,
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
    conn: Connection,
    rx: Receiver<Msg>,
    events: broadcast::Sender<Arc<Event>>,
    shared: Arc<Shared>,
    opts: &SqliteOptions,
) -> Result<std::thread::JoinHandle<()>> {
    let compacted = shared.compacted.load(Ordering::SeqCst);
    let mut writer = Writer {
        conn,
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
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Write(op, reply) => batch.push((op, reply)),
                    Msg::Compact(revision, reply) => self.request_compaction(revision, reply),
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
            }
            if !shutdown && self.compaction_pending() {
                self.compact_step();
            }
        }
        // Requests still queued (sent after the shutdown) are dropped with the
        // receiver: their callers get `Closed`. So do waiting `compact` calls.
        drop(rx);
        self.compact_waiters.clear();
        if let Err((_, e)) = self.conn.close() {
            tracing::warn!(error = %e, "closing the store writer connection failed");
        }
        tracing::debug!("store writer stopped");
    }

    /// Applies `batch` in one transaction and answers it. Returns whether it
    /// committed.
    fn commit(&mut self, batch: &mut Vec<(WriteOp, Reply<WriteOutcome>)>) -> bool {
        let started = Instant::now();
        let base = self.shared.revision.load(Ordering::SeqCst);
        let mut revision = base;
        let mut events = Vec::new();
        let applied = apply_batch(
            &mut self.conn,
            batch.iter().map(|(op, _)| op),
            &mut revision,
            &mut events,
        );
        let elapsed = started.elapsed();
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let size = batch.len();
        match applied {
            Ok(results) => {
                self.shared.revision.store(revision, Ordering::SeqCst);
                for event in events {
                    // Err only means nobody is watching.
                    let _ = self.events.send(Arc::new(event));
                }
                let s = &self.shared;
                s.last_batch_size.store(size as u64, Ordering::Relaxed);
                s.last_commit_micros.store(micros, Ordering::Relaxed);
                s.batches.fetch_add(1, Ordering::Relaxed);
                s.writes.fetch_add(
                    u64::try_from(revision - base).unwrap_or(0),
                    Ordering::Relaxed,
                );
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(result);
                }
                if elapsed > self.slow_commit {
                    tracing::warn!(batch = size, revision, ?elapsed, "slow store commit");
                } else {
                    tracing::debug!(batch = size, revision, ?elapsed, "store batch committed");
                }
                true
            }
            Err(e) => {
                self.shared.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(batch = size, error = %e, "store batch failed; rolled back");
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(copy_err(&e)));
                }
                false
            }
        }
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

/// Applies the operations in one transaction. The outer error aborts the
/// whole batch (nothing is written); the inner results are per request.
fn apply_batch<'a>(
    conn: &mut Connection,
    ops: impl Iterator<Item = &'a WriteOp>,
    revision: &mut Revision,
    events: &mut Vec<Event>,
) -> Result<Vec<Result<WriteOutcome>>> {
    let base = *revision;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    let mut results = Vec::new();
    for op in ops {
        results.push(apply(&tx, op, revision, events)?);
    }
    if *revision != base {
        tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'revision'")
            .and_then(|mut s| s.execute([*revision]))
            .map_err(db_err)?;
    }
    tx.commit().map_err(db_err)?;
    Ok(results)
}

fn apply(
    tx: &Transaction<'_>,
    op: &WriteOp,
    revision: &mut Revision,
    events: &mut Vec<Event>,
) -> Result<Result<WriteOutcome>> {
    let kv = |key: &str, value: &Bytes, create_revision, mod_revision| KeyValue {
        key: key.to_owned(),
        value: value.clone(),
        create_revision,
        mod_revision,
    };
    match op {
        WriteOp::Create { key, value } => {
            if lookup(tx, key)?.is_some() {
                return Ok(Err(StoreError::AlreadyExists(key.clone())));
            }
            let rev = *revision + 1;
            insert_log(tx, rev, key, KIND_PUT, rev, 0, Some(value))?;
            tx.prepare_cached("INSERT INTO kv (key, create_rev, mod_rev) VALUES (?1, ?2, ?2)")
                .and_then(|mut s| s.execute(rusqlite::params![key, rev]))
                .map_err(db_err)?;
            *revision = rev;
            events.push(Event {
                kind: EventKind::Put,
                kv: kv(key, value, rev, rev),
                prev: None,
            });
            Ok(Ok(WriteOutcome {
                revision: rev,
                deleted: None,
            }))
        }
        WriteOp::Update {
            key,
            value,
            expected,
        } => {
            let Some((create, modified)) = lookup(tx, key)? else {
                return Ok(Err(StoreError::NotFound(key.clone())));
            };
            if modified != *expected {
                return Ok(Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    actual: modified,
                }));
            }
            let prev = load_value(tx, key, modified)?;
            let rev = *revision + 1;
            insert_log(tx, rev, key, KIND_PUT, create, modified, Some(value))?;
            set_mod_rev(tx, key, rev)?;
            *revision = rev;
            events.push(Event {
                kind: EventKind::Put,
                kv: kv(key, value, create, rev),
                prev: Some(kv(key, &prev, create, modified)),
            });
            Ok(Ok(WriteOutcome {
                revision: rev,
                deleted: None,
            }))
        }
        WriteOp::Delete { key, expected } => {
            let Some((create, modified)) = lookup(tx, key)? else {
                return Ok(Err(StoreError::NotFound(key.clone())));
            };
            if *expected != 0 && modified != *expected {
                return Ok(Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    actual: modified,
                }));
            }
            let last = load_value(tx, key, modified)?;
            let rev = *revision + 1;
            insert_log(tx, rev, key, KIND_DELETE, create, modified, None)?;
            tx.prepare_cached("DELETE FROM kv WHERE key = ?1")
                .and_then(|mut s| s.execute([key]))
                .map_err(db_err)?;
            *revision = rev;
            let before = kv(key, &last, create, modified);
            events.push(Event {
                kind: EventKind::Delete,
                kv: kv(key, &last, create, rev),
                prev: Some(before.clone()),
            });
            Ok(Ok(WriteOutcome {
                revision: rev,
                deleted: Some(before),
            }))
        }
    }
}

/// (create_rev, mod_rev) of a live key.
fn lookup(tx: &Transaction<'_>, key: &str) -> Result<Option<(Revision, Revision)>> {
    tx.prepare_cached("SELECT create_rev, mod_rev FROM kv WHERE key = ?1")
        .and_then(|mut s| {
            s.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_err)
}

fn load_value(tx: &Transaction<'_>, key: &str, rev: Revision) -> Result<Bytes> {
    let value: Option<Option<Vec<u8>>> = tx
        .prepare_cached("SELECT value FROM log WHERE rev = ?1")
        .and_then(|mut s| s.query_row([rev], |r| r.get(0)).optional())
        .map_err(db_err)?;
    match value {
        Some(Some(v)) => Ok(Bytes::from(v)),
        _ => Err(StoreError::Corrupt(format!(
            "the value of {key} at revision {rev} is missing: the store's files are \
             inconsistent; stop the server, move the data file aside and restore it from a backup"
        ))),
    }
}

fn set_mod_rev(tx: &Transaction<'_>, key: &str, rev: Revision) -> Result<()> {
    tx.prepare_cached("UPDATE kv SET mod_rev = ?2 WHERE key = ?1")
        .and_then(|mut s| s.execute(rusqlite::params![key, rev]))
        .map_err(db_err)?;
    Ok(())
}

fn insert_log(
    tx: &Transaction<'_>,
    rev: Revision,
    key: &str,
    kind: i64,
    create_rev: Revision,
    prev_rev: Revision,
    value: Option<&Bytes>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO log (rev, key, kind, create_rev, prev_rev, value) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(rusqlite::params![
            rev,
            key,
            kind,
            create_rev,
            prev_rev,
            value.map(|v| v.as_ref())
        ])
    })
    .map_err(db_err)?;
    Ok(())
}

/// Moves the compaction horizon from `from` to `to` and deletes the history
/// that no watch can ask for any more: every value superseded at or below
/// `to`, and every tombstone at or below `to`. The latest value of each key
/// as of `to` stays: it is either the key's current value or the `prev` of a
/// later event. Returns the number of rows removed.
fn compact(conn: &mut Connection, from: Revision, to: Revision) -> Result<usize> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    // Each row in (from, to] supersedes the row it points at.
    let superseded = tx
        .prepare_cached(
            "DELETE FROM log WHERE rev IN \
             (SELECT prev_rev FROM log WHERE rev > ?1 AND rev <= ?2 AND prev_rev > 0)",
        )
        .and_then(|mut s| s.execute([from, to]))
        .map_err(db_err)?;
    let tombstones = tx
        .prepare_cached("DELETE FROM log WHERE rev > ?1 AND rev <= ?2 AND kind = ?3")
        .and_then(|mut s| s.execute([from, to, KIND_DELETE]))
        .map_err(db_err)?;
    tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'compacted'")
        .and_then(|mut s| s.execute([to]))
        .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(superseded + tombstones)
}
