//! Which group each node belongs to.
//!
//! A NodeGroup claims the nodes it names and the nodes its selector
//! matches. A node claimed by several groups belongs to the oldest
//! (creationTimestamp, then name), so the answer never depends on the order
//! events arrived in. A group whose selector is invalid keeps the nodes that
//! already carry its label (a typo must not relabel a fleet) until the
//! selector is fixed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use verge_apimachinery::labels::Selector;

use super::types::NodeGroup;
use crate::pods;

/// The label every member node carries; its value is the group's name.
pub const GROUP_LABEL: &str = "verge.dev/node-group";

#[derive(Debug)]
pub enum Selection {
    /// No selector: membership by name only.
    None,
    Valid(Selector),
    Invalid(String),
}

/// What the controller keeps of a NodeGroup.
#[derive(Debug)]
pub struct Group {
    pub created: Option<Timestamp>,
    pub names: BTreeSet<String>,
    pub selection: Selection,
    /// The NodeGroup's own labels (GroupedDeployments select groups by them).
    pub labels: BTreeMap<String, String>,
}

impl Group {
    pub fn of(ng: &NodeGroup) -> Group {
        let selection = match &ng.spec.selector {
            None => Selection::None,
            Some(sel) => match pods::selector(Some(sel)) {
                Ok(s) if s.requirements().iter().any(|r| r.key() == GROUP_LABEL) => {
                    Selection::Invalid(format!(
                        "spec.selector may not use the {GROUP_LABEL} label, which this controller sets on members"
                    ))
                }
                Ok(s) => Selection::Valid(s),
                Err(e) => Selection::Invalid(format!("spec.selector is invalid: {e}")),
            },
        };
        Group {
            created: ng.metadata.creation_timestamp.as_ref().map(|t| t.0),
            names: ng.spec.nodes.iter().cloned().collect(),
            selection,
            labels: ng.metadata.labels.clone().unwrap_or_default(),
        }
    }

    /// Whether this group (named `name`) wants the node.
    pub fn claims(&self, name: &str, node: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.names.contains(node) {
            return true;
        }
        match &self.selection {
            Selection::None => false,
            Selection::Valid(s) => s.matches(labels),
            Selection::Invalid(_) => labels.get(GROUP_LABEL).is_some_and(|g| g == name),
        }
    }

    pub fn invalid(&self) -> Option<&str> {
        match &self.selection {
            Selection::Invalid(why) => Some(why),
            _ => None,
        }
    }
}

/// The group `node` belongs to, if any.
pub fn owner<'a>(
    groups: &'a BTreeMap<String, Group>,
    node: &str,
    labels: &BTreeMap<String, String>,
) -> Option<&'a str> {
    groups
        .iter()
        .filter(|(name, g)| g.claims(name, node, labels))
        .min_by(|(an, a), (bn, b)| (a.created, an).cmp(&(b.created, bn)))
        .map(|(name, _)| name.as_str())
}

/// What the controller keeps of a node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub labels: BTreeMap<String, String>,
    pub ready: bool,
}

/// A group's members as the nodes' labels say now.
#[derive(Debug, Default, PartialEq)]
pub struct Members {
    pub nodes: Vec<String>,
    pub ready: usize,
    /// (node, the group it belongs to) for nodes this group wants but
    /// an older group has.
    pub conflicts: Vec<(String, String)>,
}

pub fn members(
    name: &str,
    groups: &BTreeMap<String, Group>,
    nodes: &HashMap<String, NodeView>,
) -> Members {
    let mut m = Members::default();
    let Some(group) = groups.get(name) else {
        return m;
    };
    for (node, view) in nodes {
        if view.labels.get(GROUP_LABEL).is_some_and(|g| g == name) {
            m.nodes.push(node.clone());
            if view.ready {
                m.ready += 1;
            }
        }
        if group.claims(name, node, &view.labels)
            && let Some(other) = owner(groups, node, &view.labels)
            && other != name
        {
            m.conflicts.push((node.clone(), other.to_owned()));
        }
    }
    m.nodes.sort();
    m.conflicts.sort();
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, LabelSelectorRequirement, ObjectMeta, Time,
    };

    use crate::nodegroup::types::NodeGroupSpec;

    fn group(
        name: &str,
        created: i64,
        nodes: &[&str],
        selector: Option<LabelSelector>,
    ) -> (String, Group) {
        let ng = NodeGroup {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(Timestamp::from_second(created).expect("ts"))),
                ..ObjectMeta::default()
            },
            spec: NodeGroupSpec {
                nodes: nodes.iter().map(|s| s.to_string()).collect(),
                selector,
            },
        };
        (name.to_owned(), Group::of(&ng))
    }

    fn match_labels(k: &str, v: &str) -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: Some([(k.to_owned(), v.to_owned())].into()),
            ..LabelSelector::default()
        })
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_and_selectors_claim_and_the_oldest_group_wins() {
        let groups: BTreeMap<String, Group> = [
            group("berlin", 100, &["edge-9"], match_labels("site", "berlin")),
            group("all-edge", 50, &[], match_labels("tier", "edge")),
            group("paris", 200, &[], match_labels("site", "paris")),
        ]
        .into();
        let berlin = labels(&[("site", "berlin")]);
        assert_eq!(owner(&groups, "edge-1", &berlin), Some("berlin"));
        assert_eq!(owner(&groups, "edge-9", &labels(&[])), Some("berlin"));
        let both = labels(&[("site", "berlin"), ("tier", "edge")]);
        assert_eq!(
            owner(&groups, "edge-2", &both),
            Some("all-edge"),
            "older group wins"
        );
        assert_eq!(owner(&groups, "edge-3", &labels(&[("site", "rome")])), None);
    }

    #[test]
    fn equal_ages_break_ties_by_name() {
        let groups: BTreeMap<String, Group> =
            [group("b", 1, &["n"], None), group("a", 1, &["n"], None)].into();
        assert_eq!(owner(&groups, "n", &labels(&[])), Some("a"));
    }

    #[test]
    fn invalid_selectors_freeze_membership() {
        let bad = Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "site".into(),
                operator: "Near".into(),
                values: None,
            }]),
            ..LabelSelector::default()
        });
        let self_ref = match_labels(GROUP_LABEL, "x");
        let groups: BTreeMap<String, Group> =
            [group("x", 1, &[], bad), group("y", 2, &[], self_ref)].into();
        assert!(groups["x"].invalid().is_some());
        assert!(
            groups["y"]
                .invalid()
                .is_some_and(|m| m.contains(GROUP_LABEL))
        );
        assert_eq!(
            owner(&groups, "n1", &labels(&[(GROUP_LABEL, "x")])),
            Some("x")
        );
        assert_eq!(owner(&groups, "n2", &labels(&[("site", "a")])), None);
    }

    #[test]
    fn members_come_from_labels_and_conflicts_are_reported() {
        let groups: BTreeMap<String, Group> = [
            group("old", 1, &["n2"], None),
            group("new", 2, &["n1", "n2"], None),
        ]
        .into();
        let nodes: HashMap<String, NodeView> = [
            (
                "n1".to_owned(),
                NodeView {
                    labels: labels(&[(GROUP_LABEL, "new")]),
                    ready: true,
                },
            ),
            (
                "n2".to_owned(),
                NodeView {
                    labels: labels(&[(GROUP_LABEL, "old")]),
                    ready: false,
                },
            ),
            (
                "n3".to_owned(),
                NodeView {
                    labels: labels(&[]),
                    ready: true,
                },
            ),
        ]
        .into();
        let m = members("new", &groups, &nodes);
        assert_eq!(m.nodes, vec!["n1"]);
        assert_eq!(m.ready, 1);
        assert_eq!(m.conflicts, vec![("n2".to_owned(), "old".to_owned())]);
        let m = members("old", &groups, &nodes);
        assert_eq!((m.nodes.len(), m.ready), (1, 0));
        assert_eq!(members("gone", &groups, &nodes), Members::default());
    }
}
