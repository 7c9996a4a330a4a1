//! The bare baseline: an axum server whose invite handler parses the same JSON body and answers
//! a response of the same shape (200, `Location`, an `inviteParticipantsOperation`), with no
//! state, no store and no authentication check. Run as its own process (`baseline-server`) so
//! it can be pinned like the server.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::server::ServerOptions;

async fn invite(Path(call): Path<String>, Json(body): Json<Value>) -> axum::response::Response {
    let Some(participants) = body["participants"].as_array().filter(|p| !p.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"code": "invalidRequest", "message": "participants"}})),
        )
            .into_response();
    };
    let id = uuid::Uuid::new_v4().to_string();
    let location = format!("/beta/communications/calls/{call}/operations/{id}");
    let participants: Vec<Value> = participants
        .iter()
        .map(|p| {
            json!({"@odata.type": "#microsoft.graph.invitationParticipantInfo",
                   "identity": p["identity"], "participantId": uuid::Uuid::new_v4().to_string()})
        })
        .collect();
    let response = json!({
        "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
        "id": id,
        "status": "running",
        "clientContext": body["clientContext"],
        "resultInfo": null,
        "participants": participants,
    });
    (StatusCode::OK, [(header::LOCATION, location)], Json(response)).into_response()
}

/// `switchboard-bench baseline-server`: serves until killed; the first line names the URL.
pub async fn serve() -> anyhow::Result<()> {
    let app =
        axum::Router::new().route("/beta/communications/calls/{call}/participants/invite", axum::routing::post(invite));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("Baseline listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

pub struct Baseline {
    pub url: String,
    pub pid: u32,
    _child: Child,
}

impl Baseline {
    pub async fn start(options: &ServerOptions) -> anyhow::Result<Baseline> {
        let mut child = options
            .command(&std::env::current_exe()?)
            .arg("baseline-server")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().context("baseline pid")?;
        crate::register_child(pid);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await??
            .context("the baseline server exited")?;
        let url = first.strip_prefix("Baseline listening on ").context("baseline URL")?.to_owned();
        Ok(Baseline { url, pid, _child: child })
    }

    pub async fn stop(self) {
        let _ = std::process::Command::new("kill").arg("-KILL").arg(self.pid.to_string()).status();
    }
}
