use serde_json::{Value, json};

use super::apply_defaults;
use super::pod::{pull_policy, qos_class};
use crate::registry::{Registry, ResourceType};

fn rt(kind: &str) -> std::sync::Arc<ResourceType> {
    Registry::with_builtins()
        .all()
        .into_iter()
        .find(|t| t.kind == kind)
        .unwrap_or_else(|| panic!("no built-in kind {kind}"))
}

/// Defaults `obj`, checks idempotence and that the result still decodes as
/// the typed object, and returns it.
fn defaulted(kind: &str, mut obj: Value) -> Value {
    let t = rt(kind);
    apply_defaults(&t, &mut obj);
    let mut again = obj.clone();
    apply_defaults(&t, &mut again);
    assert_eq!(again, obj, "defaults of {kind} are not idempotent");
    decodes(kind, &obj);
    obj
}

fn decodes(kind: &str, obj: &Value) {
    use k8s_openapi::api::{apps, batch, core, discovery, scheduling};
    let v = obj.clone();
    let r = match kind {
        "Pod" => serde_json::from_value::<core::v1::Pod>(v).map(drop),
        "Service" => serde_json::from_value::<core::v1::Service>(v).map(drop),
        "Namespace" => serde_json::from_value::<core::v1::Namespace>(v).map(drop),
        "Secret" => serde_json::from_value::<core::v1::Secret>(v).map(drop),
        "Node" => serde_json::from_value::<core::v1::Node>(v).map(drop),
        "PersistentVolume" => serde_json::from_value::<core::v1::PersistentVolume>(v).map(drop),
        "PersistentVolumeClaim" => {
            serde_json::from_value::<core::v1::PersistentVolumeClaim>(v).map(drop)
        }
        "Endpoints" => serde_json::from_value::<core::v1::Endpoints>(v).map(drop),
        "Deployment" => serde_json::from_value::<apps::v1::Deployment>(v).map(drop),
        "ReplicaSet" => serde_json::from_value::<apps::v1::ReplicaSet>(v).map(drop),
        "DaemonSet" => serde_json::from_value::<apps::v1::DaemonSet>(v).map(drop),
        "StatefulSet" => serde_json::from_value::<apps::v1::StatefulSet>(v).map(drop),
        "Job" => serde_json::from_value::<batch::v1::Job>(v).map(drop),
        "CronJob" => serde_json::from_value::<batch::v1::CronJob>(v).map(drop),
        "EndpointSlice" => serde_json::from_value::<discovery::v1::EndpointSlice>(v).map(drop),
        "PriorityClass" => serde_json::from_value::<scheduling::v1::PriorityClass>(v).map(drop),
        _ => Ok(()),
    };
    if let Err(e) = r {
        panic!("defaulted {kind} does not decode: {e}\n{obj:#}");
    }
}

/// The defaults of a container in any pod spec.
fn container_defaults(name: &str, image: &str, policy: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": policy,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "resources": {}
    })
}

#[test]
fn pod_looks_like_kubectl_run() {
    let pod = defaulted(
        "Pod",
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "nginx", "namespace": "default", "labels": {"run": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}
        }),
    );
    assert_eq!(
        pod,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "nginx", "namespace": "default", "labels": {"run": "nginx"},
                "annotations": {
                    "verge.dev/defaulted-tolerations": "node.kubernetes.io/not-ready,node.kubernetes.io/unreachable"
                }
            },
            "spec": {
                "containers": [container_defaults("nginx", "nginx", "Always")],
                "tolerations": [
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
                ],
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30,
                "schedulerName": "default-scheduler",
                "enableServiceLinks": true,
                "serviceAccountName": "default",
                "priority": 0,
                "preemptionPolicy": "PreemptLowerPriority",
                "serviceAccount": "default"
            },
            "status": {"phase": "Pending", "qosClass": "BestEffort"}
        })
    );
}

#[test]
fn pod_user_values_win() {
    let pod = defaulted(
        "Pod",
        json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "restartPolicy": "Never",
                "dnsPolicy": "Default",
                "terminationGracePeriodSeconds": 0,
                "enableServiceLinks": false,
                "schedulerName": "mine",
                "serviceAccountName": "builder",
                "priorityClassName": "high",
                "containers": [{
                    "name": "c", "image": "busybox:1.36",
                    "imagePullPolicy": "Never",
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                    "ports": [{"containerPort": 53, "protocol": "UDP"}]
                }]
            },
            "status": {"phase": "Running", "qosClass": "Burstable"}
        }),
    );
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(spec["dnsPolicy"], "Default");
    assert_eq!(spec["terminationGracePeriodSeconds"], 0);
    assert_eq!(spec["enableServiceLinks"], false);
    assert_eq!(spec["schedulerName"], "mine");
    assert_eq!(spec["serviceAccountName"], "builder");
    assert_eq!(spec["serviceAccount"], "builder");
    assert!(
        spec.get("priority").is_none(),
        "named classes are resolved elsewhere"
    );
    assert!(spec.get("preemptionPolicy").is_none());
    let c = &spec["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Never");
    assert_eq!(c["terminationMessagePolicy"], "FallbackToLogsOnError");
    assert_eq!(c["ports"][0]["protocol"], "UDP");
    assert_eq!(
        pod["status"],
        json!({"phase": "Running", "qosClass": "Burstable"})
    );
}

#[test]
fn deprecated_service_account_is_kept_in_step() {
    let pod = defaulted(
        "Pod",
        json!({"metadata": {"name": "p"}, "spec": {"serviceAccount": "old", "containers": []}}),
    );
    assert_eq!(pod["spec"]["serviceAccountName"], "old");
    assert_eq!(pod["spec"]["serviceAccount"], "old");
}

#[test]
fn container_internals() {
    let pod = defaulted(
        "Pod",
        json!({
            "metadata": {"name": "p"},
            "spec": {
                "hostNetwork": true,
                "initContainers": [{
                    "name": "init", "image": "busybox@sha256:abcd",
                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}
                }],
                "containers": [{
                    "name": "web", "image": "registry.local:5000/team/web:1.2",
                    "ports": [{"containerPort": 8080}, {"containerPort": 9090, "hostPort": 9090}],
                    "env": [
                        {"name": "A", "value": "1"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                    ],
                    "livenessProbe": {"httpGet": {"port": 8080}},
                    "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5},
                    "startupProbe": {"grpc": {"port": 9090}},
                    "lifecycle": {"preStop": {"httpGet": {"port": 8080, "path": "/quit"}}},
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}
                }]
            }
        }),
    );
    let init = &pod["spec"]["initContainers"][0];
    assert_eq!(init["imagePullPolicy"], "IfNotPresent");
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        c["ports"][0],
        json!({"containerPort": 8080, "protocol": "TCP", "hostPort": 8080})
    );
    assert_eq!(c["ports"][1]["hostPort"], 9090);
    assert_eq!(c["env"][0], json!({"name": "A", "value": "1"}));
    assert_eq!(c["env"][1]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
    assert_eq!(
        c["livenessProbe"],
        json!({
            "httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
            "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3
        })
    );
    assert_eq!(c["readinessProbe"]["periodSeconds"], 5);
    assert_eq!(
        c["startupProbe"]["grpc"],
        json!({"port": 9090, "service": ""})
    );
    assert_eq!(
        c["lifecycle"]["preStop"]["httpGet"],
        json!({"port": 8080, "path": "/quit", "scheme": "HTTP"})
    );
    // Pods only: requests default to limits, which makes this Guaranteed.
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "500m", "memory": "128Mi"})
    );
    assert_eq!(pod["status"]["qosClass"], "Guaranteed");
}

#[test]
fn volumes() {
    let pod = defaulted(
        "Pod",
        json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "c", "image": "x:1"}],
                "volumes": [
                    {"name": "scratch"},
                    {"name": "cfg", "configMap": {"name": "cfg"}},
                    {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 256}},
                    {"name": "host", "hostPath": {"path": "/var/log"}},
                    {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                    {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
                ]
            }
        }),
    );
    let v = &pod["spec"]["volumes"];
    assert_eq!(v[0], json!({"name": "scratch", "emptyDir": {}}));
    assert_eq!(
        v[1]["configMap"],
        json!({"name": "cfg", "defaultMode": 420})
    );
    assert_eq!(v[2]["secret"]["defaultMode"], 256);
    assert_eq!(v[3]["hostPath"], json!({"path": "/var/log", "type": ""}));
    assert_eq!(v[4]["downwardAPI"]["defaultMode"], 420);
    assert_eq!(
        v[4]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"],
        "v1"
    );
    assert_eq!(v[5]["projected"]["defaultMode"], 420);
    assert_eq!(
        v[5]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
        3600
    );
    assert_eq!(
        v[6],
        json!({"name": "data", "persistentVolumeClaim": {"claimName": "data"}})
    );
}

#[test]
fn image_pull_policy() {
    for (image, want) in [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("docker.io/library/nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v2", "IfNotPresent"),
        ("nginx@sha256:0123abcd", "IfNotPresent"),
        ("nginx:latest@sha256:0123abcd", "Always"),
        ("nginx:1.27@sha256:0123abcd", "IfNotPresent"),
        ("", "IfNotPresent"),
    ] {
        assert_eq!(pull_policy(image), want, "{image}");
    }
}

#[test]
fn qos_classes() {
    let spec = |containers: Value| json!({"containers": containers});
    assert_eq!(qos_class(&spec(json!([{"name": "a"}]))), "BestEffort");
    // Zero requests and non-QoS resources do not count.
    assert_eq!(
        qos_class(&spec(
            json!([{"resources": {"requests": {"cpu": "0", "ephemeral-storage": "1Gi"}}}])
        )),
        "BestEffort"
    );
    assert_eq!(
        qos_class(&spec(json!([{"resources": {"requests": {"cpu": "100m"}}}]))),
        "Burstable"
    );
    let guaranteed = json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}});
    assert_eq!(
        qos_class(&spec(json!([{"resources": guaranteed}]))),
        "Guaranteed"
    );
    // One container without a memory limit spoils it.
    assert_eq!(
        qos_class(&spec(json!([
            {"resources": guaranteed},
            {"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}}
        ]))),
        "Burstable"
    );
    // Requests lower than limits.
    assert_eq!(
        qos_class(&spec(
            json!([{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}])
        )),
        "Burstable"
    );
    // Init containers count too.
    assert_eq!(
        qos_class(
            &json!({"containers": [{"name": "a"}], "initContainers": [{"resources": {"limits": {"memory": "1Gi"}}}]})
        ),
        "Burstable"
    );
}

fn template(containers: Value) -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}})
}

/// The defaults a pod template (not a Pod) gets.
fn template_spec_defaults(restart: bool) -> Value {
    let mut spec = json!({
        "containers": [container_defaults("web", "nginx:1.27", "IfNotPresent")],
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler"
    });
    if restart {
        spec["restartPolicy"] = json!("Always");
    }
    spec
}

#[test]
fn deployment() {
    let d = defaulted(
        "Deployment",
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": template(json!([{"name": "web", "image": "nginx:1.27"}]))
            }
        }),
    );
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let mut want = template_spec_defaults(true);
    want["dnsPolicy"] = json!("ClusterFirst");
    assert_eq!(spec["template"]["spec"], want);
    // Pod-only defaults stay off templates.
    assert!(spec["template"]["spec"].get("enableServiceLinks").is_none());
    assert!(spec["template"]["spec"].get("serviceAccountName").is_none());
    assert!(spec["template"].get("status").is_none());

    let recreate = defaulted(
        "Deployment",
        json!({"metadata": {"name": "x"}, "spec": {"replicas": 0, "strategy": {"type": "Recreate"}}}),
    );
    assert_eq!(recreate["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(recreate["spec"]["replicas"], 0);
    let partial = defaulted(
        "Deployment",
        json!({"metadata": {"name": "x"}, "spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}}}}),
    );
    assert_eq!(
        partial["spec"]["strategy"],
        json!({"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}, "type": "RollingUpdate"})
    );
}

#[test]
fn replica_set_and_daemon_set() {
    let rs = defaulted(
        "ReplicaSet",
        json!({"metadata": {"name": "x"}, "spec": {"template": template(json!([{"name": "web", "image": "nginx:1.27"}]))}}),
    );
    assert_eq!(rs["spec"]["replicas"], 1);
    assert_eq!(rs["spec"]["template"]["spec"], template_spec_defaults(true));

    let ds = defaulted(
        "DaemonSet",
        json!({"metadata": {"name": "x"}, "spec": {"template": template(json!([{"name": "web", "image": "nginx:1.27"}]))}}),
    );
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
    let on_delete = defaulted(
        "DaemonSet",
        json!({"metadata": {"name": "x"}, "spec": {"updateStrategy": {"type": "OnDelete"}}}),
    );
    assert_eq!(
        on_delete["spec"]["updateStrategy"],
        json!({"type": "OnDelete"})
    );
}

#[test]
fn stateful_set() {
    let sts = defaulted(
        "StatefulSet",
        json!({
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "web"}},
                "template": template(json!([{"name": "web", "image": "nginx:1.27"}])),
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
                }]
            }
        }),
    );
    let spec = &sts["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        spec["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    let vct = &spec["volumeClaimTemplates"][0];
    assert_eq!(vct["spec"]["volumeMode"], "Filesystem");
    assert_eq!(vct["status"], json!({"phase": "Pending"}));
    // An explicit RollingUpdate without rollingUpdate gets no partition.
    let explicit = defaulted(
        "StatefulSet",
        json!({"metadata": {"name": "db"}, "spec": {"updateStrategy": {"type": "RollingUpdate"}}}),
    );
    assert_eq!(
        explicit["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate"})
    );
}

fn job_manifest(spec_extra: Value) -> Value {
    let mut spec = json!({
        "template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}
        }
    });
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "uid": "6f1c-uid"},
        "spec": spec
    })
}

#[test]
fn job() {
    let job = defaulted("Job", job_manifest(json!({})));
    let spec = &job["spec"];
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert!(spec.get("manualSelector").is_none());
    let generated = json!({
        "job-name": "pi",
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": "6f1c-uid",
        "batch.kubernetes.io/controller-uid": "6f1c-uid"
    });
    assert_eq!(
        spec["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "6f1c-uid"}})
    );
    assert_eq!(spec["template"]["metadata"]["labels"], generated);
    assert_eq!(job["metadata"]["labels"], generated);
    // Job templates get no restart policy of their own.
    let bare = defaulted(
        "Job",
        json!({"metadata": {"name": "j", "uid": "u"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}),
    );
    assert!(
        bare["spec"]["template"]["spec"]
            .get("restartPolicy")
            .is_none()
    );
    assert_eq!(
        bare["spec"]["template"]["spec"]["dnsPolicy"],
        "ClusterFirst"
    );
}

#[test]
fn job_counts_and_labels() {
    let only_parallelism = defaulted("Job", job_manifest(json!({"parallelism": 3})));
    assert_eq!(only_parallelism["spec"]["parallelism"], 3);
    assert!(only_parallelism["spec"].get("completions").is_none());
    let only_completions = defaulted("Job", job_manifest(json!({"completions": 5})));
    assert_eq!(only_completions["spec"]["completions"], 5);
    assert_eq!(only_completions["spec"]["parallelism"], 1);
    let per_index = defaulted(
        "Job",
        job_manifest(
            json!({"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1}),
        ),
    );
    assert_eq!(per_index["spec"]["backoffLimit"], 2147483647);
    let with_policy = defaulted(
        "Job",
        job_manifest(
            json!({"podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}),
        ),
    );
    assert_eq!(with_policy["spec"]["podReplacementPolicy"], "Failed");
    assert_eq!(
        with_policy["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
        "True"
    );

    // The user's template labels become the Job's labels; generated ones are added to the template.
    let mut m = job_manifest(json!({}));
    m["spec"]["template"]["metadata"] = json!({"labels": {"app": "pi"}});
    let labelled = defaulted("Job", m);
    assert_eq!(labelled["metadata"]["labels"], json!({"app": "pi"}));
    assert_eq!(
        labelled["spec"]["template"]["metadata"]["labels"]["app"],
        "pi"
    );
    assert_eq!(
        labelled["spec"]["template"]["metadata"]["labels"]["job-name"],
        "pi"
    );

    // A manual selector is left alone.
    let manual = defaulted(
        "Job",
        job_manifest(json!({"manualSelector": true, "selector": {"matchLabels": {"app": "pi"}}})),
    );
    assert_eq!(
        manual["spec"]["selector"],
        json!({"matchLabels": {"app": "pi"}})
    );
    assert!(manual["spec"]["template"].get("metadata").is_none());

    // No uid yet: nothing generated.
    let mut no_uid = job_manifest(json!({}));
    no_uid["metadata"]["uid"].take();
    if let Some(m) = no_uid["metadata"].as_object_mut() {
        m.remove("uid");
    }
    let no_uid = defaulted("Job", no_uid);
    assert!(no_uid["spec"].get("selector").is_none());
}

#[test]
fn cron_job() {
    let cj = defaulted(
        "CronJob",
        json!({
            "metadata": {"name": "hello"},
            "spec": {
                "schedule": "* * * * *",
                "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [{"name": "hello", "image": "busybox:1.28"}]
                }}}}
            }
        }),
    );
    let spec = &cj["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Allow");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["successfulJobsHistoryLimit"], 3);
    assert_eq!(spec["failedJobsHistoryLimit"], 1);
    let job_spec = &spec["jobTemplate"]["spec"];
    // Job defaults are not applied to job templates, pod template ones are.
    assert!(job_spec.get("backoffLimit").is_none());
    assert_eq!(
        job_spec["template"]["spec"]["schedulerName"],
        "default-scheduler"
    );
    assert_eq!(job_spec["template"]["spec"]["restartPolicy"], "OnFailure");
    assert_eq!(
        job_spec["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
}

#[test]
fn services() {
    let svc = defaulted(
        "Service",
        json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"name": "m", "port": 9090, "targetPort": "metrics"}]}
        }),
    );
    assert_eq!(
        svc["spec"],
        json!({
            "selector": {"app": "web"},
            "ports": [
                {"port": 80, "protocol": "TCP", "targetPort": 80},
                {"name": "m", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
            ],
            "sessionAffinity": "None",
            "type": "ClusterIP",
            "internalTrafficPolicy": "Cluster",
            "ipFamilyPolicy": "SingleStack",
            "ipFamilies": ["IPv4"]
        })
    );

    let np = defaulted(
        "Service",
        json!({"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": 0}]}}),
    );
    assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(np["spec"]["ports"][0]["targetPort"], 80);

    let lb = defaulted(
        "Service",
        json!({
            "metadata": {"name": "lb"},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 443}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}, {"hostname": "lb.example.com"}]}}
        }),
    );
    assert_eq!(lb["spec"]["externalTrafficPolicy"], "Local");
    assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(lb["status"]["loadBalancer"]["ingress"][0]["ipMode"], "VIP");
    assert!(
        lb["status"]["loadBalancer"]["ingress"][1]
            .get("ipMode")
            .is_none()
    );

    let ext = defaulted(
        "Service",
        json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
    );
    assert!(ext["spec"].get("ipFamilies").is_none());
    assert!(ext["spec"].get("internalTrafficPolicy").is_none());
    assert!(ext["spec"].get("externalTrafficPolicy").is_none());

    let sticky = defaulted(
        "Service",
        json!({"metadata": {"name": "s"}, "spec": {"sessionAffinity": "ClientIP", "clusterIP": "fd00::10", "ports": [{"port": 80}]}}),
    );
    assert_eq!(
        sticky["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );
    assert_eq!(sticky["spec"]["ipFamilies"], json!(["IPv6"]));

    let none = defaulted(
        "Service",
        json!({"metadata": {"name": "s"}, "spec": {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}, "ports": [{"port": 80}]}}),
    );
    assert!(none["spec"].get("sessionAffinityConfig").is_none());
}

#[test]
fn namespace_secret_and_storage() {
    let ns = defaulted(
        "Namespace",
        json!({"metadata": {"name": "team-a", "labels": {"env": "dev"}}}),
    );
    assert_eq!(ns["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(ns["status"], json!({"phase": "Active"}));
    assert_eq!(
        ns["metadata"]["labels"],
        json!({"env": "dev", "kubernetes.io/metadata.name": "team-a"})
    );

    let secret = defaulted(
        "Secret",
        json!({
            "metadata": {"name": "s"},
            "data": {"a": "b2xk", "keep": "eA=="},
            "stringData": {"a": "new", "b": "héllo"}
        }),
    );
    assert_eq!(secret["type"], "Opaque");
    assert!(secret.get("stringData").is_none());
    assert_eq!(
        secret["data"],
        json!({"a": "bmV3", "keep": "eA==", "b": "aMOpbGxv"})
    );
    let tls = defaulted(
        "Secret",
        json!({"metadata": {"name": "t"}, "type": "kubernetes.io/tls"}),
    );
    assert_eq!(tls["type"], "kubernetes.io/tls");

    let pvc = defaulted(
        "PersistentVolumeClaim",
        json!({"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    );
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pvc["status"], json!({"phase": "Pending"}));

    let pv = defaulted(
        "PersistentVolume",
        json!({"metadata": {"name": "v"}, "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}}}),
    );
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pv["spec"]["hostPath"]["type"], "");
    assert_eq!(pv["status"], json!({"phase": "Pending"}));
}

#[test]
fn node_endpoints_and_scheduling() {
    let node = defaulted(
        "Node",
        json!({"metadata": {"name": "edge-1"}, "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}),
    );
    assert_eq!(node["status"]["allocatable"], node["status"]["capacity"]);
    assert_eq!(
        node["status"]["daemonEndpoints"],
        json!({"kubeletEndpoint": {"Port": 0}})
    );

    let ep = defaulted(
        "Endpoints",
        json!({"metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.1.0.5"}], "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}]}),
    );
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(ep["subsets"][0]["ports"][1]["protocol"], "UDP");

    let slice = defaulted(
        "EndpointSlice",
        json!({"metadata": {"name": "web-abc"}, "addressType": "IPv4", "endpoints": [], "ports": [{"port": 80}, {"name": "m", "port": 9090}]}),
    );
    assert_eq!(
        slice["ports"][0],
        json!({"port": 80, "name": "", "protocol": "TCP"})
    );
    assert_eq!(slice["ports"][1]["name"], "m");

    let pc = defaulted(
        "PriorityClass",
        json!({"metadata": {"name": "high"}, "value": 1000}),
    );
    assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
}

#[test]
fn leaves_custom_resources_and_odd_shapes_alone() {
    let custom = ResourceType {
        origin: crate::registry::Origin::Custom(Default::default()),
        ..(*rt("ConfigMap")).clone()
    };
    let mut obj = json!({"metadata": {"name": "x"}, "spec": {"replicas": null}});
    let before = obj.clone();
    apply_defaults(&custom, &mut obj);
    assert_eq!(obj, before);

    // Wrong types are left for validation to report; nothing panics.
    for kind in [
        "Pod",
        "Deployment",
        "Job",
        "CronJob",
        "Service",
        "StatefulSet",
        "Secret",
        "Node",
    ] {
        for mut odd in [
            json!(null),
            json!([]),
            json!({"spec": 3}),
            json!({"spec": {"template": "x", "containers": {"a": 1}, "ports": [1, "x"]}}),
            json!({"spec": {"template": {"spec": {"containers": [null, 3]}}}}),
            json!({"metadata": {"name": 3, "uid": []}, "status": "x", "stringData": {"a": 1}}),
        ] {
            apply_defaults(&rt(kind), &mut odd);
        }
    }
}

#[test]
fn pods_get_default_toleration_seconds_and_a_record_of_them() {
    // A toleration the user wrote for one key is kept as written; only the
    // other key is defaulted and recorded.
    let pod = defaulted(
        "Pod",
        json!({
            "metadata": {"name": "p", "namespace": "default", "annotations": {"a": "b"}},
            "spec": {
                "containers": [{"name": "c", "image": "busybox"}],
                "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]
            }
        }),
    );
    let tolerations = pod["spec"]["tolerations"].as_array().expect("list");
    assert_eq!(tolerations.len(), 2);
    assert_eq!(tolerations[0]["tolerationSeconds"], 5);
    assert_eq!(tolerations[1]["key"], "node.kubernetes.io/not-ready");
    assert_eq!(tolerations[1]["tolerationSeconds"], 300);
    assert_eq!(pod["metadata"]["annotations"]["a"], "b");
    assert_eq!(
        pod["metadata"]["annotations"]["verge.dev/defaulted-tolerations"],
        "node.kubernetes.io/not-ready"
    );

    // A wildcard NoExecute toleration covers both: nothing is added.
    let pod = defaulted(
        "Pod",
        json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "containers": [{"name": "c", "image": "busybox"}],
                "tolerations": [{"operator": "Exists"}]
            }
        }),
    );
    assert_eq!(pod["spec"]["tolerations"], json!([{"operator": "Exists"}]));
    assert!(pod["metadata"].get("annotations").is_none());

    // Pod templates are not pods: no tolerations there.
    let deploy = defaulted(
        "Deployment",
        json!({
            "metadata": {"name": "d", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
        }),
    );
    assert!(
        deploy["spec"]["template"]["spec"]
            .get("tolerations")
            .is_none()
    );
}
