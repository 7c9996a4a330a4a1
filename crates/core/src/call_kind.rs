//! The rules of `POST /communications/calls`: which kind of call a body asks for.

use graph_model::{odata, CreateCallBody, Identity, InvitationParticipantInfo, ParticipantInfo};

use crate::{party, ApplicationInstance, DomainError, Party, PartyKind};

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

/// Who places a call an application creates: the identity of its `source` and of the
/// application's own participant in the call's roster (create-call Example 8's roster shows the
/// bot that joined as a guest as that guest). Every property of a participantInfo is
/// "read-only, server generated" (participantinfo), so the request's `source` is read only for
/// the identity the bot may choose to call as:
/// - an `applicationInstance` (a resource account: PSTN calls are placed from one, create-call
///   v1.0 Examples 9 and 10, whose response names the instance alone): that instance, named as
///   the directory names it when it is one of `app`'s `instances`, else as the request names
///   it (its PSTN dial then fails, docs/codes.md);
/// - else a `guest` (joining a meeting as a guest, Example 8): that guest as named, since
///   guests are in no directory and the bot chooses the name shown;
/// - else the calling application `app`: its client id and its registration's display name,
///   whatever the request says of it (Examples 1 and 5 send no source and Example 2 names the
///   application; all three answer the application). Only an application the directory does
///   not know (an external issuer's) keeps the display name the request gives its own id.
///
/// An instance or guest id longer than [`party::MAX_ID_CHARS`] is `400 invalidRequest`, as an
/// invitee's is: it becomes the key of a participant.
pub fn caller(
    requested: Option<&ParticipantInfo>,
    app: &Party,
    instances: &[ApplicationInstance],
) -> Result<Party, DomainError> {
    let requested = requested.and_then(|s| s.identity.as_ref());
    if let Some((id, instance)) = named("applicationInstance", requested.and_then(|r| r.application_instance.as_ref()))?
    {
        let known = instances.iter().find(|i| i.id.eq_ignore_ascii_case(&id));
        return Ok(match known {
            Some(known) => Party {
                kind: PartyKind::ApplicationInstance,
                id: known.id.clone(),
                display_name: Some(known.display_name.clone()),
                tenant_id: Some(known.tenant_id.0.clone()),
                identity_provider: None,
            },
            None => Party {
                kind: PartyKind::ApplicationInstance,
                id,
                display_name: instance.display_name.clone(),
                tenant_id: instance.tenant_id.clone(),
                identity_provider: None,
            },
        });
    }
    if let Some((id, guest)) = named("guest", requested.and_then(|r| r.guest.as_ref()))? {
        return Ok(Party {
            kind: PartyKind::Guest,
            id,
            display_name: guest.display_name.clone(),
            tenant_id: guest.tenant_id.clone(),
            identity_provider: None,
        });
    }
    let mut app = app.clone();
    if app.display_name.is_none() {
        app.display_name = requested
            .and_then(|r| r.application.as_ref())
            .filter(|a| a.id.as_deref().is_some_and(|id| id.trim().eq_ignore_ascii_case(&app.id)))
            .and_then(|a| a.display_name.clone());
    }
    Ok(app)
}

/// The id of a `source.identity.{key}` the request names, trimmed; `None` when it names none
/// (absent, or a blank id).
fn named<'a>(key: &str, identity: Option<&'a Identity>) -> Result<Option<(String, &'a Identity)>, DomainError> {
    let Some(identity) = identity else { return Ok(None) };
    let id = identity.id.as_deref().map(str::trim).unwrap_or_default();
    if id.is_empty() {
        return Ok(None);
    }
    if id.chars().count() > party::MAX_ID_CHARS {
        return Err(DomainError::invalid(format!(
            "source.identity.{key}.id is longer than {} characters",
            party::MAX_ID_CHARS
        )));
    }
    Ok(Some((id.to_owned(), identity)))
}

/// The `source` of a call placed by `caller` (see [`caller`]). `region` and `languageId` are
/// written `null`, as the examples write them: Switchboard knows neither.
pub fn source_info(caller: &Party) -> ParticipantInfo {
    ParticipantInfo {
        odata_type: Some(odata::PARTICIPANT_INFO.to_owned()),
        identity: Some(caller.to_identity_set()),
        ..ParticipantInfo::default()
    }
}

/// One of a created call's `targets` as the call shows it (its response, GET, notifications):
/// the target the request sent, its identity replaced by `party`, the identity that is rung
/// as the directory names it (`enrich` in the engine), since an identity is "read-only, server
/// generated" (participantinfo) and a bot must not put another name or tenant on a user. The
/// other members are echoed as sent; an `@odata.type` the request left out is filled in, as
/// every target of create-call's responses carries one.
pub fn call_target(requested: &InvitationParticipantInfo, party: &Party) -> InvitationParticipantInfo {
    InvitationParticipantInfo {
        odata_type: requested.odata_type.clone().or_else(|| Some(odata::INVITATION_PARTICIPANT_INFO.to_owned())),
        identity: Some(party.to_identity_set()),
        ..requested.clone()
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

    /// The calling application as the engine passes it: its registration's name, or none.
    fn bot(display_name: Option<&str>) -> Party {
        Party {
            kind: PartyKind::Application,
            id: "2891555a-92ff-42e6-80fa-6e1300c6b5c6".to_owned(),
            display_name: display_name.map(str::to_owned),
            tenant_id: Some("t1".to_owned()),
            identity_provider: None,
        }
    }

    fn instance() -> ApplicationInstance {
        ApplicationInstance {
            id: "3d913abb-aec0-4964-8fa6-3c6850c4f278".to_owned(),
            app_id: crate::AppId::from("2891555a-92ff-42e6-80fa-6e1300c6b5c6"),
            tenant_id: crate::TenantId::from("t1"),
            display_name: "Front line".to_owned(),
            phone_number: Some("+14255550100".to_owned()),
        }
    }

    /// The source of a create-call body whose `source` is `requested` (JSON, `null` for none).
    fn source(requested: serde_json::Value, app: &Party, instances: &[ApplicationInstance]) -> serde_json::Value {
        let requested: Option<ParticipantInfo> = serde_json::from_value(requested).unwrap();
        let caller = caller(requested.as_ref(), app, instances).unwrap();
        serde_json::to_value(source_info(&caller)).unwrap()
    }

    #[test]
    fn a_call_is_placed_by_the_calling_application_under_its_registered_name() {
        let expected = json!({
            "@odata.type": "#microsoft.graph.participantInfo",
            "identity": {"@odata.type": "#microsoft.graph.identitySet", "user": null,
                         "application": {"@odata.type": "#microsoft.graph.identity", "displayName": "Calling Bot",
                                         "id": "2891555a-92ff-42e6-80fa-6e1300c6b5c6", "tenantId": "t1"},
                         "applicationInstance": null, "device": null, "phone": null, "guest": null,
                         "encrypted": null, "onPremises": null},
            "region": null, "languageId": null,
        });
        let registered = bot(Some("Calling Bot"));
        // No source (create-call Examples 1 and 5).
        assert_eq!(source(json!(null), &registered, &[]), expected);
        // A source naming the application under another name, another application, a user, or
        // setting read-only properties: the application, as registered.
        for requested in [
            json!({"identity": {"application": {"id": "2891555a-92ff-42e6-80fa-6e1300c6b5c6", "displayName": "Not my name"}}}),
            json!({"identity": {"application": {"id": "dd3885da-f9ab-486b-bfae-85de3d445555", "displayName": "TestBot"}}}),
            json!({"identity": {"user": {"id": "112f7296-5fa4-42ca-bae8-6a692b15d4b8", "displayName": "John"}}}),
            json!({"region": "emea", "languageId": "fr-FR", "countryCode": "FR", "participantId": "p"}),
            json!({"identity": {"applicationInstance": {"id": " "}}}),
        ] {
            assert_eq!(source(requested.clone(), &registered, &[]), expected, "{requested}");
        }
        // An application the directory does not know keeps the name it gives itself, and only
        // that one.
        let unregistered = bot(None);
        let own = json!({"identity": {"application": {"id": "2891555A-92FF-42E6-80FA-6E1300C6B5C6", "displayName": "Calling Bot"}}});
        assert_eq!(source(own, &unregistered, &[]), expected);
        let other = json!({"identity": {"application": {"id": "dd3885da-f9ab-486b-bfae-85de3d445555", "displayName": "TestBot"}}});
        assert_eq!(source(other, &unregistered, &[])["identity"]["application"]["displayName"], json!(null));
    }

    #[test]
    fn a_call_placed_from_an_application_instance_names_that_instance_alone() {
        let registered = bot(Some("Calling Bot"));
        // Create-call v1.0 Example 9: the instance the request names, as the directory names it.
        let requested = json!({"identity": {"applicationInstance": {"id": "3D913ABB-AEC0-4964-8FA6-3C6850C4F278", "displayName": "Calling Bot"}},
                               "countryCode": null, "endpointType": null});
        let got = source(requested, &registered, &[instance()]);
        assert_eq!(
            got["identity"]["applicationInstance"],
            json!({"@odata.type": "#microsoft.graph.identity", "id": "3d913abb-aec0-4964-8fa6-3c6850c4f278",
                   "displayName": "Front line", "tenantId": "t1"})
        );
        assert_eq!(got["identity"]["application"], json!(null), "{got}");
        // An instance that is not the application's is kept as named (its PSTN dial fails).
        let foreign = json!({"identity": {"applicationInstance": {"id": "00000000-0000-0000-0000-00000000abcd", "displayName": "Elsewhere"}}});
        let got = source(foreign, &registered, &[instance()]);
        assert_eq!(got["identity"]["applicationInstance"]["id"], "00000000-0000-0000-0000-00000000abcd");
        assert_eq!(got["identity"]["applicationInstance"]["displayName"], "Elsewhere");
        assert_eq!(got["identity"]["application"], json!(null), "{got}");
    }

    #[test]
    fn a_call_joined_as_a_guest_names_that_guest() {
        // Create-call Example 8: the guest identity is the source, with the name the bot chose.
        let requested = json!({"@odata.type": "#microsoft.graph.participantInfo",
                               "identity": {"@odata.type": "#microsoft.graph.identitySet",
                                            "guest": {"@odata.type": "#microsoft.graph.identity", "displayName": "Guest User",
                                                      "id": "d7a3b999-17ac-4bca-9e77-e6a730d2ec2e"}}});
        let got = source(requested, &bot(Some("Calling Bot")), &[]);
        assert_eq!(
            got["identity"]["guest"],
            json!({"@odata.type": "#microsoft.graph.identity", "displayName": "Guest User", "id": "d7a3b999-17ac-4bca-9e77-e6a730d2ec2e"})
        );
        assert_eq!(got["identity"]["application"], json!(null), "{got}");
    }

    #[test]
    fn the_caller_is_the_identity_the_source_names_so_the_bots_own_participant_can_carry_it() {
        let registered = bot(Some("Calling Bot"));
        let parse = |v: serde_json::Value| serde_json::from_value::<ParticipantInfo>(v).unwrap();
        let guest = parse(
            json!({"identity": {"guest": {"id": " d7a3b999-17ac-4bca-9e77-e6a730d2ec2e ", "displayName": "Guest User"}}}),
        );
        let got = caller(Some(&guest), &registered, &[]).unwrap();
        assert_eq!((got.kind, got.id.as_str()), (PartyKind::Guest, "d7a3b999-17ac-4bca-9e77-e6a730d2ec2e"));
        assert_eq!(got.display_name.as_deref(), Some("Guest User"));
        let from_instance =
            parse(json!({"identity": {"applicationInstance": {"id": "3D913ABB-AEC0-4964-8FA6-3C6850C4F278"}}}));
        let got = caller(Some(&from_instance), &registered, &[instance()]).unwrap();
        assert_eq!(
            (got.kind, got.id.as_str()),
            (PartyKind::ApplicationInstance, "3d913abb-aec0-4964-8fa6-3c6850c4f278")
        );
        assert_eq!(got.key(), "applicationInstance:3d913abb-aec0-4964-8fa6-3c6850c4f278");
        assert_eq!(caller(None, &registered, &[]).unwrap(), registered);
    }

    #[test]
    fn a_source_id_too_long_to_be_a_participant_is_refused() {
        let long = "g".repeat(party::MAX_ID_CHARS + 1);
        for key in ["guest", "applicationInstance"] {
            let requested: ParticipantInfo = serde_json::from_value(json!({"identity": {key: {"id": long}}})).unwrap();
            let err = caller(Some(&requested), &bot(Some("Calling Bot")), &[]).unwrap_err();
            assert_eq!(err.kind, crate::ErrorKind::InvalidRequest, "{key}");
            assert!(err.message.contains(&format!("source.identity.{key}.id")), "{}", err.message);
        }
        let longest: ParticipantInfo =
            serde_json::from_value(json!({"identity": {"guest": {"id": "g".repeat(party::MAX_ID_CHARS)}}})).unwrap();
        assert!(caller(Some(&longest), &bot(None), &[]).is_ok());
    }

    #[test]
    fn a_target_shows_the_identity_that_is_rung_and_echoes_the_rest() {
        let adele = Party {
            kind: PartyKind::User,
            id: "6e7b768e-07e2-4810-8459-485f84f8f204".to_owned(),
            display_name: Some("Adele Vance".to_owned()),
            tenant_id: Some("t1".to_owned()),
            identity_provider: None,
        };
        let sent: InvitationParticipantInfo = serde_json::from_value(json!({
            "identity": {"user": {"id": "6E7B768E-07E2-4810-8459-485F84F8F204", "displayName": "Not Adele", "tenantId": "elsewhere"}},
            "endpointType": "default", "hidden": false,
        }))
        .unwrap();
        let got = serde_json::to_value(call_target(&sent, &adele)).unwrap();
        assert_eq!(
            got,
            json!({"@odata.type": "#microsoft.graph.invitationParticipantInfo", "endpointType": "default", "replacesCallId": null,
                   "hidden": false,
                   "identity": {"@odata.type": "#microsoft.graph.identitySet", "user": {"@odata.type": "#microsoft.graph.identity",
                                "id": "6e7b768e-07e2-4810-8459-485f84f8f204", "displayName": "Adele Vance", "tenantId": "t1",
                                "identityProvider": "AAD"},
                                "application": null, "applicationInstance": null, "device": null, "phone": null, "guest": null,
                                "encrypted": null, "onPremises": null}})
        );
        // The beta page's requests type targets as participantInfo: that type is echoed.
        let beta: InvitationParticipantInfo = serde_json::from_value(
            json!({"@odata.type": "#microsoft.graph.participantInfo", "identity": {"user": {"id": "x"}}}),
        )
        .unwrap();
        assert_eq!(call_target(&beta, &adele).odata_type.as_deref(), Some("#microsoft.graph.participantInfo"));
    }
}
