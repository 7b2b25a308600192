//! `verge agent` joining a real `verge server`: the real binary as a child
//! process with its own data directory, checked with kubectl.
//!
//! Join token, CA pin, bootstrap CSR, node certificate, Node with the edge
//! label, Lease renewals; a restart without a token keeps the identity; a
//! wrong pin, an expired token, a malformed token and an unreachable server
//! each give the message that says what to do.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::agent::{Agent, JOIN_WAIT, token_create};
use common::{Cluster, eventually, path_str};
use serde_json::Value;

/// The cluster CA's pin, from the admin kubeconfig.
fn ca_pin(c: &Cluster) -> String {
    let yaml = std::fs::read_to_string(&c.kubeconfig).expect("admin kubeconfig");
    let kubeconfig = verge_pki::Kubeconfig::from_yaml(&yaml).expect("parse kubeconfig");
    let der = verge_pki::CertifiedKey {
        cert_pem: kubeconfig.ca_pem,
        key_pem: String::new(),
    }
    .cert_der()
    .expect("CA DER");
    verge_pki::join_token::ca_pin(&der).expect("pin")
}

/// Stores a bootstrap token as Kubernetes does (Secret
/// kube-system/bootstrap-token-<id>) and returns the join token for it.
fn bootstrap_token_secret(c: &Cluster, expiration: &str) -> String {
    let token = verge_pki::join_token::JoinToken::generate(ca_pin(c)).expect("token");
    c.kubectl(&[
        "-n",
        "kube-system",
        "create",
        "secret",
        "generic",
        &format!("bootstrap-token-{}", token.id),
        "--type",
        "bootstrap.kubernetes.io/token",
        &format!("--from-literal=token-id={}", token.id),
        &format!("--from-literal=token-secret={}", token.secret),
        &format!("--from-literal=expiration={expiration}"),
        "--from-literal=usage-bootstrap-authentication=true",
        "--from-literal=auth-extra-groups=system:bootstrappers:verge:default-node-token",
    ]);
    token.to_string()
}

fn node_json(c: &Cluster, name: &str) -> Value {
    serde_json::from_str(&c.kubectl(&["get", "node", name, "-o", "json"])).expect("node json")
}

fn lease_renew_time(c: &Cluster, name: &str) -> Option<String> {
    let out = c.kubectl_output(&[
        "-n",
        "kube-node-lease",
        "get",
        "lease",
        name,
        "-o",
        "jsonpath={.spec.holderIdentity} {.spec.renewTime}",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (holder, renew) = text.split_once(' ')?;
    (out.status.success() && holder == name && !renew.is_empty()).then(|| renew.to_string())
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn an_agent_joins_registers_an_edge_node_renews_its_lease_and_restarts_without_a_token() {
    let c = Cluster::start();
    let token = token_create(&c);
    let data_dir: PathBuf = c.dir.path().join("agent");

    let mut agent = Agent::start(
        &data_dir,
        &[
            "--server",
            &c.url,
            "--token",
            &token,
            "--node-name",
            "edge-1",
        ],
    );
    let line = agent.wait_ready();
    assert!(line.contains("node edge-1"), "{line}");

    // The Node, labelled as an edge node and as kubelet labels nodes.
    let node = node_json(&c, "edge-1");
    let labels = &node["metadata"]["labels"];
    assert_eq!(labels["node-role.kubernetes.io/edge"], "", "{labels}");
    assert_eq!(labels["kubernetes.io/hostname"], "edge-1", "{labels}");
    assert_eq!(labels["kubernetes.io/os"], "linux", "{labels}");
    assert!(labels["kubernetes.io/arch"].is_string(), "{labels}");
    let uid = node["metadata"]["uid"].as_str().expect("uid").to_string();
    let selected = c.kubectl(&[
        "get",
        "nodes",
        "-l",
        "node-role.kubernetes.io/edge",
        "-o",
        "name",
    ]);
    assert_eq!(selected.trim(), "node/edge-1");

    // A fresh Lease, owned by the Node, renewed again within its 10 s
    // period.
    let first = eventually("the node Lease", JOIN_WAIT, || {
        lease_renew_time(&c, "edge-1")
    });
    let owner = c.kubectl(&[
        "get",
        "lease",
        "-n",
        "kube-node-lease",
        "edge-1",
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].uid}",
    ]);
    assert_eq!(owner.trim(), format!("Node/{uid}"));
    eventually("a Lease renewal", Duration::from_secs(25), || {
        lease_renew_time(&c, "edge-1").filter(|t| *t != first)
    });

    // The identity on disk: the pinned CA is the cluster's, the key private.
    let pki = data_dir.join("pki");
    assert_eq!(
        std::fs::read_to_string(pki.join("ca.crt")).expect("ca.crt"),
        std::fs::read_to_string(c.data_dir.join("pki").join("ca.crt")).expect("server ca.crt")
    );
    assert_eq!(mode(&pki.join("node.key")), 0o600);
    assert_eq!(mode(&data_dir.join("agent.kubeconfig")), 0o600);
    assert!(!pki.join("node.key.pending").exists());
    let cert = std::fs::read_to_string(pki.join("node.crt")).expect("node.crt");
    // The agent's kubeconfig authenticates as the node.
    let agent_kubeconfig = data_dir.join("agent.kubeconfig");
    let out = Command::new("kubectl")
        .args(["--kubeconfig", path_str(&agent_kubeconfig)])
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .env("HOME", &c.home)
        .output()
        .expect("kubectl auth whoami");
    if out.status.success() {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "system:node:edge-1"
        );
    }
    let out = Command::new("kubectl")
        .args(["--kubeconfig", path_str(&agent_kubeconfig)])
        .args(["get", "node", "edge-1", "-o", "jsonpath={.metadata.uid}"])
        .env("HOME", &c.home)
        .output()
        .expect("kubectl get node as the node");
    assert!(
        out.status.success(),
        "the node cannot read its own Node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), uid);

    // SIGTERM stops it cleanly.
    let status = agent.terminate();
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        agent.stderr()
    );

    // Restarted with neither --token nor --server, it comes back as the
    // same node with the same certificate.
    let mut again = Agent::start(&data_dir, &["--node-name", "edge-1"]);
    again.wait_ready();
    assert_eq!(
        std::fs::read_to_string(pki.join("node.crt")).expect("node.crt"),
        cert
    );
    assert_eq!(node_json(&c, "edge-1")["metadata"]["uid"], uid.as_str());
    assert!(
        again.stderr().contains("using the stored node identity"),
        "{}",
        again.stderr()
    );
    assert!(again.terminate().success());

    // A token given anyway is ignored.
    let mut with_token = Agent::start(&data_dir, &["--node-name", "edge-1", "--token", &token]);
    with_token.wait_ready();
    assert!(
        with_token.stderr().contains("is not needed and is ignored"),
        "{}",
        with_token.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(pki.join("node.crt")).expect("node.crt"),
        cert
    );

    // The Node's Lease goes with the Node.
    assert!(with_token.terminate().success());
    c.kubectl(&["delete", "node", "edge-1"]);
    eventually("the Lease collected with its Node", JOIN_WAIT, || {
        lease_renew_time(&c, "edge-1").is_none().then_some(())
    });
}

#[test]
fn a_token_pinning_another_ca_is_refused_before_anything_is_sent() {
    let c = Cluster::start();
    let token = token_create(&c);
    let mut wrong = verge_pki::join_token::parse(&token).expect("token");
    wrong.ca_pin = "0".repeat(64);
    let data_dir = c.dir.path().join("agent");
    let mut agent = Agent::start(
        &data_dir,
        &[
            "--server",
            &c.url,
            "--token",
            &wrong.to_string(),
            "--node-name",
            "edge-2",
        ],
    );
    let (status, log) = agent.wait_exit();
    assert!(!status.success());
    assert!(
        log.contains(
            "the server's CA does not match the token's pin: wrong server, or a man in the middle"
        ),
        "{log}"
    );
    // No key generated, no CSR sent, no CA pinned.
    assert!(!data_dir.join("pki").join("ca.crt").exists());
    assert!(!data_dir.join("pki").join("node.key.pending").exists());
    let csrs = c.kubectl(&["get", "csr", "-o", "name"]);
    assert!(csrs.trim().is_empty(), "{csrs}");
}

#[test]
fn an_expired_token_is_refused_saying_so_and_how_to_get_a_new_one() {
    let c = Cluster::start();
    // An hour ago: within the server's grace before it deletes expired
    // tokens, so it still knows this one expired rather than never existed.
    let expired =
        k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(1);
    let token = bootstrap_token_secret(&c, &expired.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    let data_dir = c.dir.path().join("agent");
    let mut agent = Agent::start(
        &data_dir,
        &[
            "--server",
            &c.url,
            "--token",
            &token,
            "--node-name",
            "edge-3",
        ],
    );
    let (status, log) = agent.wait_exit();
    assert!(!status.success());
    assert!(log.contains("expired"), "{log}");
    assert!(log.contains("verge token create"), "{log}");
    assert!(!data_dir.join("pki").join("node.crt").exists());
    assert!(
        c.kubectl_output(&["get", "node", "edge-3"])
            .stderr
            .starts_with(b"Error from server (NotFound)")
    );
}

#[test]
fn a_malformed_token_or_missing_token_says_what_is_expected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("agent");
    let mut agent = Agent::start(
        &data_dir,
        &[
            "--server",
            "https://127.0.0.1:1",
            "--token",
            "abcdef.0123456789abcdef",
            "--node-name",
            "edge-4",
        ],
    );
    let (status, log) = agent.wait_exit();
    assert!(!status.success());
    assert!(log.contains("V1.<id>.<secret>.<ca-sha256>"), "{log}");
    assert!(
        !data_dir.exists(),
        "nothing is written for a malformed token"
    );

    let mut agent = Agent::start(
        &data_dir,
        &["--server", "https://127.0.0.1:1", "--node-name", "edge-4"],
    );
    let (status, log) = agent.wait_exit();
    assert!(!status.success());
    assert!(log.contains("no --token was given"), "{log}");
    assert!(log.contains("verge token create"), "{log}");
}

#[test]
fn an_unreachable_server_is_retried_with_a_progress_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let dir = tempfile::tempdir().expect("tempdir");
    let token = format!("V1.abcdef.0123456789abcdef.{}", "0".repeat(64));
    let agent = Agent::start(
        &dir.path().join("agent"),
        &[
            "--server",
            &format!("https://127.0.0.1:{port}"),
            "--token",
            &token,
            "--node-name",
            "edge-5",
        ],
    );
    let log = eventually("two attempts to reach the server", JOIN_WAIT, || {
        let log = agent.stderr();
        (log.matches("the server is unreachable").count() >= 2).then_some(log)
    });
    assert!(log.contains("check --server"), "{log}");
    assert!(log.contains("attempt=2"), "{log}");
}

/// The identity in `data_dir`, as the agent reads it.
fn stored_identity(data_dir: &Path) -> verge_agent::identity::NodeIdentity {
    let pki = data_dir.join("pki");
    let read = |name: &str| std::fs::read_to_string(pki.join(name)).expect(name);
    verge_agent::identity::NodeIdentity::from_pem(
        &read("ca.crt"),
        &read("node.crt"),
        &read("node.key"),
    )
    .expect("a consistent identity")
}

#[test]
fn a_short_lived_certificate_is_renewed_online_and_an_expired_one_needs_a_new_token() {
    // Certificates valid for 10 s: the agent renews them while it runs.
    let c = Cluster::start_with(&["--cluster-signing-duration", "10s"]);
    let token = token_create(&c);
    let data_dir = c.dir.path().join("agent");
    let mut agent = Agent::start(
        &data_dir,
        &[
            "--server",
            &c.url,
            "--token",
            &token,
            "--node-name",
            "edge-6",
        ],
    );
    agent.wait_ready();
    let uid = node_json(&c, "edge-6")["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    let first = stored_identity(&data_dir);

    // A Lease written after the first certificate expired proves the agent
    // switched to a renewed one without restarting.
    eventually(
        "a Lease renewal after the first certificate expired",
        Duration::from_secs(40),
        || {
            let renewed = lease_renew_time(&c, "edge-6")?
                .parse::<k8s_openapi::jiff::Timestamp>()
                .ok()?;
            (renewed > first.not_after).then_some(())
        },
    );
    assert!(agent.is_running(), "{}", agent.stderr());
    assert_ne!(stored_identity(&data_dir).cert_pem, first.cert_pem);
    assert!(
        agent.stderr().contains("renewed the node certificate"),
        "{}",
        agent.stderr()
    );
    assert!(agent.terminate().success());

    // Offline past its expiry, the node must join again and says so.
    let last = stored_identity(&data_dir);
    eventually(
        "the stored certificate to expire",
        Duration::from_secs(20),
        || (k8s_openapi::jiff::Timestamp::now() > last.not_after).then_some(()),
    );
    let mut expired = Agent::start(&data_dir, &["--node-name", "edge-6"]);
    let (status, log) = expired.wait_exit();
    assert!(!status.success());
    assert!(log.contains("expired"), "{log}");
    assert!(log.contains("must join again"), "{log}");
    assert!(log.contains("verge token create"), "{log}");

    // With a new token it joins again as the same Node.
    let token = token_create(&c);
    let mut rejoined = Agent::start(&data_dir, &["--node-name", "edge-6", "--token", &token]);
    rejoined.wait_ready();
    assert!(
        rejoined.stderr().contains("joining again with --token"),
        "{}",
        rejoined.stderr()
    );
    assert_eq!(node_json(&c, "edge-6")["metadata"]["uid"], uid.as_str());
}

/// The CSR name in the agent's "waiting for approval" progress line.
fn waiting_for_csr(agent: &Agent) -> String {
    let needle = "an admin can run kubectl certificate approve ";
    let deadline = Instant::now() + JOIN_WAIT;
    loop {
        let log = agent.stderr();
        if let Some(at) = log.find(needle) {
            let name: String = log[at + needle.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !name.is_empty() {
                return name;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not wait for approval within {JOIN_WAIT:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_csr_waiting_for_an_admin_survives_a_restart_and_a_denied_one_is_reported() {
    // No approver: CSRs wait for `kubectl certificate approve`.
    let c = Cluster::start_with(&["--controllers", "csrsigning,clusterinfo"]);
    let token = token_create(&c);
    let data_dir = c.dir.path().join("agent");
    let args = [
        "--server",
        &c.url,
        "--token",
        &token,
        "--node-name",
        "edge-7",
    ];
    let mut agent = Agent::start(&data_dir, &args);
    let name = waiting_for_csr(&agent);
    assert!(name.starts_with("node-csr-"), "{name}");
    let condition = c.kubectl(&["get", "csr", &name, "-o", "jsonpath={.status.conditions}"]);
    assert!(condition.trim().is_empty(), "{condition}");
    assert!(agent.terminate().success(), "{}", agent.stderr());

    // Restarted while its request waits, it finds the same request again.
    let mut again = Agent::start(&data_dir, &args);
    assert_eq!(waiting_for_csr(&again), name);
    assert!(
        again
            .stderr()
            .contains("found the certificate signing request sent before a restart"),
        "{}",
        again.stderr()
    );
    assert_eq!(c.kubectl(&["get", "csr", "-o", "name"]).lines().count(), 1);
    assert!(again.terminate().success(), "{}", again.stderr());

    // With another token it cannot read that request (it belongs to the
    // first token's user), so it sends a new one with a new key.
    let other_token = token_create(&c);
    let mut retoken = Agent::start(
        &data_dir,
        &[
            "--server",
            &c.url,
            "--token",
            &other_token,
            "--node-name",
            "edge-7",
        ],
    );
    let renamed = waiting_for_csr(&retoken);
    assert_ne!(renamed, name);
    assert!(
        retoken.stderr().contains("sent with other credentials"),
        "{}",
        retoken.stderr()
    );
    assert_eq!(c.kubectl(&["get", "csr", "-o", "name"]).lines().count(), 2);
    c.kubectl(&["certificate", "approve", &renamed]);
    retoken.wait_ready();
    assert_eq!(
        node_json(&c, "edge-7")["metadata"]["labels"]["node-role.kubernetes.io/edge"],
        ""
    );

    // A denied request stops the agent with the request's name.
    let other_dir = c.dir.path().join("agent-8");
    let mut denied = Agent::start(
        &other_dir,
        &[
            "--server",
            &c.url,
            "--token",
            &token,
            "--node-name",
            "edge-8",
        ],
    );
    let name = waiting_for_csr(&denied);
    c.kubectl(&["certificate", "deny", &name]);
    let (status, log) = denied.wait_exit();
    assert!(!status.success());
    assert!(log.contains(&format!("{name} was denied")), "{log}");
    assert!(log.contains("kubectl describe csr"), "{log}");
    // The next attempt uses a new key, not the denied request.
    assert!(!other_dir.join("pki").join("node.key.pending").exists());
}
