//! `limit_data`: close the connection once `bytes` have passed in the fault's direction(s).

use serde::Serialize;

use crate::units::ByteSize;

/// Parameters of a limit-data fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LimitData {
    /// Bytes allowed through before the connection is closed.
    pub bytes: ByteSize,
}

impl LimitData {
    /// How many of `n` more bytes may pass when `moved` already have.
    pub fn allowance(&self, moved: u64, n: usize) -> usize {
        self.bytes.bytes().saturating_sub(moved).min(n as u64) as usize
    }
}
