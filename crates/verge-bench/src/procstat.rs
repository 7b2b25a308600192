//! CPU time and memory of a process, from /proc.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;

/// Clock ticks per second of /proc/<pid>/stat times.
pub fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// (comm, utime + stime) of a stat file.
fn parse_stat(text: &str) -> Option<(String, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    // Fields after the comm start with field 3 (state); utime is field 14.
    let rest: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// A snapshot of a process's CPU time, in total and per thread name.
#[derive(Clone, Debug)]
pub struct CpuSample {
    pub at: Instant,
    pub ticks: u64,
    /// Thread name → ticks summed over live threads of that name.
    pub threads: BTreeMap<String, u64>,
}

pub fn cpu_sample(pid: u32) -> anyhow::Result<CpuSample> {
    let at = Instant::now();
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let (_, ticks) = parse_stat(&text).context("unexpected /proc/<pid>/stat format")?;
    let mut threads = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for entry in dir.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path().join("stat"))
                && let Some((comm, t)) = parse_stat(&text)
            {
                *threads.entry(comm).or_insert(0) += t;
            }
        }
    }
    Ok(CpuSample { at, ticks, threads })
}

/// CPU used between two samples.
#[derive(Clone, Debug, Default)]
pub struct CpuUsage {
    /// Percent of one core (200 % = two cores busy).
    pub percent: f64,
    pub seconds: f64,
    /// Thread name → percent of one core. Threads that exited in between
    /// are missing here but counted in `percent`.
    pub threads: Vec<(String, f64)>,
}

pub fn cpu_usage(a: &CpuSample, b: &CpuSample, tck: f64) -> CpuUsage {
    let wall = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
    let secs = b.ticks.saturating_sub(a.ticks) as f64 / tck;
    let mut threads: Vec<(String, f64)> = b
        .threads
        .iter()
        .map(|(name, t)| {
            let before = a.threads.get(name).copied().unwrap_or(0);
            (
                name.clone(),
                t.saturating_sub(before) as f64 / tck / wall * 100.0,
            )
        })
        .filter(|(_, p)| *p >= 0.5)
        .collect();
    threads.sort_by(|x, y| y.1.total_cmp(&x.1));
    CpuUsage {
        percent: secs / wall * 100.0,
        seconds: secs,
        threads,
    }
}

impl CpuUsage {
    pub fn threads_text(&self) -> String {
        self.threads
            .iter()
            .map(|(n, p)| format!("{n} {p:.0}%"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// (VmRSS, VmHWM) in KiB.
pub fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

/// Whole-machine CPU ticks from /proc/stat.
#[derive(Clone, Copy, Debug)]
pub struct SystemSample {
    pub at: Instant,
    pub busy: u64,
    pub steal: u64,
}

pub fn system_sample() -> anyhow::Result<SystemSample> {
    let at = Instant::now();
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("no cpu line in /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is part of user).
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let idle = get(3) + get(4);
    let steal = get(7);
    let total: u64 = (0..8).map(get).sum();
    Ok(SystemSample {
        at,
        busy: total - idle - steal,
        steal,
    })
}

/// Machine-wide CPU between two samples, in percent of one core.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemUsage {
    pub busy: f64,
    pub steal: f64,
}

pub fn system_usage(a: &SystemSample, b: &SystemSample, tck: f64) -> SystemUsage {
    let wall = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
    let pct = |x: u64, y: u64| y.saturating_sub(x) as f64 / tck / wall * 100.0;
    SystemUsage {
        busy: pct(a.busy, b.busy),
        steal: pct(a.steal, b.steal),
    }
}

/// Waits (at most `limit`) until other processes leave the machine mostly
/// idle, so their load does not distort the figures. Returns the busy
/// percentage of one core seen last.
pub fn wait_for_quiet(limit: std::time::Duration, max_busy_pct: f64) -> f64 {
    let tck = clk_tck();
    let deadline = Instant::now() + limit;
    let mut warned = false;
    loop {
        let Ok(a) = system_sample() else { return 0.0 };
        std::thread::sleep(std::time::Duration::from_secs(2));
        let Ok(b) = system_sample() else { return 0.0 };
        let busy = system_usage(&a, &b, tck).busy;
        if busy <= max_busy_pct {
            return busy;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "warning: the machine is still {busy:.0}% busy (of one core) with other processes; measuring anyway"
            );
            return busy;
        }
        if !warned {
            eprintln!(
                "waiting up to {} s for other processes to quiet down ({busy:.0}% of one core busy)",
                limit.as_secs()
            );
            warned = true;
        }
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// nproc, CPU model and memory of this machine, for the results table.
pub fn machine() -> String {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    format!(
        "{nproc} vCPU ({model}), {:.1} GiB RAM",
        mem_kib as f64 / 1024.0 / 1024.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_comm() {
        let line = "42 (tokio (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 8 0 1 2 3";
        let (comm, ticks) = parse_stat(line).expect("parses");
        assert_eq!(comm, "tokio (x) y");
        assert_eq!(ticks, 175);
    }
}

/// CPU of the server, of this benchmark and of the whole machine over a window.
pub struct Meter {
    tck: f64,
    pid: Option<u32>,
    server: Option<CpuSample>,
    client: Option<CpuSample>,
    system: Option<SystemSample>,
}

#[derive(Clone, Debug, Default)]
pub struct Usage {
    pub server: Option<CpuUsage>,
    pub client: Option<CpuUsage>,
    pub system: Option<SystemUsage>,
}

impl Meter {
    pub fn start(pid: Option<u32>) -> Meter {
        Meter {
            tck: clk_tck(),
            pid,
            server: pid.and_then(|p| cpu_sample(p).ok()),
            client: cpu_sample(std::process::id()).ok(),
            system: system_sample().ok(),
        }
    }

    pub fn finish(&self) -> Usage {
        let server = self.pid.and_then(|p| cpu_sample(p).ok());
        let client = cpu_sample(std::process::id()).ok();
        let system = system_sample().ok();
        Usage {
            server: self
                .server
                .as_ref()
                .zip(server.as_ref())
                .map(|(a, b)| cpu_usage(a, b, self.tck)),
            client: self
                .client
                .as_ref()
                .zip(client.as_ref())
                .map(|(a, b)| cpu_usage(a, b, self.tck)),
            system: self
                .system
                .as_ref()
                .zip(system.as_ref())
                .map(|(a, b)| system_usage(a, b, self.tck)),
        }
    }
}

impl Usage {
    /// CPU used by other processes (and the kernel on their behalf), % of one core.
    pub fn other(&self) -> Option<f64> {
        let sys = self.system?;
        let mine = self.server.as_ref().map_or(0.0, |c| c.percent)
            + self.client.as_ref().map_or(0.0, |c| c.percent);
        Some((sys.busy - mine).max(0.0))
    }

    pub fn server_pct(&self) -> String {
        self.server
            .as_ref()
            .map(|c| format!("{:.0}%", c.percent))
            .unwrap_or_else(|| "?".into())
    }

    /// Human lines: server, client, rest of the machine.
    pub fn lines(&self) -> Vec<String> {
        let one = |label: &str, cpu: &Option<CpuUsage>| match cpu {
            Some(c) => format!(
                "{label} CPU {:.0}% of one core ({:.1} s){}",
                c.percent,
                c.seconds,
                if c.threads.is_empty() {
                    String::new()
                } else {
                    format!("; by thread: {}", c.threads_text())
                }
            ),
            None => format!("{label} CPU unknown (no pid)"),
        };
        let mut out = vec![
            one("server", &self.server),
            one("bench client", &self.client),
        ];
        if let (Some(sys), Some(other)) = (self.system, self.other()) {
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            let mut line = format!(
                "machine: {:.0}% of {}00% busy; other processes {other:.0}%, steal {:.0}%",
                sys.busy, cores, sys.steal
            );
            if other > 20.0 {
                line.push_str(" -- WARNING: other load distorts these figures");
            }
            out.push(line);
        }
        out
    }
}
