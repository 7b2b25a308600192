//! Kubeconfig files carrying the cluster CA and a client identity.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::PkiError;
use crate::files::{self, MODE_PRIVATE};

/// A single-cluster, single-user kubeconfig with everything inline.
#[derive(Clone, PartialEq, Eq)]
pub struct Kubeconfig {
    /// The API server URL, e.g. `https://10.0.0.1:6443`.
    pub server_url: String,
    /// Name of the cluster entry.
    pub cluster_name: String,
    /// The cluster CA certificate, PEM.
    pub ca_pem: String,
    /// Name of the user entry.
    pub user_name: String,
    /// The client certificate, PEM.
    pub client_cert_pem: String,
    /// The client private key, PEM.
    pub client_key_pem: String,
    /// Default namespace of the context, if any.
    pub namespace: Option<String>,
}

impl fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kubeconfig")
            .field("server_url", &self.server_url)
            .field("cluster_name", &self.cluster_name)
            .field("user_name", &self.user_name)
            .field("namespace", &self.namespace)
            .field("client_key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

// The file format, as client-go reads and writes it.

#[derive(Serialize, Deserialize)]
struct File {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    current_context: String,
    #[serde(default)]
    users: Vec<NamedUser>,
}

#[derive(Serialize, Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate_authority_data: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Serialize, Deserialize)]
struct Context {
    cluster: String,
    user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct NamedUser {
    name: String,
    user: User,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_certificate_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_key_data: Option<String>,
}

impl Kubeconfig {
    /// The name of the (only) context: `<user_name>@<cluster_name>`.
    pub fn context_name(&self) -> String {
        format!("{}@{}", self.user_name, self.cluster_name)
    }

    /// The kubeconfig as YAML: `apiVersion: v1`, `kind: Config`, one
    /// cluster, user and context, the context current, certificates and key
    /// inline as base64 `*-data` fields.
    pub fn to_yaml(&self) -> Result<String, PkiError> {
        for (what, value) in [
            ("server URL", &self.server_url),
            ("cluster name", &self.cluster_name),
            ("user name", &self.user_name),
            ("CA certificate", &self.ca_pem),
            ("client certificate", &self.client_cert_pem),
            ("client key", &self.client_key_pem),
        ] {
            if value.trim().is_empty() {
                return Err(PkiError::Kubeconfig(format!("the {what} is empty")));
            }
        }
        let context = self.context_name();
        let file = File {
            api_version: "v1".into(),
            kind: "Config".into(),
            clusters: vec![NamedCluster {
                name: self.cluster_name.clone(),
                cluster: Cluster {
                    server: self.server_url.clone(),
                    certificate_authority_data: Some(STANDARD.encode(&self.ca_pem)),
                },
            }],
            contexts: vec![NamedContext {
                name: context.clone(),
                context: Context {
                    cluster: self.cluster_name.clone(),
                    user: self.user_name.clone(),
                    namespace: self.namespace.clone().filter(|ns| !ns.is_empty()),
                },
            }],
            current_context: context,
            users: vec![NamedUser {
                name: self.user_name.clone(),
                user: User {
                    client_certificate_data: Some(STANDARD.encode(&self.client_cert_pem)),
                    client_key_data: Some(STANDARD.encode(&self.client_key_pem)),
                },
            }],
        };
        // Plain one-line scalars, as kubectl writes them: no folded blocks
        // for the long base64 values.
        let mut options = serde_saphyr::SerializerOptions::default();
        options.prefer_block_scalars = false;
        serde_saphyr::to_string_with_options(&file, options)
            .map_err(|e| PkiError::Kubeconfig(format!("cannot serialize: {e}")))
    }

    /// Writes [`Kubeconfig::to_yaml`] to `path` atomically with mode 0600,
    /// creating the parent directory (0700) if needed.
    pub fn write(&self, path: &Path) -> Result<(), PkiError> {
        let yaml = self.to_yaml()?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            files::ensure_dir(parent)?;
        }
        files::write_atomic(path, yaml.as_bytes(), MODE_PRIVATE)
    }

    /// Reads back a kubeconfig of the shape [`Kubeconfig::to_yaml`] writes:
    /// the current context's cluster and user, with inline `*-data` fields.
    pub fn from_yaml(yaml: &str) -> Result<Kubeconfig, PkiError> {
        let file: File = serde_saphyr::from_str(yaml)
            .map_err(|e| PkiError::Kubeconfig(format!("cannot parse: {e}")))?;
        if file.kind != "Config" || file.api_version != "v1" {
            return Err(PkiError::Kubeconfig(format!(
                "expected apiVersion v1, kind Config; found {} {}",
                file.api_version, file.kind
            )));
        }
        let current = &file.current_context;
        let context = file
            .contexts
            .iter()
            .find(|c| &c.name == current)
            .ok_or_else(|| {
                PkiError::Kubeconfig(format!("current context {current:?} is not defined"))
            })?;
        let cluster = file
            .clusters
            .iter()
            .find(|c| c.name == context.context.cluster)
            .ok_or_else(|| {
                PkiError::Kubeconfig(format!(
                    "cluster {:?} is not defined",
                    context.context.cluster
                ))
            })?;
        let user = file
            .users
            .iter()
            .find(|u| u.name == context.context.user)
            .ok_or_else(|| {
                PkiError::Kubeconfig(format!("user {:?} is not defined", context.context.user))
            })?;
        Ok(Kubeconfig {
            server_url: cluster.cluster.server.clone(),
            cluster_name: cluster.name.clone(),
            ca_pem: decode(
                "certificate-authority-data",
                &cluster.cluster.certificate_authority_data,
            )?,
            user_name: user.name.clone(),
            client_cert_pem: decode(
                "client-certificate-data",
                &user.user.client_certificate_data,
            )?,
            client_key_pem: decode("client-key-data", &user.user.client_key_data)?,
            namespace: context.context.namespace.clone(),
        })
    }
}

fn decode(field: &str, value: &Option<String>) -> Result<String, PkiError> {
    let value = value
        .as_deref()
        .ok_or_else(|| PkiError::Kubeconfig(format!("{field} is missing")))?;
    let bytes = STANDARD
        .decode(value.trim())
        .map_err(|e| PkiError::Kubeconfig(format!("{field} is not valid base64: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| PkiError::Kubeconfig(format!("{field} does not decode to PEM text")))
}
