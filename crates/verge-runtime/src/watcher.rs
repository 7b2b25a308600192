//! A change stream over one resource type, fed by the shared watch cache.

use std::sync::Arc;
use std::time::Duration;

use verge_apiserver::cache::{
    CachedObject, ChangeType, Filter, Watch, WatchCache, WatchEnd, WatchItem, WatchStart,
};

/// What a controller learns from a [`Watcher`].
#[derive(Debug)]
pub enum Event {
    /// The object was created or changed; this is its new state.
    Applied(Arc<CachedObject>),
    /// The object is gone; this was its last state.
    Deleted(Arc<CachedObject>),
    /// Everything that exists now. Sent first, and again whenever the
    /// watcher fell behind and re-listed: consumers rebuild their indexes
    /// from it and treat objects they knew but that are missing as deleted.
    Relisted(Vec<Arc<CachedObject>>),
}

/// Follows one storage prefix (a type, or a type in a namespace). Never
/// ends while the server runs: a watcher that falls behind the cache's
/// queue re-lists instead of missing changes.
pub struct Watcher {
    cache: Arc<WatchCache>,
    filter: Filter,
    watch: Option<Watch>,
}

/// Pause before re-subscribing after the cache dropped us, so a consumer
/// that is slow for a moment does not spin.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(50);

impl Watcher {
    pub fn new(cache: Arc<WatchCache>, filter: Filter) -> Watcher {
        Watcher {
            cache,
            filter,
            watch: None,
        }
    }

    /// The next change, or None when the server is shutting down.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            let Some(watch) = &mut self.watch else {
                return self.subscribe().await;
            };
            match watch.next().await {
                Ok(WatchItem::Change(ChangeType::Deleted, obj)) => {
                    return Some(Event::Deleted(obj));
                }
                Ok(WatchItem::Change(_, obj)) => return Some(Event::Applied(obj)),
                Ok(WatchItem::Bookmark(_) | WatchItem::InitialEventsEnd(_)) => continue,
                Err(WatchEnd::Lagged) => {
                    tracing::warn!(prefix = %self.filter.prefix, "controller watch fell behind; re-listing");
                    self.watch = None;
                    tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
                }
                Err(WatchEnd::Closed) => return None,
            }
        }
    }

    async fn subscribe(&mut self) -> Option<Event> {
        let mut delay = RESUBSCRIBE_PAUSE;
        loop {
            match self
                .cache
                .watch(
                    self.filter.clone(),
                    WatchStart::Now {
                        initial_events: false,
                    },
                    false,
                )
                .await
            {
                Ok(mut watch) => {
                    let objects = std::mem::take(&mut watch.initial)
                        .into_iter()
                        .filter_map(|item| match item {
                            WatchItem::Change(_, obj) => Some(obj),
                            _ => None,
                        })
                        .collect();
                    self.watch = Some(watch);
                    return Some(Event::Relisted(objects));
                }
                Err(e) => {
                    tracing::warn!(prefix = %self.filter.prefix, error = %e, "controller cannot watch yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
