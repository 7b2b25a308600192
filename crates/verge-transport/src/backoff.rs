//! The edge's reconnect policy: exponential backoff with full jitter.
//!
//! When the cloud comes back after an outage, every edge node notices at
//! nearly the same moment. A fixed or merely exponential delay would bring
//! them back in synchronised waves; drawing each delay uniformly from
//! `[0, ceiling]`, with the ceiling doubling per failed attempt up to a cap,
//! spreads N returning nodes evenly over the window (10,000 nodes and a 60 s
//! cap: about 170 attempts per second once the ceilings have grown).

use std::time::Duration;

use rand::Rng;

/// Jittered exponential backoff. Call [`Backoff::next_delay`] before each
/// reconnect attempt and [`Backoff::reset`] once a connection has proven
/// itself (e.g. after Welcome).
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    cap: Duration,
    attempt: u32,
}

impl Default for Backoff {
    /// 1 s doubling up to 60 s.
    fn default() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}

impl Backoff {
    /// A backoff whose first ceiling is `initial` and which never waits more
    /// than `cap` (a `cap` below `initial` is raised to it).
    pub fn new(initial: Duration, cap: Duration) -> Backoff {
        Backoff {
            initial,
            cap: cap.max(initial),
            attempt: 0,
        }
    }

    /// Failed attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Forgets past failures.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The ceiling for the current attempt: `initial · 2^attempts`, capped.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.cap)
    }

    /// How long to wait before the next attempt, using the thread-local RNG.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(&mut rand::rng())
    }

    /// How long to wait before the next attempt: uniform in `[0, ceiling]`.
    pub fn next_delay_with<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }

    /// The next delay when the server asked for `retry_after` (Goodbye
    /// OVERLOADED): at least that long, plus the jittered delay so the nodes
    /// told the same value do not all return at the same instant.
    pub fn next_delay_after(&mut self, retry_after: Duration) -> Duration {
        retry_after.saturating_add(self.next_delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn delays_are_bounded_by_a_doubling_ceiling_and_the_cap() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut ceilings = Vec::new();
        for _ in 0..20 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay_with(&mut rng);
            assert!(delay <= ceiling, "{delay:?} above {ceiling:?}");
            assert!(delay <= Duration::from_secs(5));
            ceilings.push(ceiling);
        }
        assert_eq!(ceilings[0], Duration::from_millis(100));
        assert_eq!(ceilings[1], Duration::from_millis(200));
        assert_eq!(ceilings[5], Duration::from_millis(3200));
        assert_eq!(ceilings[6], Duration::from_secs(5));
        assert_eq!(ceilings[19], Duration::from_secs(5));
        // Many attempts do not overflow.
        for _ in 0..100 {
            assert!(backoff.next_delay_with(&mut rng) <= Duration::from_secs(5));
        }
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(100));
        assert_eq!(backoff.attempts(), 0);
    }

    #[test]
    fn delays_are_spread_over_the_whole_window() {
        // 10,000 nodes at their 7th attempt against a 60 s cap: the delays
        // must cover [0, 60 s] roughly evenly, not bunch together.
        let mut rng = StdRng::seed_from_u64(42);
        let mut buckets = [0u32; 10];
        for _ in 0..10_000 {
            let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
            for _ in 0..6 {
                backoff.next_delay_with(&mut rng);
            }
            assert_eq!(backoff.ceiling(), Duration::from_secs(60));
            let delay = backoff.next_delay_with(&mut rng);
            assert!(delay <= Duration::from_secs(60));
            let bucket = (delay.as_secs_f64() / 6.0).floor() as usize;
            buckets[bucket.min(9)] += 1;
        }
        for (i, count) in buckets.iter().enumerate() {
            // 1,000 expected per 6 s bucket.
            assert!((800..1200).contains(count), "bucket {i}: {count} of 10000");
        }
    }

    #[test]
    fn a_server_retry_after_is_a_floor() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
        for _ in 0..50 {
            let delay = backoff.next_delay_after(Duration::from_secs(3));
            assert!(delay >= Duration::from_secs(3));
            assert!(delay <= Duration::from_millis(3050));
        }
    }
}
