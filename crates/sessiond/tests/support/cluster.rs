//! Clusters of the real `sessiond` binary on loopback (issue 5): each node with its cluster
//! and memcached listeners on ports the test picks and its own data directory, kept across
//! restarts, so a node killed with SIGKILL can be started again on what it left behind.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use super::{Server, free_port, run_to_exit, send_signal};

/// How long one `sessiond cluster ... status` may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// One node of a cluster built by [`cluster`]. `server` is `None` while it is not running.
pub struct Node {
    pub id: u64,
    /// Its memcached listener.
    pub memcache: SocketAddr,
    /// Its ASP.NET State Server listener.
    pub aspnet: SocketAddr,
    /// Its Redis listener.
    pub resp: SocketAddr,
    /// Its cluster listener (peers and `sessiond cluster --node`).
    pub cluster: SocketAddr,
    /// The arguments it is started with, every time.
    pub args: Vec<String>,
    pub server: Option<Server>,
    secret: String,
    dir: tempfile::TempDir,
}

/// `size` nodes with ids 1..=size that form one cluster with the shared `secret`: every node
/// gets the same `--peers`, one worker thread, a memcached, an ASP.NET and a Redis listener.
/// None is started yet.
pub fn cluster(size: usize, secret: &str) -> Vec<Node> {
    let ports: Vec<(u16, u16, u16, u16)> = (0..size)
        .map(|_| (free_port(), free_port(), free_port(), free_port()))
        .collect();
    let peers = ports
        .iter()
        .enumerate()
        .map(|(index, (cluster, _, _, _))| format!("{}=127.0.0.1:{cluster}", index + 1))
        .collect::<Vec<_>>()
        .join(",");
    ports
        .iter()
        .enumerate()
        .map(|(index, &(cluster, memcache, aspnet, resp))| {
            let dir = tempfile::tempdir().unwrap();
            let args = [
                "--node-id",
                &(index + 1).to_string(),
                "--cluster-listen",
                &format!("127.0.0.1:{cluster}"),
                "--peers",
                &peers,
                "--cluster-secret",
                secret,
                "--memcache-listen",
                &format!("127.0.0.1:{memcache}"),
                "--aspnet-listen",
                &format!("127.0.0.1:{aspnet}"),
                "--sharedance-listen",
                "off",
                "--resp-listen",
                &format!("127.0.0.1:{resp}"),
                "--threads",
                "1",
                "--data-dir",
                dir.path().to_str().unwrap(),
            ]
            .map(str::to_owned)
            .to_vec();
            Node {
                id: index as u64 + 1,
                memcache: ([127, 0, 0, 1], memcache).into(),
                aspnet: ([127, 0, 0, 1], aspnet).into(),
                resp: ([127, 0, 0, 1], resp).into(),
                cluster: ([127, 0, 0, 1], cluster).into(),
                args,
                server: None,
                secret: secret.to_owned(),
                dir,
            }
        })
        .collect()
}

impl Node {
    /// Starts the node (on its data directory, as left by any earlier run) and waits until it
    /// accepts connections.
    pub fn start(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.server = Some(Server::start_raw(&args));
    }

    /// Gives the node a configuration file holding `text` (its flags still take precedence),
    /// from its next start on.
    pub fn with_config_file(&mut self, text: &str) {
        let path = self.dir.path().join("sessiond.toml");
        std::fs::write(&path, text).unwrap();
        self.args
            .extend(["--config".to_owned(), path.to_str().unwrap().to_owned()]);
    }

    /// `kill -9`: the node gets no chance to flush or say goodbye. Panics if it is not running.
    pub fn kill(&mut self) {
        let server = self.server.take().expect("the node is running");
        send_signal(server.pid(), libc::SIGKILL);
        drop(server);
    }

    /// The term in which this node leads now, as `sessiond cluster status` reports it; `None`
    /// when it is down or does not lead.
    pub fn leads_in(&self) -> Option<u64> {
        self.server.as_ref()?;
        let status = self.status()?;
        (status.role() == "leader").then(|| status.term())
    }

    /// What `sessiond cluster --node ADDR --json status` prints about this node, as a user
    /// would ask for it; `None` if the command fails (the node is down or does not answer).
    pub fn status(&self) -> Option<ClusterStatus> {
        let node = self.cluster.to_string();
        let finished = run_to_exit(
            &[
                "cluster",
                "--node",
                &node,
                "--secret",
                &self.secret,
                "--json",
                "status",
            ],
            STATUS_TIMEOUT,
        );
        if !finished.status.success() {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&finished.stdout)
            .unwrap_or_else(|e| panic!("`cluster status` printed no JSON ({e}): {finished:?}"));
        Some(ClusterStatus { json })
    }
}

/// One node's answer to `sessiond cluster status --json`.
#[derive(Debug)]
pub struct ClusterStatus {
    pub json: serde_json::Value,
}

impl ClusterStatus {
    /// The node's id.
    pub fn id(&self) -> u64 {
        self.json["id"].as_u64().expect("status has an id")
    }

    /// `leader`, `follower`, `candidate`, ...
    pub fn role(&self) -> &str {
        self.json["role"].as_str().unwrap_or("")
    }

    /// The node's current term.
    pub fn term(&self) -> u64 {
        self.json["term"].as_u64().unwrap_or(0)
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<u64> {
        self.json["leader"].as_u64()
    }

    /// The index of the last entry in this node's log.
    pub fn last_log_index(&self) -> u64 {
        self.json["last_log_index"].as_u64().unwrap_or(0)
    }

    /// The index up to which this node has applied the log.
    pub fn applied(&self) -> u64 {
        self.json["applied"].as_u64().unwrap_or(0)
    }

    /// On a leader, how far node `id`'s log is known to match its own.
    pub fn matched(&self, id: u64) -> Option<u64> {
        self.json["replication"][id.to_string()].as_u64()
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `bound`; panics naming
/// `what` if it never does.
pub fn wait_for<T>(what: &str, bound: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {bound:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The index in `nodes` of the node that leads in the highest term, as the nodes' own
/// statuses say (a leader cut off by a newer one may not know yet), once every running node
/// follows it in that term; waits for that for at most `bound`. A leader only one node knows
/// of can still be deposed by a node that started late and stood for election in the same
/// term; a test that sent its clients there would see their connections closed.
pub fn leader(nodes: &[Node], bound: Duration) -> usize {
    wait_for("a leader every running node follows", bound, || {
        let (term, index) = nodes
            .iter()
            .enumerate()
            .filter_map(|(index, node)| Some((node.leads_in()?, index)))
            .max()?;
        let id = nodes[index].id;
        let agreed = nodes
            .iter()
            .filter(|node| node.server.is_some())
            .all(|node| {
                node.status()
                    .is_some_and(|status| status.leader() == Some(id) && status.term() == term)
            });
        agreed.then_some(index)
    })
}

/// Waits (at most `bound`) until the running node `nodes[index]` follows a leader that has
/// replicated its log to it up to at least the leader's last index when the wait began, and
/// has applied it: the node is back in the cluster and caught up.
pub fn wait_rejoined(nodes: &[Node], index: usize, bound: Duration) {
    let node = &nodes[index];
    let leader = leader(nodes, bound);
    let target = nodes[leader]
        .status()
        .map(|status| status.last_log_index())
        .unwrap_or(0);
    wait_for(
        &format!(
            "node {} back in the cluster, caught up to {target}",
            node.id
        ),
        bound,
        || {
            let mine = node.status()?;
            let theirs = nodes
                .iter()
                .find(|n| Some(n.id) == mine.leader())?
                .status()?;
            (theirs.role() == "leader"
                && theirs.matched(node.id)? >= target
                && mine.applied() >= target)
                .then_some(())
        },
    );
}
