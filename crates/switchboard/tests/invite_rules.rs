//! The rules of `POST /communications/calls/{id}/participants/invite`, black box, against the
//! real binary with a virtual clock:
//!
//! - every row of DESIGN.md's "Synchronous errors" table (400, 401, 403, 404, 409, 413, 415),
//!   most with a control request that the same server accepts, so a refusal is known to come
//!   from the rule under test and not from something else in the request;
//! - every asynchronous failure of docs/codes.md, read from the operation's `deleted`
//!   notification (`status: "failed"`, `resultInfo` code, subcode and the message shape
//!   `addParticipants failed for participant <MRI>. Underlying reason: ... DiagCode: <code>#<sub>`)
//!   and from `GET .../operations/{id}`; several invitees report the earliest failure (ties: request
//!   order), and a failed invitee never appears in a roster notification;
//! - cancelling a ringing invitee with `DELETE .../participants/{id}` (487/10170); the failed
//!   invitee keeps its `participantId` in the operation; a call that hangs up while its invitee
//!   rings in a meeting that goes on hears its operation fail (487/10171) before it ends.
//!
//! An invite into a call the application has already hung up answers `409 conflict` (DESIGN's
//! table: "call not established or already ended"), while `GET` of that call answers 404, as
//! Graph does for requests on an ended call (docs/decisions.md).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Development seed phone numbers.
const FRONT_DESK: &str = "+14255550101";
const BUSY_LINE: &str = "+14255550102";

fn invite_path(call: &str) -> String {
    format!("/beta/communications/calls/{call}/participants/invite")
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn phone_identity(number: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.identitySet",
           "phone": {"@odata.type": "#microsoft.graph.identity", "id": number}})
}

fn application_identity(id: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.identitySet",
           "application": {"@odata.type": "#microsoft.graph.identity", "id": id, "displayName": "Another bot"}})
}

fn invitee(identity: Value) -> Value {
    json!({"@odata.type": "#microsoft.graph.invitationParticipantInfo", "identity": identity})
}

/// An invite body with raw `participants` entries.
fn body_of(participants: Vec<Value>) -> Value {
    json!({"participants": participants, "clientContext": "invite-rules"})
}

/// An escalation (`replacesCallId`) of `identity`.
fn escalation(identity: Value, replaces: &str) -> Value {
    body_of(vec![json!({
        "@odata.type": "#microsoft.graph.invitationParticipantInfo",
        "identity": identity,
        "replacesCallId": replaces,
    })])
}

/// A move (`participantId` + `replacesCallId`) of `identity`.
fn move_of(identity: Value, replaces: &str, participant: &str) -> Value {
    body_of(vec![json!({
        "@odata.type": "#microsoft.graph.invitationParticipantInfo",
        "identity": identity,
        "replacesCallId": replaces,
        "participantId": participant,
    })])
}

/// Asserts a Graph error with this status and code, naming the case that broke; returns the message.
fn expect_error(r: &Resp, status: u16, code: &str, case: &str) -> String {
    assert_eq!(r.status.as_u16(), status, "{case}: unexpected status, body: {}", r.body);
    assert_eq!(r.body["error"]["code"], code, "{case}: unexpected error code, body: {}", r.body);
    r.body["error"]["message"].as_str().unwrap().to_owned()
}

fn expect_invalid(r: &Resp, case: &str) -> String {
    expect_error(r, 400, "invalidRequest", case)
}

fn expect_unauthenticated(r: &Resp, case: &str) {
    expect_error(r, 401, "InvalidAuthenticationToken", case);
    let challenge = r
        .headers
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("{case}: a 401 without WWW-Authenticate"))
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Bearer"), "{case}: challenge {challenge}");
}

/// The operation id of an accepted invite.
fn operation_id(r: &Resp) -> String {
    let op = r.assert_status(200);
    assert_eq!(op["status"], "Running", "{op}");
    op["id"].as_str().expect("operation id").to_owned()
}

/// `participants[i].participantId` of an invite response.
fn participant_ids(r: &Resp) -> Vec<String> {
    r.body["participants"]
        .as_array()
        .expect("the operation lists its participants")
        .iter()
        .map(|p| p["participantId"].as_str().expect("each invitee has a participantId").to_owned())
        .collect()
}

/// The identity ids (user id, phone number, application id) of a roster notification.
fn roster_identities(n: &Received) -> Vec<String> {
    n.resource_data()
        .as_array()
        .expect("a roster is an array")
        .iter()
        .map(|p| {
            let identity = &p["info"]["identity"];
            ["user", "phone", "application", "applicationInstance", "guest"]
                .iter()
                .find_map(|k| identity[*k]["id"].as_str())
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
        .collect()
}

fn user_mri(id: &str) -> String {
    format!("8:orgid:{id}")
}

fn phone_mri(number: &str) -> String {
    format!("4:{number}")
}

/// Checks `addParticipants failed for participant <mri>. Underlying reason: <reason> DiagCode: <code>#<sub>`.
fn assert_failure_message(message: &str, mri: &str, code: i64, subcode: i64) -> String {
    let prefix = format!("addParticipants failed for participant {mri}. Underlying reason: ");
    let suffix = format!(" DiagCode: {code}#{subcode}");
    assert!(message.starts_with(&prefix), "message does not start with {prefix:?}: {message:?}");
    assert!(message.ends_with(&suffix), "message does not end with {suffix:?}: {message:?}");
    let reason = message[prefix.len()..message.len() - suffix.len()].trim();
    assert!(!reason.is_empty(), "no underlying reason: {message:?}");
    reason.to_owned()
}

/// Checks a `resultInfo` of a failed invitation; returns the underlying reason.
fn assert_result_info(info: &Value, mri: &str, code: i64, subcode: i64) -> String {
    assert_eq!(info["code"], code, "resultInfo {info}");
    assert_eq!(info["subcode"], subcode, "resultInfo {info}");
    assert_failure_message(info["message"].as_str().expect("resultInfo.message"), mri, code, subcode)
}

/// The operation's `deleted` notification among `got` (exactly one), checked as failed with
/// `code#subcode` naming `mri`; returns its `resultInfo`.
fn assert_operation_failed(got: &[Received], call: &str, op: &str, mri: &str, code: i64, subcode: i64) -> Value {
    let ops: Vec<&Received> = got.iter().filter(|n| n.kind() == "operation").collect();
    assert_eq!(ops.len(), 1, "one operation notification expected: {got:#?}");
    let n = ops[0];
    assert_eq!(n.change_type(), "deleted");
    assert_eq!(n.resource_url(), format!("/communications/calls/{call}/operations/{op}"));
    assert_eq!(n.notification()["resource"], format!("/app/calls/{call}/operations/{op}"));
    let data = n.resource_data();
    assert_eq!(data["@odata.type"], "#microsoft.graph.inviteParticipantsOperation", "{data}");
    assert_eq!(data["id"], op, "{data}");
    assert_eq!(data["status"], "failed", "{data}");
    assert_result_info(&data["resultInfo"], mri, code, subcode);
    data["resultInfo"].clone()
}

/// `GET` of the operation answers `Failed` with the same `resultInfo` as its notification.
async fn assert_operation_reads_failed(app: &TestApp, call: &str, op: &str, info: &Value) {
    let fetched = app.get_operation(call, op).await;
    let fetched = fetched.assert_status(200);
    assert_eq!(fetched["status"], "Failed", "{fetched}");
    assert_eq!(&fetched["resultInfo"], info, "GET and the notification disagree");
}

/// Invites `identity` alone into `call`; checks that nothing arrives before `after_ms`, then
/// that exactly one notification, the operation failed with `code#subcode` naming `mri`,
/// arrives at `after_ms`. Returns the underlying reason of the message.
async fn expect_single_failure(
    app: &TestApp,
    call: &str,
    identity: Value,
    after_ms: i64,
    mri: &str,
    code: i64,
    subcode: i64,
) -> String {
    let r = app.invite(call, &invite_body(&[identity], "single")).await;
    let op = operation_id(&r);
    if after_ms > 0 {
        app.advance(after_ms - 1).await;
        let early = app.hooks.take_for(call);
        assert!(early.is_empty(), "nothing is reported before {after_ms} ms: {early:#?}");
        app.advance(1).await;
    } else {
        app.advance(0).await;
    }
    let got = app.hooks.take_for(call);
    assert_eq!(got.len(), 1, "only the operation notification, no roster: {got:#?}");
    let info = assert_operation_failed(&got, call, &op, mri, code, subcode);
    assert_operation_reads_failed(app, call, &op, &info).await;
    info["message"].as_str().unwrap().to_owned()
}

/// The common parts of a create-call body, with `extra` merged in.
fn call_body(app: &TestApp, extra: Value) -> Value {
    let mut body = json!({
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": app.callback,
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        "tenantId": app.tenant_id,
    });
    for (k, v) in extra.as_object().expect("extra is an object") {
        body[k] = v.clone();
    }
    body
}

/// The body that joins `meeting` (organizer: the directory's Adele Vance), with `extra` merged in.
fn meeting_join_body(app: &TestApp, meeting: &Value, extra: Value) -> Value {
    let mut body = call_body(
        app,
        json!({
            "chatInfo": {"@odata.type": "#microsoft.graph.chatInfo",
                         "threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                            "organizer": {"@odata.type": "#microsoft.graph.identitySet",
                                          "user": {"id": app.user("Adele Vance")}}},
        }),
    );
    for (k, v) in extra.as_object().expect("extra is an object") {
        body[k] = v.clone();
    }
    body
}

/// Creates a call with `token`, lets due work run, checks it is `established` and drops its
/// notifications so far; returns its id.
async fn create_established(app: &TestApp, token: &str, body: &Value) -> String {
    let r = app.request_as(Method::POST, "/beta/communications/calls", Some(token), Some(body)).await;
    let id = r.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    let got = app.request_as(Method::GET, &format!("/beta/communications/calls/{id}"), Some(token), None).await;
    assert_eq!(got.assert_status(200)["state"], "established", "the call is established after advance(0)");
    app.hooks.take_for(&id);
    id
}

/// Joins a new meeting of the application; returns the call id.
async fn meeting_call(app: &TestApp) -> String {
    app.join_new_meeting(json!(null)).await.0
}

/// An ad-hoc group call: two or more targets and no chatInfo, established.
async fn ad_hoc_group_call(app: &TestApp, users: &[&str]) -> String {
    let targets: Vec<Value> = users.iter().map(|u| invitee(user_identity(u))).collect();
    let body = call_body(app, json!({"targets": targets}));
    let call = create_established(app, app.token(), &body).await;
    let got = app.get_call(&call).await;
    assert_eq!(got.assert_status(200)["chatInfo"], Value::Null, "an ad-hoc group call has no chat");
    call
}

/// A peer-to-peer call to `user` (who must answer at once) with `extra` in the body, established.
async fn p2p_call(app: &TestApp, user: &str, extra: Value) -> String {
    let mut body = call_body(app, json!({"targets": [invitee(user_identity(user))]}));
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    create_established(app, app.token(), &body).await
}

/// A peer-to-peer call to `user` (who must answer at once) created with `token`, established.
async fn p2p_call_as(app: &TestApp, token: &str, user: &str) -> String {
    let body = call_body(app, json!({"targets": [invitee(user_identity(user))]}));
    create_established(app, token, &body).await
}

// ---------------------------------------------------------------------------------------------
// A seed with three applications of one tenant: A (every permission, an application instance
// with a number), B (every permission) and C (only Calls.JoinGroupCall.All).

const TENANT: &str = "6f0e2d1c-3b4a-4c5d-8e7f-901a2b3c4d5e";
const APP_A: &str = "a0000000-0000-4000-8000-00000000000a";
const APP_B: &str = "b0000000-0000-4000-8000-00000000000b";
const APP_C: &str = "c0000000-0000-4000-8000-00000000000c";
const SECRET_A: &str = "secret-of-application-a";
const SECRET_B: &str = "secret-of-application-b";
const SECRET_C: &str = "secret-of-application-c";
const ADMIN: &str = "invite-rules-admin-token";
const SEED_ADELE: &str = "10000000-0000-4000-8000-000000000001";
const SEED_ALEX: &str = "10000000-0000-4000-8000-000000000002";
const SEED_DIEGO: &str = "10000000-0000-4000-8000-000000000005";

struct ThreeApps {
    app: TestApp,
    a: String,
    b: String,
    c: String,
}

async fn spawn_three_apps() -> ThreeApps {
    let all = r#"["Calls.Initiate.All", "Calls.InitiateGroupCall.All", "Calls.JoinGroupCall.All",
                  "Calls.JoinGroupCallAsGuest.All", "Calls.AccessMedia.All", "OnlineMeetings.ReadWrite.All"]"#;
    let config = format!(
        r#"
adminToken = "{ADMIN}"

[[tenants]]
id = "{TENANT}"
displayName = "Invite rules"

[[applications]]
clientId = "{APP_A}"
tenantId = "{TENANT}"
displayName = "Bot A"
clientSecrets = ["{SECRET_A}"]
permissions = {all}

[[applications]]
clientId = "{APP_B}"
tenantId = "{TENANT}"
displayName = "Bot B"
clientSecrets = ["{SECRET_B}"]
permissions = {all}

[[applications]]
clientId = "{APP_C}"
tenantId = "{TENANT}"
displayName = "Bot C"
clientSecrets = ["{SECRET_C}"]
permissions = ["Calls.JoinGroupCall.All"]

[[applicationInstances]]
id = "a1000000-0000-4000-8000-00000000000a"
appId = "{APP_A}"
tenantId = "{TENANT}"
displayName = "Bot A line"
phoneNumber = "+14255550100"

[[users]]
id = "{SEED_ADELE}"
tenantId = "{TENANT}"
displayName = "Adele Vance"
behaviour = {{ kind = "answer", afterMs = 0 }}

[[users]]
id = "{SEED_ALEX}"
tenantId = "{TENANT}"
displayName = "Alex Wilber"
behaviour = {{ kind = "answer", afterMs = 0 }}

[[users]]
id = "{SEED_DIEGO}"
tenantId = "{TENANT}"
displayName = "Diego Siciliani"
behaviour = {{ kind = "noAnswer" }}
"#
    );
    let mut app = TestApp::spawn_with(SpawnOptions { config: Some(config), ..SpawnOptions::default() }).await;
    app.admin_token = ADMIN.to_owned();
    app.tenant_id = TENANT.to_owned();
    app.client_id = APP_A.to_owned();
    app.client_secret = SECRET_A.to_owned();
    app.credentials = json!({
        "tenantId": TENANT,
        "users": [
            {"id": SEED_ADELE, "displayName": "Adele Vance"},
            {"id": SEED_ALEX, "displayName": "Alex Wilber"},
            {"id": SEED_DIEGO, "displayName": "Diego Siciliani"},
        ],
    });
    let a = app.fetch_token(TENANT, APP_A, SECRET_A).await;
    let b = app.fetch_token(TENANT, APP_B, SECRET_B).await;
    let c = app.fetch_token(TENANT, APP_C, SECRET_C).await;
    app.set_token(a.clone());
    ThreeApps { app, a, b, c }
}

// =============================================================================================
// 400 invalidRequest

#[tokio::test]
async fn malformed_json_is_refused_as_an_invalid_request() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let adele = app.user("Adele Vance");
    let path = invite_path(&call);
    let valid = invite_body(&[user_identity(&adele)], "ctx").to_string();
    let cases = [
        ("an empty body", String::new()),
        ("an unterminated object", "{".to_owned()),
        ("a truncated body", valid[..valid.len() - 3].to_owned()),
        ("form data", format!("participants={adele}")),
        ("single quotes", "{'participants': []}".to_owned()),
        ("a trailing comma", format!(r#"{{"participants": [{{"identity": {{"user": {{"id": "{adele}"}}}}}},]}}"#)),
        ("a JSON array", "[]".to_owned()),
        ("participants as a string", format!(r#"{{"participants": "{adele}"}}"#)),
        (
            "clientContext as a number",
            format!(r#"{{"participants": [{{"identity": {{"user": {{"id": "{adele}"}}}}}}], "clientContext": 5}}"#),
        ),
    ];
    for (case, body) in cases {
        let r = app.post_raw(&path, "application/json", body).await;
        expect_invalid(&r, case);
    }
    app.advance(60_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "a refused invite rings no one");
    // Control: the same client with a well-formed body is accepted.
    operation_id(&app.post_raw(&path, "application/json", valid).await);
}

#[tokio::test]
async fn a_body_with_a_duplicate_key_is_refused_as_an_invalid_request() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let path = invite_path(&call);
    let cases = [
        (
            "participants twice",
            format!(
                r#"{{"participants": [{{"identity": {{"user": {{"id": "{adele}"}}}}}}],
                    "participants": [{{"identity": {{"user": {{"id": "{alex}"}}}}}}]}}"#
            ),
        ),
        (
            "clientContext twice",
            format!(
                r#"{{"participants": [{{"identity": {{"user": {{"id": "{adele}"}}}}}}],
                    "clientContext": "a", "clientContext": "b"}}"#
            ),
        ),
        (
            "identity.user twice",
            format!(
                r#"{{"participants": [{{"identity": {{"user": {{"id": "{adele}"}}, "user": {{"id": "{alex}"}}}}}}]}}"#
            ),
        ),
        (
            "identity.user.id twice",
            format!(r#"{{"participants": [{{"identity": {{"user": {{"id": "{adele}", "id": "{alex}"}}}}}}]}}"#),
        ),
        (
            "identity twice in one participant",
            format!(
                r#"{{"participants": [{{"identity": {{"user": {{"id": "{adele}"}}}},
                                       "identity": {{"user": {{"id": "{alex}"}}}}}}]}}"#
            ),
        ),
    ];
    for (case, body) in cases {
        expect_invalid(&app.post_raw(&path, "application/json", body).await, case);
    }
    app.advance(60_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "a refused invite rings no one");
}

#[tokio::test]
async fn a_duplicate_key_among_members_the_invite_ignores_is_refused_as_well() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let adele = app.user("Adele Vance");
    let body = format!(
        r#"{{"participants": [{{"identity": {{"user": {{"id": "{adele}"}}}}}}],
            "note": "first", "note": "second"}}"#
    );
    let r = app.post_raw(&invite_path(&call), "application/json", body).await;
    expect_invalid(&r, "a duplicate top-level key");
}

#[tokio::test]
async fn an_invite_without_participants_or_with_an_empty_list_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let cases = [
        ("no participants", json!({})),
        ("only a clientContext", json!({"clientContext": "nobody"})),
        ("participants null", json!({"participants": null, "clientContext": "x"})),
        ("empty participants", json!({"participants": [], "clientContext": "x"})),
    ];
    for (case, body) in cases {
        expect_invalid(&app.invite(&call, &body).await, case);
    }
}

#[tokio::test]
async fn an_identity_naming_no_kind_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let adele = app.user("Adele Vance");
    let cases = [
        ("an empty identity set", vec![invitee(json!({}))]),
        ("an identity set with only its type", vec![invitee(json!({"@odata.type": "#microsoft.graph.identitySet"}))]),
        ("every kind null", vec![invitee(json!({"user": null, "phone": null, "application": null}))]),
        ("no identity at all", vec![json!({"@odata.type": "#microsoft.graph.invitationParticipantInfo"})]),
        ("identity null", vec![json!({"identity": null})]),
        ("the second invitee without a kind", vec![invitee(user_identity(&adele)), invitee(json!({}))]),
    ];
    for (case, participants) in cases {
        expect_invalid(&app.invite(&call, &body_of(participants)).await, case);
    }
    operation_id(&app.invite(&call, &invite_body(&[user_identity(&adele)], "control")).await);
}

#[tokio::test]
async fn an_identity_naming_two_kinds_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let cases = [
        ("user and phone", vec![invitee(json!({"user": {"id": adele}, "phone": {"id": FRONT_DESK}}))]),
        ("user and application", vec![invitee(json!({"user": {"id": adele}, "application": {"id": new_id()}}))]),
        ("phone and guest", vec![invitee(json!({"phone": {"id": FRONT_DESK}, "guest": {"id": new_id()}}))]),
        (
            "the second invitee with two kinds",
            vec![invitee(user_identity(&alex)), invitee(json!({"user": {"id": adele}, "phone": {"id": FRONT_DESK}}))],
        ),
    ];
    for (case, participants) in cases {
        expect_invalid(&app.invite(&call, &body_of(participants)).await, case);
    }
    operation_id(&app.invite(&call, &invite_body(&[user_identity(&adele)], "control")).await);
}

#[tokio::test]
async fn a_phone_id_not_in_e164_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let bad = [
        "14255550101",
        "+1 425 555 0101",
        "+1-425-555-0101",
        "+1 (425) 555-0101",
        "0014255550101",
        "+014255550101",
        "+1425555010199999",
        "+1425abc0101",
        "+",
        "tel:+14255550101",
        "+14255550101;ext=12",
    ];
    for number in bad {
        expect_invalid(&app.invite(&call, &invite_body(&[phone_identity(number)], "e164")).await, number);
    }
    app.advance(60_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "a refused invite rings no one");
    // Control: the same number written in E.164 is accepted.
    operation_id(&app.invite(&call, &invite_body(&[phone_identity(FRONT_DESK)], "e164")).await);
}

#[tokio::test]
async fn a_client_context_of_256_characters_is_accepted_and_257_are_refused() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let (diego, alex) = (app.user("Diego Siciliani"), app.user("Alex Wilber"));
    let at_limit = "é".repeat(256);
    assert_eq!(at_limit.len(), 512, "two bytes a character: the limit counts characters");
    let r = app.invite(&call, &invite_body(&[user_identity(&diego)], &at_limit)).await;
    let op = operation_id(&r);
    assert_eq!(r.body["clientContext"], at_limit.as_str(), "the context is echoed unchanged");
    let fetched = app.get_operation(&call, &op).await;
    assert_eq!(fetched.assert_status(200)["clientContext"], at_limit.as_str());

    let over = "é".repeat(257);
    expect_invalid(&app.invite(&call, &invite_body(&[user_identity(&alex)], &over)).await, "257 x 'é'");
    let over_ascii = "a".repeat(257);
    expect_invalid(&app.invite(&call, &invite_body(&[user_identity(&alex)], &over_ascii)).await, "257 x 'a'");
}

#[tokio::test]
async fn six_invitees_are_an_invalid_request_and_five_are_accepted() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let users: Vec<Value> = ["Adele Vance", "Alex Wilber", "Megan Bowen", "Lynne Robbins", "Diego Siciliani"]
        .iter()
        .map(|n| user_identity(&app.user(n)))
        .collect();
    let mut six = users.clone();
    six.push(phone_identity(FRONT_DESK));
    expect_invalid(&app.invite(&call, &invite_body(&six, "six")).await, "six invitees");
    let r = app.invite(&call, &invite_body(&users, "five")).await;
    operation_id(&r);
    assert_eq!(participant_ids(&r).len(), 5);
}

#[tokio::test]
async fn duplicate_identities_in_one_request_are_an_invalid_request_whatever_their_case() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let cases = [
        ("the same user twice", vec![user_identity(&adele), user_identity(&adele)]),
        ("the same user in another case", vec![user_identity(&adele), user_identity(&adele.to_ascii_uppercase())]),
        ("a repeat that is not adjacent", vec![user_identity(&alex), user_identity(&adele), user_identity(&alex)]),
        ("the same phone twice", vec![phone_identity(FRONT_DESK), phone_identity(FRONT_DESK)]),
    ];
    for (case, identities) in cases {
        expect_invalid(&app.invite(&call, &invite_body(&identities, "dup")).await, case);
    }
    // Control: nothing of the refused requests is left ringing.
    let r = app
        .invite(&call, &invite_body(&[user_identity(&adele), user_identity(&alex), phone_identity(FRONT_DESK)], "ok"))
        .await;
    operation_id(&r);
}

#[tokio::test]
async fn several_invitees_on_a_peer_to_peer_call_are_an_invalid_request() {
    let app = TestApp::spawn().await;
    let (adele, alex, megan, lynne) =
        (app.user("Adele Vance"), app.user("Alex Wilber"), app.user("Megan Bowen"), app.user("Lynne Robbins"));
    let call = app.established_p2p(&adele).await;
    let two = invite_body(&[user_identity(&alex), user_identity(&megan)], "two");
    expect_invalid(&app.invite(&call, &two).await, "two invitees on a P2P call");
    // A single invite works, and turns the call into a group call without chatInfo, for good:
    // several invitees stay refused.
    operation_id(&app.invite(&call, &invite_body(&[user_identity(&alex)], "one")).await);
    let two = invite_body(&[user_identity(&megan), user_identity(&lynne)], "two");
    expect_invalid(&app.invite(&call, &two).await, "two invitees after the call became a group call");
}

#[tokio::test]
async fn several_invitees_on_an_ad_hoc_group_call_without_chat_info_are_an_invalid_request() {
    let app = TestApp::spawn().await;
    let (adele, alex, megan, lynne) =
        (app.user("Adele Vance"), app.user("Alex Wilber"), app.user("Megan Bowen"), app.user("Lynne Robbins"));
    let call = ad_hoc_group_call(&app, &[&adele, &alex]).await;
    let two = invite_body(&[user_identity(&megan), user_identity(&lynne)], "two");
    expect_invalid(&app.invite(&call, &two).await, "two invitees on an ad-hoc group call");
    // Control: a single invite into the same call works.
    operation_id(&app.invite(&call, &invite_body(&[user_identity(&megan)], "one")).await);
}

#[tokio::test]
async fn an_application_invitee_into_a_meeting_or_a_group_call_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let meeting = meeting_call(&app).await;
    let other_bot = new_id();
    expect_invalid(
        &app.invite(&meeting, &invite_body(&[application_identity(&other_bot)], "bot")).await,
        "another bot",
    );
    expect_invalid(
        &app.invite(&meeting, &invite_body(&[application_identity(&app.client_id)], "bot")).await,
        "the application itself",
    );
    expect_invalid(
        &app.invite(&meeting, &invite_body(&[user_identity(&alex), application_identity(&other_bot)], "bot")).await,
        "a bot beside a user",
    );
    let group = ad_hoc_group_call(&app, &[&adele, &alex]).await;
    expect_invalid(
        &app.invite(&group, &invite_body(&[application_identity(&other_bot)], "bot")).await,
        "a bot into a group call",
    );
    // A resource account (application instance) is a bot too, the development one included.
    let instance = app.credentials["applicationInstance"]["id"].as_str().unwrap().to_owned();
    for id in [instance, new_id()] {
        let identity = json!({"applicationInstance": {"id": id}});
        expect_invalid(
            &app.invite(&meeting, &invite_body(std::slice::from_ref(&identity), "bot")).await,
            "an instance",
        );
        expect_invalid(&app.invite(&group, &invite_body(&[identity], "bot")).await, "an instance, group call");
    }
    app.advance(60_000).await;
    assert!(app.hooks.take_for(&meeting).is_empty(), "a refused invite changes nothing");
}

#[tokio::test]
async fn a_replaces_call_id_naming_no_live_call_of_the_application_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let call = meeting_call(&app).await;
    expect_invalid(&app.invite(&call, &escalation(user_identity(&adele), &new_id())).await, "an unknown call");
    expect_invalid(&app.invite(&call, &escalation(user_identity(&adele), &call)).await, "the invoking call itself");
    let ended = app.established_p2p(&alex).await;
    app.delete_call(&ended).await.assert_status(204);
    expect_invalid(&app.invite(&call, &escalation(user_identity(&alex), &ended)).await, "a call already hung up");
    app.advance(60_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "a refused escalation changes nothing");
}

#[tokio::test]
async fn a_replaces_call_id_naming_another_applications_call_answers_like_an_unknown_one() {
    let ThreeApps { mut app, a, b, .. } = spawn_three_apps().await;
    app.set_token(b.clone());
    let foreign = app.established_p2p(SEED_ALEX).await;
    app.set_token(a.clone());
    let call = meeting_call(&app).await;
    let unknown = new_id();

    let refused_foreign =
        expect_invalid(&app.invite(&call, &escalation(user_identity(SEED_ALEX), &foreign)).await, "foreign");
    let refused_unknown =
        expect_invalid(&app.invite(&call, &escalation(user_identity(SEED_ALEX), &unknown)).await, "unknown");
    assert_eq!(
        refused_foreign.replace(&foreign, "{id}"),
        refused_unknown.replace(&unknown, "{id}"),
        "a foreign call must not be told apart from an unknown one"
    );
    let some_participant = new_id();
    let moved_foreign = expect_invalid(
        &app.invite(&call, &move_of(user_identity(SEED_ALEX), &foreign, &some_participant)).await,
        "move",
    );
    let moved_unknown = expect_invalid(
        &app.invite(&call, &move_of(user_identity(SEED_ALEX), &unknown, &some_participant)).await,
        "move",
    );
    assert_eq!(moved_foreign.replace(&foreign, "{id}"), moved_unknown.replace(&unknown, "{id}"));

    // Control: the same escalation from a call of application A itself is accepted.
    let own = app.established_p2p(SEED_ADELE).await;
    operation_id(&app.invite(&call, &escalation(user_identity(SEED_ADELE), &own)).await);
}

#[tokio::test]
async fn an_escalation_whose_identity_is_not_the_replaced_peer_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let p2p = app.established_p2p(&adele).await;
    let call = meeting_call(&app).await;
    expect_invalid(&app.invite(&call, &escalation(user_identity(&alex), &p2p)).await, "another user");
    expect_invalid(&app.invite(&call, &escalation(phone_identity(FRONT_DESK), &p2p)).await, "a phone");
    let got = app.get_call(&p2p).await;
    assert_eq!(got.assert_status(200)["state"], "established", "a refused escalation leaves the P2P call alone");
    // Control: the peer itself is accepted.
    operation_id(&app.invite(&call, &escalation(user_identity(&adele), &p2p)).await);
}

#[tokio::test]
async fn a_participant_id_without_replaces_call_id_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    let call = meeting_call(&app).await;
    let mine = app.get_call(&call).await.assert_status(200)["myParticipantId"].as_str().unwrap().to_owned();
    for (case, participant) in [("an unknown participant", new_id()), ("the bot's own participant", mine)] {
        let body = body_of(vec![json!({
            "@odata.type": "#microsoft.graph.invitationParticipantInfo",
            "identity": user_identity(&adele),
            "participantId": participant,
        })]);
        expect_invalid(&app.invite(&call, &body).await, case);
    }
}

#[tokio::test]
async fn a_move_of_a_participant_not_in_the_source_meeting_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    let (adele, alex, diego) = (app.user("Adele Vance"), app.user("Alex Wilber"), app.user("Diego Siciliani"));
    app.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 0})).await;
    app.set_user_behaviour(&alex, json!({"kind": "answer", "afterMs": 0})).await;
    let source = meeting_call(&app).await;
    let target = meeting_call(&app).await;
    let in_source = participant_ids(&app.invite(&source, &invite_body(&[user_identity(&adele)], "s")).await).remove(0);
    let ringing_in_source =
        participant_ids(&app.invite(&source, &invite_body(&[user_identity(&diego)], "s")).await).remove(0);
    let in_target = participant_ids(&app.invite(&target, &invite_body(&[user_identity(&alex)], "t")).await).remove(0);
    app.advance(0).await;
    app.hooks.take();

    let cases = [
        ("an unknown participant id", user_identity(&adele), new_id()),
        ("a participant of the target meeting", user_identity(&alex), in_target.clone()),
        ("a participant of the target meeting, with another identity", user_identity(&adele), in_target),
        ("an invitee still ringing in the source", user_identity(&diego), ringing_in_source),
        ("the identity of someone else", user_identity(&alex), in_source.clone()),
    ];
    for (case, identity, participant) in cases {
        expect_invalid(&app.invite(&target, &move_of(identity, &source, &participant)).await, case);
    }
    // Control: the participant that is in the source meeting, with its identity, moves.
    operation_id(&app.invite(&target, &move_of(user_identity(&adele), &source, &in_source)).await);
}

// =============================================================================================
// 401 InvalidAuthenticationToken

#[tokio::test]
async fn an_invite_without_a_token_is_unauthenticated_with_a_challenge() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let body = invite_body(&[user_identity(&app.user("Adele Vance"))], "no token");
    let r = app.request_as(Method::POST, &invite_path(&call), None, Some(&body)).await;
    expect_unauthenticated(&r, "no Authorization header");
    app.advance(60_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "an unauthenticated invite rings no one");
}

#[tokio::test]
async fn an_invite_with_a_garbled_token_is_unauthenticated_with_a_challenge() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let body = invite_body(&[user_identity(&app.user("Adele Vance"))], "garbled");
    let real = app.token().to_owned();
    let parts: Vec<&str> = real.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT");
    let cases = [
        ("not a JWT", "not-a-token".to_owned()),
        ("three garbage segments", "abc.def.ghi".to_owned()),
        ("a truncated token", real[..real.len() / 2].to_owned()),
        ("a garbled header", format!("e30x.{}.{}", parts[1], parts[2])),
        ("no signature", format!("{}.{}.", parts[0], parts[1])),
    ];
    for (case, token) in cases {
        let r = app.request_as(Method::POST, &invite_path(&call), Some(&token), Some(&body)).await;
        expect_unauthenticated(&r, case);
    }
}

#[tokio::test]
async fn an_invite_with_a_broken_token_signature_is_unauthenticated_with_a_challenge() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let body = invite_body(&[user_identity(&app.user("Adele Vance"))], "broken signature");
    let real = app.token().to_owned();
    let signature_at = real.rfind('.').unwrap() + 1;
    // Flip one character in the middle of the signature (not the last, whose low bits are padding).
    let i = signature_at + (real.len() - signature_at) / 2;
    let flipped = if &real[i..=i] == "A" { "B" } else { "A" };
    let broken = format!("{}{flipped}{}", &real[..i], &real[i + 1..]);
    assert_ne!(broken, real);
    let r = app.request_as(Method::POST, &invite_path(&call), Some(&broken), Some(&body)).await;
    expect_unauthenticated(&r, "a flipped signature character");
    // Control: the unbroken token is accepted.
    operation_id(&app.request_as(Method::POST, &invite_path(&call), Some(&real), Some(&body)).await);
}

// =============================================================================================
// 403 accessDenied

#[tokio::test]
async fn an_application_without_calls_initiate_group_call_is_denied_the_invite() {
    let ThreeApps { app, a, c, .. } = spawn_three_apps().await;
    let meeting = app
        .request_as(Method::POST, "/beta/communications/onlineMeetings", Some(&a), Some(&json!({"subject": "403"})))
        .await
        .assert_status(201)
        .clone();
    // Application C may join the meeting (Calls.JoinGroupCall.All) ...
    let call = create_established(&app, &c, &meeting_join_body(&app, &meeting, json!({}))).await;
    // ... but not invite into it (Calls.InitiateGroupCall.All).
    let body = invite_body(&[user_identity(SEED_ALEX)], "403");
    let r = app.request_as(Method::POST, &invite_path(&call), Some(&c), Some(&body)).await;
    expect_error(&r, 403, "accessDenied", "C lacks Calls.InitiateGroupCall.All");
    app.advance(60_000).await;
    assert!(app.hooks.take_for(&call).iter().all(|n| n.kind() != "operation"), "no operation was started");
}

// =============================================================================================
// 404 itemNotFound

#[tokio::test]
async fn an_invite_into_an_unknown_call_is_not_found() {
    let app = TestApp::spawn().await;
    let body = invite_body(&[user_identity(&app.user("Adele Vance"))], "404");
    let unknown = new_id();
    expect_error(&app.invite(&unknown, &body).await, 404, "itemNotFound", "an unknown call");
    let r = app.post(&format!("/beta/communications/calls/{unknown}/participants/microsoft.graph.invite"), &body).await;
    expect_error(&r, 404, "itemNotFound", "an unknown call, qualified action name");
}

#[tokio::test]
async fn an_invite_into_another_applications_call_is_not_found() {
    let ThreeApps { app, a, b, .. } = spawn_three_apps().await;
    let foreign = p2p_call_as(&app, &b, SEED_ALEX).await;
    let body = invite_body(&[user_identity(SEED_DIEGO)], "404");
    let unknown = new_id();
    let m_foreign = expect_error(&app.invite(&foreign, &body).await, 404, "itemNotFound", "B's call, asked by A");
    let m_unknown = expect_error(&app.invite(&unknown, &body).await, 404, "itemNotFound", "an unknown call");
    assert_eq!(m_foreign.replace(&foreign, "{id}"), m_unknown.replace(&unknown, "{id}"), "foreign reads as unknown");

    // B's own operation on that call is not A's to read either.
    let r = app.request_as(Method::POST, &invite_path(&foreign), Some(&b), Some(&body)).await;
    let op = operation_id(&r);
    let path = format!("/beta/communications/calls/{foreign}/operations/{op}");
    app.request_as(Method::GET, &path, Some(&b), None).await.assert_status(200);
    expect_error(&app.request_as(Method::GET, &path, Some(&a), None).await, 404, "itemNotFound", "B's operation");
}

#[tokio::test]
async fn an_unknown_operation_id_is_not_found() {
    let app = TestApp::spawn().await;
    let first = meeting_call(&app).await;
    let second = meeting_call(&app).await;
    expect_error(&app.get_operation(&first, &new_id()).await, 404, "itemNotFound", "an unknown operation");
    let op =
        operation_id(&app.invite(&first, &invite_body(&[user_identity(&app.user("Diego Siciliani"))], "op")).await);
    app.get_operation(&first, &op).await.assert_status(200);
    expect_error(&app.get_operation(&second, &op).await, 404, "itemNotFound", "an operation of another call");
}

// =============================================================================================
// 409 conflict (and the ended call, which is 404)

#[tokio::test]
async fn an_invite_into_a_call_still_establishing_is_a_conflict() {
    let app = TestApp::spawn().await;
    let (alex, megan) = (app.user("Alex Wilber"), app.user("Megan Bowen"));
    // Alex answers after 3 s: the call stays `establishing` until then.
    let created = app.create_call(&call_body(&app, json!({"targets": [invitee(user_identity(&alex))]}))).await;
    let call = created.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    app.advance(2_000).await;
    assert_eq!(app.get_call(&call).await.assert_status(200)["state"], "establishing");
    let r = app.invite(&call, &invite_body(&[user_identity(&megan)], "early")).await;
    expect_error(&r, 409, "conflict", "an establishing call");
    // Control: once Alex answers, the same invite is accepted.
    app.advance(1_000).await;
    assert_eq!(app.get_call(&call).await.assert_status(200)["state"], "established");
    operation_id(&app.invite(&call, &invite_body(&[user_identity(&megan)], "later")).await);
}

#[tokio::test]
async fn an_invite_into_an_ended_call_is_a_conflict_while_get_is_not_found() {
    let app = TestApp::spawn().await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let call = app.established_p2p(&adele).await;
    app.delete_call(&call).await.assert_status(204);
    app.advance(0).await;
    expect_error(&app.get_call(&call).await, 404, "itemNotFound", "GET of an ended call");
    let r = app.invite(&call, &invite_body(&[user_identity(&alex)], "too late")).await;
    expect_error(&r, 409, "conflict", "an invite into an ended call");
    let meeting = meeting_call(&app).await;
    app.delete_call(&meeting).await.assert_status(204);
    let r = app.invite(&meeting, &invite_body(&[user_identity(&alex)], "too late")).await;
    expect_error(&r, 409, "conflict", "an invite into a meeting leg already hung up");
}

#[tokio::test]
async fn inviting_an_identity_already_in_the_roster_is_a_conflict() {
    let app = TestApp::spawn().await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    app.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 0})).await;
    let call = meeting_call(&app).await;
    let op = operation_id(&app.invite(&call, &invite_body(&[user_identity(&adele)], "first")).await);
    app.advance(0).await;
    assert_eq!(app.get_operation(&call, &op).await.assert_status(200)["status"], "Completed");
    expect_error(&app.invite(&call, &invite_body(&[user_identity(&adele)], "again")).await, 409, "conflict", "again");
    let upper = adele.to_ascii_uppercase();
    expect_error(&app.invite(&call, &invite_body(&[user_identity(&upper)], "again")).await, 409, "conflict", "case");

    // The peer of a P2P call is in its roster too.
    let p2p = app.established_p2p(&alex).await;
    expect_error(&app.invite(&p2p, &invite_body(&[user_identity(&alex)], "peer")).await, 409, "conflict", "the peer");
}

#[tokio::test]
async fn inviting_an_identity_still_ringing_is_a_conflict() {
    let app = TestApp::spawn().await;
    let (diego, alex) = (app.user("Diego Siciliani"), app.user("Alex Wilber"));
    let call = meeting_call(&app).await;
    operation_id(&app.invite(&call, &invite_body(&[user_identity(&diego)], "first")).await);
    expect_error(&app.invite(&call, &invite_body(&[user_identity(&diego)], "again")).await, 409, "conflict", "again");
    let upper = diego.to_ascii_uppercase();
    expect_error(&app.invite(&call, &invite_body(&[user_identity(&upper)], "case")).await, 409, "conflict", "case");
    // A request that names a ringing identity among others is refused whole: Alex was not rung.
    let both = invite_body(&[user_identity(&alex), user_identity(&diego)], "both");
    expect_error(&app.invite(&call, &both).await, 409, "conflict", "a ringing identity beside a new one");
    operation_id(&app.invite(&call, &invite_body(&[user_identity(&alex)], "alex alone")).await);
}

// =============================================================================================
// 413, 415

#[tokio::test]
async fn an_invite_sent_as_text_plain_is_an_unsupported_media_type() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let body = invite_body(&[user_identity(&app.user("Adele Vance"))], "text").to_string();
    for content_type in ["text/plain", "text/plain; charset=utf-8"] {
        let r = app.post_raw(&invite_path(&call), content_type, body.clone()).await;
        expect_error(&r, 415, "unsupportedMediaType", content_type);
    }
    app.advance(60_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "a refused invite rings no one");
}

/// A valid invite body of exactly `len` bytes, padded with a member the invite ignores.
fn invite_of_length(identity: &Value, len: usize) -> String {
    let mut body = invite_body(std::slice::from_ref(identity), "padded");
    body["padding"] = json!("");
    let base = body.to_string();
    let padded = base.replacen(r#""padding":"""#, &format!(r#""padding":"{}""#, "x".repeat(len - base.len())), 1);
    assert_eq!(padded.len(), len);
    padded
}

#[tokio::test]
async fn an_invite_body_over_one_mebibyte_is_too_large() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    let over = invite_of_length(&user_identity(&adele), 1024 * 1024 + 1);
    let r = app.post_raw(&invite_path(&call), "application/json", over).await;
    expect_error(&r, 413, "requestEntityTooLarge", "1 MiB + 1 byte");
    // Control: exactly 1 MiB is within the limit.
    let at_limit = invite_of_length(&user_identity(&alex), 1024 * 1024);
    operation_id(&app.post_raw(&invite_path(&call), "application/json", at_limit).await);
}

// =============================================================================================
// Asynchronous failures

#[tokio::test]
async fn a_declining_invitee_fails_the_operation_with_603_10003() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let megan = app.user("Megan Bowen");
    expect_single_failure(&app, &call, user_identity(&megan), 2_000, &user_mri(&megan), 603, 10003).await;
}

#[tokio::test]
async fn a_busy_invitee_fails_the_operation_with_486_10004() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let lynne = app.user("Lynne Robbins");
    expect_single_failure(&app, &call, user_identity(&lynne), 500, &user_mri(&lynne), 486, 10004).await;
}

#[tokio::test]
async fn an_invitee_who_never_answers_fails_after_the_default_60_second_ring_timeout_with_408_10057() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let diego = app.user("Diego Siciliani");
    expect_single_failure(&app, &call, user_identity(&diego), 60_000, &user_mri(&diego), 408, 10057).await;
}

#[tokio::test]
async fn the_calls_own_ringing_timeout_applies_to_invites_on_a_peer_to_peer_call() {
    let app = TestApp::spawn().await;
    let (adele, diego) = (app.user("Adele Vance"), app.user("Diego Siciliani"));
    app.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 0})).await;
    let call = p2p_call(&app, &adele, json!({"ringingTimeoutInSeconds": 10})).await;
    expect_single_failure(&app, &call, user_identity(&diego), 10_000, &user_mri(&diego), 408, 10057).await;
}

#[tokio::test]
async fn the_calls_own_ringing_timeout_applies_to_invites_on_a_meeting_call_and_a_later_answer_is_a_no_answer() {
    let app = TestApp::spawn().await;
    let alex = app.user("Alex Wilber");
    let meeting = app.create_meeting(&json!({"subject": "ring timeout"})).await.assert_status(201).clone();
    let token = app.token().to_owned();
    let call =
        create_established(&app, &token, &meeting_join_body(&app, &meeting, json!({"ringingTimeoutInSeconds": 10})))
            .await;
    app.set_user_behaviour(&alex, json!({"kind": "answer", "afterMs": 15_000})).await;
    expect_single_failure(&app, &call, user_identity(&alex), 10_000, &user_mri(&alex), 408, 10057).await;
    app.advance(10_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "the late answer never joins");
}

#[tokio::test]
async fn an_unreachable_invitee_fails_at_once_with_480_10076() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let adele = app.user("Adele Vance");
    app.set_user_behaviour(&adele, json!({"kind": "unreachable"})).await;
    expect_single_failure(&app, &call, user_identity(&adele), 0, &user_mri(&adele), 480, 10076).await;
}

#[tokio::test]
async fn an_injected_user_fault_fails_with_its_code_and_subcode_after_its_delay() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    app.set_user_behaviour(&adele, json!({"kind": "fault", "code": 412, "subcode": 10073, "afterMs": 500})).await;
    expect_single_failure(&app, &call, user_identity(&adele), 500, &user_mri(&adele), 412, 10073).await;
    let reason = "Media negotiation failed.";
    app.set_user_behaviour(&alex, json!({"kind": "fault", "code": 500, "subcode": 7106, "reason": reason})).await;
    let message = expect_single_failure(&app, &call, user_identity(&alex), 0, &user_mri(&alex), 500, 7106).await;
    assert_eq!(
        message,
        format!(
            "addParticipants failed for participant 8:orgid:{alex}. Underlying reason: {reason} DiagCode: 500#7106"
        )
    );
}

#[tokio::test]
async fn a_phone_number_fails_with_its_injected_fault_or_busy_line_and_is_named_4_e164() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    app.set_phone_behaviour(FRONT_DESK, json!({"kind": "fault", "code": 410, "subcode": 301004, "afterMs": 250})).await;
    expect_single_failure(&app, &call, phone_identity(FRONT_DESK), 250, &phone_mri(FRONT_DESK), 410, 301004).await;
    expect_single_failure(&app, &call, phone_identity(BUSY_LINE), 1_000, &phone_mri(BUSY_LINE), 486, 10004).await;
}

#[tokio::test]
async fn a_user_not_in_the_directory_fails_at_once_with_480_10037() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let stranger = new_id();
    expect_single_failure(&app, &call, user_identity(&stranger), 0, &user_mri(&stranger), 480, 10037).await;
}

#[tokio::test]
async fn a_behaviour_changed_through_the_control_api_applies_to_the_next_invite() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let alex = app.user("Alex Wilber");
    app.set_user_behaviour(&alex, json!({"kind": "decline", "afterMs": 100})).await;
    expect_single_failure(&app, &call, user_identity(&alex), 100, &user_mri(&alex), 603, 10003).await;
    app.set_user_behaviour(&alex, json!({"kind": "busy", "afterMs": 200})).await;
    expect_single_failure(&app, &call, user_identity(&alex), 200, &user_mri(&alex), 486, 10004).await;

    app.set_user_behaviour(&alex, json!({"kind": "answer", "afterMs": 100})).await;
    let op = operation_id(&app.invite(&call, &invite_body(&[user_identity(&alex)], "answers now")).await);
    app.advance(100).await;
    let got = app.hooks.take_for(&call);
    let kinds: Vec<&str> = got.iter().map(Received::kind).collect();
    assert_eq!(kinds, ["operation", "roster"], "{got:#?}");
    assert_eq!(got[0].resource_data()["status"], "completed");
    assert_eq!(app.get_operation(&call, &op).await.assert_status(200)["status"], "Completed");

    // The same holds for a phone number: the busy line now answers.
    app.set_phone_behaviour(BUSY_LINE, json!({"kind": "answer", "afterMs": 0})).await;
    let op = operation_id(&app.invite(&call, &invite_body(&[phone_identity(BUSY_LINE)], "line free")).await);
    app.advance(0).await;
    app.hooks.take_for(&call);
    assert_eq!(app.get_operation(&call, &op).await.assert_status(200)["status"], "Completed");
}

#[tokio::test]
async fn with_several_invitees_the_operation_reports_the_earliest_failure() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    // Megan declines at 2 s, Adele answers at 1 s, Lynne is busy at 0.5 s: Lynne's failure is the
    // earliest although Megan comes first in the request.
    let (megan, adele, lynne) = (app.user("Megan Bowen"), app.user("Adele Vance"), app.user("Lynne Robbins"));
    let r = app
        .invite(&call, &invite_body(&[user_identity(&megan), user_identity(&adele), user_identity(&lynne)], "3"))
        .await;
    let op = operation_id(&r);
    assert_eq!(participant_ids(&r).len(), 3);

    app.advance(500).await;
    assert!(app.hooks.take_for(&call).is_empty(), "Lynne's failure alone does not end the operation");
    app.advance(500).await;
    let got = app.hooks.take_for(&call);
    let kinds: Vec<&str> = got.iter().map(Received::kind).collect();
    assert_eq!(kinds, ["roster"], "Adele joins at 1 s: {got:#?}");
    assert!(roster_identities(&got[0]).contains(&adele.to_ascii_lowercase()));
    app.advance(999).await;
    assert!(app.hooks.take_for(&call).is_empty(), "the operation ends with the last outcome, at 2 s");
    app.advance(1).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.len(), 1, "the operation, and no roster for Megan: {got:#?}");
    let info = assert_operation_failed(&got, &call, &op, &user_mri(&lynne), 486, 10004);
    assert_operation_reads_failed(&app, &call, &op, &info).await;

    // Adele, who joined, stays.
    let roster = app.list_participants(&call, "").await;
    let ids: Vec<String> = roster.assert_status(200)["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["info"]["identity"]["user"]["id"].as_str().map(str::to_ascii_lowercase))
        .collect();
    assert_eq!(ids, [adele.to_ascii_lowercase()], "only Adele of the invitees is in the roster");
}

#[tokio::test]
async fn with_two_invitees_failing_at_the_same_time_the_operation_reports_the_first_in_request_order() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let (adele, megan, lynne) = (app.user("Adele Vance"), app.user("Megan Bowen"), app.user("Lynne Robbins"));
    app.set_user_behaviour(&megan, json!({"kind": "decline", "afterMs": 1000})).await;
    app.set_user_behaviour(&lynne, json!({"kind": "busy", "afterMs": 1000})).await;

    let r = app
        .invite(&call, &invite_body(&[user_identity(&adele), user_identity(&lynne), user_identity(&megan)], "a"))
        .await;
    let op = operation_id(&r);
    app.advance(1_000).await;
    let got = app.hooks.take_for(&call);
    let info = assert_operation_failed(&got, &call, &op, &user_mri(&lynne), 486, 10004);
    assert_operation_reads_failed(&app, &call, &op, &info).await;

    let r = app.invite(&call, &invite_body(&[user_identity(&megan), user_identity(&lynne)], "b")).await;
    let op = operation_id(&r);
    app.advance(1_000).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.len(), 1, "{got:#?}");
    let info = assert_operation_failed(&got, &call, &op, &user_mri(&megan), 603, 10003);
    assert_operation_reads_failed(&app, &call, &op, &info).await;
}

#[tokio::test]
async fn a_failed_invitee_never_appears_in_a_roster_notification() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let (adele, alex, megan, lynne, diego) = (
        app.user("Adele Vance"),
        app.user("Alex Wilber"),
        app.user("Megan Bowen"),
        app.user("Lynne Robbins"),
        app.user("Diego Siciliani"),
    );
    let stranger = new_id();
    app.set_user_behaviour(&alex, json!({"kind": "unreachable"})).await;
    let r = app
        .invite(
            &call,
            &invite_body(
                &[
                    user_identity(&adele),
                    user_identity(&megan),
                    user_identity(&lynne),
                    user_identity(&stranger),
                    user_identity(&diego),
                ],
                "five",
            ),
        )
        .await;
    let op = operation_id(&r);
    let r2 = app.invite(&call, &invite_body(&[user_identity(&alex)], "unreachable")).await;
    let op2 = operation_id(&r2);
    let r3 = app.invite(&call, &invite_body(&[phone_identity(BUSY_LINE)], "busy line")).await;
    let op3 = operation_id(&r3);

    let mut got = Vec::new();
    for step in [0, 500, 500, 1_000, 1_000, 57_000] {
        app.advance(step).await;
        got.extend(app.hooks.take_for(&call));
    }
    let failed: Vec<String> = [&alex, &megan, &lynne, &stranger, &diego, &BUSY_LINE.to_owned()]
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let rosters: Vec<&Received> = got.iter().filter(|n| n.kind() == "roster").collect();
    assert!(!rosters.is_empty(), "Adele's join is notified");
    for roster in &rosters {
        for id in roster_identities(roster) {
            assert!(!failed.contains(&id), "failed invitee {id} in a roster notification: {:#}", roster.body);
        }
    }
    assert!(rosters.iter().any(|r| roster_identities(r).contains(&adele.to_ascii_lowercase())));
    // Each operation failed; the five-invitee one with its earliest failure, the stranger's.
    let ops: Vec<&Received> = got.iter().filter(|n| n.kind() == "operation").collect();
    assert_eq!(ops.len(), 3, "{got:#?}");
    let of = |op: &str| {
        got.iter().filter(|n| n.kind() == "operation" && n.resource_data()["id"] == op).cloned().collect::<Vec<_>>()
    };
    assert_operation_failed(&of(&op), &call, &op, &user_mri(&stranger), 480, 10037);
    assert_operation_failed(&of(&op2), &call, &op2, &user_mri(&alex), 480, 10076);
    assert_operation_failed(&of(&op3), &call, &op3, &phone_mri(BUSY_LINE), 486, 10004);
}

// =============================================================================================
// Cancelling a ringing invitee

#[tokio::test]
async fn deleting_a_ringing_invitee_answers_204_and_fails_the_operation_with_487_10170() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let diego = app.user("Diego Siciliani");
    let r = app.invite(&call, &invite_body(&[user_identity(&diego)], "cancel me")).await;
    let op = operation_id(&r);
    let pid = participant_ids(&r).remove(0);
    app.advance(5_000).await;

    // While it rings, the invitee reads by id but is not in the roster.
    let ringing = app.get_participant(&call, &pid).await;
    let ringing = ringing.assert_status(200);
    assert_eq!(ringing["id"], pid.as_str());
    assert_eq!(ringing["info"]["identity"]["user"]["id"], diego.as_str());
    let roster = app.list_participants(&call, "").await;
    assert!(
        roster.assert_status(200)["value"].as_array().unwrap().iter().all(|p| p["id"] != pid.as_str()),
        "a ringing invitee is not in the roster"
    );

    app.delete_participant(&call, &pid).await.assert_status(204);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.len(), 1, "the operation only, no roster: {got:#?}");
    let info = assert_operation_failed(&got, &call, &op, &user_mri(&diego), 487, 10170);
    assert_operation_reads_failed(&app, &call, &op, &info).await;
    // The failed invitee keeps the id the invite answered with (the one just deleted), in the
    // notification and in GET, so the bot can tell which of its invitees failed.
    let notified = got.iter().find(|n| n.kind() == "operation").unwrap().resource_data();
    assert_eq!(notified["participants"][0]["participantId"], pid.as_str(), "{notified}");
    let fetched = app.get_operation(&call, &op).await;
    let fetched = fetched.assert_status(200);
    assert_eq!(fetched["participants"][0]["participantId"], pid.as_str(), "{fetched}");
    expect_error(&app.get_participant(&call, &pid).await, 404, "itemNotFound", "the cancelled invitee");

    app.advance(60_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "the cancelled ring has no later outcome");
}

#[tokio::test]
async fn a_call_that_hangs_up_while_its_invitee_rings_fails_the_operation_with_487_10171_before_it_ends() {
    let app = TestApp::spawn().await;
    let (call, meeting) = app.join_new_meeting(json!(null)).await;
    // The same application in the meeting a second time, as a guest: the meeting goes on
    // without the first call.
    let other = app
        .create_call(&call_body(
            &app,
            json!({
                "source": {"identity": {"guest": {"id": "guest-of-the-bot", "displayName": "Guest"}}},
                "chatInfo": {"threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
                "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                                "organizer": {"user": {"id": app.user("Adele Vance")}}},
            }),
        ))
        .await;
    let other = other.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    app.hooks.take();
    let diego = app.user("Diego Siciliani"); // never answers
    let r = app.invite(&call, &invite_body(&[user_identity(&diego)], "rings on")).await;
    let op = operation_id(&r);
    let pid = participant_ids(&r).remove(0);
    app.advance(5_000).await;

    app.delete_call(&call).await.assert_status(204);
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    let kinds: Vec<&str> = got.iter().map(Received::kind).collect();
    assert_eq!(kinds, ["operation", "call", "call"], "the operation ends before the call: {got:#?}");
    let left = app.hooks.take_for(&other);
    assert_eq!(left.iter().map(Received::kind).collect::<Vec<_>>(), ["roster"], "the first call left: {left:#?}");
    assert_operation_failed(&got, &call, &op, &user_mri(&diego), 487, 10171);
    assert_eq!(got[2].resource_data()["state"], "terminated");
    expect_error(&app.get_participant(&other, &pid).await, 404, "itemNotFound", "the invitee rings no more");

    app.advance(60_000).await;
    assert!(app.hooks.take_for(&call).is_empty(), "nothing after the call ended");
    assert!(app.hooks.take_for(&other).is_empty(), "the other call's roster never changed");
}

#[tokio::test]
async fn the_directory_names_an_invited_user_whatever_the_request_says() {
    let app = TestApp::spawn().await;
    let call = meeting_call(&app).await;
    let adele = app.user("Adele Vance");
    let tenant = app.tenant_id.clone();
    let claimed = json!({"user": {
        "id": adele.to_uppercase(),
        "displayName": "Not Adele",
        "tenantId": "11111111-2222-3333-4444-555555555555",
    }});
    let r = app.invite(&call, &invite_body(&[claimed], "claimed")).await;
    let answered = r.assert_status(200);
    let expected = json!({"id": adele, "displayName": "Adele Vance", "tenantId": tenant});
    let echoed = &answered["participants"][0]["identity"]["user"];
    for key in ["id", "displayName", "tenantId"] {
        assert_eq!(echoed[key], expected[key], "the operation names the directory's user: {echoed}");
    }
    app.advance(1_000).await;
    let roster = app.list_participants(&call, "").await;
    let roster = roster.assert_status(200);
    let joined = roster["value"].as_array().unwrap().iter().find(|p| p["info"]["identity"]["user"]["id"] == adele);
    let joined = &joined.unwrap_or_else(|| panic!("Adele joined: {roster}"))["info"]["identity"]["user"];
    for key in ["displayName", "tenantId"] {
        assert_eq!(joined[key], expected[key], "the roster names the directory's user: {joined}");
    }
}

/// The user ids in a roster (`value` of a roster notification or of `GET .../participants`).
fn roster_users(participants: &Value) -> Vec<String> {
    let users = participants.as_array().unwrap().iter();
    users.filter_map(|p| p["info"]["identity"]["user"]["id"].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn a_hidden_invitee_joins_without_showing_in_the_roster() {
    let app = TestApp::spawn().await;
    let (adele, alex) = (app.user("Adele Vance"), app.user("Alex Wilber"));
    for user in [&adele, &alex] {
        app.set_user_behaviour(user, json!({"kind": "answer", "afterMs": 0})).await;
    }
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let (delta, _) = app.join_new_meeting(json!({"isDeltaRosterEnabled": true})).await;

    // The operation echoes both properties as given.
    let hidden = json!({"identity": user_identity(&adele), "hidden": true, "removeFromDefaultAudioRoutingGroup": true});
    let r = app.invite(&call, &json!({"participants": [hidden.clone(), {"identity": user_identity(&alex)}]})).await;
    let answered = r.assert_status(200);
    assert_eq!(answered["participants"][0]["hidden"], true, "{answered}");
    assert_eq!(answered["participants"][0]["removeFromDefaultAudioRoutingGroup"], true, "{answered}");
    assert!(answered["participants"][1].get("hidden").is_none(), "{answered}");
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    let op = got.iter().find(|n| n.kind() == "operation").expect("the operation settled").resource_data();
    assert_eq!((&op["status"], &op["participants"][0]["hidden"]), (&json!("completed"), &json!(true)), "{op}");
    // Both joined; only Alex shows, in the roster notification and in GET.
    let roster = got.iter().rev().find(|n| n.kind() == "roster").expect("a roster notification").resource_data();
    let shown = roster_users(roster);
    assert!(shown.contains(&alex) && !shown.contains(&adele), "{shown:?}");
    let listed = app.list_participants(&call, "").await;
    let listed = roster_users(&listed.assert_status(200)["value"]);
    assert!(listed.contains(&alex) && !listed.contains(&adele), "{listed:?}");
    let pid = answered["participants"][0]["participantId"].as_str().unwrap().to_owned();
    app.get_participant(&call, &pid).await.assert_status(200);

    // With delta roster, a hidden join alone sends no roster notification at all.
    let hidden = json!({"identity": user_identity(&adele), "hidden": true});
    app.invite(&delta, &json!({"participants": [hidden]})).await.assert_status(200);
    app.advance(0).await;
    let got = app.hooks.take_for(&delta);
    assert!(got.iter().all(|n| n.kind() == "operation"), "no roster for a hidden join: {got:#?}");
}
