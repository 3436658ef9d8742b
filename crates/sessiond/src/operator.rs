//! Operator commands: `sessiond snapshot` and `sessiond check-data`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use crate::Operator;

/// Runs an operator command and says how it went, in a few lines on stdout (or one on stderr).
pub fn run(command: &Operator) -> ExitCode {
    let result = match command {
        Operator::Snapshot { data_dir, timeout } => snapshot(data_dir, timeout.0),
        Operator::CheckData { dir } => check_data(dir),
        Operator::Cluster {
            node,
            secret,
            config,
            tls_cert,
            tls_key,
            tls_ca,
            json,
            action,
        } => {
            let overrides = sessiond_server::Overrides {
                cluster_secret: secret.clone(),
                tls_cert: tls_cert.clone(),
                tls_key: tls_key.clone(),
                tls_ca: tls_ca.clone(),
                ..sessiond_server::Overrides::default()
            };
            cluster(node, config.as_deref(), &overrides, *json, action)
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sessiond: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Talks to a cluster node's listener: prints the status, or changes the membership (on the
/// leader, which the node names if it is not it). The secret and TLS settings come from the
/// flags (or their environment variables), else from the node's configuration file.
fn cluster(
    node: &str,
    config: Option<&Path>,
    overrides: &sessiond_server::Overrides,
    json: bool,
    action: &crate::ClusterAction,
) -> anyhow::Result<ExitCode> {
    use sessiond_cluster::network::{AdminClient, NetworkConfig};
    use sessiond_cluster::types::NodeInfo;
    let config = sessiond_server::Config::load(config, overrides)?;
    let Some(secret) = config.cluster.secret.clone() else {
        anyhow::bail!(
            "cluster.secret: give the cluster's secret (--secret, SESSIOND_CLUSTER_SECRET or \
             cluster.secret in --config)"
        );
    };
    let tls = match config.tls.load(false)? {
        None => None,
        Some(material) => match material.cluster() {
            Some(tls) => Some(tls.clone()),
            None => anyhow::bail!(
                "tls.ca: reaching a cluster over TLS needs the CA that signed its nodes' \
                 certificates"
            ),
        },
    };
    let timeout = Duration::from_secs(10);
    let network = NetworkConfig {
        connect_timeout: timeout,
        handshake_timeout: timeout,
        tls,
        ..NetworkConfig::new(secret.into_bytes())
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut client = AdminClient::connect_with(node, network, timeout).await?;
        match action {
            crate::ClusterAction::Status => {
                let status = client.status().await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&status)?);
                } else {
                    print!("{status}");
                }
            }
            crate::ClusterAction::Add { id, addr, learner } => {
                let info = NodeInfo {
                    cluster: addr.clone(),
                    clients: Default::default(),
                };
                client.add_node(*id, info, !learner).await?;
                println!("node {id} added at {addr}");
            }
            crate::ClusterAction::Remove { id } => {
                client.remove_node(*id).await?;
                println!("node {id} removed");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Signals the server that holds `data_dir` to take a snapshot, then waits until a snapshot
/// newer than any before it is in the directory.
fn snapshot(data_dir: &Path, timeout: Duration) -> anyhow::Result<ExitCode> {
    let lock = data_dir.join("LOCK");
    let holder = std::fs::read_to_string(&lock).map_err(|error| {
        anyhow::anyhow!(
            "{}: {error}; is a sessiond running with --data-dir {}?",
            lock.display(),
            data_dir.display()
        )
    })?;
    let pid: i32 = holder
        .split_whitespace()
        .find_map(|word| word.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{} names no process: {holder:?}", lock.display()))?;
    let before = newest_snapshot(data_dir)?;
    let process = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| anyhow::anyhow!("{} names process {pid}", lock.display()))?;
    rustix::process::kill_process(process, rustix::process::Signal::USR1).map_err(|error| {
        anyhow::anyhow!(
            "cannot signal sessiond (pid {pid}) holding {}: {error}",
            data_dir.display()
        )
    })?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let newest = newest_snapshot(data_dir)?;
        if newest.is_some() && newest != before {
            if let Some((path, _)) = newest {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                println!("snapshot written: {} ({size} bytes)", path.display());
            }
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!(
        "no new snapshot in {} after {timeout:?}; the server's log says why",
        data_dir.display()
    )
}

/// The snapshot file with the highest log position in `dir` (a single node's) or in
/// `dir/raft/snapshots` (a cluster node's), with when it was written: a cluster node asked for
/// a snapshot with nothing new since the last writes the same file again.
fn newest_snapshot(dir: &Path) -> anyhow::Result<Option<(PathBuf, Option<SystemTime>)>> {
    let entries =
        std::fs::read_dir(dir).map_err(|error| anyhow::anyhow!("{}: {error}", dir.display()))?;
    let cluster = std::fs::read_dir(dir.join("raft").join("snapshots")).into_iter();
    let newest = entries
        .chain(cluster.flatten())
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("snapshot-") && name.ends_with(".snap"))
        })
        .max_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(newest.map(|path| {
        let written = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        (path, written)
    }))
}

/// Checks `dir` offline and prints what it found; fails when recovery would refuse it.
fn check_data(dir: &Path) -> anyhow::Result<ExitCode> {
    let report = sessiond_server::check_data(dir)?;
    println!("{report}");
    Ok(if report.recoverable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
