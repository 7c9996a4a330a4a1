//! What an operator sees: `/metrics`, `/healthz` and `/readyz`, `/openapi.json` against the
//! router, and structured logs that carry the request, call and operation ids.

mod common;

use std::collections::BTreeSet;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// The value of the sample of `name` whose labels include every `labels` pair.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        if metric != name || !labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))) {
            return None;
        }
        value.parse().ok()
    })
}

async fn metrics(app: &TestApp) -> String {
    let (status, text) = app.get_text("/metrics").await;
    assert_eq!(status, 200);
    text
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_operations_deliveries_and_read_gauges_from_the_store() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    app.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 1000})).await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    app.invite(&call, &invite_body(&[user_identity(&adele)], "metrics")).await.assert_status(200);
    app.advance(1000).await;
    app.get_call("no-such-call").await.assert_error(404, "itemNotFound");

    let text = metrics(&app).await;
    let invite_route = "/beta/communications/calls/{call_id}/participants/invite";
    assert_eq!(
        sample(&text, "switchboard_http_requests_total", &[("route", invite_route), ("status", "200")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "switchboard_http_requests_total",
            &[("route", "/beta/communications/calls/{call_id}"), ("status", "404")]
        ),
        Some(1.0),
        "by route template, never the raw path"
    );
    assert!(!text.contains("no-such-call"));
    let bucket = sample(
        &text,
        "switchboard_http_request_duration_seconds_bucket",
        &[("route", invite_route), ("status", "200"), ("le", "+Inf")],
    );
    assert_eq!(bucket, Some(1.0), "a latency histogram:\n{text}");
    assert_eq!(sample(&text, "switchboard_operations_total", &[("kind", "invite"), ("outcome", "started")]), Some(1.0));
    assert_eq!(
        sample(&text, "switchboard_operations_total", &[("kind", "invite"), ("outcome", "completed")]),
        Some(1.0)
    );
    assert_eq!(sample(&text, "switchboard_notification_deliveries_total", &[("outcome", "delivered")]), Some(5.0));
    assert!(
        sample(&text, "switchboard_notification_delivery_duration_seconds_count", &[("outcome", "delivered")])
            == Some(5.0)
    );
    assert_eq!(sample(&text, "switchboard_outbox_pending", &[]), Some(0.0));
    assert_eq!(sample(&text, "switchboard_calls_active", &[]), Some(1.0));
    assert_eq!(sample(&text, "switchboard_participants", &[("state", "connected")]), Some(2.0));
    assert!(text.contains("# HELP switchboard_outbox_oldest_pending_age_seconds"));
    // The SQLite store times the syncs every answer above waited for, and its checkpoints.
    for disk_work in ["switchboard_store_log_sync_duration_seconds", "switchboard_store_checkpoint_duration_seconds"] {
        let observed = sample(&text, &format!("{disk_work}_count"), &[]);
        assert!(observed >= Some(1.0), "{disk_work}: {observed:?}\n{text}");
    }
}

#[tokio::test]
async fn the_outbox_gauges_show_a_failing_callback_backing_up() {
    let app = TestApp::spawn().await;
    app.hooks.answer_with(503);
    let (call, _) = {
        let meeting = app.create_meeting(&json!({"subject": "backlog"})).await.assert_status(201).clone();
        let body = json!({
            "callbackUri": app.callback, "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "chatInfo": {"threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo", "organizer": {"user": {"id": app.user("Adele Vance")}}},
        });
        (app.create_call(&body).await.assert_status(201)["id"].as_str().unwrap().to_owned(), meeting)
    };
    app.advance(0).await;
    app.advance(500).await;
    let text = metrics(&app).await;
    assert_eq!(
        sample(&text, "switchboard_outbox_pending", &[]),
        Some(3.0),
        "{call}: establishing, established, roster"
    );
    assert_eq!(sample(&text, "switchboard_outbox_oldest_pending_age_seconds", &[]), Some(0.5));
    assert_eq!(sample(&text, "switchboard_notification_deliveries_total", &[("outcome", "failed")]), Some(1.0));
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get_text("/healthz").await, (200, "ok".to_owned()));
    assert_eq!(app.get_text("/readyz").await, (200, "ready".to_owned()));
}

/// Runs SQL on the test database as its administrator, off the runtime; panics if it fails.
async fn admin(sql: String) {
    tokio::task::spawn_blocking(move || admin_sql(&sql).unwrap_or_else(|e| panic!("{e}"))).await.unwrap();
}

/// A login role of the test database with every right on one schema, dropped with the value
/// (with what it owns), so a test can lock a server out of the database.
struct PgRole(String);

impl PgRole {
    async fn create(schema: &PgSchema) -> PgRole {
        let role = format!("ready_{}", uuid::Uuid::new_v4().simple());
        admin(format!("CREATE ROLE {role} LOGIN; GRANT ALL ON SCHEMA {} TO {role}", schema.name)).await;
        PgRole(role)
    }
}

impl Drop for PgRole {
    fn drop(&mut self) {
        let sql = format!("DROP OWNED BY {role}; DROP ROLE {role}", role = self.0);
        let _ = std::thread::spawn(move || admin_sql(&sql)).join();
    }
}

/// Polls `path` (at most 20 s) until it answers `status`; returns the body.
async fn wait_for_status(app: &TestApp, path: &str, status: u16) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (got, body) = app.get_text(path).await;
        if got == status {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "{path} still answers {got} {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn readiness_fails_with_a_graph_error_while_the_database_refuses_and_recovers_after() {
    // The server connects as a role of its own, so the test can lock that role out.
    let schema = PgSchema::create().await;
    let role = PgRole::create(&schema).await;
    let mut url = reqwest::Url::parse(&schema.url).unwrap();
    url.set_username(&role.0).unwrap();
    url.set_password(None).unwrap();
    let options = SpawnOptions { clock_virtual: false, database_url: Some(url.to_string()), ..Default::default() };
    let mut app = TestApp::spawn_with(options).await;
    assert_eq!(app.get_text("/readyz").await, (200, "ready".to_owned()));

    let name = &role.0;
    admin(format!(
        "ALTER ROLE {name} NOLOGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'"
    ))
    .await;
    let body = wait_for_status(&app, "/readyz", 503).await;
    let body: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(body["error"]["code"], "serviceNotAvailable", "{body}");
    assert_eq!(app.get_text("/healthz").await, (200, "ok".to_owned()), "the process itself is alive");
    // A Graph request meanwhile is told to come back: 503 with Retry-After, not a 500.
    let r = app.create_meeting(&json!({"subject": "during the outage"})).await;
    r.assert_error(503, "serviceNotAvailable");
    assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "{:?}", r.headers);

    admin(format!("ALTER ROLE {name} LOGIN")).await;
    assert_eq!(wait_for_status(&app, "/readyz", 200).await, "ready");
    app.create_meeting(&json!({"subject": "after the outage"})).await.assert_status(201);
    // Stopped before the role is dropped with the tables it owns.
    assert!(app.terminate(std::time::Duration::from_secs(10)).await, "the server stops");
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_every_operation_in_it_is_routed() {
    let app = TestApp::spawn().await;
    let (status, text) = app.get_text("/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], app.base.as_str());

    let mut operations = BTreeSet::new();
    let mut secured = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["responses"].is_object(), "{method} {path} documents its answers");
            operations.insert((method.to_uppercase(), path.clone()));
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                secured.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(secured.len() > 200, "Graph and control routes declare who may call them");
    assert!(operations.len() > 200, "Graph routes on both versions and both prefixes: {}", operations.len());
    for expected in [
        ("POST", "/beta/communications/calls/{call_id}/participants/invite"),
        ("POST", "/v1.0/app/calls/{call_id}/participants/microsoft.graph.invite"),
        ("POST", "/_switchboard/participants/{id}/accept"),
        ("GET", "/metrics"),
        ("GET", "/console"),
        ("POST", "/{tenant}/oauth2/v2.0/token"),
    ] {
        assert!(operations.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} is documented");
    }

    // Every documented operation reaches a handler: never the fallback (Graph's 400 for an
    // unknown segment or version, 404 UnknownError elsewhere) nor a 405. Requests carry no
    // credentials, so they stop at authentication at the latest.
    for (method, path) in &operations {
        if path == "/_switchboard/events" {
            continue; // without the token it answers 401 at once; with it, it streams (tested elsewhere)
        }
        let concrete = path.split('/').map(|s| if s.starts_with('{') { "x1" } else { s }).collect::<Vec<_>>().join("/");
        let request =
            app.http.request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{concrete}", app.base));
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path} is routed: {body}");
        assert!(!(status == 404 && body.contains("UnknownError")), "{method} {path} is routed: {body}");
        assert!(
            !(body.contains("Resource not found for the segment") || body.contains("Invalid version")),
            "{method} {path} is routed: {body}"
        );
        if secured.contains(&(method.clone(), path.clone())) {
            // What the document says is guarded is guarded, before anything else is looked at.
            assert_eq!(status, 401, "{method} {path} needs a credential: {body}");
        }
    }
    // And the other way: a path the document does not list answers the fallback.
    let (status, body) = app.get_text("/beta/communications/nothing-here").await;
    assert_eq!(status, 400);
    assert!(body.contains("Resource not found for the segment 'nothing-here'."), "{body}");
    let (status, body) = app.get_text("/_switchboard/nothing-here").await;
    assert_eq!(status, 404);
    assert!(body.contains("UnknownError"), "{body}");
}

fn json_lines(log: &str) -> Vec<Value> {
    log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect()
}

/// The value of `field` in a JSON log line: in the event's fields or in any span it belongs to.
fn field<'a>(line: &'a Value, name: &str) -> Option<&'a str> {
    line["fields"][name]
        .as_str()
        .or_else(|| line["spans"].as_array()?.iter().rev().find_map(|s| s[name].as_str()))
        .map(|s| s.trim_matches('"'))
}

#[tokio::test]
async fn json_logs_carry_the_request_call_and_operation_ids_on_every_line_about_them() {
    let app = TestApp::spawn_with(SpawnOptions {
        extra_args: vec!["--log-format".into(), "json".into()],
        ..Default::default()
    })
    .await;
    let adele = app.user("Adele Vance");
    app.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 1000})).await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let invited = app.invite(&call, &invite_body(&[user_identity(&adele)], "logs")).await;
    let request_id = invited.headers["request-id"].to_str().unwrap().to_owned();
    let op = invited.assert_status(200)["id"].as_str().unwrap().to_owned();
    app.advance(1000).await;

    let lines = json_lines(&app.server_log());
    let started =
        lines.iter().find(|l| l["fields"]["message"] == "invite started").expect("a line saying the invite started");
    assert_eq!(field(started, "request_id"), Some(request_id.as_str()));
    assert_eq!(field(started, "call_id"), Some(call.as_str()));
    assert_eq!(field(started, "operation_id"), Some(op.as_str()));

    let answered: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request answered" && field(l, "request_id") == Some(request_id.as_str()))
        .collect();
    assert_eq!(answered.len(), 1, "one line per request, with its id");
    assert_eq!(answered[0]["fields"]["status"], 200);
    assert_eq!(field(answered[0], "call_id"), Some(call.as_str()), "the call named in the path");

    let settled = lines
        .iter()
        .find(|l| l["fields"]["message"] == "operation settled")
        .expect("a line saying the operation settled (from the timer)");
    assert_eq!(field(settled, "call_id"), Some(call.as_str()));
    assert_eq!(field(settled, "operation_id"), Some(op.as_str()));
    assert_eq!(settled["fields"]["status"], "Completed");

    let deliveries: Vec<&Value> =
        lines.iter().filter(|l| field(l, "notification_id").is_some() || l["span"]["name"] == "delivery").collect();
    assert!(deliveries.iter().all(|l| field(l, "call_id").is_some()), "delivery lines name their call");
}

#[tokio::test]
async fn rust_log_sets_the_levels() {
    let app = TestApp::spawn_with(SpawnOptions { rust_log: "warn", ..Default::default() }).await;
    app.get_call("no-such-call").await.assert_error(404, "itemNotFound");
    let log = app.server_log();
    assert!(!log.contains("request answered"), "info lines are off with RUST_LOG=warn:\n{log}");
}
