//! The API server's certificates: CA, serving certificate, admin identity.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::ca::{asn1_to_timestamp, parse_certificate};
use crate::files::{self, DirLock, MODE_PRIVATE, MODE_PUBLIC};
use crate::names::{self, San};
use crate::{CertifiedKey, ClusterCa, Kubeconfig, PkiError, identity_from_der, pem, tls};

/// File name of the API server's serving certificate.
pub const APISERVER_CERT_FILE: &str = "apiserver.crt";
/// File name of the API server's serving key.
pub const APISERVER_KEY_FILE: &str = "apiserver.key";
/// File name of the admin client certificate.
pub const ADMIN_CERT_FILE: &str = "admin.crt";
/// File name of the admin client key.
pub const ADMIN_KEY_FILE: &str = "admin.key";
/// Subject common name of the serving certificate.
pub const APISERVER_COMMON_NAME: &str = "verge-apiserver";
/// User name of the admin client certificate.
pub const ADMIN_USER: &str = "verge-admin";
/// Group of the admin client certificate (cluster-admin in Kubernetes RBAC).
pub const ADMIN_GROUP: &str = "system:masters";
/// Validity of a newly issued serving certificate (one year).
pub const SERVING_VALIDITY: Duration = Duration::from_secs(365 * 86_400);
/// Validity of a newly issued admin certificate (one year).
pub const ADMIN_VALIDITY: Duration = Duration::from_secs(365 * 86_400);
/// Certificates expiring within this are renewed on start (30 days).
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);
/// Names every serving certificate carries, besides the host name and the
/// SANs passed to [`ServerPki::load_or_create`].
pub const DEFAULT_SANS: [&str; 6] = [
    "localhost",
    "127.0.0.1",
    "::1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
];

/// The API server's PKI, as kept in one directory:
/// `ca.crt`/`ca.key`, `apiserver.crt`/`apiserver.key`, `admin.crt`/`admin.key`.
#[derive(Debug)]
pub struct ServerPki {
    dir: PathBuf,
    ca: ClusterCa,
    apiserver: CertifiedKey,
    admin: CertifiedKey,
    sans: Vec<String>,
    server_config: Arc<rustls::ServerConfig>,
}

/// What an existing leaf certificate must look like to be reused.
enum Want<'a> {
    Serving { sans: &'a [San] },
    Client { user: &'a str, groups: &'a [String] },
}

impl ServerPki {
    /// Loads or creates the CA (see [`ClusterCa::load_or_create`]), then
    /// makes sure of:
    ///
    /// - `apiserver.crt/.key`: serving certificate for `localhost`,
    ///   `127.0.0.1`, `::1`, the machine's host name, `kubernetes`,
    ///   `kubernetes.default`, `kubernetes.default.svc` and `sans`. Reused if
    ///   issued by the CA, for exactly these names, and valid for 30 more
    ///   days; otherwise issued anew (one year).
    /// - `admin.crt/.key`: client certificate CN `verge-admin`,
    ///   O `system:masters`; same reuse rule.
    ///
    /// Leaf files that are missing, corrupt or stale are replaced (and the
    /// reason logged); problems with the CA are errors.
    pub fn load_or_create(pki_dir: &Path, sans: &[String]) -> Result<ServerPki, PkiError> {
        ServerPki::load_or_create_with_hostname(pki_dir, sans, names::machine_hostname())
    }

    pub(crate) fn load_or_create_with_hostname(
        pki_dir: &Path,
        sans: &[String],
        hostname: Option<String>,
    ) -> Result<ServerPki, PkiError> {
        files::ensure_dir(pki_dir)?;
        let _lock = DirLock::acquire(pki_dir)?;
        let ca = ClusterCa::load_or_create_locked(pki_dir)?;

        let mut wanted: Vec<String> = DEFAULT_SANS[..3].iter().map(|s| s.to_string()).collect();
        wanted.extend(hostname);
        wanted.extend(DEFAULT_SANS[3..].iter().map(|s| s.to_string()));
        wanted.extend(sans.iter().cloned());
        let sans = names::parse_sans(&wanted)?;

        let apiserver = ensure_leaf(
            &ca,
            &pki_dir.join(APISERVER_CERT_FILE),
            &pki_dir.join(APISERVER_KEY_FILE),
            &Want::Serving { sans: &sans },
            || ca.issue_serving_named(APISERVER_COMMON_NAME, &sans, SERVING_VALIDITY),
        )?;
        let admin_groups = [ADMIN_GROUP.to_string()];
        let admin = ensure_leaf(
            &ca,
            &pki_dir.join(ADMIN_CERT_FILE),
            &pki_dir.join(ADMIN_KEY_FILE),
            &Want::Client {
                user: ADMIN_USER,
                groups: &admin_groups,
            },
            || ca.issue_client(ADMIN_USER, &admin_groups, ADMIN_VALIDITY),
        )?;
        let server_config = tls::server_tls_config(ca.ca_pem(), &apiserver)?;
        Ok(ServerPki {
            dir: pki_dir.to_path_buf(),
            ca,
            apiserver,
            admin,
            sans: sans.iter().map(ToString::to_string).collect(),
            server_config,
        })
    }

    /// The PKI directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cluster CA.
    pub fn ca(&self) -> &ClusterCa {
        &self.ca
    }

    /// The API server's serving certificate and key.
    pub fn apiserver(&self) -> &CertifiedKey {
        &self.apiserver
    }

    /// The admin client certificate and key (`verge-admin`, `system:masters`).
    pub fn admin(&self) -> &CertifiedKey {
        &self.admin
    }

    /// The serving certificate's SANs, normalized, in order.
    pub fn sans(&self) -> &[String] {
        &self.sans
    }

    /// The API server's TLS configuration: serving certificate, ALPN `h2`
    /// and `http/1.1`, client certificates requested but optional and, when
    /// presented, verified against the cluster CA.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config.clone()
    }

    /// A client configuration trusting the CA and presenting the admin certificate.
    pub fn admin_client_config(&self) -> Result<Arc<rustls::ClientConfig>, PkiError> {
        self.ca.client_config(Some(&self.admin))
    }

    /// A kubeconfig for the admin user against `server_url` (cluster
    /// `verge`, user `verge-admin`, context `verge-admin@verge`).
    pub fn admin_kubeconfig(&self, server_url: &str) -> Kubeconfig {
        Kubeconfig {
            server_url: server_url.to_string(),
            cluster_name: "verge".to_string(),
            ca_pem: self.ca.ca_pem().to_string(),
            user_name: ADMIN_USER.to_string(),
            client_cert_pem: self.admin.cert_pem.clone(),
            client_key_pem: self.admin.key_pem.clone(),
            namespace: None,
        }
    }
}

/// Returns the certificate at `cert_path`/`key_path` if it is still what is
/// wanted, otherwise issues and writes a new one.
fn ensure_leaf(
    ca: &ClusterCa,
    cert_path: &Path,
    key_path: &Path,
    want: &Want<'_>,
    issue: impl FnOnce() -> Result<CertifiedKey, PkiError>,
) -> Result<CertifiedKey, PkiError> {
    let cert = files::read_optional(cert_path);
    let key = files::read_optional(key_path);
    let reason = match (cert, key) {
        (Ok(Some(cert_pem)), Ok(Some(key_pem))) => {
            match check_leaf(ca, &cert_pem, &key_pem, want) {
                Ok(()) => {
                    files::warn_if_exposed(key_path);
                    tracing::debug!(cert = %cert_path.display(), "reusing certificate");
                    return Ok(CertifiedKey { cert_pem, key_pem });
                }
                Err(reason) => reason,
            }
        }
        // Unreadable (not absent) files are the operator's to sort out.
        (Err(e @ PkiError::Io { .. }), _) | (_, Err(e @ PkiError::Io { .. })) => return Err(e),
        (Err(e), _) | (_, Err(e)) => e.to_string(),
        (Ok(None), Ok(None)) => "it does not exist yet".to_string(),
        (Ok(None), Ok(Some(_))) => format!("{} is missing", cert_path.display()),
        (Ok(Some(_)), Ok(None)) => format!("{} is missing", key_path.display()),
    };
    let issued = issue()?;
    files::write_atomic(key_path, issued.key_pem.as_bytes(), MODE_PRIVATE)?;
    files::write_atomic(cert_path, issued.cert_pem.as_bytes(), MODE_PUBLIC)?;
    tracing::info!(cert = %cert_path.display(), %reason, "issued a new certificate");
    Ok(issued)
}

/// `Ok` if the certificate can be reused, otherwise why not.
fn check_leaf(
    ca: &ClusterCa,
    cert_pem: &str,
    key_pem: &str,
    want: &Want<'_>,
) -> Result<(), String> {
    let der = pem::single_certificate(cert_pem).map_err(|e| format!("the certificate {e}"))?;
    let cert = parse_certificate(&der).map_err(|e| format!("the certificate {e}"))?;
    let (key, _) = pem::private_key(key_pem).map_err(|e| format!("the key file {e}"))?;
    if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
        return Err("the key does not belong to the certificate".into());
    }
    ca.verify_issued(&cert)
        .map_err(|e| format!("the certificate is stale: {e}"))?;

    let now = Timestamp::now();
    let not_before = asn1_to_timestamp(cert.validity().not_before)?;
    let not_after = asn1_to_timestamp(cert.validity().not_after)?;
    if not_before > now.checked_add(SignedDuration::from_mins(5)).unwrap_or(now) {
        return Err(format!("the certificate is not valid before {not_before}"));
    }
    let renew_at = SignedDuration::try_from(RENEW_BEFORE)
        .ok()
        .and_then(|d| not_after.checked_sub(d).ok())
        .unwrap_or(not_after);
    if now >= renew_at {
        return Err(format!(
            "the certificate expires at {not_after}, in less than {} days",
            RENEW_BEFORE.as_secs() / 86_400
        ));
    }

    let eku = cert
        .extended_key_usage()
        .map_err(|e| format!("the certificate's extended key usage is malformed ({e})"))?
        .map(|ext| ext.value);
    match want {
        Want::Serving { sans } => {
            if !eku.is_some_and(|e| e.server_auth) {
                return Err("the certificate is not for serverAuth".into());
            }
            let have = cert_sans(&cert)?;
            let want: BTreeSet<San> = sans.iter().cloned().collect();
            if have != want {
                let added: Vec<String> = want.difference(&have).map(ToString::to_string).collect();
                let removed: Vec<String> =
                    have.difference(&want).map(ToString::to_string).collect();
                return Err(format!(
                    "the subject alternative names changed (added: [{}], removed: [{}])",
                    added.join(", "),
                    removed.join(", ")
                ));
            }
        }
        Want::Client { user, groups } => {
            if !eku.is_some_and(|e| e.client_auth) {
                return Err("the certificate is not for clientAuth".into());
            }
            let identity = identity_from_der(&der).map_err(|e| e.to_string())?;
            if identity.user != *user || identity.groups != *groups {
                return Err(format!(
                    "the certificate is for {:?} in {:?}, wanted {user:?} in {groups:?}",
                    identity.user, identity.groups
                ));
            }
        }
    }
    Ok(())
}

fn cert_sans(
    cert: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<BTreeSet<San>, String> {
    use x509_parser::extensions::GeneralName;
    let mut out = BTreeSet::new();
    let Some(ext) = cert
        .subject_alternative_name()
        .map_err(|e| format!("the certificate's SAN extension is malformed ({e})"))?
    else {
        return Ok(out);
    };
    for name in &ext.value.general_names {
        match name {
            GeneralName::DNSName(dns) => {
                out.insert(San::parse(dns).map_err(|e| format!("the certificate has an {e}"))?);
            }
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).ok().map(std::net::IpAddr::from),
                    16 => <[u8; 16]>::try_from(*bytes)
                        .ok()
                        .map(std::net::IpAddr::from),
                    _ => None,
                }
                .ok_or("the certificate has a malformed IP address SAN")?;
                out.insert(San::Ip(ip));
            }
            other => return Err(format!("the certificate has an unexpected SAN {other}")),
        }
    }
    Ok(out)
}
