//! A small cron parser and "next tick" search, for the `alarm` feed.
//!
//! Patterns have 5 fields (`minute hour day-of-month month day-of-week`) or 6 with a leading
//! `second` field. Each field takes `*` (or `?`), numbers, ranges `a-b`, steps `*/n`,
//! `a-b/n` and `a/n`, and comma lists; months and weekdays also take three-letter names,
//! and weekday 7 is Sunday like 0. When both day fields are restricted, a day matches
//! either one (classic cron). Times are computed in a [`Zone`]: a fixed UTC offset, or a
//! named IANA zone with its daylight-saving rules (the tz database is built in).

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

    /// The first tick strictly after `after` (epoch ms), read in `zone`; `None` when none
    /// comes within five years. In a named zone a local time that does not exist (in the
    /// hour skipped when clocks go forward) fires shifted by the gap (02:30 becomes 03:30),
    /// and one that happens twice (clocks go back) fires once, at its first occurrence.
    pub fn next_after(&self, after: i64, zone: &Zone) -> Option<i64> {
        let secs = after.div_euclid(1000) + 1;
        let start = time::OffsetDateTime::from_unix_timestamp(secs)
            .ok()?
            .to_offset(zone.offset_at(secs)?);
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
                let at = zone.instant_of(t)?;
                if at >= secs {
                    return Some(at * 1000);
                }
                // The second pass through a repeated local hour: it already fired.
                t = t.checked_add(time::Duration::SECOND)?;
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

/// The time zone a cron pattern is read in.
#[derive(Debug, Clone)]
pub enum Zone {
    /// A fixed offset from UTC.
    Fixed(UtcOffset),
    /// A named IANA zone (`Europe/Berlin`), with its daylight-saving rules.
    Named(String, jiff::tz::TimeZone),
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Zone::Fixed(a), Zone::Fixed(b)) => a == b,
            (Zone::Named(a, _), Zone::Named(b, _)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Zone {}

impl Zone {
    /// The zone's offset from UTC at `secs` (epoch seconds).
    fn offset_at(&self, secs: i64) -> Option<UtcOffset> {
        match self {
            Zone::Fixed(o) => Some(*o),
            Zone::Named(_, tz) => {
                let ts = jiff::Timestamp::from_second(secs).ok()?;
                UtcOffset::from_whole_seconds(tz.to_offset(ts).seconds()).ok()
            }
        }
    }

    /// Epoch seconds of the local date and time `t` in this zone.
    fn instant_of(&self, t: PrimitiveDateTime) -> Option<i64> {
        match self {
            Zone::Fixed(o) => Some(t.assume_offset(*o).unix_timestamp()),
            Zone::Named(_, tz) => {
                let civil = jiff::civil::DateTime::new(
                    i16::try_from(t.year()).ok()?,
                    i8::try_from(u8::from(t.month())).ok()?,
                    i8::try_from(t.day()).ok()?,
                    i8::try_from(t.hour()).ok()?,
                    i8::try_from(t.minute()).ok()?,
                    i8::try_from(t.second()).ok()?,
                    0,
                )
                .ok()?;
                let ts = tz.to_ambiguous_timestamp(civil).compatible().ok()?;
                Some(ts.as_second())
            }
        }
    }
}

/// Parses a `timezone`: a fixed offset as [`parse_offset_zone`] reads it, or a named IANA
/// zone such as `Europe/Berlin` or `America/New_York`.
pub(crate) fn parse_timezone(tz: &str) -> Option<Zone> {
    if let Some(o) = parse_offset_zone(tz) {
        return Some(Zone::Fixed(o));
    }
    let name = tz.trim();
    jiff::tz::TimeZone::get(name)
        .ok()
        .map(|z| Zone::Named(name.to_owned(), z))
}

/// Parses a fixed `timezone`: `UTC`, `GMT`, `Z`, `Etc/UTC`, an offset `+02:00`, `-0530`,
/// `+2`, `UTC+2`, `GMT-03:00`, or `Etc/GMT-2` (POSIX sign: `Etc/GMT-2` is two hours east).
fn parse_offset_zone(tz: &str) -> Option<UtcOffset> {
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
        let at = c
            .next_after(ms(after), &Zone::Fixed(UtcOffset::UTC))
            .unwrap();
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
            .next_after(ms(t), &Zone::Fixed(UtcOffset::UTC))
            .is_none());
    }

    #[test]
    fn offsets() {
        let c = Cron::parse("0 9 * * *").unwrap();
        let plus2 = parse_timezone("+02:00").unwrap();
        let at = c
            .next_after(ms(datetime!(2024-01-01 00:00:00 UTC)), &plus2)
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
            let offset = UtcOffset::from_whole_seconds(secs).unwrap();
            assert_eq!(parse_timezone(tz).unwrap(), Zone::Fixed(offset), "{tz}");
        }
        for bad in ["Mars/Olympus", "+25", "2", "+1:75"] {
            assert!(parse_timezone(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn named_zones_follow_daylight_saving() {
        let c = Cron::parse("0 9 * * *").unwrap();
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        // Winter: 09:00 CET is 08:00 UTC; summer: 09:00 CEST is 07:00 UTC.
        let winter = c.next_after(ms(datetime!(2024-01-15 00:00:00 UTC)), &berlin);
        assert_eq!(winter, Some(ms(datetime!(2024-01-15 08:00:00 UTC))));
        let summer = c.next_after(ms(datetime!(2024-07-15 00:00:00 UTC)), &berlin);
        assert_eq!(summer, Some(ms(datetime!(2024-07-15 07:00:00 UTC))));
        let ny = parse_timezone("America/New_York").unwrap();
        let at = c.next_after(ms(datetime!(2024-07-15 00:00:00 UTC)), &ny);
        assert_eq!(at, Some(ms(datetime!(2024-07-15 13:00:00 UTC))));
    }

    #[test]
    fn repeated_local_hour_fires_once() {
        // Berlin goes back from 03:00 CEST to 02:00 CET on 2024-10-27: 02:30 happens twice.
        let c = Cron::parse("30 2 * * *").unwrap();
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        let first = c
            .next_after(ms(datetime!(2024-10-26 12:00:00 UTC)), &berlin)
            .unwrap();
        assert_eq!(first, ms(datetime!(2024-10-26 00:30:00 UTC)) + 86_400_000);
        let next = c.next_after(first, &berlin).unwrap();
        assert_eq!(next, ms(datetime!(2024-10-28 01:30:00 UTC)));
        // In the skipped hour (2024-03-31, 02:00 to 03:00) 02:30 fires an hour later, 03:30.
        let spring = c
            .next_after(ms(datetime!(2024-03-30 12:00:00 UTC)), &berlin)
            .unwrap();
        assert_eq!(spring, ms(datetime!(2024-03-31 01:30:00 UTC)));
    }
}
