//! Auto-approval of node client certificates, as kube-controller-manager's
//! csrapproving controller does it for signer
//! `kubernetes.io/kube-apiserver-client-kubelet`:
//!
//! - a bootstrap token (`system:bootstrappers`) asking for
//!   `CN=system:node:<name>, O=system:nodes` (a node joining), or
//! - a node renewing its own certificate (requester `system:node:<name>`
//!   asking for that same CN),
//!
//! with usages `client auth` plus optionally `digital signature` and
//! `key encipherment`. Anything else stays pending for an administrator
//! (`kubectl certificate approve|deny`).

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use verge_runtime::{Action, CachedObject, Client, ControllerMetrics, Error, Event, Part, Queue};

const NAME: &str = "csrapproving";
/// The signer of kubelet (and Verge agent) client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The signer of other API client certificates (always approved by hand).
pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
pub use verge_pki::{NODE_USER_PREFIX, NODES_GROUP};
const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";
/// Usages a client certificate may ask for; `client auth` is required.
pub const CLIENT_USAGES: &[&str] = &["client auth", "digital signature", "key encipherment"];

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let Ok(mut csrs) = client.watcher::<CertificateSigningRequest>(None) else {
        tracing::error!("csr approver cannot watch certificatesigningrequests");
        return;
    };
    let queue: Queue<String> = Queue::new();
    let workers = tokio::spawn(verge_runtime::run(
        NAME,
        queue.clone(),
        1,
        metrics,
        client.clone(),
        |client, name: String| async move { reconcile(&client, &name).await },
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

pub(crate) fn name_of(obj: &CachedObject) -> String {
    obj.key.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Whether the request has a condition of this type.
pub(crate) fn has_condition(csr: &CertificateSigningRequest, type_: &str) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == type_))
}

/// A condition stamped now.
pub(crate) fn condition(
    type_: &str,
    reason: &str,
    message: &str,
) -> CertificateSigningRequestCondition {
    let now = Time(Timestamp::now());
    CertificateSigningRequestCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// Whether the usages are those of a client certificate.
pub(crate) fn client_usages(csr: &CertificateSigningRequest) -> bool {
    let usages = csr.spec.usages.as_deref().unwrap_or_default();
    usages.iter().any(|u| u == "client auth")
        && usages.iter().all(|u| CLIENT_USAGES.contains(&u.as_str()))
}

/// Why the request may not be auto-approved, or `None` when it may.
fn auto_approval_refusal(csr: &CertificateSigningRequest) -> Option<String> {
    if csr.spec.signer_name != KUBELET_CLIENT_SIGNER {
        return Some(format!(
            "signer {} is approved by hand",
            csr.spec.signer_name
        ));
    }
    if !client_usages(csr) {
        return Some("usages are not those of a node client certificate".into());
    }
    let pem = String::from_utf8(csr.spec.request.0.clone())
        .map_err(|_| "the request is not PEM")
        .ok()?;
    let subject = match verge_pki::inspect_csr(&pem) {
        Ok(s) => s,
        Err(e) => return Some(e.to_string()),
    };
    let Some(cn) = subject.common_name() else {
        return Some("the request has no single common name".into());
    };
    if !cn.starts_with(NODE_USER_PREFIX) || cn.len() == NODE_USER_PREFIX.len() {
        return Some(format!("common name {cn:?} is not system:node:<name>"));
    }
    if subject.organizations != [NODES_GROUP] {
        return Some(format!(
            "organizations {:?} are not exactly [\"system:nodes\"]",
            subject.organizations
        ));
    }
    if subject.has_extensions {
        return Some(
            "the request asks for extensions (SANs or usages in the request itself)".into(),
        );
    }
    let requester = csr.spec.username.as_deref().unwrap_or("");
    let groups = csr.spec.groups.as_deref().unwrap_or_default();
    let renewal = requester == cn && groups.iter().any(|g| g == NODES_GROUP);
    let bootstrap = groups.iter().any(|g| g == BOOTSTRAPPERS_GROUP);
    if renewal || bootstrap {
        None
    } else {
        Some(format!(
            "requester {requester:?} is neither a bootstrap token nor the node {cn:?} itself"
        ))
    }
}

async fn reconcile(client: &Client, name: &str) -> Result<Action, Error> {
    let Some(csr) = client.get::<CertificateSigningRequest>(None, name)? else {
        return Ok(Action::Done);
    };
    if ["Approved", "Denied", "Failed"]
        .iter()
        .any(|t| has_condition(&csr, t))
    {
        return Ok(Action::Done);
    }
    if let Some(why) = auto_approval_refusal(&csr) {
        tracing::debug!(csr = name, reason = %why, "left pending for an administrator");
        return Ok(Action::Done);
    }
    let approved = condition(
        "Approved",
        "AutoApproved",
        "Auto approving node client certificate: requested by a bootstrap token or by the node itself",
    );
    client
        .update::<CertificateSigningRequest, _>(None, name, Part::Status, |c| {
            if ["Approved", "Denied", "Failed"]
                .iter()
                .any(|t| has_condition(c, t))
            {
                return Ok(());
            }
            c.status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new)
                .push(approved.clone());
            Ok(())
        })
        .await?;
    tracing::info!(
        csr = name,
        requester = csr.spec.username.as_deref().unwrap_or(""),
        "auto-approved a node client certificate request"
    );
    Ok(Action::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::certificates::v1::CertificateSigningRequestSpec;

    fn request(cn: &str, orgs: &[&str]) -> ByteString {
        let key = verge_pki::new_key_pem().expect("key");
        let pem = verge_pki::client_csr_pem(&key, cn, orgs).expect("csr");
        ByteString(pem.into_bytes())
    }

    fn csr(
        cn: &str,
        orgs: &[&str],
        user: &str,
        groups: &[&str],
        usages: &[&str],
    ) -> CertificateSigningRequest {
        CertificateSigningRequest {
            spec: CertificateSigningRequestSpec {
                request: request(cn, orgs),
                signer_name: KUBELET_CLIENT_SIGNER.into(),
                usages: Some(usages.iter().map(|s| s.to_string()).collect()),
                username: Some(user.into()),
                groups: Some(groups.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    const NODE_USAGES: &[&str] = &["digital signature", "key encipherment", "client auth"];

    #[test]
    fn bootstrap_and_renewal_requests_are_approved() {
        let join = csr(
            "system:node:edge-1",
            &[NODES_GROUP],
            "system:bootstrap:abcdef",
            &[BOOTSTRAPPERS_GROUP, "system:authenticated"],
            NODE_USAGES,
        );
        assert_eq!(auto_approval_refusal(&join), None);
        let renew = csr(
            "system:node:edge-1",
            &[NODES_GROUP],
            "system:node:edge-1",
            &[NODES_GROUP],
            &["client auth"],
        );
        assert_eq!(auto_approval_refusal(&renew), None);
    }

    #[test]
    fn other_requests_stay_pending() {
        let b = "system:bootstrap:abcdef";
        let bg: &[&str] = &[BOOTSTRAPPERS_GROUP];
        for (what, c) in [
            ("other CN", csr("alice", &[NODES_GROUP], b, bg, NODE_USAGES)),
            ("no org", csr("system:node:e", &[], b, bg, NODE_USAGES)),
            (
                "masters",
                csr(
                    "system:node:e",
                    &[NODES_GROUP, "system:masters"],
                    b,
                    bg,
                    NODE_USAGES,
                ),
            ),
            (
                "server auth",
                csr(
                    "system:node:e",
                    &[NODES_GROUP],
                    b,
                    bg,
                    &["server auth", "client auth"],
                ),
            ),
            (
                "no client auth",
                csr(
                    "system:node:e",
                    &[NODES_GROUP],
                    b,
                    bg,
                    &["digital signature"],
                ),
            ),
            (
                "another node",
                csr(
                    "system:node:e2",
                    &[NODES_GROUP],
                    "system:node:e1",
                    &[NODES_GROUP],
                    NODE_USAGES,
                ),
            ),
            (
                "a user",
                csr(
                    "system:node:e",
                    &[NODES_GROUP],
                    "alice",
                    &["system:authenticated"],
                    NODE_USAGES,
                ),
            ),
        ] {
            assert!(auto_approval_refusal(&c).is_some(), "{what}");
        }
        let mut other_signer = csr("system:node:e", &[NODES_GROUP], b, bg, NODE_USAGES);
        other_signer.spec.signer_name = CLIENT_SIGNER.into();
        assert!(auto_approval_refusal(&other_signer).is_some());
    }
}
