use serde_json::{Value, json};
use verge_apimachinery::patch::{PatchError, is_known_kind, known_kinds, strategic_merge_patch};

fn smp(doc: &Value, patch: Value, kind: &str) -> Value {
    match strategic_merge_patch(doc, &patch, kind) {
        Ok(v) => {
            assert_no_directives(&v, "");
            v
        }
        Err(e) => panic!("patch {patch} should apply to a {kind}: {e}"),
    }
}

fn smp_err(doc: &Value, patch: Value, kind: &str) -> PatchError {
    match strategic_merge_patch(doc, &patch, kind) {
        Ok(v) => panic!("patch {patch} should fail, got {v}"),
        Err(e) => e,
    }
}

fn assert_no_directives(v: &Value, at: &str) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                assert!(
                    !(k == "$patch"
                        || k == "$retainKeys"
                        || k.starts_with("$setElementOrder/")
                        || k.starts_with("$deleteFromPrimitiveList/")),
                    "directive {k} left at {at}"
                );
                assert_no_directives(v, &format!("{at}.{k}"));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                assert_no_directives(v, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| match &i[key] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "nginx",
            "namespace": "default",
            "annotations": {
                "deployment.kubernetes.io/revision": "1",
                "kubectl.kubernetes.io/last-applied-configuration": "{\"old\":true}"
            },
            "finalizers": ["example.com/a"]
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {
                    "containers": [{
                        "name": "nginx",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
                        "resources": {},
                        "imagePullPolicy": "IfNotPresent"
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
                    "restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst"
                }
            }
        },
        "status": {
            "replicas": 1,
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            ]
        }
    })
}

#[test]
fn kubectl_apply_updates_image_and_replicas() {
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}"}},
        "spec": {"replicas": 3, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}],
            "containers": [{"image": "nginx:1.28", "name": "nginx"}]
        }}}
    });
    let out = smp(&deployment(), patch, "Deployment");
    assert_eq!(out["spec"]["replicas"], 3);
    let c = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(c.as_array().map(Vec::len), Some(1));
    assert_eq!(c[0]["image"], "nginx:1.28");
    assert_eq!(
        c[0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(c[0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        out["metadata"]["annotations"],
        json!({
            "deployment.kubernetes.io/revision": "1",
            "kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}"
        })
    );
    // Everything else is untouched.
    let mut expected = deployment();
    expected["spec"]["replicas"] = json!(3);
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    expected["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!("{\"new\":true}");
    assert_eq!(out, expected);
}

#[test]
fn rollout_restart_adds_template_annotation() {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"
    }}}}});
    let out = smp(&deployment(), patch, "Deployment");
    assert_eq!(
        out["spec"]["template"]["metadata"],
        json!({
            "labels": {"app": "nginx"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}
        })
    );
    // A second restart replaces the timestamp.
    let again = smp(
        &out,
        json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-01-02T00:00:00Z"
        }}}}}),
        "Deployment",
    );
    assert_eq!(
        again["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        "2026-01-02T00:00:00Z"
    );
}

#[test]
fn cordon_and_uncordon() {
    let node = json!({
        "metadata": {"name": "n1"},
        "spec": {"podCIDR": "10.0.0.0/24", "taints": [{"key": "k", "effect": "NoSchedule"}]}
    });
    let out = smp(&node, json!({"spec": {"unschedulable": true}}), "Node");
    assert_eq!(out["spec"]["unschedulable"], true);
    assert_eq!(out["spec"]["taints"], node["spec"]["taints"]);
    let out = smp(&out, json!({"spec": {"unschedulable": null}}), "Node");
    assert_eq!(out, node);
}

#[test]
fn apply_deletes_a_container() {
    let mut doc = deployment();
    doc["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .expect("list")
        .push(json!({"name": "sidecar", "image": "busybox"}));
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"$patch": "delete", "name": "sidecar"}]
    }}}});
    let out = smp(&doc, patch, "Deployment");
    assert_eq!(
        names(&out["spec"]["template"]["spec"]["containers"], "name"),
        ["nginx"]
    );
    assert_eq!(out, deployment());

    // Without $setElementOrder, as `kubectl patch` users write it.
    let out = smp(
        &doc,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}),
        "Deployment",
    );
    assert_eq!(out, deployment());
}

#[test]
fn apply_removes_an_env_var() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
            "env": [{"$patch": "delete", "name": "B"}],
            "name": "nginx"
        }]
    }}}});
    let out = smp(&deployment(), patch, "Deployment");
    let env = &out["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env,
        &json!([{"name": "A", "value": "1"}, {"name": "C", "value": "3"}])
    );
}

#[test]
fn apply_adds_and_reorders_env_vars() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "C"}, {"name": "NEW"}, {"name": "A"}, {"name": "B"}],
            "env": [{"name": "NEW", "value": "n"}],
            "name": "nginx"
        }]
    }}}});
    let out = smp(&deployment(), patch, "Deployment");
    let env = &out["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(names(env, "name"), ["C", "NEW", "A", "B"]);
    assert_eq!(env[1], json!({"name": "NEW", "value": "n"}));
}

#[test]
fn apply_adds_a_container_in_order() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "init-like"}, {"name": "nginx"}, {"name": "logger"}],
        "containers": [
            {"name": "init-like", "image": "busybox"},
            {"name": "logger", "image": "fluentbit", "env": [{"name": "X", "value": "y"}]}
        ]
    }}}});
    let out = smp(&deployment(), patch, "Deployment");
    let containers = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(names(containers, "name"), ["init-like", "nginx", "logger"]);
    assert_eq!(containers[2]["env"], json!([{"name": "X", "value": "y"}]));
}

#[test]
fn kubectl_set_image_and_edit() {
    let out = smp(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx:2", "name": "nginx"}]}}}}),
        "Deployment",
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    let out = smp(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}],
            "containers": [{"name": "nginx", "resources": {"limits": {"cpu": "1"}}}]
        }}}}),
        "Deployment",
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["resources"],
        json!({"limits": {"cpu": "1"}})
    );
}

#[test]
fn container_ports_merge_by_container_port() {
    let out = smp(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "ports": [
            {"containerPort": 443, "name": "https"},
            {"containerPort": 80.0, "name": "http"}
        ]}]}}}}),
        "Deployment",
    );
    let ports = &out["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert_eq!(
        ports,
        &json!([
            {"containerPort": 443, "name": "https"},
            // The merge key matched numerically; the patch's value is kept.
            {"containerPort": 80.0, "protocol": "TCP", "name": "http"}
        ])
    );
}

#[test]
fn atomic_lists_are_replaced() {
    let out = smp(
        &deployment(),
        json!({"spec": {"template": {"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}}}}),
        "Deployment",
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "c", "operator": "Exists"}])
    );
    let node = json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}});
    let out = smp(
        &node,
        json!({"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}}),
        "Node",
    );
    assert_eq!(
        out["spec"]["taints"],
        json!([{"key": "b", "effect": "NoExecute"}])
    );
    // Directive elements are dropped from a replaced list, and nulls inside elements too.
    let out = smp(
        &node,
        json!({"spec": {"taints": [{"$patch": "replace"}, {"key": "c", "value": null}]}}),
        "Node",
    );
    assert_eq!(out["spec"]["taints"], json!([{"key": "c"}]));
}

#[test]
fn retain_keys_switches_deployment_strategy() {
    let out = smp(
        &deployment(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}}),
        "Deployment",
    );
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));

    let err = smp_err(
        &deployment(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}, "type": "Recreate"}}}),
        "Deployment",
    );
    assert!(
        err.to_string().contains(
            "the patch sets the field \"rollingUpdate\", which is missing from $retainKeys"
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("spec.strategy.$retainKeys"),
        "{err}"
    );
}

#[test]
fn retain_keys_switches_volume_source() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/volumes": [{"name": "data"}],
        "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}, "name": "data"}]
    }}}});
    let out = smp(&deployment(), patch, "Deployment");
    assert_eq!(
        out["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "data", "configMap": {"name": "cm"}}])
    );
}

#[test]
fn patch_replace_directive_on_maps_and_lists() {
    let out = smp(
        &deployment(),
        json!({"spec": {"template": {"metadata": {"labels": {"$patch": "replace", "tier": "web"}}}}}),
        "Deployment",
    );
    assert_eq!(
        out["spec"]["template"]["metadata"]["labels"],
        json!({"tier": "web"})
    );

    let out = smp(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [
            {"$patch": "replace"},
            {"name": "only", "image": "x", "env": [{"name": "E", "$patch": "delete"}, {"name": "F", "value": "f"}]}
        ]}}}}),
        "Deployment",
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "only", "image": "x", "env": [{"name": "F", "value": "f"}]}])
    );

    // An empty replacement list.
    let out = smp(
        &deployment(),
        json!({"spec": {"template": {"spec": {"volumes": [{"$patch": "replace"}]}}}}),
        "Deployment",
    );
    assert_eq!(out["spec"]["template"]["spec"]["volumes"], json!([]));

    // At the top level.
    let out = smp(
        &json!({"a": 1, "b": 2}),
        json!({"$patch": "replace", "c": 3}),
        "ConfigMap",
    );
    assert_eq!(out, json!({"c": 3}));
}

#[test]
fn patch_delete_and_merge_directives_on_maps() {
    let out = smp(
        &deployment(),
        json!({"spec": {"strategy": {"$patch": "delete"}}}),
        "Deployment",
    );
    assert_eq!(out["spec"]["strategy"], json!({}));
    let out = smp(
        &deployment(),
        json!({"spec": {"strategy": {"$patch": "merge", "type": "Recreate"}}}),
        "Deployment",
    );
    assert_eq!(out["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(out["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    // Deleting a map the object does not have adds nothing.
    let out = smp(
        &deployment(),
        json!({"spec": {"paused": {"$patch": "delete"}}}),
        "Deployment",
    );
    assert!(out["spec"].get("paused").is_none());
}

#[test]
fn unknown_directive_is_rejected() {
    let err = smp_err(
        &deployment(),
        json!({"spec": {"template": {"$patch": "foo"}}}),
        "Deployment",
    );
    assert!(
        matches!(err, PatchError::UnknownDirective { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "$patch directive 'foo' is not one of replace, delete, merge (at spec.template)"
    );
    let err = smp_err(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "$patch": 1}]}}}}),
        "Deployment",
    );
    assert_eq!(
        err.to_string(),
        "$patch directive 1 is not one of replace, delete, merge (at spec.template.spec.containers[0])"
    );
    assert_eq!(err.http_status(), 400);
}

#[test]
fn missing_merge_key_is_rejected() {
    let err = smp_err(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
        "Deployment",
    );
    assert_eq!(
        err.to_string(),
        "invalid strategic merge patch at spec.template.spec.containers[0]: the list element does not contain its merge key \"name\""
    );
    let err = smp_err(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}),
        "Deployment",
    );
    assert!(err.to_string().contains("merge key \"name\""), "{err}");
    let err = smp_err(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": ["nginx"]}}}}),
        "Deployment",
    );
    assert!(
        err.to_string()
            .contains("elements must be objects, but this one is a string"),
        "{err}"
    );
}

#[test]
fn set_element_order_must_match_the_patch() {
    let err = smp_err(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b"}, {"name": "a"}]
        }}}}),
        "Deployment",
    );
    assert!(
        err.to_string()
            .contains("does not match the $setElementOrder list"),
        "{err}"
    );
    let err = smp_err(
        &deployment(),
        json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"image": "a"}]}}}}),
        "Deployment",
    );
    assert!(err.to_string().contains("merge key \"name\""), "{err}");
    let err = smp_err(
        &deployment(),
        json!({"spec": {"template": {"spec": {"$setElementOrder/containers": {"name": "a"}}}}}),
        "Deployment",
    );
    assert!(err.to_string().contains("must be a list"), "{err}");
}

#[test]
fn finalizers_merge_as_a_set() {
    let doc = deployment();
    let out = smp(
        &doc,
        json!({"metadata": {"finalizers": ["example.com/b", "example.com/a"]}}),
        "Deployment",
    );
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["example.com/b", "example.com/a"])
    );
    // A new value with nothing to anchor it goes first, as in Kubernetes.
    let out = smp(
        &doc,
        json!({"metadata": {"finalizers": ["example.com/z"]}}),
        "Deployment",
    );
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["example.com/z", "example.com/a"])
    );
    // kubectl apply adding a finalizer at the end.
    let out = smp(
        &doc,
        json!({"metadata": {
            "$setElementOrder/finalizers": ["example.com/a", "example.com/z"],
            "finalizers": ["example.com/z"]
        }}),
        "Deployment",
    );
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["example.com/a", "example.com/z"])
    );
    // kubectl apply removing one.
    let out = smp(
        &out,
        json!({"metadata": {
            "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
            "$setElementOrder/finalizers": ["example.com/z"]
        }}),
        "Deployment",
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["example.com/z"]));
    // Removing the whole list.
    let out = smp(
        &out,
        json!({"metadata": {"finalizers": null}}),
        "Deployment",
    );
    assert!(out["metadata"].get("finalizers").is_none());
}

#[test]
fn delete_from_primitive_list_edge_cases() {
    let doc = json!({"metadata": {"finalizers": ["a", "b", "a"]}, "spec": {"podCIDRs": ["x"]}});
    let out = smp(
        &doc,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}),
        "Node",
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    let out = smp(
        &doc,
        json!({"metadata": {"$deleteFromPrimitiveList/other": ["a"]}}),
        "Node",
    );
    assert_eq!(out, doc);
    let err = smp_err(
        &doc,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
        "Node",
    );
    assert!(
        err.to_string()
            .contains("must be a list of values to remove"),
        "{err}"
    );
    // podCIDRs also merges as a set.
    let out = smp(&doc, json!({"spec": {"podCIDRs": ["x", "y"]}}), "Node");
    assert_eq!(out["spec"]["podCIDRs"], json!(["x", "y"]));
}

#[test]
fn owner_references_merge_by_uid() {
    let doc = json!({"metadata": {"ownerReferences": [
        {"uid": "1", "kind": "ReplicaSet", "name": "rs1"},
        {"uid": "2", "kind": "ReplicaSet", "name": "rs2"}
    ]}});
    let out = smp(
        &doc,
        json!({"metadata": {"ownerReferences": [{"uid": "2", "controller": true}]}}),
        "Pod",
    );
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([
            {"uid": "1", "kind": "ReplicaSet", "name": "rs1"},
            {"uid": "2", "kind": "ReplicaSet", "name": "rs2", "controller": true}
        ])
    );
    let out = smp(
        &doc,
        json!({"metadata": {"ownerReferences": [{"uid": "1", "$patch": "delete"}]}}),
        "ConfigMap",
    );
    assert_eq!(names(&out["metadata"]["ownerReferences"], "uid"), ["2"]);
}

#[test]
fn service_ports_merge_by_port() {
    let svc = json!({"spec": {"ports": [
        {"port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"port": 443, "targetPort": 8443, "protocol": "TCP"}
    ], "selector": {"app": "web"}}});
    let out = smp(
        &svc,
        json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}], "selector": {"tier": "front"}}}),
        "Service",
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([
            {"port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"port": 443, "targetPort": 9443, "protocol": "TCP"}
        ])
    );
    assert_eq!(
        out["spec"]["selector"],
        json!({"app": "web", "tier": "front"})
    );
}

#[test]
fn node_status_lists_merge_by_type() {
    let node = json!({"status": {
        "conditions": [
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": "False", "reason": "KubeletNotReady"}
        ],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}],
        "images": [{"names": ["a"]}]
    }});
    let out = smp(
        &node,
        json!({"status": {
            "$setElementOrder/conditions": [{"type": "MemoryPressure"}, {"type": "Ready"}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
            "images": [{"names": ["b"]}]
        }}),
        "Node",
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": "True", "reason": "KubeletReady"}
        ])
    );
    assert_eq!(
        out["status"]["addresses"],
        json!([{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n1"}])
    );
    assert_eq!(out["status"]["images"], json!([{"names": ["b"]}]));
}

#[test]
fn pod_status_conditions_merge_and_container_statuses_replace() {
    let pod = json!({"status": {
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False"}],
        "containerStatuses": [{"name": "a", "ready": false}, {"name": "b", "ready": false}],
        "podIPs": [{"ip": "10.0.0.5"}]
    }});
    let out = smp(
        &pod,
        json!({"status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "a", "ready": true}],
            "podIPs": [{"ip": "fd00::5"}]
        }}),
        "Pod",
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}])
    );
    assert_eq!(
        out["status"]["containerStatuses"],
        json!([{"name": "a", "ready": true}])
    );
    assert_eq!(
        out["status"]["podIPs"],
        json!([{"ip": "fd00::5"}, {"ip": "10.0.0.5"}])
    );
}

#[test]
fn deployment_status_conditions_merge_by_type() {
    let out = smp(
        &deployment(),
        json!({"status": {"conditions": [{"type": "Progressing", "status": "False", "reason": null}]}}),
        "Deployment",
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "False"}])
    );
}

#[test]
fn cronjob_and_statefulset_templates() {
    let cj = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "job", "image": "a", "env": [{"name": "X", "value": "1"}]}]
    }}}}}});
    let out = smp(
        &cj,
        json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "job", "env": [{"name": "Y", "value": "2"}]}
        ]}}}}}}),
        "CronJob",
    );
    assert_eq!(
        names(
            &out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"],
            "name"
        ),
        ["Y", "X"]
    );

    let sts = json!({"spec": {
        "volumeClaimTemplates": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}],
        "template": {"spec": {"initContainers": [{"name": "init", "image": "x"}], "containers": []}}
    }});
    let out = smp(
        &sts,
        json!({"spec": {
            "volumeClaimTemplates": [{"metadata": {"name": "c"}}],
            "template": {"spec": {"initContainers": [{"name": "init", "image": "y"}]}}
        }}),
        "StatefulSet",
    );
    assert_eq!(
        out["spec"]["volumeClaimTemplates"],
        json!([{"metadata": {"name": "c"}}])
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["initContainers"],
        json!([{"name": "init", "image": "y"}])
    );
}

#[test]
fn pdb_selector_is_replaced() {
    let pdb = json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "a", "tier": "b"}}}});
    let out = smp(
        &pdb,
        json!({"spec": {"selector": {"matchLabels": {"app": "c"}}}}),
        "PodDisruptionBudget",
    );
    assert_eq!(
        out["spec"]["selector"],
        json!({"matchLabels": {"app": "c"}})
    );
}

#[test]
fn configmap_and_secret_data_are_maps() {
    let cm = json!({"data": {"a": "1", "b": "2"}, "binaryData": {"x": "AA=="}});
    let out = smp(&cm, json!({"data": {"a": null, "c": "3"}}), "ConfigMap");
    assert_eq!(out["data"], json!({"b": "2", "c": "3"}));
    let secret = json!({"type": "Opaque", "data": {"k": "dg=="}});
    let out = smp(
        &secret,
        json!({"stringData": {"s": "v"}, "data": {"k": null}}),
        "Secret",
    );
    assert_eq!(
        out,
        json!({"type": "Opaque", "data": {}, "stringData": {"s": "v"}})
    );
}

#[test]
fn new_fields_have_their_directives_applied() {
    let doc = json!({"spec": {"replicas": 1}});
    let out = smp(
        &doc,
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [
                {"name": "gone", "$patch": "delete"},
                {"name": "b", "image": "b", "$setElementOrder/env": [{"name": "E"}], "env": [{"name": "E", "value": null}]},
                {"name": "a", "image": "a"}
            ],
            "volumes": [{"$patch": "replace"}, {"name": "v", "$retainKeys": ["name"]}],
            "securityContext": {"$patch": "replace", "runAsUser": 1}
        }}}}),
        "Deployment",
    );
    assert_eq!(
        out,
        json!({"spec": {"replicas": 1, "template": {"spec": {
            "containers": [{"name": "b", "image": "b", "env": [{"name": "E"}]}, {"name": "a", "image": "a"}],
            "volumes": [{"name": "v"}],
            "securityContext": {"runAsUser": 1}
        }}}})
    );
}

#[test]
fn unknown_kinds_patch_like_merge_patch() {
    assert!(!is_known_kind("Widget"));
    let cr = json!({"metadata": {"finalizers": ["a"]}, "spec": {"items": [{"name": "x", "v": 1}, {"name": "y"}]}});
    let out = smp(
        &cr,
        json!({
            "metadata": {"finalizers": ["b"]},
            "spec": {
                "$setElementOrder/items": [{"name": "x"}],
                "items": [{"name": "x", "v": 2}, {"name": "y", "$patch": "delete"}],
                "$retainKeys": ["items"]
            }
        }),
        "Widget",
    );
    assert_eq!(
        out,
        json!({"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "x", "v": 2}]}})
    );
}

#[test]
fn dollar_keys_that_are_not_directives_are_kept() {
    let crd = json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
    let out = smp(
        &crd,
        json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"$schema": "x", "$ref": "#/y"}}}]}}),
        "CustomResourceDefinition",
    );
    assert_eq!(
        out["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        json!({"$schema": "x", "$ref": "#/y"})
    );
}

#[test]
fn non_object_inputs_are_rejected() {
    let err = smp_err(&json!({}), json!([1]), "Pod");
    assert_eq!(
        err.to_string(),
        "a strategic merge patch must be a JSON object, but the patch is a list"
    );
    let err = smp_err(&json!([]), json!({}), "Pod");
    assert!(err.to_string().contains("the document is a list"), "{err}");
}

#[test]
fn type_mismatches_take_the_patch_value() {
    let doc = json!({"spec": {"containers": "oops", "nodeSelector": ["x"]}});
    let out = smp(
        &doc,
        json!({"spec": {"containers": [{"name": "a", "$setElementOrder/env": []}], "nodeSelector": {"k": "v"}}}),
        "Pod",
    );
    assert_eq!(
        out,
        json!({"spec": {"containers": [{"name": "a"}], "nodeSelector": {"k": "v"}}})
    );
}

#[test]
fn known_kinds_list() {
    let kinds = known_kinds();
    for kind in [
        "Pod",
        "Deployment",
        "Node",
        "Service",
        "ConfigMap",
        "Secret",
        "CronJob",
        "Namespace",
    ] {
        assert!(kinds.contains(&kind), "{kind}");
        assert!(is_known_kind(kind));
    }
    assert!(kinds.windows(2).all(|w| w[0] < w[1]));
}

// Ordering behaviour, from Kubernetes' own strategic merge patch test data.

fn list_of(names: &[i64]) -> Value {
    Value::Array(names.iter().map(|n| json!({"name": n})).collect())
}

fn merge_list(original: Value, patch: Value) -> Value {
    // Pod `spec.containers` is merged by `name`; `metadata.finalizers` as a set.
    let out = smp(
        &json!({"spec": {"containers": original}}),
        json!({"spec": patch}),
        "Pod",
    );
    out["spec"]["containers"].clone()
}

#[test]
fn order_follows_the_patch_then_server_positions() {
    // Patch order wins for the items it names.
    let out = merge_list(
        list_of(&[1, 2, 3]),
        json!({"containers": [{"name": 3, "v": "c"}, {"name": 1, "v": "a"}, {"name": 2, "o": "x"}]}),
    );
    assert_eq!(names(&out, "name"), ["3", "1", "2"]);
    // Items only on the server keep their place relative to the patched ones.
    let out = merge_list(
        list_of(&[1, 2, 3]),
        json!({"containers": [{"name": 3, "v": "c"}, {"name": 1, "v": "a"}]}),
    );
    assert_eq!(names(&out, "name"), ["2", "3", "1"]);
    // A new item with no anchor goes first.
    let out = merge_list(list_of(&[1, 2]), json!({"containers": [{"name": 3}]}));
    assert_eq!(names(&out, "name"), ["3", "1", "2"]);
}

#[test]
fn set_element_order_with_server_only_items() {
    let order = json!([{"name": 4}, {"name": 2}, {"name": 3}, {"name": 1}]);
    let out = merge_list(
        list_of(&[1, 3, 4, 2, 9]),
        json!({"$setElementOrder/containers": order}),
    );
    assert_eq!(names(&out, "name"), ["4", "2", "3", "1", "9"]);

    let order = json!([{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]);
    let out = merge_list(
        list_of(&[1, 2, 9, 3, 4]),
        json!({"$setElementOrder/containers": order.clone()}),
    );
    assert_eq!(names(&out, "name"), ["2", "1", "9", "4", "3"]);
    let out = merge_list(
        list_of(&[1, 2, 7, 9, 8, 3, 4]),
        json!({"$setElementOrder/containers": order}),
    );
    assert_eq!(names(&out, "name"), ["2", "1", "7", "9", "8", "4", "3"]);

    // Order entries not present anywhere are ignored.
    let out = merge_list(
        list_of(&[1, 3]),
        json!({
            "$setElementOrder/containers": [{"name": 3}, {"name": 2}, {"name": 1}],
            "containers": [{"name": 3, "v": 3}, {"name": 1, "v": 1}]
        }),
    );
    assert_eq!(out, json!([{"name": 3, "v": 3}, {"name": 1, "v": 1}]));

    // Duplicates in the current list stay together at the first position.
    let out = merge_list(
        json!([{"name": 1}, {"name": 2, "v": "dup1"}, {"name": 3}, {"name": 2, "v": "dup2"}, {"name": 4}]),
        json!({"$setElementOrder/containers": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}, {"name": 2}]}),
    );
    assert_eq!(
        out,
        json!([{"name": 2, "v": "dup1"}, {"name": 2, "v": "dup2"}, {"name": 1}, {"name": 4}, {"name": 3}])
    );
}

#[test]
fn primitive_list_ordering() {
    let fin = |original: Value, patch: Value| {
        let out = smp(
            &json!({"metadata": {"finalizers": original}}),
            json!({"metadata": patch}),
            "Pod",
        );
        out["metadata"]["finalizers"].clone()
    };
    assert_eq!(
        fin(json!([1, 2]), json!({"finalizers": [2, 3]})),
        json!([1, 2, 3])
    );
    assert_eq!(
        fin(json!([1, 2, 3]), json!({"finalizers": [3, 1, 2]})),
        json!([3, 1, 2])
    );
    assert_eq!(
        fin(
            json!([1, 4, 2]),
            json!({"$setElementOrder/finalizers": [3, 1, 2], "finalizers": [3]})
        ),
        json!([3, 1, 4, 2])
    );
    assert_eq!(
        fin(
            json!([1, 2, 3]),
            json!({"$setElementOrder/finalizers": [2, 1], "$deleteFromPrimitiveList/finalizers": [3]})
        ),
        json!([2, 1])
    );
    assert_eq!(
        fin(
            json!([1, 3]),
            json!({"$setElementOrder/finalizers": [3, 2, 1]})
        ),
        json!([3, 1])
    );
    let err = smp_err(
        &json!({"metadata": {"finalizers": [1, 3, 2]}}),
        json!({"metadata": {"$setElementOrder/finalizers": [1, 2, 3], "finalizers": [3, 1]}}),
        "Pod",
    );
    assert!(
        err.to_string()
            .contains("does not match the $setElementOrder list"),
        "{err}"
    );
    let err = smp_err(
        &json!({"metadata": {"finalizers": ["a"]}}),
        json!({"metadata": {"finalizers": [{"$patch": "delete"}]}}),
        "Pod",
    );
    assert!(
        err.to_string().contains("$deleteFromPrimitiveList"),
        "{err}"
    );
}

#[test]
fn input_document_is_not_modified() {
    let doc = deployment();
    let _ = smp(&doc, json!({"spec": {"replicas": 7}}), "Deployment");
    assert_eq!(doc, deployment());
}

#[test]
fn large_lists_merge_in_reasonable_time() {
    // Merging is hash-based, not quadratic: 20k-element lists must be quick.
    const N: usize = 20_000;
    let containers: Vec<Value> = (0..N)
        .map(|i| json!({"name": format!("c{i}"), "image": "a"}))
        .collect();
    let doc = json!({"metadata": {"finalizers": (0..N).map(|i| format!("f{i}")).collect::<Vec<_>>()},
                     "spec": {"containers": containers}});
    let order: Vec<Value> = (0..N)
        .rev()
        .map(|i| json!({"name": format!("c{i}")}))
        .collect();
    let patch_items: Vec<Value> = (0..N)
        .rev()
        .step_by(2)
        .map(|i| json!({"name": format!("c{i}"), "image": "b"}))
        .collect();
    let patch = json!({
        "metadata": {"finalizers": (0..N).map(|i| format!("g{i}")).collect::<Vec<_>>(),
                     "$deleteFromPrimitiveList/finalizers": (0..N).step_by(3).map(|i| format!("f{i}")).collect::<Vec<_>>()},
        "spec": {"$setElementOrder/containers": order, "containers": patch_items}
    });
    let started = std::time::Instant::now();
    let out = smp(&doc, patch, "Pod");
    let elapsed = started.elapsed();
    let names = names(&out["spec"]["containers"], "name");
    assert_eq!(names.len(), N);
    assert_eq!(names[0], format!("c{}", N - 1));
    assert_eq!(out["spec"]["containers"][0]["image"], "b");
    assert_eq!(out["spec"]["containers"][1]["image"], "a");
    assert_eq!(
        out["metadata"]["finalizers"].as_array().map(Vec::len),
        Some(N + N - N.div_ceil(3))
    );
    assert!(elapsed.as_secs() < 30, "took {elapsed:?}");
}
