//! Acting as a directory user through the control API (what the console's buttons do), the
//! live view the console reads, its event stream, and redelivery. Each action must produce
//! exactly the notifications Graph would send had the user acted on a real client.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// `operation <status>`, `roster <n>`, `call <changeType> <state>`, one per notification.
fn summary(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| match r.kind() {
            "call" => format!("call {} {}", r.change_type(), r.resource_data()["state"].as_str().unwrap_or("?")),
            "roster" => format!("roster {}", r.resource_data().as_array().map_or(0, Vec::len)),
            _ => format!("operation {}", r.resource_data()["status"].as_str().unwrap_or("?")),
        })
        .collect()
}

/// A meeting the bot has joined and a manual user invited into it; returns (call, operation id,
/// participant id of the ringing invitee).
async fn ringing_manual_invite(app: &TestApp, user: &str) -> (String, String, String) {
    app.set_user_behaviour(user, json!({"kind": "manual"})).await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let op = app.invite(&call, &invite_body(&[user_identity(user)], "manual")).await.assert_status(200).clone();
    let participant = op["participants"][0]["participantId"].as_str().expect("the invitee's id").to_owned();
    (call, op["id"].as_str().unwrap().to_owned(), participant)
}

fn roster_ids(r: &Received) -> Vec<String> {
    r.resource_data()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            p["info"]["identity"]["user"]["id"].as_str().or(p["info"]["identity"]["application"]["id"].as_str())
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_manual_user_rings_until_someone_accepts_for_them_and_then_joins_with_both_notifications() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let (call, op, participant) = ringing_manual_invite(&app, &adele).await;

    app.advance(30_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "a manual user does not answer by herself");
    assert_eq!(app.get_participant(&call, &participant).await.assert_status(200)["id"], participant.as_str());

    let accepted = app.control_post(&format!("participants/{participant}/accept")).await;
    assert_eq!(accepted.assert_status(200)["id"], participant.as_str());
    app.control(Method::POST, "/_switchboard/outbox/flush", None).await.assert_status(204);
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["operation completed", "roster 2"]);
    assert!(roster_ids(&got[1]).contains(&adele));
    assert_eq!(app.get_operation(&call, &op).await.assert_status(200)["status"], "Completed");

    let again = app.control_post(&format!("participants/{participant}/accept")).await;
    assert!(again.assert_error(409, "conflict").contains("not ringing"));
}

#[tokio::test]
async fn declining_for_a_user_fails_the_invitation_with_603_and_leaves_the_roster_alone() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let (call, op, participant) = ringing_manual_invite(&app, &adele).await;

    app.control_post(&format!("participants/{participant}/decline")).await.assert_status(200);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["operation failed"], "no roster change: she never joined");
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(603), Some(10003)), "{result}");
    assert_eq!(app.get_operation(&call, &op).await.assert_status(200)["status"], "Failed");
}

#[tokio::test]
async fn a_manual_user_nobody_answers_for_fails_at_the_ring_timeout() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let (call, _, _) = ringing_manual_invite(&app, &adele).await;
    app.advance(59_999).await;
    assert!(app.hooks.take_for(&call).is_empty());
    app.advance(1).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["operation failed"]);
    assert_eq!(got[0].resource_data()["resultInfo"]["code"], 408);
}

#[tokio::test]
async fn a_user_leaving_a_meeting_leaves_the_roster_and_every_established_call_is_told() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let (call, _, participant) = ringing_manual_invite(&app, &adele).await;
    app.control_post(&format!("participants/{participant}/accept")).await.assert_status(200);
    app.advance(0).await;
    app.hooks.take_for(&call);

    app.control_post(&format!("participants/{participant}/leave")).await.assert_status(200);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["roster 1"]);
    assert!(!roster_ids(&got[0]).contains(&adele));
    app.get_participant(&call, &participant).await.assert_error(404, "itemNotFound");
    app.control_post(&format!("participants/{participant}/leave")).await.assert_error(409, "conflict");
}

#[tokio::test]
async fn the_callee_of_a_peer_to_peer_call_leaving_ends_it_with_18503() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let call = app.established_p2p(&adele).await;
    let view = app.control(Method::GET, "/_switchboard/conversations", None).await;
    let conversation = &view.assert_status(200)["value"][0];
    let callee = conversation["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["identity"]["id"] == adele.as_str())
        .expect("Adele is in the conversation")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    app.control_post(&format!("participants/{callee}/leave")).await.assert_status(200);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["call updated terminating", "call deleted terminated"]);
    let result = &got[1].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(200), Some(18503)), "{result}");
    app.get_call(&call).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn a_directory_user_joins_a_meeting_in_progress_and_the_bot_sees_the_roster() {
    let app = TestApp::spawn().await;
    let alex = app.user("Alex Wilber");
    let (call, meeting) = app.join_new_meeting(json!(null)).await;
    let meeting_id = meeting["id"].as_str().unwrap();

    let joined = app
        .control(Method::POST, &format!("/_switchboard/meetings/{meeting_id}/join"), Some(&json!({"userId": alex})))
        .await;
    let participant = joined.assert_status(200)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["roster 2"]);
    assert!(roster_ids(&got[0]).contains(&alex));
    assert_eq!(app.get_participant(&call, &participant).await.assert_status(200)["id"], participant.as_str());

    let twice = app
        .control(Method::POST, &format!("/_switchboard/meetings/{meeting_id}/join"), Some(&json!({"userId": alex})))
        .await;
    twice.assert_error(409, "conflict");
    let by_join_id = meeting["joinMeetingIdSettings"]["joinMeetingId"].as_str().unwrap();
    let megan = app.user("Megan Bowen");
    app.control(Method::POST, &format!("/_switchboard/meetings/{by_join_id}/join"), Some(&json!({"userId": megan})))
        .await
        .assert_status(200);
    let nobody = app
        .control(
            Method::POST,
            &format!("/_switchboard/meetings/{meeting_id}/join"),
            Some(&json!({"userId": "no-such-user"})),
        )
        .await;
    nobody.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn joining_a_meeting_no_application_is_in_yet_is_a_conflict() {
    let app = TestApp::spawn().await;
    let meeting = app.create_meeting(&json!({"subject": "empty"})).await.assert_status(201).clone();
    let r = app
        .control(
            Method::POST,
            &format!("/_switchboard/meetings/{}/join", meeting["id"].as_str().unwrap()),
            Some(&json!({"userId": app.user("Alex Wilber")})),
        )
        .await;
    r.assert_error(409, "conflict");
}

#[tokio::test]
async fn an_applications_own_leg_or_an_unknown_participant_cannot_be_acted_for() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let me = app.get_call(&call).await.assert_status(200)["myParticipantId"].as_str().unwrap().to_owned();
    app.control_post(&format!("participants/{me}/leave")).await.assert_error(409, "conflict");
    app.control_post("participants/nobody/accept").await.assert_error(404, "itemNotFound");
    let anonymous = app.request_as(Method::POST, &format!("/_switchboard/participants/{me}/leave"), None, None).await;
    anonymous.assert_error(401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn a_delivered_notification_is_redelivered_as_a_copy_at_the_end_of_its_calls_queue() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let log = app.control(Method::GET, &format!("/_switchboard/notifications?callId={call}"), None).await;
    let log = log.assert_status(200)["value"].as_array().unwrap().clone();
    assert_eq!(log.len(), 3);
    let first = &log[0];
    assert_eq!(first["state"], "delivered");
    assert_eq!(first["attempts"][0]["status"], 202);
    assert!(first["attempts"][0]["latencyMs"].is_i64());
    assert_eq!(first["headers"]["X-Switchboard-Sequence"], "1");

    let copy = app.control_post(&format!("notifications/{}/redeliver", first["id"])).await;
    let copy = copy.assert_status(200).clone();
    assert_eq!((copy["sequence"].as_i64(), copy["redeliveryOf"].as_i64()), (Some(4), first["id"].as_i64()));
    assert_eq!(copy["state"], "pending");
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].sequence(), 4);
    assert_eq!(got[0].body, first["body"], "the same body, again");
    let after = app.control(Method::GET, &format!("/_switchboard/notifications/{}", copy["id"]), None).await;
    assert_eq!(after.assert_status(200)["state"], "delivered");
}

#[tokio::test]
async fn a_notification_still_pending_is_not_redelivered() {
    let app = TestApp::spawn().await;
    app.hooks.answer_with(500);
    let (call, _) = {
        let meeting = app.create_meeting(&json!({"subject": "failing"})).await.assert_status(201).clone();
        let body = json!({
            "callbackUri": app.callback, "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "chatInfo": {"threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo", "organizer": {"user": {"id": app.user("Adele Vance")}}},
        });
        let call = app.create_call(&body).await.assert_status(201)["id"].as_str().unwrap().to_owned();
        app.advance(0).await;
        (call, meeting)
    };
    let log = app.control(Method::GET, &format!("/_switchboard/notifications?callId={call}"), None).await;
    let head = log.assert_status(200)["value"][0].clone();
    assert_eq!(head["state"], "pending");
    assert_eq!(head["attempts"][0]["status"], 500);
    app.control_post(&format!("notifications/{}/redeliver", head["id"])).await.assert_error(409, "conflict");
    app.control_post("notifications/999999/redeliver").await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn the_live_view_lists_conversations_with_calls_operations_and_ringing_participants() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let (call, op, participant) = ringing_manual_invite(&app, &adele).await;
    let view = app.control(Method::GET, "/_switchboard/conversations?limit=5", None).await;
    let conversation = view.assert_status(200)["value"][0].clone();
    assert_eq!(conversation["kind"], "meeting");
    assert_eq!(conversation["calls"][0]["id"], call.as_str());
    assert_eq!(conversation["calls"][0]["state"], "established");
    assert_eq!(conversation["calls"][0]["operations"][0]["id"], op.as_str());
    assert_eq!(conversation["calls"][0]["operations"][0]["status"], "Running");
    let ringing: Vec<&Value> =
        conversation["participants"].as_array().unwrap().iter().filter(|p| p["state"] == "ringing").collect();
    assert_eq!(ringing.len(), 1);
    assert_eq!(ringing[0]["id"], participant.as_str());
    assert_eq!(ringing[0]["invitedByOperationId"], op.as_str());
    let one = app
        .control(Method::GET, &format!("/_switchboard/conversations/{}", conversation["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(one.assert_status(200)["id"], conversation["id"]);
}

/// Reads server-sent events until `done` holds for the `change` events seen so far.
async fn read_events(mut response: reqwest::Response, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut buffer = String::new();
    let mut changes = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while !done(&changes) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await.expect("events in time").unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("the stream stays open")));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if frame.lines().any(|l| l == "event: change") {
                let data = frame.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                changes.push(serde_json::from_str(data).unwrap());
            }
        }
    }
    changes
}

#[tokio::test]
async fn the_event_stream_pushes_each_committed_change_and_needs_the_admin_token() {
    let app = TestApp::spawn().await;
    let (status, _) = app.get_text("/_switchboard/events").await;
    assert_eq!(status, 401);
    let stream =
        app.http.get(format!("{}/_switchboard/events?token={}", app.base, app.admin_token)).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));

    let adele = app.user("Adele Vance");
    let (call, op, participant) = ringing_manual_invite(&app, &adele).await;
    let changes = read_events(stream, |seen| {
        seen.iter().any(|c| c["kind"] == "operation" && c["operationId"] == op.as_str())
            && seen.iter().any(|c| c["kind"] == "participant" && c["participantId"] == participant.as_str())
    })
    .await;
    assert!(changes.iter().any(|c| c["kind"] == "call" && c["callId"] == call.as_str()), "{changes:#?}");
    assert!(changes.iter().any(|c| c["kind"] == "notification"), "{changes:#?}");
    assert!(changes.iter().any(|c| c["kind"] == "directory"), "the behaviour change: {changes:#?}");
}

#[tokio::test]
async fn an_open_event_stream_does_not_hold_up_a_graceful_shutdown() {
    let mut app = TestApp::spawn().await;
    let stream =
        app.http.get(format!("{}/_switchboard/events", app.base)).bearer_auth(&app.admin_token).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(app.terminate(std::time::Duration::from_secs(5)).await, "the server stops while a console is open");
    drop(stream);
}

/// The participant id of `user` in the newest conversation (the console's view).
async fn participant_of(app: &TestApp, user: &str) -> String {
    let view = app.control(Method::GET, "/_switchboard/conversations", None).await;
    view.assert_status(200)["value"][0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["identity"]["id"] == user && p["state"] != "removed")
        .unwrap_or_else(|| panic!("{user} in {}", view.body))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_user_scripted_to_hang_up_after_n_seconds_ends_the_peer_to_peer_call_then() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let call = app.established_p2p(&adele).await;
    let callee = participant_of(&app, &adele).await;
    let body = json!({"afterMs": 5_000});
    app.control(Method::POST, &format!("/_switchboard/participants/{callee}/hangUp"), Some(&body))
        .await
        .assert_status(200);
    app.advance(4_999).await;
    assert!(app.hooks.take_for(&call).is_empty(), "not yet");
    app.advance(1).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["call updated terminating", "call deleted terminated"]);
    let result = &got[1].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(200), Some(18503)), "{result}");

    let bad = json!({"afterMs": -1});
    let path = format!("/_switchboard/participants/{callee}/hangUp");
    app.control(Method::POST, &path, Some(&bad)).await.assert_error(400, "invalidRequest");
    app.control(Method::POST, &path, Some(&body)).await.assert_error(409, "conflict");
    app.control(Method::POST, &path, Some(&json!({}))).await.assert_error(400, "invalidRequest");
}

#[tokio::test]
async fn a_phone_hanging_up_a_peer_to_peer_call_ends_it_with_540000() {
    let app = TestApp::spawn().await;
    app.set_phone_behaviour("+14255550101", json!({"kind": "answer", "afterMs": 0})).await;
    let call = app
        .create_call(&json!({
            "callbackUri": app.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "source": {"identity": {"applicationInstance": {"id": app.credentials["applicationInstance"]["id"]}}},
            "targets": [{"identity": {"@odata.type": "#microsoft.graph.communicationsIdentitySet", "phone": {"id": "+14255550101"}}}],
        }))
        .await;
    let call = call.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    assert_eq!(summary(&app.hooks.take_for(&call)), ["call updated establishing", "call updated established"]);
    let phone = participant_of(&app, "+14255550101").await;
    app.control(Method::POST, &format!("/_switchboard/participants/{phone}/hangUp"), Some(&json!({"afterMs": 0})))
        .await
        .assert_status(200);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["call updated terminating", "call deleted terminated"]);
    assert_eq!(got[1].resource_data()["resultInfo"]["subcode"], 540000);
}

#[tokio::test]
async fn a_group_call_ends_with_5010_when_everyone_but_the_bot_has_left() {
    let app = TestApp::spawn().await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    for user in [&adele, &alex] {
        app.set_user_behaviour(user, json!({"kind": "answer", "afterMs": 0})).await;
    }
    let call = app
        .create_call(&json!({
            "callbackUri": app.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "targets": [{"identity": user_identity(&adele)}, {"identity": user_identity(&alex)}],
        }))
        .await;
    let call = call.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    app.hooks.take_for(&call);
    let (p_adele, p_alex) = (participant_of(&app, &adele).await, participant_of(&app, &alex).await);

    app.control_post(&format!("participants/{p_adele}/leave")).await.assert_status(200);
    app.advance(0).await;
    assert_eq!(summary(&app.hooks.take_for(&call)), ["roster 2"], "the bot and Alex remain");
    app.control_post(&format!("participants/{p_alex}/leave")).await.assert_status(200);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["roster 1", "call updated terminating", "call deleted terminated"]);
    let result = &got[2].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(200), Some(5010)), "{result}");
}
