//! The three recovery policies under the same faults, through the chaos proxy: what each
//! costs in bytes and whether it finishes.

mod common;

use std::{sync::Arc, time::Duration};

use common::*;
use rrbench::{
    chaos::ProxyHandle,
    clock::Clock,
    follower::{self, FailureKind, FollowerConfig, Outcome, Progress, RecoveryReport},
    index::IndexSnapshot,
    leader::LeaderHandle,
    settings::{LeaderSettings, RecoverySettings},
    units::ByteSize,
    vocabulary::Policy,
};

const MIB: u64 = 1 << 20;

struct Rig {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    snapshot: IndexSnapshot,
    _leader: LeaderHandle,
    proxy: ProxyHandle,
    clock: Clock,
}

/// An index of `size`, a leader limited to `rate` (0 = unlimited), a proxy with `faults`.
async fn rig(size: u64, rate: ByteSize, faults: &[&str], seed: u64) -> Rig {
    let tmp = scratch();
    let root = tmp.path().to_path_buf();
    let snapshot = make_index(&root, size, 8, seed);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            max_bytes_per_sec: rate,
            ..LeaderSettings::default()
        },
    )
    .await;
    let clock = Clock::start();
    let proxy = start_proxy(leader.local_addr(), faults, seed, clock).await;
    Rig {
        clock,
        _tmp: tmp,
        root,
        snapshot,
        _leader: leader,
        proxy,
    }
}

async fn run(
    rig: &Rig,
    name: &str,
    settings: RecoverySettings,
    time_limit: Option<Duration>,
) -> RecoveryReport {
    recover_within(
        rig.proxy.local_addr(),
        &rig.root.join(name),
        settings,
        time_limit,
    )
    .await
}

fn settings(policy: Policy) -> RecoverySettings {
    RecoverySettings {
        policy,
        max_bytes_per_sec: ByteSize(0),
        time_scale: 0.01,
        ..RecoverySettings::default()
    }
}

/// One reset, on whichever channel carries the 20th MiB (of 32): past half-way whatever the
/// machine's load, and only once, so the next attempt runs untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_past_half_way_costs_elasticsearch_everything_and_resumable_only_the_window() {
    let size = 32 * MIB;
    for policy in [Policy::Elasticsearch, Policy::Resumable] {
        let tmp = scratch();
        let snapshot = make_index(tmp.path(), size, 8, 41);
        let leader = start_leader(&snapshot, unlimited_leader()).await;
        let addr = reset_relay(leader.local_addr(), 20 * MIB).await;
        let target = tmp.path().join(policy.to_string());
        let report = recover(addr, &target, settings(policy)).await;
        assert_eq!(
            report.outcome,
            Outcome::Completed,
            "{policy}: {:?}",
            report.failure
        );
        assert_eq!(
            report.failures[0].kind,
            FailureKind::Reset,
            "{policy}: {:?}",
            report.failures
        );
        assert_identical(&snapshot, &target);
        match policy {
            Policy::Elasticsearch => {
                assert_eq!(report.attempts, 2);
                assert!(
                    report.bytes_transferred >= size + size / 2,
                    "re-transferred from zero: {}",
                    report.bytes_transferred
                );
                assert!(
                    report.bytes_wasted >= size / 2,
                    "wasted {}",
                    report.bytes_wasted
                );
                assert_eq!(report.bytes_wasted, report.bytes_transferred - size);
            }
            _ => {
                let window = 5 * MIB; // max_concurrent_file_chunks x chunk_size
                assert!(
                    report.bytes_wasted <= window,
                    "resumable wasted {} > window x chunk",
                    report.bytes_wasted
                );
                assert!(report.bytes_transferred <= size + window);
            }
        }
        leader.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_times_out_elasticsearch() {
    let rig = rig(16 * MIB, ByteSize::mib(8), &["blackhole:start=300ms"], 42).await;
    let s = RecoverySettings {
        internal_action_timeout: Duration::from_millis(500),
        max_retries: 2,
        ..settings(Policy::Elasticsearch)
    };
    let report = run(&rig, "es", s, Some(Duration::from_secs(30))).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.kind == FailureKind::Timeout),
        "{:?}",
        report.failures
    );
    let failure = report.failure.expect("reason");
    assert!(failure.starts_with("timeout"), "{failure}");
    assert!(
        report.duration_s < 30.0,
        "ended by internal_action_timeout, not by the time limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_holds_opensearch_until_the_time_limit() {
    let rig = rig(16 * MIB, ByteSize::mib(8), &["blackhole:start=300ms"], 43).await;
    let limit = Duration::from_secs(3);
    let report = run(&rig, "os", settings(Policy::Opensearch), Some(limit)).await;
    assert_eq!(report.outcome, Outcome::Failed);
    let last = report.failures.last().expect("a failure");
    assert_eq!(last.kind, FailureKind::TimeLimit, "{:?}", report.failures);
    let failure = report.failure.expect("reason");
    assert!(failure.contains("time limit"), "{failure}");
    assert!(
        failure.contains("no per-request timeout"),
        "the summary says why only the time limit ends it: {failure}"
    );
    assert!(
        report.duration_s >= limit.as_secs_f64(),
        "only the time limit stopped it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumable_detects_a_blackhole_and_completes_after_it_lifts() {
    let rig = rig(
        16 * MIB,
        ByteSize::mib(8),
        &["blackhole:start=300ms,duration=1500ms"],
        44,
    )
    .await;
    let iat = Duration::from_millis(500);
    let mut config = FollowerConfig::new(
        rig.proxy.local_addr().to_string(),
        rig.root.join("resumable"),
    );
    config.settings = RecoverySettings {
        internal_action_timeout: iat,
        // 5 x 256 KiB at the leader's 8 MiB/s queue for about 160 ms, well inside the 500 ms
        // timeout (leader pauses count against it, as in Elasticsearch).
        chunk_size: ByteSize::kib(256),
        ping_schedule: Some(Duration::from_millis(200)),
        max_retries: 100,
        ..settings(Policy::Resumable)
    };
    config.time_limit = Some(Duration::from_secs(30));
    config.clock = rig.clock; // the proxy's clock: fault windows and failures line up
    let mut report = follower::recover(
        config,
        Arc::new(Progress::default()),
        std::future::pending(),
    )
    .await
    .expect("recovery runs");
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert!(!report.failures.is_empty(), "the blackhole was detected");
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.kind == FailureKind::Timeout),
        "{:?}",
        report.failures
    );
    assert!(report.pings_sent > 0);
    assert_identical(&rig.snapshot, &rig.root.join("resumable"));

    report.annotate_faults(&rig.proxy.events().since(0));
    let window = report
        .faults
        .iter()
        .find(|f| f.kind == "blackhole")
        .expect("the window");
    let detect = window.time_to_detect_s.expect("detected");
    assert!(
        detect <= 2.0 * iat.as_secs_f64(),
        "detected {detect:.2}s after the blackhole began"
    );
    assert!(
        window.time_to_recover_s.is_some(),
        "goodput came back: {window:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_policy_rejects_corruption() {
    for (i, policy) in [Policy::Elasticsearch, Policy::Opensearch, Policy::Resumable]
        .into_iter()
        .enumerate()
    {
        let rig = rig(
            16 * MIB,
            ByteSize(0),
            &["corrupt:probability=1e-6,direction=downstream"],
            45 + i as u64,
        )
        .await;
        let name = policy.to_string();
        let report = run(&rig, &name, settings(policy), Some(Duration::from_secs(30))).await;
        assert_eq!(
            report.outcome,
            Outcome::Failed,
            "{policy}: never a silent success"
        );
        let last = report.failures.last().expect("a failure");
        assert_eq!(
            last.kind,
            FailureKind::Corrupt,
            "{policy}: {:?}",
            report.failures
        );
        // Nothing with a real name differs from the leader.
        for entry in std::fs::read_dir(rig.root.join(&name)).expect("target") {
            let file_name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if let Some(f) = rig
                .snapshot
                .files()
                .iter()
                .find(|f| f.meta.name == file_name)
            {
                let bytes = std::fs::read(rig.root.join(&name).join(&file_name)).expect("read");
                assert_eq!(
                    crc32c::crc32c(&bytes),
                    f.meta.crc32c,
                    "{policy}: {file_name} accepted corrupt"
                );
            }
        }
    }
}

/// kill -9 of a resumable follower process half-way, then a restart: it completes from its
/// journal and transfers no more than what was left plus one window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_resumable_follower_resumes_from_its_journal() {
    let size = 32 * MIB;
    let rig = rig(size, ByteSize::mib(16), &[], 46).await;
    let target = rig.root.join("killed");
    let args = [
        "recover",
        "--from",
        &rig.proxy.local_addr().to_string(),
        "--dir",
        target.to_str().expect("utf-8"),
        "--policy",
        "resumable",
        "--max-bytes-per-sec",
        "0",
        "--json",
        "--no-progress",
    ]
    .map(String::from);
    let bin = env!("CARGO_BIN_EXE_rrbench");
    let mut first = std::process::Command::new(bin)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // The leader paces at 16 MiB/s: after about a second half the index is on disk.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    first.kill().expect("kill -9");
    first.wait().expect("reap");
    let journal = std::fs::read_to_string(target.join(rrbench::index::JOURNAL)).expect("journal");
    assert!(
        journal.lines().count() > 2,
        "chunks were journaled before the kill"
    );

    let out =
        tokio::task::spawn_blocking(move || std::process::Command::new(bin).args(&args).output())
            .await
            .expect("join")
            .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let report: RecoveryReport =
        serde_json::from_value(document["end"]["report"].clone()).expect("end.report");
    assert_eq!(report.outcome, Outcome::Completed);
    assert!(report.bytes_resumed > 0, "resumed from the journal");
    assert!(report.bytes_resumed < size, "the kill came before the end");
    let remaining = size - report.bytes_resumed;
    assert!(
        report.bytes_transferred <= remaining + 5 * MIB,
        "transferred {} for {} remaining",
        report.bytes_transferred,
        remaining
    );
    assert_identical(&rig.snapshot, &target);
}

/// kill -9 can tear the journal's last line. The next run must not glue its entries to the torn
/// bytes: once it did, and the run after it re-fetched all 64 MiB although 41.9 MB of finished
/// files were on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_journal_line_loses_nothing_recorded_after_it() {
    let size = 32 * MIB;
    let rig = rig(size, ByteSize::mib(16), &[], 47).await;
    let resumable = || settings(Policy::Resumable);
    let slice = Some(Duration::from_millis(700));
    let first = run(&rig, "torn", resumable(), slice).await;
    assert_eq!(first.outcome, Outcome::Failed, "the time limit came first");
    let journal = rig.root.join("torn").join(rrbench::index::JOURNAL);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .and_then(|mut f| std::io::Write::write_all(&mut f, br#"{"entry":"chunk","fi"#))
        .expect("tear the last line");

    let second = run(&rig, "torn", resumable(), slice).await;
    assert_eq!(second.outcome, Outcome::Failed, "the time limit came first");
    let kept_by_second = second.bytes_transferred - second.bytes_wasted;
    assert!(kept_by_second > 0, "the second run made progress");

    let third = run(&rig, "torn", resumable(), None).await;
    assert_eq!(third.outcome, Outcome::Completed, "{:?}", third.failure);
    assert!(
        third.bytes_resumed >= second.bytes_resumed + kept_by_second,
        "resumed {} but the runs before had kept {} + {}",
        third.bytes_resumed,
        second.bytes_resumed,
        kept_by_second
    );
    assert_identical(&rig.snapshot, &rig.root.join("torn"));
}
