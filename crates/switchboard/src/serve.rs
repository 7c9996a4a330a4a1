//! `switchboard serve`: opens the store, seeds the directory, starts the engine and the HTTP
//! server, and shuts down gracefully on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use switchboard_api::auth::IdentityProviderConfig;
use switchboard_api::throttle::ThrottleConfig;
use switchboard_api::{ApiSettings, AppState};
use switchboard_core::call_kind::CallbackPolicy;
use switchboard_engine::directory::random_secret;
use switchboard_engine::DeliveryConfig;
use switchboard_engine::{ClockMode, Engine, EngineConfig, Seed, SigningKeys};
use switchboard_store::{PgStore, SqliteStore, Store};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the first line printed names it).
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the SQLite database, the signing key and dev-credentials.json.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "./switchboard-data")]
    pub data_dir: PathBuf,
    /// Directory seed (TOML, or JSON when it ends in .json). Without it, a first start seeds a
    /// development tenant.
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Absolute base URL for Location headers, links and token issuers (default: the listen address).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Also serve the same API over TLS on this address (port 0 picks a free port; the second
    /// line printed names it), with a development certificate generated into DATA_DIR/tls.
    /// MSAL and azure-identity need it: they accept only an https authority.
    #[arg(long, env = "SWITCHBOARD_TLS_LISTEN")]
    pub tls_listen: Option<SocketAddr>,
    /// Domain time: `system` (wall clock) or `virtual` (moves only through /_switchboard/clock/advance).
    #[arg(long, env = "SWITCHBOARD_CLOCK", default_value = "system", value_parser = ["system", "virtual"])]
    pub clock: String,
    /// `iss` of the bearer tokens on notification callbacks.
    #[arg(long, env = "SWITCHBOARD_CALLBACK_ISSUER", default_value = "https://api.botframework.com")]
    pub callback_issuer: String,
    /// PostgreSQL database shared by several nodes (`postgres://user@host:port/db`; add
    /// `?options=-csearch_path%3Dschema` for a schema other than `public`). Without it, the
    /// store is SQLite in the data directory, which serves one process only. The signing key
    /// stays in each node's data directory: give every node the same `keys` directory.
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Delivery attempts of one notification before it is kept as a dead letter.
    #[arg(long, env = "SWITCHBOARD_DELIVERY_MAX_ATTEMPTS", default_value_t = 8)]
    pub delivery_max_attempts: i64,
    /// Seconds after which an undelivered notification is kept as a dead letter, not retried.
    #[arg(long, env = "SWITCHBOARD_DELIVERY_MAX_AGE", default_value_t = 86_400)]
    pub delivery_max_age: u64,
    /// Seconds to connect to a callback URI.
    #[arg(long, env = "SWITCHBOARD_DELIVERY_CONNECT_TIMEOUT", default_value_t = 2.0)]
    pub delivery_connect_timeout: f64,
    /// Seconds to wait between two reads of a callback's response.
    #[arg(long, env = "SWITCHBOARD_DELIVERY_READ_TIMEOUT", default_value_t = 5.0)]
    pub delivery_read_timeout: f64,
    /// Seconds one delivery attempt may take in all.
    #[arg(long, env = "SWITCHBOARD_DELIVERY_TOTAL_TIMEOUT", default_value_t = 10.0)]
    pub delivery_total_timeout: f64,
    /// This node's id: the owner of its agent WebSockets, SIP dialogs and leg command inbox.
    /// Default: a stable id kept in DATA_DIR/node-id (generated on first start). Nodes sharing
    /// a PostgreSQL database need distinct ids: give each its own data directory or --node-id.
    #[arg(long, env = "SWITCHBOARD_NODE_ID")]
    pub node_id: Option<String>,
    /// Seconds a node may go without recording itself alive (it does so three times per
    /// timeout) before another node sharing the database ends its live legs: ringing ones fail
    /// as unreachable, connected ones leave their calls. Keep the nodes' clocks in step.
    #[arg(long, env = "SWITCHBOARD_NODE_TIMEOUT", default_value_t = 15.0)]
    pub node_timeout: f64,
    /// Seconds an ended call is kept after its conversation ended (domain time), with its
    /// participants, operations, notifications and delivery attempts; then it is removed, once
    /// its notifications are delivered or given up. 0 keeps ended calls forever.
    #[arg(long, env = "SWITCHBOARD_RETENTION", default_value_t = 86_400)]
    pub retention: u64,
    /// SIP trunk (`host:port` of the carrier's trunk or SBC) that phone invitees are dialled
    /// through; every SIP request is sent there. Without it (and without `[sip] trunk` in the
    /// config file), phone numbers are simulated.
    #[arg(long, env = "SWITCHBOARD_SIP_TRUNK")]
    pub sip_trunk: Option<SocketAddr>,
    /// Transport toward the trunk: `udp` (default) or `tcp`.
    #[arg(long, env = "SWITCHBOARD_SIP_TRANSPORT", value_parser = ["udp", "tcp"])]
    pub sip_transport: Option<String>,
    /// Our SIP listening address (default 127.0.0.1:5060; port 0 picks a free one, written
    /// with the transport to DATA_DIR/sip-address).
    #[arg(long, env = "SWITCHBOARD_SIP_LISTEN")]
    pub sip_listen: Option<SocketAddr>,
    /// The audio address offered in SDP (default 127.0.0.1:40000). Switchboard carries no
    /// media: point it at your media server.
    #[arg(long, env = "SWITCHBOARD_SIP_MEDIA")]
    pub sip_media: Option<SocketAddr>,
    /// Digest username for the trunk's 401/407 challenges.
    #[arg(long, env = "SWITCHBOARD_SIP_USERNAME")]
    pub sip_username: Option<String>,
    /// Digest password (prefer the environment variable; never logged).
    #[arg(long, env = "SWITCHBOARD_SIP_PASSWORD", hide_env_values = true)]
    pub sip_password: Option<String>,
    /// RFC 3261 timer T1 in milliseconds (default 500; T2 = 8*T1, T4 = 10*T1, transaction
    /// timeouts 64*T1).
    #[arg(long, env = "SWITCHBOARD_SIP_T1_MS")]
    pub sip_t1_ms: Option<u64>,
    /// Log format: `human` or `json` (one object per line, with the request, call and
    /// operation ids of the spans it belongs to). RUST_LOG sets the levels (default info).
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", default_value = "human", value_parser = ["human", "json"])]
    pub log_format: String,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().with_current_span(true).with_span_list(true).init();
    } else {
        builder.init();
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data directory {}", args.data_dir.display()))?;
    let config = match &args.config {
        Some(path) => Some(ConfigFile::read(path)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{local}"));
    let tls = match args.tls_listen {
        None => None,
        Some(addr) => {
            let config = crate::tls::DevCertificate::in_dir(&args.data_dir)
                .load_or_generate()
                .context("cannot set up the development TLS certificate")?;
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            let url = format!("https://{}", listener.local_addr()?);
            Some((listener, config, url))
        }
    };
    let tls_url = tls.as_ref().map(|(_, _, url)| url.clone());
    let mut own_addrs = vec![local];
    if let Some((listener, _, _)) = &tls {
        own_addrs.push(listener.local_addr()?);
    }

    let clock = if args.clock == "virtual" { ClockMode::Virtual } else { ClockMode::System };
    // Held for the life of the process: SQLite serves one node.
    let mut _data_dir_lock = None;
    let store: Store = match &args.database_url {
        Some(url) => {
            // Virtual time lives in one process (advances fire timers there): one node only.
            anyhow::ensure!(
                clock == ClockMode::System,
                "--clock virtual needs the single-node SQLite store: it cannot be used with --database-url"
            );
            let url = url.clone();
            tokio::task::spawn_blocking(move || PgStore::open(&url))
                .await?
                .context("cannot open the PostgreSQL database (--database-url)")?
                .into()
        }
        None => {
            _data_dir_lock = Some(lock_data_dir(&args.data_dir)?);
            SqliteStore::open(&args.data_dir.join("switchboard.db")).context("cannot open the database")?.into()
        }
    };
    let keys = SigningKeys::load_or_generate(&args.data_dir.join("keys")).context("cannot load the signing key")?;
    let delivery = delivery_config(&args)?;
    let callback_policy = CallbackPolicy {
        allow_http_hosts: config.as_ref().map(|c| c.callback_allow_hosts.clone()).unwrap_or_default(),
        forbidden_origins: own_origins(&own_addrs, &public_url),
    };
    let node_id = node_id(&args)?;
    let sip = sip_config(&args, config.as_ref().and_then(|c| c.sip.clone()))?;
    let engine = Engine::new(
        store,
        keys,
        EngineConfig {
            clock,
            callback_policy,
            callback_issuer: args.callback_issuer.clone(),
            delivery,
            node_id,
            sip_trunk: sip.is_some(),
            node_timeout: positive_seconds("--node-timeout", args.node_timeout)?,
            retention: (args.retention > 0).then(|| std::time::Duration::from_secs(args.retention)),
        },
    )?;
    // The SIP driver registers before the engine starts running leg commands.
    let sip_driver = match sip {
        Some(sip) => {
            let transport = sip.transport;
            let driver = switchboard_sip::driver::SipDriver::start(engine.clone(), sip.clone())
                .await
                .with_context(|| format!("cannot listen for SIP on {}", sip.listen))?;
            let line = format!("{} {}", transport.via_name().to_ascii_lowercase(), driver.local_addr());
            std::fs::write(args.data_dir.join("sip-address"), &line).context("cannot write DATA_DIR/sip-address")?;
            Some((line, sip.trunk))
        }
        None => None,
    };

    let credentials_path = args.data_dir.join("dev-credentials.json");
    let admin_token = match &config {
        Some(config) => {
            let admin = config.seed.admin_token.clone();
            engine.seed(config.seed.clone()).await.context("cannot seed the directory")?;
            match admin {
                Some(token) => {
                    engine.set_setting("admin_token", token.clone()).await?;
                    token
                }
                None => engine.setting_or_init("admin_token", random_secret).await?,
            }
        }
        None => {
            let admin = engine.setting_or_init("admin_token", random_secret).await?;
            if engine.setting("dev_seeded").await?.is_none() {
                let (seed, credentials) = Seed::development();
                engine.seed(seed).await.context("cannot seed the development tenant")?;
                let mut file = serde_json::to_value(&credentials)?;
                file["adminToken"] = serde_json::Value::String(admin.clone());
                write_private(&credentials_path, &serde_json::to_string_pretty(&file)?)?;
                engine.set_setting("dev_seeded", "true".to_owned()).await?;
            }
            admin
        }
    };

    let mut tasks = engine.start().await?;
    let metrics = switchboard_api::metrics::install().map_err(|e| anyhow::anyhow!("cannot install metrics: {e}"))?;
    tasks.push(tokio::spawn(metrics_upkeep(metrics.clone())));
    let (stopping, shutdown) = tokio::sync::watch::channel(false);
    let (identity_providers, throttle) = match config {
        Some(c) => (c.identity_providers, c.throttle),
        None => (Vec::new(), ThrottleConfig::default()),
    };
    let settings = ApiSettings {
        public_url: public_url.clone(),
        tls_url: tls_url.clone(),
        admin_token,
        identity_providers,
        throttle,
        metrics: Some(metrics),
        shutdown: Some(shutdown),
    };
    let state = AppState::new(engine, settings);
    let app = switchboard_api::router(state.clone());
    println!("Switchboard listening on {public_url}");
    if let Some((listener, config, url)) = tls {
        println!("Switchboard TLS listening on {url}");
        tasks.push(tokio::spawn(crate::tls::serve(listener, config, switchboard_api::tls_router(state))));
    }
    print_banner(&public_url, tls_url.as_deref(), &args, &credentials_path);
    if let Some((listening, trunk)) = &sip_driver {
        println!("  SIP:         trunk {trunk}, listening on {listening}");
    }
    let signal = async move {
        shutdown_signal().await;
        tracing::info!("stopping: finishing the requests in flight");
        let _ = stopping.send(true);
    };
    axum::serve(listener, app).with_graceful_shutdown(signal).await?;
    for task in tasks {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Histograms are drained into the exporter's buckets by upkeep; scrapes run it too.
async fn metrics_upkeep(handle: metrics_exporter_prometheus::PrometheusHandle) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        every.tick().await;
        handle.run_upkeep();
    }
}

/// Takes the data directory for this process: a second server on the same SQLite database
/// would break its single-writer design, so it is refused at start.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("switchboard.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another Switchboard process is using the data directory {} (SQLite serves one node; \
             to run several nodes, give each --database-url postgres://...)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// `--node-id`, or the id kept in the data directory (made on first start).
fn node_id(args: &ServeArgs) -> anyhow::Result<String> {
    let valid = |id: &str| !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_graphic());
    if let Some(id) = &args.node_id {
        anyhow::ensure!(valid(id), "--node-id must be 1 to 128 visible ASCII characters");
        return Ok(id.clone());
    }
    let path = args.data_dir.join("node-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        anyhow::ensure!(valid(id), "{} does not hold a valid node id", path.display());
        return Ok(id.to_owned());
    }
    let id = format!("node-{}", uuid::Uuid::new_v4().simple());
    std::fs::write(&path, format!("{id}\n")).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
}

fn positive_seconds(name: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    anyhow::ensure!(value.is_finite() && value > 0.0, "{name} must be a positive number of seconds");
    Ok(std::time::Duration::from_secs_f64(value))
}

fn delivery_config(args: &ServeArgs) -> anyhow::Result<DeliveryConfig> {
    anyhow::ensure!(args.delivery_max_attempts >= 1, "--delivery-max-attempts must be at least 1");
    Ok(DeliveryConfig {
        max_attempts: args.delivery_max_attempts,
        max_age: std::time::Duration::from_secs(args.delivery_max_age),
        connect_timeout: positive_seconds("--delivery-connect-timeout", args.delivery_connect_timeout)?,
        read_timeout: positive_seconds("--delivery-read-timeout", args.delivery_read_timeout)?,
        total_timeout: positive_seconds("--delivery-total-timeout", args.delivery_total_timeout)?,
        ..DeliveryConfig::default()
    })
}

fn print_banner(public_url: &str, tls_url: Option<&str>, args: &ServeArgs, credentials_path: &std::path::Path) {
    println!("  Graph API:   {public_url}/beta  and  {public_url}/v1.0");
    if let Some(tls_url) = tls_url {
        let cert = crate::tls::DevCertificate::in_dir(&args.data_dir);
        println!("  Authority:   {tls_url}  (MSAL, azure-identity; trust {})", cert.cert.display());
    }
    println!("  Clock:       {}", args.clock);
    println!(
        "  Store:       {}",
        if args.database_url.is_some() { "PostgreSQL (several nodes)" } else { "SQLite (one node)" }
    );
    println!("  Console:     {public_url}/console");
    println!("  Metrics:     {public_url}/metrics    OpenAPI: {public_url}/openapi.json");
    if args.config.is_none() {
        if let Ok(text) = std::fs::read_to_string(credentials_path) {
            if let Ok(c) = serde_json::from_str::<serde_json::Value>(&text) {
                let tenant = c["tenantId"].as_str().unwrap_or_default();
                println!("  Token URL:   {public_url}/{tenant}/oauth2/v2.0/token");
                println!("  Development tenant (also in {}):", credentials_path.display());
                println!("    tenantId      {tenant}");
                println!("    clientId      {}", c["clientId"].as_str().unwrap_or_default());
                println!("    clientSecret  {}", c["clientSecret"].as_str().unwrap_or_default());
                println!("    adminToken    {}", c["adminToken"].as_str().unwrap_or_default());
                println!("  Console:     {public_url}/console#token={}", c["adminToken"].as_str().unwrap_or_default());
                if let Some(users) = c["users"].as_array() {
                    for u in users {
                        println!(
                            "    user          {}  {} ({})",
                            u["id"].as_str().unwrap_or_default(),
                            u["displayName"].as_str().unwrap_or_default(),
                            u["behaviour"]["kind"].as_str().unwrap_or_default()
                        );
                    }
                }
                if let Some(phones) = c["phoneNumbers"].as_array() {
                    for p in phones {
                        println!(
                            "    phone         {}  {} ({})",
                            p["number"].as_str().unwrap_or_default(),
                            p["displayName"].as_str().unwrap_or_default(),
                            p["behaviour"]["kind"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// The `--config` file: the directory seed, plus the settings of the HTTP surface
/// (`identityProviders`, `throttle`) and of callbacks (`callbackAllowHosts`).
struct ConfigFile {
    seed: Seed,
    sip: Option<SipSection>,
    identity_providers: Vec<IdentityProviderConfig>,
    throttle: ThrottleConfig,
    callback_allow_hosts: Vec<String>,
}

impl ConfigFile {
    /// A configuration file: TOML, or JSON when its name ends in `.json` (what
    /// `switchboard directory export --format json` writes). Its server settings are taken
    /// out; the rest is the directory seed.
    fn read(path: &std::path::Path) -> anyhow::Result<ConfigFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let invalid = || format!("{} is not a valid configuration", path.display());
        let mut table: serde_json::Map<String, serde_json::Value> =
            if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
                serde_json::from_str(&text).with_context(invalid)?
            } else {
                toml::from_str(&text).with_context(invalid)?
            };
        let mut take = |key: &str| table.remove(key);
        let identity_providers = match take("identityProviders") {
            Some(v) => serde_json::from_value(v).with_context(|| format!("{}: identityProviders", invalid()))?,
            None => Vec::new(),
        };
        let throttle = match take("throttle") {
            Some(v) => serde_json::from_value(v).with_context(|| format!("{}: throttle", invalid()))?,
            None => ThrottleConfig::default(),
        };
        let callback_allow_hosts = match take("callbackAllowHosts") {
            Some(v) => serde_json::from_value(v).with_context(|| format!("{}: callbackAllowHosts", invalid()))?,
            None => Vec::new(),
        };
        let sip = match take("sip") {
            Some(v) => Some(serde_json::from_value(v).with_context(|| format!("{}: sip", invalid()))?),
            None => None,
        };
        let seed: Seed = serde_json::from_value(serde_json::Value::Object(table)).with_context(invalid)?;
        Ok(ConfigFile { seed, sip, identity_providers, throttle, callback_allow_hosts })
    }
}

/// The origins of Switchboard's own listeners, which callbacks must never reach.
fn own_origins(locals: &[std::net::SocketAddr], public_url: &str) -> Vec<(String, u16)> {
    let mut origins = Vec::new();
    for local in locals {
        origins.push((local.ip().to_string(), local.port()));
        if local.ip().is_unspecified() {
            origins.push(("127.0.0.1".to_owned(), local.port()));
        }
    }
    if let Ok(url) = url::Url::parse(public_url) {
        if let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) {
            origins.push((host.trim_start_matches('[').trim_end_matches(']').to_owned(), port));
        }
    }
    origins
}

/// The `[sip]` section of the config file; each `--sip-*` flag (or its environment variable)
/// overrides its field.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SipSection {
    trunk: Option<SocketAddr>,
    transport: Option<String>,
    listen: Option<SocketAddr>,
    media: Option<SocketAddr>,
    username: Option<String>,
    password: Option<String>,
    t1_ms: Option<u64>,
}

/// The SIP trunk, if one is configured by flag or file.
fn sip_config(args: &ServeArgs, file: Option<SipSection>) -> anyhow::Result<Option<switchboard_sip::SipConfig>> {
    let file = file.unwrap_or_default();
    let Some(trunk) = args.sip_trunk.or(file.trunk) else {
        anyhow::ensure!(
            args.sip_username.is_none() && args.sip_password.is_none(),
            "SIP credentials given without a trunk (--sip-trunk)"
        );
        return Ok(None);
    };
    let transport = args.sip_transport.clone().or(file.transport).unwrap_or_else(|| "udp".to_owned());
    let transport = transport.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let t1_ms = args.sip_t1_ms.or(file.t1_ms).unwrap_or(500);
    anyhow::ensure!((1..=60_000).contains(&t1_ms), "the SIP T1 must be between 1 and 60000 ms");
    let username = args.sip_username.clone().or(file.username);
    let password = args.sip_password.clone().or(file.password);
    anyhow::ensure!(username.is_some() == password.is_some(), "SIP digest needs both a username and a password");
    Ok(Some(switchboard_sip::SipConfig {
        trunk,
        transport,
        listen: args.sip_listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:5060".parse().expect("an address")),
        media: args.sip_media.or(file.media).unwrap_or_else(|| "127.0.0.1:40000".parse().expect("an address")),
        username,
        password,
        t1: std::time::Duration::from_millis(t1_ms),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn args(flags: &[&str]) -> ServeArgs {
        Cli::parse_from(std::iter::once("serve").chain(flags.iter().copied())).serve
    }

    #[test]
    fn the_sip_section_of_the_config_file_is_read_and_flags_override_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[sip]\ntrunk = \"127.0.0.1:5070\"\ntransport = \"tcp\"\nmedia = \"192.0.2.1:4000\"\n\
             username = \"bot\"\npassword = \"pw\"\nt1Ms = 100\n",
        )
        .unwrap();
        let file = ConfigFile::read(&path).unwrap().sip;
        let sip = sip_config(&args(&["--sip-t1-ms", "20"]), file.clone()).unwrap().unwrap();
        assert_eq!(sip.trunk, "127.0.0.1:5070".parse().unwrap());
        assert_eq!(sip.transport, switchboard_sip::TransportKind::Tcp);
        assert_eq!(sip.media, "192.0.2.1:4000".parse().unwrap());
        assert_eq!(sip.listen, "127.0.0.1:5060".parse().unwrap(), "the default listener");
        assert_eq!(sip.t1, std::time::Duration::from_millis(20), "the flag wins over the file");
        assert_eq!((sip.username.as_deref(), sip.password.as_deref()), (Some("bot"), Some("pw")));
        assert!(!format!("{sip:?}").contains("pw"), "Debug never shows the password");
    }

    #[test]
    fn without_a_trunk_there_is_no_sip_and_half_a_configuration_is_refused() {
        assert!(sip_config(&args(&[]), None).unwrap().is_none());
        assert!(sip_config(&args(&["--sip-username", "bot"]), None).is_err(), "credentials without a trunk");
        assert!(sip_config(&args(&["--sip-trunk", "127.0.0.1:5070", "--sip-username", "bot"]), None).is_err());
        assert!(sip_config(&args(&["--sip-trunk", "127.0.0.1:5070", "--sip-t1-ms", "0"]), None).is_err());
    }
}
