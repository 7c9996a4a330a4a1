//! The aggregates Switchboard persists, and their pure transitions.

use graph_model::{
    CallDirection, CallOptions, CallState, ChatInfo, InvitationParticipantInfo, MeetingInfo, Modality, OperationStatus,
    ParticipantInfo, ResultInfo,
};
use serde::{Deserialize, Serialize};

use crate::results::RingFailure;
use crate::{AppId, CallId, ConversationId, MeetingId, OperationId, ParticipantId, Party, TenantId, Timestamp};

/// What kind of room a conversation is. A P2P conversation becomes a group call, for good,
/// when a participant is invited into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConversationKind {
    PeerToPeer,
    /// Created with several targets and no chatInfo: `chatInfo: null`, no multi-invites.
    AdHocGroup,
    /// A group call bound to a chat thread.
    ChatGroup,
    Meeting,
}

impl ConversationKind {
    /// Group calls and meetings send roster notifications; P2P calls only call states.
    pub fn has_roster_notifications(self) -> bool {
        !matches!(self, ConversationKind::PeerToPeer)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: ConversationId,
    pub tenant_id: TenantId,
    pub kind: ConversationKind,
    pub chat_thread_id: Option<String>,
    pub meeting_id: Option<MeetingId>,
    pub ended: bool,
    /// When it ended (domain time); its records are kept for the retention period after that.
    /// Absent in bodies written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Last `rosterSequenceNumber` handed out in this conversation.
    pub roster_sequence: i64,
    pub created_at: Timestamp,
}

impl Conversation {
    pub fn next_roster_sequence(&mut self) -> i64 {
        self.roster_sequence += 1;
        self.roster_sequence
    }
}

/// One application's leg in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub id: CallId,
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub state: CallState,
    pub direction: CallDirection,
    pub callback_uri: String,
    pub my_participant_id: ParticipantId,
    pub source: Option<ParticipantInfo>,
    pub targets: Vec<InvitationParticipantInfo>,
    pub requested_modalities: Vec<Modality>,
    pub media_config: Option<serde_json::Value>,
    pub chat_info: Option<ChatInfo>,
    pub meeting_info: Option<MeetingInfo>,
    pub call_options: Option<CallOptions>,
    pub subject: Option<String>,
    pub ringing_timeout_in_seconds: Option<i64>,
    pub result_info: Option<ResultInfo>,
    /// For a P2P call: the other party.
    pub peer: Option<Party>,
    /// Whether this call has had its first (full) roster notification.
    #[serde(default)]
    pub roster_started: bool,
    /// The call ends (408/8537) unless a keepAlive comes before this time.
    #[serde(default)]
    pub keep_alive_due: Option<Timestamp>,
    /// For an incoming call: its `incomingContext` (who triggered it).
    #[serde(default)]
    pub incoming_context: Option<serde_json::Value>,
    pub created_at: Timestamp,
    /// The Graph version the call was created on: its notifications show the call as that
    /// version's metadata has it (calls stored before this field are beta).
    #[serde(default)]
    pub api_version: graph_model::GraphVersion,
}

/// Default ring timeout of invites and P2P calls.
pub const DEFAULT_RING_TIMEOUT_SECS: i64 = 60;
/// A call without a keepAlive for this long ends (call-keepalive: "within 45 minutes").
pub const KEEP_ALIVE_TIMEOUT_SECS: i64 = 45 * 60;

impl Call {
    pub fn ring_timeout_secs(&self) -> i64 {
        self.ringing_timeout_in_seconds.unwrap_or(DEFAULT_RING_TIMEOUT_SECS)
    }

    pub fn delta_roster(&self) -> bool {
        self.call_options.as_ref().and_then(|o| o.is_delta_roster_enabled).unwrap_or(false)
    }

    pub fn is_live(&self) -> bool {
        !matches!(self.state, CallState::Terminating | CallState::Terminated)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ParticipantState {
    Ringing,
    Connected,
    Removed,
}

/// How a participant is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointKind {
    /// An application's own leg (a [`Call`]).
    Application,
    /// A simulated user or phone number driven by directory behaviour.
    Simulated,
    /// A live agent: a directory user's client connected over the agent WebSocket.
    Agent,
    /// A phone number reached through a SIP trunk.
    Sip,
}

impl EndpointKind {
    /// Whether legs of this kind are driven by a node's leg driver (they have an owning node
    /// and receive leg commands), rather than by timers and the directory.
    pub fn is_live(self) -> bool {
        matches!(self, EndpointKind::Agent | EndpointKind::Sip)
    }
}

/// Who asked for a participant to be rung, so its outcome can be reported there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "by")]
pub enum InvitedBy {
    /// The target of a newly created call.
    CallCreation { call_id: CallId },
    /// An invitee of an invite operation; `index` is its place in the request.
    Invite { call_id: CallId, operation_id: OperationId, index: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub id: ParticipantId,
    pub conversation_id: ConversationId,
    pub party: Party,
    pub state: ParticipantState,
    pub endpoint: EndpointKind,
    /// For an application leg: its call.
    pub call_id: Option<CallId>,
    pub invited_by: Option<InvitedBy>,
    pub is_muted: bool,
    /// Set when the participant last changed in the roster.
    pub roster_sequence: i64,
    pub removed_reason: Option<String>,
    pub created_at: Timestamp,
    /// The node that owns this live leg (agent WebSocket, SIP dialog); `None` for simulated
    /// endpoints and application legs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The leg driver's private durable state (e.g. a SIP dialog's Call-ID, tags and CSeq).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leg_state: Option<serde_json::Value>,
    /// Invited `hidden`: kept out of the roster (notifications and `GET .../participants`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

impl Participant {
    /// Whether the participant shows in the roster (notifications and `GET .../participants`)
    /// once connected: not when invited `hidden`.
    pub fn in_roster(&self) -> bool {
        !self.hidden
    }

    pub fn is_active(&self) -> bool {
        self.state != ParticipantState::Removed
    }
}

/// The outcome of one invitee of an invite operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum InviteeOutcome {
    Pending,
    Joined { at: Timestamp },
    Failed { at: Timestamp, result_info: ResultInfo },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitee {
    pub party: Party,
    pub participant_id: ParticipantId,
    pub replaces_call_id: Option<String>,
    pub source_participant_id: Option<String>,
    pub endpoint_type: Option<graph_model::EndpointType>,
    pub outcome: InviteeOutcome,
    /// `hidden` and `removeFromDefaultAudioRoutingGroup` as the request gave them, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_from_default_audio_routing_group: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OperationKind {
    Invite,
    /// `participant: mute` (server mute); settled when it is created.
    MuteParticipant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub id: OperationId,
    pub call_id: CallId,
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub client_context: Option<String>,
    pub result_info: Option<ResultInfo>,
    pub invitees: Vec<Invitee>,
    pub created_at: Timestamp,
    pub last_action_at: Timestamp,
}

impl Operation {
    /// Records one invitee's outcome; returns true when that settles the whole operation.
    ///
    /// The operation ends when every invitee has an outcome: `Completed` if all joined, else
    /// `Failed` with the earliest failure's resultInfo (ties: request order).
    pub fn record_outcome(&mut self, index: usize, outcome: InviteeOutcome, now: Timestamp) -> bool {
        if self.status.is_final() {
            return false;
        }
        let Some(invitee) = self.invitees.get_mut(index) else { return false };
        if invitee.outcome != InviteeOutcome::Pending {
            return false;
        }
        invitee.outcome = outcome;
        self.last_action_at = now;
        if self.invitees.iter().any(|i| i.outcome == InviteeOutcome::Pending) {
            return false;
        }
        let earliest_failure = self
            .invitees
            .iter()
            .filter_map(|i| match &i.outcome {
                InviteeOutcome::Failed { at, result_info } => Some((*at, result_info)),
                _ => None,
            })
            .min_by_key(|(at, _)| *at);
        match earliest_failure {
            None => {
                self.status = OperationStatus::Completed;
                self.result_info = None;
            }
            Some((_, info)) => {
                self.status = OperationStatus::Failed;
                self.result_info = Some(info.clone());
            }
        }
        true
    }

    /// A failure for invitee `index`.
    pub fn failure(&self, index: usize, failure: &RingFailure, now: Timestamp) -> InviteeOutcome {
        let party = &self.invitees[index].party;
        InviteeOutcome::Failed { at: now, result_info: failure.result_info(party) }
    }
}

/// An online meeting of the directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meeting {
    pub id: MeetingId,
    pub tenant_id: TenantId,
    /// The application that created it (moves need both meetings created by the caller).
    pub creator_app_id: Option<AppId>,
    pub subject: Option<String>,
    pub thread_id: String,
    pub join_meeting_id: String,
    pub join_web_url: String,
    pub start_date_time: Option<String>,
    pub end_date_time: Option<String>,
    pub participants: serde_json::Value,
    pub created_at: Timestamp,
}

/// What a timer does when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum TimerAction {
    /// A ringing leg reaches its outcome (simulated answer or failure, or the ring deadline).
    RingOutcome { participant_id: ParticipantId, outcome: crate::RingOutcome },
    /// A group or meeting leg finishes establishing.
    EstablishCall { call_id: CallId },
    /// The keepAlive deadline of a call may have passed (a later keepAlive moves it on).
    KeepAliveExpiry { call_id: CallId },
    /// An escalated or moved participant joins without ringing.
    JoinWithoutRinging { operation_id: OperationId, index: usize },
    /// An incoming call the application has neither answered nor rejected by now ends
    /// (408/1106).
    AnswerDeadline { call_id: CallId },
    /// A scripted hang-up: the participant leaves (if still in the roster).
    HangUp { participant_id: ParticipantId },
}

/// How long an application has to answer or reject an incoming call (call-answer, call-reject:
/// "The current timeout value is 15 seconds").
pub const ANSWER_TIMEOUT_SECS: i64 = 15;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timer {
    pub id: i64,
    pub due_at: Timestamp,
    pub action: TimerAction,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PartyKind;

    fn op(n: usize) -> Operation {
        Operation {
            id: "op".into(),
            call_id: "call".into(),
            kind: OperationKind::Invite,
            status: OperationStatus::Running,
            client_context: None,
            result_info: None,
            invitees: (0..n)
                .map(|i| Invitee {
                    party: Party {
                        kind: PartyKind::User,
                        id: format!("u{i}"),
                        display_name: None,
                        tenant_id: None,
                        identity_provider: None,
                    },
                    participant_id: ParticipantId(format!("p{i}")),
                    replaces_call_id: None,
                    source_participant_id: None,
                    endpoint_type: None,
                    outcome: InviteeOutcome::Pending,
                    hidden: None,
                    remove_from_default_audio_routing_group: None,
                })
                .collect(),
            created_at: Timestamp(0),
            last_action_at: Timestamp(0),
        }
    }

    #[test]
    fn completes_when_all_joined() {
        let mut o = op(2);
        assert!(!o.record_outcome(0, InviteeOutcome::Joined { at: Timestamp(1) }, Timestamp(1)));
        assert!(o.record_outcome(1, InviteeOutcome::Joined { at: Timestamp(2) }, Timestamp(2)));
        assert_eq!(o.status, OperationStatus::Completed);
    }

    #[test]
    fn fails_with_the_earliest_failure_ties_in_request_order() {
        let mut o = op(3);
        let busy = o.failure(2, &RingFailure::Busy, Timestamp(5));
        let declined = o.failure(1, &RingFailure::Declined, Timestamp(5));
        o.record_outcome(2, busy, Timestamp(5));
        o.record_outcome(0, InviteeOutcome::Joined { at: Timestamp(1) }, Timestamp(5));
        assert!(o.record_outcome(1, declined, Timestamp(5)));
        assert_eq!(o.status, OperationStatus::Failed);
        assert_eq!(o.result_info.as_ref().unwrap().code, 603);
    }

    #[test]
    fn a_final_operation_never_changes() {
        let mut o = op(1);
        assert!(o.record_outcome(0, InviteeOutcome::Joined { at: Timestamp(1) }, Timestamp(1)));
        let late = o.failure(0, &RingFailure::Busy, Timestamp(2));
        assert!(!o.record_outcome(0, late, Timestamp(2)));
        assert_eq!(o.status, OperationStatus::Completed);
    }
}
