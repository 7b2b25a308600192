//! Joining a node, server side: `verge token create`, bootstrap-token
//! authentication, CertificateSigningRequests approved and signed by the
//! controllers, what a node certificate may do, and cluster-info.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::Cluster;
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{ListParams, PostParams};
use verge_pki::join_token::{self, JoinToken};

const KUBELET_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
const WAIT: Duration = Duration::from_secs(15);

/// Runs `verge token create` against the cluster; returns the token (the
/// last line of stdout) and stderr.
fn token_create(c: &Cluster, extra: &[&str]) -> (JoinToken, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verge"))
        .args(["token", "create", "--kubeconfig"])
        .arg(&c.kubeconfig)
        .args(extra)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run verge token create");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "verge token create failed: {stderr}");
    let last = stdout.lines().last().expect("a line of output");
    let token = join_token::parse(last).unwrap_or_else(|e| panic!("{last:?}: {e}"));
    (token, stderr)
}

fn ca_pem(c: &Cluster) -> String {
    std::fs::read_to_string(c.data_dir.join("pki/ca.crt")).expect("ca.crt")
}

/// A kubeconfig for the cluster with the given `user:` entry (YAML lines
/// indented by four spaces), or no credentials at all.
fn kubeconfig(c: &Cluster, file: &str, user: &str) -> PathBuf {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: verge\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n{}\ncontexts:\n- name: x\n  context:\n    cluster: verge\n    user: u\ncurrent-context: x\n",
        c.url,
        STANDARD.encode(ca_pem(c)),
        if user.is_empty() { "    {}" } else { user },
    );
    c.write_file(file, &text)
}

fn bearer_kubeconfig(c: &Cluster, file: &str, token: &str) -> PathBuf {
    kubeconfig(c, file, &format!("    token: {token}"))
}

fn cert_kubeconfig(c: &Cluster, file: &str, cert_pem: &str, key_pem: &str) -> PathBuf {
    kubeconfig(
        c,
        file,
        &format!(
            "    client-certificate-data: {}\n    client-key-data: {}",
            STANDARD.encode(cert_pem),
            STANDARD.encode(key_pem)
        ),
    )
}

async fn client_from(path: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(path).expect("read kubeconfig");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kube config");
    kube::Client::try_from(config).expect("kube client")
}

/// A fresh key and a PEM request for `cn` with organizations `orgs`.
fn csr_pem(cn: &str, orgs: &[&str]) -> (String, String) {
    let key = verge_pki::new_key_pem().expect("key");
    let pem = verge_pki::client_csr_pem(&key, cn, orgs).expect("csr");
    (pem, key)
}

fn csr_object(name: &str, pem: &str, signer: &str, usages: &[&str]) -> CertificateSigningRequest {
    CertificateSigningRequest {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(pem.as_bytes().to_vec()),
            signer_name: signer.into(),
            usages: Some(usages.iter().map(|u| u.to_string()).collect()),
            expiration_seconds: Some(3600),
            ..CertificateSigningRequestSpec::default()
        },
        status: None,
    }
}

const NODE_USAGES: &[&str] = &["digital signature", "key encipherment", "client auth"];

/// Creates a node client CSR as the caller of `csrs`; returns the key PEM.
async fn request_node_cert(
    csrs: &Api<CertificateSigningRequest>,
    name: &str,
    node: &str,
) -> Result<String, kube::Error> {
    let (pem, key) = csr_pem(&format!("system:node:{node}"), &["system:nodes"]);
    csrs.create(
        &PostParams::default(),
        &csr_object(name, &pem, KUBELET_SIGNER, NODE_USAGES),
    )
    .await?;
    Ok(key)
}

/// Waits (through a watch by name, as kubelet waits) until the CSR has a
/// certificate; returns it, PEM.
async fn issued_certificate(csrs: &Api<CertificateSigningRequest>, name: &str) -> String {
    let cond = |csr: Option<&CertificateSigningRequest>| {
        csr.and_then(|c| c.status.as_ref())
            .and_then(|s| s.certificate.as_ref())
            .is_some_and(|c| !c.0.is_empty())
    };
    let csr = tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(csrs.clone(), name, cond),
    )
    .await
    .unwrap_or_else(|_| panic!("no certificate for {name} within {WAIT:?}"))
    .expect("watch the CSR")
    .expect("the CSR exists");
    let cert = csr.status.and_then(|s| s.certificate).expect("certificate");
    String::from_utf8(cert.0).expect("PEM")
}

fn conditions(csr: &CertificateSigningRequest) -> Vec<(String, String)> {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.reason.unwrap_or_default()))
        .collect()
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(e)) => (e.code, e.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn lease(node: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.into()),
            namespace: Some("kube-node-lease".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.into()),
            lease_duration_seconds: Some(40),
            ..LeaseSpec::default()
        }),
    }
}

fn node_object(name: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_with_a_token_and_its_certificate_reaches_only_its_own_objects() {
    let c = Cluster::start();
    let (token, stderr) = token_create(&c, &["--ttl", "1h", "--description", "edge rollout"]);
    assert!(stderr.contains(&token.id), "{stderr}");
    let pin = join_token::ca_pin_from_pem(&ca_pem(&c)).expect("pin");
    assert_eq!(token.ca_pin, pin, "the token pins the cluster CA");

    // Stored as Kubernetes stores bootstrap tokens.
    let admin = c.client().await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "kube-system");
    let secret = secrets
        .get(&format!("bootstrap-token-{}", token.id))
        .await
        .expect("token secret");
    assert_eq!(
        secret.type_.as_deref(),
        Some("bootstrap.kubernetes.io/token")
    );
    let data = secret.data.expect("data");
    let text = |k: &str| String::from_utf8(data[k].0.clone()).expect("utf-8");
    assert_eq!(text("token-id"), token.id);
    assert_eq!(text("token-secret"), token.secret);
    assert_eq!(text("usage-bootstrap-authentication"), "true");
    assert_eq!(
        text("auth-extra-groups"),
        "system:bootstrappers:verge:default-node-token"
    );
    assert_eq!(text("description"), "edge rollout");
    let expires: jiff::Timestamp = text("expiration").parse().expect("RFC 3339");
    let left = jiff::Timestamp::now().duration_until(expires);
    assert!(
        left > jiff::SignedDuration::from_mins(58) && left <= jiff::SignedDuration::from_secs(3601),
        "{left:?}"
    );

    // Join: the token's bearer creates a CSR; it is approved and signed.
    let boot = client_from(&bearer_kubeconfig(
        &c,
        "boot.kubeconfig",
        &token.bootstrap_token(),
    ))
    .await;
    let boot_csrs: Api<CertificateSigningRequest> = Api::all(boot.clone());
    let key = request_node_cert(&boot_csrs, "node-csr-edge-1", "edge-1")
        .await
        .expect("create the CSR with the bootstrap token");
    let cert = issued_certificate(&boot_csrs, "node-csr-edge-1").await;
    let admin_csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());
    let stored = admin_csrs.get("node-csr-edge-1").await.expect("csr");
    assert_eq!(
        stored.spec.username.as_deref(),
        Some(format!("system:bootstrap:{}", token.id).as_str())
    );
    assert!(
        stored
            .spec
            .groups
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|g| g == "system:bootstrappers:verge:default-node-token")
    );
    assert_eq!(
        conditions(&stored),
        vec![("Approved".to_string(), "AutoApproved".to_string())]
    );
    // The bootstrap token reads nothing else.
    let (code, message) = api_error(
        secrets_of(&boot, "default")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(code, 403, "{message}");
    let listed = c.kubectl(&["get", "csr"]);
    let row = listed
        .lines()
        .find(|l| l.starts_with("node-csr-edge-1"))
        .unwrap_or_else(|| panic!("no row for the CSR in {listed}"));
    assert!(row.contains(KUBELET_SIGNER), "{row}");
    assert!(
        row.contains(&format!("system:bootstrap:{}", token.id)),
        "{row}"
    );
    assert!(row.contains("60m"), "requested duration: {row}");
    assert!(row.ends_with("Approved,Issued"), "{row}");

    // The certificate authenticates as the node.
    let node_client = client_from(&cert_kubeconfig(&c, "node.kubeconfig", &cert, &key)).await;
    let nodes: Api<Node> = Api::all(node_client.clone());
    nodes
        .create(&PostParams::default(), &node_object("edge-1"))
        .await
        .expect("the node registers itself");
    let got = nodes.get("edge-1").await.expect("get own node");
    assert_eq!(got.metadata.name.as_deref(), Some("edge-1"));
    let ready = serde_json::json!({"status": {"conditions": [{
        "type": "Ready", "status": "True", "reason": "KubeletReady",
        "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z",
    }]}});
    nodes
        .patch_status(
            "edge-1",
            &Default::default(),
            &kube::api::Patch::Merge(&ready),
        )
        .await
        .expect("the node reports its own status");
    let leases: Api<Lease> = Api::namespaced(node_client.clone(), "kube-node-lease");
    let created = leases
        .create(&PostParams::default(), &lease("edge-1"))
        .await
        .expect("create own lease");
    let mut renewed = created.clone();
    renewed
        .spec
        .get_or_insert_with(Default::default)
        .lease_duration_seconds = Some(60);
    leases
        .replace("edge-1", &PostParams::default(), &renewed)
        .await
        .expect("update own lease");

    // ... and nothing beyond its own objects.
    let (code, message) = api_error(secrets_of(&node_client, "default").get("x").await);
    assert_eq!(code, 403, "{message}");
    assert!(
        message.contains(
            "User \"system:node:edge-1\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\""
        ),
        "{message}"
    );
    admin_nodes(&admin)
        .create(&PostParams::default(), &node_object("edge-2"))
        .await
        .expect("admin creates edge-2");
    let (code, message) = api_error(nodes.get("edge-2").await);
    assert_eq!(code, 403, "{message}");
    let (code, message) = api_error(
        nodes
            .patch_status(
                "edge-2",
                &Default::default(),
                &kube::api::Patch::Merge(&ready),
            )
            .await,
    );
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("\"nodes/status\""), "{message}");
    let (code, message) = api_error(
        nodes
            .create(&PostParams::default(), &node_object("edge-3"))
            .await,
    );
    assert_eq!(code, 403, "{message}");
    let (code, _) = api_error(
        leases
            .create(&PostParams::default(), &lease("edge-2"))
            .await,
    );
    assert_eq!(code, 403);
    let (code, _) = api_error(nodes.delete("edge-1", &Default::default()).await);
    assert_eq!(code, 403);
}

fn secrets_of(client: &kube::Client, ns: &str) -> Api<Secret> {
    Api::namespaced(client.clone(), ns)
}

fn admin_nodes(client: &kube::Client) -> Api<Node> {
    Api::all(client.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_outside_the_auto_approval_rules_wait_for_an_administrator() {
    let c = Cluster::start();
    let (token, _) = token_create(&c, &[]);
    let boot = client_from(&bearer_kubeconfig(
        &c,
        "boot.kubeconfig",
        &token.bootstrap_token(),
    ))
    .await;
    let csrs: Api<CertificateSigningRequest> = Api::all(boot.clone());

    // Another CN, and a node asking for a serving usage: both wait.
    let (alice_pem, alice_key) = csr_pem("alice", &["developers"]);
    csrs.create(
        &PostParams::default(),
        &csr_object("alice", &alice_pem, CLIENT_SIGNER, &["client auth"]),
    )
    .await
    .expect("create alice's CSR");
    let (serving_pem, _) = csr_pem("system:node:edge-9", &["system:nodes"]);
    csrs.create(
        &PostParams::default(),
        &csr_object(
            "serving",
            &serving_pem,
            KUBELET_SIGNER,
            &["server auth", "client auth"],
        ),
    )
    .await
    .expect("create the serving CSR");
    // One the approver does handle, created after them: once it is issued,
    // the approver (one worker, in order) has passed over the other two.
    request_node_cert(&csrs, "node-csr-edge-1", "edge-1")
        .await
        .expect("node CSR");
    issued_certificate(&csrs, "node-csr-edge-1").await;
    let admin_csrs: Api<CertificateSigningRequest> = Api::all(c.client().await);
    for name in ["alice", "serving"] {
        let csr = admin_csrs.get(name).await.expect("csr");
        assert!(
            conditions(&csr).is_empty(),
            "{name}: {:?}",
            conditions(&csr)
        );
        assert!(csr.status.and_then(|s| s.certificate).is_none(), "{name}");
    }
    let listed = c.kubectl(&["get", "csr", "alice"]);
    assert!(listed.contains("alice"), "{listed}");
    assert!(listed.trim_end().ends_with("Pending"), "{listed}");

    // The requester cannot approve its own request.
    let mut approved = admin_csrs.get("alice").await.expect("csr");
    approved
        .status
        .get_or_insert_with(Default::default)
        .conditions = Some(vec![
        k8s_openapi::api::certificates::v1::CertificateSigningRequestCondition {
            type_: "Approved".into(),
            status: "True".into(),
            ..Default::default()
        },
    ]);
    let (code, _) = api_error(
        csrs.patch_approval(
            "alice",
            &Default::default(),
            &kube::api::Patch::Merge(&approved),
        )
        .await,
    );
    assert_eq!(code, 403);

    // An administrator approves with kubectl; the signer then issues.
    c.kubectl(&["certificate", "approve", "alice"]);
    let cert = issued_certificate(&csrs, "alice").await;
    let alice = client_from(&cert_kubeconfig(&c, "alice.kubeconfig", &cert, &alice_key)).await;
    let (code, message) = api_error(
        secrets_of(&alice, "default")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("User \"alice\""), "{message}");
    let csr = admin_csrs.get("alice").await.expect("csr");
    assert!(
        conditions(&csr).contains(&("Approved".to_string(), "KubectlApprove".to_string())),
        "{:?}",
        conditions(&csr)
    );

    // PATCH of the approval subresource (client-go's other way) works too,
    // and changes nothing but the conditions.
    let (bob_pem, _) = csr_pem("bob", &[]);
    csrs.create(
        &PostParams::default(),
        &csr_object("bob", &bob_pem, CLIENT_SIGNER, &["client auth"]),
    )
    .await
    .expect("create bob's CSR");
    let patch = serde_json::json!({
        "spec": {"signerName": "example.com/ignored"},
        "status": {"conditions": [{"type": "Approved", "status": "True", "reason": "Reviewed"}]},
    });
    let patched = admin_csrs
        .patch_approval("bob", &Default::default(), &kube::api::Patch::Merge(&patch))
        .await
        .expect("admin approves by PATCH");
    assert_eq!(patched.spec.signer_name, CLIENT_SIGNER);
    issued_certificate(&csrs, "bob").await;

    // Approved, a serving usage is still refused by the kubelet client
    // signer: Failed, saying why, and no certificate.
    c.kubectl(&["certificate", "approve", "serving"]);
    let failed = tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(
            admin_csrs.clone(),
            "serving",
            |c: Option<&CertificateSigningRequest>| {
                c.is_some_and(|c| conditions(c).iter().any(|(t, _)| t == "Failed"))
            },
        ),
    )
    .await
    .expect("the signer marks the request Failed")
    .expect("watch")
    .expect("csr");
    assert!(
        conditions(&failed)
            .contains(&("Failed".to_string(), "SignerValidationFailure".to_string())),
        "{:?}",
        conditions(&failed)
    );
    assert!(failed.status.and_then(|s| s.certificate).is_none());

    // Denied stays denied, with no certificate.
    let (carol_pem, _) = csr_pem("carol", &[]);
    csrs.create(
        &PostParams::default(),
        &csr_object("carol", &carol_pem, CLIENT_SIGNER, &["client auth"]),
    )
    .await
    .expect("create carol's CSR");
    c.kubectl(&["certificate", "deny", "carol"]);
    let csr = admin_csrs.get("carol").await.expect("csr");
    assert_eq!(conditions(&csr)[0].0, "Denied");
    assert!(csr.status.and_then(|s| s.certificate).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_unknown_wrong_and_used_up_tokens_are_refused() {
    let c = Cluster::start();
    let admin = c.client().await;

    // Expired: a token Secret written with a past expiration.
    // (A minute ago: the token cleaner keeps it that long after expiry.)
    let expired_at = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_mins(1))
        .expect("a minute ago")
        .round(jiff::Unit::Second)
        .expect("rounded")
        .to_string();
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bootstrap-token-abc123\n  namespace: kube-system\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: abc123\n  token-secret: 0123456789abcdef\n  usage-bootstrap-authentication: \"true\"\n  expiration: {expired_at}\n"
    );
    c.apply(&manifest);
    let expired = client_from(&bearer_kubeconfig(
        &c,
        "expired.kubeconfig",
        "abc123.0123456789abcdef",
    ))
    .await;
    let csrs: Api<CertificateSigningRequest> = Api::all(expired);
    let (code, message) = api_error(request_node_cert(&csrs, "x", "edge-x").await);
    assert_eq!(code, 401, "{message}");
    assert!(
        message.contains(&format!("expired at {expired_at}")),
        "{message}"
    );
    assert!(message.contains("verge token create"), "{message}");

    // Unknown id, and a known id with the wrong secret.
    let unknown = client_from(&bearer_kubeconfig(
        &c,
        "unknown.kubeconfig",
        "zzzzzz.0123456789abcdef",
    ))
    .await;
    let (code, message) = api_error(
        Api::<CertificateSigningRequest>::all(unknown)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(code, 401);
    assert!(message.contains("unknown join token zzzzzz"), "{message}");
    let (token, _) = token_create(&c, &["--uses", "1"]);
    let wrong = client_from(&bearer_kubeconfig(
        &c,
        "wrong.kubeconfig",
        &format!("{}.aaaaaaaaaaaaaaaa", token.id),
    ))
    .await;
    let (code, message) = api_error(request_node_cert(&Api::all(wrong), "y", "edge-y").await);
    assert_eq!(code, 401);
    assert!(message.contains("secret"), "{message}");

    // One use: the first node joins (and may retry), the second is refused.
    let boot = client_from(&bearer_kubeconfig(
        &c,
        "boot.kubeconfig",
        &token.bootstrap_token(),
    ))
    .await;
    let csrs: Api<CertificateSigningRequest> = Api::all(boot);
    request_node_cert(&csrs, "edge-a-1", "edge-a")
        .await
        .expect("first join");
    issued_certificate(&csrs, "edge-a-1").await;
    request_node_cert(&csrs, "edge-a-2", "edge-a")
        .await
        .expect("the same node retrying is not a second join");
    let (code, message) = api_error(request_node_cert(&csrs, "edge-b-1", "edge-b").await);
    assert_eq!(code, 401, "{message}");
    assert!(message.contains("used up"), "{message}");
    assert!(message.contains("verge token create"), "{message}");
    let admin_csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());
    assert!(admin_csrs.get_opt("edge-b-1").await.expect("get").is_none());
    let secret = Api::<Secret>::namespaced(admin, "kube-system")
        .get(&format!("bootstrap-token-{}", token.id))
        .await
        .expect("secret");
    let data = secret.data.expect("data");
    assert_eq!(data["verge-max-joins"].0, b"1");
    assert_eq!(data["verge-joined-nodes"].0, b"edge-a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_info_is_public_and_names_the_hub() {
    let c = Cluster::start();
    let anonymous = client_from(&kubeconfig(&c, "anon.kubeconfig", "")).await;
    let configmaps: Api<ConfigMap> = Api::namespaced(anonymous.clone(), "kube-public");
    let mut data = None;
    let deadline = std::time::Instant::now() + WAIT;
    while data.is_none() {
        match configmaps.get_opt("cluster-info").await {
            Ok(Some(cm)) => data = cm.data,
            Ok(None) => {}
            Err(e) => panic!("anonymous get of cluster-info: {e}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cluster-info was not published"
        );
        if data.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let data = data.expect("data");
    assert_eq!(data["hub-websocket-port"], c.hub_port.to_string());
    assert_eq!(data["hub-quic-port"], c.quic_port.to_string());
    assert_eq!(
        data["hub-websocket-listen"],
        format!("127.0.0.1:{}", c.hub_port)
    );
    let kc: kube::config::Kubeconfig = serde_yaml_like(&data["kubeconfig"]);
    assert!(kc.auth_infos.is_empty(), "no credentials are published");
    let cluster = kc.clusters[0].cluster.as_ref().expect("cluster");
    let published = STANDARD
        .decode(
            cluster
                .certificate_authority_data
                .as_deref()
                .expect("CA data"),
        )
        .expect("base64");
    assert_eq!(String::from_utf8(published).expect("PEM"), ca_pem(&c));
    assert!(
        cluster
            .server
            .as_deref()
            .is_some_and(|s| s.starts_with("https://"))
    );

    // Anonymous callers get nothing else.
    let (code, _) = api_error(configmaps.get_opt("other").await);
    assert_eq!(code, 401);
    let (code, _) = api_error(
        secrets_of(&anonymous, "kube-system")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(code, 401);
}

fn serde_yaml_like(text: &str) -> kube::config::Kubeconfig {
    kube::config::Kubeconfig::from_yaml(text).expect("cluster-info kubeconfig")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused_with_422_and_nothing_is_stored() {
    let c = Cluster::api_only();
    let admin_csrs: Api<CertificateSigningRequest> = Api::all(c.client().await);
    let garbage = csr_object(
        "garbage",
        "not a certificate request",
        KUBELET_SIGNER,
        NODE_USAGES,
    );
    let (code, message) = api_error(admin_csrs.create(&PostParams::default(), &garbage).await);
    assert_eq!(code, 422, "{message}");
    assert!(message.contains("spec.request"), "{message}");
    let (pem, _) = csr_pem("system:node:edge-1", &["system:nodes"]);
    let bad_usage = csr_object("bad-usage", &pem, KUBELET_SIGNER, &["teleportation"]);
    let (code, message) = api_error(admin_csrs.create(&PostParams::default(), &bad_usage).await);
    assert_eq!(code, 422, "{message}");
    let no_signer = csr_object("no-signer", &pem, "", NODE_USAGES);
    let (code, _) = api_error(admin_csrs.create(&PostParams::default(), &no_signer).await);
    assert_eq!(code, 422);
    let listed = admin_csrs.list(&ListParams::default()).await.expect("list");
    assert!(listed.items.is_empty(), "{:?}", listed.items);

    // A valid one is stored with the requester recorded, whatever was sent.
    let mut ok = csr_object("ok", &pem, KUBELET_SIGNER, NODE_USAGES);
    ok.spec.username = Some("someone-else".into());
    let created = admin_csrs
        .create(&PostParams::default(), &ok)
        .await
        .expect("create");
    assert_eq!(
        created.spec.username.as_deref(),
        Some(verge_pki::ADMIN_USER)
    );
    // The request is immutable.
    let mut changed = created.clone();
    changed.spec.usages = Some(vec!["client auth".into()]);
    let (code, _) = api_error(
        admin_csrs
            .replace("ok", &PostParams::default(), &changed)
            .await,
    );
    assert_eq!(code, 422);
}
