//! Recoveries through the chaos proxy, and the `rrbench proxy` command.

mod common;

use std::process::Command;

use common::*;
use rrbench::{
    chaos::{EventKind, ProxyHandle},
    clock::Clock,
    follower::{FailureKind, Outcome},
    settings::RecoverySettings,
};

async fn proxy_to(upstream: std::net::SocketAddr, faults: &[&str]) -> ProxyHandle {
    start_proxy(upstream, faults, 7, Clock::start()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_through_the_proxy_without_faults_completes_and_verifies() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 24 << 20, 8, 21);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    let proxy = proxy_to(leader.local_addr(), &[]).await;
    let target = tmp.path().join("follower");
    let report = recover(proxy.local_addr(), &target, unlimited_follower()).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_identical(&snapshot, &target);
    let events = proxy.events().since(0);
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ConnOpen { .. }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_through_the_proxy_fails_the_recovery_naming_the_reset() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 16 << 20, 6, 22);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    // Every channel is reset after 1 MiB (chunks are spread over 6 channels): each
    // Elasticsearch attempt fails the same way.
    let proxy = proxy_to(leader.local_addr(), &["reset:after_bytes=1mb"]).await;
    let settings = RecoverySettings {
        max_retries: 3,
        ..unlimited_follower()
    };
    let report = recover(proxy.local_addr(), &tmp.path().join("follower"), settings).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.attempts, 3);
    assert!(
        report.failures.iter().all(|f| f.kind == FailureKind::Reset),
        "{:?}",
        report.failures
    );
    let failure = report.failure.expect("reason");
    assert!(failure.starts_with("reset: connection reset"), "{failure}");
    let resets = proxy
        .events()
        .since(0)
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::ConnReset { fault, .. } if fault == "reset"))
        .count();
    assert!(
        resets >= 3,
        "at least one reset per attempt in the proxy's event log ({resets})"
    );
}

#[test]
fn a_bad_fault_spec_exits_2_naming_the_fault_and_field() {
    for (spec, named) in [
        ("latency:dleay=5ms", "dleay"),
        ("latency:delay=fast", "delay"),
        ("corrupt:probability=3", "probability"),
        ("teleport", "teleport"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args([
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--listen",
                "127.0.0.1:0",
                "--fault",
                spec,
            ])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {stderr}");
        assert!(stderr.contains(named), "{spec}: {stderr}");
    }
}

/// The rig wires leader, proxy and follower configuration together: the follower dials the
/// proxy, and stopping the rig hands back every chaos event on the rig's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rig_recovers_through_its_proxy_and_hands_back_the_events() {
    use rrbench::rig::{InjectorKind, Rig};
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 4 << 20, 4, 23);
    let rig = Rig::builder()
        .leader(snapshot.clone(), unlimited_leader())
        .injector(InjectorKind::TcpProxy, parse_faults(&["latency:delay=1ms"]))
        .seed(3)
        .start()
        .await
        .expect("rig");
    let leader = rig.leader().expect("a leader").local_addr();
    assert_ne!(rig.dial(), leader, "the follower dials the proxy");
    let target = tmp.path().join("follower");
    let mut config = rig.follower_config(&target);
    config.settings = unlimited_follower();
    assert_eq!(
        (config.leader.clone(), config.seed),
        (rig.dial().to_string(), 3)
    );
    let report = rrbench::follower::recover(
        config,
        std::sync::Arc::new(rrbench::follower::Progress::default()),
        std::future::pending(),
    )
    .await
    .expect("recovery runs");
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_identical(&snapshot, &target);
    let events = rig.shutdown().await;
    let kinds = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
    assert_eq!(kinds(|k| matches!(k, EventKind::ProxyStart { .. })), 1);
    assert_eq!(kinds(|k| matches!(k, EventKind::FaultOn { .. })), 1);
    assert!(kinds(|k| matches!(k, EventKind::ConnOpen { .. })) >= 6);
}
