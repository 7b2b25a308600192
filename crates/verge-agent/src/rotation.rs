//! Renewing the node certificate online, before it expires (kubelet's
//! client certificate rotation): a new key and CSR sent with the current
//! certificate, the new identity installed and every later request made
//! with it.

use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use crate::csr::Credentials;
use crate::identity::{NodeIdentity, Paths, Rotation};
use crate::{AgentError, Shutdown, client, join};

/// First delay after a failed renewal.
const RETRY_FIRST: Duration = Duration::from_secs(10);
/// Longest delay between renewal attempts.
const RETRY_CAP: Duration = Duration::from_secs(600);
/// Longest single sleep: the decision is made again at least this often,
/// so a wall clock that jumped (suspend, NTP) is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// What renewal needs besides the identity.
pub(crate) struct Rotator {
    pub(crate) paths: Paths,
    pub(crate) server_url: String,
    pub(crate) node_name: String,
    pub(crate) csr_timeout: Duration,
}

impl Rotator {
    /// Renews `identity` whenever it is due, publishing each new client on
    /// `clients`, until shutdown (`Ok`) or until the certificate expired
    /// without a successful renewal (`Err`: only a new join helps then).
    pub(crate) async fn run(
        self,
        mut identity: NodeIdentity,
        clients: watch::Sender<kube::Client>,
        mut shutdown: Shutdown,
    ) -> Result<(), AgentError> {
        let mut failures = 0u32;
        let mut just_renewed = false;
        loop {
            let now = Timestamp::now();
            let rotation = identity.rotation(now);
            if just_renewed && rotation == Rotation::Due {
                // A certificate issued already inside its renewal window
                // (a signing duration short against the CA's backdating of
                // notBefore) would otherwise be renewed in a tight loop.
                let wait = until(now, identity.not_after) / 2;
                tracing::warn!(
                    not_after = %identity.not_after,
                    renew_in_s = wait.as_secs(),
                    "the new node certificate is short-lived (the server's --cluster-signing-duration is short); renewing it again halfway to its expiry"
                );
                just_renewed = false;
                if !self.sleep(wait, &mut shutdown).await {
                    return Ok(());
                }
                continue;
            }
            just_renewed = false;
            match rotation {
                Rotation::Expired => {
                    return Err(AgentError::IdentityExpired {
                        path: self.paths.cert(),
                        not_after: identity.not_after.to_string(),
                    });
                }
                Rotation::Valid { renew_at } => {
                    tracing::debug!(%renew_at, "node certificate valid; renewal scheduled");
                    if !self.sleep(until(now, renew_at), &mut shutdown).await {
                        return Ok(());
                    }
                }
                Rotation::Due => {
                    tracing::info!(not_after = %identity.not_after, "renewing the node certificate");
                    let client = clients.borrow().clone();
                    let renewed = join::obtain(
                        client,
                        Credentials::NodeCertificate,
                        &self.node_name,
                        &identity.ca_pem,
                        &self.server_url,
                        &self.paths,
                        self.csr_timeout,
                        &mut shutdown,
                    )
                    .await
                    .and_then(|new| Ok((client::node(&self.server_url, &new)?, new)));
                    match renewed {
                        Ok((client, new)) => {
                            tracing::info!(not_after = %new.not_after, "renewed the node certificate");
                            clients.send_replace(client);
                            identity = new;
                            failures = 0;
                            just_renewed = true;
                        }
                        Err(AgentError::Stopped) => return Ok(()),
                        Err(e) => {
                            let delay = client::backoff(failures, RETRY_FIRST, RETRY_CAP)
                                .min(until(Timestamp::now(), identity.not_after));
                            failures = failures.saturating_add(1);
                            tracing::warn!(
                                error = %e,
                                not_after = %identity.not_after,
                                retry_in_s = delay.as_secs(),
                                "cannot renew the node certificate; retrying until it expires"
                            );
                            if !self.sleep(delay, &mut shutdown).await {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        }
    }

    /// Sleeps up to `duration` (at most [`MAX_SLEEP`]); false on shutdown.
    async fn sleep(&self, duration: Duration, shutdown: &mut Shutdown) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration.min(MAX_SLEEP)) => true,
            () = shutdown.wait() => false,
        }
    }
}

/// Time from `now` to `then`, zero if `then` has passed.
fn until(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(then.duration_since(now)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_is_zero_for_the_past() {
        let now = Timestamp::from_second(1_000).expect("ts");
        let later = Timestamp::from_second(1_010).expect("ts");
        assert_eq!(until(now, later), Duration::from_secs(10));
        assert_eq!(until(later, now), Duration::ZERO);
    }
}
