//! A work queue in the manner of client-go's: a key is queued at most once,
//! is never processed by two workers at once (adding it while it is being
//! processed queues it again afterwards), can be added after a delay (the
//! earliest requested time wins; an immediate add cancels a delayed one), and
//! failed keys come back with exponential backoff.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

pub(crate) struct Queue<K> {
    inner: Mutex<Inner<K>>,
    ready: Notify,
    timer: Notify,
    retry_base: Duration,
    retry_max: Duration,
}

struct Inner<K> {
    queue: VecDeque<K>,
    dirty: HashSet<K>,
    processing: HashSet<K>,
    waiting: HashMap<K, Instant>,
    heap: BinaryHeap<Reverse<Timed<K>>>,
    seq: u64,
    failures: HashMap<K, u32>,
}

struct Timed<K> {
    at: Instant,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Timed<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<K> Eq for Timed<K> {}
impl<K> PartialOrd for Timed<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Timed<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<K: Clone + Eq + Hash> Inner<K> {
    /// Queues `key` unless it is queued already; true if a worker should wake.
    fn push(&mut self, key: K) -> bool {
        if !self.dirty.insert(key.clone()) {
            return false;
        }
        if self.processing.contains(&key) {
            return false;
        }
        self.queue.push_back(key);
        true
    }
}

impl<K: Clone + Eq + Hash> Queue<K> {
    pub(crate) fn new(retry_base: Duration, retry_max: Duration) -> Queue<K> {
        Queue {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                waiting: HashMap::new(),
                heap: BinaryHeap::new(),
                seq: 0,
                failures: HashMap::new(),
            }),
            ready: Notify::new(),
            timer: Notify::new(),
            retry_base,
            retry_max,
        }
    }

    /// Queues `key` now.
    pub(crate) fn add(&self, key: K) {
        let wake = {
            let mut g = self.inner.lock();
            g.waiting.remove(&key);
            g.push(key)
        };
        if wake {
            self.ready.notify_one();
        }
    }

    /// Queues `key` after `delay`, unless it is queued already or due sooner.
    pub(crate) fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let at = Instant::now() + delay;
        let earliest = {
            let mut g = self.inner.lock();
            if g.dirty.contains(&key) || g.waiting.get(&key).is_some_and(|t| *t <= at) {
                return;
            }
            g.waiting.insert(key.clone(), at);
            g.seq += 1;
            let seq = g.seq;
            g.heap.push(Reverse(Timed { at, seq, key }));
            g.heap.peek().is_some_and(|top| top.0.seq == seq)
        };
        if earliest {
            self.timer.notify_one();
        }
    }

    /// Queues `key` again after a delay that doubles with each consecutive
    /// failure; returns how many times it failed in a row.
    pub(crate) fn retry(&self, key: K) -> u32 {
        let failures = {
            let mut g = self.inner.lock();
            let n = g.failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        let delay = self.retry_base.saturating_mul(factor).min(self.retry_max);
        self.add_after(key, delay);
        failures
    }

    /// Clears `key`'s failure count.
    pub(crate) fn forget(&self, key: &K) {
        self.inner.lock().failures.remove(key);
    }

    /// The next key to process. Call [`Queue::done`] when finished with it.
    pub(crate) async fn get(&self) -> K {
        loop {
            {
                let mut g = self.inner.lock();
                if let Some(key) = g.queue.pop_front() {
                    g.dirty.remove(&key);
                    g.processing.insert(key.clone());
                    return key;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Marks `key` processed; queues it again if it was added meanwhile.
    pub(crate) fn done(&self, key: &K) {
        let wake = {
            let mut g = self.inner.lock();
            g.processing.remove(key);
            if g.dirty.contains(key) {
                g.queue.push_back(key.clone());
                true
            } else {
                false
            }
        };
        if wake {
            self.ready.notify_one();
        }
    }

    /// Moves delayed keys to the queue when they are due. Runs forever.
    pub(crate) async fn run_timer(&self) {
        loop {
            let (woken, next) = {
                let mut g = self.inner.lock();
                let now = Instant::now();
                let mut woken = 0usize;
                while let Some(top) = g.heap.peek() {
                    if top.0.at > now {
                        break;
                    }
                    let Some(Reverse(Timed { at, key, .. })) = g.heap.pop() else {
                        break;
                    };
                    if g.waiting.get(&key) == Some(&at) {
                        g.waiting.remove(&key);
                        if g.push(key) {
                            woken += 1;
                        }
                    }
                }
                (woken, g.heap.peek().map(|t| t.0.at))
            };
            for _ in 0..woken {
                self.ready.notify_one();
            }
            match next {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.timer.notified() => {}
                    }
                }
                None => self.timer.notified().await,
            }
        }
    }

    /// Keys queued or waiting (for statistics).
    pub(crate) fn len(&self) -> (usize, usize) {
        let g = self.inner.lock();
        (g.queue.len(), g.waiting.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn queue() -> Arc<Queue<&'static str>> {
        Arc::new(Queue::new(
            Duration::from_millis(100),
            Duration::from_secs(1),
        ))
    }

    async fn next(q: &Queue<&'static str>) -> Option<&'static str> {
        tokio::time::timeout(Duration::from_millis(10), q.get())
            .await
            .ok()
    }

    #[tokio::test(start_paused = true)]
    async fn dedupes_and_never_hands_a_key_to_two_workers() {
        let q = queue();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(next(&q).await, Some("a"));
        q.add("a"); // while processing: comes back after done
        assert_eq!(next(&q).await, Some("b"));
        assert_eq!(next(&q).await, None);
        q.done(&"a");
        assert_eq!(next(&q).await, Some("a"));
        q.done(&"a");
        q.done(&"b");
        assert_eq!(next(&q).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn delays_keep_the_earliest_time() {
        let q = queue();
        let timer = tokio::spawn({
            let q = q.clone();
            async move { q.run_timer().await }
        });
        q.add_after("a", Duration::from_secs(10));
        q.add_after("a", Duration::from_secs(5));
        q.add_after("a", Duration::from_secs(20));
        q.add_after("b", Duration::from_secs(7));
        let start = Instant::now();
        assert_eq!(q.get().await, "a");
        assert_eq!(start.elapsed().as_secs(), 5);
        q.done(&"a");
        assert_eq!(q.get().await, "b");
        assert_eq!(start.elapsed().as_secs(), 7);
        q.done(&"b");
        // The superseded 10 s and 20 s entries do not fire.
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(60), q.get())
                .await
                .ok(),
            None
        );
        // An immediate add cancels a pending delayed one.
        q.add_after("c", Duration::from_secs(3));
        q.add("c");
        assert_eq!(next(&q).await, Some("c"));
        q.done(&"c");
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(60), q.get())
                .await
                .ok(),
            None
        );
        timer.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn retries_back_off_exponentially() {
        let q = queue();
        let timer = tokio::spawn({
            let q = q.clone();
            async move { q.run_timer().await }
        });
        let mut waits = Vec::new();
        q.add("k");
        for _ in 0..6 {
            let k = q.get().await;
            let start = Instant::now();
            q.retry(k);
            q.done(&k);
            assert_eq!(q.get().await, "k");
            waits.push(start.elapsed().as_millis());
            q.done(&"k");
            q.add("k");
        }
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        q.get().await;
        q.forget(&"k");
        q.retry("k");
        q.done(&"k");
        let start = Instant::now();
        q.get().await;
        assert_eq!(start.elapsed().as_millis(), 100);
        timer.abort();
    }
}
