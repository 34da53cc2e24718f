//! End-to-end loopback recovery of a 128 MiB index into tmpfs, unlimited, for chunk_size x
//! max_concurrent_file_chunks. Every chunk is checksummed twice (leader and follower) and every
//! file fsynced and renamed, as in a real recovery.
#![allow(missing_docs)]

#[path = "support.rs"]
mod support;

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rrbench::units::ByteSize;

fn recovery(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let tmp = support::scratch();
    let snapshot = support::index(tmp.path());
    let rig = runtime.block_on(support::rig(&snapshot));
    let addr = rig.dial().to_string();
    let target = tmp.path().join("follower");

    let mut group = c.benchmark_group("recovery");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(support::INDEX_BYTES));
    for (label, chunk) in [
        ("64kb", ByteSize::kib(64)),
        ("1mb", ByteSize::mib(1)),
        ("10mb", ByteSize::mib(10)),
    ] {
        for window in [1u32, 5, 10] {
            group.bench_function(format!("chunk_{label}/window_{window}"), |b| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let (addr, target) = (addr.clone(), target.clone());
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            total += support::recover(&addr, &target, chunk, window).await;
                        }
                        total
                    }
                })
            });
        }
    }
    group.finish();
    runtime.block_on(rig.shutdown());
}

criterion_group!(benches, recovery);
criterion_main!(benches);
