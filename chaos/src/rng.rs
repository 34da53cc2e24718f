//! Seeded randomness: every random choice a fault makes comes from here.
//!
//! A run has one seed. Each (connection, fault, direction) gets its own ChaCha8 stream of that
//! seed, so what one connection draws does not depend on how many bytes another has moved, and
//! a trial with the same seed and the same connection order replays exactly.

use rand_chacha::{
    ChaCha8Rng,
    rand_core::{Rng, SeedableRng},
};

/// A seeded random source.
#[derive(Clone, Debug)]
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// The stream `stream` of `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self(rng)
    }

    /// The stream for one connection, fault and direction.
    pub fn for_connection(seed: u64, conn: u64, fault: usize, lane: u64) -> Self {
        Self::new(seed, (conn << 20) ^ ((fault as u64) << 4) ^ lane)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p >= 1.0 || (p > 0.0 && self.unit() < p)
    }

    /// A random byte other than zero (XOR with it always changes a byte).
    pub fn nonzero_byte(&mut self) -> u8 {
        (self.0.next_u32() % 255 + 1) as u8
    }

    /// Trials before the next success of a Bernoulli(p) process (geometric, from 0). Lets
    /// per-byte faults skip straight to the next affected byte instead of drawing per byte.
    pub fn geometric(&mut self, p: f64) -> u64 {
        if p >= 1.0 {
            return 0;
        }
        if p <= 0.0 {
            return u64::MAX;
        }
        let u = 1.0 - self.unit(); // (0, 1]
        let gap = (u.ln() / (1.0 - p).ln()).floor();
        if gap.is_finite() && gap < u64::MAX as f64 {
            gap as u64
        } else {
            u64::MAX
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_stream_same_draws() {
        let (mut a, mut b) = (SeededRng::new(7, 3), SeededRng::new(7, 3));
        let mut c = SeededRng::new(7, 4);
        let xs: Vec<f64> = (0..10).map(|_| a.unit()).collect();
        assert_eq!(xs, (0..10).map(|_| b.unit()).collect::<Vec<_>>());
        assert_ne!(xs, (0..10).map(|_| c.unit()).collect::<Vec<_>>());
    }

    #[test]
    fn geometric_gaps_have_the_right_mean() {
        let mut r = SeededRng::new(1, 1);
        let p = 0.01;
        let n = 20_000;
        let mean = (0..n).map(|_| r.geometric(p) as f64).sum::<f64>() / n as f64;
        let want = (1.0 - p) / p; // 99
        assert!(
            (mean - want).abs() < want * 0.05,
            "mean gap {mean}, want {want}"
        );
        assert_eq!(r.geometric(1.0), 0);
        assert_eq!(r.geometric(0.0), u64::MAX);
    }

    #[test]
    fn chance_and_bytes() {
        let mut r = SeededRng::new(2, 2);
        assert!(r.chance(1.0));
        assert!(!r.chance(0.0));
        let hits = (0..10_000).filter(|_| r.chance(0.3)).count();
        assert!((2700..3300).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| r.nonzero_byte() != 0));
    }
}
