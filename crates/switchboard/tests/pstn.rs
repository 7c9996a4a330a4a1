//! The "PSTN Scenarios" table of call-answer (v1.0), black box: a phone is dialled with the
//! number of an application instance the call can name. Supported: calls placed with an
//! instance as `source`, calls received at an instance (or its number), meetings joined by
//! organizer; not supported, failing with 403/10151 ("Call does not contain the metadata
//! required for making this PSTN dial out"): a call placed to a phone without an instance, a
//! call received at the bot's application id (its UPN), a meeting joined by token.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A development seed phone number (told to answer at once below).
const PHONE: &str = "+14255550101";
/// The development application instance's number.
const BOT_NUMBER: &str = "+14255550100";

fn phone_identity() -> Value {
    json!({"@odata.type": "#microsoft.graph.communicationsIdentitySet", "phone": {"id": PHONE}})
}

fn instance_id(app: &TestApp) -> String {
    app.credentials["applicationInstance"]["id"].as_str().unwrap().to_owned()
}

async fn answering_app() -> TestApp {
    let app = TestApp::spawn().await;
    app.set_phone_behaviour(PHONE, json!({"kind": "answer", "afterMs": 0})).await;
    app
}

/// A peer-to-peer call to the phone, with `source` if given; its notifications once settled.
async fn call_the_phone(app: &TestApp, source: Option<Value>) -> Vec<Received> {
    let mut body = json!({
        "callbackUri": app.callback,
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        "targets": [{"@odata.type": "#microsoft.graph.invitationParticipantInfo", "identity": phone_identity()}],
    });
    if let Some(source) = source {
        body["source"] = source;
    }
    let call = app.create_call(&body).await;
    let call = call.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    app.hooks.take_for(&call)
}

/// Invites the phone into `call`; the operation's `deleted` notification once settled.
async fn invite_the_phone(app: &TestApp, call: &str) -> Value {
    app.invite(call, &invite_body(&[phone_identity()], "phone")).await.assert_status(200);
    app.advance(0).await;
    let got = app.hooks.take_for(call);
    let op = got.iter().find(|n| n.kind() == "operation");
    op.unwrap_or_else(|| panic!("the invite settled: {got:#?}")).resource_data().clone()
}

fn failed_with_10151(op: &Value) -> bool {
    op["status"] == "failed" && op["resultInfo"]["code"] == 403 && op["resultInfo"]["subcode"] == 10151
}

/// A user calls the development bot at `to` (control API); the bot answers. Returns its call.
async fn answered_incoming_call(app: &TestApp, to: Value) -> String {
    let hook = format!("{}/incoming", app.hooks.url);
    let path = format!("/_switchboard/applications/{}/callingWebhook", app.client_id);
    app.control(Method::PUT, &path, Some(&json!({ "url": hook }))).await.assert_status(200);
    let body = json!({"from": {"userId": app.user("Adele Vance")}, "to": to});
    let placed = app.control(Method::POST, "/_switchboard/calls", Some(&body)).await;
    let call = placed.assert_status(201)["callId"].as_str().unwrap().to_owned();
    let answer = json!({"callbackUri": app.callback, "acceptedModalities": ["audio"],
                        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"}});
    app.post(&format!("/beta/communications/calls/{call}/answer"), &answer).await.assert_status(202);
    app.advance(0).await;
    app.hooks.take_for(&call);
    call
}

#[tokio::test]
async fn a_call_placed_to_a_phone_needs_an_application_instance_as_its_source() {
    let app = answering_app().await;
    // "Outgoing call from Bot (without Instance Id) to a PSTN": not supported.
    let got = call_the_phone(&app, None).await;
    let last = got.last().unwrap().resource_data();
    assert_eq!(last["state"], "terminated", "{got:#?}");
    assert_eq!((&last["resultInfo"]["code"], &last["resultInfo"]["subcode"]), (&json!(403), &json!(10151)));
    // An instance of another application lends no number either.
    let foreign = json!({"identity": {"applicationInstance": {"id": "00000000-0000-0000-0000-00000000abcd"}}});
    let got = call_the_phone(&app, Some(foreign)).await;
    assert_eq!(got.last().unwrap().resource_data()["state"], "terminated", "{got:#?}");
    // "Outgoing call from Bot (with Instance Id) to a PSTN": supported.
    let source = json!({"@odata.type": "#microsoft.graph.participantInfo",
                        "identity": {"@odata.type": "#microsoft.graph.identitySet",
                                     "applicationInstance": {"id": instance_id(&app)}}});
    let got = call_the_phone(&app, Some(source)).await;
    let states: Vec<&str> = got.iter().map(|n| n.resource_data()["state"].as_str().unwrap_or("")).collect();
    assert_eq!(states, ["establishing", "established"], "{got:#?}");
}

#[tokio::test]
async fn a_call_received_at_the_bots_application_id_cannot_invite_a_phone_one_received_at_its_number_can() {
    let app = answering_app().await;
    // "Incoming call to Bot's UPN and then bot invites another PSTN": not supported.
    let at_upn = answered_incoming_call(&app, json!({"applicationId": app.client_id})).await;
    let op = invite_the_phone(&app, &at_upn).await;
    assert!(failed_with_10151(&op), "{op}");
    // "Incoming call to Bot's PSTN number (or Instance Id) and then bot invites another PSTN".
    for to in [json!({"phoneNumber": BOT_NUMBER}), json!({"applicationInstanceId": instance_id(&app)})] {
        let at_instance = answered_incoming_call(&app, to.clone()).await;
        let op = invite_the_phone(&app, &at_instance).await;
        assert_eq!(op["status"], "completed", "{to}: {op}");
    }
}

#[tokio::test]
async fn a_meeting_joined_by_token_cannot_invite_a_phone_one_joined_by_organizer_can() {
    let app = answering_app().await;
    // "Bot join the scheduled meeting and then invite PSTN": supported.
    let (by_organizer, _) = app.join_new_meeting(json!(null)).await;
    let op = invite_the_phone(&app, &by_organizer).await;
    assert_eq!(op["status"], "completed", "{op}");
    // "Bot join the call using Join Token and then invite PSTN": not supported.
    let meeting = app.create_meeting(&json!({"subject": "by token"})).await.assert_status(201).clone();
    let by_token = app
        .create_call(&json!({
            "callbackUri": app.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.tokenMeetingInfo", "token": meeting["id"]},
        }))
        .await;
    let by_token = by_token.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    app.hooks.take_for(&by_token);
    let op = invite_the_phone(&app, &by_token).await;
    assert!(failed_with_10151(&op), "{op}");
}
