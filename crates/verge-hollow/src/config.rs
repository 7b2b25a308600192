//! What a fleet is made of: its nodes and its timings.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::Error;

/// One hollow node: the Node object it registers.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// The Node's name (also its Lease's name and its Hostname address).
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.taints`.
    pub taints: Vec<Taint>,
    /// `status.capacity`: `cpu`, `memory`, `pods`, `ephemeral-storage`,
    /// extended resources such as `nvidia.com/gpu`.
    pub capacity: BTreeMap<String, Quantity>,
    /// `status.allocatable`; `None`: the same as the capacity.
    pub allocatable: Option<BTreeMap<String, Quantity>>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// The InternalIP address; `None`: the fleet picks one from
    /// [`FleetConfig::node_ip_base`].
    pub internal_ip: Option<Ipv4Addr>,
    /// The network address of the node's pod block (`spec.podCIDR`, prefix
    /// [`FleetConfig::pod_cidr_prefix`]); `None`: the fleet picks one from
    /// [`FleetConfig::pod_ip_base`].
    pub pod_cidr: Option<Ipv4Addr>,
}

impl NodeSpec {
    /// A Linux/amd64 node with 4 CPUs, 8 GiB of memory, 100 GiB of ephemeral
    /// storage and room for 110 pods, labelled as kubelet labels its node
    /// (`kubernetes.io/hostname`, `kubernetes.io/os`, `kubernetes.io/arch` and
    /// their `beta.` forms).
    pub fn new(name: impl Into<String>) -> NodeSpec {
        let name = name.into();
        let labels = [
            ("kubernetes.io/hostname", name.as_str()),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("beta.kubernetes.io/arch", "amd64"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let capacity = [
            ("cpu", "4"),
            ("memory", "8Gi"),
            ("pods", "110"),
            ("ephemeral-storage", "100Gi"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Quantity(v.to_owned())))
        .collect();
        NodeSpec {
            name,
            labels,
            annotations: BTreeMap::new(),
            taints: Vec::new(),
            capacity,
            allocatable: None,
            unschedulable: false,
            internal_ip: None,
            pod_cidr: None,
        }
    }

    /// Adds (or replaces) a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> NodeSpec {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Sets a capacity entry (`"cpu"`, `"16"`; `"nvidia.com/gpu"`, `"2"`).
    pub fn capacity(
        mut self,
        resource: impl Into<String>,
        quantity: impl Into<String>,
    ) -> NodeSpec {
        self.capacity
            .insert(resource.into(), Quantity(quantity.into()));
        self
    }

    /// Adds a taint; `effect` is `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub fn taint(
        mut self,
        key: impl Into<String>,
        value: Option<&str>,
        effect: impl Into<String>,
    ) -> NodeSpec {
        self.taints.push(Taint {
            key: key.into(),
            value: value.map(str::to_owned),
            effect: effect.into(),
            time_added: None,
        });
        self
    }

    /// Sets `spec.unschedulable`.
    pub fn unschedulable(mut self, unschedulable: bool) -> NodeSpec {
        self.unschedulable = unschedulable;
        self
    }

    /// `kubernetes.io/arch`, or amd64.
    pub(crate) fn arch(&self) -> &str {
        self.labels
            .get("kubernetes.io/arch")
            .map_or("amd64", String::as_str)
    }

    /// `kubernetes.io/os`, or linux.
    pub(crate) fn os(&self) -> &str {
        self.labels
            .get("kubernetes.io/os")
            .map_or("linux", String::as_str)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let n = &self.name;
        let valid = !n.is_empty()
            && n.len() <= 253
            && n.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if valid {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "node name {n:?} is not a DNS subdomain (lower-case letters, digits, '-', '.')"
            )))
        }
    }
}

/// A fleet: its nodes and how often they talk to the API server.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The nodes to start with (more with [`Fleet::add_node`](crate::Fleet::add_node)).
    pub nodes: Vec<NodeSpec>,
    /// `spec.leaseDurationSeconds` of each node's Lease (kubelet: 40).
    pub lease_duration_seconds: i32,
    /// How often a node renews its Lease (kubelet: 10 s). Renewals of all
    /// nodes are spread evenly over this interval.
    pub lease_renew_interval: Duration,
    /// How often a node writes its status (Ready heartbeat) when nothing
    /// changed. It also writes at once when its Ready condition is not True
    /// (someone marked it Unknown) or it reconnects.
    pub status_report_interval: Duration,
    /// Node `i` (counting from 0 in the order nodes join) gets InternalIP
    /// `node_ip_base + i + 1` unless its spec names one.
    pub node_ip_base: Ipv4Addr,
    /// Node `i` gets the pod block `pod_ip_base + i * 2^(32 - pod_cidr_prefix)`
    /// unless its spec names one. Give fleets in different processes
    /// different bases.
    pub pod_ip_base: Ipv4Addr,
    /// Prefix length of each node's pod block (24: 253 pod addresses).
    pub pod_cidr_prefix: u8,
    /// Lease renewals in flight at once, fleet-wide. Leases have their own
    /// queue and workers, so a backlog of other writes never delays them.
    /// Needed: renewals per second × server latency (10,000 nodes renewing
    /// every 10 s at 50 ms each: 50).
    pub lease_concurrency: usize,
    /// Node registrations and status writes in flight at once, fleet-wide.
    pub node_status_concurrency: usize,
    /// Pod status writes and deletions in flight at once, fleet-wide.
    pub pod_concurrency: usize,
    /// First retry delay after an API error; doubles per failure.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// `fieldManager` of every write.
    pub field_manager: String,
}

impl Default for FleetConfig {
    fn default() -> FleetConfig {
        FleetConfig {
            nodes: Vec::new(),
            lease_duration_seconds: 40,
            lease_renew_interval: Duration::from_secs(10),
            status_report_interval: Duration::from_secs(60),
            node_ip_base: Ipv4Addr::new(10, 64, 0, 0),
            pod_ip_base: Ipv4Addr::new(10, 128, 0, 0),
            pod_cidr_prefix: 24,
            lease_concurrency: 64,
            node_status_concurrency: 16,
            pod_concurrency: 32,
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(30),
            field_manager: "verge-hollow".to_owned(),
        }
    }
}

impl FleetConfig {
    /// The defaults with these nodes.
    pub fn with_nodes(nodes: impl IntoIterator<Item = NodeSpec>) -> FleetConfig {
        FleetConfig {
            nodes: nodes.into_iter().collect(),
            ..FleetConfig::default()
        }
    }

    /// `count` default nodes named `{prefix}-0` … `{prefix}-{count-1}`.
    pub fn numbered(prefix: &str, count: usize) -> FleetConfig {
        FleetConfig::with_nodes((0..count).map(|i| NodeSpec::new(format!("{prefix}-{i}"))))
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::Config(what.to_owned()));
        if self.lease_duration_seconds <= 0 {
            return bad("lease_duration_seconds must be positive");
        }
        if self.lease_renew_interval.is_zero() || self.status_report_interval.is_zero() {
            return bad("lease_renew_interval and status_report_interval must be positive");
        }
        if !(8..=30).contains(&self.pod_cidr_prefix) {
            return bad("pod_cidr_prefix must be between 8 and 30");
        }
        if self.lease_concurrency == 0
            || self.node_status_concurrency == 0
            || self.pod_concurrency == 0
        {
            return bad("lease, node status and pod concurrency must be at least 1");
        }
        if self.retry_base.is_zero() || self.retry_max < self.retry_base {
            return bad("retry_base must be positive and at most retry_max");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_node() {
        let n = NodeSpec::new("edge-1")
            .label("node-role.kubernetes.io/edge", "")
            .capacity("nvidia.com/gpu", "2")
            .taint("dedicated", Some("gpu"), "NoSchedule")
            .unschedulable(true);
        assert_eq!(n.labels["kubernetes.io/hostname"], "edge-1");
        assert_eq!(n.labels["kubernetes.io/os"], "linux");
        assert_eq!(n.arch(), "amd64");
        assert_eq!(n.capacity["cpu"].0, "4");
        assert_eq!(n.capacity["memory"].0, "8Gi");
        assert_eq!(n.capacity["pods"].0, "110");
        assert_eq!(n.capacity["nvidia.com/gpu"].0, "2");
        assert_eq!(n.taints[0].effect, "NoSchedule");
        assert!(n.unschedulable);
        assert!(n.validate().is_ok());
        assert!(NodeSpec::new("Bad_Name").validate().is_err());
        assert!(NodeSpec::new("").validate().is_err());
        assert!(NodeSpec::new("a.b-c.d").validate().is_ok());
    }

    #[test]
    fn config_validation() {
        assert!(FleetConfig::numbered("n", 3).validate().is_ok());
        assert_eq!(FleetConfig::numbered("n", 3).nodes[2].name, "n-2");
        let c = FleetConfig {
            pod_concurrency: 0,
            ..FleetConfig::default()
        };
        assert!(c.validate().is_err());
        let c = FleetConfig {
            lease_renew_interval: Duration::ZERO,
            ..FleetConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
