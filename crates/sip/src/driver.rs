//! The glue between the engine's leg inbox and the SIP user agent: the only module of this
//! crate that knows engine types.
//!
//! `Ring` dials the phone through the trunk and reports the outcome (`leg_answered`, or
//! `leg_failed` with the SIP final response mapped by `RingFailure::from_sip_status`);
//! `Cancel` sends CANCEL; `HangUp` sends BYE from the dialog saved on the participant
//! (`leg_state`), so it works after a restart too; a BYE from the phone (or a caller that never
//! ACKs our 200) becomes `leg_left`.
//! A phone escalated or moved into another call keeps its dialog: the engine moves the saved
//! dialog to the new participant, and `Joined` points the phone's BYE there.
//!
//! Inbound: an INVITE to an application instance's number becomes `Engine::call_application`
//! with the phone as a live `Sip` caller leg owned by this node; the bot's answer comes back as
//! `Connected` (200 with our SDP, then the dialog is saved like a dial-out's), its rejection or
//! the 15 s answer deadline as `Rejected` (486 for busy, 480 for no answer, 603 otherwise).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchboard_core::results::RingFailure;
use switchboard_core::{EndpointKind, ErrorKind, Participant, ParticipantState, Party, PartyKind};
use switchboard_engine::{
    ApplicationAddress, Engine, EngineError, IncomingCallRequest, IncomingParty, LegCommand, LegDriver,
};

use crate::ua::{
    CallFailure, CallProgress, DialRequest, DialogState, InboundInvite, OutgoingCall, SipConfig, SipUa, UaEvent,
};

/// The SIP leg driver of one node.
pub struct SipDriver {
    ua: Arc<SipUa>,
    engine: Engine,
    /// Dial-outs still ringing, by participant id.
    ringing: Mutex<HashMap<String, OutgoingCall>>,
    /// Established dialogs, Call-ID -> participant id (for the phone's BYE).
    dialogs: Mutex<HashMap<String, String>>,
    /// Call-IDs of answered dial-outs whose phone hung up before their leg was connected: the
    /// leg leaves as soon as it is. Locked after `dialogs` and `ringing`.
    early_byes: Mutex<std::collections::HashSet<String>>,
    /// Inbound calls waiting for the bot, by the caller's participant id.
    inbound: Mutex<HashMap<String, InboundInvite>>,
}

impl SipDriver {
    /// Binds the SIP listener, registers the driver for `EndpointKind::Sip`, and restores the
    /// dialogs of this node's connected SIP legs (a restart keeps accepting their BYE and can
    /// still end them); ringing legs are settled by `LegDriver::recover`. Call before
    /// `Engine::start`.
    pub async fn start(engine: Engine, config: SipConfig) -> std::io::Result<Arc<SipDriver>> {
        let (ua, events) = SipUa::start(config).await?;
        let driver = Arc::new(SipDriver {
            ua,
            engine: engine.clone(),
            ringing: Mutex::new(HashMap::new()),
            dialogs: Mutex::new(HashMap::new()),
            early_byes: Mutex::new(Default::default()),
            inbound: Mutex::new(HashMap::new()),
        });
        match engine.legs_of_node().await {
            Ok(legs) => {
                for leg in
                    legs.iter().filter(|p| p.endpoint == EndpointKind::Sip && p.state == ParticipantState::Connected)
                {
                    if let Some(dialog) = dialog_of(leg) {
                        driver.ua.track(&dialog.call_id);
                        driver.dialogs.lock().expect("dialogs").insert(dialog.call_id, leg.id.0.clone());
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot restore this node's SIP dialogs"),
        }
        engine.register_driver(EndpointKind::Sip, Arc::new(Registered(driver.clone())));
        tokio::spawn(driver.clone().serve(events));
        Ok(driver)
    }

    /// Where the trunk reaches us.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.ua.local_addr()
    }

    async fn serve(self: Arc<Self>, mut events: tokio::sync::mpsc::UnboundedReceiver<UaEvent>) {
        while let Some(event) = events.recv().await {
            match event {
                // The phone hung up, or never confirmed our answer to its call.
                UaEvent::Bye { call_id } | UaEvent::Unacknowledged { call_id } => {
                    let participant = {
                        let mut dialogs = self.dialogs.lock().expect("dialogs");
                        let participant = dialogs.remove(&call_id);
                        // A dial-out answered a moment ago, its leg still being connected.
                        let ringing = self.ringing.lock().expect("ringing");
                        if participant.is_none() && ringing.values().any(|call| call.call_id == call_id) {
                            self.early_byes.lock().expect("early byes").insert(call_id.clone());
                        }
                        participant
                    };
                    if let Some(participant) = participant {
                        if let Err(e) = self.engine.leg_left(&participant).await {
                            tracing::info!(%participant, error = %e, "BYE from the phone of a leg already gone");
                            self.bye_of_carried_dialog(&call_id).await;
                        }
                    }
                }
                UaEvent::Invite(invite) => self.incoming(*invite).await,
                UaEvent::InviteCancelled { call_id } => {
                    // The caller gave up before the bot answered: it leaves its call.
                    let caller = {
                        let mut inbound = self.inbound.lock().expect("inbound");
                        let id = inbound.iter().find(|(_, i)| i.call_id == call_id).map(|(id, _)| id.clone());
                        id.inspect(|id| {
                            inbound.remove(id);
                        })
                    };
                    if let Some(caller) = caller {
                        if let Err(e) = self.engine.leg_left(&caller).await {
                            tracing::info!(%caller, error = %e, "a cancelled inbound call had already ended");
                        }
                    }
                }
            }
        }
    }

    /// Sends the CANCEL kept on a ringing leg (its INVITE's transaction died with the process
    /// that dialled); `false` when none was kept.
    fn send_kept_cancel(&self, leg: &Participant) -> bool {
        let cancel = leg.leg_state.as_ref().and_then(|s| s.get(RINGING_CANCEL)).and_then(|c| c.as_str());
        let Some(cancel) = cancel else { return false };
        if !self.ua.send_saved_cancel(cancel) {
            tracing::warn!(participant_id = %leg.id, "the kept CANCEL of a ringing phone does not parse");
        }
        true
    }

    /// A BYE that found its leg gone may belong to a dialog carried over to another call whose
    /// `Joined` has not run yet (the phone hung up right after an escalation): the leg holding
    /// the dialog now leaves.
    async fn bye_of_carried_dialog(&self, call_id: &str) {
        let legs = match self.engine.legs_of_node().await {
            Ok(legs) => legs,
            Err(e) => return tracing::warn!(error = %e, "cannot look for the leg of a carried dialog"),
        };
        let carried = legs.iter().find(|leg| {
            leg.endpoint == EndpointKind::Sip
                && leg.state == ParticipantState::Connected
                && dialog_of(leg).is_some_and(|d| d.call_id == call_id)
        });
        if let Some(leg) = carried {
            tracing::info!(participant_id = %leg.id, "BYE from a phone whose dialog was carried over");
            if let Err(e) = self.engine.leg_left(&leg.id.0).await {
                tracing::info!(participant_id = %leg.id, error = %e, "a carried dialog's leg had already ended");
            }
        }
    }

    /// An INVITE from the trunk: the application whose instance has the dialled number is called.
    async fn incoming(&self, invite: InboundInvite) {
        let (Some(to), Some(from)) = (invite.to_number.as_deref().map(e164), invite.from_number.as_deref().map(e164))
        else {
            invite.reject(404);
            return;
        };
        let request = IncomingCallRequest {
            from: IncomingParty {
                party: Party {
                    kind: PartyKind::Phone,
                    id: from,
                    display_name: None,
                    tenant_id: None,
                    identity_provider: None,
                },
                endpoint: EndpointKind::Sip,
                node: Some(self.engine.node_id().to_owned()),
                leg_state: Some(serde_json::json!({ "inboundCallId": invite.call_id })),
            },
            to: ApplicationAddress::PhoneNumber(to),
            requested_modalities: Vec::new(),
        };
        match self.engine.call_application(request).await {
            Ok(call) => {
                invite.ringing();
                self.inbound.lock().expect("inbound").insert(call.caller_participant_id.0.clone(), invite);
            }
            Err(e) => {
                // A caller's number Switchboard cannot take (400), no application has the
                // number dialled (404), or it cannot take calls (480).
                let status = match &e {
                    EngineError::Domain(d) if d.kind == ErrorKind::InvalidRequest => 400,
                    EngineError::Domain(d) if d.kind == ErrorKind::NotFound => 404,
                    _ => 480,
                };
                tracing::info!(call_id = %invite.call_id, error = %e, status, "inbound SIP call refused");
                invite.reject(status);
            }
        }
    }

    fn ring(self: &Arc<Self>, participant: &Participant, ring: switchboard_engine::RingRequest) {
        let id = participant.id.0.clone();
        let mut ringing = self.ringing.lock().expect("ringing");
        if ringing.contains_key(&id) {
            return; // The same Ring re-run after a restart of the inbox: already dialling.
        }
        let (call, progress) = self.ua.dial(DialRequest {
            to_number: ring.target.id.clone(),
            from_number: ring.caller_number.clone(),
            display_name: ring.caller.display_name.clone(),
        });
        ringing.insert(id.clone(), call);
        drop(ringing);
        tokio::spawn(self.clone().follow(id, progress));
    }

    /// Reports a dial-out's outcome to the engine.
    async fn follow(
        self: Arc<Self>,
        participant: String,
        mut progress: tokio::sync::mpsc::UnboundedReceiver<CallProgress>,
    ) {
        while let Some(step) = progress.recv().await {
            match step {
                CallProgress::Ringing(_) => {}
                CallProgress::Cancellable(cancel) => {
                    // Kept so that a restart while the phone rings can still stop it.
                    let saved = serde_json::json!({ RINGING_CANCEL: cancel });
                    match self.engine.save_leg_state(&participant, saved).await {
                        Ok(()) => tracing::debug!(%participant, "a phone rings; its CANCEL is kept"),
                        Err(e) => tracing::info!(%participant, error = %e, "cannot keep a ringing phone's CANCEL"),
                    }
                }
                CallProgress::Answered(dialog) => {
                    let saved = serde_json::to_value(&dialog).expect("a dialog serialises");
                    let joined = match self.engine.save_leg_state(&participant, saved).await {
                        Ok(()) => self.engine.leg_answered(&participant).await,
                        Err(e) => Err(e),
                    };
                    // The leg is ringing until now, so a BYE that came meanwhile was kept, not
                    // lost; from now on the phone's BYE finds its leg connected.
                    let hung_up = {
                        let mut dialogs = self.dialogs.lock().expect("dialogs");
                        self.ringing.lock().expect("ringing").remove(&participant);
                        let hung_up = self.early_byes.lock().expect("early byes").remove(&dialog.call_id);
                        if joined.is_ok() && !hung_up {
                            dialogs.insert(dialog.call_id.clone(), participant.clone());
                        }
                        hung_up
                    };
                    match joined {
                        Err(e) if !hung_up => {
                            // Cancelled or ended while the 200 was on its way: end the dialog.
                            tracing::info!(%participant, error = %e, "a phone answered a leg that is gone: BYE");
                            let _ = self.ua.hang_up(&dialog).await;
                        }
                        Err(_) => {}
                        Ok(()) if hung_up => {
                            tracing::info!(%participant, "a phone hung up as its leg was connected");
                            if let Err(e) = self.engine.leg_left(&participant).await {
                                tracing::info!(%participant, error = %e, "a phone that hung up at once had already left");
                            }
                        }
                        Ok(()) => {}
                    }
                    return;
                }
                CallProgress::Failed(failure) => {
                    self.ringing.lock().expect("ringing").remove(&participant);
                    let failure = match failure {
                        CallFailure::Rejected(status) => RingFailure::from_sip_status(status),
                        CallFailure::Timeout | CallFailure::TransportError => RingFailure::TrunkUnreachable,
                        // The engine cancelled: it has recorded the outcome already.
                        CallFailure::Cancelled => return,
                    };
                    if let Err(e) = self.engine.leg_failed(&participant, failure).await {
                        tracing::info!(%participant, error = %e, "a dial-out failed after its leg ended");
                    }
                    return;
                }
            }
        }
        self.ringing.lock().expect("ringing").remove(&participant);
    }
}

/// A number as the trunk wrote it, in E.164 (`15550123` -> `+15550123`).
fn e164(number: &str) -> String {
    if number.starts_with('+') {
        number.to_owned()
    } else {
        format!("+{number}")
    }
}

/// The SIP final response a rejected inbound call gets, from the calling party's resultInfo
/// code: busy 486, no answer within the deadline 480, every other rejection 603 Decline.
fn inbound_rejection_status(code: i32) -> u16 {
    match code {
        486 => 486,
        408 => 480,
        _ => 603,
    }
}

/// The key of a ringing leg's state: the CANCEL of its INVITE, as text.
const RINGING_CANCEL: &str = "ringingCancel";

fn dialog_of(participant: &Participant) -> Option<DialogState> {
    serde_json::from_value(participant.leg_state.clone()?).ok()
}

/// The driver as the engine holds it (its tasks need the `Arc`).
struct Registered(Arc<SipDriver>);

#[async_trait::async_trait]
impl LegDriver for Registered {
    /// A leg still ringing lost its INVITE's transaction with the process before: its phone
    /// gets the CANCEL kept at the first provisional response, and the leg fails as unreachable.
    async fn recover(&self) -> Result<(), EngineError> {
        let (driver, engine) = (&self.0, &self.0.engine);
        for leg in engine.legs_of_node().await? {
            if leg.endpoint != EndpointKind::Sip || leg.state != ParticipantState::Ringing {
                continue;
            }
            // No provisional response kept (no CANCEL may be sent yet): the leg is left to its
            // ring deadline, or to its Ring command if that had not run.
            if !driver.send_kept_cancel(&leg) {
                continue;
            }
            tracing::info!(participant_id = %leg.id, "a phone rang across a restart: CANCEL sent, the invitation fails");
            if let Err(e) = engine.leg_failed(&leg.id.0, RingFailure::Unreachable).await {
                tracing::info!(participant_id = %leg.id, error = %e, "a phone ringing across a restart had already ended");
            }
        }
        Ok(())
    }

    /// Another node ended this node's legs while it was stalled: ringing phones get CANCEL,
    /// callers still waiting for the bot 480, and connected phones BYE from their saved dialog.
    /// Legs the store still gives this node (dialled after it ran again) are kept.
    async fn taken_over(&self) {
        let this = &self.0;
        let legs: HashMap<String, Participant> = match this.engine.legs_of_node().await {
            Ok(legs) => legs.into_iter().map(|p| (p.id.0.clone(), p)).collect(),
            Err(e) => return tracing::warn!(error = %e, "cannot read which legs are still this node's"),
        };
        let ended = |participant_id: &String| !legs.contains_key(participant_id);
        let ringing: Vec<_> = this.ringing.lock().expect("ringing").extract_if(|p, _| ended(p)).collect();
        for (participant_id, call) in ringing {
            tracing::info!(%participant_id, "a phone rang on a node taken over: CANCEL");
            call.cancel();
        }
        let inbound: Vec<_> = this.inbound.lock().expect("inbound").extract_if(|p, _| ended(p)).collect();
        for (participant_id, invite) in inbound {
            tracing::info!(%participant_id, "a caller waited on a node taken over: 480");
            invite.reject(480);
        }
        let dialogs: Vec<_> = this.dialogs.lock().expect("dialogs").extract_if(|_, p| ended(p)).collect();
        for (_, participant_id) in dialogs {
            let dialog = match this.engine.participant(&participant_id).await {
                Ok(leg) => leg.as_ref().and_then(dialog_of),
                Err(e) => {
                    tracing::warn!(%participant_id, error = %e, "cannot read the dialog of a leg taken over");
                    continue;
                }
            };
            // None when the node that took over sent the BYE itself (`end_for_dead_node`).
            if let Some(dialog) = dialog {
                tracing::info!(%participant_id, "a phone was connected on a node taken over: BYE");
                if let Err(e) = this.ua.hang_up(&dialog).await {
                    tracing::warn!(%participant_id, error = ?e, "BYE not answered");
                }
            }
        }
    }

    /// A phone of a dead node: a ringing one gets the CANCEL kept for it, a connected one BYE
    /// from its saved dialog, which is then dropped (so the dead node, were it only stalled,
    /// does not send it again).
    async fn end_for_dead_node(&self, leg: &Participant) {
        let this = &self.0;
        match leg.state {
            ParticipantState::Ringing => {
                if this.send_kept_cancel(leg) {
                    tracing::info!(participant_id = %leg.id, "a phone rang on a dead node: CANCEL sent");
                }
            }
            ParticipantState::Connected => {
                let Some(dialog) = dialog_of(leg) else { return };
                tracing::info!(participant_id = %leg.id, "a phone was connected on a dead node: BYE");
                if let Err(e) = this.ua.hang_up(&dialog).await {
                    tracing::warn!(participant_id = %leg.id, error = ?e, "BYE not answered");
                }
                if let Err(e) = this.engine.save_leg_state(&leg.id.0, serde_json::Value::Null).await {
                    tracing::info!(participant_id = %leg.id, error = %e, "cannot drop the dialog of a dead node's phone");
                }
            }
            ParticipantState::Removed => {}
        }
    }

    async fn execute(&self, participant: &Participant, command: LegCommand) -> Result<(), EngineError> {
        let this = &self.0;
        match command {
            LegCommand::Ring(ring) => {
                if participant.state == ParticipantState::Ringing {
                    this.ring(participant, ring);
                }
            }
            LegCommand::Cancel => {
                let call = this.ringing.lock().expect("ringing").remove(&participant.id.0);
                if let Some(call) = call {
                    call.cancel();
                }
            }
            LegCommand::HangUp => {
                if let Some(dialog) = dialog_of(participant) {
                    this.dialogs.lock().expect("dialogs").remove(&dialog.call_id);
                    match this.ua.hang_up(&dialog).await {
                        Ok(status) => tracing::debug!(participant_id = %participant.id, status, "BYE answered"),
                        Err(e) => tracing::warn!(participant_id = %participant.id, error = ?e, "BYE not answered"),
                    }
                }
            }
            LegCommand::Connected => {
                let invite = this.inbound.lock().expect("inbound").remove(&participant.id.0);
                if let Some(invite) = invite {
                    // Known before the 200 leaves, so a BYE right after the ACK finds its leg.
                    this.dialogs.lock().expect("dialogs").insert(invite.call_id.clone(), participant.id.0.clone());
                    let dialog = invite.answer();
                    let saved = serde_json::to_value(&dialog).expect("a dialog serialises");
                    this.engine.save_leg_state(&participant.id.0, saved).await?;
                }
            }
            LegCommand::Rejected { code, .. } => {
                let invite = this.inbound.lock().expect("inbound").remove(&participant.id.0);
                if let Some(invite) = invite {
                    invite.reject(inbound_rejection_status(code));
                }
            }
            // A phone shows no roster and has no server mute.
            LegCommand::Roster { .. } | LegCommand::Muted { .. } => {}
            // The phone was escalated or moved into another call: its dialog carries over (the
            // engine moved the saved dialog to the new participant; the replaced leg's `HangUp`
            // finds none), so the phone's BYE now ends the new leg.
            LegCommand::Joined { participant_id, .. } => {
                let mut dialogs = this.dialogs.lock().expect("dialogs");
                for leg in dialogs.values_mut().filter(|leg| **leg == participant.id.0) {
                    leg.clone_from(&participant_id.0);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_inbound_call_gets_486_480_or_603() {
        assert_eq!(inbound_rejection_status(486), 486);
        assert_eq!(inbound_rejection_status(408), 480);
        assert_eq!(inbound_rejection_status(603), 603);
        assert_eq!(inbound_rejection_status(403), 603);
    }

    #[test]
    fn numbers_are_read_as_e164() {
        assert_eq!(e164("+15550123"), "+15550123");
        assert_eq!(e164("15550123"), "+15550123");
    }
}
