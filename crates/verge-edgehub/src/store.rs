//! The edge's durable state in one SQLite file: the objects the cloud sent
//! (acknowledged only once committed here), the resume point, and the
//! upstream report queue. Every change is one transaction: a crash leaves
//! the state before or after it, never between.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use verge_protocol::pb::{self, BodyType, ReportKind};

/// What went wrong with the local store. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the edge database {} is unreadable ({reason}); stop the agent, move the file aside and start it again: the node then resyncs from the cloud by inventory (queued reports in the file are lost)",
        path.display()
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("edge database {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("invalid change from the cloud: {0}")]
    Invalid(String),
}

/// Which object: group, resource (plural), namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    pub group: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectId {
    fn of(key: &pb::ObjectKey) -> Result<ObjectId, StoreError> {
        let kind = key
            .kind
            .as_ref()
            .ok_or_else(|| StoreError::Invalid("an object key without a kind".into()))?;
        Ok(ObjectId {
            group: kind.group.clone(),
            resource: kind.resource.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        })
    }
}

/// An object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub id: ObjectId,
    pub uid: String,
    pub resource_version: u64,
    pub body: Vec<u8>,
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub upserts: usize,
    pub deletes: usize,
    /// Upserts no newer than what was held (redelivery).
    pub stale: usize,
}

pub struct EdgeStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    grp TEXT NOT NULL, resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    uid TEXT NOT NULL, rv INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (grp, resource, namespace, name));
CREATE TABLE IF NOT EXISTS reports (
    seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL,
    grp TEXT NOT NULL, resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    uid TEXT NOT NULL, body_type INTEGER NOT NULL, body BLOB NOT NULL, observed_at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS reports_by_object ON reports (kind, grp, resource, namespace, name);
";

/// Events are bounded: past this many queued, the oldest are dropped.
pub const MAX_QUEUED_EVENTS: i64 = 1000;

impl EdgeStore {
    /// Opens (or creates) the database at `path` and checks it.
    pub fn open(path: &Path) -> Result<EdgeStore, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let conn = Connection::open(path).map_err(|e| corrupt(e.to_string()))?;
        // A file that is not a database fails here, not at the first write.
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| corrupt(e.to_string()))?;
        if check != "ok" {
            return Err(corrupt(check));
        }
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        )
        .map_err(|e| corrupt(e.to_string()))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| corrupt(e.to_string()))?;
        let store = EdgeStore {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        };
        if store.meta("report_stream")?.is_none() {
            let stream = uuid::Uuid::new_v4().to_string();
            store.with(|c| {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ('report_stream', ?1)",
                    [&stream],
                )
                .map(|_| ())
            })?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut conn).map_err(|source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    /// The id of this data directory's report stream (sequences are
    /// unique within it, forever).
    pub fn report_stream(&self) -> Result<String, StoreError> {
        Ok(self.meta("report_stream")?.unwrap_or_default())
    }

    /// Where the node stands: the epoch and the revision it mirrors.
    pub fn resume_point(&self) -> Result<Option<pb::ResumePoint>, StoreError> {
        let epoch = self.meta("epoch")?;
        let revision = self.meta("revision")?.and_then(|r| r.parse().ok());
        Ok(match (epoch, revision) {
            (Some(epoch), Some(revision)) => Some(pb::ResumePoint { epoch, revision }),
            _ => None,
        })
    }

    /// Records the resume point (after everything up to it is stored).
    pub fn set_resume_point(&self, epoch: &str, revision: u64) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            set_resume(&tx, epoch, revision)?;
            tx.commit()
        })
    }

    /// Applies one SyncBatch in one transaction. An upsert replaces what is
    /// held only when it is newer (or another object of the same name);
    /// a final part (`more` false) also records `revision` under `epoch`.
    pub fn apply(&self, epoch: &str, batch: &pb::SyncBatch) -> Result<Applied, StoreError> {
        let mut changes = Vec::with_capacity(batch.changes.len());
        for ch in &batch.changes {
            let key = ch
                .key
                .as_ref()
                .ok_or_else(|| StoreError::Invalid("a change without a key".into()))?;
            let id = ObjectId::of(key)?;
            let rv: u64 = ch.resource_version.parse().map_err(|_| {
                StoreError::Invalid(format!(
                    "resourceVersion {:?} of {}/{} is not a number",
                    ch.resource_version, id.namespace, id.name
                ))
            })?;
            changes.push((id, key.uid.as_str(), rv, ch.change.as_ref()));
        }
        self.with(|c| {
            let tx = c.transaction()?;
            let mut applied = Applied::default();
            for (id, uid, rv, change) in &changes {
                match change {
                    Some(pb::object_change::Change::Upsert(up)) => {
                        let held: Option<(String, i64)> = tx
                            .query_row(
                                "SELECT uid, rv FROM objects WHERE grp=?1 AND resource=?2 AND namespace=?3 AND name=?4",
                                params![id.group, id.resource, id.namespace, id.name],
                                |r| Ok((r.get(0)?, r.get(1)?)),
                            )
                            .optional()?;
                        if held.is_some_and(|(u, r)| u == *uid && r >= sql_int(*rv)) {
                            applied.stale += 1;
                            continue;
                        }
                        tx.execute(
                            "INSERT OR REPLACE INTO objects (grp, resource, namespace, name, uid, rv, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            params![id.group, id.resource, id.namespace, id.name, uid, sql_int(*rv), &up.object[..]],
                        )?;
                        applied.upserts += 1;
                    }
                    // A delete names the object it removes by uid: it never
                    // removes a newer object of the same name.
                    Some(pb::object_change::Change::Delete(_)) => {
                        applied.deletes += tx.execute(
                            "DELETE FROM objects WHERE grp=?1 AND resource=?2 AND namespace=?3 AND name=?4 AND (?5 = '' OR uid = ?5)",
                            params![id.group, id.resource, id.namespace, id.name, uid],
                        )?;
                    }
                    None => {}
                }
            }
            if !batch.more {
                set_resume(&tx, epoch, batch.revision)?;
            }
            tx.commit()?;
            Ok(applied)
        })
    }

    /// One object.
    pub fn get(&self, id: &ObjectId) -> Result<Option<StoredObject>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT uid, rv, body FROM objects WHERE grp=?1 AND resource=?2 AND namespace=?3 AND name=?4",
                params![id.group, id.resource, id.namespace, id.name],
                |r| {
                    Ok(StoredObject {
                        id: id.clone(),
                        uid: r.get(0)?,
                        resource_version: from_sql_int(r.get(1)?),
                        body: r.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Every object held, in key order.
    pub fn objects(&self) -> Result<Vec<StoredObject>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT grp, resource, namespace, name, uid, rv, body FROM objects ORDER BY grp, resource, namespace, name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(StoredObject {
                    id: ObjectId {
                        group: r.get(0)?,
                        resource: r.get(1)?,
                        namespace: r.get(2)?,
                        name: r.get(3)?,
                    },
                    uid: r.get(4)?,
                    resource_version: from_sql_int(r.get(5)?),
                    body: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    /// What the edge holds, for an INVENTORY handshake.
    pub fn inventory(&self) -> Result<Vec<pb::InventoryEntry>, StoreError> {
        Ok(self
            .objects()?
            .into_iter()
            .map(|o| pb::InventoryEntry {
                key: Some(pb::ObjectKey {
                    kind: Some(pb::ResourceKind {
                        group: o.id.group,
                        version: "v1".into(),
                        resource: o.id.resource,
                    }),
                    namespace: o.id.namespace,
                    name: o.id.name,
                    uid: o.uid,
                }),
                resource_version: o.resource_version.to_string(),
            })
            .collect())
    }

    /// Queues a report; the latest state of an object replaces a queued
    /// earlier one (events excepted: each is kept, up to a bound). Returns
    /// its sequence number, never used before in this stream.
    pub fn enqueue(
        &self,
        kind: ReportKind,
        key: &pb::ObjectKey,
        body_type: BodyType,
        body: &[u8],
        observed_at_ms: i64,
    ) -> Result<u64, StoreError> {
        let id = ObjectId::of(key)?;
        self.with(|c| {
            let tx = c.transaction()?;
            let next: i64 = tx
                .query_row("SELECT value FROM meta WHERE key='next_seq'", [], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            if kind == ReportKind::Event {
                let dropped = tx.execute(
                    "DELETE FROM reports WHERE seq IN (SELECT seq FROM reports WHERE kind=?1 ORDER BY seq DESC LIMIT -1 OFFSET ?2)",
                    params![kind as i32, MAX_QUEUED_EVENTS - 1],
                )?;
                if dropped > 0 {
                    tracing::warn!(
                        dropped,
                        queued = MAX_QUEUED_EVENTS,
                        "event queue full while the cloud is unreachable; dropped the oldest events"
                    );
                }
            } else {
                tx.execute(
                    "DELETE FROM reports WHERE kind=?1 AND grp=?2 AND resource=?3 AND namespace=?4 AND name=?5",
                    params![kind as i32, id.group, id.resource, id.namespace, id.name],
                )?;
            }
            tx.execute(
                "INSERT INTO reports (seq, kind, grp, resource, namespace, name, uid, body_type, body, observed_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![next, kind as i32, id.group, id.resource, id.namespace, id.name, key.uid, body_type as i32, body, observed_at_ms],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?1)",
                [(next + 1).to_string()],
            )?;
            tx.commit()?;
            Ok(from_sql_int(next))
        })
    }

    /// Up to `limit` queued reports after sequence `after`, in order.
    pub fn pending_reports(&self, after: u64, limit: usize) -> Result<Vec<pb::Report>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT seq, kind, grp, resource, namespace, name, uid, body_type, body, observed_at_ms FROM reports WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![sql_int(after), sql_int(limit as u64)], |r| {
                Ok(pb::Report {
                    sequence: from_sql_int(r.get(0)?),
                    kind: r.get(1)?,
                    key: Some(pb::ObjectKey {
                        kind: Some(pb::ResourceKind {
                            group: r.get(2)?,
                            version: "v1".into(),
                            resource: r.get(3)?,
                        }),
                        namespace: r.get(4)?,
                        name: r.get(5)?,
                        uid: r.get(6)?,
                    }),
                    body_type: r.get(7)?,
                    body: r.get::<_, Vec<u8>>(8)?.into(),
                    observed_at_ms: r.get(9)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Drops every queued report up to `sequence` (applied or refused for
    /// good by the cloud).
    pub fn ack_reports(&self, sequence: u64) -> Result<usize, StoreError> {
        self.with(|c| c.execute("DELETE FROM reports WHERE seq <= ?1", [sql_int(sequence)]))
    }

    /// Reports waiting in the queue.
    pub fn queued_reports(&self) -> Result<u64, StoreError> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM reports", [], |r| r.get(0)))
            .map(from_sql_int)
    }
}

/// SQLite integers are signed; revisions and sequences stay far below
/// `i64::MAX`, and clamping keeps the comparison order if one did not.
fn sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql_int(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn set_resume(tx: &rusqlite::Transaction<'_>, epoch: &str, revision: u64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('epoch', ?1), ('revision', ?2)",
        params![epoch, revision.to_string()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
