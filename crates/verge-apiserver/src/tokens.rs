//! Service-account tokens: signed JWTs (ES256) issued by the TokenRequest
//! subresource (`kubectl create token`) and, for legacy Secrets of type
//! `kubernetes.io/service-account-token`, by the service-account controller;
//! verified when a client presents one as `Authorization: Bearer`.
//!
//! Claims follow Kubernetes, so tools that read them (and OIDC verifiers
//! using `/.well-known/openid-configuration` and `/openid/v1/jwks`) work:
//! `iss`, `sub` = `system:serviceaccount:NS:NAME`, `aud`, `exp`, `iat`,
//! `nbf`, `jti`, and `kubernetes.io` with the namespace, the service account
//! and the object the token is bound to. A token is only as valid as what it
//! names: the service account (and bound pod, secret or node) must still
//! exist with the uid in the token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;
use verge_pki::{Identity, ServiceAccountKey};

use crate::cache::WatchCache;
use crate::registry::Registry;

/// The issuer of bound tokens, and the audience the API server accepts.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The issuer Kubernetes writes into legacy secret-based tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";
/// Lifetime of a TokenRequest that asks for none (Kubernetes' default).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime a TokenRequest may ask for.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest: 2^32 seconds, as Kubernetes caps it.
pub const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// Clock skew tolerated on `nbf` and `exp`.
const LEEWAY_SECONDS: i64 = 60;

pub const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the service-account signing key is unusable: {0}")]
    Key(String),
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

/// An object a token is bound to (and dies with).
#[derive(Clone, Debug, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct ObjectClaim {
    pub name: String,
    pub uid: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct KubernetesClaims {
    pub namespace: String,
    pub serviceaccount: ObjectClaim,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectClaim>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectClaim>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectClaim>,
}

#[derive(Debug, Serialize, Deserialize, Default)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aud: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(
        rename = "kubernetes.io",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kubernetes: Option<KubernetesClaims>,
    #[serde(
        rename = "kubernetes.io/serviceaccount/namespace",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    legacy_namespace: Option<String>,
    #[serde(
        rename = "kubernetes.io/serviceaccount/secret.name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    legacy_secret: Option<String>,
    #[serde(
        rename = "kubernetes.io/serviceaccount/service-account.name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    legacy_sa_name: Option<String>,
    #[serde(
        rename = "kubernetes.io/serviceaccount/service-account.uid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    legacy_sa_uid: Option<String>,
}

/// What a TokenRequest asks for, once checked.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    pub claims: KubernetesClaims,
    /// Empty: the API server's own audience.
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
}

/// A token issued, with what to report back.
#[derive(Clone, Debug)]
pub struct Issued {
    pub token: String,
    pub expires: jiff::Timestamp,
    pub audiences: Vec<String>,
}

/// Issues and verifies service-account tokens with one signing key.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    jwk: Value,
    ca_pem: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// `ca_pem` is handed out with legacy tokens (`ca.crt`).
    pub fn new(key: &ServiceAccountKey, ca_pem: &str) -> Result<Tokens, TokenError> {
        let point = key.public_point();
        if point.len() != 65 || point[0] != 4 {
            return Err(TokenError::Key(
                "the public key is not an uncompressed P-256 point".into(),
            ));
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        // Kubernetes' key id: the hash of the public key's DER.
        let kid = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(key.public_der()));
        let decoding =
            DecodingKey::from_ec_components(&x, &y).map_err(|e| TokenError::Key(e.to_string()))?;
        Ok(Tokens {
            encoding: EncodingKey::from_ec_der(key.pkcs8_der()),
            decoding,
            jwk: json!({"use": "sig", "kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256", "x": x, "y": y}),
            kid,
            ca_pem: ca_pem.to_owned(),
        })
    }

    /// The cluster CA certificate (PEM), for `ca.crt` in legacy token Secrets.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| TokenError::Sign(e.to_string()))
    }

    /// A bound, expiring token (TokenRequest).
    pub fn issue(&self, spec: &TokenSpec) -> Result<Issued, TokenError> {
        let now = jiff::Timestamp::now();
        let exp = now.as_second() + spec.expiration_seconds;
        let audiences = if spec.audiences.is_empty() {
            vec![ISSUER.to_owned()]
        } else {
            spec.audiences.clone()
        };
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: user_name(&spec.claims.namespace, &spec.claims.serviceaccount.name),
            aud: audiences.clone(),
            exp: Some(exp),
            iat: Some(now.as_second()),
            nbf: Some(now.as_second()),
            jti: Some(uuid::Uuid::new_v4().to_string()),
            kubernetes: Some(spec.claims.clone()),
            ..Claims::default()
        };
        Ok(Issued {
            token: self.sign(&claims)?,
            expires: jiff::Timestamp::from_second(exp).unwrap_or(jiff::Timestamp::MAX),
            audiences,
        })
    }

    /// A legacy token for a `kubernetes.io/service-account-token` Secret:
    /// no expiry, valid while the Secret and the service account exist.
    pub fn issue_legacy(
        &self,
        namespace: &str,
        secret: &str,
        sa_name: &str,
        sa_uid: &str,
    ) -> Result<String, TokenError> {
        self.sign(&Claims {
            iss: LEGACY_ISSUER.to_owned(),
            sub: user_name(namespace, sa_name),
            legacy_namespace: Some(namespace.to_owned()),
            legacy_secret: Some(secret.to_owned()),
            legacy_sa_name: Some(sa_name.to_owned()),
            legacy_sa_uid: Some(sa_uid.to_owned()),
            ..Claims::default()
        })
    }

    /// Who presents `token`, or why it is refused (said in the 401).
    pub fn authenticate(
        &self,
        token: &str,
        registry: &Registry,
        cache: &WatchCache,
    ) -> Result<Identity, String> {
        self.authenticate_at(token, registry, cache, jiff::Timestamp::now().as_second())
    }

    fn authenticate_at(
        &self,
        token: &str,
        registry: &Registry,
        cache: &WatchCache,
        now: i64,
    ) -> Result<Identity, String> {
        let claims = self.verify(token, now)?;
        let lookup = Lookup { registry, cache };
        let (namespace, sa_name) = if claims.iss == ISSUER {
            let k = claims
                .kubernetes
                .as_ref()
                .ok_or("the token names no service account")?;
            lookup.check("serviceaccounts", Some(&k.namespace), &k.serviceaccount)?;
            if let Some(pod) = &k.pod {
                lookup.check("pods", Some(&k.namespace), pod)?;
            }
            if let Some(secret) = &k.secret {
                lookup.check("secrets", Some(&k.namespace), secret)?;
            }
            if let Some(node) = &k.node {
                lookup.check("nodes", None, node)?;
            }
            (k.namespace.clone(), k.serviceaccount.name.clone())
        } else {
            let (Some(ns), Some(secret), Some(name), Some(uid)) = (
                &claims.legacy_namespace,
                &claims.legacy_secret,
                &claims.legacy_sa_name,
                &claims.legacy_sa_uid,
            ) else {
                return Err("the token names no service account".into());
            };
            lookup.check(
                "serviceaccounts",
                Some(ns),
                &ObjectClaim {
                    name: name.clone(),
                    uid: uid.clone(),
                },
            )?;
            // A legacy token dies with its Secret (and must be the one it holds).
            let stored = lookup
                .get("secrets", Some(ns), secret)
                .and_then(|s| {
                    s.pointer("/data/token")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok());
            if stored.as_deref() != Some(token.as_bytes()) {
                return Err(format!(
                    "the token's secret {ns}/{secret} no longer holds it"
                ));
            }
            (ns.clone(), name.clone())
        };
        Ok(Identity {
            user: user_name(&namespace, &sa_name),
            groups: vec![
                SERVICE_ACCOUNTS_GROUP.to_owned(),
                format!("{SERVICE_ACCOUNTS_GROUP}:{namespace}"),
                AUTHENTICATED_GROUP.to_owned(),
            ],
        })
    }

    /// Signature, issuer, lifetime and audience.
    fn verify(&self, token: &str, now: i64) -> Result<Claims, String> {
        let mut v = Validation::new(Algorithm::ES256);
        // Checked below, with messages of our own and legacy tokens in mind.
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => {
                    "the token's signature does not verify: it was not issued by this cluster (or was altered)".to_owned()
                }
                ErrorKind::InvalidAlgorithm => {
                    "the token is not signed with ES256 by this cluster".to_owned()
                }
                _ => format!("the bearer token is not a valid service-account token ({e})"),
            }
        })?;
        let c = data.claims;
        match c.iss.as_str() {
            ISSUER => {
                let exp = c.exp.ok_or("the token has no expiry")?;
                if now > exp + LEEWAY_SECONDS {
                    let at = jiff::Timestamp::from_second(exp)
                        .map(|t| t.to_string())
                        .unwrap_or_else(|_| exp.to_string());
                    return Err(format!("the token has expired (at {at})"));
                }
                if c.nbf.is_some_and(|nbf| now + LEEWAY_SECONDS < nbf) {
                    return Err("the token is not valid yet".into());
                }
                if !c.aud.iter().any(|a| a == ISSUER) {
                    return Err(format!(
                        "the token's audiences {:?} do not include this API server ({ISSUER})",
                        c.aud
                    ));
                }
            }
            LEGACY_ISSUER => {}
            other => return Err(format!("the token's issuer {other:?} is not this cluster")),
        }
        Ok(c)
    }

    /// `/.well-known/openid-configuration` for `api_url`.
    pub fn openid_configuration(&self, api_url: &str) -> Value {
        json!({
            "issuer": ISSUER,
            "jwks_uri": format!("{}/openid/v1/jwks", api_url.trim_end_matches('/')),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    }

    /// `/openid/v1/jwks`: the public key tokens are verified with.
    pub fn jwks(&self) -> Value {
        json!({"keys": [self.jwk.clone()]})
    }
}

/// `system:serviceaccount:NS:NAME`.
pub fn user_name(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Reads the objects a token names from the watch cache.
struct Lookup<'a> {
    registry: &'a Registry,
    cache: &'a WatchCache,
}

impl Lookup<'_> {
    fn get(&self, plural: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let rt = self.registry.lookup("", "v1", plural)?;
        self.cache
            .get_now(&rt.storage_key(namespace, name))
            .map(|o| o.value())
    }

    /// The object exists, has the uid in the token and is not being deleted.
    fn check(
        &self,
        plural: &str,
        namespace: Option<&str>,
        want: &ObjectClaim,
    ) -> Result<(), String> {
        let what = match namespace {
            Some(ns) => format!("{} {ns}/{}", singular(plural), want.name),
            None => format!("{} {}", singular(plural), want.name),
        };
        let obj = self
            .get(plural, namespace, &want.name)
            .ok_or_else(|| format!("the token's {what} does not exist (any more)"))?;
        if crate::object::uid(&obj) != want.uid {
            return Err(format!(
                "the token's {what} was deleted; the one there now is another object (uid {})",
                crate::object::uid(&obj)
            ));
        }
        if crate::object::is_deleting(&obj) {
            return Err(format!("the token's {what} is being deleted"));
        }
        Ok(())
    }
}

fn singular(plural: &str) -> &str {
    match plural {
        "serviceaccounts" => "service account",
        "pods" => "pod",
        "secrets" => "secret",
        "nodes" => "node",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> (tempfile::TempDir, Tokens) {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = ServiceAccountKey::load_or_create(dir.path()).expect("key");
        let t = Tokens::new(&key, "ca").expect("tokens");
        (dir, t)
    }

    fn spec() -> TokenSpec {
        TokenSpec {
            claims: KubernetesClaims {
                namespace: "default".into(),
                serviceaccount: ObjectClaim {
                    name: "default".into(),
                    uid: "u1".into(),
                },
                ..KubernetesClaims::default()
            },
            audiences: vec![],
            expiration_seconds: 3600,
        }
    }

    #[test]
    fn issued_tokens_verify_with_kubernetes_claims() {
        let (_d, t) = tokens();
        let issued = t.issue(&spec()).expect("issue");
        let now = jiff::Timestamp::now().as_second();
        let c = t.verify(&issued.token, now).expect("verifies");
        assert_eq!(c.sub, "system:serviceaccount:default:default");
        assert_eq!(c.aud, vec![ISSUER.to_owned()]);
        assert_eq!(c.exp, Some(issued.expires.as_second()));
        assert_eq!(
            c.kubernetes.expect("kubernetes.io").serviceaccount.uid,
            "u1"
        );
        // The header names the key that the JWKS publishes.
        let header = jsonwebtoken::decode_header(&issued.token).expect("header");
        assert_eq!(header.kid.as_deref(), t.jwks()["keys"][0]["kid"].as_str());
    }

    #[test]
    fn expired_forged_and_foreign_tokens_are_refused() {
        let (_d, t) = tokens();
        let issued = t.issue(&spec()).expect("issue");
        let later = issued.expires.as_second() + LEEWAY_SECONDS + 1;
        let err = t.verify(&issued.token, later).expect_err("expired");
        assert!(err.contains("expired"), "{err}");

        let (_d2, other) = tokens();
        let foreign = other.issue(&spec()).expect("issue");
        let err = t
            .verify(&foreign.token, jiff::Timestamp::now().as_second())
            .expect_err("foreign");
        assert!(err.contains("not issued by this cluster"), "{err}");

        // Altering the payload breaks the signature.
        let mut parts: Vec<String> = issued.token.split('.').map(str::to_owned).collect();
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
        payload["sub"] = json!("system:serviceaccount:kube-system:admin");
        parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        let err = t
            .verify(&parts.join("."), jiff::Timestamp::now().as_second())
            .expect_err("forged");
        assert!(err.contains("signature"), "{err}");

        assert!(t.verify("not-a-jwt", 0).is_err());

        let mut other_audience = spec();
        other_audience.audiences = vec!["vault".into()];
        let issued = t.issue(&other_audience).expect("issue");
        let err = t
            .verify(&issued.token, jiff::Timestamp::now().as_second())
            .expect_err("audience");
        assert!(err.contains("audiences"), "{err}");
    }

    #[test]
    fn legacy_tokens_have_no_expiry() {
        let (_d, t) = tokens();
        let token = t
            .issue_legacy("ns", "sa-token", "builder", "u2")
            .expect("issue");
        let c = t.verify(&token, i64::MAX / 2).expect("verifies for ever");
        assert_eq!(c.iss, LEGACY_ISSUER);
        assert_eq!(c.legacy_sa_name.as_deref(), Some("builder"));
        assert_eq!(c.sub, "system:serviceaccount:ns:builder");
    }
}
