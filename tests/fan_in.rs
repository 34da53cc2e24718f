//! Fan-in: one follower node restoring indices from several leader clusters at once. Each index
//! has its own connections, sessions and windows; all of them share the node's one
//! `max_bytes_per_sec` limiter and its `node_initial_primaries_recoveries` slots
//! ([`NodeThrottles`]). The real engine and real leaders, joined by the simulated network in
//! paused tokio time, so rates are exact and nothing waits on the wall clock.

use std::{path::Path, sync::Arc, time::Duration};

use rrbench::{
    chaos::{EventLog, sim::SimNetwork},
    clock::Clock,
    follower::{self, FollowerConfig, NodeThrottles, Progress, RecoveryReport},
    index::{GenerateSpec, IndexShards, IndexSnapshot, generate_shards, shard_dir},
    leader::{self, LeaderConfig, LeaderHandle},
    settings::RecoverySettings,
    transport::dial::{ByteStream, MemoryDialer},
    units::ByteSize,
};

fn scratch() -> tempfile::TempDir {
    let mut b = tempfile::Builder::new();
    b.prefix("rrbench-fan-in-");
    if Path::new("/dev/shm").is_dir() {
        b.tempdir_in("/dev/shm").expect("scratch")
    } else {
        b.tempdir().expect("scratch")
    }
}

/// A leader cluster of one node serving `index`, and a dialer reaching it over the simulated
/// network.
async fn leader_and_dialer(
    index: &IndexShards,
    name: &str,
    clock: Clock,
) -> (Arc<LeaderHandle>, MemoryDialer) {
    let leader = Arc::new(
        leader::start("127.0.0.1:0", index.clone(), LeaderConfig::default(), clock)
            .await
            .expect("leader starts"),
    );
    let net = SimNetwork::new(vec![], 1, Arc::new(EventLog::new(clock))).expect("network");
    let serve = leader.clone();
    let peer = std::net::SocketAddr::from(([10, 0, 0, 1], 9300));
    let dialer = MemoryDialer::new(name, move || {
        let (follower_end, leader_end) = net.pair()?;
        serve.serve_stream(leader_end, peer)?;
        Ok(Box::new(follower_end) as Box<dyn ByteStream>)
    });
    (leader, dialer)
}

/// `leaders` leader clusters, each serving its own copy of one index of `shards` shards of 16
/// MiB, restored at once by one follower node with these throttles; each recovery's report, in
/// leader order.
fn fan_in(leaders: usize, shards: u32, rate: ByteSize, slots: u32) -> Vec<RecoveryReport> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(async move {
            let dir = scratch();
            let spec = GenerateSpec {
                size: 16 << 20,
                files: 4,
                seed: 21,
            };
            let never = std::sync::atomic::AtomicBool::new(false);
            generate_shards(&dir.path().join("leader"), &spec, shards, &never, |_| {})
                .expect("generate");
            let index = IndexShards::load(&dir.path().join("leader")).expect("load");
            let clock = Clock::start();
            let throttles = NodeThrottles::new(rate, slots);
            let mut leader_handles = Vec::new();
            let mut recoveries = Vec::new();
            for i in 0..leaders {
                let name = format!("leader-{i}");
                let (leader, dialer) = leader_and_dialer(&index, &name, clock).await;
                leader_handles.push(leader);
                let mut config = FollowerConfig::new(name.clone(), dir.path().join(&name));
                config.settings = RecoverySettings {
                    max_bytes_per_sec: rate,
                    max_concurrent_file_chunks: 5,
                    chunk_size: ByteSize::kib(256),
                    node_initial_primaries_recoveries: slots,
                    ..RecoverySettings::default()
                };
                config.clock = clock;
                config.shards = shards;
                config.time_limit = Some(Duration::from_secs(120));
                config.dialer = Some(Arc::new(dialer));
                recoveries.push(tokio::spawn(follower::recover_on(
                    config,
                    throttles.clone(),
                    Arc::new(Progress::default()),
                    std::future::pending(),
                )));
            }
            let mut reports = Vec::new();
            for r in recoveries {
                let report = r.await.expect("task").expect("recover");
                assert!(report.is_completed(), "{}", report.summary());
                reports.push(report);
            }
            for (i, _) in reports.iter().enumerate() {
                for shard in 0..shards {
                    let at = shard_dir(&dir.path().join(format!("leader-{i}")), shard, shards);
                    let target = IndexSnapshot::load(&at).expect("recovered shard");
                    let theirs = index.shard(shard).expect("shard").metas();
                    assert_eq!(target.metas(), theirs, "leader {i}'s shard {shard}");
                }
            }
            reports
        })
}

/// Every report's bytes over the wall time from the first start to the last finish, MiB/s.
fn aggregate_mib_s(reports: &[RecoveryReport]) -> f64 {
    let start = reports
        .iter()
        .map(|r| r.started_at)
        .fold(f64::INFINITY, f64::min);
    let end = reports
        .iter()
        .map(|r| r.started_at + r.duration_s)
        .fold(f64::NEG_INFINITY, f64::max);
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    bytes as f64 / 1048576.0 / (end - start)
}

#[test]
fn two_leader_indices_share_the_follower_nodes_40mb() {
    let reports = fan_in(2, 1, ByteSize::mib(40), 4);
    let aggregate = aggregate_mib_s(&reports);
    assert!(
        (0.97..=1.03).contains(&(aggregate / 40.0)),
        "two indices under one 40mb node limiter moved {aggregate:.2} MiB/s together (a limiter \
         per index would give 80)"
    );
    // They ran at once and shared it: each about half.
    for (i, r) in reports.iter().enumerate() {
        assert!(
            (16.0..=24.0).contains(&r.throughput_mib_s),
            "leader {i}'s index at {:.2} MiB/s, not about half of 40",
            r.throughput_mib_s
        );
    }
}

#[test]
fn one_slot_restores_the_leaders_indices_one_after_another() {
    let mut reports = fan_in(3, 1, ByteSize(0), 1);
    reports.sort_by(|a, b| a.started_at.total_cmp(&b.started_at));
    for pair in reports.windows(2) {
        let first_end = pair[0].started_at + pair[0].duration_s;
        assert!(
            pair[1].started_at >= first_end - 1e-3,
            "with node_initial_primaries_recoveries = 1 an index started at {:.3} s while \
             another ran until {first_end:.3} s",
            pair[1].started_at
        );
    }
}

#[test]
fn a_sharded_index_waits_for_the_slots_another_index_holds() {
    // Two slots for two indices of three shards each: whichever starts second waits, even for
    // its shard 0, and both still complete every shard.
    let reports = fan_in(2, 3, ByteSize(0), 2);
    for r in &reports {
        assert_eq!(r.shards.len(), 3, "{}", r.summary());
    }
}
