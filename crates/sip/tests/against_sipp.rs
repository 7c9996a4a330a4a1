//! The user agent against a real SIP peer: sipp plays the phone with the scenarios of
//! crates/switchboard/tests/sipp/. sipp fails (non-zero exit) when the scenario is not
//! followed, so each test checks both sides. sipp must be installed (`.ci/run` installs the
//! Debian package `sip-tester`); these tests fail, never skip, without it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use switchboard_sip::{CallFailure, CallProgress, DialRequest, SipConfig, SipUa, TransportKind, UaEvent};

/// sipp's RTP port: it binds it and the port two above (video), so both must be free.
fn free_media_port() -> u16 {
    loop {
        let port = free_port();
        if port < 65_000 && std::net::UdpSocket::bind(("127.0.0.1", port + 2)).is_ok() {
            return port;
        }
    }
}

fn free_port() -> u16 {
    // A port free for both UDP and TCP on loopback.
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Sipp {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Sipp {
    fn phone(scenario: &str, transport: TransportKind) -> Sipp {
        let file =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../switchboard/tests/sipp").join(format!("{scenario}.xml"));
        let port = free_port();
        let dir = tempfile::tempdir().unwrap().keep();
        let child = Command::new("sipp")
            .current_dir(&dir)
            .args(["-sf", file.to_str().unwrap(), "-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-t", if transport == TransportKind::Tcp { "t1" } else { "u1" }])
            .args(["-cp", &free_port().to_string(), "-mp", &free_media_port().to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error", "-trace_err", "-trace_msg"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipp must be installed (Debian package sip-tester; .ci/run installs it)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        if transport == TransportKind::Tcp {
            for _ in 0..100 {
                if std::net::TcpStream::connect(addr).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Sipp { child, addr, dir }
    }

    /// Waits for sipp to finish; panics with its error log unless it exited 0.
    fn assert_passed(mut self) {
        let status = wait_child(&mut self.child, Duration::from_secs(90));
        if status != Some(0) {
            let mut log = String::new();
            for entry in std::fs::read_dir(&self.dir).unwrap().flatten() {
                log.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
            panic!("sipp exited {status:?}; its logs ({}):\n{log}", self.dir.display());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_child(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its logs were printed already if it failed.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
        t1: Duration::from_millis(50),
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
            other => return (provisional, other),
        }
    }
}

async fn answered_then_bye(transport: TransportKind) {
    let sipp = Sipp::phone("answer", transport);
    let (ua, _events) = ua(sipp.addr, transport, false).await;
    let (_call, mut rx) = ua.dial(phone());
    let (provisional, result) = outcome(&mut rx).await;
    assert_eq!(provisional, vec![180]);
    let CallProgress::Answered(dialog) = result else { panic!("not answered: {result:?}") };
    assert_eq!(dialog.local_cseq, 1);
    assert!(!dialog.remote_tag.is_empty());
    assert!(dialog.remote_target.contains("phone@127.0.0.1"), "{dialog:?}");
    assert_eq!(ua.hang_up(&dialog).await, Ok(200));
    tokio::task::spawn_blocking(move || sipp.assert_passed()).await.unwrap();
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
    let sipp = Sipp::phone(scenario, TransportKind::Udp);
    let (ua, _events) = ua(sipp.addr, TransportKind::Udp, false).await;
    let (_call, mut rx) = ua.dial(phone());
    let (_, result) = outcome(&mut rx).await;
    assert_eq!(result, CallProgress::Failed(CallFailure::Rejected(expected)));
    tokio::task::spawn_blocking(move || sipp.assert_passed()).await.unwrap();
}

#[tokio::test]
async fn busy_declined_and_unreachable_phones_are_acked_and_reported() {
    rejected("busy", 486).await;
    rejected("decline", 603).await;
    rejected("unreachable", 404).await;
}

#[tokio::test]
async fn a_cancelled_ring_sends_cancel_and_acks_the_487() {
    let sipp = Sipp::phone("no_answer", TransportKind::Udp);
    let (ua, _events) = ua(sipp.addr, TransportKind::Udp, false).await;
    let (call, mut rx) = ua.dial(phone());
    assert_eq!(rx.recv().await, Some(CallProgress::Ringing(180)));
    call.cancel();
    assert_eq!(outcome(&mut rx).await.1, CallProgress::Failed(CallFailure::Cancelled));
    tokio::task::spawn_blocking(move || sipp.assert_passed()).await.unwrap();
}

#[tokio::test]
async fn a_bye_from_the_phone_is_answered_and_reported() {
    let sipp = Sipp::phone("remote_bye", TransportKind::Udp);
    let (ua, mut events) = ua(sipp.addr, TransportKind::Udp, false).await;
    let (_call, mut rx) = ua.dial(phone());
    let CallProgress::Answered(dialog) = outcome(&mut rx).await.1 else { panic!("not answered") };
    match tokio::time::timeout(Duration::from_secs(30), events.recv()).await.unwrap() {
        Some(UaEvent::Bye { call_id }) => assert_eq!(call_id, dialog.call_id),
        other => panic!("expected a BYE, got {other:?}"),
    }
    tokio::task::spawn_blocking(move || sipp.assert_passed()).await.unwrap();
}

#[tokio::test]
async fn a_digest_challenge_is_answered_with_the_configured_credentials() {
    let sipp = Sipp::phone("digest", TransportKind::Udp);
    let (ua, _events) = ua(sipp.addr, TransportKind::Udp, true).await;
    let (_call, mut rx) = ua.dial(phone());
    let (_, result) = outcome(&mut rx).await;
    let CallProgress::Answered(dialog) = result else { panic!("not answered: {result:?}") };
    assert_eq!(dialog.local_cseq, 2, "the authenticated retry is the second INVITE");
    assert_eq!(ua.hang_up(&dialog).await, Ok(200));
    tokio::task::spawn_blocking(move || sipp.assert_passed()).await.unwrap();
}
