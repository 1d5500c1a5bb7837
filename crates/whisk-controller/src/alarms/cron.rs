//! Cron patterns for the `alarm` feed: parsing and the next tick are the `croner` crate's
//! (POSIX/Vixie semantics on `jiff` date-times); this module adds what the feed needs
//! around it.
//!
//! Patterns have 5 fields (`minute hour day-of-month month day-of-week`) or 6 with a leading
//! `second` field (a year field is refused). Each field takes `*` (or `?`), numbers, ranges
//! `a-b`, steps `*/n`, `a-b/n` and `a/n`, and comma lists; months and weekdays also take
//! three-letter names, and weekday 7 is Sunday like 0. When both day fields are restricted,
//! a day matches either one (classic cron). croner also takes `L`, `W`, `#` and nicknames
//! such as `@daily`.
//!
//! What croner does not do the way the feed needs, and so stays here:
//! - the search runs on local civil times and each tick is placed on the time line here, so
//!   that a local time skipped when clocks go forward fires shifted by the gap (02:30
//!   becomes 03:30, as the feed has always done; croner would fire at 03:00), and a local
//!   time that happens twice (clocks go back) fires once, at its first occurrence;
//! - the `timezone` parameter also takes fixed offsets in the forms users write (`+2`,
//!   `UTC+2`, `Etc/GMT-2`, ...) which are no IANA names;
//! - no tick more than five years ahead (croner searches to the year 5000).

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, ToSpan};

/// Ticks further than this from the start are never searched (a pattern like `0 0 30 2 *`
/// matches no day at all).
const HORIZON_YEARS: i16 = 5;

/// Ticks in a repeated local hour that were already passed, skipped at most this often
/// (an every-second pattern passes 3600 of them in a repeated hour).
const REPEATED_SKIPS: usize = 4000;

/// A parsed cron pattern.
#[derive(Debug, Clone)]
pub(crate) struct Cron(croner::Cron);

impl PartialEq for Cron {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Cron {}

impl Cron {
    /// Parses a pattern; `None` when it is not valid.
    pub fn parse(pattern: &str) -> Option<Self> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .sloppy_ranges(true)
            .build()
            .parse(pattern)
            .ok()
            .map(Self)
    }

    /// Whether a pattern has the five classic fields (no seconds field, no nickname such
    /// as `@hourly`): the patterns the alarms provider spreads within their minute.
    pub fn is_five_fields(pattern: &str) -> bool {
        pattern.split_whitespace().count() == 5
    }

    /// The first tick strictly after `after` (epoch ms), read in `zone`; `None` when none
    /// comes within five years. In a named zone a local time that does not exist (in the
    /// hour skipped when clocks go forward) fires shifted by the gap (02:30 becomes 03:30),
    /// and one that happens twice (clocks go back) fires once, at its first occurrence.
    pub fn next_after(&self, after: i64, zone: &Zone) -> Option<i64> {
        let tz = zone.time_zone();
        let start = Timestamp::from_millisecond(after).ok()?;
        let mut civil: DateTime = tz.to_datetime(start);
        let limit = civil.checked_add(i64::from(HORIZON_YEARS).years()).ok()?;
        for _ in 0..REPEATED_SKIPS {
            civil = self.0.find_next_occurrence(&civil, false).ok()?;
            if civil > limit {
                return None;
            }
            // `compatible`: a skipped local time moves forward by the gap, a repeated one
            // takes its first occurrence.
            let at = tz.to_ambiguous_timestamp(civil).compatible().ok()?;
            let ms = at.as_millisecond();
            if ms > after {
                return Some(ms);
            }
            // The second pass through a repeated local hour: it already fired.
        }
        None
    }
}

/// The time zone a cron pattern is read in.
#[derive(Debug, Clone)]
pub enum Zone {
    /// A fixed offset from UTC.
    Fixed(Offset),
    /// A named IANA zone (`Europe/Berlin`), with its daylight-saving rules.
    Named(String, TimeZone),
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
    pub const UTC: Zone = Zone::Fixed(Offset::UTC);

    fn time_zone(&self) -> TimeZone {
        match self {
            Zone::Fixed(o) => TimeZone::fixed(*o),
            Zone::Named(_, tz) => tz.clone(),
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
    TimeZone::get(name)
        .ok()
        .map(|z| Zone::Named(name.to_owned(), z))
}

/// Parses a fixed `timezone`: `UTC`, `GMT`, `Z`, `Etc/UTC`, an offset `+02:00`, `-0530`,
/// `+2`, `UTC+2`, `GMT-03:00`, or `Etc/GMT-2` (POSIX sign: `Etc/GMT-2` is two hours east).
fn parse_offset_zone(tz: &str) -> Option<Offset> {
    let t = tz.trim();
    let upper = t.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        "" | "UTC" | "GMT" | "Z" | "ETC/UTC" | "ETC/GMT" | "UCT" | "ETC/UCT"
    ) {
        return Some(Offset::UTC);
    }
    if let Some(rest) = upper.strip_prefix("ETC/GMT") {
        let o = parse_offset(rest)?;
        return Offset::from_seconds(-o.seconds()).ok();
    }
    let rest = upper
        .strip_prefix("UTC")
        .or_else(|| upper.strip_prefix("GMT"))
        .unwrap_or(&upper);
    parse_offset(rest)
}

/// `+HH`, `+HHMM`, `+HH:MM` (sign required).
fn parse_offset(s: &str) -> Option<Offset> {
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
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UTC instant from `2024-01-31 23:59:30`.
    fn datetime(utc: &str) -> Timestamp {
        format!("{}Z", utc.replace(' ', "T")).parse().unwrap()
    }

    fn ms(t: Timestamp) -> i64 {
        t.as_millisecond()
    }

    fn next(pattern: &str, after: Timestamp) -> Timestamp {
        let c = Cron::parse(pattern).unwrap_or_else(|| panic!("{pattern}"));
        let at = c.next_after(ms(after), &Zone::UTC).unwrap();
        Timestamp::from_millisecond(at).unwrap()
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
        let t = datetime("2024-01-31 23:59:30");
        assert_eq!(next("* * * * *", t), datetime("2024-02-01 00:00:00"));
        assert_eq!(next("*/10 * * * * *", t), datetime("2024-01-31 23:59:40"));
        assert_eq!(next("0 12 * * *", t), datetime("2024-02-01 12:00:00"));
        assert_eq!(next("0 0 29 2 *", t), datetime("2024-02-29 00:00:00"));
        // 2024-02-03 is a Saturday.
        assert_eq!(next("15 10 * * sat", t), datetime("2024-02-03 10:15:00"));
        // Either day field matches when both are restricted: the 5th or any Monday.
        assert_eq!(next("0 0 5 * mon", t), datetime("2024-02-05 00:00:00"));
        assert_eq!(
            next("0 0 1 * *", datetime("2024-12-15 00:00:00")),
            datetime("2025-01-01 00:00:00")
        );
        // Strictly after: a tick exactly at `after` is not returned again.
        assert_eq!(
            next("0 * * * *", datetime("2024-01-01 10:00:00")),
            datetime("2024-01-01 11:00:00")
        );
        assert!(Cron::parse("0 0 30 2 *")
            .unwrap()
            .next_after(ms(t), &Zone::UTC)
            .is_none());
    }

    #[test]
    fn offsets() {
        let c = Cron::parse("0 9 * * *").unwrap();
        let plus2 = parse_timezone("+02:00").unwrap();
        let at = c
            .next_after(ms(datetime("2024-01-01 00:00:00")), &plus2)
            .unwrap();
        assert_eq!(at, ms(datetime("2024-01-01 07:00:00")));
        for (tz, secs) in [
            ("UTC", 0),
            ("Etc/UTC", 0),
            ("-0530", -19800),
            ("UTC+2", 7200),
            ("GMT-03:00", -10800),
            ("Etc/GMT-2", 7200),
            ("+1", 3600),
        ] {
            let offset = Offset::from_seconds(secs).unwrap();
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
        let winter = c.next_after(ms(datetime("2024-01-15 00:00:00")), &berlin);
        assert_eq!(winter, Some(ms(datetime("2024-01-15 08:00:00"))));
        let summer = c.next_after(ms(datetime("2024-07-15 00:00:00")), &berlin);
        assert_eq!(summer, Some(ms(datetime("2024-07-15 07:00:00"))));
        let ny = parse_timezone("America/New_York").unwrap();
        let at = c.next_after(ms(datetime("2024-07-15 00:00:00")), &ny);
        assert_eq!(at, Some(ms(datetime("2024-07-15 13:00:00"))));
    }

    #[test]
    fn repeated_local_hour_fires_once() {
        // Berlin goes back from 03:00 CEST to 02:00 CET on 2024-10-27: 02:30 happens twice.
        let c = Cron::parse("30 2 * * *").unwrap();
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        let first = c
            .next_after(ms(datetime("2024-10-26 12:00:00")), &berlin)
            .unwrap();
        assert_eq!(first, ms(datetime("2024-10-26 00:30:00")) + 86_400_000);
        let next = c.next_after(first, &berlin).unwrap();
        assert_eq!(next, ms(datetime("2024-10-28 01:30:00")));
        // In the skipped hour (2024-03-31, 02:00 to 03:00) 02:30 fires an hour later, 03:30.
        let spring = c
            .next_after(ms(datetime("2024-03-30 12:00:00")), &berlin)
            .unwrap();
        assert_eq!(spring, ms(datetime("2024-03-31 01:30:00")));
    }
}
