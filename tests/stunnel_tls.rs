//! The stunnel story with the real stunnel, and TLS on both hops: follower --TLS--> stunnel
//! (`client = no`, its own certificate, `TIMEOUTidle`) --loopback--> stunnel (`client = yes`,
//! verifying the leader's chain and name) --TLS--> leader. The follower trusts only the stunnel's
//! CA, stunnel only the leader's, so every recovery here really went through both hops.
//!
//! stunnel resets a channel idle for `TIMEOUTidle`, TCP keepalive probes notwithstanding (they
//! carry no data, and stunnel counts data), and the follower then closes the whole connection.
//! A connection left idle before the recovery (`idle_before_recovery`) is lost while nothing is
//! in flight, and the recovery opens a fresh one; the idle channels of a recovery slower than
//! `TIMEOUTidle` take every attempt down with them (the elasticsearch policy). A ping on every
//! channel (`transport.ping_schedule`) is data, and the same idles cost nothing.
//!
//! Without `stunnel` (Debian: stunnel4) or `openssl` on PATH the tests print why and pass,
//! unless `RRBENCH_REQUIRE_STUNNEL` (or `RRBENCH_REQUIRE_OPENSSL`) is set: scripts/test.sh sets
//! both and installs the packages.

mod common;

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use common::{
    assert_identical, make_index,
    pki::{Pki, have, have_openssl},
    scratch, unlimited_follower, unlimited_leader,
};
use rrbench::{
    clock::Clock,
    follower::{self, FailureKind, FollowerConfig, Outcome, Progress, RecoveryReport},
    index::IndexSnapshot,
    leader::{self, LeaderConfig, LeaderHandle, TlsServer},
    settings::{LeaderSettings, RecoverySettings},
    transport::quic::{CertificatePaths, TlsClient},
    units::ByteSize,
    vocabulary::{ChannelType, ConnectionProfile, Policy},
};

const MIB: u64 = 1 << 20;

/// stunnel's `TIMEOUTidle` on the follower-facing service, in seconds. 2, not 1: a connection's
/// channels open at once but are pinged (and watched) only when all are open, and on a loaded
/// machine 13 TLS handshakes through both hops can spread over a second.
const TIMEOUT_IDLE_S: u64 = 2;

/// The index: small, so the recoveries that must outlive `TIMEOUTidle` are rate-limited.
const INDEX: u64 = 4 * MIB;

/// The name in the leader's certificate, which stunnel's `checkHost` asks for.
const LEADER_NAME: &str = "leader.rrbench.test";

fn have_tools() -> bool {
    have_openssl()
        && have(
            "stunnel",
            &["-version"],
            "RRBENCH_REQUIRE_STUNNEL",
            "apt-get install -y stunnel4",
        )
}

/// Two ports free on 127.0.0.1 right now, for stunnel to bind (it cannot be given port 0 and
/// say which it got); held together, so they differ.
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind("127.0.0.1:0").expect("bind");
    let (a, b) = (bind(), bind());
    let port = |l: &TcpListener| l.local_addr().expect("addr").port();
    (port(&a), port(&b))
}

/// Whether something listens on 127.0.0.1:`port` (from /proc/net/tcp, so that asking does not
/// open a connection stunnel would log).
fn listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|table| {
        table.lines().skip(1).any(|line| {
            let mut fields = line.split_whitespace();
            fields.nth(1) == Some(want.as_str()) && fields.nth(1) == Some("0A")
        })
    })
}

/// A real stunnel in the foreground, killed on drop.
struct Stunnel {
    child: std::process::Child,
    /// Where the follower connects (TLS, stunnel's certificate).
    accept: SocketAddr,
    log: PathBuf,
}

impl Stunnel {
    /// Two services in one stunnel: `follower-side` terminates the follower's TLS and closes
    /// connections idle for `TIMEOUTidle`; it hands the bytes over loopback to `leader-side`,
    /// which opens TLS to the leader, verifying its chain against `leader_ca` and its name
    /// against `check_host`.
    ///
    /// A port taken by someone else between [`free_ports`] and stunnel's bind makes stunnel
    /// exit: it is started again on other ports.
    async fn start(
        dir: &Path,
        own: &CertificatePaths,
        leader: SocketAddr,
        leader_ca: &Path,
        check_host: &str,
    ) -> Self {
        std::fs::create_dir_all(dir).expect("stunnel dir");
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::try_start(dir, own, leader, leader_ca, check_host).await {
                Ok(stunnel) => return stunnel,
                Err(log) if tries < 3 && log.contains("Address already in use") => {}
                Err(log) => panic!("stunnel did not start; its log:\n{log}"),
            }
        }
    }

    async fn try_start(
        dir: &Path,
        own: &CertificatePaths,
        leader: SocketAddr,
        leader_ca: &Path,
        check_host: &str,
    ) -> Result<Self, String> {
        let (outer, inner) = free_ports();
        let log = dir.join("stunnel.log");
        let _ = std::fs::remove_file(&log);
        let p = |p: &Path| p.to_str().expect("utf-8").to_string();
        let config = format!(
            "foreground = yes\n\
             pid =\n\
             output = {log}\n\
             debug = info\n\
             \n\
             [follower-side]\n\
             client = no\n\
             accept = 127.0.0.1:{outer}\n\
             connect = 127.0.0.1:{inner}\n\
             cert = {cert}\n\
             key = {key}\n\
             TIMEOUTidle = {TIMEOUT_IDLE_S}\n\
             TIMEOUTclose = 0\n\
             \n\
             [leader-side]\n\
             client = yes\n\
             accept = 127.0.0.1:{inner}\n\
             connect = {leader}\n\
             verifyChain = yes\n\
             CAfile = {ca}\n\
             checkHost = {check_host}\n\
             TIMEOUTclose = 0\n",
            log = p(&log),
            cert = p(&own.cert),
            key = p(&own.key),
            ca = p(leader_ca),
        );
        let file = dir.join("stunnel.conf");
        std::fs::write(&file, config).expect("stunnel.conf");
        let child = Command::new("stunnel")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn stunnel");
        let mut stunnel = Self {
            child,
            accept: SocketAddr::from(([127, 0, 0, 1], outer)),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(listening(outer) && listening(inner)) {
            if stunnel.child.try_wait().expect("wait").is_some() {
                return Err(stunnel.log());
            }
            if Instant::now() > deadline {
                return Err(format!("not listening after 10 s\n{}", stunnel.log()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(stunnel)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines containing `what`.
    fn lines(&self, what: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(what))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS leader, a stunnel in front of it, and what the follower trusts.
struct Path3 {
    tmp: tempfile::TempDir,
    snapshot: IndexSnapshot,
    leader: LeaderHandle,
    stunnel: Stunnel,
    stunnel_ca: PathBuf,
}

/// An [`INDEX`]-byte index behind a TLS leader with `leader_settings` (certificate for [`LEADER_NAME`],
/// from one CA) and a stunnel (certificate for 127.0.0.1, from another) whose `checkHost` is
/// `check_host`.
async fn path3(seed: u64, leader_settings: LeaderSettings, check_host: &str) -> Path3 {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), INDEX, 4, seed);
    let pki = Pki::new(&tmp.path().join("pki"));
    let leader_ca = pki.ca("leader-ca", "rrbench Leader CA");
    let leader_cert = pki.issue(
        "leader",
        "leader",
        &format!("DNS:{LEADER_NAME}"),
        &leader_ca,
        false,
        false,
    );
    let stunnel_ca = pki.ca("stunnel-ca", "rrbench Stunnel CA");
    let stunnel_cert = pki.issue(
        "stunnel",
        "stunnel",
        "DNS:localhost,IP:127.0.0.1",
        &stunnel_ca,
        false,
        false,
    );
    let config = LeaderConfig {
        settings: leader_settings,
        tls: Some(TlsServer {
            certificate: leader_cert,
            client_ca: None,
        }),
        ..LeaderConfig::default()
    };
    let leader = leader::start("127.0.0.1:0", snapshot.clone(), config, Clock::start())
        .await
        .expect("TLS leader starts");
    let stunnel = Stunnel::start(
        &tmp.path().join("stunnel"),
        &stunnel_cert,
        leader.local_addr(),
        &leader_ca.cert,
        check_host,
    )
    .await;
    Path3 {
        tmp,
        snapshot,
        leader,
        stunnel,
        stunnel_ca: stunnel_ca.cert,
    }
}

impl Path3 {
    /// A TLS recovery through stunnel into `name`, trusting only the stunnel's CA.
    async fn recover(&self, name: &str, settings: RecoverySettings) -> RecoveryReport {
        let mut config =
            FollowerConfig::new(self.stunnel.accept.to_string(), self.tmp.path().join(name));
        config.settings = RecoverySettings {
            tls: true,
            ..settings
        };
        config.tls = Some(TlsClient {
            ca: self.stunnel_ca.clone(),
            ..TlsClient::default()
        });
        config.time_limit = Some(Duration::from_secs(30));
        let started = Instant::now();
        let report = follower::recover(
            config,
            Arc::new(Progress::default()),
            std::future::pending(),
        )
        .await
        .expect("recovery runs");
        eprintln!(
            "{name}: {:?} in {} attempt(s), {:.2} s wall",
            report.outcome,
            report.attempts,
            started.elapsed().as_secs_f64()
        );
        for f in &report.failures {
            eprintln!("{name}: {f} [channel type {:?}]", f.channel_type);
        }
        report
    }

    fn assert_identical(&self, name: &str) {
        assert_identical(&self.snapshot, &self.tmp.path().join(name));
    }

    /// stunnel's log lines containing `what`.
    fn logged(&self, what: &str) -> Vec<String> {
        self.stunnel.lines(what)
    }

    /// Panics with stunnel's whole log unless `ok`.
    fn check(&self, ok: bool, what: &str) {
        assert!(ok, "{what}; stunnel's log:\n{}", self.stunnel.log());
    }

    async fn stop(self) {
        drop(self.stunnel);
        self.leader.shutdown().await;
    }
}

/// The elasticsearch policy with aggressive TCP keepalive (probes from 1 s of idle, as the
/// story's stunnel had them): probes are not data, and stunnel's idle timer counts data.
fn keepalive_only() -> RecoverySettings {
    RecoverySettings {
        policy: Policy::Elasticsearch,
        max_retries: 2,
        tcp_keep_alive: true,
        tcp_keep_idle: Duration::from_secs(1),
        tcp_keep_interval: Duration::from_secs(1),
        ..unlimited_follower()
    }
}

/// The node connection opened and left unused for twice `TIMEOUTidle`.
fn idle_before_recovery() -> RecoverySettings {
    RecoverySettings {
        idle_before_recovery: Duration::from_secs(2 * TIMEOUT_IDLE_S),
        ..keepalive_only()
    }
}

/// A leader slow enough that the recovery lasts one and a half `TIMEOUTidle`.
fn slow_leader() -> LeaderSettings {
    LeaderSettings {
        max_bytes_per_sec: ByteSize(INDEX * 2 / (3 * TIMEOUT_IDLE_S)),
        ..LeaderSettings::default()
    }
}

/// The 13 intra-cluster channels: those that carry no chunks sit idle during the recovery.
fn intra_cluster() -> RecoverySettings {
    RecoverySettings {
        connection_profile: ConnectionProfile::IntraCluster,
        ..keepalive_only()
    }
}

/// The connection a stunnel log line is about: `N` in `2026.12.01 23:14:31 LOG5[N]: ...`.
fn stunnel_connection(line: &str) -> &str {
    line.split_once("LOG")
        .and_then(|(_, rest)| rest.split_once('[')?.1.split_once(']'))
        .map_or("", |(id, _)| id)
}

/// Channels of the remote profile (one connection).
const REMOTE_CHANNELS: u64 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_recovery_through_stunnel_is_byte_identical() {
    if !have_tools() {
        return;
    }
    let path = path3(41, unlimited_leader(), LEADER_NAME).await;
    let report = path.recover("clean", unlimited_follower()).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_eq!(report.attempts, 1, "{:?}", report.failures);
    path.assert_identical("clean");
    assert_eq!(path.leader.stats().connections_accepted, REMOTE_CHANNELS);
    // Both hops carried it: stunnel accepted the follower's TLS, and opened TLS to the leader
    // having checked its name.
    let accepted = path.logged("Service [follower-side] accepted connection");
    path.check(
        accepted.len() as u64 == REMOTE_CHANNELS,
        "one stunnel connection per channel",
    );
    let checked = path.logged(&format!("CERT: Host name \"{LEADER_NAME}\" matched"));
    path.check(!checked.is_empty(), "stunnel checked the leader's name");
    path.check(
        path.logged("TIMEOUTidle exceeded").is_empty(),
        "no channel idle long enough",
    );
    path.stop().await;
}

/// The connection is reset while it waits for the recovery; the follower closes all its
/// channels (one lost closes the connection) and the recovery, when it starts, opens a fresh
/// connection: nothing is lost but the connection, as the story's nodes reconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_idle_past_timeout_idle_is_reset_and_the_recovery_reconnects() {
    if !have_tools() {
        return;
    }
    let path = path3(42, unlimited_leader(), LEADER_NAME).await;
    let report = path.recover("idle", idle_before_recovery()).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_eq!(
        report.attempts, 1,
        "the loss was seen while idle: {:?}",
        report.failures
    );
    path.assert_identical("idle");
    let resets = path.logged("TIMEOUTidle exceeded: sending reset");
    path.check(!resets.is_empty(), "stunnel reset an idle channel");
    eprintln!("stunnel: {}", resets[0]);
    assert_eq!(
        path.leader.stats().connections_accepted,
        2 * REMOTE_CHANNELS,
        "the whole connection was opened again"
    );
    // Every channel of the first connection ended (the reset one, and those the follower
    // closed: one lost closes the connection) before the second connection's were accepted.
    let log = path.stunnel.log();
    let lines: Vec<&str> = log.lines().collect();
    let accepts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("Service [follower-side] accepted connection"))
        .collect();
    let second = accepts[REMOTE_CHANNELS as usize];
    for &i in &accepts[..REMOTE_CHANNELS as usize] {
        let id = stunnel_connection(lines[i]);
        assert!(!id.is_empty(), "no connection number in {:?}", lines[i]);
        let ended = lines[i..second].iter().any(|l| {
            stunnel_connection(l) == id
                && (l.contains("Connection closed:") || l.contains("Connection reset:"))
        });
        path.check(
            ended,
            &format!("stunnel connection {id} ended before the second connection"),
        );
    }
    path.stop().await;
}

/// During a recovery slower than `TIMEOUTidle`, the channels that carry no chunks are idle:
/// stunnel resets one, the connection goes down with the chunks in flight, and the attempt
/// fails on every try (the story's cycle).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_channels_of_a_slow_recovery_are_reset_and_every_attempt_fails() {
    if !have_tools() {
        return;
    }
    let path = path3(43, slow_leader(), LEADER_NAME).await;
    let report = path.recover("slow", intra_cluster()).await;
    assert_eq!(
        report.outcome,
        Outcome::Failed,
        "every attempt outlives TIMEOUTidle"
    );
    assert_eq!(report.attempts, 2);
    for f in &report.failures {
        assert_eq!(f.kind, FailureKind::Reset, "{f}");
        assert!(f.message.contains("reset"), "{f}");
        // The channel is named when the connection was open. On a loaded machine the 13
        // handshakes of a retry can spread over `TIMEOUTidle`, and stunnel then resets an early
        // channel while the connection is still opening, before any channel is named.
        if let Some(first) = f.channel_type {
            assert_ne!(
                first,
                ChannelType::Recovery,
                "an idle channel failed first: {f}"
            );
        }
    }
    assert!(
        report.failures.iter().any(|f| f.channel_type.is_some()),
        "an open connection lost an idle channel: {:?}",
        report.failures
    );
    if let Some(why) = &report.failure {
        eprintln!("slow: failure: {why}");
    }
    let resets = path.logged("TIMEOUTidle exceeded: sending reset");
    path.check(
        resets.len() >= 2,
        "stunnel reset an idle channel per attempt",
    );
    path.stop().await;
}

/// The same two idles with a ping on every channel every 300 ms: stunnel sees data on each
/// and resets none; one attempt, byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_on_every_channel_keeps_stunnel_from_resetting_them() {
    if !have_tools() {
        return;
    }
    let path = path3(44, slow_leader(), LEADER_NAME).await;
    let settings = RecoverySettings {
        ping_schedule: Some(Duration::from_millis(300)),
        ..RecoverySettings {
            connection_profile: ConnectionProfile::IntraCluster,
            ..idle_before_recovery()
        }
    };
    let report = path.recover("pinged", settings).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_eq!(report.attempts, 1, "{:?}", report.failures);
    assert!(report.pings_sent > 0, "no ping was sent");
    path.assert_identical("pinged");
    assert_eq!(
        path.leader.stats().connections_accepted,
        13,
        "one connection, kept"
    );
    path.check(
        path.logged("TIMEOUTidle exceeded").is_empty(),
        "no channel was reset",
    );
    path.stop().await;
}

/// stunnel does verify the leader: with a `checkHost` the leader's certificate does not name,
/// it refuses the leader's TLS and the follower's channels close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stunnel_refuses_a_leader_whose_certificate_lacks_its_check_host() {
    if !have_tools() {
        return;
    }
    let path = path3(45, unlimited_leader(), "impostor.rrbench.test").await;
    let settings = RecoverySettings {
        max_retries: 1,
        ..unlimited_follower()
    };
    let report = path.recover("refused", settings).await;
    assert_eq!(report.outcome, Outcome::Failed);
    path.check(
        !path.logged("CERT: Subject checks failed").is_empty()
            && !path
                .logged("Rejected by CERT at depth=0: CN=leader")
                .is_empty(),
        "stunnel rejected the leader's certificate",
    );
    path.stop().await;
}
