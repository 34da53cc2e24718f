//! `stall`: stop reading from the source while on.
//!
//! Bytes pile up in the kernel's buffers until the sender's TCP window closes: backpressure,
//! the signature of a peer that is alive but stuck. Reading resumes when the fault turns off,
//! and nothing is lost.

use std::time::Duration;

/// How often a stalled direction checks whether the stall is over.
pub const POLL: Duration = Duration::from_millis(10);
