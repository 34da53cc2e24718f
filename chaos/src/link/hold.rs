//! Flows the link reset, held reset for a while: pure (time passed in), asked by the flow gate
//! about every TCP packet before the faults are.
//!
//! A forged RST carries the sequence number each end was last seen to expect. With bytes in
//! flight both ways an end may have moved on when it lands; Linux then takes it only if it is
//! exactly `rcv_nxt` (RFC 5961; in the window it answers a challenge ACK, below it drops it),
//! so that end lives on. Its next packet says exactly what it expects: its ack. So while the
//! fault that reset a flow is on, and for at most [`RESET_HOLD`], a later packet of the flow is
//! dropped and answered with an RST of that sequence number, as a middlebox that reset a flow
//! answers any later packet of it. An end's own RST passes (the other end may need it); a SYN
//! on the same ports is a new connection and lifts the hold.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use tokio::time::Instant;

use crate::fault::packet::{FlowKey, FlowSeqs, TcpPacket, flags};

/// The longest a flow stays reset after its RSTs.
pub(crate) const RESET_HOLD: Duration = Duration::from_secs(10);

/// How long an end may take to receive what passed toward it before the reset: until then its
/// packets are answered only once they acknowledge all of it (so the RST does not overtake
/// bytes already on their way, as no RST on a wire does); after it, whatever they acknowledge
/// (bytes lost on the way after the gate would never be).
pub(crate) const IN_FLIGHT_GRACE: Duration = Duration::from_millis(200);

/// What the hold says of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// Not held: the faults decide.
    Free,
    /// An end's own RST of a held flow: let it through, decided.
    PassRst,
    /// Drop it; answer its sender with an RST of this sequence number (`None`: no ACK to take
    /// it from, just drop).
    Answer(Option<u32>),
}

/// The flows held reset, each by the fault that reset it, bounded to `max`.
pub(crate) struct ResetHold {
    /// Each held flow's fault, when its hold ends, and what had passed each way when it was
    /// reset.
    flows: HashMap<FlowKey, (usize, Instant, FlowSeqs)>,
    /// Flows in the order their holds end (every hold is as long), for expiry and eviction.
    order: VecDeque<(Instant, FlowKey)>,
    max: usize,
}

impl ResetHold {
    /// An empty hold of at most `max` flows.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            flows: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// `flow` was just reset by fault `fault`, `passed` having gone each way: held until `now` +
    /// [`RESET_HOLD`]. A full hold lets the flow whose hold ends soonest go.
    pub(crate) fn mark(&mut self, flow: FlowKey, fault: usize, passed: FlowSeqs, now: Instant) {
        let until = now + RESET_HOLD;
        while self.flows.len() >= self.max && !self.flows.contains_key(&flow) {
            let Some((at, key)) = self.order.pop_front() else {
                break;
            };
            // Only the entry that is still that flow's hold counts.
            if self.flows.get(&key).is_some_and(|(_, u, _)| *u == at) {
                self.flows.remove(&key);
            }
        }
        self.flows.insert(flow, (fault, until, passed));
        self.order.push_back((until, flow));
    }

    /// A packet of `flow`, at `now`, with `on(fault)` saying whether a fault is on.
    pub(crate) fn on_packet(
        &mut self,
        p: &TcpPacket,
        flow: FlowKey,
        now: Instant,
        on: impl Fn(usize) -> bool,
    ) -> Held {
        let Some(&(fault, until, passed)) = self.flows.get(&flow) else {
            return Held::Free;
        };
        if now >= until || p.opens() || !on(fault) {
            self.flows.remove(&flow);
            return Held::Free;
        }
        if p.has(flags::RST) {
            return Held::PassRst;
        }
        if !p.has(flags::ACK) {
            return Held::Answer(None);
        }
        // What the other end had sent through before the reset, which this end must have.
        let (_, from_lo) = p.flow();
        let owed = if from_lo {
            passed.hi_end
        } else {
            passed.lo_end
        };
        let has_all = owed.is_none_or(|owed| (p.ack.wrapping_sub(owed) as i32) >= 0);
        let marked = until - RESET_HOLD;
        match has_all || now >= marked + IN_FLIGHT_GRACE {
            true => Held::Answer(Some(p.ack)),
            false => Held::Answer(None),
        }
    }

    /// Lets holds that ended by `now` go.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.order.front() {
            if at > now {
                break;
            }
            self.order.pop_front();
            if self.flows.get(&key).is_some_and(|(_, u, _)| *u == at) {
                self.flows.remove(&key);
            }
        }
    }

    /// Flows held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.flows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::packet::tests::packet;

    fn tcp(src: &str, dst: &str, ack: u32, fl: u8) -> TcpPacket {
        TcpPacket::parse(&packet(src, dst, 100, ack, fl, 10)).expect("tcp")
    }

    const A: &str = "10.0.0.1:5000";
    const B: &str = "10.0.0.2:80";

    #[tokio::test(start_paused = true)]
    async fn a_held_flow_is_answered_with_the_sequence_number_each_packet_acknowledges() {
        let mut hold = ResetHold::new(8);
        let p = tcp(A, B, 777, flags::ACK);
        let (flow, _) = p.flow();
        let now = Instant::now();
        assert_eq!(hold.on_packet(&p, flow, now, |_| true), Held::Free);
        hold.mark(flow, 0, FlowSeqs::default(), now);
        assert_eq!(
            hold.on_packet(&p, flow, now, |_| true),
            Held::Answer(Some(777))
        );
        // The other way too, with its own ack.
        let back = tcp(B, A, 4242, flags::ACK | 0x08);
        assert_eq!(
            hold.on_packet(&back, flow, now, |_| true),
            Held::Answer(Some(4242))
        );
        // Without an ACK (0x08: PSH alone) there is nothing exact to answer: dropped.
        let bare = tcp(A, B, 0, 0x08);
        assert_eq!(
            hold.on_packet(&bare, flow, now, |_| true),
            Held::Answer(None)
        );
        // An end's own RST passes.
        let rst = tcp(B, A, 0, flags::RST);
        assert_eq!(hold.on_packet(&rst, flow, now, |_| true), Held::PassRst);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_ends_with_its_time_a_new_connection_or_its_fault_turning_off() {
        let mut hold = ResetHold::new(8);
        let p = tcp(A, B, 1, flags::ACK);
        let (flow, _) = p.flow();
        let now = Instant::now();
        hold.mark(flow, 3, FlowSeqs::default(), now);
        let later = now + RESET_HOLD;
        assert_eq!(
            hold.on_packet(&p, flow, later, |_| true),
            Held::Free,
            "ended"
        );
        hold.mark(flow, 3, FlowSeqs::default(), now);
        let syn = tcp(A, B, 0, flags::SYN);
        assert_eq!(
            hold.on_packet(&syn, flow, now, |_| true),
            Held::Free,
            "a SYN"
        );
        hold.mark(flow, 3, FlowSeqs::default(), now);
        // Fault 3 off (a conntrack window closed, the fault removed): the flow is free.
        assert_eq!(hold.on_packet(&p, flow, now, |f| f != 3), Held::Free, "off");
        assert_eq!(hold.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_hold_lets_the_soonest_to_end_go_and_expiry_keeps_it_small() {
        let mut hold = ResetHold::new(2);
        let now = Instant::now();
        let flows: Vec<FlowKey> = (0..3)
            .map(|i| {
                tcp(&format!("10.0.0.1:{}", 5000 + i), B, 1, flags::ACK)
                    .flow()
                    .0
            })
            .collect();
        for (i, flow) in flows.iter().enumerate() {
            hold.mark(
                *flow,
                0,
                FlowSeqs::default(),
                now + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(hold.len(), 2);
        let p = tcp("10.0.0.1:5000", B, 1, flags::ACK);
        assert_eq!(
            hold.on_packet(&p, flows[0], now, |_| true),
            Held::Free,
            "the first held went"
        );
        hold.expire(now + RESET_HOLD + Duration::from_millis(5));
        assert_eq!(hold.len(), 0);
        // A flow marked again keeps its newest hold when the old one's time comes.
        hold.mark(flows[1], 0, FlowSeqs::default(), now);
        hold.mark(
            flows[1],
            0,
            FlowSeqs::default(),
            now + Duration::from_secs(5),
        );
        hold.expire(now + RESET_HOLD);
        assert_eq!(hold.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_end_is_answered_once_it_has_what_passed_toward_it_or_after_the_grace() {
        let mut hold = ResetHold::new(8);
        let now = Instant::now();
        let flow = tcp(A, B, 1, flags::ACK).flow().0;
        // B had sent up to 1000 through the link when the flow was reset; A up to 50.
        let passed = FlowSeqs {
            lo_end: Some(50),
            hi_end: Some(1000),
        };
        hold.mark(flow, 0, passed, now);
        // A (lo) acknowledging 900: 100 bytes are still on their way to it. Dropped only.
        let behind = tcp(A, B, 900, flags::ACK);
        assert_eq!(
            hold.on_packet(&behind, flow, now, |_| true),
            Held::Answer(None)
        );
        let caught_up = tcp(A, B, 1000, flags::ACK);
        assert_eq!(
            hold.on_packet(&caught_up, flow, now, |_| true),
            Held::Answer(Some(1000))
        );
        // B has everything A sent.
        let b = tcp(B, A, 50, flags::ACK);
        assert_eq!(
            hold.on_packet(&b, flow, now, |_| true),
            Held::Answer(Some(50))
        );
        // Bytes lost after the gate never come: after the grace, whatever it acknowledges.
        let later = now + IN_FLIGHT_GRACE;
        assert_eq!(
            hold.on_packet(&behind, flow, later, |_| true),
            Held::Answer(Some(900))
        );
    }
}
