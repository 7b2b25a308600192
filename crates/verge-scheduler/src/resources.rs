//! Resource arithmetic: what a pod requests and what a node offers, in the
//! integer units kube-scheduler uses (millicores for CPU, bytes for memory
//! and ephemeral storage, whole units for pods and extended resources).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use verge_apiserver::validation::objects::Quantity as Parsed;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const PODS: &str = "pods";

/// CPU a container without a CPU request is assumed to use when nodes are
/// scored (kube-scheduler's `DefaultMilliCPURequest`), so that spreading
/// still works for pods that request nothing.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory likewise (`DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// A set of resource amounts. Extended resources (`nvidia.com/gpu`,
/// `hugepages-2Mi`, ...) are kept sorted by name in `scalar`; most pods and
/// nodes have none, so a vector beats a map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Res {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral: i64,
    /// Pods a node accepts (allocatable only).
    pub pods: i64,
    pub scalar: Vec<(Arc<str>, i64)>,
}

impl Res {
    /// Reads a `requests`, `limits`, `allocatable` or `overhead` map.
    /// Quantities that do not parse count as zero: the API validated them,
    /// so this only guards against a store written by something else.
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Res {
        let mut r = Res::default();
        for (name, q) in list {
            let Ok(q) = Parsed::parse(&q.0) else {
                continue;
            };
            match name.as_str() {
                CPU => r.milli_cpu = clamp(q.milli_value()),
                MEMORY => r.memory = clamp(q.value()),
                EPHEMERAL_STORAGE => r.ephemeral = clamp(q.value()),
                PODS => r.pods = clamp(q.value()),
                other => r.set_scalar(other, clamp(q.value())),
            }
        }
        r
    }

    pub fn scalar(&self, name: &str) -> i64 {
        match self.scalar.binary_search_by(|(n, _)| (**n).cmp(name)) {
            Ok(i) => self.scalar[i].1,
            Err(_) => 0,
        }
    }

    pub fn set_scalar(&mut self, name: &str, value: i64) {
        match self.scalar.binary_search_by(|(n, _)| (**n).cmp(name)) {
            Ok(i) => self.scalar[i].1 = value,
            Err(i) => self.scalar.insert(i, (Arc::from(name), value)),
        }
    }

    fn combine(&mut self, other: &Res, f: impl Fn(i64, i64) -> i64) {
        self.milli_cpu = f(self.milli_cpu, other.milli_cpu);
        self.memory = f(self.memory, other.memory);
        self.ephemeral = f(self.ephemeral, other.ephemeral);
        self.pods = f(self.pods, other.pods);
        for (name, v) in &other.scalar {
            let cur = self.scalar(name);
            self.set_scalar(name, f(cur, *v));
        }
    }

    pub fn add(&mut self, other: &Res) {
        self.combine(other, i64::saturating_add);
    }

    pub fn sub(&mut self, other: &Res) {
        self.combine(other, i64::saturating_sub);
        // Drop extended resources that went back to zero, so equality and
        // iteration stay cheap on nodes whose GPU pods came and went.
        self.scalar.retain(|(_, v)| *v != 0);
    }

    pub fn max_with(&mut self, other: &Res) {
        self.combine(other, i64::max);
    }

    /// Nothing but (possibly) a pod slot is asked for.
    pub fn is_empty_request(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral == 0
            && self.scalar.iter().all(|(_, v)| *v == 0)
    }
}

fn clamp(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// One container's part in a pod's requests.
#[derive(Clone, Debug, Default)]
pub struct ContainerRequests {
    pub requests: Res,
    /// A restartable init container (`restartPolicy: Always`): a sidecar
    /// that keeps running beside the app containers.
    pub sidecar: bool,
}

/// What a pod asks of its node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    /// For the fit check: exactly what the pod requests.
    pub res: Res,
    /// For scoring: CPU and memory with the defaults for containers that
    /// request none.
    pub non_zero_cpu: i64,
    pub non_zero_memory: i64,
}

/// A pod's effective requests as Kubernetes computes them
/// (`resourcehelper.PodRequests`): app containers and sidecars run together;
/// each regular init container runs alone beside the sidecars started before
/// it; the pod needs the larger of the two phases, plus its overhead.
pub fn pod_requests(
    containers: &[ContainerRequests],
    init_containers: &[ContainerRequests],
    overhead: &Res,
) -> PodRequests {
    let total = |nonzero: bool| -> Res {
        let effective = |c: &ContainerRequests| -> Res {
            let mut r = c.requests.clone();
            if nonzero {
                if r.milli_cpu == 0 {
                    r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
                }
                if r.memory == 0 {
                    r.memory = DEFAULT_MEMORY_REQUEST;
                }
            }
            r
        };
        let mut reqs = Res::default();
        for c in containers {
            reqs.add(&effective(c));
        }
        let mut sidecars = Res::default();
        let mut init_peak = Res::default();
        for c in init_containers {
            let own = effective(c);
            let phase = if c.sidecar {
                reqs.add(&own);
                sidecars.add(&own);
                sidecars.clone()
            } else {
                let mut p = own;
                p.add(&sidecars);
                p
            };
            init_peak.max_with(&phase);
        }
        reqs.max_with(&init_peak);
        reqs.add(overhead);
        reqs
    };
    let res = total(false);
    let nz = total(true);
    PodRequests {
        res,
        non_zero_cpu: nz.milli_cpu,
        non_zero_memory: nz.memory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.to_owned())
    }

    fn res(pairs: &[(&str, &str)]) -> Res {
        Res::from_list(&pairs.iter().map(|(k, v)| ((*k).to_owned(), q(v))).collect())
    }

    fn c(pairs: &[(&str, &str)]) -> ContainerRequests {
        ContainerRequests {
            requests: res(pairs),
            sidecar: false,
        }
    }

    #[test]
    fn parses_units() {
        let r = res(&[
            ("cpu", "1500m"),
            ("memory", "1Gi"),
            ("ephemeral-storage", "2G"),
            ("pods", "110"),
            ("nvidia.com/gpu", "2"),
        ]);
        assert_eq!(r.milli_cpu, 1500);
        assert_eq!(r.memory, 1 << 30);
        assert_eq!(r.ephemeral, 2_000_000_000);
        assert_eq!(r.pods, 110);
        assert_eq!(r.scalar("nvidia.com/gpu"), 2);
        assert_eq!(r.scalar("example.com/foo"), 0);
        assert_eq!(res(&[("cpu", "0.1")]).milli_cpu, 100);
    }

    #[test]
    fn containers_add_up_and_init_containers_take_the_max() {
        let r = pod_requests(
            &[
                c(&[("cpu", "100m")]),
                c(&[("cpu", "200m"), ("memory", "1Mi")]),
            ],
            &[c(&[("cpu", "500m")]), c(&[("memory", "512Ki")])],
            &Res::default(),
        );
        assert_eq!(r.res.milli_cpu, 500, "the init container needs more");
        assert_eq!(r.res.memory, 1 << 20);
    }

    #[test]
    fn sidecars_run_beside_everything_after_them() {
        let sidecar = ContainerRequests {
            requests: res(&[("cpu", "100m")]),
            sidecar: true,
        };
        let r = pod_requests(
            &[c(&[("cpu", "200m")])],
            &[sidecar, c(&[("cpu", "250m")])],
            &Res::default(),
        );
        // App phase: 200m + 100m sidecar; the init phase: 250m + 100m.
        assert_eq!(r.res.milli_cpu, 350);
    }

    #[test]
    fn overhead_is_added_and_defaults_only_affect_scoring() {
        let r = pod_requests(&[c(&[])], &[], &res(&[("cpu", "10m"), ("memory", "1Ki")]));
        assert_eq!(r.res.milli_cpu, 10);
        assert_eq!(r.res.memory, 1024);
        assert_eq!(r.non_zero_cpu, DEFAULT_MILLI_CPU_REQUEST + 10);
        assert_eq!(r.non_zero_memory, DEFAULT_MEMORY_REQUEST + 1024);
    }

    #[test]
    fn extended_resources_add_and_subtract() {
        let mut a = res(&[("nvidia.com/gpu", "1")]);
        a.add(&res(&[("nvidia.com/gpu", "2"), ("example.com/fpga", "1")]));
        assert_eq!(a.scalar("nvidia.com/gpu"), 3);
        a.sub(&res(&[("nvidia.com/gpu", "3"), ("example.com/fpga", "1")]));
        assert!(a.scalar.is_empty());
        assert!(a.is_empty_request());
    }
}
