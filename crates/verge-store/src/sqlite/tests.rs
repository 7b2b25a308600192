//! Tests of the SQLite store against real files in temporary directories.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::{SqliteOptions, SqliteStore, prefix_end};
use crate::{Event, EventKind, KeyValue, Revision, Store, StoreError, WatchStream};

const DEADLINE: Duration = Duration::from_secs(30);

fn val(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("store.db")
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, SqliteOptions::default()).unwrap()
}

fn temp() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db_path(&dir));
    (dir, store)
}

/// The next item of a watch, or a panic after the deadline.
async fn next(w: &mut WatchStream) -> Option<crate::Result<Event>> {
    tokio::time::timeout(DEADLINE, w.next())
        .await
        .expect("watch produced nothing before the deadline")
}

async fn next_event(w: &mut WatchStream) -> Event {
    next(w).await.expect("watch ended").expect("watch failed")
}

/// Polls `cond` until it holds, failing after the deadline.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn log_rows(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT count(*) FROM log", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn prefix_end_is_the_next_string() {
    assert_eq!(prefix_end(""), None);
    assert_eq!(prefix_end("/a/").as_deref(), Some("/a0"));
    assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
    assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
    assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
    assert_eq!(prefix_end("\u{10FFFF}"), None);
}

#[tokio::test]
async fn create_get_and_already_exists() {
    let (_dir, s) = temp();
    assert_eq!(s.current_revision(), 0);
    assert_eq!(s.get("/a").await.unwrap(), None);
    let r1 = s.create("/a", val("one")).await.unwrap();
    assert_eq!(r1, 1);
    let kv = s.get("/a").await.unwrap().unwrap();
    assert_eq!(
        kv,
        KeyValue {
            key: "/a".into(),
            value: val("one"),
            create_revision: 1,
            mod_revision: 1
        }
    );
    match s.create("/a", val("two")).await {
        Err(StoreError::AlreadyExists(k)) => assert_eq!(k, "/a"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // The failed create took no revision and changed nothing.
    assert_eq!(s.current_revision(), 1);
    assert_eq!(s.get("/a").await.unwrap().unwrap().value, val("one"));
    assert_eq!(s.create("/b", Bytes::new()).await.unwrap(), 2);
    assert_eq!(s.get("/b").await.unwrap().unwrap().value, Bytes::new());
}

#[tokio::test]
async fn update_conflict_and_not_found() {
    let (_dir, s) = temp();
    let r1 = s.create("/k", val("v1")).await.unwrap();
    let r2 = s.update("/k", val("v2"), r1).await.unwrap();
    assert_eq!(r2, r1 + 1);
    let kv = s.get("/k").await.unwrap().unwrap();
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.value),
        (r1, r2, val("v2"))
    );

    match s.update("/k", val("v3"), r1).await {
        Err(StoreError::Conflict {
            key,
            expected,
            actual,
        }) => assert_eq!((key.as_str(), expected, actual), ("/k", r1, r2)),
        other => panic!("expected Conflict, got {other:?}"),
    }
    match s.update("/missing", val("x"), 1).await {
        Err(StoreError::NotFound(k)) => assert_eq!(k, "/missing"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(s.current_revision(), r2);
    assert_eq!(s.get("/k").await.unwrap().unwrap().value, val("v2"));
}

#[tokio::test]
async fn delete_with_and_without_precondition() {
    let (_dir, s) = temp();
    let a = s.create("/a", val("a")).await.unwrap();
    let b = s.create("/b", val("b")).await.unwrap();
    let b2 = s.update("/b", val("b2"), b).await.unwrap();

    match s.delete("/b", b).await {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, b2),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let (rev, last) = s.delete("/b", b2).await.unwrap();
    assert_eq!(rev, b2 + 1);
    assert_eq!(
        last,
        KeyValue {
            key: "/b".into(),
            value: val("b2"),
            create_revision: b,
            mod_revision: b2
        }
    );
    assert_eq!(s.get("/b").await.unwrap(), None);

    // Unconditional delete.
    let (rev2, last) = s.delete("/a", 0).await.unwrap();
    assert_eq!(rev2, rev + 1);
    assert_eq!((last.value, last.mod_revision), (val("a"), a));
    match s.delete("/a", 0).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(s.current_revision(), rev2);

    // A deleted key can be created again, with a new create revision.
    let again = s.create("/a", val("new")).await.unwrap();
    let kv = s.get("/a").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision), (again, again));
}

#[tokio::test]
async fn range_is_a_prefix_snapshot_with_its_revision() {
    let (_dir, s) = temp();
    for k in ["/a/2", "/a/1", "/a0", "/a", "/b/1", "/a/\u{e9}"] {
        s.create(k, val(k)).await.unwrap();
    }
    let r = s.range("/a/").await.unwrap();
    let keys: Vec<_> = r.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/a/1", "/a/2", "/a/\u{e9}"]);
    assert!(r.kvs.iter().all(|kv| kv.value == val(&kv.key)));
    assert_eq!(r.revision, s.current_revision());
    assert_eq!(s.range("").await.unwrap().kvs.len(), 6);
    assert!(s.range("/z").await.unwrap().kvs.is_empty());

    // Under concurrent writes, each snapshot holds exactly the keys created
    // at or before its revision.
    let s = Arc::new(s);
    let base = s.current_revision();
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..400 {
                s.create(&format!("/c/{i:04}"), val("x")).await.unwrap();
            }
        })
    };
    let mut checked = 0;
    while !writer.is_finished() || checked == 0 {
        let r = s.range("/c/").await.unwrap();
        assert_eq!(
            r.kvs.len() as i64,
            r.revision - base,
            "snapshot at {}",
            r.revision
        );
        assert!(r.kvs.iter().all(|kv| kv.mod_revision <= r.revision));
        checked += 1;
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert_eq!(s.range("/c/").await.unwrap().kvs.len(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revisions_are_contiguous_under_concurrent_writers() {
    let (_dir, s) = temp();
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..150 {
                let key = format!("/t{t}/{i}");
                let r = s.create(&key, val("v")).await.unwrap();
                revs.push(r);
                // A failing precondition in between takes no revision.
                assert!(s.create(&key, val("v")).await.is_err());
                let u = s.update(&key, val("w"), r).await.unwrap();
                assert!(u > r);
                revs.push(u);
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let revs = t.await.unwrap();
        assert!(revs.windows(2).all(|w| w[0] < w[1]), "per-task order");
        all.extend(revs);
    }
    all.sort_unstable();
    let expected: Vec<Revision> = (1..=2400).collect();
    assert_eq!(all, expected);
    assert_eq!(s.current_revision(), 2400);
    let stats = s.stats();
    assert_eq!(stats.revision, 2400);
    assert_eq!(stats.writes_total, 2400);
    assert!(stats.batches_total <= 2400 + 1200);
    assert!(stats.db_size_bytes > 0);
}

/// Checks a stream of every change against a model of the store.
fn apply_to_model(model: &mut BTreeMap<String, KeyValue>, e: &Event) {
    let prev = model.get(&e.kv.key).cloned();
    assert_eq!(e.prev, prev, "prev of {e:?}");
    match e.kind {
        EventKind::Put => {
            let create = prev.map_or(e.kv.mod_revision, |p| p.create_revision);
            assert_eq!(e.kv.create_revision, create);
            model.insert(e.kv.key.clone(), e.kv.clone());
        }
        EventKind::Delete => {
            let prev = prev.expect("delete of a missing key");
            assert_eq!(e.kv.value, prev.value);
            assert_eq!(e.kv.create_revision, prev.create_revision);
            model.remove(&e.kv.key);
        }
    }
}

fn model_of(kvs: Vec<KeyValue>) -> BTreeMap<String, KeyValue> {
    kvs.into_iter().map(|kv| (kv.key.clone(), kv)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_replays_then_follows_without_gaps_or_duplicates() {
    let (_dir, s) = temp();
    let s = Arc::new(s);
    for i in 0..50 {
        s.create(&format!("/w/pre{i}"), val("p")).await.unwrap();
        s.create(&format!("/o/pre{i}"), val("p")).await.unwrap();
    }
    let start = s.range("").await.unwrap();
    let mut model = model_of(start.kvs);

    let mut writers = Vec::new();
    for t in 0..4 {
        let s = s.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..250 {
                let dir = if i % 3 == 0 { "/o" } else { "/w" };
                let key = format!("{dir}/t{t}/{i}");
                let r = s.create(&key, val(&format!("{t}-{i}"))).await.unwrap();
                let r = s.update(&key, val(&format!("{t}-{i}-u")), r).await.unwrap();
                if i % 2 == 0 {
                    s.delete(&key, r).await.unwrap();
                }
            }
        }));
    }
    // Start watching once there is more than a page of history to replay,
    // while the writers go on.
    wait_until("history to pile up", || {
        s.current_revision() > start.revision + 700
    })
    .await;
    let mut all = s.watch("", start.revision).unwrap();
    let mut under_w = s.watch("/w/", start.revision).unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let last = s.current_revision();
    assert_eq!(last, start.revision + 4 * (250 * 2 + 125));

    let mut expected_w = Vec::new();
    let mut rev = start.revision;
    while rev < last {
        let e = next_event(&mut all).await;
        assert_eq!(e.revision(), rev + 1, "no gap, no duplicate");
        rev = e.revision();
        apply_to_model(&mut model, &e);
        if e.kv.key.starts_with("/w/") {
            expected_w.push(e);
        }
    }
    assert_eq!(model, model_of(s.range("").await.unwrap().kvs));
    for expected in expected_w {
        assert_eq!(next_event(&mut under_w).await, expected);
    }

    // Both are live now: one more change arrives on both, and nothing else.
    let r = s.create("/w/final", val("f")).await.unwrap();
    assert_eq!(next_event(&mut all).await.revision(), r);
    assert_eq!(next_event(&mut under_w).await.revision(), r);
}

#[tokio::test]
async fn watch_from_the_future_and_from_now() {
    let (_dir, s) = temp();
    s.create("/a", val("1")).await.unwrap();
    let mut now = s.watch("/", s.current_revision()).unwrap();
    let mut future = s.watch("/", 3).unwrap();
    for i in 2..=4 {
        s.create(&format!("/k{i}"), val("x")).await.unwrap();
    }
    assert_eq!(next_event(&mut now).await.revision(), 2);
    assert_eq!(next_event(&mut now).await.revision(), 3);
    assert_eq!(next_event(&mut future).await.revision(), 4);
}

#[tokio::test]
async fn watch_from_a_compacted_revision_fails() {
    let (dir, s) = temp();
    let r1 = s.create("/a", val("1")).await.unwrap();
    let r2 = s.update("/a", val("2"), r1).await.unwrap();
    let r3 = s.create("/b", val("b")).await.unwrap();
    let (r4, _) = s.delete("/b", 0).await.unwrap();
    let r5 = s.update("/a", val("3"), r2).await.unwrap();

    match s.compact(r5 + 1).await {
        Err(StoreError::Backend(_)) => {}
        other => panic!("compacting the future must fail, got {other:?}"),
    }
    s.compact(r4).await.unwrap();
    assert_eq!(s.compacted_revision(), r4);
    match s.watch("", r3) {
        Err(StoreError::Compacted { requested, oldest }) => {
            assert_eq!((requested, oldest), (r3, r4))
        }
        Err(e) => panic!("expected Compacted, got {e:?}"),
        Ok(_) => panic!("expected Compacted, got a stream"),
    }
    // Compacting to an older revision is a no-op.
    s.compact(r1).await.unwrap();
    assert_eq!(s.compacted_revision(), r4);

    // From the horizon, the history is whole, prev included (the value at r2
    // is superseded by r5 only, so it stays).
    let mut w = s.watch("", r4).unwrap();
    let e = next_event(&mut w).await;
    assert_eq!(
        (e.kind, e.revision(), e.kv.value.clone()),
        (EventKind::Put, r5, val("3"))
    );
    let prev = e.prev.unwrap();
    assert_eq!((prev.mod_revision, prev.value), (r2, val("2")));
    // Only the value at r2 is left of the history at or below r4: r1 was
    // superseded, /b is gone.
    let path = db_path(&dir);
    assert_eq!(log_rows(&path), 2);
    assert_eq!(s.get("/a").await.unwrap().unwrap().value, val("3"));
}

#[tokio::test]
async fn auto_compaction_bounds_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let opts = SqliteOptions {
        retained_revisions: Some(100),
        ..SqliteOptions::default()
    };
    let s = SqliteStore::open(&path, opts).unwrap();
    let mut revs = BTreeMap::new();
    for i in 0..10 {
        let key = format!("/k{i}");
        revs.insert(key.clone(), s.create(&key, val("0")).await.unwrap());
    }
    s.create("/tmp", val("t")).await.unwrap();
    for round in 1..=300 {
        for (key, rev) in revs.iter_mut() {
            *rev = s.update(key, val(&round.to_string()), *rev).await.unwrap();
        }
        // Deleted and recreated keys leave tombstones behind.
        s.delete("/tmp", 0).await.unwrap();
        s.create("/tmp", val("t")).await.unwrap();
    }
    let current = s.current_revision();
    assert_eq!(current, 11 + 300 * 12);
    wait_until("auto-compaction", || {
        s.compacted_revision() >= current - 110
    })
    .await;
    assert!(s.compacted_revision() <= current - 100);
    // At most the retained window plus slack, plus one row per live key.
    let rows = log_rows(&path);
    assert!(rows <= 110 + 11, "log has {rows} rows");
    for (key, rev) in &revs {
        let kv = s.get(key).await.unwrap().unwrap();
        assert_eq!((kv.mod_revision, kv.value), (*rev, val("300")));
    }
    // The retained history replays whole, with prev values.
    let from = s.compacted_revision();
    let mut last_seen: BTreeMap<String, Bytes> = BTreeMap::new();
    let mut w = s.watch("/k", from).unwrap();
    let mut rev = from;
    let last_k = revs.values().copied().max().unwrap();
    while rev < last_k {
        let e = next_event(&mut w).await;
        assert!(e.revision() > rev);
        rev = e.revision();
        let prev = e.prev.clone().expect("every /k event is an update");
        let round: u32 = std::str::from_utf8(&e.kv.value).unwrap().parse().unwrap();
        assert_eq!(prev.value, val(&(round - 1).to_string()));
        if let Some(v) = last_seen.get(&e.kv.key) {
            assert_eq!(&prev.value, v);
        }
        last_seen.insert(e.kv.key.clone(), e.kv.value.clone());
    }
    assert_eq!(last_seen.len(), 10);
}

#[tokio::test]
async fn reopen_keeps_everything_and_revisions_continue() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let (a, b) = {
        let s = open(&path);
        let a = s.create("/a", val("1")).await.unwrap();
        let b = s.create("/b", val("2")).await.unwrap();
        let b = s.update("/b", val("3"), b).await.unwrap();
        s.delete("/a", 0).await.unwrap();
        s.compact(b).await.unwrap();
        s.close();
        // Closing twice is fine; writes after close fail.
        s.close();
        assert!(matches!(
            s.create("/c", val("x")).await,
            Err(StoreError::Closed)
        ));
        assert!(matches!(s.get("/b").await, Err(StoreError::Closed)));
        assert!(matches!(s.watch("", 0), Err(StoreError::Closed)));
        (a, b)
    };
    let s = open(&path);
    assert_eq!(s.current_revision(), b + 1);
    assert_eq!(s.compacted_revision(), b);
    assert_eq!(s.get("/a").await.unwrap(), None);
    let kv = s.get("/b").await.unwrap().unwrap();
    assert_eq!((kv.value, kv.mod_revision), (val("3"), b));
    assert_eq!(s.create("/a", val("again")).await.unwrap(), b + 2);
    let mut w = s.watch("", b).unwrap();
    let del = next_event(&mut w).await;
    assert_eq!(
        (del.kind, del.revision(), del.kv.value.clone()),
        (EventKind::Delete, b + 1, val("1"))
    );
    assert_eq!(del.prev.unwrap().mod_revision, a);
    assert_eq!(next_event(&mut w).await.revision(), b + 2);
    drop(s);
    // Dropping closes too: the file can be opened again at once.
    let s = open(&path);
    assert_eq!(s.current_revision(), b + 2);
}

#[tokio::test]
async fn a_second_open_of_the_same_file_is_refused() {
    let (dir, _s) = temp();
    match SqliteStore::open(&db_path(&dir), SqliteOptions::default()) {
        Err(StoreError::Backend(m)) => assert!(m.contains("in use"), "{m}"),
        other => panic!("expected Backend, got {other:?}"),
    }
}

fn assert_corrupt(path: &Path, r: crate::Result<SqliteStore>) {
    match r {
        Err(StoreError::Corrupt(m)) => {
            assert!(
                m.contains(&path.display().to_string()),
                "names the file: {m}"
            );
            assert!(m.contains("backup"), "says what to do: {m}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_file_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    assert_corrupt(&path, SqliteStore::open(&path, SqliteOptions::default()));
    // Nothing was written into it.
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[tokio::test]
async fn foreign_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    assert_corrupt(&path, SqliteStore::open(&path, SqliteOptions::default()));
}

#[tokio::test]
async fn damaged_pages_are_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let s = open(&path);
        for i in 0..300 {
            s.create(&format!("/k/{i:05}"), Bytes::from(vec![b'v'; 2000]))
                .await
                .unwrap();
        }
    }
    // Closed cleanly: everything is in the main file now. Scribble over the
    // middle of it (b-tree pages), leaving the header intact.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 64 * 1024);
    let at = 8 * 4096;
    for (i, b) in bytes[at..at + 16 * 4096].iter_mut().enumerate() {
        *b = (i * 31 % 256) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_corrupt(&path, SqliteStore::open(&path, SqliteOptions::default()));
}

#[tokio::test]
async fn a_lagging_watcher_is_dropped_without_blocking_writers() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions {
        watch_buffer: 16,
        ..SqliteOptions::default()
    };
    let s = SqliteStore::open(&db_path(&dir), opts).unwrap();
    let mut slow = s.watch("/", 0).unwrap();
    s.create("/first", val("x")).await.unwrap();
    assert_eq!(next_event(&mut slow).await.revision(), 1);
    // The watcher is live now and stops reading; the writers go on.
    let writes = async {
        for i in 0..200 {
            s.create(&format!("/k{i}"), val("x")).await.unwrap();
        }
    };
    tokio::time::timeout(DEADLINE, writes)
        .await
        .expect("writers were blocked");
    let seen = match next(&mut slow).await {
        Some(Err(StoreError::Lagged { revision })) => revision,
        other => panic!("expected Lagged, got {other:?}"),
    };
    assert_eq!(seen, 1);
    assert!(
        next(&mut slow).await.is_none(),
        "the stream ends after Lagged"
    );
    // It can resume where it was, without a gap.
    let mut resumed = s.watch("/", seen).unwrap();
    for rev in 2..=201 {
        assert_eq!(next_event(&mut resumed).await.revision(), rev);
    }
}

#[tokio::test]
async fn a_long_replay_does_not_lag() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions {
        watch_buffer: 16,
        ..SqliteOptions::default()
    };
    let s = SqliteStore::open(&db_path(&dir), opts).unwrap();
    for i in 0..1000 {
        s.create(&format!("/a{i}"), val("x")).await.unwrap();
    }
    let mut w = s.watch("/", 0).unwrap();
    // Far more than the buffer arrives after the watch subscribed, before
    // and during its replay of history: none of it makes it lag.
    for i in 0..500 {
        s.create(&format!("/b{i}"), val("x")).await.unwrap();
    }
    let mut rev = 0;
    while rev < 600 {
        let e = next_event(&mut w).await;
        assert_eq!(e.revision(), rev + 1);
        rev += 1;
    }
    for i in 0..300 {
        s.create(&format!("/c{i}"), val("x")).await.unwrap();
    }
    while rev < 1800 {
        let e = next_event(&mut w).await;
        assert_eq!(e.revision(), rev + 1);
        rev += 1;
    }
    // And it is live now.
    s.create("/d", val("x")).await.unwrap();
    assert_eq!(next_event(&mut w).await.revision(), 1801);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_finishes_queued_writes_and_fails_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = Arc::new(open(&path));
    let mut w = s.watch("", 0).unwrap();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            (i, s.create(&format!("/k{i}"), val(&i.to_string())).await)
        }));
    }
    wait_until("some writes", || s.current_revision() >= 20).await;
    s.close();
    let mut acked = HashSet::new();
    for t in tasks {
        match t.await.unwrap() {
            (i, Ok(_)) => {
                acked.insert(i);
            }
            (_, Err(StoreError::Closed)) => {}
            (_, Err(e)) => panic!("unexpected {e}"),
        }
    }
    assert!(acked.len() >= 20);
    // The watch ends (after whatever it had buffered).
    let mut n = 0;
    while let Some(item) = next(&mut w).await {
        item.unwrap();
        n += 1;
    }
    assert!(n <= acked.len());
    drop(s);
    let s = open(&path);
    assert_eq!(s.current_revision() as usize, acked.len());
    for i in acked {
        assert_eq!(
            s.get(&format!("/k{i}")).await.unwrap().unwrap().value,
            val(&i.to_string())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_sustained_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let opts = SqliteOptions {
        wal_limit_bytes: 512 * 1024,
        ..SqliteOptions::default()
    };
    let s = Arc::new(SqliteStore::open(&path, opts).unwrap());
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    // ~16 MiB of values, 32 writers at a time: the WAL is never idle.
    let mut tasks = Vec::new();
    for t in 0..32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let key = format!("/wal/{t}/{i}");
                s.create(&key, Bytes::from(vec![b'w'; 2048])).await.unwrap();
            }
        }));
    }
    let mut largest = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        largest = largest.max(wal_len());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    largest = largest.max(wal_len());
    assert_eq!(s.current_revision(), 8000);
    // Without restarts the WAL would hold all ~16 MiB (and more: pages are
    // rewritten). It may overshoot the limit by what is written while a
    // background checkpoint runs.
    assert!(largest < 4 * 1024 * 1024, "the WAL grew to {largest} bytes");
    assert_eq!(s.range("/wal/").await.unwrap().kvs.len(), 8000);
}

#[tokio::test]
async fn compact_may_name_a_revision_queued_just_before_it() {
    let (_dir, s) = temp();
    for i in 0..10 {
        s.create(&format!("/k{i}"), val("x")).await.unwrap();
    }
    let next = s.current_revision() + 1;
    // Both requests are queued before the writer commits the create.
    let (created, compacted) = tokio::join!(s.create("/new", val("y")), s.compact(next));
    assert_eq!(created.unwrap(), next);
    compacted.unwrap();
    assert_eq!(s.compacted_revision(), next);
    assert!(matches!(
        s.watch("", next - 1),
        Err(StoreError::Compacted { .. })
    ));
    assert_eq!(s.range("").await.unwrap().kvs.len(), 11);
}

#[tokio::test]
async fn a_failing_request_does_not_fail_its_batch() {
    let (dir, s) = temp();
    s.create("/before", val("b")).await.unwrap();
    let mut w = s.watch("", s.current_revision()).unwrap();
    // A real SQLite error for one key, injected from outside.
    let conn = rusqlite::Connection::open(db_path(&dir)).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER poison BEFORE INSERT ON log WHEN NEW.key = '/poison' \
         BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
    )
    .unwrap();
    drop(conn);
    let keys: Vec<String> = (0..20)
        .map(|i| {
            if i == 7 {
                "/poison".into()
            } else {
                format!("/k{i}")
            }
        })
        .collect();
    // Sent together, so that they share batches.
    let results = futures::future::join_all(keys.iter().map(|k| s.create(k, val(k)))).await;
    let mut revs = Vec::new();
    for (key, result) in keys.iter().zip(results) {
        match (key.as_str(), result) {
            ("/poison", Err(StoreError::Backend(m))) => assert!(m.contains("poisoned"), "{m}"),
            ("/poison", other) => panic!("expected the poison to fail, got {other:?}"),
            (_, Ok(rev)) => revs.push(rev),
            (key, Err(e)) => panic!("{key} failed with {e}"),
        }
    }
    revs.sort_unstable();
    assert_eq!(
        revs,
        (2..=20).collect::<Vec<_>>(),
        "no revision lost or reused"
    );
    assert_eq!(s.current_revision(), 20);
    assert_eq!(s.get("/poison").await.unwrap(), None);
    for rev in 2..=20 {
        assert_eq!(next_event(&mut w).await.revision(), rev);
    }
    assert_eq!(s.range("/k").await.unwrap().kvs.len(), 19);
    assert!(s.stats().failed_batches_total >= 1);
}
