//! Pod creates from many concurrent in-flight requests over a few HTTP/2
//! connections: the `creates` scenario, and the loader of the `list` one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::client::H2;
use crate::hist::Histogram;
use crate::pod;
use crate::procstat::{self, Usage};

/// How long a create phase runs.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// Warm up, then measure for `duration`.
    Time {
        warmup: Duration,
        duration: Duration,
    },
    /// Create exactly this many pods (giving up after `limit`).
    Count { pods: u64, limit: Duration },
}

#[derive(Default)]
pub struct CreateResult {
    /// Successful creates completed inside the measured window.
    pub ok: u64,
    /// Failed creates (any status but 201, or a transport error) in the window.
    pub errors: u64,
    /// All successful creates, warm-up included.
    pub total_ok: u64,
    pub statuses: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    /// Latency of the successful creates in the window.
    pub latency: Histogram,
    /// Length of the measured window.
    pub window: Duration,
    pub cpu: Usage,
}

impl CreateResult {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64().max(1e-9)
    }
}

struct Shared {
    next: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
}

#[derive(Default)]
struct WorkerResult {
    ok: u64,
    errors: u64,
    total_ok: u64,
    statuses: BTreeMap<String, u64>,
    first_error: Option<String>,
    latency: Histogram,
}

/// Runs `concurrency` create loops spread over `conns`.
pub async fn run(
    conns: &[H2],
    concurrency: usize,
    bound: Bound,
    run_tag: &str,
    server_pid: Option<u32>,
    label: &str,
) -> anyhow::Result<CreateResult> {
    anyhow::ensure!(!conns.is_empty(), "no connections");
    let t0 = Instant::now();
    let (window_start, end, max_pods) = match bound {
        Bound::Time { warmup, duration } => (t0 + warmup, t0 + warmup + duration, u64::MAX),
        Bound::Count { pods, limit } => (t0, t0 + limit, pods),
    };
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    // CPU samples at the window's edges.
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(window_start.into()).await;
        procstat::Meter::start(server_pid)
    });

    let progress = {
        let shared = shared.clone();
        let label = label.to_owned();
        tokio::spawn(async move {
            let mut last = 0;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let done = shared.done.load(Ordering::Relaxed);
                let failed = shared.failed.load(Ordering::Relaxed);
                let phase = if Instant::now() < window_start {
                    "warm-up"
                } else {
                    "measuring"
                };
                let of = if max_pods == u64::MAX {
                    String::new()
                } else {
                    format!(" of {max_pods}")
                };
                eprintln!(
                    "{label}: {:5.1} s {phase}: {done}{of} created ({}/s), {failed} errors",
                    t0.elapsed().as_secs_f64(),
                    done - last
                );
                last = done;
            }
        })
    };

    let mut workers = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let mut conn = conns[w % conns.len()].clone();
        let shared = shared.clone();
        let run_tag = run_tag.to_owned();
        workers.push(tokio::spawn(async move {
            let mut r = WorkerResult::default();
            loop {
                if Instant::now() >= end {
                    break;
                }
                let i = shared.next.fetch_add(1, Ordering::Relaxed);
                if i >= max_pods {
                    break;
                }
                let body = Bytes::from(pod::pod_json(&run_tag, i, pod::now_ns()));
                let start = Instant::now();
                let outcome = conn
                    .call(Method::POST, pod::PODS_PATH, Some("application/json"), body)
                    .await;
                let finish = Instant::now();
                let in_window = finish >= window_start && finish <= end;
                let key = match &outcome {
                    Ok((status, _)) => status.as_u16().to_string(),
                    Err(_) => "transport error".to_owned(),
                };
                let ok = matches!(&outcome, Ok((s, _)) if *s == StatusCode::CREATED);
                if ok {
                    r.total_ok += 1;
                    shared.done.fetch_add(1, Ordering::Relaxed);
                } else {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    if r.first_error.is_none() {
                        r.first_error = Some(match &outcome {
                            Ok((s, body)) => format!(
                                "{s}: {}",
                                String::from_utf8_lossy(&body[..body.len().min(300)])
                            ),
                            Err(e) => format!("{e:#}"),
                        });
                    }
                }
                if in_window {
                    *r.statuses.entry(key).or_insert(0) += 1;
                    if ok {
                        r.ok += 1;
                        r.latency.record(finish - start);
                    } else {
                        r.errors += 1;
                    }
                }
                if !ok && outcome.is_err() {
                    // A broken connection fails fast; do not spin on it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            r
        }));
    }
    let mut all = Vec::with_capacity(workers.len());
    for w in workers {
        all.push(w.await?);
    }
    let finished = Instant::now();
    progress.abort();
    let meter = sampler.await?;

    let mut result = CreateResult {
        window: finished.min(end).saturating_duration_since(window_start),
        cpu: meter.finish(),
        ..CreateResult::default()
    };
    for r in all {
        result.ok += r.ok;
        result.errors += r.errors;
        result.total_ok += r.total_ok;
        for (k, v) in r.statuses {
            *result.statuses.entry(k).or_insert(0) += v;
        }
        if result.first_error.is_none() {
            result.first_error = r.first_error;
        }
        result.latency.merge(&r.latency);
    }
    Ok(result)
}
