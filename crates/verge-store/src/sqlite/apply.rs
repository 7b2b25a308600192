//! The SQL of writes: applying requests inside the writer's transaction,
//! and compaction.

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::db_err;
use super::schema::{KIND_DELETE, KIND_PUT};
use crate::{Event, EventKind, KeyValue, Result, Revision, StoreError};

pub(crate) enum WriteOp {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Revision,
    },
}

pub(crate) struct WriteOutcome {
    pub(crate) revision: Revision,
    /// For a delete: the value before it.
    pub(crate) deleted: Option<KeyValue>,
}

/// Applies the operations in one transaction. The outer error aborts the
/// whole batch (nothing is written); the inner results are per request.
pub(crate) fn apply_batch<'a>(
    conn: &mut Connection,
    ops: impl Iterator<Item = &'a WriteOp>,
    revision: &mut Revision,
    events: &mut Vec<Event>,
) -> Result<Vec<Result<WriteOutcome>>> {
    let base = *revision;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    let mut results = Vec::new();
    for op in ops {
        results.push(apply(&tx, op, revision, events)?);
    }
    if *revision != base {
        tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'revision'")
            .and_then(|mut s| s.execute([*revision]))
            .map_err(db_err)?;
    }
    tx.commit().map_err(db_err)?;
    Ok(results)
}

fn apply(
    tx: &Transaction<'_>,
    op: &WriteOp,
    revision: &mut Revision,
    events: &mut Vec<Event>,
) -> Result<Result<WriteOutcome>> {
    let kv = |key: &str, value: &Bytes, create_revision, mod_revision| KeyValue {
        key: key.to_owned(),
        value: value.clone(),
        create_revision,
        mod_revision,
    };
    match op {
        WriteOp::Create { key, value } => {
            if lookup(tx, key)?.is_some() {
                return Ok(Err(StoreError::AlreadyExists(key.clone())));
            }
            let rev = *revision + 1;
            insert_log(tx, rev, key, KIND_PUT, rev, 0, Some(value))?;
            tx.prepare_cached("INSERT INTO kv (key, create_rev, mod_rev) VALUES (?1, ?2, ?2)")
                .and_then(|mut s| s.execute(rusqlite::params![key, rev]))
                .map_err(db_err)?;
            *revision = rev;
            events.push(Event {
                kind: EventKind::Put,
                kv: kv(key, value, rev, rev),
                prev: None,
            });
            Ok(Ok(WriteOutcome {
                revision: rev,
                deleted: None,
            }))
        }
        WriteOp::Update {
            key,
            value,
            expected,
        } => {
            let Some((create, modified)) = lookup(tx, key)? else {
                return Ok(Err(StoreError::NotFound(key.clone())));
            };
            if modified != *expected {
                return Ok(Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    actual: modified,
                }));
            }
            let prev = load_value(tx, key, modified)?;
            let rev = *revision + 1;
            insert_log(tx, rev, key, KIND_PUT, create, modified, Some(value))?;
            set_mod_rev(tx, key, rev)?;
            *revision = rev;
            events.push(Event {
                kind: EventKind::Put,
                kv: kv(key, value, create, rev),
                prev: Some(kv(key, &prev, create, modified)),
            });
            Ok(Ok(WriteOutcome {
                revision: rev,
                deleted: None,
            }))
        }
        WriteOp::Delete { key, expected } => {
            let Some((create, modified)) = lookup(tx, key)? else {
                return Ok(Err(StoreError::NotFound(key.clone())));
            };
            if *expected != 0 && modified != *expected {
                return Ok(Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    actual: modified,
                }));
            }
            let last = load_value(tx, key, modified)?;
            let rev = *revision + 1;
            insert_log(tx, rev, key, KIND_DELETE, create, modified, None)?;
            tx.prepare_cached("DELETE FROM kv WHERE key = ?1")
                .and_then(|mut s| s.execute([key]))
                .map_err(db_err)?;
            *revision = rev;
            let before = kv(key, &last, create, modified);
            events.push(Event {
                kind: EventKind::Delete,
                kv: kv(key, &last, create, rev),
                prev: Some(before.clone()),
            });
            Ok(Ok(WriteOutcome {
                revision: rev,
                deleted: Some(before),
            }))
        }
    }
}

/// (create_rev, mod_rev) of a live key.
fn lookup(tx: &Transaction<'_>, key: &str) -> Result<Option<(Revision, Revision)>> {
    tx.prepare_cached("SELECT create_rev, mod_rev FROM kv WHERE key = ?1")
        .and_then(|mut s| {
            s.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_err)
}

fn load_value(tx: &Transaction<'_>, key: &str, rev: Revision) -> Result<Bytes> {
    let value: Option<Option<Vec<u8>>> = tx
        .prepare_cached("SELECT value FROM log WHERE rev = ?1")
        .and_then(|mut s| s.query_row([rev], |r| r.get(0)).optional())
        .map_err(db_err)?;
    match value {
        Some(Some(v)) => Ok(Bytes::from(v)),
        _ => Err(StoreError::Corrupt(format!(
            "the value of {key} at revision {rev} is missing: the store's files are \
             inconsistent; stop the server, move the data file aside and restore it from a backup"
        ))),
    }
}

fn set_mod_rev(tx: &Transaction<'_>, key: &str, rev: Revision) -> Result<()> {
    tx.prepare_cached("UPDATE kv SET mod_rev = ?2 WHERE key = ?1")
        .and_then(|mut s| s.execute(rusqlite::params![key, rev]))
        .map_err(db_err)?;
    Ok(())
}

fn insert_log(
    tx: &Transaction<'_>,
    rev: Revision,
    key: &str,
    kind: i64,
    create_rev: Revision,
    prev_rev: Revision,
    value: Option<&Bytes>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO log (rev, key, kind, create_rev, prev_rev, value) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(rusqlite::params![
            rev,
            key,
            kind,
            create_rev,
            prev_rev,
            value.map(|v| v.as_ref())
        ])
    })
    .map_err(db_err)?;
    Ok(())
}

/// Moves the compaction horizon from `from` to `to` and deletes the history
/// that no watch can ask for any more: every value superseded at or below
/// `to`, and every tombstone at or below `to`. The latest value of each key
/// as of `to` stays: it is either the key's current value or the `prev` of a
/// later event. Returns the number of rows removed.
pub(crate) fn compact(conn: &mut Connection, from: Revision, to: Revision) -> Result<usize> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    // Each row in (from, to] supersedes the row it points at.
    let superseded = tx
        .prepare_cached(
            "DELETE FROM log WHERE rev IN \
             (SELECT prev_rev FROM log WHERE rev > ?1 AND rev <= ?2 AND prev_rev > 0)",
        )
        .and_then(|mut s| s.execute([from, to]))
        .map_err(db_err)?;
    let tombstones = tx
        .prepare_cached("DELETE FROM log WHERE rev > ?1 AND rev <= ?2 AND kind = ?3")
        .and_then(|mut s| s.execute([from, to, KIND_DELETE]))
        .map_err(db_err)?;
    tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'compacted'")
        .and_then(|mut s| s.execute([to]))
        .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(superseded + tombstones)
}
