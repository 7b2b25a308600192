//! The read side: a small pool of read-only connections used on tokio's
//! blocking threads, and the queries they run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, Row};
use tokio::sync::Semaphore;

use super::schema::{KIND_DELETE, KIND_PUT, open_reader};
use super::{SqliteOptions, db_err, prefix_end};
use crate::{Event, EventKind, KeyValue, RangeResult, Result, Revision, StoreError};

pub(crate) struct Readers {
    path: PathBuf,
    opts: SqliteOptions,
    /// Idle connections; `None` once the store is closed.
    idle: Mutex<Option<Vec<Connection>>>,
    /// One permit per connection: bounds concurrent reads (and the blocking
    /// threads they occupy) to the pool size.
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn open(path: &Path, opts: &SqliteOptions) -> Result<Readers> {
        let n = opts.readers.max(1);
        let conns = (0..n)
            .map(|_| open_reader(path, opts))
            .collect::<Result<Vec<_>>>()?;
        Ok(Readers {
            path: path.to_path_buf(),
            opts: opts.clone(),
            idle: Mutex::new(Some(conns)),
            permits: Arc::new(Semaphore::new(n)),
        })
    }

    /// Runs `f` on a pooled connection on a blocking thread.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let this = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let idle = match this.idle.lock().as_mut() {
                Some(idle) => idle.pop(),
                None => return Err(StoreError::Closed),
            };
            // A connection is missing only if a query panicked with it: replace it.
            let mut conn = match idle {
                Some(conn) => conn,
                None => open_reader(&this.path, &this.opts)?,
            };
            let out = f(&mut conn);
            if let Some(idle) = this.idle.lock().as_mut() {
                idle.push(conn);
            }
            out
        });
        task.await
            .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }

    /// Closes the idle connections now and the busy ones when they finish;
    /// later reads get `Closed`.
    pub(crate) fn close(&self) {
        self.permits.close();
        self.idle.lock().take();
    }
}

fn inconsistent(what: String) -> StoreError {
    StoreError::Corrupt(format!(
        "{what}: the store's files are inconsistent; stop the server, move the data file \
         aside and restore it from a backup"
    ))
}

fn value(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Bytes>> {
    Ok(row.get::<_, Option<Vec<u8>>>(idx)?.map(Bytes::from))
}

pub(crate) fn get(conn: &mut Connection, key: &str) -> Result<Option<KeyValue>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT k.create_rev, k.mod_rev, l.value FROM kv k \
             LEFT JOIN log l ON l.rev = k.mod_rev WHERE k.key = ?1",
        )
        .map_err(db_err)?;
    let row = stmt
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, value(r, 2)?)))
        .optional()
        .map_err(db_err)?;
    let Some((create_revision, mod_revision, value)) = row else {
        return Ok(None);
    };
    let value = value.ok_or_else(|| {
        inconsistent(format!(
            "the value of {key} at revision {mod_revision} is missing"
        ))
    })?;
    Ok(Some(KeyValue {
        key: key.to_owned(),
        value,
        create_revision,
        mod_revision,
    }))
}

fn meta(conn: &Connection, name: &str) -> Result<i64> {
    conn.prepare_cached("SELECT value FROM meta WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)))
        .map_err(db_err)
}

pub(crate) fn range(conn: &mut Connection, prefix: &str) -> Result<RangeResult> {
    // One read transaction: the revision and the rows are the same snapshot.
    let tx = conn.transaction().map_err(db_err)?;
    let revision = meta(&tx, "revision")?;
    let end = prefix_end(prefix);
    let sql = if end.is_some() {
        "SELECT k.key, k.create_rev, k.mod_rev, l.value FROM kv k \
         LEFT JOIN log l ON l.rev = k.mod_rev WHERE k.key >= ?1 AND k.key < ?2 ORDER BY k.key"
    } else {
        "SELECT k.key, k.create_rev, k.mod_rev, l.value FROM kv k \
         LEFT JOIN log l ON l.rev = k.mod_rev WHERE k.key >= ?1 ORDER BY k.key"
    };
    let mut stmt = tx.prepare_cached(sql).map_err(db_err)?;
    let map = |r: &Row<'_>| -> rusqlite::Result<(String, Revision, Revision, Option<Bytes>)> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, value(r, 3)?))
    };
    let rows = match &end {
        Some(end) => stmt.query_map([prefix, end.as_str()], map),
        None => stmt.query_map([prefix], map),
    }
    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
    .map_err(db_err)?;
    let kvs = rows
        .into_iter()
        .map(|(key, create_revision, mod_revision, value)| {
            let value = value.ok_or_else(|| {
                inconsistent(format!(
                    "the value of {key} at revision {mod_revision} is missing"
                ))
            })?;
            Ok(KeyValue {
                key,
                value,
                create_revision,
                mod_revision,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    drop(stmt);
    tx.finish().map_err(db_err)?;
    Ok(RangeResult { kvs, revision })
}

/// One page of history for a watch.
pub(crate) struct Page {
    /// Events under the prefix after the requested revision, oldest first.
    pub(crate) events: Vec<Event>,
    /// The store revision the page was read at: when the page is not full,
    /// it holds every matching event up to this revision.
    pub(crate) revision: Revision,
}

/// Reads up to `limit` events under `prefix` with a revision above `after`.
pub(crate) fn replay(
    conn: &mut Connection,
    prefix: &str,
    after: Revision,
    limit: usize,
) -> Result<Page> {
    let tx = conn.transaction().map_err(db_err)?;
    let revision = meta(&tx, "revision")?;
    let compacted = meta(&tx, "compacted")?;
    if after < compacted {
        return Err(StoreError::Compacted {
            requested: after,
            oldest: compacted,
        });
    }
    let end = prefix_end(prefix);
    let sql = if end.is_some() {
        "SELECT l.rev, l.key, l.kind, l.create_rev, l.prev_rev, l.value, p.value FROM log l \
         LEFT JOIN log p ON p.rev = l.prev_rev \
         WHERE l.rev > ?1 AND l.key >= ?2 AND l.key < ?4 ORDER BY l.rev LIMIT ?3"
    } else {
        "SELECT l.rev, l.key, l.kind, l.create_rev, l.prev_rev, l.value, p.value FROM log l \
         LEFT JOIN log p ON p.rev = l.prev_rev \
         WHERE l.rev > ?1 AND l.key >= ?2 ORDER BY l.rev LIMIT ?3"
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = tx.prepare_cached(sql).map_err(db_err)?;
    let map = |r: &Row<'_>| -> rusqlite::Result<LogRow> {
        Ok(LogRow {
            rev: r.get(0)?,
            key: r.get(1)?,
            kind: r.get(2)?,
            create_rev: r.get(3)?,
            prev_rev: r.get(4)?,
            value: value(r, 5)?,
            prev_value: value(r, 6)?,
        })
    };
    let rows = match &end {
        Some(end) => stmt.query_map(rusqlite::params![after, prefix, limit, end], map),
        None => stmt.query_map(rusqlite::params![after, prefix, limit], map),
    }
    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
    .map_err(db_err)?;
    drop(stmt);
    tx.finish().map_err(db_err)?;
    let events = rows
        .into_iter()
        .map(LogRow::into_event)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page { events, revision })
}

struct LogRow {
    rev: Revision,
    key: String,
    kind: i64,
    create_rev: Revision,
    prev_rev: Revision,
    value: Option<Bytes>,
    prev_value: Option<Bytes>,
}

impl LogRow {
    fn into_event(self) -> Result<Event> {
        let LogRow {
            rev,
            key,
            kind,
            create_rev,
            prev_rev,
            value,
            prev_value,
        } = self;
        let kv = |value: Bytes, mod_revision: Revision| KeyValue {
            key: key.clone(),
            value,
            create_revision: create_rev,
            mod_revision,
        };
        let prev = if prev_rev > 0 {
            let v = prev_value.ok_or_else(|| {
                inconsistent(format!(
                    "history of {key}: revision {rev} refers to missing revision {prev_rev}"
                ))
            })?;
            Some(kv(v, prev_rev))
        } else {
            None
        };
        match kind {
            KIND_PUT => {
                let v = value.ok_or_else(|| {
                    inconsistent(format!("history of {key}: revision {rev} has no value"))
                })?;
                Ok(Event {
                    kind: EventKind::Put,
                    kv: kv(v, rev),
                    prev,
                })
            }
            KIND_DELETE => {
                let last = prev.as_ref().map(|p| p.value.clone()).ok_or_else(|| {
                    inconsistent(format!(
                        "history of {key}: delete at revision {rev} has no previous value"
                    ))
                })?;
                Ok(Event {
                    kind: EventKind::Delete,
                    kv: kv(last, rev),
                    prev,
                })
            }
            other => Err(inconsistent(format!(
                "history of {key}: revision {rev} has unknown kind {other}"
            ))),
        }
    }
}
