//! The transaction layer at run time over real UDP sockets, with a hand-driven peer: the
//! retransmissions of RFC 3261 §17 happen on time, a lost ACK is made good, and a silent
//! trunk times the INVITE out at 64*T1.

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
