//! Running totals of a TCP proxy, for `/metrics` and anyone else who asks while it runs: bytes
//! relayed each way, connections by how they went, and the bytes each fault's effects touched.
//!
//! The event log already says all of this, but only event by event (bytes at a connection's
//! close, effects every 100 ms) and in a list that grows for the proxy's whole life; a scrape
//! needs the totals now, at a cost that does not grow with the run. These counters are bumped
//! where the events are recorded, so the two agree. Formatting them is not this module's job.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use super::Shared;
use crate::fault::Direction;

/// Counters a proxy's relay updates (one per proxy, in its shared state).
#[derive(Debug, Default)]
pub(crate) struct ProxyStats {
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    /// Of `bytes_up + bytes_down`, those moved with `splice(2)`.
    bytes_spliced: AtomicU64,
    connections_opened: AtomicU64,
    connections_failed: AtomicU64,
    connections_reset: AtomicU64,
    /// Bytes affected, by (fault, effect, downstream or not); few keys (faults × six effects ×
    /// two directions).
    effects: Mutex<BTreeMap<(String, &'static str, bool), u64>>,
}

impl ProxyStats {
    pub(crate) fn add_moved(&self, flow: Direction, n: u64) {
        let counter = if flow == Direction::Downstream {
            &self.bytes_down
        } else {
            &self.bytes_up
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_spliced(&self, n: u64) {
        self.bytes_spliced.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn opened(&self) {
        self.connections_opened.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.connections_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reset(&self) {
        self.connections_reset.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_effect(
        &self,
        fault: &str,
        effect: &'static str,
        flow: Direction,
        bytes: u64,
    ) {
        let mut effects = self.effects.lock().unwrap_or_else(|p| p.into_inner());
        *effects
            .entry((fault.to_string(), effect, flow == Direction::Downstream))
            .or_default() += bytes;
    }
}

/// A point-in-time copy of a proxy's counters and of its faults' on/off state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyStatsSnapshot {
    /// Bytes relayed client → server (follower → leader).
    pub bytes_upstream: u64,
    /// Bytes relayed server → client (leader → follower).
    pub bytes_downstream: u64,
    /// Of the bytes relayed either way, those moved inside the kernel with `splice(2)` (no
    /// fault touched them and zero copy was on); the rest were copied through user space.
    pub bytes_spliced: u64,
    /// Connections accepted and relayed (their upstream connection opened).
    pub connections_opened: u64,
    /// Connections accepted whose upstream could not be reached.
    pub connections_failed: u64,
    /// Connections ended by a reset (a fault's, or a peer's).
    pub connections_reset: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Every fault in force, in order, and whether it is on now.
    pub faults: Vec<FaultState>,
    /// Bytes each fault's effects touched (`delayed`, `dropped`, ...), as reported to the event
    /// log so far, in a stable order.
    pub effects: Vec<EffectTotal>,
}

/// One fault and whether it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultState {
    /// Its name.
    pub name: String,
    /// Its type (`latency`, `reset`, ...).
    pub kind: String,
    /// On now.
    pub on: bool,
}

/// Bytes one effect of one fault touched in one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectTotal {
    /// The fault.
    pub fault: String,
    /// `delayed`, `throttled`, `dropped`, `corrupted`, `stalled`, `truncated`.
    pub effect: &'static str,
    /// Which way the bytes were going.
    pub direction: Direction,
    /// Bytes (for `corrupted`: bytes changed).
    pub bytes: u64,
}

/// A handle on a running proxy's counters that outlives borrowing the
/// [`ProxyHandle`](super::ProxyHandle): cheap to clone, for a metrics endpoint.
#[derive(Clone)]
pub struct ProxyStatsSource {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for ProxyStatsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyStatsSource").finish_non_exhaustive()
    }
}

impl ProxyStatsSource {
    /// The counters now.
    pub fn snapshot(&self) -> ProxyStatsSnapshot {
        let shared = &self.shared;
        let stats = &shared.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let faults = shared
            .table()
            .slots
            .iter()
            .map(|s| FaultState {
                name: s.fault.name.clone(),
                kind: s.fault.kind.type_name().to_string(),
                on: s.is_on(),
            })
            .collect();
        let effects = stats
            .effects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((fault, effect, downstream), bytes)| EffectTotal {
                fault: fault.clone(),
                effect,
                direction: match downstream {
                    true => Direction::Downstream,
                    false => Direction::Upstream,
                },
                bytes: *bytes,
            })
            .collect();
        ProxyStatsSnapshot {
            bytes_upstream: get(&stats.bytes_up),
            bytes_downstream: get(&stats.bytes_down),
            bytes_spliced: get(&stats.bytes_spliced),
            connections_opened: get(&stats.connections_opened),
            connections_failed: get(&stats.connections_failed),
            connections_reset: get(&stats.connections_reset),
            connections_open: shared.open_connections(),
            faults,
            effects,
        }
    }
}
