//! Listing, reading and removing participants.

use switchboard_core::results::{CallEnd, RingFailure};
use switchboard_core::{render, ConversationKind, DomainError, InvitedBy, Participant, ParticipantState};
use switchboard_store::Tx;

use crate::calls::{conversation_of, end_call, end_conversation, owned_call};
use crate::error::EngineResult;
use crate::invite::record_invitee_outcome;
use crate::{notify, Caller, Engine, EngineError};

/// Largest page of `GET .../participants`.
pub const MAX_PAGE: usize = 999;
/// Page size when the client does not ask for one.
pub const DEFAULT_PAGE: usize = 100;

/// One page of a roster.
pub struct RosterPage {
    pub participants: Vec<graph_model::Participant>,
    /// The id after which the next page starts, when there is one.
    pub next_after: Option<String>,
}

/// The whole roster of `conversation`: its connected participants but the hidden ones, by id.
pub(crate) fn whole_roster(
    tx: &mut dyn Tx,
    conversation: &switchboard_core::ConversationId,
) -> EngineResult<Vec<Participant>> {
    let mut roster = tx.roster_page(conversation, None, usize::MAX >> 1)?;
    roster.retain(Participant::in_roster);
    Ok(roster)
}

fn call_participant(
    tx: &mut dyn Tx,
    caller: &Caller,
    call_id: &str,
    participant_id: &str,
) -> EngineResult<(switchboard_core::Call, Participant)> {
    let call = owned_call(tx, caller, call_id)?;
    let participant = tx
        .participant(participant_id)?
        .filter(|p| p.conversation_id == call.conversation_id && p.is_active())
        .ok_or_else(|| DomainError::not_found(format!("participant {participant_id} was not found")))?;
    Ok((call, participant))
}

impl Engine {
    /// `GET .../participants`: the connected participants, by id, in pages.
    #[tracing::instrument(skip(self, caller))]
    pub async fn list_participants(
        &self,
        caller: Caller,
        call_id: String,
        top: usize,
        after: Option<String>,
    ) -> EngineResult<RosterPage> {
        self.run(move |tx| {
            let call = owned_call(tx, &caller, &call_id)?;
            let mut page = tx.roster_page(&call.conversation_id, after.as_deref(), top + 1)?;
            let next_after = if page.len() > top {
                page.truncate(top);
                page.last().map(|p| p.id.0.clone())
            } else {
                None
            };
            // Hidden participants are skipped after paging: a page may hold fewer than `top`.
            page.retain(Participant::in_roster);
            Ok::<_, EngineError>(RosterPage {
                participants: page.iter().map(render::participant).collect(),
                next_after,
            })
        })
        .await
    }

    /// `GET .../participants/{id}`: a connected participant, or an invitee still ringing.
    #[tracing::instrument(skip(self, caller))]
    pub async fn get_participant(
        &self,
        caller: Caller,
        call_id: String,
        participant_id: String,
    ) -> EngineResult<graph_model::Participant> {
        self.run(move |tx| {
            let (_, p) = call_participant(tx, &caller, &call_id, &participant_id)?;
            Ok::<_, EngineError>(render::participant(&p))
        })
        .await
    }

    /// `DELETE .../participants/{id}`: cancels a ringing invitee, or removes a participant.
    #[tracing::instrument(skip(self, caller))]
    pub async fn delete_participant(
        &self,
        caller: Caller,
        call_id: String,
        participant_id: String,
    ) -> EngineResult<()> {
        let now = self.inner.clock.now();
        self.run(move |tx| {
            let (mut call, mut p) = call_participant(tx, &caller, &call_id, &participant_id)?;
            if p.id == call.my_participant_id {
                return Err(DomainError::invalid("an application leaves its call with DELETE on the call").into());
            }
            let mut conversation = conversation_of(tx, &call)?;
            crate::legs::end_leg(tx, &p, now)?;
            let was_ringing = p.state == ParticipantState::Ringing;
            p.state = ParticipantState::Removed;
            p.removed_reason = Some("removedByApplication".to_owned());
            tx.delete_participant_timers(&p.id)?;
            if was_ringing {
                tx.update_participant(&p)?;
                match &p.invited_by {
                    Some(InvitedBy::Invite { operation_id, index, .. }) => {
                        record_invitee_outcome(
                            tx,
                            operation_id,
                            *index,
                            |op| op.failure(*index, &RingFailure::Cancelled, now),
                            now,
                        )?;
                    }
                    Some(InvitedBy::CallCreation { .. }) if conversation.kind == ConversationKind::PeerToPeer => {
                        call.result_info = Some(RingFailure::Cancelled.call_result_info());
                        call.state = graph_model::CallState::Terminated;
                        tx.update_call(&call)?;
                        notify::call_ended(tx, &call, &conversation, now)?;
                        end_conversation(tx, &mut conversation, now)?;
                    }
                    _ => {}
                }
                return Ok(());
            }
            p.roster_sequence = conversation.next_roster_sequence();
            tx.update_participant(&p)?;
            tx.update_conversation(&conversation)?;
            if let Some(leg) = &p.call_id {
                if let Some(mut other) = tx.call(leg.as_str())?.filter(|c| c.is_live()) {
                    end_call(tx, &mut other, CallEnd::RemovedByParticipant, now)?;
                    return Ok(());
                }
            }
            if conversation.kind == ConversationKind::PeerToPeer {
                call.result_info = Some(CallEnd::AllOthersLeft.result_info());
                call.state = graph_model::CallState::Terminated;
                tx.update_call(&call)?;
                notify::call_ended(tx, &call, &conversation, now)?;
                return end_conversation(tx, &mut conversation, now);
            }
            notify::roster_changed(tx, &conversation, std::slice::from_ref(&p), now)
        })
        .await?;
        self.inner.delivery_wake.notify_one();
        Ok(())
    }
}
