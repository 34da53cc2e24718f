//! `down`: the proxy is gone for the window.
//!
//! Its listening socket is closed (new connections are refused) and every open connection is
//! closed; when the window ends it listens on the same address again. Direction and toxicity do
//! not apply: the whole proxy is down. Several `down` faults may overlap: [`Outage`] counts them.

use super::verdict::{Behaviour, ConnEvent, Verdict};

/// The down fault (it has no parameters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Down;

impl Behaviour for Down {
    fn whole_injector(&self) -> bool {
        true
    }

    fn on_connection(&self, event: ConnEvent) -> Verdict {
        match event {
            ConnEvent::Connect => Verdict::Refuse,
            ConnEvent::TurnedOn => Verdict::Close,
            ConnEvent::Opened | ConnEvent::Idle(_) | ConnEvent::Removed => Verdict::Pass,
        }
    }
}

/// How many connection-refusing faults are on: the injector is down while any is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outage {
    on: usize,
}

impl Outage {
    /// One such fault turned on (`true`) or off. Returns `Some(true)` when the injector goes
    /// down, `Some(false)` when it comes back up, `None` when nothing changes.
    pub fn edge(&mut self, on: bool) -> Option<bool> {
        if on {
            self.on += 1;
            (self.on == 1).then_some(true)
        } else if self.on > 0 {
            self.on -= 1;
            (self.on == 0).then_some(false)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_outages_go_down_once_and_come_up_once() {
        let mut o = Outage::default();
        assert_eq!(o.edge(true), Some(true));
        assert_eq!(o.edge(true), None);
        assert_eq!(o.edge(false), None);
        assert_eq!(o.edge(false), Some(false));
        assert_eq!(o.edge(false), None, "a stray off-edge changes nothing");
    }
}
