//! The API server as stock kubectl sees it: every test runs the real kubectl
//! binary against a real `verge server` process.

mod common;

use std::time::Duration;

use common::{Cluster, eventually};

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
"#;

const CONFIGMAP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: edge
"#;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color, priority: 1}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should be.
            properties:
              size: {type: integer, minimum: 1, description: How big the widget is.}
              color: {type: string, enum: [red, blue]}
          status:
            type: object
            properties:
              ready: {type: boolean}
"#;

const WIDGET: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
  color: red
"#;

#[test]
fn version_health_and_anonymous_requests() {
    let c = Cluster::start();
    let out = c.kubectl(&["version", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("version json");
    assert_eq!(v["serverVersion"]["major"], "1");
    assert_eq!(v["serverVersion"]["minor"], "32");
    // The dispatcher ran the matching kubectl.
    assert!(
        v["clientVersion"]["minor"]
            .as_str()
            .unwrap_or("")
            .starts_with("32"),
        "{out}"
    );

    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(c.kubectl(&["get", "--raw", path]), "ok");
    }
    // No client certificate (a token this server does not know): 401 for the API.
    let anon = c.dir.path().join("anon.kubeconfig");
    let kc = std::fs::read_to_string(&c.kubeconfig).expect("kubeconfig");
    let ca = kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data:"))
        .expect("CA in kubeconfig")
        .trim()
        .to_owned();
    let anon_config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: nobody\n  user: {{token: not-a-credential}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: nobody}}\ncurrent-context: c\n",
        c.url
    );
    std::fs::write(&anon, anon_config).expect("write");
    let out = std::process::Command::new("kubectl")
        .args([
            "--kubeconfig",
            common::path_str(&anon),
            "get",
            "--raw",
            "/api/v1/namespaces",
        ])
        .env("HOME", &c.home)
        .output()
        .expect("kubectl");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unauthorized"), "{err}");
}

#[test]
fn discovery_lists_resources_with_short_names_and_categories() {
    let c = Cluster::start();
    let out = c.kubectl(&["api-resources", "-o", "wide"]);
    for (name, short, group) in [
        ("pods", "po", "v1"),
        ("deployments", "deploy", "apps/v1"),
        ("configmaps", "cm", "v1"),
        (
            "customresourcedefinitions",
            "crd,crds",
            "apiextensions.k8s.io/v1",
        ),
        ("priorityclasses", "pc", "scheduling.k8s.io/v1"),
        ("cronjobs", "cj", "batch/v1"),
    ] {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from api-resources:\n{out}"));
        assert!(line.contains(short) && line.contains(group), "{line}");
    }
    for r in [
        "leases",
        "endpointslices",
        "statefulsets",
        "daemonsets",
        "jobs",
        "events",
        "serviceaccounts",
        "persistentvolumeclaims",
    ] {
        assert!(out.lines().any(|l| l.starts_with(r)), "{r} missing");
    }
    // Legacy discovery works too (kube-rs Discovery::run uses it).
    let legacy = c.kubectl(&["get", "--raw", "/apis/apps/v1"]);
    assert!(legacy.contains("\"deployments/scale\""), "{legacy}");
}

#[test]
fn apply_get_describe_and_tables() {
    let c = Cluster::start();
    let out = c.apply(DEPLOYMENT);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    c.apply(CONFIGMAP);
    // Apply again: unchanged.
    assert!(c.apply(DEPLOYMENT).contains("unchanged"));

    let out = c.kubectl(&["get", "deploy,cm", "-A", "-o", "wide"]);
    let header = out.lines().next().unwrap_or("");
    for col in [
        "NAMESPACE",
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ] {
        assert!(header.contains(col), "missing column {col}: {out}");
    }
    assert!(
        out.contains("web") && out.contains("nginx:1.27") && out.contains("app=web"),
        "{out}"
    );
    assert!(out.contains("configmap/settings"), "{out}");

    // Defaults applied by the server show in describe.
    let out = c.kubectl(&["describe", "deployment", "web"]);
    assert!(
        out.contains("StrategyType:           RollingUpdate"),
        "{out}"
    );
    assert!(out.contains("80/TCP"), "{out}");

    // Changing the manifest patches the object and bumps its generation.
    let changed = DEPLOYMENT
        .replace("replicas: 2", "replicas: 3")
        .replace("nginx:1.27", "nginx:1.28");
    assert!(c.apply(&changed).contains("configured"));
    let out = c.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.generation}"]);
    assert_eq!(out, "3 nginx:1.28 2");

    let out = c.kubectl(&["get", "deploy", "web", "-o", "yaml"]);
    assert!(
        out.contains("uid:")
            && out.contains("creationTimestamp:")
            && out.contains("resourceVersion:")
    );
}

#[test]
fn label_annotate_scale_edit_delete() {
    let c = Cluster::start();
    c.apply(DEPLOYMENT);
    c.kubectl(&["label", "deploy", "web", "tier=frontend"]);
    c.kubectl(&["annotate", "deploy", "web", "note=hello"]);
    let out = c.kubectl(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.labels.tier} {.metadata.annotations.note}",
    ]);
    assert_eq!(out, "frontend hello");
    c.kubectl(&["label", "deploy", "web", "tier-"]);
    assert_eq!(
        c.kubectl(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.labels.tier}"
        ]),
        ""
    );

    assert!(
        c.kubectl(&["scale", "deploy", "web", "--replicas=5"])
            .contains("scaled")
    );
    assert_eq!(
        c.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );

    let out = c
        .kubectl_cmd()
        .args(["edit", "deploy", "web"])
        .env("KUBE_EDITOR", "sed -i s/replicas:\\ 5/replicas:\\ 7/")
        .output()
        .expect("kubectl edit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        c.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "7"
    );

    let out = c.kubectl(&["rollout", "restart", "deploy", "web"]);
    assert!(out.contains("restarted"), "{out}");
    let out = c.kubectl(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.metadata.annotations}",
    ]);
    assert!(out.contains("kubectl.kubernetes.io/restartedAt"), "{out}");

    assert!(c.kubectl(&["delete", "deploy", "web"]).contains("deleted"));
    let err = c.kubectl_fails(&["get", "deploy", "web"]);
    assert!(
        err.contains("Error from server (NotFound): deployments.apps \"web\" not found"),
        "{err}"
    );
}

#[test]
fn crds_serve_at_once_with_printer_columns_and_validation() {
    let c = Cluster::start();
    c.apply(CRD);
    let out = c.apply(WIDGET);
    assert!(out.contains("widget.example.com/w1 created"), "{out}");
    let out = c.kubectl(&["get", "wd", "-o", "wide"]);
    let header = out.lines().next().unwrap_or("");
    // Printer columns replace the default Age column, as in Kubernetes.
    assert!(header.contains("SIZE") && header.contains("COLOR"), "{out}");
    assert!(
        out.contains("w1") && out.contains('3') && out.contains("red"),
        "{out}"
    );

    // Schema validation: enum and minimum.
    let bad = WIDGET
        .replace("size: 3", "size: 0")
        .replace("color: red", "color: green");
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &bad.replace("w1", "w2"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.size") && err.contains("spec.color"),
        "{err}"
    );

    // Unknown fields are refused under kubectl's default strict validation.
    let unknown = WIDGET.replace("color: red", "color: red\n  flavour: mint");
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &unknown);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.flavour"));
    // With --validate=warn it is stored without the field, and kubectl warns.
    let out = c.kubectl_stdin(&["apply", "--validate=warn", "-f", "-"], &unknown);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Warning: unknown field \"spec.flavour\""),
        "{err}"
    );
    assert_eq!(
        c.kubectl(&["get", "widget", "w1", "-o", "jsonpath={.spec.flavour}"]),
        ""
    );

    // explain reads the CRD's schema.
    let out = c.kubectl(&["explain", "widget.spec"]);
    assert!(out.contains("How big the widget is"), "{out}");

    // Deleting the CRD removes its objects and its resource.
    c.kubectl(&["delete", "crd", "widgets.example.com"]);
    eventually(
        "widgets to disappear from discovery",
        Duration::from_secs(20),
        || {
            let out = c.kubectl_output(&["get", "widgets"]);
            (!out.status.success()).then_some(())
        },
    );
}

#[test]
fn unknown_fields_and_explain_for_builtins() {
    let c = Cluster::start();
    let bad = DEPLOYMENT.replace(
        "image: nginx:1.27",
        "image: nginx:1.27\n        imagePullPolicyy: Always",
    );
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.template.spec.containers[0].imagePullPolicyy"),
        "{err}"
    );
    // Nothing was stored.
    assert!(c.kubectl_output(&["get", "deploy", "web"]).status.code() != Some(0));

    let out = c.kubectl(&["explain", "pod.spec.containers"]);
    assert!(out.contains("imagePullPolicy"), "{out}");
}

#[test]
fn create_generators_send_protobuf() {
    let c = Cluster::start();
    assert!(
        c.kubectl(&["create", "namespace", "edge"])
            .contains("namespace/edge created")
    );
    c.kubectl(&[
        "create",
        "configmap",
        "c1",
        "-n",
        "edge",
        "--from-literal=a=b",
    ]);
    c.kubectl(&[
        "create",
        "secret",
        "generic",
        "s1",
        "-n",
        "edge",
        "--from-literal=p=q",
    ]);
    c.kubectl(&[
        "create",
        "deployment",
        "d1",
        "-n",
        "edge",
        "--image=busybox:1.36",
        "--replicas=2",
    ]);
    assert_eq!(
        c.kubectl(&["get", "cm", "c1", "-n", "edge", "-o", "jsonpath={.data.a}"]),
        "b"
    );
    assert_eq!(
        c.kubectl(&[
            "get",
            "secret",
            "s1",
            "-n",
            "edge",
            "-o",
            "jsonpath={.data.p}"
        ]),
        "cQ=="
    );
    assert_eq!(
        c.kubectl(&[
            "get",
            "deploy",
            "d1",
            "-n",
            "edge",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"
        ]),
        "2 busybox:1.36"
    );
}

#[test]
fn watch_streams_changes_to_kubectl() {
    let c = Cluster::start();
    let mut child = c
        .kubectl_cmd()
        .args(["get", "configmaps", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl get -w");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // Create until the watcher is seen to report it (it may start after the first create).
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    c.kubectl(&["create", "configmap", "w1", "--from-literal=a=b"]);
    c.kubectl(&["label", "configmap", "w1", "x=y"]);
    c.kubectl(&["delete", "configmap", "w1"]);
    while std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
        if seen
            .iter()
            .any(|l| l.starts_with("DELETED") && l.contains("w1"))
        {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("ADDED") && l.contains("w1")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with("MODIFIED") && l.contains("w1")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with("DELETED") && l.contains("w1")),
        "{seen:?}"
    );
}

#[test]
fn restart_reuses_certificates_and_data() {
    let mut c = Cluster::start();
    c.apply(CONFIGMAP);
    let ca_before = std::fs::read(c.data_dir.join("pki/ca.crt")).expect("ca");
    let kc_before = std::fs::read_to_string(&c.kubeconfig).expect("kubeconfig");
    c.restart();
    assert_eq!(
        std::fs::read(c.data_dir.join("pki/ca.crt")).expect("ca"),
        ca_before
    );
    assert_eq!(
        std::fs::read_to_string(&c.kubeconfig).expect("kubeconfig"),
        kc_before
    );
    assert_eq!(
        c.kubectl(&["get", "cm", "settings", "-o", "jsonpath={.data.mode}"]),
        "edge"
    );
}

#[test]
fn errors_are_status_objects_kubectl_prints() {
    let c = Cluster::start();
    c.apply(CONFIGMAP);
    let path = c.write_file("cm.yaml", CONFIGMAP);
    let err = c.kubectl_fails(&["create", "-f", common::path_str(&path)]);
    assert!(
        err.contains("AlreadyExists") && err.contains("configmaps \"settings\" already exists"),
        "{err}"
    );

    let bad_name = CONFIGMAP.replace("name: settings", "name: Bad_Name");
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &bad_name);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is invalid") && err.contains("metadata.name"),
        "{err}"
    );

    let wrong_kind = CONFIGMAP.replace("kind: ConfigMap", "kind: ConfigMapz");
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &wrong_kind);
    assert!(!out.status.success());
}

#[test]
fn crd_versions_share_storage_and_serve_their_own_api_version() {
    let c = Cluster::start();
    let two_versions = CRD.replace(
        "  versions:\n  - name: v1\n    served: true\n    storage: true\n",
        "  versions:\n  - name: v2\n    served: true\n    storage: false\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n  - name: v1\n    served: true\n    storage: true\n",
    );
    assert_ne!(two_versions, CRD, "the manifest gained a second version");
    c.apply(&two_versions);
    c.apply(WIDGET);
    let v1 = c.kubectl(&[
        "get",
        "widgets.v1.example.com",
        "w1",
        "-o",
        "jsonpath={.apiVersion} {.spec.size}",
    ]);
    assert_eq!(v1, "example.com/v1 3");
    let v2 = c.kubectl(&[
        "get",
        "widgets.v2.example.com",
        "w1",
        "-o",
        "jsonpath={.apiVersion} {.spec.size}",
    ]);
    assert_eq!(v2, "example.com/v2 3");
    // Written through v2, read through v1.
    c.kubectl(&[
        "patch",
        "widgets.v2.example.com",
        "w1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":5}}"#,
    ]);
    let v1 = c.kubectl(&[
        "get",
        "widgets.v1.example.com",
        "w1",
        "-o",
        "jsonpath={.apiVersion} {.spec.size}",
    ]);
    assert_eq!(v1, "example.com/v1 5");
}

#[test]
fn deleting_a_namespace_deletes_its_content() {
    let c = Cluster::start();
    c.kubectl(&["create", "namespace", "gone"]);
    c.kubectl(&[
        "-n",
        "gone",
        "create",
        "configmap",
        "c1",
        "--from-literal=a=b",
    ]);
    c.kubectl(&[
        "-n",
        "gone",
        "create",
        "deployment",
        "d1",
        "--image=busybox",
    ]);
    // kubectl waits until the namespace is really gone.
    let out = c.kubectl(&["delete", "namespace", "gone", "--timeout=60s"]);
    assert!(out.contains("namespace \"gone\" deleted"), "{out}");
    let err = c.kubectl_fails(&["get", "namespace", "gone"]);
    assert!(err.contains("NotFound"), "{err}");
    assert_eq!(
        c.kubectl(&[
            "get",
            "configmaps",
            "-A",
            "--field-selector",
            "metadata.namespace=gone",
            "-o",
            "name"
        ]),
        ""
    );
    assert_eq!(c.kubectl(&["get", "deployments", "-A", "-o", "name"]), "");
    // New content in a namespace being deleted is refused; system namespaces exist.
    let out = c.kubectl(&["get", "ns", "-o", "name"]);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(out.contains(&format!("namespace/{ns}")), "{out}");
    }
}

#[test]
fn metrics_describe_events_get_all_and_sort_by() {
    let c = Cluster::start();
    c.kubectl(&["run", "p1", "--image=busybox"]);
    let uid = c.kubectl(&["get", "pod", "p1", "-o", "jsonpath={.metadata.uid}"]);
    let event = format!(
        r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"p1.1","namespace":"default"}},
           "involvedObject":{{"kind":"Pod","name":"p1","namespace":"default","uid":"{uid}","apiVersion":"v1"}},
           "reason":"Pulling","message":"Pulling image busybox","type":"Normal","count":1,
           "firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:00:00Z","source":{{"component":"verge-agent"}}}}"#
    );
    c.apply(&event);
    let out = c.kubectl(&["describe", "pod", "p1"]);
    assert!(out.contains("Pulling image busybox"), "{out}");
    let out = c.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=Pod,reason=Pulling",
        "-o",
        "name",
    ]);
    assert_eq!(out.trim(), "event/p1.1");

    c.apply(DEPLOYMENT);
    let out = c.kubectl(&["get", "all"]);
    assert!(
        out.contains("pod/p1") && out.contains("deployment.apps/web"),
        "{out}"
    );

    for name in ["zeta", "alpha", "mid"] {
        c.kubectl(&["create", "configmap", name]);
    }
    let out = c.kubectl(&[
        "get",
        "cm",
        "--sort-by=.metadata.name",
        "-o",
        "custom-columns=N:.metadata.name",
        "--no-headers",
    ]);
    let names: Vec<&str> = out
        .lines()
        .filter(|l| ["zeta", "alpha", "mid"].contains(l))
        .collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);

    let metrics = c.kubectl(&["get", "--raw", "/metrics"]);
    assert!(metrics.contains("verge_apiserver_request_duration_seconds_count{verb=\"create\",resource=\"configmaps\",code=\"201\"}"), "{metrics}");
    assert!(metrics.contains("verge_store_revision "), "{metrics}");
    assert!(metrics.contains("verge_store_batches_total "), "{metrics}");
    assert!(metrics.contains("verge_watch_cache_objects "), "{metrics}");
}
