//! Crash durability: every write acknowledged before a `kill -9` is there
//! after reopening.
//!
//! The test re-runs its own binary as a child (selected by an environment
//! variable) that writes concurrently and prints each write only after it was
//! acknowledged; the parent kills it mid-load and checks the file.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use verge_store::{SqliteOptions, SqliteStore, Store};

const CHILD_ENV: &str = "VERGE_STORE_CRASH_CHILD";
const WRITERS: usize = 32;
/// Acknowledgements to wait for before the kill.
const KILL_AFTER: usize = 4_000;

/// The value of `key` at its `version` (0 = created, 1 = updated): ~2 KiB,
/// recognisable.
fn value_for(key: &str, version: u8) -> Bytes {
    let head = format!("{key}#{version}#");
    let mut v = head.into_bytes();
    v.resize(2048, b'a' + version);
    Bytes::from(v)
}

/// What happens to the i-th key of a writer after its create.
fn updated(i: usize) -> bool {
    i.is_multiple_of(3)
}
fn deleted(i: usize) -> bool {
    i.is_multiple_of(5)
}

/// An acknowledgement line: "C|U|D key revision".
fn parse(line: &str) -> Option<(String, char, i64)> {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(op @ ("C" | "U" | "D")), Some(key), Some(rev), None) => {
            Some((key.to_owned(), op.chars().next()?, rev.parse().ok()?))
        }
        _ => None,
    }
}

/// The child: writes until killed (or for at most two minutes).
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // Only runs as the parent's child.
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store =
            Arc::new(SqliteStore::open(Path::new(&path), SqliteOptions::default()).unwrap());
        let stop = Instant::now() + Duration::from_secs(120);
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let ack = |op: &str, key: &str, rev: i64| {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{op} {key} {rev}").unwrap();
                    out.flush().unwrap();
                };
                let mut i = 0;
                while Instant::now() < stop {
                    let key = format!("/crash/{w}/{i}");
                    let mut rev = store.create(&key, value_for(&key, 0)).await.unwrap();
                    ack("C", &key, rev);
                    if updated(i) {
                        rev = store.update(&key, value_for(&key, 1), rev).await.unwrap();
                        ack("U", &key, rev);
                    }
                    if deleted(i) {
                        let (r, _) = store.delete(&key, rev).await.unwrap();
                        ack("D", &key, r);
                    }
                    i += 1;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // Read the child's acknowledgements on a thread, so the parent can wait
    // with a deadline.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                // A line cut short by the kill was never acknowledged.
                Ok(_) if line.ends_with('\n') => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
                Ok(_) => return,
            }
        }
    });

    let mut acks: HashMap<String, (char, i64)> = HashMap::new();
    let mut count = 0;
    let record = |line: &str, acks: &mut HashMap<String, (char, i64)>| {
        if let Some((key, op, rev)) = parse(line) {
            acks.insert(key, (op, rev));
            1
        } else {
            0
        }
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    while count < KILL_AFTER {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => count += record(&line, &mut acks),
            Err(e) => {
                let _ = child.kill();
                panic!("the child acknowledged only {count} writes ({e})");
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child was killed, not exited: {status:?}"
    );
    reader.join().unwrap();
    // Acknowledgements printed before the kill count too.
    while let Ok(line) = rx.try_recv() {
        count += record(&line, &mut acks);
    }
    let max_acked = acks.values().map(|(_, rev)| *rev).max().unwrap();
    eprintln!(
        "{count} acknowledged writes on {} keys before kill -9",
        acks.len()
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        assert!(store.current_revision() >= max_acked);
        for (key, (op, rev)) in &acks {
            let i: usize = key.rsplit('/').next().unwrap().parse().unwrap();
            let kv = store.get(key).await.unwrap();
            // The write after the last acknowledged one may or may not have
            // committed; anything else is a lost acknowledged write.
            match (op, kv) {
                ('D', None) => {}
                ('D', Some(kv)) => panic!("{key} was deleted at {rev} but is {kv:?}"),
                ('U' | 'C', None) => assert!(deleted(i), "{key} acknowledged at {rev} is missing"),
                ('C', Some(kv)) if kv.mod_revision == *rev => {
                    assert_eq!(kv.create_revision, *rev, "{key}");
                    assert_eq!(kv.value, value_for(key, 0), "{key}");
                }
                ('C', Some(kv)) => {
                    assert!(
                        updated(i) && kv.mod_revision > *rev,
                        "{key}: {kv:?} after {rev}"
                    );
                    assert_eq!(kv.create_revision, *rev, "{key}");
                    assert_eq!(kv.value, value_for(key, 1), "{key}");
                }
                ('U', Some(kv)) => {
                    assert_eq!(kv.mod_revision, *rev, "{key}");
                    assert_eq!(kv.value, value_for(key, 1), "{key}");
                }
                (op, kv) => panic!("unexpected {op} {kv:?}"),
            }
        }
        // Revisions continue after the last committed one.
        let next = store
            .create("/after-crash", Bytes::from_static(b"x"))
            .await
            .unwrap();
        assert_eq!(next, store.current_revision());
        assert!(next > max_acked);
        store.close();
    });

    let conn = rusqlite::Connection::open(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
