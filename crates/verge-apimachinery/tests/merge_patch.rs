use serde_json::json;
use verge_apimachinery::patch::merge_patch;

/// The examples of RFC 7386, appendix A.
#[test]
fn rfc7386_examples() {
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": "b", "b": "c"}),
            json!({"a": null}),
            json!({"b": "c"}),
        ),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a": "b"}), json!(["c"]), json!(["c"])),
        (json!({"a": "foo"}), json!(null), json!(null)),
        (json!({"a": "foo"}), json!("bar"), json!("bar")),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!([1, 2]),
            json!({"a": "b", "c": null}),
            json!({"a": "b"}),
        ),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
    ];
    for (doc, patch, expected) in cases {
        assert_eq!(merge_patch(&doc, &patch), expected, "{doc} + {patch}");
    }
}

#[test]
fn kubernetes_style_merge_patches() {
    let deployment = json!({
        "metadata": {"name": "web", "labels": {"app": "web", "old": "x"}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}
    });
    let out = merge_patch(
        &deployment,
        &json!({"metadata": {"labels": {"old": null, "new": "y"}}, "spec": {"replicas": 3}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "new": "y"}));
    assert_eq!(out["spec"]["replicas"], 3);
    // Lists are replaced whole.
    let out = merge_patch(
        &deployment,
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}),
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "c"}])
    );
}

#[test]
fn key_order_is_preserved() {
    let out = merge_patch(
        &json!({"a": 1, "b": 2, "c": 3}),
        &json!({"a": null, "b": 20, "d": 4}),
    );
    assert_eq!(out.to_string(), r#"{"b":20,"c":3,"d":4}"#);
}
