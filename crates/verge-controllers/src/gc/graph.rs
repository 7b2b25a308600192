//! The owner graph: every object by uid with the uids of its owners, and
//! the reverse edges. It holds no copy of any object: a storage key, a few
//! flags and the owner links, so 100,000 objects cost a few megabytes.

use std::collections::{HashMap, HashSet};

use super::meta::{Meta, Uid};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub owner: Uid,
    /// `blockOwnerDeletion`: a foreground deletion of the owner waits for
    /// this dependent.
    pub blocks: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub key: Box<str>,
    pub owners: Box<[Link]>,
    /// An owner reference whose uid is not a uid (it can name nothing).
    pub bad_owner: bool,
    pub deleting: bool,
    pub deleting_dependents: bool,
    pub orphaning: bool,
}

impl Node {
    pub fn from_meta(key: &str, meta: &Meta) -> Node {
        let mut bad_owner = false;
        let mut owners = Vec::with_capacity(meta.owners().len());
        for r in meta.owners() {
            match Uid::parse(&r.uid) {
                Some(owner) => owners.push(Link {
                    owner,
                    blocks: r.blocks(),
                }),
                None => bad_owner = true,
            }
        }
        Node {
            key: key.into(),
            owners: owners.into_boxed_slice(),
            bad_owner,
            deleting: meta.is_deleting(),
            deleting_dependents: meta.is_deleting_dependents(),
            orphaning: meta.is_orphaning(),
        }
    }

    fn link_to(&self, owner: Uid) -> Option<&Link> {
        self.owners.iter().find(|l| l.owner == owner)
    }
}

#[derive(Default)]
pub struct Graph {
    nodes: HashMap<Uid, Node>,
    /// Owner uid → uids of objects that name it, whether the owner exists
    /// or not (a missing owner is how dangling dependents are found).
    dependents: HashMap<Uid, HashSet<Uid>>,
}

impl Graph {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn get(&self, uid: Uid) -> Option<&Node> {
        self.nodes.get(&uid)
    }

    pub fn key_of(&self, uid: Uid) -> Option<Box<str>> {
        self.nodes.get(&uid).map(|n| n.key.clone())
    }

    pub fn is_deleting_dependents(&self, uid: Uid) -> bool {
        self.nodes.get(&uid).is_some_and(|n| n.deleting_dependents)
    }

    pub fn dependents(&self, owner: Uid) -> Vec<Uid> {
        self.dependents
            .get(&owner)
            .map(|d| d.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Records `node` as the state of `uid`; returns its previous state.
    pub fn upsert(&mut self, uid: Uid, node: Node) -> Option<Node> {
        let old = self.nodes.insert(uid, node);
        if let Some(old) = &old {
            for l in old.owners.iter() {
                self.unlink(l.owner, uid);
            }
        }
        let links: Vec<Uid> = self.nodes[&uid].owners.iter().map(|l| l.owner).collect();
        for owner in links {
            self.dependents.entry(owner).or_default().insert(uid);
        }
        old
    }

    pub fn remove(&mut self, uid: Uid) -> Option<Node> {
        let old = self.nodes.remove(&uid)?;
        for l in old.owners.iter() {
            self.unlink(l.owner, uid);
        }
        Some(old)
    }

    fn unlink(&mut self, owner: Uid, dependent: Uid) {
        if let Some(d) = self.dependents.get_mut(&owner) {
            d.remove(&dependent);
            if d.is_empty() {
                self.dependents.remove(&owner);
            }
        }
    }

    pub fn clear(&mut self) {
        self.nodes.clear();
        self.dependents.clear();
    }

    /// The dependents a foreground deletion of `owner` waits for: those
    /// with `blockOwnerDeletion` on their reference to it, except `owner`
    /// itself and dependents that are themselves waiting, through a chain
    /// of blocking references, for `owner` to go (an ownership cycle: each
    /// would wait for the other forever).
    pub fn blocking_dependents(&self, owner: Uid) -> Vec<Uid> {
        let mut out = Vec::new();
        for dep in self.dependents(owner) {
            if dep == owner {
                continue;
            }
            let Some(node) = self.nodes.get(&dep) else {
                continue;
            };
            if !node.link_to(owner).is_some_and(|l| l.blocks) {
                continue;
            }
            if node.deleting_dependents && self.waits_for(dep, owner) {
                continue;
            }
            out.push(dep);
        }
        out
    }

    /// Whether the foreground deletion of `from` (transitively) waits for
    /// `target`: is `target` reachable along blocking dependent edges?
    fn waits_for(&self, from: Uid, target: Uid) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![from];
        while let Some(at) = stack.pop() {
            if !seen.insert(at) {
                continue;
            }
            for dep in self.dependents.get(&at).into_iter().flatten() {
                let blocks = self
                    .nodes
                    .get(dep)
                    .and_then(|n| n.link_to(at))
                    .is_some_and(|l| l.blocks);
                if !blocks {
                    continue;
                }
                if *dep == target {
                    return true;
                }
                stack.push(*dep);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: &str, owners: &[(u128, bool)], fg: bool) -> Node {
        Node {
            key: key.into(),
            owners: owners
                .iter()
                .map(|&(o, blocks)| Link {
                    owner: Uid(o),
                    blocks,
                })
                .collect(),
            bad_owner: false,
            deleting: fg,
            deleting_dependents: fg,
            orphaning: false,
        }
    }

    #[test]
    fn reverse_edges_follow_changes() {
        let mut g = Graph::default();
        g.upsert(Uid(2), node("b", &[(1, true)], false));
        g.upsert(Uid(3), node("c", &[(1, false)], false));
        let mut deps = g.dependents(Uid(1));
        deps.sort();
        assert_eq!(deps, vec![Uid(2), Uid(3)]);
        assert_eq!(g.blocking_dependents(Uid(1)), vec![Uid(2)]);
        // Changing owners moves the reverse edge.
        g.upsert(Uid(2), node("b", &[(9, true)], false));
        assert_eq!(g.dependents(Uid(1)), vec![Uid(3)]);
        assert_eq!(g.dependents(Uid(9)), vec![Uid(2)]);
        g.remove(Uid(3));
        assert!(g.dependents(Uid(1)).is_empty());
        assert!(
            !g.dependents.contains_key(&Uid(1)),
            "empty sets are dropped"
        );
    }

    #[test]
    fn cycles_do_not_block_a_foreground_deletion() {
        let mut g = Graph::default();
        // a ⇄ b, both blocking, both being deleted in the foreground.
        g.upsert(Uid(1), node("a", &[(2, true)], true));
        g.upsert(Uid(2), node("b", &[(1, true)], true));
        assert!(g.blocking_dependents(Uid(1)).is_empty());
        assert!(g.blocking_dependents(Uid(2)).is_empty());
        // A self-reference does not block either.
        g.upsert(Uid(5), node("self", &[(5, true)], true));
        assert!(g.blocking_dependents(Uid(5)).is_empty());
        // A dependent in the foreground that does not wait for us still blocks.
        g.upsert(Uid(7), node("c", &[(1, true)], true));
        assert_eq!(g.blocking_dependents(Uid(1)), vec![Uid(7)]);
    }
}
