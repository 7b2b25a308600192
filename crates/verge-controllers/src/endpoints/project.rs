//! What the endpoint controllers need of a pod, read from its JSON without
//! decoding the rest: a few dozen bytes per pod instead of the object.

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodPort {
    pub name: String,
    pub port: i32,
    pub protocol: String,
}

/// A pod as an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodEndpoint {
    pub name: String,
    pub uid: String,
    pub ip: Option<String>,
    pub node: Option<String>,
    pub hostname: Option<String>,
    pub subdomain: Option<String>,
    pub ready: bool,
    pub terminating: bool,
    /// Succeeded or Failed: never an endpoint.
    pub finished: bool,
    pub ports: Vec<PodPort>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Raw {
    metadata: RawMeta,
    spec: RawSpec,
    status: RawStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawMeta {
    name: Option<String>,
    uid: Option<String>,
    deletion_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawSpec {
    node_name: Option<String>,
    hostname: Option<String>,
    subdomain: Option<String>,
    containers: Option<Vec<RawContainer>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawContainer {
    ports: Option<Vec<RawPort>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawPort {
    name: Option<String>,
    container_port: i32,
    protocol: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawStatus {
    phase: Option<String>,
    #[serde(rename = "podIP")]
    pod_ip: Option<String>,
    conditions: Option<Vec<RawCondition>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

impl PodEndpoint {
    pub fn from_json(bytes: &[u8]) -> Option<PodEndpoint> {
        let raw: Raw = serde_json::from_slice(bytes).ok()?;
        let ready = raw
            .status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let ports = raw
            .spec
            .containers
            .unwrap_or_default()
            .into_iter()
            .flat_map(|c| c.ports.unwrap_or_default())
            .map(|p| PodPort {
                name: p.name.unwrap_or_default(),
                port: p.container_port,
                protocol: p.protocol.unwrap_or_else(|| "TCP".into()),
            })
            .collect();
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        Some(PodEndpoint {
            name: raw.metadata.name.unwrap_or_default(),
            uid: raw.metadata.uid.unwrap_or_default(),
            ip: non_empty(raw.status.pod_ip),
            node: non_empty(raw.spec.node_name),
            hostname: non_empty(raw.spec.hostname),
            subdomain: non_empty(raw.spec.subdomain),
            ready,
            terminating: raw.metadata.deletion_timestamp.is_some(),
            finished: matches!(raw.status.phase.as_deref(), Some("Succeeded" | "Failed")),
            ports,
        })
    }

    /// The container port a Service's `targetPort` names, by number or by
    /// name (with the same protocol).
    pub fn resolve(&self, target: &TargetPort, protocol: &str) -> Option<i32> {
        match target {
            TargetPort::Number(n) => Some(*n),
            TargetPort::Name(name) => self
                .ports
                .iter()
                .find(|p| p.name == *name && p.protocol == protocol)
                .map(|p| p.port),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetPort {
    Number(i32),
    Name(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_a_pod_and_resolves_named_ports() {
        let p = PodEndpoint::from_json(
            br#"{"metadata":{"name":"web-1","uid":"u","labels":{"a":"b"}},
                "spec":{"nodeName":"n1","containers":[{"name":"c","image":"x","ports":[{"name":"http","containerPort":8080},{"name":"dns","containerPort":53,"protocol":"UDP"}]}]},
                "status":{"phase":"Running","podIP":"10.1.0.5","conditions":[{"type":"Ready","status":"True"}]}}"#,
        )
        .expect("pod");
        assert_eq!(p.ip.as_deref(), Some("10.1.0.5"));
        assert!(p.ready && !p.terminating && !p.finished);
        assert_eq!(
            p.resolve(&TargetPort::Name("http".into()), "TCP"),
            Some(8080)
        );
        assert_eq!(p.resolve(&TargetPort::Name("dns".into()), "TCP"), None);
        assert_eq!(p.resolve(&TargetPort::Name("dns".into()), "UDP"), Some(53));
        assert_eq!(p.resolve(&TargetPort::Number(9), "TCP"), Some(9));
    }
}
