//! CertificateSigningRequests, as kube-apiserver prints them for
//! `kubectl get csr`.

use jiff::Timestamp;
use serde_json::Value;

use super::util::{AGE, Col, NAME, Obj, col};
use super::{Builtin, no_conditions};

pub(super) static CERTIFICATE_SIGNING_REQUESTS: Builtin = Builtin {
    columns: &[
        NAME,
        AGE,
        col(
            "SignerName",
            "string",
            "Name of the signer that should sign the request.",
        ),
        col(
            "Requestor",
            "string",
            "Name of the user that created the request.",
        ),
        col(
            "RequestedDuration",
            "string",
            "Requested validity of the issued certificate.",
        ),
        col("Condition", "string", "Conditions of the request."),
    ] as &[Col],
    cells: |o, now: Timestamp| {
        let requested = match o.opt_i64(&["spec", "expirationSeconds"]) {
            Some(secs) if secs >= 0 => verge_apimachinery::duration::human_duration(
                std::time::Duration::from_secs(secs.unsigned_abs()),
            ),
            _ => "<none>".to_owned(),
        };
        vec![
            o.name().into(),
            o.age(now).into(),
            o.str(&["spec", "signerName"]).into(),
            o.str(&["spec", "username"]).into(),
            requested.into(),
            Value::String(condition(o)),
        ]
    },
    conditions: no_conditions,
};

/// kube's CSR condition cell: the condition types joined with commas,
/// `Issued` once there is a certificate, `Pending` when there is nothing.
fn condition(o: Obj<'_>) -> String {
    let mut parts: Vec<String> = o
        .list(&["status", "conditions"])
        .iter()
        .filter_map(|c| c.get("type").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    if !o.str(&["status", "certificate"]).is_empty() {
        parts.push("Issued".to_owned());
    }
    if parts.is_empty() {
        "Pending".to_owned()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn condition_cell_reads_like_kubectl() {
        let pending = json!({"spec": {}});
        assert_eq!(condition(Obj(&pending)), "Pending");
        let issued =
            json!({"status": {"conditions": [{"type": "Approved"}], "certificate": "QUJD"}});
        assert_eq!(condition(Obj(&issued)), "Approved,Issued");
        let denied = json!({"status": {"conditions": [{"type": "Denied"}]}});
        assert_eq!(condition(Obj(&denied)), "Denied");
    }
}
