//! The watch cache: the current state of every object and a window of recent
//! changes, in memory, fed by one watch on the store.
//!
//! Every list, get and watch is served from here, HTTP clients and in-process
//! controllers alike. Reads are consistent: a read first waits until the
//! cache has applied everything the store had committed when the read began.
//! Each change is serialized once (its bytes are shared by every watcher), and
//! a watcher that cannot keep up is dropped with "410 Expired" instead of
//! slowing writers or growing memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use parking_lot::RwLock;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use verge_apimachinery::fields::FieldSelector;
use verge_apimachinery::labels::Selector;
use verge_store::{Event, EventKind, KeyValue, Revision, Store};

use crate::object;
use crate::selectable;

/// One object as the cache holds it.
#[derive(Debug)]
pub struct CachedObject {
    pub key: String,
    /// The object's JSON, `metadata.resourceVersion` included.
    pub bytes: Bytes,
    pub revision: Revision,
    pub labels: BTreeMap<String, String>,
    pub fields: Vec<(&'static str, String)>,
}

impl CachedObject {
    /// The cache's entry for a stored key-value: the bytes with the revision
    /// spliced in as `metadata.resourceVersion`, the labels and the
    /// selectable fields.
    pub fn from_kv(kv: &KeyValue) -> CachedObject {
        let bytes = object::with_resource_version(&kv.value, kv.mod_revision);
        let (group, plural) = group_resource(&kv.key);
        let (labels, fields) = selectable::extract_json(group, plural, &kv.value);
        CachedObject {
            key: kv.key.clone(),
            revision: kv.mod_revision,
            labels,
            fields,
            bytes,
        }
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, v)| v.as_str())
    }

    /// The object as JSON.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

/// `/registry/deployments.apps/ns/name` → ("apps", "deployments").
fn group_resource(key: &str) -> (&str, &str) {
    let rest = key.strip_prefix("/registry/").unwrap_or(key);
    let resource = rest.split('/').next().unwrap_or("");
    match resource.split_once('.') {
        Some((plural, group)) => (group, plural),
        None => ("", resource),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One change as retained in the cache's window.
#[derive(Debug, Clone)]
struct Change {
    revision: Revision,
    deleted: bool,
    /// New state; for a delete the last state at the delete's revision.
    object: Arc<CachedObject>,
    prev: Option<Arc<CachedObject>>,
}

/// What a watcher receives.
#[derive(Debug, Clone)]
pub enum WatchItem {
    Change(ChangeType, Arc<CachedObject>),
    /// Everything up to this revision has been delivered.
    Bookmark(Revision),
    /// The initial state has been sent (sendInitialEvents).
    InitialEventsEnd(Revision),
}

/// Which objects a list or watch wants.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// A storage prefix: a type, or a type and namespace.
    pub prefix: String,
    pub labels: Option<Selector>,
    pub fields: Option<FieldSelector>,
}

impl Filter {
    pub fn prefix(prefix: impl Into<String>) -> Filter {
        Filter {
            prefix: prefix.into(),
            ..Filter::default()
        }
    }

    pub fn matches(&self, obj: &CachedObject) -> bool {
        obj.key.starts_with(&self.prefix)
            && self.labels.as_ref().is_none_or(|s| s.matches(&obj.labels))
            && self
                .fields
                .as_ref()
                .is_none_or(|s| s.matches(|f| obj.field(f).map(str::to_owned)))
    }
}

#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// How many recent changes a watch can resume from without the store.
    pub window: usize,
    /// Undelivered items a watcher may have before it is dropped.
    pub watcher_queue: usize,
    pub bookmark_interval: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            window: 100_000,
            watcher_queue: 10_000,
            bookmark_interval: Duration::from_secs(30),
        }
    }
}

struct Slot {
    filter: Filter,
    tx: mpsc::Sender<WatchItem>,
    lagged: Arc<AtomicBool>,
    bookmarks: bool,
}

struct State {
    objects: BTreeMap<String, Arc<CachedObject>>,
    window: VecDeque<Change>,
    /// Every change after this revision is in `window`.
    window_start: Revision,
    revision: Revision,
    watchers: HashMap<u64, Slot>,
}

pub struct WatchCache {
    store: Arc<dyn Store>,
    config: CacheConfig,
    state: RwLock<State>,
    revision: watch::Sender<Revision>,
    next_id: AtomicU64,
    metrics: CacheMetrics,
}

#[derive(Default)]
pub struct CacheMetrics {
    pub dropped_watchers: AtomicU64,
    pub events: AtomicU64,
}

/// A live watch. Dropping it unregisters the watcher.
pub struct Watch {
    /// Items to send before anything from the source.
    pub initial: Vec<WatchItem>,
    source: Source,
    lagged: Arc<AtomicBool>,
    id: Option<u64>,
    cache: Arc<WatchCache>,
}

/// Where a watch's changes come from.
enum Source {
    /// Fanned out by the cache.
    Cache(mpsc::Receiver<WatchItem>),
    /// Replayed from the store's retained history (the revision was older
    /// than the cache's window), then followed live from the store.
    Store(verge_store::WatchStream, Filter),
}

/// Why a watch ended.
#[derive(Debug, PartialEq, Eq)]
pub enum WatchEnd {
    /// The watcher fell behind; the client must relist.
    Lagged,
    /// The server is shutting down or the cache was rebuilt.
    Closed,
}

impl Watch {
    /// The next live item, or why there are no more.
    pub async fn next(&mut self) -> Result<WatchItem, WatchEnd> {
        match &mut self.source {
            Source::Cache(rx) => match rx.recv().await {
                Some(item) => Ok(item),
                None if self.lagged.load(Ordering::Acquire) => Err(WatchEnd::Lagged),
                None => Err(WatchEnd::Closed),
            },
            Source::Store(stream, filter) => loop {
                match stream.next().await {
                    Some(Ok(event)) => {
                        if let Some(item) = change_for(filter, &Change::from_event(&event)) {
                            return Ok(item);
                        }
                    }
                    Some(Err(_)) => return Err(WatchEnd::Lagged),
                    None => return Err(WatchEnd::Closed),
                }
            },
        }
    }
}

impl Watch {
    /// The next item if one is already queued, without waiting.
    pub fn try_next(&mut self) -> Option<WatchItem> {
        match &mut self.source {
            Source::Cache(rx) => rx.try_recv().ok(),
            Source::Store(..) => None,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.cache.state.write().watchers.remove(&id);
        }
    }
}

impl Change {
    fn from_event(event: &Event) -> Change {
        Change {
            revision: event.revision(),
            deleted: event.kind == EventKind::Delete,
            object: Arc::new(CachedObject::from_kv(&event.kv)),
            prev: event
                .prev
                .as_ref()
                .map(|p| Arc::new(CachedObject::from_kv(p))),
        }
    }
}

/// Where a watch starts.
#[derive(Clone, Copy, Debug)]
pub enum WatchStart {
    /// Synthetic ADDED events for the current state, then changes.
    Now { initial_events: bool },
    /// Every change after this revision.
    After(Revision),
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("too old resource version: {requested} ({oldest})")]
    Expired {
        requested: Revision,
        oldest: Revision,
    },
    #[error("Too large resource version: {requested}, current resource version: {current}")]
    TooNew {
        requested: Revision,
        current: Revision,
    },
    #[error(transparent)]
    Store(#[from] verge_store::StoreError),
}

impl WatchCache {
    /// Loads every object from the store and starts following its changes.
    pub async fn start(
        store: Arc<dyn Store>,
        config: CacheConfig,
    ) -> Result<Arc<WatchCache>, verge_store::StoreError> {
        let snapshot = store.range("/registry/").await?;
        let objects: BTreeMap<_, _> = snapshot
            .kvs
            .iter()
            .map(|kv| (kv.key.clone(), Arc::new(CachedObject::from_kv(kv))))
            .collect();
        let stream = store.watch("/registry/", snapshot.revision)?;
        let (revision, _) = watch::channel(snapshot.revision);
        let cache = Arc::new(WatchCache {
            store,
            config,
            state: RwLock::new(State {
                objects,
                window: VecDeque::new(),
                window_start: snapshot.revision,
                revision: snapshot.revision,
                watchers: HashMap::new(),
            }),
            revision,
            next_id: AtomicU64::new(1),
            metrics: CacheMetrics::default(),
        });
        tracing::info!(
            objects = cache.state.read().objects.len(),
            revision = snapshot.revision,
            "watch cache loaded"
        );
        tokio::spawn(Self::follow(Arc::downgrade(&cache), stream));
        tokio::spawn(Self::bookmarks(Arc::downgrade(&cache)));
        Ok(cache)
    }

    pub fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }

    pub fn revision(&self) -> Revision {
        self.state.read().revision
    }

    pub fn watcher_count(&self) -> usize {
        self.state.read().watchers.len()
    }

    pub fn object_count(&self) -> usize {
        self.state.read().objects.len()
    }

    async fn follow(cache: std::sync::Weak<WatchCache>, mut stream: verge_store::WatchStream) {
        while let Some(item) = stream.next().await {
            let Some(cache) = cache.upgrade() else { return };
            match item {
                Ok(event) => cache.apply(event),
                // The store dropped us for falling behind, after delivering
                // everything up to `revision`: pick up from there.
                Err(verge_store::StoreError::Lagged { revision }) => {
                    tracing::warn!(revision, "watch cache fell behind the store; resuming");
                    match cache.store.watch("/registry/", revision) {
                        Ok(s) => stream = s,
                        Err(e) => match cache.reload_after(&e).await {
                            Some(s) => stream = s,
                            None => return,
                        },
                    }
                }
                Err(e) => match cache.reload_after(&e).await {
                    Some(s) => stream = s,
                    None => return,
                },
            }
        }
    }

    /// Rebuilds from a fresh snapshot after the store watch failed; watchers
    /// must relist.
    async fn reload_after(&self, e: &verge_store::StoreError) -> Option<verge_store::WatchStream> {
        tracing::error!(error = %e, "watch cache lost its store watch; reloading");
        match self.reload().await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "watch cache reload failed");
                None
            }
        }
    }

    async fn reload(&self) -> Result<verge_store::WatchStream, verge_store::StoreError> {
        let snapshot = self.store.range("/registry/").await?;
        let stream = self.store.watch("/registry/", snapshot.revision)?;
        let mut state = self.state.write();
        state.objects = snapshot
            .kvs
            .iter()
            .map(|kv| (kv.key.clone(), Arc::new(CachedObject::from_kv(kv))))
            .collect();
        state.window.clear();
        state.window_start = snapshot.revision;
        state.revision = snapshot.revision;
        for (_, slot) in state.watchers.drain() {
            slot.lagged.store(true, Ordering::Release);
        }
        drop(state);
        self.revision.send_replace(snapshot.revision);
        Ok(stream)
    }

    fn apply(&self, event: Event) {
        let revision = event.revision();
        let object = Arc::new(CachedObject::from_kv(&event.kv));
        let deleted = event.kind == EventKind::Delete;
        let mut state = self.state.write();
        // The cache's own previous state is the same as the event's, and
        // already parsed.
        let prev = if deleted {
            state.objects.remove(&object.key)
        } else {
            state.objects.insert(object.key.clone(), object.clone())
        };
        let change = Change {
            revision,
            deleted,
            object,
            prev,
        };
        let mut lagged = Vec::new();
        for (id, slot) in &state.watchers {
            let Some(item) = change_for(&slot.filter, &change) else {
                continue;
            };
            if slot.tx.try_send(item).is_err() {
                lagged.push(*id);
            }
        }
        for id in lagged {
            if let Some(slot) = state.watchers.remove(&id) {
                slot.lagged.store(true, Ordering::Release);
                self.metrics
                    .dropped_watchers
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(prefix = %slot.filter.prefix, "dropped a watcher that fell behind");
            }
        }
        state.window.push_back(change);
        while state.window.len() > self.config.window {
            if let Some(old) = state.window.pop_front() {
                state.window_start = old.revision;
            }
        }
        state.revision = revision;
        drop(state);
        self.metrics.events.fetch_add(1, Ordering::Relaxed);
        self.revision.send_replace(revision);
    }

    async fn bookmarks(cache: std::sync::Weak<WatchCache>) {
        let interval = match cache.upgrade() {
            Some(c) => c.config.bookmark_interval,
            None => return,
        };
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(cache) = cache.upgrade() else { return };
            let state = cache.state.read();
            for slot in state.watchers.values().filter(|s| s.bookmarks) {
                // A full queue already has something to deliver; skip.
                let _ = slot.tx.try_send(WatchItem::Bookmark(state.revision));
            }
        }
    }

    /// Waits until the cache has applied revision `rev` (at most `timeout`).
    pub async fn wait_for(&self, rev: Revision, timeout: Duration) -> Result<(), CacheError> {
        let mut rx = self.revision.subscribe();
        let wait = rx.wait_for(|r| *r >= rev);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(CacheError::TooNew {
                requested: rev,
                current: self.revision(),
            }),
        }
    }

    /// Waits until the cache holds everything the store has committed.
    pub async fn sync(&self) -> Result<(), CacheError> {
        self.wait_for(self.store.current_revision(), Duration::from_secs(10))
            .await
    }

    /// One object by key, after a consistent-read wait.
    pub async fn get(&self, key: &str) -> Result<Option<Arc<CachedObject>>, CacheError> {
        self.sync().await?;
        Ok(self.get_now(key))
    }

    /// One object by key, as the cache has it now.
    pub fn get_now(&self, key: &str) -> Option<Arc<CachedObject>> {
        self.state.read().objects.get(key).cloned()
    }

    /// Objects matching `filter` with keys after `start_after`, at most
    /// `limit` (0 = all). Returns the page, the cache revision, and whether
    /// more matches remain. (Remaining matches are not counted: that would
    /// walk the rest of the range under the lock on every page.)
    pub fn list(
        &self,
        filter: &Filter,
        start_after: Option<&str>,
        limit: usize,
    ) -> (Vec<Arc<CachedObject>>, Revision, bool) {
        use std::ops::Bound;
        let state = self.state.read();
        let lower = match start_after {
            Some(k) => Bound::Excluded(k.to_owned()),
            None => Bound::Included(filter.prefix.clone()),
        };
        let mut items = Vec::new();
        let mut iter = state
            .objects
            .range((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&filter.prefix))
            .map(|(_, o)| o)
            .filter(|o| filter.matches(o));
        for obj in iter.by_ref() {
            items.push(obj.clone());
            if limit > 0 && items.len() == limit {
                break;
            }
        }
        let more = limit > 0 && items.len() == limit && iter.next().is_some();
        (items, state.revision, more)
    }

    /// Starts a watch. Changes are filtered by `filter`.
    pub async fn watch(
        self: &Arc<Self>,
        filter: Filter,
        start: WatchStart,
        bookmarks: bool,
    ) -> Result<Watch, CacheError> {
        if let WatchStart::After(rev) = start {
            // A client may come back with a revision newer than the cache
            // (it read from a store that is ahead); give the cache a moment.
            if rev > self.revision() {
                self.wait_for(rev, Duration::from_secs(3)).await?;
            }
        }
        let (tx, rx) = mpsc::channel(self.config.watcher_queue);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.write();
        let initial = match start {
            WatchStart::Now { initial_events } => {
                let mut items: Vec<WatchItem> = state
                    .objects
                    .range(filter.prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&filter.prefix))
                    .filter(|(_, o)| filter.matches(o))
                    .map(|(_, o)| WatchItem::Change(ChangeType::Added, o.clone()))
                    .collect();
                if initial_events {
                    items.push(WatchItem::InitialEventsEnd(state.revision));
                }
                items
            }
            WatchStart::After(rev) if rev < state.window_start => {
                drop(state);
                return self.watch_store(filter, rev);
            }
            WatchStart::After(rev) => state
                .window
                .iter()
                .filter(|c| c.revision > rev)
                .filter_map(|c| change_for(&filter, c))
                .collect(),
        };
        state.watchers.insert(
            id,
            Slot {
                filter,
                tx,
                lagged: lagged.clone(),
                bookmarks,
            },
        );
        drop(state);
        Ok(Watch {
            initial,
            source: Source::Cache(rx),
            lagged,
            id: Some(id),
            cache: self.clone(),
        })
    }

    /// A watch from a revision the cache no longer holds, served from the
    /// store's history while the store still retains it.
    fn watch_store(self: &Arc<Self>, filter: Filter, rev: Revision) -> Result<Watch, CacheError> {
        let stream = self.store.watch(&filter.prefix, rev).map_err(|e| match e {
            verge_store::StoreError::Compacted { requested, oldest } => {
                CacheError::Expired { requested, oldest }
            }
            other => CacheError::Store(other),
        })?;
        Ok(Watch {
            initial: Vec::new(),
            source: Source::Store(stream, filter),
            lagged: Arc::new(AtomicBool::new(false)),
            id: None,
            cache: self.clone(),
        })
    }

    /// The oldest revision a watch can resume after.
    pub fn oldest_revision(&self) -> Revision {
        self.state.read().window_start
    }
}

/// What a watcher with `filter` sees of `change`, if anything. An object
/// that stops matching the selectors is DELETED for this watcher, one that
/// starts matching is ADDED.
fn change_for(filter: &Filter, change: &Change) -> Option<WatchItem> {
    if !change.object.key.starts_with(&filter.prefix) {
        return None;
    }
    let now = !change.deleted && filter.matches(&change.object);
    let before = change.prev.as_ref().is_some_and(|p| filter.matches(p));
    let kind = match (before, now) {
        (false, true) => ChangeType::Added,
        (true, true) => ChangeType::Modified,
        (true, false) if change.deleted => ChangeType::Deleted,
        (true, false) => {
            // Left the selection: DELETED carrying the previous state at the
            // new revision (what the watcher last matched on).
            let prev = change.prev.as_ref()?;
            let mut v = prev.value();
            object::set_resource_version(&mut v, change.revision);
            let bytes = Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
            let obj = CachedObject {
                key: prev.key.clone(),
                bytes,
                revision: change.revision,
                labels: prev.labels.clone(),
                fields: prev.fields.clone(),
            };
            return Some(WatchItem::Change(ChangeType::Deleted, Arc::new(obj)));
        }
        (false, false) => return None,
    };
    Some(WatchItem::Change(kind, change.object.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn cache_with(
        config: CacheConfig,
    ) -> (tempfile::TempDir, Arc<dyn Store>, Arc<WatchCache>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = verge_store::SqliteStore::open(
            &dir.path().join("db"),
            verge_store::SqliteOptions::default(),
        )
        .expect("store");
        let store: Arc<dyn Store> = Arc::new(store);
        let cache = WatchCache::start(store.clone(), config)
            .await
            .expect("cache");
        (dir, store, cache)
    }

    fn obj(name: &str, app: &str) -> Bytes {
        Bytes::from(format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"d","labels":{{"app":"{app}"}}}}}}"#
        ))
    }

    #[tokio::test]
    async fn slow_watchers_are_dropped_not_waited_for() {
        let config = CacheConfig {
            watcher_queue: 8,
            ..CacheConfig::default()
        };
        let (_dir, store, cache) = cache_with(config).await;
        let mut slow = cache
            .watch(
                Filter::prefix("/registry/configmaps/"),
                WatchStart::Now {
                    initial_events: false,
                },
                false,
            )
            .await
            .expect("watch");
        let mut last = 0;
        for i in 0..50 {
            last = store
                .create(
                    &format!("/registry/configmaps/d/c{i}"),
                    obj(&format!("c{i}"), "x"),
                )
                .await
                .expect("write is never blocked by a watcher");
        }
        cache
            .wait_for(last, Duration::from_secs(5))
            .await
            .expect("cache caught up");
        let mut delivered = 0;
        let end = loop {
            match slow.next().await {
                Ok(_) => delivered += 1,
                Err(end) => break end,
            }
        };
        assert_eq!(end, WatchEnd::Lagged);
        assert_eq!(delivered, 8, "the queue bound held");
        assert_eq!(cache.watcher_count(), 0);
    }

    #[tokio::test]
    async fn label_changes_move_objects_in_and_out_of_a_selection() {
        let (_dir, store, cache) = cache_with(CacheConfig::default()).await;
        let filter = Filter {
            prefix: "/registry/configmaps/".into(),
            labels: Some(Selector::parse("app=web").expect("selector")),
            fields: None,
        };
        let mut w = cache
            .watch(
                filter,
                WatchStart::Now {
                    initial_events: false,
                },
                false,
            )
            .await
            .expect("watch");
        let key = "/registry/configmaps/d/a";
        let r1 = store.create(key, obj("a", "db")).await.expect("create");
        let r2 = store
            .update(key, obj("a", "web"), r1)
            .await
            .expect("into selection");
        let r3 = store
            .update(key, obj("a", "db"), r2)
            .await
            .expect("out of selection");
        let mut got = Vec::new();
        while got.len() < 2 {
            match tokio::time::timeout(Duration::from_secs(5), w.next()).await {
                Ok(Ok(WatchItem::Change(kind, o))) => got.push((kind, o.revision)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            got,
            vec![(ChangeType::Added, r2), (ChangeType::Deleted, r3)]
        );
    }

    #[test]
    fn splits_group_and_resource_from_keys() {
        assert_eq!(group_resource("/registry/pods/ns/a"), ("", "pods"));
        assert_eq!(
            group_resource("/registry/deployments.apps/ns/a"),
            ("apps", "deployments")
        );
        assert_eq!(
            group_resource("/registry/widgets.example.com/a"),
            ("example.com", "widgets")
        );
    }
}
