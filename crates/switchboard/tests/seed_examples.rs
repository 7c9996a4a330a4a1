//! The five examples of the seed page (`participant: invite`, reference/participant-invite.md) as
//! acceptance tests, run request by request against the real binary with a virtual clock.
//!
//! Every request body, response body and notification body below is the doc's example JSON,
//! copied verbatim into a `json!` literal, with the doc's ids replaced by the real ones
//! (call, operation, participant, user and tenant ids; the doc's phone number by a directory
//! number) and then compared with [`contains`]: the shortened doc body must be contained in the
//! real one. Where the doc itself is wrong (DESIGN.md, "The seed page's own slips") or silent,
//! the literal is corrected in place and each correction is listed in a `// Deviation:` comment
//! with its reason. Deviations shared by every example:
//!
//! - Rosters are whole (DESIGN.md, "Notifications"): they include the bot's own participant
//!   (`id` = the call's `myParticipantId`, under `identity.application`), which the shortened
//!   examples leave out; we add it, modelled on the doc's own roster entry.
//! - `"id": null` in a roster entry is a slip: every participant has a real id; we put the
//!   real one (for an invitee, the `participantId` the invite's response returned).
//! - `mediaStreams[].sourceId` is assigned by the server ("1", "3" in the doc); we copy the real
//!   one into the expected entry after checking it is a non-empty string, distinct per
//!   participant.
//! - Rosters are sets: both sides are ordered by participant id before comparing.
//! - Every notification carries the legacy `resource` (`/app/...`) beside `resourceUrl`
//!   (DESIGN.md); where an example leaves `resource` out or gives it the `/communications`
//!   form, the expected body uses the `/app` form.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

/// The tenant id the doc's examples use.
const DOC_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The doc's JSON with its ids replaced by real ones (plain text replacement, so a doc id is
/// replaced wherever it appears: paths, ids, echoes).
fn subst(doc: Value, pairs: &[(&str, &str)]) -> Value {
    let mut text = serde_json::to_string(&doc).unwrap();
    for (from, to) in pairs {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap()
}

fn assert_contains(expected: &Value, actual: &Value, what: &str) {
    if let Err(e) = contains(expected, actual, "$", &["id"]) {
        panic!("{what}: {e}\n--- expected (doc, ids substituted) ---\n{expected:#}\n--- actual ---\n{actual:#}");
    }
}

/// The notifications of one call, taken off the receiver: each one POSTed to the callback URI,
/// one notification per POST, sequence numbers strictly ascending.
fn take(app: &TestApp, call: &str) -> Vec<Received> {
    let got = app.hooks.take_for(call);
    for n in &got {
        assert_eq!(n.path, "/callback", "notification posted elsewhere: {n:#?}");
        n.notification();
    }
    for pair in got.windows(2) {
        assert!(pair[0].sequence() < pair[1].sequence(), "sequence numbers not ascending: {got:#?}");
    }
    got
}

fn kinds(got: &[Received]) -> Vec<&'static str> {
    got.iter().map(Received::kind).collect()
}

/// An operation notification compared with the doc's envelope.
fn assert_operation_notification(n: &Received, expected: &Value, what: &str) {
    assert_eq!(n.kind(), "operation", "{what}: {n:#?}");
    assert_eq!(n.change_type(), "deleted", "{what}");
    assert_contains(expected, &n.body, what);
}

/// A roster notification compared with the doc's envelope (see the module doc for what is
/// filled in from the real body: `sourceId`, order).
fn assert_roster_notification(n: &Received, expected: &Value, what: &str) {
    assert_eq!(n.kind(), "roster", "{what}: {n:#?}");
    assert_eq!(n.change_type(), "updated", "{what}");
    let mut actual = n.body.clone();
    let mut expected = expected.clone();
    let actual_roster = actual["value"][0]["resourceData"].as_array_mut().expect("roster is an array");
    let mut ids = HashSet::new();
    let mut source_ids = HashSet::new();
    for p in actual_roster.iter() {
        let id = p["id"].as_str().unwrap_or_else(|| panic!("{what}: participant without id: {p:#}"));
        assert!(ids.insert(id.to_owned()), "{what}: participant {id} listed twice");
        assert!(p["rosterSequenceNumber"].is_i64(), "{what}: no rosterSequenceNumber: {p:#}");
        let source = p["mediaStreams"][0]["sourceId"].as_str().unwrap_or_default();
        assert!(!source.is_empty(), "{what}: no sourceId: {p:#}");
        assert!(source_ids.insert(source.to_owned()), "{what}: sourceId {source} used twice");
    }
    for e in expected["value"][0]["resourceData"].as_array_mut().expect("expected roster is an array") {
        let id = e["id"].as_str().expect("expected roster entries carry real ids").to_owned();
        if let Some(a) = actual_roster.iter().find(|a| a["id"] == id.as_str()) {
            e["mediaStreams"][0]["sourceId"] = a["mediaStreams"][0]["sourceId"].clone();
        }
    }
    let by_id = |v: &mut Value| {
        v["value"][0]["resourceData"]
            .as_array_mut()
            .unwrap()
            .sort_by(|a, b| a["id"].as_str().unwrap_or("").cmp(b["id"].as_str().unwrap_or("")))
    };
    by_id(&mut actual);
    by_id(&mut expected);
    assert_contains(&expected, &actual, what);
}

/// The roster entry of the bot itself, in the doc's roster-entry shape (Ex. 1's entry, which
/// shows an application identity).
fn bot_entry(client_id: &str, tenant_id: &str, my_participant_id: &str) -> Value {
    json!({
       "@odata.type":"#microsoft.graph.participant",
       "info":{
          "@odata.type":"#microsoft.graph.participantInfo",
          "identity":{
             "@odata.type":"#microsoft.graph.identitySet",
             "application":{
                "@odata.type":"#microsoft.graph.identity",
                "id": client_id,
                "tenantId": tenant_id
             }
          },
          "endpointType":"default"
       },
       "mediaStreams":[
          {
             "@odata.type":"#microsoft.graph.mediaStream",
             "mediaType":"audio",
             "sourceId":"1",
             "direction":"sendReceive",
             "serverMuted":false
          }
       ],
       "isMuted":false,
       "isInLobby":false,
       "id": my_participant_id
    })
}

/// Inserts the bot's own entry at the front of an expected roster envelope.
fn with_bot(mut envelope: Value, bot: Value) -> Value {
    envelope["value"][0]["resourceData"].as_array_mut().unwrap().insert(0, bot);
    envelope
}

async fn my_participant_id(app: &TestApp, call: &str) -> String {
    app.get_call(call).await.assert_status(200)["myParticipantId"].as_str().expect("myParticipantId").to_owned()
}

fn participant_id_of(op: &Value, index: usize) -> String {
    op["participants"][index]["participantId"]
        .as_str()
        .unwrap_or_else(|| panic!("participants[{index}].participantId missing: {op:#}"))
        .to_owned()
}

fn operation_id(op: &Value) -> String {
    op["id"].as_str().expect("operation id").to_owned()
}

/// Joins an existing meeting with the app's current token; returns the call id after the
/// join's three notifications (establishing, established, roster) were taken.
async fn join_meeting(app: &TestApp, meeting: &Value, organizer: &str) -> String {
    let call = app
        .create_call(&json!({
            "@odata.type": "#microsoft.graph.call",
            "callbackUri": app.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "chatInfo": {"@odata.type": "#microsoft.graph.chatInfo", "threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                            "organizer": {"@odata.type": "#microsoft.graph.identitySet", "user": {"id": organizer}}},
            "tenantId": app.tenant_id,
        }))
        .await;
    let id = call.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    let got = take(app, &id);
    assert_eq!(kinds(&got), ["call", "call", "roster"], "establishing, established, roster: {got:#?}");
    id
}

/// A server on a directory seed of our own (camelCase TOML). The harness leaves the
/// credentials empty with a config seed, so they are filled in here for the first application.
const SEED_ADMIN_TOKEN: &str = "seed-examples-admin-token";
const SEED_TENANT: &str = "0f6a3a58-7d3c-4b61-9d0e-5a8f3c2b1e01";
const SEED_APP_1: &str = "3c1e6f0a-2b7d-4e59-8a14-6d2f9b0c7a11";
const SEED_APP_2: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f2a3b4c22";
const SEED_SECRET_1: &str = "app-one-secret";
const SEED_SECRET_2: &str = "app-two-secret";
const SEED_ADELE: &str = "5d0c2e8b-6a41-4f37-b9e2-0c4d7a1f3e33";

fn seed_toml(applications: &[(&str, &str, &str)]) -> String {
    let mut toml = format!(
        r#"adminToken = "{SEED_ADMIN_TOKEN}"

[[tenants]]
id = "{SEED_TENANT}"
displayName = "Fabrikam"
"#
    );
    for (client_id, name, secret) in applications {
        toml.push_str(&format!(
            r#"
[[applications]]
clientId = "{client_id}"
tenantId = "{SEED_TENANT}"
displayName = "{name}"
clientSecrets = ["{secret}"]
permissions = ["Calls.Initiate.All", "Calls.InitiateGroupCall.All", "Calls.JoinGroupCall.All", "OnlineMeetings.ReadWrite.All"]
"#
        ));
    }
    toml.push_str(&format!(
        r#"
[[users]]
id = "{SEED_ADELE}"
tenantId = "{SEED_TENANT}"
displayName = "Adele Vance"
behaviour = {{ kind = "answer", afterMs = 0 }}

[[phoneNumbers]]
number = "+14255550101"
displayName = "Front desk"
behaviour = {{ kind = "answer", afterMs = 0 }}
"#
    ));
    toml
}

async fn spawn_seeded(applications: &[(&str, &str, &str)]) -> TestApp {
    let mut app =
        TestApp::spawn_with(SpawnOptions { config: Some(seed_toml(applications)), ..Default::default() }).await;
    app.admin_token = SEED_ADMIN_TOKEN.to_owned();
    app.tenant_id = SEED_TENANT.to_owned();
    app.client_id = applications[0].0.to_owned();
    app.client_secret = applications[0].2.to_owned();
    app.credentials = json!({"users": [{"id": SEED_ADELE, "displayName": "Adele Vance"}]});
    let token = app.fetch_token(SEED_TENANT, applications[0].0, applications[0].2).await;
    app.set_token(token);
    app
}

// ---------------------------------------------------------------------------------------------
// Example 1: invite one participant to an existing call
// ---------------------------------------------------------------------------------------------

/// Example 1, run on the given invite path (`/beta/communications/.../invite` or one of the
/// other spellings); `version` is the Graph version of that path (the Location's).
async fn run_example_1(app: &TestApp, invite_path: impl Fn(&str) -> String, version: &str) {
    let adele = app.user("Adele Vance");
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let bot_id = my_participant_id(app, &call).await;

    // Request, as in the doc.
    // Deviation: the doc's request carries `replacesCallId`, which would make it an escalation
    // (DESIGN.md: a slip for a plain invite); Example 1 is run without it.
    let request = subst(
        json!({
          "participants": [
            {
              "@odata.type": "#microsoft.graph.invitationParticipantInfo",
              "identity": {
                "@odata.type": "#microsoft.graph.identitySet",
                "user": {
                  "@odata.type": "#microsoft.graph.identity",
                  "id": "278405a3-f568-4b3e-b684-009193463064",
                  "identityProvider": "AAD"
                }
              }
            }
          ],
          "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f"
        }),
        &[("278405a3-f568-4b3e-b684-009193463064", &adele)],
    );
    let response = app.post(&invite_path(&call), &request).await;
    let op = response.assert_status(200).clone();
    let op_id = operation_id(&op);
    assert_eq!(
        response.location(),
        format!("{}/{version}/communications/calls/{call}/operations/{op_id}", app.base),
        "Location is the absolute URL of the operation"
    );
    let adele_pid = participant_id_of(&op, 0);
    assert!(!adele_pid.is_empty());
    // Deviation: `replacesCallId` is null (the request has none, see above).
    let expected_response = subst(
        json!({
          "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
          "id": "eec3812a-fdc3-4fb4-825c-a06c9f35414e",
          "status": "Running",
          "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f",
          "resultInfo": null,
          "participants": [
            {
              "endpointType": null,
              "id": null,
              "replacesCallId": null,
              "identity": {
                "user": {
                  "id": "278405a3-f568-4b3e-b684-009193463064",
                  "identityProvider": "AAD",
                  "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47"
                },
                "application": null,
                "device": null,
                "phone": null
              }
            }
          ]
        }),
        &[
            ("eec3812a-fdc3-4fb4-825c-a06c9f35414e", &op_id),
            ("278405a3-f568-4b3e-b684-009193463064", &adele),
            (DOC_TENANT, &app.tenant_id),
        ],
    );
    assert_contains(&expected_response, &op, "Example 1 response");

    app.advance(0).await;
    assert!(take(app, &call).is_empty(), "nothing is notified before Adele answers");
    app.advance(1000).await;
    let got = take(app, &call);
    assert_eq!(kinds(&got), ["operation", "roster"], "{got:#?}");

    // Notification - operation completed, as in the doc.
    let expected_op = subst(
        json!({
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
        }),
        &[
            ("ab6233a5-20b7-4c5e-bea2-ce56c9776429", &call),
            ("eec3812a-fdc3-4fb4-825c-a06c9f35414e", &op_id),
            ("278405a3-f568-4b3e-b684-009193463064", &adele),
            (DOC_TENANT, &app.tenant_id),
        ],
    );
    assert_operation_notification(&got[0], &expected_op, "Example 1 operation completed");

    // Notification - roster updated with participant added.
    // Deviation: the doc shows the invited user under `identity.application`; a user is under
    // `identity.user` (with `identityProvider`, as Ex. 3 and 5 show it). `id: null` is Adele's
    // real participant id; the bot's own entry is added (module doc).
    let expected_roster = subst(
        json!({
           "@odata.type":"#microsoft.graph.commsNotifications",
           "value":[
              {
                 "@odata.type":"#microsoft.graph.commsNotification",
                 "changeType":"updated",
                 "resource":"/app/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/participants",
                 "resourceUrl":"/communications/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/participants",
                 "resourceData":[
                    {
                       "@odata.type":"#microsoft.graph.participant",
                       "info":{
                          "@odata.type":"#microsoft.graph.participantInfo",
                          "identity":{
                             "@odata.type":"#microsoft.graph.identitySet",
                             "user":{
                                "@odata.type":"#microsoft.graph.identity",
                                "id":"278405a3-f568-4b3e-b684-009193463064",
                                "identityProvider":"AAD",
                                "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
                             }
                          },
                          "endpointType":"default"
                       },
                       "mediaStreams":[
                          {
                             "@odata.type":"#microsoft.graph.mediaStream",
                             "mediaType":"audio",
                             "sourceId":"1",
                             "direction":"sendReceive",
                             "serverMuted":false
                          }
                       ],
                       "isMuted":false,
                       "isInLobby":false,
                       "id":"adele-participant-id"
                    }
                 ]
              }
           ]
        }),
        &[
            ("ab6233a5-20b7-4c5e-bea2-ce56c9776429", &call),
            ("278405a3-f568-4b3e-b684-009193463064", &adele),
            ("adele-participant-id", &adele_pid),
            (DOC_TENANT, &app.tenant_id),
        ],
    );
    let expected_roster = with_bot(expected_roster, bot_entry(&app.client_id, &app.tenant_id, &bot_id));
    assert_roster_notification(&got[1], &expected_roster, "Example 1 roster");
    let roster = got[1].resource_data().as_array().unwrap();
    let seq = |id: &str| roster.iter().find(|p| p["id"] == id).unwrap()["rosterSequenceNumber"].as_i64().unwrap();
    assert!(seq(&adele_pid) > seq(&bot_id), "Adele joined after the bot: {roster:#?}");

    // The operation stays readable, and now says Completed (metadata spelling).
    let done = app.get_operation(&call, &op_id).await;
    assert_eq!(done.assert_status(200)["status"], "Completed");
    assert_eq!(done.body["clientContext"], "f2fa86af-3c51-4bc2-8fc0-475452d9764f");
    assert_eq!(participant_id_of(&done.body, 0), adele_pid);
}

#[tokio::test]
async fn example_1_one_user_invited_into_an_established_meeting_call_joins_with_operation_then_roster_notifications() {
    let app = TestApp::spawn().await;
    run_example_1(&app, |call| format!("/beta/communications/calls/{call}/participants/invite"), "beta").await;
}

#[tokio::test]
async fn the_legacy_app_path_with_the_microsoft_graph_invite_spelling_behaves_exactly_like_the_newer_path() {
    let app = TestApp::spawn().await;
    run_example_1(&app, |call| format!("/v1.0/app/calls/{call}/participants/microsoft.graph.invite"), "v1.0").await;
    // The operation is the same resource on every spelling of its path.
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let alex = app.user("Alex Wilber");
    app.set_user_behaviour(&alex, json!({"kind": "answer", "afterMs": 0})).await;
    let r = app
        .post(&format!("/v1.0/app/calls/{call}/participants/invite"), &invite_body(&[user_identity(&alex)], "legacy"))
        .await;
    let op_id = operation_id(r.assert_status(200));
    app.advance(0).await;
    let got = take(&app, &call);
    assert_eq!(kinds(&got), ["operation", "roster"], "{got:#?}");
    assert_eq!(got[0].notification()["resource"], format!("/app/calls/{call}/operations/{op_id}"));
    assert_eq!(got[0].resource_url(), format!("/communications/calls/{call}/operations/{op_id}"));
    for path in [
        format!("/v1.0/app/calls/{call}/operations/{op_id}"),
        format!("/beta/app/calls/{call}/operations/{op_id}"),
        format!("/v1.0/communications/calls/{call}/operations/{op_id}"),
        format!("/beta/communications/calls/{call}/operations/{op_id}"),
    ] {
        let got = app.get(&path).await;
        assert_eq!(got.assert_status(200)["status"], "Completed", "{path}");
        assert_eq!(got.body["id"], op_id.as_str(), "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// Example 2: invite multiple participants to an existing group call
// ---------------------------------------------------------------------------------------------

/// The request of Example 2 for two users.
/// Deviation: the doc sets `replacesCallId` on both invitees (a slip, DESIGN.md): that would
/// make it an escalation of one participant; the request is sent without it.
fn example_2_request(first: &str, second: &str) -> Value {
    subst(
        json!({
          "participants": [
            {
              "@odata.type": "#microsoft.graph.invitationParticipantInfo",
              "identity": {
                "@odata.type": "#microsoft.graph.identitySet",
                "user": {
                  "@odata.type": "#microsoft.graph.identity",
                  "id": "7e1b4346-85a6-4bdd-abe3-d11c5d420efe",
                  "identityProvider": "AAD"
                }
              }
            },
            {
              "@odata.type": "#microsoft.graph.invitationParticipantInfo",
              "identity": {
                "@odata.type": "#microsoft.graph.identitySet",
                "user": {
                  "@odata.type": "#microsoft.graph.identity",
                  "id": "1e126418-44a0-4a94-a6f8-0efe1ad71acb",
                  "identityProvider": "AAD"
                }
              }
            }
          ],
          "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f"
        }),
        &[("7e1b4346-85a6-4bdd-abe3-d11c5d420efe", first), ("1e126418-44a0-4a94-a6f8-0efe1ad71acb", second)],
    )
}

/// The response of Example 2, as in the doc (it already shows `replacesCallId: null`).
fn example_2_response(op_id: &str, first: &str, second: &str, tenant: &str) -> Value {
    subst(
        json!({
           "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
           "id":"eec3812a-fdc3-4fb4-825c-a06c9f35414e",
           "status":"Running",
           "clientContext":"f2fa86af-3c51-4bc2-8fc0-475452d9764f",
           "resultInfo":null,
           "participants":[
              {
                 "endpointType":null,
                 "id":null,
                 "replacesCallId":null,
                 "identity":{
                    "user":{
                       "id":"7e1b4346-85a6-4bdd-abe3-d11c5d420efe",
                       "identityProvider":"AAD",
                       "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
                    },
                    "application":null,
                    "device":null,
                    "phone":null
                 }
              },
              {
                 "endpointType":null,
                 "id":null,
                 "replacesCallId":null,
                 "identity":{
                    "user":{
                       "id":"1e126418-44a0-4a94-a6f8-0efe1ad71acb",
                       "identityProvider":"AAD",
                       "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
                    },
                    "application":null,
                    "device":null,
                    "phone":null
                 }
              }
           ]
        }),
        &[
            ("eec3812a-fdc3-4fb4-825c-a06c9f35414e", op_id),
            ("7e1b4346-85a6-4bdd-abe3-d11c5d420efe", first),
            ("1e126418-44a0-4a94-a6f8-0efe1ad71acb", second),
            (DOC_TENANT, tenant),
        ],
    )
}

/// The operation notification of Example 2.
/// Deviation: the doc addresses it to `.../operations/participants` with `resource` in the
/// `/communications` form and `"id": null` (slips, DESIGN.md): it is addressed to the real
/// operation, `resource` is the legacy `/app` form, and `id` is the operation's id.
fn example_2_operation_notification(call: &str, op_id: &str, first: &str, second: &str, tenant: &str) -> Value {
    subst(
        json!({
          "@odata.type": "#microsoft.graph.commsNotifications",
          "value": [
            {
              "@odata.type": "#microsoft.graph.commsNotification",
              "changeType": "deleted",
              "resource": "/app/calls/7531d31f-d10d-44de-802f-c569dbca451c/operations/eec3812a-fdc3-4fb4-825c-a06c9f35414e",
              "resourceUrl": "/communications/calls/7531d31f-d10d-44de-802f-c569dbca451c/operations/eec3812a-fdc3-4fb4-825c-a06c9f35414e",
              "resourceData": {
                "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
                "participants": [
                  {
                    "@odata.type": "#microsoft.graph.invitationParticipantInfo",
                    "identity": {
                      "@odata.type": "#microsoft.graph.identitySet",
                      "user":{
                        "id":"7e1b4346-85a6-4bdd-abe3-d11c5d420efe",
                        "identityProvider":"AAD",
                        "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
                      }
                    }
                  },
                  {
                    "@odata.type": "#microsoft.graph.invitationParticipantInfo",
                    "identity": {
                      "@odata.type": "#microsoft.graph.identitySet",
                      "user":{
                        "id":"1e126418-44a0-4a94-a6f8-0efe1ad71acb",
                        "identityProvider":"AAD",
                        "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
                      }
                    }
                  }
                ],
                "status": "completed",
                "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f",
                "id": "eec3812a-fdc3-4fb4-825c-a06c9f35414e"
              }
            }
          ]
        }),
        &[
            ("7531d31f-d10d-44de-802f-c569dbca451c", call),
            ("eec3812a-fdc3-4fb4-825c-a06c9f35414e", op_id),
            ("7e1b4346-85a6-4bdd-abe3-d11c5d420efe", first),
            ("1e126418-44a0-4a94-a6f8-0efe1ad71acb", second),
            (DOC_TENANT, tenant),
        ],
    )
}

/// One roster entry of Example 2 for a user (the doc's second entry, which is right: the first
/// one shows a user under `identity.application`, a slip).
fn example_2_user_entry(user: &str, participant_id: &str, tenant: &str) -> Value {
    subst(
        json!({
          "@odata.type": "#microsoft.graph.participant",
          "info": {
            "@odata.type": "#microsoft.graph.participantInfo",
            "identity": {
              "@odata.type": "#microsoft.graph.identitySet",
              "user":{
                "id":"1e126418-44a0-4a94-a6f8-0efe1ad71acb",
                "identityProvider":"AAD",
                "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
             }
            },
            "endpointType": "default"
          },
          "mediaStreams": [
            {
              "@odata.type": "#microsoft.graph.mediaStream",
              "mediaType": "audio",
              "sourceId": "3",
              "direction": "sendReceive",
              "serverMuted": false
            }
          ],
          "isMuted": false,
          "isInLobby": false,
          "id": "participant-id"
        }),
        &[("1e126418-44a0-4a94-a6f8-0efe1ad71acb", user), ("participant-id", participant_id), (DOC_TENANT, tenant)],
    )
}

/// The roster notification envelope of Example 2 around the given entries.
/// Deviation: the doc addresses it to `.../operations/participants` (a slip, DESIGN.md): a
/// roster is `updated` on `.../participants`. The bot's own entry is added (module doc).
fn example_2_roster(call: &str, entries: Vec<Value>) -> Value {
    let mut envelope = subst(
        json!({
          "@odata.type": "#microsoft.graph.commsNotifications",
          "value": [
            {
             "@odata.type": "#microsoft.graph.commsNotification",
              "changeType": "updated",
              "resource": "/app/calls/7531d31f-d10d-44de-802f-c569dbca451c/participants",
              "resourceUrl": "/communications/calls/7531d31f-d10d-44de-802f-c569dbca451c/participants",
              "resourceData": []
            }
          ]
        }),
        &[("7531d31f-d10d-44de-802f-c569dbca451c", call)],
    );
    envelope["value"][0]["resourceData"] = Value::Array(entries);
    envelope
}

#[tokio::test]
async fn example_2_two_users_invited_in_one_request_ring_in_parallel_and_the_operation_completes_when_both_joined() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance"); // answers after 1 s
    let alex = app.user("Alex Wilber"); // answers after 3 s
                                        // A call with chatInfo: a meeting call.
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let bot = bot_entry(&app.client_id, &app.tenant_id, &my_participant_id(&app, &call).await);

    let response = app.invite(&call, &example_2_request(&adele, &alex)).await;
    let op = response.assert_status(200).clone();
    let op_id = operation_id(&op);
    assert_eq!(response.location(), format!("{}/beta/communications/calls/{call}/operations/{op_id}", app.base));
    assert_contains(&example_2_response(&op_id, &adele, &alex, &app.tenant_id), &op, "Example 2 response");
    let (adele_pid, alex_pid) = (participant_id_of(&op, 0), participant_id_of(&op, 1));
    assert_ne!(adele_pid, alex_pid);

    // Both ring at once: Adele's answer (1 s) does not wait for Alex's (3 s).
    app.advance(1000).await;
    let got = take(&app, &call);
    assert_eq!(kinds(&got), ["roster"], "Adele joined; the operation waits for Alex: {got:#?}");
    let adele_entry = example_2_user_entry(&adele, &adele_pid, &app.tenant_id);
    assert_roster_notification(
        &got[0],
        &example_2_roster(&call, vec![bot.clone(), adele_entry.clone()]),
        "Example 2 roster after Adele",
    );
    assert_eq!(app.get_operation(&call, &op_id).await.assert_status(200)["status"], "Running");

    app.advance(2000).await;
    let got = take(&app, &call);
    assert_eq!(kinds(&got), ["operation", "roster"], "{got:#?}");
    assert_operation_notification(
        &got[0],
        &example_2_operation_notification(&call, &op_id, &adele, &alex, &app.tenant_id),
        "Example 2 operation completed",
    );
    assert_roster_notification(
        &got[1],
        &example_2_roster(&call, vec![bot, adele_entry, example_2_user_entry(&alex, &alex_pid, &app.tenant_id)]),
        "Example 2 roster with both",
    );
    assert_eq!(app.get_operation(&call, &op_id).await.assert_status(200)["status"], "Completed");
}

#[tokio::test]
async fn example_2_when_one_of_two_invitees_declines_the_operation_fails_with_the_decline_and_the_one_who_joined_stays()
{
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance"); // answers after 1 s
    let megan = app.user("Megan Bowen"); // declines after 2 s
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let bot = bot_entry(&app.client_id, &app.tenant_id, &my_participant_id(&app, &call).await);

    let response = app.invite(&call, &example_2_request(&adele, &megan)).await;
    let op = response.assert_status(200).clone();
    let op_id = operation_id(&op);
    assert_contains(&example_2_response(&op_id, &adele, &megan, &app.tenant_id), &op, "Example 2 response");
    let adele_pid = participant_id_of(&op, 0);

    app.advance(1000).await;
    let got = take(&app, &call);
    assert_eq!(kinds(&got), ["roster"], "{got:#?}");
    let adele_entry = example_2_user_entry(&adele, &adele_pid, &app.tenant_id);
    assert_roster_notification(
        &got[0],
        &example_2_roster(&call, vec![bot.clone(), adele_entry]),
        "Example 2 roster after Adele",
    );

    app.advance(1000).await;
    let got = take(&app, &call);
    // Megan never joined: the roster does not change, only the operation ends.
    assert_eq!(kinds(&got), ["operation"], "{got:#?}");
    // Deviation: the doc shows only the `completed` case; with a decline the same notification
    // says `failed` and carries the decline's resultInfo (DESIGN.md, "Several invitees").
    let mut expected = example_2_operation_notification(&call, &op_id, &adele, &megan, &app.tenant_id);
    expected["value"][0]["resourceData"]["status"] = json!("failed");
    expected["value"][0]["resourceData"]["resultInfo"] =
        json!({"@odata.type": "#microsoft.graph.resultInfo", "code": 603, "subcode": 10003});
    assert_operation_notification(&got[0], &expected, "Example 2 operation failed");
    let result_info = got[0].resource_data()["resultInfo"].clone();
    let message = result_info["message"].as_str().expect("resultInfo.message");
    assert!(
        message.starts_with(&format!("addParticipants failed for participant 8:orgid:{megan}.")),
        "the message names Megan: {message}"
    );
    assert!(message.ends_with("DiagCode: 603#10003"), "{message}");

    let done = app.get_operation(&call, &op_id).await;
    assert_eq!(done.assert_status(200)["status"], "Failed");
    assert_eq!(done.body["resultInfo"], result_info);

    // Adele stays: in the roster, and no later notification takes her out.
    let roster = app.list_participants(&call, "").await;
    let ids: Vec<&str> =
        roster.assert_status(200)["value"].as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
    assert!(ids.contains(&adele_pid.as_str()), "Adele stays in the roster: {ids:?}");
    assert_eq!(ids.len(), 2, "the bot and Adele: {ids:?}");
    app.advance(120_000).await;
    assert!(take(&app, &call).is_empty(), "nothing else happens to the call");
}

// ---------------------------------------------------------------------------------------------
// Example 3: escalation of a peer-to-peer call
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn example_3_inviting_the_peer_with_replaces_call_id_joins_without_ringing_and_ends_the_p2p_call_with_7015() {
    let app = TestApp::spawn().await;
    let alex = app.user("Alex Wilber");
    let p2p = app.established_p2p(&alex).await;
    // Alex would never answer a ring: the escalation must not ring.
    app.set_user_behaviour(&alex, json!({"kind": "noAnswer"})).await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let bot = bot_entry(&app.client_id, &app.tenant_id, &my_participant_id(&app, &call).await);

    let request = subst(
        json!({
          "participants": [
            {
              "@odata.type": "#microsoft.graph.invitationParticipantInfo",
              "replacesCallId": "a7ebfb2d-871e-419c-87af-27290b22e8db",
              "identity": {
                "@odata.type": "#microsoft.graph.identitySet",
                "user": {
                  "@odata.type": "#microsoft.graph.identity",
                  "id": "7e1b4346-85a6-4bdd-abe3-d11c5d420efe",
                  "identityProvider": "AAD"
                }
              }
            }
          ],
          "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f"
        }),
        &[("a7ebfb2d-871e-419c-87af-27290b22e8db", &p2p), ("7e1b4346-85a6-4bdd-abe3-d11c5d420efe", &alex)],
    );
    let response = app.invite(&call, &request).await;
    let op = response.assert_status(200).clone();
    let op_id = operation_id(&op);
    assert_eq!(response.location(), format!("{}/beta/communications/calls/{call}/operations/{op_id}", app.base));
    let alex_pid = participant_id_of(&op, 0);
    // Deviation: the doc's placeholder `displayName: "Participant"` is the directory's name.
    let expected_response = subst(
        json!({
          "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
          "id": "278405a3-f568-4b3e-b684-009193463064",
          "status": "Running",
          "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f",
          "resultInfo": null,
          "participants": [
            {
              "endpointType": null,
              "id": null,
              "replacesCallId": "a7ebfb2d-871e-419c-87af-27290b22e8db",
              "identity": {
                "user": {
                  "id": "7e1b4346-85a6-4bdd-abe3-d11c5d420efe",
                  "displayName": "Participant",
                  "identityProvider": "AAD",
                  "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47"
                },
                "application": null,
                "device": null,
                "phone": null
              }
            }
          ]
        }),
        &[
            ("278405a3-f568-4b3e-b684-009193463064", &op_id),
            ("a7ebfb2d-871e-419c-87af-27290b22e8db", &p2p),
            ("7e1b4346-85a6-4bdd-abe3-d11c5d420efe", &alex),
            ("\"Participant\"", "\"Alex Wilber\""),
            (DOC_TENANT, &app.tenant_id),
        ],
    );
    assert_contains(&expected_response, &op, "Example 3 response");

    // No ringing: it is all done without the clock moving.
    app.advance(0).await;
    let got = take(&app, &call);
    assert_eq!(kinds(&got), ["operation", "roster"], "{got:#?}");
    let expected_op = subst(
        json!({
           "@odata.type":"#microsoft.graph.commsNotifications",
           "value":[
              {
                 "@odata.type":"#microsoft.graph.commsNotification",
                 "changeType":"deleted",
                 "resource":"/app/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/operations/278405a3-f568-4b3e-b684-009193463064",
                 "resourceUrl":"/communications/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/operations/278405a3-f568-4b3e-b684-009193463064",
                 "resourceData":{
                    "@odata.type":"#microsoft.graph.inviteParticipantsOperation",
                    "participants":[
                       {
                          "@odata.type":"#microsoft.graph.invitationParticipantInfo",
                          "identity":{
                             "@odata.type":"#microsoft.graph.identitySet",
                             "user":{
                                "@odata.type":"#microsoft.graph.identity",
                                "id":"7e1b4346-85a6-4bdd-abe3-d11c5d420efe",
                                "identityProvider":"AAD",
                                "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
                             }
                          }
                       }
                    ],
                    "status":"completed",
                    "clientContext":"f2fa86af-3c51-4bc2-8fc0-475452d9764f",
                    "id":"278405a3-f568-4b3e-b684-009193463064"
                 }
              }
           ]
        }),
        &[
            ("ab6233a5-20b7-4c5e-bea2-ce56c9776429", &call),
            ("278405a3-f568-4b3e-b684-009193463064", &op_id),
            ("7e1b4346-85a6-4bdd-abe3-d11c5d420efe", &alex),
            (DOC_TENANT, &app.tenant_id),
        ],
    );
    assert_operation_notification(&got[0], &expected_op, "Example 3 operation completed");
    // Deviation: the doc's roster notification names the replaced P2P call (a7ebfb2d...) and
    // gives `resource` in the `/communications` form (slips, DESIGN.md): the roster goes to the
    // inviting call (ab6233a5...), with the legacy `/app` resource.
    let expected_roster = subst(
        json!({
           "@odata.type":"#microsoft.graph.commsNotifications",
           "value":[
              {
                 "@odata.type":"#microsoft.graph.commsNotification",
                 "changeType":"updated",
                 "resource":"/app/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/participants",
                 "resourceUrl":"/communications/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/participants",
                 "resourceData":[
                    {
                       "@odata.type":"#microsoft.graph.participant",
                       "info":{
                          "@odata.type":"#microsoft.graph.participantInfo",
                          "identity":{
                             "@odata.type":"#microsoft.graph.identitySet",
                             "user":{
                                "@odata.type":"#microsoft.graph.identity",
                                "id":"7e1b4346-85a6-4bdd-abe3-d11c5d420efe",
                                "identityProvider":"AAD",
                                "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
                             }
                          },
                          "endpointType":"default"
                       },
                       "mediaStreams":[
                          {
                             "@odata.type":"#microsoft.graph.mediaStream",
                             "mediaType":"audio",
                             "sourceId":"1",
                             "direction":"sendReceive",
                             "serverMuted":false
                          }
                       ],
                       "isMuted":false,
                       "isInLobby":false,
                       "id":"alex-participant-id"
                    }
                 ]
              }
           ]
        }),
        &[
            ("ab6233a5-20b7-4c5e-bea2-ce56c9776429", &call),
            ("7e1b4346-85a6-4bdd-abe3-d11c5d420efe", &alex),
            ("alex-participant-id", &alex_pid),
            (DOC_TENANT, &app.tenant_id),
        ],
    );
    assert_roster_notification(&got[1], &with_bot(expected_roster, bot), "Example 3 roster");

    // "With a completed status, you can expect to receive notifications on how your original
    // peer-to-peer call has been terminated and deleted": call-delete's two notifications.
    // Deviations: call-delete's example writes `code`/`subcode` as strings and 200/5001; the
    // resultInfo schema has Int32 codes, and an escalation ends the call with 200/7015
    // (DESIGN.md). The legacy `resource` is added.
    let got = take(&app, &p2p);
    assert_eq!(kinds(&got), ["call", "call"], "terminating, terminated: {got:#?}");
    let terminating = subst(
        json!({
          "@odata.type": "#microsoft.graph.commsNotifications",
          "value": [
            {
              "@odata.type": "#microsoft.graph.commsNotification",
              "changeType": "updated",
              "resource": "/app/calls/57dab8b1-894c-409a-b240-bd8beae78896",
              "resourceUrl": "/communications/calls/57dab8b1-894c-409a-b240-bd8beae78896",
              "resourceData": {
                "@odata.type": "#microsoft.graph.call",
                "state": "terminating"
              }
            }
          ]
        }),
        &[("57dab8b1-894c-409a-b240-bd8beae78896", &p2p)],
    );
    assert_contains(&terminating, &got[0].body, "Example 3 P2P terminating");
    let terminated = subst(
        json!({
          "@odata.type": "#microsoft.graph.commsNotifications",
          "value": [
            {
              "@odata.type": "#microsoft.graph.commsNotification",
              "changeType": "deleted",
              "resource": "/app/calls/57dab8b1-894c-409a-b240-bd8beae78896",
              "resourceUrl": "/communications/calls/57dab8b1-894c-409a-b240-bd8beae78896",
              "resourceData": {
                "@odata.type": "#microsoft.graph.call",
                "state": "terminated",
                "resultInfo": {
                  "@odata.type": "#microsoft.graph.resultInfo",
                  "code": 200,
                  "subcode": 7015
                }
              }
            }
          ]
        }),
        &[("57dab8b1-894c-409a-b240-bd8beae78896", &p2p)],
    );
    assert_contains(&terminated, &got[1].body, "Example 3 P2P terminated");

    app.get_call(&p2p).await.assert_error(404, "itemNotFound");
    assert_eq!(app.get_operation(&call, &op_id).await.assert_status(200)["status"], "Completed");
    // Nothing rings on: Alex never answers a ring, and nothing is pending.
    app.advance(120_000).await;
    assert!(take(&app, &call).is_empty());
    assert!(take(&app, &p2p).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Example 4: invite one PSTN participant
// ---------------------------------------------------------------------------------------------

/// The request of Example 4 for a phone number.
fn example_4_request(number: &str) -> Value {
    subst(
        json!({
          "participants": [
            {
              "@odata.type": "#microsoft.graph.invitationParticipantInfo",
              "identity": {
                "@odata.type": "#microsoft.graph.identitySet",
                "phone": {
                  "@odata.type": "#microsoft.graph.identity",
                  "id": "+12345678901"
                }
              }
            }
          ],
          "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f"
        }),
        &[("+12345678901", number)],
    )
}

fn example_4_response(op_id: &str, number: &str) -> Value {
    subst(
        json!({
          "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
          "id": "eec3812a-fdc3-4fb4-825c-a06c9f35414e",
          "status": "Running",
          "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f",
          "resultInfo": null,
          "participants": [
            {
              "endpointType": null,
              "id": null,
              "replacesCallId": null,
              "identity": {
                "user": null,
                "guest": null,
                "encrypted": null,
                "onPremises": null,
                "applicationInstance": null,
                "application": null,
                "device": null,
                "phone": {
                  "@odata.type": "#microsoft.graph.identity",
                  "id": "+12345678901"
                }
              }
            }
          ]
        }),
        &[("eec3812a-fdc3-4fb4-825c-a06c9f35414e", op_id), ("+12345678901", number)],
    )
}

/// The operation notification of Example 4.
/// Deviation: phone identities are rendered as `#microsoft.graph.communicationsIdentitySet`
/// (the only identity set whose SDK models know `phone`), not `identitySet`.
fn example_4_operation_notification(call: &str, op_id: &str, number: &str) -> Value {
    subst(
        json!({
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
                             "@odata.type":"#microsoft.graph.communicationsIdentitySet",
                             "phone": {
                                "@odata.type": "#microsoft.graph.identity",
                                "id": "+12345678901"
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
        }),
        &[
            ("ab6233a5-20b7-4c5e-bea2-ce56c9776429", call),
            ("eec3812a-fdc3-4fb4-825c-a06c9f35414e", op_id),
            ("+12345678901", number),
        ],
    )
}

#[tokio::test]
async fn example_4_a_phone_number_invited_by_an_app_with_an_application_instance_number_joins_the_roster() {
    let app = TestApp::spawn().await;
    let number = "+14255550101"; // "Front desk", answers after 2 s
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let bot = bot_entry(&app.client_id, &app.tenant_id, &my_participant_id(&app, &call).await);

    let response = app.invite(&call, &example_4_request(number)).await;
    let op = response.assert_status(200).clone();
    let op_id = operation_id(&op);
    assert_eq!(response.location(), format!("{}/beta/communications/calls/{call}/operations/{op_id}", app.base));
    assert_contains(&example_4_response(&op_id, number), &op, "Example 4 response");
    let phone_pid = participant_id_of(&op, 0);

    app.advance(1999).await;
    assert!(take(&app, &call).is_empty(), "the phone has not answered yet");
    app.advance(1).await;
    let got = take(&app, &call);
    assert_eq!(kinds(&got), ["operation", "roster"], "{got:#?}");
    assert_operation_notification(
        &got[0],
        &example_4_operation_notification(&call, &op_id, number),
        "Example 4 operation completed",
    );
    // Deviation: `communicationsIdentitySet` for the phone (see above); `id: null` is the
    // phone participant's real id; the bot's own entry is added.
    let expected_roster = subst(
        json!({
           "@odata.type":"#microsoft.graph.commsNotifications",
           "value":[
              {
                 "@odata.type":"#microsoft.graph.commsNotification",
                 "changeType":"updated",
                 "resource":"/app/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/participants",
                 "resourceUrl":"/communications/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/participants",
                 "resourceData":[
                    {
                       "@odata.type":"#microsoft.graph.participant",
                       "info":{
                          "@odata.type":"#microsoft.graph.participantInfo",
                          "identity":{
                             "@odata.type":"#microsoft.graph.communicationsIdentitySet",
                             "phone": {
                                "@odata.type": "#microsoft.graph.identity",
                                "id": "+12345678901"
                             }
                          },
                          "endpointType":"default"
                       },
                       "mediaStreams":[
                          {
                             "@odata.type":"#microsoft.graph.mediaStream",
                             "mediaType":"audio",
                             "sourceId":"1",
                             "direction":"sendReceive",
                             "serverMuted":false
                          }
                       ],
                       "isMuted":false,
                       "isInLobby":false,
                       "id":"phone-participant-id"
                    }
                 ]
              }
           ]
        }),
        &[
            ("ab6233a5-20b7-4c5e-bea2-ce56c9776429", &call),
            ("+12345678901", number),
            ("phone-participant-id", &phone_pid),
        ],
    );
    assert_roster_notification(&got[1], &with_bot(expected_roster, bot), "Example 4 roster");
    assert_eq!(app.get_operation(&call, &op_id).await.assert_status(200)["status"], "Completed");
}

#[tokio::test]
async fn example_4_a_phone_invite_from_an_app_without_an_application_instance_fails_asynchronously_with_403_10151() {
    let app = spawn_seeded(&[(SEED_APP_1, "Fabrikam Bot without a line", SEED_SECRET_1)]).await;
    let number = "+14255550101";
    let (call, _) = app.join_new_meeting(json!(null)).await;

    let response = app.invite(&call, &example_4_request(number)).await;
    let op = response.assert_status(200).clone();
    let op_id = operation_id(&op);
    // The failure is the world's to say: the invite itself is accepted and Running.
    assert_contains(&example_4_response(&op_id, number), &op, "Example 4 response without an instance");

    app.advance(0).await;
    let got = take(&app, &call);
    assert_eq!(kinds(&got), ["operation"], "only the failed operation, no roster change: {got:#?}");
    // Deviation: the doc shows the `completed` case only; without an application instance
    // number the operation fails with 403/10151 (DESIGN.md). Phone: communicationsIdentitySet.
    let mut expected = example_4_operation_notification(&call, &op_id, number);
    expected["value"][0]["resourceData"]["status"] = json!("failed");
    expected["value"][0]["resourceData"]["resultInfo"] =
        json!({"@odata.type": "#microsoft.graph.resultInfo", "code": 403, "subcode": 10151});
    assert_operation_notification(&got[0], &expected, "Example 4 operation failed");
    let result_info = got[0].resource_data()["resultInfo"].clone();
    let message = result_info["message"].as_str().expect("resultInfo.message");
    assert!(message.contains("4:+14255550101"), "the message names the number: {message}");
    assert!(message.starts_with("addParticipants failed for participant 4:+14255550101."), "{message}");
    assert!(message.ends_with("DiagCode: 403#10151"), "{message}");

    let done = app.get_operation(&call, &op_id).await;
    assert_eq!(done.assert_status(200)["status"], "Failed");
    assert_eq!(done.body["resultInfo"], result_info);
    let roster = app.list_participants(&call, "").await;
    assert_eq!(roster.assert_status(200)["value"].as_array().unwrap().len(), 1, "only the bot: {}", roster.body);
}

// ---------------------------------------------------------------------------------------------
// Example 5: move one participant from one meeting to another
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn example_5_a_participant_moved_between_two_meetings_of_the_app_leaves_the_source_and_joins_with_a_new_id() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance"); // answers after 1 s
    let (call_a, _) = app.join_new_meeting(json!(null)).await;
    let (call_b, _) = app.join_new_meeting(json!(null)).await;
    let bot_a = bot_entry(&app.client_id, &app.tenant_id, &my_participant_id(&app, &call_a).await);
    let bot_b = bot_entry(&app.client_id, &app.tenant_id, &my_participant_id(&app, &call_b).await);

    // Adele is in meeting A.
    let invited = app.invite(&call_a, &invite_body(&[user_identity(&adele)], "into A")).await;
    let source_pid = participant_id_of(invited.assert_status(200), 0);
    app.advance(1000).await;
    assert_eq!(kinds(&take(&app, &call_a)), ["operation", "roster"]);

    // The move, as in the doc: on the target call B, replacesCallId = the source call A.
    let request = subst(
        json!({
          "participants": [
            {
              "@odata.type": "#microsoft.graph.invitationParticipantInfo",
              "replacesCallId": "a7ebfb2d-871e-419c-87af-27290b22e8db",
              "participantId": "7d501bf1-5ee4-4605-ba92-0ae4513c611c",
              "identity": {
                "@odata.type": "#microsoft.graph.identitySet",
                "user": {
                  "@odata.type": "#microsoft.graph.identity",
                  "id": "682b6c37-0729-4fab-ace6-d730d5d9137e",
                  "identityProvider": "AAD"
                }
              }
            }
          ],
          "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f"
        }),
        &[
            ("a7ebfb2d-871e-419c-87af-27290b22e8db", &call_a),
            ("7d501bf1-5ee4-4605-ba92-0ae4513c611c", &source_pid),
            ("682b6c37-0729-4fab-ace6-d730d5d9137e", &adele),
        ],
    );
    let response = app.post(&format!("/beta/communications/calls/{call_b}/participants/invite"), &request).await;
    let op = response.assert_status(200).clone();
    let op_id = operation_id(&op);
    assert_eq!(response.location(), format!("{}/beta/communications/calls/{call_b}/operations/{op_id}", app.base));
    // As in the doc, the response echoes the request's `participantId` (the participant being
    // moved; invitationParticipantInfo: "the ID of the target participant").
    // Deviation: the doc's placeholder `displayName: "Participant"` is the directory's name.
    let expected_response = subst(
        json!({
          "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
          "id": "278405a3-f568-4b3e-b684-009193463064",
          "status": "Running",
          "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f",
          "resultInfo": null,
          "participants": [
            {
              "endpointType": null,
              "id": null,
              "replacesCallId": "a7ebfb2d-871e-419c-87af-27290b22e8db",
              "participantId": "7d501bf1-5ee4-4605-ba92-0ae4513c611c",
              "identity": {
                "user": {
                  "id": "682b6c37-0729-4fab-ace6-d730d5d9137e",
                  "displayName": "Participant",
                  "identityProvider": "AAD",
                  "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47"
                },
                "application": null,
                "device": null,
                "phone": null
              }
            }
          ]
        }),
        &[
            ("278405a3-f568-4b3e-b684-009193463064", &op_id),
            ("a7ebfb2d-871e-419c-87af-27290b22e8db", &call_a),
            ("7d501bf1-5ee4-4605-ba92-0ae4513c611c", &source_pid),
            ("682b6c37-0729-4fab-ace6-d730d5d9137e", &adele),
            ("\"Participant\"", "\"Adele Vance\""),
            (DOC_TENANT, &app.tenant_id),
        ],
    );
    // The echo of `participantId` is checked last (below), so that the rest of the move is
    // checked even when it differs.
    let mut without_echo = expected_response.clone();
    let echoed = without_echo["participants"][0].as_object_mut().unwrap().remove("participantId").unwrap();
    assert_contains(&without_echo, &op, "Example 5 response");

    // No ringing: the move is done without the clock moving.
    app.advance(0).await;

    // The source meeting's call: a roster without Adele (the bot alone). The doc shows no
    // source-side notification; DESIGN.md requires this one.
    let got_a = take(&app, &call_a);
    assert_eq!(kinds(&got_a), ["roster"], "{got_a:#?}");
    let source_roster = json!({
        "@odata.type": "#microsoft.graph.commsNotifications",
        "value": [{
            "@odata.type": "#microsoft.graph.commsNotification",
            "changeType": "updated",
            "resource": format!("/app/calls/{call_a}/participants"),
            "resourceUrl": format!("/communications/calls/{call_a}/participants"),
            "resourceData": [bot_a],
        }]
    });
    assert_roster_notification(&got_a[0], &source_roster, "Example 5 source roster");

    let got_b = take(&app, &call_b);
    assert_eq!(kinds(&got_b), ["operation", "roster"], "{got_b:#?}");
    let expected_op = subst(
        json!({
           "@odata.type":"#microsoft.graph.commsNotifications",
           "value":[
              {
                 "@odata.type":"#microsoft.graph.commsNotification",
                 "changeType":"deleted",
                 "resource":"/app/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/operations/278405a3-f568-4b3e-b684-009193463064",
                 "resourceUrl":"/communications/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/operations/278405a3-f568-4b3e-b684-009193463064",
                 "resourceData":{
                    "@odata.type":"#microsoft.graph.inviteParticipantsOperation",
                    "participants":[
                       {
                          "@odata.type":"#microsoft.graph.invitationParticipantInfo",
                          "identity":{
                             "@odata.type":"#microsoft.graph.identitySet",
                             "user":{
                                "@odata.type":"#microsoft.graph.identity",
                                "id":"682b6c37-0729-4fab-ace6-d730d5d9137e",
                                "identityProvider":"AAD",
                                "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
                             }
                          }
                       }
                    ],
                    "status":"completed",
                    "clientContext":"f2fa86af-3c51-4bc2-8fc0-475452d9764f",
                    "id":"278405a3-f568-4b3e-b684-009193463064"
                 }
              }
           ]
        }),
        &[
            ("ab6233a5-20b7-4c5e-bea2-ce56c9776429", &call_b),
            ("278405a3-f568-4b3e-b684-009193463064", &op_id),
            ("682b6c37-0729-4fab-ace6-d730d5d9137e", &adele),
            (DOC_TENANT, &app.tenant_id),
        ],
    );
    assert_operation_notification(&got_b[0], &expected_op, "Example 5 operation completed");

    // Adele is in meeting B under a new participant id.
    let roster = got_b[1].resource_data().as_array().unwrap().clone();
    let adele_entry = roster
        .iter()
        .find(|p| p["info"]["identity"]["user"]["id"] == adele.as_str())
        .unwrap_or_else(|| panic!("Adele is in meeting B's roster: {roster:#?}"));
    let new_pid = adele_entry["id"].as_str().unwrap().to_owned();
    assert_ne!(new_pid, source_pid, "a new participant id in the target meeting");
    // Deviation: the doc's roster notification gives `resource` in the `/communications` form;
    // `id: null` is the new participant id; the bot's own entry is added.
    let expected_roster = subst(
        json!({
           "@odata.type":"#microsoft.graph.commsNotifications",
           "value":[
              {
                 "@odata.type":"#microsoft.graph.commsNotification",
                 "changeType":"updated",
                 "resource":"/app/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/participants",
                 "resourceUrl":"/communications/calls/ab6233a5-20b7-4c5e-bea2-ce56c9776429/participants",
                 "resourceData":[
                    {
                       "@odata.type":"#microsoft.graph.participant",
                       "info":{
                          "@odata.type":"#microsoft.graph.participantInfo",
                          "identity":{
                             "@odata.type":"#microsoft.graph.identitySet",
                             "user":{
                                "@odata.type":"#microsoft.graph.identity",
                                "id":"682b6c37-0729-4fab-ace6-d730d5d9137e",
                                "identityProvider":"AAD",
                                "tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"
                             }
                          },
                          "endpointType":"default"
                       },
                       "mediaStreams":[
                          {
                             "@odata.type":"#microsoft.graph.mediaStream",
                             "mediaType":"audio",
                             "sourceId":"1",
                             "direction":"sendReceive",
                             "serverMuted":false
                          }
                       ],
                       "isMuted":false,
                       "isInLobby":false,
                       "id":"new-participant-id"
                    }
                 ]
              }
           ]
        }),
        &[
            ("ab6233a5-20b7-4c5e-bea2-ce56c9776429", &call_b),
            ("682b6c37-0729-4fab-ace6-d730d5d9137e", &adele),
            ("new-participant-id", &new_pid),
            (DOC_TENANT, &app.tenant_id),
        ],
    );
    assert_roster_notification(&got_b[1], &with_bot(expected_roster, bot_b), "Example 5 target roster");

    // The resources agree with the notifications.
    app.get_participant(&call_a, &source_pid).await.assert_error(404, "itemNotFound");
    let in_b = app.get_participant(&call_b, &new_pid).await;
    assert_eq!(in_b.assert_status(200)["info"]["identity"]["user"]["id"], adele.as_str());
    assert_eq!(app.list_participants(&call_a, "").await.assert_status(200)["value"].as_array().unwrap().len(), 1);
    assert_eq!(app.list_participants(&call_b, "").await.assert_status(200)["value"].as_array().unwrap().len(), 2);
    assert_eq!(app.get_operation(&call_b, &op_id).await.assert_status(200)["status"], "Completed");

    // The doc's response echoes the request's `participantId` (the moved participant's id in
    // the source meeting); the new id is learned from the target roster.
    assert_eq!(
        op["participants"][0]["participantId"], echoed,
        "Example 5 response: participants[0].participantId echoes the request (source participant {source_pid}); \
         the new participant id is {new_pid}"
    );
}

#[tokio::test]
async fn example_5_moving_between_meetings_not_both_created_by_the_inviting_app_is_403_access_denied() {
    let mut app =
        spawn_seeded(&[(SEED_APP_1, "Fabrikam Bot", SEED_SECRET_1), (SEED_APP_2, "Fabrikam Other Bot", SEED_SECRET_2)])
            .await;
    let token_1 = app.token().to_owned();
    let token_2 = app.fetch_token(SEED_TENANT, SEED_APP_2, SEED_SECRET_2).await;
    let adele = app.user("Adele Vance"); // answers at once

    // App 1 creates meeting 1, app 2 creates meeting 2; app 2 joins its own meeting.
    let meeting_1 = app.create_meeting(&json!({"subject": "meeting 1"})).await.assert_status(201).clone();
    app.set_token(token_2.clone());
    let meeting_2 = app.create_meeting(&json!({"subject": "meeting 2"})).await.assert_status(201).clone();
    let _app_2_call = join_meeting(&app, &meeting_2, &adele).await;
    // App 1 joins both meetings: call A in meeting 1 (its own), call B in meeting 2 (app 2's).
    app.set_token(token_1);
    let call_a = join_meeting(&app, &meeting_1, &adele).await;
    let call_b = join_meeting(&app, &meeting_2, &adele).await;

    // Adele is in both meetings (invited by app 1 into each).
    let into_a = app.invite(&call_a, &invite_body(&[user_identity(&adele)], "into A")).await;
    let pid_a = participant_id_of(into_a.assert_status(200), 0);
    let into_b = app.invite(&call_b, &invite_body(&[user_identity(&adele)], "into B")).await;
    let pid_b = participant_id_of(into_b.assert_status(200), 0);
    app.advance(0).await;
    assert_eq!(kinds(&take(&app, &call_a)), ["operation", "roster"]);
    assert_eq!(kinds(&take(&app, &call_b)), ["operation", "roster"]);
    app.hooks.take();

    let move_body = |source_call: &str, participant: &str| {
        json!({
          "participants": [{
              "@odata.type": "#microsoft.graph.invitationParticipantInfo",
              "replacesCallId": source_call,
              "participantId": participant,
              "identity": user_identity(&adele),
          }],
          "clientContext": "f2fa86af-3c51-4bc2-8fc0-475452d9764f"
        })
    };
    // From app 1's meeting into app 2's meeting: the target was not created by the mover.
    app.invite(&call_b, &move_body(&call_a, &pid_a)).await.assert_error(403, "accessDenied");
    // From app 2's meeting into app 1's meeting: the source was not created by the mover.
    app.invite(&call_a, &move_body(&call_b, &pid_b)).await.assert_error(403, "accessDenied");

    // Nothing moved and nothing was notified.
    app.advance(0).await;
    assert_eq!(app.hooks.len(), 0, "{:#?}", app.hooks.take());
    for (call, pid) in [(&call_a, &pid_a), (&call_b, &pid_b)] {
        let p = app.get_participant(call, pid).await;
        assert_eq!(p.assert_status(200)["info"]["identity"]["user"]["id"], adele.as_str());
    }
}
