//! The user agent against a real SIP peer: sipp plays the phone with the scenarios of
//! crates/switchboard/tests/sipp/. sipp fails (non-zero exit) when the scenario is not
//! followed, so each test checks both sides. sipp must be installed (`.ci/run` installs the
//! Debian package `sip-tester`); these tests fail, never skip, without it.

use std::net::SocketAddr;
use std::time::Duration;

#[path = "../../switchboard/tests/sipp/harness.rs"]
mod harness;

use harness::Sipp;
use switchboard_sip::{CallFailure, CallProgress, DialRequest, SipConfig, SipUa, TransportKind, UaEvent};

async fn ua(
    trunk: SocketAddr,
    transport: TransportKind,
    credentials: bool,
) -> (std::sync::Arc<SipUa>, tokio::sync::mpsc::UnboundedReceiver<UaEvent>) {
    SipUa::start(SipConfig {
        trunk,
        transport,
        listen: "127.0.0.1:0".parse().unwrap(),
        media: "127.0.0.1:40000".parse().unwrap(),
        username: credentials.then(|| "user".to_owned()),
        password: credentials.then(|| "secret".to_owned()),
        // Timer B is 64 x T1: 12.8 s, so sipp answering slowly on a loaded machine does not time
        // an INVITE out. At 50 ms (3.2 s) the digest test failed once under the whole suite,
        // after 3.47 s. Retransmission timing is tested in transactions_over_udp.rs.
        t1: Duration::from_millis(200),
    })
    .await
    .unwrap()
}

fn phone() -> DialRequest {
    DialRequest {
        to_number: "+15550100".into(),
        from_number: Some("+14255550100".into()),
        display_name: Some("Bot".into()),
    }
}

async fn outcome(rx: &mut tokio::sync::mpsc::UnboundedReceiver<CallProgress>) -> (Vec<u16>, CallProgress) {
    let mut provisional = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("an outcome in time")
            .expect("progress")
        {
            CallProgress::Ringing(code) => provisional.push(code),
            CallProgress::Cancellable(cancel) => assert!(cancel.starts_with("CANCEL sip:"), "{cancel}"),
            other => return (provisional, other),
        }
    }
}

async fn answered_then_bye(transport: TransportKind) {
    let sipp = Sipp::phone("answer", transport == TransportKind::Tcp);
    let (ua, _events) = ua(sipp.addr, transport, false).await;
    let (_call, mut rx) = ua.dial(phone());
    let (provisional, result) = outcome(&mut rx).await;
    assert_eq!(provisional, vec![180]);
    let CallProgress::Answered(dialog) = result else { panic!("not answered: {result:?}") };
    assert_eq!(dialog.local_cseq, 1);
    assert!(!dialog.remote_tag.is_empty());
    assert!(dialog.remote_target.contains("phone@127.0.0.1"), "{dialog:?}");
    assert_eq!(ua.hang_up(&dialog).await, Ok(200));
    sipp.assert_passed().await;
}

#[tokio::test]
async fn a_phone_that_answers_over_udp_gets_our_ack_and_bye() {
    answered_then_bye(TransportKind::Udp).await;
}

#[tokio::test]
async fn a_phone_that_answers_over_tcp_gets_our_ack_and_bye() {
    answered_then_bye(TransportKind::Tcp).await;
}

async fn rejected(scenario: &str, expected: u16) {
    let sipp = Sipp::phone(scenario, false);
    let (ua, _events) = ua(sipp.addr, TransportKind::Udp, false).await;
    let (_call, mut rx) = ua.dial(phone());
    let (_, result) = outcome(&mut rx).await;
    assert_eq!(result, CallProgress::Failed(CallFailure::Rejected(expected)));
    sipp.assert_passed().await;
}

#[tokio::test]
async fn busy_declined_and_unreachable_phones_are_acked_and_reported() {
    rejected("busy", 486).await;
    rejected("decline", 603).await;
    rejected("unreachable", 404).await;
}

#[tokio::test]
async fn a_cancelled_ring_sends_cancel_and_acks_the_487() {
    let sipp = Sipp::phone("no_answer", false);
    let (ua, _events) = ua(sipp.addr, TransportKind::Udp, false).await;
    let (call, mut rx) = ua.dial(phone());
    let kept = rx.recv().await;
    assert!(matches!(&kept, Some(CallProgress::Cancellable(c)) if c.starts_with("CANCEL sip:")), "{kept:?}");
    assert_eq!(rx.recv().await, Some(CallProgress::Ringing(180)));
    call.cancel();
    assert_eq!(outcome(&mut rx).await.1, CallProgress::Failed(CallFailure::Cancelled));
    sipp.assert_passed().await;
}

#[tokio::test]
async fn a_bye_from_the_phone_is_answered_and_reported() {
    let sipp = Sipp::phone("remote_bye", false);
    let (ua, mut events) = ua(sipp.addr, TransportKind::Udp, false).await;
    let (_call, mut rx) = ua.dial(phone());
    let (_, result) = outcome(&mut rx).await;
    let CallProgress::Answered(dialog) = result else { panic!("not answered: {result:?}") };
    match tokio::time::timeout(Duration::from_secs(30), events.recv()).await.unwrap() {
        Some(UaEvent::Bye { call_id }) => assert_eq!(call_id, dialog.call_id),
        other => panic!("expected a BYE, got {other:?}"),
    }
    sipp.assert_passed().await;
}

#[tokio::test]
async fn a_digest_challenge_is_answered_with_the_configured_credentials() {
    let sipp = Sipp::phone("digest", false);
    let (ua, _events) = ua(sipp.addr, TransportKind::Udp, true).await;
    let (_call, mut rx) = ua.dial(phone());
    let (_, result) = outcome(&mut rx).await;
    let CallProgress::Answered(dialog) = result else { panic!("not answered: {result:?}") };
    assert_eq!(dialog.local_cseq, 2, "the authenticated retry is the second INVITE");
    assert_eq!(ua.hang_up(&dialog).await, Ok(200));
    sipp.assert_passed().await;
}
