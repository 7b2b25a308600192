//! The benchmark's pod: small but realistic (two containers, probes,
//! resources, env, a volume), about 1.7 KiB of JSON.

use std::time::{SystemTime, UNIX_EPOCH};

pub const NAMESPACE: &str = "bench";
pub const PODS_PATH: &str = "/api/v1/namespaces/bench/pods";
/// The annotation carrying the client's send time, ns since the UNIX epoch.
pub const SENT_ANNOTATION: &str = "bench/sent-ns";
/// Pods are spread over this many `shard` label values.
pub const SHARDS: u64 = 10;
/// ... and over this many `slot` label values (one per watcher in the
/// selective watch scenario).
pub const SLOTS: u64 = 1000;

/// Nanoseconds since the UNIX epoch (the clock watchers compare against).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The JSON of pod number `i` of a run tagged `run`, stamped with `sent_ns`.
pub fn pod_json(run: &str, i: u64, sent_ns: u64) -> String {
    let shard = i % SHARDS;
    let slot = i % SLOTS;
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"bench-{run}-{i}","namespace":"bench","annotations":{{"{SENT_ANNOTATION}":"{sent_ns}","kubernetes.io/description":"verge API benchmark pod"}},"labels":{{"app":"bench","tier":"backend","shard":"s{shard}","slot":"{slot}","run":"{run}","pod-template-hash":"7f9c6d8b5"}}}},"spec":{{"containers":[{{"name":"app","image":"registry.example.invalid/bench/app:1.27.3","imagePullPolicy":"IfNotPresent","args":["--port=8080","--log-level=info","--cache-size=256Mi"],"ports":[{{"name":"http","containerPort":8080,"protocol":"TCP"}},{{"name":"metrics","containerPort":9090,"protocol":"TCP"}}],"env":[{{"name":"POD_NAME","valueFrom":{{"fieldRef":{{"fieldPath":"metadata.name"}}}}}},{{"name":"POD_IP","valueFrom":{{"fieldRef":{{"fieldPath":"status.podIP"}}}}}},{{"name":"LOG_FORMAT","value":"json"}}],"resources":{{"requests":{{"cpu":"100m","memory":"128Mi"}},"limits":{{"cpu":"500m","memory":"256Mi"}}}},"readinessProbe":{{"httpGet":{{"path":"/readyz","port":8080}},"periodSeconds":10}},"livenessProbe":{{"httpGet":{{"path":"/healthz","port":8080}},"initialDelaySeconds":5,"periodSeconds":20}},"volumeMounts":[{{"name":"config","mountPath":"/etc/app","readOnly":true}}]}},{{"name":"proxy","image":"registry.example.invalid/bench/proxy:2.4.1","args":["--upstream=127.0.0.1:8080"],"ports":[{{"name":"proxy","containerPort":15001,"protocol":"TCP"}}],"resources":{{"requests":{{"cpu":"20m","memory":"32Mi"}},"limits":{{"memory":"64Mi"}}}}}}],"volumes":[{{"name":"config","configMap":{{"name":"bench-config"}}}}],"nodeSelector":{{"kubernetes.io/os":"linux"}},"tolerations":[{{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}}],"terminationGracePeriodSeconds":30}}}}"#
    )
}

/// A merge patch that only restamps the send time.
pub fn stamp_patch(sent_ns: u64) -> String {
    format!(r#"{{"metadata":{{"annotations":{{"{SENT_ANNOTATION}":"{sent_ns}"}}}}}}"#)
}

/// The send time in an event line, found by a byte search (a full JSON parse
/// of every delivery would cost the client more CPU than the server spends).
pub fn sent_ns_in(line: &[u8], finder: &memchr::memmem::Finder<'_>) -> Option<u64> {
    let at = finder.find(line)? + finder.needle().len();
    let digits = &line[at..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// `"bench/sent-ns":"` as a byte needle.
pub fn sent_needle() -> String {
    format!("\"{SENT_ANNOTATION}\":\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_is_valid_json_of_realistic_size() {
        let s = pod_json("r1", 12345, 1_700_000_000_000_000_000);
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v["metadata"]["name"], "bench-r1-12345");
        assert!((1500..=2048).contains(&s.len()), "{} bytes", s.len());
        let needle = sent_needle();
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        assert_eq!(
            sent_ns_in(s.as_bytes(), &finder),
            Some(1_700_000_000_000_000_000)
        );
        let p: serde_json::Value = serde_json::from_str(&stamp_patch(5)).expect("valid JSON");
        assert_eq!(p["metadata"]["annotations"][SENT_ANNOTATION], "5");
    }
}
