//! The leader answers a block-aligned chunk with a checksum folded from the block checksums it
//! took at load time (and, to followers on other hosts, with the bytes sent from the page cache
//! by `sendfile`, whose framing `leader::writer`'s tests check); any other chunk it reads and
//! checksums. Either way the follower accepts only bytes that match the leader's checksums.
//! `zero_copy = always` makes a loopback leader take the `sendfile` path, so these tests cross
//! both.

mod common;

use std::{fs, os::unix::fs::FileExt};

use common::*;
use rrbench::{
    follower::{FailureKind, Outcome},
    index::IndexSnapshot,
    units::ByteSize,
    vocabulary::ZeroCopy,
};

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 131) as u8).wrapping_add((i >> 9) as u8) ^ seed)
        .collect()
}

/// A byte of a leader file changed after the leader checksummed it: the bytes sent no longer
/// match the chunk checksum folded from the load-time block checksums, and the follower must
/// say so rather than keep the file, whether the leader read the bytes or sent them from the
/// page cache (`zero_copy = always`, which loopback otherwise never takes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_file_changed_after_loading_is_caught_not_accepted() {
    let tmp = scratch();
    let dir = tmp.path().join("leader");
    fs::create_dir_all(&dir).expect("leader dir");
    fs::write(dir.join("a"), bytes(1, 3 << 20)).expect("a");
    fs::write(dir.join("b"), bytes(2, 100_000)).expect("b");
    let snapshot = IndexSnapshot::load(&dir).expect("load");
    // In place: the snapshot's open handle sees the change.
    let file = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("a"))
        .expect("open");
    file.write_all_at(&[0x5a ^ bytes(1, 1_500_001)[1_500_000]], 1_500_000)
        .expect("change a byte");
    for zero_copy in [ZeroCopy::Auto, ZeroCopy::Always] {
        let leader = start_leader(&snapshot, leader_settings(zero_copy)).await;
        let target = tmp.path().join(format!("follower-{zero_copy}"));
        let report = recover(leader.local_addr(), &target, unlimited_follower()).await;
        assert_eq!(report.outcome, Outcome::Failed, "{zero_copy}");
        assert_eq!(report.failures[0].kind, FailureKind::Corrupt, "{report:?}");
        assert!(!target.join("a").exists(), "a changed file was accepted");
        let from_file = leader.stats().bytes_sent_from_file;
        match zero_copy {
            ZeroCopy::Always => assert!(from_file > 0, "nothing went by sendfile"),
            _ => assert_eq!(
                from_file, 0,
                "sendfile on loopback with zero_copy {zero_copy}"
            ),
        }
        leader.shutdown().await;
    }
}

/// Chunk sizes that are not a multiple of the checksum block are checksummed on the leader from
/// their bytes; whole-block ones from the block checksums (and with `zero_copy = always` sent
/// from the page cache): all recover the index intact, every file length (empty, under a block,
/// a block and a bit, several chunks) included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aligned_and_unaligned_chunk_sizes_recover_intact() {
    let tmp = scratch();
    let dir = tmp.path().join("leader");
    fs::create_dir_all(&dir).expect("leader dir");
    for (i, len) in [0usize, 1, 65_535, 65_537, (1 << 20) + 3, 3 << 20]
        .into_iter()
        .enumerate()
    {
        fs::write(dir.join(format!("f{i}")), bytes(i as u8, len)).expect("file");
    }
    let snapshot = IndexSnapshot::load(&dir).expect("load");
    for zero_copy in [ZeroCopy::Auto, ZeroCopy::Always, ZeroCopy::Never] {
        let leader = start_leader(&snapshot, leader_settings(zero_copy)).await;
        for chunk in [ByteSize(1 << 20), ByteSize(100_000), ByteSize(64 << 10)] {
            let target = tmp.path().join(format!("follower-{zero_copy}-{}", chunk.0));
            let mut settings = unlimited_follower();
            settings.chunk_size = chunk;
            let report = recover(leader.local_addr(), &target, settings).await;
            assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
            assert_identical(&snapshot, &target);
        }
        let stats = leader.stats();
        match zero_copy {
            // The aligned chunks (1 MiB, 64 KiB) from the page cache; 100 000-byte ones read.
            ZeroCopy::Always => assert!(
                stats.bytes_sent_from_file > 0 && stats.bytes_sent_from_file < stats.bytes_sent,
                "{stats:?}"
            ),
            _ => assert_eq!(stats.bytes_sent_from_file, 0, "{stats:?}"),
        }
        leader.shutdown().await;
    }
}

/// A leader file cut short after loading, sent from the page cache: the leader sees the file
/// is shorter than the chunk before `sendfile` and answers with an error instead, so the
/// follower fails that file and never keeps a short copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_file_cut_short_after_loading_fails_the_recovery_by_sendfile_too() {
    let tmp = scratch();
    let dir = tmp.path().join("leader");
    fs::create_dir_all(&dir).expect("leader dir");
    fs::write(dir.join("a"), bytes(3, 3 << 20)).expect("a");
    let snapshot = IndexSnapshot::load(&dir).expect("load");
    fs::OpenOptions::new()
        .write(true)
        .open(dir.join("a"))
        .expect("open")
        .set_len(1 << 20)
        .expect("cut");
    let leader = start_leader(&snapshot, leader_settings(ZeroCopy::Always)).await;
    let target = tmp.path().join("follower");
    let mut settings = unlimited_follower();
    settings.max_retries = 1;
    let report = recover(leader.local_addr(), &target, settings).await;
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    assert!(!target.join("a").exists(), "a short copy was kept");
    // The first chunk, still whole, went from the page cache.
    assert!(
        leader.stats().bytes_sent_from_file > 0,
        "no sendfile at all"
    );
    leader.shutdown().await;
}

/// An unlimited leader sending chunk bytes as `zero_copy` says.
fn leader_settings(zero_copy: ZeroCopy) -> rrbench::settings::LeaderSettings {
    rrbench::settings::LeaderSettings {
        zero_copy,
        ..unlimited_leader()
    }
}
