//! "Verified" means the file under its real name has the leader's bytes: file lists that once
//! fooled the follower, against the real leader and against a leader that lists anything.

mod common;

use std::{fs, path::Path};

use common::{
    fake_leader::{self, FakeIndex},
    *,
};
use rrbench::{
    follower::{FailureKind, Outcome, RecoveryReport},
    index::{IndexSnapshot, PARTS},
    protocol::FileMeta,
};

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Files in `dir`, hidden ones (marker, journal, parts) left out.
fn listed(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("target")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn assert_refused(report: &RecoveryReport, says: &str) {
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.attempts, 1, "a bad list is not retried");
    assert_eq!(report.failures[0].kind, FailureKind::Protocol);
    let why = report.failure.as_deref().unwrap_or_default();
    assert!(why.contains(says), "{why}");
}

/// A file named like another file's old temporary name (`a` and `a.rrbench-part`): in 24 of 30
/// runs the follower said "2/2 verified" and `a` held the other file's 5 000 bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_named_like_a_temporary_name_is_recovered_intact_from_a_real_leader() {
    let tmp = scratch();
    let dir = tmp.path().join("leader");
    fs::create_dir_all(&dir).expect("leader dir");
    fs::write(dir.join("a"), bytes(1, 9_000)).expect("a");
    fs::write(dir.join("a.rrbench-part"), bytes(2, 5_000)).expect("a.rrbench-part");
    let snapshot = IndexSnapshot::load(&dir).expect("load");
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    for run in 0..10 {
        let target = tmp.path().join(format!("follower-{run}"));
        let report = recover(leader.local_addr(), &target, unlimited_follower()).await;
        assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
        assert_eq!(report.files_verified, 2);
        assert_identical(&snapshot, &target);
    }
    leader.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_named_like_a_temporary_name_is_recovered_intact_from_a_fake_leader() {
    let tmp = scratch();
    let (a, part) = (bytes(1, 9_000), bytes(2, 5_000));
    let addr = fake_leader::start(FakeIndex::honest(&[
        ("a", a.clone()),
        ("a.rrbench-part", part.clone()),
    ]))
    .await;
    let target = tmp.path().join("follower");
    let report = recover(addr, &target, unlimited_follower()).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_eq!(fs::read(target.join("a")).expect("a"), a);
    assert_eq!(fs::read(target.join("a.rrbench-part")).expect("part"), part);
    assert_eq!(listed(&target), ["a", "a.rrbench-part"]);
}

/// Two entries named `a` with different bytes: once exit 1 with the wrong `a` left in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_naming_a_file_twice_is_refused_and_writes_nothing() {
    let tmp = scratch();
    let addr = fake_leader::start(FakeIndex::honest(&[
        ("a", bytes(1, 9_000)),
        ("a", bytes(2, 5_000)),
    ]))
    .await;
    let target = tmp.path().join("follower");
    let report = recover(addr, &target, unlimited_follower()).await;
    assert_refused(&report, "more than once");
    assert!(listed(&target).is_empty(), "{:?}", listed(&target));
}

/// A terabyte file once left a terabyte sparse part file behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_larger_than_max_file_size_is_refused_before_any_part_file() {
    let tmp = scratch();
    let mut index = FakeIndex::honest(&[("small", bytes(1, 100))]);
    index.listed.push(FileMeta {
        name: "huge".into(),
        len: 1 << 40,
        crc32c: 0,
    });
    let addr = fake_leader::start(index).await;
    let target = tmp.path().join("follower");
    let report = recover(addr, &target, unlimited_follower()).await;
    assert_refused(&report, "max_file_size");
    assert!(!target.join(PARTS).exists());
    assert!(listed(&target).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_longer_than_max_files_is_refused() {
    let tmp = scratch();
    let files: Vec<(String, Vec<u8>)> = (0..200_000).map(|i| (format!("_{i}"), vec![])).collect();
    let named: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let addr = fake_leader::start(FakeIndex::honest(&named)).await;
    let target = tmp.path().join("follower");
    let report = recover(addr, &target, unlimited_follower()).await;
    assert_refused(&report, "max_files");
    assert!(listed(&target).is_empty());
}

/// A listing that fits max_file_size but not the target's filesystem is refused up front, not
/// discovered as a write error half-way (nor left behind as sparse part files).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_larger_than_the_free_space_is_refused_before_any_part_file() {
    let tmp = scratch();
    let free = rrbench::index::free_bytes(tmp.path()).expect("statvfs");
    let index = FakeIndex {
        listed: (0..4)
            .map(|i| FileMeta {
                name: format!("_{i}"),
                len: free / 2,
                crc32c: 0,
            })
            .collect(),
        contents: vec![],
    };
    let addr = fake_leader::start(index).await;
    let target = tmp.path().join("follower");
    let mut settings = unlimited_follower();
    settings.max_file_size = rrbench::units::ByteSize(u64::MAX);
    let report = recover(addr, &target, settings).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.attempts, 1, "a full disk is not retried");
    let why = report.failure.as_deref().unwrap_or_default();
    assert!(why.contains("free") && why.contains("--dir"), "{why}");
    assert!(!target.join(PARTS).exists());
}
