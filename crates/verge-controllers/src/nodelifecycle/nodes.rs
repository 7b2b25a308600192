//! The node reconcile: conditions of silent nodes, taints that follow
//! conditions, and the timer for the end of the grace period.

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use verge_runtime::{Action, Error, ObjectRef, Part};

use super::{Readiness, Seen, Shared, health, taints};

/// Brings one node's conditions and taints in line with what is known of
/// it, and arms the timer for the end of its grace period.
pub(super) async fn reconcile_node(sh: Arc<Shared>, name: String) -> Result<Action, Error> {
    let Some(mut node) = sh.client.get::<Node>(None, &name)? else {
        return Ok(Action::Done);
    };
    let now = Instant::now();
    let grace = health::grace(
        node.status.as_ref(),
        sh.settings.node_monitor_grace_period,
        sh.settings.node_startup_grace_period,
    );
    let deadline = sh.state.lock().health.last_heard(&name, now) + grace;
    if now >= deadline {
        let mut probe = node.status.clone().unwrap_or_default();
        let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if health::mark_unknown(&mut probe, created, Timestamp::now()) {
            let was = Readiness::of(&node);
            node = sh
                .client
                .update::<Node, _>(None, &name, Part::Status, |n| {
                    let status = n.status.get_or_insert_with(Default::default);
                    health::mark_unknown(status, created, Timestamp::now());
                    Ok(())
                })
                .await?;
            tracing::info!(node = %name, silent_for = ?now.duration_since(deadline - grace), "node stopped reporting; its status is now Unknown");
            if was != Readiness::Unknown {
                sh.node_events.normal(
                    &ObjectRef::of(&node),
                    "NodeNotReady",
                    &format!("Node {name} status is now: NodeNotReady"),
                );
            }
        }
    } else if sh.state.lock().health.arm(&name, deadline, now) {
        sh.nodes_q.add_after(name.clone(), deadline - now);
    }

    let readiness = Readiness::of(&node);
    let zone = Seen::of(&node).zone;
    let current = taints::current_no_execute(&node);
    let mut retry_in = None;
    let no_execute = {
        let mut st = sh.state.lock();
        match readiness.taint_key() {
            None => None,
            Some(_) if st.zones.all_disrupted() => None,
            // Swapping not-ready for unreachable (or back) is not a new
            // eviction: no token needed.
            Some(key) if current.is_some() => Some(key),
            Some(key) => match st.zones.take(&zone, now) {
                Ok(()) => Some(key),
                Err(wait) => {
                    retry_in = wait;
                    None
                }
            },
        }
    };
    let wanted = taints::wanted_no_schedule(&node);
    if taints::with_owned_taints(taints::taints(&node), &wanted, no_execute, Timestamp::now())
        .is_some()
    {
        let updated = sh
            .client
            .update::<Node, _>(None, &name, Part::Main, |n| {
                // A newer node may have changed state meanwhile: keep its
                // NoExecute taint unless it is the one this pass decided on.
                let fresh = Readiness::of(n);
                let no_execute = if fresh == readiness {
                    no_execute
                } else {
                    taints::current_no_execute(n)
                };
                let wanted = taints::wanted_no_schedule(n);
                if let Some(new) = taints::with_owned_taints(
                    taints::taints(n),
                    &wanted,
                    no_execute,
                    Timestamp::now(),
                ) {
                    n.spec.get_or_insert_with(Default::default).taints =
                        (!new.is_empty()).then_some(new);
                }
                Ok(())
            })
            .await?;
        tracing::info!(
            node = %name,
            readiness = ?readiness,
            taints = ?taints::taints(&updated).iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>(),
            "node taints updated"
        );
    }
    if let Some(wait) = retry_in {
        tracing::debug!(node = %name, zone = %zone, ?wait, "eviction rate limit: NoExecute taint waits");
        sh.nodes_q.add_after(name, wait);
    }
    Ok(Action::Done)
}
