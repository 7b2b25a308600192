//! Crash-safe files for keys and certificates, here and in the agent's data
//! directory: atomic writes with explicit permissions, durable renames,
//! reads that tell "absent" apart from "unreadable", and the directory lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::PkiError;

/// Permissions for certificates (public).
pub const MODE_PUBLIC: u32 = 0o644;
/// Permissions for private keys and kubeconfigs.
pub const MODE_PRIVATE: u32 = 0o600;

const LOCK_FILE: &str = ".verge-pki.lock";

/// Writes `contents` to `path` so that readers see either the old file or the
/// complete new one: write a temporary file next to it, fsync, rename over the
/// target, fsync the directory. The file gets exactly `mode` (umask ignored).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let dir = parent_dir(path);
    let file_name = path.file_name().ok_or_else(|| {
        PkiError::invalid("file path", format!("{} has no file name", path.display()))
    })?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    // A temporary left by a crashed process that had the same pid would
    // make create_new fail; it is garbage by definition.
    let _ = fs::remove_file(&tmp);

    let result = write_new_file(&tmp, contents, mode)
        .map_err(|e| PkiError::io("write", &tmp, e))
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| PkiError::io("replace", path, e)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    sync_dir(&dir);
    Ok(())
}

/// Renames `from` over `to` and makes the rename durable (a pending key
/// becoming the key, say).
pub fn rename_durable(from: &Path, to: &Path) -> Result<(), PkiError> {
    fs::rename(from, to).map_err(|e| PkiError::io("replace", to, e))?;
    sync_dir(&parent_dir(to));
    Ok(())
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options.open(path)?;
    set_mode(&file, mode)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // The umask may have narrowed the mode given to open(); set it exactly.
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Makes a completed rename durable. Some filesystems refuse fsync on a
/// directory; the data itself is already on disk then, so this only logs.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "fsync of directory failed");
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads a text file; `Ok(None)` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            PkiError::bad_file(
                path,
                "is not a text (PEM) file",
                "Restore it from a backup, or delete it so that it is generated again",
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PkiError::io("read", path, e)),
    }
}

/// Creates `dir` (and parents) if missing; a newly created directory is 0700.
pub fn ensure_dir(dir: &Path) -> Result<(), PkiError> {
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
        .map_err(|e| PkiError::io("create directory", dir, e))
}

/// Logs a warning when a private key file is readable by group or others.
pub(crate) fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{mode:o}"),
                    "private key is readable by other users; run `chmod 600` on it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// An exclusive advisory lock on the PKI directory, so that two processes
/// starting at once do not both create a CA. Released on drop (and by the
/// kernel if the process dies).
pub(crate) struct DirLock {
    file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, PkiError> {
        let path = dir.join(LOCK_FILE);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(MODE_PRIVATE);
        }
        let file = options
            .open(&path)
            .map_err(|e| PkiError::io("open lock file", &path, e))?;
        file.lock().map_err(|e| PkiError::io("lock", &path, e))?;
        Ok(DirLock { file })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_replaces() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f.key");
        write_atomic(&path, b"one", MODE_PRIVATE)?;
        write_atomic(&path, b"two", MODE_PRIVATE)?;
        assert_eq!(fs::read(&path)?, b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
            let public = dir.path().join("f.crt");
            write_atomic(&public, b"x", MODE_PUBLIC)?;
            assert_eq!(fs::metadata(&public)?.permissions().mode() & 0o777, 0o644);
        }
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        assert!(names.iter().all(|n| !n.to_string_lossy().contains(".tmp-")));
        Ok(())
    }

    #[test]
    fn read_optional_distinguishes_absent() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        assert!(read_optional(&dir.path().join("nope"))?.is_none());
        let bin = dir.path().join("bin");
        fs::write(&bin, [0xff, 0xfe, 0x00])?;
        let err = read_optional(&bin).err().ok_or("expected error")?;
        assert!(err.to_string().contains("not a text (PEM) file"), "{err}");
        Ok(())
    }
}
