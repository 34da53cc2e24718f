//! The node-wide byte rate limiter (`ccr.indices.recovery.max_bytes_per_sec`).
//!
//! Two kinds: [`NodeRateLimiter`] (first come, first served, as Elasticsearch's) for the
//! follower, and [`FairRateLimiter`] for the leader, which shares the rate evenly between
//! sessions so that one follower pipelining huge requests cannot starve the others.
//!
//! Elasticsearch keeps one limiter per node, shared by every recovery, and throttles a chunk on
//! the leader before reading it *and* on the follower after receiving it. Both sides throttle,
//! so the limiters live here rather than under `leader/` or `follower/` (a small departure from
//! the design's layout). [`NodeRateLimiter`] wraps a governor GCRA limiter counting KiB, with a
//! burst of 20 ms worth of bytes: small enough that the rate holds within a few percent over
//! seconds, large enough that a 1 MiB chunk at 40 MiB/s costs a handful of waits, not hundreds.

mod fair;
mod fair_share;

pub use fair::FairRateLimiter;
pub use fair_share::{FairShare, Grants, Ticket};

use std::{num::NonZeroU32, time::Duration};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::units::ByteSize;

/// Limits bytes per second across every caller that shares it (clone an `Arc` of it).
#[derive(Debug)]
pub struct NodeRateLimiter {
    rate: ByteSize,
    inner: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
}

impl NodeRateLimiter {
    /// A limiter for `rate` bytes per second; `0` is unlimited. Rates below 1 KiB/s are rounded
    /// up to 1 KiB/s (settings validation refuses them first).
    pub fn new(rate: ByteSize) -> Self {
        if rate.bytes() == 0 {
            return Self { rate, inner: None };
        }
        let kib_per_sec = (rate.bytes() / 1024).clamp(1, u64::from(u32::MAX)) as u32;
        let per_sec = NonZeroU32::new(kib_per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(kib_per_sec / 50).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_sec).allow_burst(burst);
        Self {
            rate,
            inner: Some((RateLimiter::direct(quota), burst)),
        }
    }

    /// The configured rate (`0b` when unlimited).
    pub fn rate(&self) -> ByteSize {
        self.rate
    }

    /// Whether this limiter never waits.
    pub fn is_unlimited(&self) -> bool {
        self.inner.is_none()
    }

    /// Waits until `bytes` may pass; returns how long it waited.
    pub async fn pause(&self, bytes: u64) -> Duration {
        let Some((limiter, burst)) = &self.inner else {
            return Duration::ZERO;
        };
        let start = Instant::now();
        let mut cells = bytes.div_ceil(1024);
        while cells > 0 {
            let take = cells.min(u64::from(burst.get())) as u32;
            let n = NonZeroU32::new(take).unwrap_or(NonZeroU32::MIN);
            // `take` never exceeds the burst, so capacity is always sufficient.
            let _ = limiter.until_n_ready(n).await;
            cells -= u64::from(take);
        }
        start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unlimited_never_waits() {
        let l = NodeRateLimiter::new(ByteSize(0));
        assert!(l.is_unlimited());
        assert_eq!(l.pause(1 << 30).await, Duration::ZERO);
    }

    #[tokio::test]
    async fn limited_rate_is_held_over_many_chunks() {
        // 8 MiB at 16 MiB/s: about half a second, shared by four concurrent takers.
        let l = std::sync::Arc::new(NodeRateLimiter::new(ByteSize::mib(16)));
        let start = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let l = l.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..8 {
                    l.pause(256 << 10).await;
                }
            }));
        }
        for t in tasks {
            t.await.expect("taker");
        }
        let rate = 8.0 / start.elapsed().as_secs_f64();
        assert!(
            (14.0..=17.0).contains(&rate),
            "rate {rate:.2} MiB/s, want about 16"
        );
    }
}
