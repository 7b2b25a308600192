//! Expectations: a controller must not act on an index that does not yet
//! show its own last writes, or it creates the same pods twice.
//!
//! kube-controller-manager counts the creations and deletions it still
//! expects to see. Here every write returns the store revision it was
//! committed at, and the watch delivers changes in revision order, so one
//! number per owner says it all: the owner may act again once the index has
//! applied that revision. A write whose echo can never arrive (the watcher
//! re-listed over it) is given up on after [`TTL`].

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// How long an unobserved write holds its owner back.
pub const TTL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Expectations {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Highest revision the index has applied.
    observed: i64,
    pending: HashMap<String, Pending>,
}

struct Pending {
    revision: i64,
    since: Instant,
}

impl Expectations {
    pub fn new() -> Expectations {
        Expectations::default()
    }

    /// The index has applied everything up to `revision`. Call after the
    /// index is updated, so an owner that sees its writes observed also
    /// finds them in the index.
    pub fn observe(&self, revision: i64) {
        let mut s = self.state.lock();
        s.observed = s.observed.max(revision);
    }

    /// `owner` wrote something at `revision`.
    pub fn expect(&self, owner: &str, revision: i64) {
        let mut s = self.state.lock();
        if revision <= s.observed {
            return;
        }
        let now = Instant::now();
        s.pending
            .entry(owner.to_owned())
            .and_modify(|p| {
                p.revision = p.revision.max(revision);
                p.since = now;
            })
            .or_insert(Pending {
                revision,
                since: now,
            });
    }

    /// Ok when `owner` may act on the index; otherwise how long until its
    /// expectation expires.
    pub fn satisfied(&self, owner: &str) -> Result<(), Duration> {
        let mut s = self.state.lock();
        let observed = s.observed;
        let Some(p) = s.pending.get(owner) else {
            return Ok(());
        };
        if p.revision <= observed {
            s.pending.remove(owner);
            return Ok(());
        }
        let waited = p.since.elapsed();
        if waited >= TTL {
            tracing::warn!(
                owner,
                revision = p.revision,
                observed,
                "gave up waiting to observe own write; acting on the index as it is"
            );
            s.pending.remove(owner);
            return Ok(());
        }
        Err(TTL - waited)
    }

    pub fn forget(&self, owner: &str) {
        self.state.lock().pending.remove(owner);
    }

    #[cfg(test)]
    fn pending(&self) -> usize {
        self.state.lock().pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_the_write_then_for_nothing() {
        let e = Expectations::new();
        e.observe(10);
        assert!(e.satisfied("rs").is_ok());
        e.expect("rs", 9);
        assert!(e.satisfied("rs").is_ok(), "already observed");
        e.expect("rs", 12);
        e.expect("rs", 11);
        e.observe(11);
        assert!(e.satisfied("rs").is_err(), "12 not seen yet");
        assert!(e.satisfied("other").is_ok());
        e.observe(12);
        assert!(e.satisfied("rs").is_ok());
        assert_eq!(e.pending(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_ttl() {
        let e = Expectations::new();
        e.expect("rs", 5);
        let left = e.satisfied("rs").expect_err("pending");
        assert!(left <= TTL);
        tokio::time::advance(TTL).await;
        assert!(e.satisfied("rs").is_ok());
        e.expect("rs", 6);
        e.forget("rs");
        assert!(e.satisfied("rs").is_ok());
    }
}
