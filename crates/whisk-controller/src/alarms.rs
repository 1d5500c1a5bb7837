//! The built-in alarms package (`/whisk.system/alarms`, reference §10): its feed actions
//! `alarm`, `once` and `interval` run here, in the controller, with no container. The
//! feed lifecycle (`CREATE`, `READ`, `UPDATE`, `DELETE`) keeps one schedule per trigger
//! in the entity store; [`scheduler`] fires the triggers when their ticks come.
//!
//! The caller must own the trigger; an `authKey`, when given, must be a valid key of the
//! trigger's namespace. No key is stored: scheduled fires run as the namespace's owner.

pub(crate) mod cron;
pub(crate) mod plan;
pub(crate) mod scheduler;

use std::sync::Arc;

use serde_json::{json, Map, Value};
use whisk_store::{Collection, Schedule};
use whisk_types::{now_millis, ActivationResponse, AuthKey, FullyQualifiedName};

use crate::controller::Controller;
use crate::invocation::Invocation;
use plan::{iso, Feed, Plan, Spread};

/// The namespace holding the system packages.
pub const SYSTEM_NAMESPACE: &str = "whisk.system";
/// The alarms package.
pub const ALARMS_PACKAGE: &str = "alarms";

/// Feed parameters that are not part of a schedule's configuration.
const NOT_CONFIG: [&str; 6] = [
    "lifecycleEvent",
    "triggerName",
    "authKey",
    "fireOnce",
    "isInterval",
    "apihost",
];

/// Runs a feed action and answers like the alarms package: a result object, or an
/// application error with the validation text.
pub(crate) async fn run_feed(ctl: &Arc<Controller>, inv: &Invocation) -> ActivationResponse {
    match lifecycle(ctl, inv).await {
        Ok(v) => {
            let size = v.to_string().len();
            ActivationResponse::success(v, Some(size))
        }
        Err(message) => ActivationResponse::application_error(json!(message), None),
    }
}

/// The stored form of a schedule's configuration.
pub(crate) struct Config {
    pub feed: Feed,
    pub params: Map<String, Value>,
    pub created: i64,
    pub changed: i64,
}

impl Config {
    pub fn to_json(&self) -> Value {
        json!({
            "feed": self.feed.as_str(),
            "params": self.params,
            "created": self.created,
            "changed": self.changed,
        })
    }

    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            feed: Feed::from_name(v.get("feed")?.as_str()?)?,
            params: v.get("params")?.as_object()?.clone(),
            created: v.get("created")?.as_i64()?,
            changed: v.get("changed").and_then(Value::as_i64).unwrap_or(0),
        })
    }

    /// The schedule's plan; dates are judged as of its creation. `delay_limit` spreads
    /// 5-field cron fires within their minute ([`Spread`]).
    pub fn plan(&self, trigger: &FullyQualifiedName, delay_limit: u8) -> Result<Plan, String> {
        let spread = Spread {
            name: trigger.name.as_str(),
            limit: delay_limit,
        };
        Plan::parse(self.feed, &self.params, self.created, self.created, spread)
    }
}

async fn lifecycle(ctl: &Arc<Controller>, inv: &Invocation) -> Result<Value, String> {
    let feed = match &inv.target.action.exec {
        whisk_types::Exec::Code { code, .. } => Feed::from_name(code),
        _ => None,
    }
    .ok_or("unsupported feed")?;
    let Value::Object(params) = inv.content() else {
        return Err("feed parameters must be an object".into());
    };
    let event = params
        .get("lifecycleEvent")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_uppercase();
    if !matches!(event.as_str(), "CREATE" | "READ" | "UPDATE" | "DELETE") {
        return Err("unsupported lifecycleEvent".into());
    }
    let own = &inv.user.namespace;
    let trigger = params
        .get("triggerName")
        .and_then(Value::as_str)
        .ok_or("no trigger name parameter was provided")?;
    let trigger = FullyQualifiedName::parse(trigger)
        .map_err(|_| format!("trigger name '{trigger}' is not valid"))?
        .resolve(own);
    if trigger.namespace() != own || trigger.path.package().is_some() {
        return Err(format!(
            "The supplied authentication is not authorized to access '{trigger}'."
        ));
    }
    if let Some(key) = params.get("authKey") {
        check_key(ctl, key, own).await?;
    }
    let config: Map<String, Value> = params
        .iter()
        .filter(|(k, _)| !NOT_CONFIG.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let store = &ctl.entities;
    let now = now_millis();
    let fail = |e: whisk_store::StoreError| {
        tracing::warn!(%trigger, error = %e, "Alarm schedule storage failed.");
        "There was an error processing your request.".to_owned()
    };
    let success = json!({"status": "success"});
    let min_period = i64::try_from(ctl.config.alarm_min_period.as_millis()).unwrap_or(i64::MAX);
    let spread = Spread {
        name: trigger.name.as_str(),
        limit: ctl.config.alarm_delay_limit,
    };
    match event.as_str() {
        "CREATE" => {
            let exists = matches!(store.get(Collection::Triggers, &trigger).await, Ok(Some(_)));
            if !exists {
                return Err(format!("trigger {} does not exist", trigger.with_slash()));
            }
            Plan::parse(feed, &config, now, now, spread)?.check_min_period(now, min_period)?;
            let c = Config {
                feed,
                params: config,
                created: now,
                changed: now,
            };
            let schedule = Schedule {
                trigger: trigger.clone(),
                config: c.to_json(),
                last_tick: now,
            };
            store.put_schedule(&schedule).await.map_err(fail)?;
            Ok(success)
        }
        "READ" => {
            let s = store
                .get_schedule(&trigger)
                .await
                .map_err(fail)?
                .ok_or_else(|| missing(&trigger))?;
            read(&s, &trigger, ctl.config.alarm_delay_limit)
        }
        "UPDATE" => {
            let s = store
                .get_schedule(&trigger)
                .await
                .map_err(fail)?
                .ok_or_else(|| missing(&trigger))?;
            let mut c = Config::from_json(&s.config).ok_or_else(|| missing(&trigger))?;
            c.params.extend(config);
            Plan::parse(c.feed, &c.params, c.created, now, spread)?
                .check_min_period(now, min_period)?;
            c.changed = now;
            let schedule = Schedule {
                config: c.to_json(),
                ..s
            };
            store.put_schedule(&schedule).await.map_err(fail)?;
            Ok(success)
        }
        _ => {
            store.delete_schedule(&trigger).await.map_err(fail)?;
            Ok(success)
        }
    }
}

fn missing(trigger: &FullyQualifiedName) -> String {
    format!(
        "could not find trigger {} in the database",
        trigger.with_slash()
    )
}

/// `READ`: `{"config": {...}, "status": {...}}` as the alarms package shows it.
fn read(s: &Schedule, trigger: &FullyQualifiedName, delay_limit: u8) -> Result<Value, String> {
    let c = Config::from_json(&s.config).ok_or_else(|| missing(trigger))?;
    let plan = c.plan(trigger, delay_limit)?;
    let mut config = Map::new();
    config.insert("name".into(), json!(trigger.name));
    config.insert("namespace".into(), json!(trigger.namespace()));
    config.insert("payload".into(), Value::Object(plan.payload.clone()));
    for key in [
        "cron",
        "minutes",
        "date",
        "timezone",
        "startDate",
        "stopDate",
        "deleteAfterFire",
    ] {
        if let Some(v) = c.params.get(key).filter(|v| !v.is_null()) {
            config.insert(key.into(), v.clone());
        }
    }
    // As the provider: the stored `strict`, else the default (not strict).
    let strict = c.params.get("strict").filter(|v| !v.is_null());
    config.insert("strict".into(), strict.cloned().unwrap_or(json!(false)));
    let active = plan.next_after(s.last_tick).is_some();
    let mut status = json!({
        "active": active,
        "dateChanged": c.changed,
        "dateChangedISO": iso(c.changed),
    });
    if !active {
        status["reason"] = json!({
            "kind": "AUTO",
            "statusCode": 0,
            "message": "The schedule has no more ticks to fire.",
        });
    }
    Ok(json!({ "config": config, "status": status }))
}

/// An `authKey` must be a valid key of a subject owning `namespace`.
async fn check_key(
    ctl: &Controller,
    key: &Value,
    namespace: &whisk_types::EntityName,
) -> Result<(), String> {
    let refused = || "Trigger authentication request failed.".to_owned();
    let key = key.as_str().and_then(AuthKey::parse).ok_or_else(refused)?;
    let identity = ctl
        .auth
        .identity(&key, ctl.identities.as_ref())
        .await
        .map_err(|_| refused())?;
    if &identity.namespace != namespace {
        return Err(refused());
    }
    Ok(())
}
