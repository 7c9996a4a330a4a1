//! Node liveness and takeover (DESIGN.md "Architecture": legs of a dead node end with a
//! tabulated code).
//!
//! Every node records that it is alive three times per node timeout, on wall time (like leases
//! and transport timeouts, never the virtual clock). A node silent for longer than the timeout
//! is taken over by the first node that notices: its agent sessions are forgotten (its users are
//! rung through their other agents, or their simulated behaviour, again), each of its live legs
//! ends as if its endpoint had gone (a ringing leg fails as unreachable, 480/10076; a connected
//! leg leaves its call, as a hang-up would; the taking node's driver tells the endpoint if it can
//! reach it), and its leg inbox is dropped. Several nodes taking over the same node at once is
//! harmless: a leg ends once, the others find it ended.
//!
//! A node that was only stalled (paused, cut off from the database) past the timeout finds on
//! its next beat that it was forgotten: its legs are over, so its drivers let go of the
//! endpoints they still hold (agents are disconnected, phones get CANCEL or BYE).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_core::results::RingFailure;
use switchboard_core::ParticipantState;

use crate::error::EngineResult;
use crate::Engine;

/// Records this node alive and takes over silent nodes until the task is aborted.
pub(crate) async fn run(engine: Engine) {
    // At least 1 ms: a period of zero (a timeout of a few nanoseconds) would make `interval` panic.
    let period = (engine.inner.config.node_timeout / 3).max(Duration::from_millis(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // `Engine::start` made the first beat, where a node is not known yet (new, or restarted
    // after a takeover, which the drivers' `recover` settles): from here on, unknown means
    // taken over.
    loop {
        tick.tick().await;
        let Beat { before, silent, known } = match engine.beat().await {
            Ok(beat) => beat,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record this node alive");
                continue;
            }
        };
        if !known {
            tracing::warn!("this node was taken over while it was stalled: its endpoints are let go");
            engine.let_go_of_legs().await;
        }
        for node in silent {
            if let Err(e) = engine.take_over(node, before).await {
                tracing::warn!(error = %e, "cannot take over a silent node");
            }
        }
    }
}

/// Wall time in milliseconds since the Unix epoch.
fn wall_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// What one beat learnt.
pub(crate) struct Beat {
    /// Nodes silent since before this time (wall milliseconds) are taken over.
    before: i64,
    /// The other nodes silent since before `before`.
    silent: Vec<String>,
    /// Whether this node was still known; not after another node took it over.
    known: bool,
}

impl Engine {
    /// Records this node alive and lists the other nodes silent past the timeout (one unit of
    /// work).
    pub(crate) async fn beat(&self) -> EngineResult<Beat> {
        let me = self.node_id().to_owned();
        let now = wall_ms();
        let timeout_ms = i64::try_from(self.inner.config.node_timeout.as_millis()).unwrap_or(i64::MAX);
        let before = now.saturating_sub(timeout_ms);
        self.run(move |tx| {
            let known = tx.node_alive(&me, now)?;
            let silent = tx.silent_nodes(before)?;
            Ok(Beat { before, silent: silent.into_iter().filter(|n| *n != me).collect(), known })
        })
        .await
    }

    async fn take_over(&self, node: String, before: i64) -> EngineResult<()> {
        let of = node.clone();
        let (sessions, legs) =
            self.run(move |tx| Ok((tx.clear_agent_sessions(&of)?, tx.participants_of_node(&of)?))).await?;
        let mut ended = 0;
        for p in &legs {
            let outcome = match p.state {
                ParticipantState::Ringing => self.leg_failed(p.id.as_str(), RingFailure::Unreachable).await,
                ParticipantState::Connected => self.leg_left(p.id.as_str()).await,
                _ => continue,
            };
            match outcome {
                Ok(()) => {
                    ended += 1;
                    if let Some(driver) = self.driver(p.endpoint) {
                        driver.end_for_dead_node(p).await;
                    }
                }
                // Another node taking over too, or the leg's call ending meanwhile.
                Err(e) => tracing::debug!(participant_id = %p.id, error = %e, "a silent node's leg had already ended"),
            }
        }
        let of = node.clone();
        let forgotten = self.run(move |tx| Ok(tx.forget_node(&of, before)?)).await?;
        tracing::warn!(node = %node, legs = ended, agent_sessions = sessions, forgotten, "took over a silent node");
        Ok(())
    }
}
