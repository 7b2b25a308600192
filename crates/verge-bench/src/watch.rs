//! The `watch` scenario: many concurrent pod watchers while a paced writer
//! stamps each write with its send time; every watcher measures how long
//! each change took to reach it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::client::{self, H2, Target};
use crate::creates::{self, Bound};
use crate::hist::Histogram;
use crate::pod;
use crate::procstat::{self, Usage};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WriteKind {
    /// Create a new pod per write (ADDED events).
    Create,
    /// Merge-patch the send-time annotation of existing pods (MODIFIED events).
    Patch,
}

#[derive(Clone, Debug)]
pub struct WatchOpts {
    pub watchers: usize,
    /// HTTP/2 connections the watchers share; 0 = one HTTP/1.1 connection each.
    pub watch_conns: usize,
    pub rate: u64,
    pub duration: Duration,
    pub writes: WriteKind,
    /// Pods the patch writer cycles through.
    pub patch_pods: u64,
    pub writer_conns: usize,
    pub writer_inflight: usize,
    /// How long watchers may take to receive the last writes.
    pub drain: Duration,
    /// Each watcher selects one `slot` label value (like a kubelet watching
    /// its node's pods), so each write reaches about watchers/1000 of them
    /// instead of all.
    pub selective: bool,
}

#[derive(Default)]
pub struct WatchResult {
    pub watchers: usize,
    pub writes_ok: u64,
    pub write_errors: u64,
    pub first_write_error: Option<String>,
    /// Seconds the writer needed for its writes (ideally `duration`).
    pub write_secs: f64,
    pub write_latency: Histogram,
    /// Delivery latency over all deliveries to all watchers.
    pub latency: Histogram,
    pub expected: u64,
    /// Watchers closed with a 410 ERROR event.
    pub dropped: u64,
    /// Watchers whose stream ended early or failed (other than 410).
    pub failed: u64,
    pub first_watch_error: Option<String>,
    /// Watchers that had not received every write when the drain ended.
    pub incomplete: u64,
    /// From the first write to the last delivery.
    pub delivery_secs: f64,
    pub cpu: Usage,
    pub server_rss_peak_kib: u64,
    /// Watchers the server says it dropped for falling behind (its
    /// `verge_watch_cache_dropped_watchers_total`), whether or not the
    /// 410 reached the client before it stopped reading.
    pub server_dropped: Option<u64>,
}

impl WatchResult {
    pub fn deliveries(&self) -> u64 {
        self.latency.count()
    }
}

#[derive(Default)]
struct WatcherResult {
    latency: Histogram,
    dropped: bool,
    error: Option<String>,
    complete: bool,
}

/// Shared by all watchers.
struct Progress {
    deliveries: AtomicU64,
    last_delivery_ns: AtomicU64,
}

/// What the driver tells the watchers.
#[derive(Clone, Copy, Debug)]
struct Control {
    /// Writes each watcher should see; u64::MAX while the writer runs.
    expected: u64,
    /// Stop now, whatever was received.
    stop: bool,
}

enum Conn {
    H2(H2),
    H1(Target),
}

async fn open(conn: Conn, path: &str) -> anyhow::Result<hyper::Response<Incoming>> {
    match conn {
        Conn::H2(mut c) => c.start(Method::GET, path, None, Bytes::new()).await,
        Conn::H1(target) => {
            let mut c = target.h1().await?;
            c.start(Method::GET, path).await
        }
    }
}

async fn watcher(
    conn: Conn,
    path: String,
    progress: Arc<Progress>,
    ready: mpsc::Sender<Result<(), String>>,
    mut control: watch::Receiver<Control>,
) -> WatcherResult {
    let mut r = WatcherResult::default();
    let resp = match tokio::time::timeout(Duration::from_secs(60), open(conn, &path)).await {
        Ok(Ok(resp)) if resp.status() == StatusCode::OK => resp,
        Ok(Ok(resp)) => {
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let e = format!("{status}: {}", String::from_utf8_lossy(&body));
            let _ = ready.send(Err(e.clone())).await;
            r.error = Some(e);
            return r;
        }
        Ok(Err(e)) => {
            let e = format!("{e:#}");
            let _ = ready.send(Err(e.clone())).await;
            r.error = Some(e);
            return r;
        }
        Err(_) => {
            let _ = ready.send(Err("opening the watch timed out".into())).await;
            r.error = Some("opening the watch timed out".into());
            return r;
        }
    };
    let _ = ready.send(Ok(())).await;
    drop(ready);

    let needle = pod::sent_needle();
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut seen: u64 = 0;
    loop {
        let ctl = *control.borrow_and_update();
        if seen >= ctl.expected {
            r.complete = true;
            break;
        }
        if ctl.stop {
            break;
        }
        let frame = tokio::select! {
            f = body.frame() => f,
            changed = control.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
        };
        let data = match frame {
            None => {
                r.error = Some("the watch stream ended early".into());
                break;
            }
            Some(Err(e)) => {
                r.error = Some(format!("reading the watch stream: {e}"));
                break;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
        };
        buf.extend_from_slice(&data);
        let mut start = 0;
        let mut batch = 0;
        let mut last_now = 0;
        while let Some(pos) = memchr::memchr(b'\n', &buf[start..]) {
            let line = &buf[start..start + pos];
            start += pos + 1;
            if line.starts_with(b"{\"type\":\"ERROR\"") {
                if memchr::memmem::find(line, b"\"code\":410").is_some() {
                    r.dropped = true;
                } else {
                    r.error = Some(String::from_utf8_lossy(line).into_owned());
                }
                break;
            }
            if let Some(sent) = pod::sent_ns_in(line, &finder) {
                let now = pod::now_ns();
                r.latency.record_us(now.saturating_sub(sent) / 1000);
                batch += 1;
                last_now = now;
            }
        }
        buf.drain(..start);
        if batch > 0 {
            seen += batch;
            progress.deliveries.fetch_add(batch, Ordering::Relaxed);
            progress
                .last_delivery_ns
                .fetch_max(last_now, Ordering::Relaxed);
        }
        if r.dropped || r.error.is_some() {
            break;
        }
    }
    r
}

struct WriteStats {
    /// Successful writes by the `slot` label of the pod written.
    per_slot: Vec<AtomicU64>,
    ok: AtomicU64,
    errors: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
    latency: std::sync::Mutex<Histogram>,
}

pub async fn run(
    target: &Target,
    opts: &WatchOpts,
    run_tag: &str,
    server_pid: Option<u32>,
) -> anyhow::Result<WatchResult> {
    let mut writers = Vec::new();
    for _ in 0..opts.writer_conns.max(1) {
        writers.push(target.h2().await?);
    }
    client::ensure_namespace(&mut writers[0], pod::NAMESPACE).await?;
    if opts.writes == WriteKind::Patch {
        eprintln!("watch: creating {} pods to patch", opts.patch_pods);
        let r = creates::run(
            &writers,
            64,
            Bound::Count {
                pods: opts.patch_pods,
                limit: Duration::from_secs(300),
            },
            run_tag,
            None,
            "watch setup",
        )
        .await?;
        if r.total_ok != opts.patch_pods {
            bail!(
                "only {} of {} pods to patch were created: {}",
                r.total_ok,
                opts.patch_pods,
                r.first_error.unwrap_or_default()
            );
        }
    }
    let rv = client::collection_revision(&mut writers[0], pod::PODS_PATH).await?;
    let timeout_secs = (opts.duration + opts.drain).as_secs() + 120;
    let base_path = format!(
        "{}?watch=true&resourceVersion={rv}&timeoutSeconds={timeout_secs}",
        pod::PODS_PATH
    );

    // Watchers.
    let progress = Arc::new(Progress {
        deliveries: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
    });
    let (ctl_tx, ctl_rx) = watch::channel(Control {
        expected: u64::MAX,
        stop: false,
    });
    let (ready_tx, mut ready_rx) = mpsc::channel(opts.watchers.max(1));
    let mut watch_conns = Vec::new();
    for _ in 0..opts.watch_conns {
        watch_conns.push(target.h2().await?);
    }
    let mode = if opts.watch_conns == 0 {
        format!("{} HTTP/1.1 connections", opts.watchers)
    } else {
        format!("{} HTTP/2 connections", opts.watch_conns)
    };
    eprintln!(
        "watch: opening {} watchers over {mode} from resourceVersion {rv}",
        opts.watchers
    );
    // HTTP/1.1 handshakes are paced so the listen backlog never overflows.
    let handshakes = Arc::new(Semaphore::new(64));
    let mut watchers = Vec::with_capacity(opts.watchers);
    for w in 0..opts.watchers {
        let conn = if watch_conns.is_empty() {
            Conn::H1(target.clone())
        } else {
            Conn::H2(watch_conns[w % watch_conns.len()].clone())
        };
        let path = if opts.selective {
            format!("{base_path}&labelSelector=slot%3D{}", w as u64 % pod::SLOTS)
        } else {
            base_path.clone()
        };
        let progress = progress.clone();
        let ready = ready_tx.clone();
        let stop = ctl_rx.clone();
        let handshakes = handshakes.clone();
        watchers.push(tokio::spawn(async move {
            let permit = handshakes.acquire_owned().await;
            let (inner_ready, mut inner_rx) = mpsc::channel(1);
            let task = tokio::spawn(watcher(conn, path, progress, inner_ready, stop));
            let first = inner_rx.recv().await;
            drop(permit);
            let _ = ready
                .send(first.unwrap_or_else(|| Err("watcher ended before it started".into())))
                .await;
            task.await.unwrap_or_else(|e| WatcherResult {
                error: Some(format!("watcher task failed: {e}")),
                ..WatcherResult::default()
            })
        }));
    }
    drop(ready_tx);
    let open_deadline = Instant::now() + Duration::from_secs(120);
    let (mut established, mut open_failed) = (0usize, 0usize);
    let mut first_open_error = None;
    let mut last_report = Instant::now();
    while established + open_failed < opts.watchers {
        match tokio::time::timeout_at(open_deadline.into(), ready_rx.recv()).await {
            Ok(Some(Ok(()))) => established += 1,
            Ok(Some(Err(e))) => {
                open_failed += 1;
                first_open_error.get_or_insert(e);
            }
            Ok(None) | Err(_) => break,
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!("watch: {established}/{} watchers open", opts.watchers);
            last_report = Instant::now();
        }
    }
    eprintln!(
        "watch: {established} watchers open, {open_failed} failed{}",
        first_open_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    if established == 0 {
        ctl_tx.send_modify(|c| c.stop = true);
        bail!("no watcher could be opened");
    }

    // The writer.
    let meter = procstat::Meter::start(server_pid);
    let total_writes = opts.rate * opts.duration.as_secs();
    let stats = Arc::new(WriteStats {
        per_slot: (0..pod::SLOTS).map(|_| AtomicU64::new(0)).collect(),
        ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
        latency: std::sync::Mutex::new(Histogram::default()),
    });
    let inflight = Arc::new(Semaphore::new(opts.writer_inflight.max(1)));
    let write_start = Instant::now();
    let write_start_ns = pod::now_ns();
    let mut rss_peak = 0u64;
    let mut tasks = Vec::with_capacity(total_writes as usize);
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_report = Instant::now();
    let mut last_deliveries = 0;
    let hard_stop = write_start + opts.duration * 3 + Duration::from_secs(30);
    while sent < total_writes && Instant::now() < hard_stop {
        tick.tick().await;
        let due =
            ((write_start.elapsed().as_secs_f64() * opts.rate as f64) as u64).min(total_writes);
        while sent < due {
            let Ok(permit) = inflight.clone().acquire_owned().await else {
                break;
            };
            let i = sent;
            sent += 1;
            let mut conn = writers[(i as usize) % writers.len()].clone();
            let stats = stats.clone();
            let run_tag = run_tag.to_owned();
            let kind = opts.writes;
            let patch_pods = opts.patch_pods.max(1);
            let pod_index = match kind {
                WriteKind::Create => patch_pods + i,
                WriteKind::Patch => i % patch_pods,
            };
            tasks.push(tokio::spawn(async move {
                let sent_ns = pod::now_ns();
                let started = Instant::now();
                let outcome = match kind {
                    WriteKind::Create => {
                        let body = pod::pod_json(&run_tag, pod_index, sent_ns);
                        conn.call(
                            Method::POST,
                            pod::PODS_PATH,
                            Some("application/json"),
                            body.into(),
                        )
                        .await
                    }
                    WriteKind::Patch => {
                        let path = format!("{}/bench-{run_tag}-{pod_index}", pod::PODS_PATH);
                        conn.call(
                            Method::PATCH,
                            &path,
                            Some("application/merge-patch+json"),
                            pod::stamp_patch(sent_ns).into(),
                        )
                        .await
                    }
                };
                let elapsed = started.elapsed();
                drop(permit);
                match outcome {
                    Ok((s, _)) if s.is_success() => {
                        stats.ok.fetch_add(1, Ordering::Relaxed);
                        stats.per_slot[(pod_index % pod::SLOTS) as usize]
                            .fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut h) = stats.latency.lock() {
                            h.record(elapsed);
                        }
                    }
                    other => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        let e = match other {
                            Ok((s, body)) => format!(
                                "{s}: {}",
                                String::from_utf8_lossy(&body[..body.len().min(300)])
                            ),
                            Err(e) => format!("{e:#}"),
                        };
                        if let Ok(mut first) = stats.first_error.lock() {
                            first.get_or_insert(e);
                        }
                    }
                }
            }));
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            let d = progress.deliveries.load(Ordering::Relaxed);
            if let Some(pid) = server_pid
                && let Ok((rss, _)) = procstat::memory_kib(pid)
            {
                rss_peak = rss_peak.max(rss);
            }
            eprintln!(
                "watch: {:4.1} s: {sent} writes sent, {} ok, {} errors; {d} deliveries ({}/s)",
                write_start.elapsed().as_secs_f64(),
                stats.ok.load(Ordering::Relaxed),
                stats.errors.load(Ordering::Relaxed),
                d - last_deliveries,
            );
            last_deliveries = d;
            last_report = Instant::now();
        }
    }
    for t in tasks {
        t.await?;
    }
    let write_secs = write_start.elapsed().as_secs_f64();
    let writes_ok = stats.ok.load(Ordering::Relaxed);
    // Deliveries due: each write reaches every watcher, or (selective) the
    // watchers of its slot.
    let expected_total = if opts.selective {
        (0..opts.watchers)
            .map(|w| stats.per_slot[w % pod::SLOTS as usize].load(Ordering::Relaxed))
            .sum::<u64>()
    } else {
        ctl_tx.send_modify(|c| c.expected = writes_ok);
        writes_ok * established as u64
    };
    eprintln!(
        "watch: writer done: {writes_ok} writes in {write_secs:.1} s; waiting up to {} s for deliveries",
        opts.drain.as_secs()
    );

    // Drain: watchers stop once they have every write, or at the deadline.
    let drain_deadline = Instant::now() + opts.drain;
    let mut results = Vec::with_capacity(watchers.len());
    let mut pending = watchers;
    let mut last_report = Instant::now();
    while !pending.is_empty() {
        let all_delivered =
            opts.selective && progress.deliveries.load(Ordering::Relaxed) >= expected_total;
        if (Instant::now() >= drain_deadline || all_delivered) && !ctl_tx.borrow().stop {
            ctl_tx.send_modify(|c| c.stop = true);
        }
        let mut still = Vec::new();
        for h in pending {
            if h.is_finished() {
                results.push(h.await.context("watcher task")?);
            } else {
                still.push(h);
            }
        }
        pending = still;
        if last_report.elapsed() >= Duration::from_secs(1) && !pending.is_empty() {
            eprintln!(
                "watch: draining, {} watchers still waiting, {} deliveries",
                pending.len(),
                progress.deliveries.load(Ordering::Relaxed)
            );
            last_report = Instant::now();
        }
        if Instant::now() >= drain_deadline + Duration::from_secs(30) {
            // Bounded even if a watcher ignores the stop signal.
            for h in &pending {
                h.abort();
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = meter.finish();
    let server_dropped = server_metric(&mut writers[0], "verge_watch_cache_dropped_watchers_total")
        .await
        .map(|v| v as u64);
    if let Some(pid) = server_pid
        && let Ok((rss, _)) = procstat::memory_kib(pid)
    {
        rss_peak = rss_peak.max(rss);
    }

    let mut result = WatchResult {
        watchers: established,
        writes_ok,
        write_errors: stats.errors.load(Ordering::Relaxed),
        first_write_error: stats.first_error.lock().ok().and_then(|e| e.clone()),
        write_secs,
        write_latency: stats.latency.lock().map(|h| h.clone()).unwrap_or_default(),
        expected: expected_total,
        first_watch_error: first_open_error,
        server_rss_peak_kib: rss_peak,
        server_dropped,
        cpu,
        ..WatchResult::default()
    };
    for r in results {
        result.latency.merge(&r.latency);
        if r.dropped {
            result.dropped += 1;
        } else if let Some(e) = r.error {
            result.failed += 1;
            result.first_watch_error.get_or_insert(e);
        } else if !r.complete && !opts.selective {
            result.incomplete += 1;
        }
    }
    let last = progress.last_delivery_ns.load(Ordering::Relaxed);
    result.delivery_secs = last.saturating_sub(write_start_ns) as f64 / 1e9;
    Ok(result)
}

/// One unlabelled sample from the server's /metrics.
async fn server_metric(conn: &mut H2, name: &str) -> Option<f64> {
    let body = conn.get_ok("/metrics").await.ok()?;
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
