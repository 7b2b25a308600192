//! JSON field tables for `core/v1` messages.

use k8s_pb::api::core::v1 as pb;

use super::super::json::messages;

messages! {
    pb::AwsElasticBlockStoreVolumeSource {
        req volume_id: "volumeID",
        opt fs_type: "fsType",
        opt partition: "partition",
        opt read_only: "readOnly",
    }

    pb::Affinity {
        ptr node_affinity: "nodeAffinity",
        ptr pod_affinity: "podAffinity",
        ptr pod_anti_affinity: "podAntiAffinity",
    }

    pb::AppArmorProfile {
        req r#type: "type",
        ptr localhost_profile: "localhostProfile",
    }

    pb::AttachedVolume {
        req name: "name",
        req device_path: "devicePath",
    }

    pb::AzureDiskVolumeSource {
        req disk_name: "diskName",
        req disk_uri: "diskURI",
        ptr caching_mode: "cachingMode",
        ptr fs_type: "fsType",
        ptr read_only: "readOnly",
        ptr kind: "kind",
    }

    pb::AzureFileVolumeSource {
        req secret_name: "secretName",
        req share_name: "shareName",
        opt read_only: "readOnly",
    }

    pb::Binding {
        req metadata: "metadata",
        req target: "target",
    }

    pb::CSIVolumeSource {
        req driver: "driver",
        ptr read_only: "readOnly",
        ptr fs_type: "fsType",
        opt volume_attributes: "volumeAttributes",
        ptr node_publish_secret_ref: "nodePublishSecretRef",
    }

    pb::Capabilities {
        opt add: "add",
        opt drop: "drop",
    }

    pb::CephFsVolumeSource {
        req monitors: "monitors",
        opt path: "path",
        opt user: "user",
        opt secret_file: "secretFile",
        ptr secret_ref: "secretRef",
        opt read_only: "readOnly",
    }

    pb::CinderVolumeSource {
        req volume_id: "volumeID",
        opt fs_type: "fsType",
        opt read_only: "readOnly",
        ptr secret_ref: "secretRef",
    }

    pb::ClientIpConfig {
        ptr timeout_seconds: "timeoutSeconds",
    }

    pb::ClusterTrustBundleProjection {
        ptr name: "name",
        ptr signer_name: "signerName",
        ptr label_selector: "labelSelector",
        ptr optional: "optional",
        req path: "path",
    }

    pb::ConfigMap {
        req metadata: "metadata",
        ptr immutable: "immutable",
        opt data: "data",
        opt binary_data: "binaryData",
    }

    pb::ConfigMapEnvSource {
        inline local_object_reference,
        ptr optional: "optional",
    }

    pb::ConfigMapKeySelector {
        inline local_object_reference,
        req key: "key",
        ptr optional: "optional",
    }

    pb::ConfigMapNodeConfigSource {
        req namespace: "namespace",
        req name: "name",
        opt uid: "uid",
        opt resource_version: "resourceVersion",
        req kubelet_config_key: "kubeletConfigKey",
    }

    pb::ConfigMapProjection {
        inline local_object_reference,
        opt items: "items",
        ptr optional: "optional",
    }

    pb::ConfigMapVolumeSource {
        inline local_object_reference,
        opt items: "items",
        ptr default_mode: "defaultMode",
        ptr optional: "optional",
    }

    pb::Container {
        req name: "name",
        opt image: "image",
        opt command: "command",
        opt args: "args",
        opt working_dir: "workingDir",
        opt ports: "ports",
        opt env_from: "envFrom",
        opt env: "env",
        req resources: "resources",
        opt resize_policy: "resizePolicy",
        ptr restart_policy: "restartPolicy",
        opt restart_policy_rules: "restartPolicyRules",
        opt volume_mounts: "volumeMounts",
        opt volume_devices: "volumeDevices",
        ptr liveness_probe: "livenessProbe",
        ptr readiness_probe: "readinessProbe",
        ptr startup_probe: "startupProbe",
        ptr lifecycle: "lifecycle",
        opt termination_message_path: "terminationMessagePath",
        opt termination_message_policy: "terminationMessagePolicy",
        opt image_pull_policy: "imagePullPolicy",
        ptr security_context: "securityContext",
        opt stdin: "stdin",
        opt stdin_once: "stdinOnce",
        opt tty: "tty",
    }

    pb::ContainerExtendedResourceRequest {
        req container_name: "containerName",
        req resource_name: "resourceName",
        req request_name: "requestName",
    }

    pb::ContainerImage {
        req names: "names",
        opt size_bytes: "sizeBytes",
    }

    pb::ContainerPort {
        opt name: "name",
        opt host_port: "hostPort",
        req container_port: "containerPort",
        opt protocol: "protocol",
        opt host_ip: "hostIP",
    }

    pb::ContainerResizePolicy {
        req resource_name: "resourceName",
        req restart_policy: "restartPolicy",
    }

    pb::ContainerRestartRule {
        opt action: "action",
        ptr exit_codes: "exitCodes",
    }

    pb::ContainerRestartRuleOnExitCodes {
        opt operator: "operator",
        opt values: "values",
    }

    pb::ContainerState {
        ptr waiting: "waiting",
        ptr running: "running",
        ptr terminated: "terminated",
    }

    pb::ContainerStateRunning {
        req started_at: "startedAt",
    }

    pb::ContainerStateTerminated {
        req exit_code: "exitCode",
        opt signal: "signal",
        opt reason: "reason",
        opt message: "message",
        req started_at: "startedAt",
        req finished_at: "finishedAt",
        opt container_id: "containerID",
    }

    pb::ContainerStateWaiting {
        opt reason: "reason",
        opt message: "message",
    }

    pb::ContainerStatus {
        req name: "name",
        req state: "state",
        req last_state: "lastState",
        req ready: "ready",
        req restart_count: "restartCount",
        req image: "image",
        req image_id: "imageID",
        opt container_id: "containerID",
        ptr started: "started",
        opt allocated_resources: "allocatedResources",
        ptr resources: "resources",
        opt volume_mounts: "volumeMounts",
        ptr user: "user",
        opt allocated_resources_status: "allocatedResourcesStatus",
        ptr stop_signal: "stopSignal",
    }

    pb::ContainerUser {
        ptr linux: "linux",
    }

    pb::DaemonEndpoint {
        req port: "Port",
    }

    pb::DownwardAPIProjection {
        opt items: "items",
    }

    pb::DownwardAPIVolumeFile {
        req path: "path",
        ptr field_ref: "fieldRef",
        ptr resource_field_ref: "resourceFieldRef",
        ptr mode: "mode",
    }

    pb::DownwardAPIVolumeSource {
        opt items: "items",
        ptr default_mode: "defaultMode",
    }

    pb::EmptyDirVolumeSource {
        opt medium: "medium",
        ptr size_limit: "sizeLimit",
    }

    pb::EndpointAddress {
        req ip: "ip",
        opt hostname: "hostname",
        ptr node_name: "nodeName",
        ptr target_ref: "targetRef",
    }

    pb::EndpointPort {
        opt name: "name",
        req port: "port",
        opt protocol: "protocol",
        ptr app_protocol: "appProtocol",
    }

    pb::EndpointSubset {
        opt addresses: "addresses",
        opt not_ready_addresses: "notReadyAddresses",
        opt ports: "ports",
    }

    pb::Endpoints {
        req metadata: "metadata",
        opt subsets: "subsets",
    }

    pb::EnvFromSource {
        opt prefix: "prefix",
        ptr config_map_ref: "configMapRef",
        ptr secret_ref: "secretRef",
    }

    pb::EnvVar {
        req name: "name",
        opt value: "value",
        ptr value_from: "valueFrom",
    }

    pb::EnvVarSource {
        ptr field_ref: "fieldRef",
        ptr resource_field_ref: "resourceFieldRef",
        ptr config_map_key_ref: "configMapKeyRef",
        ptr secret_key_ref: "secretKeyRef",
        ptr file_key_ref: "fileKeyRef",
    }

    pb::EphemeralContainer {
        inline ephemeral_container_common,
        opt target_container_name: "targetContainerName",
    }

    pb::EphemeralContainerCommon {
        req name: "name",
        opt image: "image",
        opt command: "command",
        opt args: "args",
        opt working_dir: "workingDir",
        opt ports: "ports",
        opt env_from: "envFrom",
        opt env: "env",
        req resources: "resources",
        opt resize_policy: "resizePolicy",
        ptr restart_policy: "restartPolicy",
        opt restart_policy_rules: "restartPolicyRules",
        opt volume_mounts: "volumeMounts",
        opt volume_devices: "volumeDevices",
        ptr liveness_probe: "livenessProbe",
        ptr readiness_probe: "readinessProbe",
        ptr startup_probe: "startupProbe",
        ptr lifecycle: "lifecycle",
        opt termination_message_path: "terminationMessagePath",
        opt termination_message_policy: "terminationMessagePolicy",
        opt image_pull_policy: "imagePullPolicy",
        ptr security_context: "securityContext",
        opt stdin: "stdin",
        opt stdin_once: "stdinOnce",
        opt tty: "tty",
    }

    pb::EphemeralVolumeSource {
        ptr volume_claim_template: "volumeClaimTemplate",
    }

    pb::Event {
        req metadata: "metadata",
        req involved_object: "involvedObject",
        opt reason: "reason",
        opt message: "message",
        req source: "source",
        req first_timestamp: "firstTimestamp",
        req last_timestamp: "lastTimestamp",
        opt count: "count",
        opt r#type: "type",
        req event_time: "eventTime",
        ptr series: "series",
        opt action: "action",
        ptr related: "related",
        req reporting_component: "reportingComponent",
        req reporting_instance: "reportingInstance",
    }

    pb::EventSeries {
        opt count: "count",
        req last_observed_time: "lastObservedTime",
    }

    pb::EventSource {
        opt component: "component",
        opt host: "host",
    }

    pb::ExecAction {
        opt command: "command",
    }

    pb::FcVolumeSource {
        opt target_ww_ns: "targetWWNs",
        ptr lun: "lun",
        opt fs_type: "fsType",
        opt read_only: "readOnly",
        opt wwids: "wwids",
    }

    pb::FileKeySelector {
        req volume_name: "volumeName",
        req path: "path",
        req key: "key",
        ptr optional: "optional",
    }

    pb::FlexVolumeSource {
        req driver: "driver",
        opt fs_type: "fsType",
        ptr secret_ref: "secretRef",
        opt read_only: "readOnly",
        opt options: "options",
    }

    pb::FlockerVolumeSource {
        opt dataset_name: "datasetName",
        opt dataset_uuid: "datasetUUID",
    }

    pb::GcePersistentDiskVolumeSource {
        req pd_name: "pdName",
        opt fs_type: "fsType",
        opt partition: "partition",
        opt read_only: "readOnly",
    }

    pb::GrpcAction {
        req port: "port",
        ptr service: "service",
    }

    pb::GitRepoVolumeSource {
        req repository: "repository",
        opt revision: "revision",
        opt directory: "directory",
    }

    pb::GlusterfsVolumeSource {
        req endpoints: "endpoints",
        req path: "path",
        opt read_only: "readOnly",
    }

    pb::HttpGetAction {
        opt path: "path",
        req port: "port",
        opt host: "host",
        opt scheme: "scheme",
        opt http_headers: "httpHeaders",
    }

    pb::HttpHeader {
        req name: "name",
        req value: "value",
    }

    pb::HostAlias {
        req ip: "ip",
        opt hostnames: "hostnames",
    }

    pb::HostIp {
        req ip: "ip",
    }

    pb::HostPathVolumeSource {
        req path: "path",
        ptr r#type: "type",
    }

    pb::IscsiVolumeSource {
        req target_portal: "targetPortal",
        req iqn: "iqn",
        req lun: "lun",
        opt iscsi_interface: "iscsiInterface",
        opt fs_type: "fsType",
        opt read_only: "readOnly",
        opt portals: "portals",
        opt chap_auth_discovery: "chapAuthDiscovery",
        opt chap_auth_session: "chapAuthSession",
        ptr secret_ref: "secretRef",
        ptr initiator_name: "initiatorName",
    }

    pb::ImageVolumeSource {
        opt reference: "reference",
        opt pull_policy: "pullPolicy",
    }

    pb::KeyToPath {
        req key: "key",
        req path: "path",
        ptr mode: "mode",
    }

    pb::Lifecycle {
        ptr post_start: "postStart",
        ptr pre_stop: "preStop",
        ptr stop_signal: "stopSignal",
    }

    pb::LifecycleHandler {
        ptr exec: "exec",
        ptr http_get: "httpGet",
        ptr tcp_socket: "tcpSocket",
        ptr sleep: "sleep",
    }

    pb::LimitRange {
        req metadata: "metadata",
        req spec: "spec",
    }

    pb::LimitRangeItem {
        req r#type: "type",
        opt max: "max",
        opt min: "min",
        opt default: "default",
        opt default_request: "defaultRequest",
        opt max_limit_request_ratio: "maxLimitRequestRatio",
    }

    pb::LimitRangeSpec {
        req limits: "limits",
    }

    pb::LinuxContainerUser {
        req uid: "uid",
        req gid: "gid",
        opt supplemental_groups: "supplementalGroups",
    }

    pb::LoadBalancerIngress {
        opt ip: "ip",
        opt hostname: "hostname",
        ptr ip_mode: "ipMode",
        opt ports: "ports",
    }

    pb::LoadBalancerStatus {
        opt ingress: "ingress",
    }

    pb::LocalObjectReference {
        opt name: "name",
    }

    pb::ModifyVolumeStatus {
        opt target_volume_attributes_class_name: "targetVolumeAttributesClassName",
        req status: "status",
    }

    pb::NfsVolumeSource {
        req server: "server",
        req path: "path",
        opt read_only: "readOnly",
    }

    pb::Namespace {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::NamespaceCondition {
        req r#type: "type",
        req status: "status",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::NamespaceSpec {
        opt finalizers: "finalizers",
    }

    pb::NamespaceStatus {
        opt phase: "phase",
        opt conditions: "conditions",
    }

    pb::Node {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::NodeAddress {
        req r#type: "type",
        req address: "address",
    }

    pb::NodeAffinity {
        ptr required_during_scheduling_ignored_during_execution: "requiredDuringSchedulingIgnoredDuringExecution",
        opt preferred_during_scheduling_ignored_during_execution: "preferredDuringSchedulingIgnoredDuringExecution",
    }

    pb::NodeCondition {
        req r#type: "type",
        req status: "status",
        req last_heartbeat_time: "lastHeartbeatTime",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::NodeConfigSource {
        ptr config_map: "configMap",
    }

    pb::NodeConfigStatus {
        ptr assigned: "assigned",
        ptr active: "active",
        ptr last_known_good: "lastKnownGood",
        opt error: "error",
    }

    pb::NodeDaemonEndpoints {
        req kubelet_endpoint: "kubeletEndpoint",
    }

    pb::NodeFeatures {
        ptr supplemental_groups_policy: "supplementalGroupsPolicy",
    }

    pb::NodeRuntimeHandler {
        req name: "name",
        ptr features: "features",
    }

    pb::NodeRuntimeHandlerFeatures {
        ptr recursive_read_only_mounts: "recursiveReadOnlyMounts",
        ptr user_namespaces: "userNamespaces",
    }

    pb::NodeSelector {
        req node_selector_terms: "nodeSelectorTerms",
    }

    pb::NodeSelectorRequirement {
        req key: "key",
        req operator: "operator",
        opt values: "values",
    }

    pb::NodeSelectorTerm {
        opt match_expressions: "matchExpressions",
        opt match_fields: "matchFields",
    }

    pb::NodeSpec {
        opt pod_cidr: "podCIDR",
        opt pod_cid_rs: "podCIDRs",
        opt provider_id: "providerID",
        opt unschedulable: "unschedulable",
        opt taints: "taints",
        ptr config_source: "configSource",
        opt external_id: "externalID",
    }

    pb::NodeStatus {
        opt capacity: "capacity",
        opt allocatable: "allocatable",
        opt phase: "phase",
        opt conditions: "conditions",
        opt addresses: "addresses",
        req daemon_endpoints: "daemonEndpoints",
        req node_info: "nodeInfo",
        opt images: "images",
        opt volumes_in_use: "volumesInUse",
        opt volumes_attached: "volumesAttached",
        ptr config: "config",
        opt runtime_handlers: "runtimeHandlers",
        ptr features: "features",
        opt declared_features: "declaredFeatures",
    }

    pb::NodeSwapStatus {
        ptr capacity: "capacity",
    }

    pb::NodeSystemInfo {
        req machine_id: "machineID",
        req system_uuid: "systemUUID",
        req boot_id: "bootID",
        req kernel_version: "kernelVersion",
        req os_image: "osImage",
        req container_runtime_version: "containerRuntimeVersion",
        req kubelet_version: "kubeletVersion",
        req kube_proxy_version: "kubeProxyVersion",
        req operating_system: "operatingSystem",
        req architecture: "architecture",
        ptr swap: "swap",
    }

    pb::ObjectFieldSelector {
        opt api_version: "apiVersion",
        req field_path: "fieldPath",
    }

    pb::ObjectReference {
        opt kind: "kind",
        opt namespace: "namespace",
        opt name: "name",
        opt uid: "uid",
        opt api_version: "apiVersion",
        opt resource_version: "resourceVersion",
        opt field_path: "fieldPath",
    }

    pb::PersistentVolumeClaim {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::PersistentVolumeClaimCondition {
        req r#type: "type",
        req status: "status",
        req last_probe_time: "lastProbeTime",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::PersistentVolumeClaimSpec {
        opt access_modes: "accessModes",
        ptr selector: "selector",
        req resources: "resources",
        opt volume_name: "volumeName",
        ptr storage_class_name: "storageClassName",
        ptr volume_mode: "volumeMode",
        ptr data_source: "dataSource",
        ptr data_source_ref: "dataSourceRef",
        ptr volume_attributes_class_name: "volumeAttributesClassName",
    }

    pb::PersistentVolumeClaimStatus {
        opt phase: "phase",
        opt access_modes: "accessModes",
        opt capacity: "capacity",
        opt conditions: "conditions",
        opt allocated_resources: "allocatedResources",
        opt allocated_resource_statuses: "allocatedResourceStatuses",
        ptr current_volume_attributes_class_name: "currentVolumeAttributesClassName",
        ptr modify_volume_status: "modifyVolumeStatus",
    }

    pb::PersistentVolumeClaimTemplate {
        req metadata: "metadata",
        req spec: "spec",
    }

    pb::PersistentVolumeClaimVolumeSource {
        req claim_name: "claimName",
        opt read_only: "readOnly",
    }

    pb::PhotonPersistentDiskVolumeSource {
        req pd_id: "pdID",
        opt fs_type: "fsType",
    }

    pb::Pod {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::PodAffinity {
        opt required_during_scheduling_ignored_during_execution: "requiredDuringSchedulingIgnoredDuringExecution",
        opt preferred_during_scheduling_ignored_during_execution: "preferredDuringSchedulingIgnoredDuringExecution",
    }

    pb::PodAffinityTerm {
        ptr label_selector: "labelSelector",
        opt namespaces: "namespaces",
        req topology_key: "topologyKey",
        ptr namespace_selector: "namespaceSelector",
        opt match_label_keys: "matchLabelKeys",
        opt mismatch_label_keys: "mismatchLabelKeys",
    }

    pb::PodAntiAffinity {
        opt required_during_scheduling_ignored_during_execution: "requiredDuringSchedulingIgnoredDuringExecution",
        opt preferred_during_scheduling_ignored_during_execution: "preferredDuringSchedulingIgnoredDuringExecution",
    }

    pb::PodCertificateProjection {
        opt signer_name: "signerName",
        opt key_type: "keyType",
        ptr max_expiration_seconds: "maxExpirationSeconds",
        opt credential_bundle_path: "credentialBundlePath",
        opt key_path: "keyPath",
        opt certificate_chain_path: "certificateChainPath",
        opt user_annotations: "userAnnotations",
    }

    pb::PodCondition {
        req r#type: "type",
        opt observed_generation: "observedGeneration",
        req status: "status",
        req last_probe_time: "lastProbeTime",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::PodDnsConfig {
        opt nameservers: "nameservers",
        opt searches: "searches",
        opt options: "options",
    }

    pb::PodDnsConfigOption {
        opt name: "name",
        ptr value: "value",
    }

    pb::PodExtendedResourceClaimStatus {
        req request_mappings: "requestMappings",
        req resource_claim_name: "resourceClaimName",
    }

    pb::PodIp {
        req ip: "ip",
    }

    pb::PodOs {
        req name: "name",
    }

    pb::PodReadinessGate {
        req condition_type: "conditionType",
    }

    pb::PodResourceClaim {
        req name: "name",
        ptr resource_claim_name: "resourceClaimName",
        ptr resource_claim_template_name: "resourceClaimTemplateName",
    }

    pb::PodResourceClaimStatus {
        req name: "name",
        ptr resource_claim_name: "resourceClaimName",
    }

    pb::PodSchedulingGate {
        req name: "name",
    }

    pb::PodSecurityContext {
        ptr se_linux_options: "seLinuxOptions",
        ptr windows_options: "windowsOptions",
        ptr run_as_user: "runAsUser",
        ptr run_as_group: "runAsGroup",
        ptr run_as_non_root: "runAsNonRoot",
        opt supplemental_groups: "supplementalGroups",
        ptr supplemental_groups_policy: "supplementalGroupsPolicy",
        ptr fs_group: "fsGroup",
        opt sysctls: "sysctls",
        ptr fs_group_change_policy: "fsGroupChangePolicy",
        ptr seccomp_profile: "seccompProfile",
        ptr app_armor_profile: "appArmorProfile",
        ptr se_linux_change_policy: "seLinuxChangePolicy",
    }

    pb::PodSpec {
        opt volumes: "volumes",
        opt init_containers: "initContainers",
        req containers: "containers",
        opt ephemeral_containers: "ephemeralContainers",
        opt restart_policy: "restartPolicy",
        ptr termination_grace_period_seconds: "terminationGracePeriodSeconds",
        ptr active_deadline_seconds: "activeDeadlineSeconds",
        opt dns_policy: "dnsPolicy",
        opt node_selector: "nodeSelector",
        opt service_account_name: "serviceAccountName",
        opt service_account: "serviceAccount",
        ptr automount_service_account_token: "automountServiceAccountToken",
        opt node_name: "nodeName",
        opt host_network: "hostNetwork",
        opt host_pid: "hostPID",
        opt host_ipc: "hostIPC",
        ptr share_process_namespace: "shareProcessNamespace",
        ptr security_context: "securityContext",
        opt image_pull_secrets: "imagePullSecrets",
        opt hostname: "hostname",
        opt subdomain: "subdomain",
        ptr affinity: "affinity",
        opt scheduler_name: "schedulerName",
        opt tolerations: "tolerations",
        opt host_aliases: "hostAliases",
        opt priority_class_name: "priorityClassName",
        ptr priority: "priority",
        ptr dns_config: "dnsConfig",
        opt readiness_gates: "readinessGates",
        ptr runtime_class_name: "runtimeClassName",
        ptr enable_service_links: "enableServiceLinks",
        ptr preemption_policy: "preemptionPolicy",
        opt overhead: "overhead",
        opt topology_spread_constraints: "topologySpreadConstraints",
        ptr set_hostname_as_fqdn: "setHostnameAsFQDN",
        ptr os: "os",
        ptr host_users: "hostUsers",
        opt scheduling_gates: "schedulingGates",
        opt resource_claims: "resourceClaims",
        ptr resources: "resources",
        ptr hostname_override: "hostnameOverride",
        ptr workload_ref: "workloadRef",
    }

    pb::PodStatus {
        opt observed_generation: "observedGeneration",
        opt phase: "phase",
        opt conditions: "conditions",
        opt message: "message",
        opt reason: "reason",
        opt nominated_node_name: "nominatedNodeName",
        opt host_ip: "hostIP",
        opt host_ips: "hostIPs",
        opt pod_ip: "podIP",
        opt pod_ips: "podIPs",
        ptr start_time: "startTime",
        opt init_container_statuses: "initContainerStatuses",
        opt container_statuses: "containerStatuses",
        opt qos_class: "qosClass",
        opt ephemeral_container_statuses: "ephemeralContainerStatuses",
        opt resize: "resize",
        opt resource_claim_statuses: "resourceClaimStatuses",
        ptr extended_resource_claim_status: "extendedResourceClaimStatus",
        opt allocated_resources: "allocatedResources",
        ptr resources: "resources",
    }

    pb::PodTemplate {
        req metadata: "metadata",
        req template: "template",
    }

    pb::PodTemplateSpec {
        req metadata: "metadata",
        req spec: "spec",
    }

    pb::PortStatus {
        req port: "port",
        req protocol: "protocol",
        ptr error: "error",
    }

    pb::PortworxVolumeSource {
        req volume_id: "volumeID",
        opt fs_type: "fsType",
        opt read_only: "readOnly",
    }

    pb::PreferredSchedulingTerm {
        req weight: "weight",
        req preference: "preference",
    }

    pb::Probe {
        inline handler,
        opt initial_delay_seconds: "initialDelaySeconds",
        opt timeout_seconds: "timeoutSeconds",
        opt period_seconds: "periodSeconds",
        opt success_threshold: "successThreshold",
        opt failure_threshold: "failureThreshold",
        ptr termination_grace_period_seconds: "terminationGracePeriodSeconds",
    }

    pb::ProbeHandler {
        ptr exec: "exec",
        ptr http_get: "httpGet",
        ptr tcp_socket: "tcpSocket",
        ptr grpc: "grpc",
    }

    pb::ProjectedVolumeSource {
        req sources: "sources",
        ptr default_mode: "defaultMode",
    }

    pb::QuobyteVolumeSource {
        req registry: "registry",
        req volume: "volume",
        opt read_only: "readOnly",
        opt user: "user",
        opt group: "group",
        opt tenant: "tenant",
    }

    pb::RbdVolumeSource {
        req monitors: "monitors",
        req image: "image",
        opt fs_type: "fsType",
        opt pool: "pool",
        opt user: "user",
        opt keyring: "keyring",
        ptr secret_ref: "secretRef",
        opt read_only: "readOnly",
    }

    pb::ReplicationController {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::ReplicationControllerCondition {
        req r#type: "type",
        req status: "status",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::ReplicationControllerSpec {
        ptr replicas: "replicas",
        opt min_ready_seconds: "minReadySeconds",
        opt selector: "selector",
        ptr template: "template",
    }

    pb::ReplicationControllerStatus {
        req replicas: "replicas",
        opt fully_labeled_replicas: "fullyLabeledReplicas",
        opt ready_replicas: "readyReplicas",
        opt available_replicas: "availableReplicas",
        opt observed_generation: "observedGeneration",
        opt conditions: "conditions",
    }

    pb::ResourceClaim {
        req name: "name",
        opt request: "request",
    }

    pb::ResourceFieldSelector {
        opt container_name: "containerName",
        req resource: "resource",
        req divisor: "divisor",
    }

    pb::ResourceHealth {
        req resource_id: "resourceID",
        opt health: "health",
    }

    pb::ResourceQuota {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::ResourceQuotaSpec {
        opt hard: "hard",
        opt scopes: "scopes",
        ptr scope_selector: "scopeSelector",
    }

    pb::ResourceQuotaStatus {
        opt hard: "hard",
        opt used: "used",
    }

    pb::ResourceRequirements {
        opt limits: "limits",
        opt requests: "requests",
        opt claims: "claims",
    }

    pb::ResourceStatus {
        req name: "name",
        opt resources: "resources",
    }

    pb::SeLinuxOptions {
        opt user: "user",
        opt role: "role",
        opt r#type: "type",
        opt level: "level",
    }

    pb::ScaleIoVolumeSource {
        req gateway: "gateway",
        req system: "system",
        ptr secret_ref: "secretRef",
        opt ssl_enabled: "sslEnabled",
        opt protection_domain: "protectionDomain",
        opt storage_pool: "storagePool",
        opt storage_mode: "storageMode",
        opt volume_name: "volumeName",
        opt fs_type: "fsType",
        opt read_only: "readOnly",
    }

    pb::ScopeSelector {
        opt match_expressions: "matchExpressions",
    }

    pb::ScopedResourceSelectorRequirement {
        req scope_name: "scopeName",
        req operator: "operator",
        opt values: "values",
    }

    pb::SeccompProfile {
        req r#type: "type",
        ptr localhost_profile: "localhostProfile",
    }

    pb::Secret {
        req metadata: "metadata",
        ptr immutable: "immutable",
        opt data: "data",
        opt string_data: "stringData",
        opt r#type: "type",
    }

    pb::SecretEnvSource {
        inline local_object_reference,
        ptr optional: "optional",
    }

    pb::SecretKeySelector {
        inline local_object_reference,
        req key: "key",
        ptr optional: "optional",
    }

    pb::SecretProjection {
        inline local_object_reference,
        opt items: "items",
        ptr optional: "optional",
    }

    pb::SecretVolumeSource {
        opt secret_name: "secretName",
        opt items: "items",
        ptr default_mode: "defaultMode",
        ptr optional: "optional",
    }

    pb::SecurityContext {
        ptr capabilities: "capabilities",
        ptr privileged: "privileged",
        ptr se_linux_options: "seLinuxOptions",
        ptr windows_options: "windowsOptions",
        ptr run_as_user: "runAsUser",
        ptr run_as_group: "runAsGroup",
        ptr run_as_non_root: "runAsNonRoot",
        ptr read_only_root_filesystem: "readOnlyRootFilesystem",
        ptr allow_privilege_escalation: "allowPrivilegeEscalation",
        ptr proc_mount: "procMount",
        ptr seccomp_profile: "seccompProfile",
        ptr app_armor_profile: "appArmorProfile",
    }

    pb::Service {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::ServiceAccount {
        req metadata: "metadata",
        opt secrets: "secrets",
        opt image_pull_secrets: "imagePullSecrets",
        ptr automount_service_account_token: "automountServiceAccountToken",
    }

    pb::ServiceAccountTokenProjection {
        opt audience: "audience",
        ptr expiration_seconds: "expirationSeconds",
        req path: "path",
    }

    pb::ServicePort {
        opt name: "name",
        opt protocol: "protocol",
        ptr app_protocol: "appProtocol",
        req port: "port",
        req target_port: "targetPort",
        opt node_port: "nodePort",
    }

    pb::ServiceSpec {
        opt ports: "ports",
        opt selector: "selector",
        opt cluster_ip: "clusterIP",
        opt cluster_ips: "clusterIPs",
        opt r#type: "type",
        opt external_ips: "externalIPs",
        opt session_affinity: "sessionAffinity",
        opt load_balancer_ip: "loadBalancerIP",
        opt load_balancer_source_ranges: "loadBalancerSourceRanges",
        opt external_name: "externalName",
        opt external_traffic_policy: "externalTrafficPolicy",
        opt health_check_node_port: "healthCheckNodePort",
        opt publish_not_ready_addresses: "publishNotReadyAddresses",
        ptr session_affinity_config: "sessionAffinityConfig",
        opt ip_families: "ipFamilies",
        ptr ip_family_policy: "ipFamilyPolicy",
        ptr allocate_load_balancer_node_ports: "allocateLoadBalancerNodePorts",
        ptr load_balancer_class: "loadBalancerClass",
        ptr internal_traffic_policy: "internalTrafficPolicy",
        ptr traffic_distribution: "trafficDistribution",
    }

    pb::ServiceStatus {
        req load_balancer: "loadBalancer",
        opt conditions: "conditions",
    }

    pb::SessionAffinityConfig {
        ptr client_ip: "clientIP",
    }

    pb::SleepAction {
        req seconds: "seconds",
    }

    pb::StorageOsVolumeSource {
        opt volume_name: "volumeName",
        opt volume_namespace: "volumeNamespace",
        opt fs_type: "fsType",
        opt read_only: "readOnly",
        ptr secret_ref: "secretRef",
    }

    pb::Sysctl {
        req name: "name",
        req value: "value",
    }

    pb::TcpSocketAction {
        req port: "port",
        opt host: "host",
    }

    pb::Taint {
        req key: "key",
        opt value: "value",
        req effect: "effect",
        ptr time_added: "timeAdded",
    }

    pb::Toleration {
        opt key: "key",
        opt operator: "operator",
        opt value: "value",
        opt effect: "effect",
        ptr toleration_seconds: "tolerationSeconds",
    }

    pb::TopologySpreadConstraint {
        req max_skew: "maxSkew",
        req topology_key: "topologyKey",
        req when_unsatisfiable: "whenUnsatisfiable",
        ptr label_selector: "labelSelector",
        ptr min_domains: "minDomains",
        ptr node_affinity_policy: "nodeAffinityPolicy",
        ptr node_taints_policy: "nodeTaintsPolicy",
        opt match_label_keys: "matchLabelKeys",
    }

    pb::TypedLocalObjectReference {
        ptr api_group: "apiGroup",
        req kind: "kind",
        req name: "name",
    }

    pb::TypedObjectReference {
        ptr api_group: "apiGroup",
        req kind: "kind",
        req name: "name",
        ptr namespace: "namespace",
    }

    pb::Volume {
        req name: "name",
        inline volume_source,
    }

    pb::VolumeDevice {
        req name: "name",
        req device_path: "devicePath",
    }

    pb::VolumeMount {
        req name: "name",
        opt read_only: "readOnly",
        ptr recursive_read_only: "recursiveReadOnly",
        req mount_path: "mountPath",
        opt sub_path: "subPath",
        ptr mount_propagation: "mountPropagation",
        opt sub_path_expr: "subPathExpr",
    }

    pb::VolumeMountStatus {
        req name: "name",
        req mount_path: "mountPath",
        opt read_only: "readOnly",
        ptr recursive_read_only: "recursiveReadOnly",
    }

    pb::VolumeProjection {
        ptr secret: "secret",
        ptr downward_api: "downwardAPI",
        ptr config_map: "configMap",
        ptr service_account_token: "serviceAccountToken",
        ptr cluster_trust_bundle: "clusterTrustBundle",
        ptr pod_certificate: "podCertificate",
    }

    pb::VolumeResourceRequirements {
        opt limits: "limits",
        opt requests: "requests",
    }

    pb::VolumeSource {
        ptr host_path: "hostPath",
        ptr empty_dir: "emptyDir",
        ptr gce_persistent_disk: "gcePersistentDisk",
        ptr aws_elastic_block_store: "awsElasticBlockStore",
        ptr git_repo: "gitRepo",
        ptr secret: "secret",
        ptr nfs: "nfs",
        ptr iscsi: "iscsi",
        ptr glusterfs: "glusterfs",
        ptr persistent_volume_claim: "persistentVolumeClaim",
        ptr rbd: "rbd",
        ptr flex_volume: "flexVolume",
        ptr cinder: "cinder",
        ptr cephfs: "cephfs",
        ptr flocker: "flocker",
        ptr downward_api: "downwardAPI",
        ptr fc: "fc",
        ptr azure_file: "azureFile",
        ptr config_map: "configMap",
        ptr vsphere_volume: "vsphereVolume",
        ptr quobyte: "quobyte",
        ptr azure_disk: "azureDisk",
        ptr photon_persistent_disk: "photonPersistentDisk",
        ptr projected: "projected",
        ptr portworx_volume: "portworxVolume",
        ptr scale_io: "scaleIO",
        ptr storageos: "storageos",
        ptr csi: "csi",
        ptr ephemeral: "ephemeral",
        ptr image: "image",
    }

    pb::VsphereVirtualDiskVolumeSource {
        req volume_path: "volumePath",
        opt fs_type: "fsType",
        opt storage_policy_name: "storagePolicyName",
        opt storage_policy_id: "storagePolicyID",
    }

    pb::WeightedPodAffinityTerm {
        req weight: "weight",
        req pod_affinity_term: "podAffinityTerm",
    }

    pb::WindowsSecurityContextOptions {
        ptr gmsa_credential_spec_name: "gmsaCredentialSpecName",
        ptr gmsa_credential_spec: "gmsaCredentialSpec",
        ptr run_as_user_name: "runAsUserName",
        ptr host_process: "hostProcess",
    }

    pb::WorkloadReference {
        req name: "name",
        req pod_group: "podGroup",
        opt pod_group_replica_key: "podGroupReplicaKey",
    }
}
