//! `limit_data`: close the connection once `bytes` have passed in the fault's direction(s).
//!
//! From the command line the bytes count from the connection's start (`count_from =
//! connection`, the default): a connection that already carried `bytes` when the fault turns on
//! closes at its next data. toxiproxy's `limit_data` counts from when the toxic reached the
//! connection (its per-link state is made as the toxic is added), which is `count_from =
//! added`: the API maps the toxiproxy toxic onto that, so a toxic added to a live connection
//! lets `bytes` more through.

use serde::Serialize;

use super::verdict::{Behaviour, Context, Verdict};
use crate::units::ByteSize;

/// Parameters of a limit-data fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LimitData {
    /// Bytes allowed through before the connection is closed.
    pub bytes: ByteSize,
    /// From when the bytes count.
    #[serde(skip_serializing_if = "CountFrom::is_connection")]
    pub count_from: CountFrom,
}

/// From when a byte count runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountFrom {
    /// From the connection's start.
    #[default]
    Connection,
    /// From when the fault reached the connection (opened with it on, or it turned on).
    Added,
}

impl CountFrom {
    fn is_connection(&self) -> bool {
        *self == CountFrom::Connection
    }
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
        let moved = match self.count_from {
            CountFrom::Connection => cx.moved,
            CountFrom::Added => cx.moved.since(cx.reached),
        };
        let allowed = self.allowance(moved.covered_by(cx.direction), chunk.len());
        if allowed < chunk.len() {
            Verdict::Truncate(allowed)
        } else {
            Verdict::Pass
        }
    }
}
