//! Records rendered into Graph's wire types: responses, GETs and notification bodies share
//! these functions, so a resource looks the same wherever it appears.

use graph_model::{
    odata, ChangeType, CommsNotification, CommsNotifications, CommsOperation, EndpointType, InvitationParticipantInfo,
    MediaDirection, MediaStream, Modality, ParticipantInfo, RemovedState,
};

use crate::{Call, Conversation, Operation, Participant, ParticipantState};

/// `/communications/calls/{id}` and its legacy `/app/calls/{id}` twin.
pub fn call_paths(call_id: &crate::CallId, suffix: &str) -> (String, String) {
    (format!("/communications/calls/{call_id}{suffix}"), format!("/app/calls/{call_id}{suffix}"))
}

pub fn call(call: &Call, conversation: &Conversation) -> graph_model::Call {
    graph_model::Call {
        odata_context: None,
        odata_type: odata::CALL.to_owned(),
        id: call.id.0.clone(),
        state: call.state,
        direction: call.direction,
        callback_uri: call.callback_uri.clone(),
        call_chain_id: conversation.id.0.clone(),
        source: call.source.clone(),
        targets: call.targets.clone(),
        requested_modalities: call.requested_modalities.clone(),
        active_modalities: if call.state == graph_model::CallState::Established {
            call.requested_modalities.clone()
        } else {
            Vec::new()
        },
        media_config: call.media_config.clone(),
        chat_info: call.chat_info.clone(),
        meeting_info: call.meeting_info.clone(),
        call_options: call.call_options.clone(),
        subject: call.subject.clone(),
        tenant_id: call.tenant_id.0.clone(),
        my_participant_id: call.my_participant_id.0.clone(),
        result_info: call.result_info.clone(),
        ringing_timeout_in_seconds: call.ringing_timeout_in_seconds,
        routing_policies: Vec::new(),
        call_routes: Vec::new(),
        incoming_context: call.incoming_context.clone(),
        termination_reason: None,
        media_state: None,
        answered_by: None,
        meeting_capability: None,
        tone_info: None,
    }
}

pub fn participant(p: &Participant) -> graph_model::Participant {
    graph_model::Participant {
        odata_type: Some(odata::PARTICIPANT.to_owned()),
        id: Some(p.id.0.clone()),
        info: ParticipantInfo {
            odata_type: Some(odata::PARTICIPANT_INFO.to_owned()),
            identity: Some(p.party.to_identity_set()),
            endpoint_type: Some(EndpointType::Default),
            region: None,
            language_id: None,
            country_code: None,
            participant_id: Some(p.id.0.clone()),
        },
        media_streams: vec![MediaStream {
            odata_type: Some(odata::MEDIA_STREAM.to_owned()),
            media_type: Modality::Audio,
            source_id: source_id(p),
            direction: MediaDirection::SendReceive,
            server_muted: p.is_muted,
            label: Some("main-audio".to_owned()),
        }],
        is_muted: p.is_muted,
        is_in_lobby: false,
        metadata: None,
        removed_state: (p.state == ParticipantState::Removed).then(|| RemovedState {
            odata_type: None,
            reason: p.removed_reason.clone().unwrap_or_else(|| "left".to_owned()),
        }),
        roster_sequence_number: Some(p.roster_sequence),
    }
}

/// A stable media source id per participant (Graph numbers them; we derive one from the id).
fn source_id(p: &Participant) -> String {
    let hash = p.id.0.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    (hash % 1_000_000 + 1).to_string()
}

/// An operation; `for_notification` selects the docs' lower-case status spelling.
pub fn operation(op: &Operation, for_notification: bool) -> CommsOperation {
    let participants = op
        .invitees
        .iter()
        .map(|i| InvitationParticipantInfo {
            odata_type: Some(odata::INVITATION_PARTICIPANT_INFO.to_owned()),
            endpoint_type: i.endpoint_type,
            identity: Some(i.party.to_identity_set()),
            replaces_call_id: i.replaces_call_id.clone(),
            // A move echoes the participant it names, as the docs' example does (the new id
            // shows in the target's roster); otherwise the id minted for the invitee, whatever
            // its outcome: a bot matches a failure (or the cancel it caused by deleting the
            // ringing participant) to the id the invite answered with.
            participant_id: match &i.source_participant_id {
                Some(moved) => Some(moved.clone()),
                None => Some(i.participant_id.0.clone()),
            },
            hidden: i.hidden,
            remove_from_default_audio_routing_group: i.remove_from_default_audio_routing_group,
        })
        .collect();
    let (odata_type, participants) = match op.kind {
        crate::OperationKind::Invite => (odata::INVITE_PARTICIPANTS_OPERATION, Some(participants)),
        crate::OperationKind::MuteParticipant => (odata::MUTE_PARTICIPANT_OPERATION, None),
    };
    CommsOperation {
        odata_type: odata_type.to_owned(),
        id: op.id.0.clone(),
        status: if for_notification { op.status.notification_str() } else { op.status.as_str() }.to_owned(),
        client_context: op.client_context.clone(),
        result_info: op.result_info.clone(),
        participants,
        // Not written: Graph's published metadata (and so every SDK's commsOperation) has no
        // createdDateTime or lastActionDateTime; only an old version of the resource page
        // lists them. Written, they would land in the SDKs' additional_data.
        created_date_time: None,
        last_action_date_time: None,
    }
}

fn envelope<D>(
    change_type: ChangeType,
    call_id: &crate::CallId,
    suffix: &str,
    resource_data: D,
) -> CommsNotifications<D> {
    let (resource_url, resource) = call_paths(call_id, suffix);
    CommsNotifications::single(CommsNotification {
        odata_type: odata::COMMS_NOTIFICATION.to_owned(),
        change_type,
        resource,
        resource_url,
        callback_uri: None,
        resource_data,
    })
}

/// A call-state notification: `updated` while live, `deleted` once terminated.
pub fn call_notification(c: &Call, conversation: &Conversation) -> CommsNotifications {
    let change = if c.state == graph_model::CallState::Terminated { ChangeType::Deleted } else { ChangeType::Updated };
    envelope(change, &c.id, "", call(c, conversation).to_json(c.api_version))
}

/// The `created` notification of an incoming call, posted to the called application's calling
/// webhook: the call in state `incoming`.
pub fn incoming_call_notification(c: &Call, conversation: &Conversation) -> CommsNotifications {
    envelope(ChangeType::Created, &c.id, "", call(c, conversation).to_json(c.api_version))
}

/// The `deleted` notification of a finished operation.
pub fn operation_notification(op: &Operation) -> CommsNotifications<CommsOperation> {
    let suffix = format!("/operations/{}", op.id);
    envelope(ChangeType::Deleted, &op.call_id, &suffix, operation(op, true))
}

/// A roster notification: `updated` on `.../participants` with the given participants.
pub fn roster_notification(
    call_id: &crate::CallId,
    participants: &[Participant],
) -> CommsNotifications<Vec<graph_model::Participant>> {
    let data: Vec<graph_model::Participant> = participants.iter().map(participant).collect();
    envelope(ChangeType::Updated, call_id, "/participants", data)
}
