//! Conversions into [`Envelope`] and names of message kinds for logs.

use crate::pb::{self, Envelope, envelope::Body};

macro_rules! into_envelope {
    ($($message:ident),* $(,)?) => {
        $(
            impl From<pb::$message> for Envelope {
                fn from(message: pb::$message) -> Envelope {
                    Envelope { body: Some(Body::$message(message)) }
                }
            }
        )*
    };
}

into_envelope!(
    Hello,
    Welcome,
    SyncBatch,
    CaughtUp,
    SyncAck,
    ReportAck,
    Ping,
    Pong,
    Goodbye,
    StreamOpen,
    StreamData,
    StreamWindow,
    StreamClose,
);

impl From<pb::InventoryChunk> for Envelope {
    fn from(message: pb::InventoryChunk) -> Envelope {
        Envelope {
            body: Some(Body::Inventory(message)),
        }
    }
}

impl From<pb::ReportBatch> for Envelope {
    fn from(message: pb::ReportBatch) -> Envelope {
        Envelope {
            body: Some(Body::Reports(message)),
        }
    }
}

impl pb::Goodbye {
    /// A Goodbye with `code` and a message for humans.
    pub fn new(code: pb::ErrorCode, message: impl Into<String>) -> pb::Goodbye {
        pb::Goodbye {
            code: code as i32,
            message: message.into(),
            retry_after_ms: 0,
        }
    }
}

/// The schema name of the message kind in `envelope`, for logs and metrics.
pub fn body_name(envelope: &Envelope) -> &'static str {
    match &envelope.body {
        None => "Unknown",
        Some(Body::Hello(_)) => "Hello",
        Some(Body::Welcome(_)) => "Welcome",
        Some(Body::Inventory(_)) => "InventoryChunk",
        Some(Body::SyncBatch(_)) => "SyncBatch",
        Some(Body::CaughtUp(_)) => "CaughtUp",
        Some(Body::SyncAck(_)) => "SyncAck",
        Some(Body::Reports(_)) => "ReportBatch",
        Some(Body::ReportAck(_)) => "ReportAck",
        Some(Body::Ping(_)) => "Ping",
        Some(Body::Pong(_)) => "Pong",
        Some(Body::Goodbye(_)) => "Goodbye",
        Some(Body::StreamOpen(_)) => "StreamOpen",
        Some(Body::StreamData(_)) => "StreamData",
        Some(Body::StreamWindow(_)) => "StreamWindow",
        Some(Body::StreamClose(_)) => "StreamClose",
    }
}
