//! `reorder` (datagrams only): hold a datagram back by `gap` with `probability`, so the ones
//! after it overtake it.

use std::time::Duration;

use serde::Serialize;

/// Parameters of a reorder fault.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Reorder {
    /// Probability that a datagram is held back.
    pub probability: f64,
    /// How long it is held back.
    #[serde(with = "crate::units::duration_serde")]
    pub gap: Duration,
}
