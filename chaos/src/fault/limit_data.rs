//! `limit_data`: close the connection once `bytes` have passed in the fault's direction(s).

use serde::Serialize;

use super::verdict::{Behaviour, Context, Verdict};
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

impl Behaviour for LimitData {
    fn touches_stream(&self) -> bool {
        true
    }

    /// The bytes of the fault's own direction(s) count.
    fn on_chunk(&self, chunk: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        let allowed = self.allowance(cx.moved.covered_by(cx.direction), chunk.len());
        if allowed < chunk.len() {
            Verdict::Truncate(allowed)
        } else {
            Verdict::Pass
        }
    }
}
