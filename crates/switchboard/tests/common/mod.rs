//! The black-box test harness: spawns the real `switchboard` binary on port 0 with its own
//! data directory and a virtual clock, and a real webhook receiver for its callbacks. One
//! helper method per endpoint; every response is checked for the basics (a `request-id`
//! header, and a Graph error body on 4xx/5xx).
#![allow(dead_code)]

pub mod agent;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const STARTUP: Duration = Duration::from_secs(30);

/// A running server and the receiver of its callbacks.
pub struct TestApp {
    pub base: String,
    /// The https base of the TLS listener, when spawned with `tls`.
    pub tls_base: Option<String>,
    pub data_dir: PathBuf,
    pub credentials: Value,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub admin_token: String,
    pub http: reqwest::Client,
    pub hooks: Receiver,
    /// The callback URI of calls created through the helpers.
    pub callback: String,
    token: String,
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

/// A response, already checked for the basics.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn location(&self) -> String {
        self.headers.get("location").expect("Location header").to_str().unwrap().to_owned()
    }

    /// Asserts a Graph error with this status and code; returns the message.
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "unexpected status, body: {}", self.body);
        assert_eq!(self.body["error"]["code"], code, "unexpected error code, body: {}", self.body);
        self.body["error"]["message"].as_str().unwrap().to_owned()
    }

    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status, body: {}", self.body);
        &self.body
    }
}

pub struct SpawnOptions {
    pub clock_virtual: bool,
    pub config: Option<String>,
    /// A seed file to start with, as is (TOML, or JSON when it ends in `.json`).
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    /// `RUST_LOG` of the server (its log is `DATA_DIR/server.log`).
    pub rust_log: &'static str,
    /// More arguments of `switchboard serve`.
    pub extra_args: Vec<String>,
    /// `--database-url` (PostgreSQL; see [`PgSchema`]); SQLite in the data directory without it.
    pub database_url: Option<String>,
    /// Also listen with TLS (`--tls-listen 127.0.0.1:0`).
    pub tls: bool,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        SpawnOptions {
            clock_virtual: true,
            config: None,
            config_file: None,
            data_dir: None,
            rust_log: "info",
            extra_args: Vec::new(),
            database_url: None,
            tls: false,
        }
    }
}

impl TestApp {
    /// A server on the development seed with a virtual clock.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(SpawnOptions::default()).await
    }

    pub async fn spawn_with(options: SpawnOptions) -> TestApp {
        TestApp::spawn_full(options, None).await
    }

    /// Kills the server (SIGKILL, unless it already died) and starts it again on the same data
    /// directory (development seed), with the same webhook receiver.
    pub async fn restart(self) -> TestApp {
        let TestApp { mut child, data_dir, hooks, _dir, .. } = self;
        let _ = child.kill().await;
        let mut app =
            TestApp::spawn_full(SpawnOptions { data_dir: Some(data_dir), ..Default::default() }, Some(hooks)).await;
        app._dir = _dir;
        app
    }

    /// Like [`TestApp::restart`], with these arguments of `switchboard serve` (e.g. a SIP trunk).
    pub async fn restart_with(self, extra_args: Vec<String>) -> TestApp {
        let TestApp { mut child, data_dir, hooks, _dir, .. } = self;
        let _ = child.kill().await;
        let options = SpawnOptions { data_dir: Some(data_dir), extra_args, ..Default::default() };
        let mut app = TestApp::spawn_full(options, Some(hooks)).await;
        app._dir = _dir;
        app
    }

    /// Waits until the server process exits by itself (e.g. at an armed failure point).
    pub async fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server did not stop")
            .unwrap()
    }

    async fn spawn_full(options: SpawnOptions, hooks: Option<Receiver>) -> TestApp {
        let (dir, data_dir) = match options.data_dir {
            Some(d) => (None, d),
            None => {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("data");
                (Some(dir), path)
            }
        };
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
        ];
        if options.clock_virtual {
            args.extend(["--clock".into(), "virtual".into()]);
        }
        if options.tls {
            args.extend(["--tls-listen".into(), "127.0.0.1:0".into()]);
        }
        if let Some(config) = &options.config {
            let path = data_dir.join("seed.toml");
            std::fs::write(&path, config).unwrap();
            args.extend(["--config".into(), path.display().to_string()]);
        }
        if let Some(path) = &options.config_file {
            args.extend(["--config".into(), path.display().to_string()]);
        }
        if let Some(url) = &options.database_url {
            args.extend(["--database-url".into(), url.clone()]);
        }
        args.extend(options.extra_args.iter().cloned());
        let seeded = options.config.is_some() || options.config_file.is_some();
        let stderr = std::fs::File::create(data_dir.join("server.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(&args)
            .env_remove("SWITCHBOARD_LISTEN")
            .env_remove("SWITCHBOARD_PUBLIC_URL")
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env("RUST_LOG", options.rust_log)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn switchboard serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(STARTUP, lines.next_line())
            .await
            .expect("server did not start in time")
            .unwrap()
            .unwrap_or_else(|| {
                panic!("server exited: {}", std::fs::read_to_string(data_dir.join("server.log")).unwrap())
            });
        let base = first.strip_prefix("Switchboard listening on ").expect("first line names the URL").to_owned();
        let tls_base = if options.tls {
            let second = lines.next_line().await.unwrap().expect("a second line naming the TLS URL");
            Some(
                second.strip_prefix("Switchboard TLS listening on ").expect("second line names the TLS URL").to_owned(),
            )
        } else {
            None
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let credentials: Value = if seeded {
            json!({})
        } else {
            serde_json::from_str(&std::fs::read_to_string(data_dir.join("dev-credentials.json")).unwrap()).unwrap()
        };
        let hooks = match hooks {
            Some(hooks) => hooks,
            None => Receiver::start().await,
        };
        let callback = format!("{}/callback", hooks.url);
        let mut app = TestApp {
            base,
            tls_base,
            data_dir,
            tenant_id: credentials["tenantId"].as_str().unwrap_or_default().to_owned(),
            client_id: credentials["clientId"].as_str().unwrap_or_default().to_owned(),
            client_secret: credentials["clientSecret"].as_str().unwrap_or_default().to_owned(),
            admin_token: credentials["adminToken"].as_str().unwrap_or_default().to_owned(),
            credentials,
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            hooks,
            callback,
            token: String::new(),
            child,
            _dir: dir,
        };
        if !app.client_id.is_empty() {
            app.token =
                app.fetch_token(&app.tenant_id.clone(), &app.client_id.clone(), &app.client_secret.clone()).await;
        }
        app
    }

    /// Another node on the same PostgreSQL database: its own data directory, holding copies of
    /// this node's signing keys and development credentials, and the same webhook receiver.
    pub async fn another_node(&self, options: SpawnOptions) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(data_dir.join("keys")).unwrap();
        for entry in std::fs::read_dir(self.data_dir.join("keys")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), data_dir.join("keys").join(entry.file_name())).unwrap();
        }
        std::fs::copy(self.data_dir.join("dev-credentials.json"), data_dir.join("dev-credentials.json")).unwrap();
        let mut app =
            TestApp::spawn_full(SpawnOptions { data_dir: Some(data_dir), ..options }, Some(self.hooks.clone())).await;
        app._dir = Some(dir);
        app
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// Pauses the server (SIGSTOP) for `pause`, then lets it run on (SIGCONT): a stalled node.
    pub async fn stall(&self, pause: Duration) {
        let pid = self.pid().to_string();
        assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
        tokio::time::sleep(pause).await;
        assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    }

    /// Stops the server (SIGKILL) and returns its data directory for a restart.
    pub async fn kill(mut self) -> (PathBuf, Option<tempfile::TempDir>) {
        self.child.kill().await.unwrap();
        (self.data_dir.clone(), self._dir.take())
    }

    /// Asks the server to stop (SIGTERM) and waits for it, at most `within`; true if it exited
    /// successfully in time.
    pub async fn terminate(&mut self, within: Duration) -> bool {
        let pid = self.child.id().expect("the server is running").to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.unwrap().success(),
            Err(_) => false,
        }
    }

    /// The id of a development user by display name.
    pub fn user(&self, display_name: &str) -> String {
        self.credentials["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["displayName"] == display_name)
            .unwrap_or_else(|| panic!("no user {display_name}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn set_token(&mut self, token: String) {
        self.token = token;
    }

    pub async fn fetch_token(&self, tenant: &str, client_id: &str, secret: &str) -> String {
        let r = self
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "token request failed: {}", r.text().await.unwrap());
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    async fn check(&self, r: reqwest::Response) -> Resp {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        assert!(headers.contains_key("request-id"), "response without request-id: {status} {body}");
        if status.is_client_error() || status.is_server_error() {
            let error = &body["error"];
            assert!(error["code"].is_string() && error["message"].is_string(), "not a Graph error body: {body}");
            assert!(error["innerError"]["request-id"].is_string() && error["innerError"]["date"].is_string(), "{body}");
        }
        assert!(
            status.as_u16() < 500 || status.as_u16() == 501 || status.as_u16() == 503,
            "server error: {status} {body}"
        );
        Resp { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Resp {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        self.check(r).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        let r =
            self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body).send().await.unwrap();
        self.check(r).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Resp {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        self.check(r).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        let r = self.http.delete(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        self.check(r).await
    }

    /// A request with another bearer token (or none).
    pub async fn request_as(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        self.check(req.send().await.unwrap()).await
    }

    // Graph endpoints (beta, /communications).

    pub async fn create_call(&self, body: &Value) -> Resp {
        self.post("/beta/communications/calls", body).await
    }
    pub async fn get_call(&self, call: &str) -> Resp {
        self.get(&format!("/beta/communications/calls/{call}")).await
    }
    pub async fn delete_call(&self, call: &str) -> Resp {
        self.delete(&format!("/beta/communications/calls/{call}")).await
    }
    pub async fn list_participants(&self, call: &str, query: &str) -> Resp {
        self.get(&format!("/beta/communications/calls/{call}/participants{query}")).await
    }
    pub async fn get_participant(&self, call: &str, participant: &str) -> Resp {
        self.get(&format!("/beta/communications/calls/{call}/participants/{participant}")).await
    }
    pub async fn delete_participant(&self, call: &str, participant: &str) -> Resp {
        self.delete(&format!("/beta/communications/calls/{call}/participants/{participant}")).await
    }
    pub async fn invite(&self, call: &str, body: &Value) -> Resp {
        self.post(&format!("/beta/communications/calls/{call}/participants/invite"), body).await
    }
    pub async fn get_operation(&self, call: &str, operation: &str) -> Resp {
        self.get(&format!("/beta/communications/calls/{call}/operations/{operation}")).await
    }
    pub async fn create_meeting(&self, body: &Value) -> Resp {
        self.post("/beta/communications/onlineMeetings", body).await
    }
    pub async fn get_meeting(&self, meeting: &str) -> Resp {
        self.get(&format!("/beta/communications/onlineMeetings/{meeting}")).await
    }

    // Control API.

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.check(req.send().await.unwrap()).await
    }

    /// Advances the virtual clock; returns once due work ran and each notification was tried.
    pub async fn advance(&self, ms: i64) {
        self.admin(reqwest::Method::POST, "/_switchboard/clock/advance", Some(&json!({ "ms": ms })))
            .await
            .assert_status(200);
    }

    pub async fn set_user_behaviour(&self, user: &str, behaviour: Value) {
        self.admin(reqwest::Method::PUT, &format!("/_switchboard/users/{user}/behaviour"), Some(&behaviour))
            .await
            .assert_status(200);
    }

    pub async fn set_phone_behaviour(&self, number: &str, behaviour: Value) {
        let number = number.replace('+', "%2B");
        self.admin(reqwest::Method::PUT, &format!("/_switchboard/phones/{number}/behaviour"), Some(&behaviour))
            .await
            .assert_status(200);
    }

    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Resp {
        self.admin(method, path, body).await
    }

    /// `POST /_switchboard/{path}` with no body (the actions of a directory user).
    pub async fn control_post(&self, path: &str) -> Resp {
        self.admin(reqwest::Method::POST, &format!("/_switchboard/{path}"), None).await
    }

    /// The server's log so far (stderr).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    /// A plain GET, without the harness's checks (for text bodies and non-Graph answers).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    // Scenarios used by many tests.

    /// Creates an online meeting and joins it; returns (call id, meeting), after the join's
    /// notifications (establishing, established, roster) have been taken off the receiver.
    pub async fn join_new_meeting(&self, call_options: Value) -> (String, Value) {
        let meeting = self.create_meeting(&json!({"subject": "test meeting"})).await.assert_status(201).clone();
        let call = self
            .create_call(&json!({
                "@odata.type": "#microsoft.graph.call",
                "callbackUri": self.callback,
                "requestedModalities": ["audio"],
                "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
                "chatInfo": {"@odata.type": "#microsoft.graph.chatInfo", "threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
                "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                                "organizer": {"@odata.type": "#microsoft.graph.identitySet", "user": {"id": self.user("Adele Vance")}}},
                "callOptions": call_options,
                "tenantId": self.tenant_id,
            }))
            .await;
        let id = call.assert_status(201)["id"].as_str().unwrap().to_owned();
        self.advance(0).await;
        let got = self.hooks.take_for(&id);
        assert_eq!(got.len(), 3, "establishing, established, roster: {got:#?}");
        (id, meeting)
    }

    /// Creates a peer-to-peer call to `user` and lets it be answered; returns the call id.
    pub async fn established_p2p(&self, user: &str) -> String {
        self.set_user_behaviour(user, json!({"kind": "answer", "afterMs": 0})).await;
        let call = self
            .create_call(&json!({
                "callbackUri": self.callback,
                "requestedModalities": ["audio"],
                "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
                "targets": [{"@odata.type": "#microsoft.graph.invitationParticipantInfo",
                             "identity": {"@odata.type": "#microsoft.graph.identitySet", "user": {"id": user}}}],
            }))
            .await;
        let id = call.assert_status(201)["id"].as_str().unwrap().to_owned();
        self.advance(0).await;
        let got = self.hooks.take_for(&id);
        let states: Vec<&str> = got.iter().map(|n| n.resource_data()["state"].as_str().unwrap_or("")).collect();
        assert_eq!(states, ["establishing", "established"], "{got:#?}");
        id
    }
}

pub fn user_identity(id: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.identitySet", "user": {"@odata.type": "#microsoft.graph.identity", "id": id, "identityProvider": "AAD"}})
}

pub fn invite_body(identities: &[Value], client_context: &str) -> Value {
    json!({
        "participants": identities.iter().map(|i| json!({"@odata.type": "#microsoft.graph.invitationParticipantInfo", "identity": i})).collect::<Vec<_>>(),
        "clientContext": client_context,
    })
}

/// One callback POST received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Received {
    /// The only notification of the envelope (Switchboard sends one per POST).
    pub fn notification(&self) -> &Value {
        let value = self.body["value"].as_array().expect("commsNotifications envelope");
        assert_eq!(value.len(), 1, "one notification per POST");
        &value[0]
    }
    pub fn change_type(&self) -> &str {
        self.notification()["changeType"].as_str().unwrap()
    }
    pub fn resource_url(&self) -> &str {
        self.notification()["resourceUrl"].as_str().unwrap()
    }
    pub fn resource_data(&self) -> &Value {
        &self.notification()["resourceData"]
    }
    pub fn sequence(&self) -> i64 {
        self.headers["x-switchboard-sequence"].to_str().unwrap().parse().unwrap()
    }
    pub fn call_id(&self) -> String {
        self.headers["x-switchboard-call-id"].to_str().unwrap().to_owned()
    }
    /// `roster`, `operation` or `call`, from the resource URL.
    pub fn kind(&self) -> &'static str {
        let url = self.resource_url();
        if url.ends_with("/participants") {
            "roster"
        } else if url.contains("/operations/") {
            "operation"
        } else {
            "call"
        }
    }
}

/// A real webhook receiver: records every POST and answers 202. Clones share what was received.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<Mutex<u16>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(Mutex::new(202u16));
        let (r, s) = (received.clone(), status.clone());
        let app =
            axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let (r, s) = (r.clone(), s.clone());
                async move {
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    r.lock().unwrap().push(Received { path: uri.path().to_owned(), headers, body });
                    let code = *s.lock().unwrap();
                    axum::http::StatusCode::from_u16(code).unwrap()
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, received, status }
    }

    /// The status the receiver answers with from now on.
    pub fn answer_with(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }

    /// Everything received so far, taking it off the receiver.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }

    /// What was received for one call, taking it off the receiver (others stay).
    pub fn take_for(&self, call_id: &str) -> Vec<Received> {
        let mut all = self.received.lock().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = all.drain(..).partition(|r| r.call_id() == call_id);
        *all = rest;
        mine
    }

    /// Everything received so far, leaving it on the receiver.
    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits (at most `timeout`) until `count` notifications of one call were received; returns
    /// them without taking them off the receiver.
    pub async fn wait_for(&self, call_id: &str, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got: Vec<Received> =
                self.received.lock().unwrap().iter().filter(|r| r.call_id() == call_id).cloned().collect();
            if got.len() >= count || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The PostgreSQL database of the tests: `SWITCHBOARD_TEST_DATABASE_URL`, by default
/// `postgres://postgres@127.0.0.1:5432/test` (`.ci/run` starts the server).
pub fn test_database_url() -> String {
    std::env::var("SWITCHBOARD_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh schema of the test database for one test, dropped with the value; `url` selects it.
pub struct PgSchema {
    pub name: String,
    pub url: String,
}

impl PgSchema {
    pub async fn create() -> PgSchema {
        let name = format!("nodes_{}", uuid::Uuid::new_v4().simple());
        let base = test_database_url();
        let sql = format!("CREATE SCHEMA {name}");
        tokio::task::spawn_blocking(move || admin_sql(&sql).unwrap_or_else(|e| panic!("{e}"))).await.unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{name}");
        PgSchema { name, url }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA {} CASCADE", self.name);
        let _ = std::thread::spawn(move || admin_sql(&sql)).join();
    }
}

/// Runs SQL on the test database as its administrator (blocking: call it off the runtime).
pub fn admin_sql(sql: &str) -> Result<(), String> {
    let base = test_database_url();
    let mut client = postgres::Client::connect(&base, postgres::NoTls)
        .map_err(|e| format!("PostgreSQL at {base} (set SWITCHBOARD_TEST_DATABASE_URL): {e}"))?;
    client.batch_execute(sql).map_err(|e| format!("{sql}: {e}"))
}

/// Checks that `expected` (a doc example, possibly shortened) is contained in `actual`:
/// every key of an object, every element of an array (same length), equal scalars. A `null`
/// in `expected` under a key in `ids_may_differ` matches any value (real ids substituted).
pub fn contains(expected: &Value, actual: &Value, path: &str, ids_may_differ: &[&str]) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => {
                        if ev.is_null() && ids_may_differ.contains(&k.as_str()) {
                            continue;
                        }
                        contains(ev, av, &p, ids_may_differ)?
                    }
                    None if ev.is_null() => {}
                    None => return Err(format!("{p}: missing (expected {ev})")),
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: {} elements expected, got {}", e.len(), a.len()));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .try_for_each(|(i, (ev, av))| contains(ev, av, &format!("{path}[{i}]"), ids_may_differ))
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: expected {e}, got {a}")),
    }
}
