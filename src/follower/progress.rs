//! Live counters of a recovery, the time series sampled from them, and the terminal line.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;

use super::series::Sample;
use crate::{clock::Clock, units::mib_per_sec};

/// Counters the engine updates and the sampler and progress line read.
#[derive(Debug, Default)]
pub struct Progress {
    /// Chunk bytes received from the leader, over all attempts (including bytes later wasted).
    pub bytes_transferred: AtomicU64,
    /// Bytes of the index, from the session's file list.
    pub bytes_needed: AtomicU64,
    /// Bytes of files verified and renamed in the current attempt.
    pub bytes_verified: AtomicU64,
    /// Files in the index.
    pub files_total: AtomicU64,
    /// Files verified in the current attempt.
    pub files_verified: AtomicU64,
    /// Current attempt, from 1.
    pub attempt: AtomicU64,
    /// Bytes written and verified (finished files and checked chunks of the others).
    pub bytes_persisted: AtomicU64,
    /// Pings sent.
    pub pings_sent: AtomicU64,
    /// Chunk requests sent and not yet answered.
    pub requests_in_flight: AtomicU64,
    /// Every failed attempt so far, as the machine recorded it (with what the policy does next).
    pub failures: std::sync::Mutex<Vec<super::report::FailureRecord>>,
}

impl Progress {
    /// Failed attempts from the `seen`-th on (for a line per failure as they happen).
    pub fn failures_since(&self, seen: usize) -> Vec<super::report::FailureRecord> {
        self.failures
            .lock()
            .map(|f| f.iter().skip(seen).cloned().collect())
            .unwrap_or_default()
    }
}

impl Progress {
    /// Sets these counters to the sums of `parts`' (the shards of an index, the followers of a
    /// fan-out trial), the attempt to the highest; with `label`, also every part's failures, in
    /// time order, each message prefixed with its part's label (`[shard 2] ...`).
    pub fn set_sum_of(&self, parts: &[Arc<Progress>], label: Option<&str>) {
        let sum = |field: fn(&Progress) -> &AtomicU64| {
            parts.iter().map(|p| Self::get(field(p))).sum::<u64>()
        };
        Self::set(&self.bytes_transferred, sum(|p| &p.bytes_transferred));
        Self::set(&self.bytes_needed, sum(|p| &p.bytes_needed));
        Self::set(&self.bytes_verified, sum(|p| &p.bytes_verified));
        Self::set(&self.files_total, sum(|p| &p.files_total));
        Self::set(&self.files_verified, sum(|p| &p.files_verified));
        Self::set(&self.bytes_persisted, sum(|p| &p.bytes_persisted));
        Self::set(&self.pings_sent, sum(|p| &p.pings_sent));
        Self::set(&self.requests_in_flight, sum(|p| &p.requests_in_flight));
        let attempt = parts.iter().map(|p| Self::get(&p.attempt)).max();
        Self::set(&self.attempt, attempt.unwrap_or(0));
        let Some(label) = label else {
            return;
        };
        let mut failures = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            for mut f in p.failures_since(0) {
                f.message = format!("[{label} {i}] {}", f.message);
                failures.push(f);
            }
        }
        failures.sort_by(|a, b| a.t.total_cmp(&b.t));
        if let Ok(mut seen) = self.failures.lock()
            && seen.len() != failures.len()
        {
            *seen = failures;
        }
    }

    pub(crate) fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// One line for a terminal: attempt, bytes, percent, rate since start, files.
    pub fn line(&self, elapsed: Duration) -> String {
        let needed = Self::get(&self.bytes_needed);
        let moved = Self::get(&self.bytes_transferred);
        let verified = Self::get(&self.bytes_verified);
        let pct = if needed > 0 {
            100.0 * verified as f64 / needed as f64
        } else {
            0.0
        };
        format!(
            "attempt {} | {:>8.1} / {:.1} MiB verified ({pct:>5.1}%) | {:>7.1} MiB/s on the wire | files {}/{} | {:.1}s",
            Self::get(&self.attempt),
            verified as f64 / 1048576.0,
            needed as f64 / 1048576.0,
            mib_per_sec(moved, elapsed),
            Self::get(&self.files_verified),
            Self::get(&self.files_total),
            elapsed.as_secs_f64(),
        )
    }
}

/// A running [`sample`] task: [`Sampler::finish`] stops it and returns the series.
pub(crate) struct Sampler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Samples `progress` on `clock` every `interval` until finished.
    pub(crate) fn start(progress: Arc<Progress>, clock: Clock, interval: Duration) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(sample(progress, clock, interval, stopped));
        Self { stop, task }
    }

    /// Stops sampling (with a last sample now) and returns the series.
    pub(crate) async fn finish(self) -> Vec<Sample> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// Samples `progress` every `interval` until `stop` fires; returns the series, with a final
/// sample taken at the moment it stopped.
async fn sample(
    progress: Arc<Progress>,
    clock: Clock,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> Vec<Sample> {
    let take = || Sample {
        t: clock.elapsed().as_secs_f64(),
        bytes: Progress::get(&progress.bytes_transferred),
        attempt: Progress::get(&progress.attempt),
        verified: Progress::get(&progress.bytes_persisted),
    };
    let mut series = vec![take()];
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticker.tick() => series.push(take()),
        }
    }
    series.push(take());
    series
}
