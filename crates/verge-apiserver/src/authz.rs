//! Who may do what, for callers that are not cluster administrators.
//!
//! There is no RBAC yet; this grants what Kubernetes' default roles, the
//! node authorizer and NodeRestriction give to the identities that matter
//! for joining an edge node:
//!
//! - `system:masters`: everything.
//! - bootstrap tokens (`system:bootstrappers`) and nodes (`system:nodes`):
//!   create CertificateSigningRequests, and get/list/watch their own (list
//!   and watch only with `fieldSelector=metadata.name=<name>`, which is how
//!   kubelet and kube-rs wait for one request).
//! - nodes (`system:node:<name>`): get/create/update/patch their own Node
//!   and its status, get/list/watch it by name; get/create/update their own
//!   Lease in `kube-node-lease`.
//! - anyone, authenticated or not: get ConfigMap `kube-public/cluster-info`.
//!
//! Discovery, version and OpenAPI reads by any authenticated user are
//! allowed before routing (see `http::access`); everything else is denied.

use verge_pki::Identity;

use crate::bootstrap::BOOTSTRAPPERS_GROUP;

/// The group of cluster administrators.
pub const MASTERS_GROUP: &str = verge_pki::ADMIN_GROUP;
pub use verge_pki::{NODE_USER_PREFIX, NODES_GROUP};
/// The namespace of node heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The user of requests without credentials.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// The group of requests without credentials.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// Namespace and name of the ConfigMap joining nodes discover the cluster from.
pub const CLUSTER_INFO_NAMESPACE: &str = "kube-public";
pub const CLUSTER_INFO_NAME: &str = "cluster-info";

/// What a resource request does, in Kubernetes' authorization vocabulary.
#[derive(Clone, Copy, Debug)]
pub struct Attributes<'a> {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: &'a str,
    pub group: &'a str,
    /// The plural resource: "nodes".
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    /// The object's name; `None` for collections and creates.
    pub name: Option<&'a str>,
    /// For list and watch: the name a `metadata.name=` field selector pins.
    pub selected_name: Option<&'a str>,
}

/// Facts about stored objects that some rules depend on.
pub trait Facts {
    /// `spec.username` of the CertificateSigningRequest `name`, if it exists.
    fn csr_requester(&self, name: &str) -> Option<String>;
}

/// The outcome: allowed, or denied with the reason (for the debug log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(&'static str),
}

/// Whether the identity is a cluster administrator.
pub fn is_master(identity: &Identity) -> bool {
    identity.groups.iter().any(|g| g == MASTERS_GROUP)
}

pub fn is_bootstrapper(identity: &Identity) -> bool {
    identity.groups.iter().any(|g| g == BOOTSTRAPPERS_GROUP)
}

pub fn is_anonymous(identity: &Identity) -> bool {
    identity.user == ANONYMOUS_USER
}

/// The identity of a request that carries no credentials.
pub fn anonymous() -> Identity {
    Identity {
        user: ANONYMOUS_USER.to_string(),
        groups: vec![UNAUTHENTICATED_GROUP.to_string()],
    }
}

pub fn authorize(identity: &Identity, a: &Attributes<'_>, facts: &dyn Facts) -> Decision {
    if is_master(identity) {
        return Decision::Allow;
    }
    if a.group.is_empty()
        && a.resource == "configmaps"
        && a.subresource.is_none()
        && a.verb == "get"
        && a.namespace == Some(CLUSTER_INFO_NAMESPACE)
        && a.name == Some(CLUSTER_INFO_NAME)
    {
        return Decision::Allow;
    }
    if is_anonymous(identity) {
        return Decision::Deny("anonymous requests may only read cluster-info");
    }
    let node = identity.node_name();
    if a.group == "certificates.k8s.io" && a.resource == "certificatesigningrequests" {
        if node.is_none() && !is_bootstrapper(identity) {
            return Decision::Deny("only bootstrap tokens and nodes may request certificates");
        }
        return csr_rule(identity, a, facts);
    }
    let Some(node) = node else {
        return Decision::Deny("no rule grants this to the user");
    };
    if a.group.is_empty() && a.resource == "nodes" {
        return node_rule(node, a);
    }
    if a.group == "coordination.k8s.io" && a.resource == "leases" {
        return lease_rule(node, a);
    }
    Decision::Deny("nodes may only use their own Node, Lease and certificate requests")
}

fn csr_rule(identity: &Identity, a: &Attributes<'_>, facts: &dyn Facts) -> Decision {
    if a.subresource.is_some() {
        return Decision::Deny("only administrators may approve or sign certificate requests");
    }
    let own = |name: &str| {
        facts
            .csr_requester(name)
            .is_none_or(|requester| requester == identity.user)
    };
    match a.verb {
        "create" => Decision::Allow,
        "get" => match a.name {
            Some(name) if own(name) => Decision::Allow,
            _ => Decision::Deny("the certificate request belongs to another user"),
        },
        "list" | "watch" => match a.selected_name {
            Some(name) if own(name) => Decision::Allow,
            Some(_) => Decision::Deny("the certificate request belongs to another user"),
            None => Decision::Deny(
                "list and watch of certificate requests need fieldSelector=metadata.name=<own request>",
            ),
        },
        _ => Decision::Deny("certificate requests may only be created and read"),
    }
}

fn node_rule(node: &str, a: &Attributes<'_>) -> Decision {
    if !matches!(a.subresource, None | Some("status")) {
        return Decision::Deny("nodes may only write their own Node and its status");
    }
    match a.verb {
        // The name of a new Node is in the body; admission checks it.
        "create" if a.subresource.is_none() => Decision::Allow,
        "get" | "update" | "patch" if a.name == Some(node) => Decision::Allow,
        "list" | "watch" if a.subresource.is_none() && a.selected_name == Some(node) => {
            Decision::Allow
        }
        _ => Decision::Deny("nodes may only read and write their own Node"),
    }
}

fn lease_rule(node: &str, a: &Attributes<'_>) -> Decision {
    if a.namespace != Some(NODE_LEASE_NAMESPACE) || a.subresource.is_some() {
        return Decision::Deny("nodes may only use their own Lease in kube-node-lease");
    }
    match a.verb {
        "create" => Decision::Allow,
        "get" | "update" if a.name == Some(node) => Decision::Allow,
        _ => Decision::Deny("nodes may only get, create and update their own Lease"),
    }
}

/// Kubernetes' wording of a denial:
/// `User "u" cannot get resource "secrets" in API group "" in the namespace "default"`.
pub fn forbidden_message(identity: &Identity, a: &Attributes<'_>) -> String {
    let resource = match a.subresource {
        Some(sub) => format!("{}/{sub}", a.resource),
        None => a.resource.to_string(),
    };
    let qualified = if a.group.is_empty() {
        a.resource.to_string()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let object = match a.name {
        Some(name) => format!("{qualified} \"{name}\" is forbidden"),
        None => format!("{qualified} is forbidden"),
    };
    let scope = match a.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    format!(
        "{object}: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        identity.user, a.verb, a.group
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoFacts;
    impl Facts for NoFacts {
        fn csr_requester(&self, name: &str) -> Option<String> {
            (name == "theirs").then(|| "system:bootstrap:zzzzzz".to_string())
        }
    }

    fn node(name: &str) -> Identity {
        Identity {
            user: format!("system:node:{name}"),
            groups: vec![NODES_GROUP.into(), "system:authenticated".into()],
        }
    }

    fn bootstrapper() -> Identity {
        Identity {
            user: "system:bootstrap:abcdef".into(),
            groups: vec![BOOTSTRAPPERS_GROUP.into(), "system:authenticated".into()],
        }
    }

    fn attrs<'a>(
        verb: &'a str,
        group: &'a str,
        resource: &'a str,
        namespace: Option<&'a str>,
        name: Option<&'a str>,
    ) -> Attributes<'a> {
        Attributes {
            verb,
            group,
            resource,
            subresource: None,
            namespace,
            name,
            selected_name: None,
        }
    }

    fn allowed(identity: &Identity, a: Attributes<'_>) -> bool {
        authorize(identity, &a, &NoFacts) == Decision::Allow
    }

    #[test]
    fn nodes_reach_only_their_own_node_and_lease() {
        let n = node("edge-1");
        assert!(allowed(&n, attrs("get", "", "nodes", None, Some("edge-1"))));
        assert!(allowed(&n, attrs("create", "", "nodes", None, None)));
        assert!(!allowed(
            &n,
            attrs("get", "", "nodes", None, Some("edge-2"))
        ));
        assert!(!allowed(
            &n,
            attrs("delete", "", "nodes", None, Some("edge-1"))
        ));
        let mut status = attrs("patch", "", "nodes", None, Some("edge-1"));
        status.subresource = Some("status");
        assert!(allowed(&n, status));
        let lease = |verb, name| {
            attrs(
                verb,
                "coordination.k8s.io",
                "leases",
                Some(NODE_LEASE_NAMESPACE),
                name,
            )
        };
        assert!(allowed(&n, lease("update", Some("edge-1"))));
        assert!(allowed(&n, lease("create", None)));
        assert!(!allowed(&n, lease("update", Some("edge-2"))));
        assert!(!allowed(&n, lease("delete", Some("edge-1"))));
        assert!(!allowed(
            &n,
            attrs(
                "get",
                "coordination.k8s.io",
                "leases",
                Some("default"),
                Some("edge-1")
            )
        ));
        assert!(!allowed(
            &n,
            attrs("get", "", "secrets", Some("default"), Some("x"))
        ));
        assert!(!allowed(&n, attrs("list", "", "pods", None, None)));
    }

    #[test]
    fn requesters_see_only_their_own_csrs() {
        let b = bootstrapper();
        let csr = |verb, name| {
            attrs(
                verb,
                "certificates.k8s.io",
                "certificatesigningrequests",
                None,
                name,
            )
        };
        assert!(allowed(&b, csr("create", None)));
        assert!(allowed(&b, csr("get", Some("mine"))));
        assert!(!allowed(&b, csr("get", Some("theirs"))));
        assert!(!allowed(&b, csr("list", None)));
        let mut watch = csr("watch", None);
        watch.selected_name = Some("mine");
        assert!(allowed(&b, watch));
        watch.selected_name = Some("theirs");
        assert!(!allowed(&b, watch));
        let mut approval = csr("update", Some("mine"));
        approval.subresource = Some("approval");
        assert!(!allowed(&b, approval));
        assert!(!allowed(&b, csr("delete", Some("mine"))));
        assert!(!allowed(
            &b,
            attrs("get", "", "nodes", None, Some("abcdef"))
        ));
    }

    #[test]
    fn anonymous_reads_only_cluster_info() {
        let anon = anonymous();
        assert!(allowed(
            &anon,
            attrs(
                "get",
                "",
                "configmaps",
                Some("kube-public"),
                Some("cluster-info")
            )
        ));
        assert!(!allowed(
            &anon,
            attrs("get", "", "configmaps", Some("kube-public"), Some("other"))
        ));
        assert!(!allowed(
            &anon,
            attrs(
                "create",
                "certificates.k8s.io",
                "certificatesigningrequests",
                None,
                None
            )
        ));
    }

    #[test]
    fn masters_do_anything_and_others_nothing_else() {
        let admin = Identity {
            user: "admin".into(),
            groups: vec![MASTERS_GROUP.into()],
        };
        assert!(allowed(
            &admin,
            attrs("delete", "", "secrets", Some("x"), Some("y"))
        ));
        let someone = Identity {
            user: "alice".into(),
            groups: vec!["system:authenticated".into()],
        };
        assert!(!allowed(
            &someone,
            attrs("get", "", "nodes", None, Some("alice"))
        ));
        // A user named like a node but not in system:nodes is no node.
        let impostor = Identity {
            user: "system:node:edge-1".into(),
            groups: vec!["system:authenticated".into()],
        };
        assert!(!allowed(
            &impostor,
            attrs("get", "", "nodes", None, Some("edge-1"))
        ));
    }

    #[test]
    fn denials_read_like_kubernetes() {
        let n = node("a");
        assert_eq!(
            forbidden_message(&n, &attrs("get", "", "secrets", Some("default"), None)),
            "secrets is forbidden: User \"system:node:a\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\""
        );
        let mut a = attrs("update", "", "nodes", None, Some("b"));
        a.subresource = Some("status");
        assert_eq!(
            forbidden_message(&n, &a),
            "nodes \"b\" is forbidden: User \"system:node:a\" cannot update resource \"nodes/status\" in API group \"\" at the cluster scope"
        );
    }
}
