//! `rrbench recover --json`: one document in iperf3's shape, `start` (what was asked, on which
//! machine), `intervals` (what moved, interval by interval) and `end` (totals, where the time
//! went, failures, CPU, and the whole [`RecoveryReport`] as `end.report`, so no field of the
//! flat report is lost). Seeds are written as strings: a u64 seed does not survive a reader that
//! holds numbers as doubles (jq, JavaScript) above 2^53. No seed lives in the report or its
//! settings today; `tests/cli.rs` walks the whole document so one added later is caught.

use rrbench::{
    follower::{FailureRecord, Outcome, RecoveryReport, TimeBreakdown},
    settings::RecoverySettings,
};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::{cpu::CpuUtilization, intervals::Interval};

/// Schema id of the document.
pub const RECOVER_SCHEMA: &str = "rrbench.recover/1";

/// `start`: the run as it was asked for.
#[derive(Debug, Serialize)]
pub struct Start {
    /// `rrbench <version>`.
    pub version: String,
    /// When it started: `time` in UTC (`20250101T120000Z`) and `timesecs` since 1970.
    pub timestamp: Timestamp,
    /// The leader's address as given (`--from`).
    pub leader: String,
    /// The target directory.
    pub target: String,
    /// Index name asked for.
    pub index: String,
    /// The recovery policy.
    pub policy: String,
    /// `--seed`, as a string.
    #[serde(serialize_with = "as_string")]
    pub seed: u64,
    /// Seconds per interval (`--interval`), or null when intervals are off.
    pub interval_s: Option<f64>,
    /// `--format`'s letter (text output only; the JSON is always in bytes, bits and MiB).
    pub format: &'static str,
    /// Every recovery setting.
    pub settings: RecoverySettings,
    /// The machine: rrbench version, host, CPU, cores, memory, kernel, OS (as a campaign's
    /// `env.json`, without its git revision: the working directory of a recovery is not
    /// rrbench's repository).
    pub environment: Value,
}

/// When a run started.
#[derive(Debug, Serialize)]
pub struct Timestamp {
    /// UTC, `YYYYMMDDTHHMMSSZ`.
    pub time: String,
    /// Seconds since 1970, with a fraction.
    pub timesecs: f64,
}

/// `end.totals`.
#[derive(Debug, Serialize)]
struct Totals {
    outcome: Outcome,
    failure: Option<String>,
    /// Bytes in verified files.
    bytes: u64,
    bytes_needed: u64,
    bytes_transferred: u64,
    bytes_wasted: u64,
    files: u64,
    files_verified: u64,
    duration_s: f64,
    throughput_mib_s: f64,
    bits_per_second: f64,
    steady_throughput_mib_s: Option<f64>,
    steady_bits_per_second: Option<f64>,
    attempts: u32,
}

/// `end.time_breakdown`: seconds per activity, their sum, the largest term and one line.
#[derive(Debug, Serialize)]
struct WhereTheTimeWent {
    #[serde(flatten)]
    seconds: TimeBreakdown,
    total_s: f64,
    /// The activity with the most time (`network`, `follower_throttle`, ...), or null.
    largest: Option<&'static str>,
    largest_s: Option<f64>,
    /// The largest activity in words.
    largest_means: Option<&'static str>,
    /// `network 1.20 s (61%), storage 0.50 s (25%)`.
    line: String,
}

/// One failed attempt, with the line printed for it.
#[derive(Debug, Serialize)]
struct Failure<'a> {
    #[serde(flatten)]
    record: &'a FailureRecord,
    /// `attempt 2 failed at 3.25 s: reset: ...; attempt 3 of 5 in 0s, from zero`.
    text: String,
}

#[derive(Debug, Serialize)]
struct End<'a> {
    totals: Totals,
    time_breakdown: WhereTheTimeWent,
    failures: Vec<Failure<'a>>,
    /// Null where `/proc/self/stat` cannot be read.
    cpu_utilization_percent: Option<CpuUtilization>,
    report: &'a RecoveryReport,
}

#[derive(Debug, Serialize)]
struct Document<'a> {
    schema: &'static str,
    start: &'a Start,
    intervals: &'a [Interval],
    end: End<'a>,
}

/// The whole document, pretty-printed (as iperf3 does), in the order `start`, `intervals`,
/// `end`.
pub fn document(
    start: &Start,
    intervals: &[Interval],
    report: &RecoveryReport,
    cpu: Option<CpuUtilization>,
) -> Result<String, serde_json::Error> {
    let mib_to_bits = |mib_s: f64| mib_s * 1048576.0 * 8.0;
    let b = report.time_breakdown;
    let largest = b.largest();
    let end = End {
        totals: Totals {
            outcome: report.outcome,
            failure: report.failure.clone(),
            bytes: report.bytes,
            bytes_needed: report.bytes_needed,
            bytes_transferred: report.bytes_transferred,
            bytes_wasted: report.bytes_wasted,
            files: report.files,
            files_verified: report.files_verified,
            duration_s: report.duration_s,
            throughput_mib_s: report.throughput_mib_s,
            bits_per_second: mib_to_bits(report.throughput_mib_s),
            steady_throughput_mib_s: report.steady_throughput_mib_s,
            steady_bits_per_second: report.steady_throughput_mib_s.map(mib_to_bits),
            attempts: report.attempts,
        },
        time_breakdown: WhereTheTimeWent {
            seconds: b,
            total_s: b.total(),
            largest: largest.map(|a| a.name()),
            largest_s: largest.map(|a| b.get(a)),
            largest_means: largest.map(|a| a.describe()),
            line: b.line(),
        },
        failures: report
            .failures
            .iter()
            .map(|record| Failure {
                record,
                text: record.to_string(),
            })
            .collect(),
        cpu_utilization_percent: cpu,
        report,
    };
    serde_json::to_string_pretty(&Document {
        schema: RECOVER_SCHEMA,
        start,
        intervals,
        end,
    })
}

/// Seeds are u64: written as numbers, those above 2^53 come back changed from any reader that
/// holds numbers as doubles (jq before 1.7, JavaScript, Python's json with floats).
fn as_string<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(n)
}
