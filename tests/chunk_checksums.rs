//! The leader answers a block-aligned chunk with a checksum folded from the block checksums it
//! took at load time (and, to followers on other hosts, with the bytes sent from the page cache
//! by `sendfile`, whose framing `leader::writer`'s tests check); any other chunk it reads and
//! checksums. Either way the follower accepts only bytes that match the leader's checksums.

mod common;

use std::{fs, os::unix::fs::FileExt};

use common::*;
use rrbench::{
    follower::{FailureKind, Outcome},
    index::IndexSnapshot,
    units::ByteSize,
};

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 131) as u8).wrapping_add((i >> 9) as u8) ^ seed)
        .collect()
}

/// A byte of a leader file changed after the leader checksummed it: the bytes sent no longer
/// match the chunk checksum folded from the load-time block checksums, and the follower must
/// say so rather than keep the file.
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
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    let target = tmp.path().join("follower");
    let report = recover(leader.local_addr(), &target, unlimited_follower()).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.failures[0].kind, FailureKind::Corrupt, "{report:?}");
    assert!(!target.join("a").exists(), "a changed file was accepted");
    leader.shutdown().await;
}

/// Chunk sizes that are not a multiple of the checksum block are checksummed on the leader from
/// their bytes; whole-block ones from the block checksums: both recover the index intact, every
/// file length (empty, under a block, a block and a bit, several chunks) included.
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
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    for chunk in [ByteSize(1 << 20), ByteSize(100_000), ByteSize(64 << 10)] {
        let target = tmp.path().join(format!("follower-{}", chunk.0));
        let mut settings = unlimited_follower();
        settings.chunk_size = chunk;
        let report = recover(leader.local_addr(), &target, settings).await;
        assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
        assert_identical(&snapshot, &target);
    }
    leader.shutdown().await;
}
