//! `idle_timeout`: stunnel's `TIMEOUTidle`, a firewall's idle conntrack timeout.
//!
//! A connection on which no *data* moved in either direction for `idle` is reset on both sides.
//! TCP keepalive probes carry no data, so they do not keep it alive; an application-level ping
//! does. This is the fault behind the "CCR fails every 12 hours through stunnel" story.

use std::time::Duration;

use serde::Serialize;

use super::verdict::{Behaviour, ConnEvent, Verdict};

/// Parameters of an idle-timeout fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IdleTimeout {
    /// Longest time without data before the reset.
    #[serde(with = "crate::units::duration_serde")]
    pub idle: Duration,
}

impl IdleTimeout {
    /// Whether a connection whose last data moved `since_data` ago has timed out.
    pub fn expired(&self, since_data: Duration) -> bool {
        since_data >= self.idle
    }
}

impl Behaviour for IdleTimeout {
    fn on_connection(&self, event: ConnEvent) -> Verdict {
        match event {
            ConnEvent::Idle(since_data) if self.expired(since_data) => Verdict::Reset,
            _ => Verdict::Pass,
        }
    }
}
