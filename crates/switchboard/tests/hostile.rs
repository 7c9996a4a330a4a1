//! Hostile input, black box: oversized, deeply nested, malformed and out-of-range requests get a
//! Graph error with the right status and leave nothing behind; callback URIs outside the policy
//! are refused at creation and redirects are followed only within it; secrets and tokens never
//! reach the log.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn meeting_with_roster(app: &TestApp) -> String {
    let (call, _) = app.join_new_meeting(json!(null)).await;
    call
}

fn roster_size(r: &Resp) -> usize {
    r.body["value"].as_array().unwrap().len()
}

#[tokio::test]
async fn hostile_bodies_and_headers_get_graph_errors_and_change_nothing() {
    let app = TestApp::spawn().await;
    let call = meeting_with_roster(&app).await;
    let invite = format!("/beta/communications/calls/{call}/participants/invite");

    // Nesting far past any real body.
    let deep = format!("{{\"participants\":{}1{}}}", "[".repeat(300), "]".repeat(300));
    app.post_raw(&invite, "application/json", deep).await.assert_error(400, "invalidRequest");
    // Unknown enum values.
    let r = app
        .invite(&call, &json!({"participants": [{"endpointType": "toaster", "identity": {"user": {"id": "x"}}}]}))
        .await;
    r.assert_error(400, "invalidRequest");
    let r = app
        .create_call(&json!({"callbackUri": app.callback, "requestedModalities": ["smell"],
                              "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
                              "targets": [{"identity": {"user": {"id": "x"}}}]}))
        .await;
    r.assert_error(400, "invalidRequest");
    // A huge array (20,000 invitees, under the body limit).
    let many: Vec<Value> = (0..20_000).map(|i| json!({"identity": {"user": {"id": format!("u{i}")}}})).collect();
    app.invite(&call, &json!({ "participants": many })).await.assert_error(400, "invalidRequest");
    // Over-long and non-ASCII ids.
    let long_id = "ü".repeat(200);
    app.invite(&call, &invite_body(&[user_identity(&long_id)], "long")).await.assert_error(400, "invalidRequest");
    // A control character in an id.
    app.invite(&call, &invite_body(&[user_identity("adele\u{1}")], "control"))
        .await
        .assert_error(400, "invalidRequest");
    app.get_call(&"x".repeat(5000)).await.assert_error(404, "itemNotFound");
    app.get_call("%C3%BC%C3%B1%C3%AF").await.assert_error(404, "itemNotFound");
    app.get_participant(&call, &"p".repeat(3000)).await.assert_error(404, "itemNotFound");
    // Headers larger than the limit.
    let r = app
        .http
        .get(format!("{}/beta/communications/calls/{call}", app.base))
        .bearer_auth(app.token())
        .header("x-padding", "a".repeat(64 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "requestHeaderFieldsTooLarge");
    // Wrong content type, duplicate keys, a body over 1 MiB.
    app.post_raw(&invite, "text/plain", "{}").await.assert_error(415, "unsupportedMediaType");
    let dup = r#"{"participants":[{"identity":{"user":{"id":"a","id":"b"}}}]}"#;
    app.post_raw(&invite, "application/json", dup).await.assert_error(400, "invalidRequest");
    let big = format!("{{\"clientContext\":\"{}\"}}", "a".repeat(1024 * 1024 + 1));
    app.post_raw(&invite, "application/json", big).await.assert_error(413, "requestEntityTooLarge");

    // Nothing was half-written: the roster is the bot alone, and no notification was queued.
    app.advance(0).await;
    assert_eq!(roster_size(&app.list_participants(&call, "").await), 1);
    assert_eq!(app.hooks.take_for(&call).len(), 0);
    let log = app.control(Method::GET, &format!("/_switchboard/notifications?callId={call}"), None).await;
    assert_eq!(log.assert_status(200)["value"].as_array().unwrap().len(), 3, "only the join's three notifications");
}

/// What PostgreSQL cannot store is refused on SQLite and on PostgreSQL alike (PostgreSQL used to
/// answer 500): U+0000 in a body, an id, a query or a form, and a directory id too long to index.
#[tokio::test]
async fn input_postgresql_cannot_store_is_refused_alike_on_both_stores() {
    let schema = PgSchema::create().await;
    let sqlite = TestApp::spawn_with(SpawnOptions { clock_virtual: false, ..SpawnOptions::default() }).await;
    let postgres = TestApp::spawn_with(SpawnOptions {
        clock_virtual: false,
        database_url: Some(schema.url.clone()),
        ..SpawnOptions::default()
    })
    .await;
    for app in [&sqlite, &postgres] {
        let adele = app.user("Adele Vance");
        let call = |subject: &str, target: &str| {
            json!({"callbackUri": app.callback, "subject": subject, "requestedModalities": ["audio"],
                   "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
                   "targets": [{"identity": user_identity(target)}]})
        };
        // JSON strings: a value, an id, a key.
        app.create_call(&call("a\u{0}b", &adele)).await.assert_error(400, "invalidRequest");
        app.create_call(&call("s", &format!("{adele}\u{0}"))).await.assert_error(400, "invalidRequest");
        let call_id = app.create_call(&call("s", &adele)).await.assert_status(201)["id"].as_str().unwrap().to_owned();
        let invite = format!("/beta/communications/calls/{call_id}/participants/invite");
        let key = r#"{"participants":[{"identity":{"user":{"id":"x"}}}],"clientContext\u0000":"c"}"#;
        app.post_raw(&invite, "application/json", key).await.assert_error(400, "invalidRequest");
        // Ids in the path, and the query.
        app.get_call("abc%00def").await.assert_error(400, "invalidRequest");
        app.get_participant(&call_id, "p%00").await.assert_error(400, "invalidRequest");
        app.list_participants(&call_id, "?$skiptoken=%00").await.assert_error(400, "invalidRequest");
        let behaviour = json!({"kind": "answer", "afterMs": 0});
        let r = app.control(Method::PUT, "/_switchboard/users/u%00/behaviour", Some(&behaviour)).await;
        r.assert_error(400, "invalidRequest");
        // The identity endpoints: a form field, the authorization request's query.
        let token = app
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", app.base, app.tenant_id))
            .form(&[("grant_type", "client_credentials"), ("client_id", "a\0"), ("client_secret", "s"), ("scope", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), 400);
        assert_eq!(token.json::<Value>().await.unwrap()["error"], "invalid_request");
        let authorize =
            app.http.get(format!("{}/{}/oauth2/v2.0/authorize?client_id=%00", app.base, app.tenant_id)).send().await;
        let authorize = authorize.unwrap();
        assert_eq!(authorize.status(), 400);
        assert_eq!(authorize.json::<Value>().await.unwrap()["error"], "invalid_request");
        // Directory ids: at most 128 characters (the most a call's identity may have). Varied
        // characters, which PostgreSQL cannot compress below its index entry limit.
        let id = |n: usize| (0..n).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect::<String>();
        let user = |id: String| json!({"id": id, "displayName": "Long", "tenantId": app.tenant_id});
        let r = app.control(Method::POST, "/_switchboard/users", Some(&user(id(4000)))).await;
        r.assert_error(400, "invalidRequest");
        let seed = json!({"tenants": [{"id": id(129)}]});
        app.control(Method::POST, "/_switchboard/directory/import", Some(&seed))
            .await
            .assert_error(400, "invalidRequest");
        app.control(Method::POST, "/_switchboard/users", Some(&user(id(128)))).await.assert_status(201);
        // The store is unharmed: the call reads back as created.
        assert_eq!(app.get_call(&call_id).await.assert_status(200)["subject"], "s");
    }
}

#[tokio::test]
async fn callback_uris_outside_the_policy_are_refused_at_creation() {
    let app = TestApp::spawn().await;
    let own = format!("{}/_switchboard/reset", app.base);
    let own_localhost = own.replace("127.0.0.1", "localhost");
    for uri in [
        "http://169.254.169.254/latest/meta-data",
        "https://169.254.169.254/cb",
        "https://[fe80::1]/cb",
        "http://0.0.0.0:9000/cb",
        "http://example.com/cb",
        "ftp://example.com/cb",
        own.as_str(),
        own_localhost.as_str(),
    ] {
        let r = app
            .create_call(
                &json!({"callbackUri": uri, "targets": [{"identity": {"user": {"id": app.user("Adele Vance")}}}]}),
            )
            .await;
        let message = r.assert_error(400, "invalidRequest");
        assert!(message.contains("callbackUri"), "{uri}: {message}");
    }
    let ok = app
        .create_call(&json!({"callbackUri": "https://bot.example.com/cb",
                              "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
                              "targets": [{"identity": {"user": {"id": app.user("Adele Vance")}}}]}))
        .await;
    ok.assert_status(201);
}

#[tokio::test]
async fn a_callback_uri_on_switchboards_own_tls_listener_is_refused() {
    let app = TestApp::spawn_with(SpawnOptions { tls: true, ..SpawnOptions::default() }).await;
    let tls = app.tls_base.clone().expect("a TLS listener");
    let body = |uri: String| {
        json!({"callbackUri": uri, "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
               "targets": [{"identity": {"user": {"id": app.user("Adele Vance")}}}]})
    };
    for uri in [format!("{tls}/cb"), format!("{}/cb", tls.replace("127.0.0.1", "localhost"))] {
        let message = app.create_call(&body(uri.clone())).await.assert_error(400, "invalidRequest");
        assert!(message.contains("callbackUri"), "{uri}: {message}");
    }
    // Control: https on loopback elsewhere is accepted.
    app.create_call(&body("https://127.0.0.1:9/cb".to_owned())).await.assert_status(201);
}

/// A bot endpoint that answers every POST with a redirect to `location`.
async fn redirecting_endpoint(location: String) -> (String, Arc<Mutex<usize>>) {
    let hits = Arc::new(Mutex::new(0usize));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let (h, location) = (h.clone(), location.clone());
        async move {
            *h.lock().unwrap() += 1;
            (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, location)])
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

#[tokio::test]
async fn a_redirect_from_the_bot_moves_the_calls_callbacks_only_within_the_policy() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    app.set_user_behaviour(&adele, json!({"kind": "noAnswer"})).await;
    let target = format!("{}/moved-here", app.hooks.url);
    let (redirector, hits) = redirecting_endpoint(target.clone()).await;
    let created = app
        .create_call(&json!({"callbackUri": format!("{redirector}/cb"), "requestedModalities": ["audio"],
                              "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
                              "targets": [{"identity": {"user": {"id": adele}}}]}))
        .await;
    let call = created.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.len(), 1, "the establishing notification followed the redirect");
    assert_eq!(got[0].path, "/moved-here");
    assert_eq!(*hits.lock().unwrap(), 1);
    assert_eq!(app.get_call(&call).await.assert_status(200)["callbackUri"], target.as_str());

    // A redirect to a place the policy forbids is not followed.
    let (bad_redirector, bad_hits) = redirecting_endpoint("http://169.254.169.254/steal".to_owned()).await;
    let created = app
        .create_call(&json!({"callbackUri": format!("{bad_redirector}/cb"), "requestedModalities": ["audio"],
                              "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
                              "targets": [{"identity": {"user": {"id": adele}}}]}))
        .await;
    let call = created.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.advance(0).await;
    assert_eq!(*bad_hits.lock().unwrap(), 1);
    assert_eq!(app.get_call(&call).await.assert_status(200)["callbackUri"], format!("{bad_redirector}/cb").as_str());
    let log = app.control(Method::GET, &format!("/_switchboard/notifications?callId={call}"), None).await;
    let first = &log.assert_status(200)["value"][0];
    assert_eq!(first["state"], "pending", "to be retried at the same URI: {first}");
    assert_eq!(first["attempts"][0]["status"], 302);
}

#[tokio::test]
async fn secrets_and_tokens_never_reach_the_log() {
    let app = TestApp::spawn_with(SpawnOptions { rust_log: "trace", ..Default::default() }).await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    app.hooks.answer_with(500);
    let adele = app.user("Adele Vance");
    app.invite(&call, &invite_body(&[user_identity(&adele)], "logs")).await.assert_status(200);
    app.advance(1000).await;
    app.control(Method::GET, "/_switchboard/directory", None).await.assert_status(200);
    let bad = app
        .request_as(Method::GET, &format!("/beta/communications/calls/{call}"), Some("garbage.token.here"), None)
        .await;
    bad.assert_status(401);
    let callback_token = {
        app.hooks.answer_with(202);
        app.advance(60_000).await;
        let got = app.hooks.take_for(&call);
        assert!(!got.is_empty());
        got[0].headers["authorization"].to_str().unwrap().trim_start_matches("Bearer ").to_owned()
    };
    let log = std::fs::read_to_string(app.data_dir.join("server.log")).unwrap();
    assert!(log.len() > 1000, "trace logging produced a log to inspect");
    for (what, secret) in [
        ("client secret", app.client_secret.as_str()),
        ("access token", app.token()),
        ("admin token", app.admin_token.as_str()),
        ("callback token", callback_token.as_str()),
    ] {
        assert!(!log.contains(secret), "the {what} appears in the log");
        // Not even a recognisable piece of it (JWT signatures and secrets are long and random).
        let tail = &secret[secret.len() - 24..];
        assert!(!log.contains(tail), "a piece of the {what} appears in the log");
    }
}
