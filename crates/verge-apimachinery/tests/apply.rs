//! Server-side apply: field sets, FieldsV1, conflicts, removal, merge and
//! the recording of non-apply writes.

use serde_json::{Value, json};
use verge_apimachinery::apply::{
    self, ApplyError, FieldSet, LAST_APPLIED_ANNOTATION, ManagedFieldsEntry, Operation, Path,
    PathElement, Write, field_set, managed_fields,
};

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:01:00Z";
const T2: &str = "2026-01-01T00:02:00Z";

fn deployment(replicas: i64, labels: Value, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers}
            }
        }
    })
}

fn nginx() -> Value {
    json!({
        "name": "nginx",
        "image": "nginx:1.27",
        "env": [{"name": "MODE", "value": "edge"}],
        "ports": [{"containerPort": 80}]
    })
}

fn p(s: &[&str]) -> Path {
    Path::fields(s.iter().copied())
}

fn containers() -> Path {
    p(&["spec", "template", "spec", "containers"])
}

fn container(name: &str) -> Path {
    containers().child(PathElement::key([("name", &json!(name))]))
}

fn port(number: i64, protocol: &str) -> PathElement {
    PathElement::key([
        ("containerPort", &json!(number)),
        ("protocol", &json!(protocol)),
    ])
}

fn apply_as(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    apply::apply(live, config, manager, "apps/v1", force, "Deployment", now)
}

fn entry<'a>(entries: &'a [ManagedFieldsEntry], manager: &str) -> &'a ManagedFieldsEntry {
    entries
        .iter()
        .find(|e| e.manager == manager)
        .unwrap_or_else(|| panic!("no managedFields entry for {manager}: {entries:?}"))
}

fn conflicts(r: Result<Value, ApplyError>) -> Vec<apply::Conflict> {
    match r {
        Err(ApplyError::Conflicts(c)) => c,
        other => panic!("expected conflicts, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Field sets

#[test]
fn deployment_field_set_uses_merge_keys() {
    let d = deployment(2, json!({"app": "web", "tier": "front"}), json!([nginx()]));
    let set = field_set(&d, "Deployment").expect("set");
    let c = container("nginx");
    let expected: FieldSet = [
        p(&["metadata", "labels", "app"]),
        p(&["metadata", "labels", "tier"]),
        p(&["spec", "replicas"]),
        // A workload's label selector is an atomic struct.
        p(&["spec", "selector"]),
        p(&["spec", "template", "metadata", "labels", "app"]),
        c.clone(),
        c.child(PathElement::field("name")),
        c.child(PathElement::field("image")),
        c.child(PathElement::field("env"))
            .child(PathElement::key([("name", &json!("MODE"))])),
        c.child(PathElement::field("env"))
            .child(PathElement::key([("name", &json!("MODE"))]))
            .child(PathElement::field("name")),
        c.child(PathElement::field("env"))
            .child(PathElement::key([("name", &json!("MODE"))]))
            .child(PathElement::field("value")),
        // Ports are keyed by number and protocol, TCP when omitted.
        c.child(PathElement::field("ports")).child(port(80, "TCP")),
        c.child(PathElement::field("ports"))
            .child(port(80, "TCP"))
            .child(PathElement::field("containerPort")),
    ]
    .into_iter()
    .collect();
    assert_eq!(set, expected, "{}", set.to_fields_v1());
    // apiVersion, kind, name and namespace belong to nobody.
    assert!(!set.contains(&p(&["metadata", "name"])));
    assert!(!set.contains(&p(&["metadata", "namespace"])));
    assert!(!set.contains(&p(&["apiVersion"])));
    assert_eq!(
        set.to_fields_v1()["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]
            ["f:ports"],
        json!({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}})
    );
}

#[test]
fn ports_of_both_protocols_are_distinct_items() {
    let dns = json!([{"name": "dns", "image": "coredns", "ports": [
        {"containerPort": 53, "protocol": "UDP"},
        {"containerPort": 53, "protocol": "TCP"},
        {"containerPort": 9153}
    ]}]);
    let config = deployment(1, json!({"app": "web"}), dns);
    let set = field_set(&config, "Deployment").expect("53/UDP and 53/TCP are two items");
    let ports = container("dns").child(PathElement::field("ports"));
    for (n, proto) in [(53, "UDP"), (53, "TCP"), (9153, "TCP")] {
        assert!(set.contains(&ports.child(port(n, proto))), "{n}/{proto}");
    }
    // A live item with the protocol spelled out is the same item.
    let live = apply_as(None, &config, "ops", false, T0).expect("create");
    let mut live = live;
    live["spec"]["template"]["spec"]["containers"][0]["ports"][2]["protocol"] = json!("TCP");
    let mut fewer = config.clone();
    fewer["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 9153}]);
    let out = apply_as(Some(&live), &fewer, "ops", false, T1).expect("apply");
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 9153, "protocol": "TCP"}])
    );
    assert_eq!(
        ports.child(port(53, "TCP")).to_string(),
        r#".spec.template.spec.containers[name="dns"].ports[containerPort=53,protocol="TCP"]"#
    );
}

#[test]
fn finalizers_are_a_set_and_custom_resource_lists_atomic() {
    let cr = json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "finalizers": ["example.com/a", "example.com/b"]},
        "spec": {"size": 3, "parts": [{"name": "x"}, {"name": "y"}], "shape": {"round": true}}
    });
    let set = field_set(&cr, "Widget").expect("set");
    let fin = p(&["metadata", "finalizers"]);
    let expected: FieldSet = [
        fin.child(PathElement::value(&json!("example.com/a"))),
        fin.child(PathElement::value(&json!("example.com/b"))),
        p(&["spec", "size"]),
        p(&["spec", "parts"]),
        p(&["spec", "shape", "round"]),
    ]
    .into_iter()
    .collect();
    assert_eq!(set, expected);
    assert_eq!(
        set.to_fields_v1(),
        json!({
            "f:metadata": {"f:finalizers": {"v:\"example.com/a\"": {}, "v:\"example.com/b\"": {}}},
            "f:spec": {"f:parts": {}, "f:shape": {"f:round": {}}, "f:size": {}}
        })
    );
}

#[test]
fn empty_maps_and_atomic_lists_are_fields_themselves() {
    let cm = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "labels": {}},
        "spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "c", "args": ["-v"], "resources": {}}]}});
    let set = field_set(&cm, "Pod").expect("set");
    assert!(set.contains(&p(&["metadata", "labels"])));
    assert!(set.contains(&p(&["spec", "tolerations"])));
    let c = p(&["spec", "containers"]).child(PathElement::key([("name", &json!("c"))]));
    assert!(set.contains(&c.child(PathElement::field("args"))));
    assert!(set.contains(&c.child(PathElement::field("resources"))));
}

#[test]
fn items_without_keys_or_with_duplicate_keys_are_refused() {
    let no_key = deployment(1, json!({}), json!([{"image": "x"}]));
    match field_set(&no_key, "Deployment") {
        Err(ApplyError::Invalid { path, message }) => {
            assert_eq!(path, ".spec.template.spec.containers");
            assert!(message.contains("omits the key field"), "{message}");
        }
        other => panic!("expected invalid, got {other:?}"),
    }
    let dup = deployment(1, json!({}), json!([{"name": "a"}, {"name": "a"}]));
    assert!(matches!(
        field_set(&dup, "Deployment"),
        Err(ApplyError::Invalid { .. })
    ));
    let dup_finalizers =
        json!({"kind": "ConfigMap", "metadata": {"name": "a", "finalizers": ["x", "x"]}});
    assert!(field_set(&dup_finalizers, "ConfigMap").is_err());
}

#[test]
fn fields_v1_round_trips() {
    // As kube-apiserver writes it for `kubectl create deployment`.
    let raw = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:progressDeadlineSeconds": {},
            "f:replicas": {},
            "f:selector": {},
            "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        "k:{\"name\":\"nginx\"}": {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}},
                            "f:resources": {}
                        }
                    },
                    "f:dnsPolicy": {}
                }
            }
        }
    });
    let set = FieldSet::from_fields_v1(&raw).expect("parse");
    assert_eq!(set.to_fields_v1(), raw);
    assert_eq!(
        FieldSet::from_fields_v1(&set.to_fields_v1()).expect("again"),
        set
    );
    assert!(set.contains(&container("nginx")));
    assert!(set.contains(&p(&["metadata", "labels"])));
    assert!(!set.contains(&p(&["spec", "strategy"])));
    let entry = ManagedFieldsEntry::from_json(&json!({
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1",
        "time": T0, "fieldsType": "FieldsV1", "fieldsV1": raw
    }))
    .expect("entry");
    assert_eq!(entry.operation, Operation::Update);
    assert_eq!(
        ManagedFieldsEntry::from_json(&entry.to_json()).expect("again"),
        entry
    );
    assert!(
        ManagedFieldsEntry::from_json(
            &json!({"manager": "x", "operation": "Apply", "fieldsType": "FieldsV2"})
        )
        .is_err()
    );
}

// ---------------------------------------------------------------------------
// Apply

#[test]
fn apply_creates_and_owns_exactly_the_configuration() {
    let config = deployment(2, json!({"app": "web"}), json!([nginx()]));
    let obj = apply_as(None, &config, "ops", false, T0).expect("apply");
    let entries = managed_fields(&obj);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        (e.manager.as_str(), e.operation, e.api_version.as_str()),
        ("ops", Operation::Apply, "apps/v1")
    );
    assert_eq!(e.time.as_deref(), Some(T0));
    assert_eq!(e.fields, field_set(&config, "Deployment").expect("set"));
    let raw = &obj["metadata"]["managedFields"][0];
    assert_eq!(raw["fieldsType"], "FieldsV1");
    assert_eq!(raw["operation"], "Apply");
    let mut without = obj.clone();
    without["metadata"]
        .as_object_mut()
        .expect("meta")
        .remove("managedFields");
    assert_eq!(without, config);

    // The same configuration again changes nothing, not even the time.
    let again = apply_as(Some(&obj), &config, "ops", false, T1).expect("again");
    assert_eq!(again, obj);
}

#[test]
fn conflicts_without_force_and_ownership_moves_with_force() {
    let mut live = deployment(2, json!({"app": "web"}), json!([nginx()]));
    apply::record_update(
        None,
        &mut live,
        "kubectl-client-side-apply",
        "apps/v1",
        "Deployment",
        T0,
    );
    let config = deployment(3, json!({"app": "web"}), json!([nginx()]));
    let c = conflicts(apply_as(Some(&live), &config, "ops", false, T1));
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].field, ".spec.replicas");
    assert_eq!(c[0].manager, "kubectl-client-side-apply");
    assert_eq!(
        c[0].message(),
        "conflict with \"kubectl-client-side-apply\" using apps/v1"
    );
    assert_eq!(
        ApplyError::Conflicts(c).to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );

    let forced = apply_as(Some(&live), &config, "ops", true, T1).expect("forced");
    assert_eq!(forced["spec"]["replicas"], 3);
    let entries = managed_fields(&forced);
    let replicas = p(&["spec", "replicas"]);
    assert!(entry(&entries, "ops").fields.contains(&replicas));
    let csa = entry(&entries, "kubectl-client-side-apply");
    assert!(!csa.fields.contains(&replicas));
    // The fields it shares with the applier (same values) stay shared.
    assert!(
        csa.fields
            .contains(&container("nginx").child(PathElement::field("image")))
    );
    assert_eq!(
        forced["metadata"]["managedFields"][0]["manager"], "ops",
        "appliers are listed first"
    );
}

#[test]
fn force_drops_managers_left_with_nothing() {
    let config = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}});
    let live = apply_as(None, &config, "a", false, T0).expect("a");
    let mut by_b = config.clone();
    by_b["spec"]["replicas"] = json!(4);
    assert_eq!(
        conflicts(apply_as(Some(&live), &by_b, "b", false, T1))[0].message(),
        "conflict with \"a\"",
        "an applier is described by its name alone"
    );
    let forced = apply_as(Some(&live), &by_b, "b", true, T1).expect("forced");
    let entries = managed_fields(&forced);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].manager, "b");
}

#[test]
fn managers_applying_equal_values_share_fields() {
    let config = deployment(2, json!({"app": "web"}), json!([nginx()]));
    let live = apply_as(None, &config, "a", false, T0).expect("a");
    let shared = apply_as(Some(&live), &config, "b", false, T1).expect("no conflict");
    let entries = managed_fields(&shared);
    let replicas = p(&["spec", "replicas"]);
    assert!(entry(&entries, "a").fields.contains(&replicas));
    assert!(entry(&entries, "b").fields.contains(&replicas));

    // A shared field cannot be changed by either owner without a conflict...
    let mut change = config.clone();
    change["spec"]["replicas"] = json!(5);
    let c = conflicts(apply_as(Some(&shared), &change, "a", false, T2));
    assert_eq!(c[0].manager, "b");
    // ...and an owner that drops it leaves the value with the other.
    let mut without = config.clone();
    without["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("replicas");
    let dropped = apply_as(Some(&shared), &without, "a", false, T2).expect("drop");
    assert_eq!(dropped["spec"]["replicas"], 2);
    let entries = managed_fields(&dropped);
    assert!(!entry(&entries, "a").fields.contains(&replicas));
    assert!(entry(&entries, "b").fields.contains(&replicas));
}

#[test]
fn dropped_fields_and_containers_are_removed() {
    let sidecar = json!({"name": "log", "image": "busybox", "args": ["tail"]});
    let v1 = deployment(
        2,
        json!({"app": "web", "tier": "front"}),
        json!([nginx(), sidecar]),
    );
    let live = apply_as(None, &v1, "ops", false, T0).expect("v1");
    // Something else added a field the applier never set.
    let mut live = live;
    live["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"] = json!("Always");
    live["spec"]["paused"] = json!(false);

    let v2 = deployment(2, json!({"app": "web"}), json!([nginx()]));
    let out = apply_as(Some(&live), &v2, "ops", false, T1).expect("v2");
    assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["nginx"]);
    assert_eq!(out["spec"]["paused"], false, "fields never applied stay");
    assert_eq!(
        managed_fields(&out)[0].fields,
        field_set(&v2, "Deployment").expect("set")
    );

    // Dropping the last label removes the emptied map; dropping an env item
    // removes it by key.
    let mut v3 = deployment(
        2,
        json!({}),
        json!([{"name": "nginx", "image": "nginx:1.27"}]),
    );
    v3["metadata"]
        .as_object_mut()
        .expect("meta")
        .remove("labels");
    let out = apply_as(Some(&out), &v3, "ops", false, T2).expect("v3");
    assert!(
        out["metadata"].get("labels").is_none(),
        "{}",
        out["metadata"]
    );
    let c = &out["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c.get("env"), None, "{c}");
    assert_eq!(c.get("ports"), None, "{c}");
    assert_eq!(c["image"], "nginx:1.27");
}

#[test]
fn fields_another_manager_owns_are_not_removed() {
    let v1 = deployment(2, json!({"app": "web", "team": "edge"}), json!([nginx()]));
    let live = apply_as(None, &v1, "ops", false, T0).expect("v1");
    // A second manager applies the team label with the same value.
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"team": "edge"}}});
    let live = apply_as(Some(&live), &other, "labeller", false, T1).expect("labeller");
    let v2 = deployment(2, json!({"app": "web"}), json!([nginx()]));
    let out = apply_as(Some(&live), &v2, "ops", false, T2).expect("v2");
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "team": "edge"})
    );
    // An updater's fields count too.
    let mut updated = out.clone();
    updated["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("cloud");
    apply::record_update(
        Some(&out),
        &mut updated,
        "editor",
        "apps/v1",
        "Deployment",
        T2,
    );
    let v3 = deployment(
        2,
        json!({"app": "web"}),
        json!([{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]),
    );
    let out = apply_as(Some(&updated), &v3, "ops", false, T2).expect("v3");
    let env = &out["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env,
        &json!([{"name": "MODE", "value": "cloud"}]),
        "the env item stays for its other owner, keyed"
    );
}

#[test]
fn merge_keeps_live_items_and_replaces_atomic_lists() {
    let live = deployment(
        1,
        json!({"app": "web"}),
        json!([{"name": "a", "image": "a:1", "args": ["x", "y"]}, {"name": "b", "image": "b:1"}]),
    );
    let mut live = live;
    apply::record_update(None, &mut live, "creator", "apps/v1", "Deployment", T0);
    let config = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "c:1"},
            {"name": "a", "args": ["x", "y"]}
        ]}}}
    });
    let out = apply_as(Some(&live), &config, "ops", false, T1).expect("apply");
    let cs = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        cs,
        &json!([
            {"name": "c", "image": "c:1"},
            {"name": "a", "image": "a:1", "args": ["x", "y"]},
            {"name": "b", "image": "b:1"}
        ])
    );
    // Changing an atomic list someone else owns is a conflict on the list.
    let mut config2 = config.clone();
    config2["spec"]["template"]["spec"]["containers"][1]["args"] = json!(["z"]);
    let c = conflicts(apply_as(Some(&out), &config2, "ops", false, T2));
    assert_eq!(
        c[0].field,
        r#".spec.template.spec.containers[name="a"].args"#
    );
}

#[test]
fn updates_take_the_fields_they_change() {
    let config = deployment(2, json!({"app": "web"}), json!([nginx()]));
    let live = apply_as(None, &config, "ops", false, T0).expect("apply");
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    Write {
        manager: "kubectl",
        api_version: "apps/v1",
        kind: "Deployment",
        subresource: Some("scale"),
        now: T1,
    }
    .record_update(Some(&live), &mut scaled);
    let entries = managed_fields(&scaled);
    let replicas = p(&["spec", "replicas"]);
    let scaler = entries
        .iter()
        .find(|e| e.operation == Operation::Update)
        .expect("scaler");
    assert_eq!(scaler.manager, "kubectl");
    assert_eq!(scaler.subresource.as_deref(), Some("scale"));
    assert_eq!(scaler.fields.len(), 1);
    assert!(scaler.fields.contains(&replicas));
    assert!(!entry(&entries, "kubectl").fields.is_empty());
    let applier = entries
        .iter()
        .find(|e| e.operation == Operation::Apply)
        .expect("applier");
    assert!(!applier.fields.contains(&replicas));

    // The applier now conflicts with the scaler (a different manager, even
    // with the same name).
    let mut config3 = config.clone();
    config3["spec"]["replicas"] = json!(3);
    let c = conflicts(apply_as(Some(&scaled), &config3, "ops", false, T2));
    assert_eq!(
        ApplyError::Conflicts(c).to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas"
    );
    // An apply keeping the scaled value shares the field instead.
    let mut config5 = config.clone();
    config5["spec"]["replicas"] = json!(5);
    apply_as(Some(&scaled), &config5, "ops", false, T2).expect("shared");
}

#[test]
fn record_update_on_create_owns_everything_and_marks_new_maps() {
    let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", "uid": "u", "labels": {"a": "1"}},
        "data": {"k": "v"}});
    apply::record_update(None, &mut obj, "kubectl-create", "v1", "ConfigMap", T0);
    assert_eq!(
        obj["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}}
        }])
    );
    // An update that changes nothing records nothing new.
    let before = obj.clone();
    let mut same = obj.clone();
    apply::record_update(Some(&before), &mut same, "other", "v1", "ConfigMap", T1);
    assert_eq!(same, before);
    // A change moves one field; the time of the writer's entry moves with it.
    let mut changed = obj.clone();
    changed["data"]["k"] = json!("w");
    changed["data"]["n"] = json!("x");
    apply::record_update(Some(&before), &mut changed, "other", "v1", "ConfigMap", T1);
    let entries = managed_fields(&changed);
    let other = entry(&entries, "other");
    assert_eq!(other.time.as_deref(), Some(T1));
    assert_eq!(
        other.fields,
        [p(&["data", "k"]), p(&["data", "n"])].into_iter().collect()
    );
    assert!(
        !entry(&entries, "kubectl-create")
            .fields
            .contains(&p(&["data", "k"]))
    );
    // Removing a field takes it from everyone.
    let mut removed = changed.clone();
    removed["data"].as_object_mut().expect("data").remove("n");
    apply::record_update(Some(&changed), &mut removed, "third", "v1", "ConfigMap", T2);
    let entries = managed_fields(&removed);
    assert!(!entry(&entries, "other").fields.contains(&p(&["data", "n"])));
    assert!(entries.iter().all(|e| e.manager != "third"));
}

#[test]
fn managed_fields_can_be_edited_and_reset_by_updates() {
    let config = deployment(2, json!({"app": "web"}), json!([nginx()]));
    let live = apply_as(None, &config, "ops", false, T0).expect("apply");
    // `[{}]` clears them; the write's own changes are then recorded.
    let mut reset = live.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    reset["spec"]["replicas"] = json!(4);
    apply::record_update(
        Some(&live),
        &mut reset,
        "editor",
        "apps/v1",
        "Deployment",
        T1,
    );
    let entries = managed_fields(&reset);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].manager, "editor");
    // An empty list is not a reset: the stored entries stay.
    let mut empty = live.clone();
    empty["metadata"]["managedFields"] = json!([]);
    apply::record_update(
        Some(&live),
        &mut empty,
        "editor",
        "apps/v1",
        "Deployment",
        T1,
    );
    assert_eq!(
        empty["metadata"]["managedFields"],
        live["metadata"]["managedFields"]
    );
    // Entries a client writes (kubectl's client-side to server-side
    // migration does this) are taken as they are.
    let mut edited = live.clone();
    edited["metadata"]["managedFields"][0]["manager"] = json!("renamed");
    let wanted = edited["metadata"]["managedFields"].clone();
    apply::record_update(
        Some(&live),
        &mut edited,
        "migrator",
        "apps/v1",
        "Deployment",
        T1,
    );
    assert_eq!(edited["metadata"]["managedFields"], wanted);
}

#[test]
fn apply_refuses_managed_fields_and_non_objects() {
    let mut config = deployment(1, json!({}), json!([]));
    config["metadata"]["managedFields"] = json!([]);
    assert_eq!(
        apply_as(None, &config, "ops", false, T0),
        Err(ApplyError::ManagedFieldsSet)
    );
    assert_eq!(
        apply_as(None, &json!([1]), "ops", false, T0),
        Err(ApplyError::NotAnObject)
    );
}

#[test]
fn kubectl_last_applied_manager_and_client_side_upgrade() {
    // An object managed by client-side `kubectl apply`.
    let csa_config = deployment(2, json!({"app": "web"}), json!([nginx()]));
    let mut live = csa_config.clone();
    live["metadata"]["annotations"] =
        json!({LAST_APPLIED_ANNOTATION: serde_json::to_string(&csa_config).expect("json")});
    apply::record_update(
        None,
        &mut live,
        "kubectl-client-side-apply",
        "apps/v1",
        "Deployment",
        T0,
    );

    // Upgrading to server-side apply with kubectl's manager: replicas still
    // has its last-applied value, so changing it is no conflict...
    let ssa_config = deployment(3, json!({"app": "web"}), json!([nginx()]));
    let upgraded = apply_as(Some(&live), &ssa_config, "kubectl", false, T1).expect("upgrade");
    assert_eq!(upgraded["spec"]["replicas"], 3);
    // ...and the annotation now holds the new configuration.
    let annotation = upgraded["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
        .as_str()
        .expect("annotation");
    let last: Value = serde_json::from_str(annotation).expect("json");
    assert_eq!(last["spec"]["replicas"], 3);
    // Another manager gets the conflict.
    let c = conflicts(apply_as(Some(&live), &ssa_config, "ops", false, T1));
    assert_eq!(c[0].manager, "kubectl-client-side-apply");

    // kubectl then applies the annotation alone as `kubectl-last-applied`.
    let minimal = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "annotations": {LAST_APPLIED_ANNOTATION: annotation}}
    });
    let saved =
        apply_as(Some(&upgraded), &minimal, "kubectl-last-applied", false, T2).expect("saved");
    assert_eq!(saved["spec"], upgraded["spec"]);
    let entries = managed_fields(&saved);
    let path = p(&["metadata", "annotations", LAST_APPLIED_ANNOTATION]);
    assert_eq!(
        entry(&entries, "kubectl-last-applied").fields,
        [path.clone()].into_iter().collect()
    );
    assert!(
        entry(&entries, "kubectl-client-side-apply")
            .fields
            .contains(&path)
    );

    // A value changed behind client-side apply's back is a real conflict.
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(7);
    Write {
        manager: "kubectl",
        api_version: "apps/v1",
        kind: "Deployment",
        subresource: Some("scale"),
        now: T1,
    }
    .record_update(Some(&live), &mut scaled);
    let c = conflicts(apply_as(Some(&scaled), &ssa_config, "kubectl", false, T2));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].subresource.as_deref(), Some("scale"));
}

#[test]
fn custom_resources_merge_objects_and_replace_lists() {
    let live = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"size": 1, "parts": ["a", "b"], "shape": {"round": true}}});
    let config = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"parts": ["c"], "shape": {"color": "red"}}});
    let out = apply::apply(
        Some(&live),
        &config,
        "m",
        "example.com/v1",
        false,
        "Widget",
        T0,
    )
    .expect("apply");
    assert_eq!(
        out["spec"],
        json!({"size": 1, "parts": ["c"], "shape": {"round": true, "color": "red"}})
    );
}

#[test]
fn status_and_subresource_appliers_are_distinct_managers() {
    let config = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"replicas": 1}});
    let w = Write {
        manager: "ctl",
        api_version: "apps/v1",
        kind: "Deployment",
        subresource: Some("status"),
        now: T0,
    };
    let live = w.apply(None, &config, false).expect("status apply");
    assert_eq!(
        live["metadata"]["managedFields"][0]["subresource"],
        "status"
    );
    let main = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"paused": true}});
    let both = apply_as(Some(&live), &main, "ctl", false, T1).expect("main apply");
    assert_eq!(managed_fields(&both).len(), 2);
}

#[test]
fn too_many_updaters_are_merged_into_ancient_changes() {
    let mut obj =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
    for i in 0..12 {
        let old = obj.clone();
        obj["data"][format!("k{i}")] = json!("v");
        apply::record_update(
            Some(&old),
            &mut obj,
            &format!("m{i}"),
            "v1",
            "ConfigMap",
            &format!("2026-01-01T00:00:{i:02}Z"),
        );
    }
    let entries = managed_fields(&obj);
    assert_eq!(entries.len(), apply::MAX_UPDATE_MANAGERS);
    let ancient = entry(&entries, apply::ANCIENT_CHANGES);
    assert_eq!(ancient.fields.len(), 3, "{:?}", ancient.fields);
    assert!(
        entries
            .iter()
            .all(|e| e.manager != "m0" && e.manager != "m1")
    );
}
