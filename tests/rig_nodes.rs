//! A rig of several leader nodes over real sockets on 127.0.0.1: in sniff mode through one TCP
//! proxy per node (a shard whose primary is on no gateway is forwarded by one), in proxy mode
//! through one proxy relaying connections to the nodes in turn, and refused over QUIC.

mod common;

use common::{
    assert_shards_identical as assert_identical, make_sharded_index as make_index, scratch,
    unlimited_leader,
};

use std::{path::Path, sync::Arc};

use rrbench::{
    chaos::EventKind,
    follower::{self, Progress, RecoveryReport},
    index::IndexShards,
    rig::{Certificate, InjectorKind, Rig, RigError},
    units::ByteSize,
    vocabulary::{RemoteMode, Transport},
};

/// A rig of `nodes` leader nodes serving `index` in `mode`, behind TCP proxies without faults
/// (in sniff mode, in front of the first two nodes: the gateways).
async fn proxied_cluster(index: &IndexShards, nodes: usize, mode: RemoteMode) -> Rig {
    Rig::builder()
        .leader(index.clone(), unlimited_leader())
        .leader_nodes(nodes, mode)
        .node_connections(2)
        .injector(InjectorKind::TcpProxy, Vec::new())
        .seed(3)
        .start()
        .await
        .expect("the rig starts")
}

/// Restores every shard of the rig's index into `target`, through the rig.
async fn restore(rig: &Rig, target: &Path, shards: u32, node_connections: u32) -> RecoveryReport {
    let mut config = rig.follower_config(target);
    config.shards = shards;
    config.settings.node_connections = node_connections;
    config.settings.max_bytes_per_sec = ByteSize(0);
    follower::recover(
        config,
        Arc::new(Progress::default()),
        std::future::pending(),
    )
    .await
    .expect("recovery runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sniff_mode_dials_a_proxy_per_node_and_a_gateway_forwards_the_third_nodes_shard() {
    let dir = scratch();
    let index = make_index(dir.path(), 3, 2 << 20);
    let target = scratch();
    let rig = proxied_cluster(&index, 3, RemoteMode::Sniff).await;
    assert_eq!(rig.leader_nodes().len(), 3);
    assert_eq!(rig.injectors().len(), 2, "one proxy per gateway node");
    let mut dialled: Vec<String> = rig
        .injectors()
        .iter()
        .map(|i| i.local_addr().expect("a proxy").to_string())
        .collect();
    dialled.push(rig.leader_nodes()[2].local_addr().to_string());
    assert_eq!(
        rig.dial_list(),
        dialled.join(","),
        "the gateways' proxies, then the node past them, in node order"
    );
    assert_eq!(
        rig.dial(),
        rig.injectors()[0].local_addr().expect("a proxy")
    );
    let config = rig.follower_config(target.path());
    assert_eq!(config.leader, rig.dial_list());
    assert_eq!(config.settings.mode, RemoteMode::Sniff);

    // Two gateways of the three nodes: shard 2's primary (node 2) is reached through one.
    let report = restore(&rig, target.path(), 3, 2).await;
    assert!(report.is_completed(), "{}", report.summary());
    assert_identical(&index, target.path());
    let stats: Vec<_> = rig.leader_nodes().iter().map(|n| n.stats()).collect();
    assert!(
        stats[0].requests_forwarded + stats[1].requests_forwarded > 0,
        "a gateway forwards node 2's shard: {stats:?}"
    );
    assert_eq!(stats[2].connections_accepted, 0, "node 2 is no gateway");
    assert_eq!(stats[2].requests_forwarded, 0);
    assert!(
        stats[2].sessions_opened > 0,
        "node 2 holds shard 2's session"
    );

    let events = rig.shutdown().await;
    let starts = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ProxyStart { .. }))
        .count();
    assert_eq!(starts, 2, "every proxy records into the rig's one log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_mode_dials_one_proxy_that_spreads_connections_over_the_nodes() {
    let dir = scratch();
    let index = make_index(dir.path(), 3, 2 << 20);
    let target = scratch();
    let rig = proxied_cluster(&index, 3, RemoteMode::Proxy).await;
    assert_eq!(rig.injectors().len(), 1, "one load balancer");
    assert_eq!(rig.dial_list(), rig.dial().to_string());
    assert_eq!(
        rig.follower_config(target.path()).settings.mode,
        RemoteMode::Proxy
    );

    let report = restore(&rig, target.path(), 3, 3).await;
    assert!(report.is_completed(), "{}", report.summary());
    assert_identical(&index, target.path());
    let stats: Vec<_> = rig.leader_nodes().iter().map(|n| n.stats()).collect();
    let accepting = stats.iter().filter(|s| s.connections_accepted > 0).count();
    assert!(
        accepting > 1,
        "connections spread over the nodes: {stats:?}"
    );
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_quic_or_the_udp_proxy_is_refused() {
    let dir = scratch();
    let index = make_index(dir.path(), 2, 64 << 10);
    let quic = Rig::builder()
        .leader(index.clone(), unlimited_leader())
        .leader_nodes(2, RemoteMode::Sniff)
        .transport(Transport::Quic)
        .certificate(Certificate::Generate {
            dir: dir.path().join("cert"),
            names: vec!["localhost".into()],
        })
        .start()
        .await;
    match quic {
        Err(e @ RigError::ClusterNotTcp { nodes: 2 }) => {
            assert!(e.to_string().contains("TCP only"), "{e}")
        }
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("a QUIC cluster started"),
    }
    let udp = Rig::builder()
        .leader(index.clone(), unlimited_leader())
        .leader_nodes(2, RemoteMode::Proxy)
        .injector(InjectorKind::UdpProxy, Vec::new())
        .start()
        .await;
    assert!(matches!(udp, Err(RigError::ClusterNotTcp { nodes: 2 })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_count_out_of_range_is_refused_by_name() {
    let dir = scratch();
    let index = make_index(dir.path(), 1, 64 << 10);
    for nodes in [0, 65] {
        let rig = Rig::builder()
            .leader(index.clone(), unlimited_leader())
            .leader_nodes(nodes, RemoteMode::Sniff)
            .start()
            .await;
        match rig {
            Err(e @ RigError::LeaderNodes { .. }) => {
                assert!(
                    e.to_string().contains(&format!("leader nodes {nodes}")),
                    "{e}"
                )
            }
            Err(e) => panic!("another error: {e}"),
            Ok(_) => panic!("{nodes} nodes started"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_injector_the_follower_dials_every_node() {
    let dir = scratch();
    let index = make_index(dir.path(), 2, 512 << 10);
    let target = scratch();
    let rig = Rig::builder()
        .leader(index.clone(), unlimited_leader())
        .leader_nodes(2, RemoteMode::Sniff)
        .start()
        .await
        .expect("the rig starts");
    let nodes: Vec<String> = rig
        .leader_nodes()
        .iter()
        .map(|n| n.local_addr().to_string())
        .collect();
    assert_eq!(rig.dial_list(), nodes.join(","));
    let report = restore(&rig, target.path(), 2, 3).await;
    assert!(report.is_completed(), "{}", report.summary());
    assert_identical(&index, target.path());
    let parts = rig.into_parts();
    assert_eq!(parts.other_nodes.len(), 1);
    parts.shutdown().await;
}

/// Proxy mode needs one address even where the rig has no L4 proxy of its own (no injector,
/// or the L3 link): a fault-free load balancer relays each socket to the next node in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_mode_without_a_proxy_of_the_rigs_gets_a_load_balancer() {
    let dir = scratch();
    let index = make_index(dir.path(), 3, 512 << 10);
    let target = scratch();
    let rig = Rig::builder()
        .leader(index.clone(), unlimited_leader())
        .leader_nodes(3, RemoteMode::Proxy)
        .start()
        .await
        .expect("the rig starts");
    assert_eq!(rig.injectors().len(), 1, "the load balancer");
    assert!(
        !rig.dial_list().contains(','),
        "one address: {}",
        rig.dial_list()
    );
    let report = restore(&rig, target.path(), 3, 3).await;
    assert!(report.is_completed(), "{}", report.summary());
    assert_identical(&index, target.path());
    let accepting = rig
        .leader_nodes()
        .iter()
        .filter(|n| n.stats().connections_accepted > 0)
        .count();
    assert!(
        accepting > 1,
        "the balancer spread the sockets: {accepting} node(s)"
    );
    rig.shutdown().await;
}
