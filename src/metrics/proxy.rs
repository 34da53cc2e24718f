//! The TCP proxy's metrics, from [`ProxyStatsSnapshot`] (one proxy, or a proxy per leader
//! node, summed).

use std::collections::BTreeMap;

use prometheus_client::{collector::Collector, encoding::DescriptorEncoder};

use super::text::{Labels, Writer};
use crate::chaos::{
    Direction,
    proxy::{ProxyStatsSnapshot, ProxyStatsSource},
};

/// Every metric name this file writes, in order.
pub const NAMES: &[&str] = &[
    "rrbench_proxy_relayed_bytes_total",
    "rrbench_proxy_connections_opened_total",
    "rrbench_proxy_connections_failed_total",
    "rrbench_proxy_connections_reset_total",
    "rrbench_proxy_connections_open",
    "rrbench_proxy_fault_active",
    "rrbench_proxy_faults_active",
    "rrbench_proxy_effect_bytes_total",
];

/// One or more proxies as a metrics source.
#[derive(Debug)]
pub struct ProxyCollector {
    proxies: Vec<ProxyStatsSource>,
}

impl ProxyCollector {
    /// The proxies' counters, summed (their faults are the same list).
    pub fn new(proxies: Vec<ProxyStatsSource>) -> Self {
        Self { proxies }
    }
}

impl Collector for ProxyCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> std::fmt::Result {
        let all: Vec<_> = self.proxies.iter().map(|p| p.snapshot()).collect();
        write(&mut Writer::new(encoder), &all)
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Upstream => "upstream",
        Direction::Downstream => "downstream",
        Direction::Both => "both",
    }
}

/// Writes the sum of `all` (see [`NAMES`]).
pub(crate) fn write(w: &mut Writer, all: &[ProxyStatsSnapshot]) -> std::fmt::Result {
    let sum = |f: fn(&ProxyStatsSnapshot) -> u64| all.iter().map(f).sum::<u64>();
    let bytes: [(Labels, u64); 2] = [
        (
            vec![("direction", "upstream".into())],
            sum(|s| s.bytes_upstream),
        ),
        (
            vec![("direction", "downstream".into())],
            sum(|s| s.bytes_downstream),
        ),
    ];
    w.counter_family(
        NAMES[0],
        "Bytes relayed: upstream is client to server (follower to leader), downstream the reverse.",
        &bytes,
    )?;
    w.counter(
        NAMES[1],
        "Connections accepted and relayed (their upstream connection opened).",
        sum(|s| s.connections_opened),
    )?;
    w.counter(
        NAMES[2],
        "Connections accepted whose upstream could not be reached.",
        sum(|s| s.connections_failed),
    )?;
    w.counter(
        NAMES[3],
        "Connections ended by a reset (a fault's or a peer's).",
        sum(|s| s.connections_reset),
    )?;
    w.gauge(
        NAMES[4],
        "Connections open now.",
        sum(|s| s.connections_open),
    )?;
    // A fault is on where it is on in any of the proxies (they share one schedule).
    // Keyed by the series' labels, so two proxies listing the same fault at other positions
    // still make one series (a series given twice is not valid exposition).
    let mut faults: BTreeMap<(String, String), bool> = BTreeMap::new();
    for s in all {
        for f in &s.faults {
            *faults.entry((f.name.clone(), f.kind.clone())).or_default() |= f.on;
        }
    }
    let active: Vec<(Labels, u64)> = faults
        .iter()
        .map(|((name, kind), on)| {
            (
                vec![("fault", name.clone()), ("type", kind.clone())],
                u64::from(*on),
            )
        })
        .collect();
    w.gauge_family(NAMES[5], "1 while the fault is on, else 0.", &active)?;
    w.gauge(
        NAMES[6],
        "Faults on now.",
        active.iter().map(|(_, on)| on).sum(),
    )?;
    let mut effects: BTreeMap<(String, &'static str, &'static str), u64> = BTreeMap::new();
    for e in all.iter().flat_map(|s| &s.effects) {
        *effects
            .entry((e.fault.clone(), e.effect, direction_name(e.direction)))
            .or_default() += e.bytes;
    }
    let effects: Vec<(Labels, u64)> = effects
        .into_iter()
        .map(|((fault, effect, direction), bytes)| {
            (
                vec![
                    ("fault", fault),
                    ("effect", effect.into()),
                    ("direction", direction.into()),
                ],
                bytes,
            )
        })
        .collect();
    w.counter_family(
        NAMES[7],
        "Bytes each fault's effects touched (delayed, throttled, dropped, corrupted, stalled, truncated; corrupted: bytes changed), as reported to the event log (every 100 ms).",
        &effects,
    )
}
