//! Reading and writing the parts of an object the server itself manages
//! (`metadata.*`), and turning objects into the bytes the store keeps.
//!
//! Stored bytes never carry `metadata.resourceVersion`: the revision is only
//! known once the store has committed the write, so it is spliced into the
//! bytes when they are read back (see [`with_resource_version`]), exactly once
//! per change, not per reader.

use bytes::{BufMut, Bytes, BytesMut};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// `metadata`, created if missing (or replaced if it is not an object). A
/// non-object `obj` becomes an empty object first.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let Value::Object(root) = obj else {
        unreachable!("obj was just made an object")
    };
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj).and_then(|m| m.get(field)).and_then(Value::as_str)
}

pub fn name(obj: &Value) -> Option<&str> {
    meta_str(obj, "name").filter(|s| !s.is_empty())
}

pub fn namespace(obj: &Value) -> Option<&str> {
    meta_str(obj, "namespace").filter(|s| !s.is_empty())
}

pub fn uid(obj: &Value) -> &str {
    meta_str(obj, "uid").unwrap_or("")
}

pub fn resource_version(obj: &Value) -> Option<&str> {
    meta_str(obj, "resourceVersion").filter(|s| !s.is_empty())
}

pub fn set_resource_version(obj: &mut Value, rev: i64) {
    meta_mut(obj).insert("resourceVersion".into(), Value::String(rev.to_string()));
}

pub fn generation(obj: &Value) -> i64 {
    meta(obj)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    meta(obj).is_some_and(|m| m.get("deletionTimestamp").is_some_and(|v| !v.is_null()))
}

pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    meta(obj)
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// RFC 3339 with second precision, as Kubernetes writes timestamps.
pub fn now_rfc3339() -> String {
    timestamp_rfc3339(jiff::Timestamp::now())
}

pub fn timestamp_rfc3339(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Puts `apiVersion`, `kind` and `metadata` first (readers find metadata
/// quickly) and drops `metadata.resourceVersion`, then serializes. The
/// object is written as it is, not copied into that order first.
pub fn to_stored_bytes(obj: &Value) -> Bytes {
    let bytes = match obj {
        Value::Object(m) => serde_json::to_vec(&Stored(m)),
        _ => serde_json::to_vec(&Map::new()),
    };
    Bytes::from(bytes.unwrap_or_default())
}

/// An object serialized in stored form (see [`to_stored_bytes`]).
struct Stored<'a>(&'a Map<String, Value>);

/// Top-level keys stored first, in this order.
const STORED_FIRST: [&str; 3] = ["apiVersion", "kind", "metadata"];

impl Serialize for Stored<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(None)?;
        for key in STORED_FIRST {
            match self.0.get(key) {
                Some(Value::Object(meta)) if key == "metadata" => {
                    out.serialize_entry(key, &WithoutResourceVersion(meta))?;
                }
                Some(v) => out.serialize_entry(key, v)?,
                None => {}
            }
        }
        for (k, v) in self.0 {
            if !STORED_FIRST.contains(&k.as_str()) {
                out.serialize_entry(k, v)?;
            }
        }
        out.end()
    }
}

/// `metadata` without `resourceVersion`.
struct WithoutResourceVersion<'a>(&'a Map<String, Value>);

impl Serialize for WithoutResourceVersion<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(None)?;
        for (k, v) in self.0 {
            if k != "resourceVersion" {
                out.serialize_entry(k, v)?;
            }
        }
        out.end()
    }
}

/// Returns the stored bytes with `"resourceVersion":"<rev>"` inserted at the
/// start of the top-level `metadata` object. Bytes without a top-level
/// metadata object are returned with one added.
pub fn with_resource_version(stored: &[u8], rev: i64) -> Bytes {
    let rv = format!("\"resourceVersion\":\"{rev}\"");
    match find_metadata_object(stored) {
        Some(open) => {
            let rest = &stored[open + 1..];
            let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
            let mut buf = BytesMut::with_capacity(stored.len() + rv.len() + 1);
            buf.put_slice(&stored[..=open]);
            buf.put_slice(rv.as_bytes());
            if !empty {
                buf.put_u8(b',');
            }
            buf.put_slice(rest);
            buf.freeze()
        }
        None => {
            // No metadata at all: fall back to a parse (never happens for
            // objects this server wrote).
            let mut v: Value = serde_json::from_slice(stored).unwrap_or(Value::Null);
            if v.is_object() {
                set_resource_version(&mut v, rev);
            }
            Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
        }
    }
}

/// The object's bytes with `apiVersion` set to `api_version`. Custom
/// resources with several versions share storage, and an object is served in
/// the version it is read through. Stored bytes start with apiVersion (see
/// [`to_stored_bytes`]), so this is a prefix check and, rarely, one copy.
pub fn with_api_version(bytes: &Bytes, api_version: &str) -> Bytes {
    const HEAD: &[u8] = b"{\"apiVersion\":\"";
    let Some(rest) = bytes.strip_prefix(HEAD) else {
        return bytes.clone();
    };
    let Some(end) = rest.iter().position(|b| *b == b'"') else {
        return bytes.clone();
    };
    if &rest[..end] == api_version.as_bytes() {
        return bytes.clone();
    }
    let mut buf = BytesMut::with_capacity(bytes.len() + api_version.len());
    buf.put_slice(HEAD);
    buf.put_slice(api_version.as_bytes());
    buf.put_slice(&rest[end..]);
    buf.freeze()
}

/// Index of the `{` opening the value of the top-level "metadata" key.
fn find_metadata_object(json: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0usize;
    let mut expecting_key = false;
    while i < json.len() {
        match json[i] {
            b'"' => {
                let start = i + 1;
                i = skip_string(json, i)?;
                let s = &json[start..i - 1];
                if depth == 1 && expecting_key && s == b"metadata" {
                    let mut j = i;
                    while j < json.len() && (json[j].is_ascii_whitespace() || json[j] == b':') {
                        j += 1;
                    }
                    return (json.get(j) == Some(&b'{')).then_some(j);
                }
                expecting_key = false;
                continue;
            }
            b'{' => {
                depth += 1;
                expecting_key = true;
            }
            b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b',' => expecting_key = depth == 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Given the index of an opening quote, returns the index just past the closing one.
fn skip_string(json: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    while i < json.len() {
        match json[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_bytes_put_type_and_metadata_first_without_resource_version() {
        let obj = json!({"spec":{"a":1},"kind":"Pod","metadata":{"name":"a","resourceVersion":"3","labels":{"x":"y"},"uid":"u"},"apiVersion":"v1","status":{}});
        assert_eq!(
            String::from_utf8_lossy(&to_stored_bytes(&obj)),
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","labels":{"x":"y"},"uid":"u"},"spec":{"a":1},"status":{}}"#
        );
        assert_eq!(
            &to_stored_bytes(&json!({"kind":"X","metadata":"m"}))[..],
            br#"{"kind":"X","metadata":"m"}"#
        );
        assert_eq!(&to_stored_bytes(&json!([1]))[..], b"{}");
    }

    #[test]
    fn splices_resource_version_into_metadata() {
        let obj = json!({"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","resourceVersion":"9"},"spec":{"metadata":{}}});
        let stored = to_stored_bytes(&obj);
        assert!(!String::from_utf8_lossy(&stored).contains("\"9\""));
        let out: Value = serde_json::from_slice(&with_resource_version(&stored, 42)).expect("json");
        assert_eq!(out["metadata"]["resourceVersion"], "42");
        assert_eq!(out["metadata"]["name"], "a");
        assert!(out["spec"]["metadata"].get("resourceVersion").is_none());
    }

    #[test]
    fn splices_into_empty_metadata_and_tricky_strings() {
        let raw = br#"{"kind":"X\"metadata","a":{"metadata":{}},"metadata":{}}"#;
        let out: Value = serde_json::from_slice(&with_resource_version(raw, 7)).expect("json");
        assert_eq!(out["metadata"]["resourceVersion"], "7");
        assert!(out["a"]["metadata"].get("resourceVersion").is_none());
    }

    #[test]
    fn rewrites_api_version_prefix() {
        let stored = to_stored_bytes(
            &json!({"apiVersion":"example.com/v1","kind":"W","metadata":{"name":"a"}}),
        );
        let out: Value =
            serde_json::from_slice(&with_api_version(&stored, "example.com/v2")).expect("json");
        assert_eq!(out["apiVersion"], "example.com/v2");
        assert_eq!(out["metadata"]["name"], "a");
        assert_eq!(with_api_version(&stored, "example.com/v1"), stored);
    }

    #[test]
    fn adds_metadata_when_missing() {
        let out: Value =
            serde_json::from_slice(&with_resource_version(b"{\"a\":1}", 3)).expect("json");
        assert_eq!(out["metadata"]["resourceVersion"], "3");
    }
}
