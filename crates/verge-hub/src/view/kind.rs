//! The resource kinds a node view holds, and how their storage keys map to
//! the protocol's object keys.

use verge_protocol::pb;

/// A resource an edge node may hold. Services, endpoints and devices bound
/// to a node join here when their issues land (each with its routing rule in
/// [`super::View`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Node,
    Pod,
    ConfigMap,
    Secret,
    ServiceAccount,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Node,
        Kind::Pod,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::ServiceAccount,
    ];

    /// The plural resource name (all are core/v1).
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::ServiceAccount => "serviceaccounts",
        }
    }

    /// The watch-cache prefix every object of the kind lives under.
    pub fn storage_prefix(self) -> &'static str {
        match self {
            Kind::Node => "/registry/nodes/",
            Kind::Pod => "/registry/pods/",
            Kind::ConfigMap => "/registry/configmaps/",
            Kind::Secret => "/registry/secrets/",
            Kind::ServiceAccount => "/registry/serviceaccounts/",
        }
    }

    pub fn namespaced(self) -> bool {
        self != Kind::Node
    }

    /// The kind a storage key belongs to.
    pub fn of_storage_key(key: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| key.starts_with(k.storage_prefix()))
    }

    /// The kind of a protocol resource, if a node view can hold it.
    pub fn of_resource(kind: &pb::ResourceKind) -> Option<Kind> {
        if !kind.group.is_empty() || kind.version != "v1" {
            return None;
        }
        Kind::ALL
            .into_iter()
            .find(|k| k.resource() == kind.resource)
    }

    pub fn storage_key(self, namespace: &str, name: &str) -> String {
        if self.namespaced() {
            format!("{}{namespace}/{name}", self.storage_prefix())
        } else {
            format!("{}{name}", self.storage_prefix())
        }
    }

    pub fn resource_kind(self) -> pb::ResourceKind {
        pb::ResourceKind {
            group: String::new(),
            version: "v1".into(),
            resource: self.resource().into(),
        }
    }
}

/// (namespace, name) of a storage key of `kind`; namespace is empty for
/// cluster-scoped kinds.
pub fn split_key(kind: Kind, key: &str) -> (&str, &str) {
    let rest = key.strip_prefix(kind.storage_prefix()).unwrap_or(key);
    if kind.namespaced() {
        rest.split_once('/').unwrap_or(("", rest))
    } else {
        ("", rest)
    }
}

/// The protocol key of the object stored under `key`.
pub fn object_key(kind: Kind, key: &str, uid: &str) -> pb::ObjectKey {
    let (namespace, name) = split_key(kind, key);
    pb::ObjectKey {
        kind: Some(kind.resource_kind()),
        namespace: namespace.into(),
        name: name.into(),
        uid: uid.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_keys_round_trip_through_protocol_keys() {
        for kind in Kind::ALL {
            let key = kind.storage_key("ns", "a");
            assert_eq!(Kind::of_storage_key(&key), Some(kind));
            let pk = object_key(kind, &key, "u1");
            let rk = pk.kind.as_ref().expect("kind");
            assert_eq!(Kind::of_resource(rk), Some(kind));
            assert_eq!(kind.storage_key(&pk.namespace, &pk.name), key);
            assert_eq!(pk.uid, "u1");
        }
        assert_eq!(split_key(Kind::Node, "/registry/nodes/n1"), ("", "n1"));
        assert_eq!(Kind::of_storage_key("/registry/leases/x/y"), None);
        let apps = pb::ResourceKind {
            group: "apps".into(),
            version: "v1".into(),
            resource: "pods".into(),
        };
        assert_eq!(Kind::of_resource(&apps), None);
    }
}
