//! Acting as a directory user: what the control API and the console do on behalf of a
//! simulated endpoint. Each action is one transaction that writes exactly the notifications
//! Graph would send had the user done it on a real client: the operation's outcome to the
//! inviting call, the roster to the established calls of a group call or meeting, and the end
//! of a peer-to-peer call whose other party leaves.

use switchboard_core::results::{CallEnd, RingFailure};
use switchboard_core::{
    render, Conversation, ConversationKind, DomainError, EndpointKind, InvitedBy, Participant, ParticipantId,
    ParticipantState, Party, PartyKind, RingOutcome, TimerAction, Timestamp,
};
use switchboard_store::Tx;

use crate::calls::{end_call, new_participant};
use crate::error::EngineResult;
use crate::{notify, timers, Engine};

/// A participant a user can act for: a simulated endpoint, not an application's own leg.
pub(crate) fn simulated_participant(tx: &mut dyn Tx, participant_id: &str) -> EngineResult<Participant> {
    let p = tx
        .participant(participant_id)?
        .ok_or_else(|| DomainError::not_found(format!("participant {participant_id} was not found")))?;
    match p.endpoint {
        EndpointKind::Simulated => {}
        EndpointKind::Application => {
            return Err(DomainError::conflict(format!(
                "participant {participant_id} is an application's leg: an application acts through the Graph API"
            ))
            .into())
        }
        EndpointKind::Agent | EndpointKind::Sip => {
            return Err(DomainError::conflict(format!(
                "participant {participant_id} is a live leg (agent or SIP): it acts through its own client"
            ))
            .into())
        }
    }
    Ok(p)
}

/// A ringing invitation the user can answer or decline. Escalated and moved invitees join
/// without ringing (their client accepts the replacement itself), so they cannot be answered.
fn ringing_invitation(tx: &mut dyn Tx, participant_id: &str) -> EngineResult<Participant> {
    let p = simulated_participant(tx, participant_id)?;
    if p.state != ParticipantState::Ringing {
        return Err(DomainError::conflict(format!("participant {participant_id} is not ringing")).into());
    }
    if let Some(InvitedBy::Invite { operation_id, index, .. }) = &p.invited_by {
        let joins_without_ringing = tx
            .operation(operation_id.as_str())?
            .and_then(|op| op.invitees.get(*index).map(|i| i.replaces_call_id.is_some()))
            .unwrap_or(false);
        if joins_without_ringing {
            return Err(DomainError::conflict(format!(
                "participant {participant_id} replaces a call: it joins without ringing"
            ))
            .into());
        }
    }
    Ok(p)
}

fn participant_after(tx: &mut dyn Tx, participant_id: &str) -> EngineResult<graph_model::Participant> {
    let p = tx
        .participant(participant_id)?
        .ok_or_else(|| DomainError::not_found(format!("participant {participant_id} was not found")))?;
    Ok(render::participant(&p))
}

impl Engine {
    /// The user answers a ringing invitation, as its simulated answer would.
    #[tracing::instrument(skip(self))]
    pub async fn accept_invitation(&self, participant_id: String) -> EngineResult<graph_model::Participant> {
        let now = self.inner.clock.now();
        let p = self
            .run(move |tx| {
                let p = ringing_invitation(tx, &participant_id)?;
                timers::ring_outcome(tx, &p.id, RingOutcome::Answered, now)?;
                participant_after(tx, &participant_id)
            })
            .await?;
        tracing::info!("invitation accepted");
        self.inner.delivery_wake.notify_one();
        Ok(p)
    }

    /// The user declines a ringing invitation (603/10003, as the `decline` behaviour).
    #[tracing::instrument(skip(self))]
    pub async fn decline_invitation(&self, participant_id: String) -> EngineResult<graph_model::Participant> {
        let now = self.inner.clock.now();
        let p = self
            .run(move |tx| {
                let p = ringing_invitation(tx, &participant_id)?;
                timers::ring_outcome(tx, &p.id, RingOutcome::Failed(RingFailure::Declined), now)?;
                participant_after(tx, &participant_id)
            })
            .await?;
        tracing::info!("invitation declined");
        self.inner.delivery_wake.notify_one();
        Ok(p)
    }

    /// The user hangs up. In a group call or meeting they leave the roster; the other party of
    /// a peer-to-peer call leaving ends it (200/18503, or 200/540000 for a phone).
    #[tracing::instrument(skip(self))]
    pub async fn leave(&self, participant_id: String) -> EngineResult<graph_model::Participant> {
        let now = self.inner.clock.now();
        let p = self
            .run(move |tx| {
                let p = simulated_participant(tx, &participant_id)?;
                if p.state != ParticipantState::Connected {
                    return Err(DomainError::conflict(format!(
                        "participant {participant_id} is not in the roster (a ringing invitation is declined, not left)"
                    ))
                    .into());
                }
                leave_tx(tx, p, now)?;
                participant_after(tx, &participant_id)
            })
            .await?;
        tracing::info!("participant left");
        self.inner.delivery_wake.notify_one();
        Ok(p)
    }

    /// The user hangs up `after_ms` from now (domain time; a timer row, so it survives a
    /// restart): then as [`Engine::leave`]. The participant must be in the roster now.
    #[tracing::instrument(skip(self))]
    pub async fn hang_up_after(&self, participant_id: String, after_ms: i64) -> EngineResult<graph_model::Participant> {
        if !(0..=86_400_000).contains(&after_ms) {
            return Err(DomainError::invalid("afterMs must be between 0 and 86400000").into());
        }
        let now = self.inner.clock.now();
        let p = self
            .run(move |tx| {
                let p = simulated_participant(tx, &participant_id)?;
                if p.state != ParticipantState::Connected {
                    return Err(
                        DomainError::conflict(format!("participant {participant_id} is not in the roster")).into()
                    );
                }
                tx.insert_timer(now.plus_millis(after_ms), &TimerAction::HangUp { participant_id: p.id.clone() })?;
                Ok(render::participant(&p))
            })
            .await?;
        self.inner.timer_wake.notify_one();
        Ok(p)
    }

    /// A directory user joins an online meeting from a client: they enter the roster of the
    /// meeting's live conversation, and every established call in it is told.
    #[tracing::instrument(skip(self))]
    pub async fn join_meeting(&self, meeting_id: String, user_id: String) -> EngineResult<graph_model::Participant> {
        let now = self.inner.clock.now();
        let p = self
            .run(move |tx| {
                let meeting = match tx.meeting(&meeting_id)? {
                    Some(m) => Some(m),
                    None => tx.meeting_by_join_id(&meeting_id)?,
                }
                .ok_or_else(|| DomainError::not_found(format!("online meeting {meeting_id} was not found")))?;
                let user = tx
                    .user(&user_id)?
                    .ok_or_else(|| DomainError::not_found(format!("user {user_id} is not in the directory")))?;
                let mut conversation = tx.live_conversation_for_meeting(meeting.id.as_str())?.ok_or_else(|| {
                    DomainError::conflict(format!(
                        "meeting {meeting_id} has no call in progress: a meeting starts when an application joins it"
                    ))
                })?;
                let party = Party {
                    kind: PartyKind::User,
                    id: user.id.clone(),
                    display_name: Some(user.display_name.clone()),
                    tenant_id: Some(user.tenant_id.0.clone()),
                    identity_provider: Some("AAD".to_owned()),
                };
                let mut p = new_participant(
                    &conversation,
                    party,
                    ParticipantState::Connected,
                    EndpointKind::Simulated,
                    None,
                    now,
                );
                p.roster_sequence = conversation.next_roster_sequence();
                tx.insert_participant(&p)?;
                tx.update_conversation(&conversation)?;
                notify::roster_changed(tx, &conversation, std::slice::from_ref(&p), now)?;
                Ok(render::participant(&p))
            })
            .await?;
        tracing::info!(participant_id = p.id.as_deref().unwrap_or_default(), "user joined the meeting");
        self.inner.delivery_wake.notify_one();
        Ok(p)
    }
}

pub(crate) fn leave_tx(tx: &mut dyn Tx, mut p: Participant, now: Timestamp) -> EngineResult<()> {
    let Some(mut conversation) = tx.conversation(&p.conversation_id)?.filter(|c| !c.ended) else {
        return Err(DomainError::conflict("the call has already ended").into());
    };
    p.state = ParticipantState::Removed;
    p.removed_reason = Some("left".to_owned());
    p.roster_sequence = conversation.next_roster_sequence();
    tx.update_participant(&p)?;
    tx.update_conversation(&conversation)?;
    if conversation.kind == ConversationKind::PeerToPeer {
        let reason = if p.party.kind == PartyKind::Phone { CallEnd::PstnUserEnded } else { CallEnd::PeerLeft };
        for mut call in tx.calls_in_conversation(&conversation.id)? {
            if call.is_live() {
                return end_call(tx, &mut call, reason, now);
            }
        }
        return Ok(());
    }
    notify::roster_changed(tx, &conversation, std::slice::from_ref(&p), now)?;
    end_group_call_left_alone(tx, &mut conversation, now)
}

/// A group call (not a meeting) in which only one participant remains, an application's leg,
/// ends: that call with 200/5010, as Graph ends a conversation with one participant left.
/// Meetings stay open with the bot alone in them.
fn end_group_call_left_alone(tx: &mut dyn Tx, conversation: &mut Conversation, now: Timestamp) -> EngineResult<()> {
    if !matches!(conversation.kind, ConversationKind::AdHocGroup | ConversationKind::ChatGroup) {
        return Ok(());
    }
    let active = tx.active_participants(&conversation.id)?;
    let [last] = active.as_slice() else { return Ok(()) };
    if last.state != ParticipantState::Connected || last.endpoint != EndpointKind::Application {
        return Ok(());
    }
    let Some(mut call) = last.call_id.as_ref().map(|id| tx.call(id.as_str())).transpose()?.flatten() else {
        return Ok(());
    };
    if call.is_live() {
        end_call(tx, &mut call, CallEnd::OnlyOneRemained, now)?;
    }
    Ok(())
}

/// A scripted hang-up comes due: the participant leaves, if still in the roster.
pub(crate) fn scripted_hang_up(tx: &mut dyn Tx, participant_id: &ParticipantId, now: Timestamp) -> EngineResult<()> {
    match tx.participant(participant_id.as_str())? {
        Some(p) if p.state == ParticipantState::Connected && p.endpoint != EndpointKind::Application => {
            match tx.conversation(&p.conversation_id)? {
                Some(c) if !c.ended => leave_tx(tx, p, now),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}
