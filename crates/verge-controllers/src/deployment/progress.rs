//! A Deployment's status: replica counts summed over its ReplicaSets, and
//! the Available, Progressing (with its deadline) and ReplicaFailure
//! conditions.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use verge_runtime::{Action, Error};

use super::sync::{Sync, name_of};
use super::util::{self, PROGRESSING};

/// Counts and the Available condition, keeping the other conditions.
pub(super) fn calculate(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
) -> DeploymentStatus {
    let available = util::sum(all, util::available_replicas);
    let total = util::sum(all, util::replicas);
    let old = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(util::sum(all, util::status_replicas)),
        updated_replicas: Some(new.map_or(0, util::status_replicas)),
        ready_replicas: Some(util::sum(all, util::ready_replicas)),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: old.terminating_replicas,
    };
    let minimum = util::desired(d) - util::max_unavailable(d);
    let available_cond = if available >= minimum {
        util::condition(
            util::AVAILABLE,
            "True",
            util::REASON_MIN_AVAILABLE,
            "Deployment has minimum availability.".into(),
        )
    } else {
        util::condition(
            util::AVAILABLE,
            "False",
            util::REASON_MIN_UNAVAILABLE,
            "Deployment does not have minimum availability.".into(),
        )
    };
    util::set_condition(&mut status, available_cond);
    status
}

/// The ReplicaFailure conditions to surface: the new ReplicaSet's, or
/// failing that, any old one's.
fn replica_failure(all: &[&ReplicaSet], new: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure = |rs: &ReplicaSet| {
        rs.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == util::REPLICA_FAILURE))
            .map(util::from_rs_condition)
    };
    new.and_then(failure)
        .or_else(|| all.iter().find_map(|rs| failure(rs)))
}

impl Sync<'_> {
    /// Status outside a rollout (paused, scaling, being deleted).
    pub async fn sync_status(
        &mut self,
        old: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<(), Error> {
        let all: Vec<&ReplicaSet> = old.iter().chain(new).collect();
        let status = calculate(&self.d, &all, new);
        self.write_status(status).await
    }

    /// Status during and after a rollout: also judges progress against the
    /// deadline, and says when to look again if nothing else happens.
    pub async fn sync_rollout_status(
        &mut self,
        all: &[&ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<Action, Error> {
        let mut status = calculate(&self.d, all, new);
        let has_deadline = util::progress_deadline(&self.d).is_some();
        if !has_deadline {
            util::remove_condition(&mut status, PROGRESSING);
        }
        let current = self
            .d
            .status
            .as_ref()
            .and_then(|s| util::get_condition(s, PROGRESSING))
            .cloned();
        let finished = status.replicas == status.updated_replicas
            && current.as_ref().and_then(|c| c.reason.as_deref())
                == Some(util::REASON_NEW_RS_AVAILABLE);
        if has_deadline && !finished {
            let rs_name = new.map(name_of);
            if util::is_complete(&self.d, &status) {
                let msg = match rs_name {
                    Some(n) => format!("ReplicaSet {n:?} has successfully progressed."),
                    None => "Deployment has successfully progressed.".into(),
                };
                util::set_condition(
                    &mut status,
                    util::condition(PROGRESSING, "True", util::REASON_NEW_RS_AVAILABLE, msg),
                );
            } else if util::is_progressing(&self.d, &status) {
                let msg = match rs_name {
                    Some(n) => format!("ReplicaSet {n:?} is progressing."),
                    None => format!("Deployment {:?} is progressing.", self.name),
                };
                // Progress refreshes lastUpdateTime even with the same
                // reason: that is what the deadline counts from.
                let mut c = util::condition(PROGRESSING, "True", util::REASON_RS_UPDATED, msg);
                if let Some(cur) = &current
                    && cur.status == "True"
                {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                util::remove_condition(&mut status, PROGRESSING);
                util::set_condition(&mut status, c);
            } else if util::timed_out(&self.d, &status, util::now()) {
                let msg = match rs_name {
                    Some(n) => format!("ReplicaSet {n:?} has timed out progressing."),
                    None => format!("Deployment {:?} has timed out progressing.", self.name),
                };
                util::set_condition(
                    &mut status,
                    util::condition(PROGRESSING, "False", util::REASON_TIMED_OUT, msg),
                );
            }
        }
        match replica_failure(all, new) {
            Some(c) => util::set_condition(&mut status, c),
            None => util::remove_condition(&mut status, util::REPLICA_FAILURE),
        }
        self.write_status(status).await?;
        Ok(self.recheck_deadline())
    }

    /// When a rollout in progress must be checked against its deadline
    /// even if nothing changes.
    fn recheck_deadline(&self) -> Action {
        let Some(status) = &self.d.status else {
            return Action::Done;
        };
        if util::is_complete(&self.d, status)
            || util::get_condition(status, PROGRESSING)
                .is_some_and(|c| c.reason.as_deref() == Some(util::REASON_TIMED_OUT))
        {
            return Action::Done;
        }
        match util::deadline_at(&self.d, status) {
            Some(at) => {
                let left = at.as_second() - util::now().as_second() + 1;
                Action::RequeueAfter(Duration::from_secs(left.clamp(1, i64::MAX) as u64))
            }
            None => Action::Done,
        }
    }

    /// Records pausing and resuming in the Progressing condition, so a
    /// paused rollout is not mistaken for a stuck one.
    pub async fn check_paused_conditions(&mut self) -> Result<(), Error> {
        if util::progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let mut status = self.d.status.clone().unwrap_or_default();
        let reason = util::get_condition(&status, PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(util::REASON_TIMED_OUT) {
            return Ok(());
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused) == Some(true);
        let marked = reason.as_deref() == Some(util::REASON_PAUSED);
        let c = if paused && !marked {
            util::condition(
                PROGRESSING,
                "Unknown",
                util::REASON_PAUSED,
                "Deployment is paused".into(),
            )
        } else if !paused && marked {
            util::condition(
                PROGRESSING,
                "Unknown",
                util::REASON_RESUMED,
                "Deployment is resumed".into(),
            )
        } else {
            return Ok(());
        };
        util::set_condition(&mut status, c);
        self.write_status(status).await
    }
}
