//! `stall`: stop reading from the source while on.
//!
//! Bytes pile up in the kernel's buffers until the sender's TCP window closes: backpressure,
//! the signature of a peer that is alive but stuck. Reading resumes when the fault turns off,
//! and nothing is lost.

use std::time::Duration;

use super::verdict::{Behaviour, Verdict};

/// How often a stalled direction checks whether the stall is over.
pub const POLL: Duration = Duration::from_millis(10);

/// The stall fault (it has no parameters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stall;

impl Behaviour for Stall {
    fn touches_stream(&self) -> bool {
        true
    }

    fn before_read(&self) -> Verdict {
        Verdict::Hold
    }
}
