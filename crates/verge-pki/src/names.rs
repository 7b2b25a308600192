//! Subject alternative names and subject attribute values: parsing,
//! validation, normalization.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use rcgen::SanType;

use crate::PkiError;

/// A normalized subject alternative name: DNS names are lowercase without a
/// trailing dot, IPv6 addresses are given without brackets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum San {
    Dns(String),
    Ip(IpAddr),
}

impl San {
    /// Parses a SAN as an operator would write it: an IPv4 address, an IPv6
    /// address (optionally in brackets), or a DNS name (optionally starting
    /// with a `*.` wildcard label).
    pub(crate) fn parse(value: &str) -> Result<San, PkiError> {
        let invalid = |reason: &str| PkiError::InvalidSan {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(San::Ip(ip));
        }
        if unbracketed != trimmed {
            return Err(invalid("brackets are only allowed around an IPv6 address"));
        }
        let name = trimmed
            .strip_suffix('.')
            .unwrap_or(trimmed)
            .to_ascii_lowercase();
        validate_dns_name(&name).map_err(|r| invalid(&r))?;
        Ok(San::Dns(name))
    }

    pub(crate) fn to_rcgen(&self) -> Result<SanType, PkiError> {
        Ok(match self {
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Dns(name) => {
                SanType::DnsName(name.as_str().try_into().map_err(|e| PkiError::InvalidSan {
                    value: name.clone(),
                    reason: format!("{e}"),
                })?)
            }
        })
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(name) => f.write_str(name),
            San::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Parses and deduplicates a list of SANs, keeping the first occurrence's order.
pub(crate) fn parse_sans<S: AsRef<str>>(values: &[S]) -> Result<Vec<San>, PkiError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for value in values {
        let san = San::parse(value.as_ref())?;
        if seen.insert(san.clone()) {
            out.push(san);
        }
    }
    Ok(out)
}

/// RFC 1123 host name rules, with an optional leading `*` label.
fn validate_dns_name(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("a DNS name is at most 253 characters long".into());
    }
    for (i, label) in name.split('.').enumerate() {
        if label.is_empty() {
            return Err("a DNS name has no empty labels (\"..\", or a leading dot)".into());
        }
        if i == 0 && label == "*" {
            if !name.contains('.') {
                return Err("a wildcard needs a domain after it (\"*.example.com\")".into());
            }
            continue;
        }
        if label.len() > 63 {
            return Err(format!("label {label:?} is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "label {label:?} may only contain letters, digits and '-' (it is neither an IP \
                 address nor a DNS name)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} must not start or end with '-'"));
        }
    }
    Ok(())
}

/// Checks a user or group name destined for a certificate subject.
pub(crate) fn validate_subject_value(what: &'static str, value: &str) -> Result<(), PkiError> {
    if value.is_empty() {
        return Err(PkiError::invalid(what, "it is empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(PkiError::invalid(
            what,
            format!("{value:?} contains control characters"),
        ));
    }
    if value.trim() != value {
        return Err(PkiError::invalid(
            what,
            format!("{value:?} has leading or trailing whitespace"),
        ));
    }
    Ok(())
}

/// The machine's host name if it can serve as a DNS SAN.
pub(crate) fn machine_hostname() -> Option<String> {
    let raw = match hostname::get() {
        Ok(name) => name,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the host name; not adding it to the serving certificate");
            return None;
        }
    };
    let Some(name) = raw.to_str() else {
        tracing::warn!(hostname = ?raw, "host name is not UTF-8; not adding it to the serving certificate");
        return None;
    };
    match San::parse(name) {
        Ok(San::Dns(dns)) => Some(dns),
        Ok(San::Ip(_)) | Err(_) => {
            tracing::warn!(
                hostname = name,
                "host name is not a valid DNS name; not adding it to the serving certificate"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ips_and_names() -> Result<(), PkiError> {
        assert_eq!(
            San::parse("10.0.0.1")?,
            San::Ip(
                "10.0.0.1"
                    .parse()
                    .map_err(|_| PkiError::invalid("x", "x"))?
            )
        );
        assert!(matches!(San::parse("::1")?, San::Ip(_)));
        assert!(matches!(San::parse("[fd00::1]")?, San::Ip(_)));
        assert_eq!(
            San::parse("Edge-1.Example.COM.")?,
            San::Dns("edge-1.example.com".into())
        );
        assert_eq!(San::parse("*.svc.local")?, San::Dns("*.svc.local".into()));
        for bad in [
            "",
            " ",
            "a..b",
            "-a.b",
            "a_b",
            "*",
            "a.*.b",
            "[host]",
            "ünicode.de",
            ".x",
        ] {
            assert!(San::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        Ok(())
    }

    #[test]
    fn dedupes_case_insensitively() -> Result<(), PkiError> {
        let sans = parse_sans(&["a.example", "A.example.", "127.0.0.1", "127.0.0.1"])?;
        assert_eq!(sans.len(), 2);
        Ok(())
    }

    #[test]
    fn subject_values() {
        assert!(validate_subject_value("user", "system:node:edge-1").is_ok());
        assert!(validate_subject_value("user", "").is_err());
        assert!(validate_subject_value("user", "a\nb").is_err());
        assert!(validate_subject_value("user", " a").is_err());
    }
}
