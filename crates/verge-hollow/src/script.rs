//! Scripted container behaviour: the `hollow.verge.dev/*` annotations and the
//! timeline they give a pod's containers.
//!
//! Every container of a pod follows the same script. A container runs for
//! `exit-after`, exits with `exit-code`, and is restarted (or not) as the
//! pod's `restartPolicy` says; after each (re)start it turns ready after
//! `ready-after`. Restarts are immediate (no CrashLoopBackOff).
//!
//! Everything here is a pure function of the script, the pod's start and the
//! current time, so what a node "runs" needs no timers while it is cut off.

use std::collections::BTreeMap;
use std::time::Duration;

/// Containers exit after this long (a duration: `500ms`, `3s`, `1m30s`).
pub const EXIT_AFTER: &str = "hollow.verge.dev/exit-after";
/// The exit code of those exits (default 0).
pub const EXIT_CODE: &str = "hollow.verge.dev/exit-code";
/// Containers turn ready this long after each (re)start.
pub const READY_AFTER: &str = "hollow.verge.dev/ready-after";

/// Restarting containers never run for less than this, so a script such as
/// `exit-after: 0s` with `restartPolicy: Always` cannot spin.
pub const MIN_RESTART_PERIOD: Duration = Duration::from_millis(100);

/// Milliseconds since the Unix epoch: the clock every timeline uses.
pub type Millis = i64;

/// What a pod's annotations ask its containers to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Script {
    /// Containers exit after running this long; `None`: they run until stopped.
    pub exit_after: Option<Duration>,
    /// The code they exit with.
    pub exit_code: i32,
    /// Containers are ready this long after each start; `None`: at once.
    pub ready_after: Option<Duration>,
}

/// An annotation that does not parse. The annotation is then ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// Not a duration.
    #[error("annotation {annotation}: {value:?} is not a duration such as 500ms, 3s or 1m30s")]
    Duration {
        /// The annotation's key.
        annotation: &'static str,
        /// Its value.
        value: String,
    },
    /// Not an exit code.
    #[error("annotation {EXIT_CODE}: {0:?} is not an integer exit code")]
    ExitCode(String),
}

impl Script {
    /// Reads the script from a pod's annotations. Annotations that do not
    /// parse are left out of the script and reported in the second value.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> (Script, Vec<ScriptError>) {
        let mut script = Script::default();
        let mut errors = Vec::new();
        let mut duration = |key: &'static str| -> Option<Duration> {
            let value = annotations.get(key)?;
            let parsed = parse_duration(value);
            if parsed.is_none() {
                errors.push(ScriptError::Duration {
                    annotation: key,
                    value: value.clone(),
                });
            }
            parsed
        };
        script.exit_after = duration(EXIT_AFTER);
        script.ready_after = duration(READY_AFTER);
        if let Some(code) = annotations.get(EXIT_CODE) {
            match code.trim().parse::<i32>() {
                Ok(c) => script.exit_code = c,
                Err(_) => errors.push(ScriptError::ExitCode(code.clone())),
            }
        }
        (script, errors)
    }
}

/// Parses a Go-style duration (`300ms`, `1.5s`, `2m`, `1h30m`; units `ns`,
/// `us`/`µs`, `ms`, `s`, `m`, `h`). A bare integer is seconds. Negative
/// durations are refused.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += number * per_unit;
        rest = &rest[unit_end..];
    }
    if !nanos.is_finite() || nanos >= u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(nanos.round() as u64))
}

/// A pod's `spec.restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Restart whatever the exit code (the API's default).
    #[default]
    Always,
    /// Restart on a non-zero exit code.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// From the spec's value; anything unknown is `Always`, the default.
    pub fn parse(s: Option<&str>) -> RestartPolicy {
        match s {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }

    /// Does an exit with `code` restart the container?
    pub fn restarts_after(self, code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// One earlier run of the containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// When it started.
    pub started: Millis,
    /// When it exited.
    pub finished: Millis,
}

/// Where a pod's containers are in their script at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// Restarts so far.
    pub restarts: u32,
    /// The start of the current run (the last one when finished).
    pub run_started: Millis,
    /// Set when the containers exited for good: the pod is finished.
    pub finished: Option<Millis>,
    /// The run before the current one, when there was a restart.
    pub last_run: Option<Run>,
    /// Are the containers ready?
    pub ready: bool,
    /// When the timeline next changes (an exit, a restart, readiness).
    pub next_change: Option<Millis>,
}

impl Timeline {
    /// Is the pod finished, and did it succeed?
    pub fn succeeded(&self, script: &Script) -> Option<bool> {
        self.finished.map(|_| script.exit_code == 0)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Where containers that started at `started` are at `now`.
pub fn timeline(script: &Script, policy: RestartPolicy, started: Millis, now: Millis) -> Timeline {
    let ready_delay = script.ready_after.map(millis).unwrap_or(0);
    let elapsed = now.saturating_sub(started).max(0);
    let Some(exit_after) = script.exit_after.map(millis) else {
        let ready_at = started.saturating_add(ready_delay);
        return Timeline {
            restarts: 0,
            run_started: started,
            finished: None,
            last_run: None,
            ready: now >= ready_at,
            next_change: (now < ready_at).then_some(ready_at),
        };
    };
    if !policy.restarts_after(script.exit_code) {
        let exit_at = started.saturating_add(exit_after);
        if now >= exit_at {
            return Timeline {
                restarts: 0,
                run_started: started,
                finished: Some(exit_at),
                last_run: None,
                ready: false,
                next_change: None,
            };
        }
        return running(started, 0, None, ready_delay, exit_at, now);
    }
    let period = exit_after.max(millis(MIN_RESTART_PERIOD));
    let runs = elapsed / period;
    let restarts = u32::try_from(runs).unwrap_or(u32::MAX);
    let run_started = started.saturating_add(runs.saturating_mul(period));
    let last_run = (runs > 0).then(|| Run {
        started: run_started - period,
        finished: run_started,
    });
    running(
        run_started,
        restarts,
        last_run,
        ready_delay,
        run_started.saturating_add(period),
        now,
    )
}

fn running(
    run_started: Millis,
    restarts: u32,
    last_run: Option<Run>,
    ready_delay: i64,
    exit_at: Millis,
    now: Millis,
) -> Timeline {
    let ready_at = run_started.saturating_add(ready_delay);
    let ready = now >= ready_at && ready_at < exit_at;
    let next_change = if now < ready_at && ready_at < exit_at {
        ready_at
    } else {
        exit_at
    };
    Timeline {
        restarts,
        run_started,
        finished: None,
        last_run,
        ready,
        next_change: Some(next_change),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("10us"), Some(Duration::from_micros(10)));
        assert_eq!(parse_duration("10µs"), Some(Duration::from_micros(10)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in ["", "s", "-1s", "1x", "1.2.3s", "ms5", "1e3s"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn annotations() {
        let (s, errs) = Script::from_annotations(&ann(&[
            (EXIT_AFTER, "2s"),
            (EXIT_CODE, "3"),
            (READY_AFTER, "500ms"),
            ("other", "x"),
        ]));
        assert!(errs.is_empty());
        assert_eq!(
            s,
            Script {
                exit_after: Some(Duration::from_secs(2)),
                exit_code: 3,
                ready_after: Some(Duration::from_millis(500)),
            }
        );
        assert_eq!(Script::from_annotations(&ann(&[])).0, Script::default());

        let (s, errs) = Script::from_annotations(&ann(&[(EXIT_AFTER, "soon"), (EXIT_CODE, "bad")]));
        assert_eq!(s, Script::default());
        assert_eq!(errs.len(), 2);
        assert!(errs[0].to_string().contains("soon"), "{}", errs[0]);
    }

    #[test]
    fn restart_policies() {
        assert_eq!(RestartPolicy::parse(None), RestartPolicy::Always);
        assert_eq!(RestartPolicy::parse(Some("Never")), RestartPolicy::Never);
        assert!(RestartPolicy::OnFailure.restarts_after(1));
        assert!(!RestartPolicy::OnFailure.restarts_after(0));
        assert!(RestartPolicy::Always.restarts_after(0));
        assert!(!RestartPolicy::Never.restarts_after(1));
    }

    #[test]
    fn runs_forever_without_a_script() {
        let t = timeline(&Script::default(), RestartPolicy::Always, 1000, 99_000);
        assert_eq!(t.restarts, 0);
        assert!(t.ready);
        assert_eq!(t.finished, None);
        assert_eq!(t.next_change, None);
    }

    #[test]
    fn ready_after_delays_readiness() {
        let s = Script {
            ready_after: Some(Duration::from_secs(2)),
            ..Script::default()
        };
        let t = timeline(&s, RestartPolicy::Always, 1000, 2000);
        assert!(!t.ready);
        assert_eq!(t.next_change, Some(3000));
        assert!(timeline(&s, RestartPolicy::Always, 1000, 3000).ready);
    }

    #[test]
    fn never_finishes_with_the_exit_code() {
        let s = Script {
            exit_after: Some(Duration::from_secs(1)),
            exit_code: 3,
            ready_after: None,
        };
        let before = timeline(&s, RestartPolicy::Never, 0, 999);
        assert!(before.ready);
        assert_eq!(before.finished, None);
        assert_eq!(before.next_change, Some(1000));
        let after = timeline(&s, RestartPolicy::Never, 0, 1000);
        assert_eq!(after.finished, Some(1000));
        assert!(!after.ready);
        assert_eq!(after.succeeded(&s), Some(false));
        assert_eq!(after.next_change, None);
    }

    #[test]
    fn on_failure_succeeds_on_zero_and_restarts_otherwise() {
        let ok = Script {
            exit_after: Some(Duration::from_secs(1)),
            ..Script::default()
        };
        let t = timeline(&ok, RestartPolicy::OnFailure, 0, 5000);
        assert_eq!(t.finished, Some(1000));
        assert_eq!(t.succeeded(&ok), Some(true));

        let failing = Script { exit_code: 1, ..ok };
        let t = timeline(&failing, RestartPolicy::OnFailure, 0, 2500);
        assert_eq!(t.finished, None);
        assert_eq!(t.restarts, 2);
        assert_eq!(t.run_started, 2000);
        assert_eq!(
            t.last_run,
            Some(Run {
                started: 1000,
                finished: 2000
            })
        );
        assert_eq!(t.next_change, Some(3000));
    }

    #[test]
    fn always_restarts_and_readiness_restarts_with_each_run() {
        let s = Script {
            exit_after: Some(Duration::from_secs(10)),
            exit_code: 0,
            ready_after: Some(Duration::from_secs(4)),
        };
        let t = timeline(&s, RestartPolicy::Always, 0, 12_000);
        assert_eq!(t.restarts, 1);
        assert!(!t.ready, "ready again only 4s into the new run");
        assert_eq!(t.next_change, Some(14_000));
        let t = timeline(&s, RestartPolicy::Always, 0, 15_000);
        assert!(t.ready);
        assert_eq!(t.next_change, Some(20_000));

        // Never ready when the containers exit before the delay.
        let s = Script {
            ready_after: Some(Duration::from_secs(20)),
            ..s
        };
        let t = timeline(&s, RestartPolicy::Always, 0, 5000);
        assert!(!t.ready);
        assert_eq!(t.next_change, Some(10_000));
    }

    #[test]
    fn restart_loops_cannot_spin() {
        let s = Script {
            exit_after: Some(Duration::ZERO),
            ..Script::default()
        };
        let t = timeline(&s, RestartPolicy::Always, 0, 1000);
        assert_eq!(t.restarts, 10);
        assert_eq!(t.next_change, Some(1100));
    }
}
