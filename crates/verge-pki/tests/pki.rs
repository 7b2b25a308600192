//! Files on disk, reuse and regeneration, CSRs, identities, kubeconfigs.

use std::fs;
use std::path::Path;
use std::time::Duration;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use verge_pki::{
    CertUsage, ClusterCa, CsrPolicy, Identity, Kubeconfig, PkiError, ServerPki, identity_from_der,
};
use x509_parser::prelude::{FromDer, X509Certificate};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const DAY: Duration = Duration::from_secs(86_400);

fn read(dir: &Path, name: &str) -> Result<String, std::io::Error> {
    fs::read_to_string(dir.join(name))
}

#[cfg(unix)]
fn mode(path: &Path) -> Result<u32, std::io::Error> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| e.to_string())
}

fn expect_err<T: std::fmt::Debug>(r: Result<T, PkiError>) -> Result<PkiError, String> {
    match r {
        Ok(v) => Err(format!("expected an error, got {v:?}")),
        Err(e) => Ok(e),
    }
}

#[test]
fn create_then_reload_reuses_everything() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("pki");
    let first = ServerPki::load_or_create(&dir, &["edge.example.com".to_string()])?;
    let files = [
        "ca.crt",
        "ca.key",
        "apiserver.crt",
        "apiserver.key",
        "admin.crt",
        "admin.key",
    ];
    let before: Vec<String> = files
        .iter()
        .map(|f| read(&dir, f))
        .collect::<Result<_, _>>()?;

    #[cfg(unix)]
    {
        assert_eq!(mode(&dir)?, 0o700);
        for (file, want) in files.iter().zip([0o644, 0o600, 0o644, 0o600, 0o644, 0o600]) {
            assert_eq!(mode(&dir.join(file))?, want, "{file}");
        }
    }

    let second = ServerPki::load_or_create(&dir, &["edge.example.com".to_string()])?;
    let after: Vec<String> = files
        .iter()
        .map(|f| read(&dir, f))
        .collect::<Result<_, _>>()?;
    assert_eq!(before, after, "a restart must not rewrite any file");
    assert_eq!(first.ca().ca_der(), second.ca().ca_der());
    assert_eq!(first.ca().ca_pem(), second.ca().ca_pem());
    assert_eq!(first.apiserver(), second.apiserver());
    assert_eq!(first.admin(), second.admin());
    assert_eq!(first.sans(), second.sans());

    // The CA alone loads to the same bytes too.
    let ca = ClusterCa::load_or_create(&dir)?;
    assert_eq!(ca.ca_der(), first.ca().ca_der());

    // CA: CN verge-ca, about ten years.
    let ca_cert = parse(ca.ca_der())?;
    assert!(ca_cert.is_ca());
    assert_eq!(
        ca_cert
            .subject()
            .iter_common_name()
            .next()
            .map(|a| a.as_str())
            .transpose()?,
        Some("verge-ca")
    );
    let lifetime =
        ca_cert.validity().not_after.timestamp() - ca_cert.validity().not_before.timestamp();
    assert!(lifetime > 3_650 * 86_400, "{lifetime}");
    Ok(())
}

#[test]
fn serving_cert_has_default_and_extra_sans() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ServerPki::load_or_create(
        tmp.path(),
        &[
            "Edge.Example.com".to_string(),
            "[fd00::7]".to_string(),
            "10.0.0.7".to_string(),
        ],
    )?;
    for want in [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "edge.example.com",
        "fd00::7",
        "10.0.0.7",
    ] {
        assert!(
            pki.sans().iter().any(|s| s == want),
            "{want} missing from {:?}",
            pki.sans()
        );
    }
    let der = pki.apiserver().cert_der()?;
    let cert = parse(&der)?;
    let eku = cert.extended_key_usage()?.ok_or("no EKU")?.value;
    assert!(eku.server_auth && !eku.client_auth);
    let san = cert.subject_alternative_name()?.ok_or("no SAN")?.value;
    assert_eq!(san.general_names.len(), pki.sans().len());

    // Admin: verge-admin / system:masters, clientAuth, about a year.
    let admin_der = pki.admin().cert_der()?;
    assert_eq!(
        identity_from_der(&admin_der)?,
        Identity {
            user: "verge-admin".into(),
            groups: vec!["system:masters".into()]
        }
    );
    let admin = parse(&admin_der)?;
    let eku = admin.extended_key_usage()?.ok_or("no EKU")?.value;
    assert!(eku.client_auth && !eku.server_auth);
    let left = pki.admin().not_after()?.as_second() - jiff::Timestamp::now().as_second();
    assert!((360 * 86_400..=366 * 86_400).contains(&left), "{left}");
    Ok(())
}

#[test]
fn san_change_regenerates_serving_cert_but_keeps_ca() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let first = ServerPki::load_or_create(dir, &["a.example.com".to_string()])?;
    let second = ServerPki::load_or_create(
        dir,
        &["a.example.com".to_string(), "192.168.1.10".to_string()],
    )?;
    assert_eq!(first.ca().ca_pem(), second.ca().ca_pem());
    assert_eq!(first.admin(), second.admin());
    assert_ne!(first.apiserver(), second.apiserver());
    assert!(second.sans().iter().any(|s| s == "192.168.1.10"));
    assert_eq!(read(dir, "apiserver.crt")?, second.apiserver().cert_pem);

    // Same set in another order and spelling: reused.
    let third = ServerPki::load_or_create(
        dir,
        &["192.168.1.10".to_string(), "A.example.com.".to_string()],
    )?;
    assert_eq!(second.apiserver(), third.apiserver());
    Ok(())
}

#[test]
fn leaf_close_to_expiry_is_renewed() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let pki = ServerPki::load_or_create(dir, &[])?;
    // Same names, but only ten days left.
    let short = pki.ca().issue_serving(pki.sans(), 10 * DAY)?;
    fs::write(dir.join("apiserver.crt"), &short.cert_pem)?;
    fs::write(dir.join("apiserver.key"), &short.key_pem)?;
    let short_admin =
        pki.ca()
            .issue_client("verge-admin", &["system:masters".to_string()], 29 * DAY)?;
    fs::write(dir.join("admin.crt"), &short_admin.cert_pem)?;
    fs::write(dir.join("admin.key"), &short_admin.key_pem)?;

    let again = ServerPki::load_or_create(dir, &[])?;
    assert_ne!(again.apiserver(), &short);
    assert_ne!(again.admin(), &short_admin);
    let left = again.apiserver().not_after()?.as_second() - jiff::Timestamp::now().as_second();
    assert!(left > 300 * 86_400, "{left}");
    Ok(())
}

#[test]
fn corrupt_or_foreign_leaf_files_are_replaced() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let pki = ServerPki::load_or_create(dir, &[])?;
    fs::write(dir.join("apiserver.crt"), "garbage")?;
    // admin key from elsewhere: does not match the certificate.
    let stranger = KeyPair::generate()?;
    fs::write(dir.join("admin.key"), stranger.serialize_pem())?;
    let again = ServerPki::load_or_create(dir, &[])?;
    assert_ne!(again.apiserver(), pki.apiserver());
    assert_ne!(again.admin(), pki.admin());
    assert_eq!(again.ca().ca_pem(), pki.ca().ca_pem());

    // A leaf from a different CA is replaced as well.
    let other = tempfile::tempdir()?;
    let other_ca = ClusterCa::load_or_create(other.path())?;
    let foreign = other_ca.issue_serving(again.sans(), 365 * DAY)?;
    fs::write(dir.join("apiserver.crt"), &foreign.cert_pem)?;
    fs::write(dir.join("apiserver.key"), &foreign.key_pem)?;
    let third = ServerPki::load_or_create(dir, &[])?;
    assert_ne!(third.apiserver(), &foreign);
    Ok(())
}

#[test]
fn corrupt_ca_key_is_a_clear_error() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    ServerPki::load_or_create(dir, &[])?;
    let ca_crt = read(dir, "ca.crt")?;
    let ca_key = read(dir, "ca.key")?;

    // Truncated key.
    fs::write(dir.join("ca.key"), &ca_key[..ca_key.len() / 2])?;
    let err = expect_err(ServerPki::load_or_create(dir, &[]))?.to_string();
    assert!(err.contains("ca.key"), "{err}");
    assert!(
        err.contains("Restore ca.crt and ca.key from a backup"),
        "{err}"
    );
    // Nothing was overwritten.
    assert_eq!(read(dir, "ca.crt")?, ca_crt);

    // Valid key, wrong one.
    fs::write(dir.join("ca.key"), KeyPair::generate()?.serialize_pem())?;
    let err = expect_err(ClusterCa::load_or_create(dir))?.to_string();
    assert!(
        err.contains("ca.key") && err.contains("does not belong to"),
        "{err}"
    );

    // Garbage certificate.
    fs::write(dir.join("ca.key"), &ca_key)?;
    fs::write(
        dir.join("ca.crt"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )?;
    let err = expect_err(ClusterCa::load_or_create(dir))?.to_string();
    assert!(
        err.contains("ca.crt") && err.contains("not a valid X.509"),
        "{err}"
    );

    // A leaf where the CA should be.
    fs::write(dir.join("ca.crt"), read(dir, "admin.crt")?)?;
    let err = expect_err(ClusterCa::load_or_create(dir))?.to_string();
    assert!(err.contains("is not a CA certificate"), "{err}");

    // Missing key.
    fs::write(dir.join("ca.crt"), &ca_crt)?;
    fs::remove_file(dir.join("ca.key"))?;
    let err = expect_err(ClusterCa::load_or_create(dir))?;
    assert!(matches!(err, PkiError::IncompleteCa { .. }), "{err}");
    assert!(err.to_string().contains("ca.key is missing"), "{err}");

    // Restored: loads again, same CA.
    fs::write(dir.join("ca.key"), &ca_key)?;
    let ca = ClusterCa::load_or_create(dir)?;
    assert_eq!(ca.ca_pem(), ca_crt);
    Ok(())
}

fn agent_csr(
    cn: &str,
    org: Option<&str>,
    extra: impl FnOnce(&mut CertificateParams),
) -> Result<(KeyPair, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    if let Some(org) = org {
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
    }
    extra(&mut params);
    let pem = params.serialize_request(&key)?.pem()?;
    Ok((key, pem))
}

#[test]
fn csr_is_signed_and_verifies() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let ca = ClusterCa::load_or_create(tmp.path())?;
    let (key, csr) = agent_csr("system:node:edge-1", Some("system:nodes"), |_| {})?;
    let policy = CsrPolicy::client("system:node:edge-1", &["system:nodes".to_string()]);
    let cert_pem = ca.sign_csr(&csr, &policy, 30 * DAY)?;

    let cert_der = verge_pki::CertifiedKey {
        cert_pem: cert_pem.clone(),
        key_pem: key.serialize_pem(),
    }
    .cert_der()?;
    let cert = parse(&cert_der)?;
    let ca_cert = parse(ca.ca_der())?;
    cert.verify_signature(Some(ca_cert.public_key()))?;
    assert_eq!(cert.issuer().as_raw(), ca_cert.subject().as_raw());
    assert_eq!(
        cert.public_key().subject_public_key.data.as_ref(),
        key.public_key_raw(),
        "the certificate is for the agent's key"
    );
    let eku = cert.extended_key_usage()?.ok_or("no EKU")?.value;
    assert!(eku.client_auth && !eku.server_auth);
    assert!(!cert.is_ca());
    assert_eq!(
        identity_from_der(&cert_der)?,
        Identity {
            user: "system:node:edge-1".into(),
            groups: vec!["system:nodes".into()]
        }
    );

    // Serving certificate for an agent, SANs within the allowed set.
    let (_, csr) = agent_csr("edge-1", None, |p| {
        p.subject_alt_names = vec![
            rcgen::SanType::DnsName("edge-1.local".try_into().expect("ascii")),
            rcgen::SanType::IpAddress("10.0.0.5".parse().expect("ip")),
        ];
        p.insert_extended_key_usage(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    })?;
    let policy = CsrPolicy {
        common_name: "edge-1".into(),
        organizations: vec![],
        usage: CertUsage::Server,
        allowed_sans: vec!["edge-1.local".into(), "10.0.0.5".into(), "10.0.0.6".into()],
    };
    let pem = ca.sign_csr(&csr, &policy, 30 * DAY)?;
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    Ok(())
}

#[test]
fn csr_outside_policy_is_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let ca = ClusterCa::load_or_create(tmp.path())?;
    let policy = CsrPolicy::client("system:node:edge-1", &["system:nodes".to_string()]);
    let check = |csr: &str, needle: &str| -> TestResult {
        let err = expect_err(ca.sign_csr(csr, &policy, DAY))?;
        assert!(matches!(err, PkiError::CsrRejected(_)), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
        Ok(())
    };

    let (_, csr) = agent_csr("system:node:edge-2", Some("system:nodes"), |_| {})?;
    check(&csr, "expected \"system:node:edge-1\"")?;
    let (_, csr) = agent_csr("system:node:edge-1", None, |_| {})?;
    check(&csr, "organizations")?;
    let (_, csr) = agent_csr("system:node:edge-1", Some("system:masters"), |_| {})?;
    check(&csr, "organizations")?;
    let (_, csr) = agent_csr("system:node:edge-1", Some("system:nodes"), |p| {
        p.distinguished_name
            .push(DnType::OrganizationalUnitName, "x");
    })?;
    check(&csr, "not allowed")?;
    let (_, csr) = agent_csr("system:node:edge-1", Some("system:nodes"), |p| {
        p.subject_alt_names = vec![rcgen::SanType::DnsName(
            "evil.example".try_into().expect("ascii"),
        )];
    })?;
    check(&csr, "requested SAN evil.example is not allowed")?;
    let (_, csr) = agent_csr("system:node:edge-1", Some("system:nodes"), |p| {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    })?;
    check(&csr, "asks to be a CA")?;
    let (_, csr) = agent_csr("system:node:edge-1", Some("system:nodes"), |p| {
        p.insert_extended_key_usage(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    })?;
    check(&csr, "serverAuth")?;

    // Tampered: change one byte of the signed content.
    let (_, csr) = agent_csr("system:node:edge-1", Some("system:nodes"), |_| {})?;
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(csr.as_bytes())
        .map(|d: rustls::pki_types::CertificateSigningRequestDer<'static>| d.as_ref().to_vec())?;
    let mut tampered = der.clone();
    let pos = tampered
        .windows(b"edge-1".len())
        .position(|w| w == b"edge-1")
        .ok_or("CN not found")?;
    tampered[pos + 5] = b'9'; // system:node:edge-9
    let tampered_pem = pem_encode("CERTIFICATE REQUEST", &tampered);
    check(&tampered_pem, "signature does not verify")?;

    check("", "no PEM block")?;
    check(
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        "PKCS#10",
    )?;
    Ok(())
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[test]
fn identity_carries_every_group() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let ca = ClusterCa::load_or_create(tmp.path())?;
    let groups = vec![
        "dev".to_string(),
        "ops".to_string(),
        "system:authenticated".to_string(),
    ];
    let alice = ca.issue_client("alice@example.com", &groups, DAY)?;
    let id = identity_from_der(&alice.cert_der()?)?;
    assert_eq!(id.user, "alice@example.com");
    assert_eq!(id.groups, groups);

    let nobody = ca.issue_client("bob", &[], DAY)?;
    assert_eq!(
        identity_from_der(&nobody.cert_der()?)?.groups,
        Vec::<String>::new()
    );

    // The multi-O certificate still verifies and keeps its extensions.
    let der = alice.cert_der()?;
    let cert = parse(&der)?;
    cert.verify_signature(Some(parse(ca.ca_der())?.public_key()))?;
    assert!(
        cert.extended_key_usage()?
            .ok_or("no EKU")?
            .value
            .client_auth
    );

    assert!(identity_from_der(b"not a certificate").is_err());
    assert!(ca.issue_client("", &[], DAY).is_err());
    assert!(ca.issue_client("x", &["".to_string()], DAY).is_err());
    Ok(())
}

/// When openssl is installed, let it check our certificates independently.
#[test]
fn openssl_agrees() -> TestResult {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("openssl not installed; skipping");
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let pki = ServerPki::load_or_create(dir, &[])?;
    let alice = pki
        .ca()
        .issue_client("alice", &["dev".to_string(), "ops".to_string()], DAY)?;
    fs::write(dir.join("alice.crt"), &alice.cert_pem)?;
    for (file, purpose) in [
        ("apiserver.crt", "sslserver"),
        ("admin.crt", "sslclient"),
        ("alice.crt", "sslclient"),
    ] {
        let out = std::process::Command::new("openssl")
            .args(["verify", "-purpose", purpose, "-CAfile"])
            .arg(dir.join("ca.crt"))
            .arg(dir.join(file))
            .output()?;
        assert!(
            out.status.success(),
            "openssl verify {file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
        .arg(dir.join("alice.crt"))
        .output()?;
    let subject = String::from_utf8_lossy(&out.stdout);
    assert!(subject.contains("CN=alice,O=ops,O=dev"), "{subject}");
    Ok(())
}

#[derive(serde::Deserialize)]
struct KcFile {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    clusters: Vec<KcNamed<KcCluster>>,
    users: Vec<KcNamed<KcUser>>,
    contexts: Vec<KcNamed<KcContext>>,
    #[serde(rename = "current-context")]
    current_context: String,
}

#[derive(serde::Deserialize)]
struct KcNamed<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(serde::Deserialize)]
struct KcCluster {
    server: String,
    #[serde(rename = "certificate-authority-data")]
    ca_data: String,
}

#[derive(serde::Deserialize)]
struct KcUser {
    #[serde(rename = "client-certificate-data")]
    cert_data: String,
    #[serde(rename = "client-key-data")]
    key_data: String,
}

#[derive(serde::Deserialize)]
struct KcContext {
    cluster: String,
    user: String,
    namespace: Option<String>,
}

#[test]
fn kubeconfig_round_trips() -> TestResult {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let tmp = tempfile::tempdir()?;
    let pki = ServerPki::load_or_create(tmp.path(), &[])?;
    let mut kc = pki.admin_kubeconfig("https://127.0.0.1:6443");
    kc.namespace = Some("kube-system".into());
    let yaml = kc.to_yaml()?;

    // One line per field, as kubectl writes it.
    assert!(!yaml.contains(">-") && !yaml.contains('|'), "{yaml}");
    assert!(
        yaml.lines()
            .any(|l| l.trim_start().starts_with("client-key-data: LS0t")),
        "{yaml}"
    );

    let file: KcFile = serde_saphyr::from_str(&yaml)?;
    assert_eq!(file.api_version, "v1");
    assert_eq!(file.kind, "Config");
    assert_eq!(file.current_context, "verge-admin@verge");
    assert_eq!(file.clusters.len(), 1);
    assert_eq!(file.clusters[0].name, "verge");
    assert_eq!(file.clusters[0].value.server, "https://127.0.0.1:6443");
    assert_eq!(
        b64.decode(&file.clusters[0].value.ca_data)?,
        pki.ca().ca_pem().as_bytes()
    );
    assert_eq!(file.users[0].name, "verge-admin");
    assert_eq!(
        b64.decode(&file.users[0].value.cert_data)?,
        pki.admin().cert_pem.as_bytes()
    );
    assert_eq!(
        b64.decode(&file.users[0].value.key_data)?,
        pki.admin().key_pem.as_bytes()
    );
    assert_eq!(file.contexts[0].name, "verge-admin@verge");
    assert_eq!(file.contexts[0].value.cluster, "verge");
    assert_eq!(file.contexts[0].value.user, "verge-admin");
    assert_eq!(
        file.contexts[0].value.namespace.as_deref(),
        Some("kube-system")
    );

    assert_eq!(Kubeconfig::from_yaml(&yaml)?, kc);

    let path = tmp.path().join("home/.kube/config");
    kc.write(&path)?;
    assert_eq!(fs::read_to_string(&path)?, yaml);
    #[cfg(unix)]
    assert_eq!(mode(&path)?, 0o600);

    // Without a namespace the field is left out.
    kc.namespace = None;
    assert!(!kc.to_yaml()?.contains("namespace"));
    assert!(!format!("{kc:?}").contains("PRIVATE KEY"));
    Ok(())
}

#[tokio::test]
async fn kube_crate_reads_the_kubeconfig() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ServerPki::load_or_create(tmp.path(), &[])?;
    let yaml = pki.admin_kubeconfig("https://127.0.0.1:6443").to_yaml()?;
    let parsed = kube::config::Kubeconfig::from_yaml(&yaml)?;
    assert_eq!(parsed.current_context.as_deref(), Some("verge-admin@verge"));
    let config = kube::Config::from_custom_kubeconfig(parsed, &Default::default()).await?;
    assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
    let roots = config.root_cert.ok_or("no root certificate")?;
    assert_eq!(roots, vec![pki.ca().ca_der().to_vec()]);
    assert!(config.auth_info.client_certificate_data.is_some());
    assert!(config.auth_info.client_key_data.is_some());
    Ok(())
}

/// When kubectl is installed, it must read the file as is.
#[test]
fn kubectl_reads_the_kubeconfig() -> TestResult {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl not installed; skipping");
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let pki = ServerPki::load_or_create(&tmp.path().join("pki"), &[])?;
    let path = tmp.path().join("admin.kubeconfig");
    pki.admin_kubeconfig("https://127.0.0.1:6443")
        .write(&path)?;
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&path)
        .args([
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.current-context} {.clusters[0].cluster.server} {.users[0].name}",
        ])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "verge-admin@verge https://127.0.0.1:6443 verge-admin"
    );
    Ok(())
}
