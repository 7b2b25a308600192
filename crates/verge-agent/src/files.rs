//! Crash-safe writes into the agent's data directory.
//!
//! verge-pki has the same helper but keeps it private to the crate; the
//! agent needs it for files verge-pki does not own (the node key and
//! certificate, the discovered cluster info).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::AgentError;

/// Certificates and other public files.
pub(crate) const MODE_PUBLIC: u32 = 0o644;
/// Private keys.
pub(crate) const MODE_PRIVATE: u32 = 0o600;

/// Writes `contents` to `path` so that a crash leaves either the old file or
/// the complete new one, never a torn one: a temporary file in the same
/// directory created with `mode` (so a key is never readable by others, not
/// even briefly), fsynced, renamed over the target, then the directory
/// fsynced so the rename itself survives a power cut.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), AgentError> {
    let dir = parent(path);
    let name = path.file_name().ok_or_else(|| {
        AgentError::io(
            "write",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
        )
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    // A temporary file left by a crashed earlier run of this pid would make
    // create_new fail; it is garbage by definition.
    let _ = fs::remove_file(&tmp);
    let written = write_new(&tmp, contents, mode)
        .map_err(|e| AgentError::io("write", &tmp, e))
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| AgentError::io("replace", path, e)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
        return written;
    }
    sync_dir(dir);
    Ok(())
}

/// Renames `from` over `to` and makes the rename durable.
pub(crate) fn rename_durable(from: &Path, to: &Path) -> Result<(), AgentError> {
    fs::rename(from, to).map_err(|e| AgentError::io("replace", to, e))?;
    sync_dir(parent(to));
    Ok(())
}

/// Creates `dir` and its parents; directories this creates are 0700.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), AgentError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| AgentError::io("create directory", dir, e))
}

/// Reads a text file; `Ok(None)` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, AgentError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            AgentError::io(
                "read",
                path,
                io::Error::new(io::ErrorKind::InvalidData, "not a text (PEM) file"),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AgentError::io("read", path, e)),
    }
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask may have narrowed the mode given to open().
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(contents)?;
    file.sync_all()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) {
    // Some filesystems refuse fsync on a directory; the data is on disk
    // already, only the rename's durability is at stake.
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "fsync of directory failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_with_exact_mode_and_leaves_no_temporary()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("node.key");
        write_atomic(&path, b"old", MODE_PRIVATE)?;
        write_atomic(&path, b"new", MODE_PRIVATE)?;
        assert_eq!(fs::read(&path)?, b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        }
        let names: Vec<String> = fs::read_dir(dir.path())?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        assert_eq!(names, vec!["node.key".to_string()]);
        Ok(())
    }

    #[test]
    fn a_stale_temporary_from_a_crash_does_not_block_the_next_write()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("node.crt");
        let stale = dir
            .path()
            .join(format!(".node.crt.tmp-{}", std::process::id()));
        fs::write(&stale, b"half a cert")?;
        write_atomic(&path, b"whole", MODE_PUBLIC)?;
        assert_eq!(fs::read(&path)?, b"whole");
        assert!(!stale.exists());
        Ok(())
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("missing-dir").join("node.key");
        assert!(write_atomic(&path, b"x", MODE_PRIVATE).is_err());
        assert!(!path.exists());
        Ok(())
    }
}
