//! The controllers of `verge server`: they turn what users declare
//! (Deployments, DaemonSets, Jobs, Services, ...) into pods, endpoints and
//! tokens, collect garbage through ownerReferences, and watch over nodes —
//! without evicting the pods of edge nodes whose link is down.
//!
//! Every controller follows one shape (see `replicaset.rs`):
//! - one or more [`verge_runtime::Watcher`]s feed an event loop that keeps
//!   the indexes the controller needs (pods by owner uid, ...) and maps
//!   each change to the keys to reconcile;
//! - [`verge_runtime::run`] reconciles keys from a [`verge_runtime::Queue`]:
//!   read the current state from the watch cache, compare with the desired
//!   state, write the difference. Reconciles are level-based and idempotent,
//!   so a restart at any moment is safe.

pub mod clusterinfo;
pub mod cronjob;
pub mod csrapprover;
pub mod csrsigner;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod job;
pub mod nodegroup;
pub mod nodelifecycle;
pub mod pods;
pub mod replicaset;
pub mod serviceaccounts;
pub mod statefulset;
pub mod tokencleaner;

use std::sync::Arc;

use verge_apiserver::resources::Resources;
use verge_runtime::{Client, ControllerMetrics};

/// Every controller's name, as `--controllers` and logs know it.
pub const ALL: &[&str] = &[
    "replicaset",
    "deployment",
    "daemonset",
    "statefulset",
    "job",
    "cronjob",
    "garbagecollector",
    "endpoints",
    "serviceaccount",
    "nodelifecycle",
    "nodegroup",
    "csrapproving",
    "csrsigning",
    "clusterinfo",
    "tokencleaner",
];

/// Settings of the controllers that take any (`verge server` flags).
/// Fields are added per controller; `Default` gives Kubernetes' defaults.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub node_lifecycle: nodelifecycle::Settings,
    pub service_accounts: serviceaccounts::Settings,
    pub csr_signing: csrsigner::Settings,
    pub cluster_info: clusterinfo::Settings,
    pub token_cleaner: tokencleaner::Settings,
}

/// Starts the named controllers (all of [`ALL`] by default). Each runs
/// until the server stops.
pub fn start(
    resources: Arc<Resources>,
    metrics: Arc<ControllerMetrics>,
    enabled: &[String],
    settings: &Settings,
) -> tokio::task::JoinSet<()> {
    let mut set = tokio::task::JoinSet::new();
    let on = |name: &str| enabled.is_empty() || enabled.iter().any(|e| e == name);
    let client = |manager: &str| Client::new(resources.clone(), manager);
    if on("replicaset") {
        set.spawn(replicaset::run(
            client("replicaset-controller"),
            metrics.clone(),
        ));
    }
    if on("deployment") {
        set.spawn(deployment::run(
            client("deployment-controller"),
            metrics.clone(),
        ));
    }
    if on("daemonset") {
        set.spawn(daemonset::run(
            client("daemonset-controller"),
            metrics.clone(),
        ));
    }
    if on("statefulset") {
        set.spawn(statefulset::run(
            client("statefulset-controller"),
            metrics.clone(),
        ));
    }
    if on("job") {
        set.spawn(job::run(client("job-controller"), metrics.clone()));
    }
    if on("cronjob") {
        set.spawn(cronjob::run(client("cronjob-controller"), metrics.clone()));
    }
    if on("garbagecollector") {
        set.spawn(gc::run(client("garbage-collector"), metrics.clone()));
    }
    if on("endpoints") {
        set.spawn(endpoints::run(
            client("endpoint-controller"),
            metrics.clone(),
        ));
    }
    if on("serviceaccount") {
        set.spawn(serviceaccounts::run(
            client("serviceaccount-controller"),
            metrics.clone(),
            settings.service_accounts.clone(),
        ));
    }
    if on("nodelifecycle") {
        set.spawn(nodelifecycle::run(
            client("node-lifecycle-controller"),
            metrics.clone(),
            settings.node_lifecycle.clone(),
        ));
    }
    if on("nodegroup") {
        set.spawn(nodegroup::run(
            client("nodegroup-controller"),
            metrics.clone(),
        ));
    }
    if on("csrapproving") {
        set.spawn(csrapprover::run(
            client("certificatesigningrequest-approving-controller"),
            metrics.clone(),
        ));
    }
    if on("csrsigning") {
        set.spawn(csrsigner::run(
            client("certificatesigningrequest-signing-controller"),
            metrics.clone(),
            settings.csr_signing.clone(),
        ));
    }
    if on("clusterinfo") {
        set.spawn(clusterinfo::run(
            client("clusterinfo-controller"),
            metrics.clone(),
            settings.cluster_info.clone(),
        ));
    }
    if on("tokencleaner") {
        set.spawn(tokencleaner::run(
            client("token-cleaner"),
            metrics.clone(),
            settings.token_cleaner.clone(),
        ));
    }
    set
}
