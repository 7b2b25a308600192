//! Conversion of decoded k8s-pb messages into Kubernetes JSON.
//!
//! Every message type gets a [`ToJson`] implementation from the [`messages!`]
//! tables in `types/`. Each table row names a field, its JSON key and one of
//! four rules that mirror how Go's `encoding/json` treats the Go field the
//! protobuf field was generated from:
//!
//! | rule     | Go field                                   | JSON output                                  |
//! |----------|--------------------------------------------|----------------------------------------------|
//! | `opt`    | value with `omitempty` (or `omitzero`)      | omitted when absent or the Go zero value     |
//! | `ptr`    | pointer (`*T`)                             | omitted when absent, otherwise kept even if zero |
//! | `req`    | value without `omitempty`, or any struct   | always present; absent becomes the zero value, nil slices and maps `null` |
//! | `inline` | embedded struct with `json:",inline"`      | the nested object's keys merged into this one |
//!
//! The macro destructures each message exhaustively (no `..`), so a field
//! that a newer k8s-pb adds and the table does not mention is a compile
//! error rather than silently dropped data.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{FieldsV1, MicroTime, Time};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;

/// A conversion failure together with the JSON path where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldError {
    /// Path segments, innermost first (they are pushed while unwinding).
    path: Vec<Segment>,
    pub(super) message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl FieldError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        FieldError {
            path: Vec::new(),
            message: message.into(),
        }
    }

    fn at_key(mut self, key: &str) -> Self {
        self.path.push(Segment::Key(key.to_owned()));
        self
    }

    fn at_index(mut self, index: usize) -> Self {
        self.path.push(Segment::Index(index));
        self
    }

    /// The path in the usual `spec.containers[0].image` form.
    pub(super) fn path(&self) -> String {
        let mut out = String::new();
        for segment in self.path.iter().rev() {
            match segment {
                Segment::Key(key) if key.is_empty() => {}
                Segment::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Segment::Index(index) => {
                    out.push('[');
                    out.push_str(&index.to_string());
                    out.push(']');
                }
            }
        }
        out
    }
}

pub(super) type Result<T> = std::result::Result<T, FieldError>;

/// A protobuf value that has a Kubernetes JSON form.
pub(super) trait ToJson: Default {
    fn to_json(self) -> Result<Value>;

    /// Whether Go's `omitempty` (or `omitzero`) would leave this value out.
    /// Structs are never empty for `omitempty`.
    fn is_empty(&self) -> bool {
        false
    }

    /// The JSON of a field that Go always writes. Only differs from
    /// [`ToJson::to_json`] for slices and maps, whose nil value is `null`.
    fn to_required_json(self) -> Result<Value> {
        self.to_json()
    }
}

/// How a message field is stored by prost: `Option<T>` for singular fields,
/// `Vec<T>` for repeated ones and `BTreeMap` for maps.
pub(super) trait FieldValue {
    type Value: ToJson;
    fn present(self) -> Option<Self::Value>;
}

impl<T: ToJson> FieldValue for Option<T> {
    type Value = T;
    fn present(self) -> Option<T> {
        self
    }
}

impl<T: ToJson> FieldValue for Vec<T> {
    type Value = Vec<T>;
    fn present(self) -> Option<Vec<T>> {
        Some(self)
    }
}

impl<T: ToJson> FieldValue for BTreeMap<String, T> {
    type Value = BTreeMap<String, T>;
    fn present(self) -> Option<BTreeMap<String, T>> {
        Some(self)
    }
}

/// JSON object under construction; one method per table rule.
#[derive(Default)]
pub(super) struct Obj(Map<String, Value>);

impl Obj {
    pub(super) fn opt(&mut self, key: &str, field: impl FieldValue) -> Result<()> {
        match field.present() {
            Some(value) if !value.is_empty() => self.put(key, value.to_json()),
            _ => Ok(()),
        }
    }

    pub(super) fn ptr(&mut self, key: &str, field: impl FieldValue) -> Result<()> {
        match field.present() {
            Some(value) => self.put(key, value.to_json()),
            None => Ok(()),
        }
    }

    pub(super) fn req(&mut self, key: &str, field: impl FieldValue) -> Result<()> {
        let value = field.present().unwrap_or_default();
        self.put(key, value.to_required_json())
    }

    pub(super) fn inline(&mut self, field: impl FieldValue) -> Result<()> {
        match field.present().unwrap_or_default().to_json()? {
            Value::Object(map) => {
                self.0.extend(map);
                Ok(())
            }
            _ => Err(FieldError::new("inline field is not an object")),
        }
    }

    fn put(&mut self, key: &str, value: Result<Value>) -> Result<()> {
        self.0
            .insert(key.to_owned(), value.map_err(|e| e.at_key(key))?);
        Ok(())
    }

    pub(super) fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

/// Implements [`ToJson`] for messages from a table of `rule field: "jsonKey"`
/// rows (`inline field` for embedded structs). See the module docs.
macro_rules! messages {
    ($( $ty:path { $( $rule:ident $field:ident $(: $key:literal)? ),* $(,)? } )*) => {$(
        impl $crate::protobuf::json::ToJson for $ty {
            fn to_json(self) -> $crate::protobuf::json::Result<::serde_json::Value> {
                let $ty { $( $field ),* } = self;
                let mut obj = $crate::protobuf::json::Obj::default();
                $( obj.$rule($($key,)? $field)?; )*
                Ok(::serde_json::Value::Object(obj.into_map()))
            }
        }
    )*};
}
pub(super) use messages;

// ---- scalars -------------------------------------------------------------

impl ToJson for String {
    fn to_json(self) -> Result<Value> {
        Ok(Value::String(self))
    }
    fn is_empty(&self) -> bool {
        String::is_empty(self)
    }
}

impl ToJson for bool {
    fn to_json(self) -> Result<Value> {
        Ok(Value::Bool(self))
    }
    fn is_empty(&self) -> bool {
        !*self
    }
}

impl ToJson for i32 {
    fn to_json(self) -> Result<Value> {
        Ok(Value::from(self))
    }
    fn is_empty(&self) -> bool {
        *self == 0
    }
}

impl ToJson for i64 {
    fn to_json(self) -> Result<Value> {
        Ok(Value::from(self))
    }
    fn is_empty(&self) -> bool {
        *self == 0
    }
}

/// `[]byte`: base64 like Go's `encoding/json`.
impl ToJson for Vec<u8> {
    fn to_json(self) -> Result<Value> {
        Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(self),
        ))
    }
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
    fn to_required_json(self) -> Result<Value> {
        if self.is_empty() {
            Ok(Value::Null)
        } else {
            self.to_json()
        }
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(self) -> Result<Value> {
        self.into_iter()
            .enumerate()
            .map(|(i, item)| item.to_json().map_err(|e| e.at_index(i)))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array)
    }
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
    fn to_required_json(self) -> Result<Value> {
        if self.is_empty() {
            Ok(Value::Null)
        } else {
            self.to_json()
        }
    }
}

impl<T: ToJson> ToJson for BTreeMap<String, T> {
    fn to_json(self) -> Result<Value> {
        let mut map = Map::new();
        for (key, value) in self {
            let value = value.to_json().map_err(|e| e.at_key(&key))?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }
    fn to_required_json(self) -> Result<Value> {
        if self.is_empty() {
            Ok(Value::Null)
        } else {
            self.to_json()
        }
    }
}

// ---- types with custom JSON marshalling in Go -----------------------------

/// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z) since the Unix epoch.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// Seconds of 0000-01-01T00:00:00Z, the earliest time Go's JSON encoder accepts.
const GO_MIN_JSON_SECONDS: i64 = -62_167_219_200;

fn format_time(seconds: i64, nanos: i32, fraction_digits: u8) -> Result<Value> {
    let nanos = nanos.clamp(0, 999_999_999);
    if seconds < GO_MIN_JSON_SECONDS {
        return Err(FieldError::new("time before year 0"));
    }
    let timestamp = jiff::Timestamp::new(seconds, nanos)
        .map_err(|e| FieldError::new(format!("time out of range: {e}")))?;
    let formatted = if fraction_digits == 0 {
        timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        // Go's "2006-01-02T15:04:05.000000Z07:00": truncated to microseconds.
        let micros = nanos / 1_000;
        format!("{}.{micros:06}Z", timestamp.strftime("%Y-%m-%dT%H:%M:%S"))
    };
    Ok(Value::String(formatted))
}

/// `metav1.Time`: RFC 3339 with second precision; the zero time is `null`.
/// Go discards the nanoseconds when decoding protobuf, and so do we.
impl ToJson for Time {
    fn to_json(self) -> Result<Value> {
        if self.is_empty() {
            return Ok(Value::Null);
        }
        format_time(self.seconds.unwrap_or_default(), 0, 0)
    }
    /// `omitzero`: the zero time. An empty message is how Go encodes it.
    fn is_empty(&self) -> bool {
        match self.seconds {
            None => true,
            Some(seconds) => seconds == GO_ZERO_TIME_SECONDS,
        }
    }
}

/// `metav1.MicroTime`: RFC 3339 with microseconds; the zero time is `null`.
impl ToJson for MicroTime {
    fn to_json(self) -> Result<Value> {
        let seconds = self.seconds.unwrap_or_default();
        let nanos = self.nanos.unwrap_or_default();
        if self.seconds.is_none() && self.nanos.is_none()
            || seconds == GO_ZERO_TIME_SECONDS && nanos == 0
        {
            return Ok(Value::Null);
        }
        if !(0..1_000_000_000).contains(&nanos) {
            return Err(FieldError::new(format!("invalid nanoseconds {nanos}")));
        }
        format_time(seconds, nanos, 6)
    }
}

/// `resource.Quantity`: its string form. Go clients send the canonical form,
/// which is passed through unchanged; the zero quantity is "0".
impl ToJson for Quantity {
    fn to_json(self) -> Result<Value> {
        match self.string {
            None => Ok(Value::String("0".to_owned())),
            Some(s) if s.is_empty() => Err(FieldError::new("empty quantity")),
            Some(s) => Ok(Value::String(s)),
        }
    }
}

/// `intstr.IntOrString`: a JSON number (type 0) or string (type 1).
impl ToJson for IntOrString {
    fn to_json(self) -> Result<Value> {
        match self.r#type.unwrap_or_default() {
            0 => Ok(Value::from(self.int_val.unwrap_or_default())),
            1 => Ok(Value::String(self.str_val.unwrap_or_default())),
            other => Err(FieldError::new(format!("invalid IntOrString type {other}"))),
        }
    }
}

/// `metav1.FieldsV1`: the raw bytes are JSON and are embedded as such.
impl ToJson for FieldsV1 {
    fn to_json(self) -> Result<Value> {
        serde_json::from_slice(&self.raw.unwrap_or_default())
            .map_err(|e| FieldError::new(format!("fieldsV1 is not valid JSON: {e}")))
    }
}

/// `ExtraValue` (authentication, authorization, certificates) is a Go
/// `[]string`; the protobuf message wraps it in `items`.
macro_rules! extra_value {
    ($($ty:path),*) => {$(
        impl ToJson for $ty {
            fn to_json(self) -> Result<Value> {
                let $ty { items } = self;
                items.to_required_json()
            }
        }
    )*};
}
extra_value!(
    k8s_pb::api::authentication::v1::ExtraValue,
    k8s_pb::api::authorization::v1::ExtraValue,
    k8s_pb::api::certificates::v1::ExtraValue
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn time_formats() {
        let t = Time {
            seconds: Some(1_767_225_600),
            nanos: Some(123),
        };
        assert_eq!(t.to_json(), Ok(json!("2026-01-01T00:00:00Z")));
        assert_eq!(Time::default().to_json(), Ok(Value::Null));
        let zero = Time {
            seconds: Some(GO_ZERO_TIME_SECONDS),
            nanos: Some(0),
        };
        assert!(zero.is_empty());
        let epoch = Time {
            seconds: Some(0),
            nanos: Some(0),
        };
        assert!(!epoch.is_empty());
        assert_eq!(epoch.to_json(), Ok(json!("1970-01-01T00:00:00Z")));
        let year_one = Time {
            seconds: Some(GO_ZERO_TIME_SECONDS + 1),
            nanos: Some(0),
        };
        assert_eq!(year_one.to_json(), Ok(json!("0001-01-01T00:00:01Z")));
        let m = MicroTime {
            seconds: Some(1_767_225_600),
            nanos: Some(123_456_789),
        };
        assert_eq!(m.to_json(), Ok(json!("2026-01-01T00:00:00.123456Z")));
        assert_eq!(MicroTime::default().to_json(), Ok(Value::Null));
        let far = Time {
            seconds: Some(i64::MAX),
            nanos: None,
        };
        assert!(far.to_json().is_err());
    }

    #[test]
    fn int_or_string() {
        let int = IntOrString {
            r#type: Some(0),
            int_val: Some(8080),
            str_val: Some(String::new()),
        };
        assert_eq!(int.to_json(), Ok(json!(8080)));
        let s = IntOrString {
            r#type: Some(1),
            int_val: Some(0),
            str_val: Some("http".into()),
        };
        assert_eq!(s.to_json(), Ok(json!("http")));
        let bad = IntOrString {
            r#type: Some(7),
            ..Default::default()
        };
        assert!(bad.to_json().is_err());
    }

    #[test]
    fn error_paths() {
        let err = FieldError::new("boom")
            .at_key("image")
            .at_index(2)
            .at_key("containers")
            .at_key("spec");
        assert_eq!(err.path(), "spec.containers[2].image");
    }
}
