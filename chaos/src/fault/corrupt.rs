//! `corrupt`: change bytes in flight, each with `probability`.
//!
//! The gap to the next corrupted byte is drawn from a geometric distribution, so cost does not
//! grow with throughput. A corrupted byte is XORed with a non-zero random byte: it always
//! changes. TCP's own checksum never sees this (the proxy is an endpoint), so the engine's
//! checksums must. A datagram is corrupted whole or not at all: one byte of it changes with
//! `probability` (QUIC's AEAD then drops it, as a real bit error would make it do).

use serde::Serialize;

use super::verdict::{Behaviour, Context, Verdict};
use crate::rng::SeededRng;

/// Parameters of a corrupt fault.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Corrupt {
    /// Probability that any one byte is changed.
    pub probability: f64,
}

impl Behaviour for Corrupt {
    fn touches_stream(&self) -> bool {
        true
    }

    fn on_chunk(&self, chunk: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        Verdict::Corrupt(cx.state.corrupter.apply(chunk, self.probability, cx.rng))
    }

    fn on_datagram(&self, datagram: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        if datagram.is_empty() || !cx.rng.chance(self.probability) {
            return Verdict::Pass;
        }
        let at = (cx.rng.unit() * datagram.len() as f64) as usize;
        let at = at.min(datagram.len() - 1);
        datagram[at] ^= cx.rng.nonzero_byte();
        Verdict::Corrupt(1)
    }
}

/// Where the next corrupted byte falls, carried across chunks of one direction.
#[derive(Debug, Default)]
pub struct Corrupter {
    skip: Option<u64>,
}

impl Corrupter {
    /// Corrupts `buf` in place; returns how many bytes changed.
    pub fn apply(&mut self, buf: &mut [u8], probability: f64, rng: &mut SeededRng) -> usize {
        let mut changed = 0;
        let mut pos: u64 = 0;
        let len = buf.len() as u64;
        loop {
            let skip = *self.skip.get_or_insert_with(|| rng.geometric(probability));
            if skip >= len - pos {
                self.skip = Some(skip - (len - pos));
                return changed;
            }
            pos += skip;
            buf[pos as usize] ^= rng.nonzero_byte();
            changed += 1;
            pos += 1;
            self.skip = None;
            if pos == len {
                return changed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_probability_times_bytes_change() {
        let mut c = Corrupter::default();
        let mut rng = SeededRng::new(3, 3);
        let mut total = 0;
        let mut changed_bytes = 0;
        for _ in 0..100 {
            let mut buf = vec![0u8; 10_000];
            total += c.apply(&mut buf, 0.001, &mut rng);
            changed_bytes += buf.iter().filter(|b| **b != 0).count();
        }
        assert_eq!(
            total, changed_bytes,
            "every reported change is a real change"
        );
        assert!(
            (800..1200).contains(&total),
            "{total} changes in 1e6 bytes at p=0.001"
        );
    }

    #[test]
    fn certain_and_impossible() {
        let mut rng = SeededRng::new(4, 4);
        let mut buf = vec![0u8; 100];
        assert_eq!(Corrupter::default().apply(&mut buf, 1.0, &mut rng), 100);
        assert!(buf.iter().all(|b| *b != 0));
        let mut buf = vec![0u8; 100];
        assert_eq!(Corrupter::default().apply(&mut buf, 0.0, &mut rng), 0);
        assert!(buf.iter().all(|b| *b == 0));
    }
}
