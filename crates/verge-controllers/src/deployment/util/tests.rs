use super::*;
use k8s_openapi::api::apps::v1::{
    DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus, RollingUpdateDeployment,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(surge),
                    max_unavailable: Some(unavailable),
                }),
            }),
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn pct(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}

fn rs(name: &str, created: i64, replicas: i32, available: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            creation_timestamp: Some(Time(
                jiff::Timestamp::from_second(1_700_000_000 + created).expect("ts"),
            )),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            ..ReplicaSetSpec::default()
        }),
        status: Some(ReplicaSetStatus {
            replicas,
            available_replicas: Some(available),
            ..ReplicaSetStatus::default()
        }),
    }
}

#[test]
fn percentages_round_like_kube() {
    // 25% of 10: surge rounds up to 3, unavailability down to 2.
    let d = deployment(10, pct("25%"), pct("25%"));
    assert_eq!((max_surge(&d), max_unavailable(&d)), (3, 2));
    // Both zero would never progress: unavailability becomes 1.
    let d = deployment(3, pct("10%"), pct("10%"));
    assert_eq!(resolve_fenceposts(&d, 3), (1, 0));
    let d = deployment(3, IntOrString::Int(0), pct("10%"));
    assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 1));
    // Never more unavailable than desired.
    let d = deployment(2, IntOrString::Int(0), IntOrString::Int(5));
    assert_eq!(max_unavailable(&d), 2);
    assert!(scaled_value(&pct("abc"), 10, true).is_err());
    assert_eq!(scaled_value(&pct("100%"), 7, false), Ok(7));
    // Recreate has no surge and no unavailability budget.
    let mut d = deployment(4, pct("50%"), pct("50%"));
    if let Some(s) = d.spec.as_mut() {
        s.strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
    }
    assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 0));
}

#[test]
fn new_replica_set_grows_within_the_surge() {
    let d = deployment(10, IntOrString::Int(3), IntOrString::Int(2));
    let old = rs("old", 0, 10, 10);
    let new = rs("new", 1, 0, 0);
    assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 3);
    let old = rs("old", 0, 8, 8);
    let new = rs("new", 1, 5, 0);
    assert_eq!(
        new_rs_new_replicas(&d, &[&old, &new], &new),
        5,
        "at 13 already"
    );
    let old = rs("old", 0, 2, 2);
    let new = rs("new", 1, 9, 9);
    assert_eq!(
        new_rs_new_replicas(&d, &[&old, &new], &new),
        10,
        "not past desired"
    );
}

#[test]
fn the_surge_counts_pods_a_scale_down_has_not_removed_yet() {
    let d = deployment(6, IntOrString::Int(1), IntOrString::Int(1));
    // The old set was shrunk to 4, but its controller still holds 5 pods.
    let mut old = rs("old", 0, 4, 4);
    if let Some(s) = old.status.as_mut() {
        s.replicas = 5;
    }
    let new = rs("new", 1, 2, 2);
    assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 2, "7 live");
    let old = rs("old", 0, 4, 4);
    assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 3);
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    // kube's example: 10 replicas, surge 3; old 8 and new 5 when the user
    // scales to 15: 18 allowed, 5 to add, split 3 (old) and 2 (new).
    let mut d = deployment(15, IntOrString::Int(3), IntOrString::Int(2));
    d.status = Some(DeploymentStatus {
        replicas: Some(13),
        ..DeploymentStatus::default()
    });
    let mut old = rs("old", 0, 8, 8);
    let mut new = rs("new", 1, 5, 0);
    for r in [&mut old, &mut new] {
        set_replicas_annotations(r, 10, 13);
    }
    let mut all = [&old, &new];
    all.sort_by(|a, b| by_size_newer(a, b));
    let first = proportion(all[0], &d, 5, 0);
    let second = proportion(all[1], &d, 5, first);
    assert_eq!((first, second), (3, 2));
    // Scaling to zero takes everything away.
    let zero = deployment(0, IntOrString::Int(3), IntOrString::Int(2));
    assert_eq!(proportion(&old, &zero, -13, 0), -8);
}

#[test]
fn the_new_replica_set_is_the_oldest_with_the_same_template() {
    let template = |image: &str, hash: Option<&str>| -> PodTemplateSpec {
        let mut labels = json!({"app": "web"});
        if let Some(h) = hash {
            labels[HASH_LABEL] = json!(h);
        }
        serde_json::from_value(json!({
            "metadata": {"labels": labels, "annotations": {}},
            "spec": {"containers": [{"name": "c", "image": image, "env": []}]}
        }))
        .expect("template")
    };
    let mut d = deployment(1, pct("25%"), pct("25%"));
    if let Some(s) = d.spec.as_mut() {
        s.template = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}
        }))
        .expect("template");
    }
    let with = |mut r: ReplicaSet, t: PodTemplateSpec| {
        r.spec.get_or_insert_with(Default::default).template = Some(t);
        r
    };
    let rss = vec![
        with(rs("v1", 0, 0, 0), template("nginx:1", Some("aaa"))),
        with(rs("v2-newer", 20, 0, 0), template("nginx:2", Some("ccc"))),
        with(rs("v2", 10, 1, 1), template("nginx:2", Some("bbb"))),
    ];
    let found = find_new(&d, &rss).expect("found");
    assert_eq!(found.metadata.name.as_deref(), Some("v2"));
}

#[test]
fn revisions_move_to_the_new_replica_set_and_remember_their_history() {
    let mut d = deployment(3, pct("25%"), pct("25%"));
    d.metadata.annotations = Some(
        [
            ("kubernetes.io/change-cause", "set image"),
            ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
            (REVISION, "4"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into(),
    );
    let mut fresh = rs("new", 0, 0, 0);
    assert!(set_new_rs_annotations(&d, &mut fresh, 1, false));
    assert_eq!(annotation(&fresh, REVISION), Some("1"));
    assert_eq!(annotation(&fresh, DESIRED_REPLICAS), Some("3"));
    assert_eq!(annotation(&fresh, MAX_REPLICAS), Some("4"));
    assert_eq!(
        annotation(&fresh, "kubernetes.io/change-cause"),
        Some("set image")
    );
    assert_eq!(
        annotation(&fresh, "kubectl.kubernetes.io/last-applied-configuration"),
        None
    );
    assert!(
        !set_new_rs_annotations(&d, &mut fresh, 1, true),
        "no change"
    );

    // A rollback makes revision 1 the newest again: it becomes 3 and
    // remembers 1.
    assert!(set_new_rs_annotations(&d, &mut fresh, 3, true));
    assert_eq!(annotation(&fresh, REVISION), Some("3"));
    assert_eq!(annotation(&fresh, REVISION_HISTORY), Some("1"));
    assert!(set_new_rs_annotations(&d, &mut fresh, 5, true));
    assert_eq!(annotation(&fresh, REVISION_HISTORY), Some("1,3"));
    assert_eq!(max_revision(&[&fresh, &rs("x", 0, 0, 0)]), 5);

    assert!(set_deployment_revision(&mut d, "5"));
    assert!(!set_deployment_revision(&mut d, "5"));
}

#[test]
fn active_or_latest_picks_the_only_active_one() {
    let a = rs("a", 0, 0, 0);
    let b = rs("b", 10, 3, 3);
    let c = rs("c", 20, 0, 0);
    let pick = |new: Option<&ReplicaSet>, old: &[&ReplicaSet]| {
        active_or_latest(new, old).and_then(|r| r.metadata.name.clone())
    };
    assert_eq!(pick(Some(&c), &[&a, &b]).as_deref(), Some("b"));
    assert_eq!(pick(None, &[&a, &c]).as_deref(), Some("c"), "newest old");
    assert_eq!(pick(Some(&a), &[&c]).as_deref(), Some("a"), "new first");
    let d = rs("d", 30, 1, 1);
    assert_eq!(pick(Some(&d), &[&b]), None, "two active");
}

#[test]
fn conditions_keep_their_transition_time_while_status_holds() {
    let mut s = DeploymentStatus::default();
    let mut first = condition(PROGRESSING, "True", REASON_RS_UPDATED, "a".into());
    first.last_transition_time = Some(Time(jiff::Timestamp::UNIX_EPOCH));
    set_condition(&mut s, first);
    set_condition(
        &mut s,
        condition(PROGRESSING, "True", REASON_RS_UPDATED, "b".into()),
    );
    assert_eq!(
        get_condition(&s, PROGRESSING).and_then(|c| c.message.as_deref()),
        Some("a"),
        "same status and reason: unchanged"
    );
    set_condition(
        &mut s,
        condition(PROGRESSING, "True", REASON_NEW_RS_AVAILABLE, "c".into()),
    );
    let c = get_condition(&s, PROGRESSING).expect("cond");
    assert_eq!(c.message.as_deref(), Some("c"));
    assert_eq!(
        c.last_transition_time,
        Some(Time(jiff::Timestamp::UNIX_EPOCH))
    );
    remove_condition(&mut s, PROGRESSING);
    assert!(s.conditions.is_none());
}

#[test]
fn a_rollout_times_out_from_its_last_progress() {
    let mut d = deployment(1, pct("25%"), pct("25%"));
    if let Some(spec) = d.spec.as_mut() {
        spec.progress_deadline_seconds = Some(10);
    }
    let mut s = DeploymentStatus::default();
    let mut c = condition(PROGRESSING, "True", REASON_RS_UPDATED, "x".into());
    let t0 = jiff::Timestamp::from_second(1_000).expect("ts");
    c.last_update_time = Some(Time(t0));
    set_condition(&mut s, c);
    let secs = |n| t0 + jiff::SignedDuration::from_secs(n);
    assert_eq!(deadline_at(&d, &s), Some(secs(10)));
    assert!(!timed_out(&d, &s, secs(10)));
    assert!(timed_out(&d, &s, secs(11)));
    set_condition(
        &mut s,
        condition(PROGRESSING, "True", REASON_NEW_RS_AVAILABLE, "done".into()),
    );
    assert!(!timed_out(&d, &s, secs(1000)));
}

#[test]
fn saturation_needs_size_availability_and_annotation() {
    let d = deployment(3, pct("25%"), pct("25%"));
    let mut r = rs("r", 0, 3, 3);
    assert!(!is_saturated(&d, Some(&r)), "no annotation");
    set_replicas_annotations(&mut r, 3, 4);
    assert!(is_saturated(&d, Some(&r)));
    let mut partial = rs("p", 0, 3, 2);
    set_replicas_annotations(&mut partial, 3, 4);
    assert!(!is_saturated(&d, Some(&partial)));
    assert_eq!(countable_available(&rs("stale", 0, 1, 3)), 1);
}
