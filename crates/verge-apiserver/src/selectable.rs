//! Which fields each resource can be selected by (`--field-selector`), and
//! their values. Extracted once per change by the watch cache, so filtering a
//! list never parses objects.

use serde_json::Value;

/// Fields every resource supports.
const COMMON: &[&str] = &["metadata.name", "metadata.namespace"];

const POD: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];

const EVENT: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// Resource-specific selectable fields, by (group, plural).
fn specific(group: &str, plural: &str) -> &'static [&'static str] {
    match (group, plural) {
        ("", "pods") => POD,
        ("", "events") => EVENT,
        ("", "secrets") => &["type"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("", "replicationcontrollers") => &["status.replicas"],
        ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        ("certificates.k8s.io", "certificatesigningrequests") => &["spec.signerName"],
        _ => &[],
    }
}

pub fn is_supported(group: &str, plural: &str, field: &str) -> bool {
    COMMON.contains(&field) || specific(group, plural).contains(&field)
}

/// Every selectable field of `obj` with its value rendered as a string
/// (missing fields are absent; selectors compare them as "").
pub fn extract(group: &str, plural: &str, obj: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for field in COMMON.iter().chain(specific(group, plural)) {
        if let Some(v) = lookup(obj, field) {
            out.push((*field, v));
        }
    }
    out
}

fn lookup(obj: &Value, dotted: &str) -> Option<String> {
    let v = dotted.split('.').try_fold(obj, |v, part| v.get(part))?;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        // `source` on events is an object: select by its component.
        Value::Object(o) => o
            .get("component")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_pod_fields() {
        let pod = json!({"metadata":{"name":"p","namespace":"ns"},"spec":{"nodeName":"n1","hostNetwork":true},"status":{"phase":"Running"}});
        let f = extract("", "pods", &pod);
        assert!(f.contains(&("spec.nodeName", "n1".to_string())));
        assert!(f.contains(&("status.phase", "Running".to_string())));
        assert!(f.contains(&("spec.hostNetwork", "true".to_string())));
        assert!(f.contains(&("metadata.namespace", "ns".to_string())));
        assert!(is_supported("", "pods", "spec.nodeName"));
        assert!(!is_supported("apps", "deployments", "spec.nodeName"));
    }
}
