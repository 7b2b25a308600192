//! CertificateSigningRequests (certificates.k8s.io/v1), as kube-apiserver
//! validates them: a request that is a real, self-signed PKCS#10 PEM; a
//! signer name; known key usages; and approval that cannot be taken back.

use base64::Engine;
use serde_json::Value;

use super::util::Errs;

/// Key usages Kubernetes accepts in `spec.usages`.
pub const KEY_USAGES: &[&str] = &[
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
];

const CONDITION_TYPES: &[&str] = &["Approved", "Denied", "Failed"];
/// The shortest certificate a request may ask for (kube: 10 minutes).
const MIN_EXPIRATION_SECONDS: i64 = 600;

pub fn validate_csr(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    validate_request(errs, spec.get("request"));
    match spec.get("signerName").and_then(Value::as_str) {
        None | Some("") => errs.required("spec.signerName", ""),
        Some(name) => {
            if let Some(why) = signer_name_problem(name) {
                errs.invalid("spec.signerName", name, why);
            }
        }
    }
    match spec.get("usages").and_then(Value::as_array) {
        None => errs.required("spec.usages", ""),
        Some(usages) if usages.is_empty() => errs.required("spec.usages", ""),
        Some(usages) => {
            let mut seen = Vec::new();
            for (i, u) in usages.iter().enumerate() {
                let field = format!("spec.usages[{i}]");
                let text = u.as_str().unwrap_or("");
                if !KEY_USAGES.contains(&text) {
                    errs.not_supported(field, u, KEY_USAGES);
                } else if seen.contains(&text) {
                    errs.duplicate(field, text);
                } else {
                    seen.push(text);
                }
            }
        }
    }
    if let Some(secs) = spec.get("expirationSeconds").and_then(Value::as_i64)
        && secs < MIN_EXPIRATION_SECONDS
    {
        errs.invalid(
            "spec.expirationSeconds",
            secs,
            "may not specify a duration less than 600 seconds (10 minutes)",
        );
    }
    validate_status(errs, obj);
    if let Some(old) = old {
        validate_update(errs, obj, old);
    }
}

fn validate_request(errs: &mut Errs, request: Option<&Value>) {
    let Some(encoded) = request.and_then(Value::as_str).filter(|s| !s.is_empty()) else {
        errs.required("spec.request", "");
        return;
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        errs.invalid("spec.request", "<bytes>", "must be base64 encoded");
        return;
    };
    let Ok(pem) = String::from_utf8(bytes) else {
        errs.invalid(
            "spec.request",
            "<bytes>",
            "PEM block type must be CERTIFICATE REQUEST",
        );
        return;
    };
    if let Err(e) = verge_pki::inspect_csr(&pem) {
        errs.invalid("spec.request", "<bytes>", &e.to_string());
    }
}

/// Why `name` is not a signer name (`<domain>/<path>`, a DNS subdomain
/// before the slash), or `None` when it is one.
fn signer_name_problem(name: &str) -> Option<&'static str> {
    let Some((domain, path)) = name.split_once('/') else {
        return Some(
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        );
    };
    if path.is_empty() || domain.is_empty() {
        return Some(
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        );
    }
    if !super::names::is_dns1123_subdomain(domain).is_empty() {
        return Some("the domain must be a valid DNS subdomain");
    }
    None
}

fn conditions(obj: &Value) -> Vec<&Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default()
}

fn has_condition(obj: &Value, type_: &str) -> bool {
    conditions(obj)
        .iter()
        .any(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn validate_status(errs: &mut Errs, obj: &Value) {
    let mut seen = Vec::new();
    for (i, c) in conditions(obj).iter().enumerate() {
        let type_ = c.get("type").and_then(Value::as_str).unwrap_or("");
        let field = format!("status.conditions[{i}].type");
        if type_.is_empty() {
            errs.required(field, "");
            continue;
        }
        if CONDITION_TYPES.contains(&type_) {
            if seen.contains(&type_) {
                errs.duplicate(field, type_);
            }
            seen.push(type_);
            if c.get("status").and_then(Value::as_str) != Some("True") {
                errs.not_supported(
                    format!("status.conditions[{i}].status"),
                    c.get("status").unwrap_or(&Value::Null),
                    &["True"],
                );
            }
        }
    }
    if seen.contains(&"Approved") && seen.contains(&"Denied") {
        errs.invalid(
            "status.conditions",
            "Approved",
            "Approved and Denied conditions are mutually exclusive",
        );
    }
    if obj
        .pointer("/status/certificate")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
        && !seen.contains(&"Approved")
    {
        errs.forbidden(
            "status.certificate",
            "may only be set on an approved request",
        );
    }
}

fn validate_update(errs: &mut Errs, obj: &Value, old: &Value) {
    if obj.get("spec") != old.get("spec") {
        errs.invalid("spec", "<spec>", "field is immutable");
    }
    for type_ in ["Approved", "Denied"] {
        if has_condition(old, type_) && !has_condition(obj, type_) {
            errs.forbidden(
                "status.conditions",
                &format!("updates may not remove a condition of type {type_:?}"),
            );
        }
    }
    let old_cert = old.pointer("/status/certificate").and_then(Value::as_str);
    if let Some(old_cert) = old_cert.filter(|c| !c.is_empty())
        && obj.pointer("/status/certificate").and_then(Value::as_str) != Some(old_cert)
    {
        errs.forbidden(
            "status.certificate",
            "updates may not modify existing certificate content",
        );
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use serde_json::{Value, json};

    use super::*;

    fn request_b64() -> String {
        let key = verge_pki::new_key_pem().expect("key");
        let pem = verge_pki::client_csr_pem(&key, "system:node:edge-1", &[]).expect("csr");
        base64::engine::general_purpose::STANDARD.encode(pem)
    }

    fn csr() -> Value {
        json!({
            "metadata": {"name": "c"},
            "spec": {
                "request": request_b64(),
                "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                "usages": ["client auth"],
            },
        })
    }

    fn fields(obj: &Value, old: Option<&Value>) -> Vec<String> {
        let mut errs = Errs::default();
        validate_csr(&mut errs, obj, old);
        errs.list.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_well_formed_request_passes() {
        assert!(fields(&csr(), None).is_empty());
    }

    #[test]
    fn create_rules() {
        let mut garbage = csr();
        garbage["spec"]["request"] = json!("bm90IGEgcmVxdWVzdA==");
        assert_eq!(fields(&garbage, None), ["spec.request"]);
        let mut unsigned = csr();
        unsigned["spec"]["signerName"] = json!("no-slash");
        unsigned["spec"]["usages"] = json!(["client auth", "client auth", "flying"]);
        unsigned["spec"]["expirationSeconds"] = json!(60);
        assert_eq!(
            fields(&unsigned, None),
            [
                "spec.signerName",
                "spec.usages[1]",
                "spec.usages[2]",
                "spec.expirationSeconds"
            ]
        );
        let mut both = csr();
        both["status"] = json!({"conditions": [
            {"type": "Approved", "status": "True"},
            {"type": "Denied", "status": "True"},
        ]});
        assert_eq!(fields(&both, None), ["status.conditions"]);
        let mut early = csr();
        early["status"] = json!({"certificate": "QUJD"});
        assert_eq!(fields(&early, None), ["status.certificate"]);
    }

    #[test]
    fn update_rules() {
        let mut old = csr();
        old["status"] =
            json!({"conditions": [{"type": "Approved", "status": "True"}], "certificate": "QUJD"});
        let mut new = old.clone();
        new["spec"]["usages"] = json!(["client auth", "digital signature"]);
        assert_eq!(fields(&new, Some(&old)), ["spec"]);
        let mut unapproved = old.clone();
        unapproved["status"]["conditions"] = json!([]);
        unapproved["status"]["certificate"] = json!("REVG");
        assert_eq!(
            fields(&unapproved, Some(&old)),
            [
                "status.certificate",
                "status.conditions",
                "status.certificate"
            ]
        );
        assert!(fields(&old.clone(), Some(&old)).is_empty());
    }
}
