//! API clients for each stage of trust, and retrying while the server is
//! unreachable.
//!
//! Discovery is the only request made without verifying the server; every
//! other client trusts the pinned cluster CA and nothing else.

use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderValue, header};
use rand::Rng;

use crate::identity::NodeIdentity;
use crate::{AgentError, Shutdown};

/// First delay between attempts to reach an unreachable server.
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest delay between attempts.
const RETRY_CAP: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn base_config(server_url: &str) -> Result<kube::Config, AgentError> {
    let uri: http::Uri = server_url.parse().map_err(|e| AgentError::BadServerUrl {
        url: server_url.to_string(),
        reason: format!("{e}"),
    })?;
    let mut config = kube::Config::new(uri);
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    Ok(config)
}

fn build(config: kube::Config) -> Result<kube::Client, AgentError> {
    kube::Client::try_from(config).map_err(|e| AgentError::Client(e.to_string()))
}

fn ca_der(ca_pem: &str) -> Result<Vec<u8>, AgentError> {
    crate::identity::pem_der(ca_pem, "CA certificate").map_err(AgentError::Client)
}

/// A client that does not verify the server at all: only for reading the
/// public `cluster-info`, whose CA is then checked against the token's pin.
pub(crate) fn unverified(server_url: &str) -> Result<kube::Client, AgentError> {
    let mut config = base_config(server_url)?;
    // An empty trust store rather than the platform's: nothing is trusted,
    // and the verifier below accepts whatever the server presents.
    config.root_cert = Some(Vec::new());
    config.accept_invalid_certs = true;
    build(config)
}

/// An anonymous client that trusts only the pinned CA.
pub(crate) fn anonymous(server_url: &str, ca_pem: &str) -> Result<kube::Client, AgentError> {
    let mut config = base_config(server_url)?;
    config.root_cert = Some(vec![ca_der(ca_pem)?]);
    build(config)
}

/// A client that authenticates with the bootstrap token `<id>.<secret>`.
pub(crate) fn bootstrap(
    server_url: &str,
    ca_pem: &str,
    bootstrap_token: &str,
) -> Result<kube::Client, AgentError> {
    let mut config = base_config(server_url)?;
    config.root_cert = Some(vec![ca_der(ca_pem)?]);
    let mut value = HeaderValue::from_str(&format!("Bearer {bootstrap_token}"))
        .map_err(|_| AgentError::Client("the bootstrap token is not a valid header".into()))?;
    value.set_sensitive(true);
    config.headers.push((header::AUTHORIZATION, value));
    build(config)
}

/// A client that authenticates with the node certificate.
pub(crate) fn node(server_url: &str, identity: &NodeIdentity) -> Result<kube::Client, AgentError> {
    let mut config = base_config(server_url)?;
    config.root_cert = Some(vec![ca_der(&identity.ca_pem)?]);
    // AuthInfo keeps the key as a secrecy::SecretString; going through its
    // (de)serialized form avoids depending on that crate's version.
    let auth: kube::config::AuthInfo = serde_json::from_value(serde_json::json!({
        "client-certificate-data": STANDARD.encode(&identity.cert_pem),
        "client-key-data": STANDARD.encode(&identity.key_pem),
    }))
    .map_err(|e| AgentError::Client(format!("client credentials: {e}")))?;
    config.auth_info = auth;
    build(config)
}

/// Whether a request failed because the server could not be reached (or
/// was momentarily unable to answer), so trying again later may succeed.
pub(crate) fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// The HTTP status of an API error, if the server answered.
pub(crate) fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// The server's message for an API error, or the error itself.
pub(crate) fn message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}

/// Jittered exponential backoff: the n-th delay is drawn from
/// [d/2, d] with d = min(first × 2ⁿ, cap), so many agents that lost the
/// server at the same moment do not return in lockstep.
pub(crate) fn backoff(attempt: u32, first: Duration, cap: Duration) -> Duration {
    let exp = first.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let half = exp / 2;
    let jitter_ms = rand::rng().random_range(0..=half.as_millis().min(u128::from(u64::MAX)) as u64);
    half + Duration::from_millis(jitter_ms)
}

/// Runs `attempt` until it succeeds or fails for a reason other than the
/// server being unreachable; while unreachable, logs a progress line saying
/// what to check and retries with backoff. Returns [`AgentError::Stopped`]
/// if `shutdown` fires while waiting.
pub(crate) async fn retry<T, F, Fut>(
    what: &str,
    server_url: &str,
    shutdown: &mut Shutdown,
    mut attempt: F,
) -> Result<Result<T, kube::Error>, AgentError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut failures = 0u32;
    loop {
        let result = tokio::select! {
            r = attempt() => r,
            () = shutdown.wait() => return Err(AgentError::Stopped),
        };
        match result {
            Err(e) if is_transient(&e) => {
                let delay = backoff(failures, RETRY_FIRST, RETRY_CAP);
                failures = failures.saturating_add(1);
                tracing::warn!(
                    server = %server_url,
                    attempt = failures,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %e,
                    "cannot {what}: the server is unreachable or unavailable; retrying (check --server and the network if this persists)"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.wait() => return Err(AgentError::Stopped),
                }
            }
            other => return Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_and_capped() {
        let first = Duration::from_secs(1);
        let cap = Duration::from_secs(30);
        for attempt in 0..40 {
            let d = backoff(attempt, first, cap);
            let full = first.saturating_mul(1u32 << attempt.min(16)).min(cap);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        let draws: std::collections::HashSet<Duration> =
            (0..50).map(|_| backoff(10, first, cap)).collect();
        assert!(draws.len() > 1, "no jitter: {draws:?}");
    }

    #[test]
    fn only_unreachable_or_unavailable_servers_are_retried() {
        let api = |code| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                message: "m".into(),
                ..Default::default()
            }))
        };
        assert!(is_transient(&api(503)));
        assert!(is_transient(&api(429)));
        assert!(!is_transient(&api(401)));
        assert!(!is_transient(&api(403)));
        assert!(!is_transient(&api(409)));
        assert_eq!(status_code(&api(401)), Some(401));
        assert_eq!(message(&api(401)), "m");
    }
}
