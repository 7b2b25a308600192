//! The scheduling queue, shaped like kube-scheduler's:
//!
//! - *active*: pods to try now, highest priority first, then oldest first;
//! - *backoff*: pods that failed recently and wait out their backoff
//!   (1 s doubling to 10 s per attempt) before another try;
//! - *unschedulable*: pods no node could take. They stay parked until a
//!   cluster change that could help them (a node added, a pod deleted, a
//!   label changed — matched against the plugins that rejected them) or,
//!   as a safety net, for at most five minutes.
//!
//! A pod is in at most one of them; pods being bound are held aside.
//! Heap entries of pods that moved on are skipped lazily when popped.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::plugins::PluginSet;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest stay in the unschedulable set without any cluster change.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    Active,
    Backoff,
    Unschedulable,
    /// Popped: a cycle is deciding about it.
    InFlight,
    /// Assumed on a node; its binding is being written.
    Binding,
}

#[derive(Debug)]
struct Entry {
    loc: Loc,
    priority: i32,
    /// Identifies the pod's current heap entry.
    seq: u64,
    attempts: u32,
    first_seen: Instant,
    last_attempt: Option<Instant>,
    /// For Unschedulable: since when, and which plugins said no.
    since: Instant,
    rejected: PluginSet,
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveItem {
    priority: i32,
    seq: u64,
    key: Arc<str>,
}

impl Ord for ActiveItem {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ActiveItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Default)]
pub struct SchedulingQueue {
    active: BinaryHeap<ActiveItem>,
    backoff: BinaryHeap<Reverse<(Instant, u64, Arc<str>)>>,
    entries: HashMap<Arc<str>, Entry>,
    seq: u64,
}

/// How many pods wait where (for the pending-pods gauge).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Depths {
    pub active: usize,
    pub backoff: usize,
    pub unschedulable: usize,
}

pub fn backoff_for(attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(8);
    INITIAL_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

impl SchedulingQueue {
    pub fn new() -> SchedulingQueue {
        SchedulingQueue::default()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn push_active(&mut self, key: Arc<str>) {
        let seq = self.next_seq();
        if let Some(e) = self.entries.get_mut(&key) {
            e.loc = Loc::Active;
            e.seq = seq;
            self.active.push(ActiveItem {
                priority: e.priority,
                seq,
                key,
            });
        }
    }

    fn push_backoff(&mut self, key: Arc<str>, until: Instant) {
        let seq = self.next_seq();
        if let Some(e) = self.entries.get_mut(&key) {
            e.loc = Loc::Backoff;
            e.seq = seq;
            self.backoff.push(Reverse((until, seq, key)));
        }
    }

    /// A new pending pod. Returns false if it was known already.
    pub fn add(&mut self, key: Arc<str>, priority: i32, now: Instant) -> bool {
        if self.entries.contains_key(&key) {
            return false;
        }
        self.entries.insert(
            key.clone(),
            Entry {
                loc: Loc::Active,
                priority,
                seq: 0,
                attempts: 0,
                first_seen: now,
                last_attempt: None,
                since: now,
                rejected: PluginSet::EMPTY,
            },
        );
        self.push_active(key);
        true
    }

    /// The pod is gone, bound, or no longer ours.
    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub fn loc(&self, key: &str) -> Option<Loc> {
        self.entries.get(key).map(|e| e.loc)
    }

    pub fn first_seen(&self, key: &str) -> Option<Instant> {
        self.entries.get(key).map(|e| e.first_seen)
    }

    /// Moves pods whose backoff expired to active, then takes the most
    /// important active pod.
    pub fn pop(&mut self, now: Instant) -> Option<Arc<str>> {
        self.promote_backoff(now);
        while let Some(item) = self.active.pop() {
            let Some(e) = self.entries.get_mut(&item.key) else {
                continue;
            };
            if e.loc != Loc::Active || e.seq != item.seq {
                continue;
            }
            e.loc = Loc::InFlight;
            e.attempts = e.attempts.saturating_add(1);
            e.last_attempt = Some(now);
            return Some(item.key);
        }
        None
    }

    fn promote_backoff(&mut self, now: Instant) {
        while let Some(Reverse((at, _, _))) = self.backoff.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, seq, key))) = self.backoff.pop() else {
                break;
            };
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.loc == Loc::Backoff && e.seq == seq)
            {
                self.push_active(key);
            }
        }
    }

    /// When the next backed-off pod becomes due.
    pub fn next_due(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The popped pod was assumed on a node; its binding is under way.
    pub fn binding(&mut self, key: &str) {
        if let Some(e) = self.entries.get_mut(key) {
            e.loc = Loc::Binding;
        }
    }

    /// No node could take the popped pod; `rejected` names the plugins that
    /// said no (empty: only a change of the pod itself can help).
    pub fn unschedulable(&mut self, key: &str, rejected: PluginSet, now: Instant) {
        if let Some(e) = self.entries.get_mut(key) {
            e.loc = Loc::Unschedulable;
            e.since = now;
            e.rejected = rejected;
        }
    }

    /// Try again after the pod's backoff (an error, a failed binding).
    pub fn retry_later(&mut self, key: &Arc<str>, now: Instant) {
        let Some(until) = self.backoff_until(key, now) else {
            return;
        };
        self.push_backoff(key.clone(), until);
    }

    fn backoff_until(&self, key: &str, now: Instant) -> Option<Instant> {
        let e = self.entries.get(key)?;
        Some(e.last_attempt.unwrap_or(now) + backoff_for(e.attempts))
    }

    fn requeue(&mut self, key: Arc<str>, now: Instant) {
        match self.backoff_until(&key, now) {
            Some(until) if until > now => self.push_backoff(key, until),
            Some(_) => self.push_active(key),
            None => {}
        }
    }

    /// The pod itself changed in a way that may make it fit.
    pub fn pod_updated(&mut self, key: &Arc<str>, now: Instant) {
        if self.loc(key) == Some(Loc::Unschedulable) {
            self.requeue(key.clone(), now);
        }
    }

    /// A cluster change that can satisfy the plugins in `event`: parked
    /// pods rejected by one of them go back (through their backoff).
    /// Returns how many moved.
    pub fn cluster_changed(&mut self, event: PluginSet, now: Instant) -> usize {
        if event.is_empty() {
            return 0;
        }
        let moving: Vec<Arc<str>> = self
            .entries
            .iter()
            .filter(|(_, e)| e.loc == Loc::Unschedulable && e.rejected.intersects(event))
            .map(|(k, _)| k.clone())
            .collect();
        let n = moving.len();
        for key in moving {
            self.requeue(key, now);
        }
        n
    }

    /// Parked pods that waited `MAX_UNSCHEDULABLE` go back regardless.
    pub fn flush_stale(&mut self, now: Instant) {
        let stale: Vec<Arc<str>> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.loc == Loc::Unschedulable && now.duration_since(e.since) >= MAX_UNSCHEDULABLE
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.requeue(key, now);
        }
    }

    pub fn depths(&self) -> Depths {
        let mut d = Depths::default();
        for e in self.entries.values() {
            match e.loc {
                Loc::Active | Loc::InFlight => d.active += 1,
                Loc::Backoff => d.backoff += 1,
                Loc::Unschedulable => d.unschedulable += 1,
                Loc::Binding => {}
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::Plugin;

    fn k(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    #[test]
    fn higher_priority_first_then_oldest() {
        let mut q = SchedulingQueue::new();
        let now = Instant::now();
        q.add(k("low"), 0, now);
        q.add(k("high"), 1000, now);
        q.add(k("low2"), 0, now);
        q.add(k("mid"), 10, now);
        let order: Vec<Arc<str>> = std::iter::from_fn(|| q.pop(now)).collect();
        assert_eq!(order, vec![k("high"), k("mid"), k("low"), k("low2")]);
        assert!(!q.add(k("low"), 0, now), "known pods are not added twice");
    }

    #[test]
    fn removed_pods_are_skipped() {
        let mut q = SchedulingQueue::new();
        let now = Instant::now();
        q.add(k("a"), 0, now);
        q.add(k("b"), 0, now);
        q.remove("a");
        assert_eq!(q.pop(now), Some(k("b")));
        assert_eq!(q.pop(now), None);
    }

    #[test]
    fn backoff_doubles_to_a_limit() {
        assert_eq!(backoff_for(1), Duration::from_secs(1));
        assert_eq!(backoff_for(2), Duration::from_secs(2));
        assert_eq!(backoff_for(4), Duration::from_secs(8));
        assert_eq!(backoff_for(30), MAX_BACKOFF);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_relevant_change() {
        let mut q = SchedulingQueue::new();
        let t0 = Instant::now();
        q.add(k("p"), 0, t0);
        assert_eq!(q.pop(t0), Some(k("p")));
        q.unschedulable("p", PluginSet::EMPTY.with(Plugin::NodeResourcesFit), t0);
        assert_eq!(q.depths().unschedulable, 1);
        assert_eq!(
            q.cluster_changed(PluginSet::EMPTY.with(Plugin::NodeAffinity), t0),
            0
        );
        assert_eq!(q.pop(t0 + Duration::from_secs(5)), None);
        // A pod was deleted: back, but through its 1 s backoff.
        assert_eq!(
            q.cluster_changed(PluginSet::EMPTY.with(Plugin::NodeResourcesFit), t0),
            1
        );
        assert_eq!(q.pop(t0), None, "still backing off");
        assert_eq!(q.next_due(), Some(t0 + INITIAL_BACKOFF));
        assert_eq!(q.pop(t0 + INITIAL_BACKOFF), Some(k("p")));
    }

    #[test]
    fn stale_unschedulable_pods_are_flushed() {
        let mut q = SchedulingQueue::new();
        let t0 = Instant::now();
        q.add(k("p"), 0, t0);
        q.pop(t0);
        q.unschedulable("p", PluginSet::EMPTY, t0);
        q.flush_stale(t0 + Duration::from_secs(10));
        assert_eq!(q.loc("p"), Some(Loc::Unschedulable));
        q.flush_stale(t0 + MAX_UNSCHEDULABLE);
        assert_eq!(q.pop(t0 + MAX_UNSCHEDULABLE), Some(k("p")));
    }

    #[test]
    fn failed_bindings_retry_after_backoff() {
        let mut q = SchedulingQueue::new();
        let t0 = Instant::now();
        q.add(k("p"), 0, t0);
        q.pop(t0);
        q.binding("p");
        assert_eq!(q.depths(), Depths::default());
        q.retry_later(&k("p"), t0);
        assert_eq!(q.depths().backoff, 1);
        assert_eq!(q.pop(t0), None);
        assert_eq!(q.pop(t0 + Duration::from_secs(1)), Some(k("p")));
    }
}
