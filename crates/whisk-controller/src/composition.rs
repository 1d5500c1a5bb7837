//! Sequences and conductor sessions as tasks the controller owns ([`crate::sequence`] and
//! [`crate::conductor`] run their steps). Around every run:
//! - before it is accepted, a row in the store ([`whisk_store::CompositionStore`]) holds the
//!   record it gets if it is interrupted, updated with the components started so far; the
//!   row goes once the real record is stored;
//! - a controller that starts ends every row it left behind (a crash, or a stop that cut
//!   runs short) in that record, a whisk error saying [`INTERRUPTED`]; components already
//!   started still run and write their own records;
//! - when a composition ends, for whatever reason, its lineage scope is cancelled: nested
//!   compositions still running end at once in a record saying [`CANCELLED`] and start
//!   nothing more (see [`crate::lineage`]).

use std::sync::Arc;

use serde_json::json;
use whisk_store::RunningComposition;
use whisk_types::{now_millis, Activation, ActivationId, ActivationResponse, Exec};

use crate::controller::Controller;
use crate::error::ApiError;
use crate::invocation::Invocation;

/// The error of a composition whose controller stopped before it ended.
pub(crate) const INTERRUPTED: &str = "The composition was interrupted by a controller restart.";
/// The error of a nested composition whose parent ended first.
pub(crate) const CANCELLED: &str =
    "The composition was cancelled because the composition it is part of ended.";

/// The record of composition `inv` with `response`: a sequence's or a conductor session's
/// annotations, no components yet.
pub(crate) fn record(inv: &Invocation, start: i64, response: ActivationResponse) -> Activation {
    let mut record = inv.record(start, response);
    if !matches!(inv.target.action.exec, Exec::Sequence { .. }) {
        record.annotations.set("kind", json!("sequence"));
        record.annotations.set("conductor", json!(true));
    }
    record
        .annotations
        .set("topmost", json!(inv.cause.is_none()));
    record
}

// === impl Controller ===

impl Controller {
    /// Accepts composition `inv`: writes its row, then runs it in a task (ended on
    /// shutdown, or when its parent ends) that stores its record.
    ///
    /// # Errors
    /// The row cannot be written.
    pub(crate) async fn start_composition(
        self: &Arc<Self>,
        inv: Invocation,
        conductor: bool,
    ) -> Result<(), ApiError> {
        let start = now_millis();
        let shell = record(&inv, start, ActivationResponse::whisk_error(INTERRUPTED));
        self.activations
            .put_composition(&RunningComposition {
                controller: self.config.id.clone(),
                record: shell,
            })
            .await?;
        let ctl = self.clone();
        self.spawn(async move {
            let scope = inv.lineage.scope().clone();
            let run = async {
                if conductor {
                    crate::conductor::run(&ctl, &inv).await
                } else {
                    crate::sequence::run(&ctl, &inv).await
                }
            };
            let record = tokio::select! {
                biased;
                () = scope.cancelled() => {
                    record(&inv, start, ActivationResponse::whisk_error(CANCELLED))
                }
                record = run => record,
            };
            let id = record.activation_id;
            ctl.finish(record).await;
            ctl.forget_composition(&id).await;
            // Whatever it started and still runs ends with it.
            scope.cancel();
        });
        Ok(())
    }

    /// Notes in the row of `inv` the components started so far and their duration, so
    /// an interrupted record lists them.
    pub(crate) async fn composition_progress(
        &self,
        inv: &Invocation,
        start: i64,
        logs: &[String],
        duration: i64,
    ) {
        let mut shell = record(inv, start, ActivationResponse::whisk_error(INTERRUPTED));
        shell.logs = logs.to_vec();
        shell.duration = Some(duration);
        let row = RunningComposition {
            controller: self.config.id.clone(),
            record: shell,
        };
        if let Err(e) = self.activations.put_composition(&row).await {
            tracing::warn!(activation_id = %inv.id, error = %e, "Could not note a composition's progress.");
        }
    }

    async fn forget_composition(&self, id: &ActivationId) {
        if let Err(e) = self.activations.delete_composition(id).await {
            tracing::warn!(activation_id = %id, error = %e, "Could not remove a finished composition's row; the next start removes it.");
        }
    }

    /// Ends every composition this controller (by its id) left running when it last
    /// stopped: each gets its interrupted record, unless its real one was stored already.
    pub(crate) async fn end_interrupted_compositions(&self) {
        let rows = match self.activations.list_compositions(&self.config.id).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "Could not read the compositions left running.");
                return;
            }
        };
        for row in rows {
            let mut record = row.record;
            record.end = now_millis().max(record.start);
            match self.activations.put(&record).await {
                Ok(stored) => {
                    tracing::info!(activation_id = %record.activation_id, stored, "Ended a composition interrupted by a restart.");
                    self.forget_composition(&record.activation_id).await;
                }
                Err(e) => {
                    tracing::error!(activation_id = %record.activation_id, error = %e, "Could not end an interrupted composition.");
                }
            }
        }
    }
}
