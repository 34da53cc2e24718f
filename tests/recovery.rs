//! End-to-end recoveries over real loopback sockets: correctness, the window, the rate limit,
//! and the Elasticsearch policy's restarts.

mod common;

use std::time::Duration;

use common::*;
use rrbench::{
    follower::{FailureKind, FollowerConfig, Outcome},
    protocol::{HEADER_LEN, Message},
    settings::{LeaderSettings, RecoverySettings},
    transport::{connection::Connection, dial::TcpDialer},
    units::ByteSize,
    vocabulary::{Policy, RemoteMode},
};

const MIB: u64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64mib_index_recovers_byte_identical() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 64 * MIB, 12, 1);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    let target = tmp.path().join("follower");
    let report = recover(leader.local_addr(), &target, unlimited_follower()).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_eq!(report.failure, None);
    assert_eq!(report.bytes, 64 * MIB);
    assert_eq!(report.bytes_needed, 64 * MIB);
    assert_eq!(report.bytes_transferred, 64 * MIB);
    assert_eq!(report.files_verified, 12);
    assert_eq!(report.attempts, 1);
    assert_identical(&snapshot, &target);
    leader.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_chunks_and_empty_leftovers_recover_too() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 300_000, 20, 2);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    let target = tmp.path().join("follower");
    let settings = RecoverySettings {
        chunk_size: ByteSize::kib(1),
        max_concurrent_file_chunks: 10,
        ..unlimited_follower()
    };
    let report = recover(leader.local_addr(), &target, settings).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_identical(&snapshot, &target);
}

/// The leader counts requests outstanding per session; with a rate-limited leader, requests
/// queue there, so the count reaches the window and must never pass it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_never_sees_more_outstanding_requests_than_the_window() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 6 * MIB, 6, 3);
    for window in [1, 3, 7] {
        let leader = start_leader(
            &snapshot,
            LeaderSettings {
                max_bytes_per_sec: ByteSize::mib(24),
                ..LeaderSettings::default()
            },
        )
        .await;
        let settings = RecoverySettings {
            chunk_size: ByteSize::kib(128),
            max_concurrent_file_chunks: window,
            ..unlimited_follower()
        };
        let target = tmp.path().join(format!("follower-{window}"));
        let report = recover(leader.local_addr(), &target, settings).await;
        assert!(report.is_completed(), "{:?}", report.failure);
        let seen = leader.stats().max_in_flight_per_session;
        assert_eq!(
            seen, window,
            "window {window}: leader saw {seen} outstanding at most"
        );
        leader.shutdown().await;
    }
}

fn assert_rate(label: &str, measured: f64, target: f64) {
    let ratio = measured / target;
    assert!(
        (0.95..=1.05).contains(&ratio),
        "{label}: {measured:.2} MiB/s is {ratio:.3} x the {target} MiB/s limit (want within 5%)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_rate_limit_holds_within_5_percent() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 64 * MIB, 10, 4);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    let settings = RecoverySettings {
        max_bytes_per_sec: ByteSize::mib(20),
        ..RecoverySettings::default()
    };
    let report = recover(leader.local_addr(), &tmp.path().join("follower"), settings).await;
    assert!(report.is_completed(), "{:?}", report.failure);
    assert_rate("follower-side 20mb", report.throughput_mib_s, 20.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_rate_limit_holds_within_5_percent() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 60 * MIB, 10, 5);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            max_bytes_per_sec: ByteSize::mib(30),
            ..LeaderSettings::default()
        },
    )
    .await;
    let report = recover(
        leader.local_addr(),
        &tmp.path().join("follower"),
        unlimited_follower(),
    )
    .await;
    assert!(report.is_completed(), "{:?}", report.failure);
    assert_rate("leader-side 30mb", report.throughput_mib_s, 30.0);
    assert!(leader.stats().throttle_nanos > 0, "the leader throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_series_has_at_least_10_samples_per_second() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 16 * MIB, 5, 6);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    let settings = RecoverySettings {
        max_bytes_per_sec: ByteSize::mib(16),
        ..RecoverySettings::default()
    };
    let report = recover(leader.local_addr(), &tmp.path().join("follower"), settings).await;
    assert!(report.is_completed(), "{:?}", report.failure);
    let series = &report.timeseries;
    assert!(
        series.len() as f64 >= 10.0 * report.duration_s,
        "{} samples in {:.2}s",
        series.len(),
        report.duration_s
    );
    assert!(
        series
            .windows(2)
            .all(|w| w[0].t <= w[1].t && w[0].bytes <= w[1].bytes)
    );
    assert_eq!(series.last().expect("samples").bytes, 16 * MIB);
}

/// Elasticsearch policy: a reset fails the attempt; the next one starts from an empty store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_restarts_the_recovery_from_zero() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 32 * MIB, 8, 7);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    // One reset, on whichever channel carries the 16th MiB; later connections pass.
    let addr = reset_relay(leader.local_addr(), 16 * MIB).await;
    let target = tmp.path().join("follower");
    let report = recover(addr, &target, unlimited_follower()).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_eq!(report.attempts, 2);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(
        report.failures[0].kind,
        FailureKind::Reset,
        "{:?}",
        report.failures[0]
    );
    // Everything from the first attempt was thrown away and fetched again.
    assert!(
        report.bytes_transferred >= 32 * MIB + 6 * MIB,
        "transferred {} bytes",
        report.bytes_transferred
    );
    assert_identical(&snapshot, &target);
    assert_eq!(
        leader.stats().sessions_opened,
        2,
        "each attempt opens a new session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_max_retries_the_recovery_fails_with_the_reason() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 8 * MIB, 4, 8);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    let (addr, _) = relay(
        leader.local_addr(),
        vec![Mischief::ResetAfter(256 << 10); 100],
    )
    .await;
    let settings = RecoverySettings {
        max_retries: 3,
        ..unlimited_follower()
    };
    let report = recover(addr, &tmp.path().join("follower"), settings).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.attempts, 3);
    assert_eq!(report.failures.len(), 3);
    let failure = report.failure.expect("a reason");
    assert!(failure.starts_with("reset"), "{failure}");
    assert!(failure.contains("gave up after 3 attempts"), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_chunk_fails_the_recovery_without_retry() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 8 * MIB, 4, 9);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    // The chaos proxy changes about 80 of the 8 MiB on their way to the follower.
    let proxy = start_proxy(
        leader.local_addr(),
        &["corrupt:probability=1e-5,direction=downstream"],
        9,
        rrbench::clock::Clock::start(),
    )
    .await;
    let addr = proxy.local_addr();
    let target = tmp.path().join("follower");
    let report = recover(addr, &target, unlimited_follower()).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.attempts, 1, "corruption is never retried");
    assert_eq!(
        report.failures[0].kind,
        FailureKind::Corrupt,
        "{:?}",
        report.failures
    );
    assert!(
        !target.join(rrbench::index::PARTS).exists(),
        "a failed attempt of a restarting policy leaves no part files"
    );
    // Nothing that does not match the leader carries a real file name.
    for entry in std::fs::read_dir(&target).expect("target") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.starts_with('.') {
            continue;
        }
        let f = snapshot
            .files()
            .iter()
            .find(|f| f.meta.name == name)
            .expect("known file");
        let bytes = std::fs::read(target.join(&name)).expect("read");
        assert_eq!(
            crc32c::crc32c(&bytes),
            f.meta.crc32c,
            "{name} was accepted corrupt"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_leader_fails_every_attempt_with_connect() {
    let tmp = scratch();
    let unused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = unused.local_addr().expect("addr");
    drop(unused);
    let settings = RecoverySettings {
        max_retries: 2,
        internal_action_timeout: Duration::from_secs(5),
        ..RecoverySettings::default()
    };
    let report = recover(addr, &tmp.path().join("follower"), settings).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.attempts, 2);
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.kind == FailureKind::Connect)
    );
}

fn proxy_mode(policy: Policy) -> RecoverySettings {
    RecoverySettings {
        mode: RemoteMode::Proxy,
        policy,
        time_scale: 0.01,
        ..unlimited_follower()
    }
}

/// `cluster.remote.<alias>.mode: proxy`: 18 sockets to the one address, each a connection of
/// its own, requests round robin over them (sniff mode opens the profile's 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_mode_opens_18_sockets_to_one_address_and_recovers_byte_identical() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 16 * MIB, 6, 21);
    for (mode, sockets) in [(RemoteMode::Proxy, 18), (RemoteMode::Sniff, 6)] {
        let leader = start_leader(&snapshot, unlimited_leader()).await;
        let target = tmp.path().join(mode.to_string());
        let settings = RecoverySettings {
            mode,
            chunk_size: ByteSize::kib(256),
            max_concurrent_file_chunks: 10,
            ..unlimited_follower()
        };
        let report = recover(leader.local_addr(), &target, settings).await;
        assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
        assert_eq!(report.attempts, 1);
        assert_identical(&snapshot, &target);
        assert_eq!(leader.stats().connections_accepted, sockets, "{mode}");
        leader.shutdown().await;
    }
}

/// One proxy socket reset: only the request it carried fails, the other 17 sockets stay open
/// and keep answering, whatever the policy (in sniff mode Elasticsearch's connection closes
/// every channel with the first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_proxy_mode_a_reset_socket_fails_alone() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), MIB, 2, 22);
    // The 5th socket accepted passes its greeting (a header and a u16), then is reset by the
    // first byte of its first pong.
    let greeting = HEADER_LEN as u64 + 2;
    for (mode, channels) in [(RemoteMode::Proxy, 18usize), (RemoteMode::Sniff, 6)] {
        let leader = start_leader(&snapshot, unlimited_leader()).await;
        let mut plan = vec![Mischief::Pass; 4];
        plan.push(Mischief::ResetAfter(greeting + 1));
        let (addr, _log) = relay(leader.local_addr(), plan).await;
        let mut config = FollowerConfig::new(addr.to_string(), tmp.path().join("unused"));
        config.settings = RecoverySettings {
            mode,
            ..proxy_mode(Policy::Elasticsearch)
        };
        let options = config.connect_options();
        assert_eq!(
            options.close_all_on_channel_loss,
            mode == RemoteMode::Sniff,
            "{mode}"
        );
        let dialer = TcpDialer {
            addr: addr.to_string(),
        };
        let connection = Connection::open(&dialer, &options).await.expect("open");
        assert_eq!(connection.len(), channels);
        // One ping per channel, round robin: one meets the reset (in sniff mode, those after it
        // meet the closed connection).
        let mut failed = 0;
        for nonce in 0..channels as u64 {
            if connection.request(&Message::Ping { nonce }).await.is_err() {
                failed += 1;
            }
        }
        match mode {
            RemoteMode::Proxy => assert_eq!(failed, 1),
            RemoteMode::Sniff => assert!(failed >= 1),
        }
        let loss = tokio::time::timeout(Duration::from_secs(5), connection.lost())
            .await
            .expect("the loss is reported");
        // Give a closing connection time to close the rest.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let answered = {
            let mut n = 0;
            for nonce in 100..100 + 2 * channels as u64 {
                if connection.request(&Message::Ping { nonce }).await.is_ok() {
                    n += 1;
                }
            }
            n
        };
        match mode {
            RemoteMode::Proxy => {
                assert_eq!(
                    answered,
                    2 * channels,
                    "the other 17 sockets keep answering"
                );
                assert_eq!(
                    connection.pick().map(|(i, _)| i == loss.channel),
                    Some(false)
                );
            }
            RemoteMode::Sniff => assert_eq!(answered, 0, "one lost channel closed them all"),
        }
        leader.shutdown().await;
    }
}

/// The resumable policy in proxy mode through one reset half-way: one failure, one reconnect
/// (18 sockets more), nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_in_proxy_mode_costs_resumable_one_reconnect() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 24 * MIB, 6, 23);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    let addr = reset_relay(leader.local_addr(), 12 * MIB).await;
    let target = tmp.path().join("follower");
    let report = recover(addr, &target, proxy_mode(Policy::Resumable)).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].kind, FailureKind::Reset);
    assert_identical(&snapshot, &target);
    assert_eq!(leader.stats().connections_accepted, 36, "one reconnect");
    assert!(
        report.bytes_transferred < 24 * MIB + 5 * MIB,
        "at most the window again: {}",
        report.bytes_transferred
    );
    leader.shutdown().await;
}
