//! `conntrack` (L3 link only): a stateful firewall, NAT or cloud load balancer that forgets a
//! TCP *flow* after it carried no *packet* for `idle`.
//!
//! A flow (both directions of one TCP connection) is created by its SYN (by any packet with
//! `strict = false`), refreshed by every packet either way, and forgotten after `idle` without one,
//! or when a new flow finds the table full (`max_flows`; the least recently used goes). TCP
//! keepalive probes are packets, so keepalive below `idle` keeps a flow; contrast
//! [`idle_timeout`](super::idle_timeout), which counts only data. A forgotten flow's next packets
//! are dropped silently (`action = "drop"`, as NAT does) or answered with an RST to both ends
//! (`action = "reset"`). With `strict` (the default) a mid-flow packet of a flow never seen is
//! treated like one of a forgotten flow; with `strict = false` such a flow is picked up, but a
//! forgotten one stays forgotten until a new SYN.
//!
//! While the fault is off the table still follows every flow, so turning it on does not forget
//! the connections already open. `direction` does not apply: a flow is both directions.
//! The table ([`ConntrackTable`]) is a pure state machine: time is an argument, the answer a
//! [`Verdict`] (`Pass`, `Drop`, or `Reset` for both ends); the link forges and sends the RSTs.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    time::Duration,
};

use serde::Serialize;
use tokio::time::Instant;

use super::{
    packet::{FlowKey, TcpPacket, flags},
    verdict::{Behaviour, Verdict},
};

/// What happens to a forgotten flow's packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Dropped silently (NAT, most firewalls).
    #[default]
    Drop,
    /// Answered with an RST to both ends (some firewalls and load balancers).
    Reset,
}

/// Parameters of a conntrack fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Conntrack {
    /// A flow is forgotten after this long without a packet either way.
    #[serde(with = "crate::units::duration_serde")]
    pub idle: Duration,
    /// What a forgotten flow's packets meet.
    pub action: Action,
    /// Whether only a SYN creates a flow.
    pub strict: bool,
    /// The table's size; a new flow past it evicts the least recently used.
    pub max_flows: usize,
}

impl Conntrack {
    /// The default `max_flows`.
    pub const MAX_FLOWS: usize = 65_536;
}

/// The link applies conntrack through [`ConntrackTable`]; the datagram lane has nothing to ask.
impl Behaviour for Conntrack {}

/// Something the table did to a flow, for the event log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowNote {
    /// A flow was created.
    Created(FlowKey),
    /// A flow was forgotten.
    Forgotten {
        /// The flow.
        flow: FlowKey,
        /// How long it had carried nothing.
        idle: Duration,
        /// Packets it carried after the one that created it.
        refreshes: u64,
        /// Evicted from a full table (rather than idle).
        evicted: bool,
    },
}

#[derive(Debug)]
struct Entry {
    last: Instant,
    stamp: u64,
    refreshes: u64,
}

/// One conntrack fault's table of flows.
#[derive(Debug)]
pub struct ConntrackTable {
    params: Conntrack,
    flows: HashMap<FlowKey, Entry>,
    /// Flows by last packet, oldest first (stamps grow with time).
    lru: BTreeMap<u64, FlowKey>,
    next_stamp: u64,
    forgotten: HashSet<FlowKey>,
    forgotten_order: VecDeque<FlowKey>,
}

impl ConntrackTable {
    /// An empty table.
    pub fn new(params: Conntrack) -> Self {
        Self {
            params,
            flows: HashMap::new(),
            lru: BTreeMap::new(),
            next_stamp: 0,
            forgotten: HashSet::new(),
            forgotten_order: VecDeque::new(),
        }
    }

    /// Flows in the table.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Whether `flow` is in the table.
    pub fn knows(&self, flow: &FlowKey) -> bool {
        self.flows.contains_key(flow)
    }

    /// Forgets flows idle for `idle` at `now`.
    pub fn sweep(&mut self, now: Instant, notes: &mut Vec<FlowNote>) {
        while let Some((&stamp, &flow)) = self.lru.first_key_value() {
            let Some(e) = self.flows.get(&flow) else {
                self.lru.remove(&stamp);
                continue;
            };
            let idle = now.saturating_duration_since(e.last);
            if idle < self.params.idle {
                break;
            }
            self.forget(flow, idle, false, notes);
        }
    }

    fn forget(&mut self, flow: FlowKey, idle: Duration, evicted: bool, notes: &mut Vec<FlowNote>) {
        if let Some(e) = self.flows.remove(&flow) {
            self.lru.remove(&e.stamp);
            notes.push(FlowNote::Forgotten {
                flow,
                idle,
                refreshes: e.refreshes,
                evicted,
            });
        }
        if self.forgotten.insert(flow) {
            self.forgotten_order.push_back(flow);
        }
        // Remember no more forgotten flows than the table holds.
        while self.forgotten_order.len() > self.params.max_flows.max(1) {
            if let Some(old) = self.forgotten_order.pop_front() {
                self.forgotten.remove(&old);
            }
        }
    }

    fn touch(&mut self, flow: FlowKey, now: Instant) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        if let Some(e) = self.flows.get_mut(&flow) {
            self.lru.remove(&e.stamp);
            e.last = now;
            e.stamp = stamp;
            e.refreshes += 1;
            self.lru.insert(stamp, flow);
        }
    }

    fn create(&mut self, flow: FlowKey, now: Instant, notes: &mut Vec<FlowNote>) {
        while self.flows.len() >= self.params.max_flows.max(1) {
            let Some((_, &oldest)) = self.lru.first_key_value() else {
                break;
            };
            let idle = self
                .flows
                .get(&oldest)
                .map_or(Duration::ZERO, |e| now.saturating_duration_since(e.last));
            self.forget(oldest, idle, true, notes);
        }
        self.forgotten.remove(&flow);
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.flows.insert(
            flow,
            Entry {
                last: now,
                stamp,
                refreshes: 0,
            },
        );
        self.lru.insert(stamp, flow);
        notes.push(FlowNote::Created(flow));
    }

    /// A TCP packet at `now`; `enforce` is whether the fault is on for this flow (off, every
    /// packet keeps or creates its flow and passes). Returns `Pass`, `Drop` or `Reset` (RST both
    /// ends); what happened to flows goes to `notes`.
    pub fn on_packet(
        &mut self,
        p: &TcpPacket,
        now: Instant,
        enforce: bool,
        notes: &mut Vec<FlowNote>,
    ) -> Verdict {
        self.sweep(now, notes);
        let (flow, _) = p.flow();
        if self.flows.contains_key(&flow) {
            self.touch(flow, now);
            return Verdict::Pass;
        }
        let picked_up = !self.params.strict && !self.forgotten.contains(&flow);
        if p.opens() || picked_up || !enforce {
            self.create(flow, now, notes);
            return Verdict::Pass;
        }
        // Never answer an RST with one.
        match self.params.action {
            Action::Reset if !p.has(flags::RST) => Verdict::Reset,
            _ => Verdict::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{Fault, FaultKind, packet::tests::packet};

    const ACK: u8 = flags::ACK;

    fn table(spec: &str) -> ConntrackTable {
        match spec.parse::<Fault>().expect(spec).kind {
            FaultKind::Conntrack(c) => ConntrackTable::new(c),
            other => panic!("{other:?}"),
        }
    }

    fn tcp(src: &str, dst: &str, fl: u8) -> TcpPacket {
        TcpPacket::parse(&packet(src, dst, 1, 1, fl, 0)).expect("tcp")
    }

    const A: &str = "10.0.0.1:5000";
    const B: &str = "10.0.0.2:80";

    fn run(t: &mut ConntrackTable, p: &TcpPacket, at: Instant) -> (Verdict, Vec<FlowNote>) {
        let mut notes = Vec::new();
        (t.on_packet(p, at, true, &mut notes), notes)
    }

    #[test]
    fn a_syn_creates_a_flow_and_packets_either_way_refresh_it() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut t = table("conntrack:idle=3s");
        let (v, notes) = run(&mut t, &tcp(A, B, flags::SYN), t0);
        assert_eq!(v, Verdict::Pass);
        assert!(matches!(notes[..], [FlowNote::Created(_)]));
        // Each packet within 3 s of the last, alternating directions: 8 s in all.
        for i in 1..=4u32 {
            let p = if i % 2 == 0 {
                tcp(A, B, ACK)
            } else {
                tcp(B, A, ACK)
            };
            assert_eq!(run(&mut t, &p, t0 + 2 * s * i).0, Verdict::Pass, "{i}");
        }
        assert_eq!(t.len(), 1);
        // Then 3 s of silence forgets it, with its refreshes counted.
        let mut notes = Vec::new();
        t.sweep(t0 + 11 * s, &mut notes);
        let [
            FlowNote::Forgotten {
                idle,
                refreshes,
                evicted,
                ..
            },
        ] = notes[..]
        else {
            panic!("{notes:?}");
        };
        assert_eq!((idle, refreshes, evicted), (3 * s, 4, false));
        assert_eq!(run(&mut t, &tcp(A, B, ACK), t0 + 12 * s).0, Verdict::Drop);
        assert_eq!(
            run(&mut t, &tcp(B, A, ACK), t0 + 12 * s).0,
            Verdict::Drop,
            "both ways"
        );
    }

    #[test]
    fn expiry_is_noticed_by_the_next_packet_too() {
        let t0 = Instant::now();
        let mut t = table("conntrack:idle=2s,action=reset");
        run(&mut t, &tcp(A, B, flags::SYN), t0);
        let (v, notes) = run(&mut t, &tcp(A, B, ACK), t0 + Duration::from_millis(2500));
        assert_eq!(v, Verdict::Reset);
        assert!(matches!(
            notes[..],
            [FlowNote::Forgotten { evicted: false, .. }]
        ));
        assert_eq!(
            run(
                &mut t,
                &tcp(A, B, flags::RST | ACK),
                t0 + Duration::from_secs(3)
            )
            .0,
            Verdict::Drop,
            "an RST is not answered with one"
        );
        // A new SYN on the same ports is a new connection.
        assert_eq!(
            run(&mut t, &tcp(A, B, flags::SYN), t0 + Duration::from_secs(3)).0,
            Verdict::Pass
        );
        assert_eq!(
            run(&mut t, &tcp(B, A, ACK), t0 + Duration::from_secs(3)).0,
            Verdict::Pass
        );
    }

    #[test]
    fn strict_refuses_unknown_mid_flow_packets_and_loose_picks_them_up() {
        let t0 = Instant::now();
        let mut strict = table("conntrack:idle=2s");
        assert_eq!(run(&mut strict, &tcp(A, B, ACK), t0).0, Verdict::Drop);
        assert!(strict.is_empty());
        let mut loose = table("conntrack:idle=2s,strict=false");
        assert_eq!(run(&mut loose, &tcp(A, B, ACK), t0).0, Verdict::Pass);
        assert_eq!(loose.len(), 1);
        // ... but a flow it forgot stays forgotten.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(run(&mut loose, &tcp(B, A, ACK), later).0, Verdict::Drop);
    }

    #[test]
    fn while_off_every_packet_keeps_its_flow() {
        let t0 = Instant::now();
        let mut t = table("conntrack:idle=2s");
        let mut notes = Vec::new();
        assert_eq!(
            t.on_packet(&tcp(A, B, ACK), t0, false, &mut notes),
            Verdict::Pass
        );
        assert_eq!(
            run(&mut t, &tcp(B, A, ACK), t0 + Duration::from_secs(1)).0,
            Verdict::Pass
        );
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_used() {
        let t0 = Instant::now();
        let ms = Duration::from_millis(1);
        let mut t = table("conntrack:idle=1h,max_flows=2");
        let (c1, c2, c3) = ("10.0.0.1:1", "10.0.0.1:2", "10.0.0.1:3");
        run(&mut t, &tcp(c1, B, flags::SYN), t0);
        run(&mut t, &tcp(c2, B, flags::SYN), t0 + ms);
        // c1 is used again, so c2 is now the least recently used.
        run(&mut t, &tcp(B, c1, ACK), t0 + 2 * ms);
        let (_, notes) = run(&mut t, &tcp(c3, B, flags::SYN), t0 + 3 * ms);
        let evicted = tcp(c2, B, ACK).flow().0;
        assert_eq!(
            notes[0],
            FlowNote::Forgotten {
                flow: evicted,
                idle: 2 * ms,
                refreshes: 0,
                evicted: true
            }
        );
        assert_eq!(t.len(), 2);
        assert_eq!(run(&mut t, &tcp(c2, B, ACK), t0 + 4 * ms).0, Verdict::Drop);
        assert_eq!(run(&mut t, &tcp(c1, B, ACK), t0 + 4 * ms).0, Verdict::Pass);
    }
}
