//! ConfigMaps, Secrets and ServiceAccounts.

use super::util::{AGE, Col, NAME, col};
use super::{Builtin, no_conditions};

pub(super) static CONFIG_MAPS: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Data",
            "string",
            "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
        ),
        AGE,
    ] as &[Col],
    cells: |o, now| {
        let n = o.len(&["data"]) + o.len(&["binaryData"]);
        vec![o.name().into(), (n as i64).into(), o.age(now).into()]
    },
    conditions: no_conditions,
};

pub(super) static SECRETS: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Type",
            "string",
            "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
        ),
        col(
            "Data",
            "string",
            "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
        ),
        AGE,
    ] as &[Col],
    cells: |o, now| {
        vec![
            o.name().into(),
            o.str(&["type"]).into(),
            (o.len(&["data"]) as i64).into(),
            o.age(now).into(),
        ]
    },
    conditions: no_conditions,
};

pub(super) static SERVICE_ACCOUNTS: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Secrets",
            "string",
            "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
        ),
        AGE,
    ] as &[Col],
    cells: |o, now| {
        vec![
            o.name().into(),
            (o.len(&["secrets"]) as i64).into(),
            o.age(now).into(),
        ]
    },
    conditions: no_conditions,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use serde_json::json;

    #[test]
    fn config_maps() {
        let rt = builtin("", "configmaps");
        assert_eq!(headers(&rt), ["Name", "Data", "Age"]);
        let cm = json!({
            "metadata": {"name": "kube-root-ca.crt", "creationTimestamp": ago(30 * 86400)},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----"},
            "binaryData": {"logo.png": "iVBORw0KGgo=", "icon.ico": "AAAB"}
        });
        assert_eq!(
            cells(&rt, &cm),
            [json!("kube-root-ca.crt"), json!(3), json!("30d")]
        );
        assert_eq!(cells(&rt, &json!({"metadata": {"name": "e"}}))[1], 0);
    }

    #[test]
    fn secrets() {
        let rt = builtin("", "secrets");
        assert_eq!(headers(&rt), ["Name", "Type", "Data", "Age"]);
        let s = json!({
            "metadata": {"name": "tls", "creationTimestamp": ago(2 * 365 * 86400 + 40 * 86400)},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}
        });
        assert_eq!(
            cells(&rt, &s),
            [
                json!("tls"),
                json!("kubernetes.io/tls"),
                json!(2),
                json!("2y40d")
            ]
        );
    }

    #[test]
    fn service_accounts() {
        let rt = builtin("", "serviceaccounts");
        assert_eq!(headers(&rt), ["Name", "Secrets", "Age"]);
        let sa = json!({"metadata": {"name": "default", "creationTimestamp": ago(5)}});
        assert_eq!(cells(&rt, &sa), [json!("default"), json!(0), json!("5s")]);
        let legacy = json!({"metadata": {"name": "old"}, "secrets": [{"name": "old-token-abcde"}]});
        assert_eq!(cells(&rt, &legacy)[1], 1);
    }
}
