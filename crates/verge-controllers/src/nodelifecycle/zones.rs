//! Zone health and the rate at which unhealthy nodes get NoExecute taints.
//!
//! As in Kubernetes, a zone (region + zone labels) is in one of three
//! states, and the state decides how fast its unhealthy nodes are tainted
//! for eviction:
//!
//! - Normal: the primary rate (`--node-eviction-rate`, 0.1 nodes/s).
//! - PartialDisruption (more than two unhealthy nodes and at least
//!   `--unhealthy-zone-threshold`, 55 %, of the zone): the secondary rate
//!   for zones larger than `--large-cluster-size-threshold`, none for
//!   smaller ones — a zone mostly gone is more likely cut off from the
//!   control plane than really dead.
//! - FullDisruption (no healthy node): the primary rate, unless every zone
//!   is fully disrupted: then the control plane is the one cut off, no node
//!   is tainted for eviction and existing NoExecute taints are removed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneState {
    Normal,
    PartialDisruption,
    FullDisruption,
}

impl ZoneState {
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneState::Normal => "Normal",
            ZoneState::PartialDisruption => "PartialDisruption",
            ZoneState::FullDisruption => "FullDisruption",
        }
    }
}

/// How a zone's health turns into eviction rates.
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    pub primary: f64,
    pub secondary: f64,
    pub large_zone: usize,
    pub unhealthy_threshold: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub unhealthy: usize,
}

impl Counts {
    pub fn state(self, unhealthy_threshold: f64) -> ZoneState {
        if self.total > 0 && self.unhealthy == self.total {
            ZoneState::FullDisruption
        } else if self.unhealthy > 2
            && self.unhealthy as f64 >= unhealthy_threshold * self.total as f64
        {
            ZoneState::PartialDisruption
        } else {
            ZoneState::Normal
        }
    }
}

/// Per-zone node counts and token buckets.
pub struct Zones {
    rates: Rates,
    counts: HashMap<String, Counts>,
    buckets: HashMap<String, Bucket>,
}

/// What changed when a node's contribution moved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Zones whose state changed.
    pub zones: Vec<String>,
    /// Whether "every zone fully disrupted" flipped.
    pub all_disrupted_flipped: bool,
    /// Zones left without nodes (forgotten).
    pub emptied: Vec<String>,
}

impl Zones {
    pub fn new(rates: Rates) -> Zones {
        Zones {
            rates,
            counts: HashMap::new(),
            buckets: HashMap::new(),
        }
    }

    pub fn state(&self, zone: &str) -> ZoneState {
        self.counts
            .get(zone)
            .copied()
            .unwrap_or_default()
            .state(self.rates.unhealthy_threshold)
    }

    pub fn counts(&self) -> impl Iterator<Item = (&String, &Counts)> {
        self.counts.iter()
    }

    /// Every zone has nodes and none of them is healthy.
    pub fn all_disrupted(&self) -> bool {
        !self.counts.is_empty()
            && self
                .counts
                .values()
                .all(|c| c.state(self.rates.unhealthy_threshold) == ZoneState::FullDisruption)
    }

    /// Moves one node from `old` (zone, unhealthy) to `new`.
    pub fn update(&mut self, old: Option<(&str, bool)>, new: Option<(&str, bool)>) -> Change {
        if old == new {
            return Change::default();
        }
        let all_before = self.all_disrupted();
        let mut touched: Vec<(String, ZoneState)> = Vec::new();
        for (zone, _) in old.iter().chain(new.iter()) {
            if !touched.iter().any(|(z, _)| z == zone) {
                touched.push((zone.to_string(), self.state(zone)));
            }
        }
        let mut emptied = Vec::new();
        if let Some((zone, unhealthy)) = old
            && let Some(c) = self.counts.get_mut(zone)
        {
            c.total = c.total.saturating_sub(1);
            if unhealthy {
                c.unhealthy = c.unhealthy.saturating_sub(1);
            }
            if c.total == 0 {
                self.counts.remove(zone);
                self.buckets.remove(zone);
                emptied.push(zone.to_owned());
            }
        }
        if let Some((zone, unhealthy)) = new {
            let c = self.counts.entry(zone.to_owned()).or_default();
            c.total += 1;
            if unhealthy {
                c.unhealthy += 1;
            }
        }
        Change {
            zones: touched
                .into_iter()
                .filter(|(z, before)| self.state(z) != *before)
                .map(|(z, _)| z)
                .collect(),
            all_disrupted_flipped: all_before != self.all_disrupted(),
            emptied: emptied
                .into_iter()
                .filter(|z| !self.counts.contains_key(z))
                .collect(),
        }
    }

    /// Nodes per second that may get a NoExecute taint in `zone` now.
    pub fn rate(&self, zone: &str) -> f64 {
        if self.all_disrupted() {
            return 0.0;
        }
        let counts = self.counts.get(zone).copied().unwrap_or_default();
        match counts.state(self.rates.unhealthy_threshold) {
            ZoneState::Normal | ZoneState::FullDisruption => self.rates.primary,
            ZoneState::PartialDisruption if counts.total > self.rates.large_zone => {
                self.rates.secondary
            }
            ZoneState::PartialDisruption => 0.0,
        }
    }

    /// Takes the right to taint one node of `zone` for eviction. `Err`
    /// says when to ask again (`None`: not until the zone's state changes).
    pub fn take(&mut self, zone: &str, now: Instant) -> Result<(), Option<Duration>> {
        let rate = self.rate(zone);
        self.buckets
            .entry(zone.to_owned())
            .or_insert_with(|| Bucket::full(now))
            .take(rate, now)
    }
}

/// A token bucket holding at most one token, so that at most one node is
/// tainted at once and then one per `1/rate` seconds.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(now: Instant) -> Bucket {
        Bucket {
            tokens: 1.0,
            at: now,
        }
    }

    fn take(&mut self, rate: f64, now: Instant) -> Result<(), Option<Duration>> {
        if rate <= 0.0 || !rate.is_finite() {
            return Err(None);
        }
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(1.0);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) / rate;
        Err(Some(Duration::from_secs_f64(wait.clamp(0.001, 3600.0))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> Rates {
        Rates {
            primary: 1.0,
            secondary: 0.1,
            large_zone: 50,
            unhealthy_threshold: 0.55,
        }
    }

    #[test]
    fn zone_states_follow_kubernetes_thresholds() {
        let t = 0.55;
        let c = |total, unhealthy| Counts { total, unhealthy };
        assert_eq!(c(3, 0).state(t), ZoneState::Normal);
        assert_eq!(
            c(3, 2).state(t),
            ZoneState::Normal,
            "two unhealthy nodes never disrupt a zone"
        );
        assert_eq!(c(3, 3).state(t), ZoneState::FullDisruption);
        assert_eq!(c(5, 3).state(t), ZoneState::PartialDisruption);
        assert_eq!(c(10, 5).state(t), ZoneState::Normal, "50% < 55%");
        assert_eq!(c(1, 1).state(t), ZoneState::FullDisruption);
        assert_eq!(c(0, 0).state(t), ZoneState::Normal);
    }

    #[test]
    fn rates_by_zone_state_and_full_partition() {
        let mut z = Zones::new(rates());
        for _ in 0..4 {
            z.update(None, Some(("a", false)));
        }
        z.update(None, Some(("b", false)));
        assert_eq!(z.rate("a"), 1.0);
        // Three of four unhealthy: a small zone in partial disruption stops.
        for _ in 0..3 {
            z.update(Some(("a", false)), Some(("a", true)));
        }
        assert_eq!(z.state("a"), ZoneState::PartialDisruption);
        assert_eq!(z.rate("a"), 0.0);
        // Zone b fully down while a still has a healthy node: normal rate.
        let change = z.update(Some(("b", false)), Some(("b", true)));
        assert_eq!(change.zones, vec!["b".to_owned()]);
        assert!(!change.all_disrupted_flipped);
        assert_eq!(z.rate("b"), 1.0);
        // Every zone fully down: the control plane is cut off; no evictions.
        let change = z.update(Some(("a", false)), Some(("a", true)));
        assert!(change.all_disrupted_flipped);
        assert!(z.all_disrupted());
        assert_eq!(z.rate("a"), 0.0);
        assert_eq!(z.rate("b"), 0.0);
        let change = z.update(Some(("b", true)), Some(("b", false)));
        assert!(change.all_disrupted_flipped);
        assert_eq!(
            z.rate("a"),
            1.0,
            "a fully disrupted zone among healthy ones evicts"
        );
    }

    #[test]
    fn large_zones_in_partial_disruption_use_the_secondary_rate() {
        let mut z = Zones::new(rates());
        for i in 0..60 {
            z.update(None, Some(("big", i < 40)));
        }
        assert_eq!(z.state("big"), ZoneState::PartialDisruption);
        assert_eq!(z.rate("big"), 0.1);
    }

    #[test]
    fn buckets_allow_one_then_pace() {
        let mut z = Zones::new(rates());
        z.update(None, Some(("a", true)));
        z.update(None, Some(("a", false)));
        let t0 = Instant::now();
        assert_eq!(z.take("a", t0), Ok(()));
        let wait = z.take("a", t0).expect_err("empty bucket");
        assert_eq!(wait, Some(Duration::from_secs(1)));
        assert_eq!(z.take("a", t0 + Duration::from_millis(1000)), Ok(()));
        // Removing the last node forgets the zone.
        z.update(Some(("a", true)), None);
        let change = z.update(Some(("a", false)), None);
        assert_eq!(change.emptied, vec!["a".to_owned()]);
        assert_eq!(z.counts().count(), 0);
    }
}
