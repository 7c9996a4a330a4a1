//! `POST .../participants/invite`: ring, escalate or move, as decided by the core's rules.

use graph_model::{InviteParticipantsBody, OperationStatus};
use switchboard_core::invite::{self, InviteMode, InviteRequest, InviteTarget, MoveFacts};
use switchboard_core::{
    render, Call, Conversation, ConversationKind, DomainError, InvitedBy, Invitee, InviteeOutcome, Operation,
    OperationId, OperationKind, ParticipantState, RingOutcome, TimerAction, Timestamp,
};
use switchboard_store::Tx;

use crate::calls::{
    conversation_of, enrich, new_invitee, new_participant, owned_call, owned_call_any_state, ring_or_outcome,
};
use crate::error::EngineResult;
use crate::{new_id, notify, Caller, Engine, EngineError, HoldGuard};

impl Engine {
    /// Starts an invite operation; answers with the operation in its `Running` state.
    #[tracing::instrument(skip(self, caller, body), fields(operation_id = tracing::field::Empty))]
    pub async fn invite(
        &self,
        caller: Caller,
        call_id: String,
        body: InviteParticipantsBody,
    ) -> EngineResult<(graph_model::CommsOperation, HoldGuard)> {
        let request = invite::parse_invite(body)?;
        let now = self.inner.clock.now();
        // The hold is taken before the transaction, so nothing it causes is delivered before
        // the response; a call id that names no call of the caller gets a 404 below anyway.
        let call = switchboard_core::CallId(call_id.clone());
        let hold = self.hold(&call);
        let config = self.inner.config.clone();
        // The unit claims the notifications it queues to the inviting call (delivered once
        // the response is out): no claim of the delivery loop between its commit and the POST.
        let reserved = self.reserve_delivery(&call);
        let lease_until = now.plus_millis(self.lease_ms());
        let mut done = self
            .run(move |tx| {
                let (op, timed) = invite_tx(tx, &config, &caller, &call_id, request, now)?;
                // (Only under the id reserved: the path may spell the call's id otherwise.)
                let run = match reserved && op.call_id.0 == call_id {
                    true => crate::delivery::claim_call_run(tx, &op.call_id, now, lease_until)?,
                    false => Vec::new(),
                };
                Ok::<_, EngineError>((op, timed, run))
            })
            .await;
        if reserved {
            // A failed unit claimed nothing: the reservation goes back.
            let run = done.as_mut().map(|(_, _, run)| std::mem::take(run)).unwrap_or_default();
            self.start_reserved(&call, run);
        } else {
            // The delivery loop claims what the unit queued; its last claim may have read the
            // outbox before this unit's commit (it held the reservation lock meanwhile).
            self.inner.delivery_wake.notify_one();
        }
        let (op, timed, _) = done?;
        self.failpoint(crate::Failpoint::InviteCommitted);
        tracing::Span::current().record("operation_id", tracing::field::display(&op.id));
        tracing::info!(invitees = op.invitees.len(), "invite started");
        if timed {
            self.inner.timer_wake.notify_one();
        }
        Ok((render::operation(&op, false), hold))
    }

    /// `GET .../operations/{id}`.
    #[tracing::instrument(skip(self, caller))]
    pub async fn get_operation(
        &self,
        caller: Caller,
        call_id: String,
        operation_id: String,
    ) -> EngineResult<graph_model::CommsOperation> {
        self.run(move |tx| {
            let call = owned_call(tx, &caller, &call_id)?;
            let op = tx
                .operation(&operation_id)?
                .filter(|op| op.call_id == call.id)
                .ok_or_else(|| DomainError::not_found(format!("operation {operation_id} was not found")))?;
            Ok::<_, EngineError>(render::operation(&op, false))
        })
        .await
    }
}

fn invitee(target: &InviteTarget, participant_id: switchboard_core::ParticipantId) -> Invitee {
    Invitee {
        party: target.party.clone(),
        participant_id,
        replaces_call_id: None,
        source_participant_id: None,
        endpoint_type: target.endpoint_type,
        outcome: InviteeOutcome::Pending,
        hidden: target.hidden,
        remove_from_default_audio_routing_group: target.remove_from_default_audio_routing_group,
    }
}

/// The invite's unit of work: the operation as answered (`Running`), and whether it may have
/// set a timer (`false` when every invitee's ring ended at once: the timer loop has nothing
/// new to wait for).
fn invite_tx(
    tx: &mut dyn Tx,
    config: &crate::EngineConfig,
    caller: &Caller,
    call_id: &str,
    request: InviteRequest,
    now: Timestamp,
) -> EngineResult<(Operation, bool)> {
    // An ended call is still the caller's: inviting into it is a conflict, not a 404.
    let call = owned_call_any_state(tx, caller, call_id)?
        .ok_or_else(|| DomainError::not_found(format!("call {call_id} was not found")))?;
    invite::check_call_accepts_invites(&call)?;
    // Held before anything is queued to the call: what this unit queues is born leased to this
    // node, which posts it once its response is out, not to a node that held the call before.
    Engine::hold_in_store(tx, &call.id, now)?;
    let mut conversation = conversation_of(tx, &call)?;
    let op_id = OperationId(new_id());
    let invited_by = |index| InvitedBy::Invite { call_id: call.id.clone(), operation_id: op_id.clone(), index };
    let tenant = caller.tenant_id.as_str();
    let mut invitees = Vec::new();
    // Rings whose outcome is due at once (an immediate answer, an injected fault) are settled
    // below, in this unit of work, once the operation they report to is written: the
    // operation still answers `Running`, and its notification waits for the response.
    let mut ended_at_once = Vec::new();
    let rings = matches!(&request.mode, InviteMode::Ring(_));
    match request.mode {
        InviteMode::Ring(targets) => {
            invite::check_ring(&conversation, &targets)?;
            become_group(tx, &mut conversation)?;
            for (index, target) in targets.iter().enumerate() {
                let party = enrich(tx, target.party.clone(), tenant)?;
                let mut p = new_invitee(tx, config, &conversation, party.clone(), invited_by(index), now)?;
                p.hidden = target.is_hidden();
                invitees.push(Invitee { party, ..invitee(target, p.id.clone()) });
                // An answer due at once inserts the participant connected, below. A failure
                // inserts it ringing, as any other ring: ringing, it holds its place in the
                // conversation (an identity already there is a conflict), removed it would not.
                match ring_or_outcome(tx, &call, &p, now)? {
                    Some(RingOutcome::Answered) => ended_at_once.push((p, RingOutcome::Answered)),
                    outcome => {
                        tx.insert_participant(&p)?;
                        if let Some(outcome) = outcome {
                            ended_at_once.push((p, outcome));
                        }
                    }
                }
            }
        }
        InviteMode::Escalate { target, replaces_call_id } => {
            let replaced = foreign_is_unknown(tx, caller, &replaces_call_id)?;
            let replaced_conversation = match &replaced {
                Some(r) => Some(conversation_of(tx, r)?),
                None => None,
            };
            invite::check_escalation(&call, &target.party, replaced.as_ref().zip(replaced_conversation.as_ref()))?;
            become_group(tx, &mut conversation)?;
            let party = enrich(tx, target.party.clone(), tenant)?;
            let replaced_leg = match &replaced_conversation {
                Some(c) => crate::legs::leg_of_party(tx, &c.id, &party)?,
                None => None,
            };
            let endpoint = crate::legs::carried_endpoint(replaced_leg.as_ref());
            let hidden = target.is_hidden();
            let p = join_without_ringing(tx, &conversation, party.clone(), invited_by(0), endpoint, hidden, now)?;
            invitees.push(Invitee {
                party,
                replaces_call_id: Some(replaces_call_id),
                ..invitee(&target, p.id.clone())
            });
        }
        InviteMode::Move { target, replaces_call_id, participant_id } => {
            let source = foreign_is_unknown(tx, caller, &replaces_call_id)?;
            let source_conversation = match &source {
                Some(s) => Some(conversation_of(tx, s)?),
                None => None,
            };
            let creator = |tx: &mut dyn Tx, c: &Conversation| -> EngineResult<_> {
                Ok(match &c.meeting_id {
                    Some(m) => tx.meeting(m.as_str())?.and_then(|m| m.creator_app_id),
                    None => None,
                })
            };
            let meeting_creator = creator(tx, &conversation)?;
            let source_creator = match &source_conversation {
                Some(c) => creator(tx, c)?,
                None => None,
            };
            let moved = tx.participant(&participant_id)?;
            invite::check_move(
                &MoveFacts {
                    call: &call,
                    conversation: &conversation,
                    meeting_creator: meeting_creator.as_ref(),
                    source: source
                        .as_ref()
                        .zip(source_conversation.as_ref())
                        .map(|(s, c)| (s, c, source_creator.as_ref())),
                    participant: moved.as_ref(),
                },
                &target.party,
            )?;
            let endpoint = crate::legs::carried_endpoint(moved.as_ref());
            let party = moved.map(|m| m.party).unwrap_or(target.party.clone());
            let hidden = target.is_hidden();
            let p = join_without_ringing(tx, &conversation, party.clone(), invited_by(0), endpoint, hidden, now)?;
            invitees.push(Invitee {
                party,
                replaces_call_id: Some(replaces_call_id),
                source_participant_id: Some(participant_id),
                ..invitee(&target, p.id.clone())
            });
        }
    }
    let op = Operation {
        id: op_id,
        call_id: call.id.clone(),
        kind: OperationKind::Invite,
        status: OperationStatus::Running,
        client_context: request.client_context,
        result_info: None,
        invitees,
        created_at: now,
        last_action_at: now,
    };
    let timed = !(rings && ended_at_once.len() == op.invitees.len());
    // The operation is answered running; it is written once, with the outcomes due at once.
    let mut written = op.clone();
    for (p, outcome) in ended_at_once {
        match outcome {
            RingOutcome::Answered => crate::timers::answered_at_once(tx, p, &mut written, now)?,
            outcome => crate::timers::failed_at_once(tx, &p.id, outcome, &mut written, now)?,
        }
    }
    tx.insert_operation(&written)?;
    Ok((op, timed))
}

/// An escalated or moved invitee: it joins without ringing, by a timer due now (so the
/// operation still answers `Running` and completes through its notification). `endpoint` is
/// the replaced leg's, as [`crate::legs::carried_endpoint`] decides.
fn join_without_ringing(
    tx: &mut dyn Tx,
    conversation: &Conversation,
    party: switchboard_core::Party,
    invited_by: InvitedBy,
    endpoint: crate::legs::Endpoint,
    hidden: bool,
    now: Timestamp,
) -> EngineResult<switchboard_core::Participant> {
    let InvitedBy::Invite { operation_id, index, .. } = &invited_by else {
        return Err(EngineError::Internal("a join without ringing belongs to an invite".to_owned()));
    };
    let action = TimerAction::JoinWithoutRinging { operation_id: operation_id.clone(), index: *index };
    let mut p = new_participant(conversation, party, ParticipantState::Ringing, endpoint.kind, Some(invited_by), now);
    p.node = endpoint.node;
    p.hidden = hidden;
    tx.insert_participant(&p)?;
    tx.insert_timer(now, &action)?;
    Ok(p)
}

/// A call named in a request body: another application's call reads as unknown.
fn foreign_is_unknown(tx: &mut dyn Tx, caller: &Caller, id: &str) -> EngineResult<Option<Call>> {
    Ok(tx.call(id)?.filter(|c| c.app_id == caller.app_id && c.tenant_id == caller.tenant_id && c.is_live()))
}

/// A P2P conversation becomes a group call, for good, when someone is invited into it.
fn become_group(tx: &mut dyn Tx, conversation: &mut Conversation) -> EngineResult<()> {
    if conversation.kind == ConversationKind::PeerToPeer {
        conversation.kind = ConversationKind::AdHocGroup;
        tx.update_conversation(conversation)?;
        for mut call in tx.calls_in_conversation(&conversation.id)? {
            call.peer = None;
            tx.update_call(&call)?;
        }
    }
    Ok(())
}

/// Records the outcome of invitee `index` of an operation in the store; when that settles the
/// operation, its `deleted` notification is written (before any roster notification of the
/// same change).
pub(crate) fn record_invitee_outcome(
    tx: &mut dyn Tx,
    operation_id: &OperationId,
    index: usize,
    outcome: impl FnOnce(&Operation) -> InviteeOutcome,
    now: Timestamp,
) -> EngineResult<()> {
    let Some(mut op) = tx.operation(operation_id.as_str())? else { return Ok(()) };
    settle_invitee(tx, &mut op, index, outcome, now)?;
    tx.update_operation(&op)?;
    Ok(())
}

/// [`record_invitee_outcome`] in `op`, which the caller writes.
pub(crate) fn settle_invitee(
    tx: &mut dyn Tx,
    op: &mut Operation,
    index: usize,
    outcome: impl FnOnce(&Operation) -> InviteeOutcome,
    now: Timestamp,
) -> EngineResult<()> {
    let outcome = outcome(op);
    if op.record_outcome(index, outcome, now) {
        tracing::info!(
            call_id = %op.call_id,
            operation_id = %op.id,
            status = op.status.as_str(),
            code = op.result_info.as_ref().map(|r| r.code),
            subcode = op.result_info.as_ref().map(|r| r.subcode),
            "operation settled"
        );
        notify::operation_finished(tx, op, now)?;
    }
    Ok(())
}
