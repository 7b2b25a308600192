//! Bad input gets a clear 4xx Status and changes nothing.

mod common;

use common::Cluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

/// Sends a raw request; returns (HTTP code, Status message) of the error.
async fn fails(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(body)
        .expect("request");
    match client.request_text(req).await {
        Ok(text) => panic!("{method} {path} unexpectedly succeeded: {text}"),
        Err(kube::Error::Api(s)) => (s.code, s.message),
        Err(other) => panic!("{method} {path}: unexpected error kind: {other}"),
    }
}

async fn revision(cms: &Api<ConfigMap>) -> String {
    cms.list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv")
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// method, path, content type, body, expected code, text the message must contain.
type Case<'a> = (&'a str, String, &'a str, Vec<u8>, u16, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused_and_store_nothing() {
    let c = Cluster::api_only();
    let client = c.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let good = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}, "data": {"a": "b"}});
    cms.create(
        &Default::default(),
        &serde_json::from_value(good.clone()).expect("cm"),
    )
    .await
    .expect("create");
    let rev = revision(&cms).await;

    let item = format!("{CMS}/ok");
    let cases: Vec<Case> = vec![
        ("POST", CMS.to_owned(), "application/json", b"{not json".to_vec(), 400, "not valid JSON"),
        ("POST", CMS.to_owned(), "application/yaml", b"a: [unclosed".to_vec(), 400, "not valid YAML"),
        ("POST", CMS.to_owned(), "application/json", br#"{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}"#.to_vec(), 400, "does not match the expected API version"),
        ("POST", CMS.to_owned(), "application/json", br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#.to_vec(), 400, "does not match the expected kind"),
        ("POST", CMS.to_owned(), "application/json", br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}"#.to_vec(), 422, "metadata.name"),
        ("POST", CMS.to_owned(), "application/json", br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}"#.to_vec(), 422, "name or generateName is required"),
        ("POST", CMS.to_owned(), "application/json", br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"dataa":{}}"#.to_vec(), 422, "dataa"),
        ("POST", CMS.to_owned(), "application/json", br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"other"}}"#.to_vec(), 400, "does not match the namespace"),
        ("POST", CMS.to_owned(), "application/json", br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":1}}"#.to_vec(), 400, "cannot be handled"),
        ("POST", CMS.to_owned(), "application/vnd.kubernetes.protobuf", b"k8s\0garbage".to_vec(), 400, ""),
        ("POST", CMS.to_owned(), "text/plain", b"hello".to_vec(), 415, "unknown format"),
        ("POST", "/api/v1/namespaces/nope/configmaps".to_owned(), "application/json", br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#.to_vec(), 404, "namespaces \"nope\" not found"),
        ("PATCH", item.clone(), "application/json-patch+json", b"[{\"op\":\"explode\"}]".to_vec(), 400, "could not be decoded"),
        ("PATCH", item.clone(), "application/json-patch+json", br#"[{"op":"test","path":"/data/a","value":"z"}]"#.to_vec(), 422, ""),
        ("PATCH", item.clone(), "application/merge-patch+json", b"{oops".to_vec(), 400, "not valid JSON"),
        ("PATCH", item.clone(), "application/merge-patch+json", br#"{"data":{"a":5}}"#.to_vec(), 400, "cannot be handled"),
        ("PATCH", item.clone(), "application/strategic-merge-patch+json", br#"{"metadata":{"$patch":"explode"}}"#.to_vec(), 400, "explode"),
        ("PUT", item.clone(), "application/json", br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}"#.to_vec(), 400, "does not match the name"),
        ("PUT", item.clone(), "application/json", br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ok","resourceVersion":"1"}}"#.to_vec(), 409, "has been modified"),
        ("GET", format!("{CMS}?labelSelector=a%3D%3D%3Db"), "application/json", vec![], 400, ""),
        ("GET", format!("{CMS}?continue=garbage!"), "application/json", vec![], 400, "continue token"),
        ("GET", format!("{CMS}?limit=many"), "application/json", vec![], 400, "limit"),
        ("DELETE", item.clone(), "application/json", br#"{"propagationPolicy":"Sometimes"}"#.to_vec(), 400, "propagationPolicy"),
        ("DELETE", item.clone(), "application/json", br#"{"preconditions":{"uid":"not-the-uid"}}"#.to_vec(), 409, "Precondition failed"),
    ];
    for (method, path, ct, body, code, needle) in cases {
        let (got, message) = fails(&client, method, &path, ct, body).await;
        assert_eq!(got, code, "{method} {path} ({ct}): {message}");
        assert!(
            message.contains(needle),
            "{method} {path}: {message:?} should mention {needle:?}"
        );
        assert!(!message.is_empty());
    }
    // A body over 3 MiB.
    let big = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": "x".repeat(3 * 1024 * 1024 + 10)}});
    let (code, _) = fails(
        &client,
        "POST",
        CMS,
        "application/json",
        serde_json::to_vec(&big).expect("json"),
    )
    .await;
    assert_eq!(code, 413);

    assert_eq!(
        revision(&cms).await,
        rev,
        "no bad request changed the store"
    );
    let ok = cms.get("ok").await.expect("still there");
    assert_eq!(ok.data.expect("data")["a"], "b");

    // Unknown fields are pruned (not stored) when the client asks to ignore them.
    let req = http::Request::post(format!("{CMS}?fieldValidation=Ignore"))
        .header("content-type", "application/json")
        .body(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"pruned"},"dataa":{"x":"y"},"data":{"a":"b"}}"#.to_vec())
        .expect("request");
    let text = client.request_text(req).await.expect("created with Ignore");
    assert!(!text.contains("dataa"));
    let req = http::Request::post(format!("{CMS}?fieldValidation=Warn"))
        .header("content-type", "application/json")
        .body(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warned"},"dataa":{"x":"y"}}"#.to_vec())
        .expect("request");
    client.request_text(req).await.expect("created with Warn");
}

#[test]
fn kubectl_reports_bad_manifests_clearly() {
    let c = Cluster::start();
    let out = c.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: [1, 2\n",
    );
    assert!(!out.status.success());
    let out = c.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.containers[0].image"), "{err}");
    assert!(
        c.kubectl_output(&["get", "pod", "p"]).status.code() != Some(0),
        "nothing stored"
    );
}
