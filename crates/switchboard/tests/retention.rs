//! Retention: an ended call's records (its conversation, participants, operations,
//! notifications and their delivery attempts) are removed once its conversation ended longer
//! ago than `--retention`, never while one of its notifications is still pending, and never
//! with `--retention 0`. Driven by the virtual clock; a live call is left alone.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

async fn spawn(retention_secs: &str) -> TestApp {
    TestApp::spawn_with(SpawnOptions {
        extra_args: vec!["--retention".into(), retention_secs.into()],
        ..Default::default()
    })
    .await
}

/// The notification log of a call (`/_switchboard/notifications`): each entry's state.
async fn logged(app: &TestApp, call: &str) -> Vec<String> {
    let log = app.control(Method::GET, &format!("/_switchboard/notifications?callId={call}"), None).await;
    let entries = log.assert_status(200)["value"].as_array().unwrap().clone();
    entries.iter().map(|e| e["state"].as_str().unwrap().to_owned()).collect()
}

/// The console's conversation holding `call`, if it is still recorded.
async fn conversation_of(app: &TestApp, call: &str) -> Option<Value> {
    let view = app.control(Method::GET, "/_switchboard/conversations?limit=100", None).await;
    let all = view.assert_status(200)["value"].as_array().unwrap().clone();
    all.into_iter().find(|c| c["calls"].as_array().unwrap().iter().any(|leg| leg["id"] == call))
}

/// Joins a meeting, invites a user who answers, and hangs up: the meeting ends with a call,
/// an operation, two participants and their notifications recorded. Returns the call's id.
async fn ended_meeting_call(app: &TestApp) -> String {
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let adele = app.user("Adele Vance");
    app.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 0})).await;
    app.invite(&call, &invite_body(&[user_identity(&adele)], "kept")).await.assert_status(200);
    app.advance(0).await;
    app.delete_call(&call).await.assert_status(204);
    app.advance(0).await;
    call
}

#[tokio::test]
async fn an_ended_call_goes_with_its_records_once_the_retention_period_has_passed() {
    // 30 minutes: the live call would end after 45 without a keepAlive.
    let app = spawn("1800").await;
    let ended = ended_meeting_call(&app).await;
    let (live, _) = app.join_new_meeting(json!(null)).await;
    let states = logged(&app, &ended).await;
    assert!(states.len() >= 5 && states.iter().all(|s| s == "delivered"), "{states:?}");
    let conversation = conversation_of(&app, &ended).await.expect("the ended meeting is listed");
    assert_eq!(conversation["ended"], true);
    let conversation_path = format!("/_switchboard/conversations/{}", conversation["id"].as_str().unwrap());

    // Kept for the whole 30 minutes after the meeting ended.
    app.advance(30 * MINUTE).await;
    assert_eq!(logged(&app, &ended).await, states);
    app.control(Method::GET, &conversation_path, None).await.assert_status(200);

    // Then gone: the conversation, its call's notifications and operations.
    app.advance(1).await;
    assert_eq!(logged(&app, &ended).await, Vec::<String>::new());
    app.control(Method::GET, &conversation_path, None).await.assert_error(404, "itemNotFound");
    assert!(conversation_of(&app, &ended).await.is_none());
    app.get_call(&ended).await.assert_error(404, "itemNotFound");

    // The live call is untouched, and still works.
    app.get_call(&live).await.assert_status(200);
    assert!(conversation_of(&app, &live).await.is_some());
    app.list_participants(&live, "").await.assert_status(200);
    assert!(app.server_log().contains("ended conversations removed after the retention period"));
    let (status, metrics) = app.get_text("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.lines().any(|l| l == "switchboard_conversations_removed_total 1"), "{metrics}");
}

#[tokio::test]
async fn a_call_whose_notifications_are_pending_stays_until_they_are_delivered() {
    let app = spawn("3600").await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    app.hooks.answer_with(500);
    app.delete_call(&call).await.assert_status(204);
    app.advance(0).await;
    assert!(logged(&app, &call).await.iter().any(|s| s == "pending"));

    app.advance(HOUR + 1).await;
    let states = logged(&app, &call).await;
    assert!(states.iter().any(|s| s == "pending"), "kept while undelivered: {states:?}");
    assert!(conversation_of(&app, &call).await.is_some());

    // Delivered at the next retry, then removed: the meeting ended over an hour before.
    app.hooks.answer_with(202);
    app.advance(HOUR).await;
    assert_eq!(logged(&app, &call).await, Vec::<String>::new());
    assert!(conversation_of(&app, &call).await.is_none());
}

#[tokio::test]
async fn with_retention_off_ended_calls_are_kept() {
    let app = spawn("0").await;
    let call = ended_meeting_call(&app).await;
    let states = logged(&app, &call).await;
    assert!(!states.is_empty());
    app.advance(30 * 24 * HOUR).await;
    assert_eq!(logged(&app, &call).await, states);
    assert!(conversation_of(&app, &call).await.is_some());
}
