//! Invites that race each other or the calls they name, black box, against the real binary:
//! requests sent together (`tokio::join!`), then the rosters, operations and notifications
//! checked for what must hold whatever order the server took them in.
//!
//! - Two moves of one participant (`participantId` + `replacesCallId`) into two meetings, both
//!   accepted before either ran: the participant ends up in one meeting only, and the other
//!   move fails as its source ended (487/10171), each operation with one terminal notification.
//! - Many invites into one meeting held by several calls, through two nodes on one PostgreSQL
//!   database, while the nodes deliver the meeting's rosters: every invite answers 200 and
//!   completes, each call's notifications arrive once each and in order, its last roster holds
//!   everyone, and no unit of work fails as a PostgreSQL deadlock.
//! - One user invited into one meeting by several requests at once, on SQLite and through two
//!   PostgreSQL nodes: one invite is taken, every other is `409 conflict`, and the user is in
//!   the roster once.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// A move of `participant` (in `source_call`) into the call the invite is posted to.
fn move_body(source_call: &str, participant: &str, user: &str) -> Value {
    json!({
        "participants": [{
            "@odata.type": "#microsoft.graph.invitationParticipantInfo",
            "replacesCallId": source_call,
            "participantId": participant,
            "identity": user_identity(user),
        }],
        "clientContext": "move",
    })
}

/// The ids of the roster of `call`, the bot's own participant left out.
async fn others_in_roster(app: &TestApp, call: &str) -> Vec<String> {
    let mine = app.get_call(call).await.assert_status(200)["myParticipantId"].clone();
    let roster = app.list_participants(call, "").await;
    let value = roster.assert_status(200)["value"].as_array().unwrap().clone();
    value.iter().filter(|p| p["id"] != mine).map(|p| p["info"]["identity"]["user"]["id"].to_string()).collect()
}

/// The terminal statuses each operation's notifications reported, by operation id.
fn terminal_statuses(got: &[Received]) -> HashMap<String, Vec<String>> {
    let mut statuses: HashMap<String, Vec<String>> = HashMap::new();
    for r in got.iter().filter(|r| r.kind() == "operation") {
        let data = r.resource_data();
        statuses.entry(data["id"].as_str().unwrap().to_owned()).or_default().push(data["status"].to_string());
    }
    statuses
}

#[tokio::test]
async fn a_participant_moved_into_two_meetings_at_once_joins_one_and_the_other_move_fails() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    app.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 0})).await;
    // A few rounds: whichever way the server orders the two moves, the same must hold.
    for round in 0..3 {
        let (source, _) = app.join_new_meeting(json!(null)).await;
        let (first, _) = app.join_new_meeting(json!(null)).await;
        let (second, _) = app.join_new_meeting(json!(null)).await;
        let invited = app.invite(&source, &invite_body(&[user_identity(&adele)], "into the source")).await;
        let participant = invited.assert_status(200)["participants"][0]["participantId"].as_str().unwrap().to_owned();
        app.advance(0).await;
        assert_eq!(others_in_roster(&app, &source).await.len(), 1, "round {round}: Adele is in the source");

        let body = move_body(&source, &participant, &adele);
        let (to_first, to_second) = tokio::join!(app.invite(&first, &body), app.invite(&second, &body));
        app.advance(0).await;

        let in_first = others_in_roster(&app, &first).await.len();
        let in_second = others_in_roster(&app, &second).await.len();
        assert_eq!(in_first + in_second, 1, "round {round}: Adele is in exactly one target meeting");
        assert!(others_in_roster(&app, &source).await.is_empty(), "round {round}: she left the source");
        let got = app.hooks.take();
        let statuses = terminal_statuses(&got);
        let mut outcomes = Vec::new();
        for (response, call) in [(&to_first, &first), (&to_second, &second)] {
            if response.status == 400 {
                // The second move was taken once the first had run: no longer in the source.
                response.assert_error(400, "invalidRequest");
                continue;
            }
            let op = response.assert_status(200)["id"].as_str().unwrap().to_owned();
            let done = app.get_operation(call, &op).await.assert_status(200).clone();
            assert_eq!(statuses[&op].len(), 1, "round {round}: one terminal notification: {got:#?}");
            if done["status"] == "Failed" {
                let result = &done["resultInfo"];
                assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(487), Some(10171)), "{done}");
            }
            outcomes.push(done["status"].as_str().unwrap().to_owned());
        }
        outcomes.sort();
        assert!(outcomes == ["Completed"] || outcomes == ["Completed", "Failed"], "round {round}: {outcomes:?}");
    }
}

/// Joins `meeting` through `app` as the guest `guest` (so one application holds several calls
/// in one meeting); returns the call id.
async fn join_as_guest(app: &TestApp, meeting: &Value, guest: &str) -> String {
    let call = app
        .create_call(&json!({
            "@odata.type": "#microsoft.graph.call",
            "callbackUri": app.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "source": {"identity": {"guest": {"id": guest, "displayName": guest}}},
            "chatInfo": {"@odata.type": "#microsoft.graph.chatInfo", "threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                            "organizer": {"@odata.type": "#microsoft.graph.identitySet", "user": {"id": app.user("Adele Vance")}}},
            "tenantId": app.tenant_id,
        }))
        .await;
    call.assert_status(201)["id"].as_str().unwrap().to_owned()
}

/// Polls the receiver (at most 20 s) until `done` holds for everything it received; returns it.
async fn received_until(app: &TestApp, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let all = app.hooks.all();
        if done(&all) || tokio::time::Instant::now() >= deadline {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The participants of the last roster notification each call received, by call id.
fn last_rosters(got: &[Received]) -> HashMap<String, usize> {
    let mut last = HashMap::new();
    for r in got.iter().filter(|r| r.kind() == "roster") {
        last.insert(r.call_id(), r.resource_data().as_array().unwrap().len());
    }
    last
}

#[tokio::test]
async fn many_invites_into_one_meeting_through_two_postgresql_nodes_all_complete_and_arrive_once_in_order() {
    let schema = PgSchema::create().await;
    let options =
        || SpawnOptions { clock_virtual: false, database_url: Some(schema.url.clone()), ..Default::default() };
    let a = TestApp::spawn_with(options()).await;
    let b = a.another_node(options()).await;
    let nodes = [&a, &b];
    // Users who answer after 50 ms: their answers are timers, fired on both nodes while the
    // invites are still coming in and the rosters being delivered.
    let users: Vec<String> = (0..40).map(|i| format!("user-{i}")).collect();
    let seed: Vec<Value> = users
        .iter()
        .map(|u| json!({"id": u, "tenantId": a.tenant_id, "displayName": u, "behaviour": {"kind": "answer", "afterMs": 50}}))
        .collect();
    a.control(reqwest::Method::POST, "/_switchboard/directory/import", Some(&json!({"users": seed})))
        .await
        .assert_status(204);
    let meeting = a.create_meeting(&json!({"subject": "races"})).await.assert_status(201).clone();
    let mut calls = Vec::new();
    for guest in 0..4 {
        calls.push(join_as_guest(nodes[guest % 2], &meeting, &format!("guest-{guest}")).await);
    }
    let everyone = users.len() + calls.len();
    let established = |got: &[Received], call: &String| {
        got.iter().any(|r| r.call_id() == *call && r.kind() == "call" && r.resource_data()["state"] == "established")
    };
    let got = received_until(&a, |got| calls.iter().all(|c| established(got, c))).await;
    assert!(calls.iter().all(|c| established(&got, c)), "{got:#?}");

    let invites = users.iter().enumerate().map(|(i, user)| {
        let (node, call) = (nodes[i % 2], &calls[i % calls.len()]);
        async move { node.invite(call, &invite_body(&[user_identity(user)], &format!("invite {i}"))).await }
    });
    let operations: Vec<String> = futures::future::join_all(invites)
        .await
        .iter()
        .map(|r| r.assert_status(200)["id"].as_str().unwrap().to_owned())
        .collect();

    let got = received_until(&a, |got| {
        let statuses = terminal_statuses(got);
        let rosters = last_rosters(got);
        operations.iter().all(|op| statuses.contains_key(op)) && calls.iter().all(|c| rosters.get(c) == Some(&everyone))
    })
    .await;
    let statuses = terminal_statuses(&got);
    for op in &operations {
        assert_eq!(statuses.get(op), Some(&vec!["\"completed\"".to_owned()]), "operation {op}");
    }
    assert!(calls.iter().all(|c| last_rosters(&got).get(c) == Some(&everyone)), "{:?}", last_rosters(&got));
    for call in &calls {
        let sequences: Vec<i64> = got.iter().filter(|r| r.call_id() == *call).map(Received::sequence).collect();
        assert_eq!(sequences, (1..=sequences.len() as i64).collect::<Vec<_>>(), "call {call}: once each, in order");
    }
    for node in nodes {
        assert!(!node.server_log().contains("40P01"), "a unit of work ended as a deadlock:\n{}", node.server_log());
    }
}

/// Invites `user` into `call` through `nodes` (in turn), eight times at once: one invite is
/// taken and completes, every other is a conflict, and the user is in the roster once.
async fn invite_one_user_many_times_at_once(nodes: &[&TestApp], call: &str, user: &str) {
    let body = invite_body(&[user_identity(user)], "again");
    let invites = (0..8).map(|i| nodes[i % nodes.len()].invite(call, &body));
    let answers = futures::future::join_all(invites).await;
    let taken: Vec<&Resp> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(taken.len(), 1, "{answers:#?}");
    for refused in answers.iter().filter(|r| r.status != 200) {
        refused.assert_error(409, "conflict");
    }
    let op = taken[0].body["id"].as_str().unwrap().to_owned();
    let got = received_until(nodes[0], |got| terminal_statuses(got).contains_key(&op)).await;
    assert_eq!(terminal_statuses(&got).get(&op), Some(&vec!["\"completed\"".to_owned()]), "{got:#?}");
    let roster = nodes[0].list_participants(call, "").await;
    let users = roster.assert_status(200)["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["info"]["identity"]["user"]["id"] == user);
    assert_eq!(users.count(), 1, "{}", roster.body);
}

#[tokio::test]
async fn one_user_invited_by_several_requests_at_once_is_taken_once_on_sqlite() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    app.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 0})).await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    invite_one_user_many_times_at_once(&[&app], &call, &adele).await;
}

#[tokio::test]
async fn one_user_invited_by_several_requests_at_once_through_two_postgresql_nodes_is_taken_once() {
    let schema = PgSchema::create().await;
    let options =
        || SpawnOptions { clock_virtual: false, database_url: Some(schema.url.clone()), ..Default::default() };
    let a = TestApp::spawn_with(options()).await;
    let b = a.another_node(options()).await;
    let adele = a.user("Adele Vance");
    a.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 0})).await;
    let call =
        join_as_guest(&a, &a.create_meeting(&json!({"subject": "races"})).await.assert_status(201).clone(), "g").await;
    received_until(&a, |got| got.iter().any(|r| r.kind() == "call" && r.resource_data()["state"] == "established"))
        .await;
    invite_one_user_many_times_at_once(&[&a, &b], &call, &adele).await;
}
