//! `participant`, `participantInfo`, `invitationParticipantInfo`, `mediaStream`.

use serde::{Deserialize, Serialize};

use crate::{EndpointType, IdentitySet, MediaDirection, Modality};

/// `invitationParticipantInfo`: one invitee of an invite, or a target of a new call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationParticipantInfo {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub endpoint_type: Option<EndpointType>,
    #[serde(default)]
    pub identity: Option<IdentitySet>,
    #[serde(default)]
    pub replaces_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_from_default_audio_routing_group: Option<bool>,
}

/// `participantInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantInfo {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub identity: Option<IdentitySet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_type: Option<EndpointType>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub language_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
}

/// `mediaStream`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaStream {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    pub media_type: Modality,
    pub source_id: String,
    pub direction: MediaDirection,
    pub server_muted: bool,
    /// Written as `null` when unset, as Graph does (participant-get.md).
    #[serde(default)]
    pub label: Option<String>,
}

/// `removedState`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemovedState {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    pub reason: String,
}

/// `participant`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    pub id: Option<String>,
    pub info: ParticipantInfo,
    #[serde(default)]
    pub media_streams: Vec<MediaStream>,
    /// Read as `false` when absent (the docs' shortened rosters leave them out); always written.
    #[serde(default)]
    pub is_muted: bool,
    #[serde(default)]
    pub is_in_lobby: bool,
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_state: Option<RemovedState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster_sequence_number: Option<i64>,
}

/// A page of a collection, paged the way Graph pages collections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionPage<T> {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}
