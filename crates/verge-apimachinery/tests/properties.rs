//! Property tests: no parser or patch function panics on arbitrary input, and
//! the algebraic properties that are easy to state hold.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use verge_apimachinery::apply;
use verge_apimachinery::duration::human_duration;
use verge_apimachinery::fields::FieldSelector;
use verge_apimachinery::labels::{Selector, is_qualified_name, is_valid_label_value};
use verge_apimachinery::patch::{
    json_patch, json_patch_value, known_kinds, merge_patch, strategic_merge_patch,
};

// ---------------------------------------------------------------------------
// Generators.

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z0-9]{0,6}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ]
}

/// Arbitrary JSON with arbitrary keys.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Keys a Kubernetes object and the directives use, so that generated
/// patches exercise the interesting code paths.
const FIELD_KEYS: &[&str] = &[
    "metadata",
    "spec",
    "status",
    "template",
    "containers",
    "initContainers",
    "env",
    "ports",
    "name",
    "image",
    "value",
    "containerPort",
    "protocol",
    "port",
    "finalizers",
    "ownerReferences",
    "uid",
    "labels",
    "annotations",
    "conditions",
    "type",
    "volumes",
    "tolerations",
    "data",
    "podCIDRs",
    "taints",
    "key",
    "jobTemplate",
    "strategy",
    "selector",
    "x",
];
const DIRECTIVE_KEYS: &[&str] = &[
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/env",
    "$setElementOrder/finalizers",
    "$setElementOrder/ports",
    "$setElementOrder/x",
    "$deleteFromPrimitiveList/finalizers",
    "$deleteFromPrimitiveList/podCIDRs",
    "$deleteFromPrimitiveList/x",
];

fn kube_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "c", "nginx", "replace", "delete", "merge", "name"])
            .prop_map(|s| Value::String(s.to_string())),
        1 => (0i64..4).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
    ]
}

/// JSON shaped like Kubernetes objects; with `directives`, directive keys
/// appear among the keys.
fn kube_json(directives: bool) -> impl Strategy<Value = Value> {
    let mut keys: Vec<&'static str> = FIELD_KEYS.to_vec();
    if directives {
        keys.extend_from_slice(DIRECTIVE_KEYS);
    }
    kube_scalar().prop_recursive(6, 96, 5, move |inner| {
        let keys = keys.clone();
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            2 => prop::collection::vec((prop::sample::select(keys), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn kube_object(directives: bool) -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            prop::sample::select(FIELD_KEYS.to_vec()),
            kube_json(directives),
        ),
        0..5,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// A list of objects keyed by `key` (values from a small domain, so that
/// duplicates and missing keys happen), each with a few more fields.
fn keyed_list(key: &'static str, fields: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    let item = (
        prop_oneof![
            4 => prop::sample::select(vec!["a", "b", "c", "d"]).prop_map(|s| json!(s)),
            2 => (0i64..4).prop_map(Value::from),
            1 => Just(Value::Null),
        ],
        prop::option::of(prop::sample::select(vec!["TCP", "UDP"])),
        fields,
    )
        .prop_map(move |(k, protocol, mut v)| {
            if let Value::Object(m) = &mut v {
                m.insert(key.to_owned(), k);
                if let Some(p) = protocol {
                    m.insert("protocol".to_owned(), json!(p));
                }
            }
            v
        });
    prop::collection::vec(item, 0..4)
        .prop_map(Value::Array)
        .boxed()
}

/// Objects shaped like pods and workloads: associative lists (containers
/// by name, ports by port and protocol, owner references by uid), set-like
/// finalizers, atomic selectors, maps, with random values inside.
fn kube_shaped_object() -> impl Strategy<Value = Value> {
    let small = || kube_object(false).boxed();
    let container = (
        keyed_list("containerPort", small()),
        keyed_list("name", small()),
        small(),
    )
        .prop_map(|(ports, env, mut c)| {
            if let Value::Object(m) = &mut c {
                m.insert("ports".into(), ports);
                m.insert("env".into(), env);
            }
            c
        })
        .boxed();
    let pod_spec = (
        keyed_list("name", container),
        keyed_list("name", small()),
        small(),
    )
        .prop_map(|(containers, volumes, mut spec)| {
            if let Value::Object(m) = &mut spec {
                m.insert("containers".into(), containers);
                m.insert("volumes".into(), volumes);
            }
            spec
        });
    let metadata = (
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..4),
        keyed_list("uid", small()),
        kube_json(false),
    )
        .prop_map(|(finalizers, owners, labels)| {
            json!({"name": "n", "namespace": "ns", "uid": "u", "labels": labels,
                "finalizers": finalizers, "ownerReferences": owners})
        });
    (
        metadata,
        pod_spec,
        keyed_list("type", small()),
        small(),
        any::<bool>(),
    )
        .prop_map(|(metadata, spec, conditions, selector, workload)| {
            let status = json!({"conditions": conditions, "phase": "Pending"});
            if workload {
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                    "spec": {"selector": selector, "replicas": 1,
                        "template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}},
                    "status": status})
            } else {
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                    "spec": spec, "status": status})
            }
        })
}

/// JSON without nulls (a merge patch cannot set a null).
fn json_without_nulls() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (0i64..5).prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A merge patch whose lists hold no objects with nulls: the strategic
/// merge patch drops nulls inside the elements of a replaced list (they mean
/// "absent" in a typed object), an RFC 7386 merge patch keeps them.
fn plain_patch() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0i64..5).prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(json_without_nulls(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_pointer() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "0", "1", "-", "-1", "x~1y", "~0", "99", ""]),
        0..4,
    )
    .prop_map(|parts| parts.iter().map(|p| format!("/{p}")).collect())
}

fn json_patch_op() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "add", "remove", "replace", "move", "copy", "test", "bogus",
        ]),
        json_pointer(),
        json_pointer(),
        prop::option::of(kube_json(false)),
    )
        .prop_map(|(op, path, from, value)| {
            let mut m = Map::new();
            m.insert("op".into(), json!(op));
            m.insert("path".into(), json!(path));
            m.insert("from".into(), json!(from));
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            Value::Object(m)
        })
}

/// The merge patch that turns `from` into `to` (test helper).
fn merge_diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = Map::new();
            for (k, v) in b {
                match a.get(k) {
                    Some(old) if old == v => {}
                    Some(old) => {
                        patch.insert(k.clone(), merge_diff(old, v));
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in a.keys() {
                if !b.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        _ => to.clone(),
    }
}

fn has_directive(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            k == "$patch"
                || k == "$retainKeys"
                || k.starts_with("$setElementOrder/")
                || k.starts_with("$deleteFromPrimitiveList/")
                || has_directive(v)
        }),
        Value::Array(items) => items.iter().any(has_directive),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig {
        cases: ProptestConfig::default().cases.max(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn label_selector_parse_never_panics_and_round_trips(s in any::<String>()) {
        if let Ok(sel) = Selector::parse(&s) {
            let text = sel.to_string();
            let again = Selector::parse(&text);
            prop_assert_eq!(again.as_ref().ok(), Some(&sel), "{:?} -> {:?}", s, text);
        }
    }

    #[test]
    fn label_selector_from_tokens_round_trips(
        tokens in prop::collection::vec(
            prop::sample::select(vec![
                "a", "b", "app", "x.io/k", "in", "notin", "=", "==", "!=", "!", "(", ")", ",",
                " ", ">", "<", "1", "-", "v_1", "Z",
            ]),
            0..14,
        )
    ) {
        let s: String = tokens.concat();
        if let Ok(sel) = Selector::parse(&s) {
            let text = sel.to_string();
            prop_assert_eq!(Selector::parse(&text).ok(), Some(sel.clone()), "{:?} -> {:?}", s, text);
            // Matching never panics either.
            let _ = sel.matches_fn(|k| if k == "a" { Some("1") } else { None });
        }
    }

    #[test]
    fn label_selector_objects_never_panic(v in arbitrary_json(), k in kube_json(false)) {
        let _ = Selector::from_label_selector(&v);
        let _ = Selector::from_label_selector(&json!({"matchLabels": k.clone(), "matchExpressions": [k]}));
    }

    #[test]
    fn valid_keys_and_values_parse_as_selectors(
        key in "([a-z0-9]([a-z0-9-]{0,4}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,4}[a-z0-9])?){0,2}/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,10}[A-Za-z0-9])?",
        value in "([A-Za-z0-9]([A-Za-z0-9_.-]{0,10}[A-Za-z0-9])?)?",
    ) {
        prop_assert!(is_qualified_name(&key).is_empty(), "{}: {:?}", key, is_qualified_name(&key));
        prop_assert!(is_valid_label_value(&value).is_empty());
        let sel = Selector::parse(&format!("{key}={value}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(key.clone(), value.clone());
        prop_assert!(sel.matches(&labels));
    }

    #[test]
    fn field_selector_parse_never_panics_and_round_trips(s in any::<String>()) {
        if let Ok(sel) = FieldSelector::parse(&s) {
            let text = sel.to_string();
            prop_assert_eq!(FieldSelector::parse(&text).ok(), Some(sel.clone()), "{:?} -> {:?}", s, text);
            let _ = sel.matches(|f| Some(f.to_string()));
        }
    }

    #[test]
    fn field_selector_from_tokens(
        tokens in prop::collection::vec(
            prop::sample::select(vec!["a", "b.c", "=", "==", "!=", "!", ",", "\\", "\\,", "\\=", "\\\\", " ", "x"]),
            0..12,
        )
    ) {
        let s: String = tokens.concat();
        if let Ok(sel) = FieldSelector::parse(&s) {
            prop_assert_eq!(FieldSelector::parse(&sel.to_string()).ok(), Some(sel));
        }
    }

    #[test]
    fn json_patch_never_panics_on_bytes(doc in arbitrary_json(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = json_patch(&doc, &bytes);
    }

    #[test]
    fn json_patch_never_panics_on_values(doc in arbitrary_json(), patch in arbitrary_json()) {
        let _ = json_patch_value(&doc, &patch);
    }

    #[test]
    fn json_patch_never_panics_on_plausible_operations(
        doc in kube_json(false),
        ops in prop::collection::vec(json_patch_op(), 0..8),
    ) {
        let _ = json_patch_value(&doc, &Value::Array(ops));
    }

    #[test]
    fn json_patch_test_after_add_holds(doc in kube_object(false), value in kube_json(false)) {
        let patch = json!([
            {"op": "add", "path": "/new", "value": value.clone()},
            {"op": "test", "path": "/new", "value": value}
        ]);
        prop_assert!(json_patch_value(&doc, &patch).is_ok());
    }

    #[test]
    fn merge_patch_never_panics(doc in arbitrary_json(), patch in arbitrary_json()) {
        let _ = merge_patch(&doc, &patch);
    }

    #[test]
    fn merge_patch_applies_a_diff(from in json_without_nulls(), to in json_without_nulls()) {
        let diff = merge_diff(&from, &to);
        prop_assert_eq!(merge_patch(&from, &diff), to);
    }

    #[test]
    fn merge_patch_is_idempotent(doc in arbitrary_json(), patch in arbitrary_json()) {
        let once = merge_patch(&doc, &patch);
        prop_assert_eq!(merge_patch(&once, &patch), once);
    }

    #[test]
    fn strategic_merge_patch_never_panics(
        doc in arbitrary_json(),
        patch in arbitrary_json(),
        kind in prop::sample::select(known_kinds()),
    ) {
        let _ = strategic_merge_patch(&doc, &patch, kind);
    }

    #[test]
    fn strategic_merge_patch_strips_directives(
        doc in kube_object(false),
        patch in kube_object(true),
        kind in prop::sample::select({
            let mut kinds = known_kinds();
            kinds.push("Widget");
            kinds
        }),
    ) {
        if let Ok(out) = strategic_merge_patch(&doc, &patch, kind) {
            prop_assert!(!has_directive(&out), "{} + {} -> {}", doc, patch, out);
        }
    }

    #[test]
    fn strategic_merge_patch_on_plain_kinds_is_a_merge_patch(
        doc in prop::collection::btree_map("[a-d]", json_without_nulls(), 0..4),
        patch in prop::collection::btree_map("[a-d]", plain_patch(), 0..4),
    ) {
        let doc = Value::Object(doc.into_iter().collect());
        let patch = Value::Object(patch.into_iter().collect());
        let smp = strategic_merge_patch(&doc, &patch, "Widget");
        prop_assert_eq!(smp.ok(), Some(merge_patch(&doc, &patch)));
    }

    #[test]
    fn strategic_merge_patch_on_configmap_data_is_a_merge_patch(
        data in json_without_nulls(),
        patch_data in plain_patch(),
    ) {
        let doc = json!({"kind": "ConfigMap", "metadata": {"finalizers": ["a"]}, "data": data});
        let patch = json!({"data": patch_data});
        let smp = strategic_merge_patch(&doc, &patch, "ConfigMap");
        prop_assert_eq!(smp.ok(), Some(merge_patch(&doc, &patch)));
    }

    #[test]
    fn strategic_merge_patch_with_an_empty_patch_is_identity(
        doc in kube_object(false),
        kind in prop::sample::select(known_kinds()),
    ) {
        prop_assert_eq!(strategic_merge_patch(&doc, &json!({}), kind).ok(), Some(doc));
    }

    #[test]
    fn create_records_what_an_update_from_an_empty_object_records(
        doc in kube_object(false),
        kind in prop::sample::select(
            known_kinds().into_iter().chain(["Widget"]).collect::<Vec<_>>()
        ),
    ) {
        // A create takes a one-walk shortcut; an update from `{}` computes
        // the same fields by comparison. Same JSON, same key order.
        let mut created = doc.clone();
        apply::record_update(None, &mut created, "m", "v1", kind, "2026-01-01T00:00:00Z");
        let mut updated = doc;
        apply::record_update(
            Some(&json!({})),
            &mut updated,
            "m",
            "v1",
            kind,
            "2026-01-01T00:00:00Z",
        );
        prop_assert_eq!(created.to_string(), updated.to_string());
    }

    #[test]
    fn create_records_what_an_update_from_an_empty_pod_records(
        doc in kube_shaped_object(),
        custom in any::<bool>(),
    ) {
        let kind = match (custom, doc["kind"].as_str()) {
            (true, _) => "Widget".to_owned(),
            (false, Some(kind)) => kind.to_owned(),
            (false, None) => "Pod".to_owned(),
        };
        let kind = kind.as_str();
        let mut created = doc.clone();
        apply::record_update(None, &mut created, "m", "v1", kind, "2026-01-01T00:00:00Z");
        let mut updated = doc;
        apply::record_update(
            Some(&json!({})),
            &mut updated,
            "m",
            "v1",
            kind,
            "2026-01-01T00:00:00Z",
        );
        prop_assert_eq!(created.to_string(), updated.to_string());
    }

    #[test]
    fn human_duration_never_panics(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
        let text = human_duration(Duration::new(secs, nanos));
        prop_assert!(!text.is_empty());
    }
}
