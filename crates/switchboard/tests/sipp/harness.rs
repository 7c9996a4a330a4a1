//! sipp, the real SIP peer of the SIP tests: it plays a phone behind the trunk, or the trunk
//! calling in, with one scenario of this folder. Shared by crates/sip/tests/against_sipp.rs and
//! crates/switchboard/tests/sip.rs (included with `#[path]`), so both run sipp the same way.
//! sipp must be installed (`.ci/run` installs Debian's `sip-tester`): without it these tests
//! fail, they never skip.
#![allow(dead_code)] // each suite uses part of it

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// This folder, from either crate.
fn scenario_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../switchboard/tests/sipp").join(format!("{name}.xml"))
}

/// sipp's RTP port: it binds it and the port two above (video), so both must be free.
pub fn free_media_port() -> u16 {
    loop {
        let port = free_port();
        if port < 65_000 && std::net::UdpSocket::bind(("127.0.0.1", port + 2)).is_ok() {
            return port;
        }
    }
}

pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether a socket of this machine is bound to UDP port `port` (Linux: /proc/net/udp, whose
/// second column is the local address as hex `ADDR:PORT`).
fn udp_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").expect("/proc/net/udp (the tests run on Linux)");
    let wanted = format!(":{port:04X}");
    table.lines().skip(1).any(|line| line.split_whitespace().nth(1).is_some_and(|local| local.ends_with(&wanted)))
}

/// A running sipp, playing the phone (the trunk's far end) with one scenario.
pub struct Sipp {
    child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl Sipp {
    pub fn phone(scenario: &str, tcp: bool) -> Sipp {
        let file = scenario_file(scenario);
        let port = free_port();
        let dir = tempfile::tempdir().unwrap().keep();
        let child = Command::new("sipp")
            .current_dir(&dir)
            .args(["-sf", file.to_str().unwrap(), "-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-t", if tcp { "t1" } else { "u1" }])
            .args(["-cp", &free_port().to_string(), "-mp", &free_media_port().to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "120s", "-timeout_error", "-trace_err", "-trace_msg"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp must be installed (Debian package sip-tester; .ci/run installs it)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut sipp = Sipp { child, addr, dir };
        sipp.wait_until_listening(tcp);
        sipp
    }

    /// Waits (at most 20 s) until sipp listens on its port. A request sent before that is lost
    /// (UDP) or refused (TCP); with the tests' short T1 an INVITE would time out (64 x T1) when a
    /// loaded machine starts sipp slowly. UDP is checked in /proc/net/udp, not by binding the
    /// port ourselves, which could take it from sipp.
    fn wait_until_listening(&mut self, tcp: bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let listening = |addr: SocketAddr| {
            if tcp {
                std::net::TcpStream::connect(addr).is_ok()
            } else {
                udp_bound(addr.port())
            }
        };
        while !listening(self.addr) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sipp exited {status} before listening on {}", self.addr);
            }
            assert!(std::time::Instant::now() < deadline, "sipp never listened on {}", self.addr);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// sipp playing the trunk that sends requests to Switchboard's SIP listener (`target`).
    pub fn trunk_calling(scenario: &str, target: SocketAddr, service: &str) -> Sipp {
        Sipp::trunk_calling_from(scenario, target, service, free_port())
    }

    /// Like `trunk_calling`, from this port (when Switchboard must know the trunk beforehand).
    pub fn trunk_calling_from(scenario: &str, target: SocketAddr, service: &str, port: u16) -> Sipp {
        let file = scenario_file(scenario);
        let dir = tempfile::tempdir().unwrap().keep();
        let child = Command::new("sipp")
            .current_dir(&dir)
            .arg(target.to_string())
            .args([
                "-sf",
                file.to_str().unwrap(),
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-t",
                "u1",
                "-s",
                service,
            ])
            .args(["-cp", &free_port().to_string(), "-mp", &free_media_port().to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "120s", "-timeout_error", "-trace_err", "-trace_msg"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp must be installed (Debian package sip-tester; .ci/run installs it)");
        Sipp { child, addr: format!("127.0.0.1:{port}").parse().unwrap(), dir }
    }

    /// Waits (at most 30 s) until sipp's message trace shows `text`: what it sent or received.
    pub async fn wait_for_trace(&self, text: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let traced = std::fs::read_dir(&self.dir)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with("_messages.log"))
                .any(|e| std::fs::read_to_string(e.path()).unwrap_or_default().contains(text));
            if traced {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "sipp never traced {text:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for sipp to finish its one call; panics with its logs unless it exited 0.
    pub async fn assert_passed(mut self) {
        let (status, child) = tokio::task::spawn_blocking(move || {
            let start = std::time::Instant::now();
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return (status.code(), self);
                }
                if start.elapsed() > Duration::from_secs(120) {
                    let _ = self.child.kill();
                    return (None, self);
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        })
        .await
        .unwrap();
        if status != Some(0) {
            let mut log = String::new();
            for entry in std::fs::read_dir(&child.dir).unwrap().flatten() {
                log.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
            panic!("sipp exited {status:?}; its logs:\n{log}");
        }
        let _ = std::fs::remove_dir_all(&child.dir);
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
