//! The `switchboard` binary: command line, configuration, wiring, graceful shutdown.

mod listen;
mod serve;
mod tls;

use clap::{Parser, Subcommand};

/// Switchboard: a self-hosted call-control server that speaks the Microsoft Graph calls API.
#[derive(Parser, Debug)]
#[command(name = "switchboard", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (Graph calls API, identity endpoints, control API).
    #[command(
        after_help = "Examples:\n  switchboard serve\n  switchboard serve --clock virtual --listen 127.0.0.1:0\n  \
                            switchboard serve --config directory.toml --public-url https://calls.example.com"
    )]
    Serve(serve::ServeArgs),
    /// Run a local notification receiver that prints every callback it gets.
    Listen(listen::ListenArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Listen(args) => listen::run(args).await,
        }
    })
}
