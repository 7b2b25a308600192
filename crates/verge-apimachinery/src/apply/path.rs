//! Paths to the fields of an object, as server-side apply names them.
//!
//! A path is a list of steps from the top of the object: a field of an
//! object (a struct field or a map key), an item of an associative list (by
//! the values of its key fields), an item of a set-like list of scalars (by
//! its value), or, rarely, an item by position. Paths print the way
//! kube-apiserver prints them in conflict messages:
//! `.spec.template.spec.containers[name="nginx"].image`,
//! `.metadata.finalizers[="example.com/x"]`.

use std::fmt;

use serde_json::Value;

use crate::patch::canonical_key;

/// One step of a [`Path`].
///
/// Values inside [`PathElement::Key`] and [`PathElement::Value`] are kept as
/// canonical JSON text (object keys sorted, integral numbers without a
/// fraction), so equal JSON values make equal elements.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of an object: `f:<name>` in FieldsV1.
    Field(String),
    /// An item of an associative list, by the values of its key fields,
    /// sorted by field name: `k:{"name":"nginx"}`.
    Key(Vec<(String, String)>),
    /// An item of a set-like list of scalars, by its value: `v:"x"`.
    Value(String),
    /// An item of a list by position: `i:<n>`.
    Index(usize),
}

impl PathElement {
    /// A field step.
    pub fn field(name: impl Into<String>) -> PathElement {
        PathElement::Field(name.into())
    }

    /// A list item step from its key fields and their values.
    pub fn key<'a>(fields: impl IntoIterator<Item = (&'a str, &'a Value)>) -> PathElement {
        let mut pairs: Vec<(String, String)> = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), canonical_key(v)))
            .collect();
        pairs.sort();
        PathElement::Key(pairs)
    }

    /// A set item step from its value.
    pub fn value(v: &Value) -> PathElement {
        PathElement::Value(canonical_key(v))
    }

    /// The element as a key of a FieldsV1 object: `f:name`, `k:{...}`,
    /// `v:<json>`, `i:<n>`.
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => prefixed("f:", name),
            PathElement::Key(pairs) => {
                let len = pairs
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 4)
                    .sum::<usize>();
                let mut out = String::with_capacity(len + 4);
                out.push_str("k:{");
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_string(&mut out, k);
                    out.push(':');
                    out.push_str(v);
                }
                out.push('}');
                out
            }
            PathElement::Value(v) => prefixed("v:", v),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a FieldsV1 object key (anything but `.`).
    pub fn from_fields_v1_key(key: &str) -> Result<PathElement, String> {
        let (prefix, rest) = key
            .split_once(':')
            .ok_or_else(|| format!("{key:?} is not a FieldsV1 key (f:, k:, v: or i:)"))?;
        match prefix {
            "f" => Ok(PathElement::Field(rest.to_owned())),
            "k" => {
                let parsed: Value = serde_json::from_str(rest)
                    .map_err(|e| format!("{key:?}: the key is not JSON: {e}"))?;
                let Value::Object(fields) = parsed else {
                    return Err(format!("{key:?}: the key is not a JSON object"));
                };
                if fields.is_empty() {
                    return Err(format!("{key:?}: the key has no fields"));
                }
                Ok(PathElement::key(
                    fields.iter().map(|(k, v)| (k.as_str(), v)),
                ))
            }
            "v" => {
                let parsed: Value = serde_json::from_str(rest)
                    .map_err(|e| format!("{key:?}: the value is not JSON: {e}"))?;
                Ok(PathElement::value(&parsed))
            }
            "i" => rest
                .parse::<usize>()
                .map(PathElement::Index)
                .map_err(|_| format!("{key:?}: the index is not a non-negative integer")),
            _ => Err(format!("{key:?} is not a FieldsV1 key (f:, k:, v: or i:)")),
        }
    }
}

fn prefixed(prefix: &str, s: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + s.len());
    out.push_str(prefix);
    out.push_str(s);
    out
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` escapes it.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let b = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(pairs) => {
                let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", inner.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the top of an object. Paths order lexicographically by
/// element, so every path extending `p` sorts right after `p`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// The path of nested fields `names` (`["spec", "replicas"]`).
    pub fn fields<'a>(names: impl IntoIterator<Item = &'a str>) -> Path {
        Path(names.into_iter().map(PathElement::field).collect())
    }

    /// This path followed by `element`.
    pub fn child(&self, element: PathElement) -> Path {
        let mut v = self.0.clone();
        v.push(element);
        Path(v)
    }

    /// Whether `prefix` is this path or one of its ancestors.
    pub fn starts_with(&self, prefix: &Path) -> bool {
        self.0.starts_with(&prefix.0)
    }

    pub fn elements(&self) -> &[PathElement] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_names_are_escaped_as_serde_json_escapes_them() {
        let mut names: Vec<String> = (0u8..0x80)
            .map(|b| format!("a{}z", char::from(b)))
            .collect();
        names.extend(["", "naïve", "日本", "\u{7f}", "\u{2028}", "a\"b\\c"].map(String::from));
        for name in names {
            let mut out = String::new();
            push_json_string(&mut out, &name);
            assert_eq!(out, Value::String(name.clone()).to_string(), "{name:?}");
        }
    }

    #[test]
    fn elements_round_trip_and_print() {
        let k = PathElement::key([("name", &json!("nginx"))]);
        assert_eq!(k.to_fields_v1_key(), r#"k:{"name":"nginx"}"#);
        assert_eq!(
            PathElement::from_fields_v1_key(r#"k:{"name":"nginx"}"#),
            Ok(k.clone())
        );
        let multi = PathElement::from_fields_v1_key(r#"k:{"protocol":"TCP","containerPort":80}"#)
            .expect("key");
        assert_eq!(
            multi.to_fields_v1_key(),
            r#"k:{"containerPort":80,"protocol":"TCP"}"#
        );
        assert_eq!(multi.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
        let v = PathElement::value(&json!("example.com/x"));
        assert_eq!(v.to_fields_v1_key(), r#"v:"example.com/x""#);
        assert_eq!(v.to_string(), r#"[="example.com/x"]"#);
        assert_eq!(
            PathElement::from_fields_v1_key("i:3"),
            Ok(PathElement::Index(3))
        );
        assert!(PathElement::from_fields_v1_key("x:1").is_err());
        assert!(PathElement::from_fields_v1_key("k:[1]").is_err());
        let p = Path::fields(["spec", "template", "spec", "containers"])
            .child(k)
            .child(PathElement::field("image"));
        assert_eq!(
            p.to_string(),
            r#".spec.template.spec.containers[name="nginx"].image"#
        );
    }
}
