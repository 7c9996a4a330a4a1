//! `GET /_switchboard/agents?userId=...`: a live agent's WebSocket. The client signs in as a
//! directory user with the admin token (`Authorization: Bearer`, or the `token` query parameter
//! for browsers, whose WebSocket cannot send headers), like the rest of the control API that
//! acts for users. Messages are JSON text frames, one object each, tagged by `type`; the
//! protocol is docs/agents.md. The engine's hub (`switchboard_engine::agents`) does the work.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use switchboard_engine::agents::{AgentEvent, AgentRequest};

use crate::control::AdminOrQueryToken;
use crate::endpoints::{endpoint, Body, Endpoint};
use crate::error::ApiError;
use crate::AppState;

/// Largest message an agent may send.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

pub fn endpoints() -> Vec<Endpoint> {
    vec![endpoint(Method::GET, "/_switchboard/agents", agent_socket)
        .summary("A live agent's WebSocket: invitations, roster updates; accept, decline, leave, mute (docs/agents.md)")
        .admin()
        .query(&[
            ("userId", "the directory user the agent signs in as"),
            ("token", "the admin token, for clients that cannot send headers (browsers)"),
        ])
        .answers(101, Body::None)]
}

async fn agent_socket(
    State(state): State<AppState>,
    _: AdminOrQueryToken,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    crate::extract::refuse_nul_in_query(query.as_deref())?;
    let user_id = serde_urlencoded::from_str::<Vec<(String, String)>>(query.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::invalid(format!("Invalid query: {e}")))?
        .into_iter()
        .find(|(k, _)| k == "userId")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::invalid("The query parameter userId names the directory user the agent signs in as.")
        })?;
    let upgrade = upgrade.map_err(|e| ApiError::invalid(format!("This endpoint speaks WebSocket only ({e}).")))?;
    if state.engine().directory_user(&user_id).await?.is_none() {
        return Err(ApiError::not_found(format!("user {user_id} is not in the directory")));
    }
    Ok(upgrade.max_message_size(MAX_MESSAGE_BYTES).on_upgrade(move |socket| serve(state, user_id, socket)))
}

fn frame(event: &AgentEvent) -> Message {
    Message::Text(serde_json::to_string(event).unwrap_or_default().into())
}

fn bad_message(message: String) -> AgentEvent {
    AgentEvent::Error { code: "badMessage".into(), message }
}

async fn serve(state: AppState, user_id: String, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let engine = state.engine().clone();
    let mut session = match engine.agent_connected(&user_id).await {
        Ok(session) => session,
        Err(e) => {
            let event = AgentEvent::Error { code: "refused".into(), message: e.to_string() };
            let _ = sink.send(frame(&event)).await;
            let _ = sink.close().await;
            return;
        }
    };
    let session_id = session.session_id.clone();
    let shutdown = state.shutting_down();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            event = session.events.recv() => match event {
                Some(event) => {
                    if sink.send(frame(&event)).await.is_err() {
                        break;
                    }
                }
                // The engine let go of the session (its node was taken over).
                None => {
                    let _ = sink.close().await;
                    break;
                }
            },
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<AgentRequest>(text.as_str()) {
                    Ok(request) => engine.agent_request(&session_id, request).await,
                    Err(e) => {
                        let event = bad_message(format!("Invalid message: {e}"));
                        if sink.send(frame(&event)).await.is_err() {
                            break;
                        }
                    }
                },
                Some(Ok(Message::Binary(_))) => {
                    let event = bad_message("Messages are JSON text frames.".into());
                    if sink.send(frame(&event)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            _ = &mut shutdown => {
                let _ = sink.close().await;
                break;
            }
        }
    }
    engine.agent_disconnected(&session_id).await;
}
