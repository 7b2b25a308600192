//! What a certificate signing request asks for, read without signing it:
//! the API server refuses malformed requests at create, and the CSR
//! approver decides from the subject whether a request may be approved
//! without an administrator.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{OID_X509_COMMON_NAME, OID_X509_ORGANIZATION_NAME};
use x509_parser::prelude::FromDer;

use crate::PkiError;
use crate::ca::csr_from_pem;

/// The subject of a well-formed, correctly self-signed PKCS#10 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrSubject {
    /// The subject common names (a valid client request has exactly one).
    pub common_names: Vec<String>,
    /// The subject organizations, in request order.
    pub organizations: Vec<String>,
    /// Whether the request carries an extension request (SANs, key usages, ...).
    pub has_extensions: bool,
}

impl CsrSubject {
    /// The one common name, if there is exactly one.
    pub fn common_name(&self) -> Option<&str> {
        match self.common_names.as_slice() {
            [cn] => Some(cn),
            _ => None,
        }
    }
}

/// Parses a PEM `CERTIFICATE REQUEST` and checks its self-signature. The
/// error says what is wrong, for an API `Invalid` response.
pub fn inspect_csr(csr_pem: &str) -> Result<CsrSubject, PkiError> {
    let reject = PkiError::CsrRejected;
    let der = csr_from_pem(csr_pem).map_err(reject)?;
    let csr = match X509CertificationRequest::from_der(&der) {
        Ok(([], csr)) => csr,
        Ok(_) => return Err(reject("trailing data after the request".into())),
        Err(e) => return Err(reject(format!("not a valid PKCS#10 request ({e})"))),
    };
    csr.verify_signature().map_err(|e| {
        reject(format!(
            "its signature does not verify ({e}); the request was altered or was not signed \
             with the key it contains"
        ))
    })?;
    let info = &csr.certification_request_info;
    let mut common_names = Vec::new();
    let mut organizations = Vec::new();
    for attr in info.subject.iter_attributes() {
        let oid = attr.attr_type();
        let Ok(value) = attr.as_str() else {
            return Err(reject(format!(
                "subject attribute {oid} is not a text string"
            )));
        };
        if *oid == OID_X509_COMMON_NAME {
            common_names.push(value.to_string());
        } else if *oid == OID_X509_ORGANIZATION_NAME {
            organizations.push(value.to_string());
        }
    }
    Ok(CsrSubject {
        common_names,
        organizations,
        has_extensions: info.iter_attributes().next().is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(cn: &str, orgs: &[&str]) -> String {
        let key = crate::new_key_pem().expect("key");
        crate::client_csr_pem(&key, cn, orgs).expect("csr")
    }

    #[test]
    fn reads_the_subject_of_a_valid_request() {
        let subject = inspect_csr(&csr("system:node:edge-1", &["system:nodes"])).expect("valid");
        assert_eq!(subject.common_name(), Some("system:node:edge-1"));
        assert_eq!(subject.organizations, vec!["system:nodes".to_string()]);
    }

    #[test]
    fn refuses_garbage_and_tampered_requests() {
        for bad in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        ] {
            assert!(
                matches!(inspect_csr(bad), Err(PkiError::CsrRejected(_))),
                "{bad:?}"
            );
        }
        let pem = csr("system:node:edge-1", &["system:nodes"]);
        let der = csr_from_pem(&pem).expect("der");
        let mut tampered = der.clone();
        // Flip a byte in the subject: the signature no longer matches.
        let at = tampered
            .windows(4)
            .position(|w| w == b"edge")
            .expect("subject bytes");
        tampered[at] = b'x';
        let tampered_pem = crate::pem::encode("CERTIFICATE REQUEST", &tampered);
        let err = inspect_csr(&tampered_pem)
            .expect_err("tampered")
            .to_string();
        assert!(err.contains("signature"), "{err}");
    }
}
