//! The shortest path through the product: token, meeting, join, invite, notifications.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_user_invited_into_a_meeting_joins_and_both_notifications_arrive() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    app.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 1000})).await;
    let (call, _) = app.join_new_meeting(json!(null)).await;

    let invited = app.invite(&call, &invite_body(&[user_identity(&adele)], "ctx-1")).await;
    let op = invited.assert_status(200).clone();
    assert_eq!(op["status"], "Running");
    assert!(invited
        .location()
        .ends_with(&format!("/beta/communications/calls/{call}/operations/{}", op["id"].as_str().unwrap())));
    app.advance(0).await;
    assert_eq!(app.hooks.len(), 0, "nothing happens before the user answers");

    app.advance(1000).await;
    let got = app.hooks.take_for(&call);
    let kinds: Vec<&str> = got.iter().map(Received::kind).collect();
    assert_eq!(kinds, ["operation", "roster"]);
    assert_eq!(got[0].change_type(), "deleted");
    assert_eq!(got[0].resource_data()["status"], "completed");
    assert_eq!(got[1].resource_data().as_array().unwrap().len(), 2, "the bot and Adele");
    assert!(got[0].sequence() < got[1].sequence());
    let done = app.get_operation(&call, op["id"].as_str().unwrap()).await;
    assert_eq!(done.assert_status(200)["status"], "Completed");
}
