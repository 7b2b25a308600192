//! CPU per pod create, step by step, without the store or HTTP: decoding the
//! request, admission (defaults, validation), recording the `managedFields`
//! Update entry, the stored bytes, the watch cache's entry and the response.
//! The pod is `bench/api.sh creates`'s (about 1.7 KiB of request JSON, 2.5
//! KiB stored before managedFields).
//!
//! `cargo bench -p verge-apiserver --bench create` runs the full measurement;
//! without `--bench` (`cargo test --benches`) it runs a quick smoke pass.
//! `VERGE_BENCH_ITERS` overrides the number of creates measured,
//! `VERGE_BENCH_NO_MANAGED_FIELDS=1` skips the managedFields entry,
//! `VERGE_BENCH_NO_UPDATES=1` the update measured after the creates, and
//! `VERGE_BENCH_DUMP=1` prints the stored object. Instruction counts per
//! step are reproducible with `valgrind --tool=callgrind`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use verge_apimachinery::apply::Write;
use verge_apiserver::cache::CachedObject;
use verge_apiserver::object;
use verge_apiserver::registry::Registry;
use verge_apiserver::request::FieldValidation;
use verge_apiserver::validation;
use verge_store::KeyValue;

/// `verge-bench`'s pod number 1 of run `r` (see crates/verge-bench/src/pod.rs).
const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bench-r-1","namespace":"bench","annotations":{"bench/sent-ns":"1700000000000000000","kubernetes.io/description":"verge API benchmark pod"},"labels":{"app":"bench","tier":"backend","shard":"s1","slot":"1","run":"r","pod-template-hash":"7f9c6d8b5"}},"spec":{"containers":[{"name":"app","image":"registry.example.invalid/bench/app:1.27.3","imagePullPolicy":"IfNotPresent","args":["--port=8080","--log-level=info","--cache-size=256Mi"],"ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},{"name":"metrics","containerPort":9090,"protocol":"TCP"}],"env":[{"name":"POD_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},{"name":"POD_IP","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}},{"name":"LOG_FORMAT","value":"json"}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"500m","memory":"256Mi"}},"readinessProbe":{"httpGet":{"path":"/readyz","port":8080},"periodSeconds":10},"livenessProbe":{"httpGet":{"path":"/healthz","port":8080},"initialDelaySeconds":5,"periodSeconds":20},"volumeMounts":[{"name":"config","mountPath":"/etc/app","readOnly":true}]},{"name":"proxy","image":"registry.example.invalid/bench/proxy:2.4.1","args":["--upstream=127.0.0.1:8080"],"ports":[{"name":"proxy","containerPort":15001,"protocol":"TCP"}],"resources":{"requests":{"cpu":"20m","memory":"32Mi"},"limits":{"memory":"64Mi"}}}],"volumes":[{"name":"config","configMap":{"name":"bench-config"}}],"nodeSelector":{"kubernetes.io/os":"linux"},"tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"terminationGracePeriodSeconds":30}}"#;

const STEPS: [&str; 6] = [
    "decode request",
    "admit",
    "managedFields",
    "stored bytes",
    "cache entry",
    "response",
];

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let iters: usize = std::env::var("VERGE_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 20_000 } else { 50 });
    // VERGE_BENCH_NO_MANAGED_FIELDS=1: creates as they were before they
    // recorded an Update entry (for comparison).
    let managed_fields = std::env::var_os("VERGE_BENCH_NO_MANAGED_FIELDS").is_none();
    // VERGE_BENCH_NO_UPDATES=1: creates only (for instruction counts).
    let updates = std::env::var_os("VERGE_BENCH_NO_UPDATES").is_none();
    let registry = Registry::with_builtins();
    let rt = registry.lookup("", "v1", "pods").unwrap();
    let api_version = rt.api_version();
    let body = Bytes::from_static(POD.as_bytes());

    let mut total = [Duration::ZERO; STEPS.len()];
    let mut update_total = Duration::ZERO;
    let mut stored_len = 0;
    let mut response_len = 0;
    // One untimed round first: lazily built tables, allocator warm-up.
    for i in 0..iters + 1 {
        let mut t = [Duration::ZERO; STEPS.len()];
        let mut lap = Instant::now();
        let mut mark = |t: &mut [Duration; STEPS.len()], step: usize| {
            let now = Instant::now();
            t[step] += now - lap;
            lap = now;
        };

        let mut obj: Value = serde_json::from_slice(black_box(&body)).unwrap();
        let meta = object::meta_mut(&mut obj);
        meta.insert(
            "uid".into(),
            Value::String("6f1c3a52-1b0e-4e55-9a34-0d7c2f1e8b90".into()),
        );
        meta.insert(
            "creationTimestamp".into(),
            Value::String("2026-11-22T04:00:00Z".into()),
        );
        mark(&mut t, 0);

        validation::admit(&rt, &mut obj, None, FieldValidation::Strict).unwrap();
        mark(&mut t, 1);

        if managed_fields {
            Write {
                manager: "verge-apibench",
                api_version: &api_version,
                kind: &rt.kind,
                subresource: None,
                now: "2026-11-22T04:00:00Z",
            }
            .record_update(None, &mut obj);
        }
        mark(&mut t, 2);

        let stored = object::to_stored_bytes(&obj);
        mark(&mut t, 3);

        let kv = KeyValue {
            key: "/registry/pods/bench/bench-r-1".into(),
            value: stored,
            create_revision: 42,
            mod_revision: 42,
        };
        let cached = CachedObject::from_kv(&kv);
        mark(&mut t, 4);

        object::set_resource_version(&mut obj, 42);
        let response = serde_json::to_vec(&obj).unwrap();
        mark(&mut t, 5);

        if i == 0 && std::env::var_os("VERGE_BENCH_DUMP").is_some() {
            println!("{}", String::from_utf8_lossy(&kv.value));
        }
        stored_len = kv.value.len();
        response_len = response.len();
        black_box((cached, response));

        // Not part of a create: recording a later update that changes one
        // annotation (a merge patch) by another manager.
        let update = if updates {
            let mut patched = obj.clone();
            patched["metadata"]["annotations"]["bench/sent-ns"] =
                Value::from("1700000000000000001");
            let started = Instant::now();
            Write {
                manager: "verge-apibench-patch",
                api_version: &api_version,
                kind: &rt.kind,
                subresource: None,
                now: "2026-11-22T04:00:01Z",
            }
            .record_update(Some(&obj), &mut patched);
            let elapsed = started.elapsed();
            black_box(patched);
            elapsed
        } else {
            Duration::ZERO
        };

        if i > 0 {
            for (sum, d) in total.iter_mut().zip(t) {
                *sum += d;
            }
            update_total += update;
        }
    }

    let per = |d: Duration| d.as_secs_f64() * 1e6 / iters as f64;
    println!("{iters} pod creates; stored {stored_len} bytes, response {response_len} bytes");
    for (name, d) in STEPS.iter().zip(total) {
        println!("{name:>16} {:>9.1} µs", per(d));
    }
    println!("{:>16} {:>9.1} µs", "total", per(total.iter().sum()));
    println!(
        "and recording a one-annotation update: {:.1} µs",
        per(update_total)
    );
}
