//! The transaction layer at run time over real UDP sockets, with a hand-driven peer: the
//! retransmissions of RFC 3261 §17 happen on time, a lost ACK is made good, a silent trunk
//! times the INVITE out at 64*T1, and the second 2xx of a forked INVITE is ACKed and ended.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use switchboard_sip::message;
use switchboard_sip::{CallFailure, CallProgress, DialRequest, SipConfig, SipUa, TransportKind};

const T1: Duration = Duration::from_millis(40);

async fn ua(trunk: &UdpSocket) -> std::sync::Arc<SipUa> {
    let (ua, _events) = SipUa::start(SipConfig {
        trunk: trunk.local_addr().unwrap(),
        transport: TransportKind::Udp,
        listen: "127.0.0.1:0".parse().unwrap(),
        media: "127.0.0.1:40000".parse().unwrap(),
        username: None,
        password: None,
        t1: T1,
    })
    .await
    .unwrap();
    ua
}

fn dial() -> DialRequest {
    DialRequest { to_number: "+15550100".into(), from_number: Some("+14255550100".into()), display_name: None }
}

/// Receives one request on the peer socket (blocking, with a limit).
fn recv(socket: &UdpSocket) -> (rsip::Request, std::net::SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (n, from) = socket.recv_from(&mut buf).expect("a request in time");
    match message::parse(&buf[..n]).expect("a SIP message") {
        rsip::SipMessage::Request(r) => (r, from),
        rsip::SipMessage::Response(r) => panic!("expected a request, got {r}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_invite_is_retransmitted_and_a_lost_ack_is_sent_again() {
    let trunk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ua = ua(&trunk).await;
    let (_call, mut progress) = ua.dial(dial());

    let peer = tokio::task::spawn_blocking(move || {
        let (first, from) = recv(&trunk);
        let t0 = Instant::now();
        let (again, _) = recv(&trunk);
        let gap = t0.elapsed();
        assert_eq!(again.method, rsip::Method::Invite);
        assert_eq!(message::top_branch(&again.headers), message::top_branch(&first.headers), "same transaction");
        assert!(gap >= T1 / 2, "timer A starts at T1, the retransmission came after {gap:?}");
        let (third, _) = recv(&trunk);
        assert_eq!(message::top_branch(&third.headers), message::top_branch(&first.headers));
        let gap2 = t0.elapsed() - gap;
        assert!(gap2 >= gap, "timer A doubles: {gap:?} then {gap2:?}");

        // 486, twice (as if the ACK were lost): each gets an ACK with the INVITE's branch.
        let busy = message::response(&first, 486, Some("phone1"), vec![], vec![]).to_string();
        for _ in 0..2 {
            trunk.send_to(busy.as_bytes(), from).unwrap();
            let (ack, _) = loop {
                let (r, f) = recv(&trunk);
                if r.method == rsip::Method::Ack {
                    break (r, f);
                }
            };
            assert_eq!(message::top_branch(&ack.headers), message::top_branch(&first.headers));
            assert_eq!(message::cseq(&ack.headers), Some((1, "ACK".to_owned())));
            assert!(message::header(&ack.headers, "To", None).unwrap().contains("tag=phone1"));
        }
    });
    let outcome = tokio::time::timeout(Duration::from_secs(20), progress.recv()).await.unwrap();
    assert_eq!(outcome, Some(CallProgress::Failed(CallFailure::Rejected(486))));
    peer.await.unwrap();
}

#[tokio::test]
async fn a_silent_trunk_times_the_invite_out_after_64_t1() {
    let trunk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ua = ua(&trunk).await;
    let started = Instant::now();
    let (_call, mut progress) = ua.dial(dial());
    let outcome = tokio::time::timeout(Duration::from_secs(20), progress.recv()).await.unwrap();
    assert_eq!(outcome, Some(CallProgress::Failed(CallFailure::Timeout)));
    assert!(started.elapsed() >= T1 * 64, "timer B is 64*T1, it fired after {:?}", started.elapsed());
    drop(trunk);
}

/// The To tag of a request.
fn to_tag(request: &rsip::Request) -> Option<String> {
    message::tag(&message::header(&request.headers, "To", None).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_2xx_with_another_to_tag_is_acked_and_ended_and_the_first_dialog_lives_on() {
    let trunk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ua = ua(&trunk).await;
    let (_call, mut progress) = ua.dial(dial());

    let peer = tokio::task::spawn_blocking(move || {
        let (invite, ours) = recv(&trunk);
        let here = trunk.local_addr().unwrap();
        let next = |method: rsip::Method| loop {
            let (request, _) = recv(&trunk);
            if request.method == method {
                break request;
            }
        };
        let ok = |tag: &str| {
            let contact = vec![("Contact", format!("<sip:phone@{here}>"))];
            message::response(&invite, 200, Some(tag), contact, vec![]).to_string()
        };
        trunk.send_to(ok("first").as_bytes(), ours).unwrap();
        assert_eq!(to_tag(&next(rsip::Method::Ack)).as_deref(), Some("first"));
        // The INVITE forked: another phone answers too. Its dialog is ACKed, then ended.
        trunk.send_to(ok("fork").as_bytes(), ours).unwrap();
        assert_eq!(to_tag(&next(rsip::Method::Ack)).as_deref(), Some("fork"));
        let bye = next(rsip::Method::Bye);
        assert_eq!(to_tag(&bye).as_deref(), Some("fork"));
        trunk.send_to(message::response(&bye, 200, None, vec![], vec![]).to_string().as_bytes(), ours).unwrap();

        // The first phone hangs up: its dialog, of the same Call-ID, is still known.
        let (from, call_id) =
            (message::header(&invite.headers, "From", None).unwrap(), message::call_id(&invite.headers));
        let bye = format!(
            "BYE sip:switchboard@{ours} SIP/2.0\r\nVia: SIP/2.0/UDP {here};branch=z9hG4bKphonebye\r\n\
             From: <sip:+15550100@{here}>;tag=first\r\nTo: {from}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\n\
             Content-Length: 0\r\n\r\n",
            call_id.unwrap()
        );
        trunk.send_to(bye.as_bytes(), ours).unwrap();
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, _) = trunk.recv_from(&mut buf).expect("an answer to the BYE");
            if let Some(rsip::SipMessage::Response(r)) = message::parse(&buf[..n]) {
                assert_eq!(message::cseq(&r.headers), Some((1, "BYE".to_owned())));
                assert_eq!(message::status(&r), 200);
                break;
            }
        }
    });
    let outcome = tokio::time::timeout(Duration::from_secs(20), progress.recv()).await.unwrap();
    match outcome {
        Some(CallProgress::Answered(dialog)) => assert_eq!(dialog.remote_tag, "first"),
        other => panic!("expected the first 2xx's dialog, got {other:?}"),
    }
    peer.await.unwrap();
}
