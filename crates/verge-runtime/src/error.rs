use verge_apiserver::status::ApiError;

/// Why a controller operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API refused or failed the request.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// A stored object does not decode as its type (never expected: the API
    /// validated it on write).
    #[error("cannot decode {key}: {source}")]
    Decode {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode a {kind}: {source}")]
    Encode {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The type is not served (a CRD that is not installed).
    #[error("the API does not serve {0}")]
    NotServed(String),
    /// A reconcile failed for a reason of the controller's own.
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Error::Api(e) => Some(e.reason),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.reason() == Some("NotFound")
    }

    pub fn is_conflict(&self) -> bool {
        self.reason() == Some("Conflict")
    }

    pub fn is_already_exists(&self) -> bool {
        self.reason() == Some("AlreadyExists")
    }
}
