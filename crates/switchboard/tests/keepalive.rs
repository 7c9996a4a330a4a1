//! keepAlive: a call with no keepAlive for 45 minutes ends with 408/8537; each keepAlive moves
//! the deadline on; an ended call answers 404. Driven by the virtual clock.

mod common;

use common::*;
use serde_json::json;

const MINUTE: i64 = 60_000;

fn keep_alive_path(call: &str) -> String {
    format!("/beta/communications/calls/{call}/keepAlive")
}

#[tokio::test]
async fn a_call_without_keep_alive_ends_after_45_minutes_with_408_8537() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    app.advance(45 * MINUTE - 1).await;
    assert!(app.hooks.take_for(&call).is_empty(), "still alive a millisecond before the deadline");
    app.get_call(&call).await.assert_status(200);
    app.advance(1).await;
    let got = app.hooks.take_for(&call);
    let states: Vec<&str> = got.iter().map(|n| n.resource_data()["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["terminating", "terminated"]);
    let info = &got[1].resource_data()["resultInfo"];
    assert_eq!((info["code"].as_i64(), info["subcode"].as_i64()), (Some(408), Some(8537)));
    app.post(&keep_alive_path(&call), &json!({})).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn each_keep_alive_moves_the_deadline_45_minutes_on() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    app.advance(30 * MINUTE).await;
    app.post(&keep_alive_path(&call), &json!({})).await.assert_status(200);
    app.advance(30 * MINUTE).await;
    assert!(app.hooks.take_for(&call).is_empty(), "the first deadline passed without ending the call");
    app.post(&keep_alive_path(&call), &json!({})).await.assert_status(200);
    app.advance(45 * MINUTE - 1).await;
    app.get_call(&call).await.assert_status(200);
    app.advance(1).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.last().unwrap().resource_data()["resultInfo"]["subcode"], 8537);
}
