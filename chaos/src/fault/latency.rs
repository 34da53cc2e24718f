//! `latency`: hold each chunk of data for `delay` ± `jitter` before passing it on.
//!
//! Order is kept, as on a real link: a chunk is never delivered before the one read before it
//! ([`deliver_at`]), so jitter stretches gaps rather than reordering bytes. A datagram is held
//! `delay ± jitter` on its own, so jitter may reorder datagrams.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::verdict::{Behaviour, Context, Verdict};
use crate::rng::SeededRng;

/// Parameters of a latency fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// Added one-way delay.
    #[serde(with = "crate::units::duration_serde")]
    pub delay: Duration,
    /// Uniform jitter: each chunk gets `delay ± jitter`, never below zero.
    #[serde(with = "crate::units::duration_serde")]
    pub jitter: Duration,
}

impl Latency {
    /// The delay for the next chunk.
    pub fn sample(&self, rng: &mut SeededRng) -> Duration {
        if self.jitter.is_zero() {
            return self.delay;
        }
        let offset = self.jitter.as_secs_f64() * (2.0 * rng.unit() - 1.0);
        Duration::from_secs_f64((self.delay.as_secs_f64() + offset).max(0.0))
    }
}

impl Behaviour for Latency {
    fn touches_stream(&self) -> bool {
        true
    }

    fn on_chunk(&self, _chunk: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        Verdict::Delay(self.sample(cx.rng))
    }

    fn on_datagram(&self, _datagram: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        Verdict::Delay(self.sample(cx.rng))
    }
}

/// When a chunk read at `now` with this `delay` may leave, given when the previous one left.
pub fn deliver_at(previous: Instant, now: Instant, delay: Duration) -> Instant {
    previous.max(now + delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds_and_is_seeded() {
        let l = Latency {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(5),
        };
        let mut rng = SeededRng::new(1, 1);
        let samples: Vec<Duration> = (0..1000).map(|_| l.sample(&mut rng)).collect();
        assert!(
            samples
                .iter()
                .all(|d| *d >= Duration::from_millis(45) && *d <= Duration::from_millis(55))
        );
        assert!(samples.iter().any(|d| *d < Duration::from_millis(49)));
        let mut again = SeededRng::new(1, 1);
        assert_eq!(samples[0], l.sample(&mut again));
    }

    #[test]
    fn order_is_kept() {
        let t0 = Instant::now();
        let first = deliver_at(t0, t0, Duration::from_millis(55));
        let second = deliver_at(
            first,
            t0 + Duration::from_millis(1),
            Duration::from_millis(45),
        );
        assert!(second >= first);
    }
}
