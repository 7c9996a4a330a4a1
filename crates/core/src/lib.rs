//! The pure domain of Switchboard.
//!
//! Conversations, calls, participants and operations as closed enums and records; the rules of
//! call creation and of `participants/invite`; the table of `resultInfo` codes; rendering of
//! records into Graph's wire types. Nothing here does IO or reads a clock: the engine passes
//! `now` and the facts a decision needs, and executes the effects it gets back.

pub mod behaviour;
pub mod call_kind;
pub mod directory;
pub mod error;
pub mod faults;
pub mod ids;
pub mod invite;
pub mod meeting;
pub mod party;
pub mod pstn;
pub mod records;
pub mod render;
pub mod results;
pub mod time;

pub use behaviour::{Behaviour, RingOutcome, RingPlan};
pub use directory::{Application, ApplicationInstance, PhoneNumber, Tenant, User};
pub use error::{DomainError, ErrorKind};
pub use ids::*;
pub use meeting::{parse_meeting_request, MeetingRequest};
pub use party::{Party, PartyKind};
pub use records::*;
pub use time::Timestamp;
