//! The glue between the engine's leg inbox and the SIP user agent: the only module of this
//! crate that knows engine types.
//!
//! `Ring` dials the phone through the trunk and reports the outcome (`leg_answered`, or
//! `leg_failed` with the SIP final response mapped by `RingFailure::from_sip_status`);
//! `Cancel` sends CANCEL; `HangUp` sends BYE from the dialog saved on the participant
//! (`leg_state`), so it works after a restart too; a BYE from the phone becomes `leg_left`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchboard_core::results::RingFailure;
use switchboard_core::{EndpointKind, Participant, ParticipantState};
use switchboard_engine::{Engine, EngineError, LegCommand, LegDriver};

use crate::ua::{CallFailure, CallProgress, DialRequest, DialogState, OutgoingCall, SipConfig, SipUa, UaEvent};

/// The SIP leg driver of one node.
pub struct SipDriver {
    ua: Arc<SipUa>,
    engine: Engine,
    /// Dial-outs still ringing, by participant id.
    ringing: Mutex<HashMap<String, OutgoingCall>>,
    /// Established dialogs, Call-ID -> participant id (for the phone's BYE).
    dialogs: Mutex<HashMap<String, String>>,
}

impl SipDriver {
    /// Binds the SIP listener, registers the driver for `EndpointKind::Sip`, and restores the
    /// dialogs of this node's connected SIP legs (a restart keeps accepting their BYE and can
    /// still end them). Call before `Engine::start`.
    pub async fn start(engine: Engine, config: SipConfig) -> std::io::Result<Arc<SipDriver>> {
        let (ua, events) = SipUa::start(config).await?;
        let driver = Arc::new(SipDriver {
            ua,
            engine: engine.clone(),
            ringing: Mutex::new(HashMap::new()),
            dialogs: Mutex::new(HashMap::new()),
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
                UaEvent::Bye { call_id } => {
                    let participant = self.dialogs.lock().expect("dialogs").remove(&call_id);
                    if let Some(participant) = participant {
                        if let Err(e) = self.engine.leg_left(&participant).await {
                            tracing::info!(%participant, error = %e, "BYE from the phone of a leg already gone");
                        }
                    }
                }
                UaEvent::Invite(invite) => {
                    // Inbound calls to applications are not wired to the engine yet.
                    tracing::info!(call_id = %invite.call_id, to = ?invite.to_number, "inbound SIP call refused");
                    invite.reject(480);
                }
                UaEvent::InviteCancelled { .. } => {}
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
                CallProgress::Answered(dialog) => {
                    self.ringing.lock().expect("ringing").remove(&participant);
                    let saved = serde_json::to_value(&dialog).expect("a dialog serialises");
                    self.dialogs.lock().expect("dialogs").insert(dialog.call_id.clone(), participant.clone());
                    let joined = match self.engine.save_leg_state(&participant, saved).await {
                        Ok(()) => self.engine.leg_answered(&participant).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = joined {
                        // Cancelled or ended while the 200 was on its way: end the dialog.
                        tracing::info!(%participant, error = %e, "a phone answered a leg that is gone: BYE");
                        self.dialogs.lock().expect("dialogs").remove(&dialog.call_id);
                        let _ = self.ua.hang_up(&dialog).await;
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

fn dialog_of(participant: &Participant) -> Option<DialogState> {
    serde_json::from_value(participant.leg_state.clone()?).ok()
}

/// The driver as the engine holds it (its tasks need the `Arc`).
struct Registered(Arc<SipDriver>);

#[async_trait::async_trait]
impl LegDriver for Registered {
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
            // A phone shows no roster and has no server mute; inbound legs are not wired yet.
            LegCommand::Roster { .. }
            | LegCommand::Muted { .. }
            | LegCommand::Connected
            | LegCommand::Rejected { .. } => {}
        }
        Ok(())
    }
}
