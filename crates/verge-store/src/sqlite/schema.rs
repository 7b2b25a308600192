//! Opening the file: locking, pragmas, integrity checks, schema creation and
//! validation.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use super::SqliteOptions;
use crate::{Result, Revision, StoreError};

/// Stored in the file header (`PRAGMA application_id`): "VRGE".
const APPLICATION_ID: i64 = 0x5652_4745;
/// `PRAGMA user_version` of the schema this code writes.
const SCHEMA_VERSION: i64 = 1;

/// `log.kind` values.
pub(crate) const KIND_PUT: i64 = 0;
pub(crate) const KIND_DELETE: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE kv (
    key        TEXT PRIMARY KEY,
    create_rev INTEGER NOT NULL,
    mod_rev    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE log (
    rev        INTEGER PRIMARY KEY,
    key        TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev   INTEGER NOT NULL,
    value      BLOB
);
INSERT INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0);
";

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The writer's connection and what it read while opening.
pub(crate) struct Opened {
    pub(crate) conn: Connection,
    pub(crate) lock: File,
    pub(crate) revision: Revision,
    pub(crate) compacted: Revision,
}

/// What to tell an operator whose store file cannot be used.
fn corrupt(path: &Path, what: impl std::fmt::Display) -> StoreError {
    let p = path.display();
    StoreError::Corrupt(format!(
        "{p}: {what}. Refusing to use it. Stop the server, move {p} (and {p}-wal, {p}-shm \
         if present) aside, then restore it from a backup, or start with an empty data \
         directory to begin with an empty store"
    ))
}

/// Maps an SQLite error met while opening `path`.
fn open_err(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => corrupt(path, "the file is not an SQLite database"),
        Some(ErrorCode::DatabaseCorrupt) => corrupt(path, format!("the database is corrupt ({e})")),
        _ => StoreError::Backend(format!("cannot open {}: {e}", path.display())),
    }
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("cannot {what} {}: {e}", path.display()))
}

/// Takes an exclusive advisory lock on `<path>.lock` so that no second store
/// (in this or another process) writes the same file: revisions are assigned
/// in memory. The lock goes with the process, even on `kill -9`.
fn lock(path: &Path) -> Result<File> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = Path::new(&lock_path);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .map_err(|e| io_err(lock_path, "create lock file", e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Backend(format!(
            "{} is in use: another Verge store (in this or another process) has it open",
            path.display()
        ))),
        Err(TryLockError::Error(e)) => Err(io_err(lock_path, "lock", e)),
    }
}

/// Settings every connection gets.
pub(crate) fn configure(conn: &Connection, opts: &SqliteOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "cache_size", -i64::from(opts.cache_kib))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// Opens a read-only connection for the reader pool.
pub(crate) fn open_reader(path: &Path, opts: &SqliteOptions) -> Result<Connection> {
    // Read-write at the file level (WAL readers need the -shm file) but
    // query_only: these connections never write.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_err(path, e))?;
    configure(&conn, opts).map_err(|e| open_err(path, e))?;
    conn.pragma_update(None, "query_only", true)
        .map_err(|e| open_err(path, e))?;
    Ok(conn)
}

/// Opens the connection that copies the WAL back into the database file.
pub(crate) fn open_checkpointer(path: &Path, opts: &SqliteOptions) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_err(path, e))?;
    configure(&conn, opts).map_err(|e| open_err(path, e))?;
    // Checkpoints fsync the WAL before and the database file after copying.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| open_err(path, e))?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(|e| open_err(path, e))?;
    Ok(conn)
}

/// Opens `path` for writing: creates the file and schema if missing, checks
/// an existing file, and reads the revisions.
pub(crate) fn open(path: &Path, opts: &SqliteOptions) -> Result<Opened> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, "create directory", e))?;
    }
    if path.is_dir() {
        return Err(StoreError::Backend(format!(
            "{} is a directory",
            path.display()
        )));
    }
    let lock = lock(path)?;
    let existed = std::fs::metadata(path)
        .map(|m| m.len() > 0)
        .unwrap_or(false);

    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| open_err(path, e))?;
    configure(&conn, opts).map_err(|e| open_err(path, e))?;

    // The first statement that reads the file: fails on a non-database.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| open_err(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "{}: cannot use write-ahead logging (journal_mode is {mode}); put the data \
             directory on a local filesystem",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| open_err(path, e))?;
    let wal_limit = i64::try_from(opts.wal_limit_bytes).unwrap_or(i64::MAX);
    conn.pragma_update(None, "journal_size_limit", wal_limit)
        .map_err(|e| open_err(path, e))?;

    // Checkpoints run on their own thread (checkpoint.rs), not inside commits.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(|e| open_err(path, e))?;
    if existed && opts.check_on_open {
        quick_check(&conn, path)?;
    }

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| open_err(path, e))?;
    let objects: i64 = tx
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| open_err(path, e))?;
    let created = objects == 0;
    if created {
        tx.execute_batch(SCHEMA).map_err(|e| open_err(path, e))?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|e| open_err(path, e))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| open_err(path, e))?;
    }
    let (revision, compacted) = validate(&tx, path)?;
    tx.commit().map_err(|e| open_err(path, e))?;

    if created {
        // Make the new file's directory entry durable too.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Err(e) = File::open(dir).and_then(|d| d.sync_all())
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot fsync data directory");
        }
        tracing::info!(path = %path.display(), "created a new store");
    }
    Ok(Opened {
        conn,
        lock,
        revision,
        compacted,
    })
}

fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    let mut stmt = conn
        .prepare("PRAGMA quick_check(10)")
        .map_err(|e| open_err(path, e))?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| open_err(path, e))?;
    if problems.len() != 1 || problems[0] != "ok" {
        return Err(corrupt(
            path,
            format!("it fails its integrity check ({})", problems.join("; ")),
        ));
    }
    tracing::debug!(elapsed = ?started.elapsed(), "quick_check passed");
    Ok(())
}

/// Checks that the file holds a store of our schema whose numbers agree,
/// and returns (revision, compacted).
fn validate(conn: &Connection, path: &Path) -> Result<(Revision, Revision)> {
    let pragma = |name: &str| -> Result<i64> {
        conn.pragma_query_value(None, name, |r| r.get(0))
            .map_err(|e| open_err(path, e))
    };
    let app = pragma("application_id")?;
    if app != APPLICATION_ID {
        return Err(corrupt(
            path,
            "the file is an SQLite database but not a Verge store",
        ));
    }
    let version = pragma("user_version")?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "{}: the store was written by a newer Verge (schema {version}, this one reads \
             up to {SCHEMA_VERSION}); run a newer Verge or restore a backup",
            path.display()
        )));
    }
    if version != SCHEMA_VERSION {
        return Err(corrupt(path, format!("unknown schema version {version}")));
    }
    let meta = |name: &str| -> Result<i64> {
        conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| corrupt(path, format!("cannot read meta.{name} ({e})")))?
        .ok_or_else(|| corrupt(path, format!("meta.{name} is missing")))
    };
    let revision = meta("revision")?;
    let compacted = meta("compacted")?;
    let max = |sql: &str| -> Result<i64> {
        conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
            .map(|v| v.unwrap_or(0))
            .map_err(|e| corrupt(path, format!("cannot read the store tables ({e})")))
    };
    let max_log = max("SELECT max(rev) FROM log")?;
    let max_kv = max("SELECT max(mod_rev) FROM kv")?;
    if revision < 0 || compacted < 0 || compacted > revision {
        return Err(corrupt(
            path,
            format!("inconsistent revisions (revision {revision}, compacted {compacted})"),
        ));
    }
    if max_log > revision || max_kv > revision {
        return Err(corrupt(
            path,
            format!(
                "history goes past the recorded revision {revision} (log {max_log}, kv {max_kv})"
            ),
        ));
    }
    Ok((revision, compacted))
}
