//! The two rollout strategies.
//!
//! RollingUpdate: grow the new ReplicaSet while the total stays within
//! `replicas + maxSurge`; shrink old ones while at least `replicas -
//! maxUnavailable` pods stay available, unhealthy old pods first.
//!
//! Recreate: shrink every old ReplicaSet to zero, wait until their pods are
//! gone, then create the new one at full size.

use std::collections::HashSet;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use verge_apimachinery::labels::Selector;
use verge_runtime::{Action, Error, Filter};

use super::sync::Sync;
use super::util;
use crate::replicaset::facts::{Phase, PodFacts};

impl Sync<'_> {
    pub async fn rollout_rolling(&mut self, rss: &[ReplicaSet]) -> Result<Action, Error> {
        let (new, old) = self.all_replica_sets(rss, true).await?;
        let new = new.ok_or_else(|| Error::Other("no new replica set".into()))?;
        let all: Vec<&ReplicaSet> = old.iter().chain([&new]).collect();

        if self.reconcile_new(&all, &new).await? {
            return self.sync_rollout_status(&all, Some(&new)).await;
        }
        let active_old: Vec<ReplicaSet> =
            old.iter().filter(|r| util::is_active(r)).cloned().collect();
        if self.reconcile_old(&all, active_old, &new).await? {
            return self.sync_rollout_status(&all, Some(&new)).await;
        }
        if let Some(status) = self.d.status.clone()
            && util::is_complete(&self.d, &status)
        {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(&all, Some(&new)).await
    }

    /// Grows (or shrinks) the new ReplicaSet toward `spec.replicas` within
    /// the surge budget. True if it was resized.
    async fn reconcile_new(
        &mut self,
        all: &[&ReplicaSet],
        new: &ReplicaSet,
    ) -> Result<bool, Error> {
        let want = util::desired(&self.d);
        let size = util::replicas(new);
        if size == want {
            return Ok(false);
        }
        let target = if size > want {
            want
        } else {
            util::new_rs_new_replicas(&self.d, all, new)
        };
        Ok(self.scale_rs_if_needed(new, target).await?.0)
    }

    /// Shrinks old ReplicaSets as far as availability allows. True if any
    /// was resized.
    async fn reconcile_old(
        &mut self,
        all: &[&ReplicaSet],
        mut old: Vec<ReplicaSet>,
        new: &ReplicaSet,
    ) -> Result<bool, Error> {
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        if util::sum(&old_refs, util::replicas) == 0 {
            return Ok(false);
        }
        let all_count = util::sum(all, util::replicas);
        let min_available = util::desired(&self.d) - util::max_unavailable(&self.d);
        // Unavailable new pods must not license removing available old ones.
        let new_unavailable = util::replicas(new) - util::available_replicas(new);
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        old.sort_by(util::by_creation);
        let cleaned = self.cleanup_unhealthy(&mut old, max_scaled_down).await?;
        let mut all_now: Vec<&ReplicaSet> = old.iter().collect();
        all_now.push(new);
        let scaled = self.scale_down_old(&all_now, &old).await?;
        Ok(cleaned + scaled > 0)
    }

    /// Removes old replicas that are not available anyway: scaling them
    /// down costs no availability. Updates `old` in place.
    async fn cleanup_unhealthy(&mut self, old: &mut [ReplicaSet], max: i32) -> Result<i32, Error> {
        let mut total = 0;
        for rs in old.iter_mut() {
            if total >= max {
                break;
            }
            let size = util::replicas(rs);
            let available = util::available_replicas(rs);
            if size == 0 || size <= available {
                continue;
            }
            let down = (max - total).min(size - available);
            let (_, updated) = self.scale_rs_if_needed(rs, size - down).await?;
            *rs = updated;
            total += down;
        }
        Ok(total)
    }

    /// Shrinks old ReplicaSets, oldest first, by what availability above
    /// `replicas - maxUnavailable` allows.
    async fn scale_down_old(
        &mut self,
        all: &[&ReplicaSet],
        old: &[ReplicaSet],
    ) -> Result<i32, Error> {
        let min_available = util::desired(&self.d) - util::max_unavailable(&self.d);
        let available = util::sum(all, util::countable_available);
        if available <= min_available {
            return Ok(0);
        }
        let budget = available - min_available;
        let mut total = 0;
        for rs in old {
            if total >= budget {
                break;
            }
            let size = util::replicas(rs);
            if size == 0 {
                continue;
            }
            let down = size.min(budget - total);
            self.scale_rs_if_needed(rs, size - down).await?;
            total += down;
        }
        Ok(total)
    }

    pub async fn rollout_recreate(
        &mut self,
        rss: &[ReplicaSet],
        selector: &Selector,
    ) -> Result<Action, Error> {
        let (mut new, mut old) = self.all_replica_sets(rss, false).await?;
        let active_old: Vec<ReplicaSet> =
            old.iter().filter(|r| util::is_active(r)).cloned().collect();
        let mut scaled = false;
        for rs in &active_old {
            scaled |= self.scale_rs_if_needed(rs, 0).await?.0;
        }
        if scaled || self.old_pods_running(new.as_ref(), &old, selector)? {
            let all: Vec<&ReplicaSet> = old.iter().chain(new.as_ref()).collect();
            return self.sync_rollout_status(&all, new.as_ref()).await;
        }
        if new.is_none() {
            (new, old) = self.all_replica_sets(rss, true).await?;
        }
        if let Some(rs) = &new {
            let want = util::desired(&self.d);
            let (_, updated) = self.scale_rs_if_needed(rs, want).await?;
            new = Some(updated);
        }
        if let Some(status) = self.d.status.clone()
            && util::is_complete(&self.d, &status)
        {
            self.cleanup(&old).await?;
        }
        let all: Vec<&ReplicaSet> = old.iter().chain(new.as_ref()).collect();
        self.sync_rollout_status(&all, new.as_ref()).await
    }

    /// Whether any pod of an old ReplicaSet still exists and has not
    /// finished, terminating ones included: Recreate promises the old and
    /// new pods never run together.
    fn old_pods_running(
        &self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
        selector: &Selector,
    ) -> Result<bool, Error> {
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        if util::sum(&old_refs, util::status_replicas) > 0 {
            return Ok(true);
        }
        let new_uid = new.and_then(|r| r.metadata.uid.as_deref());
        let old_uids: HashSet<&str> = old
            .iter()
            .filter_map(|r| r.metadata.uid.as_deref())
            .filter(|u| Some(*u) != new_uid)
            .collect();
        let client = self.client();
        let filter = Filter {
            prefix: client.prefix::<Pod>(Some(&self.ns))?,
            labels: Some(selector.clone()),
            fields: None,
        };
        Ok(client.list_cached(&filter).into_iter().any(|obj| {
            PodFacts::parse(obj).is_ok_and(|p| {
                p.controller
                    .as_ref()
                    .is_some_and(|c| old_uids.contains(c.uid.as_str()))
                    && !matches!(p.phase, Phase::Succeeded | Phase::Failed)
            })
        }))
    }
}
