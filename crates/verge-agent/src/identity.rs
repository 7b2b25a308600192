//! The node's identity on disk: the pinned cluster CA, the node key and the
//! certificate the cluster issued for it, and when to renew it.
//!
//! Layout under the data directory:
//!
//! ```text
//! pki/ca.crt            the cluster CA, pinned at join (0644)
//! pki/node.key          the node's private key (0600)
//! pki/node.crt          its certificate, CN=system:node:<name> (0644)
//! pki/node.key.pending  a key whose CSR is in flight (0600)
//! agent.kubeconfig      the three above with the server URL, for the agent's own use
//! ```
//!
//! A key is written as `node.key.pending` before its CSR is sent, so an
//! agent restarted while waiting for approval sends the same request again
//! instead of a new one. When the certificate arrives it is written first
//! and the pending key renamed over `node.key` second; a crash between the
//! two leaves a certificate that matches the pending key, which [`load`]
//! notices and finishes.

use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use rcgen::KeyPair;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::AgentError;
use crate::files::{self, MODE_PRIVATE, MODE_PUBLIC};

/// The share of a certificate's lifetime after which it is renewed:
/// renewal starts in the last 20%, as the task of rotating kubelet client
/// certificates does (kubelet picks 70–90%; a fixed point keeps the
/// decision testable and the window wide for nodes that are often offline).
pub const RENEW_AT_FRACTION: f64 = 0.8;

pub use verge_pki::{NODE_USER_PREFIX, NODES_GROUP};

/// Where the agent keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    data_dir: PathBuf,
}

impl Paths {
    /// The files under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Paths {
        Paths {
            data_dir: data_dir.into(),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `pki/`.
    pub fn pki_dir(&self) -> PathBuf {
        self.data_dir.join("pki")
    }

    /// `pki/ca.crt`.
    pub fn ca(&self) -> PathBuf {
        self.pki_dir().join("ca.crt")
    }

    /// `pki/node.key`.
    pub fn key(&self) -> PathBuf {
        self.pki_dir().join("node.key")
    }

    /// `pki/node.crt`.
    pub fn cert(&self) -> PathBuf {
        self.pki_dir().join("node.crt")
    }

    /// `pki/node.key.pending`.
    pub fn pending_key(&self) -> PathBuf {
        self.pki_dir().join("node.key.pending")
    }

    /// `agent.kubeconfig`.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("agent.kubeconfig")
    }

    /// `cluster-info.json`: what the server published at join.
    pub fn cluster_info(&self) -> PathBuf {
        self.data_dir.join("cluster-info.json")
    }
}

/// A node key and the certificate the cluster issued for it.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// The cluster CA, PEM.
    pub ca_pem: String,
    /// The node certificate, PEM.
    pub cert_pem: String,
    /// The node key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate's subject CN: `system:node:<name>`.
    pub user: String,
    /// Start of the certificate's validity.
    pub not_before: Timestamp,
    /// End of the certificate's validity.
    pub not_after: Timestamp,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("user", &self.user)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// Checks that the three belong together: the certificate parses, was
    /// signed by the CA, and certifies the key's public half. Expiry is not
    /// checked here (see [`NodeIdentity::rotation`]).
    pub fn from_pem(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<NodeIdentity, String> {
        let ca_der = pem_der(ca_pem, "CA certificate")?;
        let (_, ca) = X509Certificate::from_der(&ca_der)
            .map_err(|e| format!("the CA certificate does not parse: {e}"))?;
        let cert_der = pem_der(cert_pem, "node certificate")?;
        let (_, cert) = X509Certificate::from_der(&cert_der)
            .map_err(|e| format!("the node certificate does not parse: {e}"))?;
        cert.verify_signature(Some(ca.public_key())).map_err(|_| {
            "the node certificate was not issued by the pinned cluster CA".to_string()
        })?;
        let key =
            KeyPair::from_pem(key_pem).map_err(|e| format!("the node key does not parse: {e}"))?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err("the node certificate is for another key than node.key".into());
        }
        let user = common_name(&cert)
            .ok_or_else(|| "the node certificate has no subject common name".to_string())?;
        Ok(NodeIdentity {
            ca_pem: ca_pem.to_string(),
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            user,
            not_before: asn1_time(cert.validity().not_before)?,
            not_after: asn1_time(cert.validity().not_after)?,
        })
    }

    /// The node name, from the certificate's `system:node:<name>` CN.
    pub fn node_name(&self) -> Option<&str> {
        self.user
            .strip_prefix(NODE_USER_PREFIX)
            .filter(|n| !n.is_empty())
    }

    /// Whether the certificate is to be used, renewed, or is past use.
    pub fn rotation(&self, now: Timestamp) -> Rotation {
        rotation(self.not_before, self.not_after, now)
    }
}

/// What to do about a certificate at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Use it; renew at `renew_at`.
    Valid {
        /// When the last 20% of the lifetime starts.
        renew_at: Timestamp,
    },
    /// In the last 20% of its lifetime (or not valid yet by this clock):
    /// still usable, renew now.
    Due,
    /// Past `notAfter`: unusable; only a new join can replace it.
    Expired,
}

/// The renewal decision for a certificate valid from `not_before` to
/// `not_after`, at `now`.
pub fn rotation(not_before: Timestamp, not_after: Timestamp, now: Timestamp) -> Rotation {
    if now >= not_after {
        return Rotation::Expired;
    }
    let lifetime = not_after.duration_since(not_before);
    if lifetime <= SignedDuration::ZERO {
        return Rotation::Due;
    }
    let renew_after = lifetime.mul_f64(RENEW_AT_FRACTION);
    match not_before.checked_add(renew_after) {
        Ok(renew_at) if now < renew_at && now >= not_before => Rotation::Valid { renew_at },
        // A clock behind notBefore means the clocks disagree; renewing is
        // harmless and gets a certificate dated by the server's clock.
        _ => Rotation::Due,
    }
}

/// What the data directory holds.
#[derive(Debug)]
pub enum Stored {
    /// Nothing: the node has not joined.
    Missing,
    /// A consistent identity (perhaps due for renewal).
    Usable(NodeIdentity),
    /// A consistent identity past its expiry.
    Expired {
        /// When it expired.
        not_after: Timestamp,
    },
    /// Files that cannot be used, and why.
    Unusable(String),
}

/// Reads the identity in `paths`, finishing a certificate swap that a crash
/// interrupted.
pub fn load(paths: &Paths, now: Timestamp) -> Result<Stored, AgentError> {
    let cert = files::read_optional(&paths.cert())?;
    let key = files::read_optional(&paths.key())?;
    let ca = files::read_optional(&paths.ca())?;
    let (cert, ca) = match (cert, ca) {
        (None, _) => {
            return Ok(if key.is_some() {
                Stored::Unusable("node.key is there but node.crt is missing".into())
            } else {
                Stored::Missing
            });
        }
        (Some(_), None) => {
            return Ok(Stored::Unusable(
                "node.crt is there but the pinned CA (ca.crt) is missing".into(),
            ));
        }
        (Some(cert), Some(ca)) => (cert, ca),
    };
    let from_key = |key: &str| NodeIdentity::from_pem(&ca, &cert, key);
    let identity = match key.as_deref().map(from_key) {
        Some(Ok(identity)) => identity,
        current => {
            // The certificate may be the one for the pending key, written
            // just before a crash kept the key from being moved into place.
            let pending = files::read_optional(&paths.pending_key())?;
            match pending.as_deref().map(from_key) {
                Some(Ok(identity)) => {
                    files::rename_durable(&paths.pending_key(), &paths.key())?;
                    tracing::info!(
                        key = %paths.key().display(),
                        "finished installing a renewed node key interrupted by a restart"
                    );
                    identity
                }
                _ => {
                    return Ok(Stored::Unusable(match current {
                        Some(Err(reason)) => reason,
                        _ => "node.crt is there but node.key is missing".into(),
                    }));
                }
            }
        }
    };
    if now >= identity.not_after {
        return Ok(Stored::Expired {
            not_after: identity.not_after,
        });
    }
    Ok(Stored::Usable(identity))
}

/// Pins the CA: writes `pki/ca.crt`.
pub fn save_ca(paths: &Paths, ca_pem: &str) -> Result<(), AgentError> {
    files::ensure_private_dir(&paths.pki_dir())?;
    files::write_atomic(&paths.ca(), ca_pem.as_bytes(), MODE_PUBLIC)
}

/// Stores a key whose CSR is about to be sent.
pub fn save_pending_key(paths: &Paths, key_pem: &str) -> Result<(), AgentError> {
    files::ensure_private_dir(&paths.pki_dir())?;
    files::write_atomic(&paths.pending_key(), key_pem.as_bytes(), MODE_PRIVATE)
}

/// The pending key, if a CSR is in flight.
pub fn pending_key(paths: &Paths) -> Result<Option<String>, AgentError> {
    files::read_optional(&paths.pending_key())
}

/// Installs an identity whose key is the pending key: the certificate
/// first, then the key (see the module documentation for why this order),
/// then the kubeconfig that carries both.
pub fn install(paths: &Paths, identity: &NodeIdentity, server_url: &str) -> Result<(), AgentError> {
    save_ca(paths, &identity.ca_pem)?;
    // The pending key normally holds this key already; writing it again
    // makes the swap below correct whatever the caller did before.
    save_pending_key(paths, &identity.key_pem)?;
    files::write_atomic(&paths.cert(), identity.cert_pem.as_bytes(), MODE_PUBLIC)?;
    files::rename_durable(&paths.pending_key(), &paths.key())?;
    write_kubeconfig(paths, identity, server_url)
}

/// Writes `agent.kubeconfig` for `identity` (0600: it embeds the key).
pub fn write_kubeconfig(
    paths: &Paths,
    identity: &NodeIdentity,
    server_url: &str,
) -> Result<(), AgentError> {
    kubeconfig(identity, server_url)
        .write(&paths.kubeconfig())
        .map_err(AgentError::from)
}

/// The kubeconfig of `identity` at `server_url`.
pub fn kubeconfig(identity: &NodeIdentity, server_url: &str) -> verge_pki::Kubeconfig {
    verge_pki::Kubeconfig {
        server_url: server_url.to_string(),
        cluster_name: "verge".into(),
        ca_pem: identity.ca_pem.clone(),
        user_name: identity.user.clone(),
        client_cert_pem: identity.cert_pem.clone(),
        client_key_pem: identity.key_pem.clone(),
        namespace: None,
    }
}

/// The server URL recorded in `agent.kubeconfig`, if there is one.
pub fn stored_server_url(paths: &Paths) -> Result<Option<String>, AgentError> {
    let Some(yaml) = files::read_optional(&paths.kubeconfig())? else {
        return Ok(None);
    };
    let kubeconfig = verge_pki::Kubeconfig::from_yaml(&yaml)?;
    Ok(Some(kubeconfig.server_url))
}

/// The DER of the single certificate in `pem`.
pub(crate) fn pem_der(pem: &str, what: &str) -> Result<Vec<u8>, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("the {what} is not PEM: {e}"))?;
    if block.label != "CERTIFICATE" {
        return Err(format!(
            "the {what} PEM holds a {:?}, not a CERTIFICATE",
            block.label
        ));
    }
    Ok(block.contents)
}

fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}

fn asn1_time(t: x509_parser::time::ASN1Time) -> Result<Timestamp, String> {
    Timestamp::from_second(t.timestamp())
        .map_err(|e| format!("the certificate's validity is out of range: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use verge_pki::ClusterCa;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn rotation_renews_in_the_last_fifth_of_the_lifetime() {
        let nb = ts("2026-01-01T00:00:00Z");
        let na = ts("2026-01-11T00:00:00Z"); // ten days
        let renew_at = ts("2026-01-09T00:00:00Z");
        assert_eq!(rotation(nb, na, nb), Rotation::Valid { renew_at });
        assert_eq!(
            rotation(nb, na, ts("2026-01-08T23:59:59Z")),
            Rotation::Valid { renew_at }
        );
        assert_eq!(rotation(nb, na, renew_at), Rotation::Due);
        assert_eq!(rotation(nb, na, ts("2026-01-10T23:59:59Z")), Rotation::Due);
        assert_eq!(rotation(nb, na, na), Rotation::Expired);
        assert_eq!(
            rotation(nb, na, ts("2027-01-01T00:00:00Z")),
            Rotation::Expired
        );
    }

    #[test]
    fn rotation_with_a_clock_before_not_before_or_an_empty_lifetime_renews() {
        let nb = ts("2026-01-01T00:00:00Z");
        let na = ts("2026-01-11T00:00:00Z");
        assert_eq!(rotation(nb, na, ts("2025-12-31T00:00:00Z")), Rotation::Due);
        assert_eq!(rotation(na, na, ts("2025-12-31T00:00:00Z")), Rotation::Due);
        assert_eq!(rotation(na, nb, ts("2025-12-31T00:00:00Z")), Rotation::Due);
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        ca: ClusterCa,
        paths: Paths,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ClusterCa::load_or_create(&dir.path().join("ca")).expect("ca");
        let paths = Paths::new(dir.path().join("agent"));
        Fixture {
            _dir: dir,
            ca,
            paths,
        }
    }

    fn issue(ca: &ClusterCa, name: &str) -> NodeIdentity {
        let certified = ca
            .issue_client(
                &format!("{NODE_USER_PREFIX}{name}"),
                &[NODES_GROUP.to_string()],
                std::time::Duration::from_secs(3600),
            )
            .expect("issue");
        NodeIdentity::from_pem(ca.ca_pem(), &certified.cert_pem, &certified.key_pem)
            .expect("identity")
    }

    #[test]
    fn install_then_load_round_trips_with_private_key_mode() {
        let f = fixture();
        assert!(matches!(
            load(&f.paths, Timestamp::now()),
            Ok(Stored::Missing)
        ));
        let identity = issue(&f.ca, "edge-1");
        assert_eq!(identity.node_name(), Some("edge-1"));
        install(&f.paths, &identity, "https://127.0.0.1:6443").expect("install");
        match load(&f.paths, Timestamp::now()).expect("load") {
            Stored::Usable(loaded) => assert_eq!(loaded, identity),
            other => panic!("expected a usable identity, got {other:?}"),
        }
        assert!(!f.paths.pending_key().exists());
        assert_eq!(
            stored_server_url(&f.paths).expect("url").as_deref(),
            Some("https://127.0.0.1:6443")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for (path, mode) in [
                (f.paths.key(), 0o600),
                (f.paths.kubeconfig(), 0o600),
                (f.paths.cert(), 0o644),
                (f.paths.pki_dir(), 0o700),
            ] {
                let meta = std::fs::metadata(&path).expect("metadata");
                assert_eq!(
                    meta.permissions().mode() & 0o777,
                    mode,
                    "{}",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn a_crash_between_certificate_and_key_is_finished_on_load() {
        let f = fixture();
        let old = issue(&f.ca, "edge-1");
        install(&f.paths, &old, "https://h:1").expect("install");
        // Simulate a renewal that wrote the pending key and the new
        // certificate, then crashed before moving the key into place.
        let new = issue(&f.ca, "edge-1");
        save_pending_key(&f.paths, &new.key_pem).expect("pending");
        files::write_atomic(&f.paths.cert(), new.cert_pem.as_bytes(), MODE_PUBLIC).expect("cert");
        match load(&f.paths, Timestamp::now()).expect("load") {
            Stored::Usable(loaded) => assert_eq!(loaded, new),
            other => panic!("expected the new identity, got {other:?}"),
        }
        assert!(!f.paths.pending_key().exists());
        assert_eq!(
            std::fs::read_to_string(f.paths.key()).expect("key"),
            new.key_pem
        );
    }

    #[test]
    fn a_pending_key_without_its_certificate_keeps_the_old_identity() {
        let f = fixture();
        let old = issue(&f.ca, "edge-1");
        install(&f.paths, &old, "https://h:1").expect("install");
        let new = issue(&f.ca, "edge-1");
        save_pending_key(&f.paths, &new.key_pem).expect("pending");
        match load(&f.paths, Timestamp::now()).expect("load") {
            Stored::Usable(loaded) => assert_eq!(loaded, old),
            other => panic!("expected the old identity, got {other:?}"),
        }
        assert_eq!(
            pending_key(&f.paths).expect("pending").as_deref(),
            Some(new.key_pem.as_str())
        );
    }

    #[test]
    fn inconsistent_files_are_unusable_with_a_reason() {
        let f = fixture();
        let a = issue(&f.ca, "edge-1");
        let b = issue(&f.ca, "edge-1");
        install(&f.paths, &a, "https://h:1").expect("install");
        files::write_atomic(&f.paths.key(), b.key_pem.as_bytes(), MODE_PRIVATE).expect("key");
        match load(&f.paths, Timestamp::now()).expect("load") {
            Stored::Unusable(reason) => assert!(reason.contains("another key"), "{reason}"),
            other => panic!("expected unusable, got {other:?}"),
        }

        // A certificate from another CA.
        let other = fixture();
        let foreign = issue(&other.ca, "edge-1");
        install(&f.paths, &a, "https://h:1").expect("install");
        files::write_atomic(&f.paths.cert(), foreign.cert_pem.as_bytes(), MODE_PUBLIC)
            .expect("cert");
        files::write_atomic(&f.paths.key(), foreign.key_pem.as_bytes(), MODE_PRIVATE).expect("key");
        match load(&f.paths, Timestamp::now()).expect("load") {
            Stored::Unusable(reason) => assert!(reason.contains("not issued by"), "{reason}"),
            other => panic!("expected unusable, got {other:?}"),
        }

        std::fs::remove_file(f.paths.key()).expect("rm key");
        assert!(matches!(
            load(&f.paths, Timestamp::now()).expect("load"),
            Stored::Unusable(_)
        ));
        std::fs::write(f.paths.cert(), "garbage").expect("garbage");
        std::fs::write(f.paths.key(), "garbage").expect("garbage");
        match load(&f.paths, Timestamp::now()).expect("load") {
            Stored::Unusable(reason) => assert!(reason.contains("not PEM"), "{reason}"),
            other => panic!("expected unusable, got {other:?}"),
        }
    }

    #[test]
    fn an_expired_identity_is_reported_as_expired() {
        let f = fixture();
        let identity = issue(&f.ca, "edge-1");
        install(&f.paths, &identity, "https://h:1").expect("install");
        let later = identity
            .not_after
            .checked_add(SignedDuration::from_secs(1))
            .expect("later");
        match load(&f.paths, later).expect("load") {
            Stored::Expired { not_after } => assert_eq!(not_after, identity.not_after),
            other => panic!("expected expired, got {other:?}"),
        }
    }
}
