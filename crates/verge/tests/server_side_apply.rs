//! Server-side apply end to end: the real kubectl (`apply --server-side`,
//! `--force-conflicts`, `scale`, `get --show-managed-fields`) and kube-rs
//! `Patch::Apply` against a real `verge server`.

mod common;

use common::Cluster;
use serde_json::{Value, json};

/// A server without controllers: these tests are about the managers of the
/// writes they make themselves (the deployment controller would add its own
/// entries for the status and revision it writes).
fn cluster() -> Cluster {
    Cluster::start_with(&["--controllers", "none"])
}

fn deployment(replicas: u32, team_label: bool) -> String {
    let team = if team_label { ", team: edge" } else { "" };
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web{team}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
"#
    )
}

fn get(c: &Cluster) -> Value {
    let out = c.kubectl(&[
        "get",
        "deployment",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    serde_json::from_str(&out).expect("deployment json")
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or("").to_owned(),
                        e["operation"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The managedFields entries (manager, operation) owning `.spec.replicas`.
fn replicas_owners(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["fieldsV1"]["f:spec"].get("f:replicas").is_some())
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or("").to_owned(),
                e["operation"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn ssa(c: &Cluster, manifest: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--server-side", "--field-manager=ops"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-f", "-"]);
    c.kubectl_stdin(&args, manifest)
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kubectl_server_side_apply_conflicts_and_force() {
    let c = cluster();

    // Create.
    let out = ok(&ssa(&c, &deployment(2, true), &[]));
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let obj = get(&c);
    assert_eq!(obj["spec"]["replicas"], 2);
    assert_eq!(managers(&obj), [("ops".to_owned(), "Apply".to_owned())]);
    let fields = &obj["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(
        fields["f:metadata"]["f:labels"],
        json!({"f:app": {}, "f:team": {}})
    );
    assert_eq!(
        fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]["f:ports"],
        json!({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}})
    );
    // Managed fields are hidden unless asked for.
    let plain = c.kubectl(&["get", "deployment", "web", "-o", "yaml"]);
    assert!(!plain.contains("managedFields"), "{plain}");

    // A second apply without the team label removes it.
    ok(&ssa(&c, &deployment(2, false), &[]));
    let obj = get(&c);
    assert_eq!(obj["metadata"]["labels"], json!({"app": "web"}));

    // kubectl scale takes .spec.replicas; applying another value conflicts.
    c.kubectl(&["scale", "deployment/web", "--replicas=5"]);
    let obj = get(&c);
    assert_eq!(obj["spec"]["replicas"], 5);
    let owners = replicas_owners(&obj);
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(owners[0].1, "Update", "{owners:?}");
    let out = ssa(&c, &deployment(3, false), &[]);
    assert!(!out.status.success(), "the apply should conflict");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with"),
        "{stderr}"
    );
    assert!(stderr.contains(": .spec.replicas"), "{stderr}");
    assert!(stderr.contains("--force-conflicts"), "{stderr}");
    assert_eq!(get(&c)["spec"]["replicas"], 5, "nothing changed");

    // Both managers show up.
    let yaml = c.kubectl(&[
        "get",
        "deployment",
        "web",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    assert!(yaml.contains("managedFields:"), "{yaml}");
    assert!(yaml.contains("manager: ops"), "{yaml}");
    assert!(yaml.contains("operation: Apply"), "{yaml}");
    assert!(yaml.contains("operation: Update"), "{yaml}");
    assert!(yaml.contains("f:replicas: {}"), "{yaml}");

    // Applying the live value shares the field: no conflict.
    ok(&ssa(&c, &deployment(5, false), &[]));
    assert_eq!(replicas_owners(&get(&c)).len(), 2);

    // --force-conflicts wins and takes the field.
    let out = ok(&ssa(&c, &deployment(3, false), &["--force-conflicts"]));
    assert!(out.contains("serverside-applied"), "{out}");
    let obj = get(&c);
    assert_eq!(obj["spec"]["replicas"], 3);
    assert_eq!(
        replicas_owners(&obj),
        [("ops".to_owned(), "Apply".to_owned())]
    );
}

/// `kubectl get <what> -o json --show-managed-fields`.
fn get_with_managed_fields(c: &Cluster, what: &str) -> Value {
    let out = c.kubectl(&["get", what, "-o", "json", "--show-managed-fields"]);
    serde_json::from_str(&out).expect("object json")
}

/// The managers (name, operation) whose fieldsV1 has `field` under `parent`
/// (`f:spec` / `f:replicas`).
fn owners_of(obj: &Value, parent: &str, field: &str) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["fieldsV1"][parent].get(field).is_some())
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or("").to_owned(),
                e["operation"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn kubectl_create_owns_its_fields_and_server_side_apply_conflicts_with_it() {
    let c = cluster();
    let create_update = ("kubectl-create".to_owned(), "Update".to_owned());

    // `kubectl create` records an Update entry for its manager.
    c.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
    ]);
    let yaml = c.kubectl(&[
        "get",
        "deployment",
        "web",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    for expected in [
        "manager: kubectl-create",
        "operation: Update",
        "apiVersion: apps/v1",
        "fieldsType: FieldsV1",
        "f:replicas: {}",
        "k:{\"name\":\"nginx\"}:",
        "f:image: {}",
        "time: ",
    ] {
        assert!(yaml.contains(expected), "missing {expected:?} in:\n{yaml}");
    }
    let obj = get_with_managed_fields(&c, "deployment/web");
    assert_eq!(managers(&obj), std::slice::from_ref(&create_update));
    let fields = &obj["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(
        fields["f:metadata"]["f:labels"],
        json!({".": {}, "f:app": {}})
    );
    assert!(
        fields["f:metadata"].get("f:name").is_none(),
        "the name is nobody's: {fields}"
    );
    assert_eq!(
        fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]["f:image"],
        json!({})
    );

    // Applying another replica count conflicts with kubectl-create.
    let out = ssa(&c, &deployment(3, false), &[]);
    assert!(!out.status.success(), "the apply should conflict");
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl-create\" using apps/v1: .spec.replicas"
        ),
        "{stderr}"
    );
    assert_eq!(get(&c)["spec"]["replicas"], 2, "nothing changed");

    // Forced, the applier takes .spec.replicas; kubectl-create keeps the rest.
    let out = ok(&ssa(&c, &deployment(3, false), &["--force-conflicts"]));
    assert!(out.contains("serverside-applied"), "{out}");
    let obj = get(&c);
    assert_eq!(obj["spec"]["replicas"], 3);
    assert_eq!(
        owners_of(&obj, "f:spec", "f:replicas"),
        [("ops".to_owned(), "Apply".to_owned())]
    );
    assert_eq!(
        owners_of(&obj, "f:spec", "f:strategy"),
        std::slice::from_ref(&create_update)
    );
    let yaml = c.kubectl(&[
        "get",
        "deployment",
        "web",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    assert!(yaml.contains("manager: ops"), "{yaml}");
    assert!(yaml.contains("manager: kubectl-create"), "{yaml}");

    // The same for a ConfigMap's data.
    c.kubectl(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=edge",
    ]);
    let obj = get_with_managed_fields(&c, "configmap/settings");
    assert_eq!(managers(&obj), std::slice::from_ref(&create_update));
    assert_eq!(
        obj["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {".": {}, "f:mode": {}}})
    );
    let config =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: cloud\n";
    let out = ssa(&c, config, &[]);
    assert!(!out.status.success(), "the apply should conflict");
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("conflict with \"kubectl-create\" using v1: .data.mode"),
        "{stderr}"
    );
    ok(&ssa(&c, config, &["--force-conflicts"]));
    let obj = get_with_managed_fields(&c, "configmap/settings");
    assert_eq!(obj["data"]["mode"], "cloud");
    assert_eq!(
        owners_of(&obj, "f:data", "f:mode"),
        [("ops".to_owned(), "Apply".to_owned())]
    );
}

#[test]
fn kubectl_moves_from_client_side_to_server_side_apply() {
    let c = cluster();
    // Client-side apply keeps the last-applied annotation.
    c.apply(&deployment(2, true));
    // Server-side apply with kubectl's own manager, changing replicas: the
    // value is still the last-applied one, so no conflict. kubectl then
    // applies the annotation alone as `kubectl-last-applied`.
    let out = c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &deployment(3, true));
    ok(&out);
    let obj = get(&c);
    assert_eq!(obj["spec"]["replicas"], 3);
    let annotation =
        obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .expect("last-applied annotation kept");
    let last: Value = serde_json::from_str(annotation).expect("json");
    assert_eq!(last["spec"]["replicas"], 3, "annotation follows the apply");
    let managers = managers(&obj);
    assert!(
        managers.contains(&("kubectl".to_owned(), "Apply".to_owned())),
        "{managers:?}"
    );
    assert!(
        managers.contains(&("kubectl-last-applied".to_owned(), "Apply".to_owned())),
        "{managers:?}"
    );
    // And back to client-side apply.
    c.apply(&deployment(4, true));
    assert_eq!(get(&c)["spec"]["replicas"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_apply_conflicts_are_409_with_causes() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams};

    let c = cluster();
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let config = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"mode": v}});
    let created = cms
        .patch(
            "cfg",
            &PatchParams::apply("a"),
            &Patch::Apply(config("edge")),
        )
        .await
        .expect("create");
    assert_eq!(created.data.expect("data")["mode"], "edge");
    let err = cms
        .patch(
            "cfg",
            &PatchParams::apply("b"),
            &Patch::Apply(config("cloud")),
        )
        .await
        .expect_err("conflict");
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err}");
    };
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"a\": .data.mode"
    );
    let cause = &status.details.expect("details").causes[0];
    assert_eq!(cause.reason, "FieldManagerConflict");
    assert_eq!(cause.field, ".data.mode");
    assert_eq!(cause.message, "conflict with \"a\"");

    let forced = cms
        .patch(
            "cfg",
            &PatchParams::apply("b").force(),
            &Patch::Apply(config("cloud")),
        )
        .await
        .expect("forced");
    assert_eq!(forced.data.expect("data")["mode"], "cloud");
    let entries = forced.metadata.managed_fields.expect("managed fields");
    assert_eq!(entries.len(), 1, "a lost its only field");
    assert_eq!(entries[0].manager.as_deref(), Some("b"));
}
