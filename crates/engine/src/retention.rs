//! Retention: a conversation that ended longer ago than the retention period (domain time) is
//! removed with everything recorded for it (its calls, participants, operations, notifications
//! and their delivery attempts), so that a server that runs for months does not keep every call
//! it ever carried. Graph already answers 404 for an ended call; what goes is the console's and
//! the notification log's history of it. A conversation whose notifications are not all
//! delivered or given up stays until they are.

use std::time::Duration;

use crate::error::EngineResult;
use crate::{Engine, EngineError};

/// How often the background task looks for conversations to remove (wall time).
const EVERY: Duration = Duration::from_secs(60);

/// Conversations removed per unit of work. One costs about 70 us of the store's writer (a
/// meeting call with two participants, an operation and seven notifications;
/// `crates/bench/scripts/retention.py`), so a unit holds the writer under 2 ms and the invites
/// queued behind it wait no longer than that.
const BATCH: usize = 25;

pub(crate) async fn run(engine: Engine) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = engine.remove_expired().await {
            tracing::warn!(error = %e, "cannot remove ended conversations");
        }
    }
}

impl Engine {
    /// Removes every conversation that ended more than the retention period ago (none when
    /// retention is off), in units of [`BATCH`]; returns how many were removed. Runs every
    /// [`EVERY`] and after each advance of the virtual clock.
    pub(crate) async fn remove_expired(&self) -> EngineResult<usize> {
        let Some(retention) = self.inner.config.retention else { return Ok(0) };
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let ended_before = self.inner.clock.now().plus_millis(-retention_ms);
        let mut removed = 0;
        loop {
            let batch =
                self.run(move |tx| Ok::<_, EngineError>(tx.remove_ended_conversations(ended_before, BATCH)?)).await?;
            removed += batch;
            if batch < BATCH {
                break;
            }
        }
        if removed > 0 {
            tracing::info!(conversations = removed, "ended conversations removed after the retention period");
            metrics::counter!("switchboard_conversations_removed_total").increment(removed as u64);
        }
        Ok(removed)
    }
}
