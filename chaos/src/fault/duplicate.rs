//! `duplicate` (datagrams only): send a datagram twice with `probability`.

use serde::Serialize;

/// Parameters of a duplicate fault.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Duplicate {
    /// Probability that a datagram is sent twice.
    pub probability: f64,
}
