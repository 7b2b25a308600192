//! Who a client certificate says its holder is.

use rustls::pki_types::CertificateDer;
use x509_parser::oid_registry::{OID_X509_COMMON_NAME, OID_X509_ORGANIZATION_NAME};

use crate::PkiError;
use crate::ca::parse_certificate;

/// A Kubernetes user as named by a client certificate: the subject common
/// name is the user, each subject organization a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The user name (subject CN).
    pub user: String,
    /// The groups (subject O values, in certificate order).
    pub groups: Vec<String>,
}

/// The user name prefix of node identities (Kubernetes' Node authorizer
/// convention: `system:node:<name>`).
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The group every node identity carries.
pub const NODES_GROUP: &str = "system:nodes";

impl Identity {
    /// The node name, when this identity is a node's (`system:node:<name>`
    /// in `system:nodes`).
    pub fn node_name(&self) -> Option<&str> {
        let name = self.user.strip_prefix(NODE_USER_PREFIX)?;
        (!name.is_empty() && self.groups.iter().any(|g| g == NODES_GROUP)).then_some(name)
    }
}

/// Reads the identity from a DER certificate.
///
/// This only reads names; it does not verify anything. Use it on a
/// certificate that the TLS layer has already verified against the cluster
/// CA (for instance the first of rustls' `peer_certificates()` on a
/// connection accepted with [`crate::server_tls_config`]).
pub fn identity_from_der(cert_der: &[u8]) -> Result<Identity, PkiError> {
    let cert = parse_certificate(cert_der)
        .map_err(|e| PkiError::InvalidCertificate(format!("the client certificate {e}")))?;
    let mut user = None;
    let mut groups = Vec::new();
    for attr in cert.subject().iter_attributes() {
        let oid = attr.attr_type();
        let is_cn = *oid == OID_X509_COMMON_NAME;
        if !is_cn && *oid != OID_X509_ORGANIZATION_NAME {
            continue;
        }
        let value = attr.as_str().map_err(|_| {
            PkiError::InvalidCertificate(format!(
                "subject attribute {oid} of the client certificate is not a text string"
            ))
        })?;
        if is_cn {
            if user.is_some() {
                return Err(PkiError::InvalidCertificate(
                    "the client certificate's subject has more than one common name".into(),
                ));
            }
            user = Some(value.to_string());
        } else {
            groups.push(value.to_string());
        }
    }
    match user {
        Some(user) if !user.is_empty() => Ok(Identity { user, groups }),
        _ => Err(PkiError::InvalidCertificate(
            "the client certificate's subject has no common name (user)".into(),
        )),
    }
}

/// The identity of a TLS peer from its (already verified) certificate chain:
/// `None` for an anonymous client, otherwise the identity in the end-entity
/// certificate. Pass rustls' `peer_certificates()`.
pub fn peer_identity(
    peer_certificates: Option<&[CertificateDer<'_>]>,
) -> Result<Option<Identity>, PkiError> {
    match peer_certificates.and_then(<[_]>::first) {
        Some(cert) => identity_from_der(cert).map(Some),
        None => Ok(None),
    }
}
