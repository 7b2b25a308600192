//! When a CronJob's schedule fires: the next time after an instant, the
//! latest time at or before one, in the CronJob's time zone (wall-clock
//! fields, as cron reads them; a time skipped by a DST change moves to the
//! first valid instant after it).

use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use verge_apiserver::validation::objects::cron::{CronSpec, Schedule};

/// How far to look for a matching time (`0 0 30 2 *` never matches).
const HORIZON_DAYS: i64 = 5 * 366;

fn bit(set: u64, v: i8) -> bool {
    (0..64).contains(&v) && set & (1 << v) != 0
}

fn day_ok(spec: &CronSpec, t: DateTime) -> bool {
    let dom = bit(spec.days_of_month, t.day());
    let dow = bit(spec.days_of_week, t.weekday().to_sunday_zero_offset());
    if spec.dom_any || spec.dow_any {
        dom && dow
    } else {
        dom || dow
    }
}

fn minute_floor(t: DateTime) -> DateTime {
    t.with().second(0).subsec_nanosecond(0).build().unwrap_or(t)
}

/// The first firing strictly after `after`.
pub fn next_after(schedule: &Schedule, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    match schedule {
        Schedule::Every(d) => {
            let step = (*d).max(Duration::from_secs(1));
            let base = Timestamp::from_second(after.as_second()).ok()?;
            base.checked_add(jiff::SignedDuration::try_from(step).ok()?)
                .ok()
        }
        Schedule::Cron(spec) => {
            let start = tz.to_datetime(after);
            let mut t = minute_floor(start).checked_add(1.minute()).ok()?;
            let limit = t.checked_add(HORIZON_DAYS.days()).ok()?;
            while t < limit {
                if !bit(spec.months, t.month()) {
                    t = t
                        .first_of_month()
                        .checked_add(1.month())
                        .ok()?
                        .start_of_day();
                    continue;
                }
                if !day_ok(spec, t) {
                    t = t.start_of_day().checked_add(1.day()).ok()?;
                    continue;
                }
                if !bit(spec.hours, t.hour()) {
                    t = t
                        .with()
                        .minute(0)
                        .build()
                        .ok()?
                        .checked_add(1.hour())
                        .ok()?;
                    continue;
                }
                if !bit(spec.minutes, t.minute()) {
                    t = t.checked_add(1.minute()).ok()?;
                    continue;
                }
                let at = tz.to_ambiguous_zoned(t).compatible().ok()?.timestamp();
                if at > after {
                    return Some(at);
                }
                t = t.checked_add(1.minute()).ok()?;
            }
            None
        }
    }
}

/// The latest firing at or before `now` and after `earliest`, if any.
pub fn latest_at_or_before(
    schedule: &Schedule,
    tz: &TimeZone,
    earliest: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    if now <= earliest {
        return None;
    }
    match schedule {
        Schedule::Every(_) => {
            // Firings are every `step` from `earliest`'s second.
            let mut t = next_after(schedule, tz, earliest)?;
            if t > now {
                return None;
            }
            let step = t.as_second() - earliest.as_second();
            if step > 0 {
                let k = (now.as_second() - t.as_second()) / step;
                t = Timestamp::from_second(t.as_second() + k * step).ok()?;
            }
            Some(t)
        }
        Schedule::Cron(spec) => {
            let mut t = minute_floor(tz.to_datetime(now));
            let limit = t.checked_sub(HORIZON_DAYS.days()).ok()?;
            while t > limit {
                if !bit(spec.months, t.month()) {
                    t = t
                        .first_of_month()
                        .start_of_day()
                        .checked_sub(1.minute())
                        .ok()?;
                    continue;
                }
                if !day_ok(spec, t) {
                    t = t.start_of_day().checked_sub(1.minute()).ok()?;
                    continue;
                }
                if !bit(spec.hours, t.hour()) {
                    t = t
                        .with()
                        .minute(0)
                        .build()
                        .ok()?
                        .checked_sub(1.minute())
                        .ok()?;
                    continue;
                }
                if !bit(spec.minutes, t.minute()) {
                    t = t.checked_sub(1.minute()).ok()?;
                    continue;
                }
                let at = tz.to_ambiguous_zoned(t).compatible().ok()?.timestamp();
                if at <= now {
                    return (at > earliest).then_some(at);
                }
                t = t.checked_sub(1.minute()).ok()?;
            }
            None
        }
    }
}

/// Firings in (`earliest`, `now`], counted up to `cap`.
pub fn missed(
    schedule: &Schedule,
    tz: &TimeZone,
    earliest: Timestamp,
    now: Timestamp,
    cap: usize,
) -> usize {
    let mut n = 0;
    let mut t = earliest;
    while n < cap {
        match next_after(schedule, tz, t) {
            Some(next) if next <= now => {
                n += 1;
                t = next;
            }
            _ => break,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use verge_apiserver::validation::objects::cron::parse;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn next(spec: &str, tz: &str, after: &str) -> Option<String> {
        let tz = TimeZone::get(tz).expect("zone");
        next_after(&parse(spec).expect("spec"), &tz, at(after)).map(|t| t.to_string())
    }

    #[test]
    fn next_firings() {
        assert_eq!(
            next("* * * * *", "UTC", "2024-03-10T10:00:30Z").as_deref(),
            Some("2024-03-10T10:01:00Z")
        );
        assert_eq!(
            next("*/15 * * * *", "UTC", "2024-03-10T10:00:00Z").as_deref(),
            Some("2024-03-10T10:15:00Z")
        );
        assert_eq!(
            next("0 3 * * *", "UTC", "2024-03-10T10:00:00Z").as_deref(),
            Some("2024-03-11T03:00:00Z")
        );
        assert_eq!(
            next("@hourly", "UTC", "2024-03-10T10:00:00Z").as_deref(),
            Some("2024-03-10T11:00:00Z")
        );
        assert_eq!(
            next("@monthly", "UTC", "2024-03-10T10:00:00Z").as_deref(),
            Some("2024-04-01T00:00:00Z")
        );
        // 2024-03-10 was a Sunday.
        assert_eq!(
            next("30 9 * * mon", "UTC", "2024-03-10T10:00:00Z").as_deref(),
            Some("2024-03-11T09:30:00Z")
        );
        assert_eq!(
            next("0 0 29 2 *", "UTC", "2024-03-01T00:00:00Z").as_deref(),
            Some("2028-02-29T00:00:00Z")
        );
        assert_eq!(next("0 0 30 2 *", "UTC", "2024-03-01T00:00:00Z"), None);
        assert_eq!(
            next("@every 90s", "UTC", "2024-03-10T10:00:00.5Z").as_deref(),
            Some("2024-03-10T10:01:30Z")
        );
    }

    #[test]
    fn time_zones_use_wall_clock_fields() {
        // 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
        assert_eq!(
            next("0 9 * * *", "Europe/Berlin", "2024-01-10T12:00:00Z").as_deref(),
            Some("2024-01-11T08:00:00Z")
        );
        assert_eq!(
            next("0 9 * * *", "Europe/Berlin", "2024-07-10T12:00:00Z").as_deref(),
            Some("2024-07-11T07:00:00Z")
        );
        // 02:30 does not exist on 2024-03-31 in Berlin: the first valid instant after it.
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2024-03-30T12:00:00Z").as_deref(),
            Some("2024-03-31T01:30:00Z")
        );
    }

    #[test]
    fn latest_and_missed() {
        let s = parse("*/10 * * * *").expect("spec");
        let tz = TimeZone::UTC;
        let latest = latest_at_or_before(
            &s,
            &tz,
            at("2024-03-10T09:00:00Z"),
            at("2024-03-10T10:25:00Z"),
        );
        assert_eq!(latest, Some(at("2024-03-10T10:20:00Z")));
        assert_eq!(
            latest_at_or_before(
                &s,
                &tz,
                at("2024-03-10T10:20:00Z"),
                at("2024-03-10T10:25:00Z")
            ),
            None
        );
        assert_eq!(
            missed(
                &s,
                &tz,
                at("2024-03-10T09:00:00Z"),
                at("2024-03-10T10:25:00Z"),
                100
            ),
            8
        );
        assert_eq!(
            missed(
                &s,
                &tz,
                at("2020-01-01T00:00:00Z"),
                at("2024-03-10T10:25:00Z"),
                101
            ),
            101
        );
        let every = parse("@every 1m").expect("spec");
        assert_eq!(
            latest_at_or_before(
                &every,
                &tz,
                at("2024-03-10T10:00:00Z"),
                at("2024-03-10T10:05:30Z")
            ),
            Some(at("2024-03-10T10:05:00Z"))
        );
    }
}
