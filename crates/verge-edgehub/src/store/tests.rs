use super::*;

fn key(resource: &str, ns: &str, name: &str, uid: &str) -> pb::ObjectKey {
    pb::ObjectKey {
        kind: Some(pb::ResourceKind {
            group: String::new(),
            version: "v1".into(),
            resource: resource.into(),
        }),
        namespace: ns.into(),
        name: name.into(),
        uid: uid.into(),
    }
}

fn upsert(k: pb::ObjectKey, rv: u64, body: &str) -> pb::ObjectChange {
    pb::ObjectChange {
        key: Some(k),
        resource_version: rv.to_string(),
        change: Some(pb::object_change::Change::Upsert(pb::Upsert {
            object: body.as_bytes().to_vec().into(),
        })),
    }
}

fn delete(k: pb::ObjectKey, rv: u64) -> pb::ObjectChange {
    pb::ObjectChange {
        key: Some(k),
        resource_version: rv.to_string(),
        change: Some(pb::object_change::Change::Delete(pb::Delete {})),
    }
}

fn batch(revision: u64, more: bool, changes: Vec<pb::ObjectChange>) -> pb::SyncBatch {
    pb::SyncBatch {
        revision,
        changes,
        more,
    }
}

fn open() -> (tempfile::TempDir, EdgeStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EdgeStore::open(&dir.path().join("edge.db")).expect("open");
    (dir, store)
}

fn body_of(store: &EdgeStore, resource: &str, ns: &str, name: &str) -> Option<String> {
    let id = ObjectId {
        group: String::new(),
        resource: resource.into(),
        namespace: ns.into(),
        name: name.into(),
    };
    store
        .get(&id)
        .expect("get")
        .map(|o| String::from_utf8(o.body).expect("utf8"))
}

#[test]
fn upserts_apply_only_when_newer_and_deletes_remove() {
    let (_d, s) = open();
    let cm = || key("configmaps", "ns", "a", "u1");
    let a = s
        .apply("E", &batch(10, false, vec![upsert(cm(), 10, "v10")]))
        .expect("apply");
    assert_eq!(a.upserts, 1);
    // Redelivered older and equal versions change nothing.
    let a = s
        .apply(
            "E",
            &batch(
                12,
                false,
                vec![upsert(cm(), 9, "v9"), upsert(cm(), 10, "again")],
            ),
        )
        .expect("apply");
    assert_eq!((a.upserts, a.stale), (0, 2));
    assert_eq!(body_of(&s, "configmaps", "ns", "a").as_deref(), Some("v10"));
    // Another object of the same name (new uid) replaces it whatever its version.
    s.apply(
        "E",
        &batch(
            13,
            false,
            vec![upsert(key("configmaps", "ns", "a", "u2"), 3, "new")],
        ),
    )
    .expect("apply");
    assert_eq!(body_of(&s, "configmaps", "ns", "a").as_deref(), Some("new"));
    let a = s
        .apply(
            "E",
            &batch(
                14,
                false,
                vec![delete(key("configmaps", "ns", "a", "u2"), 14)],
            ),
        )
        .expect("apply");
    assert_eq!(a.deletes, 1);
    assert_eq!(body_of(&s, "configmaps", "ns", "a"), None);
    assert_eq!(
        s.resume_point().expect("resume"),
        Some(pb::ResumePoint {
            epoch: "E".into(),
            revision: 14
        })
    );
}

#[test]
fn a_revision_split_in_parts_is_recorded_after_the_last() {
    let (_d, s) = open();
    s.apply("E", &batch(5, false, vec![])).expect("apply");
    s.apply(
        "E",
        &batch(9, true, vec![upsert(key("pods", "ns", "p", "u"), 9, "p")]),
    )
    .expect("apply");
    assert_eq!(
        s.resume_point().expect("resume").map(|r| r.revision),
        Some(5)
    );
    s.apply(
        "E",
        &batch(
            9,
            false,
            vec![upsert(key("secrets", "ns", "s", "u"), 9, "s")],
        ),
    )
    .expect("apply");
    assert_eq!(
        s.resume_point().expect("resume").map(|r| r.revision),
        Some(9)
    );
}

#[test]
fn a_bad_change_applies_nothing_of_its_batch() {
    let (_d, s) = open();
    let mut bad = upsert(key("pods", "ns", "b", "u"), 1, "b");
    bad.resource_version = "not-a-number".into();
    let err = s
        .apply(
            "E",
            &batch(
                3,
                false,
                vec![upsert(key("pods", "ns", "a", "u"), 1, "a"), bad],
            ),
        )
        .expect_err("refused");
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(s.objects().expect("objects").is_empty());
    assert_eq!(s.resume_point().expect("resume"), None);
}

#[test]
fn reports_coalesce_per_object_and_sequences_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("edge.db");
    let s = EdgeStore::open(&path).expect("open");
    let stream = s.report_stream().expect("stream");
    let node = key("nodes", "", "edge-1", "");
    let pod = key("pods", "ns", "p", "u");
    let status = |kind, k: &pb::ObjectKey, body: &str| {
        s.enqueue(kind, k, BodyType::MergePatch, body.as_bytes(), 0)
            .expect("enqueue")
    };
    assert_eq!(status(ReportKind::NodeStatus, &node, "n1"), 1);
    assert_eq!(status(ReportKind::PodStatus, &pod, "p1"), 2);
    assert_eq!(status(ReportKind::NodeStatus, &node, "n2"), 3);
    let pending = s.pending_reports(0, 10).expect("pending");
    let seen: Vec<(u64, &[u8])> = pending.iter().map(|r| (r.sequence, &r.body[..])).collect();
    assert_eq!(
        seen,
        [(2, &b"p1"[..]), (3, &b"n2"[..])],
        "the latest node status wins"
    );
    assert_eq!(s.ack_reports(2).expect("ack"), 1);
    drop(s);

    let s = EdgeStore::open(&path).expect("reopen");
    assert_eq!(s.report_stream().expect("stream"), stream);
    assert_eq!(s.pending_reports(0, 10).expect("pending").len(), 1);
    let next = s
        .enqueue(
            ReportKind::Event,
            &key("events", "ns", "e", ""),
            BodyType::Create,
            b"{}",
            0,
        )
        .expect("enqueue");
    assert_eq!(next, 4, "never reused after a restart");
}

#[test]
fn a_corrupted_database_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("edge.db");
    std::fs::write(&path, b"this is not a database, just some garbage bytes").expect("write");
    let err = EdgeStore::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("move the file aside"), "{err}");
}

#[test]
fn a_delete_of_an_older_object_leaves_a_newer_one_of_the_same_name() {
    let (_d, s) = open();
    s.apply(
        "E",
        &batch(
            5,
            false,
            vec![upsert(key("pods", "ns", "p", "new-uid"), 5, "new")],
        ),
    )
    .expect("apply");
    let a = s
        .apply(
            "E",
            &batch(6, false, vec![delete(key("pods", "ns", "p", "old-uid"), 4)]),
        )
        .expect("apply");
    assert_eq!(a.deletes, 0);
    assert_eq!(body_of(&s, "pods", "ns", "p").as_deref(), Some("new"));
    s.apply(
        "E",
        &batch(7, false, vec![delete(key("pods", "ns", "p", "new-uid"), 7)]),
    )
    .expect("apply");
    assert_eq!(body_of(&s, "pods", "ns", "p"), None);
}
