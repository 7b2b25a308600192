//! Tests for `verge_apimachinery::protobuf`: real kubectl request bodies
//! (see `fixtures/protobuf/README.md`), objects encoded with k8s-pb, and
//! malformed input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::policy::v1 as policy;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;
use prost::Message;
use serde_json::{Value, json};
use verge_apimachinery::protobuf::{
    CONTENT_TYPE, MAGIC, ProtobufError, decode_request, is_supported, supported_kinds,
};

// ---- helpers ---------------------------------------------------------------

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(format!("{name}.pb"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Wraps raw object bytes in the `k8s\0` + `runtime.Unknown` envelope.
fn envelope_raw(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

fn envelope(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    envelope_raw(api_version, kind, object.encode_to_vec())
}

fn decode_ok(body: &[u8]) -> Value {
    decode_request(body).unwrap_or_else(|e| panic!("decode failed: {e}"))
}

/// Compares values and, since Go writes keys in struct order, key order too.
fn assert_json_eq(got: &Value, expected: &Value, what: &str) {
    assert_eq!(
        got,
        expected,
        "{what}: got\n{}",
        serde_json::to_string_pretty(got).unwrap_or_default()
    );
    assert_eq!(
        serde_json::to_string(got).unwrap_or_default(),
        serde_json::to_string(expected).unwrap_or_default(),
        "{what}: same content but different key order"
    );
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

fn map<T>(entries: &[(&str, T)]) -> BTreeMap<String, T>
where
    T: Clone,
{
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn q(v: &str) -> Quantity {
    Quantity { string: s(v) }
}

fn time(seconds: i64) -> Option<meta::Time> {
    Some(meta::Time {
        seconds: Some(seconds),
        nanos: Some(0),
    })
}

fn int_port(port: i32) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(0),
        int_val: Some(port),
        str_val: Some(String::new()),
    })
}

fn str_port(name: &str) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(1),
        int_val: Some(0),
        str_val: s(name),
    })
}

/// 2026-01-01T00:00:00Z
const T0: i64 = 1_767_225_600;

// ---- real kubectl bodies ---------------------------------------------------

#[test]
fn kubectl_fixtures_decode_to_expected_json() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixture dir")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".pb").map(str::to_owned)
        })
        .collect();
    names.sort();
    for required in [
        "namespace",
        "configmap",
        "secret_generic",
        "secret_tls",
        "secret_docker_registry",
        "deployment",
        "job",
        "cronjob",
        "service_clusterip",
        "service_nodeport",
        "service_loadbalancer",
        "service_externalname",
        "serviceaccount",
        "priorityclass",
        "token_request",
        "delete_options_drain",
        "job_from_rich_cronjob",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "missing fixture {required}"
        );
    }
    for name in &names {
        let body = fixture(name);
        let expected_path = fixtures_dir().join(format!("{name}.json"));
        let expected: Value = serde_json::from_slice(
            &std::fs::read(&expected_path).unwrap_or_else(|e| panic!("{name}.json: {e}")),
        )
        .unwrap_or_else(|e| panic!("{name}.json: {e}"));
        let got = decode_request(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_json_eq(&got, &expected, name);
    }
}

#[test]
fn fixture_spot_checks() {
    let secret = decode_ok(&fixture("secret_generic"));
    assert_eq!(secret["data"]["p"], json!("cQ=="));
    assert_eq!(secret["metadata"], json!({"name": "s1"}));

    // "--from-literal=empty=": prost drops the empty map value on re-encoding,
    // which must not be mistaken for an unknown field.
    let secret = decode_ok(&fixture("secret_generic_empty_value"));
    assert_eq!(secret["data"], json!({"empty": "", "x": "eQ=="}));

    let deployment = decode_ok(&fixture("deployment"));
    assert_eq!(deployment["spec"]["replicas"], json!(2));
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["command"],
        json!(["sleep", "3600"])
    );

    let delete = decode_ok(&fixture("delete_options_drain"));
    assert_eq!(
        delete,
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 30})
    );

    let job = decode_ok(&fixture("job_from_rich_cronjob"));
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"].as_array().map(Vec::len), Some(31));
    assert_eq!(pod["terminationGracePeriodSeconds"], json!(0));
    assert_eq!(pod["automountServiceAccountToken"], json!(false));
    assert_eq!(
        pod["containers"][0]["livenessProbe"]["httpGet"]["port"],
        json!("http")
    );
    assert_eq!(job["spec"]["backoffLimit"], json!(0));
}

// ---- objects built with k8s-pb --------------------------------------------

fn rich_container() -> core::Container {
    core::Container {
        name: s("main"),
        image: s("registry.example.com/app:1.0"),
        command: strings(&["/app"]),
        args: strings(&["--port", "8080"]),
        working_dir: s(""),
        ports: vec![core::ContainerPort {
            name: s("http"),
            host_port: Some(0),
            container_port: Some(8080),
            protocol: s("TCP"),
            host_ip: s(""),
        }],
        env_from: vec![core::EnvFromSource {
            prefix: s("CFG_"),
            config_map_ref: Some(core::ConfigMapEnvSource {
                local_object_reference: Some(core::LocalObjectReference { name: s("cfg") }),
                optional: Some(false),
            }),
            secret_ref: None,
        }],
        env: vec![
            core::EnvVar {
                name: s("PLAIN"),
                value: s("v"),
                value_from: None,
            },
            core::EnvVar {
                name: s("FROM_FILE"),
                value: s(""),
                value_from: Some(core::EnvVarSource {
                    file_key_ref: Some(core::FileKeySelector {
                        volume_name: s("config"),
                        path: s("app.env"),
                        key: s("TOKEN"),
                        optional: Some(true),
                    }),
                    ..Default::default()
                }),
            },
            core::EnvVar {
                name: s("POD_IP"),
                value: s(""),
                value_from: Some(core::EnvVarSource {
                    field_ref: Some(core::ObjectFieldSelector {
                        api_version: s("v1"),
                        field_path: s("status.podIP"),
                    }),
                    ..Default::default()
                }),
            },
        ],
        resources: Some(core::ResourceRequirements {
            limits: map(&[("cpu", q("1")), ("memory", q("256Mi"))]),
            requests: map(&[("cpu", q("100m"))]),
            claims: vec![],
        }),
        resize_policy: vec![core::ContainerResizePolicy {
            resource_name: s("cpu"),
            restart_policy: s("NotRequired"),
        }],
        restart_policy: None,
        restart_policy_rules: vec![],
        volume_mounts: vec![core::VolumeMount {
            name: s("config"),
            read_only: Some(true),
            recursive_read_only: None,
            mount_path: s("/etc/app"),
            sub_path: s(""),
            mount_propagation: None,
            sub_path_expr: s(""),
        }],
        volume_devices: vec![],
        liveness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                grpc: Some(core::GrpcAction {
                    port: Some(9090),
                    service: s(""),
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(0),
            timeout_seconds: Some(1),
            period_seconds: Some(10),
            success_threshold: Some(1),
            failure_threshold: Some(3),
            termination_grace_period_seconds: None,
        }),
        readiness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: s("/ready"),
                    port: str_port("http"),
                    host: s(""),
                    scheme: s("HTTP"),
                    http_headers: vec![],
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        startup_probe: None,
        lifecycle: Some(core::Lifecycle {
            post_start: None,
            pre_stop: Some(core::LifecycleHandler {
                sleep: Some(core::SleepAction { seconds: Some(5) }),
                ..Default::default()
            }),
            stop_signal: s("SIGUSR1"),
        }),
        termination_message_path: s("/dev/termination-log"),
        termination_message_policy: s("File"),
        image_pull_policy: s("IfNotPresent"),
        security_context: Some(core::SecurityContext {
            capabilities: Some(core::Capabilities {
                add: vec![],
                drop: strings(&["ALL"]),
            }),
            privileged: Some(false),
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            seccomp_profile: Some(core::SeccompProfile {
                r#type: s("RuntimeDefault"),
                localhost_profile: None,
            }),
            ..Default::default()
        }),
        stdin: Some(false),
        stdin_once: Some(false),
        tty: Some(false),
    }
}

fn rich_pod() -> core::Pod {
    let sidecar = core::Container {
        name: s("proxy"),
        image: s("envoy:1"),
        restart_policy: s("Always"),
        restart_policy_rules: vec![core::ContainerRestartRule {
            action: s("Restart"),
            exit_codes: Some(core::ContainerRestartRuleOnExitCodes {
                operator: s("In"),
                values: vec![42],
            }),
        }],
        resources: Some(core::ResourceRequirements::default()),
        ..Default::default()
    };
    core::Pod {
        metadata: Some(meta::ObjectMeta {
            name: s("web-0"),
            generate_name: s(""),
            namespace: s("prod"),
            uid: s("6f1a2b3c-0000-4000-8000-000000000001"),
            resource_version: s("42"),
            generation: Some(0),
            creation_timestamp: time(T0),
            labels: map(&[("app", "web".to_owned())]),
            annotations: map(&[("note", String::new())]),
            owner_references: vec![meta::OwnerReference {
                api_version: s("apps/v1"),
                kind: s("StatefulSet"),
                name: s("web"),
                uid: s("6f1a2b3c-0000-4000-8000-000000000002"),
                controller: Some(true),
                block_owner_deletion: Some(false),
            }],
            finalizers: strings(&["example.com/cleanup"]),
            managed_fields: vec![meta::ManagedFieldsEntry {
                manager: s("kubectl-create"),
                operation: s("Update"),
                api_version: s("v1"),
                time: time(T0),
                fields_type: s("FieldsV1"),
                fields_v1: Some(meta::FieldsV1 {
                    raw: Some(br#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}"#.to_vec()),
                }),
                subresource: s(""),
            }],
            ..Default::default()
        }),
        spec: Some(core::PodSpec {
            volumes: vec![
                core::Volume {
                    name: s("config"),
                    volume_source: Some(core::VolumeSource {
                        config_map: Some(core::ConfigMapVolumeSource {
                            local_object_reference: Some(core::LocalObjectReference {
                                name: s("cfg"),
                            }),
                            items: vec![core::KeyToPath {
                                key: s("app.env"),
                                path: s("app.env"),
                                mode: Some(0o400),
                            }],
                            default_mode: Some(0o644),
                            optional: None,
                        }),
                        ..Default::default()
                    }),
                },
                core::Volume {
                    name: s("cache"),
                    volume_source: Some(core::VolumeSource {
                        empty_dir: Some(core::EmptyDirVolumeSource {
                            medium: s(""),
                            size_limit: Some(q("1Gi")),
                        }),
                        ..Default::default()
                    }),
                },
                core::Volume {
                    name: s("creds"),
                    volume_source: Some(core::VolumeSource {
                        projected: Some(core::ProjectedVolumeSource {
                            sources: vec![
                                core::VolumeProjection {
                                    service_account_token: Some(
                                        core::ServiceAccountTokenProjection {
                                            audience: s("vault"),
                                            expiration_seconds: Some(600),
                                            path: s("token"),
                                        },
                                    ),
                                    ..Default::default()
                                },
                                core::VolumeProjection {
                                    pod_certificate: Some(core::PodCertificateProjection {
                                        signer_name: s("example.com/signer"),
                                        key_type: s("ED25519"),
                                        max_expiration_seconds: Some(86_400),
                                        credential_bundle_path: s("bundle.pem"),
                                        key_path: s(""),
                                        certificate_chain_path: s(""),
                                        user_annotations: BTreeMap::new(),
                                    }),
                                    ..Default::default()
                                },
                            ],
                            default_mode: Some(0o440),
                        }),
                        ..Default::default()
                    }),
                },
                core::Volume {
                    name: s("models"),
                    volume_source: Some(core::VolumeSource {
                        image: Some(core::ImageVolumeSource {
                            reference: s("registry.example.com/models:v2"),
                            pull_policy: s("IfNotPresent"),
                        }),
                        ..Default::default()
                    }),
                },
            ],
            init_containers: vec![sidecar],
            containers: vec![rich_container()],
            ephemeral_containers: vec![core::EphemeralContainer {
                ephemeral_container_common: Some(core::EphemeralContainerCommon {
                    name: s("debug"),
                    image: s("busybox"),
                    stdin: Some(true),
                    tty: Some(true),
                    ..Default::default()
                }),
                target_container_name: s("main"),
            }],
            restart_policy: s("Always"),
            termination_grace_period_seconds: Some(30),
            dns_policy: s("ClusterFirst"),
            node_selector: map(&[("kubernetes.io/arch", "arm64".to_owned())]),
            service_account_name: s("web"),
            automount_service_account_token: Some(false),
            host_network: Some(false),
            share_process_namespace: Some(false),
            security_context: Some(core::PodSecurityContext {
                run_as_user: Some(1000),
                fs_group: Some(2000),
                supplemental_groups: vec![0, 3000],
                sysctls: vec![core::Sysctl {
                    name: s("net.ipv4.ip_unprivileged_port_start"),
                    value: s("0"),
                }],
                ..Default::default()
            }),
            image_pull_secrets: vec![core::LocalObjectReference { name: s("regcred") }],
            hostname: s("web-0"),
            subdomain: s("web"),
            affinity: Some(core::Affinity {
                pod_anti_affinity: Some(core::PodAntiAffinity {
                    required_during_scheduling_ignored_during_execution: vec![
                        core::PodAffinityTerm {
                            label_selector: Some(meta::LabelSelector {
                                match_labels: map(&[("app", "web".to_owned())]),
                                match_expressions: vec![],
                            }),
                            topology_key: s("kubernetes.io/hostname"),
                            ..Default::default()
                        },
                    ],
                    preferred_during_scheduling_ignored_during_execution: vec![],
                }),
                ..Default::default()
            }),
            scheduler_name: s("default-scheduler"),
            tolerations: vec![core::Toleration {
                key: s("node.kubernetes.io/unreachable"),
                operator: s("Exists"),
                value: s(""),
                effect: s("NoExecute"),
                toleration_seconds: Some(0),
            }],
            priority: Some(0),
            dns_config: Some(core::PodDnsConfig {
                nameservers: vec![],
                searches: vec![],
                options: vec![core::PodDnsConfigOption {
                    name: s("ndots"),
                    value: s("1"),
                }],
            }),
            enable_service_links: Some(false),
            preemption_policy: s("PreemptLowerPriority"),
            topology_spread_constraints: vec![core::TopologySpreadConstraint {
                max_skew: Some(1),
                topology_key: s("topology.kubernetes.io/zone"),
                when_unsatisfiable: s("ScheduleAnyway"),
                label_selector: None,
                min_domains: None,
                node_affinity_policy: None,
                node_taints_policy: None,
                match_label_keys: vec![],
            }],
            os: Some(core::PodOs { name: s("linux") }),
            host_users: Some(false),
            scheduling_gates: vec![core::PodSchedulingGate {
                name: s("example.com/quota"),
            }],
            resources: Some(core::ResourceRequirements {
                limits: map(&[("memory", q("1Gi"))]),
                ..Default::default()
            }),
            hostname_override: s("web-0.edge"),
            ..Default::default()
        }),
        status: Some(core::PodStatus {
            observed_generation: Some(1),
            phase: s("Running"),
            conditions: vec![core::PodCondition {
                r#type: s("Ready"),
                observed_generation: Some(0),
                status: s("True"),
                last_probe_time: Some(meta::Time::default()),
                last_transition_time: time(T0 + 5),
                reason: s(""),
                message: s(""),
            }],
            host_ip: s("10.0.0.1"),
            host_ips: vec![core::HostIp { ip: s("10.0.0.1") }],
            pod_ip: s("10.244.0.7"),
            pod_ips: vec![
                core::PodIp {
                    ip: s("10.244.0.7"),
                },
                core::PodIp { ip: s("fd00::7") },
            ],
            start_time: time(T0 + 1),
            container_statuses: vec![core::ContainerStatus {
                name: s("main"),
                state: Some(core::ContainerState {
                    running: Some(core::ContainerStateRunning {
                        started_at: time(T0 + 3),
                    }),
                    ..Default::default()
                }),
                last_state: Some(core::ContainerState {
                    terminated: Some(core::ContainerStateTerminated {
                        exit_code: Some(137),
                        signal: Some(9),
                        reason: s("OOMKilled"),
                        message: s(""),
                        started_at: time(T0 + 2),
                        finished_at: time(T0 + 3),
                        container_id: s("containerd://abc"),
                    }),
                    ..Default::default()
                }),
                ready: Some(true),
                restart_count: Some(1),
                image: s("registry.example.com/app:1.0"),
                image_id: s("registry.example.com/app@sha256:00"),
                container_id: s("containerd://def"),
                started: Some(true),
                user: Some(core::ContainerUser {
                    linux: Some(core::LinuxContainerUser {
                        uid: Some(1000),
                        gid: Some(0),
                        supplemental_groups: vec![0, 3000],
                    }),
                }),
                stop_signal: s("SIGUSR1"),
                ..Default::default()
            }],
            qos_class: s("Burstable"),
            ..Default::default()
        }),
    }
}

#[test]
fn rich_pod_round_trip() {
    let got = decode_ok(&envelope("v1", "Pod", &rich_pod()));
    let expected = json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": "web-0",
            "namespace": "prod",
            "uid": "6f1a2b3c-0000-4000-8000-000000000001",
            "resourceVersion": "42",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": "web"},
            "annotations": {"note": ""},
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "name": "web",
                "uid": "6f1a2b3c-0000-4000-8000-000000000002",
                "controller": true,
                "blockOwnerDeletion": false
            }],
            "finalizers": ["example.com/cleanup"],
            "managedFields": [{
                "manager": "kubectl-create",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2026-01-01T00:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
            }]
        },
        "spec": {
            "volumes": [
                {
                    "name": "config",
                    "configMap": {
                        "name": "cfg",
                        "items": [{"key": "app.env", "path": "app.env", "mode": 256}],
                        "defaultMode": 420
                    }
                },
                {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
                {
                    "name": "creds",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"audience": "vault", "expirationSeconds": 600, "path": "token"}},
                            {"podCertificate": {
                                "signerName": "example.com/signer",
                                "keyType": "ED25519",
                                "maxExpirationSeconds": 86400,
                                "credentialBundlePath": "bundle.pem"
                            }}
                        ],
                        "defaultMode": 288
                    }
                },
                {"name": "models", "image": {"reference": "registry.example.com/models:v2", "pullPolicy": "IfNotPresent"}}
            ],
            "initContainers": [{
                "name": "proxy",
                "image": "envoy:1",
                "resources": {},
                "restartPolicy": "Always",
                "restartPolicyRules": [{"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}]
            }],
            "containers": [{
                "name": "main",
                "image": "registry.example.com/app:1.0",
                "command": ["/app"],
                "args": ["--port", "8080"],
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "cfg", "optional": false}}],
                "env": [
                    {"name": "PLAIN", "value": "v"},
                    {"name": "FROM_FILE", "valueFrom": {"fileKeyRef": {"volumeName": "config", "path": "app.env", "key": "TOKEN", "optional": true}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}
                ],
                "resources": {"limits": {"cpu": "1", "memory": "256Mi"}, "requests": {"cpu": "100m"}},
                "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                "volumeMounts": [{"name": "config", "readOnly": true, "mountPath": "/etc/app"}],
                "livenessProbe": {
                    "grpc": {"port": 9090, "service": ""},
                    "timeoutSeconds": 1,
                    "periodSeconds": 10,
                    "successThreshold": 1,
                    "failureThreshold": 3
                },
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"}},
                "lifecycle": {"preStop": {"sleep": {"seconds": 5}}, "stopSignal": "SIGUSR1"},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {
                    "capabilities": {"drop": ["ALL"]},
                    "privileged": false,
                    "runAsUser": 0,
                    "runAsNonRoot": false,
                    "readOnlyRootFilesystem": true,
                    "allowPrivilegeEscalation": false,
                    "seccompProfile": {"type": "RuntimeDefault"}
                }
            }],
            "ephemeralContainers": [{
                "name": "debug",
                "image": "busybox",
                "resources": {},
                "stdin": true,
                "tty": true,
                "targetContainerName": "main"
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "nodeSelector": {"kubernetes.io/arch": "arm64"},
            "serviceAccountName": "web",
            "automountServiceAccountToken": false,
            "shareProcessNamespace": false,
            "securityContext": {
                "runAsUser": 1000,
                "supplementalGroups": [0, 3000],
                "fsGroup": 2000,
                "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
            },
            "imagePullSecrets": [{"name": "regcred"}],
            "hostname": "web-0",
            "subdomain": "web",
            "affinity": {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [{
                        "labelSelector": {"matchLabels": {"app": "web"}},
                        "topologyKey": "kubernetes.io/hostname"
                    }]
                }
            },
            "schedulerName": "default-scheduler",
            "tolerations": [{
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 0
            }],
            "priority": 0,
            "dnsConfig": {"options": [{"name": "ndots", "value": "1"}]},
            "enableServiceLinks": false,
            "preemptionPolicy": "PreemptLowerPriority",
            "topologySpreadConstraints": [{
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway"
            }],
            "os": {"name": "linux"},
            "hostUsers": false,
            "schedulingGates": [{"name": "example.com/quota"}],
            "resources": {"limits": {"memory": "1Gi"}},
            "hostnameOverride": "web-0.edge"
        },
        "status": {
            "observedGeneration": 1,
            "phase": "Running",
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "lastProbeTime": null,
                "lastTransitionTime": "2026-01-01T00:00:05Z"
            }],
            "hostIP": "10.0.0.1",
            "hostIPs": [{"ip": "10.0.0.1"}],
            "podIP": "10.244.0.7",
            "podIPs": [{"ip": "10.244.0.7"}, {"ip": "fd00::7"}],
            "startTime": "2026-01-01T00:00:01Z",
            "containerStatuses": [{
                "name": "main",
                "state": {"running": {"startedAt": "2026-01-01T00:00:03Z"}},
                "lastState": {"terminated": {
                    "exitCode": 137,
                    "signal": 9,
                    "reason": "OOMKilled",
                    "startedAt": "2026-01-01T00:00:02Z",
                    "finishedAt": "2026-01-01T00:00:03Z",
                    "containerID": "containerd://abc"
                }},
                "ready": true,
                "restartCount": 1,
                "image": "registry.example.com/app:1.0",
                "imageID": "registry.example.com/app@sha256:00",
                "containerID": "containerd://def",
                "started": true,
                "user": {"linux": {"uid": 1000, "gid": 0, "supplementalGroups": [0, 3000]}},
                "stopSignal": "SIGUSR1"
            }],
            "qosClass": "Burstable"
        }
    });
    assert_json_eq(&got, &expected, "rich pod");
}

#[test]
fn statefulset_and_service() {
    let sts = apps::StatefulSet {
        metadata: Some(meta::ObjectMeta {
            name: s("db"),
            ..Default::default()
        }),
        spec: Some(apps::StatefulSetSpec {
            replicas: Some(0),
            selector: Some(meta::LabelSelector {
                match_labels: BTreeMap::new(),
                match_expressions: vec![meta::LabelSelectorRequirement {
                    key: s("app"),
                    operator: s("Exists"),
                    values: vec![],
                }],
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta::default()),
                spec: Some(core::PodSpec {
                    containers: vec![core::Container {
                        name: s("db"),
                        image: s("postgres:17"),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            volume_claim_templates: vec![core::PersistentVolumeClaim {
                metadata: Some(meta::ObjectMeta {
                    name: s("data"),
                    ..Default::default()
                }),
                spec: Some(core::PersistentVolumeClaimSpec {
                    access_modes: strings(&["ReadWriteOnce"]),
                    resources: Some(core::VolumeResourceRequirements {
                        limits: BTreeMap::new(),
                        requests: map(&[("storage", q("10Gi"))]),
                    }),
                    storage_class_name: s(""),
                    ..Default::default()
                }),
                status: None,
            }],
            service_name: s("db"),
            pod_management_policy: s("Parallel"),
            update_strategy: Some(apps::StatefulSetUpdateStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateStatefulSetStrategy {
                    partition: Some(0),
                    max_unavailable: str_port("25%"),
                }),
            }),
            persistent_volume_claim_retention_policy: Some(
                apps::StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: s("Delete"),
                    when_scaled: s("Retain"),
                },
            ),
            ordinals: Some(apps::StatefulSetOrdinals { start: Some(1) }),
            ..Default::default()
        }),
        status: None,
    };
    let got = decode_ok(&envelope("apps/v1", "StatefulSet", &sts));
    let expected = json!({
        "kind": "StatefulSet",
        "apiVersion": "apps/v1",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 0,
            "selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
            "template": {
                "metadata": {},
                "spec": {"containers": [{"name": "db", "image": "postgres:17", "resources": {}}]}
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "10Gi"}},
                    "storageClassName": ""
                },
                "status": {}
            }],
            "serviceName": "db",
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": "25%"}},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
            "ordinals": {"start": 1}
        },
        "status": {"replicas": 0, "availableReplicas": 0}
    });
    assert_json_eq(&got, &expected, "statefulset");

    let svc = core::Service {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            namespace: s("prod"),
            ..Default::default()
        }),
        spec: Some(core::ServiceSpec {
            ports: vec![
                core::ServicePort {
                    name: s("http"),
                    protocol: s("TCP"),
                    app_protocol: s("http"),
                    port: Some(80),
                    target_port: str_port("http"),
                    node_port: Some(0),
                },
                core::ServicePort {
                    name: s("dns"),
                    protocol: s("UDP"),
                    app_protocol: None,
                    port: Some(53),
                    target_port: int_port(5353),
                    node_port: Some(30053),
                },
            ],
            selector: map(&[("app", "web".to_owned())]),
            cluster_ip: s("10.96.0.10"),
            cluster_ips: strings(&["10.96.0.10", "fd00:10::a"]),
            r#type: s("NodePort"),
            external_traffic_policy: s("Local"),
            session_affinity: s("ClientIP"),
            session_affinity_config: Some(core::SessionAffinityConfig {
                client_ip: Some(core::ClientIpConfig {
                    timeout_seconds: Some(10_800),
                }),
            }),
            ip_families: strings(&["IPv4", "IPv6"]),
            ip_family_policy: s("PreferDualStack"),
            internal_traffic_policy: s("Cluster"),
            traffic_distribution: s("PreferClose"),
            ..Default::default()
        }),
        status: Some(core::ServiceStatus {
            load_balancer: Some(core::LoadBalancerStatus {
                ingress: vec![core::LoadBalancerIngress {
                    ip: s("192.0.2.10"),
                    hostname: s(""),
                    ip_mode: s("VIP"),
                    ports: vec![core::PortStatus {
                        port: Some(80),
                        protocol: s("TCP"),
                        error: None,
                    }],
                }],
            }),
            conditions: vec![meta::Condition {
                r#type: s("Ready"),
                status: s("True"),
                observed_generation: Some(0),
                last_transition_time: time(T0),
                reason: s("Synced"),
                message: s(""),
            }],
        }),
    };
    let got = decode_ok(&envelope("v1", "Service", &svc));
    let expected = json!({
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {
            "ports": [
                {"name": "http", "protocol": "TCP", "appProtocol": "http", "port": 80, "targetPort": "http"},
                {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 5353, "nodePort": 30053}
            ],
            "selector": {"app": "web"},
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10", "fd00:10::a"],
            "type": "NodePort",
            "sessionAffinity": "ClientIP",
            "externalTrafficPolicy": "Local",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
            "ipFamilies": ["IPv4", "IPv6"],
            "ipFamilyPolicy": "PreferDualStack",
            "internalTrafficPolicy": "Cluster",
            "trafficDistribution": "PreferClose"
        },
        "status": {
            "loadBalancer": {"ingress": [{"ip": "192.0.2.10", "ipMode": "VIP", "ports": [{"port": 80, "protocol": "TCP"}]}]},
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "reason": "Synced",
                "message": ""
            }]
        }
    });
    assert_json_eq(&got, &expected, "service");
}

#[test]
fn lease_eviction_and_delete_options() {
    let lease = coordination::Lease {
        metadata: Some(meta::ObjectMeta {
            name: s("node-1"),
            namespace: s("kube-node-lease"),
            ..Default::default()
        }),
        spec: Some(coordination::LeaseSpec {
            holder_identity: s("node-1"),
            lease_duration_seconds: Some(40),
            acquire_time: Some(meta::MicroTime {
                seconds: Some(T0),
                nanos: Some(123_456_789),
            }),
            renew_time: Some(meta::MicroTime {
                seconds: Some(T0 + 10),
                nanos: Some(0),
            }),
            lease_transitions: Some(0),
            strategy: None,
            preferred_holder: None,
        }),
    };
    let got = decode_ok(&envelope("coordination.k8s.io/v1", "Lease", &lease));
    assert_json_eq(
        &got,
        &json!({
            "kind": "Lease",
            "apiVersion": "coordination.k8s.io/v1",
            "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": "node-1",
                "leaseDurationSeconds": 40,
                "acquireTime": "2026-01-01T00:00:00.123456Z",
                "renewTime": "2026-01-01T00:00:10.000000Z",
                "leaseTransitions": 0
            }
        }),
        "lease",
    );

    let options = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        preconditions: Some(meta::Preconditions {
            uid: s("6f1a2b3c-0000-4000-8000-000000000001"),
            resource_version: None,
        }),
        orphan_dependents: None,
        propagation_policy: s("Foreground"),
        dry_run: strings(&["All"]),
        ignore_store_read_error_with_cluster_breaking_potential: None,
    };
    let eviction = policy::Eviction {
        metadata: Some(meta::ObjectMeta {
            name: s("web-0"),
            namespace: s("prod"),
            ..Default::default()
        }),
        delete_options: Some(options.clone()),
    };
    let got = decode_ok(&envelope("policy/v1", "Eviction", &eviction));
    assert_json_eq(
        &got,
        &json!({
            "kind": "Eviction",
            "apiVersion": "policy/v1",
            "metadata": {"name": "web-0", "namespace": "prod"},
            "deleteOptions": {
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "6f1a2b3c-0000-4000-8000-000000000001"},
                "propagationPolicy": "Foreground",
                "dryRun": ["All"]
            }
        }),
        "eviction",
    );

    for api_version in ["v1", "meta.k8s.io/v1", "apps/v1"] {
        let got = decode_ok(&envelope(api_version, "DeleteOptions", &options));
        assert_eq!(got["apiVersion"], json!(api_version));
        assert_eq!(got["propagationPolicy"], json!("Foreground"));
    }
    // The envelope of an empty DeleteOptions, as kubectl sends it.
    let got = decode_ok(&envelope_raw("meta.k8s.io/v1", "DeleteOptions", vec![]));
    assert_eq!(
        got,
        json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"})
    );
}

#[test]
fn every_listed_kind_decodes_an_empty_object() {
    let kinds: Vec<_> = supported_kinds().collect();
    for (api_version, kind) in [
        ("v1", "Namespace"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("v1", "Pod"),
        ("v1", "Binding"),
        ("v1", "Endpoints"),
        ("meta.k8s.io/v1", "DeleteOptions"),
        ("policy/v1", "Eviction"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "StatefulSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("coordination.k8s.io/v1", "Lease"),
        ("authentication.k8s.io/v1", "TokenRequest"),
    ] {
        assert!(kinds.contains(&(api_version, kind)), "{api_version} {kind}");
    }
    assert!(is_supported("v1", "DeleteOptions"));
    assert!(!is_supported("v1", "Deployment"));
    for (api_version, kind) in kinds {
        let got = decode_request(&envelope_raw(api_version, kind, vec![]))
            .unwrap_or_else(|e| panic!("{api_version} {kind}: {e}"));
        assert_eq!(got["kind"], json!(kind));
        assert_eq!(got["apiVersion"], json!(api_version));
    }
}

// ---- errors ------------------------------------------------------------------

#[test]
fn bad_magic_and_empty_bodies() {
    assert_eq!(decode_request(b""), Err(ProtobufError::BadMagic));
    assert_eq!(decode_request(b"k8s"), Err(ProtobufError::BadMagic));
    assert_eq!(
        decode_request(br#"{"kind":"Namespace"}"#),
        Err(ProtobufError::BadMagic)
    );
    let mut body = fixture("namespace");
    if let Some(first) = body.first_mut() {
        *first = b'K';
    }
    assert_eq!(decode_request(&body), Err(ProtobufError::BadMagic));
    assert_eq!(decode_request(&MAGIC), Err(ProtobufError::MissingTypeMeta));
}

#[test]
fn truncated_bodies_are_rejected() {
    let body = fixture("deployment");
    // Envelope layout: magic, typeMeta (0x0a len ...), raw (0x12 len ...),
    // then the empty contentEncoding and contentType fields (4 bytes).
    assert_eq!(body.get(4), Some(&0x0a));
    let type_meta_end = 6 + usize::from(*body.get(5).expect("typeMeta length"));
    let complete = [4, type_meta_end, body.len() - 4, body.len() - 2, body.len()];
    for len in 0..=body.len() {
        let result = decode_request(body.get(..len).expect("prefix"));
        if complete.contains(&len) {
            continue;
        }
        assert!(result.is_err(), "prefix of {len} bytes decoded");
        if len > type_meta_end {
            assert!(
                matches!(result, Err(ProtobufError::MalformedEnvelope(_))),
                "prefix of {len} bytes: {result:?}"
            );
        }
    }
    // Cut right after typeMeta: a valid envelope without an object.
    let empty = decode_ok(body.get(..type_meta_end).expect("prefix"));
    assert_eq!(empty["kind"], json!("Deployment"));
}

#[test]
fn malformed_object_bytes() {
    for raw in [
        vec![0xff, 0xff, 0xff],
        vec![0x0a, 0x05, 0x01],
        // metadata (field 1) sent as a varint instead of a message
        vec![0x08, 0x01],
        // name with invalid UTF-8
        vec![0x0a, 0x04, 0x0a, 0x02, 0xc3, 0x28],
        // field number 0
        vec![0x00, 0x00],
    ] {
        let result = decode_request(&envelope_raw("apps/v1", "Deployment", raw.clone()));
        assert!(
            matches!(result, Err(ProtobufError::Malformed { ref kind, .. }) if kind == "Deployment"),
            "{raw:?}: {result:?}"
        );
    }
}

#[test]
fn unknown_kind_and_envelope_problems() {
    let err = decode_request(&envelope_raw("example.com/v1", "Widget", vec![]))
        .expect_err("unknown kind");
    assert_eq!(
        err,
        ProtobufError::UnsupportedKind {
            api_version: "example.com/v1".into(),
            kind: "Widget".into()
        }
    );
    let message = err.to_string();
    assert!(message.contains("JSON"), "{message}");
    assert!(message.contains("kubectl create -f"), "{message}");

    // Known kind, wrong version.
    assert!(matches!(
        decode_request(&envelope_raw("apps/v1beta1", "Deployment", vec![])),
        Err(ProtobufError::UnsupportedKind { .. })
    ));

    let no_type = Unknown {
        type_meta: None,
        raw: Some(vec![]),
        ..Default::default()
    };
    let mut body = MAGIC.to_vec();
    body.extend(no_type.encode_to_vec());
    assert_eq!(decode_request(&body), Err(ProtobufError::MissingTypeMeta));

    let gzip = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s("v1"),
            kind: s("Namespace"),
        }),
        raw: Some(vec![]),
        content_encoding: s("gzip"),
        content_type: None,
    };
    let mut body = MAGIC.to_vec();
    body.extend(gzip.encode_to_vec());
    assert!(matches!(
        decode_request(&body),
        Err(ProtobufError::UnsupportedEnvelope(_))
    ));

    let typed = Unknown {
        content_encoding: None,
        content_type: s(CONTENT_TYPE),
        ..gzip
    };
    let mut body = MAGIC.to_vec();
    body.extend(typed.encode_to_vec());
    assert_eq!(decode_ok(&body)["kind"], json!("Namespace"));

    // An unknown field in the envelope itself.
    let mut body = envelope_raw("v1", "Namespace", vec![]);
    body.extend([0x28, 0x01]);
    assert!(matches!(
        decode_request(&body),
        Err(ProtobufError::MalformedEnvelope(_))
    ));
}

#[test]
fn fields_unknown_to_the_schema_are_reported() {
    let deployment = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: s("d"),
            ..Default::default()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(1),
            ..Default::default()
        }),
        status: None,
    };
    // Top level: field 99 (varint 1).
    let mut raw = deployment.encode_to_vec();
    raw.extend([0x98, 0x06, 0x01]);
    let err = decode_request(&envelope_raw("apps/v1", "Deployment", raw)).expect_err("unknown");
    assert_eq!(
        err,
        ProtobufError::UnknownField {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            field_path: "99".into()
        }
    );
    assert!(err.to_string().contains("JSON"));

    // Nested: spec (field 2) gains field 111 = "x".
    let mut spec = deployment.spec.clone().unwrap_or_default().encode_to_vec();
    spec.extend([0xfa, 0x06, 0x01, b'x']);
    let mut raw = apps::Deployment {
        metadata: deployment.metadata.clone(),
        ..Default::default()
    }
    .encode_to_vec();
    raw.push(0x12);
    prost::encoding::encode_varint(spec.len() as u64, &mut raw);
    raw.extend(spec);
    assert!(matches!(
        decode_request(&envelope_raw("apps/v1", "Deployment", raw)),
        Err(ProtobufError::UnknownField { ref field_path, .. }) if field_path == "2.111"
    ));

    // An unknown but empty field carries nothing and is accepted.
    let mut raw = deployment.encode_to_vec();
    raw.extend([0x9a, 0x06, 0x00]);
    let got = decode_ok(&envelope_raw("apps/v1", "Deployment", raw));
    assert_eq!(got["spec"]["replicas"], json!(1));
}

#[test]
fn values_without_a_json_form_are_reported() {
    let ns = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            name: s("x"),
            creation_timestamp: time(i64::MAX),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        decode_request(&envelope("v1", "Namespace", &ns)),
        Err(ProtobufError::InvalidValue { ref path, .. }) if path == "metadata.creationTimestamp"
    ));

    let svc = core::Service {
        spec: Some(core::ServiceSpec {
            ports: vec![core::ServicePort {
                port: Some(80),
                target_port: Some(IntOrString {
                    r#type: Some(5),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = decode_request(&envelope("v1", "Service", &svc)).expect_err("bad intstr");
    assert!(
        matches!(err, ProtobufError::InvalidValue { ref path, .. } if path == "spec.ports[0].targetPort"),
        "{err:?}"
    );
    assert!(err.to_string().contains("spec.ports[0].targetPort"));

    let cm = core::Pod {
        spec: Some(core::PodSpec {
            overhead: map(&[("cpu", Quantity { string: s("") })]),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        decode_request(&envelope("v1", "Pod", &cm)),
        Err(ProtobufError::InvalidValue { ref path, .. }) if path == "spec.overhead.cpu"
    ));
}

// ---- never panic -------------------------------------------------------------

fn kind_strategy() -> impl Strategy<Value = (&'static str, &'static str)> {
    let kinds: Vec<_> = supported_kinds().collect();
    proptest::sample::select(kinds)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(&body);
        let mut with_magic = MAGIC.to_vec();
        with_magic.extend(&body);
        let _ = decode_request(&with_magic);
    }

    #[test]
    fn arbitrary_objects_never_panic(
        (api_version, kind) in kind_strategy(),
        raw in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = decode_request(&envelope_raw(api_version, kind, raw));
    }

    #[test]
    fn mutated_kubectl_bodies_never_panic(
        name in proptest::sample::select(vec![
            "deployment", "secret_tls", "cronjob", "service_nodeport", "job_from_rich_cronjob",
        ]),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = fixture(name);
        for (index, byte) in edits {
            let i = index.index(body.len());
            if let Some(b) = body.get_mut(i) {
                *b = byte;
            }
        }
        let _ = decode_request(&body);
    }
}
