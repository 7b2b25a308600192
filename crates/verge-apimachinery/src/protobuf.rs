//! Decoding of Kubernetes protobuf request bodies into Kubernetes JSON.
//!
//! kubectl's typed clients send create/update bodies (and `DeleteOptions`) as
//! `application/vnd.kubernetes.protobuf` with no JSON fallback. The body is
//! the magic prefix `k8s\0` followed by a `runtime.Unknown` message whose
//! `typeMeta` names the apiVersion and kind and whose `raw` field holds the
//! encoded object. [`decode_request`] turns such a body into the JSON the
//! Kubernetes JSON encoding produces for the same object, so the rest of the
//! server only ever sees JSON.
//!
//! # No silent data loss
//!
//! Two layers make sure a field that was sent is either converted or
//! reported as an error:
//!
//! * **Fields k8s-pb does not know** (newer Kubernetes versions): prost skips
//!   them while decoding. We re-encode the decoded message and compare it
//!   with the received bytes field by field (`lossless`); a non-empty field
//!   missing from the re-encoding yields [`ProtobufError::UnknownField`].
//! * **Fields k8s-pb knows**: every message's converter destructures the
//!   message exhaustively, so a field without a JSON rule does not compile.
//!
//! # JSON fidelity
//!
//! Field names, omission of empty values (`omitempty`/`omitzero`), `null` for
//! nil slices in fields without `omitempty`, time formats, quantities,
//! int-or-strings and base64 `[]byte` follow Go's `encoding/json` applied to
//! the `k8s.io/api` types; see `json` and `types` for the rules. Like the Go
//! decoder, `metav1.Time` keeps whole seconds only, and quantities are passed
//! through as sent (Go clients send the canonical form).

mod json;
mod kinds;
mod lossless;
mod types;

use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::{Map, Value};

use kinds::ObjectError;

/// Media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// Errors from [`decode_request`]. The messages are meant for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtobufError {
    /// The body does not start with [`MAGIC`].
    #[error("request body is not Kubernetes protobuf: it must start with the bytes \"k8s\\x00\"")]
    BadMagic,
    /// The `runtime.Unknown` envelope could not be decoded.
    #[error("malformed Kubernetes protobuf envelope: {0}")]
    MalformedEnvelope(String),
    /// The envelope uses a content encoding or type we cannot read.
    #[error("unsupported Kubernetes protobuf envelope: {0}")]
    UnsupportedEnvelope(String),
    /// The envelope does not say which apiVersion and kind the object is.
    #[error("Kubernetes protobuf envelope does not set apiVersion and kind")]
    MissingTypeMeta,
    /// No protobuf decoder for this kind; the client should send JSON.
    #[error(
        "{kind} ({api_version}) cannot be sent to this server as protobuf; send it as JSON \
         instead, for example write it with `--dry-run=client -o yaml` and use \
         `kubectl create -f` with the YAML file"
    )]
    UnsupportedKind { api_version: String, kind: String },
    /// The object message is not valid protobuf for its kind.
    #[error("malformed {kind} ({api_version}) protobuf: {message}")]
    Malformed {
        api_version: String,
        kind: String,
        message: String,
    },
    /// The object carries a field this server's protobuf schema does not
    /// know, probably from a newer Kubernetes version.
    #[error(
        "{kind} ({api_version}) contains a protobuf field this server does not know \
         (field numbers {field_path}); send it as JSON instead, for example with \
         `kubectl create -f` and a YAML file"
    )]
    UnknownField {
        api_version: String,
        kind: String,
        /// Protobuf field numbers from the object down to the unknown field,
        /// separated by dots.
        field_path: String,
    },
    /// A value has no JSON representation (e.g. a time out of range).
    #[error("invalid {kind} ({api_version}): {path}: {message}")]
    InvalidValue {
        api_version: String,
        kind: String,
        /// JSON path of the value, like `spec.containers[0].resources`.
        path: String,
        message: String,
    },
}

/// Decodes a Kubernetes protobuf request body (`k8s\0` + `runtime.Unknown`)
/// into the object's Kubernetes JSON, with `kind` and `apiVersion` taken from
/// the envelope.
pub fn decode_request(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope_bytes = body.strip_prefix(&MAGIC).ok_or(ProtobufError::BadMagic)?;
    let envelope = Unknown::decode(envelope_bytes)
        .map_err(|e| ProtobufError::MalformedEnvelope(e.to_string()))?;
    lossless::check(envelope_bytes, &envelope.encode_to_vec())
        .map_err(|m| ProtobufError::MalformedEnvelope(format!("unknown field {}", m.path())))?;
    let Unknown {
        type_meta,
        raw,
        content_encoding,
        content_type,
    } = envelope;
    if let Some(encoding) = content_encoding.filter(|e| !e.is_empty()) {
        return Err(ProtobufError::UnsupportedEnvelope(format!(
            "content encoding {encoding:?}"
        )));
    }
    if let Some(content_type) = content_type.filter(|t| !t.is_empty() && t != CONTENT_TYPE) {
        return Err(ProtobufError::UnsupportedEnvelope(format!(
            "content type {content_type:?}"
        )));
    }
    let TypeMeta { api_version, kind } = type_meta.unwrap_or_default();
    let (Some(api_version), Some(kind)) = (
        api_version.filter(|v| !v.is_empty()),
        kind.filter(|k| !k.is_empty()),
    ) else {
        return Err(ProtobufError::MissingTypeMeta);
    };
    let Some(decoder) = kinds::lookup(&api_version, &kind) else {
        return Err(ProtobufError::UnsupportedKind { api_version, kind });
    };
    let fields = match decoder.decode(raw.as_deref().unwrap_or_default()) {
        Ok(fields) => fields,
        Err(ObjectError::Malformed(e)) => {
            return Err(ProtobufError::Malformed {
                api_version,
                kind,
                message: e.to_string(),
            });
        }
        Err(ObjectError::UnknownField(m)) => {
            return Err(ProtobufError::UnknownField {
                api_version,
                kind,
                field_path: m.path(),
            });
        }
        Err(ObjectError::Invalid(e)) => {
            return Err(ProtobufError::InvalidValue {
                api_version,
                kind,
                path: e.path(),
                message: e.message,
            });
        }
    };
    let mut object = Map::with_capacity(fields.len() + 2);
    object.insert("kind".to_owned(), Value::String(kind));
    object.insert("apiVersion".to_owned(), Value::String(api_version));
    object.extend(fields);
    Ok(Value::Object(object))
}

/// The `(apiVersion, kind)` pairs [`decode_request`] accepts. `DeleteOptions`
/// is listed as `meta.k8s.io/v1` but accepted with any `v1` apiVersion.
pub fn supported_kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    kinds::KINDS.iter().map(|k| (k.api_version, k.kind))
}

/// Whether [`decode_request`] can decode objects of this apiVersion and kind.
pub fn is_supported(api_version: &str, kind: &str) -> bool {
    kinds::lookup(api_version, kind).is_some()
}
