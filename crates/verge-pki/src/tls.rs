//! rustls configurations built on the cluster CA.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::{CertifiedKey, PkiError, pem};

/// ALPN protocols offered by [`server_tls_config`], in preference order.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The crypto provider used for every configuration here. Always explicit,
/// because several providers linked into one binary make rustls' implicit
/// default panic.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn root_store(ca_pem: &str) -> Result<RootCertStore, PkiError> {
    let ca: CertificateDer<'static> = pem::single_certificate(ca_pem)
        .map_err(|e| PkiError::InvalidCertificate(format!("the CA certificate PEM {e}")))?;
    let mut roots = RootCertStore::empty();
    roots
        .add(ca)
        .map_err(|e| PkiError::Tls(format!("the CA certificate cannot be a trust anchor: {e}")))?;
    Ok(roots)
}

fn chain_and_key(
    certified: &CertifiedKey,
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    PkiError,
> {
    Ok((vec![certified.cert_der()?], certified.key_der()?))
}

/// A TLS server configuration presenting `serving`, offering ALPN `h2` and
/// `http/1.1`, and asking for (but not requiring) a client certificate:
/// clients without one connect anonymously, a presented certificate must be
/// issued by the CA in `ca_pem` (for `clientAuth`) or the handshake fails.
/// Read the client's identity afterwards with [`crate::peer_identity`].
pub fn server_tls_config(
    ca_pem: &str,
    serving: &CertifiedKey,
) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = crypto_provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(root_store(ca_pem)?),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| PkiError::Tls(format!("client certificate verifier: {e}")))?;
    let (chain, key) = chain_and_key(serving)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| PkiError::Tls(format!("serving certificate: {e}")))?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A TLS server configuration presenting `serving` that *requires* a client
/// certificate issued by the CA in `ca_pem` (for `clientAuth`): the cloud
/// hub's, where every peer is a node. No ALPN is set; callers add their own.
pub fn mtls_server_tls_config(
    ca_pem: &str,
    serving: &CertifiedKey,
) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = crypto_provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(root_store(ca_pem)?),
        provider.clone(),
    )
    .build()
    .map_err(|e| PkiError::Tls(format!("client certificate verifier: {e}")))?;
    let (chain, key) = chain_and_key(serving)?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| PkiError::Tls(format!("serving certificate: {e}")))?;
    Ok(Arc::new(config))
}

/// A TLS client configuration that trusts only the CA in `ca_pem` and, if
/// `identity` is given, presents it as client certificate. No ALPN is set.
pub fn client_tls_config(
    ca_pem: &str,
    identity: Option<&CertifiedKey>,
) -> Result<Arc<ClientConfig>, PkiError> {
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_root_certificates(root_store(ca_pem)?);
    let config = match identity {
        Some(identity) => {
            let (chain, key) = chain_and_key(identity)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| PkiError::Tls(format!("client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
