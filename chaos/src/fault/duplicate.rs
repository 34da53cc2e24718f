//! `duplicate` (datagrams only): send a datagram twice with `probability`.

use serde::Serialize;

use super::verdict::{Behaviour, Context, Verdict};

/// Parameters of a duplicate fault.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Duplicate {
    /// Probability that a datagram is sent twice.
    pub probability: f64,
}

impl Behaviour for Duplicate {
    fn on_datagram(&self, _datagram: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        if cx.rng.chance(self.probability) {
            Verdict::Duplicate
        } else {
            Verdict::Pass
        }
    }
}
