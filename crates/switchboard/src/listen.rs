//! `switchboard listen`: a local receiver that prints the `commsNotifications` Switchboard
//! POSTs to a call's `callbackUri`, so newcomers can watch a call without writing a bot.
//!
//! Every POST is printed as one block: a separator, the method, path and time, the headers
//! that matter (the bearer token shortened, a JWT's header and main claims decoded without
//! verification), the body pretty-printed, and one summary line per notification.
//! A GET on any path answers a short text, which is handy for checking the URL in a browser.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

/// The separator printed before each request.
const SEPARATOR: &str = "------------------------------------------------------------------------";
/// How many characters of a bearer token are shown.
const TOKEN_PREFIX_CHARS: usize = 16;
/// Bodies up to this size are accepted (axum's default of 2 MB would answer 413 silently).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Run a local receiver that prints every notification POSTed to it.
///
/// Use its URL as the `callbackUri` of the calls you create, and watch the
/// `commsNotifications` Switchboard sends arrive, one block per request.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Example:
  switchboard listen --port 9000
  # then create a call with \"callbackUri\": \"http://127.0.0.1:9000/\"
  # and every notification for it is printed here.

  switchboard listen --path /api/calls --status 500
  # accept POSTs on /api/calls only (others get 404) and answer them with 500,
  # to see how Switchboard deals with a failing callback.")]
pub struct ListenArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "SWITCHBOARD_LISTEN_PORT", default_value_t = 9000)]
    pub port: u16,

    /// Address to bind. Switchboard posts plain http to loopback addresses only.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Path that accepts notifications; "/" accepts a POST on any path.
    #[arg(long, default_value = "/", value_parser = parse_path)]
    pub path: String,

    /// HTTP status to answer each notification with (200-599).
    #[arg(long, default_value = "202", value_parser = parse_status)]
    pub status: StatusCode,

    /// Verify each notification's bearer token against this JWKS, as a bot does
    /// (Switchboard's is http://HOST:PORT/{tenant}/discovery/v2.0/keys).
    #[arg(long, env = "SWITCHBOARD_LISTEN_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// The `aud` a verified token must carry: your application's client id (any when absent).
    #[arg(long)]
    pub audience: Option<String>,

    /// The `iss` a verified token must carry.
    #[arg(long, default_value = "https://api.botframework.com")]
    pub issuer: String,
}

fn parse_path(raw: &str) -> Result<String, String> {
    if raw.starts_with('/') {
        Ok(raw.to_owned())
    } else {
        Err(format!("'{raw}' must start with '/'"))
    }
}

fn parse_status(raw: &str) -> Result<StatusCode, String> {
    let code: u16 = raw.parse().map_err(|_| format!("'{raw}' is not an HTTP status code"))?;
    if !(200..=599).contains(&code) {
        return Err(format!("{code} is not a final HTTP status (200-599)"));
    }
    StatusCode::from_u16(code).map_err(|e| e.to_string())
}

/// Binds, prints where it listens, then serves until Ctrl-C, shutting down gracefully.
pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;

    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let port = listener.local_addr()?.port();
    let host = if args.host.contains(':') && !args.host.starts_with('[') {
        format!("[{}]", args.host)
    } else {
        args.host.clone()
    };
    println!("Listening for notifications on http://{host}:{port}{} (callbackUri for your calls)", args.path);

    let out: Arc<dyn Fn(String) + Send + Sync> = Arc::new(|block: String| println!("{block}"));
    let verifier = args.jwks_url.clone().map(|url| {
        println!("Verifying callback tokens against {url}");
        Arc::new(crate::verify::CallbackVerifier::new(url, args.issuer.clone(), args.audience.clone()))
    });
    let app = router_with(&args.path, args.status, out, verifier);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!("cannot listen for Ctrl-C ({e}); stop the process another way");
                std::future::pending::<()>().await;
            }
        })
        .await
        .context("serving notifications")?;
    eprintln!("Stopped.");
    Ok(())
}

/// The receiver: a POST on any path is formatted and handed to `out` as one block (without
/// a trailing newline) and answered with `status` and an empty body; a GET on any path
/// answers 200 with a short description.
#[cfg(test)]
pub fn router(status: StatusCode, out: Arc<dyn Fn(String) + Send + Sync>) -> Router {
    router_for_path("/", status, out)
}

/// Like [`router`], but with a `path` other than "/" only a POST on exactly that path is
/// printed and answered with `status`; a POST elsewhere gets 404 and a one-line note.
#[cfg(test)]
pub fn router_for_path(path: &str, status: StatusCode, out: Arc<dyn Fn(String) + Send + Sync>) -> Router {
    router_with(path, status, out, None)
}

/// Like [`router_for_path`], verifying each notification's token with `verifier` when given
/// (the block then ends with a `Signature:` line).
pub fn router_with(
    path: &str,
    status: StatusCode,
    out: Arc<dyn Fn(String) + Send + Sync>,
    verifier: Option<Arc<crate::verify::CallbackVerifier>>,
) -> Router {
    let only_path = (path != "/").then(|| path.to_owned());
    Router::new().fallback(handle).layer(DefaultBodyLimit::max(BODY_LIMIT)).with_state(Arc::new(Receiver {
        status,
        only_path,
        out,
        verifier,
    }))
}

struct Receiver {
    status: StatusCode,
    /// `None`: any path.
    only_path: Option<String>,
    out: Arc<dyn Fn(String) + Send + Sync>,
    verifier: Option<Arc<crate::verify::CallbackVerifier>>,
}

async fn handle(
    State(rx): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::GET || method == Method::HEAD {
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], info_text(rx.only_path.as_deref()))
            .into_response();
    }
    if method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"))])
            .into_response();
    }
    let shown_path = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let now = SystemTime::now();
    if let Some(only) = &rx.only_path {
        if uri.path() != only {
            (rx.out)(format!("POST {shown_path}  {}  -> 404 (listening on {only} only)", format_utc(now)));
            return StatusCode::NOT_FOUND.into_response();
        }
    }
    let mut block = format_request(&shown_path, &headers, &body, now);
    if let Some(verifier) = &rx.verifier {
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        match verifier.verify(authorization).await {
            Ok(what) => block.push_str(&format!("\nSignature: valid ({what})")),
            Err(why) => block.push_str(&format!("\nSignature: INVALID: {why}")),
        }
    }
    (rx.out)(block);
    rx.status.into_response()
}

fn info_text(only_path: Option<&str>) -> String {
    let accepts = only_path.unwrap_or("any path");
    format!(
        "This is the Switchboard notification receiver (switchboard listen).\n\
         Use this URL as the callbackUri of your calls: every notification POSTed to it\n\
         is printed in the terminal that runs it.\n\
         POST accepted on: {accepts}\n"
    )
}

/// The block printed for one POST: separator, request line, headers, body, summary.
fn format_request(path: &str, headers: &HeaderMap, body: &[u8], at: SystemTime) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{SEPARATOR}");
    let _ = writeln!(s, "POST {path}  {}", format_utc(at));

    let text = |name: &str| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(v) = text("content-type") {
        let _ = writeln!(s, "Content-Type: {v}");
    }
    if let Some(v) = text("authorization") {
        let _ = writeln!(s, "Authorization: {}", describe_authorization(&v));
        if let Some(line) = jwt_line(&v, at) {
            let _ = writeln!(s, "  {line}");
        }
    }
    for (name, label) in [
        ("x-switchboard-sequence", "X-Switchboard-Sequence"),
        ("x-switchboard-call-id", "X-Switchboard-Call-Id"),
        ("client-request-id", "client-request-id"),
        ("request-id", "request-id"),
    ] {
        if let Some(v) = text(name) {
            let _ = writeln!(s, "{label}: {v}");
        }
    }

    let json = serde_json::from_slice::<Value>(body).ok();
    match &json {
        _ if body.is_empty() => s.push_str("(empty body)\n"),
        Some(v) => {
            let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
            let _ = writeln!(s, "{pretty}");
        }
        None => {
            let raw = String::from_utf8_lossy(body);
            let _ = writeln!(s, "{}", raw.trim_end_matches(['\r', '\n']));
        }
    }
    if let Some(summary) = json.as_ref().and_then(summarize) {
        s.push_str(&summary);
    }
    while s.ends_with('\n') {
        s.pop();
    }
    s
}

/// `Bearer <first 16 chars>…`; any other scheme is shown without its credentials.
fn describe_authorization(value: &str) -> String {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        let shown: String = rest.chars().take(TOKEN_PREFIX_CHARS).collect();
        let more = if rest.chars().count() > TOKEN_PREFIX_CHARS { "…" } else { "" };
        format!("{scheme} {shown}{more}")
    } else {
        format!("{scheme} <{} chars hidden>", rest.chars().count())
    }
}

/// For a bearer JWT: its header and `iss`, `aud`, `tid`, `exp`, decoded without verifying.
fn jwt_line(authorization: &str, now: SystemTime) -> Option<String> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut parts = token.trim().split('.');
    let (h, c, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let decode = |p: &str| -> Option<Value> {
        let v: Value = serde_json::from_slice(&base64url_decode(p)?).ok()?;
        v.is_object().then_some(v)
    };
    let header = decode(h)?;
    let mut line = format!("JWT (unverified) header {header}");
    let Some(claims) = decode(c) else {
        line.push_str("  claims: not JSON");
        return Some(line);
    };
    for name in ["iss", "aud", "tid"] {
        match claims.get(name) {
            Some(Value::String(v)) => {
                let _ = write!(line, "  {name}={v}");
            }
            Some(Value::Array(items)) => {
                let joined: Vec<String> = items.iter().map(plain).collect();
                let _ = write!(line, "  {name}={}", joined.join(","));
            }
            Some(other) => {
                let _ = write!(line, "  {name}={other}");
            }
            None => {}
        }
    }
    if let Some(exp) = claims.get("exp") {
        match exp.as_i64() {
            Some(secs) => {
                let _ = write!(line, "  exp={}", describe_exp(secs, now));
            }
            None => {
                let _ = write!(line, "  exp={exp}");
            }
        }
    }
    Some(line)
}

fn describe_exp(secs: i64, now: SystemTime) -> String {
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let when =
        u64::try_from(secs).map_or_else(|_| secs.to_string(), |s| format_utc_secs(UNIX_EPOCH + Duration::from_secs(s)));
    if secs <= now {
        format!("{when} (expired {} ago)", coarse(now - secs))
    } else {
        format!("{when} (expires in {})", coarse(secs - now))
    }
}

fn coarse(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Decodes base64url (also accepts the standard alphabet and padding).
fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let input = input.trim_end_matches('=');
    if input.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in input.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// One line per notification in `value[]`: `changeType resourceUrl` and what resourceData tells.
fn summarize(body: &Value) -> Option<String> {
    let items = body.get("value")?.as_array()?;
    let mut s = format!("notifications ({}):\n", items.len());
    for n in items {
        let field = |k: &str| n.get(k).map(plain);
        let change = field("changeType").unwrap_or_else(|| "?".into());
        let url = field("resourceUrl").or_else(|| field("resource")).unwrap_or_else(|| "?".into());
        let _ = write!(s, "  {change} {url}");
        match n.get("resourceData") {
            Some(Value::Array(roster)) => {
                let _ = write!(s, "  roster={} participant(s)", roster.len());
            }
            Some(data @ Value::Object(_)) => {
                for k in ["state", "status"] {
                    if let Some(v) = data.get(k).filter(|v| !v.is_null()) {
                        let _ = write!(s, "  {k}={}", plain(v));
                    }
                }
                if let Some(info) = data.get("resultInfo").filter(|v| v.is_object()) {
                    let code = info.get("code").map(plain).unwrap_or_default();
                    let sub = info.get("subcode").map(plain).unwrap_or_default();
                    let _ = write!(s, "  resultInfo={code}/{sub}");
                    if let Some(msg) = info.get("message").and_then(Value::as_str) {
                        let _ = write!(s, " \"{msg}\"");
                    }
                }
            }
            _ => {}
        }
        s.push('\n');
    }
    Some(s)
}

/// A JSON value as text: strings without their quotes.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `2025-06-01T12:00:00.123Z`.
fn format_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, time) = civil(d.as_secs());
    format!("{date}T{time}.{:03}Z", d.subsec_millis())
}

/// `2025-06-01T12:00:00Z`.
fn format_utc_secs(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, time) = civil(d.as_secs());
    format!("{date}T{time}Z")
}

/// Seconds since the epoch as (`YYYY-MM-DD`, `hh:mm:ss`) in UTC.
fn civil(secs: u64) -> (String, String) {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (format!("{year:04}-{month:02}-{day:02}"), format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// participant-invite.md, Example 1, "Notification - operation completed".
    const INVITE_COMPLETED: &str = r##"{
   "@odata.type":"#microsoft.graph.commsNotifications",
   "value":[
      {
         "@odata.type":"#microsoft.graph.commsNotification",
         "changeType":"deleted",
         "resource":"/app/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/operations/eec3812a-fdc3-4fb4-825c-a06c9f35414e",
         "resourceUrl":"/communications/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/operations/eec3812a-fdc3-4fb4-825c-a06c9f35414e",
         "resourceData":{
            "@odata.type":"#microsoft.graph.inviteParticipantsOperation",
            "participants":[
               {
                  "@odata.type":"#microsoft.graph.invitationParticipantInfo",
                  "identity":{
                     "@odata.type":"#microsoft.graph.identitySet",
                     "user":{
                        "@odata.type":"#microsoft.graph.identity",
                        "id":"278405a3-f568-4b3e-b684-009193463064",
                        "identityProvider":"AAD",
                        "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
                     }
                  }
               }
            ],
            "status":"completed",
            "clientContext":"f2fa86af-3c51-4bc2-8fc0-475452d9764f",
            "id":"eec3812a-fdc3-4fb4-825c-a06c9f35414e"
         }
      }
   ]
}"##;

    /// Header `{"alg":"RS256","typ":"JWT","kid":"k1"}`, claims `{"iss":"https://sts.example/t",
    /// "aud":"app-123","tid":"72f988bf-86f1-41af-91ab-2d7cd011db47","exp":1700000000}`.
    const JWT: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.\
        eyJpc3MiOiJodHRwczovL3N0cy5leGFtcGxlL3QiLCJhdWQiOiJhcHAtMTIzIiwidGlkIjoiNzJmOTg4YmYtODZmMS00MWFmLTkxYWItMmQ3Y2QwMTFkYjQ3IiwiZXhwIjoxNzAwMDAwMDAwfQ.\
        c2ln";

    fn at() -> SystemTime {
        // 2023-11-14T22:13:20.250Z
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_250)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn formats_an_invite_completed_notification() {
        let h = headers(&[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {JWT}")),
            ("x-switchboard-sequence", "7"),
            ("x-switchboard-call-id", "ab6233a5-20b7-4c5e-bea2-ce56c9776429"),
            ("client-request-id", "0b0d5bd8-8c9e-4a58-9ad9-1a0a2c1e6a7a"),
            ("x-unrelated", "not shown"),
        ]);
        let block = format_request("/api/calls", &h, INVITE_COMPLETED.as_bytes(), at());
        let lines: Vec<&str> = block.lines().collect();

        assert_eq!(lines[0], SEPARATOR);
        assert_eq!(lines[1], "POST /api/calls  2023-11-14T22:13:20.250Z");
        assert_eq!(lines[2], "Content-Type: application/json");
        assert_eq!(lines[3], "Authorization: Bearer eyJhbGciOiJSUzI1…");
        assert_eq!(
            lines[4],
            "  JWT (unverified) header {\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}  \
             iss=https://sts.example/t  aud=app-123  tid=72f988bf-86f1-41af-91ab-2d7cd011db47  \
             exp=2023-11-14T22:13:20Z (expired 0s ago)"
        );
        assert_eq!(lines[5], "X-Switchboard-Sequence: 7");
        assert_eq!(lines[6], "X-Switchboard-Call-Id: ab6233a5-20b7-4c5e-bea2-ce56c9776429");
        assert_eq!(lines[7], "client-request-id: 0b0d5bd8-8c9e-4a58-9ad9-1a0a2c1e6a7a");
        assert!(!block.contains("x-unrelated"));
        // The body, pretty-printed in its own key order.
        assert_eq!(lines[8], "{");
        assert_eq!(lines[9], "  \"@odata.type\": \"#microsoft.graph.commsNotifications\",");
        assert!(block.contains("\n      \"changeType\": \"deleted\",\n"));
        assert!(block.contains("\"status\": \"completed\","));
        // The summary closes the block, without a trailing newline.
        let n = lines.len();
        assert_eq!(lines[n - 2], "notifications (1):");
        assert_eq!(
            lines[n - 1],
            "  deleted /communications/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/operations/\
             eec3812a-fdc3-4fb4-825c-a06c9f35414e  status=completed"
        );
        assert!(!block.ends_with('\n'));
    }

    #[test]
    fn summarizes_state_roster_and_result_info() {
        let body = serde_json::json!({"value": [
            {"changeType": "updated", "resourceUrl": "/communications/calls/c1",
             "resourceData": {"state": "established"}},
            {"changeType": "updated", "resourceUrl": "/communications/calls/c1/participants",
             "resourceData": [{"id": "p1"}, {"id": "p2"}]},
            {"changeType": "deleted", "resource": "/communications/calls/c1",
             "resourceData": {"state": "terminated",
                              "resultInfo": {"code": 200, "subcode": 5001, "message": "bye"}}}
        ]});
        assert_eq!(
            summarize(&body).unwrap(),
            "notifications (3):\n\
             \x20 updated /communications/calls/c1  state=established\n\
             \x20 updated /communications/calls/c1/participants  roster=2 participant(s)\n\
             \x20 deleted /communications/calls/c1  state=terminated  resultInfo=200/5001 \"bye\"\n"
        );
        assert_eq!(summarize(&serde_json::json!({"id": 1})), None);
    }

    #[test]
    fn prints_a_non_json_body_raw() {
        let h = headers(&[("content-type", "text/plain")]);
        let block = format_request("/x?y=1", &h, b"hello, {not json\n", at());
        assert_eq!(
            block,
            format!(
                "{SEPARATOR}\nPOST /x?y=1  2023-11-14T22:13:20.250Z\n\
                 Content-Type: text/plain\nhello, {{not json"
            )
        );
        let empty = format_request("/", &HeaderMap::new(), b"", at());
        assert!(empty.ends_with("\n(empty body)"), "{empty}");
    }

    #[test]
    fn authorization_is_shortened_and_non_jwt_is_not_decoded() {
        assert_eq!(describe_authorization("Bearer short"), "Bearer short");
        assert_eq!(describe_authorization("Basic dXNlcjpwYXNz"), "Basic <12 chars hidden>");
        assert_eq!(jwt_line("Bearer not-a-jwt", at()), None);
        assert_eq!(jwt_line("Bearer a.b.c", at()), None);
        assert_eq!(jwt_line(&format!("Basic {JWT}"), at()), None);
        let later = UNIX_EPOCH + Duration::from_secs(1_699_996_400);
        assert!(jwt_line(&format!("bearer {JWT}"), later)
            .unwrap()
            .ends_with("exp=2023-11-14T22:13:20Z (expires in 60m)"));
    }

    #[test]
    fn base64url_round_trips_known_values() {
        assert_eq!(base64url_decode("").unwrap(), b"");
        assert_eq!(base64url_decode("Zg").unwrap(), b"f");
        assert_eq!(base64url_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64url_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64url_decode("-_-_").unwrap(), vec![0xfb, 0xff, 0xbf]);
        assert_eq!(base64url_decode("+/+/").unwrap(), vec![0xfb, 0xff, 0xbf]);
        assert_eq!(base64url_decode("Z"), None);
        assert_eq!(base64url_decode("Zm9v!"), None);
    }

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc_secs(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(at()), "2023-11-14T22:13:20.250Z");
    }

    #[test]
    fn parses_arguments() {
        use clap::Parser;
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[command(flatten)]
            listen: ListenArgs,
        }
        let cli = Cli::try_parse_from(["x"]).unwrap().listen;
        assert_eq!((cli.host.as_str(), cli.path.as_str()), ("127.0.0.1", "/"));
        assert_eq!(cli.status, StatusCode::ACCEPTED);
        let cli = Cli::try_parse_from(["x", "--status", "500", "--path", "/cb", "--port", "0"]).unwrap().listen;
        assert_eq!((cli.status.as_u16(), cli.path.as_str(), cli.port), (500, "/cb", 0));
        assert!(Cli::try_parse_from(["x", "--status", "100"]).is_err());
        assert!(Cli::try_parse_from(["x", "--path", "cb"]).is_err());
    }

    type Captured = Arc<Mutex<Vec<String>>>;

    async fn serve(app: impl FnOnce(Arc<dyn Fn(String) + Send + Sync>) -> Router) -> (String, Captured) {
        let captured: Captured = Arc::default();
        let sink = captured.clone();
        let app = app(Arc::new(move |block| sink.lock().unwrap().push(block)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, captured)
    }

    #[tokio::test]
    async fn router_prints_posts_and_answers_the_configured_status() {
        let (base, captured) = serve(|out| router(StatusCode::ACCEPTED, out)).await;
        let http = reqwest::Client::new();

        let res = http
            .post(format!("{base}/api/calls/anything"))
            .header("content-type", "application/json")
            .header("x-switchboard-sequence", "1")
            .body(INVITE_COMPLETED)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::ACCEPTED);
        assert_eq!(res.bytes().await.unwrap().len(), 0);

        let res = http.post(format!("{base}/")).body("plain words").send().await.unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::ACCEPTED);

        let res = http.get(format!("{base}/whatever")).send().await.unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        assert!(res.text().await.unwrap().contains("Switchboard notification receiver"));

        let res = http.put(format!("{base}/")).send().await.unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::METHOD_NOT_ALLOWED);

        let blocks = captured.lock().unwrap().clone();
        assert_eq!(blocks.len(), 2, "{blocks:#?}");
        assert!(blocks[0].starts_with(&format!("{SEPARATOR}\nPOST /api/calls/anything  ")));
        assert!(blocks[0].contains("\nContent-Type: application/json\nX-Switchboard-Sequence: 1\n{\n"));
        assert!(blocks[0].ends_with(
            "notifications (1):\n  deleted /communications/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/\
             operations/eec3812a-fdc3-4fb4-825c-a06c9f35414e  status=completed"
        ));
        assert!(blocks[1].starts_with(&format!("{SEPARATOR}\nPOST /  ")));
        assert!(blocks[1].ends_with("Z\nplain words"), "{}", blocks[1]);
    }

    #[tokio::test]
    async fn router_for_path_only_accepts_that_path() {
        let (base, captured) = serve(|out| router_for_path("/cb", StatusCode::INTERNAL_SERVER_ERROR, out)).await;
        let http = reqwest::Client::new();
        let res = http.post(format!("{base}/cb")).body("{}").send().await.unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
        let res = http.post(format!("{base}/other")).body("{}").send().await.unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);

        let blocks = captured.lock().unwrap().clone();
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].ends_with("\n{}"), "{}", blocks[0]);
        assert!(blocks[1].starts_with("POST /other  "));
        assert!(blocks[1].ends_with("  -> 404 (listening on /cb only)"));
    }
}
