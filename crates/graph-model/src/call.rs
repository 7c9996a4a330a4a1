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

/// The Graph version a resource is rendered for. The calls API is the same on both, but some
/// `call` properties exist only in beta's metadata ([`Call::BETA_ONLY`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GraphVersion {
    #[default]
    #[serde(rename = "beta")]
    Beta,
    #[serde(rename = "v1.0")]
    V1,
}

impl GraphVersion {
    /// From the version segment of a path (`beta`, `v1.0`).
    pub fn from_segment(segment: &str) -> Option<GraphVersion> {
        match segment {
            "beta" => Some(GraphVersion::Beta),
            "v1.0" => Some(GraphVersion::V1),
            _ => None,
        }
    }
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
    /// Beta only: a call rendered for v1.0 leaves it out.
    #[schema(required = false)]
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
    /// Beta only: a call rendered for v1.0 leaves it out.
    #[schema(required = false)]
    pub routing_policies: Vec<String>,
    pub call_routes: Vec<serde_json::Value>,
    pub incoming_context: Option<serde_json::Value>,
    pub termination_reason: Option<String>,
    pub media_state: Option<serde_json::Value>,
    pub answered_by: Option<serde_json::Value>,
    pub meeting_capability: Option<serde_json::Value>,
    pub tone_info: Option<serde_json::Value>,
}

impl Call {
    /// The properties of `microsoft.graph.call` in Graph's beta metadata (`CloudCommunications`
    /// OpenAPI description, 2024-09-25), structural ones: what `$select` may name. Switchboard
    /// writes all of them but `transcription` (a test holds this list to what [`Call`]
    /// serialises, so a property added to the struct cannot be left unselectable).
    pub const PROPERTIES: &'static [&'static str] = &[
        "id",
        "activeModalities",
        "answeredBy",
        "callbackUri",
        "callChainId",
        "callOptions",
        "callRoutes",
        "chatInfo",
        "direction",
        "incomingContext",
        "mediaConfig",
        "mediaState",
        "meetingCapability",
        "meetingInfo",
        "myParticipantId",
        "requestedModalities",
        "resultInfo",
        "ringingTimeoutInSeconds",
        "routingPolicies",
        "source",
        "state",
        "subject",
        "targets",
        "tenantId",
        "terminationReason",
        "toneInfo",
        "transcription",
    ];

    /// The navigation properties of `microsoft.graph.call` (same metadata): `$select` may name
    /// them, and without `$expand` they add nothing to the body.
    pub const NAVIGATION_PROPERTIES: &'static [&'static str] =
        &["audioRoutingGroups", "contentSharingSessions", "operations", "participants"];

    /// Whether `name` (as Graph spells it) is a structural property of `call` in `version`.
    pub fn has_property(version: GraphVersion, name: &str) -> bool {
        Call::PROPERTIES.contains(&name) && !(version == GraphVersion::V1 && Call::BETA_ONLY.contains(&name))
    }

    /// Properties of `call` in beta's metadata that v1.0's has not: v1.0 clients (the v1.0
    /// SDKs) would find them in `additionalData`, so a call rendered for v1.0 leaves them out.
    pub const BETA_ONLY: &'static [&'static str] = &[
        "activeModalities",
        "answeredBy",
        "meetingCapability",
        "ringingTimeoutInSeconds",
        "routingPolicies",
        "terminationReason",
    ];

    /// The call as JSON for `version`: everything for beta, without [`Call::BETA_ONLY`] for v1.0.
    pub fn to_json(&self, version: GraphVersion) -> serde_json::Value {
        // Serialising our own wire struct cannot fail: it holds only strings, numbers and maps.
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let (GraphVersion::V1, Some(object)) = (version, value.as_object_mut()) {
            for key in Call::BETA_ONLY {
                object.remove(*key);
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        serde_json::from_value(serde_json::json!({
            "@odata.type": "#microsoft.graph.call", "id": "c", "state": "established", "direction": "outgoing",
            "callbackUri": "https://bot/cb", "callChainId": "cc", "source": null, "targets": [],
            "requestedModalities": ["audio"], "activeModalities": ["audio"], "mediaConfig": null, "chatInfo": null,
            "meetingInfo": null, "callOptions": null, "subject": null, "tenantId": "t", "myParticipantId": "p",
            "resultInfo": null, "ringingTimeoutInSeconds": 30, "routingPolicies": [], "callRoutes": [],
            "incomingContext": null, "terminationReason": null, "mediaState": null, "answeredBy": null,
            "meetingCapability": null, "toneInfo": null
        }))
        .unwrap()
    }

    #[test]
    fn a_call_for_v1_leaves_out_exactly_the_beta_only_properties() {
        let beta = call().to_json(GraphVersion::Beta);
        let v1 = call().to_json(GraphVersion::V1);
        for key in Call::BETA_ONLY {
            assert!(beta.get(*key).is_some(), "beta keeps {key}");
            assert!(v1.get(*key).is_none(), "v1.0 drops {key}");
        }
        let (beta, v1) = (beta.as_object().unwrap(), v1.as_object().unwrap());
        assert_eq!(beta.len() - v1.len(), Call::BETA_ONLY.len());
        assert_eq!(v1["requestedModalities"], serde_json::json!(["audio"]));
    }

    #[test]
    fn every_property_a_call_writes_is_one_select_may_name() {
        for version in [GraphVersion::Beta, GraphVersion::V1] {
            let json = call().to_json(version);
            for key in json.as_object().unwrap().keys().filter(|k| !k.starts_with("@odata.")) {
                assert!(Call::has_property(version, key), "{key} is written on {version:?} but not selectable");
            }
        }
        for key in Call::BETA_ONLY {
            assert!(Call::PROPERTIES.contains(key), "{key} is a property of beta's call");
            assert!(Call::has_property(GraphVersion::Beta, key) && !Call::has_property(GraphVersion::V1, key));
        }
        assert!(Call::NAVIGATION_PROPERTIES.iter().all(|n| !Call::PROPERTIES.contains(n)));
    }

    #[test]
    fn the_schema_of_a_call_requires_no_beta_only_property() {
        // A v1.0 call leaves them out, and the OpenAPI description documents both versions'
        // calls with this one schema.
        use utoipa::openapi::{schema::Schema, RefOr};
        let RefOr::T(Schema::Object(schema)) = <Call as utoipa::PartialSchema>::schema() else {
            panic!("a call is an object")
        };
        for key in Call::BETA_ONLY {
            assert!(schema.properties.contains_key(*key), "{key} is documented");
            assert!(!schema.required.iter().any(|r| r == key), "{key} is required");
        }
        assert!(schema.required.iter().any(|r| r == "requestedModalities"), "v1.0 writes requestedModalities");
    }

    #[test]
    fn versions_read_from_path_segments() {
        assert_eq!(GraphVersion::from_segment("beta"), Some(GraphVersion::Beta));
        assert_eq!(GraphVersion::from_segment("v1.0"), Some(GraphVersion::V1));
        assert_eq!(GraphVersion::from_segment("v2"), None);
    }
}
