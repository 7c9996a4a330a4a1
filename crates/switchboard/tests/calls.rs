//! Calls, participants, routes, identity and persistence, end to end against the real binary.
//!
//! Each test spawns its own server (development seed, virtual clock) and drives it only through
//! HTTP: the Graph routes, the identity endpoints and the control API. Notifications are read
//! from the harness's webhook receiver after `advance`, which returns once due work ran and each
//! notification had one delivery attempt.
//!
//! Development seed used here: Adele answers after 1 s, Alex after 3 s, Megan declines after
//! 2 s, Lynne is busy, Diego never answers.

mod common;

use std::collections::HashSet;

use common::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A create-call body with the usual members, plus `extra` (its keys override).
fn call_body(app: &TestApp, extra: Value) -> Value {
    let mut body = json!({
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": app.callback,
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        "tenantId": app.tenant_id,
    });
    for (k, v) in extra.as_object().expect("extra is an object") {
        body[k.as_str()] = v.clone();
    }
    body
}

fn user_target(id: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.invitationParticipantInfo", "identity": user_identity(id)})
}

/// A peer-to-peer call to one user.
fn p2p_body(app: &TestApp, user: &str) -> Value {
    call_body(app, json!({"targets": [user_target(user)]}))
}

fn organizer_meeting_body(app: &TestApp, meeting: &Value, call_options: Value) -> Value {
    call_body(
        app,
        json!({
            "chatInfo": {"@odata.type": "#microsoft.graph.chatInfo", "threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                            "organizer": {"@odata.type": "#microsoft.graph.identitySet", "user": {"id": app.user("Adele Vance")}}},
            "callOptions": call_options,
        }),
    )
}

fn join_meeting_id_body(app: &TestApp, join_meeting_id: &str) -> Value {
    call_body(
        app,
        json!({
            "meetingInfo": {"@odata.type": "#microsoft.graph.joinMeetingIdMeetingInfo", "joinMeetingId": join_meeting_id, "passcode": null},
        }),
    )
}

async fn new_meeting(app: &TestApp) -> Value {
    let meeting = app.create_meeting(&json!({"subject": "calls.rs meeting"})).await;
    meeting.assert_status(201).clone()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// One line per notification: `call <changeType> <state>`, `roster <n>`, `operation <changeType> <status>`.
fn summary(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| match r.kind() {
            "call" => format!("call {} {}", r.change_type(), r.resource_data()["state"].as_str().unwrap_or("?")),
            "roster" => format!("roster {}", r.resource_data().as_array().map_or(0, Vec::len)),
            _ => format!("operation {} {}", r.change_type(), r.resource_data()["status"].as_str().unwrap_or("?")),
        })
        .collect()
}

/// The participant ids of a roster (a notification's `resourceData` or a list's `value`).
fn participant_ids(participants: &Value) -> Vec<String> {
    participants.as_array().expect("an array of participants").iter().map(id_of).collect()
}

/// The directory id (user) or client id (application) a participant stands for.
fn identity_of(p: &Value) -> String {
    let identity = &p["info"]["identity"];
    for kind in ["user", "application", "phone"] {
        if let Some(id) = identity[kind]["id"].as_str() {
            return id.to_owned();
        }
    }
    panic!("participant without identity: {p}")
}

fn identities(participants: &Value) -> HashSet<String> {
    participants.as_array().unwrap().iter().map(identity_of).collect()
}

fn set<const N: usize>(items: [&str; N]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Creates a call, lets it establish, and returns (call body, notifications of the join).
async fn create_and_settle(app: &TestApp, body: &Value) -> (Value, Vec<Received>) {
    let created = app.create_call(body).await;
    let call = created.assert_status(201).clone();
    app.advance(0).await;
    let got = app.hooks.take_for(&id_of(&call));
    (call, got)
}

/// Invites users into a call; returns the operation.
async fn invite_users(app: &TestApp, call: &str, users: &[&str], ctx: &str) -> Value {
    let identities: Vec<Value> = users.iter().map(|u| user_identity(u)).collect();
    app.invite(call, &invite_body(&identities, ctx)).await.assert_status(200).clone()
}

/// The JWKS of a tenant, found through its OpenID configuration; returns (configuration, keys).
async fn discover_keys(app: &TestApp) -> (Value, JwkSet) {
    let config: Value = app
        .http
        .get(format!("{}/{}/v2.0/.well-known/openid-configuration", app.base, app.tenant_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_uri = config["jwks_uri"].as_str().expect("jwks_uri").to_owned();
    let jwks: JwkSet = app.http.get(&jwks_uri).send().await.unwrap().json().await.expect("a JWKS");
    (config, jwks)
}

fn decoding_key_for(jwks: &JwkSet, token: &str) -> DecodingKey {
    let header = jsonwebtoken::decode_header(token).expect("a JWT header");
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("the token names its key (kid)");
    let jwk = jwks.find(&kid).unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    DecodingKey::from_jwk(jwk).expect("an RSA JWK")
}

async fn raw_token_request(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let r = app.http.post(format!("{}/{}/oauth2/v2.0/token", app.base, app.tenant_id)).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.expect("a JSON body"))
}

/// The claims of a JWT, read without verifying it.
fn unverified_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Create call, every kind
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_peer_to_peer_call_is_created_establishing_and_becomes_established_when_the_user_answers() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let created = app.create_call(&p2p_body(&app, &adele)).await;
    let call = created.assert_status(201).clone();
    let id = id_of(&call);

    assert_eq!(created.location(), format!("{}/beta/communications/calls/{id}", app.base));
    assert_eq!(call["@odata.type"], "#microsoft.graph.call");
    assert_eq!(call["state"], "establishing");
    assert_eq!(call["direction"], "outgoing");
    assert!(call["myParticipantId"].as_str().is_some_and(|s| !s.is_empty()), "{call}");
    assert!(call["callChainId"].as_str().is_some_and(|s| !s.is_empty()), "{call}");
    assert_eq!(call["tenantId"], app.tenant_id.as_str());
    let context = call["@odata.context"].as_str().expect("@odata.context");
    assert!(context.starts_with(&app.base) && context.contains("$metadata#communications/calls"), "{context}");

    app.advance(0).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["call updated establishing"]);
    let n = got[0].notification();
    assert_eq!(n["resourceUrl"], format!("/communications/calls/{id}"));
    assert_eq!(n["resource"], format!("/app/calls/{id}"));
    assert_eq!(n["resourceData"]["id"], id.as_str());
    assert_eq!(n["resourceData"]["@odata.type"], "#microsoft.graph.call");

    app.advance(999).await;
    assert_eq!(summary(&app.hooks.take_for(&id)), Vec::<String>::new(), "Adele answers after 1 s, not before");
    app.advance(1).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["call updated established"]);
    assert_eq!(app.get_call(&id).await.assert_status(200)["state"], "established");
}

#[tokio::test]
async fn a_created_call_is_placed_by_the_calling_application_as_registered_whatever_its_source_says() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let registered = json!({"@odata.type": "#microsoft.graph.identity", "id": app.client_id,
                            "displayName": "Switchboard Dev Bot", "tenantId": app.tenant_id});
    // No source (create-call Examples 1 and 5), a source naming the application under a name
    // of its own (Example 2's shape), one naming another application or a user, one setting
    // read-only properties: the application, as its registration names it.
    for source in [
        None,
        Some(json!({"@odata.type": "#microsoft.graph.participantInfo",
                    "identity": {"@odata.type": "#microsoft.graph.identitySet",
                                 "application": {"@odata.type": "#microsoft.graph.identity", "displayName": "Calling Bot", "id": app.client_id}},
                    "region": null, "languageId": null})),
        Some(
            json!({"identity": {"application": {"id": "dd3885da-f9ab-486b-bfae-85de3d445555", "displayName": "TestBot"}}}),
        ),
        Some(
            json!({"identity": {"user": {"id": adele, "displayName": "Adele Vance"}}, "region": "emea", "languageId": "fr-FR"}),
        ),
    ] {
        let mut body = p2p_body(&app, &adele);
        if let Some(source) = &source {
            body["source"] = source.clone();
        }
        let created = app.create_call(&body).await;
        let call = created.assert_status(201).clone();
        let fetched = app.get_call(&id_of(&call)).await;
        for got in [&call, fetched.assert_status(200)] {
            let identity = &got["source"]["identity"];
            assert_eq!(identity["application"], registered, "{source:?}: {got}");
            assert!(identity["user"].is_null() && identity["applicationInstance"].is_null(), "{source:?}: {got}");
            assert_eq!((&got["source"]["region"], &got["source"]["languageId"]), (&json!(null), &json!(null)), "{got}");
        }
    }

    // A PSTN call placed from an application instance (create-call v1.0 Example 9) keeps it, as
    // the directory names it, and names it alone.
    let instance = &app.credentials["applicationInstance"];
    let id = instance["id"].as_str().unwrap();
    let mut body = call_body(
        &app,
        json!({"targets": [{"identity": {"@odata.type": "#microsoft.graph.communicationsIdentitySet", "phone": {"id": "+14255550101"}}}]}),
    );
    body["source"] =
        json!({"identity": {"applicationInstance": {"id": id.to_ascii_uppercase(), "displayName": "Calling Bot"}}});
    let created = app.create_call(&body).await;
    let identity = created.assert_status(201)["source"]["identity"].clone();
    assert_eq!(identity["applicationInstance"]["id"], id, "{identity}");
    assert_eq!(identity["applicationInstance"]["displayName"], instance["displayName"], "{identity}");
    assert!(identity["application"].is_null(), "{identity}");
}

#[tokio::test]
async fn a_created_calls_targets_are_named_as_the_directory_names_them_wherever_the_call_shows() {
    let app = TestApp::spawn().await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let named = |kind: &str, id: &str, name: &str| {
        let mut identity = json!({"@odata.type": "#microsoft.graph.identity", "id": id, "displayName": name});
        match kind {
            "user" => {
                identity["tenantId"] = json!(app.tenant_id);
                identity["identityProvider"] = json!("AAD");
            }
            "applicationInstance" => identity["tenantId"] = json!(app.tenant_id),
            _ => {}
        }
        identity
    };
    let target_of = |call: &Value, i: usize, kind: &str| call["targets"][i]["identity"][kind].clone();

    // A peer-to-peer call to Adele by id alone (the audit's case), and one naming her
    // otherwise, in another tenant, with her id in upper case: her directory entry in the 201,
    // in GET, in every call-state notification and in the roster.
    for target in [
        json!({"identity": {"user": {"id": adele}}}),
        json!({"@odata.type": "#microsoft.graph.invitationParticipantInfo",
               "identity": {"@odata.type": "#microsoft.graph.identitySet",
                            "user": {"id": adele.to_ascii_uppercase(), "displayName": "Not Adele", "tenantId": "elsewhere"}}}),
    ] {
        let expected = named("user", &adele, "Adele Vance");
        let (call, establishing) = create_and_settle(&app, &call_body(&app, json!({"targets": [target]}))).await;
        let id = id_of(&call);
        assert_eq!(target_of(&call, 0, "user"), expected, "201: {call}");
        assert_eq!(call["targets"][0]["@odata.type"], "#microsoft.graph.invitationParticipantInfo", "{call}");
        let fetched = app.get_call(&id).await;
        assert_eq!(target_of(fetched.assert_status(200), 0, "user"), expected, "GET");
        app.advance(1_000).await;
        let established = app.hooks.take_for(&id);
        let notified: Vec<&Received> = establishing.iter().chain(&established).collect();
        assert_eq!(notified.len(), 2, "{notified:#?}");
        for n in notified {
            assert_eq!(target_of(n.resource_data(), 0, "user"), expected, "{}", n.notification());
        }
        let roster = app.list_participants(&id, "").await.assert_status(200)["value"].clone();
        let callee = roster.as_array().unwrap().iter().find(|p| identity_of(p) == adele).expect("Adele connected");
        assert_eq!(callee["info"]["identity"]["user"], expected, "{roster}");
    }

    // An ad-hoc group call: each target named in the 201, and in the roster once it answers.
    let body = call_body(
        &app,
        json!({"targets": [{"identity": {"user": {"id": adele}}}, {"identity": {"user": {"id": alex}}}]}),
    );
    let (call, _) = create_and_settle(&app, &body).await;
    assert_eq!(target_of(&call, 0, "user"), named("user", &adele, "Adele Vance"), "{call}");
    assert_eq!(target_of(&call, 1, "user"), named("user", &alex, "Alex Wilber"), "{call}");
    app.advance(1_000).await;
    let got = app.hooks.take_for(&id_of(&call));
    assert_eq!(summary(&got), ["roster 2"]);
    let joined = got[0].resource_data().as_array().unwrap().iter().find(|p| identity_of(p) == adele).cloned();
    assert_eq!(joined.expect("Adele in the roster")["info"]["identity"]["user"], named("user", &adele, "Adele Vance"));

    // A phone number and an application instance the directory names: named so (the call to
    // the caller's own instance ends at once, 480/10037: only its 201 is read).
    let phone = json!({"identity": {"@odata.type": "#microsoft.graph.communicationsIdentitySet", "phone": {"id": "+14255550101"}}});
    let created = app.create_call(&call_body(&app, json!({"targets": [phone]}))).await;
    let call = created.assert_status(201).clone();
    assert_eq!(target_of(&call, 0, "phone"), named("phone", "+14255550101", "Front desk"), "{call}");
    let instance = &app.credentials["applicationInstance"];
    let instance_id = instance["id"].as_str().unwrap();
    let target = json!({"identity": {"applicationInstance": {"id": instance_id.to_ascii_uppercase()}}});
    let created = app.create_call(&call_body(&app, json!({"targets": [target]}))).await;
    let call = created.assert_status(201).clone();
    let expected = named("applicationInstance", instance_id, instance["displayName"].as_str().unwrap());
    assert_eq!(target_of(&call, 0, "applicationInstance"), expected, "{call}");
}

/// Adds a second application to the development tenant; returns its token.
async fn second_bot(app: &TestApp) -> String {
    let second = "6d3a7e20-0000-4000-8000-0000000000c4";
    let seed = json!({"applications": [{
        "clientId": second, "tenantId": app.tenant_id, "displayName": "Second Bot",
        "clientSecrets": ["s3cret-s3cret-s3cret"], "permissions": ["Calls.JoinGroupCallAsGuest.All"],
    }]});
    app.control(Method::POST, "/_switchboard/directory/import", Some(&seed)).await.assert_status(204);
    let token = app.control_post(&format!("applications/{second}/token")).await;
    token.assert_status(200)["access_token"].as_str().unwrap().to_owned()
}

/// The participant `id` of a roster (a notification's `resourceData` or a list's `value`).
fn participant_in<'a>(roster: &'a Value, id: &str) -> &'a Value {
    roster.as_array().unwrap().iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("no {id} in {roster:#}"))
}

#[tokio::test]
async fn a_bot_that_joins_a_meeting_as_a_guest_is_that_guest_in_the_roster_everyone_sees() {
    let app = TestApp::spawn().await;
    let delta = json!({"@odata.type": "#microsoft.graph.outgoingCallOptions", "isDeltaRosterEnabled": true});
    let (host_call, meeting) = app.join_new_meeting(delta).await;
    let token = second_bot(&app).await;
    // Create-call Example 8: the guest identity as the call's source.
    let guest = json!({"@odata.type": "#microsoft.graph.identity", "displayName": "Guest User", "id": "d7a3b999-17ac-4bca-9e77-e6a730d2ec2e"});
    let join = |guest: &Value| {
        json!({
            "@odata.type": "#microsoft.graph.call",
            "callbackUri": app.callback,
            "source": {"@odata.type": "#microsoft.graph.participantInfo",
                       "identity": {"@odata.type": "#microsoft.graph.identitySet", "guest": guest}},
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "chatInfo": {"@odata.type": "#microsoft.graph.chatInfo", "threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                            "organizer": {"@odata.type": "#microsoft.graph.identitySet", "user": {"id": app.user("Adele Vance")}}},
        })
    };
    let calls = "/beta/communications/calls";
    let r = app.request_as(Method::POST, calls, Some(&token), Some(&join(&guest))).await;
    let guest_call = r.assert_status(201)["id"].as_str().unwrap().to_owned();
    let me = r.body["myParticipantId"].as_str().unwrap().to_owned();
    assert_eq!(r.body["source"]["identity"]["guest"], guest);
    let is_the_guest = |p: &Value, muted: bool, what: &str| {
        assert_eq!(p["info"]["identity"]["guest"], guest, "{what}: {p}");
        assert!(p["info"]["identity"]["application"].is_null(), "{what}: not the application: {p}");
        assert_eq!((&p["isInLobby"], &p["isMuted"]), (&json!(false), &json!(muted)), "{what}: {p}");
    };
    app.advance(0).await;

    // Its own roster, as Example 8's notification shows it: itself as the guest (admitted at
    // once: Switchboard has no lobby).
    let got = app.hooks.take_for(&guest_call);
    assert_eq!(got.iter().map(Received::kind).collect::<Vec<_>>(), ["call", "call", "roster"], "{got:#?}");
    is_the_guest(participant_in(got[2].resource_data(), &me), false, "own roster");
    // The other bot of the meeting sees the guest join (a delta roster), and both list it so.
    let got = app.hooks.take_for(&host_call);
    assert_eq!(got.iter().map(Received::kind).collect::<Vec<_>>(), ["roster"], "{got:#?}");
    is_the_guest(participant_in(got[0].resource_data(), &me), false, "the host's delta roster");
    let listed = app.request_as(Method::GET, &format!("{calls}/{guest_call}/participants"), Some(&token), None).await;
    is_the_guest(participant_in(&listed.assert_status(200)["value"], &me), false, "listed by the guest bot");
    is_the_guest(app.get_participant(&host_call, &me).await.assert_status(200), false, "read by the host");

    // The host mutes it: muted, still as the guest, in both rosters.
    let muted = app.post(&format!("{calls}/{host_call}/participants/{me}/mute"), &json!({})).await;
    assert_eq!(muted.assert_status(200)["status"], "Completed");
    app.advance(0).await;
    let got = app.hooks.take_for(&host_call);
    assert_eq!(got.iter().map(Received::kind).collect::<Vec<_>>(), ["operation", "roster"], "{got:#?}");
    is_the_guest(participant_in(got[1].resource_data(), &me), true, "muted, host's roster");
    let got = app.hooks.take_for(&guest_call);
    assert_eq!(got.iter().map(Received::kind).collect::<Vec<_>>(), ["roster"], "{got:#?}");
    is_the_guest(participant_in(got[0].resource_data(), &me), true, "muted, own roster");

    // Another bot cannot be the same guest in that meeting while it is there (an identity is
    // unique among a conversation's participants), and an id too long to be one is refused.
    let r = app.request_as(Method::POST, calls, Some(app.token()), Some(&join(&guest))).await;
    r.assert_error(409, "conflict");
    let long = json!({"id": "g".repeat(129), "displayName": "Long"});
    let r = app.request_as(Method::POST, calls, Some(&token), Some(&join(&long))).await;
    assert!(r.assert_error(400, "invalidRequest").contains("source.identity.guest.id"));

    // It hangs up: the host's delta roster shows the guest leaving.
    app.request_as(Method::DELETE, &format!("{calls}/{guest_call}"), Some(&token), None).await.assert_status(204);
    app.advance(0).await;
    let got = app.hooks.take_for(&host_call);
    assert_eq!(got.iter().map(Received::kind).collect::<Vec<_>>(), ["roster"], "{got:#?}");
    let gone = participant_in(got[0].resource_data(), &me);
    assert_eq!(gone["info"]["identity"]["guest"], guest, "{gone}");
    assert!(gone["removedState"].is_object(), "{gone}");
    let got = app.hooks.take_for(&guest_call);
    assert_eq!(got.last().map(|n| n.resource_data()["state"].clone()), Some(json!("terminated")), "{got:#?}");

    // The host application, in the meeting as itself, may join it again as a guest: another
    // identity.
    let other =
        json!({"@odata.type": "#microsoft.graph.identity", "displayName": "Host as guest", "id": "host-guest-1"});
    let r = app.request_as(Method::POST, calls, Some(app.token()), Some(&join(&other))).await;
    assert_eq!(r.assert_status(201)["source"]["identity"]["guest"], other);
}

#[tokio::test]
async fn a_bot_that_calls_from_an_application_instance_is_that_instance_in_its_calls() {
    let app = TestApp::spawn().await;
    let instance = &app.credentials["applicationInstance"];
    let instance_id = instance["id"].as_str().unwrap();
    let expected = json!({"@odata.type": "#microsoft.graph.identity", "id": instance_id,
                          "displayName": instance["displayName"], "tenantId": app.tenant_id});
    let source = json!({"identity": {"applicationInstance": {"id": instance_id.to_ascii_uppercase(), "displayName": "Calling Bot"}}});
    let is_the_instance = |p: &Value, what: &str| {
        assert_eq!(p["info"]["identity"]["applicationInstance"], expected, "{what}: {p}");
        assert!(p["info"]["identity"]["application"].is_null(), "{what}: not the application: {p}");
        assert_eq!(p["isInLobby"], false, "{what}: {p}");
    };

    // A PSTN call (create-call v1.0 Example 9): the bot's own participant is the instance.
    let phone = json!({"identity": {"@odata.type": "#microsoft.graph.communicationsIdentitySet", "phone": {"id": "+14255550101"}}});
    let mut body = call_body(&app, json!({"targets": [phone]}));
    body["source"] = source.clone();
    let created = app.create_call(&body).await;
    let call = created.assert_status(201).clone();
    let (id, me) = (id_of(&call), call["myParticipantId"].as_str().unwrap().to_owned());
    let listed = app.list_participants(&id, "").await;
    is_the_instance(participant_in(&listed.assert_status(200)["value"], &me), "P2P, listed");
    is_the_instance(app.get_participant(&id, &me).await.assert_status(200), "P2P, read");
    app.advance(2_000).await;
    assert_eq!(app.get_call(&id).await.assert_status(200)["state"], "established", "the phone answered");
    app.delete_call(&id).await.assert_status(204);

    // A group call bound to a chat: its roster notifications show the instance too.
    let chat = json!({"@odata.type": "#microsoft.graph.chatInfo", "threadId": "19:calls-rs-instance@thread.v2", "messageId": "0"});
    let mut body = call_body(&app, json!({"chatInfo": chat, "targets": [user_target(&app.user("Adele Vance"))]}));
    body["source"] = source;
    let (call, got) = create_and_settle(&app, &body).await;
    let me = call["myParticipantId"].as_str().unwrap().to_owned();
    assert_eq!(summary(&got), ["call updated establishing", "call updated established", "roster 1"]);
    is_the_instance(participant_in(got[2].resource_data(), &me), "group call roster");
}

#[tokio::test]
async fn a_peer_to_peer_call_gets_no_roster_notifications() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let (call, mut got) = create_and_settle(&app, &p2p_body(&app, &adele)).await;
    let id = id_of(&call);
    app.advance(120_000).await;
    got.extend(app.hooks.take_for(&id));
    assert_eq!(summary(&got), ["call updated establishing", "call updated established"]);
    assert!(got.iter().all(|r| r.kind() == "call"), "only call-state notifications: {:#?}", summary(&got));
}

#[tokio::test]
async fn a_peer_to_peer_call_to_a_user_who_declines_ends_terminated_with_603() {
    let app = TestApp::spawn().await;
    let megan = app.user("Megan Bowen");
    let (call, got) = create_and_settle(&app, &p2p_body(&app, &megan)).await;
    let id = id_of(&call);
    assert_eq!(summary(&got), ["call updated establishing"]);

    app.advance(1_999).await;
    assert!(app.hooks.take_for(&id).is_empty(), "Megan declines after 2 s, not before");
    app.advance(1).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["call deleted terminated"]);
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!(result["code"], 603, "{result}");
    assert_eq!(result["subcode"], 10003, "{result}");
    app.get_call(&id).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn a_peer_to_peer_call_nobody_answers_ends_after_exactly_its_ringing_timeout() {
    let app = TestApp::spawn().await;
    let diego = app.user("Diego Siciliani");
    let body = call_body(&app, json!({"targets": [user_target(&diego)], "ringingTimeoutInSeconds": 10}));
    let (call, got) = create_and_settle(&app, &body).await;
    let id = id_of(&call);
    assert_eq!(call["ringingTimeoutInSeconds"], 10);
    assert_eq!(summary(&got), ["call updated establishing"]);

    app.advance(9_999).await;
    assert!(app.hooks.take_for(&id).is_empty(), "still ringing at 9.999 s");
    assert_eq!(app.get_call(&id).await.assert_status(200)["state"], "establishing");

    app.advance(1).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["call deleted terminated"]);
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(408), Some(10057)), "{result}");
}

#[tokio::test]
async fn a_ringing_timeout_outside_1_to_115_seconds_is_refused() {
    let app = TestApp::spawn().await;
    let diego = app.user("Diego Siciliani");
    for bad in [0, 116, -1] {
        let body = call_body(&app, json!({"targets": [user_target(&diego)], "ringingTimeoutInSeconds": bad}));
        app.create_call(&body).await.assert_error(400, "invalidRequest");
    }
    for good in [1, 115] {
        let body = call_body(&app, json!({"targets": [user_target(&diego)], "ringingTimeoutInSeconds": good}));
        assert_eq!(app.create_call(&body).await.assert_status(201)["ringingTimeoutInSeconds"], good);
    }
}

#[tokio::test]
async fn a_call_without_a_media_config_of_a_known_type_is_refused() {
    let app = TestApp::spawn().await;
    let diego = app.user("Diego Siciliani");
    let bad = [json!(null), json!({}), json!("x"), json!({"@odata.type": "#microsoft.graph.foo"})];
    for media in bad {
        let body = call_body(&app, json!({"targets": [user_target(&diego)], "mediaConfig": media}));
        let message = app.create_call(&body).await.assert_error(400, "invalidRequest");
        assert!(message.contains("mediaConfig"), "{media}: {message}");
    }
    let mut without = call_body(&app, json!({"targets": [user_target(&diego)]}));
    without.as_object_mut().unwrap().remove("mediaConfig");
    assert!(app.create_call(&without).await.assert_error(400, "invalidRequest").contains("mediaConfig is required"));
    // A meetingInfo of no known type is not read as an organizerMeetingInfo.
    let meeting = new_meeting(&app).await;
    let mut body = organizer_meeting_body(&app, &meeting, json!(null));
    body["meetingInfo"]["@odata.type"] = json!("#microsoft.graph.foo");
    assert!(app.create_call(&body).await.assert_error(400, "invalidRequest").contains("meetingInfo"));
    assert_eq!(app.hooks.len(), 0, "a refused call notifies nobody");
    // Controls: the same bodies with a known type are accepted, in any case of the type.
    let media = json!({"@odata.type": "#Microsoft.Graph.ServiceHostedMediaConfig"});
    let body = call_body(&app, json!({"targets": [user_target(&diego)], "mediaConfig": media}));
    app.create_call(&body).await.assert_status(201);
    app.create_call(&organizer_meeting_body(&app, &meeting, json!(null))).await.assert_status(201);
}

#[tokio::test]
async fn a_call_with_application_hosted_media_needs_calls_access_media() {
    let app = TestApp::spawn().await;
    let client_id = "7c1f0a52-0000-4000-8000-00000000c0c3";
    let seed = json!({"applications": [{
        "clientId": client_id, "tenantId": app.tenant_id, "displayName": "No media bot",
        "clientSecrets": ["s3cret-s3cret-s3cret"], "permissions": ["Calls.Initiate.All"],
    }]});
    app.control(Method::POST, "/_switchboard/directory/import", Some(&seed)).await.assert_status(204);
    let token = app.control_post(&format!("applications/{client_id}/token")).await;
    let token = token.assert_status(200)["access_token"].as_str().unwrap().to_owned();
    let media = json!({"@odata.type": "#microsoft.graph.appHostedMediaConfig", "blob": "<blob>"});
    let app_hosted = call_body(&app, json!({"targets": [user_target(&app.user("Adele Vance"))], "mediaConfig": media}));
    let r = app.request_as(Method::POST, "/beta/communications/calls", Some(&token), Some(&app_hosted)).await;
    assert!(r.assert_error(403, "accessDenied").contains("Calls.AccessMedia.All"));
    // Controls: service-hosted media needs no more, and the development app holds the permission.
    let service_hosted = call_body(&app, json!({"targets": [user_target(&app.user("Adele Vance"))]}));
    app.request_as(Method::POST, "/beta/communications/calls", Some(&token), Some(&service_hosted))
        .await
        .assert_status(201);
    app.create_call(&app_hosted).await.assert_status(201);
}

#[tokio::test]
async fn a_call_without_targets_chat_or_meeting_is_refused() {
    let app = TestApp::spawn().await;
    app.create_call(&call_body(&app, json!({}))).await.assert_error(400, "invalidRequest");
    app.create_call(&call_body(&app, json!({"targets": []}))).await.assert_error(400, "invalidRequest");
    assert_eq!(app.hooks.len(), 0, "a refused call notifies nobody");
}

#[tokio::test]
async fn an_ad_hoc_group_call_is_established_at_once_without_chat_and_reports_its_roster_as_targets_answer() {
    let app = TestApp::spawn().await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let body = call_body(&app, json!({"targets": [user_target(&adele), user_target(&alex)]}));
    let created = app.create_call(&body).await;
    let call = created.assert_status(201).clone();
    let id = id_of(&call);
    let me = call["myParticipantId"].as_str().unwrap().to_owned();
    assert!(call.as_object().unwrap().contains_key("chatInfo") && call["chatInfo"].is_null(), "chatInfo: null: {call}");

    app.advance(0).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["call updated establishing", "call updated established", "roster 1"]);
    assert_eq!(participant_ids(got[2].resource_data()), std::slice::from_ref(&me));
    assert!(got[1].resource_data()["chatInfo"].is_null());

    app.advance(1_000).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["roster 2"], "Adele answered");
    assert_eq!(identities(got[0].resource_data()), set([app.client_id.as_str(), adele.as_str()]));

    app.advance(2_000).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["roster 3"], "Alex answered");
    assert_eq!(identities(got[0].resource_data()), set([app.client_id.as_str(), adele.as_str(), alex.as_str()]));

    // An ad-hoc group call has no chat: a single invite works, several at once do not.
    let (megan, diego) = (app.user("Megan Bowen"), app.user("Diego Siciliani"));
    let two = invite_body(&[user_identity(&megan), user_identity(&diego)], "two");
    app.invite(&id, &two).await.assert_error(400, "invalidRequest");
    invite_users(&app, &id, &[&diego], "one").await;
}

#[tokio::test]
async fn a_group_call_bound_to_a_chat_thread_with_one_target_sends_roster_notifications() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let thread = "19:calls-rs-one-target@thread.v2";
    let body = call_body(
        &app,
        json!({"chatInfo": {"@odata.type": "#microsoft.graph.chatInfo", "threadId": thread, "messageId": "0"},
               "targets": [user_target(&adele)]}),
    );
    let (call, got) = create_and_settle(&app, &body).await;
    let id = id_of(&call);
    assert_eq!(call["chatInfo"]["threadId"], thread);
    assert_eq!(summary(&got), ["call updated establishing", "call updated established", "roster 1"]);

    app.advance(1_000).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["roster 2"], "a chat group call is not peer-to-peer: Adele joins the roster");
    assert_eq!(identities(got[0].resource_data()), set([app.client_id.as_str(), adele.as_str()]));
}

#[tokio::test]
async fn a_group_call_bound_to_a_chat_thread_with_several_targets_rings_them_all() {
    let app = TestApp::spawn().await;
    let (adele, alex, megan) = (app.user("Adele Vance"), app.user("Alex Wilber"), app.user("Megan Bowen"));
    let body = call_body(
        &app,
        json!({"chatInfo": {"@odata.type": "#microsoft.graph.chatInfo", "threadId": "19:calls-rs-several@thread.v2", "messageId": "0"},
               "targets": [user_target(&adele), user_target(&alex), user_target(&megan)]}),
    );
    let (call, got) = create_and_settle(&app, &body).await;
    let id = id_of(&call);
    assert_eq!(summary(&got), ["call updated establishing", "call updated established", "roster 1"]);

    app.advance(1_000).await;
    assert_eq!(summary(&app.hooks.take_for(&id)), ["roster 2"]);
    app.advance(1_000).await;
    assert!(app.hooks.take_for(&id).is_empty(), "Megan declined: she never was in the roster");
    app.advance(1_000).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["roster 3"]);
    assert_eq!(identities(got[0].resource_data()), set([app.client_id.as_str(), adele.as_str(), alex.as_str()]));
    assert_eq!(app.get_call(&id).await.assert_status(200)["state"], "established");

    // A group call with chatInfo accepts several invitees at once.
    let (lynne, diego) = (app.user("Lynne Robbins"), app.user("Diego Siciliani"));
    invite_users(&app, &id, &[&lynne, &diego], "two at once").await;
}

#[tokio::test]
async fn joining_a_meeting_by_organizer_meeting_info_gives_the_whole_roster_with_the_bots_own_participant() {
    let app = TestApp::spawn().await;
    let meeting = new_meeting(&app).await;
    let created = app.create_call(&organizer_meeting_body(&app, &meeting, json!(null))).await;
    let call = created.assert_status(201).clone();
    let id = id_of(&call);
    let me = call["myParticipantId"].as_str().unwrap().to_owned();
    assert_eq!(call["state"], "establishing");
    assert_eq!(call["chatInfo"]["threadId"], meeting["chatInfo"]["threadId"]);
    assert_eq!(call["meetingInfo"]["@odata.type"], "#microsoft.graph.organizerMeetingInfo");

    app.advance(0).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["call updated establishing", "call updated established", "roster 1"]);
    let roster = got[2].resource_data();
    assert_eq!(participant_ids(roster), std::slice::from_ref(&me), "the bot's own participant id is myParticipantId");
    assert_eq!(roster[0]["@odata.type"], "#microsoft.graph.participant");
    assert_eq!(identity_of(&roster[0]), app.client_id);
    assert!(got[2].resource_url().ends_with(&format!("/communications/calls/{id}/participants")));

    // Whole roster: the next change carries everyone, the bot included.
    let adele = app.user("Adele Vance");
    invite_users(&app, &id, &[&adele], "adele").await;
    app.advance(1_000).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["operation deleted completed", "roster 2"]);
    let roster = got[1].resource_data();
    assert!(participant_ids(roster).contains(&me));
    assert_eq!(identities(roster), set([app.client_id.as_str(), adele.as_str()]));
}

#[tokio::test]
async fn joining_a_meeting_by_join_meeting_id_gives_the_whole_roster_with_the_bots_own_participant() {
    let app = TestApp::spawn().await;
    let meeting = new_meeting(&app).await;
    let join_id = meeting["joinMeetingIdSettings"]["joinMeetingId"].as_str().expect("joinMeetingId").to_owned();
    let (call, got) = create_and_settle(&app, &join_meeting_id_body(&app, &join_id)).await;
    let id = id_of(&call);
    let me = call["myParticipantId"].as_str().unwrap().to_owned();
    assert_eq!(call["meetingInfo"]["joinMeetingId"], join_id.as_str());
    assert_eq!(summary(&got), ["call updated establishing", "call updated established", "roster 1"]);
    assert_eq!(participant_ids(got[2].resource_data()), [me]);
    assert_eq!(app.get_call(&id).await.assert_status(200)["state"], "established");
}

#[tokio::test]
async fn a_meeting_info_naming_no_meeting_is_refused() {
    let app = TestApp::spawn().await;
    let unknown_thread = json!({"chatInfo": {"threadId": "19:meeting_nothing-here@thread.v2"}});
    app.create_call(&organizer_meeting_body(&app, &unknown_thread, json!(null)))
        .await
        .assert_error(400, "invalidRequest");
    app.create_call(&join_meeting_id_body(&app, "000000000000")).await.assert_error(400, "invalidRequest");
    let token = call_body(
        &app,
        json!({"meetingInfo": {"@odata.type": "#microsoft.graph.tokenMeetingInfo", "token": "no-such-meeting"}}),
    );
    app.create_call(&token).await.assert_error(400, "invalidRequest");
    assert_eq!(app.hooks.len(), 0);
}

#[tokio::test]
async fn a_plain_http_callback_outside_loopback_is_refused_and_https_is_accepted() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    for bad in ["http://bot.example.com/callback", "http://10.1.2.3/callback"] {
        let body = call_body(&app, json!({"targets": [user_target(&adele)], "callbackUri": bad}));
        app.create_call(&body).await.assert_error(400, "invalidRequest");
    }
    // https is accepted anywhere (port 1 on loopback: nothing listens, nothing leaves the machine).
    let https =
        call_body(&app, json!({"targets": [user_target(&adele)], "callbackUri": "https://127.0.0.1:1/callback"}));
    let created = app.create_call(&https).await;
    assert_eq!(created.assert_status(201)["callbackUri"], "https://127.0.0.1:1/callback");
}

#[tokio::test]
async fn each_call_is_notified_at_its_own_callback_uri() {
    let app = TestApp::spawn().await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let first =
        call_body(&app, json!({"targets": [user_target(&adele)], "callbackUri": format!("{}/first", app.hooks.url)}));
    let second =
        call_body(&app, json!({"targets": [user_target(&alex)], "callbackUri": format!("{}/second", app.hooks.url)}));
    let (a, got_a) = create_and_settle(&app, &first).await;
    let (b, got_b) = create_and_settle(&app, &second).await;
    assert!(
        !got_a.is_empty() && got_a.iter().all(|r| r.path == "/first"),
        "{:?}",
        got_a.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert!(
        !got_b.is_empty() && got_b.iter().all(|r| r.path == "/second"),
        "{:?}",
        got_b.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    app.advance(3_000).await;
    assert!(app.hooks.take_for(&id_of(&a)).iter().all(|r| r.path == "/first"));
    assert!(app.hooks.take_for(&id_of(&b)).iter().all(|r| r.path == "/second"));
}

// ---------------------------------------------------------------------------------------------
// 2. Get and delete call
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn getting_a_call_returns_the_same_shape_as_creating_it() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let created = app.create_call(&p2p_body(&app, &adele)).await.assert_status(201).clone();
    let id = id_of(&created);
    let got = app.get_call(&id).await.assert_status(200).clone();
    for k in ["@odata.type", "id", "state", "direction", "callChainId", "myParticipantId", "tenantId", "callbackUri"] {
        assert_eq!(got[k], created[k], "{k}");
    }
    app.advance(1_000).await;
    let established = app.get_call(&id).await.assert_status(200).clone();
    assert_eq!(established["state"], "established");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(keys(&got), keys(&created), "GET and POST render a call alike (POST has @odata.context)");
}

#[tokio::test]
async fn deleting_a_call_ends_it_with_terminating_then_terminated_7000_and_it_is_gone() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let id = app.established_p2p(&adele).await;

    let deleted = app.delete_call(&id).await;
    deleted.assert_status(204);
    assert!(deleted.body.is_null(), "204 has no body");
    app.advance(0).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["call updated terminating", "call deleted terminated"]);
    let result = &got[1].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(200), Some(7000)), "{result}");

    app.get_call(&id).await.assert_error(404, "itemNotFound");
    app.delete_call(&id).await.assert_error(404, "itemNotFound");
    app.advance(60_000).await;
    assert!(app.hooks.take_for(&id).is_empty(), "nothing after the end");
}

#[tokio::test]
async fn deleting_a_meeting_call_while_an_invitee_rings_fails_that_invite_operation() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let (adele, diego) = (app.user("Adele Vance"), app.user("Diego Siciliani"));
    invite_users(&app, &call, &[&adele], "adele").await;
    app.advance(1_000).await;
    assert_eq!(summary(&app.hooks.take_for(&call)), ["operation deleted completed", "roster 2"]);

    let ringing = invite_users(&app, &call, &[&diego], "diego").await;
    let op = id_of(&ringing);
    app.advance(5_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "Diego is still ringing");

    app.delete_call(&call).await.assert_status(204);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    let lines = summary(&got);
    assert!(lines.contains(&"call updated terminating".to_owned()), "{lines:?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("call deleted terminated"),
        "the call's deletion comes last: {lines:?}"
    );
    app.advance(60_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "the cancelled ring timer does not fire later");

    let failed: Vec<&Received> = got.iter().filter(|r| r.kind() == "operation").collect();
    assert_eq!(failed.len(), 1, "the pending invite's operation is reported failed: {lines:?}");
    assert!(failed[0].resource_url().ends_with(&format!("/operations/{op}")));
    assert_eq!(failed[0].resource_data()["status"], "failed");
    assert_eq!(failed[0].resource_data()["resultInfo"]["code"], 487, "{}", failed[0].resource_data());
}

#[tokio::test]
async fn deleting_the_last_application_leg_of_a_meeting_ends_the_meeting_conversation() {
    let app = TestApp::spawn().await;
    let meeting = new_meeting(&app).await;
    let (first, _) = create_and_settle(&app, &organizer_meeting_body(&app, &meeting, json!(null))).await;
    let first_id = id_of(&first);
    let adele = app.user("Adele Vance");
    invite_users(&app, &first_id, &[&adele], "adele").await;
    app.advance(1_000).await;
    app.hooks.take_for(&first_id);

    app.delete_call(&first_id).await.assert_status(204);
    app.advance(0).await;
    assert_eq!(summary(&app.hooks.take_for(&first_id)), ["call updated terminating", "call deleted terminated"]);

    // Joining again starts a new conversation: Adele, who was in the ended one, is not there.
    let (second, got) = create_and_settle(&app, &organizer_meeting_body(&app, &meeting, json!(null))).await;
    assert_ne!(second["callChainId"], first["callChainId"], "the ended conversation is not reused");
    assert_eq!(summary(&got), ["call updated establishing", "call updated established", "roster 1"]);
    assert_eq!(identities(got[2].resource_data()), set([app.client_id.as_str()]));
    let list = app.list_participants(&id_of(&second), "").await.assert_status(200).clone();
    assert_eq!(participant_ids(&list["value"]), [second["myParticipantId"].as_str().unwrap().to_owned()]);
}

// ---------------------------------------------------------------------------------------------
// 3. Participants
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn listing_participants_returns_connected_participants_only() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let (adele, diego) = (app.user("Adele Vance"), app.user("Diego Siciliani"));
    let op = invite_users(&app, &call, &[&adele, &diego], "two").await;
    let diego_pid = op["participants"][1]["participantId"].as_str().expect("Diego's participant id").to_owned();
    app.advance(1_000).await;

    let list = app.list_participants(&call, "").await.assert_status(200).clone();
    let value = &list["value"];
    assert_eq!(identities(value), set([app.client_id.as_str(), adele.as_str()]), "ringing Diego is not listed");
    assert!(!participant_ids(value).contains(&diego_pid));
    for p in value.as_array().unwrap() {
        assert_eq!(p["@odata.type"], "#microsoft.graph.participant", "{p}");
    }
    assert!(list.get("@odata.nextLink").is_none(), "everything fits one page");
}

#[tokio::test]
async fn paging_participants_with_top_follows_next_links_and_sees_everyone_once() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    invite_users(&app, &call, &[&adele, &alex], "two").await;
    app.advance(3_000).await;
    let all = participant_ids(&app.list_participants(&call, "").await.assert_status(200)["value"]);
    assert_eq!(all.len(), 3);

    for top in [1, 2] {
        let mut seen = Vec::new();
        let mut page = app.list_participants(&call, &format!("?$top={top}")).await.assert_status(200).clone();
        let mut pages = 1;
        loop {
            let value = page["value"].as_array().unwrap();
            assert!(!value.is_empty() && value.len() <= top, "page of {} with $top={top}", value.len());
            seen.extend(participant_ids(&page["value"]));
            let Some(next) = page["@odata.nextLink"].as_str() else { break };
            let prefix = format!("{}/beta/communications/calls/{call}/participants?", app.base);
            assert!(next.starts_with(&prefix), "absolute nextLink: {next}");
            page = app.get(next.strip_prefix(&app.base).unwrap()).await.assert_status(200).clone();
            pages += 1;
            assert!(pages <= 10, "paging does not end");
        }
        assert_eq!(pages, 3_usize.div_ceil(top), "$top={top}");
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(seen.len(), unique.len(), "nobody twice with $top={top}: {seen:?}");
        assert_eq!(unique, all.iter().collect::<HashSet<_>>(), "everyone with $top={top}");
    }
    let exact = app.list_participants(&call, "?$top=3").await.assert_status(200).clone();
    assert!(exact.get("@odata.nextLink").is_none(), "no empty last page: {exact}");
}

#[tokio::test]
async fn odata_query_options_a_route_does_not_read_are_refused_not_ignored() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    for query in [
        "?$filter=isMuted%20eq%20true",
        "?$expand=info",
        "?%24count=true",
        "?$orderby=id%20desc",
        "?$skip=1",
        "?$search=adele",
        "?$SELECT=id",
    ] {
        let message = app.list_participants(&call, query).await.assert_error(400, "invalidRequest");
        assert!(message.contains("is not supported") && message.contains("$top"), "{query}: {message}");
    }
    let message = app.get(&format!("/beta/communications/calls/{call}?$filter=state%20eq%20'established'")).await;
    assert!(message.assert_error(400, "invalidRequest").contains("'$filter'"));
    // Get operation's page lists no query parameters, so its route reads none, $select included.
    let op = invite_users(&app, &call, &[&app.user("Adele Vance")], "adele").await;
    let op_id = op["id"].as_str().unwrap();
    let message = app.get(&format!("/beta/communications/calls/{call}/operations/{op_id}?$select=status")).await;
    assert!(message.assert_error(400, "invalidRequest").contains("'$select'"));
    // Controls: what the routes read, and parameters that are not OData options.
    let page = app.list_participants(&call, "?%24top=1&foo=bar").await;
    assert_eq!(page.assert_status(200)["value"].as_array().unwrap().len(), 1);
    app.get(&format!("/beta/communications/calls/{call}?foo=bar")).await.assert_status(200);
}

#[tokio::test]
async fn select_on_a_call_returns_the_named_properties_its_id_and_annotations() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    for version in ["beta", "v1.0"] {
        let path = format!("/{version}/communications/calls/{call}?$select=state,%20MyParticipantId,transcription");
        let got = app.get(&path).await.assert_status(200).clone();
        let keys: Vec<&str> = got.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["@odata.context", "@odata.type", "id", "state", "myParticipantId", "transcription"],
            "{version}: {got}"
        );
        assert_eq!(got["id"], call.as_str());
        assert_eq!(got["state"], "established");
        assert!(got["myParticipantId"].is_string());
        assert_eq!(got["transcription"], Value::Null, "a property Switchboard does not keep reads as null");
        let context = format!(
            "{}/{version}/$metadata#communications/calls(state,myParticipantId,transcription)/$entity",
            app.base
        );
        assert_eq!(got["@odata.context"], context.as_str());
    }
    // The same works on the /app alias, and `*` is everything.
    let everything = app.get(&format!("/beta/app/calls/{call}?$select=*")).await.assert_status(200).clone();
    assert_eq!(everything, app.get_call(&call).await.assert_status(200).clone());
}

#[tokio::test]
async fn select_on_participants_projects_every_page_and_next_links_keep_it() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    invite_users(&app, &call, &[&adele, &alex], "two").await;
    app.advance(3_000).await;

    let mut page = app.list_participants(&call, "?$top=1&$select=isMuted").await.assert_status(200).clone();
    let context = format!("{}/beta/$metadata#communications/calls('{call}')/participants(isMuted)", app.base);
    let mut seen = Vec::new();
    loop {
        assert_eq!(page["@odata.context"], context.as_str());
        for p in page["value"].as_array().unwrap() {
            let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["@odata.type", "id", "isMuted"], "{p}");
            seen.push(p["id"].as_str().unwrap().to_owned());
        }
        let Some(next) = page["@odata.nextLink"].as_str() else { break };
        assert!(next.contains("$select=isMuted") && next.contains("$skiptoken="), "{next}");
        page = app.get(next.strip_prefix(&app.base).unwrap()).await.assert_status(200).clone();
        assert!(seen.len() <= 3, "paging does not end");
    }
    let all = participant_ids(&app.list_participants(&call, "").await.assert_status(200)["value"]);
    assert_eq!(seen.len(), 3);
    assert_eq!(seen.iter().collect::<HashSet<_>>(), all.iter().collect::<HashSet<_>>());

    // One participant, in any case of the name.
    let me = app.get_call(&call).await.assert_status(200)["myParticipantId"].as_str().unwrap().to_owned();
    let got = app
        .get(&format!("/beta/communications/calls/{call}/participants/{me}?$select=INFO"))
        .await
        .assert_status(200)
        .clone();
    let keys: Vec<&str> = got.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["@odata.context", "@odata.type", "id", "info"], "{got}");
    assert_eq!(identity_of(&got), app.client_id);
    let context = format!("{}/beta/$metadata#communications/calls('{call}')/participants(info)/$entity", app.base);
    assert_eq!(got["@odata.context"], context.as_str());
}

#[tokio::test]
async fn on_beta_the_dollar_of_a_query_option_is_optional() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    invite_users(&app, &call, &[&app.user("Adele Vance")], "one").await;
    app.advance(1_000).await;
    let keys = |body: &Value| body.as_object().unwrap().keys().cloned().collect::<Vec<String>>();
    // Beta reads `select` and `top` as `$select` and `$top`, and refuses what the route does
    // not read by its option's name.
    let got = app.get(&format!("/beta/communications/calls/{call}?select=state")).await.assert_status(200).clone();
    assert_eq!(keys(&got), ["@odata.context", "@odata.type", "id", "state"], "{got}");
    let page = app.list_participants(&call, "?top=1&select=isMuted").await.assert_status(200).clone();
    assert_eq!(page["value"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(keys(&page["value"][0]), ["@odata.type", "id", "isMuted"]);
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$select=isMuted") && next.contains("$skiptoken="), "{next}");
    let message =
        app.get(&format!("/beta/communications/calls/{call}?filter=x")).await.assert_error(400, "invalidRequest");
    assert!(message.contains("'$filter'"), "{message}");
    app.get(&format!("/beta/communications/calls/{call}?select=foo")).await.assert_error(400, "BadRequest");
    // v1.0 requires the `$`: without it the name is a parameter like any other.
    let whole =
        app.get(&format!("/v1.0/communications/calls/{call}?select=state&filter=x")).await.assert_status(200).clone();
    assert!(whole["mediaConfig"].is_object(), "{whole}");
}

#[tokio::test]
async fn a_select_naming_no_property_of_the_resource_is_graphs_bad_request() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let me = app.get_call(&call).await.assert_status(200)["myParticipantId"].as_str().unwrap().to_owned();
    let message =
        app.get(&format!("/beta/communications/calls/{call}?$select=state,foo")).await.assert_error(400, "BadRequest");
    assert_eq!(
        message,
        "Parsing OData Select and Expand failed: Could not find a property named 'foo' on type 'microsoft.graph.call'."
    );
    let message = app.list_participants(&call, "?$select=state").await.assert_error(400, "BadRequest");
    assert!(message.contains("'state' on type 'microsoft.graph.participant'"), "{message}");
    // A beta-only property of call is not one of v1.0's.
    app.get(&format!("/v1.0/communications/calls/{call}?$select=answeredBy")).await.assert_error(400, "BadRequest");
    app.get(&format!("/beta/communications/calls/{call}?$select=answeredBy")).await.assert_status(200);
    for query in ["?$select=", "?$select=%20", "?$select=info,", "?$select=info/identity", "?$select=id&$select=info"] {
        let path = format!("/beta/communications/calls/{call}/participants/{me}{query}");
        app.get(&path).await.assert_error(400, "BadRequest");
    }
    // The URL is refused before anything is read: an unknown call with a bad $select is a 400.
    app.get("/beta/communications/calls/no-such-call?$select=foo").await.assert_error(400, "BadRequest");
    app.get("/beta/communications/calls/no-such-call?$select=state").await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn the_openapi_document_lists_select_on_the_routes_that_read_it() {
    let app = TestApp::spawn().await;
    let (status, text) = app.get_text("/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&text).unwrap();
    let names = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} is documented"))
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for version in ["beta", "v1.0"] {
        for base in ["communications", "app"] {
            let calls = format!("/{version}/{base}/calls/{{call_id}}");
            assert_eq!(names(&calls), ["$select"]);
            assert_eq!(names(&format!("{calls}/participants")), ["$top", "$skiptoken", "$select"]);
            assert_eq!(names(&format!("{calls}/participants/{{participant_id}}")), ["$select"]);
            assert!(names(&format!("{calls}/operations/{{operation_id}}")).is_empty());
        }
    }
    // Its values are the resource's property names, a comma-separated list, as Graph's own
    // description writes `$select`: a generated client (or a fuzzer) then sends names the server
    // takes.
    let select = |path: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "$select")
            .unwrap()
            .clone()
    };
    let values = |parameter: &Value| -> Vec<String> {
        parameter["schema"]["items"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    for version in ["beta", "v1.0"] {
        let call = select(&format!("/{version}/communications/calls/{{call_id}}"));
        assert_eq!(
            (&call["style"], &call["explode"], &call["schema"]["type"]),
            (&json!("form"), &json!(false), &json!("array"))
        );
        let call = values(&call);
        assert!(call.iter().any(|v| v == "state") && call.iter().any(|v| v == "callbackUri"), "{call:?}");
        // `answeredBy` is a beta property of a call.
        assert_eq!(call.iter().any(|v| v == "answeredBy"), version == "beta", "{version}: {call:?}");
        let participant = values(&select(&format!("/{version}/communications/calls/{{call_id}}/participants")));
        assert!(
            participant.iter().any(|v| v == "isMuted") && participant.iter().any(|v| v == "info"),
            "{participant:?}"
        );
    }
}

#[tokio::test]
async fn invalid_top_or_skiptoken_is_refused() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    for query in ["?$top=0", "?$top=abc", "?$top=-1", "?$skiptoken=not*a*token", "?$top=1&$skiptoken=%25%25"] {
        app.list_participants(&call, query).await.assert_error(400, "invalidRequest");
    }
}

#[tokio::test]
async fn getting_a_participant_works_and_an_unknown_one_is_404() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let me = app.get_call(&call).await.assert_status(200)["myParticipantId"].as_str().unwrap().to_owned();
    let got = app.get_participant(&call, &me).await.assert_status(200).clone();
    assert_eq!(got["id"], me.as_str());
    assert_eq!(got["@odata.type"], "#microsoft.graph.participant");
    let context = format!("{}/beta/$metadata#communications/calls('{call}')/participants/$entity", app.base);
    assert_eq!(got["@odata.context"], context.as_str(), "as participant-get's example");
    assert_eq!(identity_of(&got), app.client_id);

    // A ringing invitee can be read by the id its operation returned.
    let diego = app.user("Diego Siciliani");
    let op = invite_users(&app, &call, &[&diego], "diego").await;
    let diego_pid = op["participants"][0]["participantId"].as_str().unwrap().to_owned();
    assert_eq!(app.get_participant(&call, &diego_pid).await.assert_status(200)["id"], diego_pid.as_str());

    app.get_participant(&call, "00000000-0000-0000-0000-000000000000").await.assert_error(404, "itemNotFound");
    app.get_participant("no-such-call", &me).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn deleting_a_connected_participant_sends_the_whole_roster_without_them() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let op = invite_users(&app, &call, &[&adele, &alex], "two").await;
    let adele_pid = op["participants"][0]["participantId"].as_str().unwrap().to_owned();
    app.advance(3_000).await;
    app.hooks.take_for(&call);

    app.delete_participant(&call, &adele_pid).await.assert_status(204);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["roster 2"], "the whole roster, without Adele");
    assert_eq!(identities(got[0].resource_data()), set([app.client_id.as_str(), alex.as_str()]));
    assert!(!participant_ids(got[0].resource_data()).contains(&adele_pid));

    app.get_participant(&call, &adele_pid).await.assert_error(404, "itemNotFound");
    let list = app.list_participants(&call, "").await.assert_status(200).clone();
    assert_eq!(identities(&list["value"]), set([app.client_id.as_str(), alex.as_str()]));
}

#[tokio::test]
async fn deleting_a_ringing_invitee_cancels_the_invitation() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let diego = app.user("Diego Siciliani");
    let op = invite_users(&app, &call, &[&diego], "diego").await;
    let diego_pid = op["participants"][0]["participantId"].as_str().unwrap().to_owned();
    app.advance(0).await;
    app.delete_participant(&call, &diego_pid).await.assert_status(204);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(summary(&got), ["operation deleted failed"], "no roster change: Diego was never in it");
    assert_eq!(got[0].resource_data()["resultInfo"]["code"], 487);
    app.get_participant(&call, &diego_pid).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn a_delta_roster_call_gets_one_whole_roster_then_only_changes_with_increasing_sequence_numbers() {
    let app = TestApp::spawn().await;
    let meeting = new_meeting(&app).await;
    let options = json!({"@odata.type": "#microsoft.graph.outgoingCallOptions", "isDeltaRosterEnabled": true});
    let (call, got) = create_and_settle(&app, &organizer_meeting_body(&app, &meeting, options)).await;
    let id = id_of(&call);
    let me = call["myParticipantId"].as_str().unwrap().to_owned();
    assert_eq!(call["callOptions"]["isDeltaRosterEnabled"], true);
    assert_eq!(summary(&got), ["call updated establishing", "call updated established", "roster 1"]);
    let mut sequences = Vec::new();
    let mut record = |roster: &Value| {
        for p in roster.as_array().unwrap() {
            sequences.push(p["rosterSequenceNumber"].as_i64().unwrap_or_else(|| panic!("rosterSequenceNumber: {p}")));
        }
    };
    assert_eq!(participant_ids(got[2].resource_data()), std::slice::from_ref(&me), "the whole roster when established");
    record(got[2].resource_data());

    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let op = invite_users(&app, &id, &[&adele], "adele").await;
    let adele_pid = op["participants"][0]["participantId"].as_str().unwrap().to_owned();
    app.advance(1_000).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["operation deleted completed", "roster 1"], "a join: only the newcomer");
    assert_eq!(participant_ids(got[1].resource_data()), std::slice::from_ref(&adele_pid));
    record(got[1].resource_data());

    invite_users(&app, &id, &[&alex], "alex").await;
    app.advance(3_000).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["operation deleted completed", "roster 1"]);
    assert_eq!(identities(got[1].resource_data()), set([alex.as_str()]));
    record(got[1].resource_data());

    app.delete_participant(&id, &adele_pid).await.assert_status(204);
    app.advance(0).await;
    let got = app.hooks.take_for(&id);
    assert_eq!(summary(&got), ["roster 1"], "a removal: only the one who left");
    let gone = &got[0].resource_data()[0];
    assert_eq!(gone["id"], adele_pid.as_str());
    assert!(gone["removedState"].is_object(), "a departed participant carries removedState: {gone}");
    record(got[0].resource_data());

    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "rosterSequenceNumber increases: {sequences:?}");
}

#[tokio::test]
async fn a_burst_of_joins_costs_one_whole_roster_sent_after_every_operation_of_the_burst() {
    // DESIGN.md, "Notifications": whole rosters are rendered at delivery from a per-call mark.
    // The bot's callback fails while four invitees join, so the call's queue is held at its
    // head; once it answers again, the four operations arrive first, then one roster of all.
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let users: Vec<String> =
        ["Alex Wilber", "Megan Bowen", "Lynne Robbins", "Diego Siciliani"].iter().map(|n| app.user(n)).collect();
    for (i, user) in users.iter().enumerate() {
        app.set_user_behaviour(user, json!({"kind": "answer", "afterMs": 1000})).await;
        invite_users(&app, &call, &[user], &format!("burst {i}")).await;
    }
    app.hooks.answer_with(503);
    app.advance(1_000).await;
    assert!(!app.hooks.take_for(&call).is_empty(), "the first notification was tried and refused");
    app.hooks.answer_with(202);
    app.advance(600_000).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(
        summary(&got),
        [
            "operation deleted completed",
            "operation deleted completed",
            "operation deleted completed",
            "operation deleted completed",
            "roster 5"
        ],
        "four operations, then one whole roster for the burst"
    );
    let mut expected: Vec<&str> = users.iter().map(String::as_str).collect();
    expected.push(app.client_id.as_str());
    assert_eq!(identities(got[4].resource_data()), expected.iter().map(|s| s.to_string()).collect());
    let sequences: Vec<i64> = got.iter().map(Received::sequence).collect();
    assert!(sequences.windows(2).all(|w| w[1] == w[0] + 1), "gapless and in order: {sequences:?}");
}

// ---------------------------------------------------------------------------------------------
// 4. Routes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_same_get_works_on_communications_and_app_under_beta_and_v1() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let id = app.established_p2p(&adele).await;
    for prefix in ["/beta/communications", "/v1.0/communications", "/beta/app", "/v1.0/app"] {
        let call = app.get(&format!("{prefix}/calls/{id}")).await;
        assert_eq!(call.assert_status(200)["id"], id.as_str(), "{prefix}");
        assert_eq!(call.body["state"], "established", "{prefix}");
        let list = app.get(&format!("{prefix}/calls/{id}/participants")).await;
        assert_eq!(list.assert_status(200)["value"].as_array().unwrap().len(), 2, "{prefix}");
    }
}

#[tokio::test]
async fn graph_actions_switchboard_does_not_implement_answer_501() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let me = app.get_call(&call).await.assert_status(200)["myParticipantId"].as_str().unwrap().to_owned();
    for path in [
        format!("/beta/communications/calls/{call}/transfer"),
        format!("/beta/communications/calls/{call}/participants/{me}/startHoldMusic"),
        format!("/beta/communications/calls/{call}/microsoft.graph.playPrompt"),
        format!("/v1.0/app/calls/{call}/redirect"),
    ] {
        app.post(&path, &json!({})).await.assert_error(501, "notImplemented");
    }
}

#[tokio::test]
async fn keep_alive_answers_200_on_a_live_call_and_404_on_an_ended_one() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let id = app.established_p2p(&adele).await;
    app.post(&format!("/beta/communications/calls/{id}/keepAlive"), &json!({})).await.assert_status(200);
    app.post(&format!("/v1.0/communications/calls/{id}/microsoft.graph.keepAlive"), &json!({}))
        .await
        .assert_status(200);
    app.delete_call(&id).await.assert_status(204);
    app.post(&format!("/beta/communications/calls/{id}/keepAlive"), &json!({})).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn graph_path_segments_match_whatever_their_case_and_ids_keep_theirs() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let got = app.get(&format!("/v1.0/Communications/CALLS/{call}")).await;
    got.assert_status(200);
    assert_eq!(got.body["id"], call.as_str());
    app.post(&format!("/beta/communications/calls/{call}/KeepAlive"), &json!({})).await.assert_status(200);
    let adele = app.user("Adele Vance");
    let path = format!("/beta/communications/Calls/{call}/Participants/Microsoft.Graph.Invite");
    let invited = app.post(&path, &invite_body(&[user_identity(&adele)], "any case")).await;
    invited.assert_status(200);
    // The Location and the context are spelled as Graph spells them.
    let location = invited.headers["location"].to_str().unwrap();
    assert!(location.contains(&format!("/beta/communications/calls/{call}/operations/")), "{location}");
    app.advance(60_000).await;
    let page = app.get(&format!("/beta/Communications/Calls/{call}/Participants?$top=1")).await;
    page.assert_status(200);
    let next = page.body["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains(&format!("/beta/communications/calls/{call}/participants?")), "{next}");
    // An id is compared as written, and the version is too (Graph's "Invalid version.").
    let upper = call.to_ascii_uppercase();
    if upper != call {
        app.get(&format!("/v1.0/communications/calls/{upper}")).await.assert_error(404, "itemNotFound");
    }
    let message = app.get(&format!("/V1.0/communications/calls/{call}")).await.assert_error(400, "BadRequest");
    assert_eq!(message, "Invalid version.");
    let message = app.get(&format!("/beta/Communications/Calls/{call}/Bogus")).await.assert_error(400, "BadRequest");
    assert_eq!(message, "Resource not found for the segment 'Bogus'.");
}

#[tokio::test]
async fn an_unknown_graph_segment_or_version_is_graphs_400_and_a_wrong_method_is_405() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let id = app.established_p2p(&adele).await;
    let me = app.get_call(&id).await.assert_status(200)["myParticipantId"].as_str().unwrap().to_owned();
    // Under a version, Graph names the first segment it cannot resolve.
    let unknown_segments = [
        ("/v1.0/communications/foo".to_owned(), "foo"),
        ("/beta/app/nothingHere".to_owned(), "nothingHere"),
        ("/beta/no/such/thing".to_owned(), "no"),
        (format!("/beta/communications/calls/{id}/bogus"), "bogus"),
        (format!("/v1.0/communications/calls/{id}/participants/{me}/bogus"), "bogus"),
        (format!("/beta/communications/calls/{id}/participants/invite/more"), "more"),
    ];
    for (path, segment) in &unknown_segments {
        let message = app.get(path).await.assert_error(400, "BadRequest");
        assert_eq!(message, format!("Resource not found for the segment '{segment}'."), "{path}");
    }
    let message = app.post(&format!("/beta/communications/calls/{id}/noSuchAction"), &json!({})).await;
    assert_eq!(message.assert_error(400, "BadRequest"), "Resource not found for the segment 'noSuchAction'.");
    // The same without a token: the path is refused before anything else is read.
    let anonymous = app.request_as(Method::GET, "/v1.0/communications/foo", None, None).await;
    anonymous.assert_error(400, "BadRequest");
    // A Graph path without a version (an SDK pointed at the bare host) or with one Graph lacks.
    for path in ["/communications/calls", "/v2.0/communications/calls", "/V1.0/communications/calls", "/nowhere"] {
        assert_eq!(app.get(path).await.assert_error(400, "BadRequest"), "Invalid version.", "{path}");
    }
    // Unknown ids of known resources are still the resource's 404.
    app.get_call("no-such-call").await.assert_error(404, "itemNotFound");
    app.get_participant(&id, "no-such-participant").await.assert_error(404, "itemNotFound");
    app.get_operation(&id, "no-such-operation").await.assert_error(404, "itemNotFound");
    // Switchboard's own surfaces keep their 404.
    for path in ["/_switchboard/nothing", "/healthz/more", "/console/nothing.js", "/common/nothing"] {
        app.get(path).await.assert_error(404, "UnknownError");
    }
    let tenant = app.tenant_id.clone();
    app.get(&format!("/{tenant}/oauth2/v2.0/nothing")).await.assert_error(404, "UnknownError");

    let token = app.token().to_owned();
    let wrong = [
        (Method::PUT, format!("/beta/communications/calls/{id}")),
        (Method::PATCH, format!("/v1.0/communications/calls/{id}")),
        (Method::GET, "/beta/communications/calls".to_owned()),
        (Method::GET, format!("/beta/communications/calls/{id}/participants/invite")),
        (Method::DELETE, format!("/beta/app/calls/{id}/participants")),
    ];
    for (method, path) in wrong {
        let r = app.request_as(method.clone(), &path, Some(&token), Some(&json!({}))).await;
        r.assert_error(405, "methodNotAllowed");
    }
}

#[tokio::test]
async fn a_meeting_created_for_a_user_has_a_join_url_thread_and_join_meeting_id() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    for version in ["beta", "v1.0"] {
        let created = app.post(&format!("/{version}/users/{adele}/onlineMeetings"), &json!({"subject": "1:1"})).await;
        let meeting = created.assert_status(201).clone();
        assert!(meeting["joinWebUrl"].as_str().is_some_and(|u| u.starts_with("http")), "{meeting}");
        assert!(meeting["chatInfo"]["threadId"].as_str().is_some_and(|t| !t.is_empty()), "{meeting}");
        let join_id = meeting["joinMeetingIdSettings"]["joinMeetingId"].as_str().expect("joinMeetingId").to_owned();
        assert!(!join_id.is_empty() && join_id.chars().all(|c| c.is_ascii_digit()), "{join_id}");
        // It is a real meeting: a bot can join it by its id.
        let (call, got) = create_and_settle(&app, &join_meeting_id_body(&app, &join_id)).await;
        assert_eq!(summary(&got), ["call updated establishing", "call updated established", "roster 1"], "{call}");
        app.delete_call(&id_of(&call)).await.assert_status(204);
    }
}

/// The path of an absolute URL of this server (a `Location`), to request it.
fn path_of(app: &TestApp, url: &str) -> String {
    url.strip_prefix(app.base.as_str()).unwrap_or_else(|| panic!("{url} is not on {}", app.base)).to_owned()
}

#[tokio::test]
async fn the_location_of_a_created_meeting_answers_get_with_that_meeting() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    for version in ["beta", "v1.0"] {
        for collection in ["communications/onlineMeetings".to_owned(), format!("users/{adele}/onlineMeetings")] {
            let path = format!("/{version}/{collection}");
            let created = app.post(&path, &json!({"subject": "where is it"})).await;
            let meeting = created.assert_status(201).clone();
            let location = created.location();
            assert_eq!(location, format!("{}{path}/{}", app.base, id_of(&meeting)));
            let got = app.get(&path_of(&app, &location)).await;
            let got = got.assert_status(200);
            for member in ["id", "joinWebUrl", "chatInfo", "joinMeetingIdSettings", "participants", "subject"] {
                assert_eq!(got[member], meeting[member], "{member} of GET {location}");
            }
        }
    }
    let meeting = new_meeting(&app).await;
    app.get_meeting(&id_of(&meeting)).await.assert_status(200);
    app.get(&format!("/beta/app/onlineMeetings/{}", id_of(&meeting))).await.assert_status(200);
    app.get_meeting("MSoNoSuchMeeting").await.assert_error(404, "itemNotFound");
    // Under a user, only the meetings created on their behalf.
    let alex = app.user("Alex Wilber");
    app.get(&format!("/beta/users/{alex}/onlineMeetings/{}", id_of(&meeting))).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn a_meeting_created_for_a_user_has_them_as_organizer_and_in_its_join_url() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let organizer =
        json!({"identity": {"user": {"id": adele, "tenantId": app.tenant_id, "displayName": "Adele Vance"}}});
    let on_path = app.post(&format!("/v1.0/users/{adele}/onlineMeetings"), &json!({"subject": "1:1"})).await;
    // As in create-onlineMeeting's Example 1: the organizer named in the body of the app path.
    let in_body = app
        .create_meeting(
            &json!({"subject": "app token", "participants": {"organizer": {"identity": {"user": {"id": adele}}}}}),
        )
        .await;
    for created in [on_path, in_body] {
        let meeting = created.assert_status(201);
        assert_eq!(meeting["participants"]["organizer"], organizer, "{meeting}");
        let url = meeting["joinWebUrl"].as_str().expect("joinWebUrl");
        let context = url.split("context=").nth(1).expect("a context in the join URL");
        let context = context
            .replace("%22", "\"")
            .replace("%7B", "{")
            .replace("%7D", "}")
            .replace("%3A", ":")
            .replace("%2C", ",");
        let context: Value = serde_json::from_str(&context).expect("the context is JSON");
        assert_eq!(context, json!({"Tid": app.tenant_id, "Oid": adele}), "{url}");
    }
    // A meeting no user organises has the application's object id as the context's Oid: that of
    // its service principal, as its tokens' `oid`, never its client id.
    let url = new_meeting(&app).await["joinWebUrl"].as_str().unwrap().to_owned();
    let service_principal = unverified_claims(app.token())["oid"].as_str().unwrap().to_owned();
    assert!(url.contains(&format!("%22Oid%22%3A%22{service_principal}%22")), "{url}");
    assert!(!url.contains(&app.client_id), "{url}");
}

#[tokio::test]
async fn a_meeting_for_a_user_not_in_the_directory_is_404() {
    let app = TestApp::spawn().await;
    let nobody = "00000000-0000-0000-0000-00000000dead";
    for version in ["beta", "v1.0"] {
        let created = app.post(&format!("/{version}/users/{nobody}/onlineMeetings"), &json!({"subject": "x"})).await;
        let message = created.assert_error(404, "itemNotFound");
        assert!(message.contains(nobody), "{message}");
    }
    let body = json!({"participants": {"organizer": {"identity": {"user": {"id": nobody}}}}});
    app.create_meeting(&body).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn a_meeting_body_with_a_malformed_date_time_or_not_an_object_is_400() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let bad = [
        json!({"startDateTime": "not a date"}),
        json!({"endDateTime": "2026-01-01"}),
        json!({"endDateTime": 1767225600}),
        json!({"startDateTime": "2026-02-30T10:00:00Z"}),
        json!({"participants": "Adele"}),
        json!({"participants": {"organizer": {"identity": {"user": {"id": 42}}}}}),
        json!(["2026-01-01T00:00:00Z"]),
        json!("2026-01-01T00:00:00Z"),
    ];
    for body in &bad {
        for path in ["/beta/communications/onlineMeetings".to_owned(), format!("/v1.0/users/{adele}/onlineMeetings")] {
            app.post(&path, body).await.assert_error(400, "invalidRequest");
        }
    }
    // A DateTimeOffset in any offset is written back in UTC.
    let body = json!({"startDateTime": "2019-09-09T14:33:30.8546353-07:00", "endDateTime": "2019-09-09T22:03:30Z"});
    let meeting = app.create_meeting(&body).await.assert_status(201).clone();
    assert_eq!(
        (&meeting["startDateTime"], &meeting["endDateTime"]),
        (&json!("2019-09-09T21:33:30.854Z"), &json!("2019-09-09T22:03:30.000Z"))
    );
}

#[tokio::test]
async fn meeting_responses_carry_their_odata_context() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    for version in ["beta", "v1.0"] {
        let metadata = format!("{}/{version}/$metadata", app.base);
        let on_app = app.post(&format!("/{version}/communications/onlineMeetings"), &json!({})).await;
        let on_user = app.post(&format!("/{version}/users/{adele}/onlineMeetings"), &json!({})).await;
        let expected = [
            (on_app, format!("{metadata}#communications/onlineMeetings/$entity")),
            (on_user, format!("{metadata}#users('{adele}')/onlineMeetings/$entity")),
        ];
        for (created, context) in expected {
            assert_eq!(created.assert_status(201)["@odata.context"], context.as_str());
            let got = app.get(&path_of(&app, &created.location())).await;
            assert_eq!(got.assert_status(200)["@odata.context"], context.as_str());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Identity
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_token_endpoint_issues_an_rs256_token_verifiable_with_the_published_jwks() {
    let app = TestApp::spawn().await;
    let (status, body) = raw_token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().is_some_and(|s| s > 0), "{body}");
    let token = body["access_token"].as_str().expect("access_token");

    let (config, jwks) = discover_keys(&app).await;
    assert_eq!(config["token_endpoint"], format!("{}/{}/oauth2/v2.0/token", app.base, app.tenant_id));
    let key = decoding_key_for(&jwks, token);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["https://graph.microsoft.com"]);
    validation.set_issuer(&[config["issuer"].as_str().expect("issuer")]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("the token verifies").claims;
    assert_eq!(claims["tid"], app.tenant_id.as_str());
    assert_eq!(claims["appid"], app.client_id.as_str());
    let roles: Vec<&str> = claims["roles"].as_array().expect("roles").iter().filter_map(Value::as_str).collect();
    for role in
        ["Calls.Initiate.All", "Calls.InitiateGroupCall.All", "Calls.JoinGroupCall.All", "OnlineMeetings.ReadWrite.All"]
    {
        assert!(roles.contains(&role), "{role} in {roles:?}");
    }
    assert!(claims.get("scp").is_none(), "an application token, not a delegated one");
}

#[tokio::test]
async fn an_app_only_token_names_the_service_principal_in_oid_and_sub_and_the_application_in_appid() {
    let app = TestApp::spawn().await;
    let (client_id, client_secret) = (app.client_id.clone(), app.client_secret.clone());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", client_secret.as_str()),
        ("scope", GRAPH_DEFAULT),
    ];
    let (status, body) = raw_token_request(&app, &form).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (config, jwks) = discover_keys(&app).await;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["https://graph.microsoft.com"]);
    validation.set_issuer(&[config["issuer"].as_str().unwrap()]);
    let claims = jsonwebtoken::decode::<Value>(&token, &decoding_key_for(&jwks, &token), &validation).unwrap().claims;

    // A version 1.0 app-only token, as Entra issues them for Graph: the application in `appid`
    // (authenticated by a secret), its service principal's object id in `oid` and `sub`.
    assert_eq!(claims["idtyp"], "app", "{claims}");
    assert_eq!(claims["appid"], app.client_id.as_str(), "{claims}");
    let oid = claims["oid"].as_str().expect("oid").to_owned();
    assert!(uuid::Uuid::parse_str(&oid).is_ok(), "an object id is a GUID: {oid}");
    assert_ne!(oid, app.client_id, "a service principal is not its application");
    assert_eq!(claims["sub"], oid.as_str(), "an app-only token's subject is its service principal");
    assert_eq!(claims["ver"], "1.0", "{claims}");
    assert_eq!(claims["appidacr"], "1", "{claims}");
    assert!(claims.get("azp").is_none() && claims.get("azpacr").is_none(), "version 2.0 claims: {claims}");

    // The same object id for every token of the application: the control API's, and after a
    // restart; the directory shows it.
    assert_eq!(unverified_claims(app.token())["oid"], oid.as_str());
    let directory = app.control(Method::GET, "/_switchboard/directory", None).await;
    let registered = directory.assert_status(200)["applications"][0].clone();
    assert_eq!(registered["servicePrincipalId"], oid.as_str(), "{registered}");
    let app = app.restart().await;
    // (A restarted test server listens on another port, so its issuer changed: a new token.)
    let (_, body) = raw_token_request(&app, &form).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(unverified_claims(&token)["oid"], oid.as_str());

    // Another application of the tenant has a service principal of its own.
    let other = "5b0e8f7e-0000-4000-8000-0000000000c2";
    let seed = json!({"applications": [{
        "clientId": other, "tenantId": app.tenant_id, "displayName": "Other bot",
        "clientSecrets": ["other-secret"], "permissions": ["Calls.Initiate.All"],
    }]});
    app.control(Method::POST, "/_switchboard/directory/import", Some(&seed)).await.assert_status(204);
    let other_token = app.fetch_token(&app.tenant_id, other, "other-secret").await;
    let other_claims = unverified_claims(&other_token);
    assert_eq!(other_claims["appid"], other);
    assert!(other_claims["oid"].is_string() && other_claims["oid"] != oid.as_str(), "{other_claims}");

    // Graph routes read the application from `appid`: the token acts as the application.
    let r = app.request_as(Method::GET, "/beta/communications/calls/unknown-call", Some(&token), None).await;
    r.assert_error(404, "itemNotFound");
    let adele = app.user("Adele Vance");
    let created =
        app.request_as(Method::POST, "/beta/communications/calls", Some(&token), Some(&p2p_body(&app, &adele))).await;
    assert_eq!(created.assert_status(201)["source"]["identity"]["application"]["id"], app.client_id.as_str());
}

#[tokio::test]
async fn the_token_endpoint_ignores_extra_fields_msal_sends() {
    let app = TestApp::spawn().await;
    let (status, body) = raw_token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_info", "1"),
            ("claims", r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    // The token is good on Graph routes: past authentication, an unknown call is a 404.
    let r = app.request_as(Method::GET, "/beta/communications/calls/unknown-call", Some(&token), None).await;
    r.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn a_wrong_secret_is_401_invalid_client_and_a_password_grant_is_400_in_oauth_shape() {
    let app = TestApp::spawn().await;
    let (status, body) = raw_token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", "not-the-secret"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client", "an OAuth error, not a Graph one: {body}");
    assert!(body["error_description"].is_string(), "{body}");
    let codes = body["error_codes"].as_array().expect("error_codes array");
    assert!(!codes.is_empty() && codes.iter().all(Value::is_number), "{body}");

    let (status, body) = raw_token_request(
        &app,
        &[
            ("grant_type", "password"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
            ("username", "adele@example.com"),
            ("password", "hunter2"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "unsupported_grant_type", "{body}");
    assert!(body["error_codes"].as_array().is_some_and(|c| !c.is_empty()), "{body}");
}

/// A token request to `tenant` as a client sends it: the form, and an `Authorization` header
/// when given. Returns the status and the OAuth body.
/// A form POSTed to `path` under the application's tenant; the answer must be JSON.
async fn token_request_to_path(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = app.http.post(format!("{}/{}/{path}", app.base, app.tenant_id)).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {status} {text}")))
}

async fn token_request_to(
    app: &TestApp,
    tenant: &str,
    authorization: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = app.http.post(format!("{}/{tenant}/oauth2/v2.0/token", app.base)).form(form);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.expect("a JSON body"))
}

/// `Authorization: Basic` of RFC 6749 §2.3.1 from the already form-urlencoded id and secret.
fn client_secret_basic(encoded_id: &str, encoded_secret: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{encoded_id}:{encoded_secret}")))
}

/// The AADSTS code of an OAuth error body, checked to open its description.
fn aadsts(body: &Value) -> i64 {
    let code = body["error_codes"][0].as_i64().unwrap_or_else(|| panic!("no error_codes: {body}"));
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.starts_with(&format!("AADSTS{code}: ")), "{body}");
    code
}

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

#[tokio::test]
async fn the_token_endpoint_takes_client_secret_basic_with_form_urlencoded_credentials_as_discovery_advertises() {
    let app = TestApp::spawn().await;
    let (config, _) = discover_keys(&app).await;
    let methods = config["token_endpoint_auth_methods_supported"].as_array().unwrap();
    assert!(methods.contains(&json!("client_secret_basic")), "{config}");

    // curl -u's way: the development secret is base64url, so encoding leaves it as it is.
    let form = [("grant_type", "client_credentials"), ("scope", GRAPH_DEFAULT)];
    let basic = client_secret_basic(&app.client_id, &app.client_secret);
    let (status, body) = token_request_to(&app, &app.tenant_id, Some(&basic), &form).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("access_token").to_owned();
    let r = app.request_as(Method::GET, "/beta/communications/calls/unknown-call", Some(&token), None).await;
    r.assert_error(404, "itemNotFound");

    // The same client id repeated in the body is no contradiction.
    let with_id = [("grant_type", "client_credentials"), ("client_id", &app.client_id), ("scope", GRAPH_DEFAULT)];
    let (status, body) = token_request_to(&app, &app.tenant_id, Some(&basic), &with_id).await;
    assert_eq!(status, 200, "{body}");

    // A secret with ':', '+', '@', '%' and a space reaches the directory decoded.
    let client_id = "5b0e8f7e-0000-4000-8000-0000000000b1";
    let seed = json!({"applications": [{
        "clientId": client_id, "tenantId": app.tenant_id, "displayName": "Basic bot",
        "clientSecrets": ["p@ss:w+rd %"], "permissions": ["Calls.Initiate.All"],
    }]});
    app.control(Method::POST, "/_switchboard/directory/import", Some(&seed)).await.assert_status(204);
    let basic = client_secret_basic(client_id, "p%40ss%3Aw%2Brd+%25");
    let (status, body) = token_request_to(&app, &app.tenant_id, Some(&basic), &form).await;
    assert_eq!(status, 200, "{body}");
    // Sent without the encoding, the '+' reads as a space and the secret is wrong.
    let raw = client_secret_basic(client_id, "p@ss:w+rd %");
    let (status, body) = token_request_to(&app, &app.tenant_id, Some(&raw), &form).await;
    assert_eq!((status, body["error"].as_str(), aadsts(&body)), (401, Some("invalid_client"), 7000215), "{body}");
}

#[tokio::test]
async fn client_secret_basic_with_a_body_naming_another_client_or_a_second_secret_is_400_invalid_request() {
    let app = TestApp::spawn().await;
    let basic = client_secret_basic(&app.client_id, &app.client_secret);
    let other_id = [
        ("grant_type", "client_credentials"),
        ("client_id", "00000000-0000-4000-8000-000000000000"),
        ("scope", GRAPH_DEFAULT),
    ];
    let second_secret =
        [("grant_type", "client_credentials"), ("client_secret", app.client_secret.as_str()), ("scope", GRAPH_DEFAULT)];
    for form in [&other_id[..], &second_secret[..]] {
        let (status, body) = token_request_to(&app, &app.tenant_id, Some(&basic), form).await;
        assert_eq!((status, body["error"].as_str(), aadsts(&body)), (400, Some("invalid_request"), 900144), "{body}");
        assert!(body.get("access_token").is_none(), "{body}");
    }
}

#[tokio::test]
async fn a_token_or_authorization_request_over_the_body_limit_is_an_oauth_error() {
    let app = TestApp::spawn().await;
    let padding = "x".repeat(switchboard_api::MAX_BODY_BYTES + 1);
    for path in ["oauth2/v2.0/token", "oauth2/v2.0/authorize"] {
        let (status, body) =
            token_request_to_path(&app, path, &[("client_id", &app.client_id), ("pad", &padding)]).await;
        assert_eq!((status, body["error"].as_str(), aadsts(&body)), (400, Some("invalid_request"), 900144), "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("The request body is too large."), "{body}");
    }
}

#[tokio::test]
async fn identity_routes_answer_headers_over_the_limit_in_the_oauth_shape() {
    let app = TestApp::spawn().await;
    let padding = "a".repeat(switchboard_api::MAX_HEADER_BYTES + 1);
    let token = format!("{}/{}/oauth2/v2.0/token", app.base, app.tenant_id);
    let discovery = format!("{}/{}/v2.0/.well-known/openid-configuration", app.base, app.tenant_id);
    for request in [app.http.post(&token).form(&[("client_id", &app.client_id)]), app.http.get(&discovery)] {
        let r = request.header("x-padding", &padding).send().await.unwrap();
        assert_eq!(r.status(), 431);
        let body: Value = r.json().await.unwrap();
        assert_eq!((body["error"].as_str(), aadsts(&body)), (Some("invalid_request"), 900144), "{body}");
    }
}

#[tokio::test]
async fn a_token_request_without_scope_is_400_invalid_request_naming_the_scope_parameter() {
    let app = TestApp::spawn().await;
    let (status, body) = raw_token_request(
        &app,
        &[("grant_type", "client_credentials"), ("client_id", &app.client_id), ("client_secret", &app.client_secret)],
    )
    .await;
    assert_eq!((status, body["error"].as_str(), aadsts(&body)), (400, Some("invalid_request"), 900144), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("The request body must contain the following parameter: 'scope'."), "{description}");
}

#[tokio::test]
async fn an_unknown_tenant_is_aadsts90002_at_the_token_endpoint_and_at_discovery_while_known_names_still_answer() {
    let app = TestApp::spawn().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app.client_id.as_str()),
        ("client_secret", app.client_secret.as_str()),
        ("scope", GRAPH_DEFAULT),
    ];
    for tenant in ["3f1c2b9a-7d4e-4b8a-9c0d-1e2f3a4b5c6d", "not-a-tenant"] {
        let (status, body) = token_request_to(&app, tenant, None, &form).await;
        assert_eq!((status, body["error"].as_str(), aadsts(&body)), (400, Some("invalid_request"), 90002), "{body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with(&format!("AADSTS90002: Tenant '{tenant}' not found.")), "{description}");

        let r = app.http.get(format!("{}/{tenant}/v2.0/.well-known/openid-configuration", app.base)).send().await;
        let r = r.unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!((body["error"].as_str(), aadsts(&body)), (Some("invalid_tenant"), 90002), "{body}");
    }

    // The development tenant by its id in capitals is the same tenant.
    let upper = app.tenant_id.to_ascii_uppercase();
    let (status, body) = token_request_to(&app, &upper, None, &form).await;
    assert_eq!(status, 200, "{body}");
    let r = app.http.get(format!("{}/{upper}/v2.0/.well-known/openid-configuration", app.base)).send().await;
    assert_eq!(r.unwrap().status(), 200);

    // `common` (where MSAL's instance discovery points) is discovered as before, and the client
    // credentials flow there is refused as a bad client, as before (docs/decisions.md).
    let r = app.http.get(format!("{}/common/v2.0/.well-known/openid-configuration", app.base)).send().await;
    assert_eq!(r.unwrap().status(), 200);
    let (status, body) = token_request_to(&app, "common", None, &form).await;
    assert_eq!((status, body["error"].as_str(), aadsts(&body)), (401, Some("invalid_client"), 7000215), "{body}");
}

/// A client-credentials form that authenticates with a JWT client assertion.
fn assertion_form<'a>(app: &'a TestApp, assertion: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", &app.client_id),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion),
        ("scope", GRAPH_DEFAULT),
    ]
}

#[tokio::test]
async fn a_client_assertion_is_refused_as_malformed_or_as_unverifiable_never_as_missing() {
    let app = TestApp::spawn().await;
    // Not a JWT: Entra's "JWT token is invalid or malformed".
    let (status, body) = raw_token_request(&app, &assertion_form(&app, "abc.def.ghi")).await;
    assert_eq!((status, body["error"].as_str(), aadsts(&body)), (400, Some("invalid_request"), 50027), "{body}");

    // A well-formed JWT: the directory registers no certificate, so its signature cannot verify.
    // {"alg":"RS256","typ":"JWT"} . {"aud":"x","iss":"app","sub":"app"} . "signature"
    let jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJ4IiwiaXNzIjoiYXBwIiwic3ViIjoiYXBwIn0.c2lnbmF0dXJl";
    let (status, body) = raw_token_request(&app, &assertion_form(&app, jwt)).await;
    assert_eq!((status, body["error"].as_str(), aadsts(&body)), (401, Some("invalid_client"), 700027), "{body}");
    // To an unknown tenant, the tenant is what is wrong.
    let (status, body) = token_request_to(&app, "not-a-tenant", None, &assertion_form(&app, jwt)).await;
    assert_eq!((status, aadsts(&body)), (400, 90002), "{body}");
}

#[tokio::test]
async fn graph_routes_without_a_valid_token_are_401_with_a_challenge() {
    let app = TestApp::spawn().await;
    for token in [None, Some("not-a-jwt")] {
        let r = app.request_as(Method::GET, "/beta/communications/calls/x", token, None).await;
        r.assert_error(401, "InvalidAuthenticationToken");
        assert!(r.headers.contains_key("www-authenticate"), "{token:?}");
    }
}

/// GET `url` (with `query`) or POST it `query` as a form, as a browser or a form_post would;
/// returns the status, the `Location` header if any, and the OAuth body.
async fn authorization_request(method: Method, url: &str, query: &[(&str, &str)]) -> (u16, Option<String>, Value) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let request = match method {
        Method::POST => http.post(url).form(query),
        _ => http.get(url).query(query),
    };
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    let body = r.json().await.unwrap_or_else(|e| panic!("{url}: not a JSON body ({e})"));
    (status, location, body)
}

#[tokio::test]
async fn the_advertised_authorization_endpoint_refuses_interactive_sign_in_in_the_oauth_shape_never_404() {
    let app = TestApp::spawn().await;
    let (config, _) = discover_keys(&app).await;
    let authorize = config["authorization_endpoint"].as_str().expect("authorization_endpoint").to_owned();
    assert_eq!(authorize, format!("{}/{}/oauth2/v2.0/authorize", app.base, app.tenant_id));

    // Entra's checks in its order: parameters, then the application, then where to send the
    // answer. No application registers a reply address (client credentials only), so a sign-in
    // of a known application is AADSTS500113, answered here, never redirected to the
    // redirect_uri it names.
    let sign_in = [
        ("client_id", app.client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", "https://bot.example/signed-in"),
        ("scope", "openid profile"),
        ("state", "12345"),
    ];
    for method in [Method::GET, Method::POST] {
        let (status, location, body) = authorization_request(method.clone(), &authorize, &sign_in).await;
        assert_eq!(
            (status, body["error"].as_str(), aadsts(&body)),
            (400, Some("invalid_request"), 500113),
            "{method}: {body}"
        );
        assert_eq!(location, None, "{method}: never redirected");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains("client credentials"), "{description}");
        assert!(description.contains(&format!("{}/{}/oauth2/v2.0/token", app.base, app.tenant_id)), "{description}");
    }
    let (status, _, body) = authorization_request(Method::GET, &authorize, &[]).await;
    assert_eq!((status, body["error"].as_str(), aadsts(&body)), (400, Some("invalid_request"), 900144), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("'client_id'"), "{body}");
    let stranger = [("client_id", "00000000-0000-4000-8000-00000000dead"), ("response_type", "code")];
    let (status, _, body) = authorization_request(Method::GET, &authorize, &stranger).await;
    assert_eq!((status, body["error"].as_str(), aadsts(&body)), (400, Some("unauthorized_client"), 700016), "{body}");
    let elsewhere = authorize.replace(&app.tenant_id, "3f1c2b9a-7d4e-4b8a-9c0d-1e2f3a4b5c6d");
    let (status, _, body) = authorization_request(Method::GET, &elsewhere, &sign_in).await;
    assert_eq!((status, aadsts(&body)), (400, 90002), "{body}");

    // The authorization_uri of a 401's challenge (version 1.0's path, under `common`) resolves
    // to the same endpoint: it finds the application of any tenant.
    let r = app.request_as(Method::GET, "/beta/communications/calls/x", None, None).await;
    let challenge = r.headers.get("www-authenticate").expect("a challenge").to_str().unwrap().to_owned();
    let uri = challenge
        .split("authorization_uri=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("authorization_uri");
    assert_eq!(uri, format!("{}/common/oauth2/authorize", app.base), "{challenge}");
    let (status, _, body) = authorization_request(Method::GET, uri, &[]).await;
    assert_eq!((status, aadsts(&body)), (400, 900144), "{body}");
    let (status, location, body) = authorization_request(Method::GET, uri, &sign_in).await;
    assert_eq!((status, location, aadsts(&body)), (400, None, 500113), "{body}");
}

#[tokio::test]
async fn notifications_carry_a_bearer_token_signed_by_the_published_keys_for_the_app() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let (call, got) = create_and_settle(&app, &p2p_body(&app, &adele)).await;
    assert!(!got.is_empty(), "{call}");
    let (_, jwks) = discover_keys(&app).await;
    for r in &got {
        let header = r.headers.get("authorization").expect("Authorization header").to_str().unwrap();
        let token = header.strip_prefix("Bearer ").expect("a Bearer token");
        let key = decoding_key_for(&jwks, token);
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[app.client_id.as_str()]);
        validation.set_issuer(&["https://api.botframework.com"]);
        let claims =
            jsonwebtoken::decode::<Value>(token, &key, &validation).expect("the callback token verifies").claims;
        assert_eq!(claims["tid"], app.tenant_id.as_str());
        assert_eq!(claims["aud"], app.client_id.as_str());
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Persistence
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_ring_timer_survives_a_restart_and_fails_the_invite_when_due() {
    let mut app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let diego = app.user("Diego Siciliani");
    let op = id_of(&invite_users(&app, &call, &[&diego], "survives").await);
    app.advance(0).await;
    assert!(app.hooks.take_for(&call).is_empty());

    // Keep the receiver the call's callbackUri points at; it outlives the server.
    let hooks = std::mem::replace(&mut app.hooks, Receiver::start().await);
    let (dir, _guard) = app.kill().await;
    let app = TestApp::spawn_with(SpawnOptions { data_dir: Some(dir), ..Default::default() }).await;

    assert_eq!(app.get_call(&call).await.assert_status(200)["state"], "established");
    assert_eq!(app.get_operation(&call, &op).await.assert_status(200)["status"], "Running");

    app.advance(60_000).await;
    let got = hooks.take_for(&call);
    assert_eq!(summary(&got), ["operation deleted failed"], "the ring timer fired after the restart");
    let result = &got[0].resource_data()["resultInfo"];
    assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(408), Some(10057)), "{result}");
    assert_eq!(app.get_operation(&call, &op).await.assert_status(200)["status"], "Failed");

    let log = app.control(Method::GET, &format!("/_switchboard/notifications?callId={call}"), None).await;
    let entries = log.assert_status(200)["value"].as_array().unwrap().clone();
    let entry = entries
        .iter()
        .find(|e| e["body"]["value"][0]["resourceUrl"].as_str().is_some_and(|u| u.ends_with(&op)))
        .expect("the operation notification is in the log");
    assert_eq!(entry["state"], "delivered", "{entry}");
}

#[tokio::test]
async fn a_restart_keeps_the_virtual_clock_so_ring_deadlines_stay_exact() {
    let mut app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    app.advance(50_000).await;
    let diego = app.user("Diego Siciliani");
    let op = id_of(&invite_users(&app, &call, &[&diego], "exact").await);
    app.advance(30_000).await;
    let before =
        app.control(Method::GET, "/_switchboard/clock", None).await.assert_status(200)["nowMs"].as_i64().unwrap();

    let hooks = std::mem::replace(&mut app.hooks, Receiver::start().await);
    let (dir, _guard) = app.kill().await;
    let app = TestApp::spawn_with(SpawnOptions { data_dir: Some(dir), ..Default::default() }).await;

    let after =
        app.control(Method::GET, "/_switchboard/clock", None).await.assert_status(200)["nowMs"].as_i64().unwrap();
    assert!(after >= before, "virtual time went back {} ms across the restart", before - after);
    app.advance(29_999).await;
    assert!(hooks.take_for(&call).is_empty(), "30 s of the 60 s ring remain after the restart");
    app.advance(1).await;
    assert_eq!(summary(&hooks.take_for(&call)), ["operation deleted failed"]);
    assert_eq!(app.get_operation(&call, &op).await.assert_status(200)["status"], "Failed");
}

// ---------------------------------------------------------------------------------------------
// 7. Control API
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_control_api_without_the_admin_token_is_401() {
    let app = TestApp::spawn().await;
    let graph_token = app.token().to_owned();
    for token in [None, Some("wrong-admin-token"), Some(graph_token.as_str())] {
        app.request_as(Method::GET, "/_switchboard/directory", token, None)
            .await
            .assert_error(401, "InvalidAuthenticationToken");
        app.request_as(Method::POST, "/_switchboard/clock/advance", token, Some(&json!({"ms": 1000})))
            .await
            .assert_error(401, "InvalidAuthenticationToken");
    }
    app.control(Method::GET, "/_switchboard/directory", None).await.assert_status(200);
}

#[tokio::test]
async fn the_virtual_clock_refuses_to_move_backwards_or_past_the_year_9999() {
    let app = TestApp::spawn().await;
    let before = app.control(Method::GET, "/_switchboard/clock", None).await.body["nowMs"].as_i64().unwrap();
    for body in
        [json!({"ms": -1}), json!({"ms": i64::MAX}), json!({"seconds": i64::MAX / 1000}), json!({"seconds": i64::MAX})]
    {
        app.control(Method::POST, "/_switchboard/clock/advance", Some(&body)).await.assert_error(400, "invalidRequest");
    }
    let now = app.control(Method::GET, "/_switchboard/clock", None).await.body;
    assert_eq!(now["nowMs"].as_i64(), Some(before), "{now}");

    // Up to the last millisecond Graph writes, and not one more.
    let last = 253_402_300_799_999 - before;
    let moved = app.control(Method::POST, "/_switchboard/clock/advance", Some(&json!({"ms": last}))).await;
    assert_eq!(moved.body["now"], "9999-12-31T23:59:59.999Z", "{}", moved.body);
    let past = app.control(Method::POST, "/_switchboard/clock/advance", Some(&json!({"ms": 1}))).await;
    past.assert_error(400, "invalidRequest");
}

// ---------------------------------------------------------------------------------------------
// Graph versions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_call_created_on_v1_shows_no_beta_only_property_in_responses_gets_or_notifications() {
    let app = TestApp::spawn().await;
    let alex = app.user("Alex Wilber");
    app.set_user_behaviour(&alex, json!({"kind": "answer", "afterMs": 0})).await;
    let body = call_body(&app, json!({"targets": [user_target(&alex)]}));
    let created = app.post("/v1.0/communications/calls", &body).await;
    let id = created.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    let notifications = app.hooks.take_for(&id);
    assert_eq!(notifications.len(), 2, "establishing, established");
    let got = app.get(&format!("/v1.0/communications/calls/{id}")).await;
    for (what, call) in [("response", &created.body), ("GET", &got.body)]
        .into_iter()
        .chain(notifications.iter().map(|n| ("notification", n.resource_data())))
    {
        for key in ["activeModalities", "routingPolicies", "ringingTimeoutInSeconds", "terminationReason"] {
            assert!(call.get(key).is_none(), "v1.0 {what} carries the beta-only {key}: {call}");
        }
        assert!(call.get("callChainId").is_some(), "{call}");
    }
    // The same call read through beta shows beta's shape.
    let beta = app.get_call(&id).await;
    assert_eq!(beta.assert_status(200)["activeModalities"], json!(["audio"]));
}

// ---------------------------------------------------------------------------------------------
// The TLS listener (for MSAL and azure-identity)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_tls_listener_describes_https_identity_endpoints_and_its_tokens_work_on_both_listeners() {
    let app = TestApp::spawn_with(SpawnOptions { tls: true, ..SpawnOptions::default() }).await;
    let tls = app.tls_base.clone().expect("the TLS URL");
    assert!(tls.starts_with("https://127.0.0.1:"), "{tls}");
    let ca = std::fs::read(app.data_dir.join("tls/ca.pem")).expect("the development CA is in the data directory");
    assert!(app.data_dir.join("tls/cert.pem").exists() && app.data_dir.join("tls/key.pem").exists());
    let https =
        reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap()).build().unwrap();
    let tenant = &app.tenant_id;

    // Discovery over TLS names https endpoints whose first segment is the tenant.
    let config: Value = https
        .get(format!("{tls}/{tenant}/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["token_endpoint"], format!("{tls}/{tenant}/oauth2/v2.0/token"));
    assert_eq!(config["issuer"], format!("{tls}/{tenant}/v2.0"));
    // The plain listener still describes itself.
    let path = format!("/{tenant}/v2.0/.well-known/openid-configuration");
    let plain = app.request_as(Method::GET, &path, None, None).await;
    assert_eq!(plain.body["token_endpoint"], format!("{}/{tenant}/oauth2/v2.0/token", app.base));

    // A token from the TLS token endpoint, as MSAL asks for one (extra fields included).
    let token: Value = https
        .post(format!("{tls}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_info", "1"),
            ("claims", r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tls_token = token["access_token"].as_str().expect("an access token").to_owned();
    // It works on the plain listener...
    let body = json!({"subject": "over http"});
    let meeting =
        app.request_as(Method::POST, "/beta/communications/onlineMeetings", Some(&tls_token), Some(&body)).await;
    meeting.assert_status(201);
    // ...and the plain listener's token works over TLS.
    let over_tls = https
        .post(format!("{tls}/beta/communications/onlineMeetings"))
        .bearer_auth(app.token())
        .json(&json!({"subject": "over TLS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(over_tls.status(), 201);

    // The certificate is kept: a restart on the same data directory serves the same one.
    let (data_dir, _keep) = app.kill().await;
    let again =
        TestApp::spawn_with(SpawnOptions { tls: true, data_dir: Some(data_dir), ..SpawnOptions::default() }).await;
    assert_eq!(std::fs::read(again.data_dir.join("tls/ca.pem")).unwrap(), ca);
    let health = https.get(format!("{}/healthz", again.tls_base.as_ref().unwrap())).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
