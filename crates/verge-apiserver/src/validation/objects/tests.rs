//! Realistic manifests validate cleanly; each rule has a case that breaks it.

use serde_json::{Value, json};

use super::{FieldError, NameRule, name_rule, validate};
use crate::defaults::apply_defaults;
use crate::registry::{CustomVersion, Registry, ResourceType};

const REQ: &str = "FieldValueRequired";
const INV: &str = "FieldValueInvalid";
const UNS: &str = "FieldValueNotSupported";
const DUP: &str = "FieldValueDuplicate";
const FORB: &str = "FieldValueForbidden";
const NF: &str = "FieldValueNotFound";
const LONG: &str = "FieldValueTooLong";
const MANY: &str = "FieldValueTooMany";

fn rt(kind: &str) -> ResourceType {
    if kind == "Widget" {
        return crate::registry::example_widget(CustomVersion::default());
    }
    let t = Registry::with_builtins()
        .all()
        .into_iter()
        .find(|t| t.kind == kind)
        .unwrap_or_else(|| panic!("no built-in kind {kind}"));
    (*t).clone()
}

/// As the server does it: defaults, then validation.
fn check(kind: &str, mut obj: Value, old: Option<&Value>) -> Vec<FieldError> {
    let t = rt(kind);
    apply_defaults(&t, &mut obj);
    validate(&t, &obj, old)
}

fn stored(kind: &str, mut obj: Value) -> Value {
    apply_defaults(&rt(kind), &mut obj);
    obj
}

fn show(errs: &[FieldError]) -> String {
    errs.iter()
        .map(|e| format!("  {} [{}] {}", e.field, e.reason, e.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn meta(name: &str) -> Value {
    json!({
        "name": name,
        "namespace": "default",
        "uid": "6f1c2b8e-93a4-4c55-9d0e-2b3f0a8c1d42",
        "creationTimestamp": "2025-01-10T08:00:00Z"
    })
}

fn cluster_meta(name: &str) -> Value {
    json!({"name": name, "uid": "0d5e7a2c-1111-4b7e-8c44-6a1e2f3b4c5d"})
}

fn with(mut base: Value, key: &str, v: Value) -> Value {
    base[key] = v;
    base
}

// ---- realistic manifests ----

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web-7d9f5c6b8-x2k4q", "namespace": "default",
            "uid": "6f1c2b8e-93a4-4c55-9d0e-2b3f0a8c1d42",
            "labels": {"app.kubernetes.io/name": "web", "pod-template-hash": "7d9f5c6b8"},
            "annotations": {"example.com/owner": "team-a", "kubectl.kubernetes.io/restartedAt": "2025-01-10T08:00:00Z"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f5c6b8",
                "uid": "8c7a1e2f-0000-4a4a-9b9b-123456789abc", "controller": true, "blockOwnerDeletion": true
            }],
            "finalizers": ["example.com/cleanup"]
        },
        "spec": {
            "initContainers": [
                {
                    "name": "migrate", "image": "ghcr.io/acme/web:1.4.2", "command": ["/bin/migrate"],
                    "envFrom": [{"configMapRef": {"name": "web-config"}, "prefix": "CFG_"}]
                },
                {
                    "name": "proxy", "image": "envoyproxy/envoy:v1.31.0", "restartPolicy": "Always",
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 9901}}
                }
            ],
            "containers": [
                {
                    "name": "web", "image": "ghcr.io/acme/web:1.4.2",
                    "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app.kubernetes.io/name']"}}},
                        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                        {"name": "THEME", "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "theme", "optional": true}}},
                        {"name": "MEM_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}}
                    ],
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/etc/web", "readOnly": true},
                        {"name": "cache", "mountPath": "/var/cache/web"},
                        {"name": "data", "mountPath": "/data", "subPath": "web"},
                        {"name": "token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}
                    ],
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 10},
                    "readinessProbe": {"tcpSocket": {"port": 8080}},
                    "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "failureThreshold": 30},
                    "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                    "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}
                },
                {"name": "sidecar", "image": "busybox:1.36", "args": ["sh", "-c", "tail -f /dev/null"]}
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": "web-config", "items": [{"key": "app.yaml", "path": "app.yaml"}]}},
                {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
                {"name": "token", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]}}
            ],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "dedicated", "operator": "Equal", "value": "edge", "effect": "NoSchedule"}
            ],
            "serviceAccountName": "web",
            "securityContext": {"fsGroup": 2000},
            "imagePullSecrets": [{"name": "ghcr"}],
            "hostname": "web-0", "subdomain": "web"
        }
    })
}

fn pod_template(app: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}, "annotations": {"prometheus.io/scrape": "true"}},
        "spec": {
            "containers": [{
                "name": app, "image": format!("ghcr.io/acme/{app}:2.0.1"),
                "ports": [{"name": "http", "containerPort": 8080}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5}
            }]
        }
    })
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta("web"),
        "spec": {
            "replicas": 3,
            "minReadySeconds": 5,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": pod_template("web")
        }
    })
}

fn replica_set() -> Value {
    let mut t = pod_template("web");
    t["metadata"]["labels"]["pod-template-hash"] = json!("7d9f5c6b8");
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": meta("web-7d9f5c6b8"),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d9f5c6b8"}},
            "template": t
        }
    })
}

fn daemon_set() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": meta("node-exporter"),
        "spec": {
            "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["node-exporter"]}]},
            "template": {
                "metadata": {"labels": {"app": "node-exporter"}},
                "spec": {
                    "hostNetwork": true, "hostPID": true,
                    "priorityClassName": "system-node-critical",
                    "containers": [{
                        "name": "node-exporter", "image": "quay.io/prometheus/node-exporter:v1.8.2",
                        "args": ["--path.procfs=/host/proc"],
                        "ports": [{"name": "metrics", "containerPort": 9100, "hostPort": 9100}],
                        "volumeMounts": [{"name": "proc", "mountPath": "/host/proc", "readOnly": true}]
                    }],
                    "volumes": [{"name": "proc", "hostPath": {"path": "/proc", "type": "Directory"}}],
                    "tolerations": [{"operator": "Exists"}]
                }
            }
        }
    })
}

fn stateful_set() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": meta("db"),
        "spec": {
            "serviceName": "db",
            "replicas": 3,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {
                    "containers": [{
                        "name": "postgres", "image": "postgres:16.4",
                        "ports": [{"name": "pg", "containerPort": 5432}],
                        "env": [{"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]
                    }]
                }
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "local-path",
                    "resources": {"requests": {"storage": "10Gi"}}
                }
            }]
        }
    })
}

fn job() -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": meta("pi"),
        "spec": {
            "backoffLimit": 4,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "pi", "image": "perl:5.34.0", "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}]
            }}
        }
    })
}

fn cron_job() -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": meta("backup"),
        "spec": {
            "schedule": "*/5 * * * *",
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {
                "metadata": {"labels": {"app": "backup"}},
                "spec": {"template": {"spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [{"name": "backup", "image": "ghcr.io/acme/backup:3", "args": ["--all"]}]
                }}}
            }
        }
    })
}

fn service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": meta("web"),
        "spec": {
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "metrics", "port": 9090, "targetPort": 9090, "appProtocol": "http"}
            ]
        }
    })
}

fn config_map() -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": meta("web-config"),
        "data": {"app.yaml": "listen: :8080\n", "LOG_LEVEL": "info", "theme": "dark"},
        "binaryData": {"logo.png": "iVBORw0KGgo="}
    })
}

fn secret() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": meta("db"),
        "data": {"username": "YWRtaW4="},
        "stringData": {"password": "s3cr3t!"}
    })
}

fn tls_secret() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": meta("web-tls"),
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "LS0tLS1CRUdJTg==", "tls.key": "LS0tLS1CRUdJTg=="}
    })
}

fn pull_secret() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": meta("ghcr"),
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "eyJhdXRocyI6e319"}
    })
}

fn namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": cluster_meta("team-a")})
}

fn node() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": "edge-1", "uid": "0d5e7a2c-1111-4b7e-8c44-6a1e2f3b4c5d",
            "labels": {"kubernetes.io/hostname": "edge-1", "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}
        },
        "spec": {
            "podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"],
            "providerID": "verge://edge-1",
            "taints": [{"key": "dedicated", "value": "edge", "effect": "NoSchedule"}]
        },
        "status": {"capacity": {"cpu": "4", "memory": "8029368Ki", "pods": "110", "ephemeral-storage": "61255492Ki"}}
    })
}

fn pv() -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": cluster_meta("pv-local-1"),
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "manual",
            "hostPath": {"path": "/srv/volumes/pv-local-1"},
            "claimRef": {"namespace": "default", "name": "web-data"}
        }
    })
}

fn pvc() -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": meta("web-data"),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "local-path",
            "resources": {"requests": {"storage": "1Gi"}}
        }
    })
}

fn endpoints() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": meta("web"),
        "subsets": [{
            "addresses": [{"ip": "10.42.0.15", "nodeName": "edge-1", "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "default"}}],
            "notReadyAddresses": [{"ip": "10.42.0.16"}],
            "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]
        }]
    })
}

fn endpoint_slice() -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": "web-x7k2p", "namespace": "default", "uid": "1b2c3d4e-0000-4000-8000-000000000001",
            "labels": {"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
        },
        "addressType": "IPv4",
        "endpoints": [{
            "addresses": ["10.42.0.15"], "conditions": {"ready": true, "serving": true, "terminating": false},
            "nodeName": "edge-1", "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "default"}
        }],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 9090}]
    })
}

fn lease() -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "edge-1", "namespace": "kube-node-lease", "uid": "9f9f9f9f-0000-4000-8000-000000000002"},
        "spec": {"holderIdentity": "edge-1", "leaseDurationSeconds": 40, "renewTime": "2025-01-10T08:00:00.000000Z"}
    })
}

fn event() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": meta("web-0.17f3a8c2d9b1e4a0"),
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0", "apiVersion": "v1"},
        "reason": "Scheduled", "message": "Successfully assigned default/web-0 to edge-1",
        "source": {"component": "default-scheduler"}, "type": "Normal", "count": 1,
        "firstTimestamp": "2025-01-10T08:00:00Z", "lastTimestamp": "2025-01-10T08:00:00Z"
    })
}

fn new_event() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": meta("web-0.17f3a8c2d9b1e4a1"),
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0"},
        "eventTime": "2025-01-10T08:00:00.000000Z",
        "reportingComponent": "verge.io/scheduler", "reportingInstance": "edge-1",
        "action": "Binding", "reason": "Scheduled", "type": "Normal", "message": "bound"
    })
}

fn service_account() -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": meta("web"),
        "imagePullSecrets": [{"name": "ghcr"}]
    })
}

fn priority_class() -> Value {
    json!({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": cluster_meta("high-priority"),
        "value": 1000000, "globalDefault": false, "description": "for critical edge services"
    })
}

fn system_priority_class() -> Value {
    json!({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": cluster_meta("system-node-critical"),
        "value": 2000001000
    })
}

fn controller_revision() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": meta("db-5d8c9f7b4"),
        "revision": 1,
        "data": {"spec": {"template": {"$patch": "replace"}}}
    })
}

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": cluster_meta("widgets.example.com"),
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]
        }
    })
}

fn widget() -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta("blue-widget"), "spec": {"size": 3}})
}

type Base = fn() -> Value;

const MANIFESTS: &[(&str, Base)] = &[
    ("Pod", pod),
    ("Deployment", deployment),
    ("ReplicaSet", replica_set),
    ("DaemonSet", daemon_set),
    ("StatefulSet", stateful_set),
    ("Job", job),
    ("CronJob", cron_job),
    ("Service", service),
    ("ConfigMap", config_map),
    ("Secret", secret),
    ("Secret", tls_secret),
    ("Secret", pull_secret),
    ("Namespace", namespace),
    ("Node", node),
    ("PersistentVolume", pv),
    ("PersistentVolumeClaim", pvc),
    ("Endpoints", endpoints),
    ("EndpointSlice", endpoint_slice),
    ("Lease", lease),
    ("Event", event),
    ("Event", new_event),
    ("ServiceAccount", service_account),
    ("PriorityClass", priority_class),
    ("PriorityClass", system_priority_class),
    ("ControllerRevision", controller_revision),
    ("CustomResourceDefinition", crd),
    ("Widget", widget),
];

#[test]
fn realistic_manifests_are_valid() {
    for (kind, base) in MANIFESTS {
        let errs = check(kind, base(), None);
        assert!(
            errs.is_empty(),
            "{kind} {}:\n{}",
            base()["metadata"]["name"],
            show(&errs)
        );
        // An update that changes nothing is valid too.
        let old = stored(kind, base());
        let errs = check(kind, base(), Some(&old));
        assert!(errs.is_empty(), "{kind} no-op update:\n{}", show(&errs));
    }
}

#[test]
fn more_valid_variants() {
    let variants: Vec<(&str, Value)> = vec![
        (
            "Service",
            with(
                service(),
                "spec",
                json!({"clusterIP": "None", "selector": {"app": "db"}}),
            ),
        ),
        (
            "Service",
            with(
                service(),
                "spec",
                json!({"type": "ExternalName", "externalName": "db.example.com."}),
            ),
        ),
        (
            "Service",
            with(
                service(),
                "spec",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
            ),
        ),
        (
            "Service",
            with(
                service(),
                "spec",
                json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP", "ports": [{"port": 443, "protocol": "TCP"}]}),
            ),
        ),
        ("ConfigMap", json!({"metadata": meta("empty")})),
        (
            "Secret",
            json!({"metadata": meta("basic"), "type": "kubernetes.io/basic-auth", "stringData": {"username": "admin"}}),
        ),
        (
            "Secret",
            json!({"metadata": meta("ssh"), "type": "kubernetes.io/ssh-auth", "data": {"ssh-privatekey": "a2V5"}}),
        ),
        (
            "Secret",
            json!({"metadata": {"name": "sa-token", "namespace": "default", "annotations": {"kubernetes.io/service-account.name": "web"}}, "type": "kubernetes.io/service-account-token"}),
        ),
        (
            "Secret",
            json!({"metadata": meta("custom"), "type": "example.com/whatever", "data": {}}),
        ),
        (
            "PriorityClass",
            json!({"metadata": cluster_meta("system-cluster-critical"), "value": 2000000000}),
        ),
        ("Job", {
            let mut j = job();
            j["spec"]["manualSelector"] = json!(true);
            j["spec"]["selector"] = json!({"matchLabels": {"app": "pi"}});
            j["spec"]["template"]["metadata"] = json!({"labels": {"app": "pi"}});
            j
        }),
        ("Job", {
            let mut j = job();
            j["spec"]["completionMode"] = json!("Indexed");
            j["spec"]["completions"] = json!(5);
            j["spec"]["parallelism"] = json!(2);
            j
        }),
        (
            "CronJob",
            with(
                cron_job(),
                "spec",
                json!({"schedule": "@hourly", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x:1"}]}}}}}),
            ),
        ),
        (
            "Pod",
            json!({"metadata": {"generateName": "web-", "namespace": "default"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
        ),
        (
            "Pod",
            json!({"metadata": meta("gated"), "spec": {"schedulingGates": [{"name": "example.com/quota"}], "containers": [{"name": "c", "image": "nginx"}]}}),
        ),
        (
            "Pod",
            json!({"metadata": meta("gpu"), "spec": {"containers": [{"name": "c", "image": "cuda:12", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}),
        ),
        (
            "Pod",
            json!({"metadata": meta("dns"), "spec": {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["svc.cluster.local"]}, "containers": [{"name": "c", "image": "nginx"}]}}),
        ),
        ("Deployment", {
            let mut d = deployment();
            d["spec"]["strategy"] = json!({"type": "Recreate"});
            d
        }),
        (
            "PersistentVolume",
            with(
                pv(),
                "spec",
                json!({
                    "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOncePod"],
                    "local": {"path": "/mnt/disk1"}, "persistentVolumeReclaimPolicy": "Delete",
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["edge-1"]}]}]}}
                }),
            ),
        ),
    ];
    for (kind, obj) in variants {
        let errs = check(kind, obj.clone(), None);
        assert!(errs.is_empty(), "{kind} {obj}:\n{}", show(&errs));
    }
}

// ---- the rule table ----

enum Edit {
    Set(&'static str, Value),
    Del(&'static str),
}

fn set(p: &'static str, v: Value) -> Edit {
    Edit::Set(p, v)
}

fn del(p: &'static str) -> Edit {
    Edit::Del(p)
}

/// Applies an edit at a JSON pointer, creating missing objects on the way.
fn apply(obj: &mut Value, edit: &Edit) {
    let (path, value) = match edit {
        Edit::Set(p, v) => (*p, Some(v.clone())),
        Edit::Del(p) => (*p, None),
    };
    let (parent, last) = path.rsplit_once('/').expect("pointer");
    let last = last.replace("~1", "/").replace("~0", "~");
    let mut cur = obj;
    for seg in parent.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Value::Array(a) => &mut a[seg.parse::<usize>().expect("index")],
            Value::Object(m) => m.entry(seg).or_insert_with(|| json!({})),
            other => panic!("cannot descend into {other} at {path}"),
        };
    }
    match (cur, value) {
        (Value::Object(m), Some(v)) => {
            m.insert(last, v);
        }
        (Value::Object(m), None) => {
            m.remove(&last);
        }
        (Value::Array(a), Some(v)) => {
            let i: usize = last.parse().expect("index");
            if i == a.len() {
                a.push(v);
            } else {
                a[i] = v;
            }
        }
        (Value::Array(a), None) => {
            a.remove(last.parse::<usize>().expect("index"));
        }
        (other, _) => panic!("cannot edit {other} at {path}"),
    }
}

struct Case {
    kind: &'static str,
    base: Base,
    edits: Vec<Edit>,
    field: &'static str,
    reason: &'static str,
    /// A part of the message (the whole of it where the wording matters).
    message: &'static str,
}

fn c(
    kind: &'static str,
    base: Base,
    edits: Vec<Edit>,
    field: &'static str,
    reason: &'static str,
    message: &'static str,
) -> Case {
    Case {
        kind,
        base,
        edits,
        field,
        reason,
        message,
    }
}

fn edited(case: &Case) -> Value {
    let mut obj = (case.base)();
    for e in &case.edits {
        apply(&mut obj, e);
    }
    obj
}

fn assert_case(i: usize, case: &Case, errs: &[FieldError], what: &str) {
    let hit = errs.iter().any(|e| {
        e.field == case.field && e.reason == case.reason && e.message.contains(case.message)
    });
    assert!(
        hit,
        "{what} #{i} ({}): expected {} [{}] ~ {:?}, got:\n{}",
        case.kind,
        case.field,
        case.reason,
        case.message,
        show(errs)
    );
}

fn create_cases() -> Vec<Case> {
    vec![
        // metadata, for every kind
        c(
            "ConfigMap",
            config_map,
            vec![del("/metadata/name")],
            "metadata.name",
            REQ,
            "Required value: name or generateName is required",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![set("/metadata/name", json!("Web_1"))],
            "metadata.name",
            INV,
            r#"Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
        ),
        c(
            "ConfigMap",
            config_map,
            vec![
                del("/metadata/name"),
                set("/metadata/generateName", json!("Web_")),
            ],
            "metadata.generateName",
            INV,
            "RFC 1123 subdomain",
        ),
        c(
            "Namespace",
            namespace,
            vec![set("/metadata/name", json!("team.a"))],
            "metadata.name",
            INV,
            "a lowercase RFC 1123 label must consist of",
        ),
        c(
            "Service",
            service,
            vec![set("/metadata/name", json!("1web"))],
            "metadata.name",
            INV,
            "a DNS-1035 label must consist of",
        ),
        c(
            "Widget",
            widget,
            vec![set("/metadata/name", json!("Blue"))],
            "metadata.name",
            INV,
            "RFC 1123 subdomain",
        ),
        c(
            "Secret",
            secret,
            vec![del("/metadata/namespace")],
            "metadata.namespace",
            REQ,
            "Required value",
        ),
        c(
            "Widget",
            widget,
            vec![set("/metadata/namespace", json!("Team_A"))],
            "metadata.namespace",
            INV,
            "RFC 1123 label",
        ),
        c(
            "Node",
            node,
            vec![set("/metadata/namespace", json!("default"))],
            "metadata.namespace",
            FORB,
            "Forbidden: not allowed on this type",
        ),
        c(
            "Pod",
            pod,
            vec![set("/metadata/labels/bad key", json!("x"))],
            "metadata.labels",
            INV,
            "Invalid value: \"bad key\": name part must consist of alphanumeric characters",
        ),
        c(
            "Pod",
            pod,
            vec![set("/metadata/labels/tier", json!("x".repeat(64)))],
            "metadata.labels",
            INV,
            "must be no more than 63 characters",
        ),
        c(
            "Pod",
            pod,
            vec![set("/metadata/labels/tier", json!("front end"))],
            "metadata.labels",
            INV,
            "a valid label must be an empty string or consist of",
        ),
        c(
            "Pod",
            pod,
            vec![set("/metadata/labels/Example.com~1x", json!("y"))],
            "metadata.labels",
            INV,
            "prefix part a lowercase RFC 1123 subdomain",
        ),
        c(
            "Pod",
            pod,
            vec![set("/metadata/annotations/a~1b~1c", json!("x"))],
            "metadata.annotations",
            INV,
            "a qualified name must consist of",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![set(
                "/metadata/annotations",
                json!({"big": "x".repeat(256 * 1024)}),
            )],
            "metadata.annotations",
            LONG,
            "Too long: may not be more than 262144 bytes",
        ),
        c(
            "Pod",
            pod,
            vec![del("/metadata/ownerReferences/0/uid")],
            "metadata.ownerReferences.uid",
            INV,
            "uid must not be empty",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/metadata/ownerReferences/0/apiVersion",
                json!("apps/"),
            )],
            "metadata.ownerReferences.apiVersion",
            INV,
            "version must not be empty",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/metadata/ownerReferences/1",
                json!({"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "u", "controller": true}),
            )],
            "metadata.ownerReferences",
            INV,
            "Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/web-7d9f5c6b8 and Node/n",
        ),
        c(
            "Pod",
            pod,
            vec![set("/metadata/finalizers/1", json!("bad finalizer"))],
            "metadata.finalizers",
            INV,
            "Invalid value: \"bad finalizer\"",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/metadata/finalizers",
                json!(["orphan", "foregroundDeletion"]),
            )],
            "metadata.finalizers",
            INV,
            "finalizer orphan and foregroundDeletion cannot be both set",
        ),
        c(
            "Pod",
            pod,
            vec![set("/metadata/generation", json!(-1))],
            "metadata.generation",
            INV,
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        // Pod spec
        c(
            "Pod",
            pod,
            vec![set("/spec/containers", json!([]))],
            "spec.containers",
            REQ,
            "Required value",
        ),
        c(
            "Pod",
            pod,
            vec![del("/spec/containers/0/name")],
            "spec.containers[0].name",
            REQ,
            "Required value",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/name", json!("Web"))],
            "spec.containers[0].name",
            INV,
            "a lowercase RFC 1123 label",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/1/name", json!("migrate"))],
            "spec.containers[1].name",
            DUP,
            "Duplicate value: \"migrate\"",
        ),
        c(
            "Pod",
            pod,
            vec![del("/spec/containers/0/image")],
            "spec.containers[0].image",
            REQ,
            "Required value",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/image", json!(" nginx"))],
            "spec.containers[0].image",
            INV,
            "must not have leading or trailing whitespace",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/imagePullPolicy",
                json!("Sometimes"),
            )],
            "spec.containers[0].imagePullPolicy",
            UNS,
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/terminationMessagePolicy",
                json!("Log"),
            )],
            "spec.containers[0].terminationMessagePolicy",
            UNS,
            "\"File\", \"FallbackToLogsOnError\"",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/ports/0/containerPort",
                json!(70000),
            )],
            "spec.containers[0].ports[0].containerPort",
            INV,
            "Invalid value: 70000: must be between 1 and 65535, inclusive",
        ),
        c(
            "Pod",
            pod,
            vec![del("/spec/containers/0/ports/0/containerPort")],
            "spec.containers[0].ports[0].containerPort",
            REQ,
            "Required value",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/ports/0/protocol", json!("HTTP"))],
            "spec.containers[0].ports[0].protocol",
            UNS,
            "Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/ports/0/hostPort", json!(-1))],
            "spec.containers[0].ports[0].hostPort",
            INV,
            "must be between 1 and 65535",
        ),
        c(
            "Pod",
            pod,
            vec![
                set("/spec/containers/0/ports/0/hostPort", json!(80)),
                set(
                    "/spec/containers/1/ports",
                    json!([{"containerPort": 81, "hostPort": 80}]),
                ),
            ],
            "spec.containers[1].ports[0].hostPort",
            DUP,
            "Duplicate value: \"80/TCP\"",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/ports/0/name", json!("HTTP_1"))],
            "spec.containers[0].ports[0].name",
            INV,
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/ports/1/name", json!("http"))],
            "spec.containers[0].ports[1].name",
            DUP,
            "Duplicate value: \"http\"",
        ),
        c(
            "Pod",
            pod,
            vec![
                set("/spec/hostNetwork", json!(true)),
                set("/spec/containers/0/ports/0/hostPort", json!(80)),
            ],
            "spec.containers[0].ports[0].containerPort",
            INV,
            "Invalid value: 8080: must match `hostPort` when `hostNetwork` is true",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/env/0/name", json!("1FOO"))],
            "spec.containers[0].env[0].name",
            INV,
            "Invalid value: \"1FOO\": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')",
        ),
        c(
            "Pod",
            pod,
            vec![del("/spec/containers/0/env/0/name")],
            "spec.containers[0].env[0].name",
            REQ,
            "Required value",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/env/1/valueFrom", json!({}))],
            "spec.containers[0].env[1].valueFrom",
            INV,
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/env/1/value", json!("x"))],
            "spec.containers[0].env[1].valueFrom",
            INV,
            "may not be specified when `value` is not empty",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/env/1/valueFrom/secretKeyRef",
                json!({"name": "s", "key": "k"}),
            )],
            "spec.containers[0].env[1].valueFrom",
            INV,
            "may not have more than one field specified at a time",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/env/1/valueFrom/fieldRef/fieldPath",
                json!("spec.hostname"),
            )],
            "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath",
            UNS,
            "\"metadata.name\", \"metadata.namespace\", \"metadata.uid\"",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/env/1/valueFrom/fieldRef/fieldPath",
                json!("status['x']"),
            )],
            "spec.containers[0].env[1].valueFrom.fieldRef",
            INV,
            "does not support subscript",
        ),
        c(
            "Pod",
            pod,
            vec![del(
                "/spec/containers/0/env/4/valueFrom/configMapKeyRef/key",
            )],
            "spec.containers[0].env[4].valueFrom.configMapKeyRef.key",
            REQ,
            "Required value",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/env/3/valueFrom/secretKeyRef/key",
                json!("a b"),
            )],
            "spec.containers[0].env[3].valueFrom.secretKeyRef.key",
            INV,
            "a valid config key",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/env/5/valueFrom/resourceFieldRef/resource",
                json!("limits.gpu"),
            )],
            "spec.containers[0].env[5].valueFrom.resourceFieldRef.resource",
            UNS,
            "Unsupported value: \"limits.gpu\"",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/initContainers/0/envFrom/0",
                json!({"prefix": "X_"}),
            )],
            "spec.initContainers[0].envFrom",
            INV,
            "must specify one of: `configMapRef` or `secretRef`",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/initContainers/0/envFrom/0/prefix", json!("1X"))],
            "spec.initContainers[0].envFrom[0].prefix",
            INV,
            "a valid environment variable name",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/volumeMounts/0/name", json!("nope"))],
            "spec.containers[0].volumeMounts[0].name",
            NF,
            "Not found: \"nope\"",
        ),
        c(
            "Pod",
            pod,
            vec![del("/spec/containers/0/volumeMounts/0/mountPath")],
            "spec.containers[0].volumeMounts[0].mountPath",
            REQ,
            "Required value",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/volumeMounts/1/mountPath",
                json!("/etc/web"),
            )],
            "spec.containers[0].volumeMounts[1].mountPath",
            INV,
            "must be unique",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/volumeMounts/2/subPath",
                json!("../etc"),
            )],
            "spec.containers[0].volumeMounts[2].subPath",
            INV,
            "must not contain '..'",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/volumeMounts/2/subPath",
                json!("/etc"),
            )],
            "spec.containers[0].volumeMounts[2].subPath",
            INV,
            "must be a relative path",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/volumes/1/name", json!("config"))],
            "spec.volumes[1].name",
            DUP,
            "Duplicate value: \"config\"",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/volumes/1/name", json!("Cache"))],
            "spec.volumes[1].name",
            INV,
            "RFC 1123 label",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/volumes/0/emptyDir", json!({}))],
            "spec.volumes[0].configMap",
            FORB,
            "Forbidden: may not specify more than 1 volume type",
        ),
        c(
            "Pod",
            pod,
            vec![del("/spec/volumes/0/configMap/name")],
            "spec.volumes[0].configMap.name",
            REQ,
            "Required value",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/volumes/0/configMap/defaultMode", json!(1000))],
            "spec.volumes[0].configMap.defaultMode",
            INV,
            "must be a number between 0 and 0777 (octal), both inclusive",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/volumes/0/configMap/items/0/path", json!("../x"))],
            "spec.volumes[0].configMap.items[0].path",
            INV,
            "must not contain '..'",
        ),
        c(
            "Pod",
            pod,
            vec![del("/spec/volumes/2/persistentVolumeClaim/claimName")],
            "spec.volumes[2].persistentVolumeClaim.claimName",
            REQ,
            "Required value",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/volumes/1",
                json!({"name": "cache", "hostPath": {"path": "/x", "type": "Folder"}}),
            )],
            "spec.volumes[1].hostPath.type",
            UNS,
            "Unsupported value: \"Folder\"",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/volumes/1/emptyDir/sizeLimit", json!("lots"))],
            "spec.volumes[1].emptyDir.sizeLimit",
            INV,
            "quantities must match the regular expression",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/volumes/3/projected/sources/0/serviceAccountToken/expirationSeconds",
                json!(60),
            )],
            "spec.volumes[3].projected.sources[0].serviceAccountToken.expirationSeconds",
            INV,
            "may not specify a duration less than 10 minutes",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/volumes/3/projected/sources/1/configMap/items/0/path",
                json!("token"),
            )],
            "spec.volumes[3].projected.sources[1].configMap.path",
            INV,
            "conflicting duplicate paths",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/restartPolicy", json!("Sometimes"))],
            "spec.restartPolicy",
            UNS,
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/resources/requests/cpu", json!("2"))],
            "spec.containers[0].resources.requests",
            INV,
            "Invalid value: \"2\": must be less than or equal to cpu limit of 1",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/resources/limits/memory",
                json!("1.5.0Gi"),
            )],
            "spec.containers[0].resources.limits[memory]",
            INV,
            "quantities must match the regular expression",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/resources/requests/memory",
                json!("-1Mi"),
            )],
            "spec.containers[0].resources.requests[memory]",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/resources/limits/gpu", json!("1"))],
            "spec.containers[0].resources.limits[gpu]",
            INV,
            "must be a standard resource for containers",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/1/resources",
                json!({"requests": {"example.com/foo": "1"}}),
            )],
            "spec.containers[1].resources.limits",
            REQ,
            "Limit must be set for non overcommitable resources",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/1/resources",
                json!({"requests": {"example.com/foo": "1"}, "limits": {"example.com/foo": "2"}}),
            )],
            "spec.containers[1].resources.requests",
            INV,
            "must be equal to example.com/foo limit of 2",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/1/resources",
                json!({"limits": {"example.com/foo": "500m"}}),
            )],
            "spec.containers[1].resources.limits[example.com/foo]",
            INV,
            "must be an integer",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/livenessProbe/tcpSocket",
                json!({"port": 8080}),
            )],
            "spec.containers[0].livenessProbe.tcpSocket",
            FORB,
            "may not specify more than 1 handler type",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/livenessProbe",
                json!({"periodSeconds": 5}),
            )],
            "spec.containers[0].livenessProbe",
            REQ,
            "Required value: must specify a handler type",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/livenessProbe/successThreshold",
                json!(2),
            )],
            "spec.containers[0].livenessProbe.successThreshold",
            INV,
            "Invalid value: 2: must be 1",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/readinessProbe/periodSeconds",
                json!(-5),
            )],
            "spec.containers[0].readinessProbe.periodSeconds",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/readinessProbe/tcpSocket/port",
                json!(0),
            )],
            "spec.containers[0].readinessProbe.tcpSocket.port",
            INV,
            "must be between 1 and 65535",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/livenessProbe/httpGet/scheme",
                json!("FTP"),
            )],
            "spec.containers[0].livenessProbe.httpGet.scheme",
            UNS,
            "\"HTTP\", \"HTTPS\"",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/0/startupProbe/exec/command",
                json!([]),
            )],
            "spec.containers[0].startupProbe.exec.command",
            REQ,
            "Required value",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/lifecycle/preStop", json!({}))],
            "spec.containers[0].lifecycle.preStop",
            REQ,
            "must specify a handler type",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/initContainers/0/livenessProbe",
                json!({"exec": {"command": ["true"]}}),
            )],
            "spec.initContainers[0].livenessProbe",
            FORB,
            "may not be set for init containers without restartPolicy=Always",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/initContainers/1/restartPolicy", json!("Never"))],
            "spec.initContainers[1].restartPolicy",
            UNS,
            "supported values: \"Always\"",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/1/restartPolicy", json!("Always"))],
            "spec.containers[1].restartPolicy",
            FORB,
            "may not be set for non-init containers",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/terminationGracePeriodSeconds", json!(-1))],
            "spec.terminationGracePeriodSeconds",
            INV,
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/activeDeadlineSeconds", json!(0))],
            "spec.activeDeadlineSeconds",
            INV,
            "must be between 1 and 2147483647, inclusive",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/tolerations/1/operator", json!("In"))],
            "spec.tolerations[1].operator",
            UNS,
            "Unsupported value: \"In\": supported values: \"Equal\", \"Exists\"",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/tolerations/0/value", json!("x"))],
            "spec.tolerations[0].operator",
            INV,
            "value must be empty when `operator` is 'Exists'",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/tolerations/1/effect", json!("NoRun"))],
            "spec.tolerations[1].effect",
            UNS,
            "\"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/tolerations/1/tolerationSeconds", json!(60))],
            "spec.tolerations[1].effect",
            INV,
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ),
        c(
            "Pod",
            pod,
            vec![del("/spec/tolerations/1/key")],
            "spec.tolerations[1].operator",
            INV,
            "operator must be Exists when `key` is empty",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/tolerations/1/key", json!("bad key"))],
            "spec.tolerations[1].key",
            INV,
            "name part must consist",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/nodeSelector/disk", json!("fast ssd"))],
            "spec.nodeSelector",
            INV,
            "a valid label must be",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/dnsPolicy", json!("ClusterLast"))],
            "spec.dnsPolicy",
            UNS,
            "\"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/dnsPolicy", json!("None"))],
            "spec.dnsConfig",
            REQ,
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/dnsConfig",
                json!({"nameservers": ["dns.example.com"]}),
            )],
            "spec.dnsConfig.nameservers[0]",
            INV,
            "must be a valid IP address",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/serviceAccountName", json!("Web"))],
            "spec.serviceAccountName",
            INV,
            "RFC 1123 subdomain",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/hostname", json!("web.0"))],
            "spec.hostname",
            INV,
            "RFC 1123 label",
        ),
        c(
            "Pod",
            pod,
            vec![
                set("/spec/nodeName", json!("edge-1")),
                set(
                    "/spec/schedulingGates",
                    json!([{"name": "example.com/quota"}]),
                ),
            ],
            "spec.nodeName",
            FORB,
            "cannot be set until all schedulingGates have been cleared",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/schedulingGates",
                json!([{"name": "a"}, {"name": "a"}]),
            )],
            "spec.schedulingGates[1].name",
            DUP,
            "Duplicate value: \"a\"",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/imagePullSecrets/0", json!({}))],
            "spec.imagePullSecrets[0].name",
            REQ,
            "Required value",
        ),
        // apps
        c(
            "Deployment",
            deployment,
            vec![del("/spec/selector")],
            "spec.selector",
            REQ,
            "Required value",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/selector/matchLabels/app", json!("api"))],
            "spec.template.metadata.labels",
            INV,
            "Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/selector", json!({}))],
            "spec.selector",
            INV,
            "empty selector is invalid for deployment",
        ),
        c(
            "Deployment",
            deployment,
            vec![set(
                "/spec/selector",
                json!({"matchExpressions": [{"key": "app", "operator": "Is", "values": ["web"]}]}),
            )],
            "spec.selector.matchExpressions[0].operator",
            INV,
            "not a valid selector operator",
        ),
        c(
            "Deployment",
            deployment,
            vec![set(
                "/spec/selector",
                json!({"matchExpressions": [{"key": "app", "operator": "In"}]}),
            )],
            "spec.selector.matchExpressions[0].values",
            REQ,
            "must be specified when `operator` is 'In' or 'NotIn'",
        ),
        c(
            "Deployment",
            deployment,
            vec![set(
                "/spec/selector",
                json!({"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["web"]}]}),
            )],
            "spec.selector.matchExpressions[0].values",
            FORB,
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        ),
        c(
            "Deployment",
            deployment,
            vec![set(
                "/spec/selector",
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
            )],
            "spec.template.metadata.labels",
            INV,
            "`selector` does not match template `labels`",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/replicas", json!(-1))],
            "spec.replicas",
            INV,
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/strategy", json!({"type": "BlueGreen"}))],
            "spec.strategy.type",
            UNS,
            "\"Recreate\", \"RollingUpdate\"",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/strategy/type", json!("Recreate"))],
            "spec.strategy.rollingUpdate",
            FORB,
            "may not be specified when strategy `type` is 'Recreate'",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/strategy/rollingUpdate/maxSurge", json!(0))],
            "spec.strategy.rollingUpdate.maxUnavailable",
            INV,
            "may not be 0 when `maxSurge` is 0",
        ),
        c(
            "Deployment",
            deployment,
            vec![set(
                "/spec/strategy/rollingUpdate/maxUnavailable",
                json!("120%"),
            )],
            "spec.strategy.rollingUpdate.maxUnavailable",
            INV,
            "must not be greater than 100%",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/strategy/rollingUpdate/maxSurge", json!("lots"))],
            "spec.strategy.rollingUpdate.maxSurge",
            INV,
            "a valid percent string must be a numeric string followed by an ending '%'",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/strategy/rollingUpdate/maxSurge", json!(-1))],
            "spec.strategy.rollingUpdate.maxSurge",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/progressDeadlineSeconds", json!(5))],
            "spec.progressDeadlineSeconds",
            INV,
            "must be greater than minReadySeconds",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/revisionHistoryLimit", json!(-1))],
            "spec.revisionHistoryLimit",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/template/spec/restartPolicy", json!("OnFailure"))],
            "spec.template.spec.restartPolicy",
            UNS,
            "Unsupported value: \"OnFailure\": supported values: \"Always\"",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/template/spec/activeDeadlineSeconds", json!(30))],
            "spec.template.spec.activeDeadlineSeconds",
            FORB,
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ),
        c(
            "Deployment",
            deployment,
            vec![del("/spec/template/spec/containers/0/image")],
            "spec.template.spec.containers[0].image",
            REQ,
            "Required value",
        ),
        c(
            "Deployment",
            deployment,
            vec![set("/spec/template/metadata/labels/bad key", json!("x"))],
            "spec.template.metadata.labels",
            INV,
            "name part must consist",
        ),
        c(
            "Deployment",
            deployment,
            vec![del("/spec/template")],
            "spec.template",
            REQ,
            "Required value",
        ),
        c(
            "ReplicaSet",
            replica_set,
            vec![set(
                "/spec/selector/matchLabels/pod-template-hash",
                json!("other"),
            )],
            "spec.template.metadata.labels",
            INV,
            "`selector` does not match template `labels`",
        ),
        c(
            "ReplicaSet",
            replica_set,
            vec![set("/spec/replicas", json!(-3))],
            "spec.replicas",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "DaemonSet",
            daemon_set,
            vec![set("/spec/selector", json!({}))],
            "spec.selector",
            INV,
            "empty selector is invalid for daemonset",
        ),
        c(
            "DaemonSet",
            daemon_set,
            vec![set(
                "/spec/selector/matchExpressions/0/values",
                json!(["other"]),
            )],
            "spec.template.metadata.labels",
            INV,
            "`selector` does not match template `labels`",
        ),
        c(
            "DaemonSet",
            daemon_set,
            vec![set(
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}),
            )],
            "spec.updateStrategy.rollingUpdate.maxSurge",
            INV,
            "may not be set when maxUnavailable is non-zero",
        ),
        c(
            "DaemonSet",
            daemon_set,
            vec![set(
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
            )],
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            REQ,
            "cannot be 0 when maxSurge is 0",
        ),
        c(
            "DaemonSet",
            daemon_set,
            vec![set("/spec/updateStrategy", json!({"type": "Surge"}))],
            "spec.updateStrategy.type",
            UNS,
            "\"RollingUpdate\", \"OnDelete\"",
        ),
        c(
            "DaemonSet",
            daemon_set,
            vec![set("/spec/template/spec/activeDeadlineSeconds", json!(5))],
            "spec.template.spec.activeDeadlineSeconds",
            INV,
            "activeDeadlineSeconds must be nil for DaemonSets",
        ),
        c(
            "DaemonSet",
            daemon_set,
            vec![set(
                "/spec/template/spec/containers/0/ports/0/hostPort",
                json!(9200),
            )],
            "spec.template.spec.containers[0].ports[0].containerPort",
            INV,
            "must match `hostPort` when `hostNetwork` is true",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![set("/spec/podManagementPolicy", json!("Random"))],
            "spec.podManagementPolicy",
            INV,
            "must be 'OrderedReady' or 'Parallel'",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![set(
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}),
            )],
            "spec.updateStrategy.rollingUpdate.partition",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![set("/spec/updateStrategy", json!({"type": "Canary"}))],
            "spec.updateStrategy",
            INV,
            "must be 'RollingUpdate' or 'OnDelete'",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![set(
                "/spec/updateStrategy",
                json!({"type": "OnDelete", "rollingUpdate": {"partition": 1}}),
            )],
            "spec.updateStrategy.rollingUpdate",
            INV,
            "only allowed for updateStrategy 'RollingUpdate'",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![set(
                "/spec/persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Keep"}),
            )],
            "spec.persistentVolumeClaimRetentionPolicy.whenDeleted",
            UNS,
            "\"Retain\", \"Delete\"",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![del("/spec/volumeClaimTemplates/0/spec/resources")],
            "spec.volumeClaimTemplates[0].spec.resources[storage]",
            REQ,
            "Required value",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![set(
                "/spec/volumeClaimTemplates/0/metadata/name",
                json!("logs"),
            )],
            "spec.template.spec.containers[0].volumeMounts[0].name",
            NF,
            "Not found: \"data\"",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![set("/spec/selector", json!({}))],
            "spec.selector",
            INV,
            "empty selector is invalid for statefulset",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![set("/spec/template/spec/restartPolicy", json!("Never"))],
            "spec.template.spec.restartPolicy",
            UNS,
            "supported values: \"Always\"",
        ),
        c(
            "ControllerRevision",
            controller_revision,
            vec![set("/revision", json!(-1))],
            "revision",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "ControllerRevision",
            controller_revision,
            vec![del("/data")],
            "data",
            REQ,
            "data is mandatory",
        ),
        // batch
        c(
            "Job",
            job,
            vec![set("/spec/template/spec/restartPolicy", json!("Always"))],
            "spec.template.spec.restartPolicy",
            UNS,
            "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
        ),
        c(
            "Job",
            job,
            vec![del("/spec/template/spec/restartPolicy")],
            "spec.template.spec.restartPolicy",
            REQ,
            "Required value",
        ),
        c(
            "Job",
            job,
            vec![set("/spec/backoffLimit", json!(-1))],
            "spec.backoffLimit",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "Job",
            job,
            vec![set("/spec/parallelism", json!(-2))],
            "spec.parallelism",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "Job",
            job,
            vec![set("/spec/completionMode", json!("Ordered"))],
            "spec.completionMode",
            UNS,
            "\"NonIndexed\", \"Indexed\"",
        ),
        c(
            "Job",
            job,
            vec![
                set("/spec/completionMode", json!("Indexed")),
                set("/spec/parallelism", json!(2)),
            ],
            "spec.completions",
            REQ,
            "when completion mode is Indexed",
        ),
        c(
            "Job",
            job,
            vec![set("/spec/podReplacementPolicy", json!("Never"))],
            "spec.podReplacementPolicy",
            UNS,
            "\"TerminatingOrFailed\", \"Failed\"",
        ),
        c(
            "Job",
            job,
            vec![set(
                "/spec/template/metadata/labels/controller-uid",
                json!("someone-else"),
            )],
            "spec.template.metadata.labels[controller-uid]",
            INV,
            "must be '6f1c2b8e-93a4-4c55-9d0e-2b3f0a8c1d42'",
        ),
        c(
            "Job",
            job,
            vec![
                set("/spec/selector", json!({"matchLabels": {"app": "pi"}})),
                set("/spec/template/metadata/labels/app", json!("pi")),
            ],
            "spec.selector",
            INV,
            "`selector` not auto-generated",
        ),
        c(
            "Job",
            job,
            vec![
                set("/spec/manualSelector", json!(true)),
                set("/spec/selector", json!({"matchLabels": {"app": "pi"}})),
            ],
            "spec.template.metadata.labels",
            INV,
            "`selector` does not match template `labels`",
        ),
        c(
            "Job",
            job,
            vec![set("/spec/manualSelector", json!(true))],
            "spec.selector",
            REQ,
            "Required value",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set("/spec/schedule", json!("*/5 * * *"))],
            "spec.schedule",
            INV,
            "Invalid value: \"*/5 * * *\": expected exactly 5 fields, found 4: [*/5 * * *]",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set("/spec/schedule", json!("0 25 * * *"))],
            "spec.schedule",
            INV,
            "end of range (25) above maximum (23): 25",
        ),
        c(
            "CronJob",
            cron_job,
            vec![del("/spec/schedule")],
            "spec.schedule",
            REQ,
            "Required value",
        ),
        c(
            "CronJob",
            cron_job,
            vec![
                set("/spec/schedule", json!("TZ=UTC 0 * * * *")),
                del("/spec/timeZone"),
            ],
            "spec.schedule",
            INV,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set("/spec/timeZone", json!("Mars/Base Alpha"))],
            "spec.timeZone",
            INV,
            "unknown time zone Mars/Base Alpha",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set("/spec/timeZone", json!("Local"))],
            "spec.timeZone",
            INV,
            "timeZone must be an explicit time zone",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set("/spec/concurrencyPolicy", json!("Sometimes"))],
            "spec.concurrencyPolicy",
            UNS,
            "\"Allow\", \"Forbid\", \"Replace\"",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set("/spec/successfulJobsHistoryLimit", json!(-1))],
            "spec.successfulJobsHistoryLimit",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set("/metadata/name", json!("a".repeat(53)))],
            "metadata.name",
            INV,
            "must be no more than 52 characters",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set(
                "/spec/jobTemplate/spec/selector",
                json!({"matchLabels": {"a": "b"}}),
            )],
            "spec.jobTemplate.spec.selector",
            INV,
            "`selector` will be auto-generated",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set("/spec/jobTemplate/spec/manualSelector", json!(true))],
            "spec.jobTemplate.spec.manualSelector",
            UNS,
            "supported values: \"nil\", \"false\"",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set(
                "/spec/jobTemplate/spec/template/spec/restartPolicy",
                json!("Always"),
            )],
            "spec.jobTemplate.spec.template.spec.restartPolicy",
            UNS,
            "\"OnFailure\", \"Never\"",
        ),
        c(
            "CronJob",
            cron_job,
            vec![set("/spec/jobTemplate/metadata/labels/bad key", json!("x"))],
            "spec.jobTemplate.metadata.labels",
            INV,
            "name part",
        ),
        c(
            "CronJob",
            cron_job,
            vec![del("/spec/jobTemplate")],
            "spec.jobTemplate",
            REQ,
            "Required value",
        ),
        // Service
        c(
            "Service",
            service,
            vec![set("/spec/ports", json!([]))],
            "spec.ports",
            REQ,
            "Required value",
        ),
        c(
            "Service",
            service,
            vec![del("/spec/ports/0/name")],
            "spec.ports[0].name",
            REQ,
            "Required value",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/ports/1/name", json!("http"))],
            "spec.ports[1].name",
            DUP,
            "Duplicate value: \"http\"",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/ports/0/name", json!("HTTP"))],
            "spec.ports[0].name",
            INV,
            "RFC 1123 label",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/ports/0/port", json!(0))],
            "spec.ports[0].port",
            INV,
            "Invalid value: 0: must be between 1 and 65535, inclusive",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/ports/0/protocol", json!("ICMP"))],
            "spec.ports[0].protocol",
            UNS,
            "\"SCTP\", \"TCP\", \"UDP\"",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/ports/0/targetPort", json!("HTTP_PORT"))],
            "spec.ports[0].targetPort",
            INV,
            "must contain only alpha-numeric characters",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/ports/1/targetPort", json!(70000))],
            "spec.ports[1].targetPort",
            INV,
            "must be between 1 and 65535",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/ports/0/nodePort", json!(30080))],
            "spec.ports[0].nodePort",
            FORB,
            "may not be used when `type` is 'ClusterIP'",
        ),
        c(
            "Service",
            service,
            vec![
                set("/spec/type", json!("NodePort")),
                set("/spec/ports/0/nodePort", json!(30080)),
                set("/spec/ports/1/nodePort", json!(30080)),
            ],
            "spec.ports[1].nodePort",
            DUP,
            "Duplicate value: 30080",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/ports/1/port", json!(80))],
            "spec.ports[1]",
            DUP,
            "Duplicate value",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/type", json!("Internal"))],
            "spec.type",
            UNS,
            "\"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/type", json!("ExternalName"))],
            "spec.externalName",
            REQ,
            "Required value",
        ),
        c(
            "Service",
            service,
            vec![
                set("/spec/type", json!("ExternalName")),
                set("/spec/externalName", json!("db_host")),
            ],
            "spec.externalName",
            INV,
            "RFC 1123 subdomain",
        ),
        c(
            "Service",
            service,
            vec![
                set("/spec/type", json!("ExternalName")),
                set("/spec/externalName", json!("db.example.com")),
                set("/spec/clusterIP", json!("10.43.0.10")),
            ],
            "spec.clusterIP",
            FORB,
            "may not be set for ExternalName services",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/clusterIP", json!("10.43.0.300"))],
            "spec.clusterIP",
            INV,
            "must be empty, 'None', or a valid IP address",
        ),
        c(
            "Service",
            service,
            vec![
                set("/spec/clusterIP", json!("None")),
                set("/spec/type", json!("NodePort")),
            ],
            "spec.clusterIP",
            INV,
            "may not be set to 'None' for NodePort services",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/sessionAffinity", json!("Sticky"))],
            "spec.sessionAffinity",
            UNS,
            "\"ClientIP\", \"None\"",
        ),
        c(
            "Service",
            service,
            vec![
                set("/spec/sessionAffinity", json!("ClientIP")),
                set(
                    "/spec/sessionAffinityConfig",
                    json!({"clientIP": {"timeoutSeconds": 0}}),
                ),
            ],
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
            INV,
            "must be greater than 0 and less than 86400",
        ),
        c(
            "Service",
            service,
            vec![
                set("/spec/externalTrafficPolicy", json!("Nearest")),
                set("/spec/type", json!("NodePort")),
            ],
            "spec.externalTrafficPolicy",
            UNS,
            "\"Cluster\", \"Local\"",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/ipFamilyPolicy", json!("DualStack"))],
            "spec.ipFamilyPolicy",
            UNS,
            "\"SingleStack\"",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/ipFamilies", json!(["IPv5"]))],
            "spec.ipFamilies[0]",
            UNS,
            "\"IPv4\", \"IPv6\"",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/externalIPs", json!(["192.0.2.x"]))],
            "spec.externalIPs[0]",
            INV,
            "must be a valid IP address",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/selector/app", json!("web app"))],
            "spec.selector",
            INV,
            "a valid label must be",
        ),
        // ConfigMap and Secret
        c(
            "ConfigMap",
            config_map,
            vec![set("/data/a b", json!("x"))],
            "data[a b]",
            INV,
            "Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![set("/binaryData/theme", json!("ZGFyaw=="))],
            "data[theme]",
            INV,
            "duplicate of key present in binaryData",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![set("/binaryData/logo.png", json!("not base64!"))],
            "binaryData[logo.png]",
            INV,
            "illegal base64 data",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![set("/data/big", json!("x".repeat(1024 * 1024)))],
            "data",
            LONG,
            "Too long: may not be more than 1048576 bytes",
        ),
        c(
            "Secret",
            secret,
            vec![set("/data/.", json!("eA=="))],
            "data[.]",
            INV,
            "must not be '.'",
        ),
        c(
            "Secret",
            secret,
            vec![set("/stringData/a b", json!("x"))],
            "data[a b]",
            INV,
            "a valid config key",
        ),
        c(
            "Secret",
            secret,
            vec![set("/data/username", json!("***"))],
            "data[username]",
            INV,
            "Invalid value: \"<secret contents redacted>\": illegal base64 data",
        ),
        c(
            "Secret",
            secret,
            vec![set(
                "/stringData/password",
                json!("x".repeat(1024 * 1024 + 1)),
            )],
            "data",
            LONG,
            "Too long",
        ),
        c(
            "Secret",
            tls_secret,
            vec![del("/data/tls.key")],
            "data[tls.key]",
            REQ,
            "Required value",
        ),
        c(
            "Secret",
            pull_secret,
            vec![set("/data/.dockerconfigjson", json!("bm90IGpzb24="))],
            "data[.dockerconfigjson]",
            INV,
            "<secret contents redacted>",
        ),
        c(
            "Secret",
            pull_secret,
            vec![del("/data/.dockerconfigjson")],
            "data[.dockerconfigjson]",
            REQ,
            "Required value",
        ),
        c(
            "Secret",
            secret,
            vec![
                set("/type", json!("kubernetes.io/basic-auth")),
                set("/data", json!({})),
                del("/stringData"),
            ],
            "data[username]",
            REQ,
            "Required value",
        ),
        c(
            "Secret",
            secret,
            vec![set("/type", json!("kubernetes.io/ssh-auth"))],
            "data[ssh-privatekey]",
            REQ,
            "Required value",
        ),
        c(
            "Secret",
            secret,
            vec![set("/type", json!("kubernetes.io/service-account-token"))],
            "metadata.annotations[kubernetes.io/service-account.name]",
            REQ,
            "Required value",
        ),
        // Namespace, Node
        c(
            "Namespace",
            namespace,
            vec![set("/spec/finalizers", json!(["cleanup"]))],
            "spec.finalizers",
            INV,
            "name is neither a standard finalizer name nor is it fully qualified",
        ),
        c(
            "Node",
            node,
            vec![set("/spec/taints/0/effect", json!("NoRun"))],
            "spec.taints[0].effect",
            UNS,
            "\"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
        ),
        c(
            "Node",
            node,
            vec![del("/spec/taints/0/effect")],
            "spec.taints[0].effect",
            REQ,
            "Required value",
        ),
        c(
            "Node",
            node,
            vec![set("/spec/taints/0/key", json!(""))],
            "spec.taints[0].key",
            INV,
            "name part must be non-empty",
        ),
        c(
            "Node",
            node,
            vec![set("/spec/taints/0/value", json!("edge site"))],
            "spec.taints[0].value",
            INV,
            "a valid label must be",
        ),
        c(
            "Node",
            node,
            vec![set(
                "/spec/taints/1",
                json!({"key": "dedicated", "value": "other", "effect": "NoSchedule"}),
            )],
            "spec.taints[1]",
            DUP,
            "taints must be unique by key and effect pair",
        ),
        c(
            "Node",
            node,
            vec![set("/spec/podCIDR", json!("10.42.0.0/40"))],
            "spec.podCIDR",
            INV,
            "must be a valid CIDR value",
        ),
        c(
            "Node",
            node,
            vec![set("/status/capacity/cpu", json!("four"))],
            "status.capacity[cpu]",
            INV,
            "quantities must match",
        ),
        // Endpoints, EndpointSlice
        c(
            "Endpoints",
            endpoints,
            vec![set("/subsets/0/addresses/0/ip", json!("10.42.0"))],
            "subsets[0].addresses[0].ip",
            INV,
            "must be a valid IP address",
        ),
        c(
            "Endpoints",
            endpoints,
            vec![set("/subsets/0/addresses/0/ip", json!("127.0.0.1"))],
            "subsets[0].addresses[0].ip",
            INV,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ),
        c(
            "Endpoints",
            endpoints,
            vec![set("/subsets/0/addresses/0/ip", json!("169.254.1.1"))],
            "subsets[0].addresses[0].ip",
            INV,
            "link-local",
        ),
        c(
            "Endpoints",
            endpoints,
            vec![
                set("/subsets/0/addresses", json!([])),
                set("/subsets/0/notReadyAddresses", json!([])),
            ],
            "subsets[0]",
            REQ,
            "must specify `addresses` or `notReadyAddresses`",
        ),
        c(
            "Endpoints",
            endpoints,
            vec![del("/subsets/0/ports/0/name")],
            "subsets[0].ports[0].name",
            REQ,
            "Required value",
        ),
        c(
            "Endpoints",
            endpoints,
            vec![set("/subsets/0/ports/0/port", json!(0))],
            "subsets[0].ports[0].port",
            INV,
            "must be between 1 and 65535",
        ),
        c(
            "Endpoints",
            endpoints,
            vec![set("/subsets/0/ports/0/protocol", json!("QUIC"))],
            "subsets[0].ports[0].protocol",
            UNS,
            "\"TCP\"",
        ),
        c(
            "EndpointSlice",
            endpoint_slice,
            vec![set("/addressType", json!("IPv5"))],
            "addressType",
            UNS,
            "\"IPv4\", \"IPv6\", \"FQDN\"",
        ),
        c(
            "EndpointSlice",
            endpoint_slice,
            vec![set("/endpoints/0/addresses/0", json!("fd00::1"))],
            "endpoints[0].addresses[0]",
            INV,
            "must be a valid IPv4 address",
        ),
        c(
            "EndpointSlice",
            endpoint_slice,
            vec![set("/endpoints/0/addresses", json!([]))],
            "endpoints[0].addresses",
            REQ,
            "must contain at least 1 address",
        ),
        c(
            "EndpointSlice",
            endpoint_slice,
            vec![set(
                "/endpoints/0/addresses",
                Value::Array(vec![json!("10.0.0.1"); 101]),
            )],
            "endpoints[0].addresses",
            MANY,
            "Too many: 101: must have at most 100 items",
        ),
        c(
            "EndpointSlice",
            endpoint_slice,
            vec![set(
                "/endpoints",
                Value::Array(vec![json!({"addresses": ["10.0.0.1"]}); 1001]),
            )],
            "endpoints",
            MANY,
            "must have at most 1000 items",
        ),
        c(
            "EndpointSlice",
            endpoint_slice,
            vec![set("/ports/1/name", json!("http"))],
            "ports[1].name",
            DUP,
            "Duplicate value: \"http\"",
        ),
        c(
            "EndpointSlice",
            endpoint_slice,
            vec![set("/ports/0/port", json!(65536))],
            "ports[0].port",
            INV,
            "must be between 1 and 65535",
        ),
        c(
            "EndpointSlice",
            endpoint_slice,
            vec![set("/endpoints/0/hostname", json!("web_0"))],
            "endpoints[0].hostname",
            INV,
            "RFC 1123 label",
        ),
        // PV, PVC
        c(
            "PersistentVolume",
            pv,
            vec![del("/spec/accessModes")],
            "spec.accessModes",
            REQ,
            "Required value",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![set("/spec/accessModes", json!(["ReadWriteSometimes"]))],
            "spec.accessModes",
            UNS,
            "\"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![set(
                "/spec/accessModes",
                json!(["ReadWriteOncePod", "ReadOnlyMany"]),
            )],
            "spec.accessModes",
            FORB,
            "may not use ReadWriteOncePod with other access modes",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![del("/spec/capacity")],
            "spec.capacity",
            REQ,
            "Required value",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![set("/spec/capacity/iops", json!("100"))],
            "spec.capacity",
            UNS,
            "supported values: \"storage\"",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![set("/spec/capacity/storage", json!("0"))],
            "spec.capacity[storage]",
            INV,
            "must be greater than zero",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![del("/spec/hostPath")],
            "spec",
            REQ,
            "Required value: must specify a volume type",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![set("/spec/nfs", json!({"server": "nas", "path": "/x"}))],
            "spec.nfs",
            FORB,
            "may not specify more than 1 volume type",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![set("/spec/persistentVolumeReclaimPolicy", json!("Keep"))],
            "spec.persistentVolumeReclaimPolicy",
            UNS,
            "\"Delete\", \"Recycle\", \"Retain\"",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![
                del("/spec/hostPath"),
                set("/spec/local", json!({"path": "/mnt"})),
            ],
            "spec.nodeAffinity",
            REQ,
            "Local volume requires node affinity",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![set("/spec/volumeMode", json!("Raw"))],
            "spec.volumeMode",
            UNS,
            "\"Block\", \"Filesystem\"",
        ),
        c(
            "PersistentVolumeClaim",
            pvc,
            vec![del("/spec/accessModes")],
            "spec.accessModes",
            REQ,
            "Required value: at least 1 access mode is required",
        ),
        c(
            "PersistentVolumeClaim",
            pvc,
            vec![del("/spec/resources")],
            "spec.resources[storage]",
            REQ,
            "Required value",
        ),
        c(
            "PersistentVolumeClaim",
            pvc,
            vec![set("/spec/resources/requests/storage", json!("0Gi"))],
            "spec.resources[storage]",
            INV,
            "must be greater than zero",
        ),
        c(
            "PersistentVolumeClaim",
            pvc,
            vec![set("/spec/storageClassName", json!("Fast_SSD"))],
            "spec.storageClassName",
            INV,
            "RFC 1123 subdomain",
        ),
        c(
            "PersistentVolumeClaim",
            pvc,
            vec![set(
                "/spec/selector",
                json!({"matchLabels": {"tier": "fast ssd"}}),
            )],
            "spec.selector.matchLabels",
            INV,
            "a valid label must be",
        ),
        // coordination, events, scheduling, CRDs
        c(
            "Lease",
            lease,
            vec![set("/spec/leaseDurationSeconds", json!(0))],
            "spec.leaseDurationSeconds",
            INV,
            "Invalid value: 0: must be greater than 0",
        ),
        c(
            "Lease",
            lease,
            vec![set("/spec/leaseTransitions", json!(-1))],
            "spec.leaseTransitions",
            INV,
            "must be greater than or equal to 0",
        ),
        c(
            "Lease",
            lease,
            vec![set("/spec/preferredHolder", json!("edge-2"))],
            "spec.preferredHolder",
            FORB,
            "may only be specified if `strategy` is defined",
        ),
        c(
            "Event",
            event,
            vec![set("/involvedObject/namespace", json!("kube-system"))],
            "involvedObject.namespace",
            INV,
            "does not match event.namespace",
        ),
        c(
            "Event",
            new_event,
            vec![del("/action")],
            "action",
            REQ,
            "Required value",
        ),
        c(
            "Event",
            new_event,
            vec![del("/reportingComponent")],
            "source",
            REQ,
            "Required value",
        ),
        c(
            "Event",
            new_event,
            vec![set("/reason", json!("x".repeat(129)))],
            "reason",
            INV,
            "can have at most 128 characters",
        ),
        c(
            "Event",
            new_event,
            vec![set("/message", json!("x".repeat(1025)))],
            "message",
            INV,
            "can have at most 1024 characters",
        ),
        c(
            "PriorityClass",
            priority_class,
            vec![set("/value", json!(2_000_000_000))],
            "value",
            FORB,
            "maximum allowed value of a user defined priority is 1000000000",
        ),
        c(
            "PriorityClass",
            priority_class,
            vec![set("/metadata/name", json!("system-important"))],
            "metadata.name",
            FORB,
            "priority class names with 'system-' prefix are reserved for system use only. error: system-important is not a known system priority class",
        ),
        c(
            "PriorityClass",
            system_priority_class,
            vec![set("/value", json!(5))],
            "metadata.name",
            FORB,
            "value of system-node-critical PriorityClass must be 2000001000",
        ),
        c(
            "PriorityClass",
            priority_class,
            vec![set("/preemptionPolicy", json!("Always"))],
            "preemptionPolicy",
            UNS,
            "\"Never\", \"PreemptLowerPriority\"",
        ),
        c(
            "CustomResourceDefinition",
            crd,
            vec![set("/metadata/name", json!("gadgets.example.com"))],
            "metadata.name",
            INV,
            "must be spec.names.plural+\".\"+spec.group",
        ),
    ]
}

#[test]
fn every_rule_rejects_its_case() {
    let cases = create_cases();
    for (i, case) in cases.iter().enumerate() {
        let errs = check(case.kind, edited(case), None);
        assert_case(i, case, &errs, "create");
    }
}

fn update_cases() -> Vec<Case> {
    vec![
        c(
            "ConfigMap",
            config_map,
            vec![set("/metadata/name", json!("other"))],
            "metadata.name",
            INV,
            "Invalid value: \"other\": field is immutable",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![set("/metadata/namespace", json!("other"))],
            "metadata.namespace",
            INV,
            "field is immutable",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![set("/metadata/uid", json!("another-uid"))],
            "metadata.uid",
            INV,
            "field is immutable",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![set(
                "/metadata/creationTimestamp",
                json!("2030-01-01T00:00:00Z"),
            )],
            "metadata.creationTimestamp",
            INV,
            "field is immutable",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![
                del("/metadata/name"),
                set("/metadata/generateName", json!("web-")),
            ],
            "metadata.name",
            REQ,
            "name or generateName is required",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/containers/0/resources/limits/cpu", json!("2"))],
            "spec",
            FORB,
            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  changed: spec.containers[0].resources.limits.cpu",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/containers/2",
                json!({"name": "extra", "image": "x:1"}),
            )],
            "spec",
            FORB,
            "changed: spec.containers",
        ),
        c(
            "Pod",
            pod,
            vec![set("/spec/nodeName", json!("edge-2"))],
            "spec",
            FORB,
            "changed: spec.nodeName",
        ),
        c(
            "Pod",
            pod,
            vec![del("/spec/tolerations/1")],
            "spec.tolerations",
            FORB,
            "existing toleration can not be modified except its tolerationSeconds",
        ),
        c(
            "Pod",
            pod,
            vec![set(
                "/spec/schedulingGates",
                json!([{"name": "example.com/new"}]),
            )],
            "spec.schedulingGates",
            FORB,
            "only deletion is allowed, but found new scheduling gate 'example.com/new'",
        ),
        c(
            "Secret",
            secret,
            vec![set("/type", json!("kubernetes.io/basic-auth"))],
            "type",
            INV,
            "Invalid value: \"kubernetes.io/basic-auth\": field is immutable",
        ),
        c(
            "Deployment",
            deployment,
            vec![
                set("/spec/selector/matchLabels/tier", json!("web")),
                set("/spec/template/metadata/labels/tier", json!("web")),
            ],
            "spec.selector",
            INV,
            "field is immutable",
        ),
        c(
            "ReplicaSet",
            replica_set,
            vec![
                set("/spec/selector/matchLabels/tier", json!("web")),
                set("/spec/template/metadata/labels/tier", json!("web")),
            ],
            "spec.selector",
            INV,
            "field is immutable",
        ),
        c(
            "DaemonSet",
            daemon_set,
            vec![
                set(
                    "/spec/selector/matchExpressions/0/operator",
                    json!("Exists"),
                ),
                del("/spec/selector/matchExpressions/0/values"),
            ],
            "spec.selector",
            INV,
            "field is immutable",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![set("/spec/serviceName", json!("db-headless"))],
            "spec",
            FORB,
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ),
        c(
            "StatefulSet",
            stateful_set,
            vec![set(
                "/spec/volumeClaimTemplates/0/spec/resources/requests/storage",
                json!("20Gi"),
            )],
            "spec",
            FORB,
            "updates to statefulset spec",
        ),
        c(
            "Job",
            job,
            vec![set(
                "/spec/template/spec/containers/0/image",
                json!("perl:5.36"),
            )],
            "spec.template",
            INV,
            "field is immutable",
        ),
        c(
            "Job",
            job,
            vec![set("/spec/completions", json!(3))],
            "spec.completions",
            INV,
            "Invalid value: 3: field is immutable",
        ),
        c(
            "Job",
            job,
            vec![set("/spec/completionMode", json!("Indexed"))],
            "spec.completionMode",
            INV,
            "field is immutable",
        ),
        c(
            "ControllerRevision",
            controller_revision,
            vec![set("/data", json!({"spec": {}}))],
            "data",
            INV,
            "field is immutable",
        ),
        c(
            "Service",
            service,
            vec![set("/spec/clusterIP", json!("10.43.0.20"))],
            "spec.clusterIP",
            INV,
            "Invalid value: \"10.43.0.20\": field is immutable",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![set("/data/theme", json!("light"))],
            "data",
            FORB,
            "field is immutable when `immutable` is set",
        ),
        c(
            "ConfigMap",
            config_map,
            vec![set("/immutable", json!(false))],
            "immutable",
            FORB,
            "field is immutable when `immutable` is set",
        ),
        c(
            "Secret",
            secret,
            vec![set("/stringData/password", json!("rotated"))],
            "data",
            FORB,
            "field is immutable when `immutable` is set",
        ),
        c(
            "Node",
            node,
            vec![
                set("/spec/podCIDRs", json!(["10.42.1.0/24"])),
                set("/spec/podCIDR", json!("10.42.1.0/24")),
            ],
            "spec.podCIDRs",
            FORB,
            "node updates may not change podCIDR except from \"\" to valid",
        ),
        c(
            "Node",
            node,
            vec![set("/spec/providerID", json!("verge://edge-2"))],
            "spec.providerID",
            FORB,
            "node updates may not change providerID",
        ),
        c(
            "PersistentVolume",
            pv,
            vec![set("/spec/hostPath/path", json!("/srv/other"))],
            "spec.persistentvolumesource",
            FORB,
            "spec.persistentvolumesource is immutable after creation",
        ),
        c(
            "PersistentVolumeClaim",
            pvc,
            vec![set("/spec/accessModes", json!(["ReadWriteMany"]))],
            "spec",
            FORB,
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ),
        c(
            "PersistentVolumeClaim",
            pvc,
            vec![set("/spec/resources/requests/storage", json!("512Mi"))],
            "spec.resources.requests.storage",
            FORB,
            "field can not be less than previous value",
        ),
        c(
            "EndpointSlice",
            endpoint_slice,
            vec![
                set("/addressType", json!("FQDN")),
                set("/endpoints/0/addresses/0", json!("web-0.example.com")),
            ],
            "addressType",
            INV,
            "field is immutable",
        ),
        c(
            "PriorityClass",
            priority_class,
            vec![set("/value", json!(2000))],
            "value",
            FORB,
            "may not be changed in an update.",
        ),
        c(
            "PriorityClass",
            priority_class,
            vec![set("/preemptionPolicy", json!("Never"))],
            "preemptionPolicy",
            INV,
            "field is immutable",
        ),
    ]
}

/// The stored object an update case starts from (some cases need a special one).
fn old_for(case: &Case) -> Value {
    let mut old = stored(case.kind, (case.base)());
    let immutable_data =
        matches!(case.field, "data" | "immutable") && matches!(case.kind, "ConfigMap" | "Secret");
    if immutable_data {
        old["immutable"] = json!(true);
    }
    if case.kind == "Service" {
        old["spec"]["clusterIP"] = json!("10.43.0.10");
    }
    old
}

#[test]
fn updates_reject_changes_to_fixed_fields() {
    for (i, case) in update_cases().iter().enumerate() {
        let old = old_for(case);
        let mut new = edited(case);
        if old.get("immutable").is_some() && case.field != "immutable" {
            new["immutable"] = json!(true);
        }
        let errs = check(case.kind, new, Some(&old));
        assert_case(i, case, &errs, "update");
    }
}

#[test]
fn updates_allow_what_kubernetes_allows() {
    let allowed: Vec<(&str, Base, Vec<Edit>)> = vec![
        (
            "Pod",
            pod,
            vec![
                set("/spec/containers/0/image", json!("ghcr.io/acme/web:1.4.3")),
                set(
                    "/spec/initContainers/0/image",
                    json!("ghcr.io/acme/web:1.4.3"),
                ),
            ],
        ),
        (
            "Pod",
            pod,
            vec![set("/spec/activeDeadlineSeconds", json!(600))],
        ),
        (
            "Pod",
            pod,
            vec![set(
                "/spec/tolerations/2",
                json!({"key": "spot", "operator": "Exists"}),
            )],
        ),
        (
            "Pod",
            pod,
            vec![set("/spec/tolerations/0/tolerationSeconds", json!(30))],
        ),
        (
            "Pod",
            pod,
            vec![set("/spec/terminationGracePeriodSeconds", json!(10))],
        ),
        (
            "Pod",
            pod,
            vec![
                set("/metadata/labels/tier", json!("canary")),
                set("/metadata/annotations/note", json!("x")),
            ],
        ),
        (
            "Pod",
            pod,
            vec![set(
                "/status",
                json!({"phase": "Running", "podIP": "10.42.0.15"}),
            )],
        ),
        (
            "Deployment",
            deployment,
            vec![
                set("/spec/replicas", json!(5)),
                set(
                    "/spec/template/spec/containers/0/image",
                    json!("ghcr.io/acme/web:2.1.0"),
                ),
            ],
        ),
        (
            "StatefulSet",
            stateful_set,
            vec![
                set("/spec/replicas", json!(1)),
                set("/spec/updateStrategy", json!({"type": "OnDelete"})),
                set(
                    "/spec/template/metadata/annotations",
                    json!({"restartedAt": "now"}),
                ),
            ],
        ),
        (
            "DaemonSet",
            daemon_set,
            vec![set(
                "/spec/template/spec/containers/0/image",
                json!("quay.io/prometheus/node-exporter:v1.9.0"),
            )],
        ),
        (
            "Job",
            job,
            vec![
                set("/spec/suspend", json!(true)),
                set("/spec/parallelism", json!(3)),
                set("/metadata/labels/x", json!("y")),
            ],
        ),
        (
            "CronJob",
            cron_job,
            vec![
                set("/spec/schedule", json!("0 3 * * *")),
                set(
                    "/spec/jobTemplate/spec/template/spec/containers/0/image",
                    json!("ghcr.io/acme/backup:4"),
                ),
            ],
        ),
        (
            "Service",
            service,
            vec![
                set("/spec/ports/0/port", json!(8080)),
                set("/spec/selector/app", json!("api")),
            ],
        ),
        (
            "ConfigMap",
            config_map,
            vec![
                set("/data/theme", json!("light")),
                set("/immutable", json!(true)),
            ],
        ),
        (
            "Secret",
            secret,
            vec![set("/stringData/password", json!("rotated"))],
        ),
        (
            "PersistentVolumeClaim",
            pvc,
            vec![
                set("/spec/resources/requests/storage", json!("2Gi")),
                set("/spec/volumeName", json!("pv-local-1")),
            ],
        ),
        (
            "Node",
            node,
            vec![
                set("/spec/unschedulable", json!(true)),
                set(
                    "/spec/taints/1",
                    json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}),
                ),
            ],
        ),
        (
            "Namespace",
            namespace,
            vec![set("/metadata/labels/team", json!("a"))],
        ),
        (
            "PriorityClass",
            priority_class,
            vec![set("/description", json!("changed"))],
        ),
        // A PUT without uid/creationTimestamp keeps the stored ones.
        (
            "ConfigMap",
            config_map,
            vec![del("/metadata/uid"), del("/metadata/creationTimestamp")],
        ),
    ];
    for (i, (kind, base, edits)) in allowed.iter().enumerate() {
        // Clients read, modify and write back the stored object.
        let old = stored(kind, base());
        let mut new = old.clone();
        for e in edits {
            apply(&mut new, e);
        }
        let errs = check(kind, new, Some(&old));
        assert!(
            errs.is_empty(),
            "allowed update #{i} ({kind}):\n{}",
            show(&errs)
        );
    }
}

#[test]
fn special_updates() {
    // A service gets its cluster IP once, then keeps it.
    let mut old = stored("Service", service());
    old["spec"]["clusterIP"] = json!("");
    let mut new = service();
    new["spec"]["clusterIP"] = json!("10.43.0.12");
    assert!(check("Service", new, Some(&old)).is_empty());

    // Scheduling gates may be removed.
    let mut old = stored("Pod", pod());
    old["spec"]["schedulingGates"] = json!([{"name": "a"}, {"name": "b"}]);
    let mut new = pod();
    new["spec"]["schedulingGates"] = json!([{"name": "b"}]);
    assert!(check("Pod", new, Some(&old)).is_empty());

    // activeDeadlineSeconds may go down, never up or away.
    let mut old = stored("Pod", pod());
    old["spec"]["activeDeadlineSeconds"] = json!(600);
    let mut lower = pod();
    lower["spec"]["activeDeadlineSeconds"] = json!(300);
    assert!(check("Pod", lower, Some(&old)).is_empty());
    let mut higher = pod();
    higher["spec"]["activeDeadlineSeconds"] = json!(900);
    let errs = check("Pod", higher, Some(&old));
    assert!(
        errs.iter().any(|e| e.field == "spec.activeDeadlineSeconds"
            && e.message == "Invalid value: 900: must be less than or equal to previous value"),
        "{}",
        show(&errs)
    );
    let errs = check("Pod", pod(), Some(&old));
    assert!(
        errs.iter().any(|e| e.field == "spec.activeDeadlineSeconds"
            && e.message
                .contains("must not update from a positive integer to nil value")),
        "{}",
        show(&errs)
    );

    // A suspended Job that never started may move its pods elsewhere.
    let mut old = stored("Job", job());
    old["spec"]["suspend"] = json!(true);
    let mut new = job();
    new["spec"]["suspend"] = json!(true);
    new["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "b"});
    assert!(check("Job", new.clone(), Some(&old)).is_empty());
    old["status"] = json!({"startTime": "2025-01-10T08:00:00Z"});
    let errs = check("Job", new, Some(&old));
    assert!(
        errs.iter().any(|e| e.field == "spec.template"),
        "{}",
        show(&errs)
    );

    // Elastic indexed Jobs scale completions with parallelism.
    let mut indexed = job();
    indexed["spec"]["completionMode"] = json!("Indexed");
    indexed["spec"]["completions"] = json!(4);
    indexed["spec"]["parallelism"] = json!(4);
    let old = stored("Job", indexed.clone());
    indexed["spec"]["completions"] = json!(6);
    indexed["spec"]["parallelism"] = json!(6);
    assert!(check("Job", indexed, Some(&old)).is_empty());

    // No new finalizers once deletion started.
    let mut old = stored("ConfigMap", config_map());
    old["metadata"]["deletionTimestamp"] = json!("2025-01-10T09:00:00Z");
    old["metadata"]["finalizers"] = json!(["example.com/a"]);
    let mut new = config_map();
    new["metadata"]["deletionTimestamp"] = json!("2025-01-10T09:00:00Z");
    new["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b"]);
    let errs = check("ConfigMap", new, Some(&old));
    assert!(errs.iter().any(|e| e.field == "metadata.finalizers"
        && e.message == "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/b\"}"), "{}", show(&errs));
}

#[test]
fn volumes_need_a_source() {
    // Defaulting turns a source-less volume into an emptyDir, so validate directly.
    let mut p = stored("Pod", pod());
    p["spec"]["volumes"][1] = json!({"name": "cache"});
    let errs = validate(&rt("Pod"), &p, None);
    assert!(
        errs.iter().any(|e| e.field == "spec.volumes[1]"
            && e.reason == REQ
            && e.message == "Required value: must specify a volume type"),
        "{}",
        show(&errs)
    );
}

#[test]
fn missing_defaults_are_required() {
    // Validation expects defaulted objects, as kube-apiserver's does.
    let obj = pod();
    let errs = validate(&rt("Pod"), &obj, None);
    for field in [
        "spec.restartPolicy",
        "spec.dnsPolicy",
        "spec.containers[0].imagePullPolicy",
        "spec.containers[0].ports[0].protocol",
    ] {
        assert!(
            errs.iter().any(|e| e.field == field && e.reason == REQ),
            "{field}:\n{}",
            show(&errs)
        );
    }
}

#[test]
fn name_rules_by_kind() {
    let rbac = ResourceType {
        group: "rbac.authorization.k8s.io".into(),
        kind: "ClusterRole".into(),
        namespaced: false,
        ..rt("ConfigMap")
    };
    assert_eq!(name_rule(&rbac), NameRule::PathSegment);
    assert_eq!(name_rule(&rt("Namespace")), NameRule::Label);
    assert_eq!(name_rule(&rt("Service")), NameRule::Dns1035);
    assert_eq!(name_rule(&rt("Pod")), NameRule::Subdomain);
    assert_eq!(name_rule(&rt("Widget")), NameRule::Subdomain);
    let mut role = json!({"metadata": {"name": "system:controller:job-controller"}});
    apply_defaults(&rbac, &mut role);
    assert!(validate(&rbac, &role, None).is_empty());
    let bad = json!({"metadata": {"name": "a/b"}});
    let errs = validate(&rbac, &bad, None);
    assert_eq!(errs.len(), 1, "{}", show(&errs));
    assert_eq!(
        errs[0].message,
        "Invalid value: \"a/b\": may not contain '/'"
    );
}

#[test]
fn odd_shapes_do_not_panic() {
    for (kind, _) in MANIFESTS {
        for odd in [
            json!(null),
            json!({"spec": 3, "metadata": []}),
            json!({"metadata": {"name": 7, "labels": {"a": 1}}, "spec": {"containers": [1, null], "selector": "x", "template": []}}),
            json!({"spec": {"ports": [{"port": "x", "targetPort": {}}], "template": {"spec": {"volumes": [{"name": 1, "configMap": 3}]}}}}),
        ] {
            let t = rt(kind);
            let _ = validate(&t, &odd, Some(&odd));
        }
    }
}
