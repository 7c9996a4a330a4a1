//! What the control API and the console read and do besides the directory: reset, the
//! notification log and redelivery, the live view of conversations, and the store's counts
//! for `/metrics`.

use serde::Serialize;
use switchboard_core::{
    render, Call, CallId, Conversation, ConversationId, DomainError, EndpointKind, InvitedBy, InviteeOutcome,
    Operation, Participant, ParticipantState, PartyKind, Timestamp,
};
pub use switchboard_store::DeliveryState;
use switchboard_store::{OutboxRow, StoreStats, Tx};

use crate::error::EngineResult;
use crate::{Engine, EngineError};

/// A notification with its delivery attempts, as the control API and console show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedNotification {
    pub id: i64,
    pub call_id: String,
    pub sequence: i64,
    pub callback_uri: String,
    pub app_id: String,
    pub tenant_id: String,
    /// `pending`, `delivered` or `dead` (attempts exhausted).
    pub state: &'static str,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    /// For a redelivery: the notification it copies.
    pub redelivery_of: Option<i64>,
    /// The request headers every attempt carries. The bearer token is minted per attempt and
    /// not kept: it is shown as its claims.
    pub headers: serde_json::Value,
    pub body: serde_json::Value,
    pub attempts: Vec<LoggedAttempt>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedAttempt {
    pub attempt: i64,
    pub at: String,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// A conversation as the console shows it: its calls (with their operations) and the
/// participants ringing or in the roster.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub id: String,
    pub kind: switchboard_core::ConversationKind,
    pub ended: bool,
    pub chat_thread_id: Option<String>,
    pub meeting_id: Option<String>,
    pub created_at: String,
    pub calls: Vec<CallView>,
    pub participants: Vec<ParticipantView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    pub id: String,
    pub app_id: String,
    pub state: graph_model::CallState,
    pub direction: graph_model::CallDirection,
    pub callback_uri: String,
    pub my_participant_id: String,
    pub result_info: Option<graph_model::ResultInfo>,
    pub created_at: String,
    pub operations: Vec<OperationView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationView {
    pub id: String,
    pub kind: switchboard_core::OperationKind,
    /// As `GET .../operations/{id}` answers it.
    pub status: String,
    pub client_context: Option<String>,
    pub result_info: Option<graph_model::ResultInfo>,
    pub created_at: String,
    pub last_action_at: String,
    pub invitees: Vec<InviteeView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InviteeView {
    pub identity: PartyView,
    pub participant_id: String,
    /// `pending`, `joined` or `failed`.
    pub outcome: &'static str,
    pub result_info: Option<graph_model::ResultInfo>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartyView {
    pub kind: PartyKind,
    pub id: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    pub id: String,
    pub state: ParticipantState,
    pub endpoint: EndpointKind,
    pub identity: PartyView,
    /// For an application's leg: its call.
    pub call_id: Option<String>,
    /// The call that rang this participant (its creation or an invite), and the operation.
    pub invited_by_call_id: Option<String>,
    pub invited_by_operation_id: Option<String>,
    pub roster_sequence_number: i64,
    /// The participant as Graph renders it in a roster.
    pub graph: graph_model::Participant,
}

/// Counts for `/metrics`, read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub store: StoreStats,
    /// Age of the oldest pending notification, in domain time.
    pub outbox_oldest_age_ms: i64,
}

fn party_view(p: &switchboard_core::Party) -> PartyView {
    PartyView { kind: p.kind, id: p.id.clone(), display_name: p.display_name.clone() }
}

fn operation_view(op: &Operation) -> OperationView {
    OperationView {
        id: op.id.0.clone(),
        kind: op.kind,
        status: op.status.as_str().to_owned(),
        client_context: op.client_context.clone(),
        result_info: op.result_info.clone(),
        created_at: op.created_at.to_rfc3339(),
        last_action_at: op.last_action_at.to_rfc3339(),
        invitees: op
            .invitees
            .iter()
            .map(|i| {
                let (outcome, result_info) = match &i.outcome {
                    InviteeOutcome::Pending => ("pending", None),
                    InviteeOutcome::Joined { .. } => ("joined", None),
                    InviteeOutcome::Failed { result_info, .. } => ("failed", Some(result_info.clone())),
                };
                InviteeView {
                    identity: party_view(&i.party),
                    participant_id: i.participant_id.0.clone(),
                    outcome,
                    result_info,
                }
            })
            .collect(),
    }
}

fn call_view(tx: &mut dyn Tx, call: &Call) -> EngineResult<CallView> {
    let operations = tx.operations_of_call(&call.id)?.iter().map(operation_view).collect();
    Ok(CallView {
        id: call.id.0.clone(),
        app_id: call.app_id.0.clone(),
        state: call.state,
        direction: call.direction,
        callback_uri: call.callback_uri.clone(),
        my_participant_id: call.my_participant_id.0.clone(),
        result_info: call.result_info.clone(),
        created_at: call.created_at.to_rfc3339(),
        operations,
    })
}

fn participant_view(p: &Participant) -> ParticipantView {
    let (invited_by_call_id, invited_by_operation_id) = match &p.invited_by {
        Some(InvitedBy::CallCreation { call_id }) => (Some(call_id.0.clone()), None),
        Some(InvitedBy::Invite { call_id, operation_id, .. }) => {
            (Some(call_id.0.clone()), Some(operation_id.0.clone()))
        }
        None => (None, None),
    };
    ParticipantView {
        id: p.id.0.clone(),
        state: p.state,
        endpoint: p.endpoint,
        identity: party_view(&p.party),
        call_id: p.call_id.as_ref().map(|c| c.0.clone()),
        invited_by_call_id,
        invited_by_operation_id,
        roster_sequence_number: p.roster_sequence,
        graph: render::participant(p),
    }
}

fn conversation_view(tx: &mut dyn Tx, c: &Conversation) -> EngineResult<ConversationView> {
    let mut calls = Vec::new();
    for call in tx.calls_in_conversation(&c.id)? {
        calls.push(call_view(tx, &call)?);
    }
    let participants = tx.active_participants(&c.id)?.iter().map(participant_view).collect();
    Ok(ConversationView {
        id: c.id.0.clone(),
        kind: c.kind,
        ended: c.ended,
        chat_thread_id: c.chat_thread_id.clone(),
        meeting_id: c.meeting_id.as_ref().map(|m| m.0.clone()),
        created_at: c.created_at.to_rfc3339(),
        calls,
        participants,
    })
}

fn logged(tx: &mut dyn Tx, row: OutboxRow) -> EngineResult<LoggedNotification> {
    let attempts = tx
        .delivery_attempts(row.id)?
        .into_iter()
        .map(|a| LoggedAttempt {
            attempt: a.attempt,
            at: a.at.to_rfc3339(),
            status: a.status,
            error: a.error,
            latency_ms: a.latency_ms,
        })
        .collect();
    let headers = serde_json::json!({
        "Content-Type": "application/json",
        "Authorization": format!("Bearer <JWT signed by Switchboard: aud {}, tid {}>", row.app_id, row.tenant_id),
        "X-Switchboard-Sequence": row.sequence.to_string(),
        "X-Switchboard-Call-Id": row.call_id.0,
    });
    Ok(LoggedNotification {
        id: row.id,
        call_id: row.call_id.0,
        sequence: row.sequence,
        callback_uri: row.callback_uri,
        app_id: row.app_id,
        tenant_id: row.tenant_id,
        state: row.state.as_str(),
        created_at: row.created_at.to_rfc3339(),
        next_attempt_at: (row.state == DeliveryState::Pending).then(|| row.next_attempt_at.to_rfc3339()),
        delivered_at: row.delivered_at.map(Timestamp::to_rfc3339),
        redelivery_of: row.redelivery_of,
        headers,
        body: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        attempts,
    })
}

impl Engine {
    /// Forgets every call, conversation, participant, operation, timer and notification.
    pub async fn reset(&self) -> EngineResult<()> {
        let _guard = self.inner.timer_lock.lock().await;
        self.run(|tx| Ok::<_, EngineError>(tx.reset_calls()?)).await
    }

    /// The newest `limit` notifications (of one call, or all; in one state, or any), oldest first.
    pub async fn notification_log(
        &self,
        call_id: Option<String>,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> EngineResult<Vec<LoggedNotification>> {
        self.run(move |tx| {
            let call = call_id.map(CallId);
            let rows = tx.notifications(call.as_ref(), state, limit)?;
            rows.into_iter().map(|row| logged(tx, row)).collect()
        })
        .await
    }

    /// One notification of the log.
    pub async fn notification(&self, id: i64) -> EngineResult<LoggedNotification> {
        self.run(move |tx| {
            let row = tx
                .notification(id)?
                .ok_or_else(|| DomainError::not_found(format!("notification {id} was not found")))?;
            logged(tx, row)
        })
        .await
    }

    /// Sends a delivered or dead notification again: a copy is queued at the end of its
    /// call's queue with the call's next sequence number (so the call's notifications stay in
    /// order), and delivered like any other. Returns the copy.
    #[tracing::instrument(skip(self))]
    pub async fn redeliver(&self, notification_id: i64) -> EngineResult<LoggedNotification> {
        let now = self.inner.clock.now();
        let copy = self
            .run(move |tx| {
                let row = tx
                    .notification(notification_id)?
                    .ok_or_else(|| DomainError::not_found(format!("notification {notification_id} was not found")))?;
                if row.state == DeliveryState::Pending {
                    return Err(DomainError::conflict(format!(
                        "notification {notification_id} is still pending: it will be delivered"
                    ))
                    .into());
                }
                let copy = tx
                    .requeue_notification(notification_id, now)?
                    .ok_or_else(|| EngineError::Internal(format!("notification {notification_id} vanished")))?;
                logged(tx, copy)
            })
            .await?;
        tracing::info!(call_id = %copy.call_id, copy_id = copy.id, sequence = copy.sequence, "notification queued again");
        self.inner.delivery_wake.notify_one();
        Ok(copy)
    }

    /// The newest `limit` conversations (live ones, or all), newest first.
    pub async fn conversations(&self, limit: usize, include_ended: bool) -> EngineResult<Vec<ConversationView>> {
        self.run(move |tx| {
            let conversations = tx.conversations(limit, include_ended)?;
            conversations.iter().map(|c| conversation_view(tx, c)).collect()
        })
        .await
    }

    pub async fn conversation(&self, id: String) -> EngineResult<ConversationView> {
        self.run(move |tx| {
            let c = tx
                .conversation(&ConversationId(id.clone()))?
                .ok_or_else(|| DomainError::not_found(format!("conversation {id} was not found")))?;
            conversation_view(tx, &c)
        })
        .await
    }

    /// Every online meeting of the directory, oldest first, rendered as Graph does.
    pub async fn meetings(&self) -> EngineResult<Vec<graph_model::OnlineMeeting>> {
        self.run(|tx| Ok(tx.meetings()?.iter().map(crate::directory::render_meeting).collect())).await
    }

    /// What `/metrics` reports from the store.
    pub async fn stats(&self) -> EngineResult<Stats> {
        let store = self.run(|tx| Ok::<_, EngineError>(tx.stats()?)).await?;
        let now = self.inner.clock.now();
        let outbox_oldest_age_ms = store.outbox_oldest_pending_at.map_or(0, |t| (now.0 - t.0).max(0));
        Ok(Stats { store, outbox_oldest_age_ms })
    }
}
