//! `verge token create`: makes a join token for edge nodes.
//!
//! The token is stored as Kubernetes stores bootstrap tokens (a Secret
//! `kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token`)
//! through the API with an administrator's kubeconfig, and printed as
//! `V1.<id>.<secret>.<ca-pin>`: the last line of standard output, so that
//! scripts can take it with `tail -n1`. Progress goes to standard error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use verge_apiserver::bootstrap;
use verge_pki::join_token::{self, JoinToken};

#[derive(clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Create a join token and print it (the last line of output).
    ///
    /// A node joins with `verge agent --server https://HOST:6443 --token <token> ...`.
    Create(CreateArgs),
}

#[derive(clap::Args)]
struct CreateArgs {
    /// An administrator's kubeconfig (`<data-dir>/admin.kubeconfig` of `verge server`).
    #[arg(
        long,
        env = "KUBECONFIG",
        default_value = "/var/lib/verge/server/admin.kubeconfig"
    )]
    kubeconfig: PathBuf,

    /// How long the token may be used to join, such as 24h or 30m; 0 = it never expires.
    #[arg(long, default_value = "24h", value_parser = verge_controllers::nodelifecycle::parse_duration)]
    ttl: Duration,

    /// How many nodes may join with the token (default: any number until it expires).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    uses: Option<u32>,

    /// A note for the record (stored in the token's Secret).
    #[arg(long, default_value = "created by verge token create")]
    description: String,
}

pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    match args.command {
        TokenCommand::Create(args) => create(args).await,
    }
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let (client, ca_pem) = connect(&args.kubeconfig).await?;
    let pin = join_token::ca_pin_from_pem(&ca_pem)
        .with_context(|| format!("reading the cluster CA from {}", args.kubeconfig.display()))?;
    let expiration = if args.ttl.is_zero() {
        None
    } else {
        let ttl = jiff::SignedDuration::try_from(args.ttl).context("--ttl is too long")?;
        let at = jiff::Timestamp::now()
            .checked_add(ttl)
            .context("--ttl is too long")?;
        Some(at.round(jiff::Unit::Second).unwrap_or(at))
    };
    let secrets: Api<Secret> = Api::namespaced(client, bootstrap::NAMESPACE);
    // Ids are random; a collision with an existing token is retried.
    for _ in 0..5 {
        let token = JoinToken::generate(pin.clone())?;
        let secret = token_secret(&token, expiration, &args);
        match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => {
                match expiration {
                    Some(at) => eprintln!("created join token {} (expires {at})", token.id),
                    None => eprintln!("created join token {} (never expires)", token.id),
                }
                if let Some(uses) = args.uses {
                    eprintln!("it may be used by {uses} node(s)");
                }
                eprintln!(
                    "join a node with: verge agent --server https://<this server>:6443 --token <token> --node-name <name>"
                );
                println!("{token}");
                return Ok(());
            }
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "creating the token's Secret {}/{}",
                        bootstrap::NAMESPACE,
                        bootstrap::secret_name(&token.id)
                    )
                });
            }
        }
    }
    bail!("could not pick an unused token id; retry")
}

/// A client for the kubeconfig's current context, and its cluster CA (PEM).
async fn connect(path: &Path) -> anyhow::Result<(kube::Client, String)> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
    let context_name = kubeconfig.current_context.clone().unwrap_or_default();
    let cluster_name = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .with_context(|| format!("{} has no current context {context_name:?}", path.display()))?;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .with_context(|| format!("{} has no cluster {cluster_name:?}", path.display()))?;
    let ca_pem = if let Some(data) = &cluster.certificate_authority_data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .with_context(|| {
                format!(
                    "{}: certificate-authority-data is not base64",
                    path.display()
                )
            })?;
        String::from_utf8(bytes)
            .with_context(|| format!("{}: certificate-authority-data is not PEM", path.display()))?
    } else if let Some(file) = &cluster.certificate_authority {
        std::fs::read_to_string(file).with_context(|| format!("reading the CA file {file}"))?
    } else {
        bail!(
            "{} names no cluster CA (certificate-authority-data), which the token must pin",
            path.display()
        );
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .with_context(|| format!("loading the kubeconfig {}", path.display()))?;
    let client = kube::Client::try_from(config).context("building the API client")?;
    Ok((client, ca_pem))
}

fn token_secret(
    token: &JoinToken,
    expiration: Option<jiff::Timestamp>,
    args: &CreateArgs,
) -> Secret {
    let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        data.insert(k.to_string(), ByteString(v.into_bytes()));
    };
    put("token-id", token.id.clone());
    put("token-secret", token.secret.clone());
    put("usage-bootstrap-authentication", "true".into());
    put(
        "auth-extra-groups",
        bootstrap::DEFAULT_NODE_TOKEN_GROUP.into(),
    );
    put("description", args.description.clone());
    if let Some(at) = expiration {
        put("expiration", at.to_string());
    }
    if let Some(uses) = args.uses {
        put(bootstrap::MAX_JOINS_KEY, uses.to_string());
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(bootstrap::secret_name(&token.id)),
            namespace: Some(bootstrap::NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        type_: Some(bootstrap::SECRET_TYPE.into()),
        data: Some(data),
        ..Secret::default()
    }
}
