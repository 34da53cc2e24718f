//! Recovery over QUIC: byte-identical results, certificates that are refused with a flag to fix
//! them, and the datagram chaos proxy (loss, a blackhole longer than the idle timeout,
//! corruption) between follower and leader.

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use common::{
    assert_identical, make_index, parse_faults, rrbench, run_campaign_text, scratch, text,
    unlimited_follower,
};
use rrbench::{
    chaos::{EventKind, EventLog},
    clock::Clock,
    follower::{self, FailureKind, FollowerConfig, Outcome, Progress, RecoveryReport},
    index::IndexSnapshot,
    leader::{self, LeaderConfig, LeaderHandle, QuicServer},
    rig::{Certificate, InjectorKind},
    settings::{LeaderSettings, RecoverySettings},
    transport::quic::{CertificatePaths, QuicClient, QuicLiveness, generate_self_signed},
    units::ByteSize,
    vocabulary::{Policy, Transport},
};

const MIB: u64 = 1 << 20;

fn liveness(idle: Duration) -> QuicLiveness {
    QuicLiveness {
        idle_timeout: idle,
        keep_alive: None,
    }
}

async fn quic_leader(
    snapshot: &IndexSnapshot,
    certificate: &CertificatePaths,
    rate: ByteSize,
    idle: Duration,
) -> LeaderHandle {
    let config = LeaderConfig {
        settings: LeaderSettings {
            max_bytes_per_sec: rate,
            ..LeaderSettings::default()
        },
        quic: Some(QuicServer {
            certificate: certificate.clone(),
            liveness: liveness(idle),
        }),
        ..LeaderConfig::default()
    };
    leader::start("127.0.0.1:0", snapshot.clone(), config, Clock::start())
        .await
        .expect("QUIC leader starts")
}

async fn quic_recover(
    addr: &str,
    target: &Path,
    ca: &Path,
    server_name: Option<&str>,
    settings: RecoverySettings,
) -> RecoveryReport {
    let mut config = FollowerConfig::new(addr, target);
    config.quic = Some(QuicClient {
        ca: ca.to_path_buf(),
        server_name: server_name.map(str::to_owned),
        identity: None,
    });
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

fn quic_settings() -> RecoverySettings {
    RecoverySettings {
        transport: Transport::Quic,
        ..unlimited_follower()
    }
}

/// A QUIC leader with a fresh certificate behind the UDP proxy with `faults`.
struct Rig {
    tmp: tempfile::TempDir,
    snapshot: IndexSnapshot,
    events: Arc<EventLog>,
    rig: rrbench::rig::Rig,
}

impl Rig {
    async fn start(size: u64, seed: u64, faults: &[&str], rate: ByteSize, idle: Duration) -> Self {
        let tmp = scratch();
        let snapshot = make_index(tmp.path(), size, 6, seed);
        let settings = LeaderSettings {
            max_bytes_per_sec: rate,
            ..LeaderSettings::default()
        };
        let rig = rrbench::rig::Rig::builder()
            .leader(snapshot.clone(), settings)
            .transport(Transport::Quic)
            .certificate(Certificate::Generate {
                dir: tmp.path().join("cert"),
                names: vec!["localhost".into()],
            })
            .quic_liveness(liveness(idle))
            .injector(InjectorKind::UdpProxy, parse_faults(faults))
            .seed(5)
            .start()
            .await
            .expect("QUIC leader and UDP proxy start");
        let events = rig.events().clone();
        Self {
            tmp,
            snapshot,
            events,
            rig,
        }
    }

    /// Recovers through the proxy and checks the files are the leader's.
    async fn recover_identical(&self, settings: RecoverySettings) -> RecoveryReport {
        let target = self.tmp.path().join("follower");
        let addr = self.rig.dial().to_string();
        let ca = &self.rig.certificate().expect("a certificate").cert;
        let report = quic_recover(&addr, &target, ca, None, settings).await;
        assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
        assert_identical(&self.snapshot, &target);
        report
    }

    async fn stop(self) {
        self.rig.shutdown().await;
    }
}

fn certificate(dir: &Path, names: &[&str]) -> CertificatePaths {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    generate_self_signed(dir, &names).expect("certificate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_quic_recovery_is_byte_identical() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 64 * MIB, 12, 3);
    let cert = certificate(&tmp.path().join("cert"), &["localhost", "127.0.0.1"]);
    let leader = quic_leader(&snapshot, &cert, ByteSize(0), Duration::from_secs(10)).await;
    let target = tmp.path().join("follower");
    let report = quic_recover(
        &leader.local_addr().to_string(),
        &target,
        &cert.cert,
        None,
        quic_settings(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_eq!((report.attempts, report.bytes), (1, 64 * MIB));
    assert_identical(&snapshot, &target);
    assert_eq!(report.settings.transport, Transport::Quic);
    leader.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_or_name_is_refused_naming_the_flag() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), MIB, 2, 3);
    let real = certificate(&tmp.path().join("real"), &["leader.example"]);
    let other = certificate(&tmp.path().join("other"), &["leader.example"]);
    let leader = quic_leader(&snapshot, &real, ByteSize(0), Duration::from_secs(10)).await;
    let addr = leader.local_addr().to_string();
    let settings = RecoverySettings {
        max_retries: 1,
        ..quic_settings()
    };

    let wrong_ca = quic_recover(
        &addr,
        &tmp.path().join("a"),
        &other.cert,
        Some("leader.example"),
        settings.clone(),
    )
    .await;
    assert_eq!(wrong_ca.outcome, Outcome::Failed);
    let why = wrong_ca.failure.unwrap_or_default();
    assert!(why.contains("not trusted") && why.contains("--ca"), "{why}");

    let wrong_name = quic_recover(
        &addr,
        &tmp.path().join("b"),
        &real.cert,
        None,
        settings.clone(),
    )
    .await;
    assert_eq!(wrong_name.outcome, Outcome::Failed);
    let why = wrong_name.failure.unwrap_or_default();
    assert!(why.contains("--server-name"), "{why}");

    let right = quic_recover(
        &addr,
        &tmp.path().join("c"),
        &real.cert,
        Some("leader.example"),
        settings,
    )
    .await;
    assert_eq!(right.outcome, Outcome::Completed, "{:?}", right.failure);
    assert_identical(&snapshot, &tmp.path().join("c"));
    leader.shutdown().await;

    let r = rrbench(&[
        "recover",
        "--from",
        "127.0.0.1:1",
        "--dir",
        "/nonexistent",
        "--transport",
        "quic",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(text(&r.stderr).contains("--ca"), "{}", text(&r.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_completes_through_five_percent_datagram_loss() {
    let idle = Duration::from_secs(10);
    let rig = Rig::start(16 * MIB, 4, &["loss:probability=5%"], ByteSize(0), idle).await;
    rig.recover_identical(quic_settings()).await;
    assert!(
        rig.events.effect_bytes(None, "dropped") > 0,
        "the proxy dropped nothing"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_longer_than_the_idle_timeout_ends_the_connection_and_resumable_completes() {
    let idle = Duration::from_millis(800);
    // 8 MiB/s: the recovery needs 3 s, so the blackhole from 1 s to 3.5 s falls inside it.
    let hole = ["blackhole:start=1s,duration=2500ms"];
    let rig = Rig::start(24 * MIB, 5, &hole, ByteSize::mib(8), idle).await;
    let settings = RecoverySettings {
        policy: Policy::Resumable,
        quic_idle_timeout: idle,
        max_retries: 50,
        time_scale: 0.01,
        ..quic_settings()
    };
    let report = rig.recover_identical(settings).await;
    assert!(
        report.attempts >= 2,
        "the blackhole ended no attempt: {:?}",
        report.failures
    );
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.kind != FailureKind::Corrupt),
        "{:?}",
        report.failures
    );
    assert!(report.bytes_wasted < 24 * MIB, "resumable kept its bytes");
    let kinds: Vec<String> = rig
        .events
        .since(0)
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FaultOn { kind, .. } => Some(format!("on {kind}")),
            EventKind::FaultOff { .. } => Some("off".into()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["on blackhole", "off"]);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_datagrams_never_make_a_corrupt_file() {
    let idle = Duration::from_secs(10);
    let rig = Rig::start(16 * MIB, 6, &["corrupt:probability=3%"], ByteSize(0), idle).await;
    let report = rig.recover_identical(quic_settings()).await;
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.kind != FailureKind::Corrupt),
        "QUIC's AEAD drops a corrupt packet before the engine sees it: {:?}",
        report.failures
    );
    assert!(
        rig.events.effect_bytes(None, "corrupted") > 0,
        "the proxy corrupted nothing"
    );
    rig.stop().await;
}

#[test]
fn a_campaign_runs_quic_through_the_udp_proxy_and_skips_tcp_loss() {
    let run = run_campaign_text(
        "mini-quic",
        r#"
name = "mini-quic"
seed = 2
time_limit = "30s"
[index]
size = "2mb"
files = 2
[leader]
max_bytes_per_sec = "0"
[settings]
max_bytes_per_sec = "0"
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
    assert!(run.stdout.contains("1 trials skipped"), "{}", run.stdout);
    let records = &run.records;
    assert_eq!(records.len(), 3, "tcp 0 %, quic 0 % and quic 2 %");
    assert!(records.iter().all(|r| r["outcome"] == "completed"));
    let quic = records
        .iter()
        .filter(|r| r["params"]["settings.transport"] == "quic")
        .count();
    assert_eq!(quic, 2);
    let summary = std::fs::read_to_string(run.dir.join("summary.md")).expect("summary");
    assert!(summary.contains("Skipped trials") && summary.contains("acts on packets"));
}

/// On loopback (MTU 65536) both ends advertise and search past Ethernet's 1452 bytes, so a bulk
/// transfer runs in datagrams several times larger: fewer headers, seals and acknowledgements
/// per byte (QUIC was 0.35 of TCP on loopback at 1452, 0.59 with this).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_quic_discovers_datagrams_larger_than_ethernet() {
    use rrbench::transport::quic::{MAX_UDP_PAYLOAD, client_endpoint, connect, server_endpoint};
    let tmp = scratch();
    let cert = certificate(tmp.path(), &["localhost", "127.0.0.1"]);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let server = server_endpoint(
        socket,
        &cert,
        &QuicLiveness::default(),
        rrbench::vocabulary::CongestionControl::System,
    )
    .expect("server");
    let addr = server.local_addr().expect("addr");
    let receiver = tokio::spawn(async move {
        let conn = server
            .accept()
            .await
            .expect("incoming")
            .await
            .expect("handshake");
        let mut stream = conn.accept_uni().await.expect("stream");
        let got = stream.read_to_end(64 << 20).await.expect("read");
        (got.len(), conn, server)
    });
    let client = QuicClient {
        ca: cert.cert.clone(),
        server_name: None,
        identity: None,
    };
    let endpoint = client_endpoint(&client, &QuicLiveness::default(), addr).expect("client");
    let conn = connect(&endpoint, addr, &addr.to_string(), &client)
        .await
        .expect("connect");
    let mut stream = conn.open_uni().await.expect("open");
    let data = vec![7u8; 32 << 20];
    stream.write_all(&data).await.expect("write");
    stream.finish().expect("finish");
    let (len, _server_conn, _server) = receiver.await.expect("receiver");
    assert_eq!(len, data.len());
    let mtu = conn.stats().path.current_mtu;
    assert!(
        mtu > 1452 && mtu <= MAX_UDP_PAYLOAD,
        "the path MTU stayed at {mtu}"
    );
}
