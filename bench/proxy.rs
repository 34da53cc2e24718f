//! What the L4 chaos proxy costs a recovery: the same 128 MiB recovery (1mb chunks, 5 in
//! flight, unlimited) directly, through the proxy with no faults relaying with `splice(2)` (its
//! default when no fault touches the bytes), and through the proxy with zero copy off, so every
//! byte is copied through user space as when a fault touches it; in one group. Each proxy's
//! spliced-byte counter is printed at the end: the two proxied lines took the paths they name.
#![allow(missing_docs)]

#[path = "support.rs"]
mod support;

use std::{sync::Arc, time::Duration};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rrbench::units::ByteSize;
use rrbench_chaos::{EventLog, Proxy, ProxyHandle, clock::Clock};

/// A proxy with no faults in front of `upstream`, zero copy on or off.
async fn proxy_to(upstream: String, zero_copy: bool) -> ProxyHandle {
    let proxy = Proxy {
        listen: "127.0.0.1:0".into(),
        upstream,
        faults: Vec::new(),
        seed: 1,
        events: Arc::new(EventLog::new(Clock::start())),
    }
    .start()
    .await
    .expect("proxy");
    proxy.set_zero_copy(zero_copy);
    proxy
}

fn proxy(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let tmp = support::scratch();
    let snapshot = support::index(tmp.path());
    let rig = runtime.block_on(support::rig(&snapshot));
    let leader = rig.leader().expect("a leader").local_addr();
    let splice = runtime.block_on(proxy_to(leader.to_string(), true));
    let copy = runtime.block_on(proxy_to(leader.to_string(), false));
    let target = tmp.path().join("follower");

    let mut group = c.benchmark_group("proxy");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(support::INDEX_BYTES));
    for (label, addr) in [
        ("direct", leader.to_string()),
        ("through_proxy_splice", splice.local_addr().to_string()),
        ("through_proxy_copy", copy.local_addr().to_string()),
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
    for (label, proxy) in [("splice", &splice), ("copy", &copy)] {
        let s = proxy.stats_source().snapshot();
        let relayed = s.bytes_upstream + s.bytes_downstream;
        eprintln!(
            "proxy {label}: {relayed} bytes relayed, {} spliced ({:.1}%)",
            s.bytes_spliced,
            100.0 * s.bytes_spliced as f64 / relayed.max(1) as f64
        );
    }
    runtime.block_on(async {
        splice.shutdown().await;
        copy.shutdown().await;
        rig.shutdown().await;
    });
}

criterion_group!(benches, proxy);
criterion_main!(benches);
