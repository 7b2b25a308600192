//! Completion indexes of Indexed Jobs: which index a pod works on, and the
//! compressed interval form (`"0-2,5,7-9"`) `status.completedIndexes` uses.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

/// Annotation (and label) carrying a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The completion index a pod was created for, if it has a valid one.
pub fn index_of(pod: &Pod) -> Option<i32> {
    let meta = &pod.metadata;
    let raw = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(COMPLETION_INDEX))
        .or_else(|| meta.labels.as_ref().and_then(|l| l.get(COMPLETION_INDEX)))?;
    // kube accepts only canonical decimal numbers ("07" is not index 7).
    let n: i32 = raw.parse().ok()?;
    (n >= 0 && n.to_string() == *raw).then_some(n)
}

/// A set of completion indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexSet(BTreeSet<i32>);

impl IndexSet {
    /// Parses the interval form, keeping indexes below `completions` and
    /// skipping anything malformed (the status is ours; garbage in it must
    /// not stop the Job).
    pub fn parse(text: &str, completions: i32) -> IndexSet {
        let mut set = BTreeSet::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
                None => (part.parse::<i32>(), part.parse::<i32>()),
            };
            let (Ok(lo), Ok(hi)) = (lo, hi) else {
                continue;
            };
            for i in lo.max(0)..=hi.min(completions - 1) {
                set.insert(i);
            }
        }
        IndexSet(set)
    }

    pub fn insert(&mut self, i: i32) -> bool {
        self.0.insert(i)
    }

    pub fn contains(&self, i: i32) -> bool {
        self.0.contains(&i)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The interval form; every run of two or more is written `a-b`.
    pub fn format(&self) -> String {
        let mut out = String::new();
        let mut iter = self.0.iter().copied().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            if !out.is_empty() {
                out.push(',');
            }
            if end == start {
                out.push_str(&start.to_string());
            } else {
                out.push_str(&format!("{start}-{end}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn interval_form_round_trips() {
        let s = IndexSet::parse("0-2,5,7-8", 10);
        assert_eq!(s.len(), 6);
        assert!(s.contains(1) && s.contains(5) && !s.contains(6));
        assert_eq!(s.format(), "0-2,5,7-8");
        assert_eq!(IndexSet::parse("3,4", 10).format(), "3-4");
        assert_eq!(
            IndexSet::parse("0-20", 3).format(),
            "0-2",
            "clamped to completions"
        );
        assert_eq!(IndexSet::parse("x,1,-", 3).format(), "1", "garbage skipped");
        assert_eq!(IndexSet::parse("", 3).len(), 0);
    }

    #[test]
    fn pod_index_must_be_canonical() {
        let pod = |v: &str| Pod {
            metadata: ObjectMeta {
                annotations: Some([(COMPLETION_INDEX.to_owned(), v.to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        };
        assert_eq!(index_of(&pod("3")), Some(3));
        assert_eq!(index_of(&pod("03")), None);
        assert_eq!(index_of(&pod("-1")), None);
        assert_eq!(index_of(&Pod::default()), None);
    }
}
