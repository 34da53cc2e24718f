//! What the L4 chaos proxy costs a recovery: the same 128 MiB recovery (1mb chunks, 5 in
//! flight, unlimited) directly and through `rrbench proxy` with no faults, in one group.
#![allow(missing_docs)]

#[path = "support.rs"]
mod support;

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rrbench::units::ByteSize;

fn proxy(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let tmp = support::scratch();
    let snapshot = support::index(tmp.path());
    let rig = runtime.block_on(support::rig(&snapshot, true));
    let leader = rig.leader().expect("a leader").local_addr();
    let target = tmp.path().join("follower");

    let mut group = c.benchmark_group("proxy");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(support::INDEX_BYTES));
    for (label, addr) in [
        ("direct", leader.to_string()),
        ("through_proxy", rig.dial().to_string()),
    ] {
        group.bench_function(label, |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let (addr, target) = (addr.clone(), target.clone());
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += support::recover(&addr, &target, ByteSize::mib(1), 5).await;
                    }
                    total
                }
            })
        });
    }
    group.finish();
    runtime.block_on(rig.shutdown());
}

criterion_group!(benches, proxy);
criterion_main!(benches);
