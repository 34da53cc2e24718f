//! The connection model and liveness over real sockets: channel counts per profile, and the
//! stunnel story: an idle-timeout middlebox resets the idle channels of an intra-cluster
//! connection unless every channel is pinged.

mod common;

use std::time::Duration;

use common::*;
use rrbench::{
    chaos::EventKind,
    clock::Clock,
    follower::{FailureKind, Outcome},
    settings::{LeaderSettings, RecoverySettings},
    units::ByteSize,
    vocabulary::{ChannelType, ConnectionProfile, Policy},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_profile_opens_its_channels() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 4 << 20, 4, 31);
    for (profile, channels) in [
        (ConnectionProfile::Remote, 6),
        (ConnectionProfile::IntraCluster, 13),
    ] {
        let leader = start_leader(&snapshot, unlimited_leader()).await;
        let settings = RecoverySettings {
            connection_profile: profile,
            ..unlimited_follower()
        };
        let report = recover(
            leader.local_addr(),
            &tmp.path().join(format!("f-{profile}")),
            settings,
        )
        .await;
        assert!(report.is_completed(), "{:?}", report.failure);
        assert_eq!(leader.stats().connections_accepted, channels, "{profile}");
        leader.shutdown().await;
    }
}

/// Intra-cluster profile through a proxy with a 1 s idle timeout; the recovery is rate-limited
/// to last about 3 s, so the 11 channels that carry no chunks sit idle long enough.
async fn stunnel_story(
    ping_schedule: Option<Duration>,
) -> (rrbench::follower::RecoveryReport, Vec<EventKind>) {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 48 << 20, 8, 32);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            max_bytes_per_sec: ByteSize::mib(16),
            ..LeaderSettings::default()
        },
    )
    .await;
    let clock = Clock::start();
    let proxy = start_proxy(leader.local_addr(), &["idle_timeout:idle=1s"], 1, clock).await;
    let settings = RecoverySettings {
        connection_profile: ConnectionProfile::IntraCluster,
        ping_schedule,
        max_retries: 2,
        ..unlimited_follower()
    };
    let report = recover(proxy.local_addr(), &tmp.path().join("follower"), settings).await;
    // Wait until the proxy has seen every connection end (each end is logged before the count
    // of open connections drops), so the log is complete; bounded, for a loaded machine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while proxy.open_connections() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = proxy
        .events()
        .since(0)
        .into_iter()
        .map(|e| e.kind)
        .collect();
    (report, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_channels_are_reset_without_ping_and_take_the_connection_down() {
    let (report, events) = stunnel_story(None).await;
    assert_eq!(
        report.outcome,
        Outcome::Failed,
        "every attempt outlives the idle timeout"
    );
    assert_eq!(report.attempts, 2);
    for f in &report.failures {
        assert_eq!(f.kind, FailureKind::Reset, "{f:?}");
        let first = f.channel_type.expect("the failing channel is known");
        assert_ne!(
            first,
            ChannelType::Recovery,
            "an idle channel failed first: {f:?}"
        );
    }
    // Per attempt, the middlebox resets an idle channel; the follower then closes the other
    // channels itself (one channel lost closes the connection), so every channel ends.
    let resets = events
        .iter()
        .filter(|e| matches!(e, EventKind::ConnReset { fault, .. } if fault == "idle_timeout"))
        .count();
    // A channel the follower closes with bytes still unread ends in the kernel's RST (logged as
    // a reset by `peer`) rather than a FIN: either way it went down.
    let closes = events
        .iter()
        .filter(|e| {
            matches!(e, EventKind::ConnClose { .. })
                || matches!(e, EventKind::ConnReset { fault, .. } if fault != "idle_timeout")
        })
        .count();
    assert!(
        resets >= 2,
        "at least one idle channel reset per attempt ({resets})"
    );
    assert_eq!(
        resets + closes,
        2 * 13,
        "all 13 channels of both attempts went down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_on_every_channel_keeps_the_middlebox_quiet() {
    let (report, events) = stunnel_story(Some(Duration::from_millis(300))).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_eq!(report.attempts, 1);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventKind::ConnReset { .. })),
        "no channel was reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pong_queued_behind_a_slow_chunk_does_not_kill_a_live_channel() {
    // 4 MiB chunks through a 1 MiB/s path: every pong waits ~4 s behind a chunk, four times the
    // 1 s deadline, while bytes keep arriving. A pong-only deadline closed the channel on every
    // attempt; counting bytes as life lets the recovery run through.
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 8 << 20, 2, 33);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    let proxy = start_proxy(
        leader.local_addr(),
        &["bandwidth:rate=1mb,direction=downstream"],
        4,
        Clock::start(),
    )
    .await;
    let settings = RecoverySettings {
        policy: Policy::Resumable,
        ping_schedule: Some(Duration::from_millis(200)),
        chunk_size: ByteSize::mib(4),
        max_concurrent_file_chunks: 1,
        max_retries: 1,
        ..unlimited_follower()
    };
    let target = tmp.path().join("f");
    let report = recover(proxy.local_addr(), &target, settings).await;
    assert!(report.is_completed(), "{:?}", report.failures);
    assert_eq!(report.attempts, 1, "{:?}", report.failures);
    assert!(report.pings_sent > 0, "no ping was sent");
    assert_identical(&snapshot, &target);
    proxy.shutdown().await;
    leader.shutdown().await;
}
