//! The result of one recovery: what the CLI prints and `--json` emits.

use serde::{Deserialize, Serialize};

use super::{
    breakdown::{RequestSample, TimeBreakdown},
    series::Sample,
};
use crate::{
    settings::RecoverySettings, transport::negotiated::Negotiated, vocabulary::ChannelType,
};

/// Schema id of [`RecoveryReport`].
pub const REPORT_SCHEMA: &str = "rrbench.recovery/1";

/// How a recovery ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every file arrived and was verified.
    Completed,
    /// It gave up; `failure` says why.
    Failed,
}

/// What kind of failure ended an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The connection could not be opened.
    Connect,
    /// A connection was reset.
    Reset,
    /// The leader closed a connection.
    Eof,
    /// A request got no response within `internal_action_timeout`.
    Timeout,
    /// The leader no longer knows the session.
    SessionExpired,
    /// Bytes did not match their checksum or length: never retried.
    Corrupt,
    /// The leader sent something that breaks the protocol.
    Protocol,
    /// The leader refused a request.
    Remote,
    /// The leader refused the auth token: never retried.
    Unauthorized,
    /// A local I/O error (the target directory).
    Io,
    /// The user stopped the recovery.
    Interrupted,
    /// The trial's time limit passed first.
    TimeLimit,
}

impl FailureKind {
    /// Failures after which no policy tries again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Corrupt | Self::Unauthorized | Self::Interrupted | Self::TimeLimit
        )
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&text)
    }
}

/// One failed attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// Which attempt, from 1.
    pub attempt: u32,
    /// Seconds on the run's clock.
    pub t: f64,
    /// Classification.
    pub kind: FailureKind,
    /// The channel that failed first, when a channel did.
    pub channel: Option<usize>,
    /// That channel's type.
    pub channel_type: Option<ChannelType>,
    /// Detail.
    pub message: String,
    /// What the policy did next: `attempt 3 of 5 in 2s, from zero`, or why it stopped.
    #[serde(default)]
    pub then: String,
}

impl std::fmt::Display for FailureRecord {
    /// `attempt 2 failed at 3.25 s: reset: connection reset by peer; attempt 3 of 5 in 0s, from zero`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "attempt {} failed at {:.2} s: {}: {}",
            self.attempt, self.t, self.kind, self.message
        )?;
        if !self.then.is_empty() {
            write!(f, "; {}", self.then)?;
        }
        Ok(())
    }
}

/// Everything about one recovery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// Always [`REPORT_SCHEMA`].
    pub schema: String,
    /// Completed or failed.
    pub outcome: Outcome,
    /// Why it failed (`kind: message`), or null.
    pub failure: Option<String>,
    /// The leader's address.
    pub leader: String,
    /// When the recovery started, in seconds on the run's clock (the time series and failure
    /// times use the same clock).
    pub started_at: f64,
    /// Wall-clock time of the clock's epoch (seconds since 1970), to align other processes' logs.
    #[serde(default)]
    pub clock_unix_epoch_s: f64,
    /// Recovery policy.
    pub policy: String,
    /// Bytes in verified files at the end.
    pub bytes: u64,
    /// Bytes in the index.
    pub bytes_needed: u64,
    /// Chunk bytes received over all attempts.
    pub bytes_transferred: u64,
    /// Bytes found verified on disk at the start (the resumable policy's journal).
    pub bytes_resumed: u64,
    /// Bytes transferred but not in the result: thrown away by a restart, lost in flight, or
    /// (for a failed restarting policy) everything.
    pub bytes_wasted: u64,
    /// Pings sent on all channels.
    pub pings_sent: u64,
    /// Files in the index.
    pub files: u64,
    /// Files verified at the end.
    pub files_verified: u64,
    /// Seconds from start to the end of the last attempt.
    pub duration_s: f64,
    /// Bytes verified in this run (not resumed) / `duration_s`, in MiB/s.
    pub throughput_mib_s: f64,
    /// Attempts made.
    pub attempts: u32,
    /// Every failed attempt.
    pub failures: Vec<FailureRecord>,
    /// Settings used.
    pub settings: RecoverySettings,
    /// Bytes received over time, sampled at least 10 times per second.
    pub timeseries: Vec<Sample>,
    /// Where the time went: `duration_s` split into what the engine was doing.
    #[serde(default)]
    pub time_breakdown: TimeBreakdown,
    /// MiB/s of chunk bytes received after the first tenth of the transfer (counted from the
    /// first byte), when it was long enough to have a steady state (iperf3 `-O`: the set-up and
    /// the ramp are omitted). Bytes a restart throws away count: it is the wire's rate.
    #[serde(default)]
    pub steady_throughput_mib_s: Option<f64>,
    /// Median seconds one file's finalize took (verify, fsync, rename): the model's per-file term.
    #[serde(default)]
    pub file_finalize_s: Option<f64>,
    /// What the fault injector warned about for this recovery (a fault that fired with no
    /// connection open, one over before the recovery started); filled by campaigns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Every chunk request with its latency (written to `requests/<trial>.csv` by campaigns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestSample>,
    /// Per fault window: time to detect and time to recover (filled by
    /// [`RecoveryReport::annotate_faults`] from a chaos event log on the same clock).
    #[serde(default)]
    pub faults: Vec<FaultTimes>,
    /// Each shard's result, when the index has more than one (the fields above are then the
    /// index's totals: see [`super::shard_report::combine`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardReport>,
    /// What the TLS (or QUIC) handshake of the last connection settled on: protocol version
    /// and cipher suite. Absent in plaintext and when no connection was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Negotiated>,
}

/// One fault window as the engine lived through it (measured by
/// [`super::fault_times::fault_times`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultTimes {
    /// Fault name.
    pub fault: String,
    /// Fault type.
    pub kind: String,
    /// When it turned on (clock seconds).
    pub on: f64,
    /// When it turned off, if it did.
    pub off: Option<f64>,
    /// Seconds from `on` to the first failure seen after it; `None` if none was seen.
    pub time_to_detect_s: Option<f64>,
    /// Seconds from `off` until goodput is back above half its pre-fault median; `None` if it
    /// never came back (or there was no goodput before the fault to compare with).
    pub time_to_recover_s: Option<f64>,
}

impl RecoveryReport {
    /// Sets the byte and file counts to the sums of `parts`' (the shards of an index, the
    /// followers of a fan-out trial) and the attempts to the most any part made.
    pub fn sum_counts_of<'a>(&mut self, parts: impl Iterator<Item = &'a RecoveryReport>) {
        let (mut bytes, mut needed, mut moved, mut resumed, mut wasted) = (0, 0, 0, 0, 0);
        let (mut files, mut verified, mut attempts) = (0, 0, 0);
        for r in parts {
            bytes += r.bytes;
            needed += r.bytes_needed;
            moved += r.bytes_transferred;
            resumed += r.bytes_resumed;
            wasted += r.bytes_wasted;
            files += r.files;
            verified += r.files_verified;
            attempts = attempts.max(r.attempts);
        }
        self.bytes = bytes;
        self.bytes_needed = needed;
        self.bytes_transferred = moved;
        self.bytes_resumed = resumed;
        self.bytes_wasted = wasted;
        self.files = files;
        self.files_verified = verified;
        self.attempts = attempts;
    }

    /// Whether every file was verified.
    pub fn is_completed(&self) -> bool {
        self.outcome == Outcome::Completed
    }

    /// A short human summary, sizes in MiB and rates in MiB/s.
    pub fn summary(&self) -> String {
        let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / 1048576.0);
        let rate = |bytes_per_s: f64| format!("{:.1} MiB/s", bytes_per_s / 1048576.0);
        self.summary_with(&mib, &rate)
    }

    /// The summary with sizes written by `size` (bytes) and rates by `rate` (bytes per second):
    /// the CLI's `--format`. Throughput, steady throughput, where the time went and its largest
    /// term.
    pub fn summary_with(
        &self,
        size: &dyn Fn(u64) -> String,
        rate: &dyn Fn(f64) -> String,
    ) -> String {
        let status = match &self.failure {
            None => "completed, every file verified".to_string(),
            Some(why) => format!("FAILED: {why}"),
        };
        let per_s = |mib_s: f64| rate(mib_s * 1048576.0);
        let steady = match self.steady_throughput_mib_s {
            Some(s) => format!(
                "{} (the first tenth of the transfer omitted, as iperf3 -O)",
                per_s(s)
            ),
            None => "n/a (too short to have a steady state)".into(),
        };
        let largest = match self.time_breakdown.largest() {
            Some(a) => format!(
                "{}: {} ({:.2} s)",
                a.name(),
                a.describe(),
                self.time_breakdown.get(a)
            ),
            None => "nothing measured".into(),
        };
        let rows = [
            (
                "bytes",
                format!(
                    "{} verified of {} ({} transferred)",
                    size(self.bytes),
                    size(self.bytes_needed),
                    size(self.bytes_transferred)
                ),
            ),
            (
                "files",
                format!("{}/{} verified", self.files_verified, self.files),
            ),
            ("duration", format!("{:.2} s", self.duration_s)),
            ("throughput", per_s(self.throughput_mib_s)),
            ("steady", steady),
            ("attempts", self.attempts.to_string()),
            ("where the time went", self.time_breakdown.line()),
            ("largest term", largest),
        ];
        let tls = self.tls.as_ref().map(|t| ("tls", t.to_string()));
        let mut text = status;
        for (label, value) in rows.into_iter().chain(tls) {
            text.push_str(&format!("\n  {label:<20}{value}"));
        }
        if !self.shards.is_empty() {
            text.push_str(&format!(
                "\n  {:<20}{:>5}  {:<9} {:>8} {:>12} {:>12} {:>9} {:>12}",
                "shards",
                "shard",
                "outcome",
                "attempts",
                "verified",
                "wasted",
                "took",
                "throughput"
            ));
            for s in &self.shards {
                let outcome = match s.outcome {
                    Outcome::Completed => "verified",
                    Outcome::Failed => "FAILED",
                };
                text.push_str(&format!(
                    "\n  {:<20}{:>5}  {outcome:<9} {:>8} {:>12} {:>12} {:>8.2}s {:>12}",
                    "",
                    s.shard,
                    s.attempts,
                    size(s.bytes),
                    size(s.bytes_wasted),
                    s.duration_s,
                    per_s(s.throughput_mib_s)
                ));
                if let Some(why) = &s.failure {
                    text.push_str(&format!("\n  {:<27}{why}", ""));
                }
            }
        }
        text
    }
}

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
