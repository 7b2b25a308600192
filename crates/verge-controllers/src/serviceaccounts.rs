//! Service accounts, as Kubernetes' service-account and token controllers
//! keep them:
//!
//! - every namespace that is not terminating has a `default` ServiceAccount,
//!   created when the namespace appears and again if it is deleted;
//! - a Secret of type `kubernetes.io/service-account-token` annotated with
//!   `kubernetes.io/service-account.name` gets `token`, `ca.crt` and
//!   `namespace` filled in (a legacy, non-expiring token signed with the
//!   same key as TokenRequest tokens) and the account's uid recorded; such a
//!   Secret whose account does not exist (or is another account by now) is
//!   deleted, so its token dies with the account.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use verge_apiserver::tokens::Tokens;
use verge_runtime::{
    Action, CachedObject, Client, ControllerMetrics, DeleteOptions, Error, Event, Index, Part,
    Queue,
};

const NAME: &str = "serviceaccount";
const DEFAULT: &str = "default";
pub const TOKEN_SECRET_TYPE: &str = "kubernetes.io/service-account-token";
pub const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
pub const SA_UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";

/// What the controller needs from the API server.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Signs legacy tokens; without it token Secrets are left unfilled.
    pub tokens: Option<Arc<Tokens>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    /// Make sure the namespace has its `default` account.
    Namespace(String),
    /// Fill in (or delete) a token Secret.
    Secret(String, String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Namespace(ns) => write!(f, "namespace {ns}"),
            Key::Secret(ns, name) => write!(f, "secret {ns}/{name}"),
        }
    }
}

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>, settings: Settings) {
    let watchers = (
        client.watcher::<Namespace>(None),
        client.watcher::<ServiceAccount>(None),
        client.watcher::<Secret>(None),
    );
    let (Ok(mut namespaces), Ok(mut accounts), Ok(mut secrets)) = watchers else {
        tracing::error!(
            "service-account controller cannot watch namespaces, service accounts and secrets"
        );
        return;
    };
    let queue: Queue<Key> = Queue::new();
    let controller = Arc::new(Controller {
        client,
        tokens: settings.tokens,
    });
    if controller.tokens.is_none() {
        tracing::warn!("no service-account signing key: token Secrets stay unfilled");
    }
    let workers = tokio::spawn(verge_runtime::run(
        NAME,
        queue.clone(),
        2,
        metrics,
        controller.clone(),
        |c, key| async move { c.reconcile(key).await },
    ));
    // Token Secrets by the account they name ("ns/name").
    let mut by_account = Index::new();
    loop {
        tokio::select! {
            e = namespaces.next() => match e {
                Some(Event::Applied(o)) => queue.add(Key::Namespace(name_of(&o))),
                Some(Event::Relisted(all)) => {
                    for o in all {
                        queue.add(Key::Namespace(name_of(&o)));
                    }
                }
                Some(Event::Deleted(_)) => {}
                None => break,
            },
            e = accounts.next() => match e {
                Some(Event::Applied(o)) => account_changed(&o, &by_account, &queue, false),
                Some(Event::Deleted(o)) => account_changed(&o, &by_account, &queue, true),
                Some(Event::Relisted(all)) => {
                    for o in all {
                        account_changed(&o, &by_account, &queue, false);
                    }
                }
                None => break,
            },
            e = secrets.next() => match e {
                Some(Event::Applied(o)) => secret_changed(&o, &mut by_account, &queue),
                Some(Event::Deleted(o)) => by_account.remove(&o.key),
                Some(Event::Relisted(all)) => {
                    by_account.clear();
                    for o in all {
                        secret_changed(&o, &mut by_account, &queue);
                    }
                }
                None => break,
            },
        }
    }
    queue.close();
    let _ = workers.await;
}

/// The namespace and name of a namespaced object, from its storage key.
fn ns_name(key: &str) -> Option<(String, String)> {
    let mut parts = key.rsplitn(3, '/');
    let name = parts.next()?;
    let ns = parts.next()?;
    Some((ns.to_owned(), name.to_owned()))
}

fn name_of(obj: &CachedObject) -> String {
    obj.key.rsplit('/').next().unwrap_or_default().to_owned()
}

fn account_changed(obj: &CachedObject, by_account: &Index, queue: &Queue<Key>, deleted: bool) {
    let Some((ns, name)) = ns_name(&obj.key) else {
        return;
    };
    if deleted && name == DEFAULT {
        queue.add(Key::Namespace(ns.clone()));
    }
    for key in by_account.get(&format!("{ns}/{name}")) {
        if let Some((sns, sname)) = ns_name(key) {
            queue.add(Key::Secret(sns, sname));
        }
    }
}

fn secret_changed(obj: &CachedObject, by_account: &mut Index, queue: &Queue<Key>) {
    // Cheap test before decoding: most Secrets are not token Secrets.
    if !contains(&obj.bytes, TOKEN_SECRET_TYPE.as_bytes()) {
        by_account.remove(&obj.key);
        return;
    }
    let Ok(secret) = Client::decode::<Secret>(obj) else {
        return;
    };
    if secret.type_.as_deref() != Some(TOKEN_SECRET_TYPE) {
        by_account.remove(&obj.key);
        return;
    }
    let ns = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    match annotation(&secret.metadata, SA_NAME_ANNOTATION) {
        Some(sa) => by_account.set(&obj.key, vec![format!("{ns}/{sa}")]),
        None => by_account.remove(&obj.key),
    }
    queue.add(Key::Secret(ns, name));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

struct Controller {
    client: Client,
    tokens: Option<Arc<Tokens>>,
}

impl Controller {
    async fn reconcile(self: Arc<Self>, key: Key) -> Result<Action, Error> {
        match key {
            Key::Namespace(ns) => self.ensure_default(&ns).await,
            Key::Secret(ns, name) => self.fill_token(&ns, &name).await,
        }
    }

    async fn ensure_default(&self, ns: &str) -> Result<Action, Error> {
        let Some(namespace) = self.client.get::<Namespace>(None, ns)? else {
            return Ok(Action::Done);
        };
        if namespace.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        if self
            .client
            .get::<ServiceAccount>(Some(ns), DEFAULT)?
            .is_some()
        {
            return Ok(Action::Done);
        }
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(DEFAULT.to_owned()),
                namespace: Some(ns.to_owned()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        match self.client.create(&sa).await {
            Ok(_) => {
                tracing::info!(namespace = ns, "created the default service account");
                Ok(Action::Done)
            }
            // Someone made it first, or the namespace started terminating.
            Err(e) if e.is_already_exists() || e.reason() == Some("Forbidden") => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }

    async fn fill_token(&self, ns: &str, name: &str) -> Result<Action, Error> {
        let Some(secret) = self.client.get::<Secret>(Some(ns), name)? else {
            return Ok(Action::Done);
        };
        if secret.type_.as_deref() != Some(TOKEN_SECRET_TYPE)
            || secret.metadata.deletion_timestamp.is_some()
        {
            return Ok(Action::Done);
        }
        let Some(sa_name) = annotation(&secret.metadata, SA_NAME_ANNOTATION).map(str::to_owned)
        else {
            return Ok(Action::Done);
        };
        let secret_uid = secret.metadata.uid.clone().unwrap_or_default();
        let account = self.client.get::<ServiceAccount>(Some(ns), &sa_name)?;
        let sa_uid = account
            .as_ref()
            .filter(|a| a.metadata.deletion_timestamp.is_none())
            .and_then(|a| a.metadata.uid.clone());
        let recorded = annotation(&secret.metadata, SA_UID_ANNOTATION);
        let Some(sa_uid) = sa_uid.filter(|u| recorded.is_none_or(|r| r == u)) else {
            // The account is gone (or is another one by now): so is its token.
            tracing::info!(namespace = ns, secret = name, serviceaccount = %sa_name, "deleting the token secret of a service account that does not exist");
            let opts = DeleteOptions {
                precondition_uid: Some(secret_uid),
                ..DeleteOptions::default()
            };
            return match self.client.delete::<Secret>(Some(ns), name, &opts).await {
                Ok(_) => Ok(Action::Done),
                Err(e) if e.is_conflict() => Ok(Action::Done),
                Err(e) => Err(e),
            };
        };
        let Some(tokens) = &self.tokens else {
            return Ok(Action::Done);
        };
        let data = secret.data.clone().unwrap_or_default();
        let filled = ["token", "ca.crt", "namespace"]
            .iter()
            .all(|k| data.get(*k).is_some_and(|v| !v.0.is_empty()))
            && recorded.is_some();
        if filled {
            return Ok(Action::Done);
        }
        let token = tokens
            .issue_legacy(ns, name, &sa_name, &sa_uid)
            .map_err(|e| Error::Other(e.to_string()))?;
        let ca = tokens.ca_pem().to_owned();
        self.client
            .update::<Secret, _>(Some(ns), name, Part::Main, |s| {
                if s.metadata.uid.as_deref() != Some(secret_uid.as_str()) {
                    return Ok(());
                }
                let data = s.data.get_or_insert_with(BTreeMap::new);
                if data.get("token").is_none_or(|t| t.0.is_empty()) {
                    data.insert("token".into(), ByteString(token.clone().into_bytes()));
                }
                data.insert("ca.crt".into(), ByteString(ca.clone().into_bytes()));
                data.insert("namespace".into(), ByteString(ns.as_bytes().to_vec()));
                s.metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(SA_UID_ANNOTATION.into(), sa_uid.clone());
                Ok(())
            })
            .await?;
        tracing::info!(namespace = ns, secret = name, serviceaccount = %sa_name, "filled in a service-account token secret");
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_what_they_reconcile() {
        assert_eq!(Key::Namespace("a".into()).to_string(), "namespace a");
        assert_eq!(
            Key::Secret("a".into(), "t".into()).to_string(),
            "secret a/t"
        );
        assert!(contains(
            b"xx kubernetes.io/service-account-token yy",
            TOKEN_SECRET_TYPE.as_bytes()
        ));
        assert!(!contains(b"Opaque", TOKEN_SECRET_TYPE.as_bytes()));
        assert_eq!(
            ns_name("/registry/secrets/ns1/tok"),
            Some(("ns1".to_owned(), "tok".to_owned()))
        );
    }
}
