//! Pods, and the pod templates of every workload kind.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::meta::{validate_annotations, validate_labels};
use super::names;
use super::quantity::{QUANTITY_SYNTAX_ERROR, Quantity};
use super::util::{
    Errs, arr_of, bool_of, field, int_of, map_of, semantic_eq, str_of, string,
    validate_port_num_or_name,
};

pub const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const TERMINATION_MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
pub const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
pub const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
const TOLERATION_OPERATORS: &[&str] = &["Equal", "Exists"];
const URI_SCHEMES: &[&str] = &["HTTP", "HTTPS"];
const HOST_PATH_TYPES: &[&str] = &[
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];
const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];
const RESOURCE_FIELD_REFS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// Every kind of volume source, in the order Kubernetes checks them.
pub const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

const MAX_MODE: i64 = 0o777;

/// Validates a whole Pod: metadata is done by the caller.
pub fn validate_pod(errs: &mut Errs, pod: &Value, old: Option<&Value>) {
    let empty = Value::Object(Map::new());
    let spec = field(pod, "spec").unwrap_or(&empty);
    validate_pod_spec(errs, spec, "spec", true, &[]);
    if let Some(old) = old {
        validate_pod_update(errs, spec, field(old, "spec").unwrap_or(&empty));
    } else if !string(spec, "nodeName").is_empty() && !arr_of(spec, "schedulingGates").is_empty() {
        errs.forbidden(
            "spec.nodeName",
            "cannot be set until all schedulingGates have been cleared",
        );
    }
}

/// Validates `template` (a PodTemplateSpec) found at `path`; `extra_volumes`
/// are names containers may mount besides the template's own volumes (a
/// StatefulSet's volume claim templates).
pub fn validate_pod_template(
    errs: &mut Errs,
    template: Option<&Value>,
    path: &str,
    extra_volumes: &[&str],
) {
    let Some(template) = template else {
        errs.required(path, "");
        return;
    };
    if let Some(meta) = field(template, "metadata") {
        validate_labels(
            errs,
            map_of(meta, "labels"),
            &format!("{path}.metadata.labels"),
        );
        validate_annotations(
            errs,
            map_of(meta, "annotations"),
            &format!("{path}.metadata.annotations"),
        );
    }
    let empty = Value::Object(Map::new());
    let spec = field(template, "spec").unwrap_or(&empty);
    validate_pod_spec(errs, spec, &format!("{path}.spec"), false, extra_volumes);
}

/// Validates a PodSpec at `base` ("spec" or "spec.template.spec").
pub fn validate_pod_spec(
    errs: &mut Errs,
    spec: &Value,
    base: &str,
    is_pod: bool,
    extra_volumes: &[&str],
) {
    let mut volumes = validate_volumes(errs, arr_of(spec, "volumes"), &format!("{base}.volumes"));
    volumes.extend(extra_volumes.iter().map(|v| (*v).to_owned()));
    let host_network = bool_of(spec, "hostNetwork") == Some(true);

    let mut ctx = Containers {
        is_pod,
        host_network,
        volumes: &volumes,
        names: HashSet::new(),
        host_ports: HashSet::new(),
    };
    for (i, c) in arr_of(spec, "initContainers").iter().enumerate() {
        ctx.validate(errs, c, &format!("{base}.initContainers[{i}]"), true);
    }
    let containers = arr_of(spec, "containers");
    if containers.is_empty() {
        errs.required(format!("{base}.containers"), "");
    }
    for (i, c) in containers.iter().enumerate() {
        ctx.validate(errs, c, &format!("{base}.containers[{i}]"), false);
    }

    errs.one_of(
        format!("{base}.restartPolicy"),
        str_of(spec, "restartPolicy"),
        RESTART_POLICIES,
    );
    let dns_policy = str_of(spec, "dnsPolicy");
    errs.one_of(format!("{base}.dnsPolicy"), dns_policy, DNS_POLICIES);
    if dns_policy == Some("None") && field(spec, "dnsConfig").is_none() {
        errs.required(
            format!("{base}.dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        );
    }
    if let Some(cfg) = field(spec, "dnsConfig") {
        validate_dns_config(errs, cfg, &format!("{base}.dnsConfig"));
    }
    errs.non_negative(
        format!("{base}.terminationGracePeriodSeconds"),
        int_of(spec, "terminationGracePeriodSeconds"),
    );
    if let Some(ads) = int_of(spec, "activeDeadlineSeconds")
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.invalid(
            format!("{base}.activeDeadlineSeconds"),
            ads,
            &names::inclusive_range_error(1, i64::from(i32::MAX)),
        );
    }
    validate_labels(
        errs,
        map_of(spec, "nodeSelector"),
        &format!("{base}.nodeSelector"),
    );
    for (key, check) in [
        (
            "nodeName",
            names::is_dns1123_subdomain as fn(&str) -> Vec<String>,
        ),
        ("serviceAccountName", names::is_dns1123_subdomain),
        ("priorityClassName", names::is_dns1123_subdomain),
        ("hostname", names::is_dns1123_label),
        ("subdomain", names::is_dns1123_label),
    ] {
        let v = string(spec, key);
        if !v.is_empty() {
            errs.invalid_each(&format!("{base}.{key}"), v, check(v));
        }
    }
    validate_tolerations(
        errs,
        arr_of(spec, "tolerations"),
        &format!("{base}.tolerations"),
    );
    let mut gates = HashSet::new();
    for (i, g) in arr_of(spec, "schedulingGates").iter().enumerate() {
        let p = format!("{base}.schedulingGates[{i}].name");
        let name = string(g, "name");
        errs.invalid_each(&p, name, names::is_qualified_name(name));
        if !gates.insert(name) {
            errs.duplicate(p, name);
        }
    }
    for (i, s) in arr_of(spec, "imagePullSecrets").iter().enumerate() {
        if string(s, "name").is_empty() {
            errs.required(format!("{base}.imagePullSecrets[{i}].name"), "");
        }
    }
}

fn validate_dns_config(errs: &mut Errs, cfg: &Value, path: &str) {
    let ns = arr_of(cfg, "nameservers");
    if ns.len() > 3 {
        errs.invalid(
            format!("{path}.nameservers"),
            Value::Array(ns.to_vec()),
            "must not have more than 3 nameservers",
        );
    }
    for (i, n) in ns.iter().enumerate() {
        let n = n.as_str().unwrap_or_default();
        errs.invalid_each(
            &format!("{path}.nameservers[{i}]"),
            n,
            names::is_valid_ip(n),
        );
    }
    let searches = arr_of(cfg, "searches");
    if searches.len() > 32 {
        errs.invalid(
            format!("{path}.searches"),
            Value::Array(searches.to_vec()),
            "must not have more than 32 search paths",
        );
    }
    for (i, o) in arr_of(cfg, "options").iter().enumerate() {
        if string(o, "name").is_empty() {
            errs.required(format!("{path}.options[{i}].name"), "");
        }
    }
}

/// What the containers of one pod spec share while being checked.
struct Containers<'a> {
    is_pod: bool,
    host_network: bool,
    volumes: &'a HashSet<String>,
    /// Names across init and regular containers.
    names: HashSet<String>,
    /// "hostPort/protocol" taken so far.
    host_ports: HashSet<String>,
}

impl Containers<'_> {
    fn validate(&mut self, errs: &mut Errs, c: &Value, path: &str, init: bool) {
        let name = string(c, "name");
        if name.is_empty() {
            errs.required(format!("{path}.name"), "");
        } else {
            errs.invalid_each(&format!("{path}.name"), name, names::is_dns1123_label(name));
            if !self.names.insert(name.to_owned()) {
                errs.duplicate(format!("{path}.name"), name);
            }
        }
        let image = string(c, "image");
        if image.is_empty() {
            errs.required(format!("{path}.image"), "");
        } else if self.is_pod && image.trim() != image {
            errs.invalid(
                format!("{path}.image"),
                image,
                "must not have leading or trailing whitespace",
            );
        }
        errs.one_of(
            format!("{path}.imagePullPolicy"),
            str_of(c, "imagePullPolicy"),
            PULL_POLICIES,
        );
        errs.one_of(
            format!("{path}.terminationMessagePolicy"),
            str_of(c, "terminationMessagePolicy"),
            TERMINATION_MESSAGE_POLICIES,
        );
        self.validate_ports(errs, arr_of(c, "ports"), &format!("{path}.ports"));
        validate_env(errs, arr_of(c, "env"), &format!("{path}.env"));
        validate_env_from(errs, arr_of(c, "envFrom"), &format!("{path}.envFrom"));
        validate_volume_mounts(
            errs,
            arr_of(c, "volumeMounts"),
            self.volumes,
            &format!("{path}.volumeMounts"),
        );
        if let Some(res) = field(c, "resources") {
            validate_resources(errs, res, &format!("{path}.resources"));
        }

        let restart = str_of(c, "restartPolicy");
        let sidecar = init && restart == Some("Always");
        if init {
            errs.opt_one_of(format!("{path}.restartPolicy"), restart, &["Always"]);
        } else if restart.is_some() {
            errs.forbidden(
                format!("{path}.restartPolicy"),
                "may not be set for non-init containers",
            );
        }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            let Some(p) = field(c, probe) else { continue };
            let pp = format!("{path}.{probe}");
            if init && !sidecar {
                errs.forbidden(
                    pp,
                    "may not be set for init containers without restartPolicy=Always",
                );
                continue;
            }
            validate_probe(errs, p, &pp);
            if probe != "readinessProbe"
                && let Some(st) = int_of(p, "successThreshold")
                && st != 1
            {
                errs.invalid(format!("{pp}.successThreshold"), st, "must be 1");
            }
        }
        if let Some(lc) = field(c, "lifecycle") {
            let lp = format!("{path}.lifecycle");
            if init && !sidecar {
                errs.forbidden(
                    lp,
                    "may not be set for init containers without restartPolicy=Always",
                );
            } else {
                for hook in ["postStart", "preStop"] {
                    if let Some(h) = field(lc, hook) {
                        validate_handler(errs, h, &format!("{lp}.{hook}"), false);
                    }
                }
            }
        }
    }

    fn validate_ports(&mut self, errs: &mut Errs, ports: &[Value], path: &str) {
        let mut port_names = HashSet::new();
        for (i, p) in ports.iter().enumerate() {
            let ip = format!("{path}[{i}]");
            let name = string(p, "name");
            if !name.is_empty() {
                let msgs = names::is_valid_port_name(name);
                if !msgs.is_empty() {
                    errs.invalid_each(&format!("{ip}.name"), name, msgs);
                } else if !port_names.insert(name) {
                    errs.duplicate(format!("{ip}.name"), name);
                }
            }
            let container_port = int_of(p, "containerPort").unwrap_or(0);
            if container_port == 0 {
                errs.required(format!("{ip}.containerPort"), "");
            } else {
                for m in names::is_valid_port_num(container_port) {
                    errs.invalid(format!("{ip}.containerPort"), container_port, &m);
                }
            }
            let protocol = str_of(p, "protocol");
            errs.one_of(format!("{ip}.protocol"), protocol, PROTOCOLS);
            let host_port = int_of(p, "hostPort").unwrap_or(0);
            if host_port != 0 {
                for m in names::is_valid_port_num(host_port) {
                    errs.invalid(format!("{ip}.hostPort"), host_port, &m);
                }
                let key = format!("{host_port}/{}", protocol.unwrap_or("TCP"));
                if !self.host_ports.insert(key.clone()) {
                    errs.duplicate(format!("{ip}.hostPort"), key.as_str());
                }
            }
            if self.host_network && host_port != 0 && host_port != container_port {
                errs.invalid(
                    format!("{ip}.containerPort"),
                    container_port,
                    "must match `hostPort` when `hostNetwork` is true",
                );
            }
        }
    }
}

fn validate_env(errs: &mut Errs, env: &[Value], path: &str) {
    for (i, ev) in env.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let name = string(ev, "name");
        if name.is_empty() {
            errs.required(format!("{ip}.name"), "");
        } else {
            errs.invalid_each(&format!("{ip}.name"), name, names::is_env_var_name(name));
        }
        let Some(from) = field(ev, "valueFrom") else {
            continue;
        };
        let fp = format!("{ip}.valueFrom");
        let mut sources = 0;
        if let Some(fr) = field(from, "fieldRef") {
            sources += 1;
            validate_field_ref(errs, fr, &format!("{fp}.fieldRef"), ENV_FIELD_PATHS);
        }
        if let Some(rr) = field(from, "resourceFieldRef") {
            sources += 1;
            let rp = format!("{fp}.resourceFieldRef.resource");
            let r = string(rr, "resource");
            if r.is_empty() {
                errs.required(rp, "");
            } else if !RESOURCE_FIELD_REFS.contains(&r)
                && !r.starts_with("limits.hugepages-")
                && !r.starts_with("requests.hugepages-")
            {
                errs.not_supported(rp, r, RESOURCE_FIELD_REFS);
            }
        }
        for key in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(kr) = field(from, key) {
                sources += 1;
                let kp = format!("{fp}.{key}");
                let n = string(kr, "name");
                errs.invalid_each(&format!("{kp}.name"), n, names::is_dns1123_subdomain(n));
                let k = string(kr, "key");
                if k.is_empty() {
                    errs.required(format!("{kp}.key"), "");
                } else {
                    errs.invalid_each(&format!("{kp}.key"), k, names::is_config_map_key(k));
                }
            }
        }
        if sources == 0 {
            errs.invalid(
                fp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            );
        } else if !string(ev, "value").is_empty() {
            errs.invalid(fp, "", "may not be specified when `value` is not empty");
        } else if sources > 1 {
            errs.invalid(
                fp,
                "",
                "may not have more than one field specified at a time",
            );
        }
    }
}

fn validate_field_ref(errs: &mut Errs, fr: &Value, path: &str, allowed: &[&str]) {
    if string(fr, "apiVersion").is_empty() {
        errs.required(format!("{path}.apiVersion"), "");
        return;
    }
    let fp = string(fr, "fieldPath");
    if fp.is_empty() {
        errs.required(format!("{path}.fieldPath"), "");
        return;
    }
    // metadata.labels['key'] / metadata.annotations['key']
    if let Some((head, rest)) = fp.split_once('[') {
        let sub = rest
            .strip_suffix(']')
            .and_then(|s| s.strip_prefix('\''))
            .and_then(|s| s.strip_suffix('\''));
        match (head, sub) {
            ("metadata.annotations", Some(k)) => {
                errs.invalid_each(path, k, names::is_qualified_name(&k.to_lowercase()))
            }
            ("metadata.labels", Some(k)) => errs.invalid_each(path, k, names::is_qualified_name(k)),
            _ => errs.invalid(path, head, "does not support subscript"),
        }
    } else if !allowed.contains(&fp) {
        errs.not_supported(format!("{path}.fieldPath"), fp, allowed);
    }
}

fn validate_env_from(errs: &mut Errs, from: &[Value], path: &str) {
    for (i, ef) in from.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let prefix = string(ef, "prefix");
        if !prefix.is_empty() {
            errs.invalid_each(
                &format!("{ip}.prefix"),
                prefix,
                names::is_env_var_name(prefix),
            );
        }
        let mut sources = 0;
        for key in ["configMapRef", "secretRef"] {
            if let Some(r) = field(ef, key) {
                sources += 1;
                let n = string(r, "name");
                let np = format!("{ip}.{key}.name");
                if n.is_empty() {
                    errs.required(np, "");
                } else {
                    errs.invalid_each(&np, n, names::is_dns1123_subdomain(n));
                }
            }
        }
        if sources == 0 {
            errs.invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            );
        } else if sources > 1 {
            errs.invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            );
        }
    }
}

fn validate_volume_mounts(
    errs: &mut Errs,
    mounts: &[Value],
    volumes: &HashSet<String>,
    path: &str,
) {
    let mut mount_points = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let name = string(m, "name");
        if name.is_empty() {
            errs.required(format!("{ip}.name"), "");
        }
        if !volumes.contains(name) {
            errs.not_found(format!("{ip}.name"), name);
        }
        let mount_path = string(m, "mountPath");
        if mount_path.is_empty() {
            errs.required(format!("{ip}.mountPath"), "");
        }
        if !mount_points.insert(mount_path) {
            errs.invalid(format!("{ip}.mountPath"), mount_path, "must be unique");
        }
        let sub_path = string(m, "subPath");
        if !sub_path.is_empty() {
            validate_local_descending_path(errs, sub_path, &format!("{ip}.subPath"));
        }
        let expr = string(m, "subPathExpr");
        if !expr.is_empty() {
            if !sub_path.is_empty() {
                errs.invalid(
                    format!("{ip}.subPathExpr"),
                    expr,
                    "subPathExpr and subPath are mutually exclusive",
                );
            }
            validate_local_descending_path(errs, expr, &format!("{ip}.subPathExpr"));
        }
        if let Some(mp) = str_of(m, "mountPropagation") {
            errs.opt_one_of(
                format!("{ip}.mountPropagation"),
                Some(mp),
                &["None", "HostToContainer", "Bidirectional"],
            );
        }
    }
}

fn validate_local_descending_path(errs: &mut Errs, p: &str, path: &str) {
    if p.starts_with('/') {
        errs.invalid(path, p, "must be a relative path");
    }
    if p.split('/').any(|seg| seg == "..") {
        errs.invalid(path, p, "must not contain '..'");
    }
}

fn validate_mode(errs: &mut Errs, v: &Value, key: &str, path: &str) {
    if let Some(mode) = int_of(v, key)
        && !(0..=MAX_MODE).contains(&mode)
    {
        errs.invalid(
            format!("{path}.{key}"),
            mode,
            "must be a number between 0 and 0777 (octal), both inclusive",
        );
    }
}

fn validate_key_to_paths(errs: &mut Errs, items: &[Value], path: &str) {
    for (i, it) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        if string(it, "key").is_empty() {
            errs.required(format!("{ip}.key"), "");
        }
        validate_volume_file_path(errs, string(it, "path"), &format!("{ip}.path"));
        validate_mode(errs, it, "mode", &ip);
    }
}

fn validate_volume_file_path(errs: &mut Errs, p: &str, path: &str) {
    if p.is_empty() {
        errs.required(path, "");
        return;
    }
    validate_local_descending_path(errs, p, path);
    if p.split('/')
        .next()
        .is_some_and(|first| first.starts_with(".."))
    {
        errs.invalid(path, p, "must not start with '..'");
    }
}

/// Checks the volumes and returns their names.
fn validate_volumes(errs: &mut Errs, volumes: &[Value], path: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for (i, vol) in volumes.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let name = string(vol, "name");
        if name.is_empty() {
            errs.required(format!("{ip}.name"), "");
        } else {
            errs.invalid_each(&format!("{ip}.name"), name, names::is_dns1123_label(name));
            if !seen.insert(name.to_owned()) {
                errs.duplicate(format!("{ip}.name"), name);
            }
        }
        validate_volume_source(errs, vol, &ip);
    }
    seen
}

/// Fields a volume source cannot do without.
const REQUIRED_SOURCE_FIELDS: &[(&str, &str)] = &[
    ("hostPath", "path"),
    ("secret", "secretName"),
    ("configMap", "name"),
    ("persistentVolumeClaim", "claimName"),
    ("nfs", "server"),
    ("nfs", "path"),
    ("csi", "driver"),
    ("ephemeral", "volumeClaimTemplate"),
    ("image", "reference"),
];

fn validate_volume_source(errs: &mut Errs, vol: &Value, path: &str) {
    let mut found = 0;
    for &src in VOLUME_SOURCES {
        let Some(s) = field(vol, src) else { continue };
        found += 1;
        let sp = format!("{path}.{src}");
        if found > 1 {
            errs.forbidden(sp, "may not specify more than 1 volume type");
            continue;
        }
        for (_, key) in REQUIRED_SOURCE_FIELDS.iter().filter(|(k, _)| *k == src) {
            let missing = match field(s, key) {
                None => true,
                Some(Value::String(v)) => v.is_empty(),
                Some(_) => false,
            };
            if missing {
                errs.required(format!("{sp}.{key}"), "");
            }
        }
        match src {
            "hostPath" => {
                let p = string(s, "path");
                if p.split('/').any(|seg| seg == "..") {
                    errs.invalid(format!("{sp}.path"), p, "must not contain '..'");
                }
                errs.opt_one_of(format!("{sp}.type"), str_of(s, "type"), HOST_PATH_TYPES);
            }
            "emptyDir" => {
                if let Some(limit) = field(s, "sizeLimit") {
                    validate_quantity(errs, limit, &format!("{sp}.sizeLimit"));
                }
            }
            "secret" | "configMap" => {
                validate_mode(errs, s, "defaultMode", &sp);
                validate_key_to_paths(errs, arr_of(s, "items"), &format!("{sp}.items"));
            }
            "nfs" => {
                let p = string(s, "path");
                if !p.is_empty() && !p.starts_with('/') {
                    errs.invalid(format!("{sp}.path"), p, "must be an absolute path");
                }
            }
            "downwardAPI" => {
                validate_mode(errs, s, "defaultMode", &sp);
                validate_downward_items(errs, arr_of(s, "items"), &format!("{sp}.items"));
            }
            "projected" => {
                validate_mode(errs, s, "defaultMode", &sp);
                validate_projected(errs, s, &sp);
            }
            _ => {}
        }
    }
    if found == 0 {
        errs.required(path, "must specify a volume type");
    }
}

fn validate_downward_items(errs: &mut Errs, items: &[Value], path: &str) {
    for (i, it) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        validate_volume_file_path(errs, string(it, "path"), &format!("{ip}.path"));
        validate_mode(errs, it, "mode", &ip);
        match (field(it, "fieldRef"), field(it, "resourceFieldRef")) {
            (Some(fr), None) => {
                validate_field_ref(errs, fr, &format!("{ip}.fieldRef"), VOLUME_FIELD_PATHS)
            }
            (None, Some(_)) => {}
            (Some(_), Some(_)) => errs.invalid(
                ip,
                "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ),
            (None, None) => errs.required(ip, "one of fieldRef and resourceFieldRef is required"),
        }
    }
}

fn validate_projected(errs: &mut Errs, s: &Value, path: &str) {
    let mut all_paths: HashSet<String> = HashSet::new();
    for (i, src) in arr_of(s, "sources").iter().enumerate() {
        let ip = format!("{path}.sources[{i}]");
        let mut kinds = 0;
        for key in [
            "secret",
            "configMap",
            "downwardAPI",
            "serviceAccountToken",
            "clusterTrustBundle",
        ] {
            let Some(p) = field(src, key) else { continue };
            kinds += 1;
            if kinds > 1 {
                errs.forbidden(
                    format!("{ip}.{key}"),
                    "may not specify more than 1 volume type per source",
                );
                continue;
            }
            let kp = format!("{ip}.{key}");
            match key {
                "secret" | "configMap" => {
                    validate_key_to_paths(errs, arr_of(p, "items"), &format!("{kp}.items"))
                }
                "downwardAPI" => {
                    validate_downward_items(errs, arr_of(p, "items"), &format!("{kp}.items"))
                }
                "serviceAccountToken" => {
                    let tp = string(p, "path");
                    validate_volume_file_path(errs, tp, &format!("{kp}.path"));
                    if let Some(exp) = int_of(p, "expirationSeconds") {
                        if exp < 600 {
                            errs.invalid(
                                format!("{kp}.expirationSeconds"),
                                exp,
                                "may not specify a duration less than 10 minutes",
                            );
                        } else if exp > 1 << 32 {
                            errs.invalid(
                                format!("{kp}.expirationSeconds"),
                                exp,
                                "may not specify a duration larger than 2^32 seconds",
                            );
                        }
                    }
                }
                _ => {}
            }
            let paths: Vec<&str> = if key == "serviceAccountToken" {
                vec![string(p, "path")]
            } else {
                arr_of(p, "items")
                    .iter()
                    .map(|it| string(it, "path"))
                    .collect()
            };
            for pth in paths.into_iter().filter(|p| !p.is_empty()) {
                if !all_paths.insert(pth.to_owned()) {
                    errs.invalid(format!("{kp}.path"), pth, "conflicting duplicate paths");
                }
            }
        }
        if kinds == 0 {
            errs.required(ip, "must specify exactly 1 volume type per source");
        }
    }
}

fn validate_probe(errs: &mut Errs, p: &Value, path: &str) {
    validate_handler(errs, p, path, true);
    for key in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        errs.non_negative(format!("{path}.{key}"), int_of(p, key));
    }
    errs.positive(
        format!("{path}.terminationGracePeriodSeconds"),
        int_of(p, "terminationGracePeriodSeconds"),
    );
}

/// A probe (`probe` true) or lifecycle handler: exactly one action.
fn validate_handler(errs: &mut Errs, h: &Value, path: &str, probe: bool) {
    let kinds: &[&str] = if probe {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    } else {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    };
    let mut found = 0;
    for &k in kinds {
        let Some(a) = field(h, k) else { continue };
        let kp = format!("{path}.{k}");
        found += 1;
        if found > 1 {
            errs.forbidden(kp, "may not specify more than 1 handler type");
            continue;
        }
        match k {
            "exec" if arr_of(a, "command").is_empty() => {
                errs.required(format!("{kp}.command"), "");
            }
            "httpGet" => {
                if string(a, "path").is_empty() {
                    errs.required(format!("{kp}.path"), "");
                }
                validate_port_num_or_name(errs, &format!("{kp}.port"), field(a, "port"));
                errs.opt_one_of(format!("{kp}.scheme"), str_of(a, "scheme"), URI_SCHEMES);
                for (i, hdr) in arr_of(a, "httpHeaders").iter().enumerate() {
                    let n = string(hdr, "name");
                    if n.is_empty() || !n.bytes().all(|c| c.is_ascii_graphic() && c != b':') {
                        errs.invalid(
                            format!("{kp}.httpHeaders[{i}].name"),
                            n,
                            "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
                        );
                    }
                }
            }
            "tcpSocket" => validate_port_num_or_name(errs, &format!("{kp}.port"), field(a, "port")),
            "grpc" => {
                let port = int_of(a, "port").unwrap_or(0);
                for m in names::is_valid_port_num(port) {
                    errs.invalid(format!("{kp}.port"), port, &m);
                }
            }
            "sleep" => errs.non_negative(format!("{kp}.seconds"), int_of(a, "seconds")),
            _ => {}
        }
    }
    if found == 0 {
        errs.required(path, "must specify a handler type");
    }
}

pub fn validate_tolerations(errs: &mut Errs, tolerations: &[Value], path: &str) {
    for (i, t) in tolerations.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let key = string(t, "key");
        let op = string(t, "operator");
        let value = string(t, "value");
        let effect = string(t, "effect");
        if !key.is_empty() {
            errs.invalid_each(&format!("{ip}.key"), key, names::is_qualified_name(key));
        } else if op != "Exists" {
            errs.invalid(
                format!("{ip}.operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            );
        }
        if field(t, "tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.invalid(
                format!("{ip}.effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            );
        }
        match op {
            "" | "Equal" => {
                let msgs = names::is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.invalid(format!("{ip}.operator"), value, &msgs.join(";"));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.invalid(
                        format!("{ip}.operator"),
                        t,
                        "value must be empty when `operator` is 'Exists'",
                    );
                }
            }
            _ => errs.not_supported(format!("{ip}.operator"), op, TOLERATION_OPERATORS),
        }
        if !effect.is_empty() {
            errs.opt_one_of(format!("{ip}.effect"), Some(effect), TAINT_EFFECTS);
        }
    }
}

/// A quantity that must parse and not be negative.
pub fn validate_quantity(errs: &mut Errs, v: &Value, path: &str) -> Option<Quantity> {
    match Quantity::from_json(v) {
        Ok(q) if q.is_negative() => {
            errs.invalid(path, v, "must be greater than or equal to 0");
            Some(q)
        }
        Ok(q) => Some(q),
        Err(e) => {
            let detail = e.to_string();
            errs.invalid(
                path,
                v,
                if detail.is_empty() {
                    QUANTITY_SYNTAX_ERROR
                } else {
                    &detail
                },
            );
            None
        }
    }
}

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || is_hugepages(name)
}

/// Container `resources`: names, quantities, and requests no larger than limits.
pub fn validate_resources(errs: &mut Errs, res: &Value, path: &str) {
    let limits = parse_resource_list(errs, map_of(res, "limits"), &format!("{path}.limits"));
    let requests = parse_resource_list(errs, map_of(res, "requests"), &format!("{path}.requests"));
    for (name, (req, req_raw)) in &requests {
        let overcommit = is_native_resource(name) && !is_hugepages(name);
        match limits.get(name) {
            Some((lim, lim_raw)) => {
                let shown = |v: &Value| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                };
                if !overcommit && req != lim {
                    errs.invalid(
                        format!("{path}.requests"),
                        *req_raw,
                        &format!("must be equal to {name} limit of {}", shown(lim_raw)),
                    );
                } else if req > lim {
                    errs.invalid(
                        format!("{path}.requests"),
                        *req_raw,
                        &format!(
                            "must be less than or equal to {name} limit of {}",
                            shown(lim_raw)
                        ),
                    );
                }
            }
            None if !overcommit => errs.required(
                format!("{path}.limits"),
                "Limit must be set for non overcommitable resources",
            ),
            None => {}
        }
    }
}

fn parse_resource_list<'a>(
    errs: &mut Errs,
    list: Option<&'a Map<String, Value>>,
    path: &str,
) -> HashMap<&'a str, (Quantity, &'a Value)> {
    let mut out = HashMap::new();
    let Some(list) = list else { return out };
    for (name, v) in list {
        let p = format!("{path}[{name}]");
        let name_msgs = names::is_qualified_name(name);
        if !name_msgs.is_empty() {
            errs.invalid_each(&p, name, name_msgs);
        } else if !name.contains('/') {
            if !is_standard_container_resource(name) {
                errs.invalid(
                    &p,
                    name.as_str(),
                    "must be a standard resource for containers",
                );
            }
        } else if !is_native_resource(name) && name.starts_with("requests.") {
            errs.invalid(
                &p,
                name.as_str(),
                "doesn't follow extended resource name standard",
            );
        }
        if let Some(q) = validate_quantity(errs, v, &p) {
            if !is_native_resource(name) && q.milli_value() % 1000 != 0 {
                errs.invalid(&p, v, "must be an integer");
            }
            out.insert(name.as_str(), (q, v));
        }
    }
    out
}

const POD_UPDATE_MESSAGE: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// A Pod's spec may change only in a few places once created.
fn validate_pod_update(errs: &mut Errs, new: &Value, old: &Value) {
    // activeDeadlineSeconds may be set, or lowered, but not raised or removed.
    match (
        int_of(new, "activeDeadlineSeconds"),
        int_of(old, "activeDeadlineSeconds"),
    ) {
        (Some(n), Some(o)) if n > o => errs.invalid(
            "spec.activeDeadlineSeconds",
            n,
            "must be less than or equal to previous value",
        ),
        (None, Some(_)) => errs.invalid(
            "spec.activeDeadlineSeconds",
            &Value::Null,
            "must not update from a positive integer to nil value",
        ),
        _ => {}
    }

    // Tolerations may only be added (tolerationSeconds of existing ones may change).
    let new_tol = arr_of(new, "tolerations");
    for o in arr_of(old, "tolerations") {
        let found = new_tol.iter().any(|n| {
            let strip = |v: &Value| {
                let mut v = v.clone();
                if let Some(m) = v.as_object_mut() {
                    m.remove("tolerationSeconds");
                }
                v
            };
            semantic_eq(Some(&strip(n)), Some(&strip(o)))
        });
        if !found {
            errs.forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            );
            break;
        }
    }

    // Scheduling gates may only be removed.
    let old_gates: HashSet<&str> = arr_of(old, "schedulingGates")
        .iter()
        .map(|g| string(g, "name"))
        .collect();
    for g in arr_of(new, "schedulingGates") {
        let name = string(g, "name");
        if !old_gates.contains(name) {
            errs.forbidden(
                "spec.schedulingGates",
                &format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            );
        }
    }

    // Everything else must stay: copy the mutable parts of the old spec over the new.
    let mut munged = new.clone();
    let Some(m) = munged.as_object_mut() else {
        return;
    };
    for key in [
        "activeDeadlineSeconds",
        "tolerations",
        "terminationGracePeriodSeconds",
        "schedulingGates",
    ] {
        match old.get(key) {
            Some(v) => m.insert(key.to_owned(), v.clone()),
            None => m.remove(key),
        };
    }
    for key in ["containers", "initContainers"] {
        let old_list = arr_of(old, key);
        if let Some(list) = m.get_mut(key).and_then(Value::as_array_mut)
            && list.len() == old_list.len()
        {
            for (c, oc) in list.iter_mut().zip(old_list) {
                if let (Some(c), Some(img)) = (c.as_object_mut(), oc.get("image")) {
                    c.insert("image".to_owned(), img.clone());
                }
            }
        }
    }
    if !semantic_eq(Some(&munged), Some(old)) {
        let changed = changed_fields(&munged, old, "spec");
        let detail = if changed.is_empty() {
            POD_UPDATE_MESSAGE.to_owned()
        } else {
            format!("{POD_UPDATE_MESSAGE}\n  changed: {}", changed.join(", "))
        };
        errs.forbidden("spec", &detail);
    }
}

/// The paths where two JSON values differ, to the first level that differs.
fn changed_fields(new: &Value, old: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    match (new, old) {
        (Value::Object(n), Value::Object(o)) => {
            let mut keys: Vec<&String> = n.keys().chain(o.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                if !semantic_eq(n.get(k), o.get(k)) {
                    match (n.get(k), o.get(k)) {
                        (Some(a), Some(b)) if a.is_object() || a.is_array() => {
                            out.extend(changed_fields(a, b, &format!("{path}.{k}")))
                        }
                        _ => out.push(format!("{path}.{k}")),
                    }
                }
            }
        }
        (Value::Array(n), Value::Array(o)) if n.len() == o.len() => {
            for (i, (a, b)) in n.iter().zip(o).enumerate() {
                if !semantic_eq(Some(a), Some(b)) {
                    out.extend(changed_fields(a, b, &format!("{path}[{i}]")));
                }
            }
        }
        _ => out.push(path.to_owned()),
    }
    out
}

/// `selector` does not match template `labels`, with Go's rendering of the labels.
pub fn labels_mismatch(errs: &mut Errs, path: &str, labels: Option<&Map<String, Value>>) {
    errs.invalid(
        path,
        super::util::go_string_map(labels),
        "`selector` does not match template `labels`",
    );
}
