//! Fault injection through the control API: a resultInfo on the next ring(s) of a user, a
//! phone number or from a call (presets and explicit codes), and 429/503 with Retry-After on
//! chosen Graph routes, each answered in Graph's shapes.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const FRONT_DESK: &str = "+14255550101";

async fn arm(app: &TestApp, body: Value) -> Value {
    app.control(Method::POST, "/_switchboard/faults", Some(&body)).await.assert_status(201).clone()
}

/// Invites `identity` into `call`, lets time pass, and returns the operation notification.
async fn invite_outcome(app: &TestApp, call: &str, identity: Value) -> Value {
    app.invite(call, &invite_body(&[identity], "fault")).await.assert_status(200);
    app.advance(5_000).await;
    let got = app.hooks.take_for(call);
    got.iter().find(|r| r.kind() == "operation").expect("the operation's notification").resource_data().clone()
}

fn phone(number: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.communicationsIdentitySet", "phone": {"id": number}})
}

fn codes(info: &Value) -> (i64, i64) {
    (info["code"].as_i64().unwrap(), info["subcode"].as_i64().unwrap())
}

#[tokio::test]
async fn a_preset_fails_the_next_ring_of_a_phone_number_once() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let fault = arm(&app, json!({"phoneNumber": FRONT_DESK, "preset": "412#10073"})).await;
    assert_eq!((fault["code"].as_i64(), fault["remaining"].as_i64()), (Some(412), Some(1)));

    let op = invite_outcome(&app, &call, phone(FRONT_DESK)).await;
    assert_eq!(op["status"], "failed");
    assert_eq!(codes(&op["resultInfo"]), (412, 10073));
    let message = op["resultInfo"]["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("addParticipants failed for participant 4:{FRONT_DESK}.")), "{message}");
    assert!(message.ends_with("DiagCode: 412#10073"), "{message}");

    let list = app.control(Method::GET, "/_switchboard/faults", None).await;
    assert_eq!(list.assert_status(200)["value"], json!([]), "used up");
    let op = invite_outcome(&app, &call, phone(FRONT_DESK)).await;
    assert_eq!(op["status"], "completed");
}

#[tokio::test]
async fn a_call_fault_fails_its_invites_until_cleared() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    arm(&app, json!({"callId": call, "preset": "480#10076", "untilCleared": true})).await;
    for user in ["Adele Vance", "Alex Wilber"] {
        let op = invite_outcome(&app, &call, user_identity(&app.user(user))).await;
        assert_eq!(codes(&op["resultInfo"]), (480, 10076), "{user}");
    }
    app.control(Method::DELETE, "/_switchboard/faults", None).await.assert_status(204);
    let op = invite_outcome(&app, &call, user_identity(&app.user("Adele Vance"))).await;
    assert_eq!(op["status"], "completed");
}

#[tokio::test]
async fn a_user_fault_ends_a_peer_to_peer_call_and_any_code_can_be_injected() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    arm(&app, json!({"userId": adele, "preset": "500/7106"})).await;
    arm(&app, json!({"userId": adele, "code": 410, "subcode": 301004, "message": "Client Media Error.", "count": 1}))
        .await;
    let create = json!({
        "callbackUri": app.callback,
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        "targets": [{"identity": user_identity(&adele)}],
    });
    let call = app.create_call(&create).await.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    let last = got.last().unwrap().resource_data();
    assert_eq!(last["state"], "terminated");
    assert_eq!(codes(&last["resultInfo"]), (500, 7106));
    assert!(last["resultInfo"]["message"].as_str().unwrap().contains("Server Internal Error."));

    // The second fault, armed after, is next.
    let (meeting_call, _) = app.join_new_meeting(json!(null)).await;
    let op = invite_outcome(&app, &meeting_call, user_identity(&adele)).await;
    assert_eq!(codes(&op["resultInfo"]), (410, 301004));
    assert!(op["resultInfo"]["message"].as_str().unwrap().contains("Client Media Error. DiagCode: 410#301004"));
}

#[tokio::test]
async fn faults_refuse_bad_requests() {
    let app = TestApp::spawn().await;
    let faults = "/_switchboard/faults";
    for bad in [
        json!({"userId": "u", "preset": "999#1"}),
        json!({"userId": "u", "callId": "c", "preset": "412#10073"}),
        json!({"preset": "412#10073"}),
        json!({"userId": "u", "code": 412}),
        json!({"userId": "u", "code": 42, "subcode": 1}),
        json!({"userId": "u", "preset": "412#10073", "count": 0}),
        json!({"userId": "u", "preset": "412#10073", "count": 2, "untilCleared": true}),
        json!({"phoneNumber": "not a number", "preset": "412#10073"}),
        json!({"userId": "u", "preset": "412#10073", "extra": 1}),
    ] {
        app.control(Method::POST, faults, Some(&bad)).await.assert_error(400, "invalidRequest");
    }
    let routes = "/_switchboard/faults/routes";
    for bad in [
        json!({"path": "*", "status": 500}),
        json!({"path": "calls", "status": 429}),
        json!({"path": "*", "status": 429, "count": 0}),
        json!({"status": 429}),
    ] {
        app.control(Method::POST, routes, Some(&bad)).await.assert_error(400, "invalidRequest");
    }
    let list = app.control(Method::GET, faults, None).await;
    assert_eq!(list.assert_status(200)["value"], json!([]));
    assert_eq!(list.body["routes"], json!([]));
}

#[tokio::test]
async fn graph_routes_answer_injected_429_and_503_with_retry_after() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let routes = "/_switchboard/faults/routes";
    let fault = json!({"path": "/communications/calls/{call_id}/participants/invite", "method": "POST",
                       "status": 429, "retryAfter": 7, "count": 2});
    app.control(Method::POST, routes, Some(&fault)).await.assert_status(201);
    let body = invite_body(&[user_identity(&app.user("Adele Vance"))], "throttled");
    for path in [
        format!("/beta/communications/calls/{call}/participants/invite"),
        format!("/v1.0/app/calls/{call}/participants/invite"),
    ] {
        let r = app.post(&path, &body).await;
        r.assert_error(429, "TooManyRequests");
        assert_eq!(r.headers["retry-after"], "7");
    }
    app.invite(&call, &body).await.assert_status(200);

    let all = json!({"path": "*", "status": 503, "retryAfter": 2});
    app.control(Method::POST, routes, Some(&all)).await.assert_status(201);
    for _ in 0..3 {
        let r = app.get_call(&call).await;
        r.assert_error(503, "serviceNotAvailable");
        assert_eq!(r.headers["retry-after"], "2");
    }
    let listed = app.control(Method::GET, "/_switchboard/faults", None).await;
    assert_eq!(listed.assert_status(200)["routes"].as_array().unwrap().len(), 1);
    app.control(Method::DELETE, "/_switchboard/faults", None).await.assert_status(204);
    app.get_call(&call).await.assert_status(200);
}
