//! The cluster's certificate authority, the certificates it signs, and the
//! kubeconfig files that carry them to clients.
//!
//! - [`ClusterCa`]: the CA on disk (`ca.crt`, `ca.key`); issues serving and
//!   client certificates and signs edge agents' CSRs under a [`CsrPolicy`].
//! - [`ServerPki`]: everything `verge server` needs in its PKI directory,
//!   including its rustls [`rustls::ServerConfig`].
//! - [`server_tls_config`], [`client_tls_config`]: rustls configurations
//!   anchored on the cluster CA (always with the ring provider).
//! - [`identity_from_der`], [`peer_identity`]: the Kubernetes user and
//!   groups in a verified client certificate.
//! - [`Kubeconfig`]: a standard kubeconfig with inline credentials.
//! - [`join_token`]: the `V1.<id>.<secret>.<ca-pin>` token that joins a node.

mod ca;
mod csr_info;
mod der;
mod error;
pub mod files;
mod identity;
pub mod join_token;
mod kubeconfig;
mod names;
mod pem;
mod request;
mod sakey;
mod server;
mod tls;

pub use ca::{
    CA_CERT_FILE, CA_COMMON_NAME, CA_KEY_FILE, CA_VALIDITY, CertUsage, CertifiedKey, ClusterCa,
    CsrPolicy,
};
pub use csr_info::{CsrSubject, inspect_csr};
pub use error::PkiError;
pub use identity::{Identity, NODE_USER_PREFIX, NODES_GROUP, identity_from_der, peer_identity};
pub use kubeconfig::Kubeconfig;
pub use request::{client_csr_pem, new_key_pem};
pub use sakey::{SA_KEY_FILE, ServiceAccountKey};
pub use server::{
    ADMIN_CERT_FILE, ADMIN_GROUP, ADMIN_KEY_FILE, ADMIN_USER, ADMIN_VALIDITY, APISERVER_CERT_FILE,
    APISERVER_COMMON_NAME, APISERVER_KEY_FILE, DEFAULT_SANS, RENEW_BEFORE, SERVING_VALIDITY,
    ServerPki,
};
pub use tls::{
    ALPN_PROTOCOLS, client_tls_config, crypto_provider, mtls_server_tls_config, server_tls_config,
};
