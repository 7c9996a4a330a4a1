//! Timers: rows due at a domain time. The timer task fires what is due; in virtual mode a
//! clock advance fires due timers in order, then lets every resulting notification be tried.

use graph_model::CallState;
use switchboard_core::results::{CallEnd, RingFailure};
use switchboard_core::{
    ConversationKind, InvitedBy, InviteeOutcome, Operation, OperationId, ParticipantState, RingOutcome, Timer,
    TimerAction, Timestamp,
};
use switchboard_store::Tx;

use crate::calls::{conversation_of, end_call, end_conversation};
use crate::error::EngineResult;
use crate::invite::{record_invitee_outcome, settle_invitee};
use crate::{notify, ClockMode, Engine, EngineError};

/// Timers fired per batch.
const BATCH: usize = 128;

pub(crate) async fn run(engine: Engine) {
    loop {
        let fired = {
            let _guard = engine.inner.timer_lock.lock().await;
            engine.fire_due(engine.inner.clock.now()).await
        };
        let next_due = fired.unwrap_or_else(|e| {
            tracing::error!(error = %e, "firing timers failed");
            None
        });
        engine.sleep_until_due(async { Ok(next_due) }, &engine.inner.timer_wake).await;
    }
}

impl Engine {
    /// Fires every timer due at `now`, each in its own unit of work, until none is due, and
    /// returns when the earliest timer left is due (read in the unit that found none due).
    pub(crate) async fn fire_due(&self, now: Timestamp) -> EngineResult<Option<Timestamp>> {
        loop {
            let (due, next_due) = self
                .run(move |tx| {
                    let due = tx.due_timers(now, BATCH)?;
                    let next_due = if due.is_empty() { tx.next_timer_due()? } else { None };
                    Ok::<_, EngineError>((due, next_due))
                })
                .await?;
            if due.is_empty() {
                return Ok(next_due);
            }
            self.failpoint(crate::Failpoint::BeforeTimers);
            let units = due.into_iter().map(|timer| {
                self.run(move |tx| {
                    // Deleting the row first makes firing exactly-once across restarts.
                    if !tx.delete_timer(timer.id)? {
                        return Ok(());
                    }
                    fire(tx, timer, now)
                })
            });
            for result in futures::future::join_all(units).await {
                if let Err(e) = result {
                    tracing::error!(error = %e, "a timer failed");
                }
            }
            self.inner.delivery_wake.notify_one();
        }
    }

    /// Virtual clock: moves time forward by `ms`, firing due timers in time order, then makes
    /// one delivery attempt of every notification due, then removes the conversations whose
    /// retention period has passed. Returns the new time.
    pub async fn advance(&self, ms: i64) -> EngineResult<Timestamp> {
        if self.inner.clock.mode() != ClockMode::Virtual {
            return Err(switchboard_core::DomainError::conflict(
                "the clock is not virtual (start with --clock virtual)",
            )
            .into());
        }
        if ms < 0 {
            return Err(switchboard_core::DomainError::invalid("cannot move the clock backwards").into());
        }
        // Past the last time Graph writes, every timer would fire at once at a time that
        // cannot be told apart from the one before it.
        let target = match self.inner.clock.now().0.checked_add(ms) {
            Some(t) if t <= Timestamp::LATEST.0 => Timestamp(t),
            _ => {
                let message = format!("the clock cannot move past {}", Timestamp::LATEST.to_rfc3339());
                return Err(switchboard_core::DomainError::invalid(message).into());
            }
        };
        {
            let _guard = self.inner.timer_lock.lock().await;
            loop {
                match self.fire_due(self.inner.clock.now()).await? {
                    Some(due) if due <= target => self.inner.clock.set_virtual(due),
                    _ => break,
                }
            }
            self.inner.clock.set_virtual(target);
            self.fire_due(target).await?;
            self.set_setting(crate::VIRTUAL_NOW, target.0.to_string()).await?;
        }
        self.announce(crate::Change::Clock { now_ms: target.0 });
        self.flush().await?;
        self.remove_expired().await?;
        Ok(self.inner.clock.now())
    }
}

fn fire(tx: &mut dyn Tx, timer: Timer, now: Timestamp) -> EngineResult<()> {
    // The unit runs on the store's writer thread: the span is entered there, around it.
    let span = match &timer.action {
        TimerAction::RingOutcome { participant_id, .. } => {
            tracing::info_span!("timer", timer_id = timer.id, %participant_id)
        }
        TimerAction::EstablishCall { call_id }
        | TimerAction::KeepAliveExpiry { call_id }
        | TimerAction::AnswerDeadline { call_id } => {
            tracing::info_span!("timer", timer_id = timer.id, %call_id)
        }
        TimerAction::JoinWithoutRinging { operation_id, .. } => {
            tracing::info_span!("timer", timer_id = timer.id, %operation_id)
        }
        TimerAction::HangUp { participant_id } => tracing::info_span!("timer", timer_id = timer.id, %participant_id),
    };
    let _entered = span.enter();
    match timer.action {
        TimerAction::RingOutcome { participant_id, outcome } => ring_ended(tx, &participant_id, outcome, now),
        TimerAction::EstablishCall { call_id } => establish(tx, &call_id, now),
        TimerAction::KeepAliveExpiry { call_id } => keep_alive_expiry(tx, &call_id, now),
        TimerAction::JoinWithoutRinging { operation_id, index } => join_without_ringing(tx, &operation_id, index, now),
        TimerAction::AnswerDeadline { call_id } => crate::inbound::answer_deadline(tx, &call_id, now),
        TimerAction::HangUp { participant_id } => crate::actions::scripted_hang_up(tx, &participant_id, now),
    }
}

/// A ring ends with `outcome`: its timer fired. The participant's timers are deleted.
pub(crate) fn ring_ended(
    tx: &mut dyn Tx,
    participant_id: &switchboard_core::ParticipantId,
    outcome: RingOutcome,
    now: Timestamp,
) -> EngineResult<()> {
    let Some((p, conversation)) = ringing_in_live_conversation(tx, participant_id)? else { return Ok(()) };
    // A live leg's only timer is its ring deadline: stop it ringing there.
    crate::legs::end_leg(tx, &p, now)?;
    outcome_of_ring(tx, p, conversation, outcome, None, now)
}

/// A ring that ends in the invite that rang it (an outcome due at once: an immediate answer,
/// an injected fault), settled in the invite's unit of work before the invite writes its
/// operation, once, settled. Such a ring set no timer, and a live leg's ring never ends at once.
pub(crate) struct AtOnce<'a> {
    /// `false` for an answer: the participant is inserted connected, one write instead of an
    /// insert as ringing and an update (the writer's busiest path; BENCHMARKS.md). A failure
    /// has inserted it ringing, so that an identity already in the call stays a conflict.
    participant_written: bool,
    /// The invite's operation, not written yet.
    op: &'a mut Operation,
}

/// A ring answered at once, its participant not written yet: see [`AtOnce`].
pub(crate) fn answered_at_once(
    tx: &mut dyn Tx,
    p: switchboard_core::Participant,
    op: &mut Operation,
    now: Timestamp,
) -> EngineResult<()> {
    let conversation = conversation_of_participant(tx, &p)?;
    let at_once = AtOnce { participant_written: false, op };
    outcome_of_ring(tx, p, conversation, RingOutcome::Answered, Some(at_once), now)
}

/// A ring failed at once, its participant written ringing: see [`AtOnce`].
pub(crate) fn failed_at_once(
    tx: &mut dyn Tx,
    participant_id: &switchboard_core::ParticipantId,
    outcome: RingOutcome,
    op: &mut Operation,
    now: Timestamp,
) -> EngineResult<()> {
    let Some((p, conversation)) = ringing_in_live_conversation(tx, participant_id)? else { return Ok(()) };
    let at_once = AtOnce { participant_written: true, op };
    outcome_of_ring(tx, p, conversation, outcome, Some(at_once), now)
}

/// A ringing leg reaches its outcome: by its timer, or by a user acting through the control API.
pub(crate) fn ring_outcome(
    tx: &mut dyn Tx,
    participant_id: &switchboard_core::ParticipantId,
    outcome: RingOutcome,
    now: Timestamp,
) -> EngineResult<()> {
    let Some((p, conversation)) = ringing_in_live_conversation(tx, participant_id)? else { return Ok(()) };
    outcome_of_ring(tx, p, conversation, outcome, None, now)
}

/// The participant and its conversation, when it is still ringing in a conversation that has
/// not ended (a ring's outcome changes nothing otherwise).
fn ringing_in_live_conversation(
    tx: &mut dyn Tx,
    participant_id: &switchboard_core::ParticipantId,
) -> EngineResult<Option<(switchboard_core::Participant, switchboard_core::Conversation)>> {
    let Some(p) = tx.participant(participant_id.as_str())?.filter(|p| p.state == ParticipantState::Ringing) else {
        return Ok(None);
    };
    let conversation = tx.conversation(&p.conversation_id)?.filter(|c| !c.ended);
    Ok(conversation.map(|c| (p, c)))
}

/// [`ring_outcome`] of a participant that is ringing in a live conversation, both as read (or,
/// [`AtOnce`], as the invite that rang it holds them).
fn outcome_of_ring(
    tx: &mut dyn Tx,
    mut p: switchboard_core::Participant,
    mut conversation: switchboard_core::Conversation,
    outcome: RingOutcome,
    mut at_once: Option<AtOnce<'_>>,
    now: Timestamp,
) -> EngineResult<()> {
    let participant_written = at_once.as_ref().is_none_or(|a| a.participant_written);
    if at_once.is_none() {
        tx.delete_participant_timers(&p.id)?;
    }
    let write = |tx: &mut dyn Tx, p: &switchboard_core::Participant| match participant_written {
        true => tx.update_participant(p),
        false => tx.insert_participant(p),
    };
    let (call_id, operation_id) = match &p.invited_by {
        Some(InvitedBy::Invite { call_id, operation_id, .. }) => (Some(call_id.clone()), Some(operation_id.clone())),
        Some(InvitedBy::CallCreation { call_id }) => (Some(call_id.clone()), None),
        None => (None, None),
    };
    tracing::info!(
        participant_id = %p.id,
        call_id = call_id.as_ref().map(|c| c.as_str()),
        operation_id = operation_id.as_ref().map(|o| o.as_str()),
        outcome = ?outcome,
        "ringing ended"
    );
    match outcome {
        RingOutcome::Answered => {
            p.state = ParticipantState::Connected;
            p.roster_sequence = conversation.next_roster_sequence();
            write(tx, &p)?;
            tx.update_conversation(&conversation)?;
            match &p.invited_by {
                Some(InvitedBy::Invite { operation_id, index, .. }) => {
                    report(tx, &mut at_once, operation_id, *index, |_| InviteeOutcome::Joined { at: now }, now)?;
                }
                Some(InvitedBy::CallCreation { call_id }) => {
                    if let Some(mut call) = tx.call(call_id.as_str())?.filter(|c| c.state == CallState::Establishing) {
                        if conversation.kind == ConversationKind::PeerToPeer {
                            call.state = CallState::Established;
                            tx.update_call(&call)?;
                            notify::call_state(tx, &call, &conversation, now)?;
                        }
                    }
                }
                None => {}
            }
            notify::roster_changed(tx, &conversation, std::slice::from_ref(&p), now)
        }
        RingOutcome::Failed(failure) => {
            p.state = ParticipantState::Removed;
            p.removed_reason = Some("notAnswered".to_owned());
            write(tx, &p)?;
            match &p.invited_by {
                Some(InvitedBy::Invite { operation_id, index, .. }) => {
                    report(tx, &mut at_once, operation_id, *index, |op| op.failure(*index, &failure, now), now)
                }
                Some(InvitedBy::CallCreation { call_id }) if conversation.kind == ConversationKind::PeerToPeer => {
                    let Some(mut call) = tx.call(call_id.as_str())?.filter(|c| c.is_live()) else { return Ok(()) };
                    call.state = CallState::Terminated;
                    call.result_info = Some(failure_for_call(&failure));
                    tx.update_call(&call)?;
                    notify::call_state(tx, &call, &conversation, now)?;
                    end_conversation(tx, &mut conversation, now)
                }
                _ => Ok(()),
            }
        }
    }
}

/// Reports an invitee's outcome to its operation, where that is: in the store, or held by the
/// invite that rang it ([`AtOnce`]).
fn report(
    tx: &mut dyn Tx,
    at_once: &mut Option<AtOnce<'_>>,
    operation_id: &OperationId,
    index: usize,
    outcome: impl FnOnce(&Operation) -> InviteeOutcome,
    now: Timestamp,
) -> EngineResult<()> {
    match at_once {
        Some(a) => settle_invitee(tx, a.op, index, outcome, now),
        None => record_invitee_outcome(tx, operation_id, index, outcome, now),
    }
}

fn failure_for_call(failure: &RingFailure) -> graph_model::ResultInfo {
    failure.call_result_info()
}

/// Ends a call whose keepAlive deadline has passed (408/8537).
fn keep_alive_expiry(tx: &mut dyn Tx, call_id: &switchboard_core::CallId, now: Timestamp) -> EngineResult<()> {
    let Some(mut call) = tx.call(call_id.as_str())?.filter(|c| c.is_live()) else { return Ok(()) };
    if call.keep_alive_due.is_some_and(|due| due <= now) {
        end_call(tx, &mut call, CallEnd::KeepAliveTimeout, now)?;
    }
    Ok(())
}

fn establish(tx: &mut dyn Tx, call_id: &switchboard_core::CallId, now: Timestamp) -> EngineResult<()> {
    let Some(mut call) = tx.call(call_id.as_str())?.filter(|c| c.state == CallState::Establishing) else {
        return Ok(());
    };
    let mut conversation = conversation_of(tx, &call)?;
    call.state = CallState::Established;
    tx.update_call(&call)?;
    notify::call_state(tx, &call, &conversation, now)?;
    let mut changed = Vec::new();
    if let Some(mut me) =
        tx.participant(call.my_participant_id.as_str())?.filter(|p| p.state == ParticipantState::Ringing)
    {
        me.state = ParticipantState::Connected;
        me.roster_sequence = conversation.next_roster_sequence();
        tx.update_participant(&me)?;
        tx.update_conversation(&conversation)?;
        changed.push(me);
    }
    notify::roster_changed(tx, &conversation, &changed, now)
}

fn join_without_ringing(
    tx: &mut dyn Tx,
    operation_id: &switchboard_core::OperationId,
    index: usize,
    now: Timestamp,
) -> EngineResult<()> {
    let Some(op) = tx.operation(operation_id.as_str())? else { return Ok(()) };
    let Some(invitee) = op.invitees.get(index).cloned() else { return Ok(()) };
    let Some(mut p) = tx.participant(invitee.participant_id.as_str())?.filter(|p| p.state == ParticipantState::Ringing)
    else {
        return Ok(());
    };
    let mut conversation = conversation_of_participant(tx, &p)?;
    let replaced = match &invitee.replaces_call_id {
        Some(id) => tx.call(id)?.filter(|c| c.is_live()),
        None => None,
    };
    // A move needs its participant still in the source meeting: another move may have taken
    // it, or it left, since the invite checked it (the invite changes nothing there itself).
    let source_gone = match &invitee.source_participant_id {
        Some(source_id) => tx.participant(source_id)?.is_none_or(|m| m.state != ParticipantState::Connected),
        None => false,
    };
    let Some(mut replaced) = replaced.filter(|_| !source_gone) else {
        // The call to replace (or the participant to move) ended in between: the invitation
        // fails.
        p.state = ParticipantState::Removed;
        tx.update_participant(&p)?;
        return record_invitee_outcome(
            tx,
            operation_id,
            index,
            |op| op.failure(index, &RingFailure::CallEnded, now),
            now,
        );
    };
    carry_live_leg(tx, &op, &invitee, &mut p, &replaced, now)?;
    if let Some(source_id) = &invitee.source_participant_id {
        // A move: leave the source meeting first (its roster is told), then join here. (Read
        // again: carrying its live leg over may have changed it.)
        if let Some(mut moved) = tx.participant(source_id)? {
            let mut source_conversation = conversation_of(tx, &replaced)?;
            crate::legs::end_leg(tx, &moved, now)?;
            moved.state = ParticipantState::Removed;
            moved.removed_reason = Some("movedToAnotherMeeting".to_owned());
            moved.roster_sequence = source_conversation.next_roster_sequence();
            tx.update_participant(&moved)?;
            tx.update_conversation(&source_conversation)?;
            notify::roster_changed(tx, &source_conversation, std::slice::from_ref(&moved), now)?;
        }
    }
    p.state = ParticipantState::Connected;
    p.roster_sequence = conversation.next_roster_sequence();
    tx.update_participant(&p)?;
    tx.update_conversation(&conversation)?;
    record_invitee_outcome(tx, operation_id, index, |_| InviteeOutcome::Joined { at: now }, now)?;
    notify::joined_in_place(tx, &conversation, &p, now)?;
    if invitee.source_participant_id.is_none() {
        // An escalation: the replaced peer-to-peer call ends as transferred.
        end_call(tx, &mut replaced, CallEnd::Transferred, now)?;
    }
    Ok(())
}

/// A participant joining in place of a live leg (chosen by [`crate::legs::carried_endpoint`]
/// at the invite) takes that leg over: the replaced leg is told `Joined` before its `HangUp`,
/// and the driver's state (a SIP dialog) moves to the new participant, so the replaced leg's
/// `HangUp` finds none and the endpoint stays connected. When the replaced leg is gone
/// meanwhile (the agent left or disconnected, the phone hung up), the participant joins
/// simulated instead.
fn carry_live_leg(
    tx: &mut dyn Tx,
    op: &switchboard_core::Operation,
    invitee: &switchboard_core::Invitee,
    p: &mut switchboard_core::Participant,
    replaced: &switchboard_core::Call,
    now: Timestamp,
) -> EngineResult<()> {
    if !p.endpoint.is_live() {
        return Ok(());
    }
    let leg = match &invitee.source_participant_id {
        Some(source_id) => tx.participant(source_id)?,
        None => crate::legs::leg_of_party(tx, &replaced.conversation_id, &p.party)?,
    };
    let carried = crate::legs::carried_endpoint(leg.as_ref());
    match leg.filter(|_| carried.kind == p.endpoint) {
        Some(mut leg) => {
            let chat_info = tx.call(op.call_id.as_str())?.and_then(|c| c.chat_info);
            let command = crate::legs::LegCommand::Joined {
                participant_id: p.id.clone(),
                call_id: op.call_id.0.clone(),
                conversation_id: p.conversation_id.clone(),
                chat_info,
            };
            p.node = carried.node;
            if leg.leg_state.is_some() {
                p.leg_state = leg.leg_state.take();
                tx.update_participant(&leg)?;
            }
            crate::legs::send(tx, &leg, &command, now)
        }
        None => {
            p.endpoint = switchboard_core::EndpointKind::Simulated;
            p.node = None;
            Ok(())
        }
    }
}

fn conversation_of_participant(
    tx: &mut dyn Tx,
    p: &switchboard_core::Participant,
) -> EngineResult<switchboard_core::Conversation> {
    tx.conversation(&p.conversation_id)?
        .ok_or_else(|| EngineError::Internal(format!("participant {} has no conversation", p.id)))
}
