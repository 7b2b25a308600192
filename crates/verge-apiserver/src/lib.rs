//! The Kubernetes-compatible API server at the heart of `verge server`.
//!
//! Layers, bottom up: the [`verge_store::Store`] (durable revision log), the
//! [`cache::WatchCache`] (every read and watch is served from memory),
//! [`resources::Resources`] (the generic semantics of every resource), and
//! [`http`] (authentication, discovery, OpenAPI, tables, watch streams).

pub mod apply;
pub mod authz;
pub mod binding;
pub mod bootstrap;
pub mod cache;
pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod http;
pub mod metrics;
pub mod namespaces;
pub mod object;
pub mod openapi;
pub mod registry;
pub mod request;
pub mod resources;
pub mod selectable;
pub mod services;
pub mod status;
pub mod tables;
pub mod tokens;
pub mod validation;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::cache::{CacheConfig, Filter, WatchCache};
use crate::registry::Registry;
use crate::resources::Resources;

/// What `verge server` needs to start its API server.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub api_listen: SocketAddr,
    /// Extra names and addresses for the serving certificate.
    pub tls_sans: Vec<String>,
    pub cache: CacheConfig,
    pub store: verge_store::SqliteOptions,
}

/// A running API server.
pub struct Server {
    pub resources: Arc<Resources>,
    pub api: Arc<http::ApiServer>,
    pub local_addr: SocketAddr,
    pub kubeconfig_path: PathBuf,
    pub pki: verge_pki::ServerPki,
    /// Service-account tokens: for TokenRequest, bearer authentication and
    /// the legacy token Secrets the service-account controller fills in.
    pub tokens: Arc<tokens::Tokens>,
}

impl Server {
    /// Opens the store, loads the cache, prepares certificates and starts
    /// serving. Returns once the listener is bound and the kubeconfig written.
    pub async fn start(
        config: Config,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}; pick another with --data-dir",
                config.data_dir.display()
            )
        })?;
        let mut sans = config.tls_sans.clone();
        if !config.api_listen.ip().is_unspecified() {
            sans.push(config.api_listen.ip().to_string());
        }
        let pki = verge_pki::ServerPki::load_or_create(&config.data_dir.join("pki"), &sans)
            .context("preparing the cluster certificates")?;
        let sa_key = verge_pki::ServiceAccountKey::load_or_create(&config.data_dir.join("pki"))
            .context("preparing the service-account signing key")?;
        let tokens = Arc::new(
            tokens::Tokens::new(&sa_key, pki.ca().ca_pem())
                .context("preparing the service-account signing key")?,
        );

        let db = config.data_dir.join("store.db");
        let store = verge_store::SqliteStore::open(&db, config.store.clone())
            .with_context(|| format!("opening the store {}", db.display()))?;
        let store: Arc<dyn verge_store::Store> = Arc::new(store);
        let cache = WatchCache::start(store.clone(), config.cache.clone())
            .await
            .context("loading the watch cache from the store")?;
        let registry = Arc::new(Registry::with_builtins());
        let resources = Arc::new(Resources {
            registry: registry.clone(),
            store,
            cache: cache.clone(),
        });

        // Serve stored CRDs before the first request can ask for them.
        if let Some(crd_rt) =
            registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        {
            let (crds, _, _) = cache.list(&Filter::prefix(crd_rt.storage_prefix()), None, 0);
            for crd in crds {
                crd::serve(&crd.value(), &registry);
            }
        }
        namespaces::ensure_system_namespaces(&resources)
            .await
            .map_err(|e| anyhow::anyhow!("creating the system namespaces: {e}"))?;
        defaults::priority::ensure_system_classes(&resources)
            .await
            .map_err(|e| anyhow::anyhow!("creating the system PriorityClasses: {e}"))?;
        tokio::spawn(crd::run(resources.clone()));
        tokio::spawn(namespaces::run(resources.clone()));

        let listener = tokio::net::TcpListener::bind(config.api_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} for the API; is another server running? Choose another with --api-listen",
                    config.api_listen
                )
            })?;
        let local_addr = listener.local_addr()?;
        let advertise = services::advertised(local_addr, &config.tls_sans);
        if advertise.is_none() {
            tracing::info!(
                "the kubernetes Service gets no endpoints: the API listens on no routable address; name one with --tls-san"
            );
        }
        if let Err(e) = services::ensure_kubernetes_service(&resources, local_addr, advertise).await
        {
            tracing::warn!(error = %e, "cannot create the kubernetes Service");
        }
        let host = if local_addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            local_addr.ip().to_string()
        };
        let url = if host.contains(':') {
            format!("https://[{host}]:{}", local_addr.port())
        } else {
            format!("https://{host}:{}", local_addr.port())
        };
        let kubeconfig_path = config.data_dir.join("admin.kubeconfig");
        pki.admin_kubeconfig(&url)
            .write(&kubeconfig_path)
            .with_context(|| format!("writing {}", kubeconfig_path.display()))?;

        let api = http::ApiServer::with_tokens(resources.clone(), tokens.clone());
        tokio::spawn(http::serve_tls(
            api.clone(),
            listener,
            pki.server_config(),
            shutdown,
        ));
        tracing::info!(%local_addr, kubeconfig = %kubeconfig_path.display(), "API server ready");
        Ok(Server {
            resources,
            api,
            local_addr,
            kubeconfig_path,
            pki,
            tokens,
        })
    }
}
