//! TLS on the TCP transport with certificates made as users make them, with the `openssl`
//! command line: recovery (byte-identical, mTLS), pinning of a self-signed CA:TRUE certificate
//! (TCP and QUIC), and every refusal failing in one attempt with its cause in one line, on the
//! follower's side and, through the binaries, the leader's. Expired and not-yet-valid
//! certificates are made with rcgen: OpenSSL 3.0's `req`/`x509` have no `-not_before`.
//!
//! Without `openssl` on PATH the tests print why and pass, unless `RRBENCH_REQUIRE_OPENSSL` is
//! set (scripts/test.sh sets it and installs openssl).

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use common::{
    assert_identical, interrupt, make_index,
    pki::{Pki, have_openssl},
    rrbench_within, scratch, spawn_collecting, unlimited_follower, unlimited_leader,
};
use rrbench::{
    clock::Clock,
    follower::{self, FollowerConfig, Outcome, Progress, RecoveryReport},
    index::IndexSnapshot,
    leader::{self, LeaderConfig, LeaderHandle, QuicServer, TlsServer},
    rig::{Certificate, Rig},
    settings::RecoverySettings,
    transport::quic::{CertificatePaths, QuicLiveness, TlsClient},
    vocabulary::Transport,
};

const MIB: u64 = 1 << 20;

async fn tls_leader(
    snapshot: &IndexSnapshot,
    certificate: &CertificatePaths,
    client_ca: Option<&Path>,
) -> LeaderHandle {
    let config = LeaderConfig {
        settings: unlimited_leader(),
        tls: Some(TlsServer {
            certificate: certificate.clone(),
            client_ca: client_ca.map(Path::to_path_buf),
        }),
        ..LeaderConfig::default()
    };
    leader::start("127.0.0.1:0", snapshot.clone(), config, Clock::start())
        .await
        .expect("TLS leader starts")
}

fn client(ca: &Path) -> TlsClient {
    TlsClient {
        ca: ca.to_path_buf(),
        ..TlsClient::default()
    }
}

fn settings() -> RecoverySettings {
    RecoverySettings {
        tls: true,
        max_retries: 3,
        ..unlimited_follower()
    }
}

async fn recover(
    addr: &str,
    target: &Path,
    tls: Option<TlsClient>,
    quic: Option<TlsClient>,
) -> RecoveryReport {
    let mut config = FollowerConfig::new(addr, target);
    config.settings = settings();
    if quic.is_some() {
        config.settings.transport = Transport::Quic;
    }
    config.tls = tls;
    config.quic = quic;
    config.time_limit = Some(Duration::from_secs(60));
    follower::recover(
        config,
        Arc::new(Progress::default()),
        std::future::pending(),
    )
    .await
    .expect("recovery runs")
}

/// The recovery failed once, not retried, with a one-line message holding every `words`.
fn assert_refused(case: &str, report: &RecoveryReport, words: &[&str]) -> String {
    assert_eq!(
        report.outcome,
        Outcome::Failed,
        "{case}: {:?}",
        report.failure
    );
    let message = report.failure.clone().expect("a failure");
    assert_eq!(report.attempts, 1, "{case}: retried: {message}");
    assert!(!message.contains('\n'), "{case}: one line: {message}");
    for w in words {
        assert!(message.contains(w), "{case}: {w:?} missing from: {message}");
    }
    eprintln!("{case}: {message}");
    message
}

#[tokio::test]
async fn tls_recovery_of_64_mib_is_byte_identical_with_an_rsa_pkcs1_key() {
    if !have_openssl() {
        return;
    }
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 64 * MIB, 8, 18);
    let pki = Pki::new(&tmp.path().join("pki"));
    let ca = pki.ca("ca", "rrbench Test CA");
    let leaf = pki.issue(
        "leader",
        "leader",
        "DNS:localhost,IP:127.0.0.1",
        &ca,
        true,
        false,
    );
    let leaf = pki.traditional_key(&leaf, true);
    let leader = tls_leader(&snapshot, &leaf, None).await;
    let target = tmp.path().join("follower");
    let started = Instant::now();
    let addr = leader.local_addr().to_string();
    let report = recover(&addr, &target, Some(client(&ca.cert)), None).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_identical(&snapshot, &target);
    eprintln!("64 MiB over TLS in {:.2}s", started.elapsed().as_secs_f64());
    // The handshake's outcome is in the report: TLS 1.3 and the suite both sides prefer.
    let tls = report
        .tls
        .clone()
        .expect("the report names the TLS session");
    assert_eq!(tls.protocol, "TLSv1.3");
    let suite = tls.cipher_suite.clone().expect("a cipher suite");
    assert!(suite.starts_with("TLS13_"), "{suite}");
    assert_eq!(
        Some(suite),
        rrbench::transport::negotiated::local_preference().expected_tls13_suite,
        "env.json's expectation is what a recovery gets"
    );
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["tls"]["protocol"], "TLSv1.3", "{}", json["tls"]);
    leader.shutdown().await;
}

#[tokio::test]
async fn mtls_recovery_with_ecdsa_sec1_keys() {
    if !have_openssl() {
        return;
    }
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 4 * MIB, 4, 3);
    let pki = Pki::new(&tmp.path().join("pki"));
    let ca = pki.ca("ca", "rrbench Test CA");
    let server = pki.issue(
        "leader",
        "leader",
        "DNS:localhost,IP:127.0.0.1",
        &ca,
        false,
        false,
    );
    let server = pki.traditional_key(&server, false);
    let follower = pki.issue("follower", "follower", "DNS:follower", &ca, false, false);
    let leader = tls_leader(&snapshot, &server, Some(&ca.cert)).await;
    let target = tmp.path().join("follower");
    let mut c = client(&ca.cert);
    c.identity = Some(follower);
    let report = recover(&leader.local_addr().to_string(), &target, Some(c), None).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_identical(&snapshot, &target);

    // Without a client certificate: refused once, naming the flags.
    let report = recover(
        &leader.local_addr().to_string(),
        &tmp.path().join("anonymous"),
        Some(client(&ca.cert)),
        None,
    )
    .await;
    assert_refused(
        "no client certificate",
        &report,
        &["requires a client certificate", "--cert and --key"],
    );
    leader.shutdown().await;
}

#[tokio::test]
async fn an_openssl_self_signed_ca_true_certificate_is_pinned_over_tcp_and_quic() {
    if !have_openssl() {
        return;
    }
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 2 * MIB, 3, 4);
    let pki = Pki::new(&tmp.path().join("pki"));
    let pair = pki.self_signed("pinned");
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&pair.cert)
        .output()
        .expect("openssl x509");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"),
        "openssl req -x509 marks it CA:TRUE"
    );

    let leader = tls_leader(&snapshot, &pair, None).await;
    let target = tmp.path().join("tcp");
    let report = recover(
        &leader.local_addr().to_string(),
        &target,
        Some(client(&pair.cert)),
        None,
    )
    .await;
    assert_eq!(
        report.outcome,
        Outcome::Completed,
        "TCP: {:?}",
        report.failure
    );
    assert_identical(&snapshot, &target);
    // Pinned means this very certificate, and still for its names.
    let wrong_name = recover(
        &leader.local_addr().to_string(),
        &tmp.path().join("tcp-wrong-name"),
        Some(TlsClient {
            server_name: Some("other.example".into()),
            ..client(&pair.cert)
        }),
        None,
    )
    .await;
    assert_eq!(
        wrong_name.outcome,
        Outcome::Failed,
        "a pinned certificate keeps its names"
    );
    leader.shutdown().await;
    let twin = pki.self_signed("twin");
    let impostor = tls_leader(&snapshot, &twin, None).await;
    let refused = recover(
        &impostor.local_addr().to_string(),
        &tmp.path().join("tcp-twin"),
        Some(client(&pair.cert)),
        None,
    )
    .await;
    assert_eq!(
        refused.outcome,
        Outcome::Failed,
        "another certificate with the same subject and names is not the pinned one"
    );
    assert_eq!(refused.attempts, 1, "{:?}", refused.failure);
    impostor.shutdown().await;

    let config = LeaderConfig {
        settings: unlimited_leader(),
        quic: Some(QuicServer {
            certificate: pair.clone(),
            liveness: QuicLiveness::default(),
        }),
        ..LeaderConfig::default()
    };
    let leader = leader::start("127.0.0.1:0", snapshot.clone(), config, Clock::start())
        .await
        .expect("QUIC leader");
    let target = tmp.path().join("quic");
    let report = recover(
        &leader.local_addr().to_string(),
        &target,
        None,
        Some(client(&pair.cert)),
    )
    .await;
    assert_eq!(
        report.outcome,
        Outcome::Completed,
        "QUIC: {:?}",
        report.failure
    );
    assert_identical(&snapshot, &target);
    let tls = report.tls.expect("a QUIC report names its TLS");
    assert_eq!(tls.protocol, "QUIC/TLSv1.3");
    leader.shutdown().await;
}

#[tokio::test]
async fn each_refused_certificate_fails_once_naming_its_cause() {
    if !have_openssl() {
        return;
    }
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), MIB, 2, 5);
    let pki = Pki::new(&tmp.path().join("pki"));
    let sans = "DNS:localhost,IP:127.0.0.1";
    let ca = pki.ca("ca", "rrbench Test CA");
    let other = pki.ca("other", "Some Other CA");
    let intermediate = pki.issue("int", "rrbench Intermediate CA", "", &ca, true, true);
    let under_int = pki.issue("leaf-int", "leader", sans, &intermediate, false, false);
    let chain = pki.concat("chain.crt", &[&under_int.cert, &intermediate.cert]);
    let elsewhere = pki.issue("leaf-other", "leader", sans, &other, false, false);
    let wrong_name = pki.issue(
        "leaf-name",
        "leader",
        "DNS:leader.example",
        &ca,
        false,
        false,
    );
    let expired = pki.dated("expired", (2020, 1, 1), (2021, 1, 1));
    let future = pki.dated("future", (2090, 1, 1), (2091, 1, 1));

    let n = std::sync::atomic::AtomicUsize::new(0);
    let attempt = |cert: CertificatePaths, ca: PathBuf, name: Option<&'static str>| {
        let (snapshot, tmp) = (&snapshot, &tmp);
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move {
            let leader = tls_leader(snapshot, &cert, None).await;
            let mut c = client(&ca);
            c.server_name = name.map(str::to_string);
            let report = recover(
                &leader.local_addr().to_string(),
                &tmp.path().join(format!("f{i}")),
                Some(c),
                None,
            )
            .await;
            leader.shutdown().await;
            report
        }
    };

    // The chain with its intermediate works; without it, the missing intermediate is named.
    let sent = CertificatePaths {
        cert: chain,
        key: under_int.key.clone(),
    };
    let report = attempt(sent, ca.cert.clone(), None).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    let report = attempt(under_int.clone(), ca.cert.clone(), None).await;
    assert_refused(
        "missing intermediate",
        &report,
        &[
            "the leader did not send its intermediate CA [CN=rrbench Intermediate CA]",
            "did not provide a copy of the issuing certificate",
            "trusts 1 issuer(s): [CN=rrbench Test CA]",
        ],
    );

    let report = attempt(elsewhere, ca.cert.clone(), None).await;
    assert_refused(
        "unknown CA",
        &report,
        &[
            "not signed by a CA in --ca",
            "issued by [CN=Some Other CA]",
            "subject [CN=leader]",
            "subject alternative names [DNS:localhost,IP:127.0.0.1]",
            "fingerprint (SHA-256) [",
            "certificate dates are valid",
        ],
    );

    let report = attempt(wrong_name.clone(), ca.cert.clone(), None).await;
    assert_refused(
        "wrong name",
        &report,
        &[
            "the name \"127.0.0.1\" is not among",
            "--server-name",
            "[DNS:leader.example]",
        ],
    );
    let report = attempt(wrong_name, ca.cert.clone(), Some("leader.example")).await;
    assert_eq!(
        report.outcome,
        Outcome::Completed,
        "--server-name: {:?}",
        report.failure
    );

    let report = attempt(expired.clone(), expired.cert.clone(), Some("localhost")).await;
    assert_refused(
        "expired",
        &report,
        &[
            "the certificate has expired",
            "expired on 2021-01-01T00:00:00Z",
        ],
    );
    let report = attempt(future.clone(), future.cert.clone(), Some("localhost")).await;
    assert_refused(
        "not yet valid",
        &report,
        &[
            "the certificate is not valid yet",
            "not valid until 2090-01-01T00:00:00Z",
        ],
    );

    // A CA's own certificate as the leader's, while the follower trusts another CA.
    let report = attempt(other.clone(), ca.cert.clone(), Some("localhost")).await;
    assert_refused(
        "CA as the leader's certificate",
        &report,
        &["a CA certificate (CA:TRUE) is used as the leader's own"],
    );
}

#[tokio::test]
async fn plaintext_and_tls_sides_say_which_speaks_what() {
    if !have_openssl() {
        return;
    }
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), MIB, 2, 6);
    let pki = Pki::new(&tmp.path().join("pki"));
    let pair = pki.self_signed("pinned");

    // A plaintext follower to a TLS leader.
    let leader = tls_leader(&snapshot, &pair, None).await;
    let mut config = FollowerConfig::new(leader.local_addr().to_string(), tmp.path().join("a"));
    config.settings = RecoverySettings {
        max_retries: 3,
        ..unlimited_follower()
    };
    config.time_limit = Some(Duration::from_secs(30));
    let report = follower::recover(
        config,
        Arc::new(Progress::default()),
        std::future::pending(),
    )
    .await
    .expect("runs");
    assert_refused(
        "plaintext follower, TLS leader",
        &report,
        &[
            "the leader answered with TLS, not rrbench frames: it runs with --tls; recover with --tls",
        ],
    );
    leader.shutdown().await;

    // A TLS follower to a plaintext leader.
    let rig = Rig::builder()
        .leader(snapshot.clone(), unlimited_leader())
        .start()
        .await
        .expect("plaintext leader");
    let report = recover(
        &rig.dial().to_string(),
        &tmp.path().join("b"),
        Some(client(&pair.cert)),
        None,
    )
    .await;
    assert_refused(
        "TLS follower, plaintext leader",
        &report,
        &[
            "answered the TLS handshake in plaintext",
            "it does not run TLS",
        ],
    );
    rig.shutdown().await;
}

#[tokio::test]
async fn a_rig_with_tls_generates_its_certificate_and_the_follower_trusts_it() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 2 * MIB, 3, 7);
    let rig = Rig::builder()
        .leader(snapshot.clone(), unlimited_leader())
        .tls(true)
        .certificate(Certificate::Generate {
            dir: tmp.path().join("cert"),
            names: vec!["localhost".into()],
        })
        .start()
        .await
        .expect("TLS rig");
    let mut config = rig.follower_config(tmp.path().join("f"));
    assert!(config.tls.is_some() && config.settings.tls);
    config.settings.max_bytes_per_sec = rrbench::units::ByteSize(0);
    let report = follower::recover(
        config,
        Arc::new(Progress::default()),
        std::future::pending(),
    )
    .await
    .expect("runs");
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_identical(&snapshot, &tmp.path().join("f"));
    assert_eq!(
        report.tls.as_ref().map(|t| t.protocol.as_str()),
        Some("TLSv1.3")
    );
    rig.shutdown().await;
}

/// Through the binaries: a follower with a client certificate from another CA, and one whose
/// `--ca` does not trust the leader. Each exits 1 after one attempt with the cause in one line
/// on stderr, and the leader logs its side.
#[test]
fn the_binaries_refuse_a_wrong_client_certificate_on_both_sides() {
    if !have_openssl() {
        return;
    }
    let tmp = scratch();
    let pki = Pki::new(&tmp.path().join("pki"));
    let sans = "DNS:localhost,IP:127.0.0.1";
    let ca = pki.ca("ca", "rrbench Test CA");
    let rogue = pki.ca("rogue", "Rogue CA");
    let server = pki.issue("leader", "leader", sans, &ca, false, false);
    let stranger = pki.issue("stranger", "stranger", "DNS:stranger", &rogue, false, false);
    let member = pki.issue("member", "member", "DNS:member", &ca, false, false);
    let index = tmp.path().join("index");
    let out = rrbench_within(
        &[
            "gen-index",
            "--dir",
            index.to_str().expect("utf-8"),
            "--size",
            "1mb",
            "--files",
            "2",
        ],
        &[],
        Duration::from_secs(60),
    );
    assert!(out.status.success());
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let (index, cert, key, ca_file) = (s(&index), s(&server.cert), s(&server.key), s(&ca.cert));
    let (mut leader, first, rest) = spawn_collecting(&[
        "leader",
        "--dir",
        &index,
        "--listen",
        "127.0.0.1:0",
        "--tls",
        "--cert",
        &cert,
        "--key",
        &key,
        "--client-ca",
        &ca_file,
    ]);
    let addr = first.split_whitespace().nth(2).expect("ADDR").to_string();
    let recover = |target: &str, extra: &[&str]| {
        let target = tmp.path().join(target);
        let mut args = vec![
            "recover",
            "--from",
            &addr,
            "--dir",
            target.to_str().expect("utf-8"),
            "--max-bytes-per-sec",
            "0",
            "--max-retries",
            "3",
            "--tls",
        ];
        args.extend_from_slice(extra);
        rrbench_within(&args, &[], Duration::from_secs(60))
    };
    let (scert, skey, rogue_ca) = (s(&stranger.cert), s(&stranger.key), s(&rogue.cert));
    let cases: [(&str, Vec<&str>, &str); 2] = [
        (
            "client certificate from another CA",
            vec!["--ca", &ca_file, "--cert", &scert, "--key", &skey],
            "the leader did not trust this follower's client certificate",
        ),
        (
            "leader certificate from an untrusted CA",
            vec!["--ca", &rogue_ca, "--cert", &scert, "--key", &skey],
            "not signed by a CA in --ca",
        ),
    ];
    for (case, extra, cause) in cases {
        let out = recover(case.split(' ').next().expect("word"), &extra);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{case}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.contains(cause)).collect();
        assert!(!lines.is_empty(), "{case}: {cause:?} not on stderr: {err}");
        assert!(
            err.contains("1 attempt") || !err.contains("attempt 2"),
            "{case}: {err}"
        );
        eprintln!("{case}: {}", lines[0]);
    }
    // A follower the leader trusts, and which trusts it: the TLS session is in `--json` (in
    // the report) and in the summary, one line.
    let (mcert, mkey) = (s(&member.cert), s(&member.key));
    let trusted = ["--ca", ca_file.as_str(), "--cert", &mcert, "--key", &mkey];
    let out = recover("json", &[&trusted[..], &["--json"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let tls = &doc["end"]["report"]["tls"];
    assert_eq!(tls["protocol"], "TLSv1.3", "{tls}");
    let suite = tls["cipher_suite"].as_str().expect("a cipher suite");
    assert!(suite.starts_with("TLS13_"), "{suite}");
    let out = recover("text", &trusted);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let line = format!("tls                 TLSv1.3 {suite}");
    assert!(
        stdout.lines().any(|l| l.trim() == line),
        "{line:?} not in: {stdout}"
    );
    eprintln!("{}", line);
    assert!(interrupt(&mut leader).success());
    let log = rest.join().expect("leader log").join("\n");
    assert!(
        log.contains("the client's certificate is not trusted")
            && log.contains("not signed by a CA in --client-ca"),
        "{log}"
    );
    // The follower's refusal reaches the leader as its alert (unknown_ca: the leader's issuer
    // is not the follower's CA), logged with the follower's address.
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains(
                "127.0.0.1:",
            ) && l.contains(
                ": client did not trust this server's certificate (TLS alert unknown_ca), closing \
                 connection",
            )
        })
        .collect();
    assert!(!refused.is_empty(), "{log}");
    eprintln!("leader: {}", refused[0]);
}

/// A pinned certificate is still checked for its purpose (an extended key usage without
/// serverAuth is refused, as WebPKI refuses it in a chain), and QUIC refusals carry the same
/// one-line diagnosis as TLS over TCP.
#[tokio::test]
async fn a_client_only_pinned_certificate_and_an_unknown_ca_over_quic_are_named() {
    if !have_openssl() {
        return;
    }
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), MIB, 2, 5);
    let pki = Pki::new(&tmp.path().join("pki"));
    pki.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-addext",
        "extendedKeyUsage=clientAuth",
        "-days",
        "30",
        "-keyout",
        "client-only.key",
        "-out",
        "client-only.crt",
    ]);
    let client_only = pki.paths("client-only");
    let leader = tls_leader(&snapshot, &client_only, None).await;
    let report = recover(
        &leader.local_addr().to_string(),
        &tmp.path().join("client-only"),
        Some(client(&client_only.cert)),
        None,
    )
    .await;
    assert_refused(
        "pinned, clientAuth only",
        &report,
        &["not for a server", "does not include serverAuth"],
    );
    leader.shutdown().await;

    let ca = pki.ca("ca", "rrbench Test CA");
    let other = pki.ca("other", "Some Other CA");
    let elsewhere = pki.issue(
        "leaf-other",
        "leader",
        "DNS:localhost,IP:127.0.0.1",
        &other,
        false,
        false,
    );
    let config = LeaderConfig {
        settings: unlimited_leader(),
        quic: Some(QuicServer {
            certificate: elsewhere,
            liveness: QuicLiveness::default(),
        }),
        ..LeaderConfig::default()
    };
    let leader = leader::start("127.0.0.1:0", snapshot.clone(), config, Clock::start())
        .await
        .expect("QUIC leader");
    let report = recover(
        &leader.local_addr().to_string(),
        &tmp.path().join("quic-unknown-ca"),
        None,
        Some(client(&ca.cert)),
    )
    .await;
    assert_refused(
        "QUIC, unknown CA",
        &report,
        &[
            "not signed by a CA in --ca",
            "issued by [CN=Some Other CA]",
            "trusts 1 issuer(s): [CN=rrbench Test CA]",
        ],
    );
    leader.shutdown().await;
}
