//! `call` and the bodies of the call actions.

use serde::{Deserialize, Serialize};

use crate::{CallDirection, CallState, InvitationParticipantInfo, Modality, ParticipantInfo, RejectReason, ResultInfo};

/// `chatInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatInfo {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub thread_id: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub reply_chain_message_id: Option<String>,
}

/// `meetingInfo` and its subtypes (`organizerMeetingInfo`, `tokenMeetingInfo`,
/// `joinMeetingIdMeetingInfo`), told apart by `@odata.type` and by which members are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingInfo {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer: Option<crate::IdentitySet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_conversation_without_host: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_meeting_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode: Option<String>,
}

/// `outgoingCallOptions` / `incomingCallOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallOptions {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_bot_after_escalation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_content_sharing_notification_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_delta_roster_enabled: Option<bool>,
}

/// Body of `POST /communications/calls`: a `call` with the writable properties.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCallBody {
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub callback_uri: Option<String>,
    #[serde(default)]
    pub source: Option<ParticipantInfo>,
    #[serde(default)]
    pub targets: Option<Vec<InvitationParticipantInfo>>,
    #[serde(default)]
    pub requested_modalities: Option<Vec<Modality>>,
    #[serde(default)]
    pub media_config: Option<serde_json::Value>,
    #[serde(default)]
    pub chat_info: Option<ChatInfo>,
    #[serde(default)]
    pub meeting_info: Option<MeetingInfo>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub direction: Option<CallDirection>,
    #[serde(default)]
    pub call_options: Option<CallOptions>,
    #[serde(default)]
    pub ringing_timeout_in_seconds: Option<i64>,
    #[serde(default)]
    pub routing_policies: Option<Vec<String>>,
}

/// Body of `POST .../answer`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnswerBody {
    #[serde(default)]
    pub callback_uri: Option<String>,
    #[serde(default)]
    pub accepted_modalities: Option<Vec<Modality>>,
    #[serde(default)]
    pub media_config: Option<serde_json::Value>,
    #[serde(default)]
    pub call_options: Option<CallOptions>,
    #[serde(default)]
    pub participant_capacity: Option<i32>,
}

/// Body of `POST .../reject`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectBody {
    #[serde(default)]
    pub reason: Option<RejectReason>,
    #[serde(default)]
    pub callback_uri: Option<String>,
}

/// A `call` as Graph renders it. Unset properties are written as `null`, as Graph does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub id: String,
    pub state: CallState,
    pub direction: CallDirection,
    pub callback_uri: String,
    pub call_chain_id: String,
    pub source: Option<ParticipantInfo>,
    pub targets: Vec<InvitationParticipantInfo>,
    pub requested_modalities: Vec<Modality>,
    pub active_modalities: Vec<Modality>,
    pub media_config: Option<serde_json::Value>,
    pub chat_info: Option<ChatInfo>,
    pub meeting_info: Option<MeetingInfo>,
    pub call_options: Option<CallOptions>,
    pub subject: Option<String>,
    pub tenant_id: String,
    pub my_participant_id: String,
    pub result_info: Option<ResultInfo>,
    pub ringing_timeout_in_seconds: Option<i64>,
    pub routing_policies: Vec<String>,
    pub call_routes: Vec<serde_json::Value>,
    pub incoming_context: Option<serde_json::Value>,
    pub termination_reason: Option<String>,
    pub media_state: Option<serde_json::Value>,
    pub answered_by: Option<serde_json::Value>,
    pub meeting_capability: Option<serde_json::Value>,
    pub tone_info: Option<serde_json::Value>,
}
