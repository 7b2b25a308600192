//! The one error type of this crate.
//!
//! Every message is meant to be shown to an operator as is: it names the file
//! or value at fault and, where there is one, what to do about it.

use std::path::PathBuf;

/// Everything that can go wrong while loading, creating or using the PKI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file or directory could not be read, written or created.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        /// What was being attempted ("read", "write", "create directory", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },

    /// A file exists but its contents are unusable (corrupt, wrong kind of
    /// PEM, key and certificate do not belong together, expired CA, ...).
    #[error("{}: {problem}. {fix}", path.display())]
    BadFile {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What the operator can do about it.
        fix: String,
    },

    /// Only one half of the cluster CA (certificate or key) is on disk.
    #[error(
        "incomplete cluster CA: {} exists but {} is missing. Restore the missing file from a \
         backup; or, to start over with a new cluster CA, delete {} as well (every certificate \
         and kubeconfig issued by the old CA then stops working)",
        present.display(),
        missing.display(),
        present.display()
    )]
    IncompleteCa {
        /// The half that exists.
        present: PathBuf,
        /// The half that is missing.
        missing: PathBuf,
    },

    /// A subject alternative name is neither an IP address nor a valid DNS name.
    #[error("invalid subject alternative name {value:?}: {reason}")]
    InvalidSan {
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },

    /// An argument is out of range or malformed (names, validity, ...).
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which argument.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// A certificate signing request was refused.
    #[error("certificate signing request rejected: {0}")]
    CsrRejected(String),

    /// A certificate handed to us (not read from our own files) is unusable.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),

    /// Key generation or certificate signing failed.
    #[error("cannot generate {what}: {reason}")]
    Generate {
        /// What was being generated.
        what: &'static str,
        /// The underlying error.
        reason: String,
    },

    /// A rustls configuration could not be built.
    #[error("cannot build TLS configuration: {0}")]
    Tls(String),

    /// A kubeconfig could not be produced or parsed.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
}

impl PkiError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        error: std::io::Error,
    ) -> Self {
        PkiError::Io {
            action,
            path: path.into(),
            error,
        }
    }

    pub(crate) fn bad_file(
        path: impl Into<PathBuf>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        PkiError::BadFile {
            path: path.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    pub(crate) fn generate(what: &'static str, reason: impl std::fmt::Display) -> Self {
        PkiError::Generate {
            what,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        PkiError::InvalidInput {
            what,
            reason: reason.into(),
        }
    }
}
