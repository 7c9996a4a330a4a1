//! Who gets in, black box: the token matrix (every bad token answered 401 or 403 with a Graph
//! body, and no handler reached), tokens of an external OpenID Connect issuer started by the
//! test (its JWKS cached, refetched on an unknown kid no more often than the floor), the
//! isolation matrix generated from the route table, and throttling.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

const AUDIENCE: &str = "api://switchboard";
const TENANT: &str = "tenant-a";
const ALL_CALLS: &[&str] = &["Calls.Initiate.All", "Calls.InitiateGroupCall.All", "Calls.JoinGroupCall.All"];

/// A second, local OpenID Connect issuer: RSA keys, a JWKS endpoint that counts its fetches.
struct TestIdp {
    url: String,
    keys: Arc<Mutex<Vec<(String, RsaPrivateKey)>>>,
    fetches: Arc<AtomicUsize>,
}

impl TestIdp {
    async fn start() -> TestIdp {
        let keys: Arc<Mutex<Vec<(String, RsaPrivateKey)>>> = Arc::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/keys",
            axum::routing::get(move || {
                let (k, f) = (k.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let keys: Vec<Value> = k
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|(kid, key)| {
                            json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                                   "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                                   "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be())})
                        })
                        .collect();
                    axum::Json(json!({ "keys": keys }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let idp = TestIdp { url, keys, fetches };
        idp.publish_new_key("k1");
        idp
    }

    fn issuer(&self) -> String {
        format!("{}/{TENANT}/v2.0", self.url)
    }

    fn publish_new_key(&self, kid: &str) {
        let key = RsaPrivateKey::new(&mut rand_core(), 2048).unwrap();
        self.keys.lock().unwrap().push((kid.to_owned(), key));
    }

    fn key(&self, kid: &str) -> RsaPrivateKey {
        self.keys.lock().unwrap().iter().find(|(k, _)| k == kid).unwrap().1.clone()
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        let pem = self.key(kid).to_pkcs8_pem(LineEnding::LF).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()).unwrap()
    }

    fn claims(&self, roles: &[&str]) -> Value {
        let now = now_secs();
        json!({"iss": self.issuer(), "aud": AUDIENCE, "tid": TENANT, "appid": "external-app", "roles": roles,
               "iat": now, "nbf": now - 10, "exp": now + 3600})
    }
}

fn rand_core() -> rsa::rand_core::OsRng {
    rsa::rand_core::OsRng
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn unsigned(claims: &Value, header: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    )
}

fn config_with_idp(idp: &TestIdp, extra: &str, floor: u64) -> String {
    format!(
        r#"
adminToken = "admin-secret"
{extra}

[[identityProviders]]
issuer = "{issuer}"
jwksUri = "{url}/keys"
audiences = ["{AUDIENCE}"]
allowedTenants = ["{TENANT}"]
minRefetchSeconds = {floor}

[[tenants]]
id = "{TENANT}"

[[users]]
id = "user-1"
tenantId = "{TENANT}"
displayName = "User One"
behaviour = {{ kind = "answer", afterMs = 0 }}
"#,
        issuer = idp.issuer(),
        url = idp.url,
    )
}

fn p2p_body(app: &TestApp) -> Value {
    json!({"callbackUri": app.callback, "requestedModalities": ["audio"],
           "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
           "targets": [{"identity": {"user": {"id": "user-1"}}}]})
}

#[tokio::test]
async fn every_bad_token_is_refused_before_any_handler_and_a_good_external_token_works() {
    let idp = TestIdp::start().await;
    let mut app =
        TestApp::spawn_with(SpawnOptions { config: Some(config_with_idp(&idp, "", 30)), ..Default::default() }).await;
    app.admin_token = "admin-secret".into();
    let body = p2p_body(&app);
    let good = idp.claims(ALL_CALLS);
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let now = now_secs();
    let public_pem = idp.key("k1").to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let hs256 = jsonwebtoken::encode(
        &Header { kid: Some("k1".into()), ..Header::new(Algorithm::HS256) },
        &good,
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    let mut bad_signature = idp.sign("k1", &good);
    let last = bad_signature.pop().unwrap();
    bad_signature.push(if last == 'A' { 'B' } else { 'A' });

    let cases: Vec<(&str, Option<String>, u16)> = vec![
        ("no header", None, 401),
        ("garbled header", Some("not-a-jwt".into()), 401),
        ("alg none", Some(unsigned(&good, &json!({"alg": "none", "typ": "JWT", "kid": "k1"}))), 401),
        ("HS256 signed with the public key", Some(hs256), 401),
        ("bad signature", Some(bad_signature), 401),
        ("expired", Some(idp.sign("k1", &with(json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200})))), 401),
        ("not yet valid", Some(idp.sign("k1", &with(json!({"nbf": now + 3600})))), 401),
        ("wrong audience", Some(idp.sign("k1", &with(json!({"aud": "api://someone-else"})))), 401),
        ("wrong issuer", Some(idp.sign("k1", &with(json!({"iss": format!("{}/elsewhere/v2.0", idp.url)})))), 401),
        ("tenant not allowed", Some(idp.sign("k1", &with(json!({"tid": "tenant-b"})))), 401),
        ("delegated token", Some(idp.sign("k1", &with(json!({"scp": "Calls.Initiate.All"})))), 403),
        (
            "no permission for the route",
            Some(idp.sign("k1", &with(json!({"roles": ["OnlineMeetings.ReadWrite.All"]})))),
            403,
        ),
    ];
    for (name, token, status) in &cases {
        let r = app.request_as(Method::POST, "/beta/communications/calls", token.as_deref(), Some(&body)).await;
        let code = if *status == 401 { "InvalidAuthenticationToken" } else { "accessDenied" };
        assert_eq!(r.status.as_u16(), *status, "{name}: {}", r.body);
        assert_eq!(r.body["error"]["code"], code, "{name}");
        if *status == 401 {
            let challenge = r.headers.get("www-authenticate").unwrap_or_else(|| panic!("{name}: no challenge"));
            assert!(challenge.to_str().unwrap().starts_with("Bearer "), "{name}");
        }
    }
    // None of them reached a handler: no call was created, nothing was notified.
    app.advance(0).await;
    assert_eq!(app.hooks.len(), 0);
    let log = app.control(Method::GET, "/_switchboard/notifications", None).await;
    assert_eq!(log.assert_status(200)["value"].as_array().unwrap().len(), 0);

    // The positive control: a good token of the external issuer creates a call.
    let created =
        app.request_as(Method::POST, "/beta/communications/calls", Some(&idp.sign("k1", &good)), Some(&body)).await;
    created.assert_status(201);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "the JWKS was fetched once and cached");
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_issuers_keys_but_no_more_often_than_the_floor() {
    let idp = TestIdp::start().await;
    // The floor is long enough that a loaded CI machine (tests run in parallel on two cores)
    // cannot stall past it between the refetch and the next unknown kid; a one-second floor did.
    const FLOOR_SECS: u64 = 5;
    let app =
        TestApp::spawn_with(SpawnOptions { config: Some(config_with_idp(&idp, "", FLOOR_SECS)), ..Default::default() })
            .await;
    let body = p2p_body(&app);
    let claims = idp.claims(ALL_CALLS);
    let post = |token: String| {
        let body = body.clone();
        let app = &app;
        async move { app.request_as(Method::POST, "/beta/communications/calls", Some(&token), Some(&body)).await }
    };
    post(idp.sign("k1", &claims)).await.assert_status(201);
    post(idp.sign("k1", &claims)).await.assert_status(201);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);
    // The issuer rolls over to a new key: once the floor has passed (wall time, as key caches
    // use), the first token with it triggers one refetch.
    idp.publish_new_key("k2");
    tokio::time::sleep(std::time::Duration::from_millis(FLOOR_SECS * 1000 + 100)).await;
    post(idp.sign("k2", &claims)).await.assert_status(201);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
    // Another unknown kid right away is refused without hammering the issuer.
    idp.publish_new_key("k3");
    post(idp.sign("k3", &claims)).await.assert_error(401, "InvalidAuthenticationToken");
    post(idp.sign("k3", &claims)).await.assert_error(401, "InvalidAuthenticationToken");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2, "the refetch floor holds");
}

const ISOLATION_SEED: &str = r#"
adminToken = "admin-secret"

[[tenants]]
id = "tenant-1"
[[tenants]]
id = "tenant-2"

[[applications]]
clientId = "owner-app"
tenantId = "tenant-1"
displayName = "Owner"
clientSecrets = ["owner-secret"]
permissions = ["Calls.Initiate.All", "Calls.InitiateGroupCall.All", "Calls.JoinGroupCall.All", "OnlineMeetings.ReadWrite.All"]

[[applications]]
clientId = "neighbour-app"
tenantId = "tenant-1"
displayName = "Neighbour"
clientSecrets = ["neighbour-secret"]
permissions = ["Calls.Initiate.All", "Calls.InitiateGroupCall.All", "Calls.JoinGroupCall.All", "OnlineMeetings.ReadWrite.All"]

[[applications]]
clientId = "stranger-app"
tenantId = "tenant-2"
displayName = "Stranger"
clientSecrets = ["stranger-secret"]
permissions = ["Calls.Initiate.All", "Calls.InitiateGroupCall.All", "Calls.JoinGroupCall.All", "OnlineMeetings.ReadWrite.All"]

[[users]]
id = "ringing-user"
tenantId = "tenant-1"
displayName = "Ringing User"
behaviour = { kind = "noAnswer" }
"#;

#[tokio::test]
async fn no_graph_route_shows_one_applications_calls_participants_or_operations_to_another() {
    let mut app = TestApp::spawn_with(SpawnOptions { config: Some(ISOLATION_SEED.into()), ..Default::default() }).await;
    app.admin_token = "admin-secret".into();
    let owner = app.fetch_token("tenant-1", "owner-app", "owner-secret").await;
    let neighbour = app.fetch_token("tenant-1", "neighbour-app", "neighbour-secret").await;
    let stranger = app.fetch_token("tenant-2", "stranger-app", "stranger-secret").await;
    app.set_token(owner.clone());
    let meeting = app.create_meeting(&json!({"subject": "owned"})).await.assert_status(201).clone();
    let call = app
        .create_call(&json!({
            "callbackUri": app.callback, "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "chatInfo": {"threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo"},
        }))
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(0).await;
    let op = app.invite(&call, &invite_body(&[user_identity("ringing-user")], "iso")).await.assert_status(200).clone();
    let (op_id, participant) =
        (op["id"].as_str().unwrap().to_owned(), op["participants"][0]["participantId"].as_str().unwrap().to_owned());

    let routes = switchboard_api::graph::route_table();
    let mut checked = 0;
    for route in routes.iter().filter(|r| r.path.contains("{call_id}")) {
        let path = route
            .path
            .replace("{call_id}", &call)
            .replace("{participant_id}", &participant)
            .replace("{operation_id}", &op_id);
        let body = if route.path.ends_with("invite") {
            invite_body(&[user_identity("ringing-user")], "intruder")
        } else {
            json!({})
        };
        for version in ["beta", "v1.0"] {
            for base in ["communications", "app"] {
                let url = format!("/{version}/{base}{path}");
                for (who, token) in [("same-tenant application", &neighbour), ("other-tenant application", &stranger)] {
                    let body = (route.method != Method::GET && route.method != Method::DELETE).then_some(&body);
                    let r = app.request_as(route.method.clone(), &url, Some(token), body).await;
                    assert_eq!(r.status.as_u16(), 404, "{who} on {} {url}: {}", route.method, r.body);
                    assert_eq!(r.body["error"]["code"], "itemNotFound", "{who} on {} {url}", route.method);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 4 * 2 * 40, "the matrix covers every route with a call id ({checked} requests)");
    // Nothing the others tried changed the owner's call.
    let me = app.get_call(&call).await;
    assert_eq!(me.assert_status(200)["state"], "established");
    assert_eq!(app.get_participant(&call, &participant).await.assert_status(200)["id"], participant.as_str());
    assert_eq!(app.get_operation(&call, &op_id).await.assert_status(200)["status"], "Running");
}

#[tokio::test]
async fn requests_over_the_throttle_limit_get_429_with_retry_after_per_application() {
    let seed = ISOLATION_SEED.replace(
        "adminToken = \"admin-secret\"",
        "adminToken = \"admin-secret\"\n\n[throttle]\nrequests = 5\nwindowSeconds = 15\n",
    );
    let mut app = TestApp::spawn_with(SpawnOptions { config: Some(seed), ..Default::default() }).await;
    let owner = app.fetch_token("tenant-1", "owner-app", "owner-secret").await;
    let neighbour = app.fetch_token("tenant-1", "neighbour-app", "neighbour-secret").await;
    app.set_token(owner);
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(app.get_call("no-such-call").await.status.as_u16());
    }
    assert_eq!(statuses[..5], [404; 5]);
    let throttled = app.get_call("no-such-call").await;
    throttled.assert_error(429, "TooManyRequests");
    let retry_after: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=15).contains(&retry_after), "Retry-After {retry_after}");
    // Another application of the same tenant has its own budget.
    app.set_token(neighbour);
    app.get_call("no-such-call").await.assert_error(404, "itemNotFound");
}
