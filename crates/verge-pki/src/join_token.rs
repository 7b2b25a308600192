//! The join token an operator hands to an edge node:
//! `V1.<token-id>.<token-secret>.<ca-pin>`.
//!
//! The middle two parts are a Kubernetes bootstrap token (`<id>.<secret>`,
//! what the node sends as its bearer token); the last is kubeadm's
//! `discovery-token-ca-cert-hash` without its `sha256:` prefix: the SHA-256
//! of the cluster CA certificate's DER SubjectPublicKeyInfo. Pinning the key
//! rather than the certificate lets the node trust the CA it downloads from
//! the unauthenticated `cluster-info` ConfigMap, and survives the CA being
//! re-issued with the same key.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::ca::parse_certificate;

/// The version prefix of the current token format.
pub const PREFIX: &str = "V1";
/// Length of a bootstrap token id.
pub const TOKEN_ID_LEN: usize = 6;
/// Length of a bootstrap token secret.
pub const TOKEN_SECRET_LEN: usize = 16;
/// Length of a CA pin: 32 bytes of SHA-256, lowercase hex.
pub const CA_PIN_LEN: usize = 64;
/// The characters of bootstrap token ids and secrets (Kubernetes'
/// `bootstraputil` alphabet).
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

const EXPECTED: &str = "expected V1.<id>.<secret>.<ca-sha256>";

/// Why a string is not a join token, or a certificate cannot be pinned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinTokenError {
    /// The overall shape is wrong (prefix, number of parts).
    #[error("not a Verge join token: {EXPECTED} ({0})")]
    Malformed(String),
    /// The token was issued by a newer (or unknown) version of Verge.
    #[error("unsupported join token version {0:?}: {EXPECTED}")]
    UnsupportedVersion(String),
    /// The token id is not six characters of `[a-z0-9]`.
    #[error("not a Verge join token: the token id must be 6 characters of [a-z0-9] ({EXPECTED})")]
    InvalidId,
    /// The token secret is not sixteen characters of `[a-z0-9]`.
    #[error(
        "not a Verge join token: the token secret must be 16 characters of [a-z0-9] ({EXPECTED})"
    )]
    InvalidSecret,
    /// The CA pin is not 64 lowercase hex digits.
    #[error(
        "not a Verge join token: the CA pin must be 64 lowercase hex digits (a SHA-256) ({EXPECTED})"
    )]
    InvalidPin,
    /// A bootstrap token (`<id>.<secret>`) is malformed.
    #[error("not a bootstrap token: expected <6 chars of [a-z0-9]>.<16 chars of [a-z0-9]>")]
    InvalidBootstrapToken,
    /// The certificate to pin could not be parsed.
    #[error("cannot compute the CA pin: the certificate {0}")]
    InvalidCertificate(String),
}

/// A parsed join token. `Display` gives the token back in its text form.
///
/// `Debug` redacts the secret so that the token can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The bootstrap token id: `[a-z0-9]{6}`, public (it names the Secret).
    pub id: String,
    /// The bootstrap token secret: `[a-z0-9]{16}`.
    pub secret: String,
    /// The CA pin: lowercase hex SHA-256 of the CA's SubjectPublicKeyInfo.
    pub ca_pin: String,
}

impl JoinToken {
    /// A new token with a random id and secret for the CA whose pin is given.
    pub fn generate(ca_pin: impl Into<String>) -> Result<JoinToken, JoinTokenError> {
        let ca_pin = ca_pin.into();
        if !is_pin(&ca_pin) {
            return Err(JoinTokenError::InvalidPin);
        }
        Ok(JoinToken {
            id: random_chars(TOKEN_ID_LEN),
            secret: random_chars(TOKEN_SECRET_LEN),
            ca_pin,
        })
    }

    /// The bootstrap token, `<id>.<secret>`: the bearer token a joining node
    /// presents to the API server.
    pub fn bootstrap_token(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// Whether `ca_cert_der` is the CA this token pins.
    pub fn pins(&self, ca_cert_der: &[u8]) -> Result<bool, JoinTokenError> {
        Ok(secret_eq(&ca_pin(ca_cert_der)?, &self.ca_pin))
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}.{}.{}.{}", self.id, self.secret, self.ca_pin)
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("ca_pin", &self.ca_pin)
            .finish()
    }
}

impl FromStr for JoinToken {
    type Err = JoinTokenError;

    fn from_str(s: &str) -> Result<JoinToken, JoinTokenError> {
        parse(s)
    }
}

/// Parses a join token (surrounding whitespace is ignored, as tokens are
/// often pasted from a terminal).
pub fn parse(text: &str) -> Result<JoinToken, JoinTokenError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(JoinTokenError::Malformed("the token is empty".into()));
    }
    let parts: Vec<&str> = text.split('.').collect();
    let [version, id, secret, pin] = parts[..] else {
        return Err(JoinTokenError::Malformed(format!(
            "found {} dot-separated parts, not 4",
            parts.len()
        )));
    };
    if version != PREFIX {
        return Err(if version.starts_with('V') && version.len() <= 4 {
            JoinTokenError::UnsupportedVersion(version.to_string())
        } else {
            JoinTokenError::Malformed("it does not start with \"V1.\"".into())
        });
    }
    if !is_token_part(id, TOKEN_ID_LEN) {
        return Err(JoinTokenError::InvalidId);
    }
    if !is_token_part(secret, TOKEN_SECRET_LEN) {
        return Err(JoinTokenError::InvalidSecret);
    }
    if !is_pin(pin) {
        return Err(JoinTokenError::InvalidPin);
    }
    Ok(JoinToken {
        id: id.to_string(),
        secret: secret.to_string(),
        ca_pin: pin.to_string(),
    })
}

/// Formats a join token; the same as its `Display`.
pub fn format(token: &JoinToken) -> String {
    token.to_string()
}

/// Splits a bootstrap token `<id>.<secret>` (a bearer token) into its id and
/// secret, checking both against the bootstrap token alphabet.
pub fn parse_bootstrap_token(token: &str) -> Result<(&str, &str), JoinTokenError> {
    match token.split_once('.') {
        Some((id, secret))
            if is_token_part(id, TOKEN_ID_LEN) && is_token_part(secret, TOKEN_SECRET_LEN) =>
        {
            Ok((id, secret))
        }
        _ => Err(JoinTokenError::InvalidBootstrapToken),
    }
}

/// Whether `id` is a well-formed bootstrap token id.
pub fn is_token_id(id: &str) -> bool {
    is_token_part(id, TOKEN_ID_LEN)
}

/// Whether `secret` is a well-formed bootstrap token secret.
pub fn is_token_secret(secret: &str) -> bool {
    is_token_part(secret, TOKEN_SECRET_LEN)
}

/// The CA pin of a DER certificate: lowercase hex SHA-256 of its
/// SubjectPublicKeyInfo (kubeadm's `discovery-token-ca-cert-hash`, without
/// the `sha256:` prefix).
pub fn ca_pin(ca_cert_der: &[u8]) -> Result<String, JoinTokenError> {
    let cert = parse_certificate(ca_cert_der).map_err(JoinTokenError::InvalidCertificate)?;
    let digest = Sha256::digest(cert.public_key().raw);
    Ok(hex_lower(&digest))
}

/// [`ca_pin`] of a PEM certificate (the first `CERTIFICATE` block), as
/// found in a kubeconfig's `certificate-authority-data`.
pub fn ca_pin_from_pem(ca_cert_pem: &str) -> Result<String, JoinTokenError> {
    let der =
        crate::pem::single_certificate(ca_cert_pem).map_err(JoinTokenError::InvalidCertificate)?;
    ca_pin(&der)
}

/// Compares two secrets in time that depends only on their lengths, so that
/// a client cannot learn a secret one character at a time from response
/// times.
pub fn secret_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_token_part(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))
}

fn is_pin(s: &str) -> bool {
    s.len() == CA_PIN_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn random_chars(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterCa;

    const PIN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn generated_tokens_round_trip() {
        let token = JoinToken::generate(PIN).expect("generate");
        assert!(is_token_id(&token.id), "{}", token.id);
        assert!(is_token_secret(&token.secret));
        let text = token.to_string();
        assert!(text.starts_with("V1."));
        assert_eq!(parse(&text).expect("parse"), token);
        assert_eq!(format(&token), text);
        assert_eq!(
            parse_bootstrap_token(&token.bootstrap_token()).expect("bootstrap"),
            (token.id.as_str(), token.secret.as_str())
        );
        assert_ne!(JoinToken::generate(PIN).expect("second"), token);
    }

    #[test]
    fn parse_accepts_surrounding_whitespace() {
        let text = format!("  V1.abcdef.0123456789abcdef.{PIN}\n");
        let token = parse(&text).expect("parse");
        assert_eq!(token.id, "abcdef");
        assert_eq!(token.secret, "0123456789abcdef");
        assert_eq!(token.ca_pin, PIN);
    }

    #[test]
    fn parse_refuses_malformed_tokens_with_the_reason() {
        let cases = [
            ("", "empty"),
            ("abcdef.0123456789abcdef", "2 dot-separated parts"),
            (&format!("X1.abcdef.0123456789abcdef.{PIN}"), "V1."),
            (&format!("V2.abcdef.0123456789abcdef.{PIN}"), "version"),
            (&format!("V1.ABCDEF.0123456789abcdef.{PIN}"), "token id"),
            (&format!("V1.abcde.0123456789abcdef.{PIN}"), "token id"),
            (&format!("V1.abcdef.0123456789abcde_.{PIN}"), "token secret"),
            ("V1.abcdef.0123456789abcdef.0123", "CA pin"),
            (
                &format!("V1.abcdef.0123456789abcdef.{}", PIN.to_uppercase()),
                "CA pin",
            ),
        ];
        for (text, needle) in cases {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(err.contains("V1.<id>.<secret>.<ca-sha256>"), "{err}");
        }
    }

    #[test]
    fn bootstrap_tokens_are_checked() {
        for bad in [
            "",
            "abcdef",
            "abcdef.short",
            "abcdef.0123456789abcdef.x",
            "ABCDEF.0123456789abcdef",
        ] {
            assert_eq!(
                parse_bootstrap_token(bad),
                Err(JoinTokenError::InvalidBootstrapToken),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn pin_is_the_sha256_of_the_subject_public_key_info() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ClusterCa::load_or_create(dir.path()).expect("ca");
        let pin = ca_pin(ca.ca_der()).expect("pin");
        assert!(is_pin(&pin), "{pin}");
        let cert = parse_certificate(ca.ca_der()).expect("parse");
        assert_eq!(pin, hex_lower(&Sha256::digest(cert.public_key().raw)));
        // Not the hash of the whole certificate.
        assert_ne!(pin, hex_lower(&Sha256::digest(ca.ca_der().as_ref())));

        let token = JoinToken::generate(pin).expect("token");
        assert!(token.pins(ca.ca_der()).expect("pins"));
        assert_eq!(ca_pin_from_pem(ca.ca_pem()).expect("pem pin"), token.ca_pin);
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other = ClusterCa::load_or_create(other_dir.path()).expect("other ca");
        assert!(!token.pins(other.ca_der()).expect("pins"));
        assert!(matches!(
            ca_pin(b"garbage"),
            Err(JoinTokenError::InvalidCertificate(_))
        ));
    }

    #[test]
    fn secret_eq_compares_contents() {
        assert!(secret_eq("abc", "abc"));
        assert!(!secret_eq("abc", "abd"));
        assert!(!secret_eq("abc", "abcd"));
        assert!(secret_eq("", ""));
    }
}
