//! core/v1 Events, the way `kubectl describe` and `kubectl get events` show
//! them: a repeat of the same reason and message about the same object
//! bumps `count` and `lastTimestamp` instead of adding another Event.
//!
//! Publishing never blocks a reconcile: events go through a bounded queue to
//! one writer task and are dropped (with a debug log) when it is full.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event as KubeEvent, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use tokio::sync::mpsc;
use verge_apiserver::resources::Part;

use crate::client::{Client, ObjectRef};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

struct Pending {
    regarding: ObjectRef,
    type_: EventType,
    reason: String,
    message: String,
}

/// Publishes Events on behalf of one component (e.g. "default-scheduler").
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Pending>,
}

/// Events waiting to be written before new ones are dropped.
const QUEUE: usize = 1024;
/// A repeat within this window updates the existing Event.
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);
/// Remembered (object, reason, message) combinations.
const REMEMBERED: usize = 4096;

impl Recorder {
    /// Starts the writer task.
    pub fn new(client: Client, component: &'static str) -> Recorder {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_events(client, component, rx));
        Recorder { tx }
    }

    pub fn publish(&self, regarding: &ObjectRef, type_: EventType, reason: &str, message: &str) {
        let pending = Pending {
            regarding: regarding.clone(),
            type_,
            reason: reason.to_owned(),
            message: message.to_owned(),
        };
        if self.tx.try_send(pending).is_err() {
            tracing::debug!(object = %regarding, reason, "event queue full; event dropped");
        }
    }

    pub fn normal(&self, regarding: &ObjectRef, reason: &str, message: &str) {
        self.publish(regarding, EventType::Normal, reason, message);
    }

    pub fn warning(&self, regarding: &ObjectRef, reason: &str, message: &str) {
        self.publish(regarding, EventType::Warning, reason, message);
    }
}

type Fingerprint = (String, String, String);

struct Seen {
    namespace: String,
    name: String,
    at: Instant,
}

async fn write_events(client: Client, component: &'static str, mut rx: mpsc::Receiver<Pending>) {
    let mut seen: HashMap<Fingerprint, Seen> = HashMap::new();
    let mut order: VecDeque<Fingerprint> = VecDeque::new();
    while let Some(p) = rx.recv().await {
        let fingerprint = (p.regarding.uid.clone(), p.reason.clone(), p.message.clone());
        let now = jiff::Timestamp::now();
        if let Some(s) = seen.get_mut(&fingerprint)
            && s.at.elapsed() < AGGREGATE_WINDOW
        {
            let result = client
                .update::<KubeEvent, _>(Some(&s.namespace), &s.name, Part::Main, |e| {
                    e.count = Some(e.count.unwrap_or(1) + 1);
                    e.last_timestamp = Some(Time(now));
                    Ok(())
                })
                .await;
            match result {
                Ok(_) => {
                    s.at = Instant::now();
                    continue;
                }
                // Deleted meanwhile (or expired): write a new one.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    tracing::debug!(error = %e, "cannot update event");
                    continue;
                }
            }
        }
        let namespace = p
            .regarding
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let name = format!(
            "{}.{:x}",
            p.regarding.name,
            uuid::Uuid::new_v4().as_u128() as u64
        );
        let event = KubeEvent {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(p.regarding.api_version.clone()),
                kind: Some(p.regarding.kind.clone()),
                name: Some(p.regarding.name.clone()),
                namespace: p.regarding.namespace.clone(),
                uid: Some(p.regarding.uid.clone()),
                resource_version: p.regarding.resource_version.clone(),
                field_path: None,
            },
            reason: Some(p.reason.clone()),
            message: Some(p.message.clone()),
            type_: Some(p.type_.as_str().to_owned()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            source: Some(EventSource {
                component: Some(component.to_owned()),
                host: None,
            }),
            reporting_component: Some(component.to_owned()),
            reporting_instance: Some(component.to_owned()),
            action: Some(p.reason.clone()),
            ..KubeEvent::default()
        };
        match client.create(&event).await {
            Ok(_) => {
                if seen.len() >= REMEMBERED
                    && let Some(old) = order.pop_front()
                {
                    seen.remove(&old);
                }
                order.push_back(fingerprint.clone());
                seen.insert(
                    fingerprint,
                    Seen {
                        namespace,
                        name,
                        at: Instant::now(),
                    },
                );
            }
            Err(e) => tracing::debug!(object = %p.regarding, error = %e, "cannot write event"),
        }
    }
}
