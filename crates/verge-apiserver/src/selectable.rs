//! Which fields each resource can be selected by (`--field-selector`), and
//! their values. Extracted once per change by the watch cache, so filtering a
//! list never parses objects.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// Fields every resource supports.
const COMMON: &[&str] = &["metadata.name", "metadata.namespace"];

const POD: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];

const EVENT: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// Resource-specific selectable fields, by (group, plural).
fn specific(group: &str, plural: &str) -> &'static [&'static str] {
    match (group, plural) {
        ("", "pods") => POD,
        ("", "events") => EVENT,
        ("", "secrets") => &["type"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("", "replicationcontrollers") => &["status.replicas"],
        ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        ("certificates.k8s.io", "certificatesigningrequests") => &["spec.signerName"],
        _ => &[],
    }
}

pub fn is_supported(group: &str, plural: &str, field: &str) -> bool {
    COMMON.contains(&field) || specific(group, plural).contains(&field)
}

/// Every selectable field of `obj` with its value rendered as a string
/// (missing fields are absent; selectors compare them as "").
pub fn extract(group: &str, plural: &str, obj: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for field in COMMON.iter().chain(specific(group, plural)) {
        if let Some(v) = lookup(obj, field) {
            out.push((*field, v));
        }
    }
    out
}

/// The labels and the selectable fields of an object given as JSON bytes,
/// as [`crate::object::labels`] and [`extract`] would find them in the
/// parsed object, without building the object: everything else in the bytes
/// is skipped. Bytes that are not a JSON object give nothing.
pub fn extract_json(
    group: &str,
    plural: &str,
    json: &[u8],
) -> (BTreeMap<String, String>, Vec<(&'static str, String)>) {
    match serde_json::from_slice::<Lenient<Sparse>>(json) {
        Ok(Lenient(sparse)) => {
            let mut out = Vec::new();
            for field in COMMON.iter().chain(specific(group, plural)) {
                if let Some(v) = sparse.get(field) {
                    out.push((*field, v.to_owned()));
                }
            }
            (sparse.metadata.0.labels.0, out)
        }
        // Unusual JSON (a duplicate key, a top level that is not an
        // object): parse it whole, as the rules are stated on values.
        Err(_) => {
            let parsed: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
            (
                crate::object::labels(&parsed),
                extract(group, plural, &parsed),
            )
        }
    }
}

/// Every value [`extract_json`] can need, of every kind; other fields are
/// skipped while parsing. Field names are the JSON names.
#[derive(Deserialize, Default)]
#[serde(default)]
#[allow(non_snake_case)]
struct Sparse {
    metadata: Lenient<SparseMeta>,
    spec: Lenient<SparseSpec>,
    status: Lenient<SparseStatus>,
    involvedObject: Lenient<SparseInvolved>,
    reason: Leaf,
    reportingComponent: Leaf,
    source: Leaf,
    r#type: Leaf,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SparseMeta {
    name: Leaf,
    namespace: Leaf,
    labels: Labels,
}

#[derive(Deserialize, Default)]
#[serde(default)]
#[allow(non_snake_case)]
struct SparseSpec {
    nodeName: Leaf,
    restartPolicy: Leaf,
    schedulerName: Leaf,
    serviceAccountName: Leaf,
    hostNetwork: Leaf,
    unschedulable: Leaf,
    signerName: Leaf,
}

#[derive(Deserialize, Default)]
#[serde(default)]
#[allow(non_snake_case)]
struct SparseStatus {
    phase: Leaf,
    podIP: Leaf,
    nominatedNodeName: Leaf,
    replicas: Leaf,
    successful: Leaf,
}

#[derive(Deserialize, Default)]
#[serde(default)]
#[allow(non_snake_case)]
struct SparseInvolved {
    kind: Leaf,
    namespace: Leaf,
    name: Leaf,
    uid: Leaf,
    apiVersion: Leaf,
    resourceVersion: Leaf,
    fieldPath: Leaf,
}

impl Sparse {
    fn get(&self, dotted: &str) -> Option<&str> {
        let m = &self.metadata.0;
        let spec = &self.spec.0;
        let status = &self.status.0;
        let io = &self.involvedObject.0;
        let leaf = match dotted {
            "metadata.name" => &m.name,
            "metadata.namespace" => &m.namespace,
            "spec.nodeName" => &spec.nodeName,
            "spec.restartPolicy" => &spec.restartPolicy,
            "spec.schedulerName" => &spec.schedulerName,
            "spec.serviceAccountName" => &spec.serviceAccountName,
            "spec.hostNetwork" => &spec.hostNetwork,
            "spec.unschedulable" => &spec.unschedulable,
            "spec.signerName" => &spec.signerName,
            "status.phase" => &status.phase,
            "status.podIP" => &status.podIP,
            "status.nominatedNodeName" => &status.nominatedNodeName,
            "status.replicas" => &status.replicas,
            "status.successful" => &status.successful,
            "involvedObject.kind" => &io.kind,
            "involvedObject.namespace" => &io.namespace,
            "involvedObject.name" => &io.name,
            "involvedObject.uid" => &io.uid,
            "involvedObject.apiVersion" => &io.apiVersion,
            "involvedObject.resourceVersion" => &io.resourceVersion,
            "involvedObject.fieldPath" => &io.fieldPath,
            "reason" => &self.reason,
            "reportingComponent" => &self.reportingComponent,
            "source" => &self.source,
            "type" => &self.r#type,
            _ => return None,
        };
        leaf.0.as_deref()
    }
}

/// A struct read from a JSON object, or its default when the value is
/// anything else (as a lookup through a non-object finds nothing).
#[derive(Default)]
struct Lenient<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Lenient)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(T::default()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(T::default()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient(T::default()))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient(T::default()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient(T::default()))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient(T::default()))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Lenient(T::default()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One JSON value, reduced to what labels and field selection need.
enum Scalar {
    /// A string.
    Str(String),
    /// A boolean or number, as JSON text.
    Text(String),
    /// An object: its `component`, when that is a string (the last one
    /// counts, as with `Value::get` on the parsed object).
    Component(Option<String>),
    /// `null` or an array.
    Other,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(s))
            }
            fn visit_bool<E>(self, b: bool) -> Result<Scalar, E> {
                Ok(Scalar::Text(b.to_string()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Scalar, E> {
                Ok(Scalar::Text(serde_json::Number::from(n).to_string()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Scalar, E> {
                Ok(Scalar::Text(serde_json::Number::from(n).to_string()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Scalar, E> {
                Ok(serde_json::Number::from_f64(n)
                    .map_or(Scalar::Other, |n| Scalar::Text(n.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                let mut component = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "component" {
                        component = match map.next_value::<Scalar>()? {
                            Scalar::Str(s) => Some(s),
                            _ => None,
                        };
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Scalar::Component(component))
            }
        }
        d.deserialize_any(V)
    }
}

/// A selectable value rendered as [`lookup`] renders it: strings as they
/// are, booleans and numbers as JSON text, an object by its `component`
/// (events' `source`); anything else is absent.
#[derive(Default)]
struct Leaf(Option<String>);

impl<'de> Deserialize<'de> for Leaf {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Leaf(match Scalar::deserialize(d)? {
            Scalar::Str(s) | Scalar::Text(s) => Some(s),
            Scalar::Component(c) => c,
            Scalar::Other => None,
        }))
    }
}

/// `metadata.labels` as [`crate::object::labels`] reads it: the entries
/// whose values are strings; nothing when it is not an object.
#[derive(Default)]
struct Labels(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Default)]
        struct Entries(BTreeMap<String, String>);
        impl<'de> Deserialize<'de> for Entries {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Entries;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a map of labels")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                        let mut out = BTreeMap::new();
                        while let Some(k) = map.next_key::<String>()? {
                            match map.next_value::<Scalar>()? {
                                Scalar::Str(v) => {
                                    out.insert(k, v);
                                }
                                // A later non-string value hides an earlier
                                // string, as in a parsed object.
                                _ => {
                                    out.remove(&k);
                                }
                            }
                        }
                        Ok(Entries(out))
                    }
                }
                d.deserialize_map(V)
            }
        }
        let Lenient(Entries(labels)) = Lenient::<Entries>::deserialize(d)?;
        Ok(Labels(labels))
    }
}

fn lookup(obj: &Value, dotted: &str) -> Option<String> {
    let v = dotted.split('.').try_fold(obj, |v, part| v.get(part))?;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        // `source` on events is an object: select by its component.
        Value::Object(o) => o
            .get("component")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn extracts_pod_fields() {
        let pod = json!({"metadata":{"name":"p","namespace":"ns"},"spec":{"nodeName":"n1","hostNetwork":true},"status":{"phase":"Running"}});
        let f = extract("", "pods", &pod);
        assert!(f.contains(&("spec.nodeName", "n1".to_string())));
        assert!(f.contains(&("status.phase", "Running".to_string())));
        assert!(f.contains(&("spec.hostNetwork", "true".to_string())));
        assert!(f.contains(&("metadata.namespace", "ns".to_string())));
        assert!(is_supported("", "pods", "spec.nodeName"));
        assert!(!is_supported("apps", "deployments", "spec.nodeName"));
    }

    /// What the watch cache extracted before it stopped parsing objects.
    fn from_value(
        group: &str,
        plural: &str,
        json: &[u8],
    ) -> (BTreeMap<String, String>, Vec<(&'static str, String)>) {
        let v: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
        (crate::object::labels(&v), extract(group, plural, &v))
    }

    const RESOURCES: &[(&str, &str)] = &[
        ("", "pods"),
        ("", "events"),
        ("", "secrets"),
        ("", "nodes"),
        ("", "namespaces"),
        ("apps", "replicasets"),
        ("batch", "jobs"),
        ("certificates.k8s.io", "certificatesigningrequests"),
        ("example.com", "widgets"),
    ];

    #[test]
    fn extracts_from_bytes_as_from_values() {
        let cases: &[&[u8]] = &[
            br#"{"metadata":{"name":"p","namespace":"ns","labels":{"a":"b","n":1,"c":"d"}},"spec":{"nodeName":"n1","hostNetwork":true,"containers":[{"name":"x"}]},"status":{"phase":"Running","podIP":"10.0.0.1"}}"#,
            br#"{"involvedObject":{"kind":"Pod","name":"p","fieldPath":"spec.containers{x}"},"reason":"Started","source":{"component":"kubelet","host":"n"},"type":"Normal","reportingComponent":""}"#,
            br#"{"source":{"component":7},"type":{"x":1},"status":{"replicas":3,"successful":1.5},"spec":{"unschedulable":false,"signerName":null}}"#,
            br#"{"metadata":"m","spec":[1,{"nodeName":"x"}],"status":"s","involvedObject":null}"#,
            br#"{"metadata":{"labels":["a"],"name":{"x":"y"},"namespace":12345678901234567890}}"#,
            br#"{"metadata":{"labels":{"a":"b","a":2}}}"#,
            br#"{"metadata":{"name":"a","name":"b"}}"#,
            br#"{"source":{"component":"a","component":"b"}}"#,
            br#"[{"metadata":{"name":"a"}}]"#,
            br#"not json"#,
            br#"{"metadata":{"name":"a"}} trailing"#,
            br#""#,
        ];
        for json in cases {
            for (g, p) in RESOURCES {
                assert_eq!(
                    extract_json(g, p, json),
                    from_value(g, p, json),
                    "{g}/{p} {}",
                    String::from_utf8_lossy(json)
                );
            }
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ]
    }

    fn shaped() -> impl Strategy<Value = Value> {
        let keys = vec![
            "metadata",
            "name",
            "namespace",
            "labels",
            "spec",
            "nodeName",
            "hostNetwork",
            "status",
            "phase",
            "replicas",
            "source",
            "component",
            "type",
            "involvedObject",
            "kind",
            "fieldPath",
            "reason",
            "a",
        ];
        leaf().prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(keys.clone()), inner), 0..6).prop_map(
                    |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                ),
            ]
        })
    }

    proptest! {
        #[test]
        fn extracts_from_any_bytes_as_from_values(v in shaped()) {
            let json = serde_json::to_vec(&v).unwrap_or_default();
            for (g, p) in RESOURCES {
                prop_assert_eq!(extract_json(g, p, &json), from_value(g, p, &json));
            }
        }
    }
}
