//! Sets of fields, and their FieldsV1 serialization.
//!
//! FieldsV1 (`metadata.managedFields[].fieldsV1`) is a tree of JSON objects
//! whose keys are path elements (`f:<field>`, `k:<key json>`, `v:<value
//! json>`, `i:<index>`). A key whose value is `{}` is a field in the set; a
//! key whose value has children is a step towards deeper fields, and is in
//! the set itself only when its children include `".": {}`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::path::{Path, PathElement};

/// A set of field paths: the fields one manager owns, or the fields an
/// applied configuration sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    paths: BTreeSet<Path>,
}

/// Why a FieldsV1 value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fieldsV1 at {at:?}: {message}")]
pub struct FieldsV1Error {
    /// Where in the FieldsV1 tree: the path read so far.
    pub at: String,
    pub message: String,
}

impl FieldSet {
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Adds `path`; returns whether it was new.
    pub fn insert(&mut self, path: Path) -> bool {
        self.paths.insert(path)
    }

    pub fn remove(&mut self, path: &Path) -> bool {
        self.paths.remove(path)
    }

    pub fn contains(&self, path: &Path) -> bool {
        self.paths.contains(path)
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// The paths, sorted.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Path> {
        self.paths.iter()
    }

    /// Paths of this set at or under `prefix`.
    pub fn under<'a>(&'a self, prefix: &'a Path) -> impl Iterator<Item = &'a Path> + 'a {
        self.paths
            .range(prefix.clone()..)
            .take_while(move |p| p.starts_with(prefix))
    }

    /// Whether the set has a path strictly under `prefix`.
    pub fn has_descendant(&self, prefix: &Path) -> bool {
        self.under(prefix).any(|p| p.len() > prefix.len())
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.union(&other.paths).cloned().collect(),
        }
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.difference(&other.paths).cloned().collect(),
        }
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.intersection(&other.paths).cloned().collect(),
        }
    }

    /// Adds every path of `other`.
    pub fn extend(&mut self, other: &FieldSet) {
        self.paths.extend(other.paths.iter().cloned());
    }

    /// Removes every path of `other`.
    pub fn subtract(&mut self, other: &FieldSet) {
        if other.is_empty() {
            return;
        }
        self.paths.retain(|p| !other.paths.contains(p));
    }

    /// Removes every path at or under `prefix`.
    pub fn remove_under(&mut self, prefix: &Path) {
        let doomed: Vec<Path> = self.under(prefix).cloned().collect();
        for p in doomed {
            self.paths.remove(&p);
        }
    }

    /// Reads a FieldsV1 tree.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, FieldsV1Error> {
        let mut paths = Vec::new();
        let mut path = Path::default();
        read_node(v, &mut path, &mut paths)?;
        // Trees written in order give sorted paths: the set is then built
        // in one pass instead of one search per path.
        Ok(FieldSet {
            paths: paths.into_iter().collect(),
        })
    }

    /// The FieldsV1 tree of this set, keys in the order kube-apiserver
    /// writes them (`.` first, then fields, keys, values, indexes).
    pub fn to_fields_v1(&self) -> Value {
        // Sorted paths list each subtree contiguously, its own path first.
        let paths: Vec<&Path> = self.paths.iter().filter(|p| !p.is_empty()).collect();
        let mut out = Map::new();
        write_level(&paths, 0, &mut out);
        Value::Object(out)
    }
}

impl FromIterator<Path> for FieldSet {
    fn from_iter<I: IntoIterator<Item = Path>>(iter: I) -> Self {
        FieldSet {
            paths: iter.into_iter().collect(),
        }
    }
}

impl<'a> IntoIterator for &'a FieldSet {
    type Item = &'a Path;
    type IntoIter = std::collections::btree_set::Iter<'a, Path>;

    fn into_iter(self) -> Self::IntoIter {
        self.paths.iter()
    }
}

/// Writes into `out` the FieldsV1 object of `paths` below their common
/// first `depth` elements: `paths` are sorted, longer than `depth`, and
/// share those.
fn write_level(paths: &[&Path], depth: usize, out: &mut Map<String, Value>) {
    let mut i = 0;
    while let Some(first) = paths.get(i) {
        let e = &first.0[depth];
        let end = paths[i..]
            .iter()
            .position(|p| p.0[depth] != *e)
            .map_or(paths.len(), |n| i + n);
        // The group's own path sorts before its descendants.
        let member = first.len() == depth + 1;
        let below = &paths[if member { i + 1 } else { i }..end];
        let mut inner = Map::new();
        if member && !below.is_empty() {
            inner.insert(".".into(), Value::Object(Map::new()));
        }
        write_level(below, depth + 1, &mut inner);
        out.insert(e.to_fields_v1_key(), Value::Object(inner));
        i = end;
    }
}

fn read_node(v: &Value, path: &mut Path, set: &mut Vec<Path>) -> Result<(), FieldsV1Error> {
    let err = |path: &Path, message: String| FieldsV1Error {
        at: path.to_string(),
        message,
    };
    let Value::Object(m) = v else {
        return Err(err(path, "expected a JSON object".into()));
    };
    for (k, child) in m {
        if k == "." {
            if !path.is_empty() {
                set.push(path.clone());
            }
            continue;
        }
        let e = PathElement::from_fields_v1_key(k).map_err(|m| err(path, m))?;
        path.0.push(e);
        match child {
            Value::Object(c) if c.is_empty() => {
                set.push(path.clone());
            }
            Value::Object(_) => read_node(child, path, set)?,
            _ => return Err(err(path, "expected a JSON object".into())),
        }
        path.0.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// The FieldsV1 writer before `write_level`: a tree of nodes first.
    fn reference_fields_v1(set: &FieldSet) -> Value {
        #[derive(Default)]
        struct Node {
            member: bool,
            children: BTreeMap<PathElement, Node>,
        }
        fn write(node: &Node) -> Map<String, Value> {
            let mut out = Map::new();
            for (e, child) in &node.children {
                let mut inner = Map::new();
                if child.member && !child.children.is_empty() {
                    inner.insert(".".into(), Value::Object(Map::new()));
                }
                inner.extend(write(child));
                out.insert(e.to_fields_v1_key(), Value::Object(inner));
            }
            out
        }
        let mut root = Node::default();
        for p in set.iter() {
            let mut node = &mut root;
            for e in p.elements() {
                node = node.children.entry(e.clone()).or_default();
            }
            node.member = true;
        }
        Value::Object(write(&root))
    }

    fn element() -> impl Strategy<Value = PathElement> {
        prop_oneof![
            prop::sample::select(vec!["a", "b", "spec", "x.y"]).prop_map(PathElement::field),
            prop::sample::select(vec!["c1", "c2"])
                .prop_map(|n| PathElement::key([("name", &json!(n))])),
            (0i64..3, prop::sample::select(vec!["TCP", "UDP"])).prop_map(|(p, t)| {
                PathElement::key([("containerPort", &json!(p)), ("protocol", &json!(t))])
            }),
            prop::sample::select(vec!["v", "w"]).prop_map(|v| PathElement::value(&json!(v))),
            (0usize..3).prop_map(PathElement::Index),
        ]
    }

    fn field_set() -> impl Strategy<Value = FieldSet> {
        prop::collection::vec(prop::collection::vec(element(), 0..5).prop_map(Path), 0..24)
            .prop_map(|paths| paths.into_iter().collect())
    }

    proptest! {
        #[test]
        fn fields_v1_is_written_as_before_and_reads_back(set in field_set()) {
            let v = set.to_fields_v1();
            prop_assert_eq!(v.to_string(), reference_fields_v1(&set).to_string());
            let mut without_root = set.clone();
            without_root.remove(&Path::default());
            prop_assert_eq!(FieldSet::from_fields_v1(&v).ok(), Some(without_root));
        }
    }

    #[test]
    fn members_with_children_get_a_dot() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}}}}
        });
        let set = FieldSet::from_fields_v1(&v).expect("set");
        assert_eq!(set.len(), 4);
        assert!(set.contains(&Path::fields(["metadata", "labels"])));
        assert!(!set.contains(&Path::fields(["spec"])));
        assert_eq!(set.to_fields_v1(), v);
    }

    #[test]
    fn rejects_malformed_trees() {
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"x:a": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
    }

    #[test]
    fn under_finds_descendants_only() {
        let set: FieldSet = [
            Path::fields(["a"]),
            Path::fields(["a", "b"]),
            Path::fields(["ab"]),
        ]
        .into_iter()
        .collect();
        let a = Path::fields(["a"]);
        assert_eq!(set.under(&a).count(), 2);
        assert!(set.has_descendant(&a));
        assert!(!set.has_descendant(&Path::fields(["ab"])));
    }
}
