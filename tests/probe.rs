//! `rrbench probe` against an in-process leader behind the L4 chaos proxy (stunnel-like: data
//! idle) and across the L3 link with a `conntrack` fault (packet idle), and the command's errors
//! and help.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rrbench::{
    probe::{self, ProbeConfig, ProbeReport, classify::PathClass, grid::IdleKind},
    rig::{InjectorKind, Rig},
    units::parse_duration,
};

/// A leader serving a small index behind a TCP proxy with `faults`.
async fn rig(tmp: &std::path::Path, faults: &[&str]) -> Rig {
    let snapshot = make_index(tmp, 8 << 20, 4, 31);
    Rig::builder()
        .leader(snapshot, unlimited_leader())
        .injector(InjectorKind::TcpProxy, parse_faults(faults))
        .seed(5)
        .start()
        .await
        .expect("the rig starts")
}

/// A leader serving a small index across the L3 link with `faults` (root only).
async fn l3_rig(tmp: &std::path::Path, faults: &[&str]) -> Rig {
    let snapshot = make_index(tmp, 8 << 20, 4, 31);
    Rig::builder()
        .leader(snapshot, unlimited_leader())
        .injector(InjectorKind::Link, parse_faults(faults))
        .seed(5)
        .start()
        .await
        .expect("the rig starts")
}

/// A quick probe of `rig`: short transfers, `max_idle` idle grid.
async fn probe_rig(rig: &Rig, max_idle: Duration) -> ProbeReport {
    let mut config = ProbeConfig::new(rig.dial().to_string());
    config.pings = 10;
    config.connections = 2;
    config.transfer_time = Duration::from_millis(500);
    config.max_idle = max_idle;
    let progress = |line: &str| eprintln!("progress: {line}");
    let report = probe::run(config, &progress, std::future::pending())
        .await
        .expect("the probe runs");
    eprintln!("{}", probe::output::text(&report));
    report
}

fn kind(report: &ProbeReport, kind: IdleKind) -> &probe::grid::KindSummary {
    report
        .idle
        .as_ref()
        .expect("idle measured")
        .kinds
        .iter()
        .find(|k| k.kind == kind)
        .expect("kind")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_timeout_proxy_is_found_within_15_percent_and_named_stunnel_like() {
    let tmp = scratch();
    let rig = rig(tmp.path(), &["idle_timeout:idle=3s"]).await;
    let start = Instant::now();
    let report = probe_rig(&rig, Duration::from_secs(8)).await;
    assert!(!report.interrupted);
    for k in [IdleKind::Silent, IdleKind::Keepalive] {
        let s = kind(&report, k);
        let t = s.timeout.expect("a timeout").as_secs_f64();
        assert!(s.dies && (2.55..=3.45).contains(&t), "{k:?}: {s:?}");
    }
    let pings = kind(&report, IdleKind::Pings);
    assert!(pings.decided && !pings.dies, "{pings:?}");
    assert_eq!(
        report.path.class,
        PathClass::StunnelLike,
        "{:?}",
        report.path
    );
    let ping = report
        .advice
        .settings
        .iter()
        .find(|s| s.name == "transport.ping_schedule")
        .expect("ping advice");
    let every = parse_duration(&ping.value).expect("a duration");
    assert!(every < Duration::from_secs(3), "{every:?}");
    assert_eq!(report.throughput.len(), 2);
    assert!(report.throughput.iter().all(|t| t.bytes > 0));
    // Pings outlived twice the 3 s timeout: decided before the 8 s grid ran out.
    let idle_ran = report.idle.as_ref().expect("idle measured").elapsed;
    assert!(idle_ran < Duration::from_secs(8), "{idle_ran:?}");
    assert!(
        start.elapsed() < Duration::from_secs(12),
        "{:?}",
        start.elapsed()
    );
    rig.shutdown().await;
}

/// A firewall's conntrack forgets a flow after 3 s without a packet: silent connections die at
/// about 3 s, keepalive probes (packets) keep theirs, as pings do; the probe names it
/// conntrack-like and advises a keepalive below 3 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conntrack_link_is_found_within_15_percent_and_named_conntrack_like() {
    if !rrbench::chaos::link::usable_in_tests() {
        return;
    }
    let tmp = scratch();
    let rig = l3_rig(tmp.path(), &["conntrack:idle=3s,action=reset"]).await;
    let report = probe_rig(&rig, Duration::from_secs(8)).await;
    let silent = kind(&report, IdleKind::Silent);
    let t = silent.timeout.expect("a timeout").as_secs_f64();
    assert!(silent.dies && (2.55..=3.45).contains(&t), "{silent:?}");
    for k in [IdleKind::Keepalive, IdleKind::Pings] {
        let s = kind(&report, k);
        assert!(s.decided && !s.dies, "{k:?}: {s:?}");
    }
    assert_eq!(
        report.path.class,
        PathClass::ConntrackLike,
        "{:?}",
        report.path
    );
    let keep_idle = report
        .advice
        .settings
        .iter()
        .find(|s| s.name == "network.tcp.keep_idle")
        .expect("keepalive advice");
    let every = parse_duration(&keep_idle.value).expect("a duration");
    assert!(every < Duration::from_secs(3), "{every:?}");
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_path_with_20ms_each_way_has_40ms_rtt_and_no_idle_timeout() {
    let tmp = scratch();
    let rig = rig(tmp.path(), &["latency:delay=20ms"]).await;
    let report = probe_rig(&rig, Duration::from_secs(3)).await;
    assert_eq!(
        report.path.class,
        PathClass::NoIdleTimeout,
        "{:?}",
        report.path
    );
    let median = report.rtt.expect("rtt").median.as_secs_f64();
    assert!((0.032..=0.048).contains(&median), "median {median}");
    let connect = report.connect.expect("connect time");
    assert!(connect >= Duration::from_millis(30), "{connect:?}");
    assert!(report.advice.predicted_mib_s.is_some());
    rig.shutdown().await;
}

#[test]
fn the_command_names_an_unreachable_leader_and_teaches_the_idle_timeout() {
    let out = rrbench(&["probe", "--to", "127.0.0.1:1", "--max-idle", "1s"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("127.0.0.1:1") && err.contains("nothing listens there"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let bad = rrbench(&["probe", "--to", "localhost"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("no port"));
    let help = rrbench(&["probe", "--help"]);
    assert!(help.status.success());
    let help = text(&help.stdout);
    assert!(
        help.contains("idle timeout") && help.contains("stunnel-like"),
        "{help}"
    );
}

/// A wrong `--index` is bad input: the probe says which index and exits 2 before it spends
/// minutes on the idle grid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_index_is_refused_at_once_with_exit_code_2() {
    let tmp = scratch();
    let rig = rig(tmp.path(), &[]).await;
    let to = rig.dial().to_string();
    let out = tokio::task::spawn_blocking(move || {
        rrbench(&[
            "probe",
            "--to",
            &to,
            "--index",
            "no-such-index",
            "--max-idle",
            "60s",
            "--transfer-time",
            "200ms",
        ])
    })
    .await
    .expect("join");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no-such-index"), "{err}");
    rig.shutdown().await;
}

/// A TLS leader is probed over TLS (`--tls --ca`), handshakes and encryption on the path it
/// measures; probed in plaintext it is named as a TLS leader, not as something unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_leader_is_probed_over_tls_and_named_when_probed_in_plaintext() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 8 << 20, 4, 31);
    let rig = Rig::builder()
        .leader(snapshot, unlimited_leader())
        .tls(true)
        .certificate(rrbench::rig::Certificate::Generate {
            dir: tmp.path().join("cert"),
            names: vec!["127.0.0.1".into()],
        })
        .start()
        .await
        .expect("the rig starts");
    let mut config = ProbeConfig::new(rig.dial().to_string());
    config.tls = rig.tls_client();
    config.pings = 5;
    config.connections = 2;
    config.transfer_time = Duration::from_millis(300);
    config.max_idle = Duration::ZERO;
    let report = probe::run(config, &|_: &str| {}, std::future::pending())
        .await
        .expect("the probe runs over TLS");
    assert!(report.rtt.is_some(), "{:?}", report.notes);
    assert_eq!(report.throughput.len(), 2, "{:?}", report.notes);
    assert!(
        report.throughput.iter().all(|t| t.bytes > 0),
        "{:?}",
        report.throughput
    );

    let to = rig.dial().to_string();
    let out = tokio::task::spawn_blocking(move || {
        rrbench(&[
            "probe",
            "--to",
            &to,
            "--max-idle",
            "0",
            "--transfer-time",
            "0",
        ])
    })
    .await
    .expect("join");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the leader speaks TLS: probe with --tls"),
        "{err}"
    );
    rig.shutdown().await;
}
