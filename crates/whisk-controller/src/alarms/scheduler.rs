//! The alarm scheduler: a task of the controller that, at every pass, looks for schedules
//! whose next tick is due, claims the tick in the store by compare-and-set (so a tick fires
//! once across restarts and across several controllers sharing the store) and fires the
//! trigger through the same path as `POST .../triggers/{name}`, as the trigger's owner.
//!
//! A tick is claimed before the fire: a crash between the two loses that tick rather than
//! firing it twice. After an outage only the latest missed tick fires.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use whisk_store::{Collection, Schedule};
use whisk_types::{now_millis, FullyQualifiedName, TransactionId};

use super::plan::{DeleteAfterFire, Plan};
use super::Config;
use crate::controller::Controller;
use crate::entities::{decode, Trigger};
use crate::error::ApiError;
use crate::fire::Firing;

/// Runs passes until the controller is gone (or the task is aborted on shutdown).
pub(crate) async fn run(ctl: Weak<Controller>) {
    loop {
        let Some(c) = ctl.upgrade() else {
            break;
        };
        let interval = c.config.scheduler_interval;
        pass(&c).await;
        c.scheduler_passes.fetch_add(1, Ordering::Relaxed);
        drop(c);
        tokio::time::sleep(interval).await;
    }
    tracing::debug!("Alarm scheduler stopped.");
}

/// One look at every schedule.
async fn pass(ctl: &Arc<Controller>) {
    let schedules = match ctl.entities.list_schedules().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "Cannot read alarm schedules.");
            return;
        }
    };
    let now = now_millis();
    for s in schedules {
        let delay_limit = ctl.config.alarm_delay_limit;
        let plan = match Config::from_json(&s.config).map(|c| c.plan(&s.trigger, delay_limit)) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                tracing::warn!(trigger = %s.trigger, error = %e, "Skipping an invalid alarm schedule.");
                continue;
            }
            None => {
                tracing::warn!(trigger = %s.trigger, "Skipping an unreadable alarm schedule.");
                continue;
            }
        };
        let Some(tick) = plan.due(s.last_tick, now) else {
            continue;
        };
        match ctl.entities.claim_tick(&s.trigger, s.last_tick, tick).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(trigger = %s.trigger, error = %e, "Cannot claim an alarm tick.");
                continue;
            }
        }
        fire(ctl, &s, &plan).await;
        if plan.next_after(tick).is_none() && plan.delete_after_fire != DeleteAfterFire::No {
            delete_trigger(ctl, &s.trigger, plan.delete_after_fire).await;
        }
    }
}

async fn fire(ctl: &Arc<Controller>, s: &Schedule, plan: &Plan) {
    let trigger = &s.trigger;
    let owner = match ctl
        .identities
        .subject_by_namespace(trigger.namespace())
        .await
    {
        Ok(Some(r)) => r.identity,
        Ok(None) => {
            tracing::warn!(%trigger, "No subject owns the namespace of an alarm trigger.");
            return;
        }
        Err(e) => {
            tracing::warn!(%trigger, error = %e, "Cannot read the owner of an alarm trigger.");
            return;
        }
    };
    let firing = Firing {
        tid: TransactionId::generate(),
        user: owner,
        trigger: trigger.clone(),
        payload: plan.payload.clone(),
        headers: None,
    };
    match ctl.fire(firing).await {
        Ok(fired) => tracing::debug!(%trigger, ?fired, "Alarm fired."),
        Err(ApiError::NotFound) => {
            tracing::info!(%trigger, "Alarm trigger is gone; removing its schedule.");
            if let Err(e) = ctl.entities.delete_schedule(trigger).await {
                tracing::warn!(%trigger, error = %e, "Cannot remove an alarm schedule.");
            }
        }
        Err(e) => tracing::warn!(%trigger, error = %e, "Alarm fire failed."),
    }
}

/// `deleteAfterFire`: the trigger (and with `rules` its rules) and the schedule go.
async fn delete_trigger(ctl: &Controller, trigger: &FullyQualifiedName, what: DeleteAfterFire) {
    let store = &ctl.entities;
    if let Ok(Some(doc)) = store.get(Collection::Triggers, trigger).await {
        if what == DeleteAfterFire::TriggerAndRules {
            let rules = decode::<Trigger>(&doc)
                .ok()
                .and_then(|t| t.rules)
                .unwrap_or_default();
            for name in rules.keys() {
                let Ok(fqn) = FullyQualifiedName::parse(name) else {
                    continue;
                };
                if let Ok(Some(rule)) = store.get(Collection::Rules, &fqn).await {
                    let _ = store.delete(Collection::Rules, &fqn, rule.revision).await;
                }
            }
        }
        let _ = store
            .delete(Collection::Triggers, trigger, doc.revision)
            .await;
    }
    let _ = store.delete_schedule(trigger).await;
}
