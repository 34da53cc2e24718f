//! What the node rate limiter costs per chunk when it does not need to wait (at its highest
//! rate, `u64::MAX` bytes a second, a 64 KiB chunk costs a nanosecond: far below the bookkeeping
//! measured), with 1, 5 and 10 takers sharing it as a node's recoveries do.
//! Each taker pauses for 100 chunks per iteration, so task start-up is amortised: time per
//! iteration / (takers x 100) is the cost of one chunk.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rrbench::{ratelimit::NodeRateLimiter, units::ByteSize};

const CHUNK: u64 = 64 << 10;
const PAUSES_PER_TAKER: u64 = 100;

fn ratelimit(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("ratelimit");
    for takers in [1u64, 5, 10] {
        // The highest rate it takes: the limiter's bookkeeping is measured, not its waiting.
        let limiter = Arc::new(NodeRateLimiter::new(ByteSize(u64::MAX)));
        group.throughput(Throughput::Bytes(takers * PAUSES_PER_TAKER * CHUNK));
        group.bench_function(format!("pause_64KiB_x100/{takers}_takers"), |b| {
            b.to_async(&runtime).iter(|| {
                let limiter = limiter.clone();
                async move {
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..takers {
                        let l = limiter.clone();
                        set.spawn(async move {
                            for _ in 0..PAUSES_PER_TAKER {
                                l.pause(CHUNK).await;
                            }
                        });
                    }
                    while set.join_next().await.is_some() {}
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ratelimit);
criterion_main!(benches);
