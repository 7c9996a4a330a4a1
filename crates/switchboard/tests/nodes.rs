//! Several nodes on one PostgreSQL database: two server processes (system clock), a call
//! created through one and an invite through the other, every notification delivered exactly
//! once; then the node that took an invite is killed while the invitee rings, and the other
//! node finishes the invite and delivers its notifications, but not before the hold of the
//! node that died before answering has run out, even when the other node held the call a
//! moment before; a call to the bot placed on one node
//! is answered on the other; an agent connected to one node is rung through that node's leg
//! inbox when another node takes the invite; the live legs of a killed node are ended by the
//! other once the node timeout has passed (docs/codes.md), and its phones hung up by the other
//! node when that node has a trunk too; a node that was only stalled that long lets go of its
//! agents and phones when it runs again; a route fault armed through one node is answered by
//! both, its uses counted once; a run of notifications to a slow receiver stops within
//! its lease, so the other node never posts its rows again.

mod common;
#[path = "sipp/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use harness::Sipp;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

fn node_options(schema: &PgSchema) -> SpawnOptions {
    SpawnOptions {
        clock_virtual: false,
        database_url: Some(schema.url.clone()),
        // A short lease, so a dead node's claimed notifications move on quickly.
        extra_args: vec!["--delivery-total-timeout".into(), "2".into()],
        ..SpawnOptions::default()
    }
}

/// Nodes that take each other over after 1 s of silence (the default is 15 s).
fn quick_takeover(schema: &PgSchema) -> SpawnOptions {
    let mut options = node_options(schema);
    options.extra_args.extend(["--node-timeout".into(), "1".into()]);
    options
}

/// Joins a new meeting through `app`; returns the call id.
async fn join_meeting(app: &TestApp) -> String {
    join_meeting_with(app, &app.callback, None).await
}

/// [`join_meeting`] with these callbacks and, when given, these `callOptions`.
async fn join_meeting_with(app: &TestApp, callback: &str, call_options: Option<Value>) -> String {
    let meeting = app.create_meeting(&json!({"subject": "nodes"})).await.assert_status(201).clone();
    let mut body = json!({
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": callback,
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        "chatInfo": {"@odata.type": "#microsoft.graph.chatInfo", "threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
        "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                        "organizer": {"@odata.type": "#microsoft.graph.identitySet", "user": {"id": app.user("Adele Vance")}}},
        "tenantId": app.tenant_id,
    });
    if let Some(options) = call_options {
        body["callOptions"] = options;
    }
    let call = app.create_call(&body).await;
    call.assert_status(201)["id"].as_str().unwrap().to_owned()
}

/// Two nodes on `schema`, Adele's agent connected to node B, a meeting joined through node A (its
/// first three notifications received) and Adele invited to it: the agent holds the invitation.
struct AgentInvitedOnB {
    a: TestApp,
    b: TestApp,
    agent: common::agent::Agent,
    call: String,
    /// The invite's operation.
    op: Value,
    invitation: Value,
}

async fn agent_invited_on_b(schema: &PgSchema, options: fn(&PgSchema) -> SpawnOptions) -> AgentInvitedOnB {
    let a = TestApp::spawn_with(options(schema)).await;
    let b = a.another_node(options(schema)).await;
    let adele = a.user("Adele Vance");
    let mut agent = common::agent::Agent::connect(&b, &adele).await;
    let call = join_meeting(&a).await;
    assert_eq!(a.hooks.wait_for(&call, 3, WAIT).await.len(), 3);
    let op = a.invite(&call, &invite_body(&[user_identity(&adele)], "agent on B")).await.assert_status(200).clone();
    let invitation = agent.expect("invitation").await;
    AgentInvitedOnB { a, b, agent, call, op, invitation }
}

/// [`agent_invited_on_b`] with nodes that take each other over after 1 s, once the agent
/// accepted and the invite completed: returns the setup, the agent's participant id and the
/// call's notifications so far.
async fn agent_connected_on_b(schema: &PgSchema) -> (AgentInvitedOnB, String, Vec<Received>) {
    let mut setup = agent_invited_on_b(schema, quick_takeover).await;
    let participant = setup.invitation["participantId"].as_str().unwrap().to_owned();
    setup.agent.accept(&participant).await;
    setup.agent.expect("answered").await;
    let got = setup.a.hooks.wait_for(&setup.call, 5, WAIT).await;
    assert_eq!(operation_status(&got, &setup.op["id"]), Some(&json!("completed")), "{got:#?}");
    (setup, participant, got)
}

/// Each sequence number of the call received exactly once, numbered from 1 without a gap.
fn assert_exactly_once(got: &[Received]) {
    let mut by_sequence: BTreeMap<i64, usize> = BTreeMap::new();
    for r in got {
        *by_sequence.entry(r.sequence()).or_default() += 1;
    }
    let duplicated: Vec<_> = by_sequence.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "delivered more than once: {duplicated:?}");
    let sequences: Vec<i64> = by_sequence.keys().copied().collect();
    assert_eq!(sequences, (1..=got.len() as i64).collect::<Vec<_>>(), "no gap");
}

/// The operation failed as unreachable (480/10076), as a taken-over ringing leg does.
fn assert_failed_unreachable(got: &[Received], op: &Value) {
    assert_eq!(operation_status(got, &op["id"]), Some(&json!("failed")), "{got:#?}");
    let failed = got.iter().find(|r| r.kind() == "operation").unwrap();
    let result = &failed.resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(480), Some(10076)), "{got:#?}");
}

fn operation_status<'a>(got: &'a [Received], operation_id: &Value) -> Option<&'a Value> {
    got.iter()
        .find(|r| r.kind() == "operation" && r.resource_data()["id"] == *operation_id)
        .map(|r| &r.resource_data()["status"])
}

#[tokio::test]
async fn a_call_made_on_one_node_takes_an_invite_on_another_and_each_notification_arrives_once() {
    let schema = PgSchema::create().await;
    let a = TestApp::spawn_with(node_options(&schema)).await;
    let b = a.another_node(node_options(&schema)).await;
    let (adele, alex) = (a.user("Adele Vance"), a.user("Alex Wilber"));
    b.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 300})).await;
    b.set_user_behaviour(&alex, json!({"kind": "answer", "afterMs": 300})).await;

    let call = join_meeting(&a).await;
    let joined = a.hooks.wait_for(&call, 3, WAIT).await;
    assert_eq!(joined.len(), 3, "establishing, established, roster: {joined:#?}");

    let op = b.invite(&call, &invite_body(&[user_identity(&alex)], "through node B")).await.assert_status(200).clone();
    let got = a.hooks.wait_for(&call, 5, WAIT).await;
    assert_eq!(operation_status(&got, &op["id"]), Some(&json!("completed")), "{got:#?}");
    assert!(got.iter().any(|r| r.kind() == "roster"
        && r.resource_data()
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["info"]["identity"]["user"]["id"] == alex))));
    // Whichever node fired the timer or posted, nothing arrives twice, even a while later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = a.hooks.take_for(&call);
    assert_eq!(got.len(), 5, "{got:#?}");
    assert_exactly_once(&got);
    assert_eq!(
        a.get_operation(&call, op["id"].as_str().unwrap()).await.assert_status(200)["status"],
        "Completed",
        "node A reads what node B started"
    );
}

/// GETs the call through `app` until a request is answered with `status` (each earlier one
/// answered 200): a route fault armed on another node reaches this one through PostgreSQL.
async fn get_call_until(app: &TestApp, call: &str, status: u16) -> Resp {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let r = app.get_call(call).await;
        if r.status.as_u16() == status {
            return r;
        }
        r.assert_status(200);
        assert!(std::time::Instant::now() < deadline, "never answered {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_route_fault_armed_through_one_node_is_answered_by_every_node_and_counted_once() {
    let schema = PgSchema::create().await;
    let a = TestApp::spawn_with(node_options(&schema)).await;
    let b = a.another_node(node_options(&schema)).await;
    let call = join_meeting(&a).await;
    // Both nodes have read that no route fault is armed, and no longer look for one.
    a.get_call(&call).await.assert_status(200);
    b.get_call(&call).await.assert_status(200);
    let routes = "/_switchboard/faults/routes";
    let fault = json!({"path": "/communications/calls/{call_id}", "method": "GET", "status": 503, "retryAfter": 4,
                       "count": 2});
    a.control(reqwest::Method::POST, routes, Some(&fault)).await.assert_status(201);
    let r = get_call_until(&b, &call, 503).await;
    r.assert_error(503, "serviceNotAvailable");
    assert_eq!(r.headers["retry-after"], "4");
    // The second of its two uses is taken through node A; then neither node answers it.
    a.get_call(&call).await.assert_error(503, "serviceNotAvailable");
    a.get_call(&call).await.assert_status(200);
    b.get_call(&call).await.assert_status(200);

    // Armed through B until cleared, listed through A, cleared through A for both.
    let until_cleared = json!({"path": "*", "status": 429, "retryAfter": 1});
    b.control(reqwest::Method::POST, routes, Some(&until_cleared)).await.assert_status(201);
    get_call_until(&a, &call, 429).await.assert_error(429, "TooManyRequests");
    b.get_call(&call).await.assert_error(429, "TooManyRequests");
    let listed = a.control(reqwest::Method::GET, "/_switchboard/faults", None).await;
    assert_eq!(listed.assert_status(200)["routes"].as_array().unwrap().len(), 1);
    a.control(reqwest::Method::DELETE, "/_switchboard/faults", None).await.assert_status(204);
    a.get_call(&call).await.assert_status(200);
    b.get_call(&call).await.assert_status(200);
}

#[tokio::test]
async fn killing_the_node_that_took_an_invite_while_the_invitee_rings_lets_the_other_finish_it() {
    let schema = PgSchema::create().await;
    let a = TestApp::spawn_with(node_options(&schema)).await;
    let b = a.another_node(node_options(&schema)).await;
    let (adele, diego) = (a.user("Adele Vance"), a.user("Diego Siciliani"));
    a.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 0})).await;
    a.set_user_behaviour(&diego, json!({"kind": "answer", "afterMs": 1500})).await;
    let call = join_meeting(&a).await;
    assert_eq!(a.hooks.wait_for(&call, 3, WAIT).await.len(), 3);
    // Their delivery recorded first: killed before that, node A's run would rightly be repeated.
    a.control(reqwest::Method::POST, "/_switchboard/outbox/flush", None).await.assert_status(204);

    let op = a.invite(&call, &invite_body(&[user_identity(&diego)], "node A dies")).await.assert_status(200).clone();
    // SIGKILL, right after the invite was acknowledged: the invitee is still ringing.
    let _dir = a.kill().await;

    let got = b.hooks.wait_for(&call, 5, WAIT).await;
    assert_eq!(operation_status(&got, &op["id"]), Some(&json!("completed")), "node B finished the invite: {got:#?}");
    assert!(got.iter().any(|r| r.kind() == "roster"));
    assert_exactly_once(&got);
    let read = b.get_operation(&call, op["id"].as_str().unwrap()).await;
    assert_eq!(read.assert_status(200)["status"], "Completed");
}

/// Graph sends no notification of an operation before the response that created it. Node A
/// dies after committing an invite, before answering it; node B fires the invitee's answer
/// 100 ms later. The operation's notification is born leased to node A, which held the call
/// for its response, so it goes out only once that hold has run out (5 s), never at once.
#[tokio::test]
async fn what_another_node_causes_waits_for_the_response_of_the_node_that_took_the_invite() {
    let schema = PgSchema::create().await;
    let mut a = TestApp::spawn_with(node_options(&schema)).await;
    let b = a.another_node(node_options(&schema)).await;
    let diego = a.user("Diego Siciliani");
    a.set_user_behaviour(&diego, json!({"kind": "answer", "afterMs": 100})).await;
    let call = join_meeting(&a).await;
    assert_eq!(a.hooks.wait_for(&call, 3, WAIT).await.len(), 3);
    a.control(reqwest::Method::POST, "/_switchboard/outbox/flush", None).await.assert_status(204);
    a.control(reqwest::Method::PUT, "/_switchboard/failpoints/invite-committed", None).await.assert_status(204);

    let sent = std::time::Instant::now();
    let answered = a
        .http
        .post(format!("{}/beta/communications/calls/{call}/participants/invite", a.base))
        .bearer_auth(a.token())
        .json(&invite_body(&[user_identity(&diego)], "node A dies before answering"))
        .send()
        .await;
    assert!(answered.is_err(), "node A aborted before its response: {answered:?}");
    assert!(!a.wait_for_exit().await.success());

    let got = b.hooks.wait_for(&call, 5, WAIT).await;
    let waited = sent.elapsed();
    assert_eq!(got.len(), 5, "{got:#?}");
    let operation = got.iter().find(|r| r.kind() == "operation").expect("the operation's notification");
    assert_eq!(operation.resource_data()["status"], "completed");
    assert!(waited >= Duration::from_millis(4_500), "delivered {waited:?} after the invite, before the hold ran out");
    assert_exactly_once(&got);
}

/// The same when another node held the call a moment before: node A takes an invite (its hold
/// in the store names A for 5 s), then node B takes one whose invitee answers at once and dies
/// before answering. What B's own unit queued is B's to hold, not A's: A, whose response is
/// long written, would post it at once.
#[tokio::test]
async fn what_an_invite_queues_waits_for_its_own_response_though_another_node_held_the_call_before() {
    let schema = PgSchema::create().await;
    let a = TestApp::spawn_with(node_options(&schema)).await;
    let mut b = a.another_node(node_options(&schema)).await;
    let (adele, diego) = (a.user("Adele Vance"), a.user("Diego Siciliani")); // Diego never answers
    a.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 0})).await;
    let call = join_meeting(&a).await;
    assert_eq!(a.hooks.wait_for(&call, 3, WAIT).await.len(), 3);
    a.control(reqwest::Method::POST, "/_switchboard/outbox/flush", None).await.assert_status(204);
    a.invite(&call, &invite_body(&[user_identity(&diego)], "node A holds")).await.assert_status(200);
    b.control(reqwest::Method::PUT, "/_switchboard/failpoints/invite-committed", None).await.assert_status(204);

    let sent = std::time::Instant::now();
    let answered = b
        .http
        .post(format!("{}/beta/communications/calls/{call}/participants/invite", b.base))
        .bearer_auth(b.token())
        .json(&invite_body(&[user_identity(&adele)], "node B dies before answering"))
        .send()
        .await;
    assert!(answered.is_err(), "node B aborted before its response: {answered:?}");
    assert!(!b.wait_for_exit().await.success());

    let got = a.hooks.wait_for(&call, 5, WAIT).await;
    let waited = sent.elapsed();
    assert_eq!(got.len(), 5, "{got:#?}");
    let operation = got.iter().find(|r| r.kind() == "operation").expect("the operation's notification");
    assert_eq!(operation.resource_data()["status"], "completed");
    assert!(waited >= Duration::from_millis(4_500), "delivered {waited:?} after the invite, before the hold ran out");
    assert_exactly_once(&got);
}

#[tokio::test]
async fn an_agent_on_one_node_is_rung_when_another_node_takes_the_invite() {
    let schema = PgSchema::create().await;
    let AgentInvitedOnB { a, b: _b, mut agent, call, op, invitation } = agent_invited_on_b(&schema, node_options).await;
    assert_eq!(invitation["participantId"], op["participants"][0]["participantId"]);
    agent.accept(invitation["participantId"].as_str().unwrap()).await;
    agent.expect("answered").await;
    agent.expect("roster").await;
    let got = a.hooks.wait_for(&call, 5, WAIT).await;
    assert_eq!(operation_status(&got, &op["id"]), Some(&json!("completed")), "{got:#?}");
    assert_exactly_once(&got);
}

#[tokio::test]
async fn a_call_to_the_bot_placed_on_one_node_is_answered_on_the_other() {
    let schema = PgSchema::create().await;
    let a = TestApp::spawn_with(node_options(&schema)).await;
    let b = a.another_node(node_options(&schema)).await;
    let webhook = json!({"url": a.callback});
    let path = format!("/_switchboard/applications/{}/callingWebhook", a.client_id);
    a.control(reqwest::Method::PUT, &path, Some(&webhook)).await.assert_status(200);
    let body = json!({"from": {"userId": a.user("Adele Vance")}, "to": {"phoneNumber": "+14255550100"}});
    let placed = a.control(reqwest::Method::POST, "/_switchboard/calls", Some(&body)).await.assert_status(201).clone();
    let call = placed["callId"].as_str().unwrap().to_owned();
    let got = a.hooks.wait_for(&call, 1, WAIT).await;
    assert_eq!((got[0].change_type(), &got[0].resource_data()["state"]), ("created", &json!("incoming")));

    let answer = json!({"callbackUri": a.callback, "acceptedModalities": ["audio"],
                        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"}});
    b.post(&format!("/beta/communications/calls/{call}/answer"), &answer).await.assert_status(202);
    let got = a.hooks.wait_for(&call, 3, WAIT).await;
    let states: Vec<&str> = got.iter().map(|r| r.resource_data()["state"].as_str().unwrap_or("?")).collect();
    assert_eq!(states, ["incoming", "establishing", "established"], "{got:#?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = a.hooks.take_for(&call);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_exactly_once(&got);
    assert_eq!(a.get_call(&call).await.assert_status(200)["state"], "established", "node A reads node B's answer");
}

/// Participant ids of a whole-roster notification.
fn roster_ids(r: &Received) -> Vec<&str> {
    r.resource_data().as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap_or("?")).collect()
}

#[tokio::test]
async fn the_connected_agent_of_a_killed_node_leaves_its_call_once_another_node_takes_over() {
    let schema = PgSchema::create().await;
    // The agent stays connected (dropping it would end its leg itself) until its node dies.
    let (AgentInvitedOnB { a, b, call, agent: _agent, .. }, participant, got) = agent_connected_on_b(&schema).await;
    assert!(roster_ids(got.last().unwrap()).contains(&participant.as_str()), "{got:#?}");
    // Both nodes alive for a few timeouts: neither takes the other over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(a.hooks.wait_for(&call, 6, Duration::ZERO).await.len(), 5, "no notification while both nodes live");
    let listed = a.get_participant(&call, &participant).await;
    listed.assert_status(200);

    let _dir = b.kill().await;
    let got = a.hooks.wait_for(&call, 6, WAIT).await;
    let last = got.last().unwrap();
    assert_eq!(last.kind(), "roster", "{got:#?}");
    assert!(!roster_ids(last).contains(&participant.as_str()), "the killed node's leg left: {got:#?}");
    assert_exactly_once(&got);
    a.get_participant(&call, &participant).await.assert_status(404);
    assert_eq!(a.get_call(&call).await.assert_status(200)["state"], "established", "the bot's call goes on");
}

#[tokio::test]
async fn the_ringing_agent_of_a_killed_node_fails_as_unreachable_once_another_node_takes_over() {
    let schema = PgSchema::create().await;
    // The agent stays connected (dropping it would end the ring itself) until its node dies.
    let AgentInvitedOnB { a, b, call, op, agent: _agent, .. } = agent_invited_on_b(&schema, quick_takeover).await;

    let _dir = b.kill().await;
    // Well before the 60 s ring timeout.
    let got = a.hooks.wait_for(&call, 4, WAIT).await;
    assert_failed_unreachable(&got, &op);
    assert_exactly_once(&got);
}

#[tokio::test]
async fn a_stalled_node_taken_over_disconnects_its_agents_when_it_runs_again() {
    let schema = PgSchema::create().await;
    let (AgentInvitedOnB { a, b, mut agent, call, .. }, participant, _) = agent_connected_on_b(&schema).await;

    // Node B stops for three node timeouts, then runs on: node A took it over meanwhile.
    b.stall(Duration::from_secs(3)).await;
    let got = a.hooks.wait_for(&call, 6, WAIT).await;
    assert!(!roster_ids(got.last().unwrap()).contains(&participant.as_str()), "the leg left: {got:#?}");
    // Its leg is over and its session forgotten: node B closes the agent's WebSocket.
    agent.closed_by_server().await;

    // Connected again, the agent is rung again.
    let adele = a.user("Adele Vance");
    let mut agent = common::agent::Agent::connect(&b, &adele).await;
    a.invite(&call, &invite_body(&[user_identity(&adele)], "again")).await.assert_status(200);
    agent.expect("invitation").await;
}

/// [`quick_takeover`] with a SIP trunk: sipp, playing the phone.
fn quick_takeover_with_trunk(schema: &PgSchema, sipp: &Sipp) -> SpawnOptions {
    let mut options = quick_takeover(schema);
    options.extra_args.extend(
        ["--sip-trunk", &sipp.addr.to_string(), "--sip-listen", "127.0.0.1:0", "--sip-t1-ms", "50"].map(String::from),
    );
    options.rust_log = "info,switchboard_sip=debug";
    options
}

/// Node B joins a meeting; node A invites the phone, so its SIP trunk dials it and the leg is
/// node A's. Returns the call and the invite's operation.
async fn phone_invited_on_a(a: &TestApp, b: &TestApp) -> (String, Value) {
    let call = join_meeting(b).await;
    assert_eq!(b.hooks.wait_for(&call, 3, WAIT).await.len(), 3);
    let phone = json!({"@odata.type": "#microsoft.graph.identitySet",
                       "phone": {"@odata.type": "#microsoft.graph.identity", "id": "+15550100"}});
    let op = a.invite(&call, &invite_body(&[phone], "a phone on node A")).await.assert_status(200).clone();
    (call, op)
}

/// [`phone_invited_on_a`], once the phone answered: returns the call and the phone's participant id.
async fn phone_connected_on_a(a: &TestApp, b: &TestApp) -> (String, String) {
    let (call, op) = phone_invited_on_a(a, b).await;
    let participant = op["participants"][0]["participantId"].as_str().unwrap().to_owned();
    let got = b.hooks.wait_for(&call, 5, WAIT).await;
    assert_eq!(operation_status(&got, &op["id"]), Some(&json!("completed")), "{got:#?}");
    assert!(roster_ids(got.last().unwrap()).contains(&participant.as_str()), "{got:#?}");
    (call, participant)
}

#[tokio::test]
async fn a_stalled_node_taken_over_hangs_up_its_phones_when_it_runs_again() {
    // The phone answers, then waits (up to 60 s) for a BYE.
    let sipp = Sipp::phone("answer", false);
    let schema = PgSchema::create().await;
    let a = TestApp::spawn_with(quick_takeover_with_trunk(&schema, &sipp)).await;
    // Node B has no trunk: only node A can reach the phone.
    let b = a.another_node(quick_takeover(&schema)).await;
    let (call, participant) = phone_connected_on_a(&a, &b).await;

    a.stall(Duration::from_secs(3)).await;
    let got = b.hooks.wait_for(&call, 6, WAIT).await;
    assert!(!roster_ids(got.last().unwrap()).contains(&participant.as_str()), "the leg left: {got:#?}");
    // Running again, node A ends the phone's dialog: sipp got its BYE.
    sipp.assert_passed().await;
}

#[tokio::test]
async fn a_stalled_node_taken_over_cancels_its_ringing_phones_when_it_runs_again() {
    // The phone rings and waits (up to 60 s) for a CANCEL.
    let sipp = Sipp::phone("ringing_across_restart", false);
    let schema = PgSchema::create().await;
    let a = TestApp::spawn_with(quick_takeover_with_trunk(&schema, &sipp)).await;
    // Node B has no trunk: only node A can reach the phone.
    let b = a.another_node(quick_takeover(&schema)).await;
    let (call, op) = phone_invited_on_a(&a, &b).await;
    sipp.wait_for_trace("SIP/2.0 180 Ringing").await;

    a.stall(Duration::from_secs(3)).await;
    let got = b.hooks.wait_for(&call, 4, WAIT).await;
    assert_failed_unreachable(&got, &op);
    // Running again, node A stops the phone ringing: sipp got its CANCEL.
    sipp.assert_passed().await;
}

#[tokio::test]
async fn the_connected_phone_of_a_killed_node_gets_bye_from_the_node_that_takes_over() {
    let sipp = Sipp::phone("answer", false);
    let schema = PgSchema::create().await;
    let a = TestApp::spawn_with(quick_takeover_with_trunk(&schema, &sipp)).await;
    let b = a.another_node(quick_takeover_with_trunk(&schema, &sipp)).await;
    let (call, participant) = phone_connected_on_a(&a, &b).await;

    let _dir = a.kill().await;
    let got = b.hooks.wait_for(&call, 6, WAIT).await;
    assert!(!roster_ids(got.last().unwrap()).contains(&participant.as_str()), "the leg left: {got:#?}");
    sipp.assert_passed().await; // node B sent the BYE from the dialog node A saved
}

#[tokio::test]
async fn the_ringing_phone_of_a_killed_node_gets_cancel_from_the_node_that_takes_over() {
    let sipp = Sipp::phone("ringing_across_restart", false);
    let schema = PgSchema::create().await;
    let a = TestApp::spawn_with(quick_takeover_with_trunk(&schema, &sipp)).await;
    let b = a.another_node(quick_takeover_with_trunk(&schema, &sipp)).await;
    let (call, op) = phone_invited_on_a(&a, &b).await;
    sipp.wait_for_trace("SIP/2.0 180 Ringing").await;
    // The CANCEL is kept with the first provisional response; kill only once it is.
    let deadline = std::time::Instant::now() + WAIT;
    while !a.server_log().contains("its CANCEL is kept") {
        assert!(std::time::Instant::now() < deadline, "the CANCEL was never kept: {}", a.server_log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let _dir = a.kill().await;
    let got = b.hooks.wait_for(&call, 4, WAIT).await;
    assert_eq!(operation_status(&got, &op["id"]), Some(&json!("failed")), "{got:#?}");
    sipp.assert_passed().await; // node B sent the CANCEL node A kept
}

/// A callback receiver that takes `delay` to answer each POST; returns its URL and the
/// `(call id, sequence)` of every POST it received, in arrival order.
async fn slow_receiver(delay: Duration) -> (String, std::sync::Arc<std::sync::Mutex<Vec<(String, i64)>>>) {
    let got: std::sync::Arc<std::sync::Mutex<Vec<(String, i64)>>> = Default::default();
    let seen = got.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let seen = seen.clone();
        async move {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let sequence = header("x-switchboard-sequence").parse().unwrap_or(-1);
            seen.lock().unwrap().push((header("x-switchboard-call-id"), sequence));
            tokio::time::sleep(delay).await;
            axum::http::StatusCode::ACCEPTED
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// A run of a call's queued notifications is posted by one node under one lease; a run that
/// outlasted its lease would let another node claim the same rows and post them again. With a
/// total timeout of 2 s the lease is 7 s and no POST starts after 5 s; at 0.9 s a POST, the ten
/// notifications of five joins, queued behind the first ones, would take 9 s as one run. Each
/// must still arrive once, in order (without the time budget, rows 4-13 arrive twice).
#[tokio::test]
async fn a_long_run_of_notifications_stops_within_its_lease_so_another_node_never_repeats_it() {
    let schema = PgSchema::create().await;
    let a = TestApp::spawn_with(node_options(&schema)).await;
    let _b = a.another_node(node_options(&schema)).await;
    let (slow, got) = slow_receiver(Duration::from_millis(900)).await;
    let users: Vec<String> = ["Adele Vance", "Alex Wilber", "Megan Bowen", "Lynne Robbins", "Diego Siciliani"]
        .iter()
        .map(|name| a.user(name))
        .collect();
    for user in &users {
        a.set_user_behaviour(user, json!({"kind": "answer", "afterMs": 0})).await;
    }
    let delta = json!({"@odata.type": "#microsoft.graph.outgoingCallOptions", "isDeltaRosterEnabled": true});
    let call = join_meeting_with(&a, &slow, Some(delta)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while a.get_call(&call).await.assert_status(200)["state"] != "established" {
        assert!(std::time::Instant::now() < deadline, "the call was never established");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Five joins while the first notifications are still being posted: their ten
    // notifications queue behind, and the next run takes them all.
    for (i, user) in users.iter().enumerate() {
        a.invite(&call, &invite_body(&[user_identity(user)], &format!("join {i}"))).await.assert_status(200);
    }
    let expected = 3 + 2 * users.len();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while got.lock().unwrap().iter().filter(|(c, _)| *c == call).count() < expected {
        assert!(std::time::Instant::now() < deadline, "not all delivered: {:?}", got.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past any lease a repeat would have waited for.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let sequences: Vec<i64> = got.lock().unwrap().iter().filter(|(c, _)| *c == call).map(|(_, s)| *s).collect();
    assert_eq!(sequences, (1..=expected as i64).collect::<Vec<_>>(), "each once, in order");
}
