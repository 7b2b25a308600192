//! Bootstrap tokens, as kube-apiserver's bootstrap-token authenticator
//! reads them: a bearer token `<id>.<secret>` is checked against the Secret
//! `kube-system/bootstrap-token-<id>` (type `bootstrap.kubernetes.io/token`)
//! and authenticates as `system:bootstrap:<id>` in `system:bootstrappers`
//! plus the Secret's `auth-extra-groups`.
//!
//! Verge adds a use limit: `verge token create --uses N` stores
//! [`MAX_JOINS_KEY`], and each node that joins with the token is recorded in
//! [`JOINED_KEY`] when its certificate signing request is created
//! ([`record_join`]). A node that retries is not counted twice.

use base64::Engine;
use jiff::Timestamp;
use serde_json::{Value, json};
use verge_pki::Identity;
use verge_pki::join_token;

use crate::cache::WatchCache;
use crate::registry::Registry;
use crate::resources::{Part, Resources, WriteOptions};
use crate::status::{ApiError, ApiResult};

/// Namespace of bootstrap token Secrets.
pub const NAMESPACE: &str = "kube-system";
/// Name prefix of bootstrap token Secrets.
pub const SECRET_PREFIX: &str = "bootstrap-token-";
/// Type of bootstrap token Secrets.
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// User name prefix of a bootstrap token's user.
pub const USER_PREFIX: &str = "system:bootstrap:";
/// The group every bootstrap token user is in.
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";
/// The extra group `verge token create` gives its tokens (kubeadm's
/// `system:bootstrappers:kubeadm:default-node-token`, in Verge's name).
pub const DEFAULT_NODE_TOKEN_GROUP: &str = "system:bootstrappers:verge:default-node-token";
/// Data key: the most nodes that may join with the token (decimal).
pub const MAX_JOINS_KEY: &str = "verge-max-joins";
/// Data key: the nodes that joined with the token, comma-separated.
pub const JOINED_KEY: &str = "verge-joined-nodes";

/// The Secret name of token `id`.
pub fn secret_name(id: &str) -> String {
    format!("{SECRET_PREFIX}{id}")
}

/// Whether a bearer token has the bootstrap-token shape (`[a-z0-9]{6}.[a-z0-9]{16}`);
/// service-account JWTs never do.
pub fn is_bootstrap_token(token: &str) -> bool {
    join_token::parse_bootstrap_token(token).is_ok()
}

/// The token id of a bootstrap token user, if `user` is one.
pub fn token_id_of(user: &str) -> Option<&str> {
    user.strip_prefix(USER_PREFIX)
        .filter(|id| join_token::is_token_id(id))
}

/// A bootstrap token Secret's `data`, decoded.
struct TokenData {
    fields: serde_json::Map<String, Value>,
}

impl TokenData {
    fn of(secret: &Value) -> TokenData {
        let fields = secret
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        TokenData { fields }
    }

    fn get(&self, key: &str) -> Option<String> {
        let encoded = self.fields.get(key)?.as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        String::from_utf8(bytes).ok()
    }
}

/// Authenticates a bootstrap token against its Secret in the watch cache
/// (brought up to date with the store first, so that a token created a
/// moment ago on another connection is known). The error is the reason
/// shown to the client in a 401.
pub async fn authenticate(
    token: &str,
    registry: &Registry,
    cache: &WatchCache,
    now: Timestamp,
) -> Result<Identity, String> {
    let (id, secret) = join_token::parse_bootstrap_token(token).map_err(|e| e.to_string())?;
    let rt = registry
        .lookup("", "v1", "secrets")
        .ok_or("secrets are not served")?;
    let unknown = || {
        format!(
            "unknown join token {id}: there is no bootstrap token with that id (it was deleted, \
             or belongs to another cluster); create a new one with `verge token create`"
        )
    };
    let key = rt.storage_key(Some(NAMESPACE), &secret_name(id));
    let stored = match cache.get(&key).await {
        Ok(found) => found,
        // The store is slow or unreachable: what the cache has will do.
        Err(_) => cache.get_now(&key),
    };
    let Some(stored) = stored else {
        return Err(unknown());
    };
    let stored = stored.value();
    if stored.get("type").and_then(Value::as_str) != Some(SECRET_TYPE) {
        return Err(unknown());
    }
    let data = TokenData::of(&stored);
    if data.get("token-id").as_deref() != Some(id) {
        return Err(unknown());
    }
    let Some(want) = data.get("token-secret") else {
        return Err(unknown());
    };
    if !join_token::secret_eq(&want, secret) {
        return Err(format!("the secret of join token {id} is wrong"));
    }
    if data.get("usage-bootstrap-authentication").as_deref() != Some("true") {
        return Err(format!(
            "join token {id} may not be used for authentication \
             (usage-bootstrap-authentication is not \"true\")"
        ));
    }
    if let Some(expiration) = data.get("expiration") {
        let expires: Timestamp = expiration
            .parse()
            .map_err(|_| format!("join token {id} has an unreadable expiration {expiration:?}"))?;
        if expires <= now {
            return Err(format!(
                "join token {id} expired at {expires}; create a new one with `verge token create`"
            ));
        }
    }
    if stored.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(unknown());
    }
    let mut groups = vec![BOOTSTRAPPERS_GROUP.to_string()];
    if let Some(extra) = data.get("auth-extra-groups") {
        for group in extra.split(',').map(str::trim) {
            // kube only honours extra groups under system:bootstrappers:.
            if group.starts_with("system:bootstrappers:") && !groups.iter().any(|g| g == group) {
                groups.push(group.to_string());
            }
        }
    }
    groups.push("system:authenticated".to_string());
    Ok(Identity {
        user: format!("{USER_PREFIX}{id}"),
        groups,
    })
}

/// How many more joins a token allows, given its data: `None` = no limit.
fn remaining(max: Option<&str>, joined: &[&str]) -> Result<Option<usize>, String> {
    let Some(max) = max else {
        return Ok(None);
    };
    let max: usize = max
        .trim()
        .parse()
        .map_err(|_| format!("its {MAX_JOINS_KEY} value {max:?} is not a number"))?;
    Ok(Some(max.saturating_sub(joined.len())))
}

fn joined_list(joined: Option<&str>) -> Vec<&str> {
    joined
        .map(|j| {
            j.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Records that `node` joins with token `id`, refusing when the token's
/// use limit is reached. The Secret is written with a resourceVersion
/// precondition, so two nodes racing for the last use cannot both win.
pub async fn record_join(resources: &Resources, id: &str, node: &str) -> ApiResult<()> {
    let rt = resources
        .registry
        .lookup("", "v1", "secrets")
        .ok_or_else(|| ApiError::internal("secrets are not served"))?;
    let name = secret_name(id);
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let current = match resources.get(&rt, Some(NAMESPACE), &name).await {
            Ok(c) => c,
            Err(e) if e.code == http::StatusCode::NOT_FOUND => {
                return Err(ApiError::unauthorized_because(&format!(
                    "join token {id} was deleted; create a new one with `verge token create`"
                )));
            }
            Err(e) => return Err(e),
        };
        let secret = current.value();
        let data = TokenData::of(&secret);
        let max = data.get(MAX_JOINS_KEY);
        let joined_text = data.get(JOINED_KEY);
        let joined = joined_list(joined_text.as_deref());
        let left = remaining(max.as_deref(), &joined).map_err(|why| {
            ApiError::internal(format!("bootstrap token Secret {NAMESPACE}/{name}: {why}"))
        })?;
        let Some(left) = left else {
            return Ok(());
        };
        if joined.contains(&node) {
            return Ok(());
        }
        if left == 0 {
            tracing::info!(token = id, node, joined = ?joined, "join refused: token used up");
            return Err(ApiError::unauthorized_because(&format!(
                "join token {id} is used up: it allowed {} join(s) and was used by {}; create a \
                 new one with `verge token create`",
                joined.len(),
                joined.join(", ")
            )));
        }
        let mut nodes: Vec<&str> = joined.clone();
        nodes.push(node);
        let encoded = base64::engine::general_purpose::STANDARD.encode(nodes.join(","));
        let revision = current.revision.to_string();
        let written = resources
            .update(
                &rt,
                Some(NAMESPACE),
                &name,
                Part::Main,
                &WriteOptions {
                    field_manager: Some("verge-bootstrap-token".into()),
                    ..WriteOptions::default()
                },
                |old| {
                    let mut new = old.clone();
                    new["metadata"]["resourceVersion"] = json!(revision);
                    new["data"][JOINED_KEY] = json!(encoded);
                    Ok(new)
                },
            )
            .await;
        match written {
            Ok(_) => {
                tracing::info!(
                    token = id,
                    node,
                    left = left - 1,
                    "node joined with a bootstrap token"
                );
                return Ok(());
            }
            // Another join got there first: read again and recount.
            Err(e) if e.code == http::StatusCode::CONFLICT => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::unavailable(format!(
        "join token {id} is being used by many nodes at once; retry"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_joined_nodes() {
        assert_eq!(remaining(None, &[]), Ok(None));
        assert_eq!(remaining(Some("2"), &["a"]), Ok(Some(1)));
        assert_eq!(remaining(Some("1"), &["a", "b"]), Ok(Some(0)));
        assert!(remaining(Some("x"), &[]).is_err());
        assert_eq!(joined_list(Some("a, b,,c")), vec!["a", "b", "c"]);
        assert!(joined_list(None).is_empty());
    }

    #[test]
    fn token_ids_of_bootstrap_users() {
        assert_eq!(token_id_of("system:bootstrap:abcdef"), Some("abcdef"));
        assert_eq!(token_id_of("system:bootstrap:ABC"), None);
        assert_eq!(token_id_of("system:node:a"), None);
        assert!(is_bootstrap_token("abcdef.0123456789abcdef"));
        assert!(!is_bootstrap_token("eyJhbGciOi.x.y"));
    }
}
