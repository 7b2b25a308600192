//! The cluster certificate authority and the certificates it issues.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519, OID_X509_COMMON_NAME, OID_X509_ORGANIZATION_NAME,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::files::{self, DirLock, MODE_PRIVATE, MODE_PUBLIC};
use crate::names::{self, San};
use crate::{PkiError, der, pem};

/// File name of the CA certificate inside the PKI directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key inside the PKI directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// Common name of a CA created by [`ClusterCa::load_or_create`].
pub const CA_COMMON_NAME: &str = "verge-ca";
/// Validity of a newly created CA: ten years (3,653 days).
pub const CA_VALIDITY: Duration = Duration::from_secs(3_653 * 86_400);

/// How far back `notBefore` is set, to tolerate clocks that lag a little.
const BACKDATE: SignedDuration = SignedDuration::from_mins(5);

const FIX_RESTORE_CA: &str = "Restore ca.crt and ca.key from a backup; or, to start over with a \
     new cluster CA, delete both files (every certificate and kubeconfig issued by the old CA \
     then stops working)";

/// A certificate and its private key, both PEM encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct CertifiedKey {
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8, `PRIVATE KEY`).
    pub key_pem: String,
}

impl CertifiedKey {
    /// The certificate as DER.
    pub fn cert_der(&self) -> Result<CertificateDer<'static>, PkiError> {
        pem::single_certificate(&self.cert_pem).map_err(PkiError::InvalidCertificate)
    }

    /// The private key as DER, for rustls.
    pub fn key_der(&self) -> Result<PrivateKeyDer<'static>, PkiError> {
        pem::private_key(&self.key_pem)
            .map(|(_, der)| der)
            .map_err(|e| PkiError::invalid("private key", format!("the key PEM {e}")))
    }

    /// When the certificate expires.
    pub fn not_after(&self) -> Result<Timestamp, PkiError> {
        let der = self.cert_der()?;
        let cert = parse_certificate(&der).map_err(PkiError::InvalidCertificate)?;
        asn1_to_timestamp(cert.validity().not_after).map_err(PkiError::InvalidCertificate)
    }
}

impl fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// What an issued certificate may be used for (its extended key usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertUsage {
    /// TLS client authentication (`clientAuth`).
    Client,
    /// TLS server authentication (`serverAuth`).
    Server,
    /// Both.
    ClientAndServer,
}

impl CertUsage {
    fn client(self) -> bool {
        matches!(self, CertUsage::Client | CertUsage::ClientAndServer)
    }

    fn server(self) -> bool {
        matches!(self, CertUsage::Server | CertUsage::ClientAndServer)
    }
}

/// What [`ClusterCa::sign_csr`] accepts. The request's subject must match
/// exactly; the issued certificate's key usage comes from the policy, never
/// from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrPolicy {
    /// The only acceptable subject common name (the Kubernetes user).
    pub common_name: String,
    /// The exact set of subject organizations (Kubernetes groups) the request
    /// must carry, in any order. Empty: the request must carry none.
    pub organizations: Vec<String>,
    /// The extended key usage of the issued certificate. A request asking for
    /// a usage outside of this is refused.
    pub usage: CertUsage,
    /// DNS names and IP addresses the request may ask for as subject
    /// alternative names. Empty: the request must not ask for any.
    pub allowed_sans: Vec<String>,
}

impl CsrPolicy {
    /// A client certificate for `common_name` with groups `organizations` and no SANs.
    pub fn client(common_name: impl Into<String>, organizations: &[String]) -> CsrPolicy {
        CsrPolicy {
            common_name: common_name.into(),
            organizations: organizations.to_vec(),
            usage: CertUsage::Client,
            allowed_sans: Vec::new(),
        }
    }
}

/// The cluster certificate authority: its certificate and signing key.
pub struct ClusterCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    not_before: Timestamp,
    not_after: Timestamp,
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// What a leaf certificate should look like.
struct LeafSpec<'a> {
    common_name: &'a str,
    organizations: &'a [String],
    sans: &'a [San],
    usage: CertUsage,
    validity: Duration,
    /// The subject key is RSA (serving certificates then also get keyEncipherment).
    rsa_key: bool,
}

impl ClusterCa {
    /// Loads `ca.crt` and `ca.key` from `dir`, or, if neither exists, creates
    /// a new ECDSA P-256 CA (CN `verge-ca`, ten years) and writes them
    /// (certificate 0644, key 0600, each atomically). `dir` is created (0700)
    /// if missing. Concurrent callers on one directory are serialized by a
    /// lock file.
    pub fn load_or_create(dir: &Path) -> Result<ClusterCa, PkiError> {
        files::ensure_dir(dir)?;
        let _lock = DirLock::acquire(dir)?;
        ClusterCa::load_or_create_locked(dir)
    }

    /// [`ClusterCa::load_or_create`] for a caller that holds the directory lock.
    pub(crate) fn load_or_create_locked(dir: &Path) -> Result<ClusterCa, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert = files::read_optional(&cert_path)?;
        let key = files::read_optional(&key_path)?;
        match (cert, key) {
            (Some(cert), Some(key)) => {
                files::warn_if_exposed(&key_path);
                let ca = ClusterCa::from_pem_files(&cert, &cert_path, &key, &key_path)?;
                tracing::debug!(dir = %dir.display(), not_after = %ca.not_after, "loaded cluster CA");
                Ok(ca)
            }
            (None, None) => ClusterCa::create(&cert_path, &key_path),
            (Some(_), None) => Err(PkiError::IncompleteCa {
                present: cert_path,
                missing: key_path,
            }),
            (None, Some(_)) => Err(PkiError::IncompleteCa {
                present: key_path,
                missing: cert_path,
            }),
        }
    }

    fn create(cert_path: &Path, key_path: &Path) -> Result<ClusterCa, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| PkiError::generate("CA key", e))?;
        let now = Timestamp::now();
        let not_after = add_duration(now, CA_VALIDITY)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, CA_COMMON_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial());
        set_validity(&mut params, sub_backdate(now), not_after)?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| PkiError::generate("CA certificate", e))?;
        let cert_pem = pem::encode("CERTIFICATE", cert.der());
        let key_pem = key.serialize_pem();

        // Load through the same path as a restart does, before anything is
        // written, so that what lands on disk is known to be loadable.
        let ca = ClusterCa::from_pem_files(&cert_pem, cert_path, &key_pem, key_path)?;
        files::write_atomic(key_path, key_pem.as_bytes(), MODE_PRIVATE)?;
        files::write_atomic(cert_path, cert_pem.as_bytes(), MODE_PUBLIC)?;
        tracing::info!(
            cert = %cert_path.display(),
            key = %key_path.display(),
            not_after = %ca.not_after,
            "created a new cluster CA"
        );
        Ok(ca)
    }

    fn from_pem_files(
        cert_pem: &str,
        cert_path: &Path,
        key_pem: &str,
        key_path: &Path,
    ) -> Result<ClusterCa, PkiError> {
        let bad_cert = |problem: String| PkiError::bad_file(cert_path, problem, FIX_RESTORE_CA);
        let cert_der = pem::single_certificate(cert_pem).map_err(bad_cert)?;
        let cert = parse_certificate(&cert_der).map_err(bad_cert)?;
        if !cert.is_ca() {
            return Err(bad_cert(
                "is not a CA certificate (basicConstraints CA:TRUE is missing)".into(),
            ));
        }
        let not_before = asn1_to_timestamp(cert.validity().not_before).map_err(bad_cert)?;
        let not_after = asn1_to_timestamp(cert.validity().not_after).map_err(bad_cert)?;
        let now = Timestamp::now();
        if not_after <= now {
            return Err(PkiError::bad_file(
                cert_path,
                format!("the cluster CA certificate expired at {not_after}"),
                "A new cluster CA is needed: move ca.crt and ca.key away (keep them for the \
                 record) and restart to create a new one, then hand out new kubeconfigs and \
                 re-enroll the edge agents",
            ));
        }
        if not_after < add_signed(now, SignedDuration::from_hours(24 * 365)) {
            tracing::warn!(
                cert = %cert_path.display(),
                %not_after,
                "the cluster CA expires within a year; plan its rotation"
            );
        }

        let (key, _) = pem::private_key(key_pem)
            .map_err(|problem| PkiError::bad_file(key_path, problem, FIX_RESTORE_CA))?;
        if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
            return Err(PkiError::bad_file(
                key_path,
                format!(
                    "does not belong to {} (their public keys differ)",
                    cert_path.display()
                ),
                FIX_RESTORE_CA,
            ));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| bad_cert(format!("cannot be used to sign certificates ({e})")))?;
        Ok(ClusterCa {
            cert_pem: cert_pem.to_string(),
            cert_der: cert_der.clone(),
            issuer,
            not_before,
            not_after,
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// When the CA certificate expires.
    pub fn not_after(&self) -> Timestamp {
        self.not_after
    }

    /// A rustls client configuration that trusts this CA, presenting
    /// `identity` as client certificate if given. See [`crate::client_tls_config`].
    pub fn client_config(
        &self,
        identity: Option<&CertifiedKey>,
    ) -> Result<Arc<rustls::ClientConfig>, PkiError> {
        crate::tls::client_tls_config(&self.cert_pem, identity)
    }

    /// Issues a TLS serving certificate (`serverAuth`) with a fresh ECDSA
    /// P-256 key. Each SAN is an IP address (v4, or v6 with or without
    /// brackets) or a DNS name (a leading `*.` wildcard is allowed); the
    /// subject common name is the first SAN. Validity is capped at the CA's
    /// own expiry.
    pub fn issue_serving(
        &self,
        sans: &[String],
        validity: Duration,
    ) -> Result<CertifiedKey, PkiError> {
        let sans = names::parse_sans(sans)?;
        let first = sans.first().ok_or_else(|| {
            PkiError::invalid(
                "subject alternative names",
                "a serving certificate needs at least one DNS name or IP address",
            )
        })?;
        let common_name = first.to_string();
        self.issue_serving_named(&common_name, &sans, validity)
    }

    pub(crate) fn issue_serving_named(
        &self,
        common_name: &str,
        sans: &[San],
        validity: Duration,
    ) -> Result<CertifiedKey, PkiError> {
        self.issue_with_new_key(&LeafSpec {
            common_name,
            organizations: &[],
            sans,
            usage: CertUsage::Server,
            validity,
            rsa_key: false,
        })
    }

    /// Issues a TLS client certificate (`clientAuth`) with a fresh ECDSA
    /// P-256 key. Following Kubernetes, the subject common name is the user
    /// and each organization (one O attribute each) is a group.
    pub fn issue_client(
        &self,
        common_name: &str,
        organizations: &[String],
        validity: Duration,
    ) -> Result<CertifiedKey, PkiError> {
        names::validate_subject_value("user name (common name)", common_name)?;
        for org in organizations {
            names::validate_subject_value("group name (organization)", org)?;
        }
        self.issue_with_new_key(&LeafSpec {
            common_name,
            organizations,
            sans: &[],
            usage: CertUsage::Client,
            validity,
            rsa_key: false,
        })
    }

    /// Signs a PEM certificate signing request (as sent by an edge agent)
    /// and returns the certificate, PEM.
    ///
    /// The request must carry a valid self-signature; a subject of exactly
    /// one common name equal to `policy.common_name` and organizations equal
    /// (as a set) to `policy.organizations`, nothing else; an ECDSA P-256 or
    /// P-384, Ed25519 or RSA (at least 2048 bits) key; and may only ask for
    /// SANs in `policy.allowed_sans`, for key usages within `policy.usage`,
    /// and not to be a CA. Anything else is refused with
    /// [`PkiError::CsrRejected`] saying why.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        policy: &CsrPolicy,
        validity: Duration,
    ) -> Result<String, PkiError> {
        names::validate_subject_value("policy common name", &policy.common_name)?;
        for org in &policy.organizations {
            names::validate_subject_value("policy organization", org)?;
        }
        let allowed_sans = names::parse_sans(&policy.allowed_sans)?;

        let reject = |reason: String| PkiError::CsrRejected(reason);
        let csr_der = csr_from_pem(csr_pem).map_err(reject)?;
        let csr = match X509CertificationRequest::from_der(&csr_der) {
            Ok(([], csr)) => csr,
            Ok(_) => return Err(reject("trailing data after the request".into())),
            Err(e) => return Err(reject(format!("not a valid PKCS#10 request ({e})"))),
        };
        csr.verify_signature().map_err(|e| {
            reject(format!(
                "its signature does not verify ({e}); the request was altered or was not \
                 signed with the key it contains"
            ))
        })?;
        let info = &csr.certification_request_info;
        if info.version.0 != 0 {
            return Err(reject(format!(
                "unsupported request version {}",
                info.version.0
            )));
        }

        check_csr_subject(&csr, policy).map_err(reject)?;
        check_csr_key(&csr).map_err(reject)?;
        let sans = check_csr_extensions(&csr, policy, &allowed_sans).map_err(reject)?;
        if policy.usage.server() && sans.is_empty() {
            return Err(reject(
                "a serving certificate needs at least one subject alternative name".into(),
            ));
        }

        let public_key = rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw)
            .map_err(|e| reject(format!("its public key is not supported ({e})")))?;
        let mut organizations: Vec<String> = Vec::new();
        for org in &policy.organizations {
            if !organizations.contains(org) {
                organizations.push(org.clone());
            }
        }
        let der = self.sign_leaf(
            &LeafSpec {
                common_name: &policy.common_name,
                organizations: &organizations,
                sans: &sans,
                usage: policy.usage,
                validity,
                rsa_key: info.subject_pki.algorithm.algorithm == OID_PKCS1_RSAENCRYPTION,
            },
            &public_key,
        )?;
        tracing::info!(
            common_name = %policy.common_name,
            organizations = ?policy.organizations,
            "signed a certificate signing request"
        );
        Ok(pem::encode("CERTIFICATE", &der))
    }

    fn issue_with_new_key(&self, spec: &LeafSpec<'_>) -> Result<CertifiedKey, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| PkiError::generate("private key", e))?;
        let der = self.sign_leaf(spec, &key)?;
        Ok(CertifiedKey {
            cert_pem: pem::encode("CERTIFICATE", &der),
            key_pem: key.serialize_pem(),
        })
    }

    /// Builds, signs and checks a leaf certificate for `public_key`.
    fn sign_leaf(
        &self,
        spec: &LeafSpec<'_>,
        public_key: &impl PublicKeyData,
    ) -> Result<Vec<u8>, PkiError> {
        if spec.validity.is_zero() {
            return Err(PkiError::invalid("validity", "it must be longer than zero"));
        }
        let now = Timestamp::now();
        if self.not_after <= now {
            return Err(PkiError::generate(
                "certificate",
                format!("the cluster CA expired at {}", self.not_after),
            ));
        }
        let not_before = sub_backdate(now).max(self.not_before);
        let wanted_not_after = add_duration(now, spec.validity).unwrap_or(self.not_after);
        let not_after = if wanted_not_after > self.not_after {
            tracing::warn!(
                common_name = spec.common_name,
                ca_not_after = %self.not_after,
                "certificate validity capped at the cluster CA's expiry"
            );
            self.not_after
        } else {
            wanted_not_after
        };

        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, spec.common_name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if spec.rsa_key && spec.usage.server() {
            // RSA key exchange in TLS 1.2 encrypts to the server's key.
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        if spec.usage.server() {
            params.insert_extended_key_usage(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if spec.usage.client() {
            params.insert_extended_key_usage(ExtendedKeyUsagePurpose::ClientAuth);
        }
        params.subject_alt_names = spec
            .sans
            .iter()
            .map(San::to_rcgen)
            .collect::<Result<_, _>>()?;
        set_validity(&mut params, not_before, not_after)?;

        let cert = params
            .signed_by(public_key, &self.issuer)
            .map_err(|e| PkiError::generate("certificate", e))?;
        let der = if spec.organizations.is_empty() {
            cert.der().to_vec()
        } else {
            let subject = der::encode_subject(spec.common_name, spec.organizations);
            der::replace_subject(cert.der(), &subject, self.issuer.key())
                .map_err(|e| PkiError::generate("certificate", e))?
        };
        // Check the result the way a TLS peer will.
        let parsed = parse_certificate(&der).map_err(|e| PkiError::generate("certificate", e))?;
        self.verify_issued(&parsed)
            .map_err(|e| PkiError::generate("certificate", e))?;
        Ok(der)
    }

    /// Whether `cert` was issued by this CA: its issuer is the CA's subject
    /// and its signature verifies with the CA's key.
    pub(crate) fn verify_issued(&self, cert: &X509Certificate<'_>) -> Result<(), String> {
        let ca = parse_certificate(&self.cert_der)?;
        if cert.issuer().as_raw() != ca.subject().as_raw() {
            return Err(format!(
                "it was issued by \"{}\", not by the cluster CA \"{}\"",
                cert.issuer(),
                ca.subject()
            ));
        }
        cert.verify_signature(Some(ca.public_key()))
            .map_err(|_| "its signature does not verify with the cluster CA's key".to_string())
    }
}

pub(crate) fn csr_from_pem(csr_pem: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::CertificateSigningRequestDer;
    use rustls::pki_types::pem::PemObject;
    let mut items = CertificateSigningRequestDer::pem_slice_iter(csr_pem.as_bytes());
    let csr = match items.next() {
        Some(Ok(csr)) => csr,
        Some(Err(e)) => return Err(format!("not valid PEM ({e})")),
        None => return Err("no PEM block labelled CERTIFICATE REQUEST".into()),
    };
    if items.next().is_some() {
        return Err("more than one CERTIFICATE REQUEST block".into());
    }
    Ok(csr.as_ref().to_vec())
}

fn check_csr_subject(csr: &X509CertificationRequest<'_>, policy: &CsrPolicy) -> Result<(), String> {
    let mut common_names = Vec::new();
    let mut organizations = Vec::new();
    for attr in csr.certification_request_info.subject.iter_attributes() {
        let oid = attr.attr_type();
        let value = attr
            .as_str()
            .map_err(|_| format!("subject attribute {oid} is not a text string"))?;
        if *oid == OID_X509_COMMON_NAME {
            common_names.push(value);
        } else if *oid == OID_X509_ORGANIZATION_NAME {
            organizations.push(value);
        } else {
            return Err(format!(
                "subject attribute {oid} ({value:?}) is not allowed; only CN (user) and O \
                 (groups) are"
            ));
        }
    }
    match common_names.as_slice() {
        [cn] if *cn == policy.common_name => {}
        [cn] => {
            return Err(format!(
                "subject common name is {cn:?}, expected {:?}",
                policy.common_name
            ));
        }
        [] => {
            return Err(format!(
                "subject has no common name, expected {:?}",
                policy.common_name
            ));
        }
        _ => return Err("subject has more than one common name".into()),
    }
    let mut got: Vec<&str> = organizations;
    got.sort_unstable();
    got.dedup();
    let mut want: Vec<&str> = policy.organizations.iter().map(String::as_str).collect();
    want.sort_unstable();
    want.dedup();
    if got != want {
        return Err(format!(
            "subject organizations (groups) are {got:?}, expected exactly {want:?}"
        ));
    }
    Ok(())
}

fn check_csr_key(csr: &X509CertificationRequest<'_>) -> Result<(), String> {
    let spki = &csr.certification_request_info.subject_pki;
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == OID_EC_P256 || c == OID_NIST_EC_P384 => Ok(()),
            Some(c) => Err(format!(
                "elliptic curve {c} is not supported; use P-256 or P-384"
            )),
            None => Err("the EC public key names no curve".into()),
        }
    } else if *alg == OID_SIG_ED25519 {
        Ok(())
    } else if *alg == OID_PKCS1_RSAENCRYPTION {
        match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) if rsa.key_size() >= 2048 => Ok(()),
            Ok(PublicKey::RSA(rsa)) => Err(format!(
                "RSA key of {} bits is too weak; at least 2048 are required",
                rsa.key_size()
            )),
            _ => Err("the RSA public key cannot be parsed".into()),
        }
    } else {
        Err(format!(
            "public key algorithm {alg} is not supported; use ECDSA P-256/P-384, Ed25519 or RSA"
        ))
    }
}

/// Checks the extensions a request asks for and returns its SANs.
fn check_csr_extensions(
    csr: &X509CertificationRequest<'_>,
    policy: &CsrPolicy,
    allowed_sans: &[San],
) -> Result<Vec<San>, String> {
    let mut sans = Vec::new();
    for attr in csr.certification_request_info.iter_attributes() {
        let ParsedCriAttribute::ExtensionRequest(request) = attr.parsed_attribute() else {
            continue; // challengePassword and the like carry no authority
        };
        for ext in &request.extensions {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        let san = match name {
                            GeneralName::DNSName(dns) => {
                                San::parse(dns).map_err(|e| format!("requested SAN: {e}"))?
                            }
                            GeneralName::IPAddress(bytes) => San::Ip(
                                ip_from_bytes(bytes)
                                    .ok_or("requested IP address SAN has an invalid length")?,
                            ),
                            other => {
                                return Err(format!(
                                    "requested SAN {other} is not allowed; only DNS names and \
                                     IP addresses are"
                                ));
                            }
                        };
                        if !allowed_sans.contains(&san) {
                            return Err(if allowed_sans.is_empty() {
                                format!(
                                    "requested SAN {san} is not allowed; this request may not \
                                     carry any"
                                )
                            } else {
                                format!(
                                    "requested SAN {san} is not allowed; allowed are {}",
                                    join(allowed_sans)
                                )
                            });
                        }
                        if !sans.contains(&san) {
                            sans.push(san);
                        }
                    }
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    if eku.any || !eku.other.is_empty() {
                        return Err("requested extended key usage is not allowed; only \
                                    serverAuth and clientAuth are"
                            .into());
                    }
                    if eku.server_auth && !policy.usage.server() {
                        return Err("requested serverAuth usage is not allowed".into());
                    }
                    if eku.client_auth && !policy.usage.client() {
                        return Err("requested clientAuth usage is not allowed".into());
                    }
                    if eku.code_signing
                        || eku.email_protection
                        || eku.time_stamping
                        || eku.ocsp_signing
                    {
                        return Err("requested extended key usage is not allowed; only \
                                    serverAuth and clientAuth are"
                            .into());
                    }
                }
                ParsedExtension::BasicConstraints(bc) => {
                    if bc.ca {
                        return Err("the request asks to be a CA".into());
                    }
                }
                // The CA decides these itself; asking is harmless.
                ParsedExtension::KeyUsage(_) | ParsedExtension::SubjectKeyIdentifier(_) => {}
                _ => {
                    return Err(format!("requested extension {} is not allowed", ext.oid));
                }
            }
        }
    }
    Ok(sans)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

fn join(sans: &[San]) -> String {
    sans.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a complete DER certificate (no trailing bytes).
pub(crate) fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err("has trailing data after the certificate".into()),
        Err(e) => Err(format!("is not a valid X.509 certificate ({e})")),
    }
}

pub(crate) fn asn1_to_timestamp(time: x509_parser::time::ASN1Time) -> Result<Timestamp, String> {
    Timestamp::from_second(time.timestamp())
        .map_err(|e| format!("has a validity date out of range ({e})"))
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive, and exactly 16 bytes long once DER encoded.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn sub_backdate(now: Timestamp) -> Timestamp {
    now.checked_sub(BACKDATE).unwrap_or(now)
}

fn add_signed(ts: Timestamp, d: SignedDuration) -> Timestamp {
    ts.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn add_duration(ts: Timestamp, d: Duration) -> Result<Timestamp, PkiError> {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| ts.checked_add(d).ok())
        .ok_or_else(|| PkiError::invalid("validity", format!("{d:?} is too long")))
}

/// Sets rcgen's validity (which is in `time` types) from jiff timestamps.
fn set_validity(
    params: &mut CertificateParams,
    not_before: Timestamp,
    not_after: Timestamp,
) -> Result<(), PkiError> {
    // Certificates cannot be valid past 9999-12-31 (GeneralizedTime).
    let limit = Timestamp::from_second(253_402_300_799).unwrap_or(Timestamp::MAX);
    let since_epoch = |ts: Timestamp| {
        u64::try_from(ts.min(limit).as_second())
            .map(Duration::from_secs)
            .map_err(|_| PkiError::invalid("validity", format!("{ts} is before 1970")))
    };
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + since_epoch(not_before)?;
    params.not_after = epoch + since_epoch(not_after)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ClusterCa>();
        check::<CertifiedKey>();
    }

    #[test]
    fn serials_are_positive_and_distinct() {
        let a = random_serial().to_bytes();
        let b = random_serial().to_bytes();
        assert_eq!(a.len(), 16);
        assert!(a[0] & 0x80 == 0 && a[0] != 0);
        assert_ne!(a, b);
    }

    #[test]
    fn zero_validity_is_refused() -> Result<(), PkiError> {
        let dir = tempfile::tempdir().map_err(|e| PkiError::io("tempdir", "", e))?;
        let ca = ClusterCa::load_or_create(dir.path())?;
        let err = ca
            .issue_client("u", &[], Duration::ZERO)
            .err()
            .ok_or_else(|| PkiError::invalid("test", "expected an error"))?;
        assert!(err.to_string().contains("validity"), "{err}");
        Ok(())
    }

    #[test]
    fn leaf_validity_is_capped_at_ca_expiry() -> Result<(), PkiError> {
        let dir = tempfile::tempdir().map_err(|e| PkiError::io("tempdir", "", e))?;
        let ca = ClusterCa::load_or_create(dir.path())?;
        let cert = ca.issue_client("u", &[], Duration::from_secs(100 * 365 * 86_400))?;
        assert_eq!(cert.not_after()?, ca.not_after());
        Ok(())
    }
}
