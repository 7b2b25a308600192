//! Starting and stopping the `verge server` under test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// A `verge server` this benchmark started, or one it was pointed at.
pub struct Server {
    pub kubeconfig: verge_pki::Kubeconfig,
    /// The server's process id, when known (for CPU and memory figures).
    pub pid: Option<u32>,
    /// The cloud hub's WebSocket and QUIC addresses, from the server's
    /// startup line (servers this benchmark started).
    pub hub: Option<(std::net::SocketAddr, Option<std::net::SocketAddr>)>,
    child: Option<Child>,
    /// Removed on drop unless kept.
    data_dir: Option<tempfile::TempDir>,
}

/// `ADDR quic ADDR` from the server's "verge hub is listening" line.
fn parse_hub_line(rest: &str) -> Option<(std::net::SocketAddr, Option<std::net::SocketAddr>)> {
    let mut words = rest.split_whitespace();
    let ws = words.next()?.parse().ok()?;
    let quic = match (words.next(), words.next()) {
        (Some("quic"), Some(addr)) => addr.parse().ok(),
        _ => None,
    };
    Some((ws, quic))
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

impl Server {
    /// Starts `binary server` in a fresh temporary data directory on a free
    /// 127.0.0.1 port and waits (at most 60 s) until it says it is ready.
    /// API benchmarks measure the API server alone: no controllers (the
    /// scheduler would otherwise report every pod it cannot place).
    pub fn start(binary: &Path, keep_data: bool) -> anyhow::Result<Server> {
        Self::start_with(binary, keep_data, &["--controllers", "none"])
    }

    /// [`Server::start`] with other `verge server` flags.
    pub fn start_with(binary: &Path, keep_data: bool, args: &[&str]) -> anyhow::Result<Server> {
        let binary = binary.canonicalize().with_context(|| {
            format!(
                "{} not found; build it with `cargo build --release -p verge` or pass --verge",
                binary.display()
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("verge-apibench-")
            .tempdir()
            .context("creating a temporary data directory")?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut child = Command::new(&binary)
            .arg("server")
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--api-listen")
            .arg(format!("127.0.0.1:{port}"))
            // The hub on loopback ports of its own, so runs never collide.
            .args([
                "--hub-listen",
                "127.0.0.1:0",
                "--quic-listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .env(
                "VERGE_LOG",
                std::env::var("VERGE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut hub = None;
            for line in lines.by_ref().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("verge hub is listening: websocket ") {
                    hub = parse_hub_line(rest);
                }
                if line.contains("is ready") {
                    let _ = tx.send(hub);
                    break;
                }
            }
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines.map_while(Result::ok) {}
        });
        let mut server = Server {
            kubeconfig: placeholder_kubeconfig(),
            pid: Some(pid),
            hub: None,
            child: Some(child),
            data_dir: Some(dir),
        };
        if keep_data && let Some(d) = server.data_dir.as_mut() {
            d.disable_cleanup(true);
        }
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(hub) => server.hub = hub,
            Err(_) => {
                let log = server.log_tail();
                bail!("verge server did not become ready within 60 s; its log ends with:\n{log}");
            }
        }
        let path = server.data_path().join("admin.kubeconfig");
        let yaml = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        server.kubeconfig =
            verge_pki::Kubeconfig::from_yaml(&yaml).context("parsing the kubeconfig")?;
        eprintln!(
            "started verge server pid {pid} on 127.0.0.1:{port}, data dir {}",
            server.data_path().display()
        );
        Ok(server)
    }

    /// Uses a server that is already running.
    pub fn existing(kubeconfig: &Path, pid: Option<u32>) -> anyhow::Result<Server> {
        let yaml = std::fs::read_to_string(kubeconfig)
            .with_context(|| format!("reading {}", kubeconfig.display()))?;
        Ok(Server {
            kubeconfig: verge_pki::Kubeconfig::from_yaml(&yaml)
                .context("parsing the kubeconfig")?,
            pid,
            hub: None,
            child: None,
            data_dir: None,
        })
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir
            .as_ref()
            .map(|d| d.path().to_owned())
            .unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data_path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(5)..].join("\n");
        if lines.len() > 5 {
            format!("({} lines; the last 5:)\n{tail}", lines.len())
        } else {
            tail
        }
    }

    /// Sizes of the store files (store.db, its WAL), in bytes.
    pub fn store_bytes(&self) -> (u64, u64) {
        let dir = self.data_path();
        let size = |f: &str| std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
        (size("store.db"), size("store.db-wal"))
    }

    /// Stops the server: SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                eprintln!("verge server pid {pid} stopped");
                self.report_log();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("verge server pid {pid} ignored SIGTERM; killing it");
        let _ = child.kill();
        let _ = child.wait();
        self.report_log();
    }

    fn report_log(&self) {
        let tail = self.log_tail();
        if !tail.trim().is_empty() {
            eprintln!("server log (warnings and errors, last lines):\n{tail}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn placeholder_kubeconfig() -> verge_pki::Kubeconfig {
    verge_pki::Kubeconfig {
        server_url: String::new(),
        cluster_name: String::new(),
        ca_pem: String::new(),
        user_name: String::new(),
        client_cert_pem: String::new(),
        client_key_pem: String::new(),
        namespace: None,
    }
}
