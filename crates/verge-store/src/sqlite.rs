//! The embedded SQLite backend of [`Store`].
//!
//! # Design
//!
//! * **One file**, WAL mode, `synchronous=FULL`: a write is acknowledged only
//!   after the WAL has been fsynced, so every `Ok` survives `kill -9` and
//!   power loss (as far as the disk honours fsync).
//! * **One writer thread** owns the only writing connection and does *group
//!   commit*: it blocks for the first queued request, drains whatever else is
//!   queued (up to [`SqliteOptions::max_batch`]), applies them all in one
//!   transaction, commits once (one fsync), then broadcasts the resulting
//!   events and answers every request. Revisions are assigned there, +1 per
//!   successful write; a failed precondition assigns none.
//! * **Readers** (`get`, `range`, watch replay) use a small pool of read-only
//!   connections on tokio's blocking threads; WAL lets them run concurrently
//!   with the writer, each in its own snapshot.
//! * **Watch** = subscribe to the writer's broadcast, replay history from the
//!   `log` table, then follow the broadcast, skipping what the replay already
//!   covered (see `watch.rs`).
//! * **Compaction** drops superseded history from the log in small steps
//!   between batches; automatic compaction keeps
//!   [`SqliteOptions::retained_revisions`] revisions of history.
//! * **Checkpoints** (copying the WAL into the database file) run on their
//!   own thread, not inside commits; the writer finishes one itself only when
//!   the WAL outgrows [`SqliteOptions::wal_limit_bytes`] (see `checkpoint.rs`).
//! * **One process**: `<file>.lock` is locked exclusively while the store is
//!   open (revisions are assigned in memory, so two writers would corrupt
//!   the history).
//!
//! # Schema (`schema.rs`)
//!
//! * `log(rev PK, key, kind, create_rev, prev_rev, value)`: one row per
//!   revision. A put stores its value; a delete stores none and points at the
//!   last put through `prev_rev`. The current value of every live key is also
//!   a `log` row, so values are written once.
//! * `kv(key PK, create_rev, mod_rev)`: the live keys; `mod_rev` points at the
//!   `log` row with the current value.
//! * `meta(name PK, value)`: `revision` (the last committed revision) and
//!   `compacted` (the compaction horizon).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{broadcast, oneshot};

use crate::{
    Event, KeyValue, RangeResult, Result, Revision, Store, StoreError, StoreStats, WatchStream,
};

mod apply;
mod checkpoint;
mod reader;
mod schema;
mod watch;
mod writer;

#[cfg(test)]
mod tests;

use apply::{WriteOp, WriteOutcome};
use reader::Readers;
use writer::Msg;

/// Tuning of a [`SqliteStore`]. `SqliteOptions::default()` suits the API server.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How many revisions of history the store keeps for watches; older history
    /// is compacted automatically in the background. `None` disables automatic
    /// compaction (history then only shrinks through [`Store::compact`]).
    pub retained_revisions: Option<u64>,
    /// The most write requests the writer commits in one transaction.
    pub max_batch: usize,
    /// Number of read connections (concurrent `get`/`range`/watch replays).
    pub readers: usize,
    /// How many live events a watcher may be behind before it is dropped with
    /// [`StoreError::Lagged`]. Memory for this is shared by all watchers.
    pub watch_buffer: usize,
    /// Commits slower than this are logged at `warn`.
    pub slow_commit: Duration,
    /// Run `PRAGMA quick_check` when opening an existing file (reads the whole
    /// file once; turn off only for very large stores where startup time matters).
    pub check_on_open: bool,
    /// SQLite page cache of the writer and of each reader, in KiB.
    pub cache_kib: u32,
    /// How large the write-ahead log may grow under sustained writes before
    /// the writer pauses briefly to let it start over (see `checkpoint.rs`);
    /// a larger WAL is also truncated back to this size.
    pub wal_limit_bytes: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            retained_revisions: Some(100_000),
            max_batch: 1024,
            readers: 4,
            watch_buffer: 16_384,
            slow_commit: Duration::from_millis(500),
            check_on_open: true,
            cache_kib: 16 * 1024,
            wal_limit_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Counters shared between the store handle and its writer thread.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) revision: AtomicI64,
    pub(crate) compacted: AtomicI64,
    pub(crate) last_batch_size: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) failed_batches: AtomicU64,
    pub(crate) last_commit_micros: AtomicU64,
}

/// The running parts of an open store; taken out on close.
struct Running {
    tx: std::sync::mpsc::Sender<Msg>,
    writer: std::thread::JoinHandle<()>,
    events: broadcast::Sender<Arc<Event>>,
    /// Held for as long as the store is open: keeps a second process (or a
    /// second open in this one) from writing the same file.
    _lock: std::fs::File,
}

/// The SQLite-backed [`Store`]. See the module docs for the design.
///
/// Dropping it closes it (see [`SqliteStore::close`]).
pub struct SqliteStore {
    path: PathBuf,
    shared: Arc<Shared>,
    readers: Arc<Readers>,
    /// Cloned out of `running` by every request (cheap), so that requests
    /// never hold the lock while they wait.
    tx: Mutex<Option<std::sync::mpsc::Sender<Msg>>>,
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("revision", &self.current_revision())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the store in the SQLite file at `path`.
    ///
    /// Blocks while it checks the file (`PRAGMA quick_check` unless disabled)
    /// and starts the writer thread; it needs no tokio runtime, but the
    /// store's async methods must run inside one.
    ///
    /// Fails with [`StoreError::Corrupt`] when the file is not a Verge store
    /// or fails its checks (the message names the file and what to do), and
    /// with [`StoreError::Backend`] when it cannot be opened, e.g. because
    /// another process has it open.
    pub fn open(path: &Path, opts: SqliteOptions) -> Result<SqliteStore> {
        let opened = schema::open(path, &opts)?;
        let shared = Arc::new(Shared::default());
        shared.revision.store(opened.revision, Ordering::SeqCst);
        shared.compacted.store(opened.compacted, Ordering::SeqCst);

        let readers = Arc::new(Readers::open(path, &opts)?);
        let (events, _) = broadcast::channel(opts.watch_buffer.max(1));
        let (tx, rx) = std::sync::mpsc::channel();
        let checkpoint_conn = schema::open_checkpointer(path, &opts)?;
        let writer = writer::spawn(
            path,
            opened.conn,
            checkpoint_conn,
            rx,
            events.clone(),
            shared.clone(),
            &opts,
        )?;
        tracing::info!(
            path = %path.display(),
            revision = opened.revision,
            compacted = opened.compacted,
            "store opened"
        );
        Ok(SqliteStore {
            path: path.to_path_buf(),
            shared,
            readers,
            tx: Mutex::new(Some(tx.clone())),
            running: Mutex::new(Some(Running {
                tx,
                writer,
                events,
                _lock: opened.lock,
            })),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the store: the writer finishes (commits) the requests queued
    /// before this call, then exits; requests made after it, and watches,
    /// get [`StoreError::Closed`] (watch streams end). Blocks until the writer
    /// thread has exited and the file is unlocked, which includes a final
    /// checkpoint of the WAL. Calling it again does nothing.
    pub fn close(&self) {
        self.tx.lock().take();
        let Some(running) = self.running.lock().take() else {
            return;
        };
        // Queued behind every request sent before this point.
        let _ = running.tx.send(Msg::Shutdown);
        drop(running.tx);
        drop(running.events);
        if running.writer.join().is_err() {
            tracing::error!(path = %self.path.display(), "store writer thread panicked");
        }
        self.readers.close();
        tracing::info!(path = %self.path.display(), revision = self.current_revision(), "store closed");
    }

    /// Current figures for metrics.
    pub fn stats(&self) -> StoreStats {
        let s = &self.shared;
        let file_len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        StoreStats {
            revision: s.revision.load(Ordering::SeqCst),
            compacted_revision: s.compacted.load(Ordering::SeqCst),
            last_batch_size: s.last_batch_size.load(Ordering::Relaxed),
            batches_total: s.batches.load(Ordering::Relaxed),
            writes_total: s.writes.load(Ordering::Relaxed),
            failed_batches_total: s.failed_batches.load(Ordering::Relaxed),
            last_commit_micros: s.last_commit_micros.load(Ordering::Relaxed),
            db_size_bytes: file_len(&self.path) + file_len(Path::new(&wal)),
        }
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOutcome> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Write(op, reply))?;
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    fn send(&self, msg: Msg) -> Result<()> {
        let tx = self.tx.lock().clone().ok_or(StoreError::Closed)?;
        tx.send(msg).map_err(|_| StoreError::Closed)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_owned();
        self.readers.run(move |conn| reader::get(conn, &key)).await
    }

    async fn range(&self, prefix: &str) -> Result<RangeResult> {
        let prefix = prefix.to_owned();
        self.readers
            .run(move |conn| reader::range(conn, &prefix))
            .await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        let op = WriteOp::Create {
            key: key.to_owned(),
            value,
        };
        Ok(self.write(op).await?.revision)
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        let op = WriteOp::Update {
            key: key.to_owned(),
            value,
            expected,
        };
        Ok(self.write(op).await?.revision)
    }

    /// The returned [`KeyValue`] is the value as it was before the delete
    /// (its `mod_revision` is that of the last put, not of the delete).
    async fn delete(&self, key: &str, expected: Revision) -> Result<(Revision, KeyValue)> {
        let op = WriteOp::Delete {
            key: key.to_owned(),
            expected,
        };
        let out = self.write(op).await?;
        let kv = out
            .deleted
            .ok_or_else(|| StoreError::Backend("delete returned no value".into()))?;
        Ok((out.revision, kv))
    }

    fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let rx = match self.running.lock().as_ref() {
            Some(running) => running.events.subscribe(),
            None => return Err(StoreError::Closed),
        };
        let compacted = self.compacted_revision();
        if after < compacted {
            return Err(StoreError::Compacted {
                requested: after,
                oldest: compacted,
            });
        }
        Ok(watch::stream(self.readers.clone(), rx, prefix, after))
    }

    fn current_revision(&self) -> Revision {
        self.shared.revision.load(Ordering::SeqCst)
    }

    fn compacted_revision(&self) -> Revision {
        self.shared.compacted.load(Ordering::SeqCst)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Compact(revision, reply))?;
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    fn stats(&self) -> StoreStats {
        SqliteStore::stats(self)
    }
}

/// Maps an SQLite error met while running (not while opening).
pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DatabaseCorrupt | C::NotADatabase) => StoreError::Corrupt(format!(
            "{e}; stop the server, move the data file aside and restore it from a backup"
        )),
        Some(C::DiskFull) => StoreError::Backend(format!("disk full: {e}")),
        _ => StoreError::Backend(e.to_string()),
    }
}

/// The smallest string greater than every string starting with `prefix`, or
/// `None` when there is none (empty prefix, or only `char::MAX`s). SQLite
/// compares TEXT bytewise, and UTF-8 byte order is code point order.
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}
