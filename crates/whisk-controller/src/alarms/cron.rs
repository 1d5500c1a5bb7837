//! A small cron parser and "next tick" search, for the `alarm` feed.
//!
//! Patterns have 5 fields (`minute hour day-of-month month day-of-week`) or 6 with a leading
//! `second` field. Each field takes `*` (or `?`), numbers, ranges `a-b`, steps `*/n`,
//! `a-b/n` and `a/n`, and comma lists; months and weekdays also take three-letter names,
//! and weekday 7 is Sunday like 0. When both day fields are restricted, a day matches
//! either one (classic cron). Times are computed in a fixed UTC offset.

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// Ticks further than this from the start are never searched (a pattern like `0 0 30 2 *`
/// matches no day at all).
const HORIZON_DAYS: i64 = 366 * 5;

/// A parsed cron pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One field: a bit per allowed value, and whether it was `*`.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Option<(u64, bool)> {
    let value = |s: &str| -> Option<u32> {
        if let Ok(n) = s.parse::<u32>() {
            return Some(n);
        }
        let lower = s.to_ascii_lowercase();
        let i = names.iter().position(|n| *n == lower)?;
        // Month names start at 1, weekday names at 0.
        Some(i as u32 + if names.len() == 12 { 1 } else { 0 })
    };
    let mut bits = 0u64;
    let star = text == "*" || text == "?";
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = match range {
            "*" | "?" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if part.contains('/') => (value(r)?, max),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        if lo < min || hi > max || lo > hi {
            return None;
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Some((bits, star))
}

fn has(bits: u64, v: u8) -> bool {
    bits & (1 << v) != 0
}

impl Cron {
    /// Parses a pattern; `None` when it is not valid.
    pub fn parse(pattern: &str) -> Option<Self> {
        let parts: Vec<&str> = pattern.split_whitespace().collect();
        let (sec, rest) = match parts.len() {
            5 => ("0", &parts[..]),
            6 => (parts[0], &parts[1..]),
            _ => return None,
        };
        let (seconds, _) = field(sec, 0, 59, &[])?;
        let (minutes, _) = field(rest[0], 0, 59, &[])?;
        let (hours, _) = field(rest[1], 0, 23, &[])?;
        let (days, day_star) = field(rest[2], 1, 31, &[])?;
        let (months, _) = field(rest[3], 1, 12, &MONTHS)?;
        let (mut weekdays, weekday_star) = field(rest[4], 0, 7, &WEEKDAYS)?;
        if has(weekdays, 7) {
            weekdays |= 1;
        }
        Some(Self {
            seconds,
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted: !day_star,
            weekdays_restricted: !weekday_star,
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = has(self.days, d.day());
        let dow = has(self.weekdays, d.weekday().number_days_from_sunday());
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first tick strictly after `after` (epoch ms), in the fixed `offset`; `None`
    /// when none comes within five years.
    pub fn next_after(&self, after: i64, offset: UtcOffset) -> Option<i64> {
        let secs = after.div_euclid(1000) + 1;
        let start = time::OffsetDateTime::from_unix_timestamp(secs)
            .ok()?
            .to_offset(offset);
        let mut t = PrimitiveDateTime::new(start.date(), start.time());
        let limit = t.date().checked_add(time::Duration::days(HORIZON_DAYS))?;
        while t.date() <= limit {
            let (date, clock) = (t.date(), t.time());
            if !has(self.months, u8::from(date.month())) {
                t = first_of_next_month(date)?;
            } else if !self.day_matches(date) {
                t = PrimitiveDateTime::new(date.next_day()?, Time::MIDNIGHT);
            } else if !has(self.hours, clock.hour()) {
                t = next_unit(t, 3600, clock.minute(), clock.second())?;
            } else if !has(self.minutes, clock.minute()) {
                t = next_unit(t, 60, 0, clock.second())?;
            } else if !has(self.seconds, clock.second()) {
                t = t.checked_add(time::Duration::SECOND)?;
            } else {
                let at = t.assume_offset(offset).unix_timestamp();
                return Some(at * 1000);
            }
        }
        None
    }
}

/// The start of the next hour (`unit` 3600) or minute (`unit` 60).
fn next_unit(t: PrimitiveDateTime, unit: i64, minute: u8, second: u8) -> Option<PrimitiveDateTime> {
    let into = if unit == 3600 {
        i64::from(minute) * 60 + i64::from(second)
    } else {
        i64::from(second)
    };
    t.checked_add(time::Duration::seconds(unit - into))
}

fn first_of_next_month(d: Date) -> Option<PrimitiveDateTime> {
    let (year, month) = match d.month() {
        Month::December => (d.year() + 1, Month::January),
        m => (d.year(), m.next()),
    };
    Some(PrimitiveDateTime::new(
        Date::from_calendar_date(year, month, 1).ok()?,
        Time::MIDNIGHT,
    ))
}

/// Parses a `timezone`: `UTC`, `GMT`, `Z`, `Etc/UTC`, an offset `+02:00`, `-0530`, `+2`,
/// `UTC+2`, `GMT-03:00`, or `Etc/GMT-2` (POSIX sign: `Etc/GMT-2` is two hours east).
/// Named zones with daylight saving time (`Europe/Berlin`) are not supported.
pub(crate) fn parse_timezone(tz: &str) -> Option<UtcOffset> {
    let t = tz.trim();
    let upper = t.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        "" | "UTC" | "GMT" | "Z" | "ETC/UTC" | "ETC/GMT" | "UCT" | "ETC/UCT"
    ) {
        return Some(UtcOffset::UTC);
    }
    if let Some(rest) = upper.strip_prefix("ETC/GMT") {
        let o = parse_offset(rest)?;
        return UtcOffset::from_whole_seconds(-o.whole_seconds()).ok();
    }
    let rest = upper
        .strip_prefix("UTC")
        .or_else(|| upper.strip_prefix("GMT"))
        .unwrap_or(&upper);
    parse_offset(rest)
}

/// `+HH`, `+HHMM`, `+HH:MM` (sign required).
fn parse_offset(s: &str) -> Option<UtcOffset> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        None if digits.len() == 4 => digits.split_at(2),
        None => (digits, "0"),
    };
    if h.is_empty() || h.len() > 2 || m.is_empty() || m.len() > 2 {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn ms(t: time::OffsetDateTime) -> i64 {
        t.unix_timestamp() * 1000
    }

    fn next(pattern: &str, after: time::OffsetDateTime) -> time::OffsetDateTime {
        let c = Cron::parse(pattern).unwrap_or_else(|| panic!("{pattern}"));
        let at = c.next_after(ms(after), UtcOffset::UTC).unwrap();
        time::OffsetDateTime::from_unix_timestamp(at / 1000).unwrap()
    }

    #[test]
    fn parses_and_refuses() {
        for ok in [
            "* * * * *",
            "*/5 * * * *",
            "0 9-17/2 * * mon-fri",
            "*/10 * * * * *",
            "0 0 1,15 jan,JUL ?",
            "30 4 * * 7",
        ] {
            assert!(Cron::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "* * * *",
            "* * * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "x * * * *",
        ] {
            assert!(Cron::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn next_ticks() {
        let t = datetime!(2024-01-31 23:59:30 UTC);
        assert_eq!(next("* * * * *", t), datetime!(2024-02-01 00:00:00 UTC));
        assert_eq!(
            next("*/10 * * * * *", t),
            datetime!(2024-01-31 23:59:40 UTC)
        );
        assert_eq!(next("0 12 * * *", t), datetime!(2024-02-01 12:00:00 UTC));
        assert_eq!(next("0 0 29 2 *", t), datetime!(2024-02-29 00:00:00 UTC));
        // 2024-02-03 is a Saturday.
        assert_eq!(next("15 10 * * sat", t), datetime!(2024-02-03 10:15:00 UTC));
        // Either day field matches when both are restricted: the 5th or any Monday.
        assert_eq!(next("0 0 5 * mon", t), datetime!(2024-02-05 00:00:00 UTC));
        assert_eq!(
            next("0 0 1 * *", datetime!(2024-12-15 00:00:00 UTC)),
            datetime!(2025-01-01 00:00:00 UTC)
        );
        // Strictly after: a tick exactly at `after` is not returned again.
        assert_eq!(
            next("0 * * * *", datetime!(2024-01-01 10:00:00 UTC)),
            datetime!(2024-01-01 11:00:00 UTC)
        );
        assert!(Cron::parse("0 0 30 2 *")
            .unwrap()
            .next_after(ms(t), UtcOffset::UTC)
            .is_none());
    }

    #[test]
    fn offsets() {
        let c = Cron::parse("0 9 * * *").unwrap();
        let plus2 = parse_timezone("+02:00").unwrap();
        let at = c
            .next_after(ms(datetime!(2024-01-01 00:00:00 UTC)), plus2)
            .unwrap();
        assert_eq!(at, ms(datetime!(2024-01-01 07:00:00 UTC)));
        for (tz, secs) in [
            ("UTC", 0),
            ("Etc/UTC", 0),
            ("-0530", -19800),
            ("UTC+2", 7200),
            ("GMT-03:00", -10800),
            ("Etc/GMT-2", 7200),
            ("+1", 3600),
        ] {
            assert_eq!(parse_timezone(tz).unwrap().whole_seconds(), secs, "{tz}");
        }
        for bad in ["Europe/Berlin", "+25", "2", "+1:75"] {
            assert!(parse_timezone(bad).is_none(), "{bad}");
        }
    }
}
