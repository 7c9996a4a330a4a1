//! Phones over a SIP trunk, against a real SIP peer: sipp plays the trunk and the phone behind
//! it with one scenario per outcome (tests/sipp/*.xml), Switchboard runs with `--sip-trunk`
//! pointing at it, and the bot invites a phone number into a meeting. Each test checks the
//! notifications at the bot's webhook AND sipp's exit status (sipp fails when its scenario
//! is not followed: a missing ACK, CANCEL or BYE, an INVITE without SDP or caller id).
//! sipp must be installed (`.ci/run` installs Debian's `sip-tester`): these tests fail
//! without it, they never skip.

mod common;
#[path = "sipp/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use harness::{free_port, Sipp};
use serde_json::{json, Value};

const PHONE: &str = "+15550100";

fn trunk_args(sipp: &Sipp, tcp: bool) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--sip-trunk".into(),
        sipp.addr.to_string(),
        "--sip-listen".into(),
        "127.0.0.1:0".into(),
        "--sip-t1-ms".into(),
        "50".into(),
    ];
    if tcp {
        args.extend(["--sip-transport".into(), "tcp".into()]);
    }
    args
}

async fn spawn_with_trunk(sipp: &Sipp, tcp: bool) -> TestApp {
    TestApp::spawn_with(SpawnOptions {
        extra_args: trunk_args(sipp, tcp),
        rust_log: "info,switchboard_sip=debug",
        ..Default::default()
    })
    .await
}

/// Switchboard whose trunk is `trunk` (a bare socket the test plays, or nothing at all), listening
/// for SIP on a free port, with `extra` arguments.
async fn spawn_beside(trunk: SocketAddr, extra: &[&str]) -> TestApp {
    let mut args: Vec<String> =
        vec!["--sip-trunk".into(), trunk.to_string(), "--sip-listen".into(), "127.0.0.1:0".into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    TestApp::spawn_with(SpawnOptions { extra_args: args, ..Default::default() }).await
}

/// A bare UDP socket the test plays as the trunk, and Switchboard beside it (with `extra`
/// arguments) taking incoming calls; returns the socket, the server and its SIP address.
async fn beside_a_bare_trunk(extra: &[&str]) -> (tokio::net::UdpSocket, TestApp, SocketAddr) {
    let trunk = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let app = spawn_beside(trunk.local_addr().unwrap(), extra).await;
    take_incoming_calls(&app).await;
    let ours = sip_address(&app);
    (trunk, app, ours)
}

/// Points the development bot's calling webhook at `/incoming` on the test receiver.
async fn take_incoming_calls(app: &TestApp) {
    let url = format!("{}/incoming", app.hooks.url);
    let path = format!("/_switchboard/applications/{}/callingWebhook", app.client_id);
    app.control(reqwest::Method::PUT, &path, Some(&json!({ "url": url }))).await.assert_status(200);
}

fn phone_identity(number: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.identitySet",
           "phone": {"@odata.type": "#microsoft.graph.identity", "id": number}})
}

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

fn roster_phones(r: &Received) -> Vec<String> {
    r.resource_data()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["info"]["identity"]["phone"]["id"].as_str().map(str::to_owned))
        .collect()
}

/// The bot joins a meeting and invites the phone; returns (call, participant id of the phone).
async fn invite_phone(app: &TestApp) -> (String, String) {
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let op = app.invite(&call, &invite_body(&[phone_identity(PHONE)], "dial-out")).await;
    let participant = op.assert_status(200)["participants"][0]["participantId"].as_str().unwrap().to_owned();
    (call, participant)
}

/// The bot calls the phone peer-to-peer; returns the call id.
async fn call_phone(app: &TestApp) -> String {
    let created = app
        .create_call(&json!({
            "callbackUri": app.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "targets": [{"@odata.type": "#microsoft.graph.invitationParticipantInfo", "identity": phone_identity(PHONE)}],
            // A call placed to a phone names the application instance whose number it dials with.
            "source": {"identity": {"applicationInstance": {"id": app.credentials["applicationInstance"]["id"]}}},
            "tenantId": app.tenant_id,
        }))
        .await;
    created.assert_status(201)["id"].as_str().unwrap().to_owned()
}

/// Waits until `count` notifications of `call` arrived (the SIP side runs on wall time), then
/// takes them.
async fn notifications(app: &TestApp, call: &str, count: usize) -> Vec<Received> {
    let got = app.hooks.wait_for(call, count, Duration::from_secs(30)).await;
    assert!(got.len() >= count, "expected {count} notifications, got {:#?}\n{}", summary(&got), app.server_log());
    app.hooks.take_for(call)
}

async fn answered_phone_joins_and_is_hung_up_by_delete(tcp: bool) {
    let sipp = Sipp::phone("answer", tcp);
    let app = spawn_with_trunk(&sipp, tcp).await;
    let (call, participant) = invite_phone(&app).await;

    let got = notifications(&app, &call, 2).await;
    assert_eq!(summary(&got), ["operation completed", "roster 2"]);
    assert_eq!(roster_phones(&got[1]), [PHONE]);
    let p = app.get_participant(&call, &participant).await;
    assert_eq!(p.assert_status(200)["info"]["identity"]["phone"]["id"], PHONE);

    app.delete_participant(&call, &participant).await.assert_status(204);
    let got = notifications(&app, &call, 1).await;
    assert_eq!(summary(&got), ["roster 1"]);
    sipp.assert_passed().await; // it saw the ACK of its 200, then our BYE
}

#[tokio::test]
async fn a_phone_that_answers_over_udp_joins_the_roster_and_delete_sends_bye() {
    answered_phone_joins_and_is_hung_up_by_delete(false).await;
}

#[tokio::test]
async fn a_phone_that_answers_over_tcp_joins_the_roster_and_delete_sends_bye() {
    answered_phone_joins_and_is_hung_up_by_delete(true).await;
}

async fn rejected(scenario: &str, code: i64, subcode: i64) {
    let sipp = Sipp::phone(scenario, false);
    let app = spawn_with_trunk(&sipp, false).await;
    let (call, participant) = invite_phone(&app).await;
    let got = notifications(&app, &call, 1).await;
    assert_eq!(summary(&got), ["operation failed"], "{scenario}: no roster change, the phone never joined");
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!(
        (result["code"].as_i64(), result["subcode"].as_i64()),
        (Some(code), Some(subcode)),
        "{scenario}: {result}"
    );
    let message = result["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("addParticipants failed for participant 4:{PHONE}.")), "{message}");
    assert!(message.ends_with(&format!("DiagCode: {code}#{subcode}")), "{message}");
    app.get_participant(&call, &participant).await.assert_error(404, "itemNotFound");
    sipp.assert_passed().await; // it saw the ACK of its final response
}

#[tokio::test]
async fn a_busy_phone_fails_the_invitation_with_486() {
    rejected("busy", 486, 10004).await;
}

#[tokio::test]
async fn a_phone_that_declines_fails_the_invitation_with_603() {
    rejected("decline", 603, 10003).await;
}

#[tokio::test]
async fn an_unknown_number_404_fails_the_invitation_as_unreachable() {
    rejected("unreachable", 480, 10076).await;
}

#[tokio::test]
async fn an_unavailable_phone_480_fails_the_invitation_as_unreachable() {
    rejected("unavailable", 480, 10076).await;
}

#[tokio::test]
async fn another_final_response_keeps_its_status_with_subcode_560000_plus_status() {
    rejected("service_unavailable", 503, 560503).await;
}

#[tokio::test]
async fn a_phone_nobody_answers_is_cancelled_at_the_ring_timeout() {
    let sipp = Sipp::phone("no_answer", false);
    let app = spawn_with_trunk(&sipp, false).await;
    let (call, _) = invite_phone(&app).await;
    // The phone rings (sipp sent its 180), then the ring times out.
    sipp.wait_for_trace("SIP/2.0 180 Ringing").await;
    assert!(app.hooks.take_for(&call).is_empty(), "still ringing");
    app.advance(60_000).await;
    let got = notifications(&app, &call, 1).await;
    assert_eq!(summary(&got), ["operation failed"]);
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(408), Some(10057)), "{result}");
    sipp.assert_passed().await; // it saw our CANCEL, and the ACK of its 487
}

#[tokio::test]
async fn a_phone_that_hangs_up_leaves_the_roster() {
    let sipp = Sipp::phone("remote_bye", false);
    let app = spawn_with_trunk(&sipp, false).await;
    let (call, participant) = invite_phone(&app).await;
    let got = notifications(&app, &call, 3).await;
    assert_eq!(summary(&got), ["operation completed", "roster 2", "roster 1"]);
    assert_eq!(roster_phones(&got[1]), [PHONE]);
    assert!(roster_phones(&got[2]).is_empty());
    app.get_participant(&call, &participant).await.assert_error(404, "itemNotFound");
    sipp.assert_passed().await; // its BYE was answered 200
}

#[tokio::test]
async fn a_digest_challenge_from_the_trunk_is_answered_with_the_configured_credentials() {
    let sipp = Sipp::phone("digest", false);
    let mut args = trunk_args(&sipp, false);
    args.extend(["--sip-username".into(), "user".into(), "--sip-password".into(), "secret".into()]);
    let app = TestApp::spawn_with(SpawnOptions { extra_args: args, ..Default::default() }).await;
    let (call, participant) = invite_phone(&app).await;
    let got = notifications(&app, &call, 2).await;
    assert_eq!(summary(&got), ["operation completed", "roster 2"]);
    assert!(!app.server_log().contains("secret"), "the SIP password is never logged");
    app.delete_participant(&call, &participant).await.assert_status(204);
    notifications(&app, &call, 1).await;
    sipp.assert_passed().await;
}

#[tokio::test]
async fn a_restarted_node_still_hangs_up_the_phone_from_the_saved_dialog() {
    let sipp = Sipp::phone("answer", false);
    let args = trunk_args(&sipp, false);
    let app = TestApp::spawn_with(SpawnOptions { extra_args: args.clone(), ..Default::default() }).await;
    let (call, participant) = invite_phone(&app).await;
    let got = notifications(&app, &call, 2).await;
    assert_eq!(summary(&got), ["operation completed", "roster 2"]);
    // Their delivery recorded first: a kill before that would (rightly) deliver them again.
    app.control(reqwest::Method::POST, "/_switchboard/outbox/flush", None).await.assert_status(204);

    // SIGKILL: the dialog lives on only in the store.
    let app = app.restart_with(args).await;
    app.delete_participant(&call, &participant).await.assert_status(204);
    let got = notifications(&app, &call, 1).await;
    assert_eq!(summary(&got), ["roster 1"]);
    sipp.assert_passed().await; // the BYE came from the restarted process
}

#[tokio::test]
async fn a_node_restarted_while_a_phone_rings_cancels_it_and_fails_the_invitation() {
    let sipp = Sipp::phone("ringing_across_restart", false);
    let args = trunk_args(&sipp, false);
    let options =
        SpawnOptions { extra_args: args.clone(), rust_log: "info,switchboard_sip=debug", ..Default::default() };
    let app = TestApp::spawn_with(options).await;
    let (call, _) = invite_phone(&app).await;
    sipp.wait_for_trace("SIP/2.0 180 Ringing").await;
    // The CANCEL is kept with the first provisional response; kill only once it is.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !app.server_log().contains("its CANCEL is kept") {
        assert!(std::time::Instant::now() < deadline, "the CANCEL was never kept: {}", app.server_log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(app.hooks.take_for(&call).is_empty(), "still ringing");

    // SIGKILL: the INVITE's transaction dies with the process; the phone still rings.
    let app = app.restart_with(args).await;
    let got = notifications(&app, &call, 1).await;
    assert_eq!(summary(&got), ["operation failed"]);
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(480), Some(10076)), "{result}");
    sipp.assert_passed().await; // the restarted process sent the CANCEL
}

#[tokio::test]
async fn the_sip_listener_is_written_to_the_data_directory() {
    let sipp = Sipp::phone("answer", false);
    let app = spawn_with_trunk(&sipp, false).await;
    let line = std::fs::read_to_string(app.data_dir.join("sip-address")).unwrap();
    let (transport, addr) = line.split_once(' ').unwrap();
    assert_eq!(transport, "udp");
    let addr: SocketAddr = addr.parse().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0, "port 0 was resolved to the bound port");
}

#[tokio::test]
async fn the_bot_ending_the_call_sends_bye_to_the_phone() {
    let sipp = Sipp::phone("answer", false);
    let app = spawn_with_trunk(&sipp, false).await;
    let (call, _) = invite_phone(&app).await;
    notifications(&app, &call, 2).await;
    app.delete_call(&call).await.assert_status(204);
    sipp.assert_passed().await; // our BYE ended its dialog
}

#[tokio::test]
async fn a_peer_to_peer_call_to_a_phone_is_established_when_it_answers_and_ends_when_it_hangs_up() {
    let sipp = Sipp::phone("remote_bye", false);
    let app = spawn_with_trunk(&sipp, false).await;
    let call = call_phone(&app).await;
    let got = notifications(&app, &call, 4).await;
    assert_eq!(
        summary(&got),
        [
            "call updated establishing",
            "call updated established",
            "call updated terminating",
            "call deleted terminated"
        ]
    );
    let result = &got[3].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(200), Some(540000)), "{result}");
    sipp.assert_passed().await;
}

#[tokio::test]
async fn a_phone_escalated_into_a_meeting_keeps_its_dialog_and_its_bye_leaves_the_meeting() {
    // sipp fails if a BYE reaches the phone at the escalation (an unexpected message).
    let sipp = Sipp::phone("carried_then_bye", false);
    let app = spawn_with_trunk(&sipp, false).await;
    let p2p = call_phone(&app).await;
    let got = notifications(&app, &p2p, 2).await;
    assert_eq!(summary(&got), ["call updated establishing", "call updated established"]);

    let (meeting, _) = app.join_new_meeting(json!(null)).await;
    let mut body = invite_body(&[phone_identity(PHONE)], "escalate-phone");
    body["participants"][0]["replacesCallId"] = json!(p2p);
    let op = app.invite(&meeting, &body).await;
    let participant = op.assert_status(200)["participants"][0]["participantId"].as_str().unwrap().to_owned();
    let got = notifications(&app, &meeting, 2).await;
    assert_eq!(summary(&got), ["operation completed", "roster 2"]);
    assert_eq!(roster_phones(&got[1]), [PHONE]);
    let got = notifications(&app, &p2p, 2).await;
    assert_eq!(summary(&got), ["call updated terminating", "call deleted terminated"]);
    let result = &got[1].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(200), Some(7015)), "{result}");

    // The phone hangs up: its BYE ends its leg in the meeting, which the bot's roster shows.
    let got = notifications(&app, &meeting, 1).await;
    assert_eq!(summary(&got), ["roster 1"]);
    assert!(roster_phones(&got[0]).is_empty());
    app.get_participant(&meeting, &participant).await.assert_error(404, "itemNotFound");
    sipp.assert_passed().await; // no BYE at the escalation, and its own BYE was answered 200
}

#[tokio::test]
async fn a_phone_moved_to_another_meeting_keeps_its_dialog_and_its_bye_leaves_that_meeting() {
    let sipp = Sipp::phone("carried_then_bye", false);
    let app = spawn_with_trunk(&sipp, false).await;
    let (source, old_leg) = invite_phone(&app).await;
    let got = notifications(&app, &source, 2).await;
    assert_eq!(summary(&got), ["operation completed", "roster 2"]);

    let (target, _) = app.join_new_meeting(json!(null)).await;
    let mut body = invite_body(&[phone_identity(PHONE)], "move-phone");
    body["participants"][0]["replacesCallId"] = json!(source);
    body["participants"][0]["participantId"] = json!(old_leg);
    let op = app.invite(&target, &body).await;
    let participant = op.assert_status(200)["participants"][0]["participantId"].as_str().unwrap().to_owned();
    let got = notifications(&app, &target, 2).await;
    assert_eq!(summary(&got), ["operation completed", "roster 2"]);
    assert_eq!(roster_phones(&got[1]), [PHONE]);
    let got = notifications(&app, &source, 1).await;
    assert_eq!(summary(&got), ["roster 1"], "the phone left the first meeting");

    // The phone hangs up: its BYE ends its leg in the meeting it was moved to.
    let got = notifications(&app, &target, 1).await;
    assert_eq!(summary(&got), ["roster 1"]);
    assert!(roster_phones(&got[0]).is_empty());
    app.get_participant(&target, &participant).await.assert_error(404, "itemNotFound");
    sipp.assert_passed().await; // no BYE at the move, and its own BYE was answered 200
}

#[tokio::test]
async fn a_trunk_that_never_answers_fails_the_invitation_with_503_560000() {
    // A bound socket that never answers plays the dead trunk; T1 = 10 ms makes timer B 640 ms.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let app = spawn_beside(silent.local_addr().unwrap(), &["--sip-t1-ms", "10"]).await;
    let (call, _) = invite_phone(&app).await;
    let got = notifications(&app, &call, 1).await;
    assert_eq!(summary(&got), ["operation failed"]);
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(503), Some(560000)), "{result}");
    drop(silent);
}

/// Switchboard's SIP listener, as written to DATA_DIR/sip-address.
fn sip_address(app: &TestApp) -> SocketAddr {
    let line = std::fs::read_to_string(app.data_dir.join("sip-address")).unwrap();
    line.split_once(' ').unwrap().1.trim().parse().unwrap()
}

#[tokio::test]
async fn the_trunk_gets_200_to_options_and_481_to_a_bye_for_an_unknown_dialog() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let app = spawn_beside(silent.local_addr().unwrap(), &[]).await;
    let sipp = Sipp::trunk_calling("options", sip_address(&app), "switchboard");
    sipp.assert_passed().await;
}

#[tokio::test]
async fn requests_from_anywhere_but_the_trunk_are_refused_with_403() {
    // The trunk is 127.0.0.2; sipp speaks from 127.0.0.1.
    let silent = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    let app = spawn_beside(silent.local_addr().unwrap(), &[]).await;
    let sipp = Sipp::trunk_calling("stranger", sip_address(&app), "switchboard");
    sipp.assert_passed().await;
    assert!(app.server_log().contains("SIP request from outside the trunk refused"));
}

#[tokio::test]
async fn deleting_a_ringing_phone_sends_cancel_and_fails_the_invitation_with_487() {
    let sipp = Sipp::phone("no_answer", false);
    let app = spawn_with_trunk(&sipp, false).await;
    let (call, participant) = invite_phone(&app).await;
    sipp.wait_for_trace("SIP/2.0 180 Ringing").await;
    app.delete_participant(&call, &participant).await.assert_status(204);
    let got = notifications(&app, &call, 1).await;
    assert_eq!(summary(&got), ["operation failed"]);
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(487), Some(10170)), "{result}");
    sipp.assert_passed().await; // our CANCEL, and the ACK of its 487
}

const BOT_NUMBER: &str = "+14255550100";

/// Switchboard whose trunk is a sipp about to call in with `scenario`, dialling `service`:
/// both ports are chosen up front, since each must know the other. The development bot's
/// calling webhook is `/incoming` on the test receiver unless `webhook` is false.
async fn phone_calls_in(scenario: &str, service: &str, webhook: bool) -> (TestApp, Sipp) {
    let (trunk_port, our_port) = (free_port(), free_port());
    let args: Vec<String> = vec![
        "--sip-trunk".into(),
        format!("127.0.0.1:{trunk_port}"),
        "--sip-listen".into(),
        format!("127.0.0.1:{our_port}"),
        "--sip-t1-ms".into(),
        "50".into(),
    ];
    let app = TestApp::spawn_with(SpawnOptions { extra_args: args, ..Default::default() }).await;
    if webhook {
        take_incoming_calls(&app).await;
    }
    let sipp = Sipp::trunk_calling_from(scenario, sip_address(&app), service, trunk_port);
    (app, sipp)
}

/// The incoming-call notification of the phone's call: (call id, notification).
async fn incoming_call(app: &TestApp) -> (String, Received) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = app.hooks.take().into_iter().find(|r| r.path == "/incoming") {
            return (r.call_id(), r);
        }
        assert!(std::time::Instant::now() < deadline, "no incoming call\n{}", app.server_log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_phone_calling_the_bots_number_is_an_incoming_call_answered_with_200_and_ended_by_its_bye() {
    let (app, sipp) = phone_calls_in("inbound_answered", BOT_NUMBER, true).await;
    let (call, incoming) = incoming_call(&app).await;
    assert_eq!(incoming.change_type(), "created");
    let data = incoming.resource_data();
    assert_eq!((data["state"].as_str(), data["direction"].as_str()), (Some("incoming"), Some("incoming")));
    assert_eq!(data["source"]["identity"]["phone"]["id"], "+15550123", "{data}");

    let answer = json!({
        "callbackUri": app.callback,
        "acceptedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
    });
    app.post(&format!("/beta/communications/calls/{call}/answer"), &answer).await.assert_status(202);
    // Answered (sipp gets 200 and ACKs), then the phone hangs up: the call ends, PSTN user ended.
    let got = notifications(&app, &call, 4).await;
    assert_eq!(
        summary(&got),
        [
            "call updated establishing",
            "call updated established",
            "call updated terminating",
            "call deleted terminated"
        ]
    );
    let result = &got[3].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(200), Some(540000)), "{result}");
    sipp.assert_passed().await;
}

async fn phone_rejected(scenario: &str, reason: &str) {
    let (app, sipp) = phone_calls_in(scenario, BOT_NUMBER, true).await;
    let (call, _) = incoming_call(&app).await;
    let body = json!({"reason": reason});
    app.post(&format!("/beta/communications/calls/{call}/reject"), &body).await.assert_status(202);
    sipp.assert_passed().await; // it got the tabulated final response, and ACKed it
}

#[tokio::test]
async fn a_phone_call_the_bot_rejects_as_busy_gets_486() {
    phone_rejected("inbound_busy", "busy").await;
}

#[tokio::test]
async fn a_phone_call_the_bot_rejects_otherwise_gets_603() {
    phone_rejected("inbound_declined", "none").await;
    phone_rejected("inbound_declined", "forbidden").await;
}

#[tokio::test]
async fn a_phone_call_nobody_answers_within_15_seconds_gets_480() {
    let (app, sipp) = phone_calls_in("inbound_unanswered", BOT_NUMBER, true).await;
    let (call, _) = incoming_call(&app).await;
    app.advance(15_000).await;
    let got = notifications(&app, &call, 1).await;
    assert_eq!(summary(&got), ["call deleted terminated"]);
    sipp.assert_passed().await;
}

#[tokio::test]
async fn a_phone_call_to_a_bot_without_a_calling_webhook_gets_480_and_to_an_unknown_number_404() {
    let (app, sipp) = phone_calls_in("inbound_unanswered", BOT_NUMBER, false).await;
    sipp.assert_passed().await;
    assert!(app.hooks.is_empty(), "no application was called");
    let (_app, sipp) = phone_calls_in("inbound_unknown", "+19995550000", true).await;
    sipp.assert_passed().await;
}

#[tokio::test]
async fn a_phone_that_gives_up_before_the_bot_answers_ends_the_incoming_call() {
    let (app, sipp) = phone_calls_in("inbound_cancelled", BOT_NUMBER, true).await;
    let (call, _) = incoming_call(&app).await;
    sipp.assert_passed().await; // its CANCEL got 200, the INVITE 487
    let got = notifications(&app, &call, 2).await;
    assert_eq!(summary(&got), ["call updated terminating", "call deleted terminated"], "{got:#?}");
    let answer = json!({
        "callbackUri": app.callback,
        "acceptedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
    });
    app.post(&format!("/beta/communications/calls/{call}/answer"), &answer).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn the_bot_hanging_up_an_answered_phone_call_sends_bye() {
    let (app, sipp) = phone_calls_in("inbound_bot_hangs_up", BOT_NUMBER, true).await;
    let (call, _) = incoming_call(&app).await;
    let answer = json!({
        "callbackUri": app.callback,
        "acceptedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
    });
    app.post(&format!("/beta/communications/calls/{call}/answer"), &answer).await.assert_status(202);
    let got = notifications(&app, &call, 2).await;
    assert_eq!(summary(&got), ["call updated establishing", "call updated established"]);
    sipp.wait_for_trace("ACK sip:").await;
    app.delete_call(&call).await.assert_status(204);
    sipp.assert_passed().await; // our BYE ended its call
}

/// An INVITE from the trunk at `here` to the bot's number, from `caller` (raw bytes: the user
/// part of From).
fn invite_text(here: SocketAddr, ours: SocketAddr, caller: &[u8], call_id: &str) -> Vec<u8> {
    let sdp = "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
    let mut invite =
        format!("INVITE sip:{BOT_NUMBER}@{ours} SIP/2.0\r\nVia: SIP/2.0/UDP {here};branch=z9hG4bK{call_id}\r\n")
            .into_bytes();
    invite.extend_from_slice(b"From: \"Caller\" <sip:");
    invite.extend_from_slice(caller);
    invite.extend_from_slice(
        format!(
            "@{here}>;tag=t{call_id}\r\nTo: <sip:{BOT_NUMBER}@{ours}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:caller@{here}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .as_bytes(),
    );
    invite
}

/// Sends `invite` from the trunk; the status of the first response to it that is not 100
/// Trying (responses naming another Call-ID than `call_id` are skipped).
async fn send_invite(trunk: &tokio::net::UdpSocket, ours: SocketAddr, invite: &[u8], call_id: &str) -> u16 {
    trunk.send_to(invite, ours).await.unwrap();
    let mut buf = vec![0; 65_535];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), trunk.recv_from(&mut buf)).await;
        let (n, _) = read.unwrap_or_else(|_| panic!("no response to the INVITE {call_id}")).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        let status: u16 = text.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a SIP response");
        let other_call = text.lines().any(|l| l.starts_with("Call-ID: ") && l != format!("Call-ID: {call_id}"));
        if status != 100 && !other_call {
            return status;
        }
    }
}

/// An INVITE from the trunk to the bot's number, from `caller` (raw bytes: the user part of
/// From); the status of the first response that is not 100 Trying.
async fn invite_from(trunk: &tokio::net::UdpSocket, ours: SocketAddr, caller: &[u8], call_id: &str) -> u16 {
    let invite = invite_text(trunk.local_addr().unwrap(), ours, caller, call_id);
    send_invite(trunk, ours, &invite, call_id).await
}

#[tokio::test]
async fn an_inbound_invite_from_a_caller_no_identity_can_hold_is_refused_with_400() {
    let (trunk, app, ours) = beside_a_bare_trunk(&[]).await;

    // U+0000 (which PostgreSQL cannot store), another control character, a number too long.
    let long = "1".repeat(200);
    for (caller, call_id) in [(&b"+1555\x000123"[..], "nul"), (b"+1555\x010123", "control"), (long.as_bytes(), "long")]
    {
        assert_eq!(invite_from(&trunk, ours, caller, call_id).await, 400, "{call_id}");
    }
    assert!(app.hooks.take().iter().all(|r| r.path != "/incoming"), "no incoming call reached the bot");
    // The trunk still reaches the bot.
    assert_eq!(invite_from(&trunk, ours, b"+15550123", "fine").await, 180);
    let (_, incoming) = incoming_call(&app).await;
    assert_eq!(incoming.resource_data()["source"]["identity"]["phone"]["id"], "+15550123");
}

/// An OPTIONS from `here` over TCP (its Call-ID `call_id`).
fn options_over_tcp(here: SocketAddr, ours: SocketAddr, call_id: &str) -> String {
    format!(
        "OPTIONS sip:switchboard@{ours} SIP/2.0\r\nVia: SIP/2.0/TCP {here};branch=z9hG4bK{call_id}\r\n\
         From: <sip:trunk@{here}>;tag={call_id}\r\nTo: <sip:switchboard@{ours}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Reads from `stream` until what it got contains `needle`.
async fn read_until(stream: &mut tokio::net::TcpStream, needle: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = vec![0; 65_536];
    while !String::from_utf8_lossy(&got).contains(needle) {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
        let n = read.unwrap_or_else(|_| panic!("no {needle:?} in {:?}", String::from_utf8_lossy(&got))).unwrap();
        assert!(n > 0, "closed before {needle:?}: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads from `stream` until Switchboard closes it (end of stream or reset); what it sent before.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = vec![0; 65_536];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
        match read.expect("Switchboard closes the connection") {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_tcp_stream_that_cannot_be_framed_is_closed_and_one_with_a_bad_header_goes_on() {
    use tokio::io::AsyncWriteExt;
    let trunk = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = spawn_beside(trunk.local_addr().unwrap(), &["--sip-transport", "tcp"]).await;
    let ours = sip_address(&app);

    // Headers without end, then a Content-Length of a terabyte: neither is buffered, both closed.
    let endless = format!("OPTIONS sip:switchboard@{ours} SIP/2.0\r\n{}", "X-Junk: junk\r\n".repeat(20_000));
    let huge = format!("OPTIONS sip:switchboard@{ours} SIP/2.0\r\nContent-Length: 1000000000000\r\n\r\n");
    for unframeable in [endless, huge] {
        let mut stream = tokio::net::TcpStream::connect(ours).await.unwrap();
        let _ = stream.write_all(unframeable.as_bytes()).await;
        assert_eq!(until_closed(&mut stream).await, "");
    }
    assert_eq!(app.server_log().matches("SIP over TCP cannot be framed").count(), 2, "{}", app.server_log());

    // A header that is not UTF-8 spoils its message only: the OPTIONS after it is answered.
    let mut stream = tokio::net::TcpStream::connect(ours).await.unwrap();
    let here = stream.local_addr().unwrap();
    let spoilt = options_over_tcp(here, ours, "spoilt");
    let (head, tail) = spoilt.split_once("<sip:trunk").unwrap();
    let fine = options_over_tcp(here, ours, "fine");
    let bytes = [head.as_bytes(), b"\"\xff\" <sip:trunk", tail.as_bytes(), fine.as_bytes()].concat();
    stream.write_all(&bytes).await.unwrap();
    let answered = read_until(&mut stream, "Call-ID: fine\r\n").await;
    assert!(answered.starts_with("SIP/2.0 200") && !answered.contains("spoilt"), "{answered}");
}

#[tokio::test]
async fn a_tcp_connection_the_trunk_closes_is_closed_by_switchboard_too() {
    use tokio::io::AsyncWriteExt;
    let trunk = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = spawn_beside(trunk.local_addr().unwrap(), &["--sip-transport", "tcp"]).await;
    let ours = sip_address(&app);
    let mut stream = tokio::net::TcpStream::connect(ours).await.unwrap();
    let here = stream.local_addr().unwrap();
    stream.write_all(options_over_tcp(here, ours, "closing").as_bytes()).await.unwrap();
    read_until(&mut stream, "Call-ID: closing\r\n").await;
    // Kept open, each connection the trunk ever closed would hold a socket and a task for good.
    stream.shutdown().await.unwrap();
    assert_eq!(until_closed(&mut stream).await, "");
}

/// Sets the soft limit of open files of the server's process (`prlimit`, util-linux).
fn limit_open_files(app: &TestApp, soft: usize) {
    let pid = app.pid().to_string();
    let status = std::process::Command::new("prlimit").args(["--pid", &pid, &format!("--nofile={soft}:")]).status();
    assert!(status.unwrap().success());
}

#[tokio::test]
async fn the_sip_tcp_listener_outlives_running_out_of_file_descriptors() {
    use tokio::io::AsyncWriteExt;
    let trunk = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = spawn_beside(trunk.local_addr().unwrap(), &["--sip-transport", "tcp"]).await;
    let ours = sip_address(&app);
    let open = std::fs::read_dir(format!("/proc/{}/fd", app.pid())).unwrap().count();
    limit_open_files(&app, open + 1);
    let mut streams = Vec::new();
    for _ in 0..4 {
        streams.push(tokio::net::TcpStream::connect(ours).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(streams);
    limit_open_files(&app, 4096);
    let mut stream = tokio::net::TcpStream::connect(ours).await.unwrap();
    let here = stream.local_addr().unwrap();
    stream.write_all(options_over_tcp(here, ours, "after").as_bytes()).await.unwrap();
    assert!(read_until(&mut stream, "Call-ID: after\r\n").await.starts_with("SIP/2.0 200"));
    assert!(app.server_log().contains("a connection could not be accepted"), "the limit was reached");
}

#[tokio::test]
async fn a_request_without_a_mandatory_header_or_its_own_cseq_gets_400_and_calls_go_on() {
    let (trunk, _app, ours) = beside_a_bare_trunk(&[]).await;
    let here = trunk.local_addr().unwrap();
    let invite = |call_id: &str| String::from_utf8(invite_text(here, ours, b"+15550123", call_id)).unwrap();

    let without = |call_id: &str, header: &str| {
        let text = invite(call_id);
        let line = text.lines().find(|l| l.starts_with(header)).unwrap().to_owned();
        text.replace(&format!("{line}\r\n"), "")
    };
    // Without Call-ID last: its 400, retransmitted until an ACK, names no call to skip it by.
    let malformed = [
        ("no-from", without("no-from", "From:")),
        ("no-to", without("no-to", "To:")),
        ("no-cseq", without("no-cseq", "CSeq:")),
        ("cseq-of-bye", invite("cseq-of-bye").replace("CSeq: 1 INVITE", "CSeq: 1 BYE")),
        ("cseq-nan", invite("cseq-nan").replace("CSeq: 1 INVITE", "CSeq: one INVITE")),
        ("cseq-huge", invite("cseq-huge").replace("CSeq: 1 INVITE", "CSeq: 99999999999999999999 INVITE")),
        ("no-call-id", without("no-call-id", "Call-ID:")),
    ];
    for (call_id, text) in malformed {
        assert_eq!(send_invite(&trunk, ours, text.as_bytes(), call_id).await, 400, "{call_id}");
    }

    // Two INVITEs of an RFC 2543 peer (no branch) are two calls, not one retransmitted.
    for call_id in ["old-1", "old-2"] {
        let text = invite(call_id).replace(&format!(";branch=z9hG4bK{call_id}"), "");
        assert_eq!(send_invite(&trunk, ours, text.as_bytes(), call_id).await, 180, "{call_id}");
    }
    assert_eq!(invite_from(&trunk, ours, b"+15550123", "fine").await, 180);
}

#[tokio::test]
async fn a_re_invite_for_a_dialog_switchboard_does_not_know_gets_481() {
    let trunk = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let app = spawn_beside(trunk.local_addr().unwrap(), &[]).await;
    let (here, ours) = (trunk.local_addr().unwrap(), sip_address(&app));
    let invite = String::from_utf8(invite_text(here, ours, b"+15550123", "stranger")).unwrap();
    let to = format!("To: <sip:{BOT_NUMBER}@{ours}>");
    let re_invite = invite.replace(&to, &format!("{to};tag=guessed"));
    assert_eq!(send_invite(&trunk, ours, re_invite.as_bytes(), "stranger").await, 481);
}

#[tokio::test]
async fn a_phone_that_hangs_up_the_moment_it_has_our_ack_leaves_the_call() {
    // Its BYE races the connection of its leg; a few rounds, since one may not show the race.
    for _ in 0..4 {
        let sipp = Sipp::phone("bye_at_once", false);
        let app = spawn_with_trunk(&sipp, false).await;
        let (call, participant) = invite_phone(&app).await;
        sipp.assert_passed().await; // its BYE was answered 200
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while app.get_participant(&call, &participant).await.status != 404 {
            assert!(std::time::Instant::now() < deadline, "the phone is still in the call\n{}", app.server_log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn garbage_from_the_trunk_over_udp_is_dropped_and_the_next_call_still_rings() {
    let (trunk, app, ours) = beside_a_bare_trunk(&[]).await;
    let here = trunk.local_addr().unwrap();
    let invite = String::from_utf8(invite_text(here, ours, b"+15550123", "garbage")).unwrap();
    let unknown = format!("Call-ID: garbage\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP {here};branch=z9hG4bKnone\r\n\r\n");
    let garbage: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\x00\xff not SIP at all \r\n\r\n".to_vec(),
        invite.as_bytes()[..20].to_vec(),
        invite_text(here, ours, b"+1555\xff\xfe", "not-utf-8"),
        format!("SIP/2.0 200 OK\r\n{unknown}").into_bytes(),
        format!("SIP/2.0 180 Ringing\r\n{unknown}").into_bytes(),
        invite.replace("INVITE sip:", "ACK sip:").replace("1 INVITE", "1 ACK").into_bytes(),
    ];
    for datagram in garbage {
        trunk.send_to(&datagram, ours).await.unwrap();
    }
    // Their SDP is no concern of ours: an INVITE with garbage for one still rings the bot.
    let sdp_garbage = invite.replace("v=0\r\n", "v=\u{0}\u{7f}zz\r\n");
    assert_eq!(send_invite(&trunk, ours, sdp_garbage.as_bytes(), "garbage").await, 180);
    incoming_call(&app).await;
    assert!(!app.server_log().contains("panicked"), "{}", app.server_log());
}

#[tokio::test]
async fn the_same_invite_in_a_second_transaction_gets_482_not_a_second_call() {
    let (trunk, app, ours) = beside_a_bare_trunk(&[]).await;
    let here = trunk.local_addr().unwrap();
    let invite = String::from_utf8(invite_text(here, ours, b"+15550123", "merged")).unwrap();
    assert_eq!(send_invite(&trunk, ours, invite.as_bytes(), "merged").await, 180);
    // The same request by another path: same Call-ID, From tag and CSeq, another branch.
    let again = invite.replace("branch=z9hG4bKmerged", "branch=z9hG4bKmerged-by-another-path");
    assert_eq!(send_invite(&trunk, ours, again.as_bytes(), "merged").await, 482);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.hooks.take().iter().filter(|r| r.path == "/incoming").count(), 1, "one call reached the bot");
}

#[tokio::test]
async fn a_tcp_message_left_unfinished_for_64_t1_closes_its_connection() {
    use tokio::io::AsyncWriteExt;
    let trunk = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // T1 = 10 ms: 640 ms to finish a message.
    let app = spawn_beside(trunk.local_addr().unwrap(), &["--sip-transport", "tcp", "--sip-t1-ms", "10"]).await;
    let ours = sip_address(&app);
    let mut stream = tokio::net::TcpStream::connect(ours).await.unwrap();
    let here = stream.local_addr().unwrap();
    let unfinished = options_over_tcp(here, ours, "unfinished").replace("Content-Length: 0", "Content-Length: 100");
    stream.write_all(format!("{unfinished}only part of the body").as_bytes()).await.unwrap();
    assert_eq!(until_closed(&mut stream).await, "");

    let mut stream = tokio::net::TcpStream::connect(ours).await.unwrap();
    let here = stream.local_addr().unwrap();
    stream.write_all(options_over_tcp(here, ours, "whole").as_bytes()).await.unwrap();
    assert!(read_until(&mut stream, "Call-ID: whole\r\n").await.starts_with("SIP/2.0 200"));
}

#[tokio::test]
async fn an_answered_phone_call_whose_200_is_never_acked_ends_with_bye_after_64_t1() {
    // T1 = 10 ms: the 200 is sent again for 640 ms.
    let (trunk, app, ours) = beside_a_bare_trunk(&["--sip-t1-ms", "10"]).await;
    assert_eq!(invite_from(&trunk, ours, b"+15550123", "never-acked").await, 180);
    let (call, _) = incoming_call(&app).await;
    let answer = json!({
        "callbackUri": app.callback,
        "acceptedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
    });
    app.post(&format!("/beta/communications/calls/{call}/answer"), &answer).await.assert_status(202);
    // The trunk takes every 200 and ACKs none.
    let mut buf = vec![0; 65_535];
    let bye = loop {
        let read = tokio::time::timeout(Duration::from_secs(10), trunk.recv_from(&mut buf)).await;
        let (n, _) = read.expect("a BYE once the 200 is given up").unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("BYE ") {
            break text;
        }
    };
    assert!(bye.contains("Call-ID: never-acked\r\n"), "{bye}");
    let got = notifications(&app, &call, 4).await;
    assert_eq!(summary(&got)[3], "call deleted terminated", "{got:#?}");
}
