//! Muting participants: the application's server mute (`POST .../participants/{id}/mute`) and
//! a user muting or unmuting themselves (control API, scripted actions).

use graph_model::{CallState, OperationStatus};
use switchboard_core::{
    render, ConversationKind, DomainError, Operation, OperationId, OperationKind, Participant, ParticipantState,
    Timestamp,
};
use switchboard_store::Tx;

use crate::calls::{conversation_of, owned_call};
use crate::error::EngineResult;
use crate::{new_id, notify, Caller, Engine, EngineError, HoldGuard};

/// Longest `clientContext` (muteParticipantOperation: "a maximum of 256 characters").
const MAX_CLIENT_CONTEXT: usize = 256;

/// Sets a participant's mute flag; when it changed, every established call of a group call or
/// meeting gets the roster. Returns whether it changed.
pub(crate) fn set_muted(tx: &mut dyn Tx, p: &mut Participant, muted: bool, now: Timestamp) -> EngineResult<bool> {
    if p.is_muted == muted {
        return Ok(false);
    }
    let mut conversation = tx
        .conversation(&p.conversation_id)?
        .filter(|c| !c.ended)
        .ok_or_else(|| DomainError::conflict("the call has already ended"))?;
    p.is_muted = muted;
    p.roster_sequence = conversation.next_roster_sequence();
    tx.update_participant(p)?;
    tx.update_conversation(&conversation)?;
    notify::roster_changed(tx, &conversation, std::slice::from_ref(p), now)?;
    Ok(true)
}

impl Engine {
    /// `POST .../participants/{id}/mute`: a server mute of any participant of the call's group
    /// call or meeting (a user, a phone, another application's leg, the bot itself). The
    /// operation is settled at once: the response shows it `Completed`, its `deleted`
    /// notification follows, then the roster with `isMuted: true`.
    #[tracing::instrument(skip(self, caller, client_context))]
    pub async fn mute_participant(
        &self,
        caller: Caller,
        call_id: String,
        participant_id: String,
        client_context: Option<String>,
    ) -> EngineResult<(graph_model::CommsOperation, HoldGuard)> {
        let now = self.inner.clock.now();
        let call_key = switchboard_core::CallId(call_id.clone());
        let hold = self.hold(&call_key);
        let op = self
            .run(move |tx| {
                let call = owned_call(tx, &caller, &call_id)?;
                let mut p = tx
                    .participant(&participant_id)?
                    .filter(|p| p.conversation_id == call.conversation_id && p.is_active())
                    .ok_or_else(|| DomainError::not_found(format!("participant {participant_id} was not found")))?;
                if client_context.as_ref().is_some_and(|c| c.chars().count() > MAX_CLIENT_CONTEXT) {
                    return Err(DomainError::invalid("clientContext is longer than 256 characters").into());
                }
                let conversation = conversation_of(tx, &call)?;
                if conversation.kind == ConversationKind::PeerToPeer {
                    return Err(DomainError::invalid(
                        "participant: mute is supported in group calls and meetings only",
                    )
                    .into());
                }
                if call.state != CallState::Established {
                    return Err(DomainError::conflict(format!("call {call_id} is not established")).into());
                }
                if p.state != ParticipantState::Connected {
                    return Err(
                        DomainError::conflict(format!("participant {participant_id} is not in the roster")).into()
                    );
                }
                let op = Operation {
                    id: OperationId(new_id()),
                    call_id: call.id.clone(),
                    kind: OperationKind::MuteParticipant,
                    status: OperationStatus::Completed,
                    client_context: client_context.clone(),
                    result_info: None,
                    invitees: Vec::new(),
                    created_at: now,
                    last_action_at: now,
                };
                tx.insert_operation(&op)?;
                // The operation's notification precedes the roster it caused.
                notify::operation_finished(tx, &op, now)?;
                if set_muted(tx, &mut p, true, now)? {
                    // A live leg (agent, SIP) is told by its node.
                    crate::legs::send(tx, &p, &crate::legs::LegCommand::Muted { muted: true }, now)?;
                }
                Ok::<_, EngineError>(render::operation(&op, false))
            })
            .await?;
        tracing::info!(operation_id = %op.id, "participant muted");
        self.inner.delivery_wake.notify_one();
        Ok((op, hold))
    }

    /// A user mutes or unmutes themselves (control API): the roster of a group call or meeting
    /// shows it; a peer-to-peer call has no roster notifications.
    #[tracing::instrument(skip(self))]
    pub async fn mute_self(&self, participant_id: String, muted: bool) -> EngineResult<graph_model::Participant> {
        let now = self.inner.clock.now();
        let p = self
            .run(move |tx| {
                let mut p = crate::actions::simulated_participant(tx, &participant_id)?;
                if p.state != ParticipantState::Connected {
                    return Err(
                        DomainError::conflict(format!("participant {participant_id} is not in the roster")).into()
                    );
                }
                set_muted(tx, &mut p, muted, now)?;
                Ok::<_, EngineError>(render::participant(&p))
            })
            .await?;
        self.inner.delivery_wake.notify_one();
        Ok(p)
    }
}
