//! Stateless checks every receiver applies to a decoded message before
//! acting on it: required fields present, enum values known where the
//! receiver must act on them, names and lists within bounds. Ordering rules
//! that need connection state (Hello first, revisions not going backwards)
//! are the session's job.

use crate::error::ValidationError;
use crate::limits::{MAX_FRAME_BYTES, MIN_FRAME_BYTES};
use crate::pb::{self, Envelope, envelope::Body};

/// Longest object name (a DNS subdomain).
const MAX_NAME: usize = 253;
/// Longest namespace (a DNS label).
const MAX_NAMESPACE: usize = 63;
/// Longest uid, resourceVersion, epoch, session or stream id: all are short
/// machine-made strings; the bound only stops abuse.
const MAX_TOKEN: usize = 128;
/// Longest human message (Goodbye, Rejection, StreamClose).
const MAX_MESSAGE: usize = 4096;
/// Most versions or features offered in a handshake.
const MAX_LIST: usize = 32;
/// Smallest heartbeat interval a cloud may ask for.
const MIN_HEARTBEAT_MS: u32 = 100;

type Result = std::result::Result<(), ValidationError>;

/// Checks `envelope` against the schema's rules. An envelope without a body
/// is accepted here (the frame decoder refuses it as an unknown kind).
pub fn validate(envelope: &Envelope) -> Result {
    match &envelope.body {
        None => Ok(()),
        Some(Body::Hello(m)) => hello(m),
        Some(Body::Welcome(m)) => welcome(m),
        Some(Body::Inventory(m)) => inventory(m),
        Some(Body::SyncBatch(m)) => sync_batch(m),
        Some(Body::CaughtUp(_) | Body::SyncAck(_) | Body::Ping(_) | Body::Pong(_)) => Ok(()),
        Some(Body::Reports(m)) => reports(m),
        Some(Body::ReportAck(m)) => report_ack(m),
        Some(Body::Goodbye(m)) => bounded("Goodbye", "message", &m.message, MAX_MESSAGE),
        Some(Body::StreamOpen(m)) => stream_open(m),
        Some(Body::StreamData(m)) => stream_id("StreamData", m.stream_id),
        Some(Body::StreamWindow(m)) => stream_id("StreamWindow", m.stream_id),
        Some(Body::StreamClose(m)) => {
            stream_id("StreamClose", m.stream_id)?;
            bounded("StreamClose", "message", &m.message, MAX_MESSAGE)
        }
    }
}

fn bounded(message: &'static str, field: &str, value: &str, max: usize) -> Result {
    if value.len() > max {
        return Err(ValidationError::new(
            message,
            field,
            format!("is {} bytes long, the limit is {max}", value.len()),
        ));
    }
    Ok(())
}

fn required(message: &'static str, field: &str, value: &str, max: usize) -> Result {
    if value.is_empty() {
        return Err(ValidationError::new(message, field, "must not be empty"));
    }
    bounded(message, field, value, max)
}

/// A name that becomes part of a storage key on the edge: bounded, and free
/// of separators and control characters.
fn name_like(message: &'static str, field: &str, value: &str, max: usize) -> Result {
    bounded(message, field, value, max)?;
    if value.chars().any(|c| c == '/' || c.is_control()) {
        return Err(ValidationError::new(
            message,
            field,
            format!("{value:?} contains '/' or a control character"),
        ));
    }
    Ok(())
}

fn key(message: &'static str, field: &str, key: Option<&pb::ObjectKey>) -> Result {
    let Some(key) = key else {
        return Err(ValidationError::new(message, field, "is missing"));
    };
    let Some(kind) = &key.kind else {
        return Err(ValidationError::new(
            message,
            format!("{field}.kind"),
            "is missing",
        ));
    };
    name_like(
        message,
        &format!("{field}.kind.group"),
        &kind.group,
        MAX_NAME,
    )?;
    required(
        message,
        &format!("{field}.kind.version"),
        &kind.version,
        MAX_NAMESPACE,
    )?;
    required(
        message,
        &format!("{field}.kind.resource"),
        &kind.resource,
        MAX_NAME,
    )?;
    name_like(
        message,
        &format!("{field}.kind.resource"),
        &kind.resource,
        MAX_NAME,
    )?;
    name_like(
        message,
        &format!("{field}.namespace"),
        &key.namespace,
        MAX_NAMESPACE,
    )?;
    required(message, &format!("{field}.name"), &key.name, MAX_NAME)?;
    name_like(message, &format!("{field}.name"), &key.name, MAX_NAME)?;
    bounded(message, &format!("{field}.uid"), &key.uid, MAX_TOKEN)
}

fn list_len(message: &'static str, field: &str, len: usize, max: usize) -> Result {
    if len > max {
        return Err(ValidationError::new(
            message,
            field,
            format!("has {len} entries, the limit is {max}"),
        ));
    }
    Ok(())
}

fn hello(m: &pb::Hello) -> Result {
    if m.versions.is_empty() {
        return Err(ValidationError::new(
            "Hello",
            "versions",
            "must offer at least one version",
        ));
    }
    list_len("Hello", "versions", m.versions.len(), MAX_LIST)?;
    bounded("Hello", "agent_version", &m.agent_version, MAX_TOKEN)?;
    name_like("Hello", "node_name", &m.node_name, MAX_NAME)?;
    if let Some(resume) = &m.resume {
        bounded("Hello", "resume.epoch", &resume.epoch, MAX_TOKEN)?;
    }
    bounded("Hello", "report_stream", &m.report_stream, MAX_TOKEN)?;
    features("Hello", &m.features)
}

fn features(message: &'static str, features: &[String]) -> Result {
    list_len(message, "features", features.len(), MAX_LIST)?;
    for (i, f) in features.iter().enumerate() {
        required(message, &format!("features[{i}]"), f, 64)?;
    }
    Ok(())
}

fn welcome(m: &pb::Welcome) -> Result {
    if m.version == 0 || m.version > u32::from(u8::MAX) {
        return Err(ValidationError::new(
            "Welcome",
            "version",
            format!("{} is not a protocol version", m.version),
        ));
    }
    required("Welcome", "epoch", &m.epoch, MAX_TOKEN)?;
    name_like("Welcome", "node_name", &m.node_name, MAX_NAME)?;
    bounded("Welcome", "session", &m.session, MAX_TOKEN)?;
    match pb::SyncMode::try_from(m.mode) {
        Ok(pb::SyncMode::Delta | pb::SyncMode::Inventory) => {}
        _ => {
            return Err(ValidationError::new(
                "Welcome",
                "mode",
                format!("{} is not a sync mode this build knows", m.mode),
            ));
        }
    }
    if m.heartbeat_interval_ms < MIN_HEARTBEAT_MS {
        return Err(ValidationError::new(
            "Welcome",
            "heartbeat_interval_ms",
            format!("must be at least {MIN_HEARTBEAT_MS}"),
        ));
    }
    if m.dead_after_ms <= m.heartbeat_interval_ms {
        return Err(ValidationError::new(
            "Welcome",
            "dead_after_ms",
            "must be longer than heartbeat_interval_ms",
        ));
    }
    let Some(limits) = &m.limits else {
        return Err(ValidationError::new("Welcome", "limits", "is missing"));
    };
    let frame = limits.max_frame_bytes as usize;
    if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&frame) {
        return Err(ValidationError::new(
            "Welcome",
            "limits.max_frame_bytes",
            format!("{frame} is outside {MIN_FRAME_BYTES}..={MAX_FRAME_BYTES}"),
        ));
    }
    if limits.max_unacked_reports == 0 || limits.max_inventory_entries == 0 {
        return Err(ValidationError::new(
            "Welcome",
            "limits",
            "max_unacked_reports and max_inventory_entries must be positive",
        ));
    }
    features("Welcome", &m.features)
}

fn inventory(m: &pb::InventoryChunk) -> Result {
    for (i, entry) in m.entries.iter().enumerate() {
        key(
            "InventoryChunk",
            &format!("entries[{i}].key"),
            entry.key.as_ref(),
        )?;
        required(
            "InventoryChunk",
            &format!("entries[{i}].resource_version"),
            &entry.resource_version,
            MAX_TOKEN,
        )?;
    }
    Ok(())
}

fn sync_batch(m: &pb::SyncBatch) -> Result {
    if m.revision == 0 {
        return Err(ValidationError::new(
            "SyncBatch",
            "revision",
            "must be positive",
        ));
    }
    for (i, change) in m.changes.iter().enumerate() {
        key(
            "SyncBatch",
            &format!("changes[{i}].key"),
            change.key.as_ref(),
        )?;
        required(
            "SyncBatch",
            &format!("changes[{i}].resource_version"),
            &change.resource_version,
            MAX_TOKEN,
        )?;
        match &change.change {
            Some(pb::object_change::Change::Upsert(up)) if up.object.is_empty() => {
                return Err(ValidationError::new(
                    "SyncBatch",
                    format!("changes[{i}].upsert.object"),
                    "must not be empty",
                ));
            }
            Some(_) => {}
            None => {
                return Err(ValidationError::new(
                    "SyncBatch",
                    format!("changes[{i}]"),
                    "is neither an upsert nor a delete",
                ));
            }
        }
    }
    Ok(())
}

fn reports(m: &pb::ReportBatch) -> Result {
    if m.reports.is_empty() {
        return Err(ValidationError::new(
            "ReportBatch",
            "reports",
            "must not be empty",
        ));
    }
    let mut previous: Option<u64> = None;
    for (i, report) in m.reports.iter().enumerate() {
        if report.sequence == 0 {
            return Err(ValidationError::new(
                "ReportBatch",
                format!("reports[{i}].sequence"),
                "must be positive",
            ));
        }
        if let Some(previous) = previous
            && report.sequence <= previous
        {
            return Err(ValidationError::new(
                "ReportBatch",
                format!("reports[{i}].sequence"),
                format!("{} does not follow {previous}", report.sequence),
            ));
        }
        previous = Some(report.sequence);
        match pb::ReportKind::try_from(report.kind) {
            Ok(pb::ReportKind::Unspecified) | Err(_) => {
                return Err(ValidationError::new(
                    "ReportBatch",
                    format!("reports[{i}].kind"),
                    format!("{} is not a report kind this build knows", report.kind),
                ));
            }
            Ok(_) => {}
        }
        match pb::BodyType::try_from(report.body_type) {
            Ok(pb::BodyType::Unspecified) | Err(_) => {
                return Err(ValidationError::new(
                    "ReportBatch",
                    format!("reports[{i}].body_type"),
                    format!("{} is not a body type this build knows", report.body_type),
                ));
            }
            Ok(_) => {}
        }
        key(
            "ReportBatch",
            &format!("reports[{i}].key"),
            report.key.as_ref(),
        )?;
        if report.body.is_empty() {
            return Err(ValidationError::new(
                "ReportBatch",
                format!("reports[{i}].body"),
                "must not be empty",
            ));
        }
    }
    Ok(())
}

fn report_ack(m: &pb::ReportAck) -> Result {
    for (i, rejection) in m.rejected.iter().enumerate() {
        if rejection.sequence == 0 || rejection.sequence > m.sequence {
            return Err(ValidationError::new(
                "ReportAck",
                format!("rejected[{i}].sequence"),
                format!(
                    "{} is not within the acknowledged 1..={}",
                    rejection.sequence, m.sequence
                ),
            ));
        }
        bounded(
            "ReportAck",
            &format!("rejected[{i}].message"),
            &rejection.message,
            MAX_MESSAGE,
        )?;
    }
    Ok(())
}

fn stream_id(message: &'static str, id: u64) -> Result {
    if id == 0 {
        return Err(ValidationError::new(
            message,
            "stream_id",
            "must be positive",
        ));
    }
    Ok(())
}

fn stream_open(m: &pb::StreamOpen) -> Result {
    stream_id("StreamOpen", m.stream_id)?;
    match pb::StreamKind::try_from(m.kind) {
        Ok(pb::StreamKind::Unspecified) | Err(_) => {
            return Err(ValidationError::new(
                "StreamOpen",
                "kind",
                format!("{} is not a stream kind this build knows", m.kind),
            ));
        }
        Ok(_) => {}
    }
    name_like("StreamOpen", "namespace", &m.namespace, MAX_NAMESPACE)?;
    required("StreamOpen", "pod", &m.pod, MAX_NAME)?;
    name_like("StreamOpen", "pod", &m.pod, MAX_NAME)?;
    name_like("StreamOpen", "container", &m.container, MAX_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_limits;
    use bytes::Bytes;

    fn pod_key(name: &str) -> pb::ObjectKey {
        pb::ObjectKey {
            kind: Some(pb::ResourceKind {
                group: String::new(),
                version: "v1".into(),
                resource: "pods".into(),
            }),
            namespace: "default".into(),
            name: name.into(),
            uid: String::new(),
        }
    }

    fn report(sequence: u64) -> pb::Report {
        pb::Report {
            sequence,
            kind: pb::ReportKind::PodStatus as i32,
            key: Some(pod_key("web")),
            body_type: pb::BodyType::MergePatch as i32,
            body: Bytes::from_static(b"{}"),
            observed_at_ms: 0,
        }
    }

    fn welcome() -> pb::Welcome {
        pb::Welcome {
            version: 1,
            node_name: "edge-1".into(),
            epoch: "e".into(),
            mode: pb::SyncMode::Delta as i32,
            resume_from: 0,
            reports_applied: 0,
            heartbeat_interval_ms: 25_000,
            dead_after_ms: 45_000,
            limits: Some(default_limits()),
            features: vec![],
            session: "s".into(),
        }
    }

    fn check(message: impl Into<Envelope>) -> Result {
        validate(&message.into())
    }

    #[test]
    fn reports_must_be_in_strictly_increasing_order() {
        let ok = pb::ReportBatch {
            reports: vec![report(4), report(5), report(9)],
        };
        assert_eq!(check(ok), Ok(()));
        let backwards = pb::ReportBatch {
            reports: vec![report(5), report(5)],
        };
        let err = check(backwards).expect_err("repeated sequence");
        assert_eq!(err.field, "reports[1].sequence");
        assert!(check(pb::ReportBatch { reports: vec![] }).is_err());
        assert!(
            check(pb::ReportBatch {
                reports: vec![report(0)]
            })
            .is_err()
        );
    }

    #[test]
    fn reports_need_a_known_kind_body_type_and_key() {
        let mut r = report(1);
        r.kind = 99;
        assert!(check(pb::ReportBatch { reports: vec![r] }).is_err());
        let mut r = report(1);
        r.body_type = 0;
        assert!(check(pb::ReportBatch { reports: vec![r] }).is_err());
        let mut r = report(1);
        r.key = None;
        assert!(check(pb::ReportBatch { reports: vec![r] }).is_err());
        let mut r = report(1);
        r.key = Some(pod_key("../etc"));
        let err = check(pb::ReportBatch { reports: vec![r] }).expect_err("slash");
        assert_eq!(err.field, "reports[0].key.name");
        let mut r = report(1);
        r.key = Some(pod_key(&"a".repeat(254)));
        assert!(check(pb::ReportBatch { reports: vec![r] }).is_err());
    }

    #[test]
    fn sync_batches_need_a_revision_and_a_change_per_entry() {
        let change = |change| pb::ObjectChange {
            key: Some(pod_key("web")),
            resource_version: "5".into(),
            change,
        };
        let delete = Some(pb::object_change::Change::Delete(pb::Delete {}));
        let batch = |revision, changes| pb::SyncBatch {
            revision,
            changes,
            more: false,
        };
        assert_eq!(check(batch(1, vec![change(delete.clone())])), Ok(()));
        assert!(check(batch(0, vec![])).is_err());
        assert!(check(batch(1, vec![change(None)])).is_err());
        let empty_upsert = Some(pb::object_change::Change::Upsert(pb::Upsert {
            object: Bytes::new(),
        }));
        assert!(check(batch(1, vec![change(empty_upsert)])).is_err());
    }

    #[test]
    fn welcome_limits_and_timers_are_checked() {
        assert_eq!(check(welcome()), Ok(()));
        let mut w = welcome();
        w.dead_after_ms = w.heartbeat_interval_ms;
        assert!(check(w).is_err());
        let mut w = welcome();
        w.mode = 0;
        assert!(check(w).is_err());
        let mut w = welcome();
        w.limits = Some(pb::Limits {
            max_frame_bytes: u32::MAX,
            ..default_limits()
        });
        assert!(check(w).is_err());
        let mut w = welcome();
        w.version = 256;
        assert!(check(w).is_err());
    }

    #[test]
    fn hello_must_offer_a_version() {
        let hello = pb::Hello {
            versions: vec![1],
            agent_version: "0.1.0".into(),
            node_name: "edge-1".into(),
            resume: None,
            report_stream: "q".into(),
            features: vec![],
        };
        assert_eq!(check(hello.clone()), Ok(()));
        assert!(
            check(pb::Hello {
                versions: vec![],
                ..hello.clone()
            })
            .is_err()
        );
        assert!(
            check(pb::Hello {
                features: vec![String::new()],
                ..hello
            })
            .is_err()
        );
    }

    #[test]
    fn rejections_must_lie_within_the_ack() {
        let rejection = |sequence| pb::Rejection {
            sequence,
            code: pb::ErrorCode::Unauthorized as i32,
            message: "not your pod".into(),
        };
        let ack = |sequence, rejected| pb::ReportAck { sequence, rejected };
        assert_eq!(check(ack(5, vec![rejection(3)])), Ok(()));
        assert!(check(ack(5, vec![rejection(6)])).is_err());
    }
}
