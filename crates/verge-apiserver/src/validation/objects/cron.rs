//! CronJob schedules: the standard five-field cron format with names
//! (jan–dec, sun–sat), ranges, steps, lists, `*` and `?`, and the
//! descriptors @yearly, @annually, @monthly, @weekly, @daily, @midnight,
//! @hourly and `@every <duration>` — the format CronJobs accept, with the
//! same error messages.

use std::time::Duration;

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    Cron(CronSpec),
    /// `@every 1h30m`: a fixed interval.
    Every(Duration),
}

/// One bit per allowed value of each field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CronSpec {
    pub minutes: u64,
    pub hours: u64,
    pub days_of_month: u64,
    pub months: u64,
    pub days_of_week: u64,
    /// Day of month was `*` or `?`: then only the day of week restricts days.
    pub dom_any: bool,
    /// Day of week was `*` or `?`.
    pub dow_any: bool,
}

impl CronSpec {
    /// Whether the schedule fires at this minute. `month` is 1–12,
    /// `day_of_week` 0–6 with Sunday 0. When both day fields are restricted,
    /// either may match, as in classic cron.
    pub fn matches(&self, minute: u32, hour: u32, day: u32, month: u32, day_of_week: u32) -> bool {
        let bit = |set: u64, v: u32| v < 64 && set & (1 << v) != 0;
        let dom = bit(self.days_of_month, day);
        let dow = bit(self.days_of_week, day_of_week);
        let day_ok = if self.dom_any || self.dow_any {
            dom && dow
        } else {
            dom || dow
        };
        bit(self.minutes, minute) && bit(self.hours, hour) && bit(self.months, month) && day_ok
    }
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Parses a schedule. A leading `TZ=<zone>` or `CRON_TZ=<zone>` is accepted
/// here (the caller decides whether to allow it).
pub fn parse(spec: &str) -> Result<Schedule, String> {
    if spec.is_empty() {
        return Err("empty spec string".to_owned());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let (head, rest) = spec.split_once(' ').unwrap_or((spec, ""));
        let zone = head.split_once('=').map_or("", |(_, z)| z);
        if let Err(e) = validate_time_zone(zone) {
            return Err(format!("provided bad location {zone}: {e}"));
        }
        spec = rest.trim();
    }
    if spec.starts_with('@') {
        return parse_descriptor(spec);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    let (minutes, _) = field_bits(fields[0], &MINUTES)?;
    let (hours, _) = field_bits(fields[1], &HOURS)?;
    let (days_of_month, dom_any) = field_bits(fields[2], &DOM)?;
    let (months, _) = field_bits(fields[3], &MONTHS)?;
    let (days_of_week, dow_any) = field_bits(fields[4], &DOW)?;
    Ok(Schedule::Cron(CronSpec {
        minutes,
        hours,
        days_of_month,
        months,
        days_of_week,
        dom_any,
        dow_any,
    }))
}

fn every(minutes: u64, hours: u64, dom: u64, months: u64, dow: u64, any: (bool, bool)) -> Schedule {
    Schedule::Cron(CronSpec {
        minutes,
        hours,
        days_of_month: dom,
        months,
        days_of_week: dow,
        dom_any: any.0,
        dow_any: any.1,
    })
}

fn all(b: &Bounds) -> u64 {
    bits(b.min, b.max, 1)
}

fn parse_descriptor(d: &str) -> Result<Schedule, String> {
    let (m, h) = (1, 1);
    Ok(match d {
        "@yearly" | "@annually" => every(m, h, 1 << 1, 1 << 1, all(&DOW), (false, true)),
        "@monthly" => every(m, h, 1 << 1, all(&MONTHS), all(&DOW), (false, true)),
        "@weekly" => every(m, h, all(&DOM), all(&MONTHS), 1, (true, false)),
        "@daily" | "@midnight" => every(m, h, all(&DOM), all(&MONTHS), all(&DOW), (true, true)),
        "@hourly" => every(
            m,
            all(&HOURS),
            all(&DOM),
            all(&MONTHS),
            all(&DOW),
            (true, true),
        ),
        _ => match d.strip_prefix("@every ") {
            Some(dur) => Schedule::Every(
                parse_go_duration(dur).map_err(|e| format!("failed to parse duration {d}: {e}"))?,
            ),
            None => return Err(format!("unrecognized descriptor: {d}")),
        },
    })
}

fn bits(start: u32, end: u32, step: u32) -> u64 {
    let mut out = 0u64;
    let mut v = start;
    while v <= end {
        out |= 1 << v;
        v += step;
    }
    out
}

/// The bits of one comma-separated field, and whether it was `*`/`?`.
fn field_bits(field: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let mut out = 0;
    let mut any = false;
    for expr in field.split(',').filter(|e| !e.is_empty()) {
        let (bits, star) = range_bits(expr, b)?;
        out |= bits;
        any |= star;
    }
    Ok((out, any))
}

fn range_bits(expr: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let mut star = false;
    let (start, mut end) = if low_high[0] == "*" || low_high[0] == "?" {
        star = true;
        (b.min, b.max)
    } else {
        let start = int_or_name(low_high[0], b)?;
        match low_high.len() {
            1 => (start, start),
            2 => (start, int_or_name(low_high[1], b)?),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_uint(range_and_step[1])?;
            if single {
                end = b.max;
            }
            if step > 1 {
                star = false;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok((bits(start, end, step), star))
}

fn int_or_name(s: &str, b: &Bounds) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some((_, v)) = b.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    parse_uint(s)
}

fn parse_uint(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {s}: strconv.Atoi: parsing \"{s}\": invalid syntax"
        ));
    }
    let n: i64 = s.parse().map_err(|_| {
        format!("failed to parse int from {s}: strconv.Atoi: parsing \"{s}\": value out of range")
    })?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {s}"));
    }
    // Anything this large is out of every field's range anyway.
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Go's `time.ParseDuration`: "1h30m", "90s", "1.5h", "300ms".
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration \"{s}\"");
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(invalid());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            _ => return Err(format!("time: unknown unit \"{unit}\" in duration \"{s}\"")),
        };
        total += value * nanos_per;
        rest = &rest[unit_end..];
    }
    if total > 9.2e18 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total as u64))
}

/// A CronJob `timeZone`: an IANA zone name this server knows.
pub fn validate_time_zone(tz: &str) -> Result<(), String> {
    if tz.is_empty() {
        return Err("timeZone must be nil or non-empty string".to_owned());
    }
    let unknown = || format!("unknown time zone {tz}");
    for part in tz.split('/') {
        let ok_chars = !part.is_empty()
            && part.len() <= 14
            && part
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'+'));
        if part == "." || part == ".." || part.starts_with('-') || !ok_chars {
            return Err(unknown());
        }
    }
    if tz.eq_ignore_ascii_case("Local") {
        return Err(
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
                .to_owned(),
        );
    }
    let db = jiff::tz::db();
    // Without a zone database (a bare edge image) accept well-formed names.
    if tz != "UTC" && !db.is_definitively_empty() && db.get(tz).is_err() {
        return Err(unknown());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(s: &str) -> CronSpec {
        match parse(s).expect(s) {
            Schedule::Cron(c) => c,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn parses_standard_fields() {
        let c = cron("*/15 0-6,22 1 jan-MAR mon-fri");
        assert_eq!(c.minutes, 1 | 1 << 15 | 1 << 30 | 1 << 45);
        assert_eq!(c.hours, 0b111_1111 | 1 << 22);
        assert_eq!(c.months, 0b1110);
        assert_eq!(c.days_of_week, 0b11_1110);
        assert!(!c.dom_any && !c.dow_any);
        // 2024-01-01 was a Monday.
        assert!(c.matches(15, 3, 1, 1, 1));
        assert!(
            c.matches(15, 3, 2, 1, 2),
            "day-of-week alone matches when both restricted"
        );
        assert!(!c.matches(16, 3, 1, 1, 1));

        let c = cron("0 * * * ?");
        assert!(c.dom_any && c.dow_any);
        assert!(c.matches(0, 5, 17, 6, 3));
        let c = cron("5/20 * 10 * *");
        assert_eq!(c.minutes, 1 << 5 | 1 << 25 | 1 << 45);
        assert!(!c.matches(5, 1, 11, 1, 3));
        for ok in [
            "@hourly",
            "@daily",
            "@midnight",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
        ] {
            assert!(matches!(parse(ok), Ok(Schedule::Cron(_))), "{ok}");
        }
        assert_eq!(
            parse("@every 1h30m"),
            Ok(Schedule::Every(Duration::from_secs(5400)))
        );
        assert!(parse("TZ=UTC 0 0 * * *").is_ok());
    }

    #[test]
    fn reports_like_robfig() {
        let err = |s: &str| parse(s).expect_err(s);
        assert_eq!(err("* * *"), "expected exactly 5 fields, found 3: [* * *]");
        assert_eq!(
            err("60 * * * *"),
            "end of range (60) above maximum (59): 60"
        );
        assert_eq!(
            err("* * 0 * *"),
            "beginning of range (0) below minimum (1): 0"
        );
        assert_eq!(
            err("5-1 * * * *"),
            "beginning of range (5) beyond end of range (1): 5-1"
        );
        assert_eq!(
            err("*/0 * * * *"),
            "step of range should be a positive number: */0"
        );
        assert_eq!(err("1-2-3 * * * *"), "too many hyphens: 1-2-3");
        assert_eq!(err("1/2/3 * * * *"), "too many slashes: 1/2/3");
        assert_eq!(
            err("x * * * *"),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(err("* * * * 7"), "end of range (7) above maximum (6): 7");
        assert_eq!(err("@fortnightly"), "unrecognized descriptor: @fortnightly");
        assert!(err("@every soon").starts_with("failed to parse duration @every soon"));
        assert_eq!(err(""), "empty spec string");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5d").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn time_zones() {
        assert!(validate_time_zone("UTC").is_ok());
        assert!(validate_time_zone("Europe/Berlin").is_ok());
        assert!(validate_time_zone("America/Argentina/Buenos_Aires").is_ok());
        assert!(validate_time_zone("Local").is_err());
        assert!(validate_time_zone("../etc/passwd").is_err());
        assert!(validate_time_zone("").is_err());
        if !jiff::tz::db().is_definitively_empty() {
            assert_eq!(
                validate_time_zone("Mars/Olympus_Mons"),
                Err("unknown time zone Mars/Olympus_Mons".to_owned())
            );
        }
    }
}
