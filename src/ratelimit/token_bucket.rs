//! First come, first served sharing of one byte rate: pure state, time passed in as `now`.
//!
//! A token bucket kept as a schedule (GCRA, the virtual-scheduling form of a token bucket):
//! `paid_until` is the time by which every byte reserved so far is paid for at `rate`. A taker
//! reserves its bytes at the end of that schedule and may go [`TokenBucket::BURST`] before its
//! bytes are paid for, so an idle bucket lets 20 ms worth of bytes through at once and a busy one
//! lets each taker through when its turn in the schedule comes. Reserving is the whole protocol:
//! takers are ordered by when they reserved, each learns its own time to go and nobody has to be
//! woken to look again.
//!
//! This module owns the arithmetic only. It has no clock and does not sleep: time is a
//! [`Duration`] since an origin the caller chooses (the bucket starts full at zero), and
//! [`super::NodeRateLimiter`] does the waiting on tokio time.

use std::time::Duration;

/// The schedule of one rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    rate: u64,
    paid_until: Duration,
}

impl TokenBucket {
    /// How far ahead of its schedule a taker may go: small enough that the rate holds within a
    /// few percent over seconds, large enough that takers of small chunks rarely wait at all.
    pub const BURST: Duration = Duration::from_millis(20);

    /// A full bucket for `rate` bytes per second (`0` is taken as 1) at time zero.
    pub fn new(rate: u64) -> Self {
        Self {
            rate: rate.max(1),
            paid_until: Duration::ZERO,
        }
    }

    /// Bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// How long `bytes` take at this rate, rounded up to the nanosecond: rounding never lets
    /// more through than the rate, and costs at most a nanosecond per reservation.
    pub fn cost(&self, bytes: u64) -> Duration {
        let nanos = (u128::from(bytes) * 1_000_000_000).div_ceil(u128::from(self.rate));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Reserves `bytes` at `now` and returns when they may pass: `now` if the bucket holds
    /// them, else the time at which every byte reserved before them, and they themselves, will
    /// have been paid for, less [`Self::BURST`]. Times only grow from one reservation to the
    /// next, so takers go in the order they reserved. A reservation cannot be taken back: the
    /// follower reserves bytes it has already received.
    pub fn reserve(&mut self, now: Duration, bytes: u64) -> Duration {
        // An idle bucket refills to the burst, no further: the schedule restarts at `now`.
        let start = self.paid_until.max(now);
        self.paid_until = start.saturating_add(self.cost(bytes));
        self.paid_until.saturating_sub(Self::BURST).max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_full_bucket_lets_twenty_ms_worth_through_at_once() {
        // 40 MiB/s: the burst is 819.2 KiB.
        let mut b = TokenBucket::new(40 * MIB);
        assert_eq!(b.reserve(ms(0), 512 * KIB), ms(0));
        assert_eq!(b.reserve(ms(0), 256 * KIB), ms(0));
        // 832 KiB in all: 12.8 KiB past the burst, 312.5 µs at 40 MiB/s.
        assert_eq!(b.reserve(ms(0), 64 * KIB), Duration::from_nanos(312_500));
    }

    #[test]
    fn a_mib_costs_twenty_five_ms_at_forty_mib_a_second() {
        let mut b = TokenBucket::new(40 * MIB);
        assert_eq!(b.cost(MIB), ms(25));
        // A taker that goes back for more as soon as it may: the burst saves the first 20 ms,
        // then every MiB costs 25.
        let mut now = b.reserve(ms(0), MIB);
        assert_eq!(now, ms(5));
        for _ in 0..10 {
            let go = b.reserve(now, MIB);
            assert_eq!(go - now, ms(25));
            now = go;
        }
    }

    #[test]
    fn the_rate_holds_over_seconds() {
        // 64 KiB chunks at 10 MiB/s for ten seconds, the taker coming back a little late each
        // time (as a task woken on a millisecond timer does): 100 MiB plus the burst.
        let mut b = TokenBucket::new(10 * MIB);
        let (mut now, mut passed) = (Duration::ZERO, 0);
        loop {
            let go = b.reserve(now, 64 * KIB);
            if go > Duration::from_secs(10) {
                break;
            }
            passed += 64 * KIB;
            now = go + us(700);
        }
        let rate = passed as f64 / 10.0 / MIB as f64;
        assert!((10.0..=10.03).contains(&rate), "{rate:.4} MiB/s of 10");
    }

    #[test]
    fn an_idle_bucket_refills_to_the_burst_and_no_further() {
        let mut b = TokenBucket::new(40 * MIB);
        assert_eq!(b.reserve(ms(0), MIB), ms(5));
        // Ten idle seconds buy 20 ms worth of bytes, not ten seconds' worth.
        assert_eq!(b.reserve(ms(10_000), 2 * MIB), ms(10_030));
        assert_eq!(b.reserve(ms(10_030), MIB), ms(10_055));
    }

    #[test]
    fn takers_go_in_the_order_they_reserved() {
        // Eight takers at once, each asking for less than the one before: none overtakes.
        let mut b = TokenBucket::new(10 * MIB);
        let mut due = Duration::ZERO;
        let mut last = Duration::ZERO;
        for i in 0..8 {
            let bytes = (8 - i) * 64 * KIB;
            due += b.cost(bytes);
            let go = b.reserve(ms(i), bytes);
            assert_eq!(go, due.saturating_sub(TokenBucket::BURST).max(ms(i)));
            assert!(go >= last, "taker {i} goes at {go:?}, before {last:?}");
            last = go;
        }
    }

    #[test]
    fn a_late_reservation_keeps_its_place_behind_earlier_ones() {
        // A taker that reserves while others are still waiting lines up after them, whatever
        // the size it asks for.
        let mut b = TokenBucket::new(MIB);
        assert_eq!(b.reserve(ms(0), MIB), ms(980));
        assert_eq!(b.reserve(ms(1), KIB), ms(1_000) + b.cost(KIB) - ms(20));
    }

    #[test]
    fn huge_requests_saturate_instead_of_overflowing() {
        let mut b = TokenBucket::new(0);
        assert_eq!(b.rate(), 1);
        let go = b.reserve(ms(0), u64::MAX);
        assert!(go > Duration::from_secs(100 * 365 * 86_400), "{go:?}");
        assert!(b.reserve(ms(1), u64::MAX) >= go);
        // The highest rate makes every chunk cost a nanosecond at most.
        let mut fast = TokenBucket::new(u64::MAX);
        assert_eq!(fast.cost(64 * KIB), Duration::from_nanos(1));
        assert_eq!(fast.reserve(ms(0), 64 * KIB), ms(0));
    }
}
