//! Delivery limits: notifications that exhaust their retries are kept as dead letters and
//! listed by the control API; SQLite refuses a second server on its data directory.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

async fn dead(app: &TestApp) -> Vec<serde_json::Value> {
    let listed = app.control(Method::GET, "/_switchboard/notifications?state=dead", None).await;
    listed.assert_status(200)["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn notifications_that_exhaust_their_retries_are_listed_as_dead_letters() {
    let app = TestApp::spawn_with(SpawnOptions {
        extra_args: vec!["--delivery-max-attempts".into(), "3".into()],
        ..SpawnOptions::default()
    })
    .await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    app.hooks.answer_with(500);
    app.set_user_behaviour(&app.user("Alex Wilber"), json!({"kind": "answer", "afterMs": 0})).await;
    app.invite(&call, &invite_body(&[user_identity(&app.user("Alex Wilber"))], "dead")).await.assert_status(200);
    app.advance(0).await;
    assert!(dead(&app).await.is_empty(), "one failure is retried, not dead");
    // Backoff: 1 s then 2 s (plus jitter of at most a quarter): the third attempt is the
    // last; the roster notification waits behind the operation's, then goes the same way.
    app.advance(1_250).await;
    app.advance(2_500).await;
    let letters = dead(&app).await;
    assert_eq!(letters.len(), 1, "the operation notification: {letters:#?}");
    app.advance(1_250).await;
    app.advance(2_500).await;
    let letters = dead(&app).await;
    assert_eq!(letters.len(), 2, "the operation and the roster notification: {letters:#?}");
    for letter in &letters {
        assert_eq!(letter["state"], "dead");
        assert_eq!(letter["callId"], call.as_str());
        let statuses: Vec<_> = letter["attempts"].as_array().unwrap().iter().map(|a| a["status"].clone()).collect();
        assert_eq!(statuses, [json!(500), json!(500), json!(500)]);
    }
    let got = app.hooks.take_for(&call);
    let sequences: Vec<i64> = got.iter().map(Received::sequence).collect();
    assert_eq!(sequences.len(), 6, "three attempts each, in order: {sequences:?}");
    assert!(sequences.windows(2).all(|w| w[0] <= w[1]), "never reordered: {sequences:?}");
    // Nothing is tried again later (ten minutes: past every backoff, before the keepAlive deadline).
    app.advance(600_000).await;
    assert_eq!(app.hooks.take_for(&call).len(), 0);
    let unknown = app.control(Method::GET, "/_switchboard/notifications?state=lost", None).await;
    unknown.assert_error(400, "invalidRequest");
}

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_data_directory_is_refused_at_start() {
    let app = TestApp::spawn().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&app.data_dir)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), output).await.unwrap().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("another Switchboard process is using the data directory"), "{stderr}");
    assert!(stderr.contains("--database-url"), "{stderr}");
    // The first server is unharmed.
    app.get(&format!("/beta/communications/calls/{}", "none")).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn the_virtual_clock_is_refused_with_a_shared_database() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--clock", "virtual", "--database-url", "postgres://127.0.0.1/none"])
        .arg("--data-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), output).await.unwrap().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--clock virtual needs the single-node SQLite store"), "{stderr}");
}
