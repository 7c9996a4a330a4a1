//! Inbound calls to a bot: a directory user (through the control API) or another application
//! (a peer-to-peer create call whose target is an application) calls it; the incoming-call
//! notification goes to the bot's calling webhook; the bot answers or rejects within 15 s; the
//! classic escalation (answer a user's P2P call, then move the user into a meeting).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const BOT_NUMBER: &str = "+14255550100";

/// The calling webhook of the development application, on the test receiver.
fn webhook(app: &TestApp) -> String {
    format!("{}/incoming", app.hooks.url)
}

async fn set_webhook(app: &TestApp, client_id: &str, url: Option<&str>) {
    app.control(
        Method::PUT,
        &format!("/_switchboard/applications/{client_id}/callingWebhook"),
        Some(&json!({ "url": url })),
    )
    .await
    .assert_status(200);
}

/// A user calls the development bot (by its phone number); returns the control API's answer.
async fn user_calls_bot(app: &TestApp, user: &str) -> Value {
    set_webhook(app, &app.client_id, Some(&webhook(app))).await;
    let body = json!({"from": {"userId": user}, "to": {"phoneNumber": BOT_NUMBER}});
    app.control(Method::POST, "/_switchboard/calls", Some(&body)).await.assert_status(201).clone()
}

fn states(got: &[Received]) -> Vec<String> {
    got.iter().map(|r| format!("{} {}", r.change_type(), r.resource_data()["state"].as_str().unwrap_or("?"))).collect()
}

fn answer_body(app: &TestApp) -> Value {
    json!({
        "callbackUri": app.callback,
        "acceptedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
    })
}

fn result_codes(r: &Received) -> (i64, i64) {
    let info = &r.resource_data()["resultInfo"];
    (info["code"].as_i64().unwrap(), info["subcode"].as_i64().unwrap())
}

#[tokio::test]
async fn a_user_calls_the_bot_which_answers_and_the_user_hangs_up() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let placed = user_calls_bot(&app, &adele).await;
    let call = placed["callId"].as_str().unwrap().to_owned();
    app.advance(0).await;

    let got = app.hooks.take_for(&call);
    assert_eq!(states(&got), ["created incoming"]);
    assert_eq!(got[0].path, "/incoming", "the incoming call goes to the calling webhook");
    let incoming = got[0].resource_data();
    assert_eq!(incoming["direction"], "incoming");
    assert_eq!(incoming["id"], call.as_str());
    assert_eq!(incoming["callChainId"], placed["conversationId"]);
    assert_eq!(incoming["source"]["identity"]["user"]["id"], adele.as_str());
    assert_eq!(incoming["source"]["identity"]["user"]["displayName"], "Adele Vance");
    let instance = &app.credentials["applicationInstance"];
    assert_eq!(incoming["targets"][0]["identity"]["applicationInstance"]["id"], instance["id"]);
    assert_eq!(incoming["incomingContext"]["sourceParticipantId"], placed["callerParticipantId"]);
    assert_eq!(incoming["myParticipantId"], placed["applicationParticipantId"]);
    assert_eq!(app.get_call(&call).await.assert_status(200)["state"], "incoming");

    app.post(&format!("/beta/communications/calls/{call}/answer"), &answer_body(&app)).await.assert_status(202);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(states(&got), ["updated establishing", "updated established"]);
    assert!(got.iter().all(|r| r.path == "/callback"), "later notifications go to the answer's callbackUri");
    let established = app.get_call(&call).await.assert_status(200).clone();
    assert_eq!(
        (established["state"].as_str(), established["direction"].as_str()),
        (Some("established"), Some("incoming"))
    );

    let again = app.post(&format!("/beta/communications/calls/{call}/answer"), &answer_body(&app)).await;
    assert!(again.assert_error(409, "conflict").contains("once"));
    let reject = app.post(&format!("/beta/communications/calls/{call}/reject"), &json!({"reason": "busy"})).await;
    reject.assert_error(409, "conflict");

    let caller = placed["callerParticipantId"].as_str().unwrap();
    app.control_post(&format!("participants/{caller}/leave")).await.assert_status(200);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(states(&got), ["updated terminating", "deleted terminated"]);
    assert_eq!(result_codes(&got[1]), (200, 18503));
}

#[tokio::test]
async fn a_rejected_call_is_deleted_with_the_reason_and_cannot_be_answered_after() {
    let app = TestApp::spawn().await;
    for (reason, expected) in [("busy", (486, 10004)), ("None", (603, 10003)), ("forbidden", (403, 10003))] {
        let placed = user_calls_bot(&app, &app.user("Alex Wilber")).await;
        let call = placed["callId"].as_str().unwrap().to_owned();
        app.advance(0).await;
        assert_eq!(states(&app.hooks.take_for(&call)), ["created incoming"]);
        let body = json!({"reason": reason, "callbackUri": app.callback});
        app.post(&format!("/v1.0/communications/calls/{call}/reject"), &body).await.assert_status(202);
        app.advance(0).await;
        let got = app.hooks.take_for(&call);
        assert_eq!(states(&got), ["deleted terminated"], "reason {reason}");
        assert_eq!(got[0].path, "/callback", "the reject's callbackUri is used");
        assert_eq!(result_codes(&got[0]), expected, "reason {reason}");
        app.post(&format!("/beta/communications/calls/{call}/answer"), &answer_body(&app))
            .await
            .assert_error(404, "itemNotFound");
    }
    let placed = user_calls_bot(&app, &app.user("Alex Wilber")).await;
    let call = placed["callId"].as_str().unwrap();
    let bad = app.post(&format!("/beta/communications/calls/{call}/reject"), &json!({"reason": "maybe"})).await;
    bad.assert_error(400, "invalidRequest");
}

#[tokio::test]
async fn an_incoming_call_nobody_answers_ends_after_15_seconds_with_408_1106() {
    let app = TestApp::spawn().await;
    let placed = user_calls_bot(&app, &app.user("Adele Vance")).await;
    let call = placed["callId"].as_str().unwrap().to_owned();
    app.advance(14_999).await;
    assert_eq!(states(&app.hooks.take_for(&call)), ["created incoming"]);
    app.advance(1).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(states(&got), ["deleted terminated"]);
    assert_eq!(result_codes(&got[0]), (408, 1106));
    let message = got[0].resource_data()["resultInfo"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("acknowledgement"), "{message}");
    app.post(&format!("/beta/communications/calls/{call}/answer"), &answer_body(&app))
        .await
        .assert_error(404, "itemNotFound");
    let view = app
        .control(
            Method::GET,
            &format!("/_switchboard/conversations/{}", placed["conversationId"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(view.assert_status(200)["ended"], true, "{}", view.body);
}

#[tokio::test]
async fn answer_and_reject_refuse_what_cannot_be_answered() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let outgoing = app.established_p2p(&adele).await;
    let r = app.post(&format!("/beta/communications/calls/{outgoing}/answer"), &answer_body(&app)).await;
    assert!(r.assert_error(400, "invalidRequest").contains("outgoing"));
    app.post(&format!("/beta/communications/calls/{outgoing}/reject"), &json!({}))
        .await
        .assert_error(400, "invalidRequest");
    app.post("/beta/communications/calls/nope/answer", &answer_body(&app)).await.assert_error(404, "itemNotFound");
    app.post("/beta/communications/calls/nope/reject", &json!({})).await.assert_error(404, "itemNotFound");

    let placed = user_calls_bot(&app, &adele).await;
    let call = placed["callId"].as_str().unwrap();
    let no_callback = json!({"acceptedModalities": ["audio"], "mediaConfig": {}});
    app.post(&format!("/beta/communications/calls/{call}/answer"), &no_callback)
        .await
        .assert_error(400, "invalidRequest");
    // acceptedModalities and mediaConfig are required (call-answer), the latter of a known type.
    let mut body = answer_body(&app);
    body.as_object_mut().unwrap().remove("acceptedModalities");
    let message = app.post(&format!("/beta/communications/calls/{call}/answer"), &body).await;
    assert!(message.assert_error(400, "invalidRequest").contains("acceptedModalities is required"));
    for media in [None, Some(json!({})), Some(json!({"@odata.type": "#microsoft.graph.foo"}))] {
        let mut body = answer_body(&app);
        match media {
            Some(media) => body["mediaConfig"] = media,
            None => drop(body.as_object_mut().unwrap().remove("mediaConfig")),
        }
        let message = app.post(&format!("/beta/communications/calls/{call}/answer"), &body).await;
        assert!(message.assert_error(400, "invalidRequest").contains("mediaConfig"), "{body}");
    }
    let bad_callback = json!({"callbackUri": "http://example.com/cb", "acceptedModalities": ["audio"]});
    app.post(&format!("/beta/communications/calls/{call}/answer"), &bad_callback)
        .await
        .assert_error(400, "invalidRequest");
    app.post_raw(&format!("/beta/communications/calls/{call}/answer"), "application/json", "{")
        .await
        .assert_error(400, "invalidRequest");
    // Still waiting: the failed attempts changed nothing.
    assert_eq!(app.get_call(call).await.assert_status(200)["state"], "incoming");

    // The control API: unknown caller or application, no webhook, bad bodies.
    let calls = "/_switchboard/calls";
    let unknown_user = json!({"from": {"userId": "nobody"}, "to": {"applicationId": app.client_id}});
    app.control(Method::POST, calls, Some(&unknown_user)).await.assert_error(404, "itemNotFound");
    let unknown_app = json!({"from": {"userId": adele}, "to": {"applicationId": "nobody"}});
    app.control(Method::POST, calls, Some(&unknown_app)).await.assert_error(404, "itemNotFound");
    let two = json!({"from": {"userId": adele, "phoneNumber": "+14255550101"}, "to": {"applicationId": app.client_id}});
    app.control(Method::POST, calls, Some(&two)).await.assert_error(400, "invalidRequest");
    let bad_number = json!({"from": {"phoneNumber": "12"}, "to": {"applicationId": app.client_id}});
    app.control(Method::POST, calls, Some(&bad_number)).await.assert_error(400, "invalidRequest");
    set_webhook(&app, &app.client_id, None).await;
    let by_id = json!({"from": {"phoneNumber": "+14255550101"}, "to": {"applicationId": app.client_id}});
    let r = app.control(Method::POST, calls, Some(&by_id)).await;
    assert!(r.assert_error(409, "conflict").contains("calling webhook"));
    let r = app
        .control(
            Method::PUT,
            &format!("/_switchboard/applications/{}/callingWebhook", app.client_id),
            Some(&json!({"url": "http://example.com/hook"})),
        )
        .await;
    r.assert_error(400, "invalidRequest");
}

#[tokio::test]
async fn answering_with_application_hosted_media_needs_calls_access_media() {
    let app = TestApp::spawn().await;
    let seed = json!({"applications": [{
        "clientId": "7c1f0a52-0000-4000-8000-00000000b0b2", "tenantId": app.tenant_id, "displayName": "No media bot",
        "clientSecrets": ["s3cret-s3cret-s3cret"], "permissions": ["Calls.JoinGroupCall.All"],
        "callingWebhook": webhook(&app),
    }]});
    app.control(Method::POST, "/_switchboard/directory/import", Some(&seed)).await.assert_status(204);
    let token = app.control_post("applications/7c1f0a52-0000-4000-8000-00000000b0b2/token").await;
    let token = token.assert_status(200)["access_token"].as_str().unwrap().to_owned();
    let body = json!({"from": {"userId": app.user("Adele Vance")}, "to": {"applicationId": "7c1f0a52-0000-4000-8000-00000000b0b2"}});
    let placed = app.control(Method::POST, "/_switchboard/calls", Some(&body)).await.assert_status(201).clone();
    let path = format!("/beta/communications/calls/{}/answer", placed["callId"].as_str().unwrap());
    let app_hosted = json!({"callbackUri": app.callback, "acceptedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.appHostedMediaConfig", "blob": "<blob>"}});
    let r = app.request_as(Method::POST, &path, Some(&token), Some(&app_hosted)).await;
    assert!(r.assert_error(403, "accessDenied").contains("Calls.AccessMedia.All"));
    app.request_as(Method::POST, &path, Some(&token), Some(&answer_body(&app))).await.assert_status(202);
}

#[tokio::test]
async fn a_204_to_the_first_incoming_call_notification_gets_it_sent_once_more() {
    let app = TestApp::spawn().await;
    app.hooks.answer_with(204);
    let placed = user_calls_bot(&app, &app.user("Adele Vance")).await;
    let call = placed["callId"].as_str().unwrap().to_owned();
    app.advance(0).await;
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(states(&got), ["created incoming", "created incoming"], "sent once more, and only once");
    assert_eq!(got[0].body, got[1].body);
    assert_eq!((got[0].sequence(), got[1].sequence()), (1, 2));

    // Later 204s are just deliveries.
    app.post(&format!("/beta/communications/calls/{call}/answer"), &answer_body(&app)).await.assert_status(202);
    app.advance(0).await;
    app.advance(0).await;
    assert_eq!(states(&app.hooks.take_for(&call)), ["updated establishing", "updated established"]);
}

/// A second application of the development tenant, with a calling webhook; returns its token.
async fn second_bot(app: &TestApp, client_id: &str) -> String {
    let seed = json!({"applications": [{
        "clientId": client_id, "tenantId": app.tenant_id, "displayName": "Second Bot",
        "clientSecrets": ["s3cret-s3cret-s3cret"], "permissions": ["Calls.Initiate.All", "Calls.AccessMedia.All"],
        "callingWebhook": webhook(app),
    }]});
    app.control(Method::POST, "/_switchboard/directory/import", Some(&seed)).await.assert_status(204);
    let token = app.control_post(&format!("applications/{client_id}/token")).await;
    token.assert_status(200)["access_token"].as_str().unwrap().to_owned()
}

async fn call_application(app: &TestApp, client_id: &str) -> String {
    let call = app
        .create_call(&json!({
            "callbackUri": app.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "targets": [{"@odata.type": "#microsoft.graph.invitationParticipantInfo",
                         "identity": {"@odata.type": "#microsoft.graph.identitySet",
                                      "application": {"id": client_id, "displayName": "Second Bot"}}}],
        }))
        .await;
    call.assert_status(201)["id"].as_str().unwrap().to_owned()
}

/// The incoming call notified to the second bot (on the webhook), taken off the receiver.
fn incoming_for_second_bot(app: &TestApp) -> Received {
    let all = app.hooks.take();
    let (incoming, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.path == "/incoming");
    assert_eq!(incoming.len(), 1, "{incoming:#?}");
    assert!(rest.is_empty(), "{rest:#?}");
    incoming.into_iter().next().unwrap()
}

#[tokio::test]
async fn an_application_calls_another_which_answers_and_both_calls_are_established() {
    let app = TestApp::spawn().await;
    let second = "5b2c9d1e-0000-4000-8000-0000000000b2";
    let token = second_bot(&app, second).await;
    let calling = call_application(&app, second).await;
    app.advance(0).await;
    assert_eq!(states(&app.hooks.take_for(&calling)), ["updated establishing"]);
    let incoming = incoming_for_second_bot(&app);
    let called = incoming.call_id();
    let data = incoming.resource_data();
    assert_eq!(states(std::slice::from_ref(&incoming)), ["created incoming"]);
    assert_eq!(data["source"]["identity"]["application"]["id"], app.client_id.as_str());
    assert_eq!(data["targets"][0]["identity"]["application"]["id"], second);
    let calling_call = app.get_call(&calling).await;
    assert_eq!(data["callChainId"], calling_call.assert_status(200)["callChainId"]);
    // The called call belongs to the second bot only.
    app.get_call(&called).await.assert_error(404, "itemNotFound");

    let path = format!("/beta/communications/calls/{called}/answer");
    app.request_as(Method::POST, &path, Some(&token), Some(&answer_body(&app))).await.assert_status(202);
    app.advance(0).await;
    assert_eq!(states(&app.hooks.take_for(&calling)), ["updated established"]);
    assert_eq!(states(&app.hooks.take_for(&called)), ["updated establishing", "updated established"]);

    // The called bot hangs up: the caller's call ends as ended by its peer (4521).
    let hang_up = format!("/beta/communications/calls/{called}");
    app.request_as(Method::DELETE, &hang_up, Some(&token), None).await.assert_status(204);
    app.advance(0).await;
    let got = app.hooks.take_for(&called);
    assert_eq!(states(&got), ["updated terminating", "deleted terminated"]);
    assert_eq!(result_codes(&got[1]), (200, 7000));
    let got = app.hooks.take_for(&calling);
    assert_eq!(states(&got), ["updated terminating", "deleted terminated"]);
    assert_eq!(result_codes(&got[1]), (200, 4521));
}

#[tokio::test]
async fn an_application_whose_call_is_rejected_or_not_answered_hears_why() {
    let app = TestApp::spawn().await;
    let second = "5b2c9d1e-0000-4000-8000-0000000000b3";
    let token = second_bot(&app, second).await;

    let calling = call_application(&app, second).await;
    app.advance(0).await;
    assert_eq!(states(&app.hooks.take_for(&calling)), ["updated establishing"]);
    let called = incoming_for_second_bot(&app).call_id();
    let path = format!("/beta/communications/calls/{called}/reject");
    app.request_as(Method::POST, &path, Some(&token), Some(&json!({"reason": "busy"}))).await.assert_status(202);
    app.advance(0).await;
    let got = app.hooks.take_for(&calling);
    assert_eq!(states(&got), ["deleted terminated"]);
    assert_eq!(result_codes(&got[0]), (486, 10004));
    assert_eq!(states(&app.hooks.take_for(&called)), ["deleted terminated"]);

    let calling = call_application(&app, second).await;
    app.advance(0).await;
    assert_eq!(states(&app.hooks.take_for(&calling)), ["updated establishing"]);
    let called = incoming_for_second_bot(&app).call_id();
    app.advance(15_000).await;
    let got = app.hooks.take_for(&calling);
    assert_eq!(states(&got), ["deleted terminated"]);
    assert_eq!(result_codes(&got[0]), (408, 10057));
    let got = app.hooks.take_for(&called);
    assert_eq!(result_codes(&got[0]), (408, 1106));

    // An application that is not in the directory has no endpoint.
    let calling = call_application(&app, "00000000-0000-4000-8000-00000000dead").await;
    app.advance(0).await;
    let got = app.hooks.take_for(&calling);
    assert_eq!(states(&got), ["updated establishing", "deleted terminated"]);
    assert_eq!(result_codes(&got[1]), (480, 10037));
}

#[tokio::test]
async fn the_bot_answers_a_users_call_and_escalates_it_into_a_meeting() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let placed = user_calls_bot(&app, &adele).await;
    let p2p = placed["callId"].as_str().unwrap().to_owned();
    app.advance(0).await;
    app.hooks.take_for(&p2p);
    app.post(&format!("/beta/communications/calls/{p2p}/answer"), &answer_body(&app)).await.assert_status(202);
    app.advance(0).await;
    assert_eq!(states(&app.hooks.take_for(&p2p)), ["updated establishing", "updated established"]);

    let (meeting_call, _) = app.join_new_meeting(json!(null)).await;
    let mut body = invite_body(&[user_identity(&adele)], "escalate");
    body["participants"][0]["replacesCallId"] = json!(p2p);
    let op = app.invite(&meeting_call, &body).await.assert_status(200).clone();
    app.advance(0).await;

    let got = app.hooks.take_for(&meeting_call);
    let kinds: Vec<&str> = got.iter().map(Received::kind).collect();
    assert_eq!(kinds, ["operation", "roster"], "{got:#?}");
    assert_eq!(got[0].resource_data()["status"], "completed");
    assert_eq!(got[0].resource_data()["id"], op["id"]);
    let roster = got[1].resource_data().as_array().unwrap();
    assert!(roster.iter().any(|p| p["info"]["identity"]["user"]["id"] == adele.as_str()), "{roster:#?}");

    let got = app.hooks.take_for(&p2p);
    assert_eq!(states(&got), ["updated terminating", "deleted terminated"]);
    assert_eq!(result_codes(&got[1]), (200, 7015));
}
