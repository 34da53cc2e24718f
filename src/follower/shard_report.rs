//! The report of an index of several shards: the index's totals folded from the shards'
//! reports into one [`RecoveryReport`] (so every consumer of a report reads a sharded recovery
//! too), with each shard's own line ([`ShardReport`]).

use super::{
    breakdown::TimeBreakdown,
    report::{Outcome, RecoveryReport, ShardReport},
    series::{Sample, steady_throughput_mib_s},
};

/// What the index driver measured itself.
pub struct IndexTotals {
    /// When the index recovery started, in seconds on the clock.
    pub started_at: f64,
    /// From its start to the end of its last shard.
    pub duration_s: f64,
    /// The index's progress, sampled.
    pub timeseries: Vec<Sample>,
    /// Pings sent on the node's connections.
    pub pings_sent: u64,
}

/// Folds the shards' reports into the index's: sums of bytes and files, the slowest shard's
/// attempts, every failure (its message naming its shard), the time breakdown summed over the
/// shards (so its total is shard-seconds, not the wall time), and throughput over the wall time.
/// `first` is a shard that started (shard 0 always does); `rest` are the others, `None` for
/// those that never started.
pub fn combine(
    first: RecoveryReport,
    others: Vec<(u32, Result<RecoveryReport, String>)>,
    totals: IndexTotals,
) -> RecoveryReport {
    let mut lines = vec![ShardReport::of(0, &first)];
    let mut reports = vec![(0, first)];
    for (shard, result) in others {
        match result {
            Ok(report) => {
                lines.push(ShardReport::of(shard, &report));
                reports.push((shard, report));
            }
            Err(why) => lines.push(ShardReport::not_started(shard, &why)),
        }
    }
    lines.sort_by_key(|l| l.shard);
    reports.sort_by_key(|(s, _)| *s);
    let mut index = reports[0].1.clone();
    index.sum_counts_of(reports.iter().map(|(_, r)| r));
    index.started_at = totals.started_at;
    index.duration_s = totals.duration_s;
    index.pings_sent = totals.pings_sent;
    // What this run recovered: bytes a resumed shard already had are not its throughput.
    index.throughput_mib_s = if totals.duration_s > 0.0 {
        index.bytes.saturating_sub(index.bytes_resumed) as f64 / 1048576.0 / totals.duration_s
    } else {
        0.0
    };
    index.steady_throughput_mib_s = steady_throughput_mib_s(&totals.timeseries);
    index.timeseries = totals.timeseries;
    let mut breakdown = TimeBreakdown::default();
    let mut finalize = Vec::new();
    index.failures.clear();
    index.warnings.clear();
    index.requests.clear();
    for (shard, r) in &reports {
        breakdown.add(&r.time_breakdown);
        finalize.extend(r.file_finalize_s);
        for f in &r.failures {
            let mut f = f.clone();
            f.message = format!("[shard {shard}] {}", f.message);
            index.failures.push(f);
        }
        index
            .warnings
            .extend(r.warnings.iter().map(|w| format!("[shard {shard}] {w}")));
        index.requests.extend(r.requests.iter().cloned());
    }
    index.failures.sort_by(|a, b| a.t.total_cmp(&b.t));
    index.requests.sort_by(|a, b| a.t.total_cmp(&b.t));
    index.time_breakdown = breakdown;
    // The shards' medians' median: each is already one file's typical cost.
    index.file_finalize_s = crate::stats::median(&finalize);
    let failed: Vec<&ShardReport> = lines
        .iter()
        .filter(|l| l.outcome != Outcome::Completed)
        .collect();
    (index.outcome, index.failure) = match failed.first() {
        None => (Outcome::Completed, None),
        Some(first) => (
            Outcome::Failed,
            Some(format!(
                "{} of {} shards failed; shard {}: {}",
                failed.len(),
                lines.len(),
                first.shard,
                first.failure.as_deref().unwrap_or("failed")
            )),
        ),
    };
    index.shards = lines;
    index
}
