//! The `switchboard` binary: command line, configuration, wiring, graceful shutdown.

mod client;
mod listen;
mod serve;
mod tls;
mod verify;

use clap::{Parser, Subcommand};

/// mimalloc rather than glibc's malloc: the reason is beside the dependency (Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Switchboard: a self-hosted call-control server that speaks the Microsoft Graph calls API.
#[derive(Parser, Debug)]
#[command(
    name = "switchboard",
    version,
    about,
    long_about = None,
    after_help = "\
Start here:
  switchboard serve                 # the server, with a development tenant; prints its credentials
  switchboard listen --port 9000    # in another terminal: print the notifications of your calls
  open http://127.0.0.1:8080/console#token=ADMIN_TOKEN

Run `switchboard COMMAND --help` for each command's options and examples."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (Graph calls API, identity endpoints, control API, console, metrics).
    #[command(after_help = "\
Examples:
  switchboard serve
      # 127.0.0.1:8080, data in ./switchboard-data, a development tenant seeded on first start
  switchboard serve --clock virtual --listen 127.0.0.1:0
      # for tests: domain time moves only through POST /_switchboard/clock/advance
  switchboard serve --config directory.toml --public-url https://calls.example.com
      # your own directory (see `switchboard directory export`), behind a proxy
  RUST_LOG=switchboard_engine=debug switchboard serve --log-format json

Then:
  console   http://127.0.0.1:8080/console (asks for the admin token)
  metrics   http://127.0.0.1:8080/metrics
  OpenAPI   http://127.0.0.1:8080/openapi.json")]
    Serve(Box<serve::ServeArgs>),
    /// Run a local notification receiver that prints every callback it gets.
    Listen(listen::ListenArgs),
    /// Print an access token for an application of the directory (asks the running server).
    Token(client::TokenArgs),
    /// Export or import the directory of a running server as a seed file.
    #[command(subcommand)]
    Directory(client::DirectoryCommand),
    /// Print the OpenAPI 3.1 document the server serves at /openapi.json (no server needed).
    #[command(after_help = "\
Examples:
  switchboard openapi > openapi.json
  switchboard openapi --public-url https://calls.example.com | jq '.paths | keys | length'")]
    Openapi(OpenapiArgs),
}

#[derive(clap::Args, Debug)]
struct OpenapiArgs {
    /// The server URL written into the document's `servers`.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    public_url: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Listen(args) => listen::run(args).await,
            Command::Token(args) => client::token(args).await,
            Command::Directory(command) => client::directory(command).await,
            Command::Openapi(args) => {
                let document = switchboard_api::openapi::document(args.public_url.trim_end_matches('/'));
                println!("{}", serde_json::to_string_pretty(&document)?);
                Ok(())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_every_command_has_examples() {
        super::Cli::command().debug_assert();
        let cli = super::Cli::command();
        let mut missing = Vec::new();
        for command in cli.get_subcommands() {
            let leaves: Vec<&clap::Command> =
                if command.has_subcommands() { command.get_subcommands().collect() } else { vec![command] };
            for leaf in leaves {
                let help = leaf.get_after_help().map(|h| h.to_string()).unwrap_or_default();
                if !help.contains("Example") {
                    missing.push(leaf.get_name().to_owned());
                }
            }
        }
        assert!(missing.is_empty(), "commands without examples in --help: {missing:?}");
    }

    #[test]
    fn an_admin_token_that_begins_with_a_hyphen_is_taken_as_the_value() {
        use clap::Parser;
        let args = ["switchboard", "directory", "import", "team.json", "--admin-token", "-Tx9", "--url", "http://h"];
        let cli = super::Cli::try_parse_from(args).expect("the token is a value, not a flag");
        assert!(format!("{cli:?}").contains("\"-Tx9\""), "{cli:?}");
    }
}
