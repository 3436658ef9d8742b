//! `sessiond`: one session-state server for web farms.
//!
//! Parses the command line, loads the configuration, starts the server and waits for SIGTERM
//! or SIGINT to shut it down gracefully. Start-up errors end the process with one line that
//! names the setting at fault.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sessiond_server::{ByteSize, Config, ConfigDuration, FsyncPolicy, Listen, Overrides, Server};
use tracing_subscriber::EnvFilter;

mod operator;

/// A session-state server: shared sessions for web farms, over the memcached protocol (text
/// and binary), the ASP.NET State Server protocol, sharedance and Redis, with sliding expiry and
/// exclusive locks, never evicting a live session.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    /// An operator command; without one, sessiond runs the server.
    #[command(subcommand)]
    command: Option<Operator>,
    /// TOML configuration file; flags given here override its settings.
    #[arg(long, value_name = "FILE", env = "SESSIOND_CONFIG")]
    config: Option<PathBuf>,
    /// Address of the memcached listener (text and binary protocol), or `off`
    /// [default: 127.0.0.1:11211].
    #[arg(long, value_name = "ADDR")]
    memcache_listen: Option<Listen>,
    /// Address of the ASP.NET State Server listener, or `off` [default: 127.0.0.1:42424].
    #[arg(long, value_name = "ADDR")]
    aspnet_listen: Option<Listen>,
    /// Address of the sharedance listener, or `off` [default: 127.0.0.1:1042].
    #[arg(long, value_name = "ADDR")]
    sharedance_listen: Option<Listen>,
    /// Address of the Redis listener (RESP2 and RESP3), or `off` [default: 127.0.0.1:6379].
    #[arg(long, value_name = "ADDR")]
    resp_listen: Option<Listen>,
    /// The password Redis clients must give with AUTH (Redis's requirepass).
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "SESSIOND_RESP_PASSWORD",
        hide_env_values = true
    )]
    resp_password: Option<String>,
    /// How long a Redis Lua script may run before it is stopped, e.g. 5s (Redis's
    /// busy-reply-threshold) [default: 5s].
    #[arg(long, value_name = "DURATION")]
    resp_script_time_limit: Option<ConfigDuration>,
    /// Which Redis keyspace notifications to publish from the start, in Redis's class
    /// letters, e.g. Egx (what Spring Session sets); on a cluster give every node the same.
    #[arg(long, value_name = "CLASSES")]
    resp_notify_keyspace_events: Option<String>,
    /// How long a sharedance session lives after its last write, e.g. 1800 or 30m.
    #[arg(long, value_name = "DURATION")]
    sharedance_expiration: Option<ConfigDuration>,
    /// Make sharedance reads extend a session's life too (sharedance itself does not).
    #[arg(long)]
    sharedance_sliding: bool,
    /// Close sharedance connections idle this long, e.g. 60.
    #[arg(long, value_name = "DURATION")]
    sharedance_timeout: Option<ConfigDuration>,
    /// Data directory for the write-ahead log and snapshots, created on first start
    /// [default: ./sessiond-data].
    #[arg(long, value_name = "DIR", env = "SESSIOND_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// When the log is flushed to disk: `always` (before a write is acknowledged),
    /// `everysec` (a power failure loses at most about a second) or `no` [default: everysec].
    #[arg(long, value_name = "POLICY")]
    fsync: Option<FsyncPolicy>,
    /// Keep sessions in memory only: nothing survives a restart.
    #[arg(long)]
    in_memory: bool,
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
    /// Run as this node of a replicated cluster (a positive integer unique in the cluster).
    #[arg(long, value_name = "ID")]
    node_id: Option<u64>,
    /// Address of this node's cluster listener, for its peers and `sessiond cluster`
    /// [default: 127.0.0.1:7420].
    #[arg(long, value_name = "ADDR")]
    cluster_listen: Option<std::net::SocketAddr>,
    /// The cluster address peers should use, when it differs from --cluster-listen.
    #[arg(long, value_name = "HOST:PORT")]
    cluster_advertise: Option<String>,
    /// Start a new cluster of these members, this node included: id=host:port of each
    /// cluster listener, comma-separated. Without it, the node waits to be added.
    #[arg(long, value_name = "ID=ADDR,...", value_delimiter = ',')]
    peers: Option<Vec<sessiond_server::Peer>>,
    /// The secret every node of the cluster shares (at least 16 characters).
    #[arg(
        long,
        value_name = "SECRET",
        env = "SESSIOND_CLUSTER_SECRET",
        hide_env_values = true
    )]
    cluster_secret: Option<String>,
    /// This server's certificate chain (PEM), for TLS listeners and the cluster transport.
    #[arg(long, value_name = "FILE", env = "SESSIOND_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", env = "SESSIOND_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that peers' certificates must be signed by: every cluster node's,
    /// and clients' on TLS listeners.
    #[arg(long, value_name = "FILE", env = "SESSIOND_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// Clients of the memcached listener connect with TLS (memcached's -Z).
    #[arg(long)]
    memcache_tls: bool,
    /// Log filter, e.g. info, debug, sessiond_server=debug [env: RUST_LOG].
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
}

/// Commands for operators, run beside (or instead of) a server.
#[derive(Debug, Subcommand)]
enum Operator {
    /// Ask the server running on a data directory to take a snapshot now, and wait for it.
    Snapshot {
        /// The server's data directory.
        #[arg(
            long,
            value_name = "DIR",
            env = "SESSIOND_DATA_DIR",
            default_value = "sessiond-data"
        )]
        data_dir: PathBuf,
        /// How long to wait for the snapshot, e.g. 10m.
        #[arg(long, value_name = "DURATION", default_value = "10m")]
        timeout: ConfigDuration,
    },
    /// Look at or change a cluster's membership, through any of its nodes.
    Cluster {
        /// A node's cluster address (--cluster-listen).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7420")]
        node: String,
        /// The cluster's shared secret [default: cluster.secret of --config].
        #[arg(
            long,
            value_name = "SECRET",
            env = "SESSIOND_CLUSTER_SECRET",
            hide_env_values = true
        )]
        secret: Option<String>,
        /// A node's configuration file, for its cluster secret and [tls] settings.
        #[arg(long, value_name = "FILE", env = "SESSIOND_CONFIG")]
        config: Option<PathBuf>,
        /// The certificate (PEM) to present to a cluster with TLS: one the cluster's CA
        /// signed for client use, e.g. a node's.
        #[arg(long, value_name = "FILE", env = "SESSIOND_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM).
        #[arg(long, value_name = "FILE", env = "SESSIOND_TLS_KEY")]
        tls_key: Option<PathBuf>,
        /// The cluster's CA (PEM), which must have signed the node's certificate.
        #[arg(long, value_name = "FILE", env = "SESSIOND_TLS_CA")]
        tls_ca: Option<PathBuf>,
        /// Print the status as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// What to do.
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Check a data directory without changing it: every checksum of every snapshot and log
    /// file, what recovery would truncate and what it would refuse.
    CheckData {
        /// The data directory.
        dir: PathBuf,
    },
}

/// What `sessiond cluster` does.
#[derive(Debug, Subcommand)]
enum ClusterAction {
    /// The leader, the term, and each node's log index and health.
    Status,
    /// Add a node (started with --node-id and no --peers) as a voting member.
    Add {
        /// The new node's id.
        id: u64,
        /// Its cluster address.
        addr: String,
        /// Add it as a learner that receives the log but does not vote.
        #[arg(long)]
        learner: bool,
    },
    /// Remove a node from the cluster (to replace it, add its successor first).
    Remove {
        /// The node's id.
        id: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(command) = &cli.command {
        return operator::run(command);
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Every error of ours already says its cause in one line; the chain would repeat it.
            eprintln!("sessiond: {error}");
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
        aspnet_listen: cli.aspnet_listen,
        sharedance_listen: cli.sharedance_listen,
        sharedance_expiration: cli.sharedance_expiration,
        sharedance_timeout: cli.sharedance_timeout,
        sharedance_sliding: cli.sharedance_sliding.then_some(true),
        in_memory: cli.in_memory.then_some(true),
        data_dir: cli.data_dir,
        fsync: cli.fsync,
        node_id: cli.node_id,
        cluster_listen: cli.cluster_listen,
        cluster_advertise: cli.cluster_advertise,
        peers: cli.peers,
        cluster_secret: cli.cluster_secret,
        tls_cert: cli.tls_cert,
        tls_key: cli.tls_key,
        tls_ca: cli.tls_ca,
        memcache_tls: cli.memcache_tls.then_some(true),
        resp_listen: cli.resp_listen,
        resp_password: cli.resp_password,
        resp_script_time_limit: cli.resp_script_time_limit,
        resp_notify_keyspace_events: cli.resp_notify_keyspace_events,
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    // Accepting, the expiry sweep and signals need little: one thread. The workers that serve
    // connections run on their own threads, started by the server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| anyhow::anyhow!("cannot start the runtime: {error}"))?;
    runtime.block_on(async {
        // Signal handlers go in before anything binds or logs, so a SIGTERM that arrives during
        // start-up still shuts down gracefully instead of killing the process.
        let shutdown = shutdown_signal()?;
        let server = Server::bind(&config)?;
        if let Some(trigger) = server.snapshot_trigger() {
            snapshot_on_signal(trigger)?;
        }
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            threads = config.threads,
            max_memory = %config.max_memory,
            "sessiond starting"
        );
        server.run(shutdown).await?;
        Ok(())
    })
}

/// Takes a snapshot whenever SIGUSR1 arrives (what `sessiond snapshot` sends).
fn snapshot_on_signal(trigger: sessiond_server::SnapshotTrigger) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut usr1 = signal(SignalKind::user_defined1())
        .map_err(|error| anyhow::anyhow!("cannot install signal handler: {error}"))?;
    tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            tracing::info!("snapshot requested");
            trigger.request();
        }
    });
    Ok(())
}

/// Installs the SIGTERM and SIGINT handlers now and returns a future that completes on either.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind| {
        signal(kind).map_err(|error| anyhow::anyhow!("cannot install signal handler: {error}"))
    };
    let mut terminate = install(SignalKind::terminate())?;
    let mut interrupt = install(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
