//! `switchboard listen` end to end: the real binary prints where it listens, prints a
//! POSTed notification, answers the configured status, and stops cleanly on Ctrl-C (SIGINT).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    timeout(WAIT, lines.next_line())
        .await
        .expect("timed out waiting for output")
        .expect("reading stdout")
        .expect("stdout closed")
}

#[tokio::test]
async fn listen_prints_notifications_and_stops_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["listen", "--port", "0", "--status", "200"])
        .env_remove("SWITCHBOARD_LISTEN_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn switchboard listen");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let first = next_line(&mut lines).await;
    let url = first
        .strip_prefix("Listening for notifications on ")
        .and_then(|rest| rest.strip_suffix(" (callbackUri for your calls)"))
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'), "{url}");

    let http = reqwest::Client::new();
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(page.text().await.unwrap().contains("notification receiver"));

    let body = serde_json::json!({
        "@odata.type": "#microsoft.graph.commsNotifications",
        "value": [{
            "@odata.type": "#microsoft.graph.commsNotification",
            "changeType": "updated",
            "resourceUrl": "/communications/calls/c-1",
            "resourceData": {"@odata.type": "#microsoft.graph.call", "state": "established"}
        }]
    });
    let res =
        http.post(format!("{url}api/calls")).header("x-switchboard-call-id", "c-1").json(&body).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);

    let mut block = Vec::new();
    loop {
        let line = next_line(&mut lines).await;
        let done = line.starts_with("  updated ");
        block.push(line);
        if done {
            break;
        }
    }
    assert!(block[0].starts_with("-----"), "{block:#?}");
    assert!(block[1].starts_with("POST /api/calls  "), "{block:#?}");
    assert!(block.contains(&"X-Switchboard-Call-Id: c-1".to_owned()), "{block:#?}");
    assert!(block.iter().any(|l| l.trim() == "\"changeType\": \"updated\","), "{block:#?}");
    assert_eq!(block.last().unwrap(), "  updated /communications/calls/c-1  state=established");

    let pid = child.id().expect("child still running").to_string();
    let killed = std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let status = timeout(WAIT, child.wait()).await.expect("listen did not stop on SIGINT").unwrap();
    assert!(status.success(), "{status}");
}
