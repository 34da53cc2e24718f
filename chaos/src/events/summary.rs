//! What an injector did over its life, summed from its events: the line it prints on exit.

use std::{collections::BTreeMap, fmt};

use super::{Event, EventKind, text::bytes};

/// Counts and byte totals over a run's events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Connections (or datagram flows) opened.
    pub connections: u64,
    /// Connections closed at once because the upstream could not be reached.
    pub failed: u64,
    /// Connections a fault reset.
    pub reset_by_fault: u64,
    /// Connections reset because one side reset first.
    pub reset_by_peer: u64,
    /// Bytes client → server over connections that ended.
    pub bytes_up: u64,
    /// Bytes server → client over connections that ended.
    pub bytes_down: u64,
    /// Per fault: how often it turned on (or fired).
    pub fired: BTreeMap<String, u64>,
    /// Per fault and effect (`delayed`, `dropped`, ...): bytes affected.
    pub effects: BTreeMap<(String, String), u64>,
    /// Warnings recorded.
    pub warnings: u64,
}

impl Summary {
    /// Sums `events`.
    pub fn of(events: &[Event]) -> Self {
        let mut s = Self::default();
        for e in events {
            match &e.kind {
                EventKind::ConnOpen { .. } => s.connections += 1,
                EventKind::ConnFailed { .. } => s.failed += 1,
                EventKind::ConnClose {
                    bytes_up,
                    bytes_down,
                    ..
                } => s.add_bytes(*bytes_up, *bytes_down),
                EventKind::ConnReset {
                    fault,
                    bytes_up,
                    bytes_down,
                    ..
                } => {
                    match fault.as_str() {
                        "peer" => s.reset_by_peer += 1,
                        _ => s.reset_by_fault += 1,
                    }
                    s.add_bytes(*bytes_up, *bytes_down);
                }
                EventKind::FaultOn { fault, .. } => *s.fired.entry(fault.clone()).or_default() += 1,
                EventKind::Effect {
                    fault,
                    effect,
                    bytes,
                    ..
                } => {
                    *s.effects
                        .entry((fault.clone(), effect.clone()))
                        .or_default() += bytes;
                }
                EventKind::Warning { .. } => s.warnings += 1,
                EventKind::FlowReset { .. } => s.reset_by_fault += 1,
                _ => {}
            }
        }
        s
    }

    fn add_bytes(&mut self, up: u64, down: u64) {
        self.bytes_up = self.bytes_up.saturating_add(up);
        self.bytes_down = self.bytes_down.saturating_add(down);
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connection(s), {} could not reach the upstream, {} reset by a fault, {} by a \
             peer; {} up, {} down",
            self.connections,
            self.failed,
            self.reset_by_fault,
            self.reset_by_peer,
            bytes(self.bytes_up),
            bytes(self.bytes_down),
        )?;
        for (fault, n) in &self.fired {
            let effects: Vec<String> = self
                .effects
                .iter()
                .filter(|((name, _), _)| name == fault)
                .map(|((_, effect), b)| format!("{effect} {}", bytes(*b)))
                .collect();
            write!(f, "\n  fault `{fault}`: on {n} time(s)")?;
            if !effects.is_empty() {
                write!(f, "; {}", effects.join(", "))?;
            }
        }
        if self.warnings > 0 {
            write!(f, "\n  {} warning(s), see above", self.warnings)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Direction;

    fn event(kind: EventKind) -> Event {
        Event {
            t: 0.0,
            source: "chaos",
            kind,
        }
    }

    #[test]
    fn a_run_is_summed_per_connection_and_fault() {
        let events: Vec<Event> = [
            EventKind::FaultOn {
                fault: "wan".into(),
                kind: "latency".into(),
            },
            EventKind::ConnOpen {
                conn: 1,
                peer: "127.0.0.1:5".into(),
            },
            EventKind::Effect {
                conn: 1,
                fault: "wan".into(),
                direction: Direction::Downstream,
                effect: "delayed".into(),
                bytes: 1 << 20,
            },
            EventKind::Effect {
                conn: 1,
                fault: "wan".into(),
                direction: Direction::Downstream,
                effect: "delayed".into(),
                bytes: 1 << 20,
            },
            EventKind::ConnReset {
                conn: 1,
                fault: "peer".into(),
                bytes_up: 100,
                bytes_down: 2 << 20,
            },
        ]
        .into_iter()
        .map(event)
        .collect();
        let s = Summary::of(&events);
        assert_eq!(
            (s.connections, s.reset_by_peer, s.reset_by_fault),
            (1, 1, 0)
        );
        assert_eq!(
            s.to_string(),
            "1 connection(s), 0 could not reach the upstream, 0 reset by a fault, 1 by a peer; \
             100 B up, 2.0 MiB down\n  fault `wan`: on 1 time(s); delayed 2.0 MiB"
        );
    }
}
