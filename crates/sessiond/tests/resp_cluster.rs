//! Redis clients of a three-node cluster of the real binary: a client of a follower is relayed
//! to the leader's Redis listener, as the other protocols' clients are, and sees the same
//! store through every node.

mod support;

use std::time::Duration;

use support::cluster::{cluster, leader};
use support::redis::{Client, Reply};

const SECRET: &str = "the redis cluster test's secret";

#[test]
fn redis_clients_of_every_node_share_one_store() {
    let mut nodes = cluster(3, SECRET);
    // One node runs Raft on its control thread instead of beside its clients: nodes may
    // differ in that, and either may lead.
    nodes[2].with_config_file("[cluster]\nraft_on_worker = false\n");
    for node in &mut nodes {
        node.start();
    }
    let lead = leader(&nodes, Duration::from_secs(30));
    let ok = Reply::Simple("OK".into());
    for (index, node) in nodes.iter().enumerate() {
        let mut client = Client::connect(node.resp);
        let key = format!("session:{index}");
        assert_eq!(
            client.cmd(&format!("SET {key} from-node-{index} EX 600")),
            ok
        );
        assert_eq!(client.cmd("INCR visits"), Reply::Integer(index as i64 + 1));
        assert_eq!(
            client.cmd(&format!("GET {key}")),
            Reply::Bulk(format!("from-node-{index}").into_bytes())
        );
    }
    for node in &nodes {
        let mut client = Client::connect(node.resp);
        assert_eq!(client.cmd("SELECT 0"), ok);
        for index in 0..nodes.len() {
            assert_eq!(
                client.cmd(&format!("GET session:{index}")),
                Reply::Bulk(format!("from-node-{index}").into_bytes()),
                "through node {} (leader: node {})",
                node.id,
                nodes[lead].id
            );
        }
        assert_eq!(client.cmd("GET visits"), Reply::Bulk(b"3".to_vec()));
        assert_eq!(client.cmd("DBSIZE"), Reply::Integer(4));
    }
}
