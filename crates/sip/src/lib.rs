//! SIP trunk legs for Switchboard: phones reached through a carrier's SIP trunk.
//!
//! Layers, bottom up: `message` (rsip parsing and printing, header helpers), `transaction`
//! (the pure RFC 3261 §17 state machines), `endpoint` (UDP/TCP transports and the transaction
//! tasks), `digest` (401/407 challenges), `sdp` (the audio offer) and `ua` (dial-out, CANCEL,
//! BYE, inbound INVITEs, dialog state). Nothing here knows the engine except `driver`, the
//! glue that turns leg commands into SIP and SIP outcomes into engine calls.

pub mod digest;
pub mod driver;
pub mod endpoint;
pub mod message;
pub mod sdp;
pub mod transaction;
pub mod ua;

pub use endpoint::{Endpoint, TransportKind};
pub use transaction::TimerConfig;
pub use ua::{
    CallFailure, CallProgress, DialRequest, DialogState, InboundInvite, OutgoingCall, SipConfig, SipUa, UaEvent,
};
