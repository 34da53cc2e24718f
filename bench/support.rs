//! Shared by the end-to-end benches: a 128 MiB index on tmpfs, a leader, and one recovery timed
//! by the engine itself (from session open to the last file verified and fsynced; the clean-up
//! of the previous run's target is not part of it).

use std::{path::Path, sync::Arc, time::Duration};

use rrbench::{
    follower::{self, FollowerConfig, Progress},
    index::{GenerateSpec, IndexSnapshot, generate},
    rig::Rig,
    settings::{LeaderSettings, RecoverySettings},
    units::ByteSize,
};

/// Bytes in the benchmark index.
pub const INDEX_BYTES: u64 = 128 << 20;

/// A scratch directory on tmpfs when there is one.
pub fn scratch() -> tempfile::TempDir {
    let mut b = tempfile::Builder::new();
    b.prefix("rrbench-bench-");
    if Path::new("/dev/shm").is_dir() {
        b.tempdir_in("/dev/shm").expect("scratch")
    } else {
        b.tempdir().expect("scratch")
    }
}

/// A 128 MiB, 24-file index.
pub fn index(root: &Path) -> IndexSnapshot {
    let dir = root.join("leader");
    let spec = GenerateSpec {
        size: INDEX_BYTES,
        files: 24,
        seed: 7,
    };
    generate(&dir, &spec, |_| {}).expect("generate");
    IndexSnapshot::load(&dir).expect("load")
}

/// An unlimited leader on 127.0.0.1:0.
pub async fn rig(snapshot: &IndexSnapshot) -> Rig {
    let settings = LeaderSettings {
        max_bytes_per_sec: ByteSize(0),
        ..LeaderSettings::default()
    };
    Rig::builder()
        .leader(snapshot.clone(), settings)
        .start()
        .await
        .expect("leader")
}

/// One unlimited recovery with this chunk size and window; returns the engine's duration.
pub async fn recover(addr: &str, target: &Path, chunk: ByteSize, window: u32) -> Duration {
    let mut config = FollowerConfig::new(addr, target);
    config.settings = RecoverySettings {
        max_bytes_per_sec: ByteSize(0),
        chunk_size: chunk,
        max_concurrent_file_chunks: window,
        ..RecoverySettings::default()
    };
    let report = follower::recover(
        config,
        Arc::new(Progress::default()),
        std::future::pending(),
    )
    .await
    .expect("recovery");
    assert!(report.is_completed(), "{:?}", report.failure);
    Duration::from_secs_f64(report.duration_s)
}
