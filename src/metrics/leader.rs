//! The leader's metrics, from [`LeaderStatsSnapshot`] (a cluster's nodes summed, as
//! [`LeaderStatsSnapshot::total`] sums them; its high-water marks are one node's).

use prometheus_client::{collector::Collector, encoding::DescriptorEncoder};

use super::text::Writer;
use crate::leader::{LeaderStatsSnapshot, LeaderStatsSource};

/// Every metric name this file writes, in order (for the README and the tests).
pub const NAMES: &[&str] = &[
    "rrbench_leader_served_bytes_total",
    "rrbench_leader_chunk_requests_total",
    "rrbench_leader_refused_requests_total",
    "rrbench_leader_forwarded_requests_total",
    "rrbench_leader_limiter_wait_seconds_total",
    "rrbench_leader_sessions_opened_total",
    "rrbench_leader_sessions_expired_total",
    "rrbench_leader_sessions_open",
    "rrbench_leader_sessions_open_max",
    "rrbench_leader_pinned_bytes",
    "rrbench_leader_session_requests_in_flight_max",
    "rrbench_leader_connections_accepted_total",
    "rrbench_leader_connections_refused_total",
    "rrbench_leader_connections_closed_total",
    "rrbench_leader_connections_open",
];

/// A leader (or every node of a cluster in this process) as a metrics source.
#[derive(Debug)]
pub struct LeaderCollector {
    nodes: Vec<LeaderStatsSource>,
}

impl LeaderCollector {
    /// The nodes' counters, summed.
    pub fn new(nodes: Vec<LeaderStatsSource>) -> Self {
        Self { nodes }
    }
}

impl Collector for LeaderCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> std::fmt::Result {
        let total = LeaderStatsSnapshot::total(self.nodes.iter().map(|n| n.snapshot()));
        write(&mut Writer::new(encoder), &total)
    }
}

/// Writes `s` (see [`NAMES`]).
pub(crate) fn write(w: &mut Writer, s: &LeaderStatsSnapshot) -> std::fmt::Result {
    w.counter(
        NAMES[0],
        "Chunk payload bytes sent to followers.",
        s.bytes_sent,
    )?;
    w.counter(NAMES[1], "Chunk requests served.", s.chunks_served)?;
    w.counter(
        NAMES[2],
        "Requests answered with an error frame (refused, or failed reading the index).",
        s.errors_sent,
    )?;
    w.counter(
        NAMES[3],
        "Requests passed to the node holding their shard (as a gateway).",
        s.requests_forwarded,
    )?;
    w.counter_seconds(
        NAMES[4],
        "Time chunk reads waited on the node rate limiter (max_bytes_per_sec), summed.",
        s.throttle_nanos as f64 / 1e9,
    )?;
    w.counter(NAMES[5], "Recovery sessions opened.", s.sessions_opened)?;
    w.counter(
        NAMES[6],
        "Sessions closed by recovery_activity_timeout.",
        s.sessions_expired,
    )?;
    w.gauge(NAMES[7], "Sessions open now.", s.sessions_open)?;
    w.gauge(
        NAMES[8],
        "The most sessions open at once (of one node).",
        s.sessions_open_max,
    )?;
    w.gauge(
        NAMES[9],
        "Bytes of index files the open sessions pin.",
        s.pinned_bytes,
    )?;
    w.gauge(
        NAMES[10],
        "The most chunk requests outstanding at once on one session.",
        u64::from(s.max_in_flight_per_session),
    )?;
    w.counter(NAMES[11], "Connections accepted.", s.connections_accepted)?;
    w.counter(
        NAMES[12],
        "Connections refused at max_connections.",
        s.connections_refused,
    )?;
    w.counter(
        NAMES[13],
        "Connections the leader closed (no Hello in time, too slow, or idle when a slot was needed).",
        s.connections_closed_by_leader,
    )?;
    w.gauge(NAMES[14], "Connections open now.", s.connections_open)
}
