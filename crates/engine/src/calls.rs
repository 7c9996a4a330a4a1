//! Creating, reading and ending calls.

use graph_model::{odata, CallDirection, CallState, CreateCallBody, Modality};
use switchboard_core::call_kind::{self, CallPlan, MeetingLocator};
use switchboard_core::pstn::{self, PstnSponsor};
use switchboard_core::results::{CallEnd, RingFailure};
use switchboard_core::{
    render, Behaviour, Call, CallId, Conversation, ConversationId, ConversationKind, DomainError, EndpointKind,
    InvitedBy, Participant, ParticipantId, ParticipantState, Party, PartyKind, RingOutcome, RingPlan, TimerAction,
    Timestamp,
};
use switchboard_store::Tx;

use crate::error::EngineResult;
use crate::legs::{LegCommand, RingRequest};
use crate::{new_id, notify, Caller, Engine, EngineConfig, EngineError, HoldGuard};

/// The caller's live call `id`; anything else (unknown, another application's, ended) is 404.
pub(crate) fn owned_call(tx: &mut dyn Tx, caller: &Caller, id: &str) -> EngineResult<Call> {
    owned_call_any_state(tx, caller, id)?
        .filter(|c| c.state != CallState::Terminated)
        .ok_or_else(|| DomainError::not_found(format!("call {id} was not found")).into())
}

/// The caller's call `id` in any state, ended included (for the rules that answer 409 there).
pub(crate) fn owned_call_any_state(tx: &mut dyn Tx, caller: &Caller, id: &str) -> EngineResult<Option<Call>> {
    Ok(tx.call(id)?.filter(|c| c.app_id == caller.app_id && c.tenant_id == caller.tenant_id))
}

pub(crate) fn conversation_of(tx: &mut dyn Tx, call: &Call) -> EngineResult<Conversation> {
    tx.conversation(&call.conversation_id)?
        .ok_or_else(|| EngineError::Internal(format!("call {} has no conversation", call.id)))
}

/// Fills in what the directory knows of a party (id as the directory spells it, display name,
/// tenant): a user, a phone number with a display name, an application or an application
/// instance. What the directory knows wins over what the request says: a participant's identity
/// is "read-only, server generated" (participantinfo), so a bot cannot put another name or
/// tenant on a user in the roster, nor in a created call's `targets`.
pub(crate) fn enrich(tx: &mut dyn Tx, mut party: Party, default_tenant: &str) -> EngineResult<Party> {
    match party.kind {
        PartyKind::User => {
            if let Some(user) = tx.user(&party.id)? {
                party.id = user.id;
                party.display_name = Some(user.display_name);
                party.tenant_id = Some(user.tenant_id.0);
            }
        }
        PartyKind::Phone => {
            if let Some(phone) = tx.phone(&party.id)? {
                party.display_name = phone.display_name.or(party.display_name);
            }
        }
        PartyKind::Application => {
            if let Some(app) = tx.application(&party.id)? {
                party.id = app.client_id.0;
                party.display_name = Some(app.display_name);
                party.tenant_id = Some(app.tenant_id.0);
            }
        }
        PartyKind::ApplicationInstance => {
            let id = party.id.clone();
            if let Some((_, instance)) = crate::inbound::find_instance(tx, |i| i.id.eq_ignore_ascii_case(&id))? {
                party.id = instance.id;
                party.display_name = Some(instance.display_name);
                party.tenant_id = Some(instance.tenant_id.0);
            }
        }
        PartyKind::Guest => {}
    }
    if party.kind != PartyKind::Phone {
        party.tenant_id = party.tenant_id.or(Some(default_tenant.to_owned()));
    }
    Ok(party)
}

/// Starts ringing an invitee. A simulated endpoint gets one timer, due at its outcome or its
/// ring deadline; a live leg (agent, SIP) gets a `Ring` command on its node and a timer at its
/// ring deadline (no answer).
pub(crate) fn schedule_ring(
    tx: &mut dyn Tx,
    call: &Call,
    participant: &Participant,
    now: Timestamp,
) -> EngineResult<()> {
    match start_ring(tx, call, participant, now)? {
        Some(plan) => insert_ring_timer(tx, participant, plan),
        None => Ok(()),
    }
}

/// Like [`schedule_ring`], except that an outcome due at once (an immediate answer, an injected
/// fault) gets no timer: it is returned, and the caller settles it in its own unit of work with
/// [`crate::timers::ring_ended`].
pub(crate) fn ring_or_outcome(
    tx: &mut dyn Tx,
    call: &Call,
    participant: &Participant,
    now: Timestamp,
) -> EngineResult<Option<RingOutcome>> {
    match start_ring(tx, call, participant, now)? {
        Some(plan) if plan.due_at <= now => Ok(Some(plan.outcome)),
        Some(plan) => insert_ring_timer(tx, participant, plan).map(|()| None),
        None => Ok(None),
    }
}

fn insert_ring_timer(tx: &mut dyn Tx, participant: &Participant, plan: RingPlan) -> EngineResult<()> {
    let action = TimerAction::RingOutcome { participant_id: participant.id.clone(), outcome: plan.outcome };
    tx.insert_timer(plan.due_at, &action)?;
    Ok(())
}

/// The plan of a simulated endpoint's ring; `None` for a live leg, rung here.
fn start_ring(
    tx: &mut dyn Tx,
    call: &Call,
    participant: &Participant,
    now: Timestamp,
) -> EngineResult<Option<RingPlan>> {
    let fail_now = |failure| RingPlan { due_at: now, outcome: RingOutcome::Failed(failure) };
    let timeout = call.ring_timeout_secs();
    let party = &participant.party;
    let injected = crate::faults::take_for_ring(tx, call.id.as_str(), party)?;
    let plan = match party.kind {
        // An injected fault (the call's, then the invitee's) fails the ring at once, whatever
        // the endpoint.
        _ if injected.is_some() => fail_now(injected.unwrap_or(RingFailure::NoEndpoints)),
        PartyKind::Phone => match pstn_number(tx, call, participant)? {
            None => fail_now(RingFailure::PstnWithoutInstanceNumber),
            Some(number) if participant.endpoint.is_live() => {
                return ring_live_leg(tx, call, participant, Some(number), timeout, now).map(|()| None);
            }
            Some(_) => {
                let behaviour = tx.phone(&party.id)?.map(|p| p.behaviour).unwrap_or_else(Behaviour::default);
                RingPlan::for_behaviour(&behaviour, now, timeout)
            }
        },
        _ if participant.endpoint.is_live() => {
            let number = any_instance_number(tx, call)?;
            return ring_live_leg(tx, call, participant, number, timeout, now).map(|()| None);
        }
        PartyKind::User => match tx.user(&party.id)? {
            Some(user) => RingPlan::for_behaviour(&user.behaviour, now, timeout),
            None => fail_now(RingFailure::NoEndpoints),
        },
        PartyKind::Application | PartyKind::ApplicationInstance | PartyKind::Guest => {
            fail_now(RingFailure::NoEndpoints)
        }
    };
    Ok(Some(plan))
}

/// The target of a peer-to-peer call is an application (`identity.application` or
/// `applicationInstance`): that application is called (see [`crate::inbound`]). An application
/// that is not in the directory, has no calling webhook, or is the caller itself, is a leg
/// that fails at once (480/10037), as any identity without an endpoint.
fn ring_application_target(
    tx: &mut dyn Tx,
    call: &Call,
    conversation: &Conversation,
    me: &Participant,
    target: Party,
    now: Timestamp,
) -> EngineResult<()> {
    use crate::inbound::{resolve_application, ring_application, ApplicationAddress};
    let address = match target.kind {
        PartyKind::Application => ApplicationAddress::Application(target.id.clone()),
        _ => ApplicationAddress::Instance(target.id.clone()),
    };
    let invited_by = Some(InvitedBy::CallCreation { call_id: call.id.clone() });
    let resolved = resolve_application(tx, &address)?.filter(|(app, _)| app.client_id != call.app_id);
    if let Some((app, dialled)) = resolved {
        let within = call.ring_timeout_secs().min(switchboard_core::ANSWER_TIMEOUT_SECS);
        let rung = ring_application(
            tx,
            conversation,
            &app,
            dialled,
            me,
            invited_by.clone(),
            call.requested_modalities.clone(),
            within,
            now,
        )?;
        if rung.is_ok() {
            return Ok(());
        }
    }
    let p = new_participant(conversation, target, ParticipantState::Ringing, EndpointKind::Simulated, invited_by, now);
    tx.insert_participant(&p)?;
    tx.insert_timer(
        now,
        &TimerAction::RingOutcome { participant_id: p.id, outcome: RingOutcome::Failed(RingFailure::NoEndpoints) },
    )?;
    Ok(())
}

/// The phone number of one of the calling application's instances (its caller id).
fn any_instance_number(tx: &mut dyn Tx, call: &Call) -> EngineResult<Option<String>> {
    Ok(tx.application_instances(call.app_id.as_str())?.into_iter().find_map(|i| i.phone_number))
}

/// The number `call` dials phone `participant` with, as [`pstn::sponsor`] decides: `None`
/// fails the ring with 403/10151 ("Call does not contain the metadata required for making this
/// PSTN dial out").
fn pstn_number(tx: &mut dyn Tx, call: &Call, participant: &Participant) -> EngineResult<Option<String>> {
    let own_target = matches!(participant.invited_by, Some(InvitedBy::CallCreation { .. }));
    Ok(match pstn::sponsor(call, own_target) {
        PstnSponsor::Instance(id) => tx
            .application_instances(call.app_id.as_str())?
            .into_iter()
            .find(|i| i.id.eq_ignore_ascii_case(&id))
            .and_then(|i| i.phone_number),
        PstnSponsor::AnyInstance => any_instance_number(tx, call)?,
        PstnSponsor::Unsupported => None,
    })
}

/// Rings a live leg: a `Ring` command to its node, and the ring deadline as a timer.
fn ring_live_leg(
    tx: &mut dyn Tx,
    call: &Call,
    participant: &Participant,
    caller_number: Option<String>,
    timeout_secs: i64,
    now: Timestamp,
) -> EngineResult<()> {
    let deadline = now.plus_secs(timeout_secs);
    let caller = match tx.participant(call.my_participant_id.as_str())? {
        Some(me) => me.party,
        None => Party {
            kind: PartyKind::Application,
            id: call.app_id.0.clone(),
            display_name: None,
            tenant_id: Some(call.tenant_id.0.clone()),
            identity_provider: None,
        },
    };
    let request = RingRequest {
        participant_id: participant.id.clone(),
        conversation_id: participant.conversation_id.clone(),
        inviting_call_id: Some(call.id.0.clone()),
        target: participant.party.clone(),
        caller,
        caller_number,
        chat_info: call.chat_info.clone(),
        deadline,
    };
    crate::legs::send(tx, participant, &LegCommand::Ring(request), now)?;
    tx.insert_timer(
        deadline,
        &TimerAction::RingOutcome {
            participant_id: participant.id.clone(),
            outcome: RingOutcome::Failed(RingFailure::NoAnswer),
        },
    )?;
    Ok(())
}

/// A new invitee, reached as [`crate::legs::choose_endpoint`] decides.
pub(crate) fn new_invitee(
    tx: &mut dyn Tx,
    config: &EngineConfig,
    conversation: &Conversation,
    party: Party,
    invited_by: InvitedBy,
    now: Timestamp,
) -> EngineResult<Participant> {
    let endpoint = crate::legs::choose_endpoint(tx, &party, config)?;
    let mut p = new_participant(conversation, party, ParticipantState::Ringing, endpoint.kind, Some(invited_by), now);
    p.node = endpoint.node;
    Ok(p)
}

pub(crate) fn new_participant(
    conversation: &Conversation,
    party: Party,
    state: ParticipantState,
    endpoint: EndpointKind,
    invited_by: Option<InvitedBy>,
    now: Timestamp,
) -> Participant {
    Participant {
        id: ParticipantId(new_id()),
        conversation_id: conversation.id.clone(),
        party,
        state,
        endpoint,
        call_id: None,
        invited_by,
        is_muted: false,
        roster_sequence: 0,
        removed_reason: None,
        created_at: now,
        node: None,
        leg_state: None,
        hidden: false,
    }
}

/// Ends `call` for `reason`: notifies it (`terminating`, `terminated`), removes its leg from the
/// roster, and ends the conversation when no application leg remains.
pub(crate) fn end_call(tx: &mut dyn Tx, call: &mut Call, reason: CallEnd, now: Timestamp) -> EngineResult<()> {
    let mut conversation = conversation_of(tx, call)?;
    let other_legs =
        tx.calls_in_conversation(&conversation.id)?.into_iter().filter(|c| c.is_live() && c.id != call.id).count();
    let conversation_ends = other_legs == 0 || conversation.kind == ConversationKind::PeerToPeer;
    // While the call is still live, so that it hears of its failed operations before it ends:
    // every invitation still ringing when the conversation ends, else the call's own (its
    // operations could not report to it once it has ended).
    let inviter = (!conversation_ends).then_some(&call.id);
    fail_ringing_invitations(tx, &conversation, inviter, now)?;
    call.state = CallState::Terminated;
    call.result_info = Some(reason.result_info());
    tx.update_call(call)?;
    notify::call_ended(tx, call, &conversation, now)?;
    let mut changed = Vec::new();
    if let Some(mut me) = tx.participant(call.my_participant_id.as_str())?.filter(Participant::is_active) {
        let was_connected = me.state == ParticipantState::Connected;
        me.state = ParticipantState::Removed;
        me.removed_reason = Some("left".to_owned());
        me.roster_sequence = conversation.next_roster_sequence();
        tx.update_participant(&me)?;
        tx.update_conversation(&conversation)?;
        if was_connected {
            changed.push(me);
        }
    }
    if conversation_ends {
        end_conversation(tx, &mut conversation, now)
    } else {
        notify::roster_changed(tx, &conversation, &changed, now)
    }
}

/// Invitees of invite operations still ringing in a conversation that ends (or, with
/// `inviter`, those of that call's operations only, when that call ends): each is removed and
/// its invitation fails (487/10171), which may settle its operation.
fn fail_ringing_invitations(
    tx: &mut dyn Tx,
    conversation: &Conversation,
    inviter: Option<&CallId>,
    now: Timestamp,
) -> EngineResult<()> {
    for mut p in tx.active_participants(&conversation.id)? {
        let Some(InvitedBy::Invite { call_id, operation_id, index }) = p.invited_by.clone() else { continue };
        if p.state != ParticipantState::Ringing || inviter.is_some_and(|inviter| *inviter != call_id) {
            continue;
        }
        crate::legs::end_leg(tx, &p, now)?;
        p.state = ParticipantState::Removed;
        p.removed_reason = Some("conversationEnded".to_owned());
        tx.update_participant(&p)?;
        tx.delete_participant_timers(&p.id)?;
        crate::invite::record_invitee_outcome(
            tx,
            &operation_id,
            index,
            |op| op.failure(index, &RingFailure::CallEnded, now),
            now,
        )?;
    }
    Ok(())
}

/// Ends a conversation: ringing invitations fail, every remaining participant leaves, and any
/// application leg still live ends (5002).
pub(crate) fn end_conversation(tx: &mut dyn Tx, conversation: &mut Conversation, now: Timestamp) -> EngineResult<()> {
    fail_ringing_invitations(tx, conversation, None, now)?;
    for mut p in tx.active_participants(&conversation.id)? {
        crate::legs::end_leg(tx, &p, now)?;
        p.state = ParticipantState::Removed;
        p.removed_reason = Some("conversationEnded".to_owned());
        tx.update_participant(&p)?;
        tx.delete_participant_timers(&p.id)?;
        if let Some(other) = &p.call_id {
            if let Some(mut leg) = tx.call(other.as_str())?.filter(Call::is_live) {
                leg.state = CallState::Terminated;
                // The other leg of a peer-to-peer call (two applications) hears that its peer
                // ended the call; in a group call or meeting, that everyone else left.
                let reason = if conversation.kind == ConversationKind::PeerToPeer {
                    CallEnd::PeerEnded
                } else {
                    CallEnd::AllOthersLeft
                };
                leg.result_info = Some(reason.result_info());
                tx.update_call(&leg)?;
                notify::call_ended(tx, &leg, conversation, now)?;
            }
        }
    }
    conversation.ended = true;
    conversation.ended_at = Some(now);
    tx.update_conversation(conversation)?;
    Ok(())
}

impl Engine {
    /// `POST /communications/calls`.
    #[tracing::instrument(skip_all, fields(app_id = %caller.app_id, call_id = tracing::field::Empty))]
    pub async fn create_call(
        &self,
        caller: Caller,
        body: CreateCallBody,
        version: graph_model::GraphVersion,
    ) -> EngineResult<(graph_model::Call, HoldGuard)> {
        let plan = call_kind::plan_call(&body, &self.inner.config.callback_policy)?;
        let now = self.inner.clock.now();
        let call_id = CallId(new_id());
        tracing::Span::current().record("call_id", tracing::field::display(&call_id));
        let hold = self.hold(&call_id);
        let config = self.inner.config.clone();
        let rendered = self
            .run(move |tx| {
                let held = call_id.clone();
                let rendered = create_call_tx(tx, &config, caller, body, plan, call_id, version, now)?;
                Engine::hold_in_store(tx, &held, now)?;
                Ok::<_, EngineError>(rendered)
            })
            .await?;
        tracing::info!(conversation_id = %rendered.call_chain_id, "call created");
        self.inner.timer_wake.notify_one();
        Ok((rendered, hold))
    }

    /// `GET /communications/calls/{id}`.
    #[tracing::instrument(skip(self, caller))]
    pub async fn get_call(&self, caller: Caller, call_id: String) -> EngineResult<graph_model::Call> {
        self.run(move |tx| {
            let call = owned_call(tx, &caller, &call_id)?;
            let conversation = conversation_of(tx, &call)?;
            Ok::<_, EngineError>(render::call(&call, &conversation))
        })
        .await
    }

    /// `POST .../calls/{id}/keepAlive`: the call lives 45 more minutes (404 once ended).
    pub async fn keep_alive(&self, caller: Caller, call_id: String) -> EngineResult<()> {
        let now = self.inner.clock.now();
        self.run(move |tx| {
            let mut call = owned_call(tx, &caller, &call_id)?;
            let due = now.plus_secs(switchboard_core::KEEP_ALIVE_TIMEOUT_SECS);
            call.keep_alive_due = Some(due);
            tx.update_call(&call)?;
            // The earlier expiry timer finds the deadline moved on and does nothing.
            tx.insert_timer(due, &TimerAction::KeepAliveExpiry { call_id: call.id.clone() })?;
            Ok::<_, EngineError>(())
        })
        .await
    }

    /// `DELETE /communications/calls/{id}`: the application hangs up its leg.
    #[tracing::instrument(skip(self, caller))]
    pub async fn delete_call(&self, caller: Caller, call_id: String) -> EngineResult<()> {
        let now = self.inner.clock.now();
        self.run(move |tx| {
            let mut call = owned_call(tx, &caller, &call_id)?;
            end_call(tx, &mut call, CallEnd::ByBot, now)
        })
        .await?;
        tracing::info!("call ended by the application");
        self.inner.delivery_wake.notify_one();
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn create_call_tx(
    tx: &mut dyn Tx,
    config: &EngineConfig,
    caller: Caller,
    body: CreateCallBody,
    plan: CallPlan,
    call_id: CallId,
    version: graph_model::GraphVersion,
    now: Timestamp,
) -> EngineResult<graph_model::Call> {
    // Applications of an external identity provider need not be in the directory.
    let display_name = tx.application(caller.app_id.as_str())?.map(|a| a.display_name);
    let new_conversation = |kind, chat_thread_id, meeting_id| Conversation {
        id: ConversationId(new_id()),
        tenant_id: caller.tenant_id.clone(),
        kind,
        chat_thread_id,
        meeting_id,
        ended: false,
        ended_at: None,
        roster_sequence: 0,
        created_at: now,
    };
    let mut chat_info = body.chat_info.clone();
    let (conversation, is_new, targets) = match plan {
        CallPlan::PeerToPeer { target } => {
            (new_conversation(ConversationKind::PeerToPeer, None, None), true, vec![target])
        }
        CallPlan::AdHocGroup { targets } => (new_conversation(ConversationKind::AdHocGroup, None, None), true, targets),
        CallPlan::ChatGroup { thread_id, targets } => match tx.live_conversation_for_thread(&thread_id)? {
            Some(existing) if existing.kind != ConversationKind::Meeting => (existing, false, targets),
            Some(_) => {
                return Err(DomainError::invalid("chatInfo names a meeting's thread: add meetingInfo to join it").into())
            }
            None => (new_conversation(ConversationKind::ChatGroup, Some(thread_id), None), true, targets),
        },
        CallPlan::Meeting { locator } => {
            let meeting = match &locator {
                MeetingLocator::ThreadId(t) => tx.meeting_by_thread(t)?,
                MeetingLocator::JoinMeetingId(j) => tx.meeting_by_join_id(j)?,
                MeetingLocator::Token(t) => tx.meeting(t)?,
            }
            .filter(|m| m.tenant_id == caller.tenant_id)
            .ok_or_else(|| DomainError::invalid("meetingInfo does not name an online meeting of this tenant"))?;
            if chat_info.as_ref().and_then(|c| c.thread_id.as_ref()).is_none() {
                chat_info = Some(graph_model::ChatInfo {
                    odata_type: Some(odata::CHAT_INFO.to_owned()),
                    thread_id: Some(meeting.thread_id.clone()),
                    message_id: Some("0".to_owned()),
                    reply_chain_message_id: None,
                });
            }
            match tx.live_conversation_for_meeting(meeting.id.as_str())? {
                Some(existing) => (existing, false, Vec::new()),
                None => (
                    new_conversation(
                        ConversationKind::Meeting,
                        Some(meeting.thread_id.clone()),
                        Some(meeting.id.clone()),
                    ),
                    true,
                    Vec::new(),
                ),
            }
        }
    };
    // Each target as the directory names it: rung so, and shown so in the call's `targets`.
    let targets =
        targets.into_iter().map(|t| enrich(tx, t, caller.tenant_id.as_str())).collect::<EngineResult<Vec<_>>>()?;
    let is_p2p = conversation.kind == ConversationKind::PeerToPeer;
    let peer = if is_p2p { targets.first().cloned() } else { None };
    let bot = Party {
        kind: PartyKind::Application,
        id: caller.app_id.0.clone(),
        display_name,
        tenant_id: Some(caller.tenant_id.0.clone()),
        identity_provider: None,
    };
    // Who places the call is the server's to say: the application as registered, or the
    // instance or guest it calls as (call_kind::caller). The application's own participant
    // carries that identity too, as create-call Example 8's roster shows its guest.
    let instances = match body.source.as_ref().and_then(|s| s.identity.as_ref()) {
        Some(identity) if identity.application_instance.is_some() => {
            tx.application_instances(caller.app_id.as_str())?
        }
        _ => Vec::new(),
    };
    let placed_as = call_kind::caller(body.source.as_ref(), &bot, &instances)?;
    let source = call_kind::source_info(&placed_as);
    let mut me = new_participant(
        &conversation,
        placed_as,
        if is_p2p { ParticipantState::Connected } else { ParticipantState::Ringing },
        EndpointKind::Application,
        None,
        now,
    );
    me.call_id = Some(call_id.clone());
    let call = Call {
        id: call_id.clone(),
        app_id: caller.app_id.clone(),
        tenant_id: caller.tenant_id.clone(),
        conversation_id: conversation.id.clone(),
        state: CallState::Establishing,
        direction: CallDirection::Outgoing,
        callback_uri: body.callback_uri.clone().unwrap_or_default(),
        my_participant_id: me.id.clone(),
        source: Some(source),
        targets: body.targets.iter().flatten().zip(&targets).map(|(t, p)| call_kind::call_target(t, p)).collect(),
        requested_modalities: body.requested_modalities.clone().unwrap_or_else(|| vec![Modality::Audio]),
        media_config: body.media_config.clone(),
        chat_info,
        meeting_info: body.meeting_info.clone(),
        call_options: body.call_options.clone(),
        subject: body.subject.clone(),
        ringing_timeout_in_seconds: body.ringing_timeout_in_seconds,
        result_info: None,
        peer,
        roster_started: false,
        keep_alive_due: Some(now.plus_secs(switchboard_core::KEEP_ALIVE_TIMEOUT_SECS)),
        incoming_context: None,
        created_at: now,
        api_version: version,
    };
    if is_new {
        tx.insert_conversation(&conversation)?;
    }
    tx.insert_call(&call)?;
    tx.insert_participant(&me).map_err(|e| match e {
        switchboard_store::StoreError::Conflict(_) => EngineError::from(DomainError::conflict(
            "this application, or the identity it calls as, is already in that meeting or call",
        )),
        other => other.into(),
    })?;
    for target in targets {
        if is_p2p && matches!(target.kind, PartyKind::Application | PartyKind::ApplicationInstance) {
            ring_application_target(tx, &call, &conversation, &me, target, now)?;
            continue;
        }
        let p =
            new_invitee(tx, config, &conversation, target, InvitedBy::CallCreation { call_id: call_id.clone() }, now)?;
        tx.insert_participant(&p)?;
        // A ring that ends at once still ends by its timer: the call is answered first.
        schedule_ring(tx, &call, &p, now)?;
    }
    if !is_p2p {
        tx.insert_timer(now, &TimerAction::EstablishCall { call_id: call_id.clone() })?;
    }
    if let Some(due) = call.keep_alive_due {
        tx.insert_timer(due, &TimerAction::KeepAliveExpiry { call_id: call_id.clone() })?;
    }
    notify::call_state(tx, &call, &conversation, now)?;
    Ok(render::call(&call, &conversation))
}
