//! Endpoint legs: how an invitee that is not simulated is actually reached.
//!
//! A live leg (an agent's WebSocket, a SIP dialog) belongs to one node: the participant records
//! its owning `node`. Everything the domain needs a live leg to do (ring, stop ringing, hang up,
//! show the roster...) is a [`LegCommand`] written to that node's inbox (`leg_commands`) in the
//! same transaction as the state change that causes it, exactly like a notification in the
//! outbox. Once the transaction commits the node's leg task is woken (on PostgreSQL other nodes
//! through `NOTIFY`); it runs the node's commands in order, each through the [`LegDriver`]
//! registered for the participant's endpoint kind, and deletes each once its driver returns.
//! A crash before that re-runs the command after the restart: drivers must be idempotent per
//! command (a `Ring` for a participant no longer ringing is ignored, a second `Cancel` does
//! nothing).
//!
//! Drivers report back through [`Engine::leg_answered`], [`Engine::leg_failed`],
//! [`Engine::leg_left`], [`Engine::leg_muted`] and [`Engine::save_leg_state`]: each is one
//! transaction writing the same notifications a simulated outcome or an acting-as-user action
//! writes.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchboard_core::results::RingFailure;
use switchboard_core::{
    ConversationId, DomainError, EndpointKind, Participant, ParticipantId, ParticipantState, Party, PartyKind,
    RingOutcome, Timestamp,
};
use switchboard_store::Tx;

use crate::error::EngineResult;
use crate::{Engine, EngineConfig, EngineError};

/// What a node's leg driver is asked to do for one of its legs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "command", rename_all = "camelCase", rename_all_fields = "camelCase")]
// Commands live briefly (read, run, dropped); the ring's size keeps the shape drivers match on.
#[allow(clippy::large_enum_variant)]
pub enum LegCommand {
    /// Ring the invitee: who calls, which call/conversation, chatInfo, the ring deadline.
    Ring(RingRequest),
    /// Stop ringing (ring timeout, invite cancelled, call ended while ringing).
    Cancel,
    /// End a connected leg (participant removed by DELETE, call/conversation ended).
    HangUp,
    /// The leg placed a call (agent or inbound SIP calling a bot) and the bot answered it.
    Connected,
    /// The leg's outgoing call was rejected/not answered (reason + resultInfo).
    Rejected { code: i32, subcode: i32, message: String },
    /// Server mute/unmute of this participant.
    Muted { muted: bool },
    /// Roster of a conversation this leg is in changed (agents show it; SIP ignores it).
    Roster { conversation_id: String },
    /// This leg's user joins another call without ringing (an escalation or a move with
    /// `replacesCallId`): the leg carries over to `participant_id` there. Sent to the replaced
    /// leg, before the `HangUp` that ends it, so a driver moves its connection across in order.
    /// The change that joins it writes no `Roster` to the new leg: a driver that shows rosters
    /// shows the new call's after this.
    Joined {
        participant_id: ParticipantId,
        /// The application call that brought the user in (the meeting's call).
        call_id: String,
        conversation_id: ConversationId,
        chat_info: Option<graph_model::ChatInfo>,
    },
}

/// Everything a driver needs to ring an invitee.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RingRequest {
    pub participant_id: ParticipantId,
    pub conversation_id: ConversationId,
    /// The application call that rings the invitee (its create-call or invite).
    pub inviting_call_id: Option<String>,
    /// Who is rung.
    pub target: Party,
    /// The application's identity (for a PSTN caller id, see `caller_number`).
    pub caller: Party,
    /// The application instance's number, when the application has one.
    pub caller_number: Option<String>,
    pub chat_info: Option<graph_model::ChatInfo>,
    /// When the ring times out (the engine's timer then fails the leg with no answer and
    /// sends a `Cancel`).
    pub deadline: Timestamp,
}

/// Drives the live legs of one endpoint kind on this node.
///
/// `execute` should return promptly (commands of one node run one at a time per participant,
/// and a batch waits for its slowest command): long work (waiting for a SIP answer) belongs in
/// a task of the driver's own, which reports back through the `leg_*` methods of [`Engine`].
#[async_trait::async_trait]
pub trait LegDriver: Send + Sync + 'static {
    async fn execute(&self, participant: &Participant, command: LegCommand) -> Result<(), EngineError>;

    /// Settles what the previous process left of this driver's legs. Called once by
    /// [`Engine::start`], after the virtual clock is restored (so what it writes is stamped
    /// with the restored time) and before the leg task runs any command. Default: nothing.
    async fn recover(&self) -> Result<(), EngineError> {
        Ok(())
    }

    /// Another node found this one silent past the node timeout and ended its legs (it was
    /// stalled, not dead): the endpoints this driver still holds are let go, since their legs
    /// are over and no command will come for them. Called by the liveness task on the first
    /// beat after. Default: nothing.
    async fn taken_over(&self) {}

    /// This node has just ended `leg`, a leg of another node found silent past the node
    /// timeout (`leg` as it was before: ringing or connected): the endpoint is told, if this
    /// node can reach it without that node. Called by the node that took the leg over, once per
    /// leg. Default: nothing (an agent's WebSocket died with its node).
    async fn end_for_dead_node(&self, _leg: &Participant) {}
}

/// How an invitee is reached, and by which node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub kind: EndpointKind,
    /// The owning node of a live leg.
    pub node: Option<String>,
}

/// Chooses how `party` is reached (the one place this is decided): a user with a connected
/// agent is rung there (by the node of one of their agents, this node's first); a phone number
/// goes to the SIP trunk when one is configured; everything else is simulated.
pub fn choose_endpoint(tx: &mut dyn Tx, party: &Party, config: &EngineConfig) -> EngineResult<Endpoint> {
    let simulated = Endpoint { kind: EndpointKind::Simulated, node: None };
    match party.kind {
        PartyKind::User => {
            let sessions = tx.agent_sessions_of_user(&party.id)?;
            let node = sessions
                .iter()
                .find(|s| s.node_id == config.node_id)
                .or_else(|| sessions.first())
                .map(|s| s.node_id.clone());
            Ok(match node {
                Some(node) => Endpoint { kind: EndpointKind::Agent, node: Some(node) },
                None => simulated,
            })
        }
        PartyKind::Phone if config.sip_trunk => {
            Ok(Endpoint { kind: EndpointKind::Sip, node: Some(config.node_id.clone()) })
        }
        _ => Ok(simulated),
    }
}

/// How a participant who joins without ringing in place of `replaced` (escalation or move with
/// `replacesCallId`) is reached: a connected live leg carries over to the new call (same kind,
/// same node; its driver is told `Joined`, and the driver's state moves with it, so an agent
/// keeps its WebSocket and a phone its SIP dialog); anything else joins simulated.
pub fn carried_endpoint(replaced: Option<&Participant>) -> Endpoint {
    match replaced {
        Some(leg) if leg.endpoint.is_live() && leg.state == ParticipantState::Connected => {
            Endpoint { kind: leg.endpoint, node: leg.node.clone() }
        }
        _ => Endpoint { kind: EndpointKind::Simulated, node: None },
    }
}

/// The connected leg of `party` in a conversation (not an application's own leg): the leg an
/// escalation of that conversation replaces.
pub(crate) fn leg_of_party(
    tx: &mut dyn Tx,
    conversation: &ConversationId,
    party: &Party,
) -> EngineResult<Option<Participant>> {
    Ok(tx
        .active_participants(conversation)?
        .into_iter()
        .find(|p| p.call_id.is_none() && p.state == ParticipantState::Connected && p.party.same_identity(party)))
}

/// Writes `command` to the inbox of the node owning `participant`'s live leg (nothing for a
/// simulated endpoint or an application leg).
pub(crate) fn send(
    tx: &mut dyn Tx,
    participant: &Participant,
    command: &LegCommand,
    now: Timestamp,
) -> EngineResult<()> {
    let Some(node) = participant.node.as_deref().filter(|_| participant.endpoint.is_live()) else { return Ok(()) };
    let body = serde_json::to_string(command).map_err(|e| EngineError::Internal(e.to_string()))?;
    tx.insert_leg_command(node, &participant.id, &body, now)?;
    Ok(())
}

/// A live leg ends from the domain's side: a ringing one is told `Cancel`, a connected one
/// `HangUp`. Call it with the participant as it was before the change.
pub(crate) fn end_leg(tx: &mut dyn Tx, participant: &Participant, now: Timestamp) -> EngineResult<()> {
    match participant.state {
        ParticipantState::Ringing => send(tx, participant, &LegCommand::Cancel, now),
        ParticipantState::Connected => send(tx, participant, &LegCommand::HangUp, now),
        ParticipantState::Removed => Ok(()),
    }
}

/// Tells the connected agents of a conversation that its roster changed, but for `carried`: a
/// leg that joins in this change in place of a replaced one, whose `Joined` is followed by its
/// roster ([`crate::notify::joined_in_place`]).
pub(crate) fn roster_changed(
    tx: &mut dyn Tx,
    conversation: &ConversationId,
    carried: Option<&ParticipantId>,
    now: Timestamp,
) -> EngineResult<()> {
    let command = LegCommand::Roster { conversation_id: conversation.0.clone() };
    for p in tx.live_legs(conversation)? {
        if p.endpoint == EndpointKind::Agent && p.state == ParticipantState::Connected && Some(&p.id) != carried {
            send(tx, &p, &command, now)?;
        }
    }
    Ok(())
}

/// Commands read from the inbox per batch.
const BATCH: usize = 64;

/// The drivers registered on this node, by endpoint kind.
pub(crate) type Drivers = std::sync::RwLock<HashMap<EndpointKind, Arc<dyn LegDriver>>>;

/// The leg task: runs this node's leg commands whenever it is woken (and on the idle poll).
pub(crate) async fn run(engine: Engine) {
    loop {
        match engine.run_leg_commands().await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "reading the leg inbox failed"),
        }
        let _ = tokio::time::timeout(crate::IDLE_POLL, engine.inner.leg_wake.notified()).await;
    }
}

impl Engine {
    /// This node's id: the owner of its agent sessions, SIP dialogs and leg inbox.
    pub fn node_id(&self) -> &str {
        &self.inner.config.node_id
    }

    /// Registers the driver of an endpoint kind's legs on this node (before [`Engine::start`]).
    pub fn register_driver(&self, kind: EndpointKind, driver: Arc<dyn LegDriver>) {
        self.inner.drivers.write().expect("drivers lock").insert(kind, driver);
        self.inner.leg_wake.notify_one();
    }

    /// Lets every registered driver settle the legs of the previous process ([`LegDriver::recover`]).
    pub(crate) async fn recover_legs(&self) -> EngineResult<()> {
        let drivers: Vec<Arc<dyn LegDriver>> =
            self.inner.drivers.read().expect("drivers lock").values().cloned().collect();
        for driver in drivers {
            driver.recover().await?;
        }
        Ok(())
    }

    /// Lets every registered driver let go of the legs another node ended while this one was
    /// stalled ([`LegDriver::taken_over`]).
    pub(crate) async fn let_go_of_legs(&self) {
        let drivers: Vec<Arc<dyn LegDriver>> =
            self.inner.drivers.read().expect("drivers lock").values().cloned().collect();
        for driver in drivers {
            driver.taken_over().await;
        }
    }

    pub(crate) fn driver(&self, kind: EndpointKind) -> Option<Arc<dyn LegDriver>> {
        self.inner.drivers.read().expect("drivers lock").get(&kind).cloned()
    }

    /// Runs one batch of this node's inbox; returns how many commands it took.
    pub(crate) async fn run_leg_commands(&self) -> EngineResult<usize> {
        let node = self.node_id().to_owned();
        let rows = self.run(move |tx| Ok(tx.leg_commands(&node, BATCH)?)).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        self.failpoint(crate::Failpoint::LegsBeforeDispatch);
        let count = rows.len();
        // One participant's commands run in order; different participants' run side by side.
        let mut by_participant: Vec<(ParticipantId, Vec<switchboard_store::LegCommandRow>)> = Vec::new();
        for row in rows {
            match by_participant.iter_mut().find(|(p, _)| *p == row.participant_id) {
                Some((_, list)) => list.push(row),
                None => by_participant.push((row.participant_id.clone(), vec![row])),
            }
        }
        let lanes = by_participant.into_iter().map(|(_, rows)| async move {
            for row in rows {
                if !self.dispatch(row).await {
                    // Keep this participant's later commands behind the one that must re-run.
                    return false;
                }
            }
            true
        });
        let kept = futures::future::join_all(lanes).await.into_iter().any(|done| !done);
        if kept {
            // The store is failing: wait for the next round instead of spinning.
            return Err(EngineError::Internal("leg commands kept for the next round".to_owned()));
        }
        Ok(count)
    }

    /// Runs one command; `false` when it stays in the inbox (the store could not be read).
    async fn dispatch(&self, row: switchboard_store::LegCommandRow) -> bool {
        let id = row.id;
        let pid = row.participant_id.0.clone();
        let participant = self.run(move |tx| Ok(tx.participant(&pid)?)).await;
        match (participant, serde_json::from_str::<LegCommand>(&row.command)) {
            (Ok(Some(participant)), Ok(command)) => match self.driver(participant.endpoint) {
                Some(driver) => {
                    tracing::debug!(participant_id = %participant.id, ?command, "leg command");
                    if let Err(e) = driver.execute(&participant, command).await {
                        tracing::warn!(participant_id = %participant.id, error = %e, "a leg command failed");
                    }
                }
                None => tracing::error!(
                    participant_id = %participant.id,
                    endpoint = ?participant.endpoint,
                    "no leg driver for this endpoint kind on this node: command dropped"
                ),
            },
            (Ok(None), _) => {
                tracing::debug!(participant_id = %row.participant_id, "leg command for a forgotten participant")
            }
            (Err(e), _) => {
                // The store failed: keep the command for the next round.
                tracing::error!(error = %e, "cannot read the participant of a leg command");
                return false;
            }
            (_, Err(e)) => tracing::error!(command_id = id, error = %e, "unreadable leg command dropped"),
        }
        match self.run(move |tx| Ok(tx.delete_leg_command(id)?)).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(command_id = id, error = %e, "cannot delete a leg command that ran");
                false
            }
        }
    }

    /// The leg answered its ringing: it joins as the simulated answer would (operation
    /// completed, roster, P2P call established). A conflict when it is not ringing any more.
    pub async fn leg_answered(&self, participant_id: &str) -> EngineResult<()> {
        self.ring_settled(participant_id, RingOutcome::Answered).await
    }

    /// The leg's ringing failed (declined, busy, unreachable...): the invitation fails with
    /// that failure's resultInfo. A conflict when it is not ringing any more.
    pub async fn leg_failed(&self, participant_id: &str, failure: RingFailure) -> EngineResult<()> {
        self.ring_settled(participant_id, RingOutcome::Failed(failure)).await
    }

    async fn ring_settled(&self, participant_id: &str, outcome: RingOutcome) -> EngineResult<()> {
        let now = self.inner.clock.now();
        let participant_id = participant_id.to_owned();
        self.run(move |tx| {
            let p = live_leg(tx, &participant_id)?;
            if p.state != ParticipantState::Ringing {
                return Err(DomainError::conflict(format!("participant {participant_id} is not ringing")).into());
            }
            crate::timers::ring_outcome(tx, &p.id, outcome, now)
        })
        .await?;
        self.inner.delivery_wake.notify_one();
        Ok(())
    }

    /// The remote end hung up a connected leg: it leaves as a user leaving would (roster, or
    /// the end of a peer-to-peer call). A conflict when it is not connected.
    pub async fn leg_left(&self, participant_id: &str) -> EngineResult<()> {
        let now = self.inner.clock.now();
        let participant_id = participant_id.to_owned();
        self.run(move |tx| {
            let p = live_leg(tx, &participant_id)?;
            if p.state != ParticipantState::Connected {
                return Err(DomainError::conflict(format!("participant {participant_id} is not connected")).into());
            }
            crate::actions::leave_tx(tx, p, now)
        })
        .await?;
        self.inner.delivery_wake.notify_one();
        Ok(())
    }

    /// The leg muted or unmuted itself: the roster shows it (`isMuted`).
    pub async fn leg_muted(&self, participant_id: &str, muted: bool) -> EngineResult<()> {
        let now = self.inner.clock.now();
        let participant_id = participant_id.to_owned();
        self.run(move |tx| {
            let mut p = live_leg(tx, &participant_id)?;
            if p.state != ParticipantState::Connected {
                return Err(DomainError::conflict(format!("participant {participant_id} is not connected")).into());
            }
            if p.is_muted == muted {
                return Ok(());
            }
            let Some(mut conversation) = tx.conversation(&p.conversation_id)?.filter(|c| !c.ended) else {
                return Err(DomainError::conflict("the call has already ended").into());
            };
            p.is_muted = muted;
            p.roster_sequence = conversation.next_roster_sequence();
            tx.update_participant(&p)?;
            tx.update_conversation(&conversation)?;
            crate::notify::roster_changed(tx, &conversation, std::slice::from_ref(&p), now)
        })
        .await?;
        self.inner.delivery_wake.notify_one();
        Ok(())
    }

    /// Keeps a driver's private state of a leg (durable; read back from the participant).
    pub async fn save_leg_state(&self, participant_id: &str, state: serde_json::Value) -> EngineResult<()> {
        let participant_id = participant_id.to_owned();
        self.run(move |tx| {
            let mut p = live_leg(tx, &participant_id)?;
            p.leg_state = Some(state);
            tx.update_participant(&p)?;
            Ok(())
        })
        .await
    }

    /// The ringing and connected live legs this node owns (what a driver restores or ends
    /// after a restart).
    pub async fn legs_of_node(&self) -> EngineResult<Vec<Participant>> {
        let node = self.node_id().to_owned();
        self.run(move |tx| Ok(tx.participants_of_node(&node)?)).await
    }

    /// Records an agent of directory user `user_id` connected to this node; from now on the
    /// user is rung through the agent driver. Returns the session (its id is minted here).
    pub async fn add_agent_session(&self, user_id: &str) -> EngineResult<switchboard_store::AgentSession> {
        self.add_agent_session_with_id(&crate::new_id(), user_id).await
    }

    /// [`Engine::add_agent_session`] with the session id the caller chose (the agent hub knows
    /// the session before the store does).
    pub(crate) async fn add_agent_session_with_id(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> EngineResult<switchboard_store::AgentSession> {
        let now = self.inner.clock.now();
        let node = self.node_id().to_owned();
        let user_id = user_id.to_owned();
        let session_id = session_id.to_owned();
        self.run(move |tx| {
            let user = tx
                .user(&user_id)?
                .ok_or_else(|| DomainError::not_found(format!("user {user_id} is not in the directory")))?;
            let session =
                switchboard_store::AgentSession { session_id, user_id: user.id, node_id: node, connected_at: now };
            tx.insert_agent_session(&session)?;
            Ok(session)
        })
        .await
    }

    /// Forgets an agent session (its WebSocket closed); `false` if it was not known.
    pub async fn remove_agent_session(&self, session_id: &str) -> EngineResult<bool> {
        let session_id = session_id.to_owned();
        self.run(move |tx| Ok(tx.delete_agent_session(&session_id)?)).await
    }

    /// A participant by id, as stored.
    pub async fn participant(&self, participant_id: &str) -> EngineResult<Option<Participant>> {
        let participant_id = participant_id.to_owned();
        self.run(move |tx| Ok(tx.participant(&participant_id)?)).await
    }
}

/// A live leg (agent or SIP) by id.
fn live_leg(tx: &mut dyn Tx, participant_id: &str) -> EngineResult<Participant> {
    tx.participant(participant_id)?
        .filter(|p| p.endpoint.is_live())
        .ok_or_else(|| DomainError::not_found(format!("live leg {participant_id} was not found")).into())
}
