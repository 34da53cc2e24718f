//! `timeout`: toxiproxy's `timeout` toxic. Every byte is swallowed (as `blackhole`), and each
//! affected connection is closed (FIN on both sides) `after` from when the fault reached it:
//! when it opened with the fault on, or when the fault turned on with it open (toxiproxy starts
//! the timer as the toxic reaches each link). Without `after` (toxiproxy's 0) it never closes.
//!
//! Taking the fault out of the faults (toxiproxy's toxic removal) closes every connection open
//! with it on, as toxiproxy's cleanup closes each link the toxic was in, whatever its toxicity
//! drew: data never flows again through a connection a `timeout` held. A schedule's window
//! ending is not a removal: data flows again and the timer is dropped.

use std::time::Duration;

use serde::Serialize;

use super::verdict::{Behaviour, ConnEvent, Context, Verdict};

/// Parameters of a timeout fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Timeout {
    /// How long after the fault reaches a connection it is closed; `None`: never.
    #[serde(with = "crate::units::option_duration_serde")]
    pub after: Option<Duration>,
}

impl Behaviour for Timeout {
    fn touches_stream(&self) -> bool {
        true
    }

    fn on_chunk(&self, _chunk: &mut [u8], _cx: &mut Context<'_>) -> Verdict {
        Verdict::Drop
    }

    fn on_connection(&self, event: ConnEvent) -> Verdict {
        match (event, self.after) {
            (ConnEvent::Opened | ConnEvent::TurnedOn, Some(after)) => Verdict::CloseIn(after),
            (ConnEvent::Removed, _) => Verdict::Close,
            _ => Verdict::Pass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_closes_after_its_time_and_on_removal() {
        let t = Timeout {
            after: Some(Duration::from_millis(300)),
        };
        for event in [ConnEvent::Opened, ConnEvent::TurnedOn] {
            assert_eq!(
                t.on_connection(event),
                Verdict::CloseIn(Duration::from_millis(300))
            );
        }
        assert_eq!(t.on_connection(ConnEvent::Removed), Verdict::Close);
        let forever = Timeout { after: None };
        assert_eq!(forever.on_connection(ConnEvent::Opened), Verdict::Pass);
        assert_eq!(forever.on_connection(ConnEvent::Removed), Verdict::Close);
    }
}
