//! A running follower's metrics, from its live [`Progress`] (a sharded recovery's is the sum of
//! its shards').

use std::{collections::BTreeMap, sync::Arc};

use prometheus_client::{collector::Collector, encoding::DescriptorEncoder};

use super::text::Writer;
use crate::follower::Progress;

/// Every metric name this file writes, in order.
pub const NAMES: &[&str] = &[
    "rrbench_follower_received_bytes_total",
    "rrbench_follower_persisted_bytes",
    "rrbench_follower_index_bytes",
    "rrbench_follower_index_files",
    "rrbench_follower_verified_files",
    "rrbench_follower_requests_in_flight",
    "rrbench_follower_attempts_total",
    "rrbench_follower_failures_total",
    "rrbench_follower_pings_sent_total",
];

/// A recovery's progress as a metrics source.
#[derive(Debug)]
pub struct FollowerCollector {
    progress: Arc<Progress>,
}

impl FollowerCollector {
    /// Reads `progress` at each scrape.
    pub fn new(progress: Arc<Progress>) -> Self {
        Self { progress }
    }
}

impl Collector for FollowerCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> std::fmt::Result {
        write(&mut Writer::new(encoder), &self.progress)
    }
}

/// Writes `p` (see [`NAMES`]).
pub(crate) fn write(w: &mut Writer, p: &Progress) -> std::fmt::Result {
    let get = Progress::get;
    w.counter(
        NAMES[0],
        "Chunk bytes received from the leader, over all attempts (including bytes later wasted).",
        get(&p.bytes_transferred),
    )?;
    w.gauge(
        NAMES[1],
        "Bytes written and verified (finished files and checked chunks of the others).",
        get(&p.bytes_persisted),
    )?;
    w.gauge(
        NAMES[2],
        "Bytes of the index, from the session's file list.",
        get(&p.bytes_needed),
    )?;
    w.gauge(NAMES[3], "Files in the index.", get(&p.files_total))?;
    w.gauge(
        NAMES[4],
        "Files verified in the current attempt.",
        get(&p.files_verified),
    )?;
    w.gauge(
        NAMES[5],
        "Chunk requests sent and not yet answered.",
        get(&p.requests_in_flight),
    )?;
    w.counter(NAMES[6], "Attempts started.", get(&p.attempt))?;
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for f in p.failures_since(0) {
        *by_kind.entry(f.kind.to_string()).or_default() += 1;
    }
    let failures: Vec<_> = by_kind
        .into_iter()
        .map(|(kind, n)| (vec![("kind", kind)], n))
        .collect();
    w.counter_family(NAMES[7], "Failed attempts, by kind of failure.", &failures)?;
    w.counter(NAMES[8], "Pings sent.", get(&p.pings_sent))
}
