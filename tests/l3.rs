//! Recovery across the L3 link: the leader in its own network namespace, the follower in the
//! host's, every IP packet through the fault pump. Unlike the L4 proxies, nothing acknowledges
//! data on the leader's behalf: lost segments are retransmitted by the kernel, and a blackhole
//! leaves sent data unacknowledged (so `TCP_USER_TIMEOUT` notices it). Needs root; see
//! `rrbench::chaos::link::usable_in_tests`.

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use common::{
    assert_identical, make_index, parse_faults, run_campaign_text, scratch, text,
    unlimited_follower, unlimited_leader,
};
use rrbench::{
    chaos::{EventLog, link::usable_in_tests},
    follower::{self, Outcome, Progress, RecoveryReport},
    index::IndexSnapshot,
    rig::{Certificate, InjectorHandle, InjectorKind},
    settings::{LeaderSettings, RecoverySettings},
    transport::quic::QuicLiveness,
    units::ByteSize,
    vocabulary::{CongestionControl, Policy, Transport},
};

const MIB: u64 = 1 << 20;

/// A leader inside a fresh link with `faults`; QUIC when `quic` is given.
struct Rig {
    tmp: tempfile::TempDir,
    snapshot: IndexSnapshot,
    events: Arc<EventLog>,
    rig: rrbench::rig::Rig,
}

impl Rig {
    async fn start(size: u64, faults: &[&str], leader: LeaderSettings, quic: bool) -> Self {
        let tmp = scratch();
        let snapshot = make_index(tmp.path(), size, 6, 17);
        let transport = if quic {
            Transport::Quic
        } else {
            Transport::Tcp
        };
        let rig = rrbench::rig::Rig::builder()
            .leader(snapshot.clone(), leader)
            .injector(InjectorKind::Link, parse_faults(faults))
            .seed(9)
            .transport(transport)
            // For the leader's address on the link, which the rig adds.
            .certificate(Certificate::Generate {
                dir: tmp.path().join("cert"),
                names: vec![],
            })
            .quic_liveness(QuicLiveness {
                idle_timeout: Duration::from_secs(10),
                keep_alive: None,
            })
            .start()
            .await
            .expect("link, and the leader in its namespace");
        let events = rig.events().clone();
        Self {
            tmp,
            snapshot,
            events,
            rig,
        }
    }

    /// The leader's address on the link.
    fn leader_addr(&self) -> std::net::SocketAddr {
        self.rig.leader().expect("a leader").local_addr()
    }

    fn netns_name(&self) -> &str {
        match self.rig.injector() {
            Some(InjectorHandle::Link(link)) => link.netns_name(),
            _ => panic!("no link"),
        }
    }

    async fn recover(&self, settings: RecoverySettings) -> RecoveryReport {
        let target = self.tmp.path().join("follower");
        let mut config = self.rig.follower_config(&target);
        config.settings = settings;
        config.time_limit = Some(Duration::from_secs(120));
        follower::recover(
            config,
            Arc::new(Progress::default()),
            std::future::pending(),
        )
        .await
        .expect("recovery runs")
    }

    async fn recover_identical(&self, settings: RecoverySettings) -> RecoveryReport {
        let report = self.recover(settings).await;
        assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
        assert_identical(&self.snapshot, &self.tmp.path().join("follower"));
        report
    }

    fn dropped(&self, fault: &str) -> u64 {
        self.events.effect_bytes(Some(fault), "dropped")
    }

    async fn stop(self) {
        self.rig.shutdown().await;
    }
}

#[tokio::test]
async fn tcp_recovers_byte_identical_through_five_percent_packet_loss() {
    if !usable_in_tests() {
        return;
    }
    let rig = Rig::start(
        16 * MIB,
        &["loss:probability=5%", "delay:delay=1ms"],
        unlimited_leader(),
        false,
    )
    .await;
    let report = rig.recover_identical(unlimited_follower()).await;
    // The kernel's TCP retransmitted every dropped segment: one attempt, nothing wasted.
    assert_eq!(report.attempts, 1);
    assert!(rig.dropped("loss") > 0, "the link dropped nothing");
    rig.stop().await;
}

#[tokio::test]
async fn quic_recovers_byte_identical_on_the_same_link() {
    if !usable_in_tests() {
        return;
    }
    let rig = Rig::start(
        8 * MIB,
        &["loss:probability=3%", "corrupt:probability=1%"],
        unlimited_leader(),
        true,
    )
    .await;
    let settings = RecoverySettings {
        transport: Transport::Quic,
        ..unlimited_follower()
    };
    rig.recover_identical(settings).await;
    assert!(rig.dropped("loss") > 0);
    rig.stop().await;
}

#[tokio::test]
async fn tcp_keepalive_and_user_timeout_notice_a_blackhole_that_a_proxy_would_hide() {
    if !usable_in_tests() {
        return;
    }
    // 16 MiB at 4 MiB/s: the blackhole (from 1 s, for 3 s) lands mid-recovery.
    let leader = LeaderSettings {
        max_bytes_per_sec: ByteSize::mib(4),
        ..unlimited_leader()
    };
    let rig = Rig::start(16 * MIB, &["blackhole:start=1s,duration=3s"], leader, false).await;
    // Elasticsearch's policy has no application ping: only the kernel can tell the path is dead.
    // A channel with a request in flight sees it unacknowledged (TCP_USER_TIMEOUT); an idle one
    // sends keepalive probes that go unanswered. Behind an L4 proxy both look healthy: the
    // proxy's kernel acknowledges the data and answers the probes.
    let settings = RecoverySettings {
        policy: Policy::Elasticsearch,
        ping_schedule: None,
        tcp_keep_alive: true,
        tcp_keep_idle: Duration::from_secs(1),
        tcp_keep_interval: Duration::from_secs(1),
        tcp_keep_count: 1,
        tcp_user_timeout: Some(Duration::from_secs(1)),
        time_scale: 0.01,
        max_retries: 20,
        ..unlimited_follower()
    };
    let report = rig.recover_identical(settings).await;
    // With Elasticsearch's defaults (keepalive after 300 s, no user timeout) the same run
    // completes in one attempt once the blackhole lifts: nothing noticed it.
    assert!(report.attempts >= 2, "the blackhole ended no attempt");
    let first = &report.failures[0];
    assert!(
        first.message.contains("timed out"),
        "the kernel gave up on the path: {first:?}"
    );
    assert!(rig.dropped("blackhole") > 0);
    rig.stop().await;
}

#[test]
fn a_campaign_at_l3_runs_tcp_loss_cells_instead_of_skipping_them() {
    if !usable_in_tests() {
        return;
    }
    let run = run_campaign_text(
        "mini-l3",
        r#"
name = "mini-l3"
seed = 2
time_limit = "60s"
[index]
size = "2mb"
files = 2
[leader]
max_bytes_per_sec = "0"
[settings]
max_bytes_per_sec = "0"
[chaos]
layer = "l3"
[faults.loss]
type = "loss"
probability = "0%"
[matrix]
"settings.transport" = ["tcp", "quic"]
"faults.loss.probability" = ["0%", "2%"]
[expect]
outcome = "completed"
"#,
    );
    assert!(!run.stdout.contains("skipped"), "{}", run.stdout);
    assert_eq!(run.records.len(), 4, "every cell ran");
    assert!(run.records.iter().all(|r| r["outcome"] == "completed"));
    // Each trial's events say it went through the link.
    for r in &run.records {
        let id = r["trial"].as_str().expect("id");
        let path = run.dir.join("events").join(format!("{id}.jsonl"));
        let events = std::fs::read_to_string(path).expect("events");
        assert!(events.contains("L3 link"), "{id}: {events}");
    }
}

/// `kill PID` (SIGTERM, as systemd and scripts stop a process) ends `rrbench link` as Ctrl-C
/// does: it removes its namespace and devices and exits 0. (It once died on the signal's
/// default action and left both behind.)
#[test]
fn sigterm_removes_the_links_namespace_as_ctrl_c_does() {
    if !usable_in_tests() {
        return;
    }
    let (mut link, line) = common::spawn_announcing_line(&["link", "--quiet"]);
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "namespace").expect(&line);
    let netns = words[at + 1].trim_end_matches(',').to_string();
    assert!(
        Path::new("/run/netns").join(&netns).exists(),
        "{netns} is up: {line}"
    );
    let status = common::terminate(&mut link);
    assert!(status.success(), "SIGTERM: {status}");
    assert!(
        !Path::new("/run/netns").join(&netns).exists(),
        "SIGTERM left {netns} behind"
    );
}

#[test]
fn link_leader_and_recover_as_separate_processes() {
    if !usable_in_tests() {
        return;
    }
    let tmp = scratch();
    let source = tmp.path().join("leader");
    let target = tmp.path().join("follower");
    let (source, target) = (
        source.to_str().expect("utf-8"),
        target.to_str().expect("utf-8"),
    );
    let made = common::rrbench(&[
        "gen-index",
        "--dir",
        source,
        "--size",
        "8mb",
        "--files",
        "4",
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    // "L3 link up (seed 3): this host A on DEV <-> namespace NS, IP; 2 fault(s)"
    let (mut link, line) = common::spawn_announcing_line(&[
        "link",
        "--fault",
        "delay:delay=5ms",
        "--fault",
        "loss:probability=2%",
        "--seed",
        "3",
        "--quiet",
    ]);
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "namespace").expect(&line);
    let netns = words[at + 1].trim_end_matches(',').to_string();
    let ip = words[at + 2].trim_end_matches(';').to_string();
    let (mut leader, addr) = common::spawn_announcing(&[
        "leader",
        "--dir",
        source,
        "--netns",
        &netns,
        "--listen",
        &format!("{ip}:0"),
        "--max-bytes-per-sec",
        "0",
        "--quiet",
    ]);
    assert!(addr.starts_with(&ip), "{addr} is not in the namespace");
    let out = common::rrbench(&[
        "recover",
        "--from",
        &addr,
        "--dir",
        target,
        "--max-bytes-per-sec",
        "0",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let snapshot = IndexSnapshot::load(Path::new(source)).expect("snapshot");
    assert_identical(&snapshot, Path::new(target));
    assert!(common::interrupt(&mut leader).success());
    assert!(common::interrupt(&mut link).success());
    assert!(
        !Path::new("/run/netns").join(&netns).exists(),
        "Ctrl-C leaves no namespace behind"
    );
}

#[tokio::test]
async fn the_leader_sends_with_the_congestion_controller_it_is_given() {
    if !usable_in_tests() {
        return;
    }
    for (setting, want) in [
        (CongestionControl::Reno, "reno".to_string()),
        (CongestionControl::Cubic, "cubic".to_string()),
        (
            CongestionControl::System,
            std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
                .expect("sysctl")
                .trim()
                .to_string(),
        ),
    ] {
        let leader = LeaderSettings {
            congestion_control: setting,
            ..unlimited_leader()
        };
        let rig = Rig::start(MIB, &[], leader, false).await;
        let _client = tokio::net::TcpStream::connect(rig.leader_addr())
            .await
            .expect("connect");
        // The accepted connection, seen from inside the leader's namespace (once the client's
        // ACK has crossed the link).
        let mut ss = String::new();
        for _ in 0..50 {
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", rig.netns_name(), "ss", "-tin"])
                .output()
                .expect("ss");
            ss = text(&out.stdout);
            if ss.contains("wscale") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            ss.contains(&format!("{want} wscale")),
            "{setting}: want {want}: {ss}"
        );
        rig.stop().await;
    }
}

/// A connection opened long before the recovery and left idle past a firewall's conntrack
/// `idle` is forgotten: with `action = reset` its first use is answered by a RST, the attempt
/// fails at once and the next one, on a fresh connection, completes; the same connection with
/// keepalive probes below the conntrack idle keeps its flow and completes in one attempt.
#[tokio::test]
async fn a_connection_idle_past_conntrack_costs_an_attempt_unless_keepalive_keeps_it() {
    if !usable_in_tests() {
        return;
    }
    let settings = |keepalive: bool| RecoverySettings {
        max_bytes_per_sec: ByteSize(0),
        idle_before_recovery: Duration::from_secs(3),
        tcp_keep_alive: keepalive,
        // The kernel counts keepalive times in whole seconds.
        tcp_keep_idle: Duration::from_secs(1),
        tcp_keep_interval: Duration::from_secs(1),
        tcp_user_timeout: Some(Duration::from_secs(2)),
        ..RecoverySettings::default()
    };
    let rig = Rig::start(
        4 * MIB,
        &["conntrack:idle=2s,action=reset"],
        unlimited_leader(),
        false,
    )
    .await;
    let forgotten = rig.recover_identical(settings(false)).await;
    assert_eq!(forgotten.attempts, 2, "{}", forgotten.summary());
    assert!(
        forgotten.failures[0].message.contains("reset"),
        "{:?}",
        forgotten.failures
    );
    let kept = rig.recover_identical(settings(true)).await;
    assert_eq!(kept.attempts, 1, "{}", kept.summary());
    rig.stop().await;
}
