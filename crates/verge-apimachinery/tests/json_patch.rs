use serde_json::{Value, json};
use verge_apimachinery::patch::{
    MAX_JSON_PATCH_OPERATIONS, MAX_PATCHED_DEPTH, PatchError, json_patch, json_patch_value,
};

fn apply(doc: Value, patch: Value) -> Value {
    match json_patch(&doc, patch.to_string().as_bytes()) {
        Ok(v) => v,
        Err(e) => panic!("patch {patch} should apply: {e}"),
    }
}

fn apply_err(doc: Value, patch: Value) -> PatchError {
    match json_patch(&doc, patch.to_string().as_bytes()) {
        Ok(v) => panic!("patch {patch} should fail, got {v}"),
        Err(e) => e,
    }
}

fn pod() -> Value {
    json!({
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
        "spec": {"containers": [{"name": "c0", "image": "nginx"}, {"name": "c1", "image": "redis"}]}
    })
}

#[test]
fn add_operations() {
    let out = apply(
        pod(),
        json!([
            {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
            {"op": "add", "path": "/spec/containers/1", "value": {"name": "mid"}},
            {"op": "add", "path": "/spec/containers/-", "value": {"name": "last"}},
            {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "c"}},
            {"op": "add", "path": "/metadata/annotations/x~1y", "value": "slash"},
            {"op": "add", "path": "/metadata/annotations/t~0", "value": "tilde"}
        ]),
    );
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "tier": "front"})
    );
    let names: Vec<&str> = out["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["c0", "mid", "c1", "last"]);
    assert_eq!(
        out["metadata"]["annotations"],
        json!({"a/b": "c", "x/y": "slash", "t~": "tilde"})
    );
    // add on an existing member replaces it, in place.
    let out = apply(
        json!({"a": 1, "b": 2}),
        json!([{"op": "add", "path": "/a", "value": 3}]),
    );
    assert_eq!(out.to_string(), r#"{"a":3,"b":2}"#);
    // add at the root replaces the document.
    assert_eq!(
        apply(pod(), json!([{"op": "add", "path": "", "value": [1]}])),
        json!([1])
    );
}

#[test]
fn remove_replace_move_copy() {
    let out = apply(
        pod(),
        json!([
            {"op": "remove", "path": "/metadata/finalizers/0"},
            {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.28"},
            {"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/name"},
            {"op": "copy", "from": "/spec/containers/1", "path": "/spec/containers/-"}
        ]),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    assert_eq!(out["spec"]["containers"][0]["image"], "nginx:1.28");
    assert_eq!(out["metadata"]["labels"], json!({"name": "web"}));
    assert_eq!(
        out["spec"]["containers"][2],
        json!({"name": "c1", "image": "redis"})
    );
    // Removing keeps the order of the remaining keys.
    let out = apply(
        json!({"a": 1, "b": 2, "c": 3}),
        json!([{"op": "remove", "path": "/a"}]),
    );
    assert_eq!(out.to_string(), r#"{"b":2,"c":3}"#);
    // Moving a value onto itself is a no-op.
    assert_eq!(
        apply(
            json!({"a": 1}),
            json!([{"op": "move", "from": "/a", "path": "/a"}])
        ),
        json!({"a": 1})
    );
}

#[test]
fn negative_indices_count_from_the_end() {
    let doc = json!({"l": [1, 2, 3]});
    assert_eq!(
        apply(doc.clone(), json!([{"op": "remove", "path": "/l/-1"}])),
        json!({"l": [1, 2]})
    );
    assert_eq!(
        apply(
            doc.clone(),
            json!([{"op": "replace", "path": "/l/-3", "value": 0}])
        ),
        json!({"l": [0, 2, 3]})
    );
    assert_eq!(
        apply(
            doc.clone(),
            json!([{"op": "add", "path": "/l/-1", "value": 4}])
        ),
        json!({"l": [1, 2, 3, 4]})
    );
    assert_eq!(
        apply(
            doc.clone(),
            json!([{"op": "add", "path": "/l/-4", "value": 0}])
        ),
        json!({"l": [0, 1, 2, 3]})
    );
    let err = apply_err(doc, json!([{"op": "remove", "path": "/l/-4"}]));
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn test_operation() {
    let doc = pod();
    let out = apply(
        doc.clone(),
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": ["a", "b"]},
            {"op": "test", "path": "/spec/containers/0/name", "value": "c0"},
            {"op": "remove", "path": "/metadata/finalizers"}
        ]),
    );
    assert!(out["metadata"].get("finalizers").is_none());
    // Numbers compare by value.
    apply(
        json!({"n": 1}),
        json!([{"op": "test", "path": "/n", "value": 1.0}]),
    );

    let err = apply_err(
        doc.clone(),
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": ["a"]},
            {"op": "remove", "path": "/metadata/finalizers"}
        ]),
    );
    assert!(
        matches!(err, PatchError::TestFailed { index: 0, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("test operation failed at /metadata/finalizers"),
        "{err}"
    );
    assert_eq!(err.http_status(), 422);

    let err = apply_err(doc, json!([{"op": "test", "path": "/nope", "value": null}]));
    assert!(matches!(err, PatchError::TestFailed { .. }), "{err:?}");
    assert!(err.to_string().contains("/nope does not exist"), "{err}");
}

#[test]
fn failure_leaves_no_partial_result() {
    let doc = pod();
    let err = apply_err(
        doc.clone(),
        json!([
            {"op": "replace", "path": "/metadata/name", "value": "changed"},
            {"op": "remove", "path": "/metadata/missing"}
        ]),
    );
    assert!(
        matches!(
            err,
            PatchError::OperationFailed {
                index: 1,
                op: "remove",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "JSON patch operation 1 (remove at /metadata/missing) cannot be applied: /metadata/missing does not exist"
    );
    assert_eq!(doc, pod());
}

#[test]
fn application_errors() {
    let cases = [
        (
            json!([{"op": "add", "path": "/spec/missing/x", "value": 1}]),
            "/spec/missing does not exist",
        ),
        (
            json!([{"op": "add", "path": "/spec/containers/5", "value": 1}]),
            "index 5 is out of range for a list of 2",
        ),
        (
            json!([{"op": "add", "path": "/spec/containers/x", "value": 1}]),
            "\"x\" is not a list index",
        ),
        (
            json!([{"op": "add", "path": "/metadata/name/x", "value": 1}]),
            "cannot add a member to a string",
        ),
        (
            json!([{"op": "replace", "path": "/spec/nope", "value": 1}]),
            "/spec/nope does not exist",
        ),
        (
            json!([{"op": "remove", "path": ""}]),
            "the whole document cannot be removed",
        ),
        (
            json!([{"op": "remove", "path": "/spec/containers/-"}]),
            "names no existing element",
        ),
        (
            json!([{"op": "move", "from": "/spec", "path": "/spec/x"}]),
            "cannot move /spec into its own child /spec/x",
        ),
        (
            json!([{"op": "move", "from": "/nope", "path": "/x"}]),
            "\"from\" /nope",
        ),
        (
            json!([{"op": "copy", "from": "/nope", "path": "/x"}]),
            "\"from\" /nope",
        ),
    ];
    for (patch, needle) in cases {
        let err = apply_err(pod(), patch.clone());
        assert!(
            matches!(err, PatchError::OperationFailed { .. }),
            "{patch}: {err:?}"
        );
        assert!(
            err.to_string().contains(needle),
            "{patch}: {err} lacks {needle:?}"
        );
        assert_eq!(err.http_status(), 422);
    }
}

#[test]
fn malformed_patches() {
    let err = json_patch(&pod(), b"[{\"op\": ").expect_err("not JSON");
    assert!(matches!(err, PatchError::InvalidJson(_)));
    assert!(
        err.to_string().starts_with("the patch is not valid JSON: "),
        "{err}"
    );
    assert_eq!(err.http_status(), 400);

    let err = json_patch(&pod(), b"{\"op\": \"add\"}").expect_err("not a list");
    assert_eq!(
        err.to_string(),
        "a JSON patch must be a JSON list of operations, but the patch is an object"
    );
    assert_eq!(err.http_status(), 400);

    let cases = [
        (
            json!([1]),
            "an operation must be a JSON object, got a number",
        ),
        (json!([{"path": "/a"}]), "it has no \"op\""),
        (
            json!([{"op": "frobnicate", "path": "/a"}]),
            "unsupported \"op\" \"frobnicate\"",
        ),
        (json!([{"op": 1, "path": "/a"}]), "\"op\" must be a string"),
        (
            json!([{"op": "add", "value": 1}]),
            "\"add\" operations need a \"path\"",
        ),
        (
            json!([{"op": "add", "path": "/a"}]),
            "\"add\" operations need a \"value\"",
        ),
        (
            json!([{"op": "move", "path": "/a"}]),
            "\"move\" operations need a \"from\"",
        ),
        (
            json!([{"op": "add", "path": "a", "value": 1}]),
            "must be empty or start with '/'",
        ),
        (
            json!([{"op": "add", "path": "/a~2", "value": 1}]),
            "'~' must be followed by '0' or '1'",
        ),
        (
            json!([{"op": "test", "path": 3, "value": 1}]),
            "must be a string holding a JSON pointer",
        ),
    ];
    for (patch, needle) in cases {
        let err = apply_err(pod(), patch.clone());
        assert!(
            matches!(err, PatchError::MalformedOperation { index: 0, .. }),
            "{patch}: {err:?}"
        );
        assert!(
            err.to_string().contains(needle),
            "{patch}: {err} lacks {needle:?}"
        );
        assert_eq!(err.http_status(), 400);
    }
    // A malformed operation anywhere rejects the patch before anything is applied.
    let err = apply_err(
        pod(),
        json!([{"op": "remove", "path": "/nope"}, {"op": "bad", "path": ""}]),
    );
    assert!(
        matches!(err, PatchError::MalformedOperation { index: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn empty_patch_is_identity() {
    assert_eq!(apply(pod(), json!([])), pod());
}

#[test]
fn operation_limit() {
    let ops: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
        .map(|_| json!({"op": "test", "path": "", "value": {}}))
        .collect();
    let err = json_patch_value(&json!({}), &Value::Array(ops)).expect_err("too many");
    assert!(matches!(
        err,
        PatchError::TooManyOperations {
            count: 10_001,
            max: 10_000
        }
    ));
    assert_eq!(err.http_status(), 413);
}

#[test]
fn copy_amplification_is_bounded() {
    // Each copy doubles the document: 40 of them would be a terabyte.
    let mut ops = vec![json!({"op": "add", "path": "/a", "value": ["x".repeat(1000)]})];
    for i in 0..40 {
        ops.push(json!({"op": "copy", "from": "/a", "path": format!("/b{i}")}));
        ops.push(json!({"op": "add", "path": "/a/-", "value": {"ref": format!("/b{i}")}}));
        ops.push(json!({"op": "copy", "from": "/a", "path": "/a/-"}));
    }
    let err = json_patch_value(&json!({}), &Value::Array(ops)).expect_err("bounded");
    assert!(matches!(err, PatchError::LimitExceeded(_)), "{err:?}");
    assert!(err.to_string().contains("duplicate more than"), "{err}");
}

#[test]
fn depth_is_bounded() {
    let mut ops = vec![json!({"op": "add", "path": "/a", "value": {}})];
    let mut path = String::from("/a");
    for _ in 0..MAX_PATCHED_DEPTH + 5 {
        path.push_str("/a");
        ops.push(json!({"op": "add", "path": path, "value": {}}));
    }
    let err = json_patch_value(&json!({}), &Value::Array(ops)).expect_err("too deep");
    assert!(err.to_string().contains("deeper than 100 levels"), "{err}");
    // A deep but allowed document is fine.
    let mut ops = vec![json!({"op": "add", "path": "/a", "value": {}})];
    let mut path = String::from("/a");
    for _ in 0..50 {
        path.push_str("/a");
        ops.push(json!({"op": "add", "path": path, "value": {}}));
    }
    assert!(json_patch_value(&json!({}), &Value::Array(ops)).is_ok());
}
