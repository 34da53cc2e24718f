//! The report of an index of several shards: each shard's own line, and the index's totals
//! folded from the shards' reports into one [`RecoveryReport`] (so every consumer of a report
//! reads a sharded recovery too).

use serde::{Deserialize, Serialize};

use super::{
    breakdown::TimeBreakdown,
    report::{Outcome, RecoveryReport},
    series::{Sample, steady_throughput_mib_s},
};

/// One shard's result within an index recovery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardReport {
    /// The shard's number.
    pub shard: u32,
    /// Whether it was verified.
    pub outcome: Outcome,
    /// Why it failed, if it did.
    pub failure: Option<String>,
    /// Attempts it made (0: it never started).
    pub attempts: u32,
    /// Bytes of the shard verified.
    pub bytes: u64,
    /// Bytes of the shard.
    pub bytes_needed: u64,
    /// Chunk bytes received for it, over every attempt.
    pub bytes_transferred: u64,
    /// Of those, bytes thrown away with a failed attempt.
    pub bytes_wasted: u64,
    /// When it started, in seconds on the recovery's clock (`None`: it never started).
    pub started_at: Option<f64>,
    /// How long it took, start to end.
    pub duration_s: f64,
    /// Its verified bytes over its duration.
    pub throughput_mib_s: f64,
}

impl ShardReport {
    /// The line of shard `shard` from its report.
    pub fn of(shard: u32, report: &RecoveryReport) -> Self {
        Self {
            shard,
            outcome: report.outcome,
            failure: report.failure.clone(),
            attempts: report.attempts,
            bytes: report.bytes,
            bytes_needed: report.bytes_needed,
            bytes_transferred: report.bytes_transferred,
            bytes_wasted: report.bytes_wasted,
            started_at: Some(report.started_at),
            duration_s: report.duration_s,
            throughput_mib_s: report.throughput_mib_s,
        }
    }

    /// A shard that never started (interrupted, or out of time, while it waited for a slot).
    pub fn not_started(shard: u32, why: &str) -> Self {
        Self {
            shard,
            outcome: Outcome::Failed,
            failure: Some(format!("never started: {why}")),
            attempts: 0,
            bytes: 0,
            bytes_needed: 0,
            bytes_transferred: 0,
            bytes_wasted: 0,
            started_at: None,
            duration_s: 0.0,
            throughput_mib_s: 0.0,
        }
    }
}

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
    let sum = |f: fn(&RecoveryReport) -> u64| reports.iter().map(|(_, r)| f(r)).sum::<u64>();
    index.bytes = sum(|r| r.bytes);
    index.bytes_needed = sum(|r| r.bytes_needed);
    index.bytes_transferred = sum(|r| r.bytes_transferred);
    index.bytes_resumed = sum(|r| r.bytes_resumed);
    index.bytes_wasted = sum(|r| r.bytes_wasted);
    index.files = sum(|r| r.files);
    index.files_verified = sum(|r| r.files_verified);
    index.attempts = reports.iter().map(|(_, r)| r.attempts).max().unwrap_or(0);
    index.started_at = totals.started_at;
    index.duration_s = totals.duration_s;
    index.pings_sent = totals.pings_sent;
    index.throughput_mib_s = if totals.duration_s > 0.0 {
        index.bytes as f64 / 1048576.0 / totals.duration_s
    } else {
        0.0
    };
    index.steady_throughput_mib_s = steady_throughput_mib_s(&totals.timeseries);
    index.timeseries = totals.timeseries;
    let mut breakdown = TimeBreakdown::default();
    let mut finalize = None::<f64>;
    index.failures.clear();
    index.warnings.clear();
    index.requests.clear();
    for (shard, r) in &reports {
        breakdown.add(&r.time_breakdown);
        if let Some(s) = r.file_finalize_s {
            *finalize.get_or_insert(0.0) += s;
        }
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
    index.file_finalize_s = finalize;
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
