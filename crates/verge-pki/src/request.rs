//! The client side of certificate signing: a new key and the PKCS#10
//! request a node (or any API client) sends to be signed.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use crate::PkiError;

const ORGANIZATION_NAME_OID: [u64; 4] = [2, 5, 4, 10];

/// A new ECDSA P-256 private key, PEM (PKCS#8): the key type the cluster
/// CA issues for.
pub fn new_key_pem() -> Result<String, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map(|k| k.serialize_pem())
        .map_err(|e| PkiError::generate("key", e))
}

/// A PEM request, signed with `key_pem`, for a client certificate of
/// `common_name` in `organizations` (at most two) and nothing else: no
/// extensions, which is what the CSR approver expects of a client request
/// (the signer sets the usages).
pub fn client_csr_pem(
    key_pem: &str,
    common_name: &str,
    organizations: &[&str],
) -> Result<String, PkiError> {
    let generate = |e: rcgen::Error| PkiError::generate("certificate signing request", e);
    let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::InvalidInput {
        what: "private key",
        reason: e.to_string(),
    })?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    // rcgen keeps one value per attribute type; a second organization is
    // written under organizationName's OID as a "custom" type, which
    // encodes the same.
    let org_types = [
        DnType::OrganizationName,
        DnType::CustomDnType(ORGANIZATION_NAME_OID.to_vec()),
    ];
    if organizations.len() > org_types.len() {
        return Err(PkiError::InvalidInput {
            what: "organizations",
            reason: format!("{} given, at most two supported", organizations.len()),
        });
    }
    for (ty, org) in org_types.into_iter().zip(organizations) {
        params.distinguished_name.push(ty, *org);
    }
    params
        .serialize_request(&key)
        .map_err(generate)?
        .pem()
        .map_err(generate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_exactly_the_subject_asked_for() {
        let key = new_key_pem().expect("key");
        let pem = client_csr_pem(&key, "system:node:edge-1", &["system:nodes", "b"]).expect("csr");
        let subject = crate::inspect_csr(&pem).expect("well-formed");
        assert_eq!(subject.common_name(), Some("system:node:edge-1"));
        assert_eq!(subject.organizations, ["system:nodes", "b"]);
        assert!(!subject.has_extensions);
    }

    #[test]
    fn a_bad_key_is_refused() {
        let err = client_csr_pem("not a key", "x", &[]).expect_err("refused");
        assert!(matches!(err, PkiError::InvalidInput { .. }), "{err}");
    }
}
