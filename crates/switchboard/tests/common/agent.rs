//! A live agent for the tests: a WebSocket client of `/_switchboard/agents` that speaks the
//! protocol of docs/agents.md (JSON text frames tagged by `type`).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::TestApp;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long an agent waits for a message it expects.
pub const AGENT_WAIT: Duration = Duration::from_secs(20);

pub struct Agent {
    socket: Socket,
    pub session_id: String,
    pub user_id: String,
}

/// Why a connection was refused: the HTTP status and the (Graph error) body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
}

impl Agent {
    /// Connects as directory user `user_id` with the admin token; returns once welcomed.
    pub async fn connect(app: &TestApp, user_id: &str) -> Agent {
        Agent::connect_with(app, user_id, Some(&app.admin_token)).await.expect("the agent is accepted")
    }

    /// Connects with `token` (in the Authorization header), or none.
    pub async fn connect_with(app: &TestApp, user_id: &str, token: Option<&str>) -> Result<Agent, Refused> {
        let url = format!("{}/_switchboard/agents?userId={}", app.base.replace("http://", "ws://"), user_id);
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = token {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let socket = match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => socket,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response.body().as_ref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
                return Err(Refused { status, body });
            }
            Err(e) => panic!("cannot connect the agent: {e}"),
        };
        let mut agent = Agent { socket, session_id: String::new(), user_id: String::new() };
        let welcome = agent.expect("welcome").await;
        agent.session_id = welcome["sessionId"].as_str().unwrap().to_owned();
        agent.user_id = welcome["userId"].as_str().unwrap().to_owned();
        Ok(agent)
    }

    pub async fn send(&mut self, message: Value) {
        self.socket.send(Message::Text(message.to_string().into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.unwrap();
    }

    /// The next message, whatever it is (panics after [`AGENT_WAIT`]).
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(AGENT_WAIT, self.socket.next())
                .await
                .expect("a message for the agent in time")
                .expect("the connection is open")
                .expect("a readable message");
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next message, which must be of `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let message = self.next().await;
        assert_eq!(message["type"], kind, "expected a {kind} message, got {message}");
        message
    }

    /// Skips messages until one of `kind` (e.g. rosters that may come in between).
    pub async fn until(&mut self, kind: &str) -> Value {
        loop {
            let message = self.next().await;
            if message["type"] == kind {
                return message;
            }
        }
    }

    /// Nothing arrives within `wait`.
    pub async fn assert_quiet(&mut self, wait: Duration) {
        if let Ok(Some(message)) = tokio::time::timeout(wait, self.socket.next()).await {
            panic!("expected no message, got {message:?}");
        }
    }

    pub async fn accept(&mut self, participant_id: &str) {
        self.send(json!({"type": "accept", "participantId": participant_id})).await;
    }

    pub async fn decline(&mut self, participant_id: &str, reason: &str) {
        self.send(json!({"type": "decline", "participantId": participant_id, "reason": reason})).await;
    }

    pub async fn leave(&mut self, participant_id: &str) {
        self.send(json!({"type": "leave", "participantId": participant_id})).await;
    }

    pub async fn mute(&mut self, participant_id: &str, muted: bool) {
        self.send(json!({"type": "mute", "participantId": participant_id, "muted": muted})).await;
    }

    /// Waits until the server closes the connection; the messages before its close are returned.
    pub async fn closed_by_server(&mut self) -> Vec<Value> {
        let mut before = Vec::new();
        loop {
            let message = tokio::time::timeout(AGENT_WAIT, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("the server did not close the connection; it sent {before:?}"));
            match message {
                Some(Ok(Message::Text(text))) => before.push(serde_json::from_str(text.as_str()).unwrap()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return before,
                Some(Ok(other)) => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Closes the connection (the server then treats the agent as gone).
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        // Wait for the server's close so that its clean-up has started.
        let _ = tokio::time::timeout(AGENT_WAIT, async { while let Some(Ok(_)) = self.socket.next().await {} }).await;
    }
}
