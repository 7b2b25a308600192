//! Just enough DER to give a certificate a subject that rcgen cannot express.
//!
//! Kubernetes puts each group of a client certificate in its own
//! organization (O) attribute, and rcgen's `DistinguishedName` holds at most
//! one value per attribute type. So client certificates are produced by rcgen
//! (extensions, validity, key, serial, ...) with a placeholder subject, and
//! the subject is then swapped for our own encoding and the certificate
//! signed again with the CA key.

use rcgen::{KeyPair, SigningKey};

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_VERSION: u8 = 0xa0; // [0] EXPLICIT, constructed

/// DER encoding (content octets) of OID 2.5.4.3, commonName.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// DER encoding (content octets) of OID 2.5.4.10, organizationName.
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

/// One TLV element: its tag, its content, and the whole element.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    raw: &'a [u8],
}

/// Reads one element off the front of `input`; `None` if malformed.
fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags never occur in certificates' top levels
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    let (content, after) = rest.split_at(len);
    Some((
        Tlv {
            tag,
            content,
            raw: &input[..header + len],
        },
        after,
    ))
}

/// Encodes one element.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn attribute(oid: &[u8], value: &str) -> Vec<u8> {
    let mut atv = tlv(TAG_OID, oid);
    atv.extend(tlv(TAG_UTF8_STRING, value.as_bytes()));
    tlv(TAG_SET, &tlv(TAG_SEQUENCE, &atv))
}

/// Encodes the Name `O=<org>, ..., CN=<common_name>`: one RDN per value, in
/// the order Go's `pkix.Name` writes them (organizations before the common
/// name), all as UTF8String.
pub(crate) fn encode_subject(common_name: &str, organizations: &[String]) -> Vec<u8> {
    let mut rdns = Vec::new();
    for org in organizations {
        rdns.extend(attribute(OID_ORGANIZATION, org));
    }
    rdns.extend(attribute(OID_COMMON_NAME, common_name));
    tlv(TAG_SEQUENCE, &rdns)
}

/// Replaces the subject of the DER certificate `cert` by `subject` (an
/// encoded Name) and signs the result with `ca_key`, which must be the key
/// that signed `cert` (the signature algorithm field is kept).
pub(crate) fn replace_subject(
    cert: &[u8],
    subject: &[u8],
    ca_key: &KeyPair,
) -> Result<Vec<u8>, String> {
    const MALFORMED: &str = "generated certificate is not well-formed DER";
    let (outer, rest) = read_tlv(cert).ok_or(MALFORMED)?;
    if outer.tag != TAG_SEQUENCE || !rest.is_empty() {
        return Err(MALFORMED.into());
    }
    let (tbs, rest) = read_tlv(outer.content).ok_or(MALFORMED)?;
    let (sig_alg, rest) = read_tlv(rest).ok_or(MALFORMED)?;
    let (sig, rest) = read_tlv(rest).ok_or(MALFORMED)?;
    if tbs.tag != TAG_SEQUENCE || sig_alg.tag != TAG_SEQUENCE || sig.tag != TAG_BIT_STRING {
        return Err(MALFORMED.into());
    }
    if !rest.is_empty() {
        return Err(MALFORMED.into());
    }

    // TBSCertificate ::= SEQUENCE { [0] version, serial, signature, issuer,
    //   validity, subject, subjectPublicKeyInfo, ... }
    let mut fields = Vec::new();
    let mut input = tbs.content;
    while !input.is_empty() {
        let (field, rest) = read_tlv(input).ok_or(MALFORMED)?;
        fields.push(field);
        input = rest;
    }
    let subject_index = if fields.first().map(|f| f.tag) == Some(TAG_VERSION) {
        5
    } else {
        4
    };
    match fields.get(subject_index) {
        Some(f) if f.tag == TAG_SEQUENCE => {}
        _ => return Err(MALFORMED.into()),
    }

    let mut tbs_content = Vec::with_capacity(tbs.content.len() + subject.len());
    for (i, field) in fields.iter().enumerate() {
        if i == subject_index {
            tbs_content.extend_from_slice(subject);
        } else {
            tbs_content.extend_from_slice(field.raw);
        }
    }
    let new_tbs = tlv(TAG_SEQUENCE, &tbs_content);
    let signature = ca_key.sign(&new_tbs).map_err(|e| e.to_string())?;
    let mut bit_string = Vec::with_capacity(signature.len() + 1);
    bit_string.push(0); // no unused bits
    bit_string.extend(signature);

    let mut cert_content = new_tbs;
    cert_content.extend_from_slice(sig_alg.raw);
    cert_content.extend(tlv(TAG_BIT_STRING, &bit_string));
    Ok(tlv(TAG_SEQUENCE, &cert_content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 70_000] {
            let content = vec![7u8; len];
            let encoded = tlv(TAG_SEQUENCE, &content);
            let (parsed, rest) = read_tlv(&encoded).expect("parse");
            assert!(rest.is_empty());
            assert_eq!(parsed.tag, TAG_SEQUENCE);
            assert_eq!(parsed.content.len(), len);
            assert_eq!(parsed.raw, &encoded[..]);
        }
    }

    #[test]
    fn truncated_input_is_rejected() {
        let encoded = tlv(TAG_SEQUENCE, &[1, 2, 3]);
        assert!(read_tlv(&encoded[..3]).is_none());
        assert!(read_tlv(&[]).is_none());
        assert!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
    }

    #[test]
    fn subject_parses_with_x509_parser() {
        use x509_parser::prelude::FromDer;
        let der = encode_subject("alice", &["dev".to_string(), "ops".to_string()]);
        let (rest, name) = x509_parser::x509::X509Name::from_der(&der).expect("parse");
        assert!(rest.is_empty());
        let cn: Vec<_> = name
            .iter_common_name()
            .map(|a| a.as_str().expect("utf8"))
            .collect();
        let orgs: Vec<_> = name
            .iter_organization()
            .map(|a| a.as_str().expect("utf8"))
            .collect();
        assert_eq!(cn, ["alice"]);
        assert_eq!(orgs, ["dev", "ops"]);
    }
}
