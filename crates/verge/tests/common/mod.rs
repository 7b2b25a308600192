//! Test harness: a real `verge server` process on a loopback port, driven by
//! the real kubectl with its own cache directory.

#![allow(dead_code)]

pub mod agent;
pub mod hollow;
pub mod netns;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// kubectl's HOME: keeps its discovery and HTTP caches per test.
    pub home: PathBuf,
    pub url: String,
    child: Option<Child>,
    /// The address every listener binds (loopback unless a test puts the
    /// server on a veth it made).
    listen_ip: String,
    port: u16,
    /// The cloud hub's WebSocket (TCP) and QUIC (UDP) ports on 127.0.0.1:
    /// chosen by the server at the first start (0 until then), kept across
    /// restarts so edges reconnect to the same address.
    pub hub_port: u16,
    pub quic_port: u16,
    extra_args: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The WebSocket and QUIC ports from `ADDR quic ADDR`.
fn hub_ports(rest: &str) -> Option<(u16, u16)> {
    let mut words = rest.split_whitespace();
    let ws: std::net::SocketAddr = words.next()?.parse().ok()?;
    let quic: std::net::SocketAddr = match (words.next(), words.next()) {
        (Some("quic"), Some(addr)) => addr.parse().ok()?,
        _ => return None,
    };
    Some((ws.port(), quic.port()))
}

impl Cluster {
    /// Starts a server in a new data directory.
    pub fn start() -> Cluster {
        Self::start_with(&[])
    }

    /// Starts a server that runs no controllers, for tests of the API
    /// itself: nothing but the test writes, so revisions, lists and
    /// statuses are the test's own.
    pub fn api_only() -> Cluster {
        Self::start_with(&["--controllers", "none"])
    }

    /// Starts a server with extra `verge server` flags (kept across restarts).
    pub fn start_with(extra_args: &[&str]) -> Cluster {
        Self::start_on("127.0.0.1", extra_args)
    }

    /// Starts a server listening on `ip` (which must be a local address,
    /// e.g. the host end of a test's veth), with it in the certificate.
    pub fn start_on(ip: &str, extra_args: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("server");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let port = free_port();
        let mut c = Cluster {
            kubeconfig: data_dir.join("admin.kubeconfig"),
            url: format!("https://{ip}:{port}"),
            data_dir,
            home,
            dir,
            child: None,
            listen_ip: ip.to_owned(),
            port,
            hub_port: 0,
            quic_port: 0,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_verge"))
            .args(["server", "--data-dir"])
            .arg(&self.data_dir)
            .args(["--api-listen", &format!("{}:{}", self.listen_ip, self.port)])
            .args(self.hub_args())
            .args(&self.extra_args)
            .env("VERGE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start verge server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut hub = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("verge hub is listening: websocket ") {
                    hub = hub_ports(rest);
                }
                if line.contains("is ready") {
                    let _ = tx.send(hub);
                }
            }
        });
        let hub = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("verge server did not report ready within 60s");
        // Learned from the server (it binds port 0 the first time), then
        // kept across restarts so edges reconnect to the same address.
        if let Some((ws, quic)) = hub {
            self.hub_port = ws;
            self.quic_port = quic;
        }
        self.child = Some(child);
    }

    /// The hub listeners on the cluster's own loopback ports, unless the
    /// test chose its own.
    fn hub_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if !self.extra_args.iter().any(|a| a == "--hub-listen") {
            args.push("--hub-listen".to_owned());
            args.push(format!("{}:{}", self.listen_ip, self.hub_port));
        }
        if !self.extra_args.iter().any(|a| a == "--quic-listen") {
            args.push("--quic-listen".to_owned());
            args.push(format!("{}:{}", self.listen_ip, self.quic_port));
        }
        args
    }

    /// Kills the server with SIGKILL (no chance to flush anything).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills and starts the server again on the same data directory and port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// [`Cluster::restart`] with other `verge server` flags from now on.
    pub fn restart_with(&mut self, extra_args: &[&str]) {
        self.extra_args = extra_args.iter().map(|s| s.to_string()).collect();
        self.restart();
    }

    pub fn kubectl_cmd(&self) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG");
        cmd
    }

    /// Runs kubectl; returns the output whatever the exit status.
    pub fn kubectl_output(&self, args: &[&str]) -> Output {
        self.kubectl_cmd().args(args).output().expect("run kubectl")
    }

    /// Runs kubectl and returns stdout; panics with stderr if it failed.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_output(args);
        assert!(
            out.status.success(),
            "kubectl {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn kubectl_fails(&self, args: &[&str]) -> String {
        let out = self.kubectl_output(args);
        assert!(
            !out.status.success(),
            "kubectl {} unexpectedly succeeded:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs kubectl with `stdin` as its standard input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .kubectl_cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("kubectl output")
    }

    /// `kubectl apply -f -` with a manifest; panics on failure.
    pub fn apply(&self, manifest: &str) -> String {
        let out = self.kubectl_stdin(&["apply", "-f", "-"], manifest);
        assert!(
            out.status.success(),
            "kubectl apply failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            manifest
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn write_file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("write file");
        p
    }

    /// A kube-rs client from the admin kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` until it returns Some, or panics after `timeout` naming `what`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
