//! Live agents (docs/agents.md): a directory user's client connected over the WebSocket is rung
//! there instead of by the simulated behaviour, accepts, declines, leaves and mutes itself, and
//! sees the roster of its calls; the bot gets exactly the notifications a user on a real client
//! would cause. Run against the real binary (virtual clock) with a real WebSocket client.

mod common;

use std::time::Duration;

use common::agent::Agent;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

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

fn user_ids(participants: &Value) -> Vec<String> {
    participants
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["info"]["identity"]["user"]["id"].as_str())
        .map(str::to_owned)
        .collect()
}

fn of_user<'a>(participants: &'a Value, user: &str) -> Option<&'a Value> {
    participants.as_array().unwrap().iter().find(|p| p["info"]["identity"]["user"]["id"] == user)
}

/// Waits for `count` notifications of `call` and takes them.
async fn notifications(app: &TestApp, call: &str, count: usize) -> Vec<Received> {
    let got = app.hooks.wait_for(call, count, WAIT).await;
    assert_eq!(got.len(), count, "{}", summary(&got).join(", "));
    app.hooks.take_for(call)
}

/// Invites `user` into `call`; returns the operation.
async fn invite(app: &TestApp, call: &str, user: &str) -> Value {
    app.invite(call, &invite_body(&[user_identity(user)], "agents")).await.assert_status(200).clone()
}

/// A meeting the bot joined, `user`'s agent rung into it and accepting; returns (call, the
/// agent's participant id), with the answer's notifications taken and the agent's first roster read.
async fn agent_in_meeting(app: &TestApp, agent: &mut Agent) -> (String, String) {
    let (call, _) = app.join_new_meeting(json!(null)).await;
    invite(app, &call, &agent.user_id).await;
    let invitation = agent.expect("invitation").await;
    let participant = invitation["participantId"].as_str().unwrap().to_owned();
    agent.accept(&participant).await;
    agent.expect("answered").await;
    agent.expect("roster").await;
    notifications(app, &call, 2).await;
    (call, participant)
}

#[tokio::test]
async fn an_agent_is_rung_instead_of_the_simulation_and_its_accept_completes_the_invite_with_a_roster() {
    let app = TestApp::spawn().await;
    // Adele's simulated endpoint would answer after one second; her agent rings instead.
    let adele = app.user("Adele Vance");
    let mut agent = Agent::connect(&app, &adele).await;
    let (call, meeting) = app.join_new_meeting(json!(null)).await;
    let op = invite(&app, &call, &adele).await;

    let invitation = agent.expect("invitation").await;
    let participant = invitation["participantId"].as_str().unwrap().to_owned();
    assert_eq!(op["participants"][0]["participantId"], participant.as_str());
    assert_eq!(invitation["callId"], call.as_str());
    assert_eq!(invitation["caller"]["application"]["id"], app.client_id.as_str());
    assert_eq!(invitation["chatInfo"]["threadId"], meeting["chatInfo"]["threadId"]);
    assert!(invitation["conversationId"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(invitation["ringDeadline"].as_str().is_some_and(|d| d.ends_with('Z')));

    app.advance(5_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "the simulated answer does not happen: the agent rings");

    agent.accept(&participant).await;
    assert_eq!(agent.expect("answered").await["participantId"], participant.as_str());
    let roster = agent.expect("roster").await;
    assert_eq!(roster["participantId"], participant.as_str());
    assert_eq!(user_ids(&roster["participants"]), [adele.as_str()]);
    assert_eq!(roster["participants"].as_array().unwrap().len(), 2, "the bot and Adele: {roster}");

    let got = notifications(&app, &call, 2).await;
    assert_eq!(summary(&got), ["operation completed", "roster 2"]);
    assert_eq!(got[0].resource_data()["id"], op["id"]);
    assert_eq!(user_ids(got[1].resource_data()), [adele.as_str()]);
    assert_eq!(app.get_operation(&call, op["id"].as_str().unwrap()).await.assert_status(200)["status"], "Completed");
}

#[tokio::test]
async fn an_agent_declines_with_603_or_busy_486_and_a_p2p_call_to_it_ends_with_that_code() {
    let app = TestApp::spawn().await;
    let alex = app.user("Alex Wilber");
    let mut agent = Agent::connect(&app, &alex).await;
    let (call, _) = app.join_new_meeting(json!(null)).await;

    for (reason, code, subcode) in [("decline", 603, 10003), ("busy", 486, 10004)] {
        invite(&app, &call, &alex).await;
        let participant = agent.expect("invitation").await["participantId"].as_str().unwrap().to_owned();
        agent.decline(&participant, reason).await;
        assert_eq!(agent.expect("declined").await["participantId"], participant.as_str());
        let got = notifications(&app, &call, 1).await;
        assert_eq!(summary(&got), ["operation failed"], "no roster: the agent never joined");
        let result = &got[0].resource_data()["resultInfo"];
        assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(code), Some(subcode)), "{result}");
    }

    // A peer-to-peer call the agent declines ends with the same code.
    let p2p = app
        .create_call(&json!({
            "callbackUri": app.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "targets": [{"@odata.type": "#microsoft.graph.invitationParticipantInfo", "identity": user_identity(&alex)}],
        }))
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invitation = agent.expect("invitation").await;
    assert_eq!(invitation["callId"], p2p.as_str());
    agent.decline(invitation["participantId"].as_str().unwrap(), "busy").await;
    agent.expect("declined").await;
    let got = notifications(&app, &p2p, 2).await;
    let states: Vec<&str> = got.iter().map(|n| n.resource_data()["state"].as_str().unwrap_or("")).collect();
    assert_eq!(states, ["establishing", "terminated"], "{got:#?}");
    let last = got.last().unwrap().resource_data();
    assert_eq!(last["state"], "terminated");
    assert_eq!((last["resultInfo"]["code"].as_i64(), last["resultInfo"]["subcode"].as_i64()), (Some(486), Some(10004)));
}

#[tokio::test]
async fn with_two_agents_both_ring_the_first_accept_wins_and_the_other_is_told() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let mut phone = Agent::connect(&app, &adele).await;
    let mut desk = Agent::connect(&app, &adele).await;
    assert_ne!(phone.session_id, desk.session_id);
    let (call, _) = app.join_new_meeting(json!(null)).await;
    invite(&app, &call, &adele).await;
    let on_phone = phone.expect("invitation").await;
    let on_desk = desk.expect("invitation").await;
    assert_eq!(on_phone["participantId"], on_desk["participantId"], "one invitation, two agents");
    let participant = on_desk["participantId"].as_str().unwrap().to_owned();

    desk.accept(&participant).await;
    desk.expect("answered").await;
    let told = phone.expect("answeredElsewhere").await;
    assert_eq!(told["participantId"], participant.as_str());
    phone.accept(&participant).await;
    assert_eq!(phone.expect("error").await["code"], "notRinging", "too late: answered elsewhere");
    desk.expect("roster").await;
    let got = notifications(&app, &call, 2).await;
    assert_eq!(summary(&got), ["operation completed", "roster 2"], "answered once");
}

#[tokio::test]
async fn leaving_mutes_and_roster_changes_reach_both_the_bot_and_the_agent() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let alex = app.user("Alex Wilber");
    let mut agent = Agent::connect(&app, &adele).await;
    let (call, participant) = agent_in_meeting(&app, &mut agent).await;

    // Self-mute: the bot's roster and the agent's show it.
    agent.mute(&participant, true).await;
    assert_eq!(agent.expect("muted").await["muted"], true);
    let roster = agent.expect("roster").await;
    assert_eq!(of_user(&roster["participants"], &adele).unwrap()["isMuted"], true);
    let got = notifications(&app, &call, 1).await;
    assert_eq!(summary(&got), ["roster 2"]);
    assert_eq!(of_user(got[0].resource_data(), &adele).unwrap()["isMuted"], true);

    // Someone else joins: the agent is told the new roster.
    app.set_user_behaviour(&alex, json!({"kind": "answer", "afterMs": 0})).await;
    invite(&app, &call, &alex).await;
    app.advance(0).await;
    let roster = agent.expect("roster").await;
    let mut users = user_ids(&roster["participants"]);
    users.sort();
    let mut expected = vec![adele.clone(), alex.clone()];
    expected.sort();
    assert_eq!(users, expected);
    notifications(&app, &call, 2).await;

    // The agent leaves: the bot's roster loses her; the agent is not told a roster any more.
    agent.leave(&participant).await;
    assert_eq!(agent.expect("left").await["participantId"], participant.as_str());
    let got = notifications(&app, &call, 1).await;
    assert_eq!(user_ids(got[0].resource_data()), [alex.as_str()]);
    agent.mute(&participant, false).await;
    assert_eq!(agent.expect("error").await["code"], "notConnected");
}

#[tokio::test]
async fn a_ring_timeout_or_a_cancel_tells_the_agent_cancelled_and_removal_tells_it_ended() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let mut agent = Agent::connect(&app, &adele).await;
    let (call, _) = app.join_new_meeting(json!(null)).await;

    invite(&app, &call, &adele).await;
    let participant = agent.expect("invitation").await["participantId"].as_str().unwrap().to_owned();
    app.advance(60_000).await;
    let cancelled = agent.expect("cancelled").await;
    assert_eq!((&cancelled["participantId"], &cancelled["reason"]), (&json!(participant), &json!("cancelled")));
    let got = notifications(&app, &call, 1).await;
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(408), Some(10057)), "{result}");
    agent.accept(&participant).await;
    assert_eq!(agent.expect("error").await["code"], "notRinging");

    // The bot cancels the invitation (DELETE of the ringing participant).
    invite(&app, &call, &adele).await;
    let participant = agent.expect("invitation").await["participantId"].as_str().unwrap().to_owned();
    app.delete_participant(&call, &participant).await.assert_status(204);
    assert_eq!(agent.expect("cancelled").await["participantId"], participant.as_str());
    let got = notifications(&app, &call, 1).await;
    assert_eq!(got[0].resource_data()["resultInfo"]["code"], 487);

    // A connected agent removed by the bot is told the call ended.
    invite(&app, &call, &adele).await;
    let participant = agent.expect("invitation").await["participantId"].as_str().unwrap().to_owned();
    agent.accept(&participant).await;
    agent.expect("answered").await;
    agent.expect("roster").await;
    notifications(&app, &call, 2).await;
    app.delete_participant(&call, &participant).await.assert_status(204);
    assert_eq!(agent.expect("ended").await["participantId"], participant.as_str());
}

#[tokio::test]
async fn agents_that_disconnect_stop_ringing_and_leave_their_calls() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let (call, _) = app.join_new_meeting(json!(null)).await;

    // Two agents ring; one goes away and the other still rings; when the last goes, the
    // invitation fails as unreachable.
    let mut first = Agent::connect(&app, &adele).await;
    let mut second = Agent::connect(&app, &adele).await;
    invite(&app, &call, &adele).await;
    first.expect("invitation").await;
    second.expect("invitation").await;
    first.close().await;
    second.assert_quiet(Duration::from_millis(300)).await;
    assert!(app.hooks.take_for(&call).is_empty(), "still ringing on the other agent");
    second.close().await;
    let got = notifications(&app, &call, 1).await;
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(480), Some(10076)), "{result}");

    // A connected agent that disconnects leaves the call.
    let mut agent = Agent::connect(&app, &adele).await;
    let (meeting_call, _) = agent_in_meeting(&app, &mut agent).await;
    agent.close().await;
    let got = notifications(&app, &meeting_call, 1).await;
    assert_eq!(summary(&got), ["roster 1"], "only the bot remains");

    // With no agent left, the user is simulated again (Adele answers after one second).
    invite(&app, &call, &adele).await;
    app.advance(1_000).await;
    let got = notifications(&app, &call, 2).await;
    assert_eq!(summary(&got), ["operation completed", "roster 2"]);
}

#[tokio::test]
async fn a_bad_token_an_unknown_user_or_a_plain_request_is_refused_with_a_graph_error() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let refused = Agent::connect_with(&app, &adele, Some("not-the-admin-token")).await.err().expect("refused");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["error"]["code"], "InvalidAuthenticationToken");
    let refused = Agent::connect_with(&app, &adele, None).await.err().expect("refused");
    assert_eq!(refused.status, 401);
    let refused = Agent::connect_with(&app, "no-such-user", Some(&app.admin_token)).await.err().expect("refused");
    assert_eq!(refused.status, 404);
    // Not a WebSocket handshake.
    let plain = app.control(Method::GET, &format!("/_switchboard/agents?userId={adele}"), None).await;
    plain.assert_error(400, "invalidRequest");
    let no_user = app.control(Method::GET, "/_switchboard/agents", None).await;
    assert!(no_user.assert_error(400, "invalidRequest").contains("userId"));
    // The admin token in the query serves browsers.
    let url = format!(
        "{}/_switchboard/agents?userId={adele}&token={}",
        app.base.replace("http://", "ws://"),
        app.admin_token
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("accepted with the query token");
    use futures::StreamExt;
    let welcome = socket.next().await.unwrap().unwrap();
    assert!(welcome.to_text().unwrap().contains("\"welcome\""));
}

#[tokio::test]
async fn malformed_messages_get_an_error_and_the_session_goes_on() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let mut agent = Agent::connect(&app, &adele).await;
    for bad in [
        Message::Text("not json".into()),
        Message::Text(r#"{"type": "fly"}"#.into()),
        Message::Text(r#"{"type": "accept"}"#.into()),
        Message::Text(r#"{"type": "mute", "participantId": "x", "muted": "yes"}"#.into()),
        Message::Text(r#"{"type": "accept", "participantId": "x", "extra": 1}"#.into()),
        Message::Binary(vec![0, 1, 2].into()),
    ] {
        agent.send_raw(bad.clone()).await;
        let error = agent.expect("error").await;
        assert_eq!(error["code"], "badMessage", "{bad:?}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    agent.accept("no-such-participant").await;
    assert_eq!(agent.expect("error").await["code"], "notRinging");
    agent.leave("no-such-participant").await;
    assert_eq!(agent.expect("error").await["code"], "notConnected");

    // Still in service: it is rung and answers.
    let (call, _) = agent_in_meeting(&app, &mut agent).await;
    assert!(app.get_call(&call).await.assert_status(200)["id"].is_string());
}

#[tokio::test]
async fn a_ring_left_in_the_leg_inbox_by_a_crash_runs_after_the_restart() {
    let mut app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let _agent = Agent::connect(&app, &adele).await;
    app.control(Method::PUT, "/_switchboard/failpoints/legs-before-dispatch", None).await.assert_status(204);
    // The process may abort before the invite's response is written: its answer does not matter.
    let body = invite_body(&[user_identity(&adele)], "agents");
    let _ = app
        .http
        .post(format!("{}/beta/communications/calls/{call}/participants/invite", app.base))
        .bearer_auth(app.token())
        .json(&body)
        .send()
        .await;
    let status = app.wait_for_exit().await;
    assert!(!status.success(), "the server stopped with the ring in its leg inbox");
    assert!(app.hooks.take_for(&call).is_empty());

    // After the restart the ring runs; the agent did not survive, so the invitation fails as
    // unreachable at once (not at the ring deadline, a minute later).
    let app = app.restart().await;
    let got = notifications(&app, &call, 1).await;
    assert_eq!(summary(&got), ["operation failed"]);
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(480), Some(10076)), "{result}");
}

#[tokio::test]
async fn a_connected_agent_leaves_its_call_when_its_server_restarts() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let mut agent = Agent::connect(&app, &adele).await;
    let (call, participant) = agent_in_meeting(&app, &mut agent).await;
    // Their delivery recorded first: a kill before that would (rightly) deliver them again.
    app.control(Method::POST, "/_switchboard/outbox/flush", None).await.assert_status(204);

    // SIGKILL: the agent's WebSocket does not survive; the restarted server ends its leg.
    let app = app.restart().await;
    let got = notifications(&app, &call, 1).await;
    assert_eq!(got[0].kind(), "roster");
    assert!(of_user(got[0].resource_data(), &adele).is_none(), "{}", got[0].resource_data());
    app.get_participant(&call, &participant).await.assert_status(404);
}

#[tokio::test]
async fn a_peer_to_peer_call_answered_by_an_agent_is_established_and_ends_when_the_agent_leaves() {
    let app = TestApp::spawn().await;
    let megan = app.user("Megan Bowen");
    let mut agent = Agent::connect(&app, &megan).await;
    let call = app
        .create_call(&json!({
            "callbackUri": app.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "targets": [{"@odata.type": "#microsoft.graph.invitationParticipantInfo", "identity": user_identity(&megan)}],
        }))
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Megan's simulated endpoint would decline after two seconds; her agent rings instead.
    app.advance(3_000).await;
    let invitation = agent.expect("invitation").await;
    assert_eq!(invitation["callId"], call.as_str());
    assert!(invitation["chatInfo"].is_null(), "a peer-to-peer call has no chat: {invitation}");
    let participant = invitation["participantId"].as_str().unwrap().to_owned();
    agent.accept(&participant).await;
    agent.expect("answered").await;
    let roster = agent.expect("roster").await;
    assert_eq!(roster["participants"].as_array().unwrap().len(), 2, "the bot and Megan: {roster}");
    let got = notifications(&app, &call, 2).await;
    let states: Vec<&str> = got.iter().map(|n| n.resource_data()["state"].as_str().unwrap_or("")).collect();
    assert_eq!(states, ["establishing", "established"]);

    agent.leave(&participant).await;
    agent.expect("left").await;
    let got = notifications(&app, &call, 2).await;
    let last = got.last().unwrap().resource_data();
    assert_eq!(last["state"], "terminated");
    assert_eq!((last["resultInfo"]["code"].as_i64(), last["resultInfo"]["subcode"].as_i64()), (Some(200), Some(18503)));
    app.get_call(&call).await.assert_error(404, "itemNotFound");
}

/// Points the development bot's calling webhook at the test receiver.
async fn set_calling_webhook(app: &TestApp) {
    let url = format!("{}/incoming", app.hooks.url);
    app.control(
        Method::PUT,
        &format!("/_switchboard/applications/{}/callingWebhook", app.client_id),
        Some(&json!({ "url": url })),
    )
    .await
    .assert_status(200);
}

fn answer_body(app: &TestApp) -> Value {
    json!({
        "callbackUri": app.callback,
        "acceptedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
    })
}

#[tokio::test]
async fn an_agent_calls_the_bot_which_answers_then_hangs_up_or_rejects() {
    let app = TestApp::spawn().await;
    set_calling_webhook(&app).await;
    let adele = app.user("Adele Vance");
    let mut agent = Agent::connect(&app, &adele).await;
    let number = "+14255550100"; // the development application instance's number

    agent.send(json!({"type": "callApplication", "to": {"phoneNumber": number}})).await;
    let calling = agent.expect("calling").await;
    let call = calling["callId"].as_str().unwrap().to_owned();
    let participant = calling["participantId"].as_str().unwrap().to_owned();
    app.advance(0).await;
    let got = notifications(&app, &call, 1).await;
    assert_eq!(got[0].path, "/incoming", "the incoming call goes to the bot's calling webhook");
    let incoming = got[0].resource_data();
    assert_eq!(incoming["state"], "incoming");
    assert_eq!(incoming["source"]["identity"]["user"]["id"], adele.as_str());
    assert_eq!(incoming["incomingContext"]["sourceParticipantId"], participant.as_str());

    app.post(&format!("/beta/communications/calls/{call}/answer"), &answer_body(&app)).await.assert_status(202);
    assert_eq!(agent.expect("connected").await["participantId"], participant.as_str());
    let roster = agent.until("roster").await;
    assert_eq!(roster["participants"].as_array().unwrap().len(), 2, "the agent and the bot: {roster}");
    app.delete_call(&call).await.assert_status(204);
    assert_eq!(agent.until("ended").await["participantId"], participant.as_str());

    // The bot rejects the next call: the agent hears why.
    agent.send(json!({"type": "callApplication", "to": {"applicationId": app.client_id}})).await;
    let calling = agent.expect("calling").await;
    let call = calling["callId"].as_str().unwrap().to_owned();
    app.post(&format!("/beta/communications/calls/{call}/reject"), &json!({"reason": "busy"})).await.assert_status(202);
    let rejected = agent.expect("rejected").await;
    assert_eq!(rejected["participantId"], calling["participantId"]);
    assert!(rejected["code"].as_i64().is_some_and(|c| c >= 400), "{rejected}");
    assert!(rejected["message"].as_str().is_some_and(|m| !m.is_empty()));

    // Addresses that name no application, or more than one address.
    agent.send(json!({"type": "callApplication", "to": {"phoneNumber": "+15550000000"}})).await;
    assert_eq!(agent.expect("error").await["code"], "notFound");
    agent.send(json!({"type": "callApplication", "to": {"applicationId": app.client_id, "phoneNumber": number}})).await;
    assert_eq!(agent.expect("error").await["code"], "badMessage");
}

#[tokio::test]
async fn a_server_mute_by_the_bot_is_told_to_the_agent() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let mut agent = Agent::connect(&app, &adele).await;
    let (call, participant) = agent_in_meeting(&app, &mut agent).await;
    app.post(&format!("/beta/communications/calls/{call}/participants/{participant}/mute"), &json!({}))
        .await
        .assert_status(200);
    // Both the server mute and the roster it changed, in either order.
    let (first, second) = (agent.next().await, agent.next().await);
    let (muted, roster) = if first["type"] == "muted" { (first, second) } else { (second, first) };
    assert_eq!(
        (&muted["type"], &muted["participantId"], &muted["muted"]),
        (&json!("muted"), &json!(participant), &json!(true))
    );
    assert_eq!(roster["type"], "roster");
    assert_eq!(of_user(&roster["participants"], &adele).unwrap()["isMuted"], true);
}

/// The bot calls the agent's user peer-to-peer and the agent answers; returns (the call, the
/// agent's participant id), with the call's notifications taken and the agent's roster read.
async fn agent_in_p2p_call(app: &TestApp, agent: &mut Agent) -> (String, String) {
    let p2p = app
        .create_call(&json!({
            "callbackUri": app.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "targets": [{"@odata.type": "#microsoft.graph.invitationParticipantInfo", "identity": user_identity(&agent.user_id)}],
        }))
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invitation = agent.expect("invitation").await;
    let p2p_leg = invitation["participantId"].as_str().unwrap().to_owned();
    agent.accept(&p2p_leg).await;
    agent.expect("answered").await;
    agent.expect("roster").await;
    notifications(app, &p2p, 2).await; // establishing, established
    (p2p, p2p_leg)
}

/// The bot joins a new meeting and escalates its peer-to-peer call with `user` into it
/// (`replacesCallId`); returns the meeting's call.
async fn escalate_into_new_meeting(app: &TestApp, p2p: &str, user: &str) -> String {
    let (meeting, _) = app.join_new_meeting(json!(null)).await;
    let body = json!({
        "participants": [{
            "@odata.type": "#microsoft.graph.invitationParticipantInfo",
            "identity": user_identity(user),
            "replacesCallId": p2p,
        }],
        "clientContext": "escalate-agent",
    });
    app.invite(&meeting, &body).await.assert_status(200);
    app.advance(0).await;
    meeting
}

/// The agent's messages up to and including the `ended` of `leg`.
async fn until_ended(agent: &mut Agent, leg: &str) -> Vec<Value> {
    let mut got = Vec::new();
    loop {
        let message = agent.next().await;
        let done = message["type"] == "ended" && message["participantId"] == leg;
        got.push(message);
        if done {
            return got;
        }
    }
}

#[tokio::test]
async fn an_agent_escalated_into_a_meeting_is_told_it_joined_sees_its_roster_and_can_leave() {
    let app = TestApp::spawn().await;
    let megan = app.user("Megan Bowen");
    let mut agent = Agent::connect(&app, &megan).await;
    // The bot calls Megan peer-to-peer; her agent answers.
    let (p2p, p2p_leg) = agent_in_p2p_call(&app, &mut agent).await;

    // The bot joins a meeting and escalates the peer-to-peer call into it.
    let meeting = escalate_into_new_meeting(&app, &p2p, &megan).await;

    let joined = agent.expect("joined").await;
    let leg = joined["participantId"].as_str().unwrap().to_owned();
    assert_ne!(leg, p2p_leg, "a new leg in the meeting: {joined}");
    assert_eq!(joined["replacesParticipantId"], p2p_leg.as_str());
    assert_eq!(joined["callId"], meeting.as_str());
    assert!(joined["chatInfo"]["threadId"].is_string(), "a meeting has a chat: {joined}");
    let mut roster = agent.next().await;
    let mut ended = None;
    // The old leg's `ended` and the meeting's roster come in either order.
    if roster["type"] == "ended" {
        ended = Some(roster);
        roster = agent.until("roster").await;
    }
    assert_eq!(roster["type"], "roster", "{roster}");
    assert_eq!(roster["participantId"], leg.as_str());
    assert!(user_ids(&roster["participants"]).contains(&megan), "Megan is in the meeting: {roster}");
    let ended = match ended {
        Some(ended) => ended,
        None => agent.until("ended").await,
    };
    assert_eq!(ended["participantId"], p2p_leg.as_str(), "the peer-to-peer leg ends");

    // The bot: the operation completes, the roster shows Megan, the replaced call ends (7015).
    let got = notifications(&app, &meeting, 2).await;
    assert_eq!(summary(&got)[0], "operation completed", "{:?}", summary(&got));
    let bot_roster = got[1].resource_data();
    assert!(user_ids(bot_roster).contains(&megan), "{bot_roster}");
    let got = app.hooks.wait_for(&p2p, 1, WAIT).await;
    let last = got.last().unwrap().resource_data();
    assert_eq!(last["state"], "terminated");
    assert_eq!(last["resultInfo"]["subcode"].as_i64(), Some(7015), "{last}");

    // Megan leaves the meeting from her agent: the bot's roster drops her.
    agent.leave(&leg).await;
    agent.expect("left").await;
    let got = notifications(&app, &meeting, 1).await;
    assert_eq!(summary(&got), ["roster 1"], "only the bot is left");
    assert!(!user_ids(got[0].resource_data()).contains(&megan));
    let meeting_roster = app.get(&format!("/v1.0/communications/calls/{meeting}/participants")).await;
    assert!(!user_ids(&meeting_roster.body["value"]).contains(&megan), "{}", meeting_roster.body);
}

/// Asserts that `got`, an agent's messages from its `joined` on, tell the new leg's roster once:
/// the change that joined it is one roster change, whichever order its leg commands run in.
fn one_roster_of(got: &[Value], leg: &str) {
    let kinds: Vec<String> = got.iter().map(|m| format!("{} {}", m["type"], m["participantId"])).collect();
    let rosters: Vec<&Value> = got.iter().filter(|m| m["type"] == "roster").collect();
    assert_eq!(rosters.len(), 1, "one roster of the joined leg {leg}: {kinds:?}");
    assert_eq!(rosters[0]["participantId"], leg, "{kinds:?}");
}

#[tokio::test]
async fn an_agent_escalated_into_a_meeting_is_told_its_roster_once() {
    let app = TestApp::spawn().await;
    let megan = app.user("Megan Bowen");
    let mut agent = Agent::connect(&app, &megan).await;
    let (p2p, p2p_leg) = agent_in_p2p_call(&app, &mut agent).await;
    let meeting = escalate_into_new_meeting(&app, &p2p, &megan).await;
    let leg = agent.expect("joined").await["participantId"].as_str().unwrap().to_owned();
    let mut got = until_ended(&mut agent, &p2p_leg).await;
    notifications(&app, &meeting, 2).await; // operation completed, roster

    // The bot removes her: her leg's `ended` comes from a later round of the leg task than
    // everything the join caused, so every message the join sent her has come before it.
    app.delete_participant(&meeting, &leg).await.assert_status(204);
    got.extend(until_ended(&mut agent, &leg).await);
    one_roster_of(&got, &leg);
}

/// The agent of `user` joins a meeting; the bot joins a new one and moves the agent's
/// participant there (`replacesCallId`, `participantId`). Returns (the first meeting's call,
/// the agent's leg there, the new meeting's call).
async fn move_into_new_meeting(app: &TestApp, agent: &mut Agent, user: &str) -> (String, String, String) {
    let (source, old_leg) = agent_in_meeting(app, agent).await;
    let (target, _) = app.join_new_meeting(json!(null)).await;
    let body = json!({
        "participants": [{
            "@odata.type": "#microsoft.graph.invitationParticipantInfo",
            "identity": user_identity(user),
            "replacesCallId": source,
            "participantId": old_leg,
        }],
        "clientContext": "move-agent",
    });
    app.invite(&target, &body).await.assert_status(200);
    app.advance(0).await;
    (source, old_leg, target)
}

#[tokio::test]
async fn an_agent_moved_to_another_meeting_is_told_its_roster_once() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let mut agent = Agent::connect(&app, &adele).await;
    let (_, old_leg, target) = move_into_new_meeting(&app, &mut agent, &adele).await;
    let leg = agent.expect("joined").await["participantId"].as_str().unwrap().to_owned();
    let mut got = until_ended(&mut agent, &old_leg).await;
    notifications(&app, &target, 2).await; // operation completed, roster

    app.delete_participant(&target, &leg).await.assert_status(204);
    got.extend(until_ended(&mut agent, &leg).await);
    one_roster_of(&got, &leg);
}

#[tokio::test]
async fn an_agent_moved_to_another_meeting_is_told_it_joined_and_leaves_the_first() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let mut agent = Agent::connect(&app, &adele).await;
    let (source, old_leg, target) = move_into_new_meeting(&app, &mut agent, &adele).await;

    let joined = agent.expect("joined").await;
    let leg = joined["participantId"].as_str().unwrap().to_owned();
    assert_eq!(joined["replacesParticipantId"], old_leg.as_str());
    assert_eq!(joined["callId"], target.as_str());
    assert_eq!(agent.until("ended").await["participantId"], old_leg.as_str());
    let got = notifications(&app, &target, 2).await;
    assert_eq!(summary(&got)[0], "operation completed", "{:?}", summary(&got));
    assert!(user_ids(got[1].resource_data()).contains(&adele));
    let got = notifications(&app, &source, 1).await;
    assert!(!user_ids(got[0].resource_data()).contains(&adele), "she left the source meeting");

    // The new leg is hers: mute and leave work there.
    agent.mute(&leg, true).await;
    assert_eq!(agent.until("muted").await["participantId"], leg.as_str());
    let got = notifications(&app, &target, 1).await;
    assert_eq!(of_user(got[0].resource_data(), &adele).unwrap()["isMuted"], true);
    agent.leave(&leg).await;
    agent.until("left").await;
    let got = notifications(&app, &target, 1).await;
    assert!(!user_ids(got[0].resource_data()).contains(&adele));
}
