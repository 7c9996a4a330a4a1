//! Wire types of the Microsoft Graph cloud-communications resources Switchboard speaks.
//!
//! Serde structs and enums only: no IO, no domain rules. Input types are lenient where real
//! clients are (unknown properties ignored, enums read case-insensitively); output types write
//! Graph's exact property names, `@odata.type` discriminators and enum spellings.

pub mod call;
pub mod enums;
pub mod error;
pub mod identity;
pub mod meeting;
pub mod notification;
pub mod operation;
pub mod participant;

pub use call::*;
pub use enums::*;
pub use error::*;
pub use identity::*;
pub use meeting::*;
pub use notification::*;
pub use operation::*;
pub use participant::*;

/// `@odata.type` values written by Switchboard.
pub mod odata {
    pub const CALL: &str = "#microsoft.graph.call";
    pub const PARTICIPANT: &str = "#microsoft.graph.participant";
    pub const PARTICIPANT_INFO: &str = "#microsoft.graph.participantInfo";
    pub const INVITATION_PARTICIPANT_INFO: &str = "#microsoft.graph.invitationParticipantInfo";
    pub const IDENTITY_SET: &str = "#microsoft.graph.identitySet";
    pub const COMMS_IDENTITY_SET: &str = "#microsoft.graph.communicationsIdentitySet";
    pub const IDENTITY: &str = "#microsoft.graph.identity";
    pub const INVITE_PARTICIPANTS_OPERATION: &str = "#microsoft.graph.inviteParticipantsOperation";
    pub const MUTE_PARTICIPANT_OPERATION: &str = "#microsoft.graph.muteParticipantOperation";
    pub const COMMS_OPERATION: &str = "#microsoft.graph.commsOperation";
    pub const COMMS_NOTIFICATIONS: &str = "#microsoft.graph.commsNotifications";
    pub const COMMS_NOTIFICATION: &str = "#microsoft.graph.commsNotification";
    pub const MEDIA_STREAM: &str = "#microsoft.graph.mediaStream";
    pub const RESULT_INFO: &str = "#microsoft.graph.resultInfo";
    pub const CHAT_INFO: &str = "#microsoft.graph.chatInfo";
    pub const ONLINE_MEETING: &str = "#microsoft.graph.onlineMeeting";
}
