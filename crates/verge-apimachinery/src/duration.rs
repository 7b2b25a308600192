//! Human-readable durations, as kubectl prints them in the `AGE` column.
//!
//! The rules are Kubernetes' `HumanDuration`: the precision shrinks as the
//! duration grows, so that a column of ages stays short and readable.
//!
//! | duration          | printed as            |
//! |-------------------|-----------------------|
//! | < 2 minutes       | `"45s"`               |
//! | < 10 minutes      | `"5m3s"` (`"5m"`)     |
//! | < 3 hours         | `"95m"`               |
//! | < 8 hours         | `"5h7m"` (`"5h"`)     |
//! | < 48 hours        | `"30h"`               |
//! | < 8 days          | `"3d4h"` (`"3d"`)     |
//! | < 2 years (730 d) | `"400d"`              |
//! | < 8 years         | `"3y12d"` (`"3y"`)    |
//! | otherwise         | `"9y"`                |
//!
//! A year is 365 days. The second unit is left out when it is zero.
//! Negative durations come from clock skew between the machine that stamped a
//! time and the one printing it: up to (but excluding) two seconds in the
//! future print as `"0s"`, anything further ahead prints as `"<invalid>"`.

use std::time::Duration;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const YEAR_DAYS: u64 = 365;

/// Formats a non-negative duration the way kubectl prints an object's age.
///
/// Sub-second parts are truncated: 119.9 s prints as `"119s"`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 2 * MINUTE {
        return format!("{seconds}s");
    }
    let minutes = seconds / MINUTE;
    if minutes < 10 {
        let s = seconds % MINUTE;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 3 * 60 {
        return format!("{minutes}m");
    }
    let hours = seconds / HOUR;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = seconds / DAY;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if days < YEAR_DAYS * 2 {
        return format!("{days}d");
    }
    let years = days / YEAR_DAYS;
    if days < YEAR_DAYS * 8 {
        let dy = days % YEAR_DAYS;
        return if dy == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{dy}d")
        };
    }
    format!("{years}y")
}

/// Formats a signed duration: negative values (a timestamp in the future)
/// print as `"0s"` when less than two whole seconds ahead, otherwise as
/// `"<invalid>"`, as Kubernetes does to tolerate small clock skew.
pub fn human_duration_signed(d: jiff::SignedDuration) -> String {
    // Whole seconds, truncated towards zero: -1.9 s counts as -1 s.
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if d.is_negative() {
        return "0s".to_string();
    }
    human_duration(d.unsigned_abs())
}

/// The age of something created at `since`, seen at `now`, as kubectl prints
/// it: `human_duration_signed(now - since)`.
pub fn age(since: jiff::Timestamp, now: jiff::Timestamp) -> String {
    human_duration_signed(now.duration_since(since))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> String {
        human_duration(Duration::from_secs(s))
    }

    #[test]
    fn seconds_below_two_minutes() {
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(1), "1s");
        assert_eq!(secs(59), "59s");
        assert_eq!(secs(60), "60s");
        assert_eq!(secs(119), "119s");
        assert_eq!(human_duration(Duration::from_millis(119_999)), "119s");
    }

    #[test]
    fn minutes_and_seconds_below_ten_minutes() {
        assert_eq!(secs(120), "2m");
        assert_eq!(secs(121), "2m1s");
        assert_eq!(secs(5 * 60 + 3), "5m3s");
        assert_eq!(secs(5 * 60), "5m");
        assert_eq!(secs(10 * 60 - 1), "9m59s");
    }

    #[test]
    fn minutes_below_three_hours() {
        assert_eq!(secs(10 * 60), "10m");
        assert_eq!(secs(10 * 60 + 59), "10m");
        assert_eq!(secs(3 * HOUR - 1), "179m");
    }

    #[test]
    fn hours_and_minutes_below_eight_hours() {
        assert_eq!(secs(3 * HOUR), "3h");
        assert_eq!(secs(3 * HOUR + 59), "3h");
        assert_eq!(secs(5 * HOUR + 7 * MINUTE), "5h7m");
        assert_eq!(secs(8 * HOUR - 1), "7h59m");
    }

    #[test]
    fn hours_below_two_days() {
        assert_eq!(secs(8 * HOUR), "8h");
        assert_eq!(secs(30 * HOUR + 59 * MINUTE), "30h");
        assert_eq!(secs(48 * HOUR - 1), "47h");
    }

    #[test]
    fn days_and_hours_below_eight_days() {
        assert_eq!(secs(2 * DAY), "2d");
        assert_eq!(secs(3 * DAY + 4 * HOUR), "3d4h");
        assert_eq!(secs(3 * DAY + 59 * MINUTE), "3d");
        assert_eq!(secs(8 * DAY - 1), "7d23h");
    }

    #[test]
    fn days_below_two_years() {
        assert_eq!(secs(8 * DAY), "8d");
        assert_eq!(secs(400 * DAY + 23 * HOUR), "400d");
        assert_eq!(secs(730 * DAY - 1), "729d");
    }

    #[test]
    fn years_and_days_below_eight_years() {
        assert_eq!(secs(730 * DAY), "2y");
        assert_eq!(secs(3 * 365 * DAY + 12 * DAY), "3y12d");
        assert_eq!(secs(3 * 365 * DAY + 23 * HOUR), "3y");
        assert_eq!(secs(8 * 365 * DAY - 1), "7y364d");
    }

    #[test]
    fn years_from_eight_years() {
        assert_eq!(secs(8 * 365 * DAY), "8y");
        assert_eq!(secs(9 * 365 * DAY + 100 * DAY), "9y");
        assert_eq!(secs(500 * 365 * DAY), "500y");
        // Far beyond anything Go's time.Duration can hold; must not overflow.
        assert!(human_duration(Duration::MAX).ends_with('y'));
    }

    #[test]
    fn negative_durations_tolerate_small_skew() {
        use jiff::SignedDuration;
        assert_eq!(human_duration_signed(SignedDuration::from_millis(-1)), "0s");
        assert_eq!(human_duration_signed(SignedDuration::from_secs(-1)), "0s");
        assert_eq!(
            human_duration_signed(SignedDuration::from_millis(-1999)),
            "0s"
        );
        assert_eq!(
            human_duration_signed(SignedDuration::from_secs(-2)),
            "<invalid>"
        );
        assert_eq!(human_duration_signed(SignedDuration::MIN), "<invalid>");
        assert_eq!(human_duration_signed(SignedDuration::ZERO), "0s");
        assert_eq!(
            human_duration_signed(SignedDuration::from_secs(121)),
            "2m1s"
        );
        assert!(human_duration_signed(SignedDuration::MAX).ends_with('y'));
    }

    #[test]
    fn age_between_timestamps() {
        let created: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("timestamp");
        let now: jiff::Timestamp = "2026-01-01T00:05:03Z".parse().expect("timestamp");
        assert_eq!(age(created, now), "5m3s");
        assert_eq!(age(now, created), "<invalid>");
    }
}
