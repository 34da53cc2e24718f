//! Fan-in: one follower node restoring indices from several leader clusters at once. Each index
//! has its own connections, sessions and windows; all of them share the node's one
//! `max_bytes_per_sec` limiter and its `node_initial_primaries_recoveries` slots
//! ([`NodeThrottles`]). The real engine and real leaders, joined by the simulated network in
//! paused tokio time, so rates are exact and nothing waits on the wall clock.

mod common;

use common::scratch;

use std::{sync::Arc, time::Duration};

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
/// leader order. Every recovery completes, byte-identical.
fn fan_in(leaders: usize, shards: u32, rate: ByteSize, slots: u32) -> Vec<RecoveryReport> {
    let reports = fan_in_limited(
        shards,
        rate,
        slots,
        &vec![Duration::from_secs(120); leaders],
    );
    for r in &reports {
        assert!(r.is_completed(), "{}", r.summary());
    }
    reports
}

/// As [`fan_in`], one leader per time limit, recovery `i` started `i` × 10 ms after the first
/// (so the first takes the first slot); the reports whatever their outcome.
fn fan_in_limited(
    shards: u32,
    rate: ByteSize,
    slots: u32,
    time_limits: &[Duration],
) -> Vec<RecoveryReport> {
    let time_limits = time_limits.to_vec();
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
            for (i, limit) in time_limits.into_iter().enumerate() {
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
                config.time_limit = Some(limit);
                config.dialer = Some(Arc::new(dialer));
                let throttles = throttles.clone();
                recoveries.push(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(10) * i as u32).await;
                    follower::recover_on(
                        config,
                        throttles,
                        Arc::new(Progress::default()),
                        std::future::pending(),
                    )
                    .await
                }));
            }
            let mut reports = Vec::new();
            for r in recoveries {
                reports.push(r.await.expect("task").expect("recover"));
            }
            for (i, _) in reports.iter().enumerate().filter(|(_, r)| r.is_completed()) {
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
    // Each leader alone would take `alone` (its own 40mb limit); at once they would all end
    // together. With one slot they end one `alone` apart, and the wait is in their durations.
    let mut reports = fan_in(3, 1, ByteSize(0), 1);
    let end = |r: &RecoveryReport| r.started_at + r.duration_s;
    reports.sort_by(|a, b| end(a).total_cmp(&end(b)));
    let alone = reports[0].duration_s;
    for pair in reports.windows(2) {
        assert!(
            end(&pair[1]) - end(&pair[0]) >= 0.9 * alone,
            "with node_initial_primaries_recoveries = 1 two indices ended {:.3} s apart; one \
             alone takes {alone:.3} s",
            end(&pair[1]) - end(&pair[0])
        );
    }
    assert!(
        reports[2].duration_s >= 2.7 * alone,
        "the last waited for the other two: {:.3} s",
        reports[2].duration_s
    );
}

#[test]
fn a_sharded_index_waits_for_the_slots_another_index_holds() {
    // Two slots for two indices of three shards each: never more than two shards restore at
    // once across both, the second index waits even for its shard 0, and both complete.
    let reports = fan_in(2, 3, ByteSize::mib(40), 2);
    let spans: Vec<(f64, f64)> = reports
        .iter()
        .flat_map(|r| r.shards.iter())
        .map(|s| {
            let start = s.started_at.expect("every shard started");
            (start, start + s.duration_s)
        })
        .collect();
    assert_eq!(spans.len(), 6);
    for (start, _) in &spans {
        let running = spans
            .iter()
            .filter(|(s, e)| s <= start && *start < e - 1e-3)
            .count();
        assert!(
            running <= 2,
            "{running} shards running at {start:.3} s with two slots: {spans:?}"
        );
    }
}

#[test]
fn an_index_out_of_time_while_it_waits_for_a_slot_says_so() {
    // One slot: the first index holds it for 0.4 s (16 MiB at 40mb); the second may wait only
    // 0.1 s, and fails naming the slot it waited for, its wait counted in its duration.
    let reports = fan_in_limited(
        1,
        ByteSize::mib(40),
        1,
        &[Duration::from_secs(60), Duration::from_millis(100)],
    );
    assert!(reports[0].is_completed(), "{}", reports[0].summary());
    let late = &reports[1];
    assert!(!late.is_completed());
    let why = late.failure.as_deref().unwrap_or_default();
    assert!(
        why.contains("waited for a slot") && why.contains("node_initial_primaries_recoveries"),
        "{why}"
    );
    assert_eq!(late.bytes_transferred, 0, "it never started");
    assert!(
        (0.09..0.2).contains(&late.duration_s),
        "it waited 0.1 s: {}",
        late.duration_s
    );
}
