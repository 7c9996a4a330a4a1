//! `switchboard serve`: opens the store, seeds the directory, starts the engine and the HTTP
//! server, and shuts down gracefully on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use switchboard_api::AppState;
use switchboard_engine::directory::random_secret;
use switchboard_engine::{ClockMode, Engine, EngineConfig, Seed, SigningKeys};
use switchboard_store::SqliteStore;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the first line printed names it).
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the SQLite database, the signing key and dev-credentials.json.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "./switchboard-data")]
    pub data_dir: PathBuf,
    /// Directory seed (TOML). Without it, a first start seeds a development tenant.
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
    /// Log format: `human` or `json`. RUST_LOG sets the level (default info).
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", default_value = "human", value_parser = ["human", "json"])]
    pub log_format: String,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data directory {}", args.data_dir.display()))?;
    let store = SqliteStore::open(&args.data_dir.join("switchboard.db")).context("cannot open the database")?;
    let keys = SigningKeys::load_or_generate(&args.data_dir.join("keys")).context("cannot load the signing key")?;
    let clock = if args.clock == "virtual" { ClockMode::Virtual } else { ClockMode::System };
    let engine = Engine::new(store, keys, EngineConfig { clock, ..EngineConfig::default() })?;

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

    let credentials_path = args.data_dir.join("dev-credentials.json");
    let admin_token = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let seed: Seed =
                toml::from_str(&text).with_context(|| format!("{} is not a valid seed", path.display()))?;
            let admin = seed.admin_token.clone();
            engine.seed(seed).await.context("cannot seed the directory")?;
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
    let state = AppState::with_tls(engine, public_url.clone(), tls_url.clone(), admin_token);
    let app = switchboard_api::router(state.clone());
    println!("Switchboard listening on {public_url}");
    if let Some((listener, config, url)) = tls {
        println!("Switchboard TLS listening on {url}");
        tasks.push(tokio::spawn(crate::tls::serve(listener, config, switchboard_api::tls_router(state))));
    }
    print_banner(&public_url, tls_url.as_deref(), &args, &credentials_path);
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    for task in tasks {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

fn print_banner(public_url: &str, tls_url: Option<&str>, args: &ServeArgs, credentials_path: &std::path::Path) {
    println!("  Graph API:   {public_url}/beta  and  {public_url}/v1.0");
    if let Some(tls_url) = tls_url {
        let cert = crate::tls::DevCertificate::in_dir(&args.data_dir);
        println!("  Authority:   {tls_url}  (MSAL, azure-identity; trust {})", cert.cert.display());
    }
    println!("  Clock:       {}", args.clock);
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
