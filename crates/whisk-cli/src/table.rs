//! List output: the `actions` list and the `activation list` table (reference §9.3, §9.4),
//! with Go's duration strings and middle truncation.

use jiff::tz::Offset;
use jiff::Timestamp;
use serde_json::Value;

use crate::style::Style;

/// Status texts by status code, as the Go CLI's list shows them.
const STATUS_TEXTS: [&str; 4] = [
    "success",
    "application error",
    "developer error",
    "internal error",
];

/// One row of `action list`: `%-70s %s %s` with `/ns/name`, `private` and the kind from
/// the `exec` annotation.
pub fn action_row(action: &Value) -> String {
    let ns = str_field(action, "namespace");
    let name = str_field(action, "name");
    let kind = annotation(action, "exec")
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{:<70} private {kind}\n", format!("/{ns}/{name}"))
}

/// A list's header in bold, as the Go CLI prints it: with rows, the bold covers the
/// header's newline; without rows, the header is printed alone.
pub fn header(st: Style, header: &str, empty: bool) -> String {
    if empty {
        format!("{}\n", st.bold(header))
    } else {
        st.bold(&format!("{header}\n"))
    }
}

/// `action list` output: the `actions` header and one row per action.
pub fn action_list(st: Style, actions: &[Value]) -> String {
    let mut s = header(st, "actions", actions.is_empty());
    for a in actions {
        s.push_str(&action_row(a));
    }
    s
}

/// `trigger list` / `package list`: the header, then `%-70s %s` rows of `/ns/name` and
/// `shared` (packages with `publish: true`) or `private`.
pub fn entity_list(st: Style, title: &str, items: &[Value]) -> String {
    let mut s = header(st, title, items.is_empty());
    for item in items {
        let shared = item.get("publish").and_then(Value::as_bool) == Some(true);
        let name = format!(
            "/{}/{}",
            str_field(item, "namespace"),
            str_field(item, "name")
        );
        let scope = if shared { "shared" } else { "private" };
        s.push_str(&format!("{name:<70} {scope}\n"));
    }
    s
}

/// `rule list`: `%-70s %-20s %s` rows of `/ns/name`, `private` and the status.
pub fn rule_list(st: Style, rules: &[(Value, String)]) -> String {
    let mut s = header(st, "rules", rules.is_empty());
    for (rule, status) in rules {
        let name = format!(
            "/{}/{}",
            str_field(rule, "namespace"),
            str_field(rule, "name")
        );
        s.push_str(&format!("{name:<70} {:<20} {status}\n", "private"));
    }
    s
}

/// Sorts by lower-cased `namespace` + `name`, as the Go CLI's `--name-sort` does for
/// triggers, rules and packages.
pub fn sort_by_name(items: &mut [Value]) {
    items.sort_by_key(|v| {
        str_field(v, "namespace").to_lowercase() + &str_field(v, "name").to_lowercase()
    });
}

/// Sorts actions as `action list --name-sort` does: actions outside packages first, by
/// name; then packaged ones by lower-cased `namespace` + `name`.
pub fn sort_actions_by_name(actions: &mut [Value]) {
    actions.sort_by(|a, b| {
        let (na, nb) = (str_field(a, "namespace"), str_field(b, "namespace"));
        let (pa, pb) = (na.contains('/'), nb.contains('/'));
        pa.cmp(&pb).then_with(|| {
            if pa {
                (na.to_lowercase() + &str_field(a, "name").to_lowercase())
                    .cmp(&(nb.to_lowercase() + &str_field(b, "name").to_lowercase()))
            } else {
                str_field(a, "name").cmp(str_field(b, "name"))
            }
        })
    });
}

/// The `activation list` table. Kind and Status columns are as wide as their longest
/// value (at least `Kind` and `success`); times are shown at `offset`. Without
/// activations the Go CLI prints an empty (bold) header: one empty line.
pub fn activation_table(st: Style, activations: &[Value], offset: Offset) -> String {
    if activations.is_empty() {
        return header(st, "", true);
    }
    let kinds: Vec<&str> = activations.iter().map(kind_of).collect();
    let statuses: Vec<&str> = activations.iter().map(status_of).collect();
    let kw = kinds
        .iter()
        .map(|k| k.len())
        .max()
        .unwrap_or(0)
        .max("Kind".len());
    let sw = statuses
        .iter()
        .map(|s| s.len())
        .max()
        .unwrap_or(0)
        .max("success".len())
        .max("Status".len());
    let mut out = st.bold(&format!(
        "{:<19} {:<32} {:<kw$} {:<6}{:<10} {:<sw$} {:<6}\n",
        "Datetime", "Activation ID", "Kind", "Start", "Duration", "Status", "Entity"
    ));
    for ((a, kind), status) in activations.iter().zip(&kinds).zip(&statuses) {
        let start = num_field(a, "start");
        let end = num_field(a, "end");
        let duration = if num_field(a, "duration") == 0 {
            0
        } else {
            end - start
        };
        let warm = if annotation(a, "initTime").is_some() {
            "cold"
        } else {
            "warm"
        };
        let entity = format!(
            "{}/{}:{}",
            truncate_middle(str_field(a, "namespace"), 20),
            truncate_middle(str_field(a, "name"), 30),
            truncate_middle(str_field(a, "version"), 20)
        );
        out.push_str(&format!(
            "{} {:<32} {:<kw$} {:<5} {:<10} {:<sw$} {}\n",
            local_datetime(start, offset),
            str_field(a, "activationId"),
            kind,
            warm,
            go_duration_ms(duration),
            status,
            entity
        ));
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` of an epoch millisecond at `offset`.
pub fn local_datetime(millis: i64, offset: Offset) -> String {
    let t = Timestamp::from_millisecond(millis).unwrap_or(Timestamp::UNIX_EPOCH);
    offset
        .to_datetime(t)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A duration of `ms` milliseconds as Go's `time.Duration.String` writes it:
/// `0s`, `2ms`, `3.46s`, `1m0.5s`, `2h3m4s`.
pub fn go_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, frac) = (rest / 1000, rest % 1000);
    let mut secs = s.to_string();
    if frac > 0 {
        let f = format!("{frac:03}");
        secs.push('.');
        secs.push_str(f.trim_end_matches('0'));
    }
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// Shortens `s` to `max` characters by replacing its middle with `...`, as the Go CLI's
/// `TruncateStr` does.
pub fn truncate_middle(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_owned();
    }
    let mut head = max / 2;
    let tail_start = (chars.len() + 3).saturating_sub(head).min(chars.len());
    if max % 2 == 1 {
        head += 1;
    }
    let head: String = chars[..head.min(chars.len())].iter().collect();
    let tail: String = chars[tail_start..].iter().collect();
    format!("{head}...{tail}")
}

fn kind_of(a: &Value) -> &str {
    annotation(a, "kind")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

fn status_of(a: &Value) -> &'static str {
    let code = a
        .get("statusCode")
        .and_then(Value::as_u64)
        .or_else(|| {
            // Full records (`--full`) carry the status in `response` instead.
            let status = a.pointer("/response/status")?.as_str()?;
            match status {
                "application error" => Some(1),
                "action developer error" => Some(2),
                "whisk internal error" => Some(3),
                _ => Some(0),
            }
        })
        .unwrap_or(0);
    usize::try_from(code)
        .ok()
        .and_then(|c| STATUS_TEXTS.get(c))
        .copied()
        .unwrap_or(STATUS_TEXTS[0])
}

/// The value of annotation `key`.
pub fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get("annotations")?
        .as_array()?
        .iter()
        .find(|kv| kv.get("key").and_then(Value::as_str) == Some(key))
        .and_then(|kv| kv.get("value"))
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn num_field(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn durations() {
        for (ms, expected) in [
            (0, "0s"),
            (2, "2ms"),
            (999, "999ms"),
            (1000, "1s"),
            (3460, "3.46s"),
            (3456, "3.456s"),
            (3400, "3.4s"),
            (60_000, "1m0s"),
            (61_500, "1m1.5s"),
            (3_600_000, "1h0m0s"),
            (3_723_004, "1h2m3.004s"),
            (-5, "-5ms"),
        ] {
            assert_eq!(go_duration_ms(ms), expected, "{ms}");
        }
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate_middle("guest", 20), "guest");
        let s = "abcdefghijklmnopqrstuvwxyz"; // 26 chars
        let t = truncate_middle(s, 20);
        assert_eq!(t, "abcdefghij...tuvwxyz");
        assert_eq!(t.len(), 20);
        let t = truncate_middle(&"x".repeat(40), 30);
        assert_eq!(t.len(), 30);
        let t = truncate_middle("0123456789ABCDEFGHIJKLMNOP", 21);
        assert_eq!(t, "0123456789A...JKLMNOP");
        assert_eq!(t.len(), 21);
    }

    fn record(id: &str, kind: Option<&str>, cold: bool, start: i64, end: i64, code: u64) -> Value {
        let mut ann = vec![json!({"key": "path", "value": "guest/hello"})];
        if let Some(k) = kind {
            ann.push(json!({"key": "kind", "value": k}));
        }
        if cold {
            ann.push(json!({"key": "initTime", "value": 12}));
        }
        json!({"namespace": "guest", "name": "hello", "version": "0.0.1", "activationId": id,
               "start": start, "end": end, "duration": end - start, "statusCode": code,
               "annotations": ann})
    }

    #[test]
    fn activation_table_layout() {
        let rows = vec![
            record(
                "8690bc9904794c9390bc9904794c930e",
                Some("nodejs:6"),
                false,
                1_552_766_580_000,
                1_552_766_580_002,
                0,
            ),
            record(
                "0123456789abcdef0123456789abcdef",
                Some("blackbox"),
                true,
                1_552_766_581_000,
                1_552_766_584_460,
                1,
            ),
        ];
        let t = activation_table(Style::PLAIN, &rows, Offset::UTC);
        let expected = "\
Datetime            Activation ID                    Kind     Start Duration   Status            Entity
2019-03-16 20:03:00 8690bc9904794c9390bc9904794c930e nodejs:6 warm  2ms        success           guest/hello:0.0.1
2019-03-16 20:03:01 0123456789abcdef0123456789abcdef blackbox cold  3.46s      application error guest/hello:0.0.1
";
        assert_eq!(t, expected);
    }

    #[test]
    fn activation_table_minimum_widths_and_defaults() {
        let mut trigger = json!({"namespace": "guest", "name": "t", "version": "0.0.1",
            "activationId": "a".repeat(32), "start": 0});
        let t = activation_table(
            Style::PLAIN,
            std::slice::from_mut(&mut trigger),
            Offset::UTC,
        );
        let expected = "\
Datetime            Activation ID                    Kind    Start Duration   Status  Entity
1970-01-01 00:00:00 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa unknown warm  0s         success guest/t:0.0.1
";
        assert_eq!(t, expected);
        let short = record(&"b".repeat(32), Some("go"), false, 0, 5, 0);
        let t = activation_table(Style::PLAIN, &[short], Offset::UTC);
        assert!(t.starts_with("Datetime            Activation ID                    Kind Start Duration   Status  Entity\n"), "{t}");
        assert_eq!(activation_table(Style::PLAIN, &[], Offset::UTC), "\n");
    }

    #[test]
    fn local_times() {
        let plus2 = Offset::from_hours(2).unwrap();
        assert_eq!(local_datetime(0, plus2), "1970-01-01 02:00:00");
        let minus5 = Offset::from_hours(-5).unwrap();
        assert_eq!(
            local_datetime(1_552_766_580_000, minus5),
            "2019-03-16 15:03:00"
        );
    }

    #[test]
    fn long_entities_are_truncated() {
        let mut r = record(&"c".repeat(32), Some("blackbox"), false, 0, 1, 2);
        r["namespace"] = json!("n".repeat(25));
        r["name"] = json!("m".repeat(40));
        let t = activation_table(Style::PLAIN, &[r], Offset::UTC);
        let row = t.lines().nth(1).unwrap();
        let entity = row.rsplit(' ').next().unwrap();
        assert_eq!(
            entity,
            format!(
                "{}...{}/{}...{}:0.0.1",
                "n".repeat(10),
                "n".repeat(7),
                "m".repeat(15),
                "m".repeat(12)
            )
        );
        assert!(row.contains(" developer error "));
    }

    #[test]
    fn action_rows() {
        let a = json!({"namespace": "guest", "name": "whisk_c",
            "annotations": [{"key": "exec", "value": "blackbox"}]});
        assert_eq!(
            action_list(Style::PLAIN, &[a]),
            format!("actions\n{:<70} private blackbox\n", "/guest/whisk_c")
        );
        assert_eq!(action_list(Style::PLAIN, &[]), "actions\n");
        let bold = Style { color: true };
        assert_eq!(action_list(bold, &[]), "\x1b[1mactions\x1b[0m\n");
    }

    #[test]
    fn entity_rows() {
        let items = vec![
            json!({"namespace": "guest", "name": "demo", "publish": false}),
            json!({"namespace": "guest", "name": "shared", "publish": true}),
        ];
        assert_eq!(
            entity_list(Style::PLAIN, "packages", &items),
            format!(
                "packages\n{:<70} private\n{:<70} shared\n",
                "/guest/demo", "/guest/shared"
            )
        );
        let rules = vec![(
            json!({"namespace": "guest", "name": "r"}),
            "active".to_owned(),
        )];
        assert_eq!(
            rule_list(Style::PLAIN, &rules),
            format!("rules\n{:<70} {:<20} active\n", "/guest/r", "private")
        );
        let mut v = vec![
            json!({"namespace": "guest", "name": "b"}),
            json!({"namespace": "guest", "name": "A"}),
        ];
        sort_by_name(&mut v);
        assert_eq!(v[0]["name"], "A");
    }

    #[test]
    fn name_sort() {
        let mut v = vec![
            json!({"namespace": "guest/pkg", "name": "b"}),
            json!({"namespace": "guest", "name": "z"}),
            json!({"namespace": "guest/Apkg", "name": "c"}),
            json!({"namespace": "guest", "name": "a"}),
        ];
        sort_actions_by_name(&mut v);
        let names: Vec<&str> = v.iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["a", "z", "c", "b"]);
    }
}
