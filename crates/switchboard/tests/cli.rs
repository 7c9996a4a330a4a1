//! The command line against a running server: `switchboard token`, `switchboard directory
//! export` and `import`, and `--help` with examples on each command.

mod common;

use std::process::Output;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn switchboard(args: &[&str]) -> Output {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("SWITCHBOARD_URL")
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .env_remove("SWITCHBOARD_DATA_DIR")
        .output()
        .await
        .expect("run switchboard");
    output
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn switchboard_token_prints_a_token_the_graph_routes_accept() {
    let app = TestApp::spawn().await;
    let data_dir = app.data_dir.display().to_string();
    let out = switchboard(&["token", "--url", &app.base, "--data-dir", &data_dir]).await;
    let token = stdout(&out).trim().to_owned();
    assert_eq!(token.matches('.').count(), 2, "a JWT alone on stdout: {token}");
    let r = app.request_as(Method::GET, "/beta/communications/calls/unknown", Some(&token), None).await;
    r.assert_error(404, "itemNotFound");

    let out = switchboard(&["token", "--url", &app.base, "--data-dir", &data_dir, "--json"]).await;
    let answer: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(answer["clientId"], app.client_id.as_str());
    assert_eq!(answer["expires_in"], 3599);

    let out = switchboard(&["token", "--url", &app.base, "--admin-token", "wrong", "--data-dir", &data_dir]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_directory_exported_from_one_server_seeds_another_with_the_same_users_and_secrets() {
    let first = TestApp::spawn().await;
    let adele = first.user("Adele Vance");
    first.set_user_behaviour(&adele, json!({"kind": "manual"})).await;
    let meeting = first.create_meeting(&json!({"subject": "kept"})).await.assert_status(201).clone();
    let file = first.data_dir.join("exported.toml");
    let out = switchboard(&[
        "directory",
        "export",
        "--url",
        &first.base,
        "--data-dir",
        &first.data_dir.display().to_string(),
        "--output",
        &file.display().to_string(),
    ])
    .await;
    stdout(&out);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("clientSecretHashes"), "secrets leave as hashes:\n{text}");
    assert!(!text.contains(&first.client_secret), "never the secret itself");
    assert!(!text.contains(&first.admin_token), "nor the admin token");

    // The second server gets its own admin token (top-level keys come before TOML's tables).
    std::fs::write(&file, format!("adminToken = \"second-admin\"\n{text}")).unwrap();
    let mut second = TestApp::spawn_with(SpawnOptions { config_file: Some(file), ..Default::default() }).await;
    second.admin_token = "second-admin".to_owned();
    // The first server's credentials work on the second: the hashes came along.
    let token = second.fetch_token(&first.tenant_id, &first.client_id, &first.client_secret).await;
    let r = second
        .request_as(Method::POST, "/beta/communications/onlineMeetings", Some(&token), Some(&json!({"subject": "x"})))
        .await;
    r.assert_status(201);
    let directory = second.control(Method::GET, "/_switchboard/directory", None).await;
    let users = directory.assert_status(200)["users"].as_array().unwrap().clone();
    let adele_there = users.iter().find(|u| u["id"] == adele.as_str()).expect("Adele came along");
    assert_eq!(adele_there["behaviour"], json!({"kind": "manual"}));
    assert_eq!(users.len(), 5);
    let meetings = second.control(Method::GET, "/_switchboard/meetings", None).await;
    let ids: Vec<&Value> = meetings.assert_status(200)["value"].as_array().unwrap().iter().map(|m| &m["id"]).collect();
    assert!(ids.contains(&&meeting["id"]), "meetings came along");
}

#[tokio::test]
async fn a_json_seed_is_imported_into_a_running_server() {
    let app = TestApp::spawn().await;
    let file = app.data_dir.join("team.json");
    std::fs::write(
        &file,
        serde_json::to_string(&json!({
            "users": [{"id": "grace", "tenantId": app.tenant_id, "displayName": "Grace Hopper", "behaviour": {"kind": "busy"}}],
            "phoneNumbers": [{"number": "+14255550199", "displayName": "Lab", "behaviour": {"kind": "noAnswer"}}],
        }))
        .unwrap(),
    )
    .unwrap();
    let out = switchboard(&[
        "directory",
        "import",
        &file.display().to_string(),
        "--url",
        &app.base,
        "--admin-token",
        &app.admin_token,
    ])
    .await;
    stdout(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 users, 1 phone numbers"));
    let directory = app.control(Method::GET, "/_switchboard/directory", None).await;
    let body = directory.assert_status(200);
    assert!(body["users"].as_array().unwrap().iter().any(|u| u["displayName"] == "Grace Hopper"));
    assert!(body["phoneNumbers"].as_array().unwrap().iter().any(|p| p["number"] == "+14255550199"));
}

#[tokio::test]
async fn every_command_explains_itself_with_examples() {
    for command in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["listen", "--help"],
        vec!["token", "--help"],
        vec!["directory", "export", "--help"],
        vec!["directory", "import", "--help"],
        vec!["openapi", "--help"],
    ] {
        let help = stdout(&switchboard(&command).await);
        assert!(help.contains("Example") || help.contains("Start here"), "{command:?}:\n{help}");
    }
}

#[tokio::test]
async fn switchboard_openapi_prints_the_document_the_server_serves() {
    let app = TestApp::spawn().await;
    let printed: Value =
        serde_json::from_str(&stdout(&switchboard(&["openapi", "--public-url", &app.base]).await)).unwrap();
    let (_, served) = app.get_text("/openapi.json").await;
    assert_eq!(printed, serde_json::from_str::<Value>(&served).unwrap());
}
