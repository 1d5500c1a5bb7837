//! The schedule of one alarm trigger: its feed parameters validated with the alarms
//! package's texts (reference §10), and the next tick after a given time.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::cron::{parse_timezone, Cron, Zone};

/// Which feed made the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Feed {
    Alarm,
    Once,
    Interval,
}

impl Feed {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "alarm" => Some(Feed::Alarm),
            "once" => Some(Feed::Once),
            "interval" => Some(Feed::Interval),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Feed::Alarm => "alarm",
            Feed::Once => "once",
            Feed::Interval => "interval",
        }
    }
}

/// Ticks looked at when checking a plan against the minimum period (a cron pattern that
/// fires too often does so within its first few ticks).
const PERIOD_SAMPLE: usize = 500;

/// What to do with the trigger once a `once` alarm fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeleteAfterFire {
    No,
    Trigger,
    TriggerAndRules,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum When {
    Cron(Box<(Cron, Zone)>),
    Once(i64),
    /// Every `minutes` from `base`; the first tick is `base` itself when `from_base`.
    Interval {
        minutes: i64,
        base: i64,
        from_base: bool,
    },
}

/// A validated schedule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub feed: Feed,
    when: When,
    start: Option<i64>,
    stop: Option<i64>,
    /// The body of every fire.
    pub payload: Map<String, Value>,
    pub delete_after_fire: DeleteAfterFire,
}

/// Epoch ms from a number, a numeric string or an ISO-8601 string (UTC when no offset).
pub(crate) fn parse_date(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<i64>() {
                return Some(n);
            }
            if let Ok(t) = s.parse::<Timestamp>() {
                return Some(t.as_millisecond());
            }
            let utc = |t: DateTime| {
                TimeZone::UTC
                    .to_ambiguous_timestamp(t)
                    .compatible()
                    .ok()
                    .map(|t| t.as_millisecond())
            };
            if let Ok(t) = s.parse::<DateTime>() {
                return utc(t);
            }
            s.parse::<Date>()
                .ok()
                .and_then(|d| utc(d.to_datetime(jiff::civil::Time::midnight())))
        }
        _ => None,
    }
}

/// `2024-01-01T00:00:00Z` (with a fraction when there is one) for epoch ms.
pub(crate) fn iso(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// How 5-field cron alarms are spread within their minute, as openwhisk-package-alarms
/// does with its `ALARM_DELAY_LIMIT`: unless the schedule is `strict`, the pattern gets a
/// seconds field, a hash of the trigger's name in `0..=limit`, so that the alarms of one
/// minute do not all fire at its top (and a trigger keeps its second across restarts).
/// `limit` 0 spreads nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spread<'a> {
    /// The trigger's name (without namespace or package), which the second is a hash of.
    pub name: &'a str,
    /// The largest second a fire is moved to (at most 59).
    pub limit: u8,
}

impl Spread<'_> {
    /// Fires at the top of the minute.
    #[cfg(test)]
    pub const NONE: Spread<'static> = Spread { name: "", limit: 0 };

    /// The second of the minute the trigger fires at: the provider's string hash
    /// (`h = (h << 5) - h + c` over the UTF-16 units, the shift on 32 bits as
    /// JavaScript does it), then `|h % (limit + 1)|`.
    pub fn second(&self) -> u8 {
        let mut hash: i64 = 0;
        for unit in self.name.encode_utf16() {
            // JavaScript: `hash << 5` truncates `hash` to 32 bits first; the sum is exact.
            let shifted = i64::from((hash as i32).wrapping_shl(5));
            hash = shifted - hash + i64::from(unit);
        }
        let second = (hash % (i64::from(self.limit.min(59)) + 1)).abs();
        u8::try_from(second).unwrap_or(0)
    }
}

/// Whether the `strict` parameter asks for fires at the top of the minute: `true`, or a
/// string reading `true` in any case (as the alarms provider reads it). Absent: no.
fn is_strict(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A string payload becomes `{"payload": s}`; an empty one, or none, is `{}`.
fn payload(v: Option<&Value>) -> Result<Map<String, Value>, String> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Map::new()),
        Some(Value::String(s)) => {
            let mut m = Map::new();
            m.insert("payload".into(), json!(s));
            Ok(m)
        }
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err("trigger_payload must be a string or an object".into()),
    }
}

impl Plan {
    /// Validates the parameters of `feed`. `created` is when the schedule was first made
    /// (intervals without `startDate` count from it); `now` judges dates in the past;
    /// `spread` moves the fires of 5-field cron patterns within their minute unless the
    /// parameter `strict` is true.
    ///
    /// # Errors
    /// The alarms package's validation text.
    pub fn parse(
        feed: Feed,
        params: &Map<String, Value>,
        created: i64,
        now: i64,
        spread: Spread<'_>,
    ) -> Result<Self, String> {
        let get = |k: &str| params.get(k).filter(|v| !v.is_null() && **v != json!(""));
        let date = |k: &str| -> Result<Option<i64>, String> {
            match get(k) {
                None => Ok(None),
                Some(v) => parse_date(v)
                    .map(Some)
                    .ok_or_else(|| format!("{k} parameter '{}' is not a valid Date", text(v))),
            }
        };
        let start = date("startDate")?;
        let stop = date("stopDate")?;
        if let (Some(a), Some(b)) = (start, stop) {
            if b <= a {
                return Err(format!(
                    "stopDate parameter '{}' must be greater than the startDate",
                    text(get("stopDate").unwrap_or(&Value::Null))
                ));
            }
        }
        let delete_after_fire = match get("deleteAfterFire") {
            None => DeleteAfterFire::No,
            Some(v) => match v {
                Value::Bool(false) => DeleteAfterFire::No,
                Value::Bool(true) => DeleteAfterFire::Trigger,
                Value::String(s) if s.eq_ignore_ascii_case("false") => DeleteAfterFire::No,
                Value::String(s) if s.eq_ignore_ascii_case("true") => DeleteAfterFire::Trigger,
                Value::String(s) if s.eq_ignore_ascii_case("rules") => {
                    DeleteAfterFire::TriggerAndRules
                }
                _ => {
                    return Err(
                        "deleteAfterFire parameter must be one of [false, true, rules].".into(),
                    )
                }
            },
        };
        let when = match feed {
            Feed::Alarm => {
                let cron =
                    get("cron").ok_or("alarms trigger feed is missing the cron parameter")?;
                let pattern = text(cron);
                let mut parsed = cron
                    .as_str()
                    .and_then(Cron::parse)
                    .ok_or_else(|| format!("cron pattern '{pattern}' is not valid"))?;
                if spread.limit > 0 && !is_strict(get("strict")) && Cron::is_five_fields(&pattern) {
                    let spread_pattern = format!("{} {pattern}", spread.second());
                    parsed = Cron::parse(&spread_pattern)
                        .ok_or_else(|| format!("cron pattern '{pattern}' is not valid"))?;
                }
                let tz = match get("timezone") {
                    None => Zone::UTC,
                    Some(v) => v.as_str().and_then(parse_timezone).ok_or_else(|| {
                        format!(
                            "timezone '{}' is not supported: use an IANA zone such as Europe/Berlin, UTC, or an offset such as +02:00",
                            text(v)
                        )
                    })?,
                };
                When::Cron(Box::new((parsed, tz)))
            }
            Feed::Once => {
                let d =
                    get("date").ok_or("alarms once trigger feed is missing the date parameter")?;
                let at = parse_date(d)
                    .ok_or_else(|| format!("date parameter '{}' is not a valid Date", text(d)))?;
                if at <= now {
                    return Err(format!(
                        "date parameter '{}' must be in the future",
                        text(d)
                    ));
                }
                When::Once(at)
            }
            Feed::Interval => {
                let m = get("minutes")
                    .ok_or("interval trigger feed is missing the minutes parameter")?;
                let minutes = match m {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                }
                .filter(|m| *m > 0)
                .ok_or("the minutes parameter must be an integer greater than zero")?;
                When::Interval {
                    minutes,
                    base: start.unwrap_or(created),
                    from_base: start.is_some(),
                }
            }
        };
        let plan = Self {
            feed,
            when,
            start,
            stop,
            payload: payload(params.get("trigger_payload"))?,
            delete_after_fire,
        };
        if plan.stop.is_some() && plan.next_after(now.max(created)).is_none() {
            return Err("the first scheduled trigger fire is not until after the stop date".into());
        }
        Ok(plan)
    }

    /// The first tick strictly after `after` (epoch ms) within the start and stop dates.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let after = match self.start {
            Some(s) => after.max(s - 1),
            None => after,
        };
        let tick = match &self.when {
            When::Cron(cron) => cron.0.next_after(after, &cron.1)?,
            When::Once(at) => (*at > after).then_some(*at)?,
            When::Interval {
                minutes,
                base,
                from_base,
            } => {
                let period = minutes * 60_000;
                let first = if *from_base { *base } else { base + period };
                if first > after {
                    first
                } else {
                    let k = (after - first) / period + 1;
                    first + k * period
                }
            }
        };
        match self.stop {
            Some(stop) if tick > stop => None,
            _ => Some(tick),
        }
    }

    /// Refuses a plan whose ticks come closer together than `min_ms` (the operator's
    /// minimum alarm period), judged over the first [`PERIOD_SAMPLE`] ticks after `from`.
    ///
    /// # Errors
    /// A text naming the period found and the one allowed.
    pub fn check_min_period(&self, from: i64, min_ms: i64) -> Result<(), String> {
        let mut last = match self.next_after(from) {
            Some(t) => t,
            None => return Ok(()),
        };
        for _ in 0..PERIOD_SAMPLE {
            let Some(next) = self.next_after(last) else {
                break;
            };
            if next - last < min_ms {
                return Err(format!(
                    "the alarm would fire every {} s, more often than the minimum period of {} s allows",
                    (next - last) as f64 / 1000.0,
                    min_ms as f64 / 1000.0
                ));
            }
            last = next;
        }
        Ok(())
    }

    /// The latest tick due at `now` after `last`, skipping older missed ticks so a long
    /// outage does not fire a burst. `None` when nothing is due.
    pub fn due(&self, last: i64, now: i64) -> Option<i64> {
        let mut due = self.next_after(last).filter(|t| *t <= now)?;
        for _ in 0..10_000 {
            match self.next_after(due) {
                Some(t) if t <= now => due = t,
                _ => break,
            }
        }
        Some(due)
    }
}

/// A parameter as it appears in messages: strings bare, anything else as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn err(feed: Feed, v: Value) -> String {
        Plan::parse(feed, &params(v), NOW, NOW, Spread::NONE).unwrap_err()
    }

    #[test]
    fn validation_texts() {
        assert_eq!(
            err(Feed::Alarm, json!({})),
            "alarms trigger feed is missing the cron parameter"
        );
        assert_eq!(
            err(Feed::Alarm, json!({"cron": "nope"})),
            "cron pattern 'nope' is not valid"
        );
        assert_eq!(
            err(Feed::Once, json!({"trigger_payload": ""})),
            "alarms once trigger feed is missing the date parameter"
        );
        assert_eq!(
            err(Feed::Interval, json!({})),
            "interval trigger feed is missing the minutes parameter"
        );
        assert_eq!(
            err(Feed::Interval, json!({"minutes": 0})),
            "the minutes parameter must be an integer greater than zero"
        );
        assert_eq!(
            err(Feed::Interval, json!({"minutes": 1.5})),
            "the minutes parameter must be an integer greater than zero"
        );
        assert_eq!(
            err(
                Feed::Once,
                json!({"date": NOW + 1000, "deleteAfterFire": "maybe"})
            ),
            "deleteAfterFire parameter must be one of [false, true, rules]."
        );
        assert_eq!(
            err(
                Feed::Alarm,
                json!({"cron": "0 0 1 1 *", "stopDate": NOW + 60_000})
            ),
            "the first scheduled trigger fire is not until after the stop date"
        );
        assert!(err(Feed::Once, json!({"date": NOW - 1})).ends_with("must be in the future"));
        assert!(err(
            Feed::Alarm,
            json!({"cron": "* * * * *", "timezone": "Mars/Olympus"})
        )
        .starts_with("timezone 'Mars/Olympus' is not supported"));
    }

    #[test]
    fn minimum_period() {
        let minute = 60_000;
        let plan = |v: Value| {
            let feed = if v.get("cron").is_some() {
                Feed::Alarm
            } else {
                Feed::Interval
            };
            Plan::parse(feed, &params(v), NOW, NOW, Spread::NONE).unwrap()
        };
        let every_second = plan(json!({"cron": "* * * * * *"}));
        assert_eq!(
            every_second.check_min_period(NOW, minute).unwrap_err(),
            "the alarm would fire every 1 s, more often than the minimum period of 60 s allows"
        );
        assert!(every_second.check_min_period(NOW, 1000).is_ok());
        let twice = plan(json!({"cron": "0,30 * * * * *"}));
        assert!(twice.check_min_period(NOW, minute).is_err());
        assert!(plan(json!({"cron": "0 * * * * *"}))
            .check_min_period(NOW, minute)
            .is_ok());
        assert!(plan(json!({"cron": "* * * * *"}))
            .check_min_period(NOW, minute)
            .is_ok());
        let interval = plan(json!({"minutes": 1}));
        assert!(interval.check_min_period(NOW, minute).is_ok());
        assert!(interval.check_min_period(NOW, 2 * minute).is_err());
    }

    #[test]
    fn ticks() {
        let once = Plan::parse(
            Feed::Once,
            &params(json!({"date": iso(NOW + 5000), "trigger_payload": "hi"})),
            NOW,
            NOW,
            Spread::NONE,
        )
        .unwrap();
        assert_eq!(once.next_after(NOW), Some(NOW + 5000));
        assert_eq!(once.next_after(NOW + 5000), None);
        assert_eq!(once.payload, params(json!({"payload": "hi"})));
        assert_eq!(once.due(NOW, NOW + 4999), None);
        assert_eq!(once.due(NOW, NOW + 9999), Some(NOW + 5000));

        let every = Plan::parse(
            Feed::Interval,
            &params(json!({"minutes": 2})),
            NOW,
            NOW,
            Spread::NONE,
        )
        .unwrap();
        assert_eq!(every.next_after(NOW), Some(NOW + 120_000));
        assert_eq!(every.next_after(NOW + 120_000), Some(NOW + 240_000));
        // After an outage only the latest missed tick is due.
        assert_eq!(every.due(NOW, NOW + 500_000), Some(NOW + 480_000));

        let started = Plan::parse(
            Feed::Interval,
            &params(json!({"minutes": "1", "startDate": NOW + 30_000, "stopDate": NOW + 100_000})),
            NOW,
            NOW,
            Spread::NONE,
        )
        .unwrap();
        assert_eq!(started.next_after(NOW), Some(NOW + 30_000));
        assert_eq!(started.next_after(NOW + 30_000), Some(NOW + 90_000));
        assert_eq!(started.next_after(NOW + 90_000), None);

        let cron = Plan::parse(
            Feed::Alarm,
            &params(json!({"cron": "*/10 * * * * *", "trigger_payload": {"a": 1}})),
            NOW,
            NOW,
            Spread::NONE,
        )
        .unwrap();
        assert_eq!(cron.next_after(NOW), Some(NOW + 10_000));
        assert_eq!(cron.payload, params(json!({"a": 1})));
    }

    #[test]
    fn spread_seconds_are_the_providers_hash() {
        // Values computed with openwhisk-package-alarms' hashName in Node.js.
        for (name, at_59, at_10) in [
            ("cron", 14, 3),
            ("tick", 37, 6),
            ("a", 37, 9),
            ("every-minute", 18, 7),
            ("périodique-✓", 33, 9),
            (
                "a-very-long-trigger-name-that-overflows-32-bits-many-times-over-0123456789",
                57,
                7,
            ),
        ] {
            assert_eq!(Spread { name, limit: 59 }.second(), at_59, "{name}");
            assert_eq!(Spread { name, limit: 10 }.second(), at_10, "{name}");
        }
    }

    #[test]
    fn five_field_crons_are_spread_unless_strict() {
        // NOW is 2023-11-14T22:13:20Z; the next minute starts 40 s later.
        let minute = NOW + 40_000;
        let spread = Spread {
            name: "tick",
            limit: 59,
        };
        let plan = |v: Value, spread| Plan::parse(Feed::Alarm, &params(v), NOW, NOW, spread);
        // "tick" fires at second 37: 22:13:37 is still to come.
        let at_37 = NOW + 17_000;
        let spread_plan = plan(json!({"cron": "* * * * *"}), spread).unwrap();
        assert_eq!(spread_plan.next_after(NOW), Some(at_37));
        assert_eq!(spread_plan.next_after(at_37), Some(at_37 + 60_000));
        for strict in [json!(true), json!("TRUE"), json!("true")] {
            let p = plan(json!({"cron": "* * * * *", "strict": strict}), spread).unwrap();
            assert_eq!(p.next_after(NOW), Some(minute), "{strict}");
        }
        // Not strict (false, or anything but true), as the provider reads it.
        for loose in [json!(false), json!("no")] {
            let p = plan(json!({"cron": "* * * * *", "strict": loose}), spread).unwrap();
            assert_eq!(p.next_after(NOW), Some(at_37), "{loose}");
        }
        // A pattern with seconds, or a nickname, is never moved; no limit moves nothing.
        let seconds = plan(json!({"cron": "0 * * * * *"}), spread).unwrap();
        assert_eq!(seconds.next_after(NOW), Some(minute));
        let hourly = plan(json!({"cron": "@hourly"}), spread).unwrap();
        assert_eq!(hourly.next_after(NOW), Some(NOW + 40_000 + 46 * 60_000));
        let none = plan(json!({"cron": "* * * * *"}), Spread::NONE).unwrap();
        assert_eq!(none.next_after(NOW), Some(minute));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date(&json!(5)), Some(5));
        assert_eq!(parse_date(&json!("5")), Some(5));
        assert_eq!(parse_date(&json!("2023-11-14T22:13:20.000Z")), Some(NOW));
        assert_eq!(parse_date(&json!("2023-11-14T23:13:20+01:00")), Some(NOW));
        assert_eq!(parse_date(&json!("2023-11-14T22:13:20")), Some(NOW));
        assert_eq!(parse_date(&json!("2023-11-14")), Some(NOW - 80_000_000));
        assert_eq!(parse_date(&json!("soon")), None);
        assert_eq!(iso(NOW), "2023-11-14T22:13:20Z");
    }
}
