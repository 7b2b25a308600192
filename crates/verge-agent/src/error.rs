//! What can stop the agent, each worded to say what to do next.

use std::path::PathBuf;

use verge_pki::join_token::JoinTokenError;

/// Why the agent cannot join or keep running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The local edge database cannot be used.
    #[error(transparent)]
    EdgeStore(#[from] verge_edgehub::StoreError),

    /// `--token` is not a join token.
    #[error("--token: {0}")]
    Token(#[from] JoinTokenError),

    /// The node has no identity yet and no token to get one.
    #[error(
        "this node has not joined yet ({dir} holds no node certificate) and no --token was given: \
         create a join token on the cloud with `verge token create` and pass it with --token"
    )]
    NoIdentity {
        /// The agent's data directory.
        dir: PathBuf,
    },

    /// The node certificate expired while the node was offline.
    #[error(
        "the node certificate in {path} expired at {not_after}: the node was offline past its \
         expiry and must join again; create a join token with `verge token create` and restart \
         the agent with --token"
    )]
    IdentityExpired {
        /// The certificate file.
        path: PathBuf,
        /// When it expired (RFC 3339).
        not_after: String,
    },

    /// The stored identity is unreadable or inconsistent.
    #[error(
        "the node identity in {dir} cannot be used: {reason}; restart the agent with a new \
         --token (from `verge token create`) to join again"
    )]
    BadIdentity {
        /// The PKI directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// `--node-name` is not a valid Node name.
    #[error(
        "--node-name {0:?} is not a valid node name: lowercase letters, digits, '-' and '.', \
         at most 253 characters, each dot-separated part 1-63 characters not starting or ending with '-'"
    )]
    BadNodeName(String),

    /// No server URL: neither `--server` nor a stored kubeconfig.
    #[error("no --server given and {kubeconfig} does not exist: pass --server https://HOST:PORT")]
    NoServer {
        /// Where the stored kubeconfig would be.
        kubeconfig: PathBuf,
    },

    /// `--server` is not an https URL.
    #[error("--server {url:?} is not usable: {reason} (expected https://HOST:PORT)")]
    BadServerUrl {
        /// The flag's value.
        url: String,
        /// What is wrong.
        reason: String,
    },

    /// The CA the server published is not the one the token pins.
    #[error(
        "the server's CA does not match the token's pin: wrong server, or a man in the middle \
         (the token pins {expected}, the server at {server} presents a CA whose key hashes to \
         {actual}); check --server and that the token was created on that cluster"
    )]
    PinMismatch {
        /// The server URL.
        server: String,
        /// The pin in the token.
        expected: String,
        /// The pin of the CA the server published.
        actual: String,
    },

    /// The `cluster-info` ConfigMap is missing or malformed.
    #[error("cannot discover the cluster at {server}: {reason}")]
    Discovery {
        /// The server URL.
        server: String,
        /// What went wrong.
        reason: String,
    },

    /// The server refused the join token (unknown, expired, used up).
    #[error("the server refused the join token: {message}{}",
        if message.contains("verge token create") { "; then restart the agent with the new --token" }
        else { "; create a new one with `verge token create` and restart the agent with --token" })]
    TokenRefused {
        /// The server's explanation (it says whether the token expired).
        message: String,
    },

    /// The server refused a request made with the node's credentials.
    #[error("the server refused to {action}: {message}")]
    Refused {
        /// What the agent tried to do.
        action: String,
        /// The server's explanation.
        message: String,
    },

    /// The certificate signing request was denied or failed.
    #[error(
        "the certificate signing request {name} was {outcome}{detail}; ask an administrator why \
         (`kubectl describe csr {name}`), then restart the agent with a new token"
    )]
    CsrRejected {
        /// The CSR's name.
        name: String,
        /// `denied` or `failed`.
        outcome: &'static str,
        /// The condition's reason and message, if any.
        detail: String,
    },

    /// Nobody approved the CSR in time.
    #[error(
        "the certificate signing request {name} was not approved within {waited_secs}s; an admin \
         can run `kubectl certificate approve {name}`, then restart the agent"
    )]
    CsrTimeout {
        /// The CSR's name.
        name: String,
        /// How long the agent waited.
        waited_secs: u64,
    },

    /// The server issued a certificate that is not for this node's key or name.
    #[error("the server issued an unusable certificate for {name}: {reason}")]
    BadIssuedCertificate {
        /// The CSR's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Generating the key or the request failed.
    #[error("cannot generate the node {what}: {reason}")]
    Generate {
        /// Key or request.
        what: &'static str,
        /// The underlying error.
        reason: String,
    },

    /// A key, certificate, kubeconfig or other file of the data directory
    /// could not be made, read or written.
    #[error("{0}")]
    Pki(#[from] verge_pki::PkiError),

    /// The Kubernetes client could not be set up.
    #[error("cannot set up the API client: {0}")]
    Client(String),

    /// A request for the pending key exists but was sent with other
    /// credentials, so this client cannot follow it; a new key is needed.
    #[error(
        "the certificate signing request {name} was sent with other credentials and cannot be \
         read with these"
    )]
    CsrSentByAnother {
        /// The CSR's name.
        name: String,
    },

    /// The server gave an answer the agent cannot use.
    #[error("unexpected answer from the server while trying to {action}: {reason}")]
    Protocol {
        /// What the agent tried to do.
        action: String,
        /// What was wrong.
        reason: String,
    },

    /// The agent was asked to stop before it finished joining.
    #[error("stopped before the node finished joining")]
    Stopped,
}
