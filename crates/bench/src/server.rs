//! The Switchboard under test: the real binary, started with a seed of bench users who answer
//! at once, durable SQLite in a temporary data directory, the system clock and throttling off.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const TENANT: &str = "b0000000-0000-4000-8000-0000000000b1";
const CLIENT_ID: &str = "b0000000-0000-4000-8000-0000000000b2";
const CLIENT_SECRET: &str = "bench-secret";
const ADMIN_TOKEN: &str = "bench-admin-token";
pub const ORGANIZER: &str = "b0000000-0000-4000-8000-0000000000b3";

/// The id of the i-th bench user.
pub fn user_id(i: usize) -> String {
    format!("c0000000-0000-4000-8000-{i:012}")
}

#[derive(clap::Args, Clone, Debug)]
pub struct ServerOptions {
    /// The switchboard binary (default: `switchboard` beside this binary, i.e. the same
    /// target profile: build both with `cargo build --release -p switchboard -p switchboard-bench`).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Pin the server (and the baseline server) to these CPUs with `taskset -c`, e.g. `0`.
    /// Pin the bench itself with `taskset -c 1 switchboard-bench ...`.
    #[arg(long)]
    pub server_cpus: Option<String>,
    /// Keep the data directory (its path is printed) instead of deleting it.
    #[arg(long)]
    pub keep_data: bool,
}

impl ServerOptions {
    pub fn cpus_note(&self) -> String {
        match &self.server_cpus {
            Some(c) => format!("pinned to CPU {c}"),
            None => "not pinned".to_owned(),
        }
    }

    /// `program args...`, through `taskset -c` when pinned.
    pub fn command(&self, program: &std::path::Path) -> Command {
        match &self.server_cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

pub struct Server {
    pub base: String,
    pub pid: u32,
    pub data_dir: PathBuf,
    http: reqwest::Client,
    token: String,
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts the server with `users` bench users (plus the meeting organizer).
    pub async fn start(options: &ServerOptions, users: usize) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new().prefix("switchboard-bench-").tempdir()?;
        let data_dir = dir.path().to_path_buf();
        if !options.keep_data {
            crate::register_data_dir(&data_dir);
        }
        let answer = json!({"kind": "answer", "afterMs": 0});
        let mut seed_users =
            vec![json!({"id": ORGANIZER, "tenantId": TENANT, "displayName": "Organizer", "behaviour": answer})];
        seed_users.extend(
            (0..users)
                .map(|i| json!({"id": user_id(i), "tenantId": TENANT, "displayName": format!("Bench user {i}"), "behaviour": answer})),
        );
        let seed = json!({
            "adminToken": ADMIN_TOKEN,
            "tenants": [{"id": TENANT, "displayName": "Bench"}],
            "applications": [{
                "clientId": CLIENT_ID, "tenantId": TENANT, "displayName": "Bench bot",
                "clientSecrets": [CLIENT_SECRET],
                "permissions": ["Calls.Initiate.All", "Calls.InitiateGroupCall.All", "Calls.JoinGroupCall.All",
                                "Calls.JoinGroupCallAsGuest.All", "Calls.AccessMedia.All", "OnlineMeetings.ReadWrite.All"],
            }],
            "users": seed_users,
            // Throttling off for the run: a window no load here can fill.
            "throttle": {"requests": 1_000_000_000_000u64, "windowSeconds": 1},
        });
        let seed_path = data_dir.join("seed.json");
        std::fs::write(&seed_path, serde_json::to_vec(&seed)?)?;
        let bin = match &options.server_bin {
            Some(b) => b.clone(),
            None => std::env::current_exe()?.with_file_name("switchboard"),
        };
        anyhow::ensure!(bin.exists(), "{} does not exist: build it (or pass --server-bin)", bin.display());
        let log = std::fs::File::create(data_dir.join("server.log"))?;
        let mut child = options
            .command(&bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--clock", "system", "--data-dir"])
            .arg(&data_dir)
            .arg("--config")
            .arg(&seed_path)
            .env("RUST_LOG", "warn")
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env_remove("SWITCHBOARD_LISTEN")
            .env_remove("SWITCHBOARD_PUBLIC_URL")
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id().context("server pid")?;
        crate::register_child(pid);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .context("the server did not start in time")??
            .with_context(|| {
                format!(
                    "the server exited: {}",
                    std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default()
                )
            })?;
        let base = first.strip_prefix("Switchboard listening on ").context("first line names the URL")?.to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::builder().pool_max_idle_per_host(1024).build()?;
        let r = http
            .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "token: {}", r.text().await?);
        let token = r.json::<Value>().await?["access_token"].as_str().context("access_token")?.to_owned();
        let keep = options.keep_data;
        Ok(Server {
            base,
            pid,
            data_dir: data_dir.clone(),
            http,
            token,
            child,
            _dir: if keep {
                let _ = dir.keep();
                None
            } else {
                Some(dir)
            },
        })
    }

    fn send_post(
        &self,
        path: &str,
        body: &Value,
    ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
        self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body).send()
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let r = self.send_post(path, body).await?;
        let status = r.status().as_u16();
        let bytes = r.bytes().await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// A POST whose answer is only counted: its body is read, not parsed, as the baseline's is.
    pub async fn post_status(&self, path: &str, body: &Value) -> anyhow::Result<u16> {
        let r = self.send_post(path, body).await?;
        let status = r.status().as_u16();
        r.bytes().await?;
        Ok(status)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        let status = r.status().as_u16();
        let bytes = r.bytes().await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// Polls the call until it is established.
    pub async fn wait_established(&self, call: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.get(&format!("/beta/communications/calls/{call}")).await?;
            anyhow::ensure!(status == 200, "GET call: {status} {body}");
            if body["state"] == "established" {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "call {call} not established: {body}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until every due notification was tried (`/_switchboard/outbox/flush`).
    pub async fn flush(&self) -> anyhow::Result<()> {
        for _ in 0..40 {
            let r = self
                .http
                .post(format!("{}/_switchboard/outbox/flush", self.base))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await?;
            if r.status().is_success() {
                return Ok(());
            }
        }
        anyhow::bail!("the outbox did not drain")
    }

    /// The server's `/metrics` text.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        Ok(self.http.get(format!("{}/metrics", self.base)).bearer_auth(ADMIN_TOKEN).send().await?.text().await?)
    }

    /// Calls not yet terminated, from `/metrics`.
    pub async fn established_count(&self) -> anyhow::Result<u64> {
        self.metrics_text()
            .await?
            .lines()
            .find_map(|l| l.strip_prefix("switchboard_calls_active "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .context("switchboard_calls_active in /metrics")
    }

    fn status_kib(&self, field: &str) -> u64 {
        // With taskset the child is taskset, which execs the server: same pid.
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    pub fn hwm_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Bytes of the SQLite database and its write-ahead log.
    pub fn db_bytes(&self) -> u64 {
        ["switchboard.db", "switchboard.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(self.data_dir.join(f)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Stops the server with SIGTERM (a graceful shutdown), killing it after 10 s.
    pub async fn stop(&self) {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && std::path::Path::new(&format!("/proc/{}", self.pid)).exists() {
            if let Ok(s) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
                if s.split_whitespace().nth(2) == Some("Z") {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = std::process::Command::new("kill").arg("-KILL").arg(self.pid.to_string()).status();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
