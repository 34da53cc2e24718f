//! The node-wide byte rate limiter (`ccr.indices.recovery.max_bytes_per_sec`).
//!
//! Two kinds: [`NodeRateLimiter`] (first come, first served, as Elasticsearch's) for the
//! follower, and [`FairRateLimiter`] for the leader, which shares the rate evenly between
//! sessions so that one follower pipelining huge requests cannot starve the others.
//!
//! Elasticsearch keeps one limiter per node, shared by every recovery, and throttles a chunk on
//! the leader before reading it *and* on the follower after receiving it, so these live here
//! rather than under `leader/` or `follower/`. Each is pure state with time passed in
//! ([`TokenBucket`], [`FairShare`]) and a thin wrapper that waits on tokio time, so paused
//! (simulated) time drives them in tests and whole recoveries can run in it. Both allow a burst
//! of 20 ms worth of bytes: small enough that the rate holds within a few percent over seconds,
//! large enough that small chunks rarely wait at all.

mod fair;
mod fair_share;
mod token_bucket;

pub use fair::FairRateLimiter;
pub use fair_share::{FairShare, Grants, Ticket};
pub use token_bucket::TokenBucket;

use std::{
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use tokio::time::Instant;

use crate::units::ByteSize;

/// Limits bytes per second across every caller that shares it (clone an `Arc` of it), first
/// come, first served: each caller reserves its slot in a [`TokenBucket`] when it calls
/// [`Self::pause`] and sleeps until that slot, so callers pass in the order they called, each
/// is woken once, at its own time, and a dropped caller keeps the slot it reserved.
#[derive(Debug)]
pub struct NodeRateLimiter {
    rate: ByteSize,
    schedule: Option<Schedule>,
}

/// A bucket and the tokio instant its time counts from.
#[derive(Debug)]
struct Schedule {
    origin: Instant,
    bucket: Mutex<TokenBucket>,
}

impl Schedule {
    fn lock(&self) -> MutexGuard<'_, TokenBucket> {
        self.bucket.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves `bytes` at `now`; returns when they may pass.
    fn reserve(&self, now: Instant, bytes: u64) -> Instant {
        let go = self
            .lock()
            .reserve(now.saturating_duration_since(self.origin), bytes);
        // Only absurd requests (exabytes at a few KiB/s) reach past what an `Instant` holds:
        // a year is as good as forever to them.
        self.origin
            .checked_add(go)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
    }
}

impl NodeRateLimiter {
    /// A limiter for `rate` bytes per second; `0` is unlimited. Rates below 1 KiB/s are rounded
    /// up to 1 KiB/s (settings validation refuses them first).
    pub fn new(rate: ByteSize) -> Self {
        let schedule = (rate.bytes() > 0).then(|| Schedule {
            origin: Instant::now(),
            bucket: Mutex::new(TokenBucket::new(rate.bytes().max(1024))),
        });
        Self { rate, schedule }
    }

    /// The configured rate (`0b` when unlimited).
    pub fn rate(&self) -> ByteSize {
        self.rate
    }

    /// Whether this limiter never waits.
    pub fn is_unlimited(&self) -> bool {
        self.schedule.is_none()
    }

    /// Waits until `bytes` may pass; returns how long it waited.
    pub async fn pause(&self, bytes: u64) -> Duration {
        let Some(schedule) = &self.schedule else {
            return Duration::ZERO;
        };
        let start = Instant::now();
        let go = schedule.reserve(start, bytes);
        if go <= start {
            return Duration::ZERO;
        }
        tokio::time::sleep_until(go).await;
        start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;

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

    /// Simulated time is what passes: a limiter on its own clock would take a real second here
    /// and see no simulated time pass.
    #[tokio::test(start_paused = true)]
    async fn ten_mib_at_ten_mib_a_second_take_a_simulated_second() {
        let wall = std::time::Instant::now();
        let l = NodeRateLimiter::new("10mb".parse().expect("a size"));
        let start = Instant::now();
        for _ in 0..160 {
            l.pause(64 * KIB).await;
        }
        // A second, less the 20 ms burst the full bucket lets through at once.
        let took = start.elapsed();
        assert!(
            (Duration::from_millis(960)..=Duration::from_millis(1_010)).contains(&took),
            "{took:?}"
        );
        assert!(
            wall.elapsed() < Duration::from_millis(500),
            "{:?}",
            wall.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_mib_at_forty_mib_a_second_costs_twenty_five_ms() {
        let l = NodeRateLimiter::new(ByteSize::mib(40));
        // The full bucket pays the first 20 ms.
        let first = l.pause(MIB).await;
        assert!(first <= Duration::from_millis(6), "{first:?}");
        for _ in 0..20 {
            let waited = l.pause(MIB).await;
            assert!(
                (Duration::from_millis(24)..=Duration::from_millis(26)).contains(&waited),
                "{waited:?}"
            );
        }
    }

    /// Taker `i` arrives at `i` ms and asks for `8 - i` times 64 KiB, so a limiter that let
    /// small requests slip past big ones would finish them out of order, and one that woke
    /// every waiter to try again would finish them late. Each must pass in arrival order, on its
    /// own slot (within the millisecond tokio's timer rounds to).
    #[tokio::test(start_paused = true)]
    async fn concurrent_takers_are_served_in_arrival_order() {
        let l = Arc::new(NodeRateLimiter::new(ByteSize::mib(10)));
        let t0 = Instant::now();
        let done = Arc::new(Mutex::new(Vec::new()));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..8u64 {
            let (l, done) = (l.clone(), done.clone());
            set.spawn(async move {
                tokio::time::sleep_until(t0 + Duration::from_millis(i)).await;
                l.pause((8 - i) * 64 * KIB).await;
                done.lock().expect("done").push((i, t0.elapsed()));
            });
        }
        while set.join_next().await.is_some() {}
        let done = done.lock().expect("done").clone();
        let order: Vec<u64> = done.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, (0..8).collect::<Vec<_>>());
        let mut paid = Duration::ZERO;
        for (i, at) in done {
            paid += Duration::from_secs_f64(((8 - i) * 64 * KIB) as f64 / (10 * MIB) as f64);
            let due = paid - TokenBucket::BURST;
            assert!(
                at >= due && at <= due + Duration::from_millis(2),
                "taker {i} passed at {at:?}, due at {due:?}"
            );
        }
    }

    /// Many takers, in simulated time: the rate they share still holds.
    #[tokio::test(start_paused = true)]
    async fn many_takers_share_the_rate() {
        let l = Arc::new(NodeRateLimiter::new(ByteSize::mib(16)));
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let l = l.clone();
            set.spawn(async move {
                for _ in 0..64 {
                    l.pause(64 * KIB).await;
                }
            });
        }
        while set.join_next().await.is_some() {}
        // 64 MiB at 16 MiB/s: four seconds less the burst.
        let rate = 64.0 / start.elapsed().as_secs_f64();
        assert!(
            (15.9..=16.2).contains(&rate),
            "rate {rate:.3} MiB/s, want 16"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_waits_in_simulated_time_either() {
        let l = NodeRateLimiter::new(ByteSize(0));
        let start = Instant::now();
        for _ in 0..1_000 {
            assert_eq!(l.pause(1 << 30).await, Duration::ZERO);
        }
        assert_eq!(Instant::now(), start);
    }

    /// The follower pauses for bytes it has already received, so a taker that gives up (its
    /// recovery was cancelled) still pays for them: the next one waits out the rest of its slot.
    #[tokio::test(start_paused = true)]
    async fn a_dropped_taker_keeps_its_slot() {
        let l = NodeRateLimiter::new(ByteSize::mib(1));
        let gave_up = tokio::time::timeout(Duration::from_millis(100), l.pause(MIB)).await;
        assert!(gave_up.is_err());
        let waited = l.pause(KIB).await;
        assert!(
            (Duration::from_millis(880)..=Duration::from_millis(883)).contains(&waited),
            "{waited:?}"
        );
    }
}
