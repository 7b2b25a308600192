//! PEM encoding and the parsing of certificate and key files.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::KeyPair;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Encodes DER as a PEM block with 64-character lines.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // Base64 output is ASCII, so splitting at any byte offset is safe.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The single certificate in `pem`. Errors say what is wrong in words fit
/// for a "<file>: <problem>" message.
pub(crate) fn single_certificate(pem: &str) -> Result<CertificateDer<'static>, String> {
    let mut certs = CertificateDer::pem_slice_iter(pem.as_bytes());
    let first = match certs.next() {
        Some(Ok(cert)) => cert,
        Some(Err(e)) => return Err(format!("is not valid PEM ({e})")),
        None => return Err("contains no PEM block labelled CERTIFICATE".into()),
    };
    if certs.next().is_some() {
        return Err("contains more than one certificate; exactly one is expected".into());
    }
    Ok(first)
}

/// The single private key in `pem`, as an rcgen key pair (which checks that
/// it is a usable key) plus its DER for rustls.
pub(crate) fn private_key(pem: &str) -> Result<(KeyPair, PrivateKeyDer<'static>), String> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "contains no PEM private key block (PRIVATE KEY)".to_string()
        }
        other => format!("is not valid PEM ({other})"),
    })?;
    let pkcs8 = match &der {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der(),
        PrivateKeyDer::Sec1(_) | PrivateKeyDer::Pkcs1(_) => {
            return Err(
                "holds a key in the legacy SEC1/PKCS#1 format; convert it with \
                        `openssl pkcs8 -topk8 -nocrypt -in <file> -out <file>.pk8`"
                    .into(),
            );
        }
        _ => return Err("holds a private key in an unsupported format".into()),
    };
    let key_pair =
        KeyPair::try_from(pkcs8).map_err(|e| format!("holds an unusable private key ({e})"))?;
    Ok((key_pair, der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_wraps_and_round_trips() -> Result<(), String> {
        let der: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let pem = encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        let back = single_certificate(&pem)?;
        assert_eq!(back.as_ref(), &der[..]);
        Ok(())
    }

    #[test]
    fn certificate_errors() {
        assert!(single_certificate("").is_err());
        assert!(single_certificate("garbage").is_err());
        let one = encode("CERTIFICATE", b"abc");
        let two = format!("{one}{one}");
        let err = single_certificate(&two).err().unwrap_or_default();
        assert!(err.contains("more than one"), "{err}");
    }

    #[test]
    fn key_errors() {
        let err = private_key("nothing").err().unwrap_or_default();
        assert!(err.contains("no PEM private key"), "{err}");
        let junk = encode("PRIVATE KEY", b"not a key");
        let err = private_key(&junk).err().unwrap_or_default();
        assert!(err.contains("unusable private key"), "{err}");
    }
}
