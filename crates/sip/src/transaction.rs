//! The four transaction state machines of RFC 3261 §17, as pure transitions.
//!
//! Each machine is a closed enum of states and a `step(event) -> actions` function; the
//! runtime (`endpoint.rs`) owns the sockets, the message bytes and the clock, and executes the
//! actions: transmit, arm a timer, pass a message up to the transaction user, terminate. The
//! machines know status codes and whether the transport is reliable, nothing else, so every
//! rule (retransmission doubling capped at T2, timer D/K/I/J being zero on a reliable transport,
//! the ACK of a non-2xx final) is unit-tested here without a socket.
//!
//! Deviations, written down: the INVITE client and server follow RFC 6026 (an `Accepted`
//! state absorbs 2xx retransmissions for 64*T1 instead of terminating on the 2xx), and timer D,
//! which RFC 3261 fixes at "at least 32 s" for unreliable transports, is 64*T1 so that a small
//! configured T1 shortens it too (64 * 500 ms = 32 s with the default T1).

use std::time::Duration;

/// RFC 3261 timer base values (§17.1.1.1, table 4). T1 is configurable so tests need not wait
/// 32 s for a transaction timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip estimate, default 500 ms.
    pub t1: Duration,
    /// Maximum retransmission interval of non-INVITE requests and INVITE responses, default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, default 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig::with_t1(Duration::from_millis(500))
    }
}

impl TimerConfig {
    /// T1 as given, T2 and T4 scaled from it in RFC 3261's ratios (T2 = 8*T1, T4 = 10*T1), so
    /// a test's small T1 shortens every timer alike.
    pub fn with_t1(t1: Duration) -> Self {
        TimerConfig { t1, t2: t1 * 8, t4: t1 * 10 }
    }

    fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// The timers of §17 (A-K) plus RFC 6026's L and M.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    A,
    B,
    D,
    E,
    F,
    G,
    H,
    I,
    J,
    K,
    L,
    M,
}

/// Why a transaction ended without a final response from its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Timer B, F or H fired.
    Timeout,
    /// The transport could not send.
    TransportError,
}

/// What the runtime must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Client: send the request (again). Server: send the last response (again).
    Transmit,
    /// INVITE client: send the ACK for the non-2xx final response just received (§17.1.1.3).
    SendAck,
    /// Arm (or re-arm) a timer.
    Arm(Timer, Duration),
    /// Give the response (client) or request (server) to the transaction user.
    PassUp,
    /// Tell the transaction user the transaction failed.
    Fail(Failure),
    /// Forget the transaction.
    Terminate,
}

/// Status classes the machines distinguish.
fn class(status: u16) -> u16 {
    status / 100
}

// ---------------------------------------------------------------------------------------------
// INVITE client (§17.1.1, RFC 6026 §7.2)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientState {
    Calling { next_a: Duration },
    Proceeding,
    Accepted,
    Completed,
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEvent {
    Response(u16),
    TimerFired(Timer),
    TransportError,
}

#[derive(Debug, Clone)]
pub struct InviteClient {
    pub state: InviteClientState,
    reliable: bool,
    timers: TimerConfig,
}

impl InviteClient {
    /// A new transaction and the actions that send the INVITE.
    pub fn start(timers: TimerConfig, reliable: bool) -> (Self, Vec<Action>) {
        let mut actions = vec![Action::Transmit];
        if !reliable {
            actions.push(Action::Arm(Timer::A, timers.t1));
        }
        actions.push(Action::Arm(Timer::B, timers.t1x64()));
        (InviteClient { state: InviteClientState::Calling { next_a: timers.t1 * 2 }, reliable, timers }, actions)
    }

    pub fn step(&mut self, event: ClientEvent) -> Vec<Action> {
        use Action::*;
        use InviteClientState as S;
        match (self.state, event) {
            (S::Terminated, _) => vec![],
            (_, ClientEvent::TransportError) => {
                self.state = S::Terminated;
                vec![Fail(Failure::TransportError), Terminate]
            }
            (S::Calling { next_a }, ClientEvent::TimerFired(Timer::A)) => {
                self.state = S::Calling { next_a: next_a * 2 };
                vec![Transmit, Arm(Timer::A, next_a)]
            }
            (S::Calling { .. }, ClientEvent::TimerFired(Timer::B)) => {
                self.state = S::Terminated;
                vec![Fail(Failure::Timeout), Terminate]
            }
            (S::Calling { .. } | S::Proceeding, ClientEvent::Response(code)) => match class(code) {
                1 => {
                    self.state = S::Proceeding;
                    vec![PassUp]
                }
                2 => {
                    self.state = S::Accepted;
                    vec![PassUp, Arm(Timer::M, self.timers.t1x64())]
                }
                _ => {
                    self.state = S::Completed;
                    let d = if self.reliable { Duration::ZERO } else { self.timers.t1x64() };
                    vec![SendAck, PassUp, Arm(Timer::D, d)]
                }
            },
            // 2xx retransmissions (or 2xx from other forks) go up so the UA core ACKs them.
            (S::Accepted, ClientEvent::Response(code)) if class(code) == 2 => vec![PassUp],
            (S::Accepted, ClientEvent::TimerFired(Timer::M)) => {
                self.state = S::Terminated;
                vec![Terminate]
            }
            // A retransmitted non-2xx final: ACK it again, do not bother the TU.
            (S::Completed, ClientEvent::Response(code)) if code >= 300 => vec![SendAck],
            (S::Completed, ClientEvent::TimerFired(Timer::D)) => {
                self.state = S::Terminated;
                vec![Terminate]
            }
            _ => vec![],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Non-INVITE client (§17.1.2)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteClientState {
    Trying { next_e: Duration },
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug, Clone)]
pub struct NonInviteClient {
    pub state: NonInviteClientState,
    reliable: bool,
    timers: TimerConfig,
}

impl NonInviteClient {
    pub fn start(timers: TimerConfig, reliable: bool) -> (Self, Vec<Action>) {
        let mut actions = vec![Action::Transmit];
        if !reliable {
            actions.push(Action::Arm(Timer::E, timers.t1));
        }
        actions.push(Action::Arm(Timer::F, timers.t1x64()));
        let next_e = (timers.t1 * 2).min(timers.t2);
        (NonInviteClient { state: NonInviteClientState::Trying { next_e }, reliable, timers }, actions)
    }

    pub fn step(&mut self, event: ClientEvent) -> Vec<Action> {
        use Action::*;
        use NonInviteClientState as S;
        match (self.state, event) {
            (S::Terminated, _) => vec![],
            (_, ClientEvent::TransportError) => {
                self.state = S::Terminated;
                vec![Fail(Failure::TransportError), Terminate]
            }
            (S::Trying { next_e }, ClientEvent::TimerFired(Timer::E)) => {
                self.state = S::Trying { next_e: (next_e * 2).min(self.timers.t2) };
                vec![Transmit, Arm(Timer::E, next_e)]
            }
            (S::Proceeding, ClientEvent::TimerFired(Timer::E)) => vec![Transmit, Arm(Timer::E, self.timers.t2)],
            (S::Trying { .. } | S::Proceeding, ClientEvent::TimerFired(Timer::F)) => {
                self.state = S::Terminated;
                vec![Fail(Failure::Timeout), Terminate]
            }
            (S::Trying { .. } | S::Proceeding, ClientEvent::Response(code)) if class(code) == 1 => {
                self.state = S::Proceeding;
                vec![PassUp]
            }
            (S::Trying { .. } | S::Proceeding, ClientEvent::Response(_)) => {
                self.state = S::Completed;
                let k = if self.reliable { Duration::ZERO } else { self.timers.t4 };
                vec![PassUp, Arm(Timer::K, k)]
            }
            (S::Completed, ClientEvent::TimerFired(Timer::K)) => {
                self.state = S::Terminated;
                vec![Terminate]
            }
            _ => vec![],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// INVITE server (§17.2.1, RFC 6026 §7.1)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    Proceeding,
    Completed { next_g: Duration },
    Confirmed,
    Accepted,
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent {
    /// The request arrived again (a retransmission), or, for INVITE, its ACK.
    Request,
    Ack,
    /// The transaction user sends a response with this status.
    Respond(u16),
    TimerFired(Timer),
    TransportError,
}

#[derive(Debug, Clone)]
pub struct InviteServer {
    pub state: InviteServerState,
    reliable: bool,
    timers: TimerConfig,
}

impl InviteServer {
    /// A new transaction for a received INVITE: the request goes up to the TU.
    pub fn start(timers: TimerConfig, reliable: bool) -> (Self, Vec<Action>) {
        (InviteServer { state: InviteServerState::Proceeding, reliable, timers }, vec![Action::PassUp])
    }

    pub fn step(&mut self, event: ServerEvent) -> Vec<Action> {
        use Action::*;
        use InviteServerState as S;
        match (self.state, event) {
            (S::Terminated, _) => vec![],
            (_, ServerEvent::TransportError) => {
                self.state = S::Terminated;
                vec![Fail(Failure::TransportError), Terminate]
            }
            // A retransmitted INVITE gets the last provisional again.
            (S::Proceeding, ServerEvent::Request) => vec![Transmit],
            (S::Proceeding, ServerEvent::Respond(code)) => match class(code) {
                1 => vec![Transmit],
                2 => {
                    self.state = S::Accepted;
                    vec![Transmit, Arm(Timer::L, self.timers.t1x64())]
                }
                _ => {
                    let mut actions = vec![Transmit];
                    if !self.reliable {
                        actions.push(Arm(Timer::G, self.timers.t1));
                    }
                    actions.push(Arm(Timer::H, self.timers.t1x64()));
                    self.state = S::Completed { next_g: (self.timers.t1 * 2).min(self.timers.t2) };
                    actions
                }
            },
            // The UA core retransmits its 2xx itself (§13.3.1.4) through the transport.
            (S::Accepted, ServerEvent::Respond(code)) if class(code) == 2 => vec![Transmit],
            (S::Accepted, ServerEvent::TimerFired(Timer::L)) => {
                self.state = S::Terminated;
                vec![Terminate]
            }
            (S::Completed { .. }, ServerEvent::Request) => vec![Transmit],
            (S::Completed { next_g }, ServerEvent::TimerFired(Timer::G)) => {
                self.state = S::Completed { next_g: (next_g * 2).min(self.timers.t2) };
                vec![Transmit, Arm(Timer::G, next_g)]
            }
            (S::Completed { .. }, ServerEvent::TimerFired(Timer::H)) => {
                self.state = S::Terminated;
                vec![Fail(Failure::Timeout), Terminate]
            }
            (S::Completed { .. }, ServerEvent::Ack) => {
                self.state = S::Confirmed;
                let i = if self.reliable { Duration::ZERO } else { self.timers.t4 };
                vec![Arm(Timer::I, i)]
            }
            (S::Confirmed, ServerEvent::TimerFired(Timer::I)) => {
                self.state = S::Terminated;
                vec![Terminate]
            }
            _ => vec![],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Non-INVITE server (§17.2.2)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug, Clone)]
pub struct NonInviteServer {
    pub state: NonInviteServerState,
    reliable: bool,
    timers: TimerConfig,
}

impl NonInviteServer {
    pub fn start(timers: TimerConfig, reliable: bool) -> (Self, Vec<Action>) {
        (NonInviteServer { state: NonInviteServerState::Trying, reliable, timers }, vec![Action::PassUp])
    }

    pub fn step(&mut self, event: ServerEvent) -> Vec<Action> {
        use Action::*;
        use NonInviteServerState as S;
        match (self.state, event) {
            (S::Terminated, _) => vec![],
            (_, ServerEvent::TransportError) => {
                self.state = S::Terminated;
                vec![Fail(Failure::TransportError), Terminate]
            }
            (S::Trying, ServerEvent::Request) => vec![],
            (S::Proceeding | S::Completed, ServerEvent::Request) => vec![Transmit],
            (S::Trying | S::Proceeding, ServerEvent::Respond(code)) if class(code) == 1 => {
                self.state = S::Proceeding;
                vec![Transmit]
            }
            (S::Trying | S::Proceeding, ServerEvent::Respond(_)) => {
                self.state = S::Completed;
                let j = if self.reliable { Duration::ZERO } else { self.timers.t1x64() };
                vec![Transmit, Arm(Timer::J, j)]
            }
            (S::Completed, ServerEvent::TimerFired(Timer::J)) => {
                self.state = S::Terminated;
                vec![Terminate]
            }
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn timers() -> TimerConfig {
        TimerConfig::with_t1(ms(100))
    }

    #[test]
    fn invite_client_retransmits_with_doubling_intervals_until_timer_b() {
        let (mut tx, start) = InviteClient::start(timers(), false);
        assert_eq!(start, vec![Transmit, Arm(Timer::A, ms(100)), Arm(Timer::B, ms(6400))]);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::A)), vec![Transmit, Arm(Timer::A, ms(200))]);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::A)), vec![Transmit, Arm(Timer::A, ms(400))]);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::A)), vec![Transmit, Arm(Timer::A, ms(800))]);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::B)), vec![Fail(Failure::Timeout), Terminate]);
        assert_eq!(tx.step(ClientEvent::Response(200)), vec![]);
    }

    #[test]
    fn invite_client_over_tcp_never_retransmits() {
        let (mut tx, start) = InviteClient::start(timers(), true);
        assert_eq!(start, vec![Transmit, Arm(Timer::B, ms(6400))]);
        assert_eq!(tx.step(ClientEvent::Response(486)), vec![SendAck, PassUp, Arm(Timer::D, Duration::ZERO)]);
    }

    #[test]
    fn invite_client_stops_retransmitting_once_a_provisional_arrives() {
        let (mut tx, _) = InviteClient::start(timers(), false);
        assert_eq!(tx.step(ClientEvent::Response(180)), vec![PassUp]);
        assert_eq!(tx.state, InviteClientState::Proceeding);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::A)), vec![]);
        // Timer B does not end a transaction that has had a provisional: the TU cancels.
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::B)), vec![]);
        assert_eq!(tx.step(ClientEvent::Response(183)), vec![PassUp]);
    }

    #[test]
    fn invite_client_acks_a_non_2xx_final_and_every_retransmission_of_it() {
        let (mut tx, _) = InviteClient::start(timers(), false);
        tx.step(ClientEvent::Response(180));
        assert_eq!(tx.step(ClientEvent::Response(603)), vec![SendAck, PassUp, Arm(Timer::D, ms(6400))]);
        assert_eq!(tx.step(ClientEvent::Response(603)), vec![SendAck]);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::D)), vec![Terminate]);
        assert_eq!(tx.state, InviteClientState::Terminated);
    }

    #[test]
    fn invite_client_passes_every_2xx_up_so_the_ua_acks_it() {
        let (mut tx, _) = InviteClient::start(timers(), false);
        assert_eq!(tx.step(ClientEvent::Response(200)), vec![PassUp, Arm(Timer::M, ms(6400))]);
        assert_eq!(tx.step(ClientEvent::Response(200)), vec![PassUp]);
        assert_eq!(tx.step(ClientEvent::Response(486)), vec![]);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::M)), vec![Terminate]);
    }

    #[test]
    fn invite_client_reports_a_transport_error() {
        let (mut tx, _) = InviteClient::start(timers(), true);
        assert_eq!(tx.step(ClientEvent::TransportError), vec![Fail(Failure::TransportError), Terminate]);
    }

    #[test]
    fn non_invite_client_caps_retransmissions_at_t2() {
        let (mut tx, start) = NonInviteClient::start(timers(), false);
        assert_eq!(start, vec![Transmit, Arm(Timer::E, ms(100)), Arm(Timer::F, ms(6400))]);
        let intervals: Vec<_> = (0..6)
            .map(|_| match tx.step(ClientEvent::TimerFired(Timer::E)).as_slice() {
                [Transmit, Arm(Timer::E, d)] => *d,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(intervals, vec![ms(200), ms(400), ms(800), ms(800), ms(800), ms(800)]);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::F)), vec![Fail(Failure::Timeout), Terminate]);
    }

    #[test]
    fn non_invite_client_retransmits_at_t2_while_proceeding_and_waits_t4_when_completed() {
        let (mut tx, _) = NonInviteClient::start(timers(), false);
        assert_eq!(tx.step(ClientEvent::Response(100)), vec![PassUp]);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::E)), vec![Transmit, Arm(Timer::E, ms(800))]);
        assert_eq!(tx.step(ClientEvent::Response(200)), vec![PassUp, Arm(Timer::K, ms(1000))]);
        assert_eq!(tx.step(ClientEvent::Response(200)), vec![]);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::E)), vec![]);
        assert_eq!(tx.step(ClientEvent::TimerFired(Timer::K)), vec![Terminate]);
    }

    #[test]
    fn non_invite_client_over_tcp_completes_at_once() {
        let (mut tx, start) = NonInviteClient::start(timers(), true);
        assert_eq!(start, vec![Transmit, Arm(Timer::F, ms(6400))]);
        assert_eq!(tx.step(ClientEvent::Response(481)), vec![PassUp, Arm(Timer::K, Duration::ZERO)]);
    }

    #[test]
    fn invite_server_retransmits_a_rejection_until_the_ack() {
        let (mut tx, start) = InviteServer::start(timers(), false);
        assert_eq!(start, vec![PassUp]);
        assert_eq!(tx.step(ServerEvent::Respond(180)), vec![Transmit]);
        assert_eq!(tx.step(ServerEvent::Request), vec![Transmit]);
        assert_eq!(tx.step(ServerEvent::Respond(486)), vec![Transmit, Arm(Timer::G, ms(100)), Arm(Timer::H, ms(6400))]);
        assert_eq!(tx.step(ServerEvent::TimerFired(Timer::G)), vec![Transmit, Arm(Timer::G, ms(200))]);
        assert_eq!(tx.step(ServerEvent::Request), vec![Transmit]);
        assert_eq!(tx.step(ServerEvent::Ack), vec![Arm(Timer::I, ms(1000))]);
        assert_eq!(tx.step(ServerEvent::TimerFired(Timer::G)), vec![]);
        assert_eq!(tx.step(ServerEvent::TimerFired(Timer::I)), vec![Terminate]);
    }

    #[test]
    fn invite_server_gives_up_without_an_ack_at_timer_h() {
        let (mut tx, _) = InviteServer::start(timers(), true);
        assert_eq!(tx.step(ServerEvent::Respond(603)), vec![Transmit, Arm(Timer::H, ms(6400))]);
        assert_eq!(tx.step(ServerEvent::TimerFired(Timer::H)), vec![Fail(Failure::Timeout), Terminate]);
    }

    #[test]
    fn invite_server_accepts_a_2xx_and_absorbs_retransmitted_invites() {
        let (mut tx, _) = InviteServer::start(timers(), false);
        assert_eq!(tx.step(ServerEvent::Respond(200)), vec![Transmit, Arm(Timer::L, ms(6400))]);
        assert_eq!(tx.step(ServerEvent::Request), vec![]);
        assert_eq!(tx.step(ServerEvent::TimerFired(Timer::L)), vec![Terminate]);
    }

    #[test]
    fn non_invite_server_answers_retransmissions_with_the_last_response() {
        let (mut tx, start) = NonInviteServer::start(timers(), false);
        assert_eq!(start, vec![PassUp]);
        assert_eq!(tx.step(ServerEvent::Request), vec![]);
        assert_eq!(tx.step(ServerEvent::Respond(200)), vec![Transmit, Arm(Timer::J, ms(6400))]);
        assert_eq!(tx.step(ServerEvent::Request), vec![Transmit]);
        assert_eq!(tx.step(ServerEvent::TimerFired(Timer::J)), vec![Terminate]);
        assert_eq!(tx.step(ServerEvent::Request), vec![]);
    }

    #[test]
    fn default_timers_are_the_rfc_values() {
        let t = TimerConfig::default();
        assert_eq!((t.t1, t.t2, t.t4), (ms(500), ms(4000), ms(5000)));
        assert_eq!(t.t1x64(), Duration::from_secs(32));
    }
}
