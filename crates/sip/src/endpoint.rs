//! The transport and transaction layers at run time: a UDP socket or TCP connections
//! (framed by Content-Length), and one task per transaction driving the pure machines of
//! `transaction.rs` with tokio timers.
//!
//! Responses are matched to client transactions by the top Via's branch and the CSeq method
//! (§17.1.3); requests to server transactions by branch and method, an ACK going to its
//! INVITE's transaction (§17.2.3). A request that starts a new server transaction, and an ACK
//! that matches none (the ACK of a 2xx, which belongs to the dialog), go up as [`Incoming`].

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rsip::SipMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::message;
use crate::transaction::{
    Action, ClientEvent, Failure, InviteClient, InviteServer, InviteServerState, NonInviteClient, NonInviteServer,
    ServerEvent, Timer, TimerConfig,
};

/// The transport toward the trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Udp,
    Tcp,
}

impl TransportKind {
    pub fn via_name(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
        }
    }

    pub fn reliable(self) -> bool {
        self == TransportKind::Tcp
    }
}

impl std::str::FromStr for TransportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Ok(TransportKind::Udp),
            "tcp" => Ok(TransportKind::Tcp),
            other => Err(format!("unknown SIP transport {other:?} (udp or tcp)")),
        }
    }
}

/// What a client transaction reports to its user.
#[derive(Debug, Clone)]
pub enum TxEvent {
    Response(rsip::Response),
    Failed(Failure),
}

/// A request from the network for the UA: either the start of a server transaction (`tx` is
/// set) or an ACK of a 2xx.
#[derive(Debug)]
pub struct Incoming {
    pub request: rsip::Request,
    pub source: SocketAddr,
    pub tx: Option<ServerTx>,
}

/// The handle through which the UA answers a server transaction.
#[derive(Debug, Clone)]
pub struct ServerTx {
    input: mpsc::UnboundedSender<ServerInput>,
}

impl ServerTx {
    pub fn respond(&self, response: rsip::Response) {
        let _ = self.input.send(ServerInput::Respond(Box::new(response)));
    }
}

#[derive(Debug)]
enum ServerInput {
    Retransmission,
    Ack(Box<rsip::Request>),
    Respond(Box<rsip::Response>),
}

type TxKey = (String, String);

struct Inner {
    kind: TransportKind,
    local: SocketAddr,
    udp: Option<Arc<UdpSocket>>,
    tcp: Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>,
    timers: TimerConfig,
    clients: Mutex<HashMap<TxKey, mpsc::UnboundedSender<rsip::Response>>>,
    servers: Mutex<HashMap<TxKey, mpsc::UnboundedSender<ServerInput>>>,
    incoming: mpsc::UnboundedSender<Incoming>,
}

/// The SIP endpoint: one listening address, its transactions.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

impl Endpoint {
    /// Binds `listen` (port 0 allowed) and starts receiving.
    pub async fn bind(
        kind: TransportKind,
        listen: SocketAddr,
        timers: TimerConfig,
    ) -> io::Result<(Endpoint, mpsc::UnboundedReceiver<Incoming>)> {
        let (incoming, incoming_rx) = mpsc::unbounded_channel();
        let (udp, listener, local) = match kind {
            TransportKind::Udp => {
                let socket = Arc::new(UdpSocket::bind(listen).await?);
                let local = socket.local_addr()?;
                (Some(socket), None, local)
            }
            TransportKind::Tcp => {
                let listener = TcpListener::bind(listen).await?;
                let local = listener.local_addr()?;
                (None, Some(listener), local)
            }
        };
        let inner = Arc::new(Inner {
            kind,
            local,
            udp: udp.clone(),
            tcp: Mutex::new(HashMap::new()),
            timers,
            clients: Mutex::new(HashMap::new()),
            servers: Mutex::new(HashMap::new()),
            incoming,
        });
        if let Some(socket) = udp {
            let weak = Arc::downgrade(&inner);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                loop {
                    let Ok((n, source)) = socket.recv_from(&mut buf).await else { continue };
                    let Some(inner) = weak.upgrade() else { return };
                    inner.dispatch(&buf[..n], source);
                }
            });
        }
        if let Some(listener) = listener {
            let weak = Arc::downgrade(&inner);
            tokio::spawn(async move {
                loop {
                    let accepted = listener.accept().await;
                    let Some(inner) = weak.upgrade() else { return };
                    match accepted {
                        Ok((stream, peer)) => inner.adopt(stream, peer),
                        // Out of file descriptors, say: the listener must outlive it. The pause
                        // keeps an error that lasts from spinning.
                        Err(e) => {
                            drop(inner);
                            tracing::warn!(error = %e, "SIP over TCP: a connection could not be accepted");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
        Ok((Endpoint { inner }, incoming_rx))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    pub fn kind(&self) -> TransportKind {
        self.inner.kind
    }

    pub fn timers(&self) -> TimerConfig {
        self.inner.timers
    }

    /// Sends bytes outside any transaction (the ACK of a 2xx, a 2xx retransmission).
    pub async fn send_raw(&self, bytes: Vec<u8>, dest: SocketAddr) -> io::Result<()> {
        self.inner.send(bytes, dest).await
    }

    /// Starts a client transaction for `request` toward `dest`; its responses and failure come
    /// on the returned channel.
    pub fn start_client(&self, request: rsip::Request, dest: SocketAddr) -> mpsc::UnboundedReceiver<TxEvent> {
        let (events, events_rx) = mpsc::unbounded_channel();
        let (resp_tx, resp_rx) = mpsc::unbounded_channel();
        let key = (message::top_branch(&request.headers).unwrap_or_default(), request.method.to_string());
        self.inner.clients.lock().expect("clients").insert(key.clone(), resp_tx);
        tokio::spawn(run_client(self.inner.clone(), key, request, dest, events, resp_rx));
        events_rx
    }
}

impl Inner {
    async fn send(self: &Arc<Self>, bytes: Vec<u8>, dest: SocketAddr) -> io::Result<()> {
        if let Some(udp) = &self.udp {
            udp.send_to(&bytes, dest).await?;
            return Ok(());
        }
        let existing = self.tcp.lock().expect("tcp").get(&dest).cloned();
        let sender = match existing {
            Some(sender) if !sender.is_closed() => sender,
            _ => {
                let stream = TcpStream::connect(dest).await?;
                self.connection(stream, dest)
            }
        };
        sender.send(bytes).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "SIP TCP connection closed"))
    }

    /// A new TCP connection (accepted or connected): its writer and reader tasks. When the
    /// reader ends (the peer closed, or sent what cannot be framed) the connection is forgotten,
    /// which drops the writer and closes the socket; a later message to the peer connects anew.
    fn connection(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr) -> mpsc::UnboundedSender<Vec<u8>> {
        let (mut reader, mut writer) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        self.tcp.lock().expect("tcp").insert(peer, tx.clone());
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        let (frames, mut frames_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let patience = self.timers.t1 * 64;
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 16_384];
            // When the message begun in `buf` must be whole: a peer that stops in the middle of
            // one (a Content-Length that never arrives) would hold the connection for good.
            let mut whole_by: Option<Instant> = None;
            loop {
                let read = match whole_by {
                    Some(at) => tokio::time::timeout_at(at, reader.read(&mut chunk)).await,
                    None => Ok(reader.read(&mut chunk).await),
                };
                match read {
                    Ok(Ok(0) | Err(_)) => return,
                    Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                    Err(_) => {
                        tracing::warn!(%peer, "SIP over TCP: a message left unfinished for 64*T1: connection closed");
                        return;
                    }
                }
                let mut framed = false;
                loop {
                    let len = match message::frame_length(&buf) {
                        Ok(Some(len)) => len,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "SIP over TCP cannot be framed: connection closed");
                            return;
                        }
                    };
                    let frame: Vec<u8> = buf.drain(..len).collect();
                    framed = true;
                    if frame.iter().any(|b| *b != b'\r' && *b != b'\n') && frames.send(frame).is_err() {
                        return;
                    }
                }
                whole_by = match whole_by {
                    _ if buf.is_empty() => None,
                    Some(at) if !framed => Some(at),
                    _ => Some(Instant::now() + patience),
                };
            }
        });
        let weak_self = Arc::downgrade(self);
        let writer = tx.downgrade();
        tokio::spawn(async move {
            while let Some(frame) = frames_rx.recv().await {
                let Some(inner) = weak_self.upgrade() else { return };
                inner.dispatch(&frame, peer);
            }
            if let (Some(inner), Some(writer)) = (weak_self.upgrade(), writer.upgrade()) {
                let mut tcp = inner.tcp.lock().expect("tcp");
                if tcp.get(&peer).is_some_and(|known| known.same_channel(&writer)) {
                    tcp.remove(&peer);
                }
            }
        });
        tx
    }

    fn adopt(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        self.connection(stream, peer);
    }

    fn dispatch(self: &Arc<Self>, bytes: &[u8], source: SocketAddr) {
        match message::parse(bytes) {
            Some(SipMessage::Response(resp)) => {
                let Some(branch) = message::top_branch(&resp.headers) else { return };
                let Some((_, method)) = message::cseq(&resp.headers) else { return };
                let sender = self.clients.lock().expect("clients").get(&(branch, method)).cloned();
                if let Some(sender) = sender {
                    let _ = sender.send(resp);
                }
                // A response matching no transaction is dropped (§18.1.2).
            }
            Some(SipMessage::Request(req)) => {
                let branch = match server_branch(&req) {
                    Ok(branch) => branch,
                    Err(malformed) => return self.refuse(req, source, malformed),
                };
                let method = req.method.to_string();
                if req.method == rsip::Method::Ack {
                    let sender = self.servers.lock().expect("servers").get(&(branch, "INVITE".to_owned())).cloned();
                    match sender {
                        Some(s) => {
                            let _ = s.send(ServerInput::Ack(Box::new(req)));
                        }
                        None => {
                            let _ = self.incoming.send(Incoming { request: req, source, tx: None });
                        }
                    }
                    return;
                }
                let key = (branch, method);
                let existing = self.servers.lock().expect("servers").get(&key).cloned();
                if let Some(s) = existing {
                    let _ = s.send(ServerInput::Retransmission);
                    return;
                }
                let (input, input_rx) = mpsc::unbounded_channel();
                self.servers.lock().expect("servers").insert(key.clone(), input.clone());
                let incoming = self.incoming.clone();
                let weak = Arc::downgrade(self);
                let is_invite = req.method == rsip::Method::Invite;
                let _ = incoming.send(Incoming { request: req, source, tx: Some(ServerTx { input }) });
                tokio::spawn(run_server(weak, key, is_invite, source, input_rx));
            }
            None => tracing::debug!(%source, "unparseable SIP message dropped"),
        }
    }

    /// Answers a malformed request `400` (§8.2.2: a request must have these headers to be
    /// answered at all), outside any transaction; an ACK, or a request without a Via to answer
    /// along, is only dropped.
    fn refuse(self: &Arc<Self>, req: rsip::Request, source: SocketAddr, malformed: Malformed) {
        tracing::info!(%source, method = %req.method, %malformed, "malformed SIP request refused");
        if req.method == rsip::Method::Ack || malformed == Malformed::NoVia {
            return;
        }
        let bytes = message::response(&req, 400, Some(&message::new_tag()), vec![], vec![]).to_string().into_bytes();
        let inner = self.clone();
        tokio::spawn(async move {
            let _ = inner.send(bytes, source).await;
        });
    }
}

/// What makes a request unanswerable as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Malformed {
    #[error("no Via")]
    NoVia,
    #[error("no {0}")]
    Missing(&'static str),
    #[error("a CSeq that is not a number and this request's method")]
    CSeq,
}

/// The branch that names a request's server transaction, once the request is checked for
/// what every request must carry (§8.1.1): Via, From, To, Call-ID and a CSeq of its own method.
/// A branch without RFC 3261's magic cookie (or none, from an RFC 2543 peer) is not unique:
/// Call-ID, CSeq number and From tag are added to it (§17.2.3), else two such INVITEs
/// would be taken for one and the second call lost as a retransmission.
fn server_branch(req: &rsip::Request) -> Result<String, Malformed> {
    let headers = &req.headers;
    message::header(headers, "Via", Some("v")).ok_or(Malformed::NoVia)?;
    let from = message::header(headers, "From", Some("f")).ok_or(Malformed::Missing("From"))?;
    message::header(headers, "To", Some("t")).ok_or(Malformed::Missing("To"))?;
    let call_id = message::call_id(headers).ok_or(Malformed::Missing("Call-ID"))?;
    let (number, method) = message::cseq(headers).ok_or(Malformed::CSeq)?;
    if method != req.method.to_string() {
        return Err(Malformed::CSeq);
    }
    Ok(match message::top_branch(headers) {
        Some(branch) if branch.starts_with("z9hG4bK") => branch,
        branch => {
            let tag = message::tag(&from).unwrap_or_default();
            format!("{};{call_id};{number};{tag}", branch.unwrap_or_default())
        }
    })
}

/// The ACK of a non-2xx final response (§17.1.1.3): the INVITE's Request-URI, top Via,
/// From, Call-ID and Route; the response's To; CSeq number of the INVITE with method ACK.
pub fn ack_for_non_2xx(invite: &rsip::Request, response: &rsip::Response) -> rsip::Request {
    let mut headers = Vec::new();
    if let Some(via) = message::header(&invite.headers, "Via", Some("v")) {
        headers.push(("Via", via));
    }
    for route in message::raw_values(&invite.headers, "Route") {
        headers.push(("Route", route));
    }
    headers.push(("Max-Forwards", "70".to_owned()));
    if let Some(from) = message::header(&invite.headers, "From", Some("f")) {
        headers.push(("From", from));
    }
    if let Some(to) = message::header(&response.headers, "To", Some("t")) {
        headers.push(("To", to));
    }
    if let Some(id) = message::call_id(&invite.headers) {
        headers.push(("Call-ID", id));
    }
    let number = message::cseq(&invite.headers).map(|(n, _)| n).unwrap_or(1);
    headers.push(("CSeq", format!("{number} ACK")));
    message::request(rsip::Method::Ack, &invite.uri.to_string(), headers, Vec::new())
}

/// Armed timers of one transaction: the next to fire and when.
#[derive(Default)]
struct Armed(HashMap<Timer, Instant>);

impl Armed {
    fn arm(&mut self, timer: Timer, after: std::time::Duration) {
        self.0.insert(timer, Instant::now() + after);
    }

    fn next(&self) -> Option<(Timer, Instant)> {
        self.0.iter().min_by_key(|(_, at)| **at).map(|(t, at)| (*t, *at))
    }
}

enum ClientMachine {
    Invite(InviteClient),
    NonInvite(NonInviteClient),
}

impl ClientMachine {
    fn step(&mut self, event: ClientEvent) -> Vec<Action> {
        match self {
            ClientMachine::Invite(m) => m.step(event),
            ClientMachine::NonInvite(m) => m.step(event),
        }
    }
}

async fn run_client(
    inner: Arc<Inner>,
    key: TxKey,
    request: rsip::Request,
    dest: SocketAddr,
    events: mpsc::UnboundedSender<TxEvent>,
    mut responses: mpsc::UnboundedReceiver<rsip::Response>,
) {
    let reliable = inner.kind.reliable();
    let bytes = request.to_string().into_bytes();
    let (mut machine, mut actions) = if request.method == rsip::Method::Invite {
        let (m, a) = InviteClient::start(inner.timers, reliable);
        (ClientMachine::Invite(m), a)
    } else {
        let (m, a) = NonInviteClient::start(inner.timers, reliable);
        (ClientMachine::NonInvite(m), a)
    };
    let mut armed = Armed::default();
    let mut last: Option<rsip::Response> = None;
    loop {
        let mut pending = std::collections::VecDeque::from(actions);
        while let Some(action) = pending.pop_front() {
            match action {
                Action::Transmit => {
                    if inner.send(bytes.clone(), dest).await.is_err() {
                        pending.extend(machine.step(ClientEvent::TransportError));
                    }
                }
                Action::SendAck => {
                    if let Some(resp) = &last {
                        let ack = ack_for_non_2xx(&request, resp).to_string().into_bytes();
                        let _ = inner.send(ack, dest).await;
                    }
                }
                Action::Arm(timer, after) => armed.arm(timer, after),
                Action::PassUp => {
                    if let Some(resp) = &last {
                        let _ = events.send(TxEvent::Response(resp.clone()));
                    }
                }
                Action::Fail(failure) => {
                    let _ = events.send(TxEvent::Failed(failure));
                }
                Action::Terminate => {
                    inner.clients.lock().expect("clients").remove(&key);
                    return;
                }
            }
        }
        let next = armed.next();
        actions = tokio::select! {
            resp = responses.recv() => match resp {
                Some(resp) => {
                    let code = message::status(&resp);
                    last = Some(resp);
                    machine.step(ClientEvent::Response(code))
                }
                None => return,
            },
            _ = async { match next { Some((_, at)) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                let (timer, _) = next.expect("a timer was armed");
                armed.0.remove(&timer);
                machine.step(ClientEvent::TimerFired(timer))
            }
        };
    }
}

enum ServerMachine {
    Invite(InviteServer),
    NonInvite(NonInviteServer),
}

impl ServerMachine {
    fn step(&mut self, event: ServerEvent) -> Vec<Action> {
        match self {
            ServerMachine::Invite(m) => m.step(event),
            ServerMachine::NonInvite(m) => m.step(event),
        }
    }

    fn accepted(&self) -> bool {
        matches!(self, ServerMachine::Invite(m) if m.state == InviteServerState::Accepted)
    }
}

async fn run_server(
    weak: std::sync::Weak<Inner>,
    key: TxKey,
    is_invite: bool,
    source: SocketAddr,
    mut input: mpsc::UnboundedReceiver<ServerInput>,
) {
    let Some(inner) = weak.upgrade() else { return };
    let reliable = inner.kind.reliable();
    let (mut machine, _) = if is_invite {
        let (m, a) = InviteServer::start(inner.timers, reliable);
        (ServerMachine::Invite(m), a)
    } else {
        let (m, a) = NonInviteServer::start(inner.timers, reliable);
        (ServerMachine::NonInvite(m), a)
    };
    drop(inner);
    let mut armed = Armed::default();
    let mut last: Option<Vec<u8>> = None;
    let mut actions = Vec::new();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let mut pending = std::collections::VecDeque::from(actions);
        while let Some(action) = pending.pop_front() {
            match action {
                Action::Transmit => {
                    if let Some(bytes) = &last {
                        if inner.send(bytes.clone(), source).await.is_err() {
                            pending.extend(machine.step(ServerEvent::TransportError));
                        }
                    }
                }
                Action::Arm(timer, after) => armed.arm(timer, after),
                Action::Terminate => {
                    inner.servers.lock().expect("servers").remove(&key);
                    return;
                }
                Action::SendAck | Action::PassUp | Action::Fail(_) => {}
            }
        }
        drop(inner);
        let next = armed.next();
        actions = tokio::select! {
            msg = input.recv() => match msg {
                Some(ServerInput::Retransmission) => machine.step(ServerEvent::Request),
                Some(ServerInput::Ack(ack)) => {
                    // An ACK with the INVITE's branch after a 2xx belongs to the dialog.
                    if machine.accepted() {
                        if let Some(inner) = weak.upgrade() {
                            let _ = inner.incoming.send(Incoming { request: *ack, source, tx: None });
                        }
                    }
                    machine.step(ServerEvent::Ack)
                }
                Some(ServerInput::Respond(resp)) => {
                    let code = message::status(&resp);
                    last = Some(resp.to_string().into_bytes());
                    machine.step(ServerEvent::Respond(code))
                }
                // The UA dropped every handle without a final answer: keep absorbing
                // retransmissions until a timer ends the transaction.
                None => std::future::pending().await,
            },
            _ = async { match next { Some((_, at)) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                let (timer, _) = next.expect("a timer was armed");
                armed.0.remove(&timer);
                machine.step(ServerEvent::TimerFired(timer))
            }
        };
    }
}
