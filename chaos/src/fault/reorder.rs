//! `reorder` (datagrams only): hold a datagram back by `gap` with `probability`, so the ones
//! after it overtake it.

use std::time::Duration;

use serde::Serialize;

use super::verdict::{Behaviour, Context, Verdict};

/// Parameters of a reorder fault.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Reorder {
    /// Probability that a datagram is held back.
    pub probability: f64,
    /// How long it is held back.
    #[serde(with = "crate::units::duration_serde")]
    pub gap: Duration,
}

impl Behaviour for Reorder {
    fn on_datagram(&self, _datagram: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        if cx.rng.chance(self.probability) {
            Verdict::Reorder(self.gap)
        } else {
            Verdict::Pass
        }
    }
}
