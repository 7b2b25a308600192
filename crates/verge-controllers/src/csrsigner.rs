//! Issues the certificates of approved requests with the cluster CA, as
//! kube-controller-manager's csrsigning controller does for the built-in
//! client signers:
//!
//! - `kubernetes.io/kube-apiserver-client-kubelet`: `CN=system:node:<name>`,
//!   `O=system:nodes` exactly;
//! - `kubernetes.io/kube-apiserver-client`: any subject (an administrator
//!   approved it).
//!
//! Both issue client certificates only (`client auth`, optionally
//! `digital signature`/`key encipherment`). The validity is
//! `spec.expirationSeconds`, capped by the server's maximum. A request the
//! signer cannot honour gets a `Failed` condition saying why; requests for
//! other signers are left to whoever implements them.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use verge_pki::{ClusterCa, CsrPolicy};
use verge_runtime::{Action, Client, ControllerMetrics, Error, Event, Part, Queue};

use crate::csrapprover::{
    CLIENT_SIGNER, KUBELET_CLIENT_SIGNER, NODE_USER_PREFIX, NODES_GROUP, client_usages, condition,
    has_condition, name_of,
};

const NAME: &str = "csrsigning";
/// The default longest validity of an issued certificate (kube's
/// `--cluster-signing-duration` default): one year.
pub const DEFAULT_MAX_VALIDITY: Duration = Duration::from_secs(365 * 86_400);

/// What the signer needs from `verge server`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The cluster CA; without it the signer does not run.
    pub ca: Option<Arc<ClusterCa>>,
    /// The longest validity of an issued certificate.
    pub max_validity: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            ca: None,
            max_validity: DEFAULT_MAX_VALIDITY,
        }
    }
}

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>, settings: Settings) {
    let Some(ca) = settings.ca.clone() else {
        tracing::warn!(
            "no cluster CA for the csr signer: approved certificate requests stay unsigned"
        );
        return;
    };
    let Ok(mut csrs) = client.watcher::<CertificateSigningRequest>(None) else {
        tracing::error!("csr signer cannot watch certificatesigningrequests");
        return;
    };
    let queue: Queue<String> = Queue::new();
    let max = settings.max_validity;
    let workers = tokio::spawn(verge_runtime::run(
        NAME,
        queue.clone(),
        2,
        metrics,
        (client.clone(), ca),
        move |(client, ca), name: String| async move { reconcile(&client, &ca, max, &name).await },
    ));
    while let Some(event) = csrs.next().await {
        match event {
            Event::Applied(o) => queue.add(name_of(&o)),
            Event::Relisted(all) => all.iter().for_each(|o| queue.add(name_of(o))),
            Event::Deleted(_) => {}
        }
    }
    queue.close();
    let _ = workers.await;
}

/// The validity of the certificate: what the request asks for, at most `max`.
fn validity(csr: &CertificateSigningRequest, max: Duration) -> Duration {
    match csr.spec.expiration_seconds {
        Some(secs) if secs > 0 => Duration::from_secs(secs.unsigned_abs().into()).min(max),
        _ => max,
    }
}

/// The policy the request must meet, or why the signer refuses it.
fn policy(csr: &CertificateSigningRequest, pem: &str) -> Result<CsrPolicy, String> {
    if !client_usages(csr) {
        return Err(format!(
            "usages {:?} are not those of a client certificate (\"client auth\", optionally \
             \"digital signature\" and \"key encipherment\")",
            csr.spec.usages.as_deref().unwrap_or_default()
        ));
    }
    let subject = verge_pki::inspect_csr(pem).map_err(|e| e.to_string())?;
    let cn = subject
        .common_name()
        .ok_or("the request must have exactly one common name")?
        .to_string();
    if csr.spec.signer_name == KUBELET_CLIENT_SIGNER {
        if !cn.starts_with(NODE_USER_PREFIX) || cn.len() == NODE_USER_PREFIX.len() {
            return Err(format!(
                "signer {KUBELET_CLIENT_SIGNER} only signs CN=system:node:<name>, not {cn:?}"
            ));
        }
        if subject.organizations != [NODES_GROUP] {
            return Err(format!(
                "signer {KUBELET_CLIENT_SIGNER} only signs O=system:nodes, not {:?}",
                subject.organizations
            ));
        }
    }
    Ok(CsrPolicy::client(cn, &subject.organizations))
}

async fn reconcile(
    client: &Client,
    ca: &ClusterCa,
    max: Duration,
    name: &str,
) -> Result<Action, Error> {
    let Some(csr) = client.get::<CertificateSigningRequest>(None, name)? else {
        return Ok(Action::Done);
    };
    let signer = csr.spec.signer_name.as_str();
    if signer != KUBELET_CLIENT_SIGNER && signer != CLIENT_SIGNER {
        return Ok(Action::Done);
    }
    let issued = csr
        .status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty());
    if !has_condition(&csr, "Approved") || has_condition(&csr, "Failed") || issued {
        return Ok(Action::Done);
    }
    let pem = String::from_utf8(csr.spec.request.0.clone()).unwrap_or_default();
    let signed = policy(&csr, &pem).and_then(|policy| {
        ca.sign_csr(&pem, &policy, validity(&csr, max))
            .map_err(|e| e.to_string())
    });
    let (certificate, failure) = match signed {
        Ok(cert) => (Some(cert), None),
        Err(why) => (None, Some(why)),
    };
    client
        .update::<CertificateSigningRequest, _>(None, name, Part::Status, |c| {
            let status = c.status.get_or_insert_with(Default::default);
            if status.certificate.as_ref().is_some_and(|c| !c.0.is_empty()) {
                return Ok(());
            }
            match (&certificate, &failure) {
                (Some(cert), _) => status.certificate = Some(ByteString(cert.clone().into_bytes())),
                (None, Some(why)) => status
                    .conditions
                    .get_or_insert_with(Vec::new)
                    .push(condition("Failed", "SignerValidationFailure", why)),
                (None, None) => {}
            }
            Ok(())
        })
        .await?;
    match failure {
        None => tracing::info!(
            csr = name,
            signer,
            requester = csr.spec.username.as_deref().unwrap_or(""),
            "issued a certificate"
        ),
        Some(why) => {
            tracing::warn!(csr = name, signer, reason = %why, "refused to sign an approved request")
        }
    }
    Ok(Action::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::certificates::v1::CertificateSigningRequestSpec;

    fn csr(expiration: Option<i32>) -> CertificateSigningRequest {
        CertificateSigningRequest {
            spec: CertificateSigningRequestSpec {
                expiration_seconds: expiration,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn validity_is_capped_by_the_maximum() {
        let max = Duration::from_secs(3600);
        assert_eq!(validity(&csr(None), max), max);
        assert_eq!(validity(&csr(Some(600)), max), Duration::from_secs(600));
        assert_eq!(validity(&csr(Some(7200)), max), max);
        assert_eq!(validity(&csr(Some(-5)), max), max);
    }
}
