//! The rules of `POST .../participants/invite`.
//!
//! [`parse_invite`] checks what the request alone can tell; the `check_*` functions check it
//! against the facts the engine loads (the call, its conversation, a replaced call, a moved
//! participant). The engine then rings, escalates or moves.

use graph_model::{EndpointType, InviteParticipantsBody};

use crate::{Call, Conversation, ConversationKind, DomainError, Participant, ParticipantState, Party, PartyKind};

/// At most this many invitees in one request.
pub const MAX_INVITEES: usize = 5;
/// `clientContext` is at most this many characters (not bytes).
pub const MAX_CLIENT_CONTEXT_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct InviteTarget {
    pub party: Party,
    pub endpoint_type: Option<EndpointType>,
    /// `hidden`: the participant is kept out of the roster (invitationParticipantInfo).
    pub hidden: Option<bool>,
    /// `removeFromDefaultAudioRoutingGroup`, echoed: Switchboard mixes no audio.
    pub remove_from_default_audio_routing_group: Option<bool>,
}

impl InviteTarget {
    /// Whether the invitee joins kept out of the roster.
    pub fn is_hidden(&self) -> bool {
        self.hidden == Some(true)
    }
}

/// What an invite does, decided by `participants[0]`.
#[derive(Debug, Clone, PartialEq)]
pub enum InviteMode {
    /// Ring each target in parallel.
    Ring(Vec<InviteTarget>),
    /// Escalate a P2P call: the peer of `replaces_call_id` joins without ringing.
    Escalate { target: InviteTarget, replaces_call_id: String },
    /// Move `participant_id` from the meeting of `replaces_call_id` into this call's meeting.
    Move { target: InviteTarget, replaces_call_id: String, participant_id: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct InviteRequest {
    pub mode: InviteMode,
    pub client_context: Option<String>,
}

/// Checks a client context (invite, and every other operation that takes one).
pub fn check_client_context(client_context: &Option<String>) -> Result<(), DomainError> {
    match client_context {
        Some(c) if c.chars().count() > MAX_CLIENT_CONTEXT_CHARS => {
            Err(DomainError::invalid(format!("clientContext is longer than {MAX_CLIENT_CONTEXT_CHARS} characters")))
        }
        _ => Ok(()),
    }
}

/// Parses an invite body into what it asks for, with every rule the body alone decides.
pub fn parse_invite(body: InviteParticipantsBody) -> Result<InviteRequest, DomainError> {
    check_client_context(&body.client_context)?;
    let participants = body.participants.unwrap_or_default();
    let Some(first) = participants.first() else {
        return Err(DomainError::invalid("participants must name at least one invitee"));
    };
    let target = |info: &graph_model::InvitationParticipantInfo, index: usize| {
        let identity = info
            .identity
            .as_ref()
            .ok_or_else(|| DomainError::invalid(format!("participants[{index}].identity is required")))?;
        Ok::<_, DomainError>(InviteTarget {
            party: Party::from_identity_set(identity)
                .map_err(|e| DomainError::invalid(format!("participants[{index}]: {}", e.message)))?,
            endpoint_type: info.endpoint_type,
            hidden: info.hidden,
            remove_from_default_audio_routing_group: info.remove_from_default_audio_routing_group,
        })
    };
    let mode = match (&first.replaces_call_id, &first.participant_id) {
        (Some(replaces), Some(participant)) => InviteMode::Move {
            target: target(first, 0)?,
            replaces_call_id: replaces.clone(),
            participant_id: participant.clone(),
        },
        (None, Some(_)) => return Err(DomainError::invalid("participantId requires replacesCallId (the source call)")),
        (Some(replaces), None) => {
            InviteMode::Escalate { target: target(first, 0)?, replaces_call_id: replaces.clone() }
        }
        (None, None) => {
            if participants.len() > MAX_INVITEES {
                return Err(DomainError::invalid(format!(
                    "at most {MAX_INVITEES} participants can be invited in one request"
                )));
            }
            let targets = participants.iter().enumerate().map(|(i, p)| target(p, i)).collect::<Result<Vec<_>, _>>()?;
            for (i, t) in targets.iter().enumerate() {
                if targets[..i].iter().any(|earlier| earlier.party.same_identity(&t.party)) {
                    return Err(DomainError::invalid(format!(
                        "participants[{i}] repeats an identity invited earlier in the request"
                    )));
                }
            }
            InviteMode::Ring(targets)
        }
    };
    Ok(InviteRequest { mode, client_context: body.client_context })
}

/// The invoking call must be established.
pub fn check_call_accepts_invites(call: &Call) -> Result<(), DomainError> {
    match call.state {
        graph_model::CallState::Established => Ok(()),
        state => Err(DomainError::conflict(format!("the call is {state}; invites need an established call"))),
    }
}

/// Rules of a ringing invite against the call's conversation.
pub fn check_ring(conversation: &Conversation, targets: &[InviteTarget]) -> Result<(), DomainError> {
    if targets.len() > 1 {
        match conversation.kind {
            ConversationKind::PeerToPeer => {
                return Err(DomainError::invalid("inviting several participants is only supported for group calls"))
            }
            ConversationKind::AdHocGroup => {
                return Err(DomainError::invalid(
                    "inviting several participants needs a group call with a valid chatInfo",
                ))
            }
            ConversationKind::ChatGroup | ConversationKind::Meeting => {}
        }
    }
    // "You aren't allowed to invite another bot": an application instance (a resource account)
    // is a bot too.
    let bot = |t: &&InviteTarget| matches!(t.party.kind, PartyKind::Application | PartyKind::ApplicationInstance);
    if let Some(bot) = targets.iter().find(bot) {
        let kind = if bot.party.kind == PartyKind::Application { "application" } else { "application instance" };
        return Err(DomainError::invalid(format!(
            "{kind} {} cannot be invited into a group call or meeting",
            bot.party.id
        )));
    }
    Ok(())
}

/// Rules of an escalation: `replaced` is the application's call named by `replacesCallId`
/// (`None` when unknown or foreign: both answer the same).
pub fn check_escalation(
    call: &Call,
    target: &Party,
    replaced: Option<(&Call, &Conversation)>,
) -> Result<(), DomainError> {
    let Some((replaced, conversation)) = replaced.filter(|(r, _)| r.id != call.id) else {
        return Err(DomainError::invalid("replacesCallId does not name another call of this application"));
    };
    if replaced.state != graph_model::CallState::Established || conversation.kind != ConversationKind::PeerToPeer {
        return Err(DomainError::invalid("replacesCallId must name an established peer-to-peer call"));
    }
    match &replaced.peer {
        Some(peer) if peer.same_identity(target) => Ok(()),
        _ => Err(DomainError::invalid("the invitee is not the other party of the replaced call")),
    }
}

/// The facts a move is checked against.
pub struct MoveFacts<'a> {
    pub call: &'a Call,
    pub conversation: &'a Conversation,
    /// Creator of the target call's meeting.
    pub meeting_creator: Option<&'a crate::AppId>,
    /// The source call, its conversation and the creator of its meeting.
    pub source: Option<(&'a Call, &'a Conversation, Option<&'a crate::AppId>)>,
    /// The participant named by `participantId` (any state), if it exists in the source.
    pub participant: Option<&'a Participant>,
}

/// Rules of moving a participant between two meetings of the same application.
pub fn check_move(facts: &MoveFacts<'_>, target: &Party) -> Result<(), DomainError> {
    let Some((source, source_conversation, source_creator)) = facts.source.filter(|(s, _, _)| s.id != facts.call.id)
    else {
        return Err(DomainError::invalid("replacesCallId does not name another call of this application"));
    };
    let app = &facts.call.app_id;
    let created_by_app = |kind: ConversationKind, creator: Option<&crate::AppId>| {
        kind == ConversationKind::Meeting && creator == Some(app)
    };
    if !created_by_app(facts.conversation.kind, facts.meeting_creator)
        || !created_by_app(source_conversation.kind, source_creator)
    {
        return Err(DomainError::forbidden(
            "participants can only be moved between meetings created by this application",
        ));
    }
    if source.state != graph_model::CallState::Established {
        return Err(DomainError::invalid("replacesCallId must name an established call"));
    }
    let participant = facts
        .participant
        .filter(|p| p.conversation_id == source.conversation_id && p.state == ParticipantState::Connected)
        .ok_or_else(|| DomainError::invalid("participantId does not name a participant of the source call"))?;
    if !participant.party.same_identity(target) {
        return Err(DomainError::invalid("the identity does not match the participant to move"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<InviteRequest, DomainError> {
        parse_invite(serde_json::from_value(v).unwrap())
    }

    fn user(id: &str) -> serde_json::Value {
        json!({"identity": {"user": {"id": id}}})
    }

    #[test]
    fn first_participant_decides_the_mode() {
        let req = parse(json!({"participants": [
            {"replacesCallId": "c1", "identity": {"user": {"id": "u1"}}}, user("u2")
        ]}))
        .unwrap();
        assert!(matches!(req.mode, InviteMode::Escalate { ref replaces_call_id, .. } if replaces_call_id == "c1"));
        let req = parse(json!({"participants": [
            {"replacesCallId": "c1", "participantId": "p1", "identity": {"user": {"id": "u1"}}}
        ]}))
        .unwrap();
        assert!(matches!(req.mode, InviteMode::Move { .. }));
    }

    #[test]
    fn body_rules_are_enforced() {
        assert!(parse(json!({})).is_err());
        assert!(parse(json!({"participants": []})).is_err());
        assert!(
            parse(json!({"participants": [user("a"), user("b"), user("c"), user("d"), user("e"), user("f")]})).is_err()
        );
        assert!(parse(json!({"participants": [user("a"), user("A")]})).is_err());
        assert!(parse(json!({"participants": [{"participantId": "p"}]})).is_err());
        assert!(parse(json!({"participants": [{"identity": {"phone": {"id": "12345"}}}]})).is_err());
        let ok_256 = "é".repeat(256);
        assert!(parse(json!({"participants": [user("a")], "clientContext": ok_256})).is_ok());
        let too_long = "é".repeat(257);
        assert!(parse(json!({"participants": [user("a")], "clientContext": too_long})).is_err());
    }
}
