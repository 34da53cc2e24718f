//! Fan-out trials: one leader, many followers at once (a product catalogue replicated to twenty
//! datacenters). The runner starts the followers; this module turns their reports into the
//! trial's: each follower's line ([`FollowerRecord`]), how fairly they shared the leader
//! ([`Shares`]) and one aggregate [`RecoveryReport`] the rest of the runner records and judges
//! as it does a single follower's.
//!
//! The aggregate is the trial as a whole: its outcome is the worst follower's, its bytes are
//! sums, it runs from the first follower's start to the last one's finish, and its throughput is
//! every follower's bytes over that wall time. Pure: no I/O.

use crate::{
    follower::{Outcome, RecoveryReport, Sample, TimeBreakdown, series::steady_throughput_mib_s},
    results::FollowerRecord,
    stats::{jain_index, median},
    units::mib_per_sec,
};

use super::expect::Shares;

/// Seed of follower `index` of a trial seeded `trial_seed`: distinct per follower, the same in
/// every replay.
pub fn follower_seed(trial_seed: u64, index: usize) -> u64 {
    // SplitMix64's finaliser over the pair, so neighbouring followers draw unrelated streams.
    let mut z = trial_seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One follower's report, with whether its files were re-read after the trial and found equal
/// to the leader's.
pub struct FollowerRun {
    /// What the follower reported.
    pub report: RecoveryReport,
    /// `Ok` when every file matches the leader's; else what differs.
    pub verified: Result<(), String>,
}

impl FollowerRun {
    /// Completed and verified.
    fn outcome(&self) -> Outcome {
        match (&self.report.outcome, &self.verified) {
            (Outcome::Completed, Ok(())) => Outcome::Completed,
            _ => Outcome::Failed,
        }
    }

    /// Why it failed: its own failure, or the verification's.
    fn failure(&self) -> Option<String> {
        match (&self.report.failure, &self.verified) {
            (Some(f), _) => Some(f.clone()),
            (None, Err(e)) if self.report.is_completed() => Some(format!("verification: {e}")),
            (None, _) => None,
        }
    }

    /// Bytes it recovered in this run.
    fn bytes(&self) -> u64 {
        self.report.bytes.saturating_sub(self.report.bytes_resumed)
    }
}

/// The trial's view of `runs` (at least one; each a follower's, or in fan-in a leader's, as
/// `unit` names them in the failure): each one's record, the shares, and the aggregate report (its fault windows not measured yet: the runner does that on the aggregate
/// time series).
pub fn combine(runs: &[FollowerRun], unit: &str) -> (RecoveryReport, Vec<FollowerRecord>, Shares) {
    let followers: Vec<FollowerRecord> = runs
        .iter()
        .enumerate()
        .map(|(index, run)| FollowerRecord {
            index,
            outcome: run.outcome(),
            failure: run.failure(),
            verified: run.verified.is_ok() && run.report.is_completed(),
            attempts: run.report.attempts,
            bytes: run.bytes(),
            bytes_transferred: run.report.bytes_transferred,
            started_at_s: run.report.started_at,
            duration_s: run.report.duration_s,
            throughput_mib_s: run.report.throughput_mib_s,
        })
        .collect();
    let mut all = runs[0].report.clone();
    let start = runs
        .iter()
        .map(|r| r.report.started_at)
        .fold(f64::INFINITY, f64::min);
    let end = runs
        .iter()
        .map(|r| r.report.started_at + r.report.duration_s)
        .fold(f64::NEG_INFINITY, f64::max);
    let sum = |f: fn(&RecoveryReport) -> u64| runs.iter().map(|r| f(&r.report)).sum::<u64>();
    all.outcome = if followers.iter().all(|f| f.outcome == Outcome::Completed) {
        Outcome::Completed
    } else {
        Outcome::Failed
    };
    let failed: Vec<&FollowerRecord> = followers
        .iter()
        .filter(|f| f.outcome == Outcome::Failed)
        .collect();
    all.failure = failed.first().map(|first| {
        let why = first.failure.as_deref().unwrap_or("failed");
        match failed.len() {
            1 => format!("{unit} {}: {why}", first.index),
            n => format!(
                "{n} of {} {unit}s failed; {unit} {}: {why}",
                runs.len(),
                first.index
            ),
        }
    });
    all.started_at = start;
    all.duration_s = (end - start).max(0.0);
    all.sum_counts_of(runs.iter().map(|r| &r.report));
    all.pings_sent = sum(|r| r.pings_sent);
    let recovered: u64 = followers.iter().map(|f| f.bytes).sum();
    all.throughput_mib_s = mib_per_sec(
        recovered,
        std::time::Duration::try_from_secs_f64(all.duration_s).unwrap_or_default(),
    );
    all.failures = runs
        .iter()
        .flat_map(|r| r.report.failures.iter().cloned())
        .collect();
    all.failures.sort_by(|a, b| a.t.total_cmp(&b.t));
    let series: Vec<&[Sample]> = runs
        .iter()
        .map(|r| r.report.timeseries.as_slice())
        .collect();
    all.timeseries = merge_series(&series, SERIES_STEP_S);
    all.steady_throughput_mib_s = steady_throughput_mib_s(&all.timeseries);
    all.time_breakdown = mean_breakdown(runs.iter().map(|r| &r.report.time_breakdown));
    let finalize: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.report.file_finalize_s)
        .collect();
    all.file_finalize_s = median(&finalize);
    all.requests = runs
        .iter()
        .flat_map(|r| r.report.requests.iter().cloned())
        .collect();
    all.requests.sort_by(|a, b| a.t.total_cmp(&b.t));
    all.faults = Vec::new();
    all.warnings = Vec::new();
    let throughputs: Vec<f64> = followers.iter().map(|f| f.throughput_mib_s).collect();
    let shares = Shares {
        followers: runs.len(),
        aggregate_mib_s: all.throughput_mib_s,
        jain_index: jain_index(&throughputs),
        min_follower_mib_s: throughputs.iter().copied().fold(f64::INFINITY, f64::min),
    };
    (all, followers, shares)
}

/// Step of the aggregate time series: the followers' own sampling interval.
const SERIES_STEP_S: f64 = 0.05;

/// The sum of several followers' series on one grid of `step` seconds (from the first sample to
/// the last, the last included): each follower counts its latest sample at or before each point
/// (nothing before its first); `attempt` is the highest any follower is on.
pub fn merge_series(series: &[&[Sample]], step: f64) -> Vec<Sample> {
    let points = series.iter().flat_map(|s| s.iter().map(|p| p.t));
    let (Some(first), Some(last)) = (points.clone().reduce(f64::min), points.reduce(f64::max))
    else {
        return Vec::new();
    };
    let steps = ((last - first) / step).floor().max(0.0) as usize;
    let mut grid: Vec<f64> = (0..=steps).map(|k| first + k as f64 * step).collect();
    if grid.last().is_some_and(|t| last - t > 1e-9) {
        grid.push(last);
    }
    let mut next = vec![0usize; series.len()];
    grid.into_iter()
        .map(|t| {
            let mut sum = Sample {
                t,
                bytes: 0,
                attempt: 0,
                verified: 0,
            };
            for (s, i) in series.iter().zip(next.iter_mut()) {
                while *i < s.len() && s[*i].t <= t + 1e-9 {
                    *i += 1;
                }
                if let Some(p) = i.checked_sub(1).map(|k| s[k]) {
                    sum.bytes += p.bytes;
                    sum.verified += p.verified;
                    sum.attempt = sum.attempt.max(p.attempt);
                }
            }
            sum
        })
        .collect()
}

/// The followers' mean breakdown: where a typical follower's time went.
fn mean_breakdown<'a>(all: impl Iterator<Item = &'a TimeBreakdown>) -> TimeBreakdown {
    let mut mean = TimeBreakdown::default();
    let mut n = 0.0;
    for b in all {
        n += 1.0;
        mean.connecting_s += b.connecting_s;
        mean.opening_session_s += b.opening_session_s;
        mean.network_s += b.network_s;
        mean.follower_throttle_s += b.follower_throttle_s;
        mean.leader_throttle_s += b.leader_throttle_s;
        mean.storage_s += b.storage_s;
        mean.head_of_line_s += b.head_of_line_s;
        mean.backoff_s += b.backoff_s;
    }
    if n > 0.0 {
        for term in [
            &mut mean.connecting_s,
            &mut mean.opening_session_s,
            &mut mean.network_s,
            &mut mean.follower_throttle_s,
            &mut mean.leader_throttle_s,
            &mut mean.storage_s,
            &mut mean.head_of_line_s,
            &mut mean.backoff_s,
        ] {
            *term /= n;
        }
    }
    mean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, bytes: u64) -> Sample {
        Sample {
            t,
            bytes,
            attempt: 1,
            verified: bytes,
        }
    }

    #[test]
    fn series_add_up_on_one_grid() {
        let a = [sample(0.0, 0), sample(0.1, 10), sample(0.2, 20)];
        let b = [sample(0.05, 0), sample(0.15, 5), sample(0.3, 7)];
        let merged = merge_series(&[&a, &b], 0.1);
        let at: Vec<(f64, u64)> = merged
            .iter()
            .map(|s| ((s.t * 100.0).round() / 100.0, s.bytes))
            .collect();
        assert_eq!(at, vec![(0.0, 0), (0.1, 10), (0.2, 25), (0.3, 27)]);
        assert!(merge_series(&[], 0.1).is_empty());
    }

    #[test]
    fn seeds_differ_per_follower_and_replay() {
        let seeds: std::collections::BTreeSet<u64> = (0..32).map(|i| follower_seed(7, i)).collect();
        assert_eq!(seeds.len(), 32);
        assert_eq!(follower_seed(7, 3), follower_seed(7, 3));
    }
}
