//! Crash-safe files in the agent's data directory: verge-pki's helpers
//! (`verge_pki::files`), answering in the agent's error type.

use std::path::Path;

use crate::AgentError;

pub(crate) use verge_pki::files::{MODE_PRIVATE, MODE_PUBLIC};

/// Writes `contents` so that a crash leaves the old file or the whole new
/// one, with exactly `mode` from the start (a key is never readable by
/// others, not even briefly).
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), AgentError> {
    Ok(verge_pki::files::write_atomic(path, contents, mode)?)
}

/// Renames `from` over `to` and makes the rename durable.
pub(crate) fn rename_durable(from: &Path, to: &Path) -> Result<(), AgentError> {
    Ok(verge_pki::files::rename_durable(from, to)?)
}

/// Creates `dir` and its parents; directories this creates are 0700.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), AgentError> {
    Ok(verge_pki::files::ensure_dir(dir)?)
}

/// Reads a text file; `Ok(None)` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, AgentError> {
    Ok(verge_pki::files::read_optional(path)?)
}

#[cfg(test)]
mod tests {
    use std::fs;

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
    fn a_failed_write_leaves_the_old_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("missing-dir").join("node.key");
        assert!(write_atomic(&path, b"x", MODE_PRIVATE).is_err());
        assert!(!path.exists());
        Ok(())
    }
}
