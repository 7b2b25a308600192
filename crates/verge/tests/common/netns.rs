//! A network namespace joined to the host by a veth pair, for edge nodes
//! whose link a test cuts. Needs root (CI runs as root); a test that
//! cannot create one fails and says why rather than passing without it.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);
const PREFIX: &str = "vt";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Namespace `vt<pid>n<k>`, host end `vt<pid>h<k>` with 10.213.X.1/30 and
/// the namespace end with 10.213.X.2/30 (X unique per process and
/// counter).
pub struct EdgeNet {
    pub name: String,
    host_if: String,
    edge_if: String,
    pub host_ip: String,
    pub edge_ip: String,
}

impl EdgeNet {
    pub fn create() -> EdgeNet {
        remove_stale();
        let pid = std::process::id();
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{pid}n{k}");
        let host_if = format!("{PREFIX}{pid}h{k}");
        let edge_if = format!("{PREFIX}{pid}e{k}");
        // A /30 per namespace from 10.213.0.0/16, spread by pid and counter.
        let slot = (pid.wrapping_mul(7) + k) % 16_384;
        let (a, b) = (slot / 64, (slot % 64) * 4);
        let host_ip = format!("10.213.{a}.{}", b + 1);
        let edge_ip = format!("10.213.{a}.{}", b + 2);
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), name.clone()],
            vec![
                "link".into(),
                "add".into(),
                host_if.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                edge_if.clone(),
                "netns".into(),
                name.clone(),
            ],
            vec![
                "addr".into(),
                "add".into(),
                format!("{host_ip}/30"),
                "dev".into(),
                host_if.clone(),
            ],
            vec!["link".into(), "set".into(), host_if.clone(), "up".into()],
            vec![
                "-n".into(),
                name.clone(),
                "addr".into(),
                "add".into(),
                format!("{edge_ip}/30"),
                "dev".into(),
                edge_if.clone(),
            ],
            vec![
                "-n".into(),
                name.clone(),
                "link".into(),
                "set".into(),
                edge_if.clone(),
                "up".into(),
            ],
            vec![
                "-n".into(),
                name.clone(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
        ];
        let net = EdgeNet {
            name,
            host_if,
            edge_if,
            host_ip,
            edge_ip,
        };
        for step in steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            if let Err(e) = ip(&args) {
                panic!(
                    "cannot build the test network ({e}); these tests need root and iproute2 (CI runs as root)"
                );
            }
        }
        net
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Cuts the link until [`EdgeNet::heal`] by taking the namespace's end
    /// down. The host keeps its route to the /30, so the cloud's packets
    /// are dropped silently at the veth (a real outage, as the server sees
    /// it) and never follow the default route out of the machine, as they
    /// would if the host end went down. Inside, sends fail at once with
    /// "network unreachable".
    pub fn cut(&self) {
        ip(&["-n", &self.name, "link", "set", &self.edge_if, "down"]).expect("cut the link");
    }

    pub fn heal(&self) {
        ip(&["-n", &self.name, "link", "set", &self.edge_if, "up"]).expect("heal the link");
    }

    /// Bytes the host end sent and received so far.
    pub fn bytes(&self) -> (u64, u64) {
        let read = |f: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{}/statistics/{f}", self.host_if))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        (read("tx_bytes"), read("rx_bytes"))
    }
}

impl Drop for EdgeNet {
    fn drop(&mut self) {
        // Deleting the namespace removes the veth pair with it; processes
        // still inside keep running, so the tests kill their agents first.
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Namespaces of this harness whose test process is gone.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('n') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}
