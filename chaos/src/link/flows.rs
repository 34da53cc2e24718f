//! The link's TCP flow faults (`conntrack`, `reset`): asked about every packet either way before
//! the datagram faults, and able to answer a packet with RSTs to *both* ends, so the gate holds
//! both TUN devices and both pumps share it.
//!
//! What each fault decides is pure ([`ConntrackTable`], [`PacketReset`]); this file keeps one lock
//! over their tables and the sequence numbers of every flow (so an RST is forged with the one each
//! kernel accepts), logs what they did, and writes the RSTs. A periodic task forgets idle flows
//! on time and resets every known flow when a `reset` fault turns on.

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use super::{
    hold::{Held, ResetHold},
    tun::Tun,
};
use crate::{
    datagram::Shared,
    events::EventKind,
    fault::{
        Direction, FaultKind, Verdict,
        conntrack::{ConntrackTable, FlowNote},
        packet::{FlowKey, FlowSeqs, TcpPacket, flags, forge_rst, reset_both},
        reset::PacketReset,
    },
    rng::SeededRng,
    shutdown::Signal,
};

/// How often idle flows are looked for.
const SWEEP: Duration = Duration::from_millis(100);

/// Sequence numbers of a flow not seen for this long are let go.
const SEQS_KEPT: Duration = Duration::from_secs(3600);

/// Most flows whose sequence numbers are remembered (a conntrack table's default size).
const SEQS_MAX: usize = 65_536;

enum Machine {
    Conntrack(ConntrackTable),
    Reset {
        table: PacketReset,
        /// Turn-ons already acted on.
        fired: u64,
    },
}

struct FlowFault {
    index: usize,
    machine: Machine,
}

struct State {
    faults: Vec<FlowFault>,
    seqs: HashMap<FlowKey, (FlowSeqs, Instant)>,
    /// Flows reset, held so while their fault is on (`hold.rs`).
    hold: ResetHold,
}

/// The flow faults of one link, between its two TUN devices.
pub(crate) struct Gate {
    shared: Arc<Shared>,
    near: Arc<Tun>,
    far: Arc<Tun>,
    near_ip: Ipv4Addr,
    state: Mutex<State>,
    /// A `reset` counts bytes (`after_bytes`): then it must see wire packets, not super-packets.
    counts_bytes: bool,
}

/// RSTs to write: to the near (host) side or not, and the packet.
type Rsts = Vec<(bool, Vec<u8>)>;

impl Gate {
    /// The gate for `shared`'s flow faults, or `None` if it has none.
    pub(crate) fn new(
        shared: Arc<Shared>,
        near: Arc<Tun>,
        far: Arc<Tun>,
        near_ip: Ipv4Addr,
    ) -> Option<Arc<Self>> {
        let faults: Vec<FlowFault> = shared
            .faults()
            .iter()
            .enumerate()
            .filter_map(|(index, f)| {
                let machine = match f.kind {
                    FaultKind::Conntrack(c) => Machine::Conntrack(ConntrackTable::new(c)),
                    FaultKind::Reset(r) => Machine::Reset {
                        table: PacketReset::new(r),
                        fired: 0,
                    },
                    _ => return None,
                };
                Some(FlowFault { index, machine })
            })
            .collect();
        if faults.is_empty() {
            return None;
        }
        let counts_bytes = faults.iter().any(|f| match &f.machine {
            Machine::Reset { table, .. } => table.after_bytes().is_some(),
            Machine::Conntrack(_) => false,
        });
        Some(Arc::new(Self {
            shared,
            near,
            far,
            near_ip,
            counts_bytes,
            state: Mutex::new(State {
                faults,
                seqs: HashMap::new(),
                hold: ResetHold::new(SEQS_MAX),
            }),
        }))
    }

    /// Whether fault `index` picks this flow (its toxicity, drawn once per flow from the seed).
    fn affects(&self, index: usize, flow: &FlowKey) -> bool {
        let toxicity = self.shared.faults()[index].toxicity;
        toxicity >= 1.0
            || SeededRng::for_connection(self.shared.seed(), flow.id(), index, 11).chance(toxicity)
    }

    fn record_notes(&self, index: usize, notes: &mut Vec<FlowNote>) {
        let fault = &self.shared.faults()[index].name;
        for note in notes.drain(..) {
            self.shared.events().record(match note {
                FlowNote::Created(flow) => EventKind::FlowOpen {
                    fault: fault.clone(),
                    flow: flow.to_string(),
                },
                FlowNote::Forgotten {
                    flow,
                    idle,
                    refreshes,
                    evicted,
                } => EventKind::FlowExpired {
                    fault: fault.clone(),
                    flow: flow.to_string(),
                    idle_s: idle.as_secs_f64(),
                    refreshes,
                    reason: if evicted { "evicted" } else { "idle" }.into(),
                },
            });
        }
    }

    fn rsts(&self, flow: FlowKey, packets: [Vec<u8>; 2]) -> Rsts {
        let lo_near = *flow.lo.ip() == self.near_ip;
        let [to_lo, to_hi] = packets;
        [(lo_near, to_lo), (!lo_near, to_hi)]
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .collect()
    }

    /// Whether a fault of the gate counts a flow's bytes (then a super-packet is cut into wire
    /// packets before it is checked, so the count stops where a wire's would).
    pub(crate) fn counts_bytes(&self) -> bool {
        self.counts_bytes
    }

    /// A packet read from the near (host) device (`from_near`) or the far one. `None`: pass it
    /// on; `Some`: it is dropped, and these RSTs are to be sent (perhaps none).
    pub(crate) fn check(&self, from_near: bool, bytes: &[u8]) -> Option<Rsts> {
        let p = TcpPacket::parse(bytes)?;
        let (flow, from_lo) = p.flow();
        let direction = if from_near {
            Direction::Upstream
        } else {
            Direction::Downstream
        };
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state
            .hold
            .on_packet(&p, flow, now, |i| self.shared.is_on(i))
        {
            Held::Free => {}
            Held::PassRst => return None,
            // An end that did not take its RST: one with exactly the sequence number it
            // acknowledges, and nothing of the flow passes.
            Held::Answer(seq) => {
                let answer = seq.map(|seq| (from_near, forge_rst(p.dst, p.src, seq, None)));
                return Some(answer.into_iter().collect());
            }
        }
        let mut notes = Vec::new();
        let mut decided = None;
        for ff in &mut state.faults {
            let on = self.shared.is_on(ff.index);
            let affected = self.affects(ff.index, &flow);
            let verdict = match &mut ff.machine {
                Machine::Conntrack(t) => t.on_packet(&p, now, on && affected, &mut notes),
                Machine::Reset { table, .. } if affected => table.on_packet(&p, on),
                Machine::Reset { .. } => Verdict::Pass,
            };
            self.record_notes(ff.index, &mut notes);
            if verdict != Verdict::Pass {
                decided = Some((ff.index, verdict));
                break;
            }
        }
        let Some((index, verdict)) = decided else {
            if p.has(flags::RST) {
                state.seqs.remove(&flow);
            } else {
                if state.seqs.len() >= SEQS_MAX && !state.seqs.contains_key(&flow) {
                    // A full record: the flow heard from longest ago goes.
                    let oldest = state.seqs.iter().min_by_key(|(_, (_, last))| *last);
                    if let Some(key) = oldest.map(|(k, _)| *k) {
                        state.seqs.remove(&key);
                    }
                }
                let entry = state.seqs.entry(flow).or_insert((FlowSeqs::default(), now));
                entry.0.saw(&p, from_lo);
                entry.1 = now;
            }
            return None;
        };
        let fault = self.shared.faults()[index].name.clone();
        let flow_text = flow.to_string();
        if verdict != Verdict::Reset {
            self.shared.events().record(EventKind::FlowDrop {
                fault,
                flow: flow_text,
                direction,
            });
            return Some(Vec::new());
        }
        let seqs = state.seqs.remove(&flow).map(|(s, _)| s).unwrap_or_default();
        state.hold.mark(flow, index, seqs, now);
        drop(state);
        self.shared.events().record(EventKind::FlowReset {
            fault,
            flow: flow_text,
            direction,
        });
        Some(self.rsts(flow, reset_both(flow, seqs, Some((&p, from_lo)))))
    }

    /// Forgets idle flows and acts on `reset` faults that turned on; returns RSTs to send.
    fn tick(&self) -> Rsts {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State { faults, seqs, hold } = &mut *state;
        seqs.retain(|_, (_, last)| now.saturating_duration_since(*last) < SEQS_KEPT);
        hold.expire(now);
        let mut out = Vec::new();
        let mut notes = Vec::new();
        for ff in faults.iter_mut() {
            match &mut ff.machine {
                Machine::Conntrack(t) => {
                    t.sweep(now, &mut notes);
                    self.record_notes(ff.index, &mut notes);
                }
                Machine::Reset { table, fired } => {
                    let now_fired = self.shared.fired(ff.index);
                    if now_fired == *fired {
                        continue;
                    }
                    *fired = now_fired;
                    // With `after_bytes` a flow is reset by its own bytes, not by the fault
                    // turning on (as on the TCP proxy).
                    if table.after_bytes().is_some() {
                        continue;
                    }
                    let fault = &self.shared.faults()[ff.index].name;
                    let hit: Vec<FlowKey> = seqs
                        .keys()
                        .filter(|flow| self.affects(ff.index, flow))
                        .copied()
                        .collect();
                    for flow in hit {
                        let Some((s, _)) = seqs.remove(&flow) else {
                            continue;
                        };
                        self.shared.events().record(EventKind::FlowReset {
                            fault: fault.clone(),
                            flow: flow.to_string(),
                            direction: Direction::Both,
                        });
                        out.extend(self.rsts(flow, reset_both(flow, s, None)));
                        hold.mark(flow, ff.index, s, now);
                    }
                }
            }
        }
        out
    }

    /// Writes RSTs into the kernels they are addressed to.
    pub(crate) async fn send(&self, rsts: Rsts) {
        for (near, packet) in rsts {
            let tun = if near { &self.near } else { &self.far };
            // Lost if it cannot be written, as on a network.
            let _ = tun.send_packet(&packet).await;
        }
    }

    /// Sweeps idle flows and watches for `reset` edges until stopped.
    pub(crate) async fn run(self: Arc<Self>, mut stop: Signal) {
        let mut sweep = tokio::time::interval(SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.recv() => return,
                _ = sweep.tick() => {}
                () = self.shared.edges.notified() => {}
            }
            let rsts = self.tick();
            self.send(rsts).await;
        }
    }
}
