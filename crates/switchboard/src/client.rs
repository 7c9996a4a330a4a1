//! Commands that talk to a running server through its control API: `switchboard token` and
//! `switchboard directory export|import`. They find the server and its admin token the way a
//! newcomer has them: `--url` (default the default listen address) and `--admin-token`, or the
//! `adminToken` of `DATA_DIR/dev-credentials.json` written by the first `switchboard serve`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::Value;
use switchboard_engine::Seed;

/// Where the server is, and how to prove the admin credential.
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// Base URL of the running server.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The admin token (default: `adminToken` of DATA_DIR/dev-credentials.json). A generated
    /// token is base64url and may begin with `-`, so the value may look like a flag.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true, allow_hyphen_values = true)]
    pub admin_token: Option<String>,
    /// The server's data directory, read for dev-credentials.json.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "./switchboard-data")]
    pub data_dir: PathBuf,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  switchboard token
      # the development application's token, for the server on 127.0.0.1:8080
  TOKEN=$(switchboard token)
  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8080/beta/communications/calls/ID
  switchboard token --client-id 6a1c7e4e-... --url http://127.0.0.1:9090 --json
      # another application of the directory, with expiry, as JSON")]
pub struct TokenArgs {
    /// The application (client id) to mint a token for (default: the directory's only
    /// application, else the development application).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Print the whole answer (token, expiry, tenant) as JSON instead of the bare token.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum DirectoryCommand {
    /// Write the directory of a running server as a seed file (secrets as hashes).
    #[command(after_help = "\
Examples:
  switchboard directory export > directory.toml
  switchboard directory export --format json --output directory.json
  # later, or on another machine:
  switchboard serve --config directory.toml")]
    Export(ExportArgs),
    /// Write a seed file into the directory of a running server (insert or replace).
    #[command(after_help = "\
Examples:
  switchboard directory import directory.toml
  switchboard directory import team.json --url http://127.0.0.1:9090 --admin-token \"$ADMIN\"")]
    Import(ImportArgs),
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedFormat {
    Toml,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Format of the seed.
    #[arg(long, value_enum, default_value_t = SeedFormat::Toml)]
    pub format: SeedFormat,
    /// File to write (default: standard output).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The seed file: TOML, or JSON when its name ends in `.json`.
    pub file: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// A seed file: JSON when the name ends in `.json`, TOML otherwise.
pub fn read_seed(path: &Path) -> anyhow::Result<Seed> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid seed", path.display()))
    } else {
        toml::from_str(&text).with_context(|| format!("{} is not a valid seed", path.display()))
    }
}

struct ControlClient {
    http: reqwest::Client,
    base: String,
    admin_token: String,
    data_dir: PathBuf,
}

impl ControlClient {
    fn new(args: &ServerArgs) -> anyhow::Result<ControlClient> {
        let admin_token = match &args.admin_token {
            Some(token) => token.clone(),
            None => dev_credentials(&args.data_dir)?["adminToken"]
                .as_str()
                .map(str::to_owned)
                .context("dev-credentials.json has no adminToken: pass --admin-token")?,
        };
        Ok(ControlClient {
            http: reqwest::Client::new(),
            base: args.url.trim_end_matches('/').to_owned(),
            admin_token,
            data_dir: args.data_dir.clone(),
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Option<Value>> {
        let response = request.bearer_auth(&self.admin_token).send().await.with_context(|| {
            format!("cannot reach Switchboard at {} (is `switchboard serve` running? see --url)", self.base)
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            bail!("Switchboard answered {status}: {message}");
        }
        if text.is_empty() {
            return Ok(None);
        }
        Ok(Some(serde_json::from_str(&text).context("Switchboard answered something that is not JSON")?))
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base))).await?.context("an empty answer")
    }

    async fn post(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Option<Value>> {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }
}

fn dev_credentials(data_dir: &Path) -> anyhow::Result<Value> {
    let path = data_dir.join("dev-credentials.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no admin token given and cannot read {} (pass --admin-token)", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// `switchboard token`.
pub async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let client = ControlClient::new(&args.server)?;
    let client_id = match args.client_id {
        Some(id) => id,
        None => default_application(&client).await?,
    };
    let answer = client
        .post(&format!("/_switchboard/applications/{}/token", url_segment(&client_id)), None)
        .await?
        .context("an empty answer")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!("{}", answer["access_token"].as_str().context("no access_token in the answer")?);
    }
    Ok(())
}

/// The only application of the directory, else the development application.
async fn default_application(client: &ControlClient) -> anyhow::Result<String> {
    let directory = client.get("/_switchboard/directory").await?;
    let ids: Vec<&str> = directory["applications"]
        .as_array()
        .map(|apps| apps.iter().filter_map(|a| a["clientId"].as_str()).collect())
        .unwrap_or_default();
    if let [only] = ids.as_slice() {
        return Ok((*only).to_owned());
    }
    if let Ok(creds) = dev_credentials(&client.data_dir) {
        if let Some(id) = creds["clientId"].as_str().filter(|id| ids.contains(id)) {
            return Ok(id.to_owned());
        }
    }
    if ids.is_empty() {
        bail!("the directory has no application");
    }
    bail!("the directory has several applications; choose one with --client-id: {}", ids.join(", "))
}

fn url_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `switchboard directory ...`.
pub async fn directory(command: DirectoryCommand) -> anyhow::Result<()> {
    match command {
        DirectoryCommand::Export(args) => {
            let client = ControlClient::new(&args.server)?;
            let seed: Seed = serde_json::from_value(client.get("/_switchboard/directory/export").await?)
                .context("the exported directory is not a seed")?;
            let text = match args.format {
                SeedFormat::Json => serde_json::to_string_pretty(&seed)? + "\n",
                SeedFormat::Toml => {
                    let body = toml::to_string_pretty(&seed).context("the directory cannot be written as TOML")?;
                    format!(
                        "# Switchboard directory, exported from {}.\n# Load it with `switchboard serve --config FILE` \
                         or `switchboard directory import FILE`.\n\n{body}",
                        client.base
                    )
                }
            };
            match args.output {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("Wrote the directory to {}", path.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        DirectoryCommand::Import(args) => {
            let client = ControlClient::new(&args.server)?;
            let mut seed = read_seed(&args.file)?;
            if seed.admin_token.take().is_some() {
                eprintln!("Note: adminToken is not imported (it is set when the server starts with --config).");
            }
            let counts = format!(
                "{} tenants, {} applications, {} application instances, {} users, {} phone numbers, {} meetings",
                seed.tenants.len(),
                seed.applications.len(),
                seed.application_instances.len(),
                seed.users.len(),
                seed.phone_numbers.len(),
                seed.online_meetings.len()
            );
            client.post("/_switchboard/directory/import", Some(&serde_json::to_value(&seed)?)).await?;
            eprintln!("Imported {counts} into {}", client.base);
            Ok(())
        }
    }
}
