//! The hub's side of the views at run time: one watch per resource kind on
//! the shared watch cache for the whole hub, merged into revision order,
//! applied to the [`View`] and routed into the queues of connected nodes.
//!
//! Merging: the cache pushes a change into every watcher's channel before
//! it publishes the change's revision. So once the cache's revision R is
//! read, every change up to R is in the channels; the hub drains them, sorts
//! by revision and applies those up to R, keeping later ones for the next
//! round. The view is thereby at exactly R after a round.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use parking_lot::Mutex;
use tokio::sync::{Notify, watch};
use verge_apiserver::cache::{
    CachedObject, ChangeType, Filter, Watch, WatchCache, WatchEnd, WatchItem, WatchStart,
};
use verge_protocol::pb;
use verge_store::Revision;

use super::change::Change;
use super::kind::Kind;
use super::queue::{Next, NodeQueue, QueueConfig, QueueError};
use super::state::{Entry, InventoryReason, NodeName, Resume, View, ViewConfig};

#[derive(Clone, Debug)]
pub struct HubConfig {
    /// The identity of the store's revision numbering (the Welcome epoch).
    pub epoch: String,
    pub view: ViewConfig,
    pub queue: QueueConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("the watch cache closed")]
    Closed,
    #[error("inventory entry {index}: {reason}")]
    Inventory { index: usize, reason: String },
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// How a connecting node will be brought up to date.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// Its queue holds the delta from `from`; sync starts right away.
    Delta { from: Revision },
    /// It must send its inventory first ([`Hub::attach_inventory`]).
    Inventory(InventoryReason),
}

/// One connected node: its send queue and a wake-up for its writer.
pub struct Session {
    pub node: NodeName,
    id: u64,
    queue: Mutex<NodeQueue>,
    notify: Notify,
    closed: AtomicBool,
}

impl Session {
    /// The next batch to send, of changes the hub has finished routing.
    pub fn next(&self, through: Revision, max_changes: usize, max_bytes: usize) -> Next {
        self.queue.lock().next(through, max_changes, max_bytes)
    }

    /// Resolves when something was queued or the session was closed.
    pub async fn changed(&self) {
        self.notify.notified().await
    }

    /// Another connection of the node replaced this one, or it detached.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn ack(&self, revision: Revision) -> Result<(), QueueError> {
        self.queue.lock().ack(revision)
    }

    /// Records that the node was told it mirrors the cloud as of
    /// `revision`; false while changes up to it are still queued.
    pub fn caught_up(&self, revision: Revision) -> bool {
        self.queue.lock().caught_up(revision)
    }

    /// Distinguishes this session from earlier ones of the same node.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn acked(&self) -> Revision {
        self.queue.lock().acked()
    }

    pub fn pending(&self) -> usize {
        self.queue.lock().len()
    }
}

struct Inner {
    view: View,
    sessions: HashMap<NodeName, Arc<Session>>,
}

/// The node views of the whole hub.
pub struct Hub {
    config: HubConfig,
    inner: Mutex<Inner>,
    revision: watch::Sender<Revision>,
    next_session: AtomicU64,
}

/// Pause before re-subscribing after the cache dropped the hub's watches.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(50);

impl Hub {
    /// Loads the views from the cache and follows its changes until the
    /// cache closes.
    pub async fn start(cache: Arc<WatchCache>, config: HubConfig) -> Result<Arc<Hub>, HubError> {
        let (watches, objects, revision) = subscribe(&cache).await?;
        let view = View::load(config.view.clone(), revision, objects);
        tracing::info!(revision, nodes = view.node_count(), "hub views loaded");
        let hub = Arc::new(Hub {
            config,
            inner: Mutex::new(Inner {
                view,
                sessions: HashMap::new(),
            }),
            revision: watch::channel(revision).0,
            next_session: AtomicU64::new(1),
        });
        tokio::spawn(follow(Arc::downgrade(&hub), cache, watches));
        Ok(hub)
    }

    pub fn epoch(&self) -> &str {
        &self.config.epoch
    }

    /// Every change up to this revision has been routed.
    pub fn revision(&self) -> Revision {
        *self.revision.borrow()
    }

    /// Waits until the hub has routed `revision`.
    pub async fn wait_for(&self, revision: Revision) -> Result<(), HubError> {
        let mut rx = self.revision.subscribe();
        rx.wait_for(|r| *r >= revision)
            .await
            .map(|_| ())
            .map_err(|_| HubError::Closed)
    }

    /// Connects `node`, replacing any earlier session of it. With a resume
    /// point the hub can serve, the session's queue already holds the delta.
    pub fn attach(&self, node: &str, resume: Option<&pb::ResumePoint>) -> (Arc<Session>, Start) {
        let mut inner = self.inner.lock();
        let current = inner.view.revision();
        let outcome = match resume {
            None => inner.view.resume(node, 0),
            Some(r) if r.epoch != self.config.epoch => {
                Resume::NeedsInventory(InventoryReason::OtherEpoch)
            }
            Some(r) => match Revision::try_from(r.revision) {
                Ok(rev) => inner.view.resume(node, rev),
                Err(_) => Resume::NeedsInventory(InventoryReason::Ahead {
                    requested: Revision::MAX,
                    current,
                }),
            },
        };
        let from = resume
            .and_then(|r| Revision::try_from(r.revision).ok())
            .unwrap_or(0);
        let (queue, start) = match outcome {
            Resume::Delta { revision, changes } => {
                let mut q = NodeQueue::new(self.config.queue.clone(), from);
                q.refill(revision, changes);
                (q, Start::Delta { from })
            }
            // The queue stays empty and collects nothing useful until the
            // inventory arrives; attach_inventory refills it.
            Resume::NeedsInventory(reason) => (
                NodeQueue::new(self.config.queue.clone(), 0),
                Start::Inventory(reason),
            ),
        };
        let session = self.register(&mut inner, node, queue);
        (session, start)
    }

    /// Brings a session in inventory mode up to date: the exact difference
    /// between what the edge reported and its view. Entries the hub cannot
    /// interpret are refused with their index.
    pub fn attach_inventory(
        &self,
        session: &Session,
        inventory: &[pb::InventoryEntry],
    ) -> Result<(), HubError> {
        let entries = inventory
            .iter()
            .enumerate()
            .map(|(index, e)| {
                entry_of(e).map_err(|reason| HubError::Inventory {
                    index,
                    reason: reason.into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let inner = self.inner.lock();
        let revision = inner.view.revision();
        let changes = inner.view.diff_inventory(&session.node, &entries);
        session.queue.lock().refill(revision, changes);
        drop(inner);
        session.notify.notify_one();
        Ok(())
    }

    /// Recomputes a session's queue from its view after [`Next::Resync`].
    pub fn resync(&self, session: &Session, from: Revision) {
        let inner = self.inner.lock();
        let revision = inner.view.revision();
        let changes = match inner.view.resume(&session.node, from) {
            Resume::Delta { changes, .. } => changes,
            // The history needed is gone (or the node's view with it):
            // everything it must hold, as upserts; nothing is deleted that
            // the hub cannot name, so the next reconnect's inventory
            // completes the picture.
            Resume::NeedsInventory(_) => inner.view.snapshot(&session.node),
        };
        session.queue.lock().refill(revision, changes);
        drop(inner);
        session.notify.notify_one();
    }

    /// Disconnects a session (a later session of the node is left alone).
    pub fn detach(&self, session: &Session) {
        let mut inner = self.inner.lock();
        if inner
            .sessions
            .get(&session.node)
            .is_some_and(|s| s.id == session.id)
        {
            inner.sessions.remove(&session.node);
        }
        session.closed.store(true, Ordering::Release);
        session.notify.notify_one();
    }

    pub fn session_count(&self) -> usize {
        self.inner.lock().sessions.len()
    }

    /// What `node` must hold now.
    pub fn entries(&self, node: &str) -> Vec<Entry> {
        self.inner.lock().view.entries(node)
    }

    fn register(&self, inner: &mut Inner, node: &str, queue: NodeQueue) -> Arc<Session> {
        let node: NodeName = Arc::from(node);
        let session = Arc::new(Session {
            node: node.clone(),
            id: self.next_session.fetch_add(1, Ordering::Relaxed),
            queue: Mutex::new(queue),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
        });
        if let Some(old) = inner.sessions.insert(node, session.clone()) {
            old.closed.store(true, Ordering::Release);
            old.notify.notify_one();
        }
        session.notify.notify_one();
        session
    }

    /// Applies one round of changes and wakes the sessions they concern.
    fn route(&self, round: Vec<(Revision, bool, Arc<CachedObject>)>, through: Revision) {
        let woken = {
            let mut guard = self.inner.lock();
            let Inner { view, sessions } = &mut *guard;
            let mut woken = Woken::default();
            let mut sink = |node: &NodeName, change: Change| woken.push(sessions, node, change);
            for (revision, deleted, obj) in &round {
                view.apply(*revision, *deleted, obj, &mut sink);
            }
            view.advance(through);
            woken
        };
        // Published before the wake-ups: a woken session reads a revision
        // that covers what it was woken for.
        self.revision.send_replace(through);
        woken.notify();
    }

    fn reload(&self, objects: Vec<Arc<CachedObject>>, revision: Revision) {
        let woken = {
            let mut guard = self.inner.lock();
            let Inner { view, sessions } = &mut *guard;
            let mut woken = Woken::default();
            view.reload(revision, objects, &mut |node: &NodeName, change: Change| {
                woken.push(sessions, node, change)
            });
            woken
        };
        self.revision.send_replace(revision);
        woken.notify();
    }
}

/// Sessions that were given changes in one round.
#[derive(Default)]
struct Woken(HashMap<NodeName, Arc<Session>>);

impl Woken {
    fn push(
        &mut self,
        sessions: &HashMap<NodeName, Arc<Session>>,
        node: &NodeName,
        change: Change,
    ) {
        if let Some(s) = sessions.get(node) {
            s.queue.lock().push(change);
            self.0.entry(node.clone()).or_insert_with(|| s.clone());
        }
    }

    fn notify(self) {
        for s in self.0.values() {
            s.notify.notify_one();
        }
    }
}

/// An inventory entry as the view compares it.
fn entry_of(e: &pb::InventoryEntry) -> Result<Entry, &'static str> {
    let key = e.key.as_ref().ok_or("no key")?;
    let kind = key
        .kind
        .as_ref()
        .and_then(Kind::of_resource)
        .ok_or("a resource no node view holds")?;
    if key.name.is_empty() || (kind.namespaced() == key.namespace.is_empty()) {
        return Err("name or namespace missing or not expected");
    }
    let resource_version = e
        .resource_version
        .parse::<Revision>()
        .map_err(|_| "resourceVersion is not a revision")?;
    Ok(Entry {
        kind,
        key: Arc::from(kind.storage_key(&key.namespace, &key.name)),
        uid: Arc::from(key.uid.as_str()),
        resource_version,
    })
}

/// One watch per kind, with the objects their snapshots held and the
/// cache's revision once all were registered.
async fn subscribe(
    cache: &Arc<WatchCache>,
) -> Result<(Vec<Watch>, Vec<Arc<CachedObject>>, Revision), HubError> {
    let mut watches = Vec::new();
    let mut objects = Vec::new();
    for kind in Kind::ALL {
        let mut w = cache
            .watch(
                Filter::prefix(kind.storage_prefix()),
                WatchStart::Now {
                    initial_events: false,
                },
                false,
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "hub cannot watch the cache");
                HubError::Closed
            })?;
        objects.extend(
            std::mem::take(&mut w.initial)
                .into_iter()
                .filter_map(|i| match i {
                    WatchItem::Change(_, o) => Some(o),
                    _ => None,
                }),
        );
        watches.push(w);
    }
    Ok((watches, objects, cache.revision()))
}

async fn follow(hub: std::sync::Weak<Hub>, cache: Arc<WatchCache>, mut watches: Vec<Watch>) {
    let mut held: Vec<(Revision, bool, Arc<CachedObject>)> = Vec::new();
    let mut through = match hub.upgrade() {
        Some(h) => h.revision(),
        None => return,
    };
    let mut first = true;
    loop {
        // Wakes on every cache revision; the timeout only re-checks that
        // the hub is still wanted. The first round applies the catch-up of
        // the snapshots without waiting for a write.
        if !first {
            let _ = cache.wait_for(through + 1, Duration::from_secs(5)).await;
        }
        first = false;
        let Some(h) = hub.upgrade() else { return };
        let target = cache.revision();
        let mut lost = false;
        for w in &mut watches {
            loop {
                match w.next().now_or_never() {
                    None => break,
                    Some(Ok(WatchItem::Change(kind, obj))) => {
                        held.push((obj.revision, kind == ChangeType::Deleted, obj))
                    }
                    Some(Ok(_)) => {}
                    Some(Err(WatchEnd::Closed)) => {
                        tracing::info!("watch cache closed; hub stops following");
                        return;
                    }
                    Some(Err(WatchEnd::Lagged)) => {
                        lost = true;
                        break;
                    }
                }
            }
        }
        if lost {
            tracing::warn!("hub fell behind the watch cache; reloading its views");
            drop(watches);
            held.clear();
            tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
            match subscribe(&cache).await {
                Ok((w, objects, revision)) => {
                    watches = w;
                    h.reload(objects, revision);
                    through = revision;
                    first = true;
                }
                Err(_) => return,
            }
            continue;
        }
        if target <= through && held.is_empty() {
            continue;
        }
        held.sort_by_key(|(rev, _, _)| *rev);
        let split = held.partition_point(|(rev, _, _)| *rev <= target);
        let later = held.split_off(split);
        let round = std::mem::replace(&mut held, later);
        through = through.max(target);
        h.route(round, through);
    }
}
