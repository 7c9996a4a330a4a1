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

impl Participant {
    /// The properties of `microsoft.graph.participant` in Graph's beta metadata
    /// (`CloudCommunications` OpenAPI description, 2024-09-25): what `$select` may name. It has
    /// no navigation properties. Switchboard does not write `isIdentityAnonymized`,
    /// `preferredDisplayName`, `recordingInfo` and `restrictedExperience` (a test holds this list
    /// to what [`Participant`] serialises).
    pub const PROPERTIES: &'static [&'static str] = &[
        "id",
        "info",
        "isIdentityAnonymized",
        "isInLobby",
        "isMuted",
        "mediaStreams",
        "metadata",
        "preferredDisplayName",
        "recordingInfo",
        "removedState",
        "restrictedExperience",
        "rosterSequenceNumber",
    ];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_a_participant_writes_is_one_select_may_name() {
        // Every optional member set, so that none is skipped.
        let participant = Participant {
            odata_type: Some(crate::odata::PARTICIPANT.to_owned()),
            id: Some("p".to_owned()),
            info: ParticipantInfo::default(),
            media_streams: Vec::new(),
            is_muted: false,
            is_in_lobby: false,
            metadata: Some("m".to_owned()),
            removed_state: Some(RemovedState { odata_type: None, reason: "left".to_owned() }),
            roster_sequence_number: Some(1),
        };
        let json = serde_json::to_value(&participant).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().filter(|k| !k.starts_with("@odata.")).collect();
        assert_eq!(keys.len(), 8, "{keys:?}");
        for key in keys {
            assert!(Participant::PROPERTIES.contains(&key.as_str()), "{key} is written but not selectable");
        }
    }
}
