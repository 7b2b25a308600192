//! Getting a node certificate: generate a key, send a
//! certificates.k8s.io/v1 CertificateSigningRequest, wait for the cluster
//! to approve and sign it (kubelet's TLS bootstrap and rotation).

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use kube::Api;
use kube::api::{ObjectMeta, PostParams, WatchEvent, WatchParams};
use rcgen::KeyPair;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::identity::{NODE_USER_PREFIX, NODES_GROUP};
use crate::{AgentError, Shutdown, client};

/// The signer of kubelet client certificates, which the cluster's approver
/// approves for bootstrapping and renewing nodes.
pub const SIGNER_NAME: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The usages that signer accepts for an ECDSA key.
pub const USAGES: [&str; 2] = ["digital signature", "client auth"];
/// How often a waiting agent says what it waits for.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);
/// Polling interval when the server does not let the agent watch.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// A key and the request for its certificate.
pub struct Request {
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The PKCS#10 request, PEM.
    pub csr_pem: String,
    /// The CSR object's name: derived from the key, so that an agent
    /// restarted while waiting finds its own request again.
    pub name: String,
}

/// Which credentials send the request: they decide what a refusal means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// The join token (first join).
    BootstrapToken,
    /// The current node certificate (renewal).
    NodeCertificate,
}

/// A new ECDSA P-256 key, PEM.
pub fn new_key() -> Result<String, AgentError> {
    verge_pki::new_key_pem().map_err(|e| AgentError::Generate {
        what: "key",
        reason: e.to_string(),
    })
}

/// The request for a node certificate for `node_name` with `key_pem`:
/// subject CN=system:node:<name>, O=system:nodes, nothing else.
pub fn request(node_name: &str, key_pem: &str) -> Result<Request, AgentError> {
    let generate = |reason: String| AgentError::Generate {
        what: "certificate signing request",
        reason,
    };
    let key = KeyPair::from_pem(key_pem).map_err(|e| generate(e.to_string()))?;
    let csr_pem = verge_pki::client_csr_pem(
        key_pem,
        &format!("{NODE_USER_PREFIX}{node_name}"),
        &[NODES_GROUP],
    )
    .map_err(|e| generate(e.to_string()))?;
    Ok(Request {
        key_pem: key_pem.to_string(),
        csr_pem,
        name: csr_name(node_name, key.public_key_raw()),
    })
}

/// `node-csr-` and a digest of the node name and public key: stable for a
/// key, distinct between keys and nodes (kubelet names its bootstrap
/// requests the same way).
pub fn csr_name(node_name: &str, public_key: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(node_name.as_bytes());
    digest.update([0]);
    digest.update(public_key);
    let hex: String = digest
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("node-csr-{hex}")
}

/// The CertificateSigningRequest object for `request`.
pub fn object(request: &Request) -> CertificateSigningRequest {
    CertificateSigningRequest {
        metadata: ObjectMeta {
            name: Some(request.name.clone()),
            ..ObjectMeta::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(request.csr_pem.as_bytes().to_vec()),
            signer_name: SIGNER_NAME.to_string(),
            usages: Some(USAGES.iter().map(|u| u.to_string()).collect()),
            ..CertificateSigningRequestSpec::default()
        },
        status: None,
    }
}

/// What a CSR's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not decided, or approved but not yet signed.
    Pending {
        /// Whether it carries an Approved condition.
        approved: bool,
    },
    /// Signed: the certificate, PEM.
    Issued(String),
    /// Denied or failed.
    Rejected {
        /// `denied` or `failed`.
        outcome: &'static str,
        /// ": reason: message", possibly empty.
        detail: String,
    },
}

/// Reads the outcome of a CSR.
pub fn outcome(csr: &CertificateSigningRequest) -> Outcome {
    let Some(status) = &csr.status else {
        return Outcome::Pending { approved: false };
    };
    let conditions = status.conditions.as_deref().unwrap_or_default();
    for (kind, outcome) in [("Denied", "denied"), ("Failed", "failed")] {
        if let Some(c) = conditions
            .iter()
            .find(|c| c.type_ == kind && c.status != "False")
        {
            let mut detail = String::new();
            if let Some(reason) = c.reason.as_deref().filter(|r| !r.is_empty()) {
                detail.push_str(&format!(" ({reason}"));
                if let Some(message) = c.message.as_deref().filter(|m| !m.is_empty()) {
                    detail.push_str(&format!(": {message}"));
                }
                detail.push(')');
            }
            return Outcome::Rejected { outcome, detail };
        }
    }
    match &status.certificate {
        Some(cert) if !cert.0.is_empty() => {
            Outcome::Issued(String::from_utf8_lossy(&cert.0).into_owned())
        }
        _ => Outcome::Pending {
            approved: conditions
                .iter()
                .any(|c| c.type_ == "Approved" && c.status != "False"),
        },
    }
}

/// Sends `request` (or finds the one sent before a restart) and waits up
/// to `timeout` for its certificate, PEM.
pub async fn submit_and_wait(
    client: kube::Client,
    credentials: Credentials,
    request: &Request,
    server_url: &str,
    timeout: Duration,
    shutdown: &mut Shutdown,
) -> Result<String, AgentError> {
    let api: Api<CertificateSigningRequest> = Api::all(client);
    let name = request.name.clone();
    let refused = |e: &kube::Error| match (credentials, client::status_code(e)) {
        (Credentials::BootstrapToken, Some(401)) => AgentError::TokenRefused {
            message: client::message(e),
        },
        _ => AgentError::Refused {
            action: format!("create the certificate signing request {name}"),
            message: client::message(e),
        },
    };
    let obj = object(request);
    let post = PostParams::default();
    let created = client::retry(
        "send the certificate signing request",
        server_url,
        shutdown,
        || api.create(&post, &obj),
    )
    .await?;
    let mut current = match created {
        Ok(csr) => {
            tracing::info!(csr = %name, signer = SIGNER_NAME, "sent the certificate signing request");
            csr
        }
        Err(e) if client::status_code(&e) == Some(409) => {
            let existing = match get(&api, &name, server_url, shutdown).await? {
                Ok(csr) => csr,
                // Sent with other credentials (a renewal cut short, then a
                // join with a token): only its sender may read it.
                Err(e) if client::status_code(&e) == Some(403) => {
                    return Err(AgentError::CsrSentByAnother { name });
                }
                Err(e) => return Err(refused(&e)),
            };
            // ECDSA signatures are randomized, so the request's bytes differ
            // between attempts; the key is what makes it ours.
            if !same_key(&existing.spec.request.0, &request.key_pem) {
                return Err(AgentError::Protocol {
                    action: format!("send the certificate signing request {name}"),
                    reason: "a different request with the same name exists".into(),
                });
            }
            tracing::info!(csr = %name, "found the certificate signing request sent before a restart");
            existing
        }
        Err(e) => return Err(refused(&e)),
    };

    let started = Instant::now();
    let deadline = started + timeout;
    let mut next_progress = started;
    let mut can_watch = true;
    loop {
        match outcome(&current) {
            Outcome::Issued(cert) => {
                tracing::info!(csr = %name, "the certificate signing request was approved and signed");
                return Ok(cert);
            }
            Outcome::Rejected { outcome, detail } => {
                return Err(AgentError::CsrRejected {
                    name,
                    outcome,
                    detail,
                });
            }
            Outcome::Pending { approved } => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(AgentError::CsrTimeout {
                        name,
                        waited_secs: timeout.as_secs(),
                    });
                }
                if now >= next_progress {
                    if approved {
                        tracing::info!(csr = %name, "the CSR is approved; waiting for the cluster to sign it");
                    } else {
                        tracing::info!(
                            csr = %name,
                            "waiting for the CSR to be approved; an admin can run kubectl certificate approve {name}"
                        );
                    }
                    next_progress = now + PROGRESS_EVERY;
                }
            }
        }
        let wait_until = deadline.min(next_progress);
        let changed = if can_watch {
            let watch_started = Instant::now();
            match watch_once(&api, &current, wait_until, shutdown).await? {
                Watched::Changed(csr) => Some(*csr),
                Watched::Reread => {
                    // A watch the server ends at once must not turn into a
                    // busy loop of reads.
                    if watch_started.elapsed() < Duration::from_secs(1) {
                        pause(wait_until.min(Instant::now() + POLL_EVERY), shutdown).await?;
                    }
                    None
                }
                Watched::Refused => {
                    can_watch = false;
                    None
                }
            }
        } else {
            pause(wait_until.min(Instant::now() + POLL_EVERY), shutdown).await?;
            None
        };
        current = match changed {
            Some(csr) => csr,
            None => match get(&api, &name, server_url, shutdown).await? {
                Ok(csr) => csr,
                Err(e) if client::status_code(&e) == Some(404) => {
                    return Err(AgentError::CsrRejected {
                        name,
                        outcome: "deleted",
                        detail: " before it was signed".into(),
                    });
                }
                Err(e) => return Err(refused(&e)),
            },
        };
    }
}

/// Whether the PEM request `csr_pem` is for the public half of `key_pem`.
fn same_key(csr_pem: &[u8], key_pem: &str) -> bool {
    let Ok(key) = KeyPair::from_pem(key_pem) else {
        return false;
    };
    let Ok((_, block)) = x509_parser::pem::parse_x509_pem(csr_pem) else {
        return false;
    };
    match X509CertificationRequest::from_der(&block.contents) {
        Ok((_, csr)) => {
            csr.certification_request_info
                .subject_pki
                .subject_public_key
                .data
                .as_ref()
                == key.public_key_raw()
        }
        Err(_) => false,
    }
}

async fn pause(until: Instant, shutdown: &mut Shutdown) -> Result<(), AgentError> {
    tokio::select! {
        () = tokio::time::sleep_until(until) => Ok(()),
        () = shutdown.wait() => Err(AgentError::Stopped),
    }
}

async fn get(
    api: &Api<CertificateSigningRequest>,
    name: &str,
    server_url: &str,
    shutdown: &mut Shutdown,
) -> Result<Result<CertificateSigningRequest, kube::Error>, AgentError> {
    client::retry(
        "read the certificate signing request",
        server_url,
        shutdown,
        || api.get(name),
    )
    .await
}

/// How a watch of the CSR ended.
enum Watched {
    /// It changed: the new object.
    Changed(Box<CertificateSigningRequest>),
    /// The watch ended or timed out: read the object again.
    Reread,
    /// The server does not let this client watch: poll instead.
    Refused,
}

/// Watches the CSR from its current resourceVersion until it changes
/// or `until` passes or the watch ends.
async fn watch_once(
    api: &Api<CertificateSigningRequest>,
    current: &CertificateSigningRequest,
    until: Instant,
    shutdown: &mut Shutdown,
) -> Result<Watched, AgentError> {
    let (Some(name), Some(rv)) = (
        current.metadata.name.as_deref(),
        current.metadata.resource_version.as_deref(),
    ) else {
        return Ok(Watched::Reread);
    };
    let params = WatchParams::default().fields(&format!("metadata.name={name}"));
    let stream = match api.watch(&params, rv).await {
        Ok(s) => s,
        Err(e) => {
            if matches!(client::status_code(&e), Some(401 | 403 | 405)) {
                tracing::debug!(error = %e, "cannot watch the CSR; polling it instead");
                return Ok(Watched::Refused);
            }
            return Ok(Watched::Reread);
        }
    };
    let mut stream = std::pin::pin!(stream);
    loop {
        tokio::select! {
            event = stream.next() => match event {
                Some(Ok(WatchEvent::Added(csr) | WatchEvent::Modified(csr))) => return Ok(Watched::Changed(Box::new(csr))),
                Some(Ok(WatchEvent::Bookmark(_))) => continue,
                // Deleted, an error event (410 Gone) or the end of the
                // stream: the caller reads the object again.
                Some(Ok(_)) | Some(Err(_)) | None => return Ok(Watched::Reread),
            },
            () = tokio::time::sleep_until(until) => return Ok(Watched::Reread),
            () = shutdown.wait() => return Err(AgentError::Stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::certificates::v1::{
        CertificateSigningRequestCondition, CertificateSigningRequestStatus,
    };
    use verge_pki::{ClusterCa, CsrPolicy};

    #[test]
    fn the_request_is_what_the_node_client_signer_accepts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ClusterCa::load_or_create(dir.path()).expect("ca");
        let key = new_key().expect("key");
        let req = request("edge-1", &key).expect("request");
        let policy = CsrPolicy::client("system:node:edge-1", &["system:nodes".to_string()]);
        let cert = ca
            .sign_csr(&req.csr_pem, &policy, Duration::from_secs(3600))
            .expect("the cluster CA signs the request under the node policy");
        let identity =
            crate::identity::NodeIdentity::from_pem(ca.ca_pem(), &cert, &key).expect("identity");
        assert_eq!(identity.node_name(), Some("edge-1"));

        // Another node's policy refuses it.
        let other = CsrPolicy::client("system:node:edge-2", &["system:nodes".to_string()]);
        assert!(
            ca.sign_csr(&req.csr_pem, &other, Duration::from_secs(60))
                .is_err()
        );
    }

    #[test]
    fn the_name_is_stable_per_key_and_distinct_between_keys_and_nodes() {
        let key = new_key().expect("key");
        let a = request("edge-1", &key).expect("a");
        let b = request("edge-1", &key).expect("b");
        assert_eq!(a.name, b.name);
        assert!(
            a.name.starts_with("node-csr-") && a.name.len() == 9 + 32,
            "{}",
            a.name
        );
        let other_key = request("edge-1", &new_key().expect("key")).expect("c");
        assert_ne!(a.name, other_key.name);
        let other_node = request("edge-2", &key).expect("d");
        assert_ne!(a.name, other_node.name);
    }

    #[test]
    fn a_request_is_recognised_by_its_key_not_its_bytes() {
        let key = new_key().expect("key");
        let a = request("edge-1", &key).expect("a");
        let b = request("edge-1", &key).expect("b");
        // ECDSA signatures are randomized: same key, different bytes.
        assert_ne!(a.csr_pem, b.csr_pem);
        assert!(same_key(a.csr_pem.as_bytes(), &key));
        assert!(same_key(b.csr_pem.as_bytes(), &key));
        assert!(!same_key(a.csr_pem.as_bytes(), &new_key().expect("other")));
        assert!(!same_key(b"garbage", &key));
    }

    #[test]
    fn the_object_asks_the_kubelet_client_signer_for_client_auth() {
        let req = request("edge-1", &new_key().expect("key")).expect("request");
        let obj = object(&req);
        assert_eq!(obj.spec.signer_name, SIGNER_NAME);
        assert_eq!(
            obj.spec.usages,
            Some(vec!["digital signature".into(), "client auth".into()])
        );
        assert_eq!(obj.metadata.name.as_deref(), Some(req.name.as_str()));
        assert!(
            String::from_utf8_lossy(&obj.spec.request.0)
                .starts_with("-----BEGIN CERTIFICATE REQUEST-----")
        );
    }

    fn with_status(conditions: &[(&str, &str)], cert: Option<&str>) -> CertificateSigningRequest {
        CertificateSigningRequest {
            status: Some(CertificateSigningRequestStatus {
                certificate: cert.map(|c| ByteString(c.as_bytes().to_vec())),
                conditions: Some(
                    conditions
                        .iter()
                        .map(|(t, s)| CertificateSigningRequestCondition {
                            type_: t.to_string(),
                            status: s.to_string(),
                            reason: Some("Why".into()),
                            message: Some("because".into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn outcomes_follow_the_conditions_and_certificate() {
        assert_eq!(
            outcome(&CertificateSigningRequest::default()),
            Outcome::Pending { approved: false }
        );
        assert_eq!(
            outcome(&with_status(&[("Approved", "True")], None)),
            Outcome::Pending { approved: true }
        );
        assert_eq!(
            outcome(&with_status(&[("Approved", "True")], Some("PEM"))),
            Outcome::Issued("PEM".into())
        );
        assert_eq!(
            outcome(&with_status(&[("Denied", "True")], None)),
            Outcome::Rejected {
                outcome: "denied",
                detail: " (Why: because)".into()
            }
        );
        assert!(matches!(
            outcome(&with_status(
                &[("Approved", "True"), ("Failed", "True")],
                None
            )),
            Outcome::Rejected {
                outcome: "failed",
                ..
            }
        ));
        assert_eq!(
            outcome(&with_status(&[("Denied", "False")], None)),
            Outcome::Pending { approved: false }
        );
    }
}
