//! Calls to applications: a directory user or phone (through the control API), an agent, an
//! inbound SIP call, or another application (a peer-to-peer create call whose target is an
//! application) calls a bot.
//!
//! The called application gets its own [`Call`] (direction `incoming`, state `incoming`) in the
//! caller's peer-to-peer conversation, and its leg is a participant of endpoint kind
//! `application` that rings until the bot answers (`POST .../answer`), rejects
//! (`POST .../reject`) or lets the answer deadline pass (15 s, a timer row: 408/1106). The
//! `created` notification of the incoming call goes to the application's calling webhook.
//!
//! The one entry point for every kind of caller that is not an application is
//! [`Engine::call_application`]; an application calling another application goes through
//! `create_call`, which uses [`ring_application`] for its target.

use graph_model::{
    odata, AnswerBody, CallDirection, CallState, InvitationParticipantInfo, Modality, ParticipantInfo, RejectBody,
    RejectReason,
};
use serde_json::json;
use switchboard_core::results::{CallEnd, RingFailure};
use switchboard_core::{
    Application, ApplicationInstance, Call, CallId, Conversation, ConversationId, ConversationKind, DomainError,
    EndpointKind, InvitedBy, Participant, ParticipantId, ParticipantState, Party, PartyKind, RingOutcome, TimerAction,
    Timestamp, ANSWER_TIMEOUT_SECS,
};
use switchboard_store::Tx;

use crate::calls::{conversation_of, end_conversation, enrich, new_participant, owned_call};
use crate::error::EngineResult;
use crate::legs::LegCommand;
use crate::{new_id, notify, timers, Caller, Engine, EngineError};

/// How the called application is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationAddress {
    /// By application (client) id: the target identity is `application`.
    Application(String),
    /// By application instance (resource account) id: the target is `applicationInstance`.
    Instance(String),
    /// By the phone number of an application instance (E.164): the target is that instance.
    PhoneNumber(String),
}

/// Who calls an application (anything but another application, which calls through
/// `POST /communications/calls`).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingParty {
    /// A user or a phone number. Its display name and tenant are filled in from the directory.
    pub party: Party,
    /// How the caller is reached: `Simulated` (control API), or a live leg kind (`Agent`,
    /// `Sip`), which is told `Connected` when the bot answers and `Rejected` when it rejects or
    /// lets the answer deadline pass.
    pub endpoint: EndpointKind,
    /// The node owning a live caller leg (its driver receives the leg commands).
    pub node: Option<String>,
    /// The driver's private state of a live caller leg (e.g. the SIP dialog).
    pub leg_state: Option<serde_json::Value>,
}

/// What the caller asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingCallRequest {
    pub from: IncomingParty,
    pub to: ApplicationAddress,
    /// Default `[audio]`.
    pub requested_modalities: Vec<Modality>,
}

/// The ids of a call placed to an application.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundCall {
    /// The called application's call (what its incoming-call notification names).
    pub call_id: CallId,
    /// The conversation (`callChainId`).
    pub conversation_id: ConversationId,
    /// The caller's participant (connected from the start; it hangs up with `leave`).
    pub caller_participant_id: ParticipantId,
    /// The application's leg, ringing until the bot answers or rejects.
    pub application_participant_id: ParticipantId,
}

/// The application an address names, and the identity the caller dialled.
pub(crate) fn resolve_application(
    tx: &mut dyn Tx,
    address: &ApplicationAddress,
) -> EngineResult<Option<(Application, Party)>> {
    let party = |kind, id: &str, display_name: &str, tenant: &str| Party {
        kind,
        id: id.to_owned(),
        display_name: Some(display_name.to_owned()),
        tenant_id: Some(tenant.to_owned()),
        identity_provider: None,
    };
    match address {
        ApplicationAddress::Application(id) => Ok(tx.application(id)?.map(|app| {
            let target =
                party(PartyKind::Application, app.client_id.as_str(), &app.display_name, app.tenant_id.as_str());
            (app, target)
        })),
        ApplicationAddress::Instance(_) | ApplicationAddress::PhoneNumber(_) => {
            let found = find_instance(tx, |instance| match address {
                ApplicationAddress::Instance(id) => instance.id == *id,
                ApplicationAddress::PhoneNumber(n) => instance.phone_number.as_deref() == Some(n.as_str()),
                ApplicationAddress::Application(_) => false,
            })?;
            Ok(found.map(|(app, instance)| {
                let target = party(
                    PartyKind::ApplicationInstance,
                    &instance.id,
                    &instance.display_name,
                    instance.tenant_id.as_str(),
                );
                (app, target)
            }))
        }
    }
}

/// The first application instance of the directory that `matches`, with its application.
/// Directories are small: a scan of the instances is simpler than another index.
pub(crate) fn find_instance(
    tx: &mut dyn Tx,
    matches: impl Fn(&ApplicationInstance) -> bool,
) -> EngineResult<Option<(Application, ApplicationInstance)>> {
    for app in tx.applications()? {
        if let Some(instance) = tx.application_instances(app.client_id.as_str())?.into_iter().find(|i| matches(i)) {
            return Ok(Some((app, instance)));
        }
    }
    Ok(None)
}

/// Rings an application in `conversation` (a peer-to-peer one): creates its incoming call and
/// its ringing leg, arms the answer deadline and writes the `created` notification to its
/// calling webhook. `Err(failure)` when the application cannot be rung (no calling webhook).
#[allow(clippy::too_many_arguments)]
pub(crate) fn ring_application(
    tx: &mut dyn Tx,
    conversation: &Conversation,
    app: &Application,
    target: Party,
    caller: &Participant,
    invited_by: Option<InvitedBy>,
    requested_modalities: Vec<Modality>,
    answer_within_secs: i64,
    now: Timestamp,
) -> EngineResult<Result<(Call, Participant), RingFailure>> {
    let Some(webhook) = app.calling_webhook.clone().filter(|w| !w.is_empty()) else {
        return Ok(Err(RingFailure::NoEndpoints));
    };
    let call_id = CallId(new_id());
    let mut leg = new_participant(
        conversation,
        target.clone(),
        ParticipantState::Ringing,
        EndpointKind::Application,
        invited_by,
        now,
    );
    leg.call_id = Some(call_id.clone());
    let call = Call {
        id: call_id.clone(),
        app_id: app.client_id.clone(),
        tenant_id: app.tenant_id.clone(),
        conversation_id: conversation.id.clone(),
        state: CallState::Incoming,
        direction: CallDirection::Incoming,
        callback_uri: webhook,
        my_participant_id: leg.id.clone(),
        source: Some(ParticipantInfo {
            odata_type: Some(odata::PARTICIPANT_INFO.to_owned()),
            identity: Some(caller.party.to_identity_set()),
            participant_id: Some(caller.id.0.clone()),
            ..ParticipantInfo::default()
        }),
        targets: vec![InvitationParticipantInfo {
            odata_type: Some(odata::INVITATION_PARTICIPANT_INFO.to_owned()),
            identity: Some(target.to_identity_set()),
            ..InvitationParticipantInfo::default()
        }],
        requested_modalities,
        media_config: None,
        chat_info: None,
        meeting_info: None,
        call_options: None,
        subject: None,
        ringing_timeout_in_seconds: None,
        result_info: None,
        peer: Some(caller.party.clone()),
        roster_started: false,
        keep_alive_due: Some(now.plus_secs(switchboard_core::KEEP_ALIVE_TIMEOUT_SECS)),
        incoming_context: Some(json!({
            "@odata.type": "#microsoft.graph.incomingContext",
            "sourceParticipantId": caller.id.0,
        })),
        created_at: now,
        api_version: graph_model::GraphVersion::Beta,
    };
    tx.insert_call(&call)?;
    tx.insert_participant(&leg)?;
    tx.insert_timer(now.plus_secs(answer_within_secs), &TimerAction::AnswerDeadline { call_id: call_id.clone() })?;
    if let Some(due) = call.keep_alive_due {
        tx.insert_timer(due, &TimerAction::KeepAliveExpiry { call_id })?;
    }
    notify::incoming_call(tx, &call, conversation, now)?;
    Ok(Ok((call, leg)))
}

/// The live leg (agent, SIP) that placed an incoming call, if the caller is one.
fn live_caller(tx: &mut dyn Tx, call: &Call) -> EngineResult<Option<Participant>> {
    let Some(id) = call.source.as_ref().and_then(|s| s.participant_id.clone()) else { return Ok(None) };
    Ok(tx.participant(&id)?.filter(|p| p.endpoint.is_live() && p.state == ParticipantState::Connected))
}

/// The caller's incoming call `id`, still waiting for an answer: 404 when unknown or not the
/// caller's (or ended), 400 for an outgoing call, 409 once answered or rejected.
fn waiting_incoming_call(tx: &mut dyn Tx, caller: &Caller, id: &str, action: &str) -> EngineResult<Call> {
    let call = owned_call(tx, caller, id)?;
    if call.direction != CallDirection::Incoming {
        return Err(DomainError::invalid(format!(
            "call {id} is an outgoing call: only an incoming call can be {action}"
        ))
        .into());
    }
    if call.state != CallState::Incoming {
        return Err(DomainError::conflict(format!(
            "call {id} is {}: an incoming call is answered or rejected once",
            call.state.as_str()
        ))
        .into());
    }
    Ok(call)
}

/// An incoming call that ends unanswered (rejected or timed out): the application's call ends
/// with `reason`, its leg fails with `failure` (which ends an application caller's call), and
/// the conversation ends.
fn end_unanswered(
    tx: &mut dyn Tx,
    mut call: Call,
    result: graph_model::ResultInfo,
    failure: RingFailure,
    now: Timestamp,
) -> EngineResult<()> {
    let conversation = conversation_of(tx, &call)?;
    // A live caller leg is told why, and leaves before the conversation ends (so it is not
    // told `HangUp` as well).
    if let Some(mut leg) = live_caller(tx, &call)? {
        let info = failure.call_result_info();
        crate::legs::send(
            tx,
            &leg,
            &LegCommand::Rejected { code: info.code, subcode: info.subcode, message: info.message },
            now,
        )?;
        leg.state = ParticipantState::Removed;
        leg.removed_reason = Some("notAnswered".to_owned());
        tx.update_participant(&leg)?;
    }
    call.state = CallState::Terminated;
    call.result_info = Some(result);
    tx.update_call(&call)?;
    // Graph sends a rejected call's `deleted` notification alone (call-reject.md).
    notify::call_state(tx, &call, &conversation, now)?;
    timers::ring_outcome(tx, &call.my_participant_id, RingOutcome::Failed(failure), now)?;
    if let Some(mut conversation) = tx.conversation(&conversation.id)?.filter(|c| !c.ended) {
        end_conversation(tx, &mut conversation, now)?;
    }
    Ok(())
}

/// The answer deadline of an incoming call passed: unless answered or rejected by now, it ends
/// with 408/1106, and a calling application's call with 408/10057 (no answer).
pub(crate) fn answer_deadline(tx: &mut dyn Tx, call_id: &CallId, now: Timestamp) -> EngineResult<()> {
    let Some(call) = tx.call(call_id.as_str())?.filter(|c| c.state == CallState::Incoming) else { return Ok(()) };
    end_unanswered(tx, call, CallEnd::AnswerTimeout.result_info(), RingFailure::NoAnswer, now)
}

impl Engine {
    /// Places a call from a user or a phone (simulated, agent or SIP leg) to an application:
    /// the inbound-call entry point of the control API, agents and the SIP trunk.
    ///
    /// In one transaction: a peer-to-peer conversation with the caller connected (it hangs up
    /// with [`Engine::leave`] or its leg's `leg_left`), the application's incoming call and
    /// ringing leg, the answer-deadline timer, and the `created` notification to the
    /// application's calling webhook. Errors: 400 when the caller's id is empty, too long or
    /// holds a control character ([`switchboard_core::party::check_id`]); 404 when the address names no application or the
    /// calling user is not in the directory; 409 when the application has no calling webhook.
    #[tracing::instrument(skip(self), fields(call_id = tracing::field::Empty))]
    pub async fn call_application(&self, request: IncomingCallRequest) -> EngineResult<InboundCall> {
        let now = self.inner.clock.now();
        let inbound = self
            .run(move |tx| {
                let (app, target) = resolve_application(tx, &request.to)?
                    .ok_or_else(|| DomainError::not_found(format!("no application answers at {:?}", request.to)))?;
                let party = request.from.party.clone();
                switchboard_core::party::check_id("the caller's id", &party.id)?;
                if party.kind == PartyKind::User && tx.user(&party.id)?.is_none() {
                    return Err(DomainError::not_found(format!("user {} is not in the directory", party.id)).into());
                }
                if !matches!(party.kind, PartyKind::User | PartyKind::Phone) {
                    return Err(DomainError::invalid("a user or a phone number calls an application here").into());
                }
                let party = enrich(tx, party, app.tenant_id.as_str())?;
                let conversation = Conversation {
                    id: ConversationId(new_id()),
                    tenant_id: app.tenant_id.clone(),
                    kind: ConversationKind::PeerToPeer,
                    chat_thread_id: None,
                    meeting_id: None,
                    ended: false,
                    ended_at: None,
                    roster_sequence: 0,
                    created_at: now,
                };
                tx.insert_conversation(&conversation)?;
                let mut caller = new_participant(
                    &conversation,
                    party,
                    ParticipantState::Connected,
                    request.from.endpoint,
                    None,
                    now,
                );
                caller.node = request.from.node.clone();
                caller.leg_state = request.from.leg_state.clone();
                tx.insert_participant(&caller)?;
                let modalities = if request.requested_modalities.is_empty() {
                    vec![Modality::Audio]
                } else {
                    request.requested_modalities.clone()
                };
                let (call, leg) = ring_application(
                    tx,
                    &conversation,
                    &app,
                    target,
                    &caller,
                    None,
                    modalities,
                    ANSWER_TIMEOUT_SECS,
                    now,
                )?
                .map_err(|_| {
                    DomainError::conflict(format!(
                        "application {} has no calling webhook: set one to receive calls",
                        app.client_id
                    ))
                })?;
                Ok::<_, EngineError>(InboundCall {
                    call_id: call.id,
                    conversation_id: conversation.id,
                    caller_participant_id: caller.id,
                    application_participant_id: leg.id,
                })
            })
            .await?;
        tracing::Span::current().record("call_id", tracing::field::display(&inbound.call_id));
        tracing::info!("application called");
        self.inner.timer_wake.notify_one();
        self.inner.delivery_wake.notify_one();
        Ok(inbound)
    }

    /// `POST .../calls/{id}/answer`: the bot answers its incoming call. Its call goes
    /// `establishing` then `established` (notified to the answer's callbackUri), and the
    /// caller's side is connected (an application caller's call is `established` too).
    #[tracing::instrument(skip(self, caller, body))]
    pub async fn answer(
        &self,
        caller: Caller,
        call_id: String,
        body: AnswerBody,
        may_access_media: bool,
    ) -> EngineResult<()> {
        let now = self.inner.clock.now();
        let policy = self.inner.config.callback_policy.clone();
        self.run(move |tx| {
            // The call is the caller's and waiting before anything of the body is judged, so
            // another application learns nothing of it (404).
            let mut call = waiting_incoming_call(tx, &caller, &call_id, "answered")?;
            let callback = match body.callback_uri.as_deref() {
                None | Some("") => return Err(DomainError::invalid("callbackUri is required").into()),
                Some(uri) => policy.check(uri)?.to_string(),
            };
            match &body.accepted_modalities {
                None => return Err(DomainError::invalid("acceptedModalities is required").into()),
                Some(m) if m.is_empty() => {
                    return Err(DomainError::invalid("acceptedModalities must name at least one modality").into())
                }
                Some(_) => {}
            }
            if body.participant_capacity.is_some_and(|c| c < 0) {
                return Err(DomainError::invalid("participantCapacity must not be negative").into());
            }
            let hosting = switchboard_core::call_kind::media_hosting(body.media_config.as_ref())?;
            if hosting == switchboard_core::call_kind::MediaHosting::App && !may_access_media {
                return Err(DomainError::forbidden(
                    "Answering with application-hosted media requires the Calls.AccessMedia.All permission.",
                )
                .into());
            }
            let conversation = conversation_of(tx, &call)?;
            call.callback_uri = callback;
            if let Some(accepted) = body.accepted_modalities.clone() {
                call.requested_modalities = accepted;
            }
            call.media_config = body.media_config.clone();
            call.call_options = body.call_options.clone();
            call.state = CallState::Establishing;
            tx.update_call(&call)?;
            notify::call_state(tx, &call, &conversation, now)?;
            call.state = CallState::Established;
            tx.update_call(&call)?;
            notify::call_state(tx, &call, &conversation, now)?;
            if let Some(leg) = live_caller(tx, &call)? {
                crate::legs::send(tx, &leg, &LegCommand::Connected, now)?;
            }
            timers::ring_outcome(tx, &call.my_participant_id, RingOutcome::Answered, now)
        })
        .await?;
        tracing::info!("incoming call answered");
        self.inner.delivery_wake.notify_one();
        Ok(())
    }

    /// `POST .../calls/{id}/reject`: the bot rejects its incoming call (`none` 603/10003,
    /// `busy` 486/10004, `forbidden` 403/10003). Its call is `deleted`; an application caller's
    /// call ends with the same resultInfo.
    #[tracing::instrument(skip(self, caller, body))]
    pub async fn reject(&self, caller: Caller, call_id: String, body: RejectBody) -> EngineResult<()> {
        let policy = self.inner.config.callback_policy.clone();
        let failure = match body.reason.unwrap_or(RejectReason::None) {
            RejectReason::None => RingFailure::Declined,
            RejectReason::Busy => RingFailure::Busy,
            RejectReason::Forbidden => RingFailure::Forbidden,
        };
        let now = self.inner.clock.now();
        self.run(move |tx| {
            let mut call = waiting_incoming_call(tx, &caller, &call_id, "rejected")?;
            if let Some(uri) = body.callback_uri.as_deref().filter(|u| !u.is_empty()) {
                call.callback_uri = policy.check(uri)?.to_string();
            }
            end_unanswered(tx, call, failure.call_result_info(), failure.clone(), now)
        })
        .await?;
        tracing::info!("incoming call rejected");
        self.inner.delivery_wake.notify_one();
        Ok(())
    }
}
