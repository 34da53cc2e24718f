//! `slicer`: cut each chunk into slices of about `average_size` bytes, written `delay` apart,
//! as toxiproxy's `slicer` does (to make a peer meet short reads, as real TCP gives them).
//!
//! The cut is toxiproxy's: a chunk no more than `size_variation` over `average_size` is one
//! slice; a longer one is halved, the middle moved by a draw from `[-size_variation,
//! size_variation)`, and each half cut again. The draws come from the fault's seeded stream for
//! the connection's direction, so a seed replays the same slices. After each slice the next
//! waits `delay`, as toxiproxy sleeps `delay` after each write. Tokio's timers fire on whole
//! milliseconds, so a writer may wake late: slices are timed `delay` after the one before was
//! due (not after it was written), so a sub-millisecond `delay` keeps its pace on average
//! (slices due within one millisecond go out back to back). toxiproxy takes any sizes,
//! but an `average_size` of 0 recurses forever and a `size_variation` not below
//! `average_size` can cut outside the chunk (both crash it): [`Slicer::check`] refuses them.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::verdict::{Behaviour, Pieces, State, Verdict};
use crate::{rng::SeededRng, units::ByteSize};

/// Parameters of a slicer fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Slicer {
    /// The size of a slice, on average.
    pub average_size: ByteSize,
    /// How far a cut may move from the middle of what it halves.
    pub size_variation: ByteSize,
    /// The time after each slice before the next is written.
    #[serde(with = "crate::units::duration_serde")]
    pub delay: Duration,
}

impl Slicer {
    /// Why these sizes cannot slice, if they cannot: `average_size` must be above 0 and
    /// `size_variation` below it (toxiproxy's rule; past it toxiproxy crashes).
    pub fn check(&self) -> Result<(), String> {
        if self.average_size.bytes() == 0 {
            return Err("average_size must be at least 1 byte".into());
        }
        if self.size_variation.bytes() >= self.average_size.bytes() {
            return Err(format!(
                "size_variation ({}) must be less than average_size ({})",
                self.size_variation.bytes(),
                self.average_size.bytes()
            ));
        }
        Ok(())
    }

    /// The slice sizes of a chunk of `len` bytes, in order (toxiproxy's `chunk`).
    pub fn slices(&self, len: usize, rng: &mut SeededRng) -> Vec<usize> {
        let average = self.average_size.bytes().max(1) as usize;
        let variation = (self.size_variation.bytes() as usize).min(average - 1);
        let mut sizes = Vec::with_capacity(len / average + 1);
        cut(0, len, average, variation, rng, &mut sizes);
        sizes
    }
}

/// Cuts `[start, end)` as toxiproxy does: left half first, so the slices come out in order.
fn cut(
    start: usize,
    end: usize,
    average: usize,
    variation: usize,
    rng: &mut SeededRng,
    out: &mut Vec<usize>,
) {
    if (end - start).saturating_sub(average) <= variation {
        out.push(end - start);
        return;
    }
    let mut mid = start + (end - start) / 2;
    if variation > 0 {
        // Go's rand.Intn(2v) - v: uniform over [-v, v).
        let draw = ((rng.unit() * (2 * variation) as f64) as usize).min(2 * variation - 1);
        mid = mid + draw - variation;
    }
    cut(start, mid, average, variation, rng, out);
    cut(mid, end, average, variation, rng, out);
}

/// When a direction's next slice may be written.
#[derive(Debug, Default)]
pub struct SliceGap {
    next: Option<Instant>,
}

impl SliceGap {
    /// The instant a slice ready at `now` may be written: `delay` after the slice before it.
    pub fn reserve(&mut self, now: Instant, delay: Duration) -> Instant {
        let at = self.next.map_or(now, |t| t.max(now));
        self.next = Some(at + delay);
        at
    }
}

impl Behaviour for Slicer {
    fn touches_stream(&self) -> bool {
        true
    }

    fn send_pieces(&self, len: usize, rng: &mut SeededRng) -> Pieces {
        Pieces::Sizes(self.slices(len, rng))
    }

    fn on_send(&self, _len: usize, now: Instant, state: &mut State) -> Verdict {
        if self.delay.is_zero() {
            return Verdict::Pass;
        }
        Verdict::Pace(state.slice_gap.reserve(now, self.delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slicer(average: u64, variation: u64) -> Slicer {
        Slicer {
            average_size: ByteSize(average),
            size_variation: ByteSize(variation),
            delay: Duration::ZERO,
        }
    }

    #[test]
    fn without_variation_a_chunk_is_halved_until_each_half_is_at_most_the_average() {
        let mut rng = SeededRng::new(1, 1);
        // 100 → 50 → 25 → 12 + 13 → 6 + 6 and 6 + 7 (a slice over the average is cut).
        assert_eq!(slicer(10, 0).slices(100, &mut rng), [6, 6, 6, 7].repeat(4));
        assert_eq!(slicer(10, 0).slices(7, &mut rng), [7]);
        assert_eq!(slicer(1, 0).slices(4, &mut rng), [1, 1, 1, 1]);
    }

    #[test]
    fn slices_vary_within_bounds_sum_to_the_chunk_and_replay_from_the_seed() {
        let s = slicer(100, 40);
        let draw = |seed| s.slices(10_000, &mut SeededRng::new(seed, 3));
        let sizes = draw(9);
        assert_eq!(sizes.iter().sum::<usize>(), 10_000);
        assert!(sizes.iter().all(|n| (1..=140).contains(n)), "{sizes:?}");
        assert!(sizes.windows(2).any(|w| w[0] != w[1]), "they vary");
        assert_eq!(sizes, draw(9), "a seed replays");
        assert_ne!(sizes, draw(10));
    }

    #[test]
    fn sizes_toxiproxy_cannot_cut_are_refused() {
        assert!(slicer(0, 0).check().is_err());
        assert!(slicer(10, 10).check().is_err());
        assert!(slicer(10, 9).check().is_ok());
    }

    #[test]
    fn each_slice_waits_the_delay_after_the_one_before() {
        let mut gap = SliceGap::default();
        let t0 = Instant::now();
        let d = Duration::from_micros(500);
        assert_eq!(gap.reserve(t0, d), t0);
        assert_eq!(gap.reserve(t0, d), t0 + d);
        let later = t0 + Duration::from_secs(1);
        assert_eq!(gap.reserve(later, d), later);
    }
}
