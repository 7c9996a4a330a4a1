//! Reading and writing SIP messages on top of rsip.
//!
//! rsip parses and prints; these helpers read header values by name (long or compact form,
//! comma-separated values split) and build the requests and responses a UA needs.

use rsip::{Header, Headers, SipMessage};

/// Every value of a header, in order, under its long or compact name, comma lists split.
pub fn header_values(headers: &Headers, long: &str, compact: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for header in headers.iter() {
        let text = header.to_string();
        let Some((name, value)) = text.split_once(':') else { continue };
        let name = name.trim();
        if name.eq_ignore_ascii_case(long) || compact.is_some_and(|c| name.eq_ignore_ascii_case(c)) {
            out.extend(split_list(value.trim()));
        }
    }
    out
}

/// The first value of a header.
pub fn header(headers: &Headers, long: &str, compact: Option<&str>) -> Option<String> {
    header_values(headers, long, compact).into_iter().next()
}

/// Splits `a, <sip:b,c>, "d, e" <sip:f>` at the commas outside quotes and angle brackets.
/// Authentication headers are not lists (their parameters are comma-separated): read them
/// with [`raw_values`].
fn split_list(value: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut angle) = (Vec::new(), String::new(), false, false);
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// Whole header values, not split at commas (for `WWW-Authenticate` and the like).
pub fn raw_values(headers: &Headers, name: &str) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| {
            let text = h.to_string();
            let (n, v) = text.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
        .collect()
}

pub fn call_id(headers: &Headers) -> Option<String> {
    header(headers, "Call-ID", Some("i"))
}

/// `(number, method)` of the CSeq header.
pub fn cseq(headers: &Headers) -> Option<(u32, String)> {
    let value = header(headers, "CSeq", None)?;
    let (num, method) = value.split_once(char::is_whitespace)?;
    Some((num.trim().parse().ok()?, method.trim().to_owned()))
}

/// The `branch` parameter of the top Via.
pub fn top_branch(headers: &Headers) -> Option<String> {
    param(&header(headers, "Via", Some("v"))?, "branch")
}

/// A `;name=value` parameter of a header value (after the URI's closing `>` if any).
pub fn param(value: &str, name: &str) -> Option<String> {
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value.split_once(';').map(|(_, p)| p).unwrap_or(""),
    };
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

pub fn tag(name_addr: &str) -> Option<String> {
    param(name_addr, "tag")
}

/// The URI of a name-addr (`"Bob" <sip:bob@x>;tag=1` -> `sip:bob@x`) or an addr-spec.
pub fn uri_of(name_addr: &str) -> String {
    match (name_addr.find('<'), name_addr.find('>')) {
        (Some(a), Some(b)) if a < b => name_addr[a + 1..b].to_owned(),
        _ => name_addr.split(';').next().unwrap_or(name_addr).trim().to_owned(),
    }
}

/// The user part of a SIP URI (`sip:+15550100@host` -> `+15550100`).
pub fn user_of(uri: &str) -> Option<String> {
    let rest = uri.split_once(':')?.1;
    let (user, _) = rest.split_once('@')?;
    Some(user.split(';').next().unwrap_or(user).to_owned())
}

pub fn new_branch() -> String {
    format!("z9hG4bK{}", uuid::Uuid::new_v4().simple())
}

pub fn new_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

fn to_header(name: &str, value: String) -> Header {
    use rsip::headers as h;
    use rsip::headers::UntypedHeader;
    match name {
        "Via" => Header::Via(h::Via::new(value)),
        "From" => Header::From(h::From::new(value)),
        "To" => Header::To(h::To::new(value)),
        "Call-ID" => Header::CallId(h::CallId::new(value)),
        "CSeq" => Header::CSeq(h::CSeq::new(value)),
        "Contact" => Header::Contact(h::Contact::new(value)),
        "Max-Forwards" => Header::MaxForwards(h::MaxForwards::new(value)),
        "Route" => Header::Route(h::Route::new(value)),
        "Content-Type" => Header::ContentType(h::ContentType::new(value)),
        "Content-Length" => Header::ContentLength(h::ContentLength::new(value)),
        "User-Agent" => Header::UserAgent(h::UserAgent::new(value)),
        "Authorization" => Header::Authorization(h::Authorization::new(value)),
        "Proxy-Authorization" => Header::ProxyAuthorization(h::ProxyAuthorization::new(value)),
        other => Header::Other(other.to_owned(), value),
    }
}

/// A request with these headers (in order); Content-Length is added.
pub fn request(method: rsip::Method, uri: &str, headers: Vec<(&str, String)>, body: Vec<u8>) -> rsip::Request {
    let mut list: Vec<Header> = headers.into_iter().map(|(n, v)| to_header(n, v)).collect();
    list.push(to_header("Content-Length", body.len().to_string()));
    rsip::Request {
        method,
        uri: rsip::Uri::try_from(uri).unwrap_or_else(|_| rsip::Uri::default()),
        version: rsip::Version::V2,
        headers: list.into(),
        body,
    }
}

/// A response to `req`: Via, From, Call-ID and CSeq copied, To with `to_tag` added when the
/// request's To has none (§8.2.6.2).
pub fn response(
    req: &rsip::Request,
    status: u16,
    to_tag: Option<&str>,
    extra: Vec<(&str, String)>,
    body: Vec<u8>,
) -> rsip::Response {
    let mut list = Vec::new();
    for via in raw_values(&req.headers, "Via").into_iter().chain(raw_values(&req.headers, "v")) {
        list.push(to_header("Via", via));
    }
    if let Some(from) = header(&req.headers, "From", Some("f")) {
        list.push(to_header("From", from));
    }
    if let Some(to) = header(&req.headers, "To", Some("t")) {
        let to = match (tag(&to), to_tag) {
            (None, Some(t)) if status > 100 => format!("{to};tag={t}"),
            _ => to,
        };
        list.push(to_header("To", to));
    }
    if let Some(id) = call_id(&req.headers) {
        list.push(to_header("Call-ID", id));
    }
    if let Some(cseq) = header(&req.headers, "CSeq", None) {
        list.push(to_header("CSeq", cseq));
    }
    list.extend(extra.into_iter().map(|(n, v)| to_header(n, v)));
    list.push(to_header("Content-Length", body.len().to_string()));
    rsip::Response { status_code: status.into(), version: rsip::Version::V2, headers: list.into(), body }
}

pub fn status(resp: &rsip::Response) -> u16 {
    resp.status_code.code()
}

/// Parses one message (a UDP datagram, or one framed TCP message).
pub fn parse(bytes: &[u8]) -> Option<SipMessage> {
    SipMessage::try_from(bytes).ok()
}

/// The largest message taken over TCP, head and body: the size of the largest UDP datagram. A
/// peer that sends more before a message ends (headers without end, a huge Content-Length)
/// has its connection closed rather than buffered without bound.
pub const MAX_MESSAGE: usize = 65_535;

/// Why a TCP stream cannot be framed: its connection must be closed, since where the next
/// message starts is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unframeable {
    #[error("no end of the headers within {MAX_MESSAGE} bytes")]
    HeadTooLong,
    #[error("a Content-Length that is not a number")]
    BadContentLength,
    #[error("a message longer than {MAX_MESSAGE} bytes")]
    TooLong,
}

/// TCP framing (RFC 3261 §18.3): the length of the first complete message in `buf`, by its
/// Content-Length; `None` until it is all there. Leading CRLF keep-alives count as a message
/// of their own length with no content. The head is read as bytes: a header that is not UTF-8
/// makes that message unparseable, not the stream unframeable.
pub fn frame_length(buf: &[u8]) -> Result<Option<usize>, Unframeable> {
    let blank = buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
    if blank > 0 {
        return Ok(Some(blank));
    }
    let searched = &buf[..buf.len().min(MAX_MESSAGE)];
    let Some(end) = searched.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4) else {
        return if buf.len() >= MAX_MESSAGE { Err(Unframeable::HeadTooLong) } else { Ok(None) };
    };
    let mut length = 0;
    for line in buf[..end].split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = std::str::from_utf8(line[colon + 1..].trim_ascii()).ok();
            length = value.and_then(|v| v.parse::<usize>().ok()).ok_or(Unframeable::BadContentLength)?;
            break;
        }
    }
    if length > MAX_MESSAGE - end {
        return Err(Unframeable::TooLong);
    }
    Ok((buf.len() >= end + length).then_some(end + length))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:+15550100@127.0.0.1:5070 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKdef\r\n\
        From: \"Bot, Inc\" <sip:+15550000@127.0.0.1>;tag=f1\r\n\
        t: <sip:+15550100@127.0.0.1>\r\n\
        Call-ID: c1@host\r\n\
        CSeq: 7 INVITE\r\n\
        Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn reads_headers_by_long_and_compact_name() {
        let SipMessage::Request(req) = parse(INVITE.as_bytes()).unwrap() else { panic!("not a request") };
        assert_eq!(top_branch(&req.headers).as_deref(), Some("z9hG4bKabc"));
        assert_eq!(cseq(&req.headers), Some((7, "INVITE".into())));
        assert_eq!(call_id(&req.headers).as_deref(), Some("c1@host"));
        let from = header(&req.headers, "From", Some("f")).unwrap();
        assert_eq!(tag(&from).as_deref(), Some("f1"));
        assert_eq!(uri_of(&from), "sip:+15550000@127.0.0.1");
        assert_eq!(header(&req.headers, "To", Some("t")).as_deref(), Some("<sip:+15550100@127.0.0.1>"));
        assert_eq!(header_values(&req.headers, "Record-Route", None), vec!["<sip:p1;lr>", "<sip:p2;lr>"]);
        assert_eq!(user_of(&req.uri.to_string()).as_deref(), Some("+15550100"));
    }

    #[test]
    fn a_response_copies_the_vias_and_tags_the_to() {
        let SipMessage::Request(req) = parse(INVITE.as_bytes()).unwrap() else { panic!("not a request") };
        let resp = response(&req, 486, Some("t9"), vec![], vec![]);
        let text = resp.to_string();
        assert!(text.starts_with("SIP/2.0 486"), "{text}");
        let SipMessage::Response(back) = parse(text.as_bytes()).unwrap() else { panic!("not a response") };
        assert_eq!(raw_values(&back.headers, "Via").len(), 2);
        assert_eq!(tag(&header(&back.headers, "To", None).unwrap()).as_deref(), Some("t9"));
        assert_eq!(cseq(&back.headers), Some((7, "INVITE".into())));
        assert_eq!(status(&back), 486);
    }

    #[test]
    fn frames_tcp_messages_by_content_length() {
        let msg = "BYE sip:a@b SIP/2.0\r\nContent-Length: 4\r\n\r\nabcd";
        let two = format!("{msg}{msg}");
        assert_eq!(frame_length(two.as_bytes()), Ok(Some(msg.len())));
        assert_eq!(frame_length(&msg.as_bytes()[..msg.len() - 1]), Ok(None));
        assert_eq!(frame_length(b"\r\n\r\nBYE"), Ok(Some(4)));
        assert_eq!(frame_length(b"BYE sip:a@b SIP/2.0\r\nl: 0\r\n\r\n"), Ok(Some(29)));
        let not_utf8 = b"BYE sip:a@b SIP/2.0\r\nFrom: \xff\r\nl: 1\r\n\r\nx";
        assert_eq!(frame_length(&[&not_utf8[..], b"BYE"].concat()), Ok(Some(not_utf8.len())));
    }

    #[test]
    fn a_stream_that_cannot_be_framed_is_an_error_not_a_wait() {
        let endless = format!("BYE sip:a@b SIP/2.0\r\n{}", "X: y\r\n".repeat(MAX_MESSAGE / 5));
        assert_eq!(frame_length(endless.as_bytes()), Err(Unframeable::HeadTooLong));
        assert_eq!(frame_length(b"BYE sip:a@b SIP/2.0\r\nl: 99999999999\r\n\r\n"), Err(Unframeable::TooLong));
        assert_eq!(
            frame_length(b"BYE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n"),
            Err(Unframeable::BadContentLength)
        );
    }
}
