//! Watch streams: newline-delimited JSON events over a chunked response.
//!
//! Each event line is assembled from the cached bytes of the object, so a
//! change is serialized once however many clients watch it. "Too old" is an
//! ERROR event with code 410 inside a 200 stream: that is what kube-rs and
//! client-go relist on (an HTTP 410 makes kube-rs retry forever).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::stream;
use serde_json::{Value, json};

use super::ApiServer;
use super::objects::{filter, served_bytes};
use crate::cache::{CacheError, ChangeType, Watch, WatchEnd, WatchItem, WatchStart};
use crate::registry::ResourceType;
use crate::request::{Query, Representation, ResourcePath};
use crate::status::{ApiError, ApiResult};
use crate::tables::{self, IncludeObject};

/// How long a watch without timeoutSeconds stays open. `kubectl get -w` sends
/// none and exits when the stream ends, so this is long.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Most events sent in one chunk.
const MAX_BATCH: usize = 64;

pub async fn serve(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    repr: Representation,
    query: &Query,
) -> ApiResult<Response> {
    let rt = rp.rt.clone();
    let filter = filter(&rt, rp.namespace.as_deref(), query)?;
    let start = match query.revision()? {
        None | Some(0) => WatchStart::Now {
            initial_events: query.send_initial_events,
        },
        Some(rev) if query.send_initial_events => {
            return Err(ApiError::bad_request(format!(
                "sendInitialEvents with resourceVersion {rev} is not supported: use resourceVersion=\"\" or \"0\""
            )));
        }
        Some(rev) => WatchStart::After(rev),
    };
    let timeout = query
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let bookmarks = query.allow_bookmarks;
    let include = IncludeObject::parse(query.include_object.as_deref());
    let encoder = Encoder {
        rt: rt.clone(),
        printer: (repr == Representation::Table).then(|| tables::Printer::new(&rt)),
        repr,
        include,
        sent_header: false,
    };
    let body = match api.resources.cache.watch(filter, start, bookmarks).await {
        Ok(watch) => Body::from_stream(events(watch, encoder, timeout)),
        Err(CacheError::Expired { requested, oldest }) => {
            let status =
                ApiError::gone(format!("too old resource version: {requested} ({oldest})"))
                    .to_status();
            Body::from(line("ERROR", &status))
        }
        Err(e) => return Err(ApiError::timeout(e.to_string())),
    };
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

struct Encoder {
    rt: Arc<ResourceType>,
    /// Built once per stream: CRD printer columns are parsed once, not per event.
    printer: Option<tables::Printer>,
    repr: Representation,
    include: IncludeObject,
    sent_header: bool,
}

impl Encoder {
    fn encode(&mut self, item: WatchItem) -> Bytes {
        match item {
            WatchItem::Change(kind, obj) => match self.repr {
                Representation::Object => event_line(kind, &served_bytes(&self.rt, &obj.bytes)),
                Representation::Table => {
                    let v = obj.value();
                    let table = match &self.printer {
                        Some(p) => p.watch_table(
                            &v,
                            self.include,
                            jiff::Timestamp::now(),
                            !self.sent_header,
                        ),
                        None => tables::partial_object_metadata(&v),
                    };
                    self.sent_header = true;
                    line(kind.as_str(), &table)
                }
                Representation::PartialMetadata => line(
                    kind.as_str(),
                    &tables::partial_object_metadata(&obj.value()),
                ),
            },
            WatchItem::Bookmark(rev) => line("BOOKMARK", &self.bookmark(rev, false)),
            WatchItem::InitialEventsEnd(rev) => line("BOOKMARK", &self.bookmark(rev, true)),
        }
    }

    fn bookmark(&self, rev: i64, initial_end: bool) -> Value {
        let mut meta = json!({"resourceVersion": rev.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta})
    }
}

fn event_line(kind: ChangeType, object: &[u8]) -> Bytes {
    let head = format!("{{\"type\":\"{}\",\"object\":", kind.as_str());
    let mut buf = BytesMut::with_capacity(head.len() + object.len() + 2);
    buf.put_slice(head.as_bytes());
    buf.put_slice(object);
    buf.put_slice(b"}\n");
    buf.freeze()
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

enum Phase {
    Initial(std::vec::IntoIter<WatchItem>),
    Live,
    Done,
}

fn events(
    mut watch: Watch,
    encoder: Encoder,
    timeout: Duration,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
    let initial = std::mem::take(&mut watch.initial).into_iter();
    let deadline = tokio::time::Instant::now() + timeout;
    stream::unfold(
        (watch, encoder, Phase::Initial(initial)),
        move |(mut watch, mut encoder, phase)| async move {
            match phase {
                Phase::Done => None,
                Phase::Initial(mut items) => {
                    // Batch the initial state into one chunk per call.
                    let mut buf = BytesMut::new();
                    for item in items.by_ref().take(256) {
                        buf.put_slice(&encoder.encode(item));
                    }
                    let next = if items.len() == 0 {
                        Phase::Live
                    } else {
                        Phase::Initial(items)
                    };
                    if buf.is_empty() {
                        return Some((Ok(Bytes::new()), (watch, encoder, next)));
                    }
                    Some((Ok(buf.freeze()), (watch, encoder, next)))
                }
                Phase::Live => {
                    let item = tokio::time::timeout_at(deadline, watch.next()).await;
                    match item {
                        Err(_) => None,
                        Ok(Ok(item)) => {
                            // Send whatever else is already queued in the same
                            // chunk: one write for a burst instead of one per
                            // event, so a busy watcher catches up instead of
                            // falling further behind.
                            let mut buf = BytesMut::from(&encoder.encode(item)[..]);
                            let mut batched = 1;
                            while batched < MAX_BATCH
                                && let Some(item) = watch.try_next()
                            {
                                buf.put_slice(&encoder.encode(item));
                                batched += 1;
                            }
                            Some((Ok(buf.freeze()), (watch, encoder, Phase::Live)))
                        }
                        Ok(Err(WatchEnd::Lagged)) => {
                            let status = ApiError::gone(
                                "the watch fell too far behind and was closed; list again and restart the watch",
                            )
                            .to_status();
                            Some((Ok(line("ERROR", &status)), (watch, encoder, Phase::Done)))
                        }
                        Ok(Err(WatchEnd::Closed)) => None,
                    }
                }
            }
        },
    )
}
