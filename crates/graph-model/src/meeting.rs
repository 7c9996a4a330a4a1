//! `onlineMeeting`.

use serde::{Deserialize, Serialize};

use crate::ChatInfo;

/// Body of `POST /communications/onlineMeetings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateOnlineMeetingBody {
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub participants: Option<serde_json::Value>,
    /// The chat thread of the meeting; a channel meeting names its channel's thread here
    /// (create-onlineMeeting, Example 3).
    #[serde(default)]
    pub chat_info: Option<ChatInfo>,
}

/// An `onlineMeeting` as Graph renders it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnlineMeeting {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub id: String,
    pub creation_date_time: String,
    pub start_date_time: Option<String>,
    pub end_date_time: Option<String>,
    pub subject: Option<String>,
    pub join_web_url: String,
    pub join_url: String,
    pub chat_info: ChatInfo,
    pub join_meeting_id_settings: JoinMeetingIdSettings,
    pub participants: serde_json::Value,
    pub auto_admitted_users: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinMeetingIdSettings {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    pub join_meeting_id: String,
    pub passcode: Option<String>,
    pub is_passcode_required: bool,
}
