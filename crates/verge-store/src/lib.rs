//! The revisioned key-value store under the API server.
//!
//! Shaped like etcd's v3 API so that an etcd backend can drop in: one global,
//! monotonically increasing revision; every write creates a new revision; a
//! watch replays every change after a given revision, in order. Values are
//! opaque bytes: the API server decides what it stores.

use bytes::Bytes;
use futures::stream::BoxStream;

mod sqlite;

pub use sqlite::{SqliteOptions, SqliteStore};

/// A revision of the store. Revision 0 means "nothing yet".
pub type Revision = i64;

/// One key at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision at which the key was (last) created.
    pub create_revision: Revision,
    /// Revision of the last change to the key.
    pub mod_revision: Revision,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change, as delivered by [`Store::watch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For `Put`: the new value (its `mod_revision` is the event's revision).
    /// For `Delete`: the last value before deletion, with `mod_revision` set to
    /// the revision of the delete.
    pub kv: KeyValue,
    /// The value before this change, if the key existed.
    pub prev: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// Numbers worth exporting as metrics. Cheap to take.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// The last committed revision.
    pub revision: Revision,
    /// The compaction horizon: watches must start after it.
    pub compacted_revision: Revision,
    /// Requests committed by the last write transaction.
    pub last_batch_size: u64,
    /// Write transactions committed since open.
    pub batches_total: u64,
    /// Successful writes (new revisions) since open.
    pub writes_total: u64,
    /// Write transactions that failed (every request in them got an error).
    pub failed_batches_total: u64,
    /// Duration of the last commit (apply + fsync), in microseconds.
    pub last_commit_micros: u64,
    /// Size of the database file plus its WAL, in bytes.
    pub db_size_bytes: u64,
}

/// A consistent snapshot of a key range.
#[derive(Clone, Debug, Default)]
pub struct RangeResult {
    pub kvs: Vec<KeyValue>,
    /// The store revision the snapshot was taken at.
    pub revision: Revision,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {0} already exists")]
    AlreadyExists(String),
    #[error("key {0} not found")]
    NotFound(String),
    /// The key's current mod revision is not the one the caller expected.
    #[error("key {key} was modified: expected revision {expected}, found {actual}")]
    Conflict {
        key: String,
        expected: Revision,
        actual: Revision,
    },
    /// A watch asked for revisions that compaction has already removed.
    #[error("revision {requested} has been compacted; the oldest available is {oldest}")]
    Compacted {
        requested: Revision,
        oldest: Revision,
    },
    /// The store's files are unreadable or inconsistent; the message says what to do.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    #[error("store is closed")]
    Closed,
    /// A watcher did not keep up with the live stream: more than the store's
    /// watch buffer of changes happened since it last polled. The stream ends
    /// after this item. Every change up to and including `revision` was
    /// delivered, so a new watch after `revision` resumes without a gap (if
    /// that revision has not been compacted meanwhile).
    #[error("watcher fell too far behind; resume by watching again after revision {revision}")]
    Lagged { revision: Revision },
    #[error("store backend error: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A stream of changes in revision order. It ends when the store closes, or
/// with an error (e.g. [`StoreError::Lagged`]) when the watcher fell too far behind.
pub type WatchStream = BoxStream<'static, Result<Event>>;

/// The storage contract of the API server (etcd v3 shaped).
///
/// Every method that returns `Ok` for a write has made the write durable: it
/// survives a crash of the process the moment the future resolves.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The current value of `key`.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Every live key starting with `prefix`, sorted by key, as one snapshot.
    async fn range(&self, prefix: &str) -> Result<RangeResult>;

    /// Creates `key`; fails with `AlreadyExists` if it is live. Returns the new revision.
    async fn create(&self, key: &str, value: Bytes) -> Result<Revision>;

    /// Replaces `key` if its mod revision equals `expected` (`Conflict` otherwise,
    /// `NotFound` if it is not live). Returns the new revision.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision>;

    /// Deletes `key` if its mod revision equals `expected` (any revision when
    /// `expected` is 0). Returns the revision of the delete and the last value.
    async fn delete(&self, key: &str, expected: Revision) -> Result<(Revision, KeyValue)>;

    /// Every change to keys under `prefix` with a revision greater than `after`,
    /// first the retained history, then live changes. Fails with `Compacted` when
    /// `after` is older than the retained history.
    fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// The revision of the last committed write.
    fn current_revision(&self) -> Revision;

    /// The oldest revision a watch can still start after.
    fn compacted_revision(&self) -> Revision;

    /// Drops history (superseded values and tombstones) at or below `revision`.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// Figures for metrics; backends fill in what they know.
    fn stats(&self) -> StoreStats {
        StoreStats {
            revision: self.current_revision(),
            compacted_revision: self.compacted_revision(),
            ..StoreStats::default()
        }
    }
}
