//! Results on disk: the trial record schema ([`TrialRecord`], with its [`Verdict`]s), writing a
//! run's files ([`SummaryMarkdown`] among them), reading a results directory back
//! ([`ResultsDir`]), and the machine the run was on.
//!
//! Everything is written so that Ctrl-C never leaves half a file: whole files go through a
//! temporary name and a rename ([`write_atomic`]); `trials.jsonl` grows by one complete line per
//! trial ([`append_line`]), and a reader ignores a torn last line ([`read_trials`]). What goes
//! into a campaign's results is the runner's ([`crate::campaign`]); plots and reports are made
//! from them by [`crate::report`] and [`crate::compare`].

mod env;
mod load;
mod model_terms;
mod writers;

pub use env::capture_env;
pub use load::{Condition, LoadError, LoadedTrial, ResultsDir, short_key};
pub use model_terms::ModelTerms;
pub use writers::{
    SummaryMarkdown, append_line, create_run_dir, events_jsonl, read_trials, repair_torn_tail,
    requests_csv, timeseries_csv,
};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::follower::{FailureRecord, FaultTimes, Outcome, TimeBreakdown};

/// Schema id of [`TrialRecord`].
pub const TRIAL_SCHEMA: &str = "rrbench.trial/1";

/// One line of `trials.jsonl`: everything about one trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// Always [`TRIAL_SCHEMA`].
    pub schema: String,
    /// Campaign name.
    pub campaign: String,
    /// Trial id (`t0001`).
    pub trial: String,
    /// Matrix cell.
    pub cell: usize,
    /// Repetition, from 1.
    pub repetition: u32,
    /// Seed of the trial's random choices (a string in JSON: see [`crate::chaos::seed_text`]).
    #[serde(with = "crate::chaos::seed_text")]
    pub seed: u64,
    /// The cell's matrix values.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Recovery policy.
    pub policy: String,
    /// Completed or failed.
    pub outcome: Outcome,
    /// Why it failed.
    pub failure: Option<String>,
    /// Bytes in the index.
    pub bytes_needed: u64,
    /// Bytes received.
    pub bytes_transferred: u64,
    /// Bytes received but thrown away.
    pub bytes_wasted: u64,
    /// Seconds.
    pub duration_s: f64,
    /// MiB/s.
    pub throughput_mib_s: f64,
    /// What the model says it should be, MiB/s (`null` when nothing bounds it).
    pub model_throughput_mib_s: Option<f64>,
    /// `throughput_mib_s / model_throughput_mib_s`.
    pub throughput_vs_model: Option<f64>,
    /// The model's terms where a latency sets it (see `campaign::model`).
    #[serde(default)]
    pub model_terms: Option<ModelTerms>,
    /// Attempts.
    pub attempts: u32,
    /// Every failed attempt.
    pub failures: Vec<FailureRecord>,
    /// Per fault window: time to detect and to recover.
    pub faults: Vec<FaultTimes>,
    /// Where the time went (`null` in records written before it was measured).
    #[serde(default)]
    pub time_breakdown: Option<TimeBreakdown>,
    /// Throughput once the ramp is over (iperf3 `-O`): see
    /// [`crate::follower::RecoveryReport::steady_throughput_mib_s`].
    #[serde(default)]
    pub steady_throughput_mib_s: Option<f64>,
    /// What the fault injector warned about (see [`crate::follower::RecoveryReport::warnings`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Connections the chaos proxy saw reset.
    pub connections_reset: u64,
    /// Sessions still open on the leader when the trial ended (an OpenSearch leader never
    /// expires one, so those abandoned by restarting followers pile up here); absent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub leader_sessions_open: u64,
    /// Bytes of files those open sessions pin on the leader; absent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub leader_pinned_bytes: u64,
    /// Requests the leader cluster's gateway nodes forwarded to the node holding their shard
    /// (`leader_nodes > 1`: the extra hop inside the cluster); absent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub leader_requests_forwarded: u64,
    /// With more than one follower (`followers = N`): each follower's result, in follower order.
    /// The trial's own outcome is then the worst of theirs, its bytes their sums, its duration
    /// from the first start to the last finish and its throughput the aggregate. Absent with one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followers: Vec<FollowerRecord>,
    /// With more than one leader cluster (`leaders = N`, fan-in): the one follower node's
    /// recovery of each leader's index, in leader order (`index` is the leader's). The trial's
    /// outcome, bytes, duration and aggregate are then theirs as for `followers`. Absent with
    /// one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaders: Vec<FollowerRecord>,
    /// Bytes every follower recovered over the wall time from the first start to the last
    /// finish, MiB/s (absent with one follower).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_throughput_mib_s: Option<f64>,
    /// Jain's fairness index over the followers' throughputs, `1/n` to 1 (see
    /// [`crate::stats::jain_index`]; absent with one follower).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jain_index: Option<f64>,
    /// Each shard's line, when the index has more than one (the trial's outcome, bytes and
    /// throughput are then the index's totals).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<crate::follower::ShardReport>,
    /// What the recovery's TLS (or QUIC) handshake settled on (protocol version, cipher
    /// suite); absent in plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::transport::negotiated::Negotiated>,
    /// With the leader on an agent (`[hosts]`): the clock offset the agent's events were moved
    /// onto this trial's clock by, measured before the trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_clock: Option<crate::agent_api::ClockOffset>,
    /// Judged expectations.
    pub expectations: Vec<Verdict>,
    /// Whether every expectation held.
    pub passed: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One recovery of a trial with several: a follower of a fan-out trial (one leader, many
/// followers at once), or one leader's index in a fan-in trial (one follower node, many
/// leaders).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FollowerRecord {
    /// Position among the trial's followers (or leaders, in fan-in), from 0.
    pub index: usize,
    /// Completed (and every file byte-identical to the leader's) or failed.
    pub outcome: Outcome,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Its recovered files were re-read after the trial and match the leader's (name, length,
    /// CRC-32C), file for file.
    pub verified: bool,
    /// Attempts.
    pub attempts: u32,
    /// Bytes it recovered (verified, not counting any resumed).
    pub bytes: u64,
    /// Bytes it received, wasted ones included.
    pub bytes_transferred: u64,
    /// When it started, seconds on the trial's clock.
    pub started_at_s: f64,
    /// Seconds.
    pub duration_s: f64,
    /// MiB/s.
    pub throughput_mib_s: f64,
}

/// One judged expectation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The expectation's key.
    pub name: String,
    /// What was expected.
    pub expected: String,
    /// What was measured.
    pub actual: String,
    /// Whether it held.
    pub pass: bool,
}
