//! `wsk activation list|get|logs|result|poll`.

use jiff::tz::Offset;
use jiff::Timestamp;
use serde_json::Value;
use whisk_client::{ActivationListOptions, Client, QualifiedName};

use crate::cli::{
    ActivationCommand, ActivationGetArgs, ActivationListArgs, ActivationPollArgs, GlobalArgs,
};
use crate::config::Properties;
use crate::json::{pretty, Shape, ACTIVATION};
use crate::{client, messages, table, CliError, Ctx};

/// `activation logs|result` without an id or `--last`.
const ID_REQUIRED: &str = "Invalid argument(s). An activation ID is required.";

pub async fn run(
    cmd: ActivationCommand,
    root: &GlobalArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    match cmd {
        ActivationCommand::List(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            list(&a, &props, ctx).await
        }
        ActivationCommand::Get(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            get(&a, &props, ctx).await
        }
        ActivationCommand::Logs(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let c = client(&props, "Unable to get logs for activation")?;
            let id = id_or_last(
                a.id.as_deref(),
                a.last,
                &c,
                "Unable to get logs for activation",
            )
            .await?;
            let context = format!("Unable to get logs for activation '{id}'");
            let logs = c
                .activation_logs(&id)
                .await
                .map_err(|e| CliError::client(&context, e))?;
            ctx.print(&log_lines(&logs, a.strip))
        }
        ActivationCommand::Result(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            let c = client(&props, "Unable to get result for activation")?;
            let id = id_or_last(
                a.id.as_deref(),
                a.last,
                &c,
                "Unable to get result for activation",
            )
            .await?;
            let context = format!("Unable to get result for activation '{id}'");
            let response = c
                .activation_result(&id)
                .await
                .map_err(|e| CliError::client(&context, e))?;
            let result = response.get("result").cloned().unwrap_or(Value::Null);
            ctx.print(&pretty(&result, Shape::Any))
        }
        ActivationCommand::Poll(a) => {
            let props = ctx.properties(&root.merge(&a.global));
            poll(&a, &props, ctx).await
        }
    }
}

/// How often `activation poll` asks for new activations.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// `activation poll`: prints each new activation's logs until `--exit` seconds have
/// passed or Ctrl-C.
async fn poll(
    args: &ActivationPollArgs,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let context = "Unable to poll for activations";
    let c = client(props, context)?;
    ctx.print("Enter Ctrl-c to exit.\n")?;
    let back_secs = args.since_seconds
        + 60 * args.since_minutes
        + 3600 * (args.since_hours + 24 * args.since_days);
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    };
    let mut since = if back_secs == 0 {
        // Start after the newest activation there is.
        let opts = ActivationListOptions {
            limit: Some(1),
            docs: true,
            ..ActivationListOptions::default()
        };
        match c.activation_list(&opts).await {
            Ok(list) => list
                .first()
                .and_then(|a| a.get("start"))
                .and_then(Value::as_i64)
                .map_or(0, |s| s + 1),
            Err(e) => {
                tracing::debug!(error = %e, "Listing failed; polling from now.");
                now_ms()
            }
        }
    } else {
        now_ms() - i64::try_from(back_secs * 1000).unwrap_or(i64::MAX)
    };
    ctx.print("Polling for activation logs\n")?;
    let started = std::time::Instant::now();
    let mut reported = std::collections::HashSet::new();
    loop {
        if args.exit > 0 && started.elapsed().as_secs() > args.exit {
            return Ok(());
        }
        let opts = ActivationListOptions {
            name: args.name.clone(),
            since: Some(since),
            docs: true,
            limit: Some(0),
            skip: Some(0),
            ..ActivationListOptions::default()
        };
        match c.activation_list(&opts).await {
            Ok(list) => {
                let mut s = String::new();
                for a in &list {
                    let id = a.get("activationId").and_then(Value::as_str).unwrap_or("");
                    if reported.insert(id.to_owned()) {
                        let name = a.get("name").and_then(Value::as_str).unwrap_or("");
                        s.push_str(&format!("\nActivation: '{name}' ({id})\n"));
                        s.push_str(&pretty(a.get("logs").unwrap_or(&Value::Null), Shape::Any));
                    }
                    if let Some(start) = a.get("start").and_then(Value::as_i64) {
                        since = since.max(start + 1);
                    }
                }
                ctx.print(&s)?;
            }
            Err(e) => tracing::debug!(error = %e, "Listing failed; polling on."),
        }
        tokio::select! {
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = tokio::signal::ctrl_c() => {
                ctx.print("Poll terminated\n")?;
                return Err(CliError::Reported(crate::error::EXIT_GENERAL));
            }
        }
    }
}

/// The given id, or with `--last` the id of the newest activation.
async fn id_or_last(
    id: Option<&str>,
    last: bool,
    c: &Client,
    what: &str,
) -> Result<String, CliError> {
    match (id, last) {
        (Some(id), false) => Ok(id.to_owned()),
        (_, true) => last_id(c, what).await,
        (None, false) => Err(CliError::Invalid(ID_REQUIRED.to_owned())),
    }
}

async fn last_id(c: &Client, what: &str) -> Result<String, CliError> {
    let opts = ActivationListOptions {
        limit: Some(1),
        skip: Some(0),
        ..ActivationListOptions::default()
    };
    let list = c
        .activation_list(&opts)
        .await
        .map_err(|e| CliError::client(what, e))?;
    list.first()
        .and_then(|a| a.get("activationId"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            CliError::Invalid(format!(
                "{what}: Activation list does not contain any activations."
            ))
        })
}

/// `activation list`: the table, or with `--full` each record.
async fn list(
    args: &ActivationListArgs,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let ns = match &args.name {
        Some(n) => QualifiedName::parse(n, props.default_namespace())
            .map_err(|e| CliError::Invalid(e.to_string()))?
            .namespace()
            .to_owned(),
        None => props.default_namespace().to_owned(),
    };
    let ns = if ns == "_" { "default".to_owned() } else { ns };
    let context = format!("Unable to obtain the list of activations for namespace '{ns}'");
    let c = client(props, &context)?;
    let opts = ActivationListOptions {
        name: args.name.clone(),
        limit: Some(args.limit),
        skip: Some(args.skip),
        since: args.since,
        upto: args.upto,
        docs: args.full,
    };
    let records = c
        .activation_list(&opts)
        .await
        .map_err(|e| CliError::client(&context, e))?;
    if args.full {
        let mut s = format!("{}\n", ctx.style.bold("activations"));
        for r in &records {
            s.push_str(&pretty(r, ACTIVATION));
        }
        ctx.print(&s)
    } else {
        ctx.print(&table::activation_table(ctx.style, &records, ctx.offset))
    }
}

/// `activation get (ID | --last) [FIELD]`.
async fn get(
    args: &ActivationGetArgs,
    props: &Properties,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let c = client(props, "Unable to get activation")?;
    let (id, field) = match (args.last, args.args.as_slice()) {
        (true, []) => (last_id(&c, "Unable to get activation").await?, None),
        (true, [field]) => (
            last_id(&c, "Unable to get activation").await?,
            Some(field.clone()),
        ),
        (false, [id]) => (id.clone(), None),
        (false, [id, field]) => (id.clone(), Some(field.clone())),
        (false, []) => return Err(CliError::Invalid(ID_REQUIRED.to_owned())),
        _ => {
            return Err(CliError::Invalid(format!(
                "Invalid argument(s): {}. An activation ID is required.",
                args.args[1..].join(", ")
            )))
        }
    };
    let field_def = match &field {
        Some(f) => Some(
            ACTIVATION
                .field(f)
                .ok_or_else(|| CliError::General(format!("Invalid field filter '{f}'.")))?,
        ),
        None => None,
    };
    let st = ctx.style;
    let context = format!("Unable to get activation '{id}'");
    let record = c
        .activation_get(&id)
        .await
        .map_err(|e| CliError::client(&context, e))?;
    if args.summary {
        return ctx.print(&summary(&record, ctx.offset));
    }
    if args.logs {
        let logs: Vec<String> = record
            .get("logs")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        return ctx.print(&log_lines(&logs, true));
    }
    match (field_def, record.as_object()) {
        (Some(f), Some(obj)) => ctx.print(&format!(
            "{}{}",
            messages::got_field(st, "activation", &id, field.as_deref().unwrap_or("")),
            pretty(&Shape::shown_field(f, obj), f.shape)
        )),
        _ => ctx.print(&format!(
            "{}{}",
            messages::got(st, "activation", &id),
            pretty(&record, ACTIVATION)
        )),
    }
}

/// `activation get --summary`: `activation result for '/ns/name' (status at time)` and the
/// result; the time is the end, as Go prints a time (`2006-01-02 15:04:05 -0700 MST`).
pub fn summary(record: &Value, offset: Offset) -> String {
    let text = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or("");
    let status = record
        .pointer("/response/status")
        .and_then(Value::as_str)
        .unwrap_or("");
    let end = record.get("end").and_then(Value::as_i64).unwrap_or(0);
    let result = record
        .pointer("/response/result")
        .cloned()
        .unwrap_or(Value::Null);
    format!(
        "activation result for '/{}/{}' ({status} at {})\n{}",
        text("namespace"),
        text("name"),
        go_time(end.div_euclid(1000), offset),
        pretty(&result, Shape::Any)
    )
}

/// A time in seconds as Go's `Time.String` shows it at `offset`:
/// `2024-03-16 20:03:00 +0000 UTC`, or `+0200 +02` where no zone name is known.
pub fn go_time(secs: i64, offset: Offset) -> String {
    let t = Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH);
    let total = offset.seconds();
    let (h, m) = (
        (total / 3600).unsigned_abs(),
        (total % 3600 / 60).unsigned_abs(),
    );
    let sign = if total < 0 { '-' } else { '+' };
    let numeric = format!("{sign}{h:02}{m:02}");
    let zone = if total == 0 {
        "UTC".to_owned()
    } else if m == 0 {
        format!("{sign}{h:02}")
    } else {
        numeric.clone()
    };
    let local = offset.to_datetime(t).strftime("%Y-%m-%d %H:%M:%S");
    format!("{local} {numeric} {zone}")
}

/// One line per log entry; with `strip`, without the timestamp and stream prefix.
pub fn log_lines(logs: &[String], strip: bool) -> String {
    let mut s = String::new();
    for line in logs {
        s.push_str(if strip { strip_log_prefix(line) } else { line });
        s.push('\n');
    }
    s
}

/// The log text without its time stamp and stream, as the Go CLI strips it: the first
/// `YYYY-MM-DDTHH:MM:SS.fffZ` in the line, then optional spaces and `stdout:`/`stderr:`,
/// then one whitespace; the rest of the line is the text. Lines where nothing (or nothing
/// but the prefix) follows stay whole.
pub fn strip_log_prefix(line: &str) -> &str {
    for (start, _) in line.char_indices() {
        if let Some(after) = time_stamp_end(&line[start..]) {
            let rest = &line[start + after..];
            if let Some(text) = after_stream(rest).or_else(|| after_space(rest)) {
                let text = text.split('\n').next().unwrap_or("");
                if !text.is_empty() {
                    return text;
                }
                return line;
            }
        }
    }
    line
}

/// The length of a `\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-6]\d:[0-6]\d.\d+Z` prefix of `s`.
fn time_stamp_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let within = |i: usize, lo: u8, hi: u8| b.get(i).is_some_and(|c| (lo..=hi).contains(c));
    let fixed = digit(0)
        && digit(1)
        && digit(2)
        && digit(3)
        && b.get(4) == Some(&b'-')
        && within(5, b'0', b'1')
        && digit(6)
        && b.get(7) == Some(&b'-')
        && within(8, b'0', b'3')
        && digit(9)
        && b.get(10) == Some(&b'T')
        && within(11, b'0', b'2')
        && digit(12)
        && b.get(13) == Some(&b':')
        && within(14, b'0', b'6')
        && digit(15)
        && b.get(16) == Some(&b':')
        && within(17, b'0', b'6')
        && digit(18);
    if !fixed {
        return None;
    }
    // Any one character, then digits and a `Z`.
    let any_len = s[19..].chars().next()?.len_utf8();
    let mut i = 19 + any_len;
    let first_digit = i;
    while digit(i) {
        i += 1;
    }
    (i > first_digit && b.get(i) == Some(&b'Z')).then_some(i + 1)
}

fn after_space(s: &str) -> Option<&str> {
    let c = s.chars().next()?;
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c').then(|| &s[1..])
}

/// ` *(stdout|stderr):` then one whitespace.
fn after_stream(s: &str) -> Option<&str> {
    let s = s.trim_start_matches(' ');
    let rest = s
        .strip_prefix("stdout:")
        .or_else(|| s.strip_prefix("stderr:"))?;
    after_space(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripping() {
        for (line, expected) in [
            (
                "2016-02-11T16:46:56.842065025Z stdout: hello bob!",
                "hello bob!",
            ),
            ("2024-01-01T00:00:00.000000000Z  stderr: oops", "oops"),
            // Nothing after the stream: the regex falls back to "time stamp, space, rest".
            ("2024-01-01T00:00:00.000000000Z stdout:", "stdout:"),
            (
                "2024-01-01T00:00:00.000000000Z stdout: ",
                "2024-01-01T00:00:00.000000000Z stdout: ",
            ),
            (
                "x 2024-01-01T00:00:00.1Z stdout: found later",
                "found later",
            ),
            (
                "2024-01-01T00:00:00Z stdout: no fraction",
                "2024-01-01T00:00:00Z stdout: no fraction",
            ),
            (
                "2024-01-01T00:00:00.000000000Z stdout:  two spaces",
                " two spaces",
            ),
            ("plain text", "plain text"),
            ("2024-01-01T00:00:00.000000000Z other: x", "other: x"),
            ("", ""),
        ] {
            assert_eq!(strip_log_prefix(line), expected, "{line:?}");
        }
    }

    #[test]
    fn summaries() {
        let record = serde_json::json!({"namespace": "guest", "name": "hello", "end": 1_552_766_580_999i64,
            "response": {"status": "success", "result": {"payload": "hi"}}});
        assert_eq!(
            summary(&record, Offset::UTC),
            "activation result for '/guest/hello' (success at 2019-03-16 20:03:00 +0000 UTC)\n{\n    \"payload\": \"hi\"\n}\n"
        );
        let plus2 = Offset::from_hours(2).unwrap();
        assert_eq!(go_time(0, plus2), "1970-01-01 02:00:00 +0200 +02");
        let minus = Offset::from_seconds(-(5 * 3600 + 30 * 60)).unwrap();
        assert_eq!(go_time(0, minus), "1969-12-31 18:30:00 -0530 -0530");
        let failed = serde_json::json!({"namespace": "guest", "name": "x", "end": 0,
            "response": {"status": "application error"}});
        assert_eq!(
            summary(&failed, Offset::UTC),
            "activation result for '/guest/x' (application error at 1970-01-01 00:00:00 +0000 UTC)\nnull\n"
        );
    }

    #[test]
    fn log_output() {
        let logs = vec![
            "2024-01-01T00:00:00.000Z       stdout: This is a log message from an arbitrary C program!".to_owned(),
        ];
        assert_eq!(log_lines(&logs, false), format!("{}\n", logs[0]));
        assert_eq!(
            log_lines(&logs, true),
            "This is a log message from an arbitrary C program!\n"
        );
    }
}
