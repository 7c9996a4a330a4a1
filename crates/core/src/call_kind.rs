//! The rules of `POST /communications/calls`: which kind of call a body asks for.

use graph_model::CreateCallBody;

use crate::{DomainError, Party, PartyKind};

/// At most this many targets when creating a call.
pub const MAX_TARGETS: usize = 5;
/// `ringingTimeoutInSeconds` bounds.
pub const RING_TIMEOUT_RANGE: std::ops::RangeInclusive<i64> = 1..=115;

/// The concrete meetingInfo types a call joins a meeting with (lower case, without `#`); none
/// (`""`) reads as organizerMeetingInfo.
const MEETING_INFO_TYPES: [&str; 4] = [
    "",
    "microsoft.graph.organizermeetinginfo",
    "microsoft.graph.joinmeetingidmeetinginfo",
    "microsoft.graph.tokenmeetinginfo",
];

/// How a meeting is named in `meetingInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingLocator {
    /// `organizerMeetingInfo` (or a bare meetingInfo) with `chatInfo.threadId`.
    ThreadId(String),
    /// `joinMeetingIdMeetingInfo`.
    JoinMeetingId(String),
    /// `tokenMeetingInfo`: Switchboard's tokens are the meeting id.
    Token(String),
}

/// The kind of call a create-call body asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum CallPlan {
    PeerToPeer { target: Party },
    AdHocGroup { targets: Vec<Party> },
    ChatGroup { thread_id: String, targets: Vec<Party> },
    Meeting { locator: MeetingLocator },
}

/// Where a call's media is hosted, as its `mediaConfig` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaHosting {
    /// `serviceHostedMediaConfig`: the service plays and records.
    Service,
    /// `appHostedMediaConfig`: the application's own media stack (`Calls.AccessMedia.All`).
    App,
}

/// The `mediaConfig` of a create-call or answer body: required by both pages, and of one of
/// the two concrete types (mediaConfig is abstract; its `@odata.type` says which).
/// An `@odata.type` as the type lists here spell it: lower case, without the leading `#`.
fn type_name(odata_type: Option<&str>) -> String {
    odata_type.unwrap_or("").trim_start_matches('#').to_ascii_lowercase()
}

pub fn media_hosting(media: Option<&serde_json::Value>) -> Result<MediaHosting, DomainError> {
    let media = match media {
        None | Some(serde_json::Value::Null) => return Err(DomainError::invalid("mediaConfig is required")),
        Some(serde_json::Value::Object(media)) => media,
        Some(_) => return Err(DomainError::invalid("mediaConfig must be an object")),
    };
    match type_name(media.get("@odata.type").and_then(|t| t.as_str())).as_str() {
        "microsoft.graph.servicehostedmediaconfig" => Ok(MediaHosting::Service),
        "microsoft.graph.apphostedmediaconfig" => Ok(MediaHosting::App),
        _ => Err(DomainError::invalid(
            "mediaConfig needs an @odata.type of #microsoft.graph.serviceHostedMediaConfig or \
             #microsoft.graph.appHostedMediaConfig",
        )),
    }
}

/// Where Switchboard may post notifications. https anywhere (but link-local addresses and
/// Switchboard itself); plain http only to loopback and to allow-listed hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackPolicy {
    /// Hosts that may receive plain-http callbacks besides loopback.
    pub allow_http_hosts: Vec<String>,
    /// `host:port` origins callbacks must never reach (Switchboard's own listeners).
    pub forbidden_origins: Vec<(String, u16)>,
}

impl CallbackPolicy {
    /// Checks a callback URI against the policy.
    pub fn check(&self, raw: &str) -> Result<url::Url, DomainError> {
        let invalid = |why: &str| DomainError::invalid(format!("callbackUri '{raw}' {why}"));
        let url = url::Url::parse(raw).map_err(|_| invalid("is not an absolute URL"))?;
        let host = url.host().ok_or_else(|| invalid("has no host"))?;
        if is_link_local_or_unspecified(&host) {
            return Err(invalid("names a link-local or unspecified address"));
        }
        let port = url.port_or_known_default().unwrap_or(0);
        let host_text = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let same_host = |h: &str| {
            h.eq_ignore_ascii_case(host_text)
                || (is_loopback(&host)
                    && (h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())))
        };
        if self.forbidden_origins.iter().any(|(h, p)| *p == port && same_host(h)) {
            return Err(invalid("points at Switchboard itself"));
        }
        match url.scheme() {
            "https" => Ok(url),
            "http" if is_loopback(&host) => Ok(url),
            "http" if self.allow_http_hosts.iter().any(|h| h.eq_ignore_ascii_case(host_text)) => Ok(url),
            "http" => Err(invalid("must use https (plain http is allowed to loopback and allow-listed hosts only)")),
            _ => Err(invalid("must use https")),
        }
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    }
}

fn is_link_local_or_unspecified(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_link_local() || ip.is_unspecified() || ip.is_broadcast(),
        url::Host::Ipv6(ip) => (ip.segments()[0] & 0xffc0) == 0xfe80 || ip.is_unspecified(),
        url::Host::Domain(_) => false,
    }
}

/// Whether a resolved address may receive callbacks (never link-local or unspecified).
pub fn address_allowed(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => !(v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast()),
        std::net::IpAddr::V6(v6) => !((v6.segments()[0] & 0xffc0) == 0xfe80 || v6.is_unspecified()),
    }
}

/// The meeting a `meetingInfo` names by itself (a join meeting id, or a token); `None` when it
/// needs the body's `chatInfo` (organizerMeetingInfo).
pub fn named_meeting(meeting: &graph_model::MeetingInfo) -> Option<MeetingLocator> {
    let kind = type_name(meeting.odata_type.as_deref());
    match meeting.join_meeting_id.clone().filter(|_| !kind.ends_with("tokenmeetinginfo")) {
        Some(id) => Some(MeetingLocator::JoinMeetingId(id)),
        None => meeting.token.clone().map(MeetingLocator::Token),
    }
}

pub fn plan_call(body: &CreateCallBody, policy: &CallbackPolicy) -> Result<CallPlan, DomainError> {
    match body.callback_uri.as_deref() {
        None | Some("") => return Err(DomainError::invalid("callbackUri is required")),
        Some(uri) => policy.check(uri)?,
    };
    media_hosting(body.media_config.as_ref())?;
    if let Some(t) = body.ringing_timeout_in_seconds {
        if !RING_TIMEOUT_RANGE.contains(&t) {
            return Err(DomainError::invalid("ringingTimeoutInSeconds must be between 1 and 115"));
        }
    }
    let raw_targets = body.targets.clone().unwrap_or_default();
    if raw_targets.len() > MAX_TARGETS {
        return Err(DomainError::invalid(format!("at most {MAX_TARGETS} targets are supported")));
    }
    let mut targets = Vec::with_capacity(raw_targets.len());
    for (i, t) in raw_targets.iter().enumerate() {
        let identity =
            t.identity.as_ref().ok_or_else(|| DomainError::invalid(format!("targets[{i}].identity is required")))?;
        let party = Party::from_identity_set(identity)
            .map_err(|e| DomainError::invalid(format!("targets[{i}]: {}", e.message)))?;
        if targets.iter().any(|p: &Party| p.same_identity(&party)) {
            return Err(DomainError::invalid(format!("targets[{i}] repeats an earlier target")));
        }
        targets.push(party);
    }
    let thread_id = body.chat_info.as_ref().and_then(|c| c.thread_id.clone()).filter(|t| !t.is_empty());
    if let Some(meeting) = &body.meeting_info {
        if !targets.is_empty() {
            return Err(DomainError::invalid("targets cannot be combined with meetingInfo"));
        }
        if !MEETING_INFO_TYPES.contains(&type_name(meeting.odata_type.as_deref()).as_str()) {
            return Err(DomainError::invalid(
                "meetingInfo's @odata.type must be #microsoft.graph.organizerMeetingInfo, \
                 #microsoft.graph.joinMeetingIdMeetingInfo or #microsoft.graph.tokenMeetingInfo",
            ));
        }
        let locator = match (named_meeting(meeting), thread_id) {
            (Some(locator), _) => locator,
            (None, Some(thread)) => MeetingLocator::ThreadId(thread),
            (None, None) => {
                return Err(DomainError::invalid(
                    "meetingInfo needs chatInfo.threadId (organizerMeetingInfo), a joinMeetingId or a token",
                ))
            }
        };
        return Ok(CallPlan::Meeting { locator });
    }
    // A single application target without a chat is a peer-to-peer call to that bot (its
    // incoming call); an application cannot be rung into a group call.
    if targets.iter().any(|p| p.kind == PartyKind::Application) && (targets.len() > 1 || thread_id.is_some()) {
        return Err(DomainError::invalid("an application cannot be a target of a group call"));
    }
    if let Some(thread_id) = thread_id {
        return Ok(CallPlan::ChatGroup { thread_id, targets });
    }
    match targets.len() {
        0 => Err(DomainError::invalid("a call needs targets, chatInfo or meetingInfo")),
        1 => Ok(CallPlan::PeerToPeer { target: targets.remove(0) }),
        _ => Ok(CallPlan::AdHocGroup { targets }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The plan of body `v`, with service-hosted media unless `v` says otherwise.
    fn plan(mut v: serde_json::Value) -> Result<CallPlan, DomainError> {
        if v.get("mediaConfig").is_none() {
            v["mediaConfig"] = json!({"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"});
        }
        plan_call(&serde_json::from_value(v).unwrap(), &CallbackPolicy::default())
    }

    #[test]
    fn media_config_is_required_and_of_one_of_the_two_concrete_types() {
        let hosting = |v: serde_json::Value| media_hosting(Some(&v)).map_err(|e| e.message);
        assert_eq!(
            hosting(json!({"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"})),
            Ok(MediaHosting::Service)
        );
        assert_eq!(hosting(json!({"@odata.type": "microsoft.graph.apphostedmediaconfig"})), Ok(MediaHosting::App));
        assert_eq!(media_hosting(None).map_err(|e| e.message), Err("mediaConfig is required".to_owned()));
        for bad in [json!(null), json!({}), json!("x"), json!([]), json!({"@odata.type": "#microsoft.graph.call"})] {
            assert!(hosting(bad.clone()).is_err(), "{bad}");
        }
        let cb = "https://bot.example/cb";
        assert!(plan(json!({"callbackUri": cb, "targets": [user("a")], "mediaConfig": {}})).is_err());
        let meeting = json!({"@odata.type": "#microsoft.graph.foo"});
        assert!(plan(json!({"callbackUri": cb, "chatInfo": {"threadId": "19:x"}, "meetingInfo": meeting})).is_err());
    }

    fn user(id: &str) -> serde_json::Value {
        json!({"identity": {"user": {"id": id}}})
    }

    #[test]
    fn classifies_every_kind() {
        let cb = "https://bot.example/cb";
        assert!(matches!(plan(json!({"callbackUri": cb, "targets": [user("a")]})), Ok(CallPlan::PeerToPeer { .. })));
        assert!(matches!(
            plan(json!({"callbackUri": cb, "targets": [user("a"), user("b")]})),
            Ok(CallPlan::AdHocGroup { .. })
        ));
        assert!(matches!(
            plan(json!({"callbackUri": cb, "chatInfo": {"threadId": "19:x"}, "targets": [user("a")]})),
            Ok(CallPlan::ChatGroup { .. })
        ));
        assert!(matches!(
            plan(
                json!({"callbackUri": cb, "chatInfo": {"threadId": "19:x"}, "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo"}})
            ),
            Ok(CallPlan::Meeting { locator: MeetingLocator::ThreadId(_) })
        ));
        assert!(plan(json!({"callbackUri": cb})).is_err());
        assert!(plan(json!({"callbackUri": cb, "targets": [user("a")], "ringingTimeoutInSeconds": 116})).is_err());
    }

    #[test]
    fn callback_policy_allows_https_and_loopback_http_only() {
        let policy = CallbackPolicy::default();
        assert!(policy.check("https://bot.example/cb").is_ok());
        assert!(policy.check("http://127.0.0.1:9000/cb").is_ok());
        assert!(policy.check("http://localhost/cb").is_ok());
        assert!(policy.check("http://10.0.0.1/cb").is_err());
        assert!(policy.check("ftp://x/cb").is_err());
        assert!(policy.check("not a url").is_err());
    }

    #[test]
    fn callback_policy_refuses_link_local_and_switchboard_itself_and_honours_the_allow_list() {
        let policy = CallbackPolicy {
            allow_http_hosts: vec!["bot.internal".into()],
            forbidden_origins: vec![("127.0.0.1".into(), 8080)],
        };
        assert!(policy.check("https://169.254.169.254/latest/meta-data").is_err());
        assert!(policy.check("https://[fe80::1]/cb").is_err());
        assert!(policy.check("http://0.0.0.0:9000/cb").is_err());
        assert!(policy.check("http://127.0.0.1:8080/_switchboard/reset").is_err());
        assert!(policy.check("http://localhost:8080/cb").is_err());
        assert!(policy.check("http://127.0.0.1:8081/cb").is_ok());
        assert!(policy.check("http://bot.internal:5000/cb").is_ok());
        assert!(policy.check("http://other.internal/cb").is_err());
    }
}
