//! One reconcile of one Deployment: claiming its ReplicaSets, finding or
//! creating the new one, scaling, cleaning up history, and the writes
//! these need. The strategies are in `rollout`, status in `progress`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use verge_apimachinery::labels::Selector;
use verge_apiserver::status::{ApiError, Subject};
use verge_runtime::{Action, Client, DeleteOptions, Error, Filter, ObjectRef, Part};

use super::Controller;
use super::util::{self, HASH_LABEL, REVISION};
use crate::pods;

pub(super) struct Sync<'a> {
    pub ctrl: &'a Controller,
    /// The Deployment as last read or written.
    pub d: Deployment,
    pub me: ObjectRef,
    pub ns: String,
    pub name: String,
}

/// A write based on a ReplicaSet that has changed since it was read.
fn stale(name: &str) -> Error {
    Error::Api(ApiError::conflict(
        &Subject {
            qualified: "replicasets.apps",
            group: "apps",
            plural: "replicasets",
            name,
        },
        "the object has been modified; please apply your changes to the latest version and try again",
    ))
}

fn replaced(what: &str) -> Error {
    Error::Other(format!("{what} was replaced while being synced"))
}

pub(super) fn name_of(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or_default()
}

impl<'a> Sync<'a> {
    pub fn new(ctrl: &'a Controller, d: Deployment) -> Sync<'a> {
        Sync {
            ctrl,
            me: ObjectRef::of(&d),
            ns: d.metadata.namespace.clone().unwrap_or_default(),
            name: d.metadata.name.clone().unwrap_or_default(),
            d,
        }
    }

    pub fn client(&self) -> &Client {
        &self.ctrl.client
    }

    pub async fn run(mut self) -> Result<Action, Error> {
        let spec = self.d.spec.clone().unwrap_or_default();
        let selector = match pods::selector(Some(&spec.selector)) {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => {
                self.ctrl.recorder.warning(
                    &self.me,
                    "SelectingAll",
                    "This deployment is selecting all pods. A non-empty selector is required.",
                );
                let mut status = self.d.status.clone().unwrap_or_default();
                if status.observed_generation < self.d.metadata.generation {
                    status.observed_generation = self.d.metadata.generation;
                    self.write_status(status).await?;
                }
                return Ok(Action::Done);
            }
            Err(e) => {
                self.ctrl.recorder.warning(
                    &self.me,
                    "InvalidSelector",
                    &format!("Invalid selector: {e}"),
                );
                return Ok(Action::Done);
            }
        };
        let rss = self.replica_sets(&selector).await?;
        if self.d.metadata.deletion_timestamp.is_some() {
            let (new, old) = self.all_replica_sets(&rss, false).await?;
            self.sync_status(&old, new.as_ref()).await?;
            return Ok(Action::Done);
        }
        self.check_paused_conditions().await?;
        if spec.paused == Some(true) || self.is_scaling_event(&rss) {
            self.sync(&rss).await?;
            return Ok(Action::Done);
        }
        if util::is_rolling(&self.d) {
            self.rollout_rolling(&rss).await
        } else {
            self.rollout_recreate(&rss, &selector).await
        }
    }

    /// The ReplicaSets this Deployment controls, after adopting matching
    /// orphans and releasing those its selector no longer matches.
    async fn replica_sets(&self, selector: &Selector) -> Result<Vec<ReplicaSet>, Error> {
        let client = self.client();
        let filter = Filter {
            prefix: client.prefix::<ReplicaSet>(Some(&self.ns))?,
            labels: Some(selector.clone()),
            fields: None,
        };
        let mut seen = BTreeMap::new();
        for obj in client.list_cached(&filter) {
            seen.insert(obj.key.clone(), obj);
        }
        let owned = self.ctrl.index.lock().owned_by(&self.me.uid);
        for key in owned {
            if !seen.contains_key(&key)
                && let Some(obj) = client.cache().get_now(&key)
            {
                seen.insert(key, obj);
            }
        }
        let candidates = seen
            .values()
            .map(|o| Client::decode::<ReplicaSet>(o))
            .collect::<Result<Vec<_>, _>>()?;
        let deleting = self.d.metadata.deletion_timestamp.is_some();
        pods::claim::claim(client, &self.me, deleting, selector, candidates, None).await
    }

    /// A change of `spec.replicas` that the active ReplicaSets have not
    /// seen yet.
    fn is_scaling_event(&self, rss: &[ReplicaSet]) -> bool {
        let want = util::desired(&self.d);
        rss.iter()
            .filter(|rs| util::is_active(rs))
            .any(|rs| util::desired_annotation(rs).is_some_and(|d| d != want))
    }

    /// Splits the ReplicaSets into the new one (found, or created when
    /// `create`) and the old ones, bringing revisions up to date.
    pub async fn all_replica_sets(
        &mut self,
        rss: &[ReplicaSet],
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), Error> {
        let existing = util::find_new(&self.d, rss).cloned();
        let new_uid = existing.as_ref().and_then(|r| r.metadata.uid.clone());
        let old: Vec<ReplicaSet> = rss
            .iter()
            .filter(|r| new_uid.is_none() || r.metadata.uid != new_uid)
            .cloned()
            .collect();
        let new = self.new_replica_set(existing, &old, create).await?;
        Ok((new, old))
    }

    async fn new_replica_set(
        &mut self,
        existing: Option<ReplicaSet>,
        old: &[ReplicaSet],
        create: bool,
    ) -> Result<Option<ReplicaSet>, Error> {
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let new_revision = util::max_revision(&old_refs) + 1;
        let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);

        if let Some(existing) = existing {
            let mut copy = existing.clone();
            let annotated = util::set_new_rs_annotations(&self.d, &mut copy, new_revision, true);
            let min_ready_changed =
                copy.spec.as_ref().and_then(|s| s.min_ready_seconds) != min_ready;
            if annotated || min_ready_changed {
                let annotations = copy.metadata.annotations.clone();
                let uid = existing.metadata.uid.clone();
                let updated = self
                    .client()
                    .update::<ReplicaSet, _>(
                        Some(&self.ns),
                        name_of(&existing),
                        Part::Main,
                        |cur| {
                            if cur.metadata.uid != uid {
                                return Err(stale(name_of(&existing)));
                            }
                            cur.metadata.annotations = annotations.clone();
                            cur.spec
                                .get_or_insert_with(ReplicaSetSpec::default)
                                .min_ready_seconds = min_ready;
                            Ok(())
                        },
                    )
                    .await?;
                return Ok(Some(updated));
            }
            let revision = util::annotation(&copy, REVISION)
                .unwrap_or_default()
                .to_owned();
            self.set_revision(&revision).await?;
            let mut status = self.d.status.clone().unwrap_or_default();
            if util::progress_deadline(&self.d).is_some()
                && util::get_condition(&status, util::PROGRESSING).is_none()
            {
                util::set_condition(
                    &mut status,
                    util::condition(
                        util::PROGRESSING,
                        "True",
                        util::REASON_FOUND_NEW_RS,
                        format!("Found new replica set {:?}", name_of(&copy)),
                    ),
                );
                self.write_status(status).await?;
            }
            return Ok(Some(copy));
        }
        if !create {
            return Ok(None);
        }

        let rs = self.new_replica_set_object(old, new_revision);
        let rs_name = name_of(&rs).to_owned();
        let replicas = util::replicas(&rs);
        let mut already_existed = false;
        let created = match self.client().create(&rs).await {
            Ok(created) => created,
            Err(e) if e.is_already_exists() => {
                // Ours from a sync whose echo had not reached us, or a hash
                // collision with someone else's ReplicaSet.
                let found = self.client().get::<ReplicaSet>(Some(&self.ns), &rs_name)?;
                let ours = found.filter(|f| {
                    pods::controller_of(&f.metadata).is_some_and(|c| c.uid == self.me.uid)
                        && f.spec
                            .as_ref()
                            .and_then(|s| s.template.as_ref())
                            .zip(self.d.spec.as_ref().map(|s| &s.template))
                            .is_some_and(|(a, b)| util::equal_ignore_hash(a, b))
                });
                match ours {
                    Some(f) => {
                        already_existed = true;
                        f
                    }
                    None => {
                        let mut status = self.d.status.clone().unwrap_or_default();
                        status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                        tracing::info!(deployment = %self.me, replicaset = rs_name, "pod-template-hash collision; bumping collisionCount");
                        self.write_status(status).await?;
                        return Err(e);
                    }
                }
            }
            Err(e) => {
                if util::progress_deadline(&self.d).is_some() {
                    let mut status = self.d.status.clone().unwrap_or_default();
                    util::set_condition(
                        &mut status,
                        util::condition(
                            util::PROGRESSING,
                            "False",
                            util::REASON_RS_CREATE_ERROR,
                            format!(
                                "Failed to create new replica set {rs_name:?}: {}",
                                message(&e)
                            ),
                        ),
                    );
                    self.write_status(status).await?;
                }
                return Err(e);
            }
        };
        if !already_existed && replicas > 0 {
            self.ctrl.recorder.normal(
                &self.me,
                "ScalingReplicaSet",
                &format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
            );
        }
        self.set_revision(&new_revision.to_string()).await?;
        if !already_existed && util::progress_deadline(&self.d).is_some() {
            let mut status = self.d.status.clone().unwrap_or_default();
            util::set_condition(
                &mut status,
                util::condition(
                    util::PROGRESSING,
                    "True",
                    util::REASON_NEW_RS_CREATED,
                    format!("Created new replica set {rs_name:?}"),
                ),
            );
            self.write_status(status).await?;
        }
        Ok(Some(created))
    }

    /// The ReplicaSet for the Deployment's current template.
    fn new_replica_set_object(&self, old: &[ReplicaSet], revision: i64) -> ReplicaSet {
        let spec = self.d.spec.clone().unwrap_or_default();
        let collisions = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = pods::template_hash(
            &serde_json::to_value(&spec.template).unwrap_or_default(),
            collisions,
        );
        let mut template = spec.template.clone();
        let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(HASH_LABEL.into(), hash.clone());
        let mut selector: LabelSelector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(HASH_LABEL.into(), hash.clone());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("{}-{hash}", self.name)),
                namespace: Some(self.ns.clone()),
                labels: meta.labels.clone(),
                owner_references: Some(vec![self.me.controller_owner()]),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.push(&rs);
        let replicas = util::new_rs_new_replicas(&self.d, &all, &rs);
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(replicas);
        }
        util::set_new_rs_annotations(&self.d, &mut rs, revision, false);
        rs
    }

    /// Scaling and history cleanup without a rollout (paused, or a change
    /// of `spec.replicas` only).
    async fn sync(&mut self, rss: &[ReplicaSet]) -> Result<(), Error> {
        let (new, old) = self.all_replica_sets(rss, false).await?;
        self.scale(new.as_ref(), &old).await?;
        if self.d.spec.as_ref().and_then(|s| s.paused) == Some(true) {
            self.cleanup(&old).await?;
        }
        self.sync_status(&old, new.as_ref()).await
    }

    /// Resizes the ReplicaSets to a new `spec.replicas`: all of it to the
    /// only active one; mid-rollout, in proportion to their sizes.
    async fn scale(&mut self, new: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Result<(), Error> {
        let want = util::desired(&self.d);
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        if let Some(only) = util::active_or_latest(new, &old_refs) {
            if util::replicas(only) != want {
                self.scale_rs(only, want).await?;
            }
            return Ok(());
        }
        if util::is_saturated(&self.d, new) {
            for rs in old.iter().filter(|r| util::is_active(r)) {
                self.scale_rs(rs, 0).await?;
            }
            return Ok(());
        }
        if !util::is_rolling(&self.d) {
            return Ok(());
        }
        let mut all: Vec<&ReplicaSet> = old
            .iter()
            .chain(new)
            .filter(|r| util::is_active(r))
            .collect();
        let current = util::sum(&all, util::replicas);
        let allowed = if want > 0 {
            want + util::max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - current;
        if to_add > 0 {
            all.sort_by(|a, b| util::by_size_newer(a, b));
        } else if to_add < 0 {
            all.sort_by(|a, b| util::by_size_older(a, b));
        }
        let mut added = 0;
        let mut sizes = Vec::with_capacity(all.len());
        for rs in &all {
            let share = if to_add != 0 {
                util::proportion(rs, &self.d, to_add, added)
            } else {
                0
            };
            added += share;
            sizes.push(util::replicas(rs) + share);
        }
        if to_add != 0
            && let Some(first) = sizes.first_mut()
        {
            // Leftovers from rounding go to the largest.
            *first = (*first + to_add - added).max(0);
        }
        for (rs, size) in all.into_iter().zip(sizes) {
            self.scale_rs(rs, size).await?;
        }
        Ok(())
    }

    /// Scales `rs` to `size` only if its size differs.
    pub async fn scale_rs_if_needed(
        &mut self,
        rs: &ReplicaSet,
        size: i32,
    ) -> Result<(bool, ReplicaSet), Error> {
        if util::replicas(rs) == size {
            return Ok((false, rs.clone()));
        }
        self.scale_rs(rs, size).await
    }

    /// Sets `rs`'s size and replica annotations. True if the size changed.
    pub async fn scale_rs(
        &mut self,
        rs: &ReplicaSet,
        size: i32,
    ) -> Result<(bool, ReplicaSet), Error> {
        let want = util::desired(&self.d);
        let max = want + util::max_surge(&self.d);
        let old_size = util::replicas(rs);
        let resize = old_size != size;
        if !resize && !util::replicas_annotations_need_update(rs, want, max) {
            return Ok((false, rs.clone()));
        }
        let name = name_of(rs);
        let uid = rs.metadata.uid.clone();
        let updated = self
            .client()
            .update::<ReplicaSet, _>(Some(&self.ns), name, Part::Main, |cur| {
                // Decided on `old_size`: someone else resizing meanwhile
                // means deciding again.
                if cur.metadata.uid != uid || util::replicas(cur) != old_size {
                    return Err(stale(name));
                }
                cur.spec
                    .get_or_insert_with(ReplicaSetSpec::default)
                    .replicas = Some(size);
                util::set_replicas_annotations(cur, want, max);
                Ok(())
            })
            .await?;
        if resize {
            let direction = if size > old_size { "up" } else { "down" };
            self.ctrl.recorder.normal(
                &self.me,
                "ScalingReplicaSet",
                &format!("Scaled {direction} replica set {name} from {old_size} to {size}"),
            );
        }
        Ok((resize, updated))
    }

    /// Deletes the oldest unused ReplicaSets beyond `revisionHistoryLimit`.
    pub async fn cleanup(&mut self, old: &[ReplicaSet]) -> Result<(), Error> {
        let Some(limit) = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .filter(|l| *l != i32::MAX)
        else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .filter(|r| r.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = cleanable
            .len()
            .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
        if excess == 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| {
            util::revision(a)
                .cmp(&util::revision(b))
                .then_with(|| util::by_creation(a, b))
        });
        for rs in cleanable.into_iter().take(excess) {
            let settled =
                rs.status.as_ref().and_then(|s| s.observed_generation) >= rs.metadata.generation;
            if util::status_replicas(rs) != 0 || util::replicas(rs) != 0 || !settled {
                continue;
            }
            let opts = DeleteOptions {
                precondition_uid: rs.metadata.uid.clone(),
                ..DeleteOptions::default()
            };
            match self
                .client()
                .delete::<ReplicaSet>(Some(&self.ns), name_of(rs), &opts)
                .await
            {
                Ok(_) => {
                    tracing::info!(deployment = %self.me, replicaset = name_of(rs), "deleted old replica set beyond revisionHistoryLimit");
                }
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sets the Deployment's revision annotation (a metadata write).
    pub async fn set_revision(&mut self, revision: &str) -> Result<(), Error> {
        let mut probe = self.d.clone();
        if !util::set_deployment_revision(&mut probe, revision) {
            return Ok(());
        }
        let uid = self.d.metadata.uid.clone();
        self.d = self
            .client()
            .update::<Deployment, _>(Some(&self.ns), &self.name, Part::Main, |cur| {
                if cur.metadata.uid != uid {
                    return Err(replaced("the deployment"));
                }
                util::set_deployment_revision(cur, revision);
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Writes `status` unless it is what the Deployment has.
    pub async fn write_status(&mut self, status: DeploymentStatus) -> Result<(), Error> {
        if self.d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let uid = self.d.metadata.uid.clone();
        self.d = self
            .client()
            .update::<Deployment, _>(Some(&self.ns), &self.name, Part::Status, |cur| {
                if cur.metadata.uid != uid {
                    return Err(replaced("the deployment"));
                }
                cur.status = Some(status.clone());
                Ok(())
            })
            .await?;
        Ok(())
    }
}

pub(super) fn message(e: &Error) -> String {
    match e {
        Error::Api(api) => api.message.clone(),
        other => other.to_string(),
    }
}
