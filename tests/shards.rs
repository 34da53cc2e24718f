//! An index of several shards restored by one follower node: the real engine and the real
//! leader, joined by the simulated network in paused tokio time (so rates are exact and nothing
//! waits on the wall clock), and once over real sockets.
//!
//! What must hold: the shards share the node's one `max_bytes_per_sec` limiter (three shards
//! under 40mb get 40 MiB/s together, not 120); they really run at once, up to
//! `node_initial_primaries_recoveries`; they share one connection, so under Elasticsearch one
//! lost channel fails every shard in flight, while the resumable policy re-sends only what was
//! lost; and every shard ends byte-identical to the leader's.

mod common;

use common::{
    assert_shards_identical as assert_identical, make_sharded_index as make_index, scratch,
};

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use rrbench::{
    chaos::{EventLog, sim::SimNetwork},
    clock::Clock,
    follower::{self, FollowerConfig, Outcome, Progress, RecoveryReport},
    index::IndexShards,
    leader::{self, LeaderConfig, LeaderHandle},
    settings::{LeaderSettings, RecoverySettings},
    transport::dial::{ByteStream, MemoryDialer},
    units::ByteSize,
    vocabulary::Policy,
};

/// One simulated restore: which streams (numbered from 0 in the order the follower opens them)
/// go through `faulty` instead of a clean network.
struct Restore {
    settings: RecoverySettings,
    /// The leader's node limit (0: unlimited).
    leader_rate: ByteSize,
    faults: Vec<&'static str>,
    faulty_streams: Vec<usize>,
}

struct Restored {
    report: RecoveryReport,
    leader: LeaderHandle,
    _dir: tempfile::TempDir,
}

fn restore(index: &IndexShards, run: Restore) -> Restored {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(restore_async(index, run))
}

async fn restore_async(index: &IndexShards, run: Restore) -> Restored {
    let clock = Clock::start();
    let config = LeaderConfig {
        settings: LeaderSettings {
            max_bytes_per_sec: run.leader_rate,
            ..LeaderSettings::default()
        },
        ..LeaderConfig::default()
    };
    let leader = Arc::new(
        leader::start("127.0.0.1:0", index.clone(), config, clock)
            .await
            .expect("leader starts"),
    );
    let events = Arc::new(EventLog::new(clock));
    let clean = SimNetwork::new(vec![], 1, events.clone()).expect("network");
    let faults = run
        .faults
        .iter()
        .map(|f| f.parse().expect("fault"))
        .collect();
    let faulty = SimNetwork::new(faults, 1, events).expect("faults");
    let opened = Arc::new(AtomicUsize::new(0));
    let serve = leader.clone();
    let peer = std::net::SocketAddr::from(([10, 0, 0, 1], 9300));
    let which = run.faulty_streams.clone();
    let dialer = MemoryDialer::new("sim-leader", move || {
        let n = opened.fetch_add(1, Ordering::Relaxed);
        let net = if which.contains(&n) { &faulty } else { &clean };
        let (follower_end, leader_end) = net.pair()?;
        serve.serve_stream(leader_end, peer)?;
        Ok(Box::new(follower_end) as Box<dyn ByteStream>)
    });
    let dir = scratch();
    let mut config = FollowerConfig::new("sim-leader", dir.path().join("follower"));
    config.settings = run.settings;
    config.shards = index.count();
    config.clock = clock;
    config.time_limit = Some(Duration::from_secs(120));
    config.dialer = Some(Arc::new(dialer));
    let target = config.target.clone();
    let report = follower::recover(
        config,
        Arc::new(Progress::default()),
        std::future::pending(),
    )
    .await
    .expect("recover");
    if report.is_completed() {
        assert_identical(index, &target);
    }
    let leader = Arc::try_unwrap(leader).unwrap_or_else(|_| panic!("the dialer is gone"));
    Restored {
        report,
        leader,
        _dir: dir,
    }
}

fn settings(policy: Policy, rate: ByteSize) -> RecoverySettings {
    RecoverySettings {
        policy,
        max_bytes_per_sec: rate,
        max_concurrent_file_chunks: 5,
        chunk_size: ByteSize::kib(256),
        ..RecoverySettings::default()
    }
}

#[test]
fn three_shards_share_the_node_limiter_of_40mb() {
    let dir = scratch();
    let index = make_index(dir.path(), 3, 16 << 20);
    let run = restore(
        &index,
        Restore {
            settings: settings(Policy::Elasticsearch, ByteSize::mib(40)),
            leader_rate: ByteSize(0),
            faults: vec![],
            faulty_streams: vec![],
        },
    );
    let r = &run.report;
    assert!(r.is_completed(), "{}", r.summary());
    assert_eq!(r.shards.len(), 3, "a line per shard");
    assert_eq!(r.bytes, 3 * (16 << 20));
    let ratio = r.throughput_mib_s / 40.0;
    assert!(
        (0.97..=1.03).contains(&ratio),
        "three shards under one 40mb limiter moved {:.2} MiB/s together (one limiter per shard \
         would give 120)\n{}",
        r.throughput_mib_s,
        r.summary()
    );
    // Each shard got about a third: they ran at once, not one after another.
    for s in &r.shards {
        assert!(
            s.throughput_mib_s < 40.0 / 3.0 * 1.2,
            "shard {} alone at {:.1} MiB/s",
            s.shard,
            s.throughput_mib_s
        );
    }
}

#[test]
fn without_a_limit_the_shards_run_at_once_up_to_node_initial_primaries_recoveries() {
    let dir = scratch();
    let index = make_index(dir.path(), 3, 1 << 20);
    let run = restore(
        &index,
        Restore {
            settings: settings(Policy::Elasticsearch, ByteSize(0)),
            leader_rate: ByteSize(0),
            faults: vec![],
            faulty_streams: vec![],
        },
    );
    assert!(run.report.is_completed(), "{}", run.report.summary());
    let stats = run.leader.stats();
    assert_eq!(
        stats.sessions_open_max, 3,
        "sessions open at once on the leader"
    );
    assert_eq!(
        stats.connections_accepted, 6,
        "one connection of 6 channels for all"
    );

    let dir = scratch();
    let index = make_index(dir.path(), 5, 1 << 20);
    let mut limited = settings(Policy::Elasticsearch, ByteSize::mib(40));
    limited.node_initial_primaries_recoveries = 2;
    let run = restore(
        &index,
        Restore {
            settings: limited,
            leader_rate: ByteSize(0),
            faults: vec![],
            faulty_streams: vec![],
        },
    );
    let r = &run.report;
    assert!(r.is_completed(), "{}", r.summary());
    // At any shard's start, how many shards were running (itself included).
    let most = r
        .shards
        .iter()
        .map(|s| {
            let t = s.started_at.expect("started");
            r.shards
                .iter()
                .filter(|o| {
                    let start = o.started_at.expect("started");
                    start <= t + 1e-9 && t < start + o.duration_s - 1e-9
                })
                .count()
        })
        .max();
    assert_eq!(
        most,
        Some(2),
        "never more than 2 shards at once:\n{}",
        r.summary()
    );
}

#[test]
fn one_lost_channel_restarts_every_shard_in_flight_under_elasticsearch() {
    let dir = scratch();
    let index = make_index(dir.path(), 3, 2 << 20);
    // The third channel of the first connection is reset once 512 KiB have crossed it; the
    // others, and every later connection, are clean. The leader is the bottleneck, so every
    // shard always has requests in flight on the connection (a shard whose whole window has
    // arrived and waits on its own limiter has nothing on the wire to lose).
    let lose_one = |policy| Restore {
        settings: settings(policy, ByteSize(0)),
        leader_rate: ByteSize::mib(40),
        faults: vec!["reset:after_bytes=512kb"],
        faulty_streams: vec![2],
    };
    let es = restore(&index, lose_one(Policy::Elasticsearch)).report;
    assert!(es.is_completed(), "{}", es.summary());
    for s in &es.shards {
        assert_eq!(s.outcome, Outcome::Completed);
        assert_eq!(
            s.attempts,
            2,
            "shard {}: the lost channel took the whole connection, and every shard on it, down\n{}",
            s.shard,
            es.summary()
        );
        assert!(s.bytes_wasted > 0, "shard {} restarted from zero", s.shard);
    }

    let resumable = restore(&index, lose_one(Policy::Resumable)).report;
    assert!(resumable.is_completed(), "{}", resumable.summary());
    let window = 5 * (256 << 10);
    assert!(
        resumable.bytes_wasted <= window,
        "resumable re-sent {} bytes: more than the one lost channel's requests could hold",
        resumable.bytes_wasted
    );
    // Every shard had requests on the lost channel (requests of all shards share the six
    // channels round robin), so each starts a second attempt, keeping what it verified.
    assert!(
        resumable.bytes_transferred - resumable.bytes <= window
            && es.bytes_wasted > 2 * window + resumable.bytes_wasted,
        "resumable moved {} bytes for {} (elasticsearch threw away {})\n{}",
        resumable.bytes_transferred,
        resumable.bytes,
        es.bytes_wasted,
        resumable.summary()
    );
}

/// A leader of `index` on a loopback port, and the follower's report of recovering it into
/// `target` with the default settings changed by `configure`.
async fn recover_from_one_leader(
    index: &IndexShards,
    target: &Path,
    configure: impl FnOnce(&mut FollowerConfig),
) -> (LeaderHandle, RecoveryReport) {
    let leader = leader::start(
        "127.0.0.1:0",
        index.clone(),
        LeaderConfig::default(),
        Clock::start(),
    )
    .await
    .expect("leader");
    let mut config = FollowerConfig::new(leader.local_addr().to_string(), target);
    configure(&mut config);
    let report = follower::recover(
        config,
        Arc::new(Progress::default()),
        std::future::pending(),
    )
    .await
    .expect("recover");
    (leader, report)
}

#[test]
fn a_follower_asking_for_another_shard_count_is_told_so_and_does_not_retry() {
    let dir = scratch();
    let index = make_index(dir.path(), 3, 256 << 10);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let target = scratch();
    let report = runtime.block_on(async {
        let (leader, report) = recover_from_one_leader(&index, target.path(), |config| {
            config.shards = 2;
        })
        .await;
        // The session the leader opened for it is let go, not left pinned until it expires.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(leader.stats().sessions_open, 0, "sessions left pinned");
        report
    });
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.attempts, 1, "no retry: {}", report.summary());
    let why = report.failure.expect("failure");
    assert!(
        why.contains("has 3 shard(s)") && why.contains("--shards 3"),
        "{why}"
    );
}

#[test]
fn shards_over_real_sockets_are_byte_identical() {
    let dir = scratch();
    let index = make_index(dir.path(), 4, 512 << 10);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let target = scratch();
    let report = runtime.block_on(async {
        let (leader, report) = recover_from_one_leader(&index, target.path(), |config| {
            config.shards = 4;
            config.settings.max_bytes_per_sec = ByteSize(0);
        })
        .await;
        assert_eq!(leader.stats().connections_accepted, 6, "one connection");
        report
    });
    assert!(report.is_completed(), "{}", report.summary());
    assert_identical(&index, target.path());
    assert_eq!(report.shards.len(), 4);
    assert_eq!(report.files, 4 * 6);
}

#[test]
fn in_sniff_mode_a_shard_on_a_node_that_is_not_a_gateway_is_reached_through_one() {
    let dir = scratch();
    let index = make_index(dir.path(), 3, 512 << 10);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let target = scratch();
    let (report, nodes) = runtime.block_on(async {
        let listen = vec!["127.0.0.1:0".to_string(); 3];
        let nodes = leader::start_cluster(
            &listen,
            index.clone(),
            LeaderConfig::default(),
            Clock::start(),
        )
        .await
        .expect("three leader nodes");
        let addresses: Vec<String> = nodes.iter().map(|n| n.local_addr().to_string()).collect();
        let mut config = FollowerConfig::new(addresses.join(","), target.path());
        config.shards = 3;
        // Two gateways of the three nodes: shard 2's primary (node 2) is reached through one.
        config.settings.node_connections = 2;
        config.settings.max_bytes_per_sec = ByteSize(0);
        let report = follower::recover(
            config,
            Arc::new(Progress::default()),
            std::future::pending(),
        )
        .await
        .expect("recover");
        (
            report,
            nodes.iter().map(LeaderHandle::stats).collect::<Vec<_>>(),
        )
    });
    assert!(report.is_completed(), "{}", report.summary());
    assert_identical(&index, target.path());
    assert_eq!(
        [
            nodes[0].connections_accepted,
            nodes[1].connections_accepted,
            nodes[2].connections_accepted
        ],
        [6, 6, 0],
        "one connection to each gateway, none to node 2"
    );
    for (node, stats) in nodes.iter().enumerate() {
        assert_eq!(
            stats.sessions_opened, 1,
            "node {node} holds its shard's session"
        );
        assert!(
            stats.chunks_served > 0,
            "node {node} read its shard's chunks"
        );
    }
    assert!(
        nodes[0].requests_forwarded > nodes[2].chunks_served,
        "gateway 0 forwarded every request for shard 2 (its session and its {} chunks): {}",
        nodes[2].chunks_served,
        nodes[0].requests_forwarded
    );
    assert_eq!(
        nodes[1].requests_forwarded, 0,
        "shard 1's primary is its gateway"
    );
}
