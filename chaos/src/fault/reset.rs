//! `reset`: a real TCP reset (RST, via `SO_LINGER(0)`) on both sides of a connection.
//!
//! Without `after_bytes`, it fires when the fault turns on: every affected connection open at
//! that moment is reset, idle or not (toxiproxy cannot do this), and while a window with a
//! duration is open, new connections are reset as they arrive. `reset:at=10s` is an instant at
//! 10 s. With `after_bytes`, each affected connection is reset once that many bytes have crossed
//! it (both directions counted) while the fault is on.

use serde::Serialize;

use super::verdict::{Behaviour, ConnEvent, Context, Verdict};
use crate::units::ByteSize;

/// Parameters of a reset fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Reset {
    /// Reset a connection after this many bytes instead of at the fault's start.
    pub after_bytes: Option<ByteSize>,
}

impl Reset {
    /// How many of `n` more bytes may pass before the reset, when `moved` already have.
    /// `None`: no byte limit.
    pub fn allowance(&self, moved: u64, n: usize) -> Option<usize> {
        let limit = self.after_bytes?.bytes();
        Some(limit.saturating_sub(moved).min(n as u64) as usize)
    }
}

impl Behaviour for Reset {
    fn touches_stream(&self) -> bool {
        self.after_bytes.is_some()
    }

    /// Bytes of both directions count towards `after_bytes`, whatever the fault's direction.
    fn on_chunk(&self, chunk: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        match self.allowance(cx.moved.covered_by(super::Direction::Both), chunk.len()) {
            Some(allowed) if allowed < chunk.len() => Verdict::ResetAfter(allowed),
            _ => Verdict::Pass,
        }
    }

    fn on_connection(&self, event: ConnEvent) -> Verdict {
        match event {
            ConnEvent::Opened | ConnEvent::TurnedOn if self.after_bytes.is_none() => Verdict::Reset,
            _ => Verdict::Pass,
        }
    }
}
