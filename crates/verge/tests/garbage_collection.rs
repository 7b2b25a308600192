//! Garbage collection through ownerReferences against a real `verge server`,
//! driven with kubectl: background, foreground and orphan deletion
//! (`kubectl delete --cascade=...`), dangling references, custom types as
//! owners and dependents, and ownership cycles.

mod common;

use std::time::Duration;

use common::{Cluster, eventually};

const WAIT: Duration = Duration::from_secs(20);

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

fn gc_cluster() -> Cluster {
    Cluster::start_with(&["--controllers", "garbagecollector"])
}

fn uid(c: &Cluster, ns: &str, resource: &str) -> String {
    c.kubectl(&["-n", ns, "get", resource, "-o", "jsonpath={.metadata.uid}"])
}

fn exists(c: &Cluster, ns: &str, resource: &str) -> bool {
    let out = c.kubectl(&[
        "-n",
        ns,
        "get",
        resource,
        "--ignore-not-found",
        "-o",
        "name",
    ]);
    !out.trim().is_empty()
}

fn jsonpath(c: &Cluster, ns: &str, resource: &str, path: &str) -> String {
    c.kubectl(&["-n", ns, "get", resource, "-o", &format!("jsonpath={path}")])
}

fn wait_gone(c: &Cluster, ns: &str, resource: &str) {
    eventually(&format!("{resource} to be deleted"), WAIT, || {
        (!exists(c, ns, resource)).then_some(())
    });
}

/// A ConfigMap owned by `owners` (apiVersion, kind, name, uid, blockOwnerDeletion).
fn owned_configmap(ns: &str, name: &str, owners: &[(&str, &str, &str, &str, bool)]) -> String {
    let refs: Vec<String> = owners
        .iter()
        .map(|(api_version, kind, owner, uid, block)| {
            format!(
                "  - {{apiVersion: {api_version}, kind: {kind}, name: \"{owner}\", uid: \"{uid}\", blockOwnerDeletion: {block}}}"
            )
        })
        .collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"{name}\"\n  namespace: {ns}\n  ownerReferences:\n{}\n",
        refs.join("\n")
    )
}

#[test]
fn background_deletion_collects_dependents_of_every_type() {
    let c = gc_cluster();
    c.apply(WIDGET_CRD);
    eventually("the widget type to be served", WAIT, || {
        c.kubectl_output(&["get", "widgets"])
            .status
            .success()
            .then_some(())
    });
    c.kubectl(&["create", "namespace", "bg"]);
    c.kubectl(&["-n", "bg", "create", "configmap", "parent"]);
    let parent = uid(&c, "bg", "configmap/parent");
    // Dependents of three types, one of them custom.
    c.apply(&owned_configmap(
        "bg",
        "child-cm",
        &[("v1", "ConfigMap", "parent", &parent, false)],
    ));
    c.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: child-secret\n  namespace: bg\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: parent, uid: {parent}}}\n"
    ));
    c.apply(&format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: child-widget\n  namespace: bg\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: parent, uid: {parent}}}\n"
    ));
    // A custom resource owning a built-in, two levels deep.
    let widget = uid(&c, "bg", "widget/child-widget");
    c.apply(&owned_configmap(
        "bg",
        "grandchild",
        &[("example.com/v1", "Widget", "child-widget", &widget, false)],
    ));
    // Owned by a cluster-scoped object (a Node).
    c.apply("apiVersion: v1\nkind: Node\nmetadata:\n  name: gc-node\n");
    let node = c.kubectl(&["get", "node", "gc-node", "-o", "jsonpath={.metadata.uid}"]);
    c.apply(&owned_configmap(
        "bg",
        "node-child",
        &[("v1", "Node", "gc-node", &node, false)],
    ));

    c.kubectl(&["-n", "bg", "delete", "configmap", "parent"]);
    for r in [
        "configmap/child-cm",
        "secret/child-secret",
        "widget/child-widget",
        "configmap/grandchild",
    ] {
        wait_gone(&c, "bg", r);
    }
    assert!(
        exists(&c, "bg", "configmap/node-child"),
        "an object whose owner exists is kept"
    );
    c.kubectl(&["delete", "node", "gc-node"]);
    wait_gone(&c, "bg", "configmap/node-child");
}

#[test]
fn foreground_deletion_waits_for_blocking_dependents() {
    let c = gc_cluster();
    c.kubectl(&["create", "namespace", "fg"]);
    c.kubectl(&["-n", "fg", "create", "configmap", "owner"]);
    let owner = uid(&c, "fg", "configmap/owner");
    // The blocking dependent holds a finalizer of its own, so it lingers
    // after the collector deletes it.
    c.apply(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: blocker\n  namespace: fg\n  finalizers: [example.com/hold]\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {owner}, blockOwnerDeletion: true}}\n"
    ));
    c.apply(&owned_configmap(
        "fg",
        "bystander",
        &[("v1", "ConfigMap", "owner", &owner, false)],
    ));

    c.kubectl(&[
        "-n",
        "fg",
        "delete",
        "configmap",
        "owner",
        "--cascade=foreground",
        "--wait=false",
    ]);
    eventually("the blocking dependent to be deleting", WAIT, || {
        (!jsonpath(
            &c,
            "fg",
            "configmap/blocker",
            "{.metadata.deletionTimestamp}",
        )
        .is_empty())
        .then_some(())
    });
    wait_gone(&c, "fg", "configmap/bystander");
    // The owner waits: deletionTimestamp set, foregroundDeletion finalizer kept.
    assert!(
        jsonpath(&c, "fg", "configmap/owner", "{.metadata.finalizers}")
            .contains("foregroundDeletion")
    );
    assert!(!jsonpath(&c, "fg", "configmap/owner", "{.metadata.deletionTimestamp}").is_empty());

    c.kubectl(&[
        "-n",
        "fg",
        "patch",
        "configmap",
        "blocker",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    wait_gone(&c, "fg", "configmap/blocker");
    wait_gone(&c, "fg", "configmap/owner");

    // kubectl's own wait: a foreground delete returns once the tree is gone.
    c.kubectl(&["-n", "fg", "create", "configmap", "top"]);
    let top = uid(&c, "fg", "configmap/top");
    c.apply(&owned_configmap(
        "fg",
        "middle",
        &[("v1", "ConfigMap", "top", &top, true)],
    ));
    let middle = uid(&c, "fg", "configmap/middle");
    c.apply(&owned_configmap(
        "fg",
        "bottom",
        &[("v1", "ConfigMap", "middle", &middle, true)],
    ));
    c.kubectl(&[
        "-n",
        "fg",
        "delete",
        "configmap",
        "top",
        "--cascade=foreground",
        "--timeout=20s",
    ]);
    assert!(!exists(&c, "fg", "configmap/middle"));
    assert!(!exists(&c, "fg", "configmap/bottom"));
}

#[test]
fn orphan_deletion_keeps_dependents_and_drops_the_reference() {
    let c = gc_cluster();
    c.kubectl(&["create", "namespace", "orph"]);
    c.kubectl(&["-n", "orph", "create", "configmap", "owner"]);
    c.kubectl(&["-n", "orph", "create", "configmap", "other"]);
    let owner = uid(&c, "orph", "configmap/owner");
    let other = uid(&c, "orph", "configmap/other");
    c.apply(&owned_configmap(
        "orph",
        "kept",
        &[
            ("v1", "ConfigMap", "owner", &owner, true),
            ("v1", "ConfigMap", "other", &other, false),
        ],
    ));
    c.apply(&owned_configmap(
        "orph",
        "kept-alone",
        &[("v1", "ConfigMap", "owner", &owner, false)],
    ));
    c.kubectl(&[
        "-n",
        "orph",
        "delete",
        "configmap",
        "owner",
        "--cascade=orphan",
        "--timeout=20s",
    ]);
    assert!(!exists(&c, "orph", "configmap/owner"));
    assert_eq!(
        jsonpath(
            &c,
            "orph",
            "configmap/kept",
            "{.metadata.ownerReferences[*].name}"
        ),
        "other",
        "only the reference to the deleted owner is removed"
    );
    assert_eq!(
        jsonpath(
            &c,
            "orph",
            "configmap/kept-alone",
            "{.metadata.ownerReferences}"
        ),
        ""
    );
    // Orphans stay orphans: deleting the other owner still collects `kept`.
    c.kubectl(&["-n", "orph", "delete", "configmap", "other"]);
    wait_gone(&c, "orph", "configmap/kept");
    assert!(exists(&c, "orph", "configmap/kept-alone"));
}

#[test]
fn dangling_references_are_collected_and_cycles_unwind() {
    let c = gc_cluster();
    c.kubectl(&["create", "namespace", "a"]);
    c.kubectl(&["create", "namespace", "b"]);
    c.kubectl(&["-n", "a", "create", "configmap", "real"]);
    let real = uid(&c, "a", "configmap/real");

    // A uid no object has; the right name with the wrong uid; a uid that
    // exists, but in another namespace; a uid that is no uid at all.
    c.apply(&owned_configmap(
        "a",
        "no-such-uid",
        &[(
            "v1",
            "ConfigMap",
            "ghost",
            "6f1c8b9e-0000-4000-8000-000000000000",
            false,
        )],
    ));
    c.apply(&owned_configmap(
        "a",
        "wrong-uid",
        &[(
            "v1",
            "ConfigMap",
            "real",
            "6f1c8b9e-0000-4000-8000-000000000001",
            false,
        )],
    ));
    c.apply(&owned_configmap(
        "b",
        "cross-namespace",
        &[("v1", "ConfigMap", "real", &real, false)],
    ));
    c.apply(&owned_configmap(
        "a",
        "garbled-uid",
        &[("v1", "ConfigMap", "real", "not-a-uid", false)],
    ));
    for (ns, r) in [
        ("a", "configmap/no-such-uid"),
        ("a", "configmap/wrong-uid"),
        ("b", "configmap/cross-namespace"),
        ("a", "configmap/garbled-uid"),
    ] {
        wait_gone(&c, ns, r);
    }
    assert!(exists(&c, "a", "configmap/real"));
    let events = c.kubectl(&[
        "-n",
        "b",
        "get",
        "events",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(
        events.contains("OwnerRefInvalidNamespace"),
        "a Warning Event names the cross-namespace reference: {events}"
    );

    // An owner reference to a kind the API does not serve: nothing is
    // deleted, a Warning Event says why.
    c.apply(&owned_configmap(
        "a",
        "unknown-kind",
        &[(
            "nowhere.example.com/v1",
            "Gadget",
            "g",
            "6f1c8b9e-0000-4000-8000-000000000002",
            false,
        )],
    ));
    eventually("a Warning Event about the unknown kind", WAIT, || {
        c.kubectl(&[
            "-n",
            "a",
            "get",
            "events",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .contains("OwnerRefInvalidKind")
        .then_some(())
    });
    assert!(exists(&c, "a", "configmap/unknown-kind"));

    // A cycle x ⇄ y keeps itself alive until one member goes.
    for n in ["x", "y"] {
        c.kubectl(&["-n", "a", "create", "configmap", n]);
    }
    let (x, y) = (uid(&c, "a", "configmap/x"), uid(&c, "a", "configmap/y"));
    c.apply(&owned_configmap(
        "a",
        "x",
        &[("v1", "ConfigMap", "y", &y, true)],
    ));
    c.apply(&owned_configmap(
        "a",
        "y",
        &[("v1", "ConfigMap", "x", &x, true)],
    ));
    // A dangling object created after the cycle: once it is collected, the
    // collector has seen the cycle too, and left it alone.
    c.apply(&owned_configmap(
        "a",
        "sentinel",
        &[(
            "v1",
            "ConfigMap",
            "ghost",
            "6f1c8b9e-0000-4000-8000-000000000003",
            false,
        )],
    ));
    wait_gone(&c, "a", "configmap/sentinel");
    assert!(exists(&c, "a", "configmap/x") && exists(&c, "a", "configmap/y"));
    c.kubectl(&["-n", "a", "delete", "configmap", "x"]);
    wait_gone(&c, "a", "configmap/y");

    // A blocking cycle deleted in the foreground unwinds instead of wedging.
    for n in ["p", "q"] {
        c.kubectl(&["-n", "a", "create", "configmap", n]);
    }
    let (p, q) = (uid(&c, "a", "configmap/p"), uid(&c, "a", "configmap/q"));
    c.apply(&owned_configmap(
        "a",
        "p",
        &[("v1", "ConfigMap", "q", &q, true)],
    ));
    c.apply(&owned_configmap(
        "a",
        "q",
        &[("v1", "ConfigMap", "p", &p, true)],
    ));
    c.kubectl(&[
        "-n",
        "a",
        "delete",
        "configmap",
        "p",
        "--cascade=foreground",
        "--timeout=20s",
    ]);
    wait_gone(&c, "a", "configmap/q");
}

#[test]
fn collection_resumes_after_a_restart() {
    let mut c = Cluster::start_with(&["--controllers", "none"]);
    c.kubectl(&["-n", "default", "create", "configmap", "owner"]);
    let owner = uid(&c, "default", "configmap/owner");
    c.apply(&owned_configmap(
        "default",
        "dep",
        &[("v1", "ConfigMap", "owner", &owner, false)],
    ));
    // Deleted while no collector runs: the next one finds the dangling dependent.
    c.kubectl(&["-n", "default", "delete", "configmap", "owner"]);
    assert!(exists(&c, "default", "configmap/dep"));
    c.restart_with(&["--controllers", "garbagecollector"]);
    wait_gone(&c, "default", "configmap/dep");
}
