//! What the control API needs besides the directory: reset, and the notification log.

use serde::Serialize;
use switchboard_core::CallId;
pub use switchboard_store::DeliveryState;

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
    pub state: &'static str,
    pub created_at: String,
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

impl Engine {
    /// Forgets every call, conversation, participant, operation, timer and notification.
    pub async fn reset(&self) -> EngineResult<()> {
        let _guard = self.inner.timer_lock.lock().await;
        self.inner.store.run(|tx| Ok::<_, EngineError>(tx.reset_calls()?)).await
    }

    /// The newest `limit` notifications (of one call, or all; in one state, or any), oldest first.
    pub async fn notification_log(
        &self,
        call_id: Option<String>,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> EngineResult<Vec<LoggedNotification>> {
        self.inner
            .store
            .run(move |tx| {
                let call = call_id.map(CallId);
                let rows = tx.notifications(call.as_ref(), state, limit)?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
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
                    out.push(LoggedNotification {
                        id: row.id,
                        call_id: row.call_id.0,
                        sequence: row.sequence,
                        callback_uri: row.callback_uri,
                        state: row.state.as_str(),
                        created_at: row.created_at.to_rfc3339(),
                        body: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
                        attempts,
                    });
                }
                Ok::<_, EngineError>(out)
            })
            .await
    }
}
