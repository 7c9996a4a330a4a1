//! Security, black box: signed notifications verified as a bot would (with an RS256 check
//! written here on the `rsa` crate, independent of the server's JWT library), key rotation,
//! and `switchboard listen --jwks-url` verifying what it receives.

mod common;

use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

fn b64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).expect("base64url")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// What a bot does with a callback's bearer token: find the key by `kid` in the published
/// JWKS, check the RS256 signature, then `iss`, `aud` and the lifetime. Returns the claims.
fn verify_like_a_bot(token: &str, jwks: &Value, audience: &str) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else { return Err("not a JWS compact token".into()) };
    let header: Value = serde_json::from_slice(&b64(header)).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {}", header["alg"]));
    }
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .ok_or_else(|| format!("kid {} not published", header["kid"]))?;
    let key = RsaPublicKey::new(
        BigUint::from_bytes_be(&b64(jwk["n"].as_str().unwrap())),
        BigUint::from_bytes_be(&b64(jwk["e"].as_str().unwrap())),
    )
    .map_err(|e| e.to_string())?;
    let digest = Sha256::digest(format!("{}.{}", parts[0], payload).as_bytes());
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &b64(signature)).map_err(|e| format!("signature: {e}"))?;
    let claims: Value = serde_json::from_slice(&b64(payload)).map_err(|e| e.to_string())?;
    let now = now_secs();
    if claims["iss"] != "https://api.botframework.com" {
        return Err(format!("iss {}", claims["iss"]));
    }
    if claims["aud"] != audience {
        return Err(format!("aud {}", claims["aud"]));
    }
    let (iat, nbf, exp) =
        (claims["iat"].as_i64().unwrap(), claims["nbf"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    if !(nbf <= now && now < exp && iat <= now + 5) {
        return Err(format!("lifetime iat {iat} nbf {nbf} exp {exp} at {now}"));
    }
    if exp - iat > 24 * 3600 {
        return Err("the token is not short-lived".into());
    }
    Ok(claims)
}

async fn jwks(app: &TestApp) -> Value {
    let config: Value = app
        .http
        .get(format!("{}/{}/v2.0/.well-known/openid-configuration", app.base, app.tenant_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.http.get(config["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap()
}

fn bearer(r: &Received) -> String {
    r.headers["authorization"].to_str().unwrap().strip_prefix("Bearer ").expect("a Bearer token").to_owned()
}

#[tokio::test]
async fn every_notification_is_signed_for_the_application_and_verifies_like_a_bot_would() {
    let app = TestApp::spawn().await;
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let adele = app.user("Adele Vance");
    app.invite(&call, &invite_body(&[user_identity(&adele)], "signed")).await.assert_status(200);
    app.advance(1000).await;
    let got = app.hooks.take_for(&call);
    assert_eq!(got.len(), 2);
    let keys = jwks(&app).await;
    for r in &got {
        let claims = verify_like_a_bot(&bearer(r), &keys, &app.client_id).expect("a valid callback token");
        assert_eq!(claims["tid"], app.tenant_id.as_str());
    }
    // A token for another audience, or tampered with, does not verify.
    assert!(verify_like_a_bot(&bearer(&got[0]), &keys, "someone-else").is_err());
    let token = bearer(&got[0]);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: Value = serde_json::from_slice(&b64(&parts[1])).unwrap();
    claims["aud"] = json!("forged");
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    assert!(verify_like_a_bot(&parts.join("."), &keys, "forged").unwrap_err().starts_with("signature"));
}

#[tokio::test]
async fn a_key_rotation_keeps_old_tokens_valid_during_the_rollover_and_signs_new_notifications_with_the_new_key() {
    let mut app = TestApp::spawn().await;
    let old_token = app.token().to_owned();
    let (call, _) = app.join_new_meeting(json!(null)).await;
    let rotated = app.control(reqwest::Method::POST, "/_switchboard/keys/rotate", None).await;
    let new_kid = rotated.assert_status(200)["kid"].as_str().unwrap().to_owned();
    let keys = jwks(&app).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "current and previous keys are published");
    assert_eq!(keys["keys"][0]["kid"], new_kid.as_str());

    // The access token issued before the rotation still works.
    app.get_call(&call).await.assert_status(200);
    // New notifications are signed with the new key, and verify.
    let adele = app.user("Adele Vance");
    app.invite(&call, &invite_body(&[user_identity(&adele)], "after rotation")).await.assert_status(200);
    app.advance(1000).await;
    let got = app.hooks.take_for(&call);
    assert!(!got.is_empty());
    for r in &got {
        let token = bearer(r);
        let header: Value = serde_json::from_slice(&b64(token.split('.').next().unwrap())).unwrap();
        assert_eq!(header["kid"], new_kid.as_str());
        verify_like_a_bot(&token, &keys, &app.client_id).unwrap();
    }
    // A fresh access token uses the new key; a second rotation retires the first key.
    let fresh = app.fetch_token(&app.tenant_id.clone(), &app.client_id.clone(), &app.client_secret.clone()).await;
    app.control(reqwest::Method::POST, "/_switchboard/keys/rotate", None).await.assert_status(200);
    app.set_token(fresh);
    app.get_call(&call).await.assert_status(200);
    app.set_token(old_token);
    app.get_call(&call).await.assert_error(401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn switchboard_listen_verifies_the_notifications_it_prints() {
    let app = TestApp::spawn().await;
    let jwks_url = format!("{}/{}/discovery/v2.0/keys", app.base, app.tenant_id);
    let mut listener = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["listen", "--port", "0", "--jwks-url", &jwks_url, "--audience", &app.client_id])
        .env_remove("SWITCHBOARD_LISTEN_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(listener.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let url = first.split_whitespace().find(|w| w.starts_with("http://")).unwrap().trim_end_matches('/').to_owned();
    let created = app
        .create_call(&json!({
            "callbackUri": format!("{url}/callback"),
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "targets": [{"identity": {"user": {"id": app.user("Adele Vance")}}}],
        }))
        .await;
    created.assert_status(201);
    app.advance(0).await;
    let mut signature_lines = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while signature_lines.is_empty() && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await {
            Ok(Ok(Some(line))) if line.starts_with("Signature:") => signature_lines.push(line),
            Ok(Ok(Some(_))) => {}
            _ => break,
        }
    }
    assert_eq!(signature_lines.len(), 1, "the listener printed a verdict");
    assert!(signature_lines[0].starts_with("Signature: valid (kid="), "{}", signature_lines[0]);
    assert!(signature_lines[0].contains(&format!("aud={}", app.client_id)));
    listener.kill().await.unwrap();
}

#[tokio::test]
async fn the_callback_issuer_is_configurable_and_published_in_an_openid_configuration_for_bots() {
    let app = TestApp::spawn_with(SpawnOptions {
        extra_args: vec!["--callback-issuer".into(), "https://callbacks.switchboard.test".into()],
        ..Default::default()
    })
    .await;
    let config: Value = app
        .http
        .get(format!("{}/v1/.well-known/OpenIdConfiguration", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["issuer"], "https://callbacks.switchboard.test");
    let keys: Value = app.http.get(config["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let (call, _) = app.join_new_meeting(json!(null)).await;
    app.invite(&call, &invite_body(&[user_identity(&app.user("Adele Vance"))], "iss")).await.assert_status(200);
    app.advance(1000).await;
    let got = app.hooks.take_for(&call);
    let token = bearer(&got[0]);
    let claims: Value = serde_json::from_slice(&b64(token.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["iss"], "https://callbacks.switchboard.test");
    // The same check a bot makes, with the configured issuer.
    let err = verify_like_a_bot(&token, &keys, &app.client_id).unwrap_err();
    assert!(err.starts_with("iss"), "only the issuer differs from the default: {err}");
}
