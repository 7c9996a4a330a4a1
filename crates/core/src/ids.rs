//! Identifier newtypes. Ids Switchboard mints are UUIDv7 strings (minted by the engine); ids
//! that come from outside (application client ids, user ids) are kept as given.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str { &self.0 }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self { $name(s.to_owned()) }
        }
    )+};
}

id_type!(
    /// A call: one application's leg in a conversation.
    CallId,
    /// The shared room (P2P call, group call or meeting instance); exposed as `callChainId`.
    ConversationId,
    /// A participant of a conversation.
    ParticipantId,
    /// An asynchronous operation on a call.
    OperationId,
    /// An application's client id.
    AppId,
    /// A tenant id.
    TenantId,
    /// An online meeting id.
    MeetingId,
);
