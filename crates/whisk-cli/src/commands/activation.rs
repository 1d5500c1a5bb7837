//! `wsk activation list|get|logs|result`.

use serde_json::Value;
use whisk_client::{ActivationListOptions, Client, QualifiedName};

use crate::cli::{
    ActivationCommand, ActivationGetArgs, ActivationListArgs, ActivationPollArgs, GlobalArgs,
};
use crate::config::Properties;
use crate::json::{pretty, Shape, ACTIVATION};
use crate::{client, messages, table, CliError, Ctx};

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
        (None, false) => Err(CliError::Invalid(
            "An activation ID is required.".to_owned(),
        )),
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
            CliError::Invalid("Activation list does not contain any activations.".to_owned())
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
        let mut s = String::from("activations\n");
        for r in &records {
            s.push_str(&pretty(r, ACTIVATION));
        }
        ctx.print(&s)
    } else {
        ctx.print(&table::activation_table(&records, ctx.offset))
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
        (false, []) => {
            return Err(CliError::Invalid(
                "Invalid argument(s). An activation ID is required.".to_owned(),
            ))
        }
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
    let context = format!("Unable to get activation '{id}'");
    let record = c
        .activation_get(&id)
        .await
        .map_err(|e| CliError::client(&context, e))?;
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
        (Some(f), Some(obj)) => {
            let value = Shape::field_value(f, obj).unwrap_or(Value::Null);
            ctx.print(&format!(
                "{}{}",
                messages::got_field("activation", &id, field.as_deref().unwrap_or("")),
                pretty(&value, f.shape)
            ))
        }
        _ => ctx.print(&format!(
            "{}{}",
            messages::got("activation", &id),
            pretty(&record, ACTIVATION)
        )),
    }
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

/// `2024-01-01T00:00:00.000000000Z stdout: hi` → `hi`. Lines without the prefix stay whole.
pub fn strip_log_prefix(line: &str) -> &str {
    let trimmed = line.trim_start();
    let Some((stamp, rest)) = trimmed.split_once(char::is_whitespace) else {
        return line;
    };
    let looks_like_time = stamp.len() >= 20
        && stamp.as_bytes()[4] == b'-'
        && stamp.as_bytes()[10] == b'T'
        && stamp.ends_with('Z');
    if !looks_like_time {
        return line;
    }
    let rest = rest.trim_start();
    for stream in ["stdout:", "stderr:"] {
        if let Some(text) = rest.strip_prefix(stream) {
            return text.strip_prefix(' ').unwrap_or(text);
        }
    }
    line
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
            ("2024-01-01T00:00:00.000000000Z stdout:", ""),
            (
                "2024-01-01T00:00:00.000000000Z stdout:  two spaces",
                " two spaces",
            ),
            ("plain text", "plain text"),
            (
                "2024-01-01T00:00:00.000000000Z other: x",
                "2024-01-01T00:00:00.000000000Z other: x",
            ),
            ("", ""),
        ] {
            assert_eq!(strip_log_prefix(line), expected, "{line:?}");
        }
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
