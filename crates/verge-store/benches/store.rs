//! Concurrent create throughput with ~2 KiB values and durable (fsynced)
//! commits, on a real file.
//!
//! `cargo bench -p verge-store` runs the full measurement; without `--bench`
//! (e.g. `cargo test --benches`) it runs a quick smoke pass.
//! `VERGE_BENCH_DIR` chooses where the database goes (default: a temp dir).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use verge_store::{SqliteOptions, SqliteStore, Store};

fn main() {
    // RUST_LOG=verge_store=debug shows every batch and checkpoint.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "verge_store=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let full = std::env::args().any(|a| a == "--bench");
    let runs: &[(usize, usize)] = if full {
        // (concurrent writers, creates in total)
        &[
            (1, 2_000),
            (16, 20_000),
            (64, 40_000),
            (256, 60_000),
            (1024, 60_000),
        ]
    } else {
        &[(16, 500)]
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{:>8} {:>8} {:>10} {:>9} {:>9} {:>9} {:>10}",
        "writers", "creates", "creates/s", "p50 ms", "p99 ms", "max ms", "avg batch"
    );
    for &(writers, total) in runs {
        let base = std::env::var_os("VERGE_BENCH_DIR").map(std::path::PathBuf::from);
        let dir = match &base {
            Some(b) => tempfile::tempdir_in(b).unwrap(),
            None => tempfile::tempdir().unwrap(),
        };
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("bench.db"), SqliteOptions::default()).unwrap(),
        );
        let (elapsed, mut latencies) = rt.block_on(run(store.clone(), writers, total));
        let stats = store.stats();
        latencies.sort_unstable();
        let pct = |p: f64| {
            let i = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
            latencies[i].as_secs_f64() * 1e3
        };
        println!(
            "{:>8} {:>8} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>10.1}",
            writers,
            total,
            total as f64 / elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            pct(1.0),
            stats.writes_total as f64 / stats.batches_total.max(1) as f64,
        );
        drop(store);
    }
}

async fn run(store: Arc<SqliteStore>, writers: usize, total: usize) -> (Duration, Vec<Duration>) {
    let per = total / writers;
    let value = Bytes::from(vec![b'x'; 2048]);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let key = format!("/registry/configmaps/bench/w{w}-{i:07}");
                let t = Instant::now();
                store.create(&key, value.clone()).await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    (started.elapsed(), latencies)
}
