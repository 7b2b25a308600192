//! ServiceAccounts and their tokens against a real `verge server`: the
//! `default` account of every namespace, `kubectl create token`
//! (TokenRequest), bearer-token authentication (the API then authorizes the
//! account's user, and refuses with 403), 401 for forged, foreign-audience
//! and orphaned tokens, legacy token Secrets, and the OIDC documents.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Cluster, eventually};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

fn sa_uid(c: &Cluster, ns: &str, name: &str) -> Option<String> {
    let out = c.kubectl(&[
        "-n",
        ns,
        "get",
        "serviceaccount",
        name,
        "--ignore-not-found",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let uid = out.trim().to_owned();
    (!uid.is_empty()).then_some(uid)
}

fn wait_for_sa(c: &Cluster, ns: &str, name: &str) -> String {
    eventually(&format!("serviceaccount {ns}/{name}"), WAIT, || {
        sa_uid(c, ns, name)
    })
}

/// The JSON payload of a JWT.
fn claims(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url payload"))
        .expect("JSON payload")
}

fn header(token: &str) -> Value {
    let first = token.split('.').next().expect("header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(first).expect("base64url header"))
        .expect("JSON header")
}

/// A kubeconfig for kubectl that authenticates with `token` only.
fn token_kubeconfig(c: &Cluster, name: &str, token: &str) -> PathBuf {
    let raw = c.kubectl(&["config", "view", "--raw", "--minify", "-o", "json"]);
    let mut kc: Value = serde_json::from_str(&raw).expect("kubeconfig JSON");
    kc["users"][0]["user"] = serde_json::json!({ "token": token });
    c.write_file(name, &kc.to_string())
}

/// A kube-rs client that authenticates with `token` only.
async fn token_client(c: &Cluster, token: &str) -> kube::Client {
    let mut kc = kube::config::Kubeconfig::read_from(&c.kubeconfig).expect("read kubeconfig");
    for named in &mut kc.auth_infos {
        if let Some(a) = named.auth_info.as_mut() {
            a.client_certificate_data = None;
            a.client_key_data = None;
            a.token = Some(token.to_owned().into());
        }
    }
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kube config");
    kube::Client::try_from(config).expect("kube client")
}

/// The HTTP code and message a token gets for listing pods.
async fn verdict(c: &Cluster, token: &str) -> (u16, String) {
    let pods: Api<Pod> = Api::namespaced(token_client(c, token).await, "default");
    match pods.list(&ListParams::default()).await {
        Ok(_) => (200, String::new()),
        Err(kube::Error::Api(s)) => (s.code, s.message),
        Err(e) => panic!("unexpected client error: {e}"),
    }
}

fn create_token(c: &Cluster, args: &[&str]) -> String {
    let mut all = vec!["create", "token"];
    all.extend_from_slice(args);
    c.kubectl(&all).trim().to_owned()
}

#[test]
fn every_namespace_gets_a_default_service_account() {
    let c = Cluster::start_with(&["--controllers", "serviceaccount"]);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        wait_for_sa(&c, ns, "default");
    }
    c.kubectl(&["create", "namespace", "team"]);
    let first = wait_for_sa(&c, "team", "default");
    c.kubectl(&["-n", "team", "delete", "serviceaccount", "default"]);
    let second = eventually("the default account to come back", WAIT, || {
        sa_uid(&c, "team", "default").filter(|u| *u != first)
    });
    assert_ne!(first, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_token_issues_a_jwt_the_api_accepts() {
    let mut c = Cluster::start_with(&["--controllers", "serviceaccount"]);
    let uid = wait_for_sa(&c, "default", "default");

    let token = create_token(&c, &["default"]);
    let cl = claims(&token);
    assert_eq!(cl["iss"], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(cl["sub"], "system:serviceaccount:default:default");
    assert_eq!(cl["aud"][0], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(cl["kubernetes.io"]["namespace"], "default");
    assert_eq!(cl["kubernetes.io"]["serviceaccount"]["name"], "default");
    assert_eq!(cl["kubernetes.io"]["serviceaccount"]["uid"], uid.as_str());
    let lifetime = cl["exp"].as_i64().expect("exp") - cl["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 3600);
    assert_eq!(cl["nbf"], cl["iat"]);
    assert_eq!(header(&token)["alg"], "ES256");

    let longer = create_token(&c, &["default", "--duration=2h"]);
    let cl = claims(&longer);
    assert_eq!(
        cl["exp"].as_i64().expect("exp") - cl["iat"].as_i64().expect("iat"),
        7200
    );
    let err = c.kubectl_fails(&["create", "token", "default", "--duration=5m"]);
    assert!(err.contains("less than 10 minutes"), "{err}");
    let err = c.kubectl_fails(&["create", "token", "nobody"]);
    assert!(err.contains("not found"), "{err}");

    // Authenticated as the account, then refused by authorization: a 403
    // that names the user, from kubectl and from kube-rs alike.
    let kc = token_kubeconfig(&c, "sa.kubeconfig", &token);
    let out = c
        .kubectl_cmd()
        .args(["--kubeconfig", common::path_str(&kc), "get", "pods"])
        .output()
        .expect("kubectl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("Forbidden"), "{stderr}");
    assert!(
        stderr.contains("system:serviceaccount:default:default"),
        "{stderr}"
    );
    let (code, message) = verdict(&c, &token).await;
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("system:serviceaccount:default:default"));

    // Forged, for another audience, or not a token at all: 401, saying why.
    let mut forged: Vec<u8> = token.clone().into_bytes();
    let at = forged.len() - 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let (code, message) = verdict(&c, &String::from_utf8(forged).expect("utf-8")).await;
    assert_eq!(code, 401, "{message}");
    assert!(message.contains("signature"), "{message}");
    let vault = create_token(&c, &["default", "--audience=vault"]);
    let (code, message) = verdict(&c, &vault).await;
    assert_eq!(code, 401, "{message}");
    assert!(message.contains("audiences"), "{message}");
    let (code, _) = verdict(&c, "garbage").await;
    assert_eq!(code, 401);

    // The issuer's documents, and the key that verifies the tokens.
    let oidc: Value =
        serde_json::from_str(&c.kubectl(&["get", "--raw", "/.well-known/openid-configuration"]))
            .expect("openid configuration");
    assert_eq!(
        oidc["issuer"],
        "https://kubernetes.default.svc.cluster.local"
    );
    assert!(
        oidc["jwks_uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/openid/v1/jwks"))
    );
    let jwks: Value =
        serde_json::from_str(&c.kubectl(&["get", "--raw", "/openid/v1/jwks"])).expect("jwks");
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert_eq!(jwks["keys"][0]["kid"], header(&token)["kid"]);

    // A token bound to a pod dies with the pod.
    c.kubectl(&["run", "p1", "--image=busybox", "--restart=Never"]);
    let bound = create_token(
        &c,
        &[
            "default",
            "--bound-object-kind=Pod",
            "--bound-object-name=p1",
        ],
    );
    assert_eq!(claims(&bound)["kubernetes.io"]["pod"]["name"], "p1");
    assert_eq!(verdict(&c, &bound).await.0, 403);
    c.kubectl(&["delete", "pod", "p1", "--wait=true"]);
    let (code, message) = verdict(&c, &bound).await;
    assert_eq!(code, 401, "{message}");
    assert!(message.contains("pod default/p1"), "{message}");

    // The signing key survives a restart: old tokens still authenticate.
    c.restart();
    assert_eq!(verdict(&c, &token).await.0, 403);

    // A token of a deleted account stops working, even once an account of
    // the same name is back.
    c.kubectl(&["delete", "serviceaccount", "default"]);
    eventually("the default account to come back", WAIT, || {
        sa_uid(&c, "default", "default").filter(|u| *u != uid)
    });
    let (code, message) = verdict(&c, &token).await;
    assert_eq!(code, 401, "{message}");
    assert!(
        message.contains("service account default/default"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_token_secrets_are_filled_in_and_die_with_their_account() {
    let c = Cluster::start_with(&["--controllers", "serviceaccount"]);
    c.kubectl(&["create", "serviceaccount", "builder"]);
    let uid = wait_for_sa(&c, "default", "builder");
    c.apply(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: builder-token\n  annotations:\n    kubernetes.io/service-account.name: builder\ntype: kubernetes.io/service-account-token\n",
    );
    let data = |key: &str| -> Option<String> {
        let path = format!("{{.data.{}}}", key.replace('.', "\\."));
        let b64 = c.kubectl(&[
            "get",
            "secret",
            "builder-token",
            "-o",
            &format!("jsonpath={path}"),
        ]);
        let bytes = STANDARD.decode(b64.trim()).ok()?;
        let s = String::from_utf8(bytes).ok()?;
        (!s.is_empty()).then_some(s)
    };
    let token = eventually("the token to be filled in", WAIT, || data("token"));
    assert!(
        data("ca.crt").is_some_and(|ca| ca.starts_with("-----BEGIN CERTIFICATE-----")),
        "ca.crt is the cluster CA"
    );
    assert_eq!(data("namespace").as_deref(), Some("default"));
    let recorded = c.kubectl(&[
        "get",
        "secret",
        "builder-token",
        "-o",
        "jsonpath={.metadata.annotations.kubernetes\\.io/service-account\\.uid}",
    ]);
    assert_eq!(recorded.trim(), uid);
    let cl = claims(&token);
    assert_eq!(cl["iss"], "kubernetes/serviceaccount");
    assert_eq!(cl["sub"], "system:serviceaccount:default:builder");
    assert!(cl.get("exp").is_none(), "legacy tokens do not expire");

    let (code, message) = verdict(&c, &token).await;
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("system:serviceaccount:default:builder"));

    // A token Secret for an account that does not exist is deleted.
    c.apply(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ghost-token\n  annotations:\n    kubernetes.io/service-account.name: ghost\ntype: kubernetes.io/service-account-token\n",
    );
    eventually("the ghost token secret to be deleted", WAIT, || {
        c.kubectl(&[
            "get",
            "secret",
            "ghost-token",
            "--ignore-not-found",
            "-o",
            "name",
        ])
        .trim()
        .is_empty()
        .then_some(())
    });

    // Deleting the account deletes its token Secret, and the token stops working.
    c.kubectl(&["delete", "serviceaccount", "builder"]);
    eventually("the builder token secret to be deleted", WAIT, || {
        c.kubectl(&[
            "get",
            "secret",
            "builder-token",
            "--ignore-not-found",
            "-o",
            "name",
        ])
        .trim()
        .is_empty()
        .then_some(())
    });
    let (code, message) = verdict(&c, &token).await;
    assert_eq!(code, 401, "{message}");
}
