//! The SDP offer of a dial-out (and the answer of an inbound call): one audio stream at the
//! configured media address, G.711 and telephone events. Switchboard carries no media
//! (DESIGN "Out of scope"); it negotiates toward the configured address and no further.

use std::net::SocketAddr;

/// A minimal audio session description for `media` (RFC 4566 / RFC 3264).
pub fn audio_offer(media: SocketAddr, session_id: u64) -> String {
    let (family, ip) = match media.ip() {
        std::net::IpAddr::V4(ip) => ("IP4", ip.to_string()),
        std::net::IpAddr::V6(ip) => ("IP6", ip.to_string()),
    };
    format!(
        "v=0\r\n\
         o=switchboard {session_id} {session_id} IN {family} {ip}\r\n\
         s=switchboard\r\n\
         c=IN {family} {ip}\r\n\
         t=0 0\r\n\
         m=audio {port} RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=sendrecv\r\n",
        port = media.port()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_audio_at_the_media_address() {
        let sdp = audio_offer("192.0.2.10:40000".parse().unwrap(), 7);
        assert!(sdp.starts_with("v=0\r\no=switchboard 7 7 IN IP4 192.0.2.10\r\n"));
        assert!(sdp.contains("c=IN IP4 192.0.2.10\r\n"));
        assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"));
        let v6 = audio_offer("[2001:db8::1]:5004".parse().unwrap(), 1);
        assert!(v6.contains("c=IN IP6 2001:db8::1\r\n"));
    }
}
