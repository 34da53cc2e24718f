//! `slow_close`: when one side closes, pass the close on only after `delay`.

use std::time::Duration;

use serde::Serialize;

use super::verdict::{Behaviour, Verdict};

/// Parameters of a slow-close fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SlowClose {
    /// How long the close is held back.
    #[serde(with = "crate::units::duration_serde")]
    pub delay: Duration,
}

impl Behaviour for SlowClose {
    fn on_eof(&self) -> Verdict {
        Verdict::Delay(self.delay)
    }
}
