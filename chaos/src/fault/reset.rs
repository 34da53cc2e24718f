//! `reset`: a real TCP reset (RST, via `SO_LINGER(0)`) on both sides of a connection.
//!
//! Without `after_bytes`, it fires when the fault turns on: every affected connection open at
//! that moment is reset, idle or not (toxiproxy cannot do this), and while a window with a
//! duration is open, new connections are reset as they arrive. `reset:at=10s` is an instant at
//! 10 s. With `after_bytes`, each affected connection is reset once that many bytes have crossed
//! it (both directions counted) while the fault is on. With `wait` as well, the chunk that
//! crosses the count passes only its bytes up to it, that direction is read no more, and the
//! reset comes `wait` later (toxiproxy's `reset_peer` with a timeout: `after_bytes=0,wait=..`,
//! the timer starting at the first data after the toxic reached the connection, which is
//! dropped). The wait runs to its end even if the fault is taken away meanwhile, as toxiproxy's
//! uninterruptible sleep does.
//!
//! On the L3 link there is no proxy to close sockets: the link forges an RST to each end of the
//! TCP flows the fault picks (per flow, by `toxicity`), with the sequence number each end expects,
//! and the kernels' TCP is otherwise untouched. When the fault turns on every flow the link has
//! seen is reset, idle or not; while a window is open every packet of a flow (a new SYN too) is
//! dropped and answered with RSTs; with `after_bytes`, the packet that takes a flow's payload
//! (both directions) past it is. A flow reset is then held reset while the fault is on, for at
//! most 10 s (`link/hold.rs`): an end that ignored its RST because the sequence number it
//! expects had moved on is answered with an exact one. [`PacketReset`] decides, purely; the
//! link sends.

use std::{collections::HashMap, time::Duration};

use serde::Serialize;

use super::{
    packet::{FlowKey, TcpPacket, flags},
    verdict::{Behaviour, ConnEvent, Context, Verdict},
};
use crate::units::ByteSize;

/// Parameters of a reset fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Reset {
    /// Reset a connection after this many bytes instead of at the fault's start.
    pub after_bytes: Option<ByteSize>,
    /// With `after_bytes`: how long after the count is crossed the reset comes.
    #[serde(with = "crate::units::option_duration_serde")]
    pub wait: Option<Duration>,
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
            Some(keep) if keep < chunk.len() => match self.wait {
                Some(after) if !after.is_zero() => Verdict::ResetIn { keep, after },
                _ => Verdict::ResetAfter(keep),
            },
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

/// A reset fault's memory of the L3 link's TCP flows: payload bytes so far, and whether the flow
/// was reset already.
#[derive(Debug)]
pub struct PacketReset {
    params: Reset,
    flows: HashMap<FlowKey, (u64, bool)>,
}

/// Most flows a [`PacketReset`] counts bytes for.
const MAX_COUNTED: usize = 65_536;

impl PacketReset {
    /// The byte count after which a flow is reset, if any.
    pub fn after_bytes(&self) -> Option<crate::units::ByteSize> {
        self.params.after_bytes
    }

    /// No flows yet.
    pub fn new(params: Reset) -> Self {
        Self {
            params,
            flows: HashMap::new(),
        }
    }

    /// A TCP packet of a flow this fault affects; `on` is whether the fault is on. `Pass`, or
    /// `Reset` (drop it, RST both ends).
    pub fn on_packet(&mut self, p: &TcpPacket, on: bool) -> Verdict {
        let (flow, _) = p.flow();
        if p.has(flags::RST) {
            self.flows.remove(&flow);
            return Verdict::Pass;
        }
        // A connection ending needs its count no more (a window without a byte limit still
        // resets its FIN).
        if p.has(flags::FIN) {
            self.flows.remove(&flow);
            return match self.params.after_bytes {
                None if on => Verdict::Reset,
                _ => Verdict::Pass,
            };
        }
        if p.opens() {
            // A new connection on these ports starts counting afresh.
            self.flows.remove(&flow);
        }
        if self.flows.len() >= MAX_COUNTED && !self.flows.contains_key(&flow) {
            // Bounded: a table this full loses a count rather than grow.
            if let Some(any) = self.flows.keys().next().copied() {
                self.flows.remove(&any);
            }
        }
        let (bytes, done) = self.flows.entry(flow).or_default();
        *bytes += p.payload as u64;
        match self.params.after_bytes {
            None if on => Verdict::Reset,
            Some(limit) if on && !*done && *bytes > limit.bytes() => {
                *done = true;
                Verdict::Reset
            }
            _ => Verdict::Pass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::packet::tests::packet;

    fn tcp(fl: u8, payload: usize) -> TcpPacket {
        TcpPacket::parse(&packet("10.0.0.1:5000", "10.0.0.2:80", 1, 1, fl, payload)).expect("tcp")
    }

    #[test]
    fn on_packets_a_reset_fires_past_its_bytes_once() {
        let mut r = PacketReset::new(Reset {
            after_bytes: Some(ByteSize(1000)),
            wait: None,
        });
        assert_eq!(r.on_packet(&tcp(flags::SYN, 0), true), Verdict::Pass);
        assert_eq!(r.on_packet(&tcp(flags::ACK, 600), false), Verdict::Pass);
        assert_eq!(
            r.on_packet(&tcp(flags::ACK, 400), true),
            Verdict::Pass,
            "not past"
        );
        assert_eq!(r.on_packet(&tcp(flags::ACK, 1), true), Verdict::Reset);
        assert_eq!(
            r.on_packet(&tcp(flags::ACK, 1), true),
            Verdict::Pass,
            "once"
        );
        // A new connection on the same ports counts again.
        assert_eq!(r.on_packet(&tcp(flags::SYN, 0), true), Verdict::Pass);
        assert_eq!(r.on_packet(&tcp(flags::ACK, 1001), true), Verdict::Reset);
    }

    #[test]
    fn on_packets_a_reset_window_resets_every_packet_but_an_rst() {
        let mut r = PacketReset::new(Reset {
            after_bytes: None,
            wait: None,
        });
        assert_eq!(r.on_packet(&tcp(flags::ACK, 10), false), Verdict::Pass);
        assert_eq!(r.on_packet(&tcp(flags::SYN, 0), true), Verdict::Reset);
        assert_eq!(r.on_packet(&tcp(flags::RST, 0), true), Verdict::Pass);
    }
}
