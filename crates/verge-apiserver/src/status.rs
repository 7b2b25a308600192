//! Errors as Kubernetes `Status` objects: what kubectl and client libraries
//! parse and print ("Error from server (NotFound): pods \"x\" not found").

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use crate::validation::schema::FieldError;

/// An API error: HTTP code, machine-readable reason and a message for people.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code.as_u16(),
            self.reason,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

/// The group/resource an error is about, for `details` and messages.
pub struct Subject<'a> {
    /// "deployments.apps" style qualified resource, or "pods".
    pub qualified: &'a str,
    pub group: &'a str,
    pub plural: &'a str,
    pub name: &'a str,
}

impl ApiError {
    fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(s: &Subject) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{}\" not found", s.qualified, s.name),
        )
        .with_details(json!({"name": s.name, "group": s.group, "kind": s.plural}))
    }

    /// A 404 for a URL that names no resource at all.
    pub fn no_route(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource ({what})"),
        )
    }

    pub fn already_exists(s: &Subject) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{}\" already exists", s.qualified, s.name),
        )
        .with_details(json!({"name": s.name, "group": s.group, "kind": s.plural}))
    }

    pub fn conflict(s: &Subject, why: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {why}",
                s.qualified, s.name
            ),
        )
        .with_details(json!({"name": s.name, "group": s.group, "kind": s.plural}))
    }

    pub fn modified(s: &Subject) -> Self {
        Self::conflict(
            s,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 with one cause per field error. `kind` is the Kind ("Pod"): kubectl
    /// rebuilds its message from it.
    pub fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Self {
        let summary: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.reason, "message": e.message, "field": e.field}))
            .collect();
        let qualified = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let message = if summary.len() == 1 {
            format!("{qualified} \"{name}\" is invalid: {}", summary[0])
        } else {
            format!(
                "{qualified} \"{name}\" is invalid: [{}]",
                summary.join(", ")
            )
        };
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
            .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes}))
    }

    /// A patch that could not be decoded (400), was too large (413) or does
    /// not apply to the object (422), as kube-apiserver answers them.
    pub fn patch(e: &verge_apimachinery::patch::PatchError) -> Self {
        match e.http_status() {
            400 => Self::bad_request(format!("the patch could not be decoded: {e}")),
            413 => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                e.to_string(),
            ),
            _ => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                format!("the patch could not be applied: {e}"),
            ),
        }
    }

    /// 409 for a server-side apply that would change fields other managers
    /// own, as kube-apiserver answers it: the `Apply failed with ...` message
    /// and one `FieldManagerConflict` cause per field.
    pub fn apply_conflicts(conflicts: &[verge_apimachinery::apply::Conflict]) -> Self {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|c| json!({"reason": "FieldManagerConflict", "message": c.message(), "field": c.field}))
            .collect();
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            verge_apimachinery::apply::conflicts_message(conflicts),
        )
        .with_details(json!({"causes": causes}))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    }

    /// 401 for credentials that were presented but refused, saying why.
    pub fn unauthorized_because(why: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            format!("Unauthorized: {why}"),
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type}) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
            ),
        )
    }

    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, "NotAcceptable", message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!(
                "request body is larger than the limit of {limit} bytes; split the object or store large data elsewhere"
            ),
        )
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "Expired", message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "Timeout", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            message,
        )
    }

    /// The Status object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.to_status().to_string();
        (
            self.code,
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

impl From<verge_store::StoreError> for ApiError {
    fn from(e: verge_store::StoreError) -> Self {
        use verge_store::StoreError as E;
        match e {
            E::Compacted { .. } | E::Lagged { .. } => ApiError::gone(e.to_string()),
            E::Closed => ApiError::unavailable("the server is shutting down; retry shortly"),
            other => ApiError::internal(format!("storage error: {other}")),
        }
    }
}

/// A successful deletion, when the object is already gone.
pub fn success_status(s: &Subject, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": s.name, "group": s.group, "kind": s.plural, "uid": uid},
    })
}
