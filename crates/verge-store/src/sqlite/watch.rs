//! Watch streams: history from the `log` table, then live events.
//!
//! The stream subscribes to the writer's broadcast *before* it reads any
//! history, so no change can fall between the two: the writer broadcasts a
//! change only after committing it, hence anything broadcast before the
//! subscription is visible to the (later) history read, and anything after it
//! is in the subscription.
//!
//! `seen` is the revision the stream has covered: every change up to it was
//! either delivered or is not under the prefix. History pages move it to the
//! page's snapshot revision once the history is exhausted; live events are
//! then taken only if they are exactly `seen + 1` (every write makes exactly
//! one revision and every revision is broadcast, so anything else is a gap,
//! and the stream goes back to reading history instead).
//!
//! While reading history the stream empties its subscription before each
//! page (those events are all committed, so the page read afterwards covers
//! them): a long replay therefore never overflows the broadcast buffer. Once
//! live, a watcher more than the buffer behind is dropped with `Lagged`: the
//! writer never waits for watchers, and their memory is bounded by the one
//! shared buffer.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use super::reader::{self, Readers};
use crate::{Event, Result, Revision, StoreError, WatchStream};

/// History events read per page.
const PAGE: usize = 512;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    History,
    Live,
    Done,
}

struct Watch {
    readers: Arc<Readers>,
    rx: broadcast::Receiver<Arc<Event>>,
    prefix: String,
    seen: Revision,
    pending: VecDeque<Event>,
    phase: Phase,
}

pub(crate) fn stream(
    readers: Arc<Readers>,
    rx: broadcast::Receiver<Arc<Event>>,
    prefix: &str,
    after: Revision,
) -> WatchStream {
    let watch = Watch {
        readers,
        rx,
        prefix: prefix.to_owned(),
        seen: after,
        pending: VecDeque::new(),
        phase: Phase::History,
    };
    futures::stream::unfold(watch, |mut w| async move {
        let item = w.next().await?;
        Some((item, w))
    })
    .boxed()
}

impl Watch {
    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            match self.phase {
                Phase::Done => return None,
                Phase::History => {
                    if let Err(e) = self.read_history().await {
                        self.phase = Phase::Done;
                        // A closed store ends the stream quietly.
                        return match e {
                            StoreError::Closed => None,
                            e => Some(Err(e)),
                        };
                    }
                }
                Phase::Live => match self.rx.recv().await {
                    Ok(event) => {
                        let rev = event.revision();
                        if rev <= self.seen {
                            continue;
                        }
                        if rev != self.seen + 1 {
                            tracing::debug!(
                                seen = self.seen,
                                rev,
                                "watch saw a gap; rereading history"
                            );
                            self.phase = Phase::History;
                            continue;
                        }
                        self.seen = rev;
                        if event.kv.key.starts_with(&self.prefix) {
                            return Some(Ok(Event::clone(&event)));
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            prefix = %self.prefix,
                            revision = self.seen,
                            missed,
                            "dropping a watcher that fell too far behind"
                        );
                        self.phase = Phase::Done;
                        return Some(Err(StoreError::Lagged {
                            revision: self.seen,
                        }));
                    }
                    Err(RecvError::Closed) => {
                        self.phase = Phase::Done;
                        return None;
                    }
                },
            }
        }
    }

    async fn read_history(&mut self) -> Result<()> {
        // Everything queued so far is committed, so the page covers it.
        while let Ok(_) | Err(TryRecvError::Lagged(_)) = self.rx.try_recv() {}
        let (prefix, after) = (self.prefix.clone(), self.seen);
        let page = self
            .readers
            .run(move |conn| reader::replay(conn, &prefix, after, PAGE))
            .await?;
        let full = page.events.len() >= PAGE;
        if let Some(last) = page.events.last() {
            self.seen = last.revision();
        }
        if !full {
            self.seen = self.seen.max(page.revision);
            self.phase = Phase::Live;
        }
        self.pending.extend(page.events);
        Ok(())
    }
}
