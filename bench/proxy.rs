//! What the L4 chaos proxy costs a recovery: the same 128 MiB recovery (1mb chunks, 5 in
//! flight, unlimited) directly and through `rrbench proxy` with no faults, in one group.
#![allow(missing_docs)]

#[path = "support.rs"]
mod support;

use std::{sync::Arc, time::Duration};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rrbench::{
    chaos::{EventLog, Proxy},
    clock::Clock,
    units::ByteSize,
};

fn proxy(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let tmp = support::scratch();
    let snapshot = support::index(tmp.path());
    let leader = runtime.block_on(support::leader(&snapshot));
    let proxy = runtime
        .block_on(
            Proxy {
                listen: "127.0.0.1:0".into(),
                upstream: leader.local_addr().to_string(),
                faults: vec![],
                seed: 1,
                events: Arc::new(EventLog::new(Clock::start())),
            }
            .start(),
        )
        .expect("proxy");
    let target = tmp.path().join("follower");

    let mut group = c.benchmark_group("proxy");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(support::INDEX_BYTES));
    for (label, addr) in [
        ("direct", leader.local_addr().to_string()),
        ("through_proxy", proxy.local_addr().to_string()),
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
    runtime.block_on(proxy.shutdown());
    runtime.block_on(leader.shutdown());
}

criterion_group!(benches, proxy);
criterion_main!(benches);
