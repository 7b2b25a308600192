//! A node's send queue: the changes routed to it and not yet sent,
//! coalesced per object, bounded.
//!
//! Each object has at most one pending change — the latest (several updates
//! → the last one; update then delete → the delete) — so the queue of a slow
//! node is proportional to its view, not to the write rate. Should it still
//! outgrow its bound (a node whose pods churn faster than it drains), the
//! queue drops its contents and asks for a resync: the session recomputes
//! the node's delta from the view since the last revision it sent, which is
//! exact and costs O(view). Pushing never blocks and never waits for the
//! node, so a slow node cannot hold up routing for the others.

use std::collections::{BTreeMap, HashMap};

use verge_protocol::pb;
use verge_store::Revision;

use super::change::Change;
use super::state::Key;

#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Pending changes before the queue gives up and asks for a resync.
    pub max_pending: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { max_pending: 4096 }
    }
}

/// Changes to send in one `SyncBatch`.
#[derive(Debug, PartialEq, Eq)]
pub struct Batch {
    /// The sync revision the node reaches with this batch (and, with
    /// `more`, the ones after it).
    pub revision: Revision,
    pub changes: Vec<Change>,
    /// More changes of `revision` follow in the next batch.
    pub more: bool,
}

impl Batch {
    pub fn to_proto(&self) -> pb::SyncBatch {
        pb::SyncBatch {
            revision: u64::try_from(self.revision).unwrap_or(0),
            changes: self.changes.iter().map(Change::to_proto).collect(),
            more: self.more,
        }
    }
}

/// What a session should send next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Batch(Batch),
    /// The queue overflowed: recompute the node's delta from this revision
    /// (the last one sent) and [`NodeQueue::refill`] it.
    Resync(Revision),
    /// Nothing to send.
    Idle,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    #[error("acknowledged revision {acked} was never sent (sent up to {sent})")]
    AckAhead { acked: Revision, sent: Revision },
}

/// The per-node send state. The acknowledged revision lives only here, in
/// memory: the edge states it again when it reconnects.
#[derive(Debug)]
pub struct NodeQueue {
    config: QueueConfig,
    /// Object → the position of its pending change in `order`.
    pending: HashMap<Key, (Revision, u64)>,
    order: BTreeMap<(Revision, u64), Change>,
    seq: u64,
    /// Set after an overflow: changes are dropped until the resync.
    resync_from: Option<Revision>,
    /// Everything up to here has been sent.
    sent: Revision,
    acked: Revision,
    overflows: u64,
}

impl NodeQueue {
    /// A queue for a node that has been sent everything up to `sent`.
    pub fn new(config: QueueConfig, sent: Revision) -> NodeQueue {
        NodeQueue {
            config,
            pending: HashMap::new(),
            order: BTreeMap::new(),
            seq: 0,
            resync_from: None,
            sent,
            acked: sent,
            overflows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn sent(&self) -> Revision {
        self.sent
    }

    pub fn acked(&self) -> Revision {
        self.acked
    }

    /// How many times the queue overflowed into a resync.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Queues a change, replacing the object's pending one. Returns false
    /// when the queue is waiting for a resync (the change is covered by it).
    pub fn push(&mut self, change: Change) -> bool {
        if self.resync_from.is_some() {
            return false;
        }
        if let Some(pos) = self.pending.remove(&change.key) {
            self.order.remove(&pos);
        }
        if self.order.len() >= self.config.max_pending {
            tracing::warn!(
                pending = self.order.len(),
                sent = self.sent,
                "node send queue overflowed; resyncing from its view"
            );
            self.pending.clear();
            self.order.clear();
            self.resync_from = Some(self.sent);
            self.overflows += 1;
            return false;
        }
        self.seq += 1;
        let pos = (change.revision, self.seq);
        self.pending.insert(change.key.clone(), pos);
        self.order.insert(pos, change);
        true
    }

    /// Replaces the queue's content by a recomputed delta that brings the
    /// node to `revision` (after [`Next::Resync`], or for the first delta
    /// of a session).
    pub fn refill(&mut self, revision: Revision, changes: Vec<Change>) {
        self.pending.clear();
        self.order.clear();
        self.resync_from = None;
        for mut c in changes {
            // A delta is one step to `revision`: its changes are sent as of it.
            c.revision = c.revision.min(revision);
            self.push(c);
        }
        if self.resync_from.is_none() && self.order.is_empty() {
            self.sent = self.sent.max(revision);
        }
    }

    /// The next batch of at most `max_changes` changes and about
    /// `max_bytes`, among changes up to `through` (the revision the hub has
    /// finished routing).
    pub fn next(&mut self, through: Revision, max_changes: usize, max_bytes: usize) -> Next {
        if let Some(from) = self.resync_from {
            return Next::Resync(from);
        }
        let mut changes = Vec::new();
        let mut bytes = 0;
        while changes.len() < max_changes.max(1) {
            let Some(entry) = self.order.first_entry() else {
                break;
            };
            let change = entry.get();
            if change.revision > through
                || (!changes.is_empty() && bytes + change.wire_size() > max_bytes)
            {
                break;
            }
            bytes += change.wire_size();
            let change = entry.remove();
            self.pending.remove(&change.key);
            changes.push(change);
        }
        if self.order.is_empty() {
            // An emptied BTreeMap keeps its root node and a HashMap its
            // table: about 2.4 KiB that every idle node would carry.
            self.order = BTreeMap::new();
            self.pending = HashMap::new();
        }
        let Some(last) = changes.last().map(|c| c.revision) else {
            return Next::Idle;
        };
        let next = self.order.first_key_value().map(|(pos, _)| pos.0);
        let (revision, more) = match next {
            Some(n) if n <= through => (if n == last { last } else { n - 1 }, n == last),
            _ => (through, false),
        };
        self.sent = self.sent.max(revision);
        Next::Batch(Batch {
            revision,
            changes,
            more,
        })
    }

    /// The node was sent everything up to `revision` without a batch
    /// (a CaughtUp with nothing pending).
    pub fn caught_up(&mut self, revision: Revision) -> bool {
        if self.resync_from.is_some()
            || self
                .order
                .first_key_value()
                .is_some_and(|(p, _)| p.0 <= revision)
        {
            return false;
        }
        self.sent = self.sent.max(revision);
        true
    }

    /// The edge stored everything up to `revision`.
    pub fn ack(&mut self, revision: Revision) -> Result<(), QueueError> {
        if revision > self.sent {
            return Err(QueueError::AckAhead {
                acked: revision,
                sent: self.sent,
            });
        }
        self.acked = self.acked.max(revision);
        Ok(())
    }
}
