//! `POST .../participants/{id}/mute`: a server mute of a user, a phone or another
//! application's leg in a group call or meeting; the settled operation, its notification, and
//! the roster with `isMuted: true`. And a user muting themselves through the control API.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const FRONT_DESK: &str = "+14255550101";

/// A meeting the bot joined with `identity` invited and connected; returns (call, participant id).
async fn meeting_with(app: &TestApp, identity: Value) -> (String, String) {
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let op = app.invite(&call, &invite_body(&[identity], "join")).await.assert_status(200).clone();
    let participant = op["participants"][0]["participantId"].as_str().unwrap().to_owned();
    app.advance(5_000).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.iter().map(Received::kind).collect::<Vec<_>>(), ["operation", "roster"], "{got:#?}");
    (call, participant)
}

fn find<'a>(roster: &'a Value, participant: &str) -> &'a Value {
    roster.as_array().unwrap().iter().find(|p| p["id"] == participant).unwrap_or_else(|| panic!("{roster:#}"))
}

async fn mute(app: &TestApp, call: &str, participant: &str, body: &Value) -> Resp {
    app.post(&format!("/beta/communications/calls/{call}/participants/{participant}/mute"), body).await
}

/// Mutes `participant` and checks the response, the operation notification and the roster.
async fn mutes_and_reports(app: &TestApp, call: &str, participant: &str) {
    let r = mute(app, call, participant, &json!({"clientContext": "mute-ctx"})).await;
    let op = r.assert_status(200).clone();
    assert_eq!(op["@odata.type"], "#microsoft.graph.muteParticipantOperation");
    assert_eq!(op["status"], "Completed");
    assert_eq!(op["clientContext"], "mute-ctx");
    assert!(op["@odata.context"].as_str().unwrap().ends_with("$metadata#muteParticipantOperation"));
    assert!(op.get("participants").is_none(), "{op}");
    let id = op["id"].as_str().unwrap();
    assert!(r.location().ends_with(&format!("/communications/calls/{call}/operations/{id}")));

    app.advance(0).await;
    let got = app.hooks.take_for(call);
    assert_eq!(got.iter().map(Received::kind).collect::<Vec<_>>(), ["operation", "roster"], "{got:#?}");
    let notified = got[0].resource_data();
    assert_eq!(got[0].change_type(), "deleted");
    assert_eq!((notified["status"].as_str(), notified["id"].as_str()), (Some("completed"), Some(id)));
    assert_eq!(notified["@odata.type"], "#microsoft.graph.muteParticipantOperation");
    let muted = find(got[1].resource_data(), participant);
    assert_eq!(muted["isMuted"], true);
    assert_eq!(muted["mediaStreams"][0]["serverMuted"], true);

    let read = app.get_operation(call, id).await.assert_status(200).clone();
    assert_eq!((read["status"].as_str(), read["clientContext"].as_str()), (Some("Completed"), Some("mute-ctx")));
    let got = app.get_participant(call, participant).await.assert_status(200).clone();
    assert_eq!(got["isMuted"], true);
}

#[tokio::test]
async fn the_bot_mutes_a_user_in_its_meeting() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let (call, participant) = meeting_with(&app, user_identity(&adele)).await;
    mutes_and_reports(&app, &call, &participant).await;

    // Muting again settles another operation; the roster does not change.
    mute(&app, &call, &participant, &json!({})).await.assert_status(200);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.iter().map(Received::kind).collect::<Vec<_>>(), ["operation"]);
}

#[tokio::test]
async fn the_bot_mutes_a_phone_participant() {
    let app = TestApp::spawn().await;
    let phone = json!({"@odata.type": "#microsoft.graph.identitySet", "phone": {"id": FRONT_DESK}});
    let (call, participant) = meeting_with(&app, phone).await;
    mutes_and_reports(&app, &call, &participant).await;
}

#[tokio::test]
async fn a_bot_mutes_another_applications_leg_and_that_bot_sees_itself_muted() {
    let app = TestApp::spawn().await;
    let (call, meeting) = app.join_new_meeting(json!(null)).await;
    let second = "6d3a7e20-0000-4000-8000-0000000000c3";
    let seed = json!({"applications": [{
        "clientId": second, "tenantId": app.tenant_id, "displayName": "Second Bot",
        "clientSecrets": ["s3cret-s3cret-s3cret"], "permissions": ["Calls.JoinGroupCall.All"],
    }]});
    app.control(Method::POST, "/_switchboard/directory/import", Some(&seed)).await.assert_status(204);
    let token = app.control_post(&format!("applications/{second}/token")).await;
    let token = token.assert_status(200)["access_token"].as_str().unwrap().to_owned();
    let join = json!({
        "callbackUri": app.callback,
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        "chatInfo": {"threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
        "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                        "organizer": {"user": {"id": app.user("Adele Vance")}}},
    });
    let r = app.request_as(Method::POST, "/beta/communications/calls", Some(&token), Some(&join)).await;
    let second_call = r.assert_status(201)["id"].as_str().unwrap().to_owned();
    let second_leg = r.body["myParticipantId"].as_str().unwrap().to_owned();
    app.advance(0).await;
    app.hooks.take_for(&call);
    app.hooks.take_for(&second_call);

    mutes_and_reports(&app, &call, &second_leg).await;
    let got = app.hooks.take_for(&second_call);
    assert_eq!(got.iter().map(Received::kind).collect::<Vec<_>>(), ["roster"], "{got:#?}");
    assert_eq!(find(got[0].resource_data(), &second_leg)["isMuted"], true);
}

#[tokio::test]
async fn mute_refuses_what_it_cannot_mute() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let p2p = app.established_p2p(&adele).await;
    let view = app.control(Method::GET, "/_switchboard/conversations", None).await;
    let callee = view.assert_status(200)["value"][0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["identity"]["id"] == adele.as_str())
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .expect("the callee in the view");
    assert!(mute(&app, &p2p, &callee, &json!({})).await.assert_error(400, "invalidRequest").contains("group calls"));

    let (call, participant) = meeting_with(&app, user_identity(&app.user("Alex Wilber"))).await;
    mute(&app, &call, "nobody", &json!({})).await.assert_error(404, "itemNotFound");
    mute(&app, "nope", &participant, &json!({})).await.assert_error(404, "itemNotFound");
    let long = json!({"clientContext": "x".repeat(257)});
    mute(&app, &call, &participant, &long).await.assert_error(400, "invalidRequest");
    app.post_raw(
        &format!("/beta/communications/calls/{call}/participants/{participant}/mute"),
        "application/json",
        "[",
    )
    .await
    .assert_error(400, "invalidRequest");

    app.set_user_behaviour(&adele, json!({"kind": "manual"})).await;
    let op = app.invite(&call, &invite_body(&[user_identity(&adele)], "ring")).await.assert_status(200).clone();
    let ringing = op["participants"][0]["participantId"].as_str().unwrap();
    mute(&app, &call, ringing, &json!({})).await.assert_error(409, "conflict");
    app.advance(0).await;
    assert!(app.hooks.take_for(&call).is_empty(), "refused mutes notify nothing");
}

#[tokio::test]
async fn a_user_mutes_and_unmutes_themselves_and_the_roster_shows_it() {
    let app = TestApp::spawn().await;
    let (call, participant) = meeting_with(&app, user_identity(&app.user("Adele Vance"))).await;
    let r = app.control_post(&format!("participants/{participant}/mute")).await;
    assert_eq!(r.assert_status(200)["isMuted"], true);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.iter().map(Received::kind).collect::<Vec<_>>(), ["roster"]);
    assert_eq!(find(got[0].resource_data(), &participant)["isMuted"], true);

    app.control_post(&format!("participants/{participant}/unmute")).await.assert_status(200);
    app.control_post(&format!("participants/{participant}/unmute")).await.assert_status(200);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.len(), 1, "unmuting twice changes the roster once: {got:#?}");
    assert_eq!(find(got[0].resource_data(), &participant)["isMuted"], false);

    let me = app.get_call(&call).await.assert_status(200)["myParticipantId"].as_str().unwrap().to_owned();
    app.control_post(&format!("participants/{me}/mute")).await.assert_error(409, "conflict");
    app.control_post("participants/nobody/mute").await.assert_error(404, "itemNotFound");
}
