//! The user agent toward the trunk: dial-out (INVITE with an SDP offer, digest retry, CANCEL,
//! the ACK of a 2xx), hang-up (BYE from saved dialog state), and the requests the trunk sends
//! us (BYE of a phone that hangs up, inbound INVITEs, CANCEL, OPTIONS).
//!
//! Every request goes to the configured trunk address, which acts as our outbound proxy; the
//! Request-URI and Route headers carry the dialog's remote target and route set. A dialog is
//! plain data ([`DialogState`]) so the engine can store it with the participant and a restarted
//! node can still end the call.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::digest::Challenge;
use crate::endpoint::{Endpoint, Incoming, ServerTx, TransportKind, TxEvent};
use crate::message::{self, header, new_branch, new_tag, tag, uri_of};
use crate::transaction::{Failure, TimerConfig};

/// The trunk as configured (`[sip]` in the config file, or `--sip-*` flags). Its `Debug`
/// never shows the password.
#[derive(Clone)]
pub struct SipConfig {
    /// Where the trunk (or its SBC) listens; every request is sent there.
    pub trunk: SocketAddr,
    pub transport: TransportKind,
    /// Our listening address; port 0 picks a free one (see [`SipUa::local_addr`]).
    pub listen: SocketAddr,
    /// The address offered in SDP for audio.
    pub media: SocketAddr,
    /// Digest credentials for the trunk's 401/407 challenges.
    pub username: Option<String>,
    pub password: Option<String>,
    /// RFC 3261 T1 (T2 and T4 are scaled from it).
    pub t1: Duration,
}

impl std::fmt::Debug for SipConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipConfig")
            .field("trunk", &self.trunk)
            .field("transport", &self.transport)
            .field("listen", &self.listen)
            .field("media", &self.media)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("t1", &self.t1)
            .finish()
    }
}

/// What a dialog needs to send a BYE later, from any node that reads it from the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialogState {
    pub call_id: String,
    /// Our From (UAC) or To (UAS) without tag.
    pub local_uri: String,
    pub local_tag: String,
    pub remote_uri: String,
    pub remote_tag: String,
    /// The CSeq number of our last request in the dialog.
    pub local_cseq: u32,
    /// The peer's Contact URI: Request-URI of in-dialog requests.
    pub remote_target: String,
    /// Record-Route, in the order our requests carry it as Route.
    pub route_set: Vec<String>,
}

/// A phone to call.
#[derive(Debug, Clone)]
pub struct DialRequest {
    /// E.164 number of the phone (`+15550100`).
    pub to_number: String,
    /// Caller id: the application instance's number.
    pub from_number: Option<String>,
    pub display_name: Option<String>,
}

/// How a dial-out goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallProgress {
    /// A provisional response (180 ringing, 183 session progress).
    Ringing(u16),
    /// With the first provisional response of an INVITE: the CANCEL that ends it, as text. A
    /// process restarted while the phone rings has lost this dial-out's task; it sends the
    /// saved CANCEL instead ([`SipUa::send_saved_cancel`]).
    Cancellable(String),
    /// 200: ACK sent, the dialog is up.
    Answered(DialogState),
    Failed(CallFailure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFailure {
    /// A final response of 300 or above.
    Rejected(u16),
    /// No response at all before timer B.
    Timeout,
    TransportError,
    /// We cancelled it (the call ended or the ring timed out first).
    Cancelled,
}

/// A running dial-out; [`OutgoingCall::cancel`] sends CANCEL (after the first provisional,
/// as §9.1 requires).
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    pub call_id: String,
    cancel: mpsc::UnboundedSender<()>,
}

impl OutgoingCall {
    pub fn cancel(&self) {
        let _ = self.cancel.send(());
    }
}

/// What the trunk asks of us.
#[derive(Debug)]
pub enum UaEvent {
    /// The phone hung up an established dialog (already answered 200).
    Bye { call_id: String },
    /// A new call from the trunk.
    Invite(Box<InboundInvite>),
    /// The caller gave up before we answered (487 already sent).
    InviteCancelled { call_id: String },
    /// Our 200 to the caller was never ACKed within 64*T1: its session is over, BYE sent
    /// (RFC 3261 §13.3.1.4).
    Unacknowledged { call_id: String },
}

/// An INVITE from the trunk, waiting for the application's answer.
#[derive(Debug)]
pub struct InboundInvite {
    pub call_id: String,
    /// The user part of the Request-URI (else of To): the number dialled.
    pub to_number: Option<String>,
    /// The user part of From: the caller.
    pub from_number: Option<String>,
    request: rsip::Request,
    tx: ServerTx,
    local_tag: String,
    ua: Arc<SipUa>,
}

impl InboundInvite {
    pub fn ringing(&self) {
        self.tx.respond(message::response(&self.request, 180, Some(&self.local_tag), vec![], vec![]));
    }

    pub fn reject(&self, status: u16) {
        self.ua.pending_inbound.lock().expect("pending").remove(&self.call_id);
        self.tx.respond(message::response(&self.request, status, Some(&self.local_tag), vec![], vec![]));
    }

    /// Sends 200 with our SDP, retransmitted over UDP until the ACK (§13.3.1.4); returns the
    /// dialog at once.
    pub fn answer(&self) -> DialogState {
        let ua = &self.ua;
        ua.pending_inbound.lock().expect("pending").remove(&self.call_id);
        let ok = message::response(
            &self.request,
            200,
            Some(&self.local_tag),
            vec![("Contact", ua.contact()), ("Content-Type", "application/sdp".to_owned())],
            crate::sdp::audio_offer(ua.config.media, session_id()).into_bytes(),
        );
        let headers = &self.request.headers;
        let from = header(headers, "From", Some("f")).unwrap_or_default();
        let to = header(headers, "To", Some("t")).unwrap_or_default();
        let dialog = DialogState {
            call_id: self.call_id.clone(),
            local_uri: strip_tag(&to),
            local_tag: self.local_tag.clone(),
            remote_uri: strip_tag(&from),
            remote_tag: tag(&from).unwrap_or_default(),
            local_cseq: 0,
            remote_target: header(headers, "Contact", Some("m")).map(|c| uri_of(&c)).unwrap_or_else(|| uri_of(&from)),
            route_set: message::header_values(headers, "Record-Route", None),
        };
        ua.track(&self.call_id);
        let (acked, acked_rx) = oneshot::channel();
        ua.awaiting_ack.lock().expect("acks").insert(self.call_id.clone(), acked);
        let tx = self.tx.clone();
        let timers = ua.endpoint.timers();
        let reliable = ua.config.transport.reliable();
        let (ua, unacknowledged) = (ua.clone(), dialog.clone());
        tokio::spawn(async move {
            tx.respond(ok.clone());
            let deadline = tokio::time::Instant::now() + timers.t1 * 64;
            let mut interval = timers.t1;
            tokio::pin!(acked_rx);
            loop {
                tokio::select! {
                    _ = &mut acked_rx => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                // Over TCP the 200 is not sent again, but its ACK is awaited all the same.
                if !reliable {
                    tx.respond(ok.clone());
                }
                interval = (interval * 2).min(timers.t2);
            }
            // No ACK: the caller may never have had our 200, so the session ends (§13.3.1.4)
            // unless its BYE or the bot's hang-up ended it meanwhile.
            let call_id = unacknowledged.call_id.clone();
            ua.awaiting_ack.lock().expect("acks").remove(&call_id);
            if ua.dialogs.lock().expect("dialogs").remove(&call_id) {
                tracing::info!(%call_id, "our 200 to a caller was never ACKed: BYE");
                let _ = ua.events.send(UaEvent::Unacknowledged { call_id });
                let _ = ua.send_bye(&unacknowledged).await;
            }
        });
        dialog
    }
}

fn strip_tag(name_addr: &str) -> String {
    match name_addr.to_ascii_lowercase().find(";tag=") {
        Some(i) => {
            let rest = &name_addr[i + 5..];
            let after = rest.find(';').map(|j| &rest[j..]).unwrap_or("");
            format!("{}{}", &name_addr[..i], after)
        }
        None => name_addr.to_owned(),
    }
}

/// `bound` as others should reach it: an unspecified IP (listening on all interfaces) is
/// replaced by the source address the system would use toward the trunk (a connected UDP
/// socket only looks the route up; it sends nothing).
fn advertised_address(bound: SocketAddr, trunk: SocketAddr) -> SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    let any: SocketAddr = if trunk.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("an address");
    let routed = std::net::UdpSocket::bind(any).and_then(|s| s.connect(trunk).and_then(|()| s.local_addr()));
    match routed {
        Ok(local) => SocketAddr::new(local.ip(), bound.port()),
        Err(_) => bound,
    }
}

fn session_id() -> u64 {
    u64::from(uuid::Uuid::new_v4().as_fields().0)
}

/// The SIP user agent of one node.
pub struct SipUa {
    endpoint: Endpoint,
    config: SipConfig,
    /// The address our Via and Contact name: the bound one, or, when listening on all
    /// interfaces, the local address the system routes toward the trunk from.
    advertised: SocketAddr,
    /// Call-IDs of established dialogs whose BYE we accept.
    dialogs: Mutex<std::collections::HashSet<String>>,
    /// Inbound INVITEs not answered yet, by Call-ID: the CANCEL path answers them 487.
    pending_inbound: Mutex<HashMap<String, (rsip::Request, ServerTx, String)>>,
    awaiting_ack: Mutex<HashMap<String, oneshot::Sender<()>>>,
    /// What the trunk asks of us, for the driver (most come from `on_request`).
    events: mpsc::UnboundedSender<UaEvent>,
}

impl std::fmt::Debug for SipUa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipUa").field("local", &self.endpoint.local_addr()).field("trunk", &self.config.trunk).finish()
    }
}

impl SipUa {
    /// Binds the listening address and starts serving the trunk's requests.
    pub async fn start(config: SipConfig) -> io::Result<(Arc<SipUa>, mpsc::UnboundedReceiver<UaEvent>)> {
        let (endpoint, mut incoming) =
            Endpoint::bind(config.transport, config.listen, TimerConfig::with_t1(config.t1)).await?;
        let advertised = advertised_address(endpoint.local_addr(), config.trunk);
        let (events, events_rx) = mpsc::unbounded_channel();
        let ua = Arc::new(SipUa {
            endpoint,
            config,
            advertised,
            dialogs: Mutex::new(Default::default()),
            pending_inbound: Mutex::new(HashMap::new()),
            awaiting_ack: Mutex::new(HashMap::new()),
            events: events.clone(),
        });
        let weak = Arc::downgrade(&ua);
        tokio::spawn(async move {
            while let Some(msg) = incoming.recv().await {
                let Some(ua) = weak.upgrade() else { return };
                ua.on_request(msg, &events);
            }
        });
        Ok((ua, events_rx))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    pub fn config(&self) -> &SipConfig {
        &self.config
    }

    /// Accept the BYE of this dialog (after answering it, or after a restart for the dialogs
    /// the store says this node owns).
    pub fn track(&self, call_id: &str) {
        self.dialogs.lock().expect("dialogs").insert(call_id.to_owned());
    }

    pub fn untrack(&self, call_id: &str) {
        self.dialogs.lock().expect("dialogs").remove(call_id);
    }

    fn transport_param(&self) -> &'static str {
        match self.config.transport {
            TransportKind::Udp => "",
            TransportKind::Tcp => ";transport=tcp",
        }
    }

    fn contact(&self) -> String {
        format!("<sip:switchboard@{}{}>", self.advertised, self.transport_param())
    }

    fn via(&self) -> String {
        let rport = if self.config.transport == TransportKind::Udp { ";rport" } else { "" };
        format!("SIP/2.0/{} {};branch={}{rport}", self.config.transport.via_name(), self.advertised, new_branch())
    }

    fn host(&self) -> String {
        self.config.trunk.to_string()
    }

    /// Calls a phone; progress comes on the returned channel until `Answered` or `Failed`.
    pub fn dial(self: &Arc<Self>, request: DialRequest) -> (OutgoingCall, mpsc::UnboundedReceiver<CallProgress>) {
        let call_id = format!("{}@switchboard", uuid::Uuid::new_v4().simple());
        let (cancel, cancel_rx) = mpsc::unbounded_channel();
        let (progress, progress_rx) = mpsc::unbounded_channel();
        tokio::spawn(self.clone().run_dial(call_id.clone(), request, progress, cancel_rx));
        (OutgoingCall { call_id, cancel }, progress_rx)
    }

    async fn run_dial(
        self: Arc<Self>,
        call_id: String,
        request: DialRequest,
        progress: mpsc::UnboundedSender<CallProgress>,
        mut cancel_rx: mpsc::UnboundedReceiver<()>,
    ) {
        let host = self.host();
        let from_user = request.from_number.clone().unwrap_or_else(|| "switchboard".to_owned());
        let display = request.display_name.as_ref().map(|d| format!("\"{}\" ", d.replace('"', ""))).unwrap_or_default();
        let local_uri = format!("{display}<sip:{from_user}@{host}>");
        let local_tag = new_tag();
        let remote_uri = format!("<sip:{}@{host}>", request.to_number);
        let request_uri = format!("sip:{}@{host}{}", request.to_number, self.transport_param());
        let sdp = crate::sdp::audio_offer(self.config.media, session_id());
        let mut cseq = 1u32;
        let mut authorization: Option<(&'static str, String)> = None;
        let mut cancel_requested = false;
        loop {
            let mut headers = vec![
                ("Via", self.via()),
                ("Max-Forwards", "70".to_owned()),
                ("From", format!("{local_uri};tag={local_tag}")),
                ("To", remote_uri.clone()),
                ("Call-ID", call_id.clone()),
                ("CSeq", format!("{cseq} INVITE")),
                ("Contact", self.contact()),
                ("User-Agent", "Switchboard".to_owned()),
                ("Content-Type", "application/sdp".to_owned()),
            ];
            if let Some((name, value)) = &authorization {
                headers.push((name, value.clone()));
            }
            let invite = message::request(rsip::Method::Invite, &request_uri, headers, sdp.clone().into_bytes());
            let mut events = self.endpoint.start_client(invite.clone(), self.config.trunk);
            let mut provisional = false;
            let mut cancel_sent = false;
            let mut ack: Option<Vec<u8>> = None;
            // The To tag of the dialog the first 2xx set up.
            let mut answered_tag: Option<String> = None;
            loop {
                let event = tokio::select! {
                    c = cancel_rx.recv(), if !cancel_requested && ack.is_none() => {
                        if c.is_some() {
                            cancel_requested = true;
                            if provisional && !cancel_sent {
                                cancel_sent = true;
                                self.send_cancel(&invite);
                            }
                        }
                        continue;
                    }
                    e = events.recv() => e,
                };
                let response = match event {
                    None => return,
                    Some(TxEvent::Failed(failure)) => {
                        if ack.is_none() {
                            let failure = match failure {
                                Failure::Timeout => CallFailure::Timeout,
                                Failure::TransportError => CallFailure::TransportError,
                            };
                            let _ = progress.send(CallProgress::Failed(failure));
                        }
                        return;
                    }
                    Some(TxEvent::Response(r)) => r,
                };
                let status = message::status(&response);
                match status {
                    100 => {}
                    101..=199 => {
                        if !provisional && !cancel_requested {
                            let _ = progress.send(CallProgress::Cancellable(cancel_of(&invite).to_string()));
                        }
                        provisional = true;
                        if cancel_requested && !cancel_sent {
                            cancel_sent = true;
                            self.send_cancel(&invite);
                        }
                        if !cancel_requested {
                            let _ = progress.send(CallProgress::Ringing(status));
                        }
                    }
                    200..=299 => {
                        let to = header(&response.headers, "To", Some("t")).unwrap_or_default();
                        if let (Some(bytes), Some(answered)) = (&ack, &answered_tag) {
                            if tag(&to).unwrap_or_default() == *answered {
                                // A retransmitted 2xx: its ACK got lost.
                                let _ = self.endpoint.send_raw(bytes.clone(), self.config.trunk).await;
                                continue;
                            }
                        }
                        let dialog = DialogState {
                            call_id: call_id.clone(),
                            local_uri: local_uri.clone(),
                            local_tag: local_tag.clone(),
                            remote_uri: strip_tag(&to),
                            remote_tag: tag(&to).unwrap_or_default(),
                            local_cseq: cseq,
                            remote_target: header(&response.headers, "Contact", Some("m"))
                                .map(|c| uri_of(&c))
                                .unwrap_or_else(|| request_uri.clone()),
                            route_set: message::header_values(&response.headers, "Record-Route", None)
                                .into_iter()
                                .rev()
                                .collect(),
                        };
                        let bytes = self.in_dialog(&dialog, rsip::Method::Ack, cseq).to_string().into_bytes();
                        if ack.is_none() && !cancel_requested {
                            // Known before the ACK leaves: the phone may hang up the moment it
                            // has it.
                            self.track(&call_id);
                        }
                        let _ = self.endpoint.send_raw(bytes.clone(), self.config.trunk).await;
                        if ack.is_some() {
                            // A 2xx with another To tag: a second dialog of a forked INVITE
                            // (§13.2.2.4). It is ACKed and ended at once; the dialog of the first
                            // 2xx, which shares its Call-ID, stays tracked.
                            tracing::info!(%call_id, "a second 2xx to one INVITE (forked): ACK and BYE");
                            let ua = self.clone();
                            tokio::spawn(async move {
                                let _ = ua.send_bye(&dialog).await;
                            });
                            continue;
                        }
                        ack = Some(bytes);
                        answered_tag = Some(dialog.remote_tag.clone());
                        if cancel_requested {
                            // Answered as we cancelled (§15): end it at once.
                            let ua = self.clone();
                            let dialog = dialog.clone();
                            tokio::spawn(async move {
                                let _ = ua.hang_up(&dialog).await;
                            });
                            let _ = progress.send(CallProgress::Failed(CallFailure::Cancelled));
                        } else {
                            let _ = progress.send(CallProgress::Answered(dialog));
                        }
                    }
                    401 | 407 if authorization.is_none() && self.config.username.is_some() && ack.is_none() => {
                        let (challenge_header, answer_header) = if status == 401 {
                            ("WWW-Authenticate", "Authorization")
                        } else {
                            ("Proxy-Authenticate", "Proxy-Authorization")
                        };
                        let values = message::raw_values(&response.headers, challenge_header);
                        let Some(challenge) = Challenge::best(values.iter().map(String::as_str)) else {
                            let _ = progress.send(CallProgress::Failed(CallFailure::Rejected(status)));
                            return;
                        };
                        let uri = invite.uri.clone();
                        let value = challenge.authorization(
                            self.config.username.as_deref().unwrap_or_default(),
                            self.config.password.as_deref().unwrap_or_default(),
                            &rsip::Method::Invite,
                            &uri,
                            &new_tag(),
                        );
                        authorization = Some((answer_header, value));
                        cseq += 1;
                        break;
                    }
                    _ if ack.is_some() => {}
                    487 if cancel_requested => {
                        let _ = progress.send(CallProgress::Failed(CallFailure::Cancelled));
                        return;
                    }
                    _ => {
                        let _ = progress.send(CallProgress::Failed(CallFailure::Rejected(status)));
                        return;
                    }
                }
            }
        }
    }

    /// CANCEL of a pending INVITE (§9.1): same branch, Request-URI, Call-ID, From, To, Route
    /// and CSeq number.
    fn send_cancel(&self, invite: &rsip::Request) {
        // The CANCEL's own transaction; its 200 says nothing the INVITE's 487 will not.
        let _ = self.endpoint.start_client(cancel_of(invite), self.config.trunk);
    }

    /// Sends a CANCEL that an earlier process kept ([`CallProgress::Cancellable`]): its INVITE's
    /// transaction died with that process, the phone may still ring. `false` if `text` is not
    /// a CANCEL.
    pub fn send_saved_cancel(&self, text: &str) -> bool {
        match message::parse(text.as_bytes()) {
            Some(rsip::SipMessage::Request(cancel)) if cancel.method == rsip::Method::Cancel => {
                let _ = self.endpoint.start_client(cancel, self.config.trunk);
                true
            }
            _ => false,
        }
    }

    /// An in-dialog request (ACK, BYE) with this CSeq number.
    fn in_dialog(&self, dialog: &DialogState, method: rsip::Method, cseq: u32) -> rsip::Request {
        let mut headers = vec![("Via", self.via())];
        for route in &dialog.route_set {
            headers.push(("Route", route.clone()));
        }
        headers.push(("Max-Forwards", "70".to_owned()));
        headers.push(("From", format!("{};tag={}", dialog.local_uri, dialog.local_tag)));
        headers.push(("To", format!("{};tag={}", dialog.remote_uri, dialog.remote_tag)));
        headers.push(("Call-ID", dialog.call_id.clone()));
        headers.push(("CSeq", format!("{cseq} {method}")));
        message::request(method, &dialog.remote_target, headers, Vec::new())
    }

    /// Ends a dialog with BYE (retrying once with digest credentials if challenged); the final
    /// status, or why there was none.
    pub async fn hang_up(&self, dialog: &DialogState) -> Result<u16, Failure> {
        self.untrack(&dialog.call_id);
        self.send_bye(dialog).await
    }

    /// The BYE of [`SipUa::hang_up`], leaving the tracked Call-IDs alone.
    async fn send_bye(&self, dialog: &DialogState) -> Result<u16, Failure> {
        let mut cseq = dialog.local_cseq + 1;
        let mut authorization: Option<(&'static str, String)> = None;
        loop {
            let mut bye = self.in_dialog(dialog, rsip::Method::Bye, cseq);
            if let Some((name, value)) = &authorization {
                let mut headers: Vec<rsip::Header> = bye.headers.iter().cloned().collect();
                let at = headers.len() - 1;
                headers.insert(at, rsip::Header::Other((*name).to_owned(), value.clone()));
                bye.headers = headers.into();
            }
            let mut events = self.endpoint.start_client(bye.clone(), self.config.trunk);
            while let Some(event) = events.recv().await {
                match event {
                    TxEvent::Failed(f) => return Err(f),
                    TxEvent::Response(r) => {
                        let status = message::status(&r);
                        if status < 200 {
                            continue;
                        }
                        if (status == 401 || status == 407) && authorization.is_none() && self.config.username.is_some()
                        {
                            let name = if status == 401 { "WWW-Authenticate" } else { "Proxy-Authenticate" };
                            let values = message::raw_values(&r.headers, name);
                            if let Some(challenge) = Challenge::best(values.iter().map(String::as_str)) {
                                let value = challenge.authorization(
                                    self.config.username.as_deref().unwrap_or_default(),
                                    self.config.password.as_deref().unwrap_or_default(),
                                    &rsip::Method::Bye,
                                    &bye.uri,
                                    &new_tag(),
                                );
                                authorization =
                                    Some((if status == 401 { "Authorization" } else { "Proxy-Authorization" }, value));
                                cseq += 1;
                                break;
                            }
                        }
                        return Ok(status);
                    }
                }
            }
            if authorization.is_none() {
                return Err(Failure::Timeout);
            }
        }
    }

    fn on_request(self: &Arc<Self>, msg: Incoming, events: &mpsc::UnboundedSender<UaEvent>) {
        let Incoming { request, tx, source } = msg;
        // Only the trunk may talk to us: anyone else could hang up calls by guessing Call-IDs.
        if source.ip() != self.config.trunk.ip() {
            tracing::warn!(%source, method = %request.method, "SIP request from outside the trunk refused");
            if let Some(tx) = tx {
                tx.respond(message::response(&request, 403, Some(&new_tag()), vec![], vec![]));
            }
            return;
        }
        let call_id = message::call_id(&request.headers).unwrap_or_default();
        let Some(tx) = tx else {
            // The ACK of a 2xx we sent: stop retransmitting it.
            if let Some(acked) = self.awaiting_ack.lock().expect("acks").remove(&call_id) {
                let _ = acked.send(());
            }
            return;
        };
        let respond = |status: u16| tx.respond(message::response(&request, status, Some(&new_tag()), vec![], vec![]));
        match request.method {
            rsip::Method::Bye => {
                let known = self.dialogs.lock().expect("dialogs").remove(&call_id);
                if known {
                    respond(200);
                    let _ = events.send(UaEvent::Bye { call_id });
                } else {
                    respond(481);
                }
            }
            rsip::Method::Options => respond(200),
            rsip::Method::Cancel => {
                let pending = self.pending_inbound.lock().expect("pending").remove(&call_id);
                match pending {
                    Some((invite, invite_tx, local_tag)) => {
                        respond(200);
                        invite_tx.respond(message::response(&invite, 487, Some(&local_tag), vec![], vec![]));
                        let _ = events.send(UaEvent::InviteCancelled { call_id });
                    }
                    None => respond(481),
                }
            }
            rsip::Method::Invite => {
                let to = header(&request.headers, "To", Some("t")).unwrap_or_default();
                if tag(&to).is_some() {
                    // A re-INVITE (session refresh): accept with the same offer, if the dialog
                    // is ours (§12.2.2).
                    if !self.dialogs.lock().expect("dialogs").contains(&call_id) {
                        return respond(481);
                    }
                    let ok = message::response(
                        &request,
                        200,
                        None,
                        vec![("Contact", self.contact()), ("Content-Type", "application/sdp".to_owned())],
                        crate::sdp::audio_offer(self.config.media, session_id()).into_bytes(),
                    );
                    tx.respond(ok);
                    return;
                }
                let local_tag = new_tag();
                {
                    let mut pending = self.pending_inbound.lock().expect("pending");
                    // The same call again in another transaction (a merged request that came by
                    // two paths, or a Call-ID reused): not a second call (§8.2.2.2).
                    if pending.contains_key(&call_id) || self.dialogs.lock().expect("dialogs").contains(&call_id) {
                        drop(pending);
                        return respond(482);
                    }
                    pending.insert(call_id.clone(), (request.clone(), tx.clone(), local_tag.clone()));
                }
                tx.respond(message::response(&request, 100, None, vec![], vec![]));
                let from = header(&request.headers, "From", Some("f")).unwrap_or_default();
                let invite = InboundInvite {
                    call_id,
                    to_number: message::user_of(&request.uri.to_string()).or_else(|| message::user_of(&uri_of(&to))),
                    from_number: message::user_of(&uri_of(&from)),
                    request,
                    tx,
                    local_tag,
                    ua: self.clone(),
                };
                let _ = events.send(UaEvent::Invite(Box::new(invite)));
            }
            _ => tx.respond(message::response(&request, 501, Some(&new_tag()), vec![], vec![])),
        }
    }
}

/// The CANCEL of an INVITE (§9.1: its top Via, Route, From, To, Call-ID and CSeq number).
fn cancel_of(invite: &rsip::Request) -> rsip::Request {
    let mut headers = Vec::new();
    if let Some(via) = header(&invite.headers, "Via", Some("v")) {
        headers.push(("Via", via));
    }
    for route in message::raw_values(&invite.headers, "Route") {
        headers.push(("Route", route));
    }
    headers.push(("Max-Forwards", "70".to_owned()));
    for name in ["From", "To", "Call-ID"] {
        if let Some(v) = header(&invite.headers, name, None) {
            headers.push((name, v));
        }
    }
    let number = message::cseq(&invite.headers).map(|(n, _)| n).unwrap_or(1);
    headers.push(("CSeq", format!("{number} CANCEL")));
    message::request(rsip::Method::Cancel, &invite.uri.to_string(), headers, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_advertises_the_address_routed_toward_the_trunk() {
        let trunk: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        assert_eq!(advertised_address("0.0.0.0:5060".parse().unwrap(), trunk), "127.0.0.1:5060".parse().unwrap());
        assert_eq!(advertised_address("127.0.0.2:5062".parse().unwrap(), trunk), "127.0.0.2:5062".parse().unwrap());
    }

    #[test]
    fn strips_only_the_tag() {
        assert_eq!(strip_tag("\"A\" <sip:a@b>;tag=123;x=y"), "\"A\" <sip:a@b>;x=y");
        assert_eq!(strip_tag("<sip:a@b>;tag=123"), "<sip:a@b>");
        assert_eq!(strip_tag("<sip:a@b>"), "<sip:a@b>");
    }

    #[test]
    fn dialog_state_round_trips_through_json() {
        let d = DialogState {
            call_id: "c".into(),
            local_uri: "<sip:a@b>".into(),
            local_tag: "l".into(),
            remote_uri: "<sip:c@d>".into(),
            remote_tag: "r".into(),
            local_cseq: 2,
            remote_target: "sip:c@10.0.0.1".into(),
            route_set: vec!["<sip:p;lr>".into()],
        };
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["callId"], "c");
        assert_eq!(serde_json::from_value::<DialogState>(json).unwrap(), d);
    }
}
