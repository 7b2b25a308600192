//! Planning EndpointSlice changes: given the endpoints a Service should have
//! (grouped by address type and resolved ports) and the slices that exist,
//! what to update, create and delete — touching as few slices as possible,
//! as Kubernetes' EndpointSlice reconciler does: endpoints stay in the slice
//! they are in, new ones fill slices that change anyway, then slices with
//! room, then new slices of at most `max` endpoints.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Port {
    pub name: String,
    pub port: i32,
    pub protocol: String,
    pub app_protocol: Option<String>,
}

/// (address type, ports): the endpoints of one group share both.
pub type Group = (String, Vec<Port>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ep {
    pub address: String,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    pub node: Option<String>,
    pub hostname: Option<String>,
    pub pod_name: String,
    pub pod_uid: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    pub name: String,
    pub group: Group,
    pub endpoints: Vec<Ep>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Existing slices to rewrite with these endpoints.
    pub update: Vec<Slice>,
    /// New slices (their names are generated).
    pub create: Vec<(Group, Vec<Ep>)>,
    pub delete: Vec<String>,
}

/// The placeholder group: a Service with no endpoints keeps one empty
/// slice, so watchers can tell "no endpoints" from "not processed yet".
pub fn placeholder() -> Group {
    ("IPv4".to_owned(), Vec::new())
}

pub fn plan(desired: &BTreeMap<Group, Vec<Ep>>, existing: Vec<Slice>, max: usize) -> Plan {
    let max = max.max(1);
    let mut out = Plan::default();
    let mut by_group: BTreeMap<Group, Vec<Slice>> = BTreeMap::new();
    for s in existing {
        if desired.contains_key(&s.group) {
            by_group.entry(s.group.clone()).or_default().push(s);
        } else {
            out.delete.push(s.name);
        }
    }
    for (group, eps) in desired {
        let slices = by_group.remove(group).unwrap_or_default();
        if eps.is_empty() {
            // Keep exactly one empty slice for the group.
            let mut slices = slices.into_iter();
            match slices.next() {
                Some(first) if first.endpoints.is_empty() => {}
                Some(mut first) => {
                    first.endpoints.clear();
                    out.update.push(first);
                }
                None => out.create.push((group.clone(), Vec::new())),
            }
            out.delete.extend(slices.map(|s| s.name));
            continue;
        }
        let wanted: BTreeMap<&str, &Ep> = eps.iter().map(|e| (e.address.as_str(), e)).collect();
        let mut placed: BTreeSet<&str> = BTreeSet::new();
        // (slice, changed)
        let mut kept: Vec<(Slice, bool)> = Vec::new();
        for s in slices {
            let mut next = Vec::with_capacity(s.endpoints.len());
            for e in &s.endpoints {
                if let Some(w) = wanted.get(e.address.as_str())
                    && placed.insert(w.address.as_str())
                {
                    next.push((*w).clone());
                }
            }
            if next.is_empty() {
                out.delete.push(s.name);
                continue;
            }
            let changed = next != s.endpoints;
            kept.push((
                Slice {
                    endpoints: next,
                    ..s
                },
                changed,
            ));
        }
        let mut fresh: Vec<&Ep> = eps
            .iter()
            .filter(|e| !placed.contains(e.address.as_str()))
            .collect();
        // Fill slices that are rewritten anyway, then the others with room.
        kept.sort_by_key(|(_, changed)| !*changed);
        for (s, changed) in &mut kept {
            while s.endpoints.len() < max {
                let Some(e) = fresh.pop() else { break };
                s.endpoints.push(e.clone());
                *changed = true;
            }
        }
        for (s, changed) in kept {
            if changed {
                out.update.push(s);
            }
        }
        fresh.reverse();
        for chunk in fresh.chunks(max) {
            out.create
                .push((group.clone(), chunk.iter().map(|e| (*e).clone()).collect()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(i: usize) -> Ep {
        Ep {
            address: format!("10.0.{}.{}", i / 250, i % 250),
            ready: true,
            serving: true,
            terminating: false,
            node: None,
            hostname: None,
            pod_name: format!("p{i}"),
            pod_uid: format!("u{i}"),
        }
    }

    fn group() -> Group {
        (
            "IPv4".into(),
            vec![Port {
                name: "http".into(),
                port: 80,
                protocol: "TCP".into(),
                app_protocol: None,
            }],
        )
    }

    #[test]
    fn new_endpoints_are_packed_by_the_hundred() {
        let desired = BTreeMap::from([(group(), (0..250).map(ep).collect::<Vec<_>>())]);
        let p = plan(&desired, vec![], 100);
        assert!(p.update.is_empty() && p.delete.is_empty());
        let sizes: Vec<usize> = p.create.iter().map(|(_, e)| e.len()).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
    }

    #[test]
    fn a_change_touches_only_its_slice() {
        let existing = vec![
            Slice {
                name: "a".into(),
                group: group(),
                endpoints: (0..100).map(ep).collect(),
            },
            Slice {
                name: "b".into(),
                group: group(),
                endpoints: (100..150).map(ep).collect(),
            },
        ];
        // One endpoint of `b` turns unready; one of `a` goes; one is new.
        let mut eps: Vec<Ep> = (1..150).map(ep).collect();
        let last = eps.len() - 1;
        eps[last].ready = false;
        eps.push(ep(150));
        let desired = BTreeMap::from([(group(), eps)]);
        let p = plan(&desired, existing, 100);
        assert!(p.create.is_empty() && p.delete.is_empty());
        let names: Vec<&str> = p.update.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 2);
        // The new endpoint went into a slice that changed anyway.
        let total: usize = p.update.iter().map(|s| s.endpoints.len()).sum();
        assert_eq!(total, 150);

        // Nothing changed: nothing written.
        let existing = vec![Slice {
            name: "a".into(),
            group: group(),
            endpoints: (0..3).map(ep).collect(),
        }];
        let desired = BTreeMap::from([(group(), (0..3).map(ep).collect())]);
        assert_eq!(plan(&desired, existing, 100), Plan::default());
    }

    #[test]
    fn other_port_sets_move_and_empty_services_keep_a_placeholder() {
        let existing = vec![Slice {
            name: "old".into(),
            group: group(),
            endpoints: vec![ep(1)],
        }];
        let desired = BTreeMap::from([(placeholder(), vec![])]);
        let p = plan(&desired, existing, 100);
        assert_eq!(p.delete, vec!["old".to_owned()]);
        assert_eq!(p.create, vec![(placeholder(), vec![])]);
        let existing = vec![Slice {
            name: "ph".into(),
            group: placeholder(),
            endpoints: vec![],
        }];
        assert_eq!(plan(&desired, existing, 100), Plan::default());
    }
}
