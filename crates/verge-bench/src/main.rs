//! `verge-apibench`: measures the API server against its performance targets.
//!
//! Each scenario starts its own `verge server` (fresh temporary data
//! directory, free 127.0.0.1 port), drives it over HTTPS with the admin
//! client certificate, prints a human summary and a Markdown table row, and
//! stops the server. Every loop is bounded in count and time.

mod client;
mod controllers;
mod creates;
mod hist;
mod hub;
mod list;
mod pod;
mod procstat;
mod scheduling;
mod server;
mod watch;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::client::Target;
use crate::hist::ms;
use crate::procstat::mib;
use crate::server::Server;

#[derive(Parser)]
#[command(
    name = "verge-apibench",
    about = "Load generator for the Verge API server's performance targets",
    long_about = "Starts a `verge server` on 127.0.0.1 in a fresh temporary data directory \
                  (or uses --kubeconfig), runs one scenario, prints a human summary and a \
                  Markdown table row on stdout (progress on stderr), and stops the server."
)]
struct Cli {
    /// The `verge` binary to benchmark (build it with `cargo build --release -p verge`).
    #[arg(long, global = true, default_value = "target/release/verge")]
    verge: PathBuf,

    /// Benchmark an already running server through this kubeconfig instead
    /// (its URL must be a loopback address).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,

    /// With --kubeconfig: the server's process id, for CPU and memory figures.
    #[arg(long, global = true)]
    server_pid: Option<u32>,

    /// Keep the temporary data directory (store and server.log) afterwards.
    #[arg(long, global = true)]
    keep_data: bool,

    /// Profile the server with `perf record` (199 Hz, DWARF call graphs) for
    /// the whole scenario and write the profile here (then: perf report -i FILE).
    #[arg(long, global = true, value_name = "FILE")]
    perf: Option<PathBuf>,

    /// Before each scenario, wait at most this many seconds for other
    /// processes to leave the machine idle (see --quiet-below); 0 = do not wait.
    #[arg(long, global = true, default_value_t = 120, value_name = "SECS")]
    wait_quiet: u64,

    /// "Idle" for --wait-quiet: machine-wide CPU below this percentage of one core.
    #[arg(long, global = true, default_value_t = 25.0, value_name = "PCT")]
    quiet_below: f64,

    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Sustained pod creates through the HTTP API (target >= 3,000/s).
    Creates(CreatesArgs),
    /// Delivery latency to many watchers under a paced writer (target p99 < 100 ms).
    Watch(WatchArgs),
    /// Store many pods, then time full LISTs (target < 3 s paged, RSS < 1 GiB).
    List(ListArgs),
    /// All three scenarios with their defaults, each on a fresh server.
    All,
    /// Workload controllers on hollow nodes: a 10,000-replica rollout, and
    /// controller memory with 100,000 pods (bench/controllers.sh).
    Controllers(controllers::Args),
    /// Pods bound per second with 10,000 Ready nodes (target >= 1,000/s);
    /// the server runs its scheduler.
    Scheduling(scheduling::Args),
    /// The cloud hub under many edge nodes: memory per node, idle traffic,
    /// reconnect bytes, write-to-edge latency (bench/hub.sh).
    Hub(hub::Args),
}

#[derive(Parser, Clone)]
struct CreatesArgs {
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Requests in flight at any time, spread over the connections
    /// (32-128 all did about equally well on 2 vCPUs; more only adds latency).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 20)]
    duration: u64,
}

#[derive(Parser, Clone)]
struct WatchArgs {
    /// Concurrent watchers.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// HTTP/2 connections shared by the watchers (at most 100 streams each
    /// is sensible); 0 = one HTTP/1.1 connection per watcher.
    #[arg(long, default_value_t = 10)]
    watch_conns: usize,
    /// Writes per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of writing.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// What each write is.
    #[arg(long, value_enum, default_value_t = watch::WriteKind::Create)]
    writes: watch::WriteKind,
    /// With --writes patch: pods created first and patched round-robin.
    #[arg(long, default_value_t = 1000)]
    patch_pods: u64,
    /// HTTP/2 connections of the writer.
    #[arg(long, default_value_t = 2)]
    writer_conns: usize,
    /// Most writes in flight.
    #[arg(long, default_value_t = 256)]
    writer_inflight: usize,
    /// Seconds watchers may take to receive the last writes.
    #[arg(long, default_value_t = 10)]
    drain: u64,
    /// Each watcher selects its own `slot` label value (like kubelets
    /// watching their node's pods), so a write reaches one watcher, not all.
    #[arg(long)]
    selective: bool,
}

#[derive(Parser, Clone)]
struct ListArgs {
    /// Pods to store before listing.
    #[arg(long, default_value_t = 100_000)]
    pods: u64,
    /// `limit` of the paged list.
    #[arg(long, default_value_t = 500)]
    page_size: u64,
    /// HTTP/2 connections of the loader.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Creates in flight while loading.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("apibench")
        .build()
        .context("starting the async runtime")?;
    if let Scenario::Hub(a) = &cli.scenario {
        let result = runtime.block_on(hub::main(&cli.verge, cli.keep_data, a.clone()));
        runtime.shutdown_timeout(Duration::from_secs(2));
        return result;
    }
    if let Scenario::Controllers(a) = &cli.scenario {
        let quiet = (cli.wait_quiet, cli.quiet_below);
        let result = runtime.block_on(controllers::main(
            &cli.verge,
            cli.keep_data,
            quiet,
            a.clone(),
        ));
        runtime.shutdown_timeout(Duration::from_secs(2));
        return result;
    }
    let scenarios: Vec<(Scenario, String)> = match &cli.scenario {
        Scenario::All => vec![
            (
                Scenario::Creates(CreatesArgs::parse_from(["creates"])),
                "bench/api.sh creates".into(),
            ),
            (
                Scenario::Watch(WatchArgs::parse_from(["watch"])),
                "bench/api.sh watch".into(),
            ),
            (
                Scenario::List(ListArgs::parse_from(["list"])),
                "bench/api.sh list".into(),
            ),
        ],
        Scenario::Creates(a) => vec![(Scenario::Creates(a.clone()), reproduce())],
        Scenario::Watch(a) => vec![(Scenario::Watch(a.clone()), reproduce())],
        Scenario::List(a) => vec![(Scenario::List(a.clone()), reproduce())],
        Scenario::Controllers(_) | Scenario::Hub(_) => Vec::new(),
        Scenario::Scheduling(a) => vec![(Scenario::Scheduling(a.clone()), scheduling::reproduce())],
    };
    let mut rows = Vec::new();
    for (scenario, command) in scenarios {
        let row = runtime.block_on(run_one(&cli, scenario, &command))?;
        rows.push(row);
    }
    print_results(&rows);
    // Watch streams and connections end with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

/// The command line that reproduces this run, as the bench script takes it.
fn reproduce() -> String {
    let mut out = vec!["bench/api.sh".to_owned()];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--verge" || a == "--perf" {
            args.next();
            continue;
        }
        if a == "--wait-quiet" || a == "--quiet-below" {
            args.next();
            continue;
        }
        if ["--verge=", "--perf=", "--wait-quiet=", "--quiet-below="]
            .iter()
            .any(|p| a.starts_with(p))
            || a == "--keep-data"
        {
            continue;
        }
        out.push(a);
    }
    out.join(" ")
}

fn run_tag() -> String {
    format!("{:x}", (pod::now_ns() / 1_000_000) % 0xff_ffff)
}

struct Perf(Option<Child>);

impl Perf {
    fn start(file: Option<&PathBuf>, pid: Option<u32>) -> Perf {
        let (Some(file), Some(pid)) = (file, pid) else {
            return Perf(None);
        };
        let child = Command::new("perf")
            .args(["record", "-F", "199", "--call-graph", "dwarf,16384"])
            .args(["-p", &pid.to_string(), "-o"])
            .arg(file)
            .stdout(std::process::Stdio::null())
            .spawn();
        match child {
            Ok(c) => {
                eprintln!("perf: recording pid {pid} into {}", file.display());
                Perf(Some(c))
            }
            Err(e) => {
                eprintln!("perf: cannot start perf record: {e}");
                Perf(None)
            }
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            for _ in 0..300 {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Perf {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run_one(cli: &Cli, scenario: Scenario, command: &str) -> anyhow::Result<String> {
    if cli.wait_quiet > 0 {
        let limit = Duration::from_secs(cli.wait_quiet);
        let below = cli.quiet_below;
        let busy =
            tokio::task::spawn_blocking(move || procstat::wait_for_quiet(limit, below)).await?;
        eprintln!("machine busy before the run: {busy:.0}% of one core");
    }
    let mut server = match &cli.kubeconfig {
        Some(k) => Server::existing(k, cli.server_pid)?,
        None => {
            let verge = cli.verge.clone();
            let keep = cli.keep_data;
            let scheduler = matches!(scenario, Scenario::Scheduling(_));
            tokio::task::spawn_blocking(move || match scheduler {
                true => Server::start_with(&verge, keep, &["--controllers", "scheduler"]),
                false => Server::start(&verge, keep),
            })
            .await??
        }
    };
    let target = Target::from_kubeconfig(&server.kubeconfig)?;
    let pid = server.pid;
    let mut perf = Perf::start(cli.perf.as_ref(), pid);
    let tag = run_tag();
    let row = match scenario {
        Scenario::Creates(a) => creates_scenario(&target, &a, &tag, pid, command).await,
        Scenario::Watch(a) => watch_scenario(&target, &a, &tag, pid, command).await,
        Scenario::List(a) => list_scenario(&target, &a, &tag, pid, &server, command).await,
        Scenario::Scheduling(a) => scheduling::scenario(&target, &a, &tag, pid, command).await,
        Scenario::All => unreachable!("expanded in main"),
        Scenario::Controllers(_) => unreachable!("run by controllers::main"),
        Scenario::Hub(_) => unreachable!("run by hub::main"),
    };
    perf.stop();
    if cli.keep_data && cli.kubeconfig.is_none() {
        eprintln!("data kept in {}", server.data_path().display());
    }
    tokio::task::spawn_blocking(move || server.stop()).await?;
    row
}

fn rss_text(pid: Option<u32>) -> (String, u64) {
    match pid.and_then(|p| procstat::memory_kib(p).ok()) {
        Some((rss, hwm)) => (format!("RSS {} (peak {})", mib(rss), mib(hwm)), rss),
        None => ("RSS unknown".into(), 0),
    }
}

/// "1 HTTP/2 connection", "4 HTTP/2 connections".
fn conns_text(n: usize) -> String {
    if n == 1 {
        "1 HTTP/2 connection".into()
    } else {
        format!("{n} HTTP/2 connections")
    }
}

fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn creates_scenario(
    target: &Target,
    a: &CreatesArgs,
    tag: &str,
    pid: Option<u32>,
    command: &str,
) -> anyhow::Result<String> {
    let mut conns = Vec::new();
    for _ in 0..a.conns.max(1) {
        conns.push(target.h2().await?);
    }
    client::ensure_namespace(&mut conns[0], pod::NAMESPACE).await?;
    eprintln!(
        "creates: {} in flight over {}, {} s warm-up + {} s measured",
        a.concurrency,
        conns_text(conns.len()),
        a.warmup,
        a.duration
    );
    let r = creates::run(
        &conns,
        a.concurrency,
        creates::Bound::Time {
            warmup: Duration::from_secs(a.warmup),
            duration: Duration::from_secs(a.duration),
        },
        tag,
        pid,
        "creates",
    )
    .await?;
    let (rss, _) = rss_text(pid);
    let size = pod::pod_json(tag, 0, pod::now_ns()).len();
    println!("## creates");
    println!(
        "{} pod creates/s over {:.1} s ({} ok, {} errors; statuses {:?}); request body {size} B",
        thousands(r.rate()),
        r.window.as_secs_f64(),
        r.ok,
        r.errors,
        r.statuses
    );
    println!(
        "latency p50 {} p90 {} p99 {} max {} (mean {})",
        ms(r.latency.quantile_us(0.5)),
        ms(r.latency.quantile_us(0.9)),
        ms(r.latency.quantile_us(0.99)),
        ms(r.latency.max_us()),
        ms(r.latency.mean_us())
    );
    println!("{} in flight over {}", a.concurrency, conns_text(a.conns));
    for line in r.cpu.lines() {
        println!("{line}");
    }
    if let Some(c) = &r.cpu.server
        && r.ok > 0
    {
        println!(
            "server CPU per create: {:.0} µs (2 cores fully used would allow ~{}/s at this cost)",
            c.seconds * 1e6 / r.ok as f64,
            thousands(2.0 * r.ok as f64 / c.seconds.max(1e-9))
        );
    }
    println!("server {rss}");
    if let Some(e) = &r.first_error {
        println!("first error: {e}");
    }
    let met = if r.rate() >= 3000.0 && r.errors == 0 {
        "met"
    } else {
        "MISSED"
    };
    let server_cpu = r.cpu.server_pct();
    Ok(format!(
        "| Pod creates, HTTP/2, durable (fsync) | ≥ 3,000/s | **{}/s** ({met}); p50 {}, p99 {}; {} errors; {} in flight over {}; server CPU {server_cpu}, {rss} | `{command}` |",
        thousands(r.rate()),
        ms(r.latency.quantile_us(0.5)),
        ms(r.latency.quantile_us(0.99)),
        r.errors,
        a.concurrency,
        conns_text(a.conns)
    ))
}

async fn watch_scenario(
    target: &Target,
    a: &WatchArgs,
    tag: &str,
    pid: Option<u32>,
    command: &str,
) -> anyhow::Result<String> {
    let opts = watch::WatchOpts {
        watchers: a.watchers,
        watch_conns: a.watch_conns,
        rate: a.rate,
        duration: Duration::from_secs(a.duration),
        writes: a.writes,
        patch_pods: a.patch_pods,
        writer_conns: a.writer_conns,
        writer_inflight: a.writer_inflight,
        drain: Duration::from_secs(a.drain),
        selective: a.selective,
    };
    let r = watch::run(target, &opts, tag, pid).await?;
    let (rss, _) = rss_text(pid);
    let mut transport = if a.watch_conns == 0 {
        "HTTP/1.1, one connection each".to_owned()
    } else {
        format!("{} HTTP/2 connections", a.watch_conns)
    };
    if a.selective {
        transport.push_str(", each selecting its own slot label");
    }
    let write_rate = r.writes_ok as f64 / r.write_secs.max(1e-9);
    let delivery_rate = r.deliveries() as f64 / r.delivery_secs.max(1e-9);
    let l = &r.latency;
    println!("## watch");
    println!(
        "{} watchers ({transport}); writer: {} {:?} writes ok, {} errors in {:.1} s ({}/s), write latency p50 {} p99 {}",
        r.watchers,
        r.writes_ok,
        a.writes,
        r.write_errors,
        r.write_secs,
        thousands(write_rate),
        ms(r.write_latency.quantile_us(0.5)),
        ms(r.write_latency.quantile_us(0.99)),
    );
    let server_dropped = r
        .server_dropped
        .map(|d| d.to_string())
        .unwrap_or_else(|| "?".into());
    println!(
        "deliveries {} of {} expected ({}/s); 410 seen by watchers {}, dropped by the server {server_dropped}, failed {}, incomplete {}",
        r.deliveries(),
        r.expected,
        thousands(delivery_rate),
        r.dropped,
        r.failed,
        r.incomplete
    );
    println!(
        "delivery latency p50 {} p90 {} p99 {} max {} (mean {})",
        ms(l.quantile_us(0.5)),
        ms(l.quantile_us(0.9)),
        ms(l.quantile_us(0.99)),
        ms(l.max_us()),
        ms(l.mean_us())
    );
    for line in r.cpu.lines() {
        println!("{line}");
    }
    if let Some(c) = &r.cpu.server
        && r.deliveries() > 0
    {
        println!(
            "server CPU per delivery: {:.1} µs",
            c.seconds * 1e6 / r.deliveries() as f64
        );
    }
    println!(
        "server {rss}; RSS peak sampled during writes {}",
        mib(r.server_rss_peak_kib)
    );
    if let Some(e) = &r.first_write_error {
        println!("first write error: {e}");
    }
    if let Some(e) = &r.first_watch_error {
        println!("first watch error: {e}");
    }
    let dropped = r.dropped.max(r.server_dropped.unwrap_or(0));
    let met = if l.quantile_us(0.99) < 100_000
        && dropped == 0
        && r.failed == 0
        && r.deliveries() >= r.expected
    {
        "met"
    } else {
        "MISSED"
    };
    let server_cpu = r.cpu.server_pct();
    Ok(format!(
        "| Watch delivery, {} watchers ({transport}), {}/s {:?} writes for {} s | p99 < 100 ms | **p99 {}** ({met}); p50 {}, p90 {}, max {}; {} of {} deliveries ({}/s); {} watchers dropped (410), {} failed; server CPU {server_cpu}, {rss} | `{command}` |",
        r.watchers,
        thousands(write_rate),
        a.writes,
        a.duration,
        ms(l.quantile_us(0.99)),
        ms(l.quantile_us(0.5)),
        ms(l.quantile_us(0.9)),
        ms(l.max_us()),
        r.deliveries(),
        r.expected,
        thousands(delivery_rate),
        dropped,
        r.failed,
    ))
}

async fn list_scenario(
    target: &Target,
    a: &ListArgs,
    tag: &str,
    pid: Option<u32>,
    server: &Server,
    command: &str,
) -> anyhow::Result<String> {
    let mut conns = Vec::new();
    for _ in 0..a.conns.max(1) {
        conns.push(target.h2().await?);
    }
    let opts = list::ListOpts {
        pods: a.pods,
        page_size: a.page_size,
        concurrency: a.concurrency,
    };
    let r = list::run(&conns, &opts, tag, pid, || server.store_bytes()).await?;
    let p = &r.paged;
    println!("## list");
    println!(
        "stored {} pods in {:.1} s ({}/s, {} errors); store.db {:.0} MiB, WAL {:.0} MiB",
        r.fill.total_ok,
        r.fill_secs,
        thousands(r.fill.total_ok as f64 / r.fill_secs.max(1e-9)),
        r.fill.errors,
        r.store_bytes.0 as f64 / 1048576.0,
        r.store_bytes.1 as f64 / 1048576.0
    );
    println!(
        "paged LIST limit={}: {} items in {} pages, {:.2} s ({:.1} MiB; time to first byte summed {:.2} s (first page {:.1} ms, last page {:.1} ms), until last byte summed {:.2} s, client parsing {:.2} s)",
        a.page_size,
        p.items,
        p.pages,
        p.secs,
        p.bytes as f64 / 1048576.0,
        p.ttfb_secs,
        p.ttfb_first * 1e3,
        p.ttfb_last * 1e3,
        p.transfer_secs,
        p.parse_secs
    );
    for line in r.paged_cpu.lines() {
        println!("during the paged list: {line}");
    }
    println!(
        "unpaged LIST: {} items, {:.1} MiB, {:.2} s (first byte {:.2} s, client parsing {:.2} s)",
        r.unpaged.items,
        r.unpaged.bytes as f64 / 1048576.0,
        r.unpaged.secs,
        r.unpaged.ttfb_secs,
        r.unpaged.parse_secs
    );
    println!(
        "label-selected LIST {}: {:.3} s",
        r.selector, r.selected.secs
    );
    println!(
        "server RSS with {} pods stored: {} after loading, {} after the lists, peak {}",
        r.stored_pods,
        mib(r.rss_after_fill_kib),
        mib(r.rss_after_lists_kib),
        mib(r.hwm_kib)
    );
    let time_met = p.secs < 3.0 && p.items == a.pods;
    let rss_met =
        r.rss_after_fill_kib > 0 && r.rss_after_lists_kib.max(r.rss_after_fill_kib) < 1024 * 1024;
    Ok(format!(
        "| Paged LIST of {} pods (limit={}) | < 3 s | **{:.2} s** ({}); {} pages; unpaged {:.2} s; `{}` {:.3} s | `{command}` |\n\
         | Server RSS with {} pods stored | < 1 GiB | **{}** ({}); {} after the lists, peak {} | `{command}` |",
        p.items,
        a.page_size,
        p.secs,
        if time_met { "met" } else { "MISSED" },
        p.pages,
        r.unpaged.secs,
        r.selector,
        r.selected.secs,
        r.stored_pods,
        mib(r.rss_after_fill_kib),
        if rss_met { "met" } else { "MISSED" },
        mib(r.rss_after_lists_kib),
        mib(r.hwm_kib),
    ))
}

/// The machine, the date and a Markdown table of result rows, ready for
/// docs/benchmarks.md.
fn print_results(rows: &[String]) {
    println!();
    println!("Machine: {}", procstat::machine());
    println!(
        "Date: {}",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC")
    );
    println!();
    println!("| Scenario | Target | Measured | Reproduce |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
