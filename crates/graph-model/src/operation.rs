//! `commsOperation` and `inviteParticipantsOperation`.

use serde::{Deserialize, Serialize};

use crate::{InvitationParticipantInfo, ResultInfo};

/// Body of `POST .../participants/invite`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteParticipantsBody {
    #[serde(default)]
    pub participants: Option<Vec<InvitationParticipantInfo>>,
    #[serde(default)]
    pub client_context: Option<String>,
}

/// Body of `POST .../participants/{id}/mute`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MuteParticipantBody {
    #[serde(default)]
    pub client_context: Option<String>,
}

/// An operation as rendered in a response, a GET, or a notification.
///
/// `status` is a string because the docs spell it differently in responses (`Running`) and in
/// notifications (`completed`); see [`crate::OperationStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommsOperation {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub id: String,
    pub status: String,
    pub client_context: Option<String>,
    pub result_info: Option<ResultInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<InvitationParticipantInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action_date_time: Option<String>,
}
