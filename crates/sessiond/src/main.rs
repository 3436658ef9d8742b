//! `sessiond`: one session-state server for web farms.
//!
//! Parses the command line, loads the configuration, starts the server and waits for SIGTERM
//! or SIGINT to shut it down gracefully. Start-up errors end the process with one line that
//! names the setting at fault.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use sessiond_server::{ByteSize, Config, ConfigDuration, Listen, Overrides, Server};
use tracing_subscriber::EnvFilter;

/// A session-state server: shared sessions for web farms, over the memcached protocol
/// (text and binary), with sliding expiry and exclusive locks, never evicting a live session.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file; flags given here override its settings.
    #[arg(long, value_name = "FILE", env = "SESSIOND_CONFIG")]
    config: Option<PathBuf>,
    /// Address of the memcached listener (text and binary protocol), or `off`.
    #[arg(long, value_name = "ADDR")]
    memcache_listen: Option<Listen>,
    /// Worker threads serving connections [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Memory limit for stored items, e.g. 512MiB or 4GiB; writes past it are refused.
    #[arg(long, value_name = "SIZE")]
    max_memory: Option<ByteSize>,
    /// Most client connections open at once.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Largest value a client may store, e.g. 8MiB.
    #[arg(long, value_name = "SIZE")]
    max_item_size: Option<ByteSize>,
    /// Close connections idle this long, e.g. 10m; 0 never closes them.
    #[arg(long, value_name = "DURATION")]
    idle_timeout: Option<ConfigDuration>,
    /// Log filter, e.g. info, debug, sessiond_server=debug [env: RUST_LOG].
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sessiond: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let overrides = Overrides {
        threads: cli.threads,
        max_memory: cli.max_memory,
        max_connections: cli.max_connections,
        idle_timeout: cli.idle_timeout,
        memcache_listen: cli.memcache_listen,
        max_item_size: cli.max_item_size,
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    // Accepting, the expiry sweep and signals need little: one thread. The workers that serve
    // connections run on their own threads, started by the server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let server = Server::bind(&config)?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            threads = config.threads,
            max_memory = %config.max_memory,
            "sessiond starting"
        );
        server.run(shutdown_signal()).await?;
        Ok(())
    })
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
