//! Filter and score plugins, named and ordered as kube-scheduler's default
//! profile has them, so the reasons users read in `kubectl describe` are
//! the ones they know.
//!
//! Filters answer for one node at a time and must be cheap: they run for up
//! to thousands of nodes per pod. Anything that needs the whole cluster
//! (inter-pod affinity, topology spread) is computed once per pod beforehand
//! (`interpod::State`, `spread::State`).

pub mod fit;
pub mod interpod;
pub mod node_affinity;
pub mod node_unschedulable;
pub mod ports;
pub mod spread;
pub mod taints;

/// The plugins, in kube-scheduler's filter order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plugin {
    NodeUnschedulable,
    TaintToleration,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    PodTopologySpread,
    InterPodAffinity,
}

impl Plugin {
    pub const ALL: [Plugin; 7] = [
        Plugin::NodeUnschedulable,
        Plugin::TaintToleration,
        Plugin::NodeAffinity,
        Plugin::NodePorts,
        Plugin::NodeResourcesFit,
        Plugin::PodTopologySpread,
        Plugin::InterPodAffinity,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of plugins: which ones rejected a pod, or which ones a cluster
/// change may now satisfy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PluginSet(u16);

impl PluginSet {
    pub const EMPTY: PluginSet = PluginSet(0);
    pub const ALL: PluginSet = PluginSet(u16::MAX);

    #[must_use]
    pub fn with(self, p: Plugin) -> PluginSet {
        PluginSet(self.0 | p.bit())
    }

    #[must_use]
    pub fn union(self, other: PluginSet) -> PluginSet {
        PluginSet(self.0 | other.0)
    }

    pub fn contains(self, p: Plugin) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn intersects(self, other: PluginSet) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn of(plugins: &[Plugin]) -> PluginSet {
        plugins.iter().fold(PluginSet::EMPTY, |s, p| s.with(*p))
    }
}

/// Why a node cannot take a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub plugin: Plugin,
    /// Each counts once in the "0/N nodes are available" summary.
    pub reasons: Vec<String>,
    /// Evicting pods would not help (kube-scheduler's
    /// UnschedulableAndUnresolvable), so preemption skips the node.
    pub unresolvable: bool,
}

impl Rejection {
    pub fn new(plugin: Plugin, reason: impl Into<String>) -> Rejection {
        Rejection {
            plugin,
            reasons: vec![reason.into()],
            unresolvable: false,
        }
    }

    pub fn unresolvable(plugin: Plugin, reason: impl Into<String>) -> Rejection {
        Rejection {
            plugin,
            reasons: vec![reason.into()],
            unresolvable: true,
        }
    }
}

/// Scores are 0..=100 per plugin, as in kube-scheduler.
pub const MAX_SCORE: i64 = 100;

/// Scales raw per-node scores to 0..=MAX_SCORE, the highest raw score
/// becoming MAX_SCORE (`reverse`: the lowest does).
pub fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    for s in scores.iter_mut() {
        *s = if max == 0 {
            if reverse { MAX_SCORE } else { 0 }
        } else if reverse {
            MAX_SCORE - *s * MAX_SCORE / max
        } else {
            *s * MAX_SCORE / max
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_sets() {
        let s = PluginSet::EMPTY.with(Plugin::NodeResourcesFit);
        assert!(s.contains(Plugin::NodeResourcesFit));
        assert!(!s.contains(Plugin::NodeAffinity));
        assert!(s.intersects(PluginSet::ALL));
        assert!(!s.intersects(PluginSet::of(&[Plugin::NodePorts])));
    }

    #[test]
    fn normalizes() {
        let mut s = vec![0, 5, 10];
        normalize(&mut s, false);
        assert_eq!(s, vec![0, 50, 100]);
        let mut s = vec![0, 5, 10];
        normalize(&mut s, true);
        assert_eq!(s, vec![100, 50, 0]);
        let mut s = vec![0, 0];
        normalize(&mut s, true);
        assert_eq!(s, vec![100, 100]);
    }
}
