//! A work queue of object keys: deduplicating (a key waiting once is
//! processed once, however many changes touched it), never handing the same
//! key to two workers at once, with delayed re-adds and per-key exponential
//! backoff for failures.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

/// First retry delay after a failure; doubles per consecutive failure.
const BACKOFF_BASE: Duration = Duration::from_millis(10);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

pub struct Queue<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for Queue<K> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K> {
    state: Mutex<State<K>>,
    notify: Notify,
}

struct State<K> {
    ready: VecDeque<K>,
    /// Keys in `ready`.
    queued: HashSet<K>,
    /// Keys a worker holds now.
    active: HashSet<K>,
    /// Active keys added again: requeued when their worker is done.
    again: HashSet<K>,
    delayed: BinaryHeap<Reverse<(Instant, u64, K)>>,
    seq: u64,
    failures: HashMap<K, u32>,
    closed: bool,
}

impl<K: Clone + Eq + Hash + Ord> Default for Queue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash + Ord> Queue<K> {
    pub fn new() -> Queue<K> {
        Queue {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    ready: VecDeque::new(),
                    queued: HashSet::new(),
                    active: HashSet::new(),
                    again: HashSet::new(),
                    delayed: BinaryHeap::new(),
                    seq: 0,
                    failures: HashMap::new(),
                    closed: false,
                }),
                notify: Notify::new(),
            }),
        }
    }

    /// Queues `key` unless it is already waiting.
    pub fn add(&self, key: K) {
        let mut s = self.inner.state.lock();
        if s.closed {
            return;
        }
        if s.active.contains(&key) {
            s.again.insert(key);
            return;
        }
        if s.queued.insert(key.clone()) {
            s.ready.push_back(key);
            drop(s);
            self.inner.notify.notify_one();
        }
    }

    /// Queues `key` after `delay`.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let mut s = self.inner.state.lock();
        if s.closed {
            return;
        }
        s.seq += 1;
        let seq = s.seq;
        s.delayed.push(Reverse((Instant::now() + delay, seq, key)));
        drop(s);
        // A waiting worker may need to shorten its sleep.
        self.inner.notify.notify_one();
    }

    /// Queues `key` again after a failure, backing off exponentially with
    /// the number of consecutive failures of this key.
    pub fn retry(&self, key: K) -> Duration {
        let delay = {
            let mut s = self.inner.state.lock();
            let n = s.failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            backoff(*n)
        };
        self.add_after(key, delay);
        delay
    }

    /// Clears the failure count of `key` (it reconciled fine).
    pub fn forget(&self, key: &K) {
        self.inner.state.lock().failures.remove(key);
    }

    /// Waits for the next key. The caller owns it until [`Queue::done`].
    /// Returns None once the queue is closed.
    pub async fn next(&self) -> Option<K> {
        loop {
            let notified = self.inner.notify.notified();
            let wake_at = {
                let mut s = self.inner.state.lock();
                if s.closed {
                    return None;
                }
                s.promote_due(Instant::now());
                if let Some(key) = s.ready.pop_front() {
                    s.queued.remove(&key);
                    s.active.insert(key.clone());
                    let more = !s.ready.is_empty();
                    drop(s);
                    if more {
                        // Keep other idle workers busy.
                        self.inner.notify.notify_one();
                    }
                    return Some(key);
                }
                s.delayed.peek().map(|Reverse((at, _, _))| *at)
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Releases a key taken with [`Queue::next`]; if it was added meanwhile
    /// it is queued again.
    pub fn done(&self, key: &K) {
        let requeue = {
            let mut s = self.inner.state.lock();
            s.active.remove(key);
            s.again.remove(key)
        };
        if requeue {
            self.add(key.clone());
        }
    }

    /// Keys waiting now (not delayed, not active).
    pub fn len(&self) -> usize {
        self.inner.state.lock().ready.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the queue: workers get None.
    pub fn close(&self) {
        self.inner.state.lock().closed = true;
        self.inner.notify.notify_waiters();
    }
}

impl<K: Clone + Eq + Hash + Ord> State<K> {
    fn promote_due(&mut self, now: Instant) {
        while let Some(Reverse((at, _, _))) = self.delayed.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, key))) = self.delayed.pop() else {
                break;
            };
            if self.active.contains(&key) {
                self.again.insert(key);
            } else if self.queued.insert(key.clone()) {
                self.ready.push_back(key);
            }
        }
    }
}

fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deduplicates_waiting_keys() {
        let q = Queue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, Some("a"));
        assert_eq!(q.next().await, Some("b"));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn active_key_added_again_comes_back_after_done() {
        let q = Queue::new();
        q.add("a");
        let k = q.next().await;
        assert_eq!(k, Some("a"));
        q.add("a");
        assert!(q.is_empty(), "an active key is not handed out twice");
        q.done(&"a");
        assert_eq!(q.len(), 1);
        assert_eq!(q.next().await, Some("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_keys_arrive_after_their_delay() {
        let q = Queue::new();
        q.add_after("late", Duration::from_secs(5));
        q.add("now");
        let start = Instant::now();
        assert_eq!(q.next().await, Some("now"));
        assert_eq!(q.next().await, Some("late"));
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_back_off_and_forget_resets() {
        let q = Queue::new();
        assert_eq!(q.retry("k"), Duration::from_millis(10));
        assert_eq!(q.retry("k"), Duration::from_millis(20));
        assert_eq!(q.retry("k"), Duration::from_millis(40));
        q.forget(&"k");
        assert_eq!(q.retry("k"), Duration::from_millis(10));
        for _ in 0..40 {
            q.retry("k");
        }
        assert_eq!(q.retry("k"), BACKOFF_MAX);
    }

    #[tokio::test]
    async fn close_wakes_workers() {
        let q: Queue<&str> = Queue::new();
        let q2 = q.clone();
        let worker = tokio::spawn(async move { q2.next().await });
        tokio::task::yield_now().await;
        q.close();
        assert_eq!(worker.await.ok(), Some(None));
    }
}
