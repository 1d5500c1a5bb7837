//! Rules (reference §4.5, §5.4): list (full documents, no status), get and PUT (with the
//! status read from the trigger), DELETE (unlinks, answers `inactive`) and enable/disable.
//! The status lives in the trigger's `rules` map; writes to it retry on a concurrent change.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use whisk_store::{Collection, StoreError};
use whisk_types::{EntityName, EntityPath, FullyQualifiedName, NameError};

use super::list_or_count;
use super::Call;
use crate::body::{self, malformed};
use crate::controller::Controller;
use crate::entities::{decode, to_value, PathName, Rule, RuleLink, RuleStatus, Trigger};
use crate::error::ApiError;
use crate::request::{list_params, read_body};
use crate::resolve::resolve_action;

/// How often a trigger update is retried when another writer got there first.
const LINK_RETRIES: usize = 5;

/// `GET .../rules`: full documents without `status`.
pub(super) async fn list(call: &Call) -> Result<Response, ApiError> {
    let params = list_params(&call.query, "rules")?;
    let ns = call.namespace.clone();
    list_or_count(call, Collection::Rules, &params, ns, None, |d| {
        decode::<Rule>(d).and_then(|r| to_value(&r))
    })
    .await
}

async fn read(call: &Call, fqn: &FullyQualifiedName) -> Result<(Rule, u64), ApiError> {
    let doc = call
        .ctl
        .entities
        .get(Collection::Rules, fqn)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((decode(&doc)?, doc.revision))
}

/// The rule's status, from its trigger's `rules` map; `inactive` when unlinked or gone.
async fn status_of(ctl: &Controller, rule: &Rule) -> Result<RuleStatus, ApiError> {
    let trigger = match ctl
        .entities
        .get(Collection::Triggers, &rule.trigger.fqn())
        .await
    {
        Ok(Some(doc)) => decode::<Trigger>(&doc)?,
        Ok(None) | Err(StoreError::WrongCollection) => return Ok(RuleStatus::Inactive),
        Err(e) => return Err(e.into()),
    };
    Ok(trigger
        .rules
        .as_ref()
        .and_then(|m| m.get(&rule.fqn().to_string()))
        .map_or(RuleStatus::Inactive, |l| l.status))
}

/// `GET .../rules/{name}` with `status`.
pub(super) async fn get(call: &Call, name: &EntityName) -> Result<Response, ApiError> {
    let (rule, _) = read(call, &call.fqn(name)).await?;
    let status = status_of(&call.ctl, &rule).await?;
    Ok(Json(rule.with_status(status)?).into_response())
}

/// Changes the trigger's `rules` map with `f`; `Ok(false)` when the trigger is gone.
async fn update_links<F>(
    ctl: &Controller,
    trigger: &FullyQualifiedName,
    mut f: F,
) -> Result<bool, ApiError>
where
    F: FnMut(&mut Trigger),
{
    for _ in 0..LINK_RETRIES {
        let doc = match ctl.entities.get(Collection::Triggers, trigger).await {
            Ok(Some(d)) => d,
            Ok(None) | Err(StoreError::WrongCollection) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let mut t: Trigger = decode(&doc)?;
        f(&mut t);
        if t.rules.as_ref().is_some_and(|m| m.is_empty()) {
            t.rules = None;
        }
        match ctl
            .entities
            .put(
                Collection::Triggers,
                trigger,
                to_value(&t)?,
                Some(doc.revision),
            )
            .await
        {
            Ok(_) => return Ok(true),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

fn link(t: &mut Trigger, rule: &str, action: &PathName, status: RuleStatus) {
    t.rules.get_or_insert_with(Default::default).insert(
        rule.to_owned(),
        RuleLink {
            action: action.clone(),
            status,
        },
    );
}

fn unlink(t: &mut Trigger, rule: &str) {
    if let Some(m) = t.rules.as_mut() {
        m.remove(rule);
    }
}

/// A trigger or action reference: `/ns/name`, `/ns/pkg/name`, `ns/name`, or
/// `{"path": "ns", "name": "x"}`, with `_` resolved to `ns`.
fn reference(v: &Value, ns: &EntityName) -> Result<FullyQualifiedName, ApiError> {
    let fqn = match v {
        Value::String(s) => FullyQualifiedName::parse(s),
        Value::Object(m) => {
            let path = m.get("path").and_then(Value::as_str).unwrap_or("");
            let name = m.get("name").and_then(Value::as_str).unwrap_or("");
            FullyQualifiedName::parse(&format!("{path}/{name}"))
        }
        _ => Err(NameError::NotFullyQualified),
    };
    fqn.map(|f| f.resolve(ns))
        .map_err(|e| malformed(e.to_string()))
}

/// `PUT .../rules/{name}?overwrite=`: rules are created active; an update keeps the status
/// and moves the link when the trigger changes.
pub(super) async fn put(call: &Call, name: &EntityName, body: Body) -> Result<Response, ApiError> {
    let ctl = &call.ctl;
    let overwrite = call.query.bool("overwrite", false)?;
    let bytes = read_body(body, &call.headers, ctl.config.max_request).await?;
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?
    };
    let Value::Object(mut obj) = value else {
        return Err(malformed("JSON object expected"));
    };
    let mut take = |key: &str| obj.remove(key).filter(|v| !v.is_null());
    let ns = &call.namespace;
    let trigger_ref = take("trigger").map(|v| reference(&v, ns)).transpose()?;
    let action_ref = take("action").map(|v| reference(&v, ns)).transpose()?;
    let annotations = take("annotations")
        .map(|v| body::key_values(v, "annotations"))
        .transpose()?;
    let publish = take("publish").map(|v| body::publish(&v)).transpose()?;
    let version = take("version").map(|v| body::version(&v)).transpose()?;

    let fqn = call.fqn(name);
    let existing = ctl.entities.get(Collection::Rules, &fqn).await?;
    let (old, revision): (Option<Rule>, Option<u64>) = match existing {
        Some(_) if !overwrite => return Err(StoreError::AlreadyExists.into()),
        Some(doc) => (Some(decode(&doc)?), Some(doc.revision)),
        None => (None, None),
    };
    if old.is_none() {
        super::check_capacity(call, Collection::Rules).await?;
    }
    let (trigger, action) = match (&old, trigger_ref, action_ref) {
        (_, Some(t), Some(a)) => (t, a),
        (Some(o), t, a) => (
            t.unwrap_or_else(|| o.trigger.fqn()),
            a.unwrap_or_else(|| o.action.fqn()),
        ),
        (None, _, _) => {
            return Err(ApiError::BadRequest(
                "rule requires a valid trigger and a valid action".into(),
            ))
        }
    };
    if trigger.namespace() != ns {
        return Err(ApiError::Forbidden(trigger.to_string()));
    }
    let trigger_exists = matches!(
        ctl.entities.get(Collection::Triggers, &trigger).await,
        Ok(Some(_))
    );
    if !trigger_exists {
        return Err(ApiError::BadRequest(format!(
            "trigger {} does not exist",
            trigger.with_slash()
        )));
    }
    match resolve_action(ctl, ns, &action).await {
        Ok(_) => {}
        Err(ApiError::NotFound) => {
            return Err(ApiError::BadRequest(format!(
                "action {} does not exist",
                action.with_slash()
            )))
        }
        Err(e) => return Err(e),
    }

    let status = match &old {
        Some(o) => status_of(ctl, o).await?,
        None => RuleStatus::Active,
    };
    let rule = match old.clone() {
        None => Rule {
            namespace: EntityPath::namespace_only(ns.clone()),
            name: name.clone(),
            trigger: PathName::of(&trigger),
            action: PathName::of(&action),
            version: version.unwrap_or_default(),
            publish: publish.unwrap_or(false),
            annotations: annotations.unwrap_or_default(),
            updated: 0,
        },
        Some(o) => Rule {
            trigger: PathName::of(&trigger),
            action: PathName::of(&action),
            version: version.unwrap_or_else(|| o.version.bump_patch()),
            publish: publish.unwrap_or(o.publish),
            annotations: annotations.unwrap_or(o.annotations),
            ..o
        },
    };
    let doc = ctl
        .entities
        .put(Collection::Rules, &fqn, to_value(&rule)?, revision)
        .await?;
    let key = fqn.to_string();
    if let Some(o) = &old {
        if o.trigger != rule.trigger {
            update_links(ctl, &o.trigger.fqn(), |t| unlink(t, &key)).await?;
        }
    }
    update_links(ctl, &trigger, |t| link(t, &key, &rule.action, status)).await?;
    let stored: Rule = decode(&doc)?;
    Ok(Json(stored.with_status(status)?).into_response())
}

/// `DELETE .../rules/{name}`: unlinks it from its trigger; answers with status `inactive`.
pub(super) async fn delete(call: &Call, name: &EntityName) -> Result<Response, ApiError> {
    let fqn = call.fqn(name);
    let (rule, revision) = read(call, &fqn).await?;
    let key = fqn.to_string();
    update_links(&call.ctl, &rule.trigger.fqn(), |t| unlink(t, &key)).await?;
    if !call
        .ctl
        .entities
        .delete(Collection::Rules, &fqn, revision)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    Ok(Json(rule.with_status(RuleStatus::Inactive)?).into_response())
}

/// `POST .../rules/{name}` with `{"status": "active"|"inactive"}`.
pub(super) async fn set_status(
    call: &Call,
    name: &EntityName,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body, &call.headers, call.ctl.config.max_payload).await?;
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?
    };
    let requested = value.get("status").and_then(Value::as_str).unwrap_or("");
    let status = match requested {
        "active" => RuleStatus::Active,
        "inactive" => RuleStatus::Inactive,
        other => {
            return Err(malformed(format!(
                "'{other}' is not a recognized rule state, must be one of ['active', 'inactive']"
            )))
        }
    };
    let fqn = call.fqn(name);
    let (rule, _) = read(call, &fqn).await?;
    let key = fqn.to_string();
    let linked = update_links(&call.ctl, &rule.trigger.fqn(), |t| {
        link(t, &key, &rule.action, status)
    })
    .await?;
    if !linked {
        return Err(ApiError::NotFoundText(
            "Only rules with existing triggers can be activated".into(),
        ));
    }
    Ok((StatusCode::OK, "OK").into_response())
}
