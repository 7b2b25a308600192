//! Property tests of the request decoding paths: whatever bytes a client
//! sends, decoding answers with a value or a 4xx error, never a panic; and the
//! resourceVersion splice keeps every other byte of an object's meaning.

use proptest::prelude::*;
use serde_json::{Value, json};
use verge_apiserver::object::{to_stored_bytes, with_api_version, with_resource_version};
use verge_apiserver::registry::Registry;
use verge_apiserver::request::{BodyFormat, Query, decode_object, parse_path};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_any_body_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        for format in [BodyFormat::Json, BodyFormat::Yaml, BodyFormat::Protobuf, BodyFormat::MergePatch, BodyFormat::ApplyPatch] {
            if let Err(e) = decode_object(format, &body) {
                prop_assert!(e.code.is_client_error(), "{format:?}: {e}");
            }
        }
    }

    #[test]
    fn decoding_any_text_never_panics(text in ".{0,256}") {
        for format in [BodyFormat::Json, BodyFormat::Yaml] {
            if let Err(e) = decode_object(format, text.as_bytes()) {
                prop_assert!(e.code.is_client_error());
            }
        }
    }

    #[test]
    fn query_strings_never_panic(q in ".{0,128}") {
        let _ = Query::parse(Some(&q));
    }

    #[test]
    fn paths_never_panic(segments in prop::collection::vec("[a-z0-9%./-]{0,10}", 0..8)) {
        let registry = Registry::with_builtins();
        let path = format!("/{}", segments.join("/"));
        let _ = parse_path(&registry, &path);
        let _ = parse_path(&registry, &format!("/api/v1/{}", segments.join("/")));
        let _ = parse_path(&registry, &format!("/apis/apps/v1/namespaces/{}", segments.join("/")));
    }

    #[test]
    fn resource_version_splice_preserves_the_object(
        meta in prop::collection::btree_map("[a-z]{1,8}", json_value(), 0..5),
        rest in prop::collection::btree_map("[a-z]{1,8}", json_value(), 0..5),
        rev in 1i64..i64::MAX,
    ) {
        let mut obj = json!({"apiVersion": "v1", "kind": "Thing"});
        for (k, v) in &rest {
            obj[k] = v.clone();
        }
        obj["metadata"] = Value::Object(meta.into_iter().collect());
        let stored = to_stored_bytes(&obj);
        let out: Value = serde_json::from_slice(&with_resource_version(&stored, rev)).expect("valid JSON");
        prop_assert_eq!(&out["metadata"]["resourceVersion"], &json!(rev.to_string()));
        let mut expected = obj.clone();
        expected["metadata"]["resourceVersion"] = json!(rev.to_string());
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn splicing_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256), rev in any::<i64>()) {
        let _ = with_resource_version(&bytes, rev);
        let _ = with_api_version(&bytes::Bytes::from(bytes), "example.com/v2");
    }
}
