//! Deletes expired bootstrap tokens (kube-controller-manager's
//! tokencleaner), but only [`Settings::grace`] after they expired: until
//! then a node that presents one is told that the token *expired* and how
//! to get a new one, rather than that it is unknown.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Secret;
use verge_apiserver::bootstrap::{NAMESPACE, SECRET_TYPE};
use verge_runtime::{Action, Client, ControllerMetrics, DeleteOptions, Error, Event, Queue};

const NAME: &str = "tokencleaner";
/// How long an expired token is kept by default: a day.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug)]
pub struct Settings {
    /// How long after its expiration a token Secret is deleted.
    pub grace: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            grace: DEFAULT_GRACE,
        }
    }
}

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>, settings: Settings) {
    let Ok(mut secrets) = client.watcher::<Secret>(Some(NAMESPACE)) else {
        tracing::error!("token cleaner cannot watch secrets");
        return;
    };
    let queue: Queue<String> = Queue::new();
    let grace = settings.grace;
    let workers = tokio::spawn(verge_runtime::run(
        NAME,
        queue.clone(),
        1,
        metrics,
        client.clone(),
        move |client, name: String| async move { reconcile(&client, grace, &name).await },
    ));
    let is_token = |o: &verge_runtime::CachedObject| {
        o.key
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with(verge_apiserver::bootstrap::SECRET_PREFIX))
    };
    while let Some(event) = secrets.next().await {
        match event {
            Event::Applied(o) if is_token(&o) => queue.add(crate::csrapprover::name_of(&o)),
            Event::Relisted(all) => all
                .iter()
                .filter(|o| is_token(o))
                .for_each(|o| queue.add(crate::csrapprover::name_of(o))),
            _ => {}
        }
    }
    queue.close();
    let _ = workers.await;
}

/// When the token Secret should be deleted, if ever.
fn deletion_time(secret: &Secret, grace: Duration) -> Option<Timestamp> {
    if secret.type_.as_deref() != Some(SECRET_TYPE) {
        return None;
    }
    let raw = secret.data.as_ref()?.get("expiration")?;
    let text = String::from_utf8(raw.0.clone()).ok()?;
    let expires: Timestamp = text.trim().parse().ok()?;
    let grace = SignedDuration::try_from(grace).ok()?;
    expires.checked_add(grace).ok()
}

async fn reconcile(client: &Client, grace: Duration, name: &str) -> Result<Action, Error> {
    let Some(secret) = client.get::<Secret>(Some(NAMESPACE), name)? else {
        return Ok(Action::Done);
    };
    let Some(at) = deletion_time(&secret, grace) else {
        return Ok(Action::Done);
    };
    let now = Timestamp::now();
    if at > now {
        let wait = now.duration_until(at).unsigned_abs();
        return Ok(Action::RequeueAfter(wait.max(Duration::from_secs(1))));
    }
    let opts = DeleteOptions {
        precondition_uid: secret.metadata.uid.clone(),
        ..DeleteOptions::default()
    };
    match client.delete::<Secret>(Some(NAMESPACE), name, &opts).await {
        Ok(_) => {
            tracing::info!(secret = name, "deleted an expired bootstrap token");
            Ok(Action::Done)
        }
        Err(e) if e.is_conflict() => Ok(Action::Done),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn token(expiration: Option<&str>) -> Secret {
        let mut data = BTreeMap::new();
        if let Some(e) = expiration {
            data.insert("expiration".to_string(), ByteString(e.as_bytes().to_vec()));
        }
        Secret {
            type_: Some(SECRET_TYPE.into()),
            data: Some(data),
            ..Secret::default()
        }
    }

    #[test]
    fn tokens_go_a_grace_period_after_expiring() {
        let grace = Duration::from_secs(3600);
        assert_eq!(
            deletion_time(&token(Some("2026-01-01T00:00:00Z")), grace),
            "2026-01-01T01:00:00Z".parse().ok()
        );
        assert_eq!(deletion_time(&token(None), grace), None);
        assert_eq!(deletion_time(&token(Some("soon")), grace), None);
        let mut opaque = token(Some("2026-01-01T00:00:00Z"));
        opaque.type_ = Some("Opaque".into());
        assert_eq!(deletion_time(&opaque, grace), None);
    }
}
