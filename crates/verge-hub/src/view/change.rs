//! A change for one node, and its protocol form.

use std::sync::Arc;

use bytes::Bytes;
use verge_protocol::pb;
use verge_store::Revision;

use super::kind::{Kind, object_key};

/// One change to send to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The global store revision at which the change happened (for an object
    /// entering or leaving the view: the revision of the write that moved it).
    pub revision: Revision,
    pub kind: Kind,
    /// The object's storage key; the node's queue coalesces by it.
    pub key: Arc<str>,
    pub uid: Arc<str>,
    /// The object's resourceVersion after the change (for a delete, the
    /// revision of the delete or of the write that took it out of the view).
    pub resource_version: Revision,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// The whole object, JSON, sharing the watch cache's buffer.
    Upsert(Bytes),
    Delete,
}

impl Change {
    pub fn is_delete(&self) -> bool {
        matches!(self.op, Op::Delete)
    }

    /// Roughly what the change costs on the wire, for batch sizing.
    pub fn wire_size(&self) -> usize {
        let body = match &self.op {
            Op::Upsert(b) => b.len(),
            Op::Delete => 0,
        };
        body + self.key.len() + self.uid.len() + 48
    }

    /// The protocol message. The object bytes are shared, not copied.
    pub fn to_proto(&self) -> pb::ObjectChange {
        let change = match &self.op {
            Op::Upsert(bytes) => pb::object_change::Change::Upsert(pb::Upsert {
                object: bytes.clone(),
            }),
            Op::Delete => pb::object_change::Change::Delete(pb::Delete {}),
        };
        pb::ObjectChange {
            key: Some(object_key(self.kind, &self.key, &self.uid)),
            resource_version: self.resource_version.to_string(),
            change: Some(change),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_share_the_cached_bytes() {
        let bytes = Bytes::from_static(br#"{"kind":"ConfigMap"}"#);
        let c = Change {
            revision: 7,
            kind: Kind::ConfigMap,
            key: "/registry/configmaps/ns/a".into(),
            uid: "u".into(),
            resource_version: 7,
            op: Op::Upsert(bytes.clone()),
        };
        let p = c.to_proto();
        let Some(pb::object_change::Change::Upsert(up)) = &p.change else {
            panic!("an upsert: {p:?}");
        };
        assert_eq!(up.object.as_ptr(), bytes.as_ptr(), "no copy");
        let key = p.key.expect("key");
        assert_eq!((key.namespace.as_str(), key.name.as_str()), ("ns", "a"));
        assert_eq!(p.resource_version, "7");
    }
}
