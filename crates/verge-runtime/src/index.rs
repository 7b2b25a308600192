use std::collections::{HashMap, HashSet};

/// A many-to-many index from values (an owner's uid, a node's name) to the
/// storage keys of the objects that carry them.
#[derive(Debug, Default)]
pub struct Index {
    by_value: HashMap<String, HashSet<String>>,
    by_key: HashMap<String, Vec<String>>,
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    /// Records that `key` now carries exactly `values`.
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        if self.by_key.get(key).is_some_and(|old| *old == values) {
            return;
        }
        self.remove(key);
        if values.is_empty() {
            return;
        }
        for v in &values {
            self.by_value
                .entry(v.clone())
                .or_default()
                .insert(key.to_owned());
        }
        self.by_key.insert(key.to_owned(), values);
    }

    pub fn remove(&mut self, key: &str) {
        let Some(values) = self.by_key.remove(key) else {
            return;
        };
        for v in values {
            if let Some(keys) = self.by_value.get_mut(&v) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_value.remove(&v);
                }
            }
        }
    }

    /// The keys of objects carrying `value`.
    pub fn get(&self, value: &str) -> impl Iterator<Item = &String> {
        self.by_value.get(value).into_iter().flatten()
    }

    pub fn count(&self, value: &str) -> usize {
        self.by_value.get(value).map_or(0, HashSet::len)
    }

    /// The values `key` carries.
    pub fn values_of(&self, key: &str) -> &[String] {
        self.by_key.get(key).map_or(&[], Vec::as_slice)
    }

    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.by_value.keys()
    }

    pub fn clear(&mut self) {
        self.by_value.clear();
        self.by_key.clear();
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_remove_forgets() {
        let mut idx = Index::new();
        idx.set("a", vec!["n1".into()]);
        idx.set("b", vec!["n1".into(), "n2".into()]);
        assert_eq!(idx.count("n1"), 2);
        idx.set("a", vec!["n2".into()]);
        assert_eq!(idx.count("n1"), 1);
        assert_eq!(idx.count("n2"), 2);
        idx.remove("b");
        assert_eq!(idx.count("n1"), 0);
        assert_eq!(idx.get("n2").collect::<Vec<_>>(), vec!["a"]);
        idx.set("a", vec![]);
        assert!(idx.is_empty());
        assert_eq!(idx.values().count(), 0);
    }
}
