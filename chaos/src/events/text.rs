//! Events as one line of text for a person, and which of them an injector shows by default.
//!
//! The JSON form (`--events FILE`) is for programs and has every field; this is for a terminal:
//! short, with the bytes in MiB where they are many.

use std::fmt;

use super::{Event, EventKind};
use crate::fault::Direction;

impl Event {
    /// Whether an injector shows this event without `--verbose`: what changes the network or
    /// ends a connection (fault edges, resets, an unreachable upstream, going down and up) and
    /// warnings, not each connection and each effect report.
    pub fn is_notable(&self) -> bool {
        matches!(
            self.kind,
            EventKind::FaultOn { .. }
                | EventKind::FaultOff { .. }
                | EventKind::ConnReset { .. }
                | EventKind::ConnFailed { .. }
                | EventKind::ProxyDown { .. }
                | EventKind::ProxyUp { .. }
                | EventKind::Warning { .. }
                | EventKind::FlowExpired { .. }
                | EventKind::FlowReset { .. }
        )
    }
}

/// `12.0 MiB`, `512 B`: a byte count at a glance.
pub(crate) fn bytes(n: u64) -> String {
    if n < 1 << 20 {
        format!("{n} B")
    } else {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Upstream => "upstream",
        Direction::Downstream => "downstream",
        Direction::Both => "both ways",
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProxyStart {
                listen,
                upstream,
                seed,
                ..
            } => write!(
                f,
                "listening on {listen}, relaying to {upstream} (seed {seed})"
            ),
            Self::ProxyDown { fault } => write!(f, "fault `{fault}`: not listening (down)"),
            Self::ProxyUp { fault } => write!(f, "fault `{fault}` over: listening again"),
            Self::ConnOpen { conn, peer } => write!(f, "conn {conn} open from {peer}"),
            Self::ConnFailed { conn, reason } => {
                write!(
                    f,
                    "conn {conn} refused: the upstream is unreachable ({reason})"
                )
            }
            Self::ConnClose {
                conn,
                reason,
                bytes_up,
                bytes_down,
            } => write!(
                f,
                "conn {conn} closed ({reason}) after {} up, {} down",
                bytes(*bytes_up),
                bytes(*bytes_down)
            ),
            Self::ConnReset {
                conn,
                fault,
                bytes_up,
                bytes_down,
            } => {
                let by = match fault.as_str() {
                    "peer" => "by a peer".to_string(),
                    fault => format!("by fault `{fault}`"),
                };
                write!(
                    f,
                    "conn {conn} reset {by} after {} up, {} down",
                    bytes(*bytes_up),
                    bytes(*bytes_down)
                )
            }
            Self::FaultOn { fault, kind } => write!(f, "fault `{fault}` ({kind}) on"),
            Self::FaultOff { fault } => write!(f, "fault `{fault}` off"),
            Self::Effect {
                conn,
                fault,
                direction: d,
                effect,
                bytes: n,
            } => write!(
                f,
                "conn {conn}: `{fault}` {effect} {} {}",
                bytes(*n),
                direction(*d)
            ),
            Self::Warning { fault, message } => write!(f, "warning: fault `{fault}`: {message}"),
            Self::FlowOpen { fault, flow } => write!(f, "flow {flow}: `{fault}` follows it"),
            Self::FlowExpired {
                fault,
                flow,
                idle_s,
                refreshes,
                reason,
            } => write!(
                f,
                "flow {flow}: `{fault}` forgot it ({reason}, {idle_s:.1} s without a packet, \
                 {refreshes} refreshes)"
            ),
            Self::FlowDrop {
                fault,
                flow,
                direction: d,
            } => write!(
                f,
                "flow {flow}: `{fault}` dropped a packet {} (forgotten flow)",
                direction(*d)
            ),
            Self::FlowReset {
                fault,
                flow,
                direction: d,
            } => write!(
                f,
                "flow {flow}: `{fault}` sent an RST to both ends (packet {})",
                direction(*d)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> Event {
        Event {
            t: 1.0,
            source: "chaos",
            kind,
        }
    }

    #[test]
    fn edges_resets_and_warnings_are_shown_effects_are_not() {
        let on = event(EventKind::FaultOn {
            fault: "wan".into(),
            kind: "latency".into(),
        });
        assert!(on.is_notable());
        assert_eq!(on.kind.to_string(), "fault `wan` (latency) on");
        let effect = event(EventKind::Effect {
            conn: 3,
            fault: "wan".into(),
            direction: Direction::Downstream,
            effect: "delayed".into(),
            bytes: 3 << 20,
        });
        assert!(!effect.is_notable());
        assert_eq!(
            effect.kind.to_string(),
            "conn 3: `wan` delayed 3.0 MiB downstream"
        );
        let reset = event(EventKind::ConnReset {
            conn: 2,
            fault: "peer".into(),
            bytes_up: 10,
            bytes_down: 0,
        });
        assert!(reset.is_notable());
        assert_eq!(
            reset.kind.to_string(),
            "conn 2 reset by a peer after 10 B up, 0 B down"
        );
    }
}
