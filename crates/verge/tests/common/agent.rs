//! `verge agent` as a child process of a test, and join tokens for it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Cluster, eventually, path_str};

pub const JOIN_WAIT: Duration = Duration::from_secs(60);
pub const EXIT_WAIT: Duration = Duration::from_secs(30);

/// A `verge agent` child process; its stderr is collected for assertions.
pub struct Agent {
    child: Child,
    ready: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Agent {
    pub fn start(data_dir: &Path, args: &[&str]) -> Agent {
        Self::start_with(Command::new(env!("CARGO_BIN_EXE_verge")), data_dir, args)
    }

    /// Starts `verge agent` through `verge`, a command that runs the verge
    /// binary (inside a network namespace, say).
    pub fn start_with(mut verge: Command, data_dir: &Path, args: &[&str]) -> Agent {
        let mut child = verge
            .arg("agent")
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("VERGE_LOG", "info")
            .env_remove("VERGE_TOKEN")
            .env_remove("VERGE_SERVER")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start verge agent");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("verge agent is running") {
                    let _ = tx.send(line);
                }
            }
        });
        let collected = Arc::new(Mutex::new(String::new()));
        let sink = collected.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut all = sink.lock().expect("stderr lock");
                all.push_str(&strip_ansi(&line));
                all.push('\n');
            }
        });
        Agent {
            child,
            ready,
            stderr: collected,
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Waits for the "is running" line; panics with the agent's log if it
    /// exits or takes too long.
    pub fn wait_ready(&mut self) -> String {
        let deadline = Instant::now() + JOIN_WAIT;
        loop {
            if let Ok(line) = self.ready.recv_timeout(Duration::from_millis(100)) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "verge agent exited ({status}) before joining:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "verge agent did not join within {JOIN_WAIT:?}:\n{}",
                self.stderr()
            );
        }
    }

    /// Waits for the agent to exit on its own; returns status and stderr.
    pub fn wait_exit(&mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + EXIT_WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // The reader thread may still hold the last lines.
                let log = eventually("the agent's last log lines", Duration::from_secs(5), || {
                    let log = self.stderr();
                    (!log.is_empty()).then_some(log)
                });
                return (status, log);
            }
            assert!(
                Instant::now() < deadline,
                "verge agent did not exit within {EXIT_WAIT:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        self.wait_exit().0
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The log without terminal colour sequences (ESC [ ... m).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `verge token create`: the join token is its last line of output.
pub fn token_create(c: &Cluster) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_verge"))
        .args(["token", "create", "--kubeconfig", path_str(&c.kubeconfig)])
        .env("VERGE_LOG", "warn")
        .output()
        .expect("run verge token create");
    assert!(
        out.status.success(),
        "verge token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout.lines().last().unwrap_or_default().trim().to_string();
    verge_pki::join_token::parse(&token).expect("verge token create prints a join token");
    token
}
