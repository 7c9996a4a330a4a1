//! Live agents: directory users' clients connected to this node (the API serves them over a
//! WebSocket; see docs/agents.md for the message protocol). The hub keeps, in memory, which
//! sessions are connected, which of them a leg is ringing on, and which session a connected
//! leg belongs to; the store keeps the sessions (`agent_sessions`) so that
//! [`crate::legs::choose_endpoint`] rings a user with a connected agent through this node.
//!
//! Rules (docs/agents.md): every agent of the user rings; the first accept wins and the others
//! are told `answeredElsewhere`; a decline (or busy) from one agent declines the invitation for
//! all (the others are told `cancelled`, reason `declinedElsewhere`). An agent that disconnects
//! stops ringing; when it was the last one ringing, the invitation fails as unreachable
//! (480/10076); a connected agent that disconnects leaves the call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Serialize};
use switchboard_core::results::RingFailure;
use switchboard_core::{render, DomainError, EndpointKind, Participant, ParticipantState};
use tokio::sync::mpsc;

use crate::error::EngineResult;
use crate::legs::{LegCommand, LegDriver};
use crate::{Engine, EngineError, Inner};

/// What the server tells an agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
// Events live briefly (queued, serialised, dropped); boxing the invitation buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum AgentEvent {
    /// The first message of a session.
    Welcome { session_id: String, user_id: String, display_name: String, node_id: String },
    /// A call rings this user.
    Invitation {
        participant_id: String,
        call_id: Option<String>,
        conversation_id: String,
        caller: graph_model::IdentitySet,
        caller_number: Option<String>,
        chat_info: Option<graph_model::ChatInfo>,
        /// When the ringing times out (RFC 3339, domain time).
        ring_deadline: String,
    },
    /// This agent's accept won: it is in the call.
    Answered { participant_id: String },
    /// Another agent of the same user accepted first.
    AnsweredElsewhere { participant_id: String },
    /// The invitation stopped ringing: `cancelled` (by the application, the ring timeout or the
    /// call ending), `declinedElsewhere`, or `failed` (the accept came too late).
    Cancelled { participant_id: String, reason: String },
    /// This agent's decline was recorded.
    Declined { participant_id: String },
    /// The call ended for this agent (removed by the application, or the call ended).
    Ended { participant_id: String },
    /// This agent's leave was recorded.
    Left { participant_id: String },
    /// The roster of a call this agent is in (Graph participants, `isMuted` included).
    Roster { participant_id: String, conversation_id: String, participants: Vec<graph_model::Participant> },
    /// The agent's mute state changed (by itself or by the application).
    Muted { participant_id: String, muted: bool },
    /// This agent's `callApplication` placed a call: the application is being rung.
    Calling { participant_id: String, call_id: String, conversation_id: String },
    /// The application answered the agent's call.
    Connected { participant_id: String },
    /// The agent's user joined another call without ringing (the application escalated the
    /// agent's call into it, or moved the agent there): this agent is in that call as
    /// `participant_id`; its leg `replaces_participant_id` ends (`ended` follows) and a
    /// `roster` of the new call follows.
    Joined {
        participant_id: String,
        replaces_participant_id: String,
        call_id: String,
        conversation_id: String,
        chat_info: Option<graph_model::ChatInfo>,
    },
    /// The application rejected the agent's call or did not answer in time.
    Rejected { participant_id: String, code: i32, subcode: i32, message: String },
    /// A message could not be acted on; the session stays open.
    Error { code: String, message: String },
}

/// What an agent asks (`type` tags the message).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum AgentRequest {
    Accept {
        participant_id: String,
    },
    Decline {
        participant_id: String,
        #[serde(default)]
        reason: DeclineReason,
    },
    Leave {
        participant_id: String,
    },
    Mute {
        participant_id: String,
        muted: bool,
    },
    /// Calls an application (a bot), by exactly one of its addresses.
    CallApplication {
        to: ApplicationTarget,
        #[serde(default)]
        requested_modalities: Vec<graph_model::Modality>,
    },
}

/// The application an agent calls: exactly one of the three.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationTarget {
    pub application_id: Option<String>,
    pub application_instance_id: Option<String>,
    pub phone_number: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeclineReason {
    #[default]
    Decline,
    Busy,
}

struct Session {
    user_id: String,
    events: mpsc::UnboundedSender<AgentEvent>,
}

#[derive(Default)]
struct HubState {
    sessions: HashMap<String, Session>,
    /// Ringing legs and the sessions they ring on.
    ringing: HashMap<String, Vec<String>>,
    /// Connected legs and the session that answered.
    connected: HashMap<String, Leg>,
}

/// A connected leg on one of this node's agents.
struct Leg {
    session: String,
    /// A request of the agent about this leg (accept, mute) is in flight: rosters wait until
    /// its answer has been told, so the agent always hears `answered`/`muted` first.
    busy: bool,
    /// A roster came while busy: tell it once the request is answered.
    held_roster: bool,
}

impl HubState {
    /// Takes the ring of `participant_id` for `session_id` (the first accept or decline wins):
    /// the other sessions it rang, or `None` when it is not ringing this session.
    fn take_ring(&mut self, session_id: &str, participant_id: &str) -> Option<Vec<String>> {
        if !self.ringing.get(participant_id)?.iter().any(|s| s == session_id) {
            return None;
        }
        let sessions = self.ringing.remove(participant_id)?;
        Some(sessions.into_iter().filter(|s| s != session_id).collect())
    }
}

impl Leg {
    fn new(session: &str, busy: bool) -> Leg {
        Leg { session: session.to_owned(), busy, held_roster: false }
    }
}

/// The agents connected to this node.
#[derive(Default)]
pub struct AgentHub {
    state: Mutex<HubState>,
}

impl AgentHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().expect("agent hub lock")
    }

    fn tell(&self, session_id: &str, event: AgentEvent) {
        if let Some(s) = self.lock().sessions.get(session_id) {
            let _ = s.events.send(event);
        }
    }

    fn tell_all(&self, sessions: &[String], event: impl Fn() -> AgentEvent) {
        let state = self.lock();
        for id in sessions {
            if let Some(s) = state.sessions.get(id) {
                let _ = s.events.send(event());
            }
        }
    }
}

/// One connected agent; dropping it does not disconnect (call [`Engine::agent_disconnected`]).
pub struct AgentSession {
    pub session_id: String,
    pub user_id: String,
    pub events: mpsc::UnboundedReceiver<AgentEvent>,
}

/// The leg driver of agents: turns leg commands into events of the agents' sessions.
pub(crate) struct AgentDriver {
    pub(crate) engine: Weak<Inner>,
}

#[async_trait::async_trait]
impl LegDriver for AgentDriver {
    async fn execute(&self, participant: &Participant, command: LegCommand) -> Result<(), EngineError> {
        let Some(inner) = self.engine.upgrade() else { return Ok(()) };
        let engine = Engine { inner };
        engine.agent_command(participant, command).await
    }

    async fn recover(&self) -> Result<(), EngineError> {
        let Some(inner) = self.engine.upgrade() else { return Ok(()) };
        Engine { inner }.end_orphaned_agent_legs().await
    }

    /// The other node forgot this node's sessions and ended their legs: every agent is
    /// disconnected (its WebSocket closes; it connects again to be rung here again).
    async fn taken_over(&self) {
        let Some(inner) = self.engine.upgrade() else { return };
        let sessions = std::mem::take(&mut inner.agents.lock().sessions);
        tracing::info!(agents = sessions.len(), "agents disconnected: their sessions were taken over");
    }
}

fn not_ringing(participant_id: &str) -> AgentEvent {
    AgentEvent::Error {
        code: "notRinging".into(),
        message: format!("participant {participant_id} is not ringing on this agent"),
    }
}

fn not_connected(participant_id: &str) -> AgentEvent {
    AgentEvent::Error {
        code: "notConnected".into(),
        message: format!("participant {participant_id} is not this agent's leg in a call"),
    }
}

fn engine_error(e: EngineError) -> AgentEvent {
    match e {
        EngineError::Domain(d) => {
            let code = match d.kind {
                switchboard_core::ErrorKind::NotFound => "notFound",
                switchboard_core::ErrorKind::InvalidRequest => "badMessage",
                _ => "conflict",
            };
            AgentEvent::Error { code: code.into(), message: d.to_string() }
        }
        other => {
            tracing::error!(error = %other, "an agent request failed");
            AgentEvent::Error { code: "internal".into(), message: "An internal error occurred.".into() }
        }
    }
}

impl Engine {
    fn hub(&self) -> &AgentHub {
        &self.inner.agents
    }

    /// A directory user by id (whatever its case).
    pub async fn directory_user(&self, user_id: &str) -> EngineResult<Option<switchboard_core::User>> {
        let id = user_id.to_owned();
        self.run(move |tx| Ok(tx.user(&id)?)).await
    }

    /// Connects an agent of directory user `user_id` to this node: from now on the user is
    /// rung here. The session's first event is `welcome`.
    pub async fn agent_connected(&self, user_id: &str) -> EngineResult<AgentSession> {
        let user = self
            .directory_user(user_id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("user {user_id} is not in the directory")))?;
        let session_id = crate::new_id();
        let (events, receiver) = mpsc::unbounded_channel();
        let _ = events.send(AgentEvent::Welcome {
            session_id: session_id.clone(),
            user_id: user.id.clone(),
            display_name: user.display_name.clone(),
            node_id: self.node_id().to_owned(),
        });
        // Known to the hub before the store, so a ring chosen by the store finds it here.
        self.hub().lock().sessions.insert(session_id.clone(), Session { user_id: user.id.clone(), events });
        if let Err(e) = self.add_agent_session_with_id(&session_id, &user.id).await {
            self.hub().lock().sessions.remove(&session_id);
            return Err(e);
        }
        tracing::info!(%session_id, user_id = %user.id, "agent connected");
        Ok(AgentSession { session_id, user_id: user.id, events: receiver })
    }

    /// The agent's connection closed: it stops ringing (the invitation fails as unreachable
    /// when no other agent of the user still rings) and leaves the calls it is in.
    pub async fn agent_disconnected(&self, session_id: &str) {
        if let Err(e) = self.remove_agent_session(session_id).await {
            tracing::error!(%session_id, error = %e, "cannot forget an agent session");
        }
        let (unreachable, left) = {
            let mut state = self.hub().lock();
            state.sessions.remove(session_id);
            let mut unreachable = Vec::new();
            state.ringing.retain(|participant_id, sessions| {
                sessions.retain(|s| s != session_id);
                if sessions.is_empty() {
                    unreachable.push(participant_id.clone());
                    false
                } else {
                    true
                }
            });
            let left: Vec<String> =
                state.connected.iter().filter(|(_, l)| l.session == session_id).map(|(p, _)| p.clone()).collect();
            for p in &left {
                state.connected.remove(p);
            }
            (unreachable, left)
        };
        for p in unreachable {
            if let Err(e) = self.leg_failed(&p, RingFailure::Unreachable).await {
                tracing::debug!(participant_id = %p, error = %e, "a disconnected agent's invitation had already ended");
            }
        }
        for p in left {
            if let Err(e) = self.leg_left(&p).await {
                tracing::debug!(participant_id = %p, error = %e, "a disconnected agent's call had already ended");
            }
        }
        tracing::info!(%session_id, "agent disconnected");
    }

    /// Acts on one message of an agent; what it causes is told through the session's events.
    pub async fn agent_request(&self, session_id: &str, request: AgentRequest) {
        match request {
            AgentRequest::Accept { participant_id } => self.agent_accept(session_id, participant_id).await,
            AgentRequest::Decline { participant_id, reason } => {
                self.agent_decline(session_id, participant_id, reason).await
            }
            AgentRequest::Leave { participant_id } => {
                let mine = self.hub().lock().connected.get(&participant_id).is_some_and(|l| l.session == session_id);
                if !mine {
                    return self.hub().tell(session_id, not_connected(&participant_id));
                }
                match self.leg_left(&participant_id).await {
                    Ok(()) => {
                        self.hub().lock().connected.remove(&participant_id);
                        self.hub().tell(session_id, AgentEvent::Left { participant_id });
                    }
                    Err(e) => self.hub().tell(session_id, engine_error(e)),
                }
            }
            AgentRequest::CallApplication { to, requested_modalities } => {
                self.agent_call_application(session_id, to, requested_modalities).await
            }
            AgentRequest::Mute { participant_id, muted } => {
                let mine = match self.hub().lock().connected.get_mut(&participant_id) {
                    Some(leg) if leg.session == session_id => {
                        leg.busy = true;
                        true
                    }
                    _ => false,
                };
                if !mine {
                    return self.hub().tell(session_id, not_connected(&participant_id));
                }
                match self.leg_muted(&participant_id, muted).await {
                    Ok(()) => {
                        self.hub().tell(session_id, AgentEvent::Muted { participant_id: participant_id.clone(), muted })
                    }
                    Err(e) => self.hub().tell(session_id, engine_error(e)),
                }
                self.request_done(&participant_id).await;
            }
        }
    }

    async fn agent_accept(&self, session_id: &str, participant_id: String) {
        // Claim the ring: the first accept takes it, so a second one finds nothing ringing.
        let others = {
            let mut state = self.hub().lock();
            let Some(others) = state.take_ring(session_id, &participant_id) else {
                drop(state);
                return self.hub().tell(session_id, not_ringing(&participant_id));
            };
            // Connected before the answer commits, so the roster it causes reaches this agent.
            state.connected.insert(participant_id.clone(), Leg::new(session_id, true));
            others
        };
        match self.leg_answered(&participant_id).await {
            Ok(()) => {
                self.hub().tell(session_id, AgentEvent::Answered { participant_id: participant_id.clone() });
                self.hub()
                    .tell_all(&others, || AgentEvent::AnsweredElsewhere { participant_id: participant_id.clone() });
                self.request_done(&participant_id).await;
            }
            Err(e) => {
                self.hub().lock().connected.remove(&participant_id);
                self.hub().tell(session_id, engine_error(e));
                self.hub().tell_all(&others, || AgentEvent::Cancelled {
                    participant_id: participant_id.clone(),
                    reason: "failed".into(),
                });
            }
        }
    }

    async fn agent_call_application(
        &self,
        session_id: &str,
        to: ApplicationTarget,
        requested_modalities: Vec<graph_model::Modality>,
    ) {
        use crate::inbound::{ApplicationAddress, IncomingCallRequest, IncomingParty};
        let address = match (to.application_id, to.application_instance_id, to.phone_number) {
            (Some(id), None, None) => ApplicationAddress::Application(id),
            (None, Some(id), None) => ApplicationAddress::Instance(id),
            (None, None, Some(number)) => ApplicationAddress::PhoneNumber(number),
            _ => {
                let message = "`to` names exactly one of applicationId, applicationInstanceId, phoneNumber";
                return self
                    .hub()
                    .tell(session_id, AgentEvent::Error { code: "badMessage".into(), message: message.into() });
            }
        };
        let Some(user_id) = self.hub().lock().sessions.get(session_id).map(|s| s.user_id.clone()) else { return };
        let request = IncomingCallRequest {
            from: IncomingParty {
                party: switchboard_core::Party {
                    kind: switchboard_core::PartyKind::User,
                    id: user_id,
                    display_name: None,
                    tenant_id: None,
                    identity_provider: None,
                },
                endpoint: EndpointKind::Agent,
                node: Some(self.node_id().to_owned()),
                leg_state: None,
            },
            to: address,
            requested_modalities,
        };
        match self.call_application(request).await {
            Ok(placed) => {
                let participant_id = placed.caller_participant_id.0.clone();
                self.hub().lock().connected.insert(participant_id.clone(), Leg::new(session_id, false));
                self.hub().tell(
                    session_id,
                    AgentEvent::Calling {
                        participant_id,
                        call_id: placed.call_id.0.clone(),
                        conversation_id: placed.conversation_id.0.clone(),
                    },
                );
            }
            Err(e) => self.hub().tell(session_id, engine_error(e)),
        }
    }

    async fn agent_decline(&self, session_id: &str, participant_id: String, reason: DeclineReason) {
        let others = {
            let mut state = self.hub().lock();
            let Some(others) = state.take_ring(session_id, &participant_id) else {
                drop(state);
                return self.hub().tell(session_id, not_ringing(&participant_id));
            };
            others
        };
        let failure = match reason {
            DeclineReason::Decline => RingFailure::Declined,
            DeclineReason::Busy => RingFailure::Busy,
        };
        match self.leg_failed(&participant_id, failure).await {
            Ok(()) => self.hub().tell(session_id, AgentEvent::Declined { participant_id: participant_id.clone() }),
            Err(e) => self.hub().tell(session_id, engine_error(e)),
        }
        self.hub().tell_all(&others, || AgentEvent::Cancelled {
            participant_id: participant_id.clone(),
            reason: "declinedElsewhere".into(),
        });
    }

    /// Runs one leg command for an agent leg of this node.
    async fn agent_command(&self, participant: &Participant, command: LegCommand) -> EngineResult<()> {
        let pid = participant.id.0.clone();
        match command {
            LegCommand::Ring(ring) => {
                // A ring re-run after the leg stopped ringing (a restart) does nothing.
                let current = self.participant(&pid).await?;
                if current.is_none_or(|p| p.state != ParticipantState::Ringing) {
                    return Ok(());
                }
                let sessions: Vec<String> = {
                    let mut state = self.hub().lock();
                    if state.ringing.contains_key(&pid) {
                        return Ok(());
                    }
                    let sessions: Vec<String> = state
                        .sessions
                        .iter()
                        .filter(|(_, s)| s.user_id.eq_ignore_ascii_case(&participant.party.id))
                        .map(|(id, _)| id.clone())
                        .collect();
                    if !sessions.is_empty() {
                        state.ringing.insert(pid.clone(), sessions.clone());
                    }
                    sessions
                };
                if sessions.is_empty() {
                    // The user's agents are gone (disconnected, or a restart in between).
                    if let Err(e) = self.leg_failed(&pid, RingFailure::Unreachable).await {
                        tracing::debug!(participant_id = %pid, error = %e, "ring for an agent leg that ended");
                    }
                    return Ok(());
                }
                self.hub().tell_all(&sessions, || AgentEvent::Invitation {
                    participant_id: pid.clone(),
                    call_id: ring.inviting_call_id.clone(),
                    conversation_id: ring.conversation_id.0.clone(),
                    caller: ring.caller.to_identity_set(),
                    caller_number: ring.caller_number.clone(),
                    chat_info: ring.chat_info.clone(),
                    ring_deadline: ring.deadline.to_rfc3339(),
                });
            }
            LegCommand::Cancel => {
                let sessions = self.hub().lock().ringing.remove(&pid).unwrap_or_default();
                self.hub().tell_all(&sessions, || AgentEvent::Cancelled {
                    participant_id: pid.clone(),
                    reason: "cancelled".into(),
                });
            }
            LegCommand::HangUp => {
                let leg = self.hub().lock().connected.remove(&pid);
                if let Some(leg) = leg {
                    self.hub().tell(&leg.session, AgentEvent::Ended { participant_id: pid });
                }
            }
            LegCommand::Muted { muted } => {
                let session = self.hub().lock().connected.get(&pid).map(|l| l.session.clone());
                if let Some(session) = session {
                    self.hub().tell(&session, AgentEvent::Muted { participant_id: pid, muted });
                }
            }
            LegCommand::Roster { .. } => {
                let session = match self.hub().lock().connected.get_mut(&pid) {
                    Some(leg) if leg.busy => {
                        leg.held_roster = true;
                        None
                    }
                    Some(leg) => Some(leg.session.clone()),
                    None => None,
                };
                if let Some(session) = session {
                    self.tell_roster(&session, participant).await?;
                }
            }
            LegCommand::Connected => {
                let session = self.hub().lock().connected.get(&pid).map(|l| l.session.clone());
                if let Some(session) = session {
                    self.hub().tell(&session, AgentEvent::Connected { participant_id: pid });
                }
            }
            LegCommand::Joined { participant_id, call_id, conversation_id, chat_info } => {
                let joined = participant_id.0.clone();
                // The new leg's roster is told here, after `joined`: the change that joined it
                // wrote it no `Roster` (`notify::joined_in_place`), so it is told once.
                let session = {
                    let mut state = self.hub().lock();
                    let session = state.connected.get(&pid).map(|l| l.session.clone());
                    if let Some(session) = &session {
                        let leg = Leg { session: session.clone(), busy: true, held_roster: true };
                        state.connected.insert(joined.clone(), leg);
                    }
                    session
                };
                match session {
                    Some(session) => {
                        self.hub().tell(
                            &session,
                            AgentEvent::Joined {
                                participant_id: joined.clone(),
                                replaces_participant_id: pid,
                                call_id,
                                conversation_id: conversation_id.0,
                                chat_info,
                            },
                        );
                        self.request_done(&joined).await;
                    }
                    None => {
                        // The agent is gone (disconnected, or a restart): its new leg leaves.
                        if let Err(e) = self.leg_left(&joined).await {
                            tracing::debug!(participant_id = %joined, error = %e, "a carried agent leg had already ended");
                        }
                    }
                }
            }
            LegCommand::Rejected { code, subcode, message } => {
                let leg = self.hub().lock().connected.remove(&pid);
                if let Some(leg) = leg {
                    self.hub().tell(&leg.session, AgentEvent::Rejected { participant_id: pid, code, subcode, message });
                }
            }
        }
        Ok(())
    }

    /// The roster of `participant`'s conversation, to `session`.
    async fn tell_roster(&self, session: &str, participant: &Participant) -> EngineResult<()> {
        let conversation = participant.conversation_id.clone();
        let participants = self
            .run(move |tx| {
                let roster = crate::participants::whole_roster(tx, &conversation)?;
                Ok(roster.iter().map(render::participant).collect::<Vec<_>>())
            })
            .await?;
        self.hub().tell(
            session,
            AgentEvent::Roster {
                participant_id: participant.id.0.clone(),
                conversation_id: participant.conversation_id.0.clone(),
                participants,
            },
        );
        Ok(())
    }

    /// An agent's request about a connected leg was answered: a roster held meanwhile is told.
    async fn request_done(&self, participant_id: &str) {
        let held = match self.hub().lock().connected.get_mut(participant_id) {
            Some(leg) => {
                leg.busy = false;
                std::mem::take(&mut leg.held_roster).then(|| leg.session.clone())
            }
            None => None,
        };
        if let Some(session) = held {
            let participant = match self.participant(participant_id).await {
                Ok(Some(p)) => p,
                _ => return,
            };
            if let Err(e) = self.tell_roster(&session, &participant).await {
                tracing::warn!(%participant_id, error = %e, "cannot tell an agent its roster");
            }
        }
    }

    /// After a restart: agent legs this node owned that were connected have no WebSocket any
    /// more, so they leave their calls. (Ringing ones fail when their ring runs again, or at
    /// their ring deadline.)
    pub(crate) async fn end_orphaned_agent_legs(&self) -> EngineResult<()> {
        for p in self.legs_of_node().await? {
            if p.endpoint == EndpointKind::Agent && p.state == ParticipantState::Connected {
                let connected = self.hub().lock().connected.contains_key(p.id.as_str());
                if !connected {
                    tracing::info!(participant_id = %p.id, "an agent leg of the previous run leaves its call");
                    if let Err(e) = self.leg_left(p.id.as_str()).await {
                        tracing::warn!(participant_id = %p.id, error = %e, "cannot end an orphaned agent leg");
                    }
                }
            }
        }
        Ok(())
    }
}

/// Registers the agent driver of a new engine.
pub(crate) fn register(engine: &Engine) {
    let driver = AgentDriver { engine: Arc::downgrade(&engine.inner) };
    engine.register_driver(EndpointKind::Agent, Arc::new(driver));
}
