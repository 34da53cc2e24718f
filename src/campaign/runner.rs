//! Running a campaign: each trial starts a leader, a chaos injector and a follower in-process on
//! one clock (a [`crate::rig::Rig`]), and its results are written as soon as it ends.
//!
//! Layout of a results directory (`results/<campaign>/<stamp>-<seed>/`, with `-2`, `-3`, ...
//! for runs started in the same second, so no two runs share one): `campaign.toml` (the
//! file as given), `env.json`, `trials.jsonl` (one line per finished trial), `timeseries/<id>.csv`,
//! `events/<id>.jsonl` (chaos and engine events, one clock) and `summary.md`. A trial interrupted
//! by Ctrl-C is not written; `--resume` runs only the trials not in `trials.jsonl`. Indexes are
//! generated once and cached by size, file count and seed under `<out>/.index-cache/` (those of a
//! campaign whose leader runs on an agent only there: see [`super::remote`]).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    future::Future,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::SystemTime,
};

use super::{
    Campaign, CampaignSpec, IndexSpec, Trial,
    expect::Shares,
    fanout::{FollowerRun, combine, follower_seed},
    model::{
        IndexShape, Model, Spread, fanin_model_mib_s, fanout_model_mib_s, model, reference_faults,
    },
    remote::RemoteLeader,
    scratch,
};
use crate::{
    agent_api::AgentError,
    chaos::{
        Event, EventKind, EventLog, Fault, LinkError, ProxyError,
        fault::{Medium, check_medium},
    },
    clock::{Clock, utc_stamp},
    export::{self, write_atomic},
    follower::{self, FollowerConfig, FollowerError, NodeThrottles, Progress, RecoveryReport},
    index::{
        GenerateSpec, IndexError, IndexShards, IndexSnapshot, ensure_room, generate_shards, human,
        same_filesystem, shard_dir,
    },
    leader::{LeaderConfig, LeaderError, LeaderStatsSnapshot},
    protocol::FileMeta,
    results::{
        FollowerRecord, SummaryMarkdown, TRIAL_SCHEMA, TrialRecord, Verdict, append_line,
        capture_env, create_run_dir, events_jsonl, read_trials, repair_torn_tail, requests_csv,
        timeseries_csv,
    },
    rig::{Certificate, InjectorKind, Rig, RigError},
    stats::median,
    transport::{
        certs::{CertError, IssuedPaths, LOCAL_NAMES, generate_issued},
        quic::{QuicError, QuicLiveness},
    },
    vocabulary::{ChaosLayer, RemoteMode, Transport},
};

/// A campaign could not run (a failed trial is a result, not this error).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Reading or writing results.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The campaign file differs from the one the resumed directory was started with.
    #[error("{0} was started with a different campaign file; resume with the same file")]
    ResumeMismatch(PathBuf),
    /// The campaign's indexes do not fit where they are generated and copied.
    #[error(
        "index.size: this campaign writes {} of indexes not generated yet and {} for each \
         trial's copy",
        human(*.generate), human(*.copy)
    )]
    NoRoom {
        /// Bytes of indexes to generate.
        generate: u64,
        /// Bytes of the largest index, which each trial recovers a copy of.
        copy: u64,
        /// Where it does not fit.
        #[source]
        source: IndexError,
    },
    /// Generating or loading an index.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Starting a leader.
    #[error(transparent)]
    Leader(#[from] LeaderError),
    /// Starting a proxy.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// Starting a follower.
    #[error(transparent)]
    Follower(#[from] FollowerError),
    /// Making a QUIC certificate.
    #[error(transparent)]
    Quic(#[from] QuicError),
    /// Setting up the L3 link.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Wiring a trial's leader and injector (what no other variant names).
    #[error(transparent)]
    Rig(RigError),
    /// A follower's task ended without a report (a bug: it panicked).
    #[error("follower {index} of the trial stopped without a report: {message}")]
    FollowerTask {
        /// Which follower.
        index: usize,
        /// What the task said.
        message: String,
    },
    /// The campaign asks for the L3 link where it cannot run.
    #[error("[chaos] layer = \"l3\": {0}; run as root, or use layer \"l4\"")]
    L3Unavailable(String),
    /// The results directory's CA and leader certificate (`settings.tls`) could not be made.
    #[error("TLS certificates of the results directory: {0}")]
    Certificates(#[from] CertError),
    /// The agent the leader runs on (`[hosts]`) could not be reached, refused, or failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// `[hosts]` names what cannot be used (a key file that cannot be read).
    #[error("[hosts]: {0}")]
    Hosts(String),
}

impl From<RigError> for RunError {
    fn from(e: RigError) -> Self {
        match e {
            RigError::Leader(e) => RunError::Leader(e),
            RigError::Proxy(e) => RunError::Proxy(e),
            RigError::Link(e) => RunError::Link(e),
            RigError::Quic(e) => RunError::Quic(e),
            other => RunError::Rig(other),
        }
    }
}

impl RunError {
    /// Whether the error is the caller's input (exit code 2): an index that cannot be
    /// generated or does not fit.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RunError::NoRoom { .. } | RunError::Hosts(_) => true,
            RunError::Index(e) => e.is_bad_input(),
            _ => false,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where and how to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Results root (`results/`).
    pub out: PathBuf,
    /// Continue this results directory instead of starting a new one.
    pub resume: Option<PathBuf>,
    /// Generate and keep the indexes here instead of `<out>/.index-cache` (the demo's private,
    /// temporary cache).
    pub cache: Option<PathBuf>,
}

/// What the runner tells its caller as it goes.
pub enum RunEvent<'a> {
    /// The directory results go to, and how many trials will run now out of the total.
    Started {
        /// Results directory.
        dir: &'a Path,
        /// Trials to run now.
        to_run: usize,
        /// Trials in the campaign.
        total: usize,
    },
    /// A trial begins; `progress` updates while it runs.
    TrialStart {
        /// 1-based position among the trials run now.
        k: usize,
        /// The trial.
        trial: &'a Trial,
        /// Live counters.
        progress: Arc<Progress>,
    },
    /// Before a trial: its model's reference (the same cell without the added delay) is
    /// measured now, in `runs` recoveries that are not recorded.
    MeasuringReference {
        /// The trial it is for.
        trial: &'a Trial,
        /// Recoveries it takes.
        runs: usize,
    },
    /// A trial ended and was written.
    TrialEnd {
        /// Its record.
        record: &'a TrialRecord,
    },
    /// A trial was not run: a fault cannot act on its injector (loss on TCP at L4, a reset at
    /// L3). Nothing is written for it.
    Skipped {
        /// The trial.
        trial: &'a Trial,
        /// Why.
        reason: String,
    },
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Results directory.
    pub dir: PathBuf,
    /// Every trial recorded in it (including earlier runs when resuming).
    pub records: Vec<TrialRecord>,
    /// Stopped by the cancel signal before every trial ran.
    pub interrupted: bool,
    /// Trials not run, with why.
    pub skipped: Vec<(String, String)>,
}

impl RunSummary {
    /// Trials with at least one failed expectation.
    pub fn failing(&self) -> Vec<&TrialRecord> {
        self.records.iter().filter(|r| !r.passed).collect()
    }
}

/// Where the index of `spec` is cached under `root`.
pub(crate) fn cache_dir(root: &Path, spec: &IndexSpec) -> PathBuf {
    root.join(match spec.shards {
        1 => format!("{}-{}-{}", spec.size, spec.files, spec.seed),
        n => format!("{}-{}-{}-{n}shards", spec.size, spec.files, spec.seed),
    })
}

/// Generates (once) and loads the index a cell needs; `None` when `cancel` came first.
pub(crate) async fn cached_index(
    root: &Path,
    spec: &IndexSpec,
    cancel: Pin<&mut impl Future<Output = ()>>,
) -> Result<Option<IndexShards>, RunError> {
    let dir = cache_dir(root, spec);
    if !dir.join(".complete").exists() && !build_index(root, spec, &dir, cancel).await? {
        return Ok(None);
    }
    let d = dir.clone();
    Ok(Some(
        tokio::task::spawn_blocking(move || IndexShards::load(&d))
            .await
            .map_err(|e| io(&dir)(std::io::Error::other(e)))??,
    ))
}

/// Generates `spec` under a temporary name in `root` and renames it to `dir` when complete;
/// `false` when `cancel` stopped it (the generator removes what it wrote).
async fn build_index(
    root: &Path,
    spec: &IndexSpec,
    dir: &Path,
    cancel: Pin<&mut impl Future<Output = ()>>,
) -> Result<bool, RunError> {
    // Named after this process, so two campaigns building the same index never share a half-made
    // directory; the first to finish wins and the other's copy is thrown away.
    let building = root.join(format!(
        ".building-{}-{}-{}-{}-{}",
        spec.size,
        spec.files,
        spec.seed,
        std::process::id(),
        spec.shards
    ));
    let _ = std::fs::remove_dir_all(&building);
    remove_abandoned_builds(root);
    let shape = GenerateSpec {
        size: spec.size.bytes(),
        files: spec.files,
        seed: spec.seed,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (b, s, shards) = (building.clone(), stop.clone(), spec.shards);
    let mut task =
        tokio::task::spawn_blocking(move || generate_shards(&b, &shape, shards, &s, |_| {}));
    let joined = tokio::select! {
        r = &mut task => r,
        () = cancel => {
            stop.store(true, Ordering::Relaxed);
            task.await
        }
    };
    match joined.map_err(|e| io(&building)(std::io::Error::other(e)))? {
        Err(IndexError::Cancelled) => return Ok(false),
        generated => generated?,
    };
    std::fs::write(building.join(".complete"), b"").map_err(io(&building))?;
    // A rename onto a directory that holds files fails: then either another campaign finished
    // the same index meanwhile (keep theirs) or a stale half-made one is in the way.
    if std::fs::rename(&building, dir).is_err() {
        if !dir.join(".complete").is_file() {
            let _ = std::fs::remove_dir_all(dir);
            if let Err(e) = std::fs::rename(&building, dir)
                && !dir.join(".complete").is_file()
            {
                let _ = std::fs::remove_dir_all(&building);
                return Err(io(dir)(e));
            }
        }
        let _ = std::fs::remove_dir_all(&building);
    }
    Ok(true)
}

/// Removes half-built indexes of processes that are gone (killed mid-generation): a
/// `.building-<size>-<files>-<seed>-<pid>` whose pid is not running, or one named without a pid
/// (by an older rrbench).
fn remove_abandoned_builds(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".building-")) else {
            continue;
        };
        let owner = rest
            .split('-')
            .nth(3)
            .and_then(|pid| pid.parse::<u32>().ok());
        let alive = owner.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Refuses, before anything is written, a campaign whose indexes cannot fit: those not cached
/// yet are generated under `cache_root`, and each trial recovers a copy into `scratch_root`
/// (one trial at a time, so the largest counts, once per follower or, in fan-in, per leader). On one filesystem both must
/// fit together.
///
/// A campaign whose leader runs on an agent generates nothing here (`remote`): the agent
/// generates its indexes.
fn check_room(
    campaign: &Campaign,
    cache_root: &Path,
    scratch_root: &Path,
    remote: bool,
) -> Result<(), RunError> {
    let copy = campaign
        .cells
        .iter()
        .map(|c| {
            c.index
                .size
                .bytes()
                .saturating_mul(u64::from(c.index.shards))
                .saturating_mul(u64::from(c.followers))
                .saturating_mul(u64::from(c.leaders))
        })
        .max()
        .unwrap_or(0);
    let mut specs: Vec<&IndexSpec> = campaign.cells.iter().map(|c| &c.index).collect();
    specs.sort_by_key(|s| (s.size.bytes(), s.files, s.seed, s.shards));
    specs.dedup();
    let to_generate: u64 = specs
        .iter()
        .filter(|_| !remote)
        .filter(|s| !cache_dir(cache_root, s).join(".complete").exists())
        .map(|s| s.size.bytes().saturating_mul(u64::from(s.shards)))
        .fold(0, u64::saturating_add);
    let fits = if same_filesystem(cache_root, scratch_root).map_err(io(cache_root))? {
        ensure_room(cache_root, to_generate.saturating_add(copy))
    } else {
        ensure_room(cache_root, to_generate).and_then(|()| ensure_room(scratch_root, copy))
    };
    fits.map_err(|source| RunError::NoRoom {
        generate: to_generate,
        copy,
        source,
    })
}

/// What a cell's faults act on.
fn medium(cell: &CampaignSpec) -> Medium {
    match (cell.chaos.layer, cell.settings.transport) {
        (ChaosLayer::L3, _) => Medium::Packets,
        (ChaosLayer::L4, Transport::Quic) => Medium::Datagrams,
        (ChaosLayer::L4, Transport::Tcp) => Medium::Stream,
    }
}

/// Reference durations measured so far in this run, by the reference cell they were measured on
/// (`None`: no reference run completed, so the cell is judged on the bound alone).
type References = HashMap<String, Option<f64>>;

/// Repetitions of a reference (the median counts): one short run is noisy.
const REFERENCE_RUNS: usize = 3;

/// The reference for a cell whose latency sets its model (see [`super::model`]): the median
/// duration of the same cell with the latency's delay at zero, measured once per run.
async fn reference_s(
    cell: &CampaignSpec,
    seed: u64,
    snapshot: &TrialIndex,
    references: &mut References,
    (pki, remote): (Option<&IssuedPaths>, Option<Remote<'_>>),
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<f64>, RunError> {
    let Some((key, faults)) = reference_cell(cell) else {
        return Ok(None);
    };
    if let Some(known) = references.get(&key) {
        return Ok(*known);
    }
    let mut durations = Vec::new();
    for run in 0..REFERENCE_RUNS {
        if *stop.borrow() {
            return Ok(None);
        }
        let mut stop = stop.clone();
        let progress = Arc::new(Progress::default());
        let Recovered { report, .. } = recover_cell(
            cell,
            faults.clone(),
            seed.wrapping_add(run as u64),
            snapshot.clone(),
            progress,
            async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            },
            pki,
            remote.map(|r| Remote {
                reference: true,
                ..r
            }),
        )
        .await?;
        if report.is_completed() {
            durations.push(report.duration_s);
        }
    }
    let reference = median(&durations);
    references.insert(key, reference);
    Ok(reference)
}

/// The key and faults of `cell`'s reference, if its model needs one.
pub(crate) fn reference_cell(cell: &CampaignSpec) -> Option<(String, Vec<Fault>)> {
    // A fan-out (fan-in) trial is judged on the bound alone: its reference would be many
    // followers (leaders) too.
    if cell.followers > 1 || cell.leaders > 1 {
        return None;
    }
    let faults = reference_faults(&cell.fault_list())?;
    let key = format!(
        "{:?} {:?} {:?} {:?}",
        cell.settings, cell.leader, cell.chaos, faults
    );
    Some((key, faults))
}

/// The index as the model counts it: bytes and chunk requests at the cell's chunk size, how
/// many shards the follower restores at once, and over how many leader nodes and paths.
fn index_shape(index: &[Vec<FileMeta>], cell: &CampaignSpec) -> IndexShape {
    let settings = &cell.settings;
    let chunk = settings.chunk_size.bytes().max(1);
    // Sniff mode over a cluster at L4 puts a proxy in front of each node.
    let path_per_gateway = cell.leader_nodes > 1
        && cell.chaos.layer == ChaosLayer::L4
        && settings.mode == RemoteMode::Sniff;
    let files = || index.iter().flatten();
    IndexShape {
        bytes: files().map(|f| f.len).sum(),
        chunks: files().map(|f| f.len.div_ceil(chunk)).sum(),
        spread: Spread::of(
            settings,
            index.len() as u32,
            cell.leader_nodes,
            path_per_gateway,
        ),
    }
}

/// A cell's index as its trials need it: loaded here, or (its leader on an agent, which
/// generated it) only its files' metas shard by shard, which the copies are checked against.
#[derive(Clone)]
enum TrialIndex {
    Local(IndexShards),
    Remote(Arc<Vec<Vec<FileMeta>>>),
}

impl TrialIndex {
    /// Each shard's files.
    fn metas(&self) -> Vec<Vec<FileMeta>> {
        match self {
            Self::Local(shards) => shards.iter().map(IndexSnapshot::metas).collect(),
            Self::Remote(metas) => metas.as_ref().clone(),
        }
    }
}

/// Runs one trial and returns its record, time series and events.
#[allow(clippy::too_many_arguments)]
async fn run_trial(
    campaign: &CampaignSpec,
    cell: &CampaignSpec,
    trial: &Trial,
    snapshot: TrialIndex,
    progress: Arc<Progress>,
    cancel: impl Future<Output = ()>,
    reference: Option<f64>,
    pki: Option<&IssuedPaths>,
    remote: Option<Remote<'_>>,
) -> Result<TrialFiles, RunError> {
    let faults = cell.fault_list();
    let shape = index_shape(&snapshot.metas(), cell);
    let Recovered {
        report,
        chaos,
        followers,
        leaders,
        shares,
        leader,
        leader_clock,
    } = recover_cell(
        cell,
        faults.clone(),
        trial.seed,
        snapshot,
        progress,
        cancel,
        pki,
        remote,
    )
    .await?;
    let model = if cell.leaders > 1 {
        fanin_model_mib_s(&cell.settings, &cell.leader, &faults, cell.leaders).map(|m| Model {
            throughput_mib_s: m,
            terms: None,
        })
    } else if cell.followers > 1 {
        fanout_model_mib_s(&cell.settings, &cell.leader, &faults, cell.followers).map(|m| Model {
            throughput_mib_s: m,
            terms: None,
        })
    } else {
        model(&cell.settings, &cell.leader, &faults, shape, reference)
    };
    let model_mib_s = model.map(|m| m.throughput_mib_s);
    let expect = cell.expect.for_cell(&campaign.expect_when, &trial.params);
    let verdicts: Vec<Verdict> = expect.judge(&report, model_mib_s, &shares);
    let params: BTreeMap<String, serde_json::Value> = trial
        .params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
        .collect();
    let several = followers.len() > 1 || leaders.len() > 1;
    let record = TrialRecord {
        schema: TRIAL_SCHEMA.into(),
        campaign: campaign.name.clone(),
        trial: trial.id.clone(),
        cell: trial.cell,
        repetition: trial.repetition,
        seed: trial.seed,
        params,
        policy: report.policy.clone(),
        outcome: report.outcome,
        failure: report.failure.clone(),
        bytes_needed: report.bytes_needed,
        bytes_transferred: report.bytes_transferred,
        bytes_wasted: report.bytes_wasted,
        duration_s: report.duration_s,
        throughput_mib_s: report.throughput_mib_s,
        model_throughput_mib_s: model_mib_s,
        throughput_vs_model: model_mib_s
            .filter(|m| *m > 0.0)
            .map(|m| report.throughput_mib_s / m),
        model_terms: model.and_then(|m| m.terms),
        attempts: report.attempts,
        failures: report.failures.clone(),
        faults: report.faults.clone(),
        time_breakdown: Some(report.time_breakdown),
        steady_throughput_mib_s: report.steady_throughput_mib_s,
        warnings: report.warnings.clone(),
        connections_reset: chaos
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ConnReset { .. }))
            .count() as u64,
        leader_sessions_open: leader.sessions_open,
        leader_pinned_bytes: leader.pinned_bytes,
        leader_requests_forwarded: leader.requests_forwarded,
        aggregate_throughput_mib_s: several.then_some(shares.aggregate_mib_s),
        jain_index: shares.jain_index.filter(|_| several),
        followers,
        leaders,
        shards: report.shards.clone(),
        tls: report.tls.clone(),
        leader_clock,
        passed: verdicts.iter().all(|v| v.pass),
        expectations: verdicts,
    };
    Ok(TrialFiles {
        timeseries: timeseries_csv(&report.timeseries),
        events: events_jsonl(&chaos, &report.failures),
        requests: requests_csv(&report.requests),
        record,
    })
}

/// What one trial's recoveries left: the report the trial is recorded and judged by (the one
/// follower's, or the followers' aggregate), each follower's line, how they shared, the
/// injector's events and the leader's counters at the end.
struct Recovered {
    report: RecoveryReport,
    chaos: Vec<Event>,
    followers: Vec<FollowerRecord>,
    leaders: Vec<FollowerRecord>,
    shares: Shares,
    leader: LeaderStatsSnapshot,
    /// The clock offset of the agent the rig ran on, if it did.
    leader_clock: Option<crate::agent_api::ClockOffset>,
}

/// A trial's rig on the campaign's agent: the agent, the cell's table it is sent, the
/// campaign's seed, and whether it is the cell's reference.
#[derive(Clone, Copy)]
pub(crate) struct Remote<'a> {
    leader: &'a RemoteLeader,
    table: &'a toml::Table,
    campaign_seed: u64,
    reference: bool,
}

/// How long an agent keeps a trial's rig if the campaign never stops it (killed): the trial's
/// time limit and then some.
fn lease(cell: &CampaignSpec) -> std::time::Duration {
    cell.time_limit * 2 + std::time::Duration::from_secs(120)
}

/// A trial of one recovery: its report with the fault windows measured and their warnings,
/// the injector's events and the leader's counters.
fn recovered_one(
    mut report: RecoveryReport,
    chaos: Vec<Event>,
    leader: LeaderStatsSnapshot,
) -> Recovered {
    let early = report.annotate_faults(&chaos);
    report.warnings = fault_warnings(&chaos, &early);
    Recovered {
        shares: Shares::one(&report),
        report,
        chaos,
        followers: Vec::new(),
        leaders: Vec::new(),
        leader,
        leader_clock: None,
    }
}

/// `report`, failed with what differs if it completed but its `target` is not the index of
/// `metas`, file for file.
async fn verified_one(
    mut report: RecoveryReport,
    metas: Vec<Vec<crate::protocol::FileMeta>>,
    target: PathBuf,
) -> Result<RecoveryReport, RunError> {
    if !report.is_completed() {
        return Ok(report);
    }
    let checked = tokio::task::spawn_blocking(move || same_index(&metas, &target))
        .await
        .map_err(|e| RunError::FollowerTask {
            index: 0,
            message: format!("verifying: {e}"),
        })?;
    if let Err(e) = checked {
        report.outcome = crate::follower::Outcome::Failed;
        report.failure = Some(format!("verification: {e}"));
    }
    Ok(report)
}

/// The recoveries of `cell` on the agent's rig (see [`recover_cell`]).
#[allow(clippy::too_many_arguments)]
async fn recover_remote(
    cell: &CampaignSpec,
    seed: u64,
    remote: Remote<'_>,
    metas: Vec<Vec<crate::protocol::FileMeta>>,
    clock: Clock,
    scratch: &Path,
    progress: Arc<Progress>,
    cancel: impl Future<Output = ()>,
) -> Result<Recovered, RunError> {
    let seeds = (remote.campaign_seed, seed);
    let rig = remote
        .leader
        .start(
            remote.table,
            cell,
            seeds,
            remote.reference,
            lease(cell),
            clock,
            scratch,
        )
        .await?;
    // As `Rig::follower_config` does here: trust the rig's CA, verify the host dialled.
    let tls = rig.tls_client();
    let configure = |dial: &str, target: PathBuf| {
        let mut config = FollowerConfig::new(dial, target);
        config.clock = clock;
        config.seed = seed;
        let mut config = with_cell(cell, config);
        match cell.settings.transport {
            Transport::Quic => config.quic = tls.clone(),
            Transport::Tcp => config.tls = tls.clone().filter(|_| cell.settings.tls),
        }
        config
    };
    let dials = rig.dial_lists().to_vec();
    let first = dials.first().cloned().unwrap_or_default();
    let leader_clock = Some(rig.offset());
    if cell.leaders > 1 {
        // Fan-in, as `recover_fan_in`: one follower node recovering from every leader cluster.
        let configs: Vec<FollowerConfig> = dials
            .iter()
            .enumerate()
            .map(|(i, dial)| {
                let mut config = configure(dial, scratch.join(format!("leader-{i:02}")));
                config.seed = follower_seed(seed, i);
                config
            })
            .collect();
        let (reports, targets) = recover_one_node(cell, configs, &progress, cancel).await;
        let stopped = rig.stop().await?;
        let (chaos, leader) = (stopped.events, stopped.stats);
        let mut recovered =
            recovered_many(Several::Leaders, reports?, targets, metas, chaos, leader).await?;
        recovered.leader_clock = leader_clock;
        recovered.report.warnings.extend(stopped.warnings);
        return Ok(recovered);
    }
    if cell.followers <= 1 {
        let target = scratch.join("index");
        let config = configure(&first, target.clone());
        let recovered = follower::recover(config, progress, cancel).await;
        // Stopped whether or not the follower could run.
        let stopped = rig.stop().await?;
        // Re-read against the agent's file list (its names and lengths checked against the
        // cell's), as several followers' copies are: the agent's leader said what to copy.
        let report = verified_one(recovered?, metas, target).await?;
        let mut recovered = recovered_one(report, stopped.events, stopped.stats);
        recovered.report.warnings.extend(stopped.warnings);
        recovered.leader_clock = leader_clock;
        return Ok(recovered);
    }
    let configs: Vec<FollowerConfig> = (0..cell.followers as usize)
        .map(|i| {
            let mut config = configure(&first, scratch.join(format!("follower-{i:03}")));
            config.seed = follower_seed(seed, i);
            config
        })
        .collect();
    let targets: Vec<PathBuf> = configs.iter().map(|c| c.target.clone()).collect();
    let reports = recover_all(configs, None, &progress, cancel).await;
    let stopped = rig.stop().await?;
    let (chaos, leader) = (stopped.events, stopped.stats);
    let mut recovered =
        recovered_many(Several::Followers, reports?, targets, metas, chaos, leader).await?;
    recovered.leader_clock = leader_clock;
    recovered.report.warnings.extend(stopped.warnings);
    Ok(recovered)
}

/// The recoveries of `cell` with `faults` on the path: a rig (leader, injector) of its own and
/// `cell.followers` followers recovering from it at once, each a node of its own (its own
/// target, seed and rate limiter, the rig's clock), or (fan-in, `cell.leaders`) one follower
/// node recovering from that many rigs at once; the reports with their fault windows measured,
/// and the injector's events.
#[allow(clippy::too_many_arguments)]
async fn recover_cell(
    cell: &CampaignSpec,
    faults: Vec<Fault>,
    seed: u64,
    index: TrialIndex,
    progress: Arc<Progress>,
    cancel: impl Future<Output = ()>,
    pki: Option<&IssuedPaths>,
    remote: Option<Remote<'_>>,
) -> Result<Recovered, RunError> {
    let clock = Clock::start();
    let root = scratch::scratch_root();
    let scratch = scratch::trial_dir(&root).map_err(io(&root))?;
    let snapshot = match (index, remote) {
        (index, Some(remote)) => {
            let (path, cancel) = (scratch.path(), cancel);
            let metas = index.metas();
            return recover_remote(cell, seed, remote, metas, clock, path, progress, cancel).await;
        }
        (TrialIndex::Local(snapshot), None) => snapshot,
        (TrialIndex::Remote(_), None) => {
            return Err(RunError::Hosts(
                "a cell whose index is on an agent runs its leader there".into(),
            ));
        }
    };
    if cell.leaders > 1 {
        return recover_fan_in(
            cell,
            faults,
            seed,
            snapshot,
            clock,
            scratch.path(),
            progress,
            cancel,
            pki,
        )
        .await;
    }
    let metas: Vec<Vec<crate::protocol::FileMeta>> =
        snapshot.iter().map(IndexSnapshot::metas).collect();
    let certificate = certificate(cell, pki, scratch.path());
    let rig = start_rig(
        cell,
        faults,
        seed,
        snapshot,
        clock,
        None,
        certificate,
        LOCAL_LISTEN,
    )
    .await?;
    let configure = |target: PathBuf| follower_config(cell, &rig, target);
    if cell.followers <= 1 {
        let config = configure(scratch.path().join("index"));
        let report = follower::recover(config, progress, cancel).await?;
        let leader = leader_stats(&rig).await;
        let chaos = rig.shutdown().await;
        return Ok(recovered_one(report, chaos, leader));
    }
    let configs: Vec<FollowerConfig> = (0..cell.followers as usize)
        .map(|i| {
            let mut config = configure(scratch.path().join(format!("follower-{i:03}")));
            config.seed = follower_seed(seed, i);
            config
        })
        .collect();
    let targets: Vec<PathBuf> = configs.iter().map(|c| c.target.clone()).collect();
    let reports = recover_all(configs, None, &progress, cancel).await?;
    let leader = leader_stats(&rig).await;
    let chaos = rig.shutdown().await;
    recovered_many(Several::Followers, reports, targets, metas, chaos, leader).await
}

/// Fan-in: `cell.leaders` rigs, each a leader cluster of its own with its own copy of the
/// index, its own injector carrying `faults` (seeded apart) and its own certificate, all on one
/// clock and one event log; and one follower node restoring every leader's index at once into
/// `leader-NN`, each recovery with its own connections and sessions, all sharing the node's
/// one limiter and its `node_initial_primaries_recoveries` slots.
#[allow(clippy::too_many_arguments)]
async fn recover_fan_in(
    cell: &CampaignSpec,
    faults: Vec<Fault>,
    seed: u64,
    snapshot: IndexShards,
    clock: Clock,
    scratch: &Path,
    progress: Arc<Progress>,
    cancel: impl Future<Output = ()>,
    pki: Option<&IssuedPaths>,
) -> Result<Recovered, RunError> {
    let metas: Vec<Vec<crate::protocol::FileMeta>> =
        snapshot.iter().map(IndexSnapshot::metas).collect();
    let events = Arc::new(EventLog::new(clock));
    let certificate_dirs: Vec<PathBuf> = (0..cell.leaders as usize)
        .map(|i| scratch.join(format!("leader-{i:02}-certificate")))
        .collect();
    for dir in &certificate_dirs {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut rigs: Vec<Rig> = Vec::with_capacity(cell.leaders as usize);
    for (i, dir) in certificate_dirs.iter().enumerate() {
        let started = start_rig(
            cell,
            faults.clone(),
            follower_seed(seed, i),
            snapshot.clone(),
            clock,
            Some(events.clone()),
            certificate(cell, pki, dir),
            LOCAL_LISTEN,
        )
        .await;
        match started {
            Ok(rig) => rigs.push(rig),
            Err(e) => {
                for rig in rigs {
                    rig.shutdown().await;
                }
                return Err(e);
            }
        }
    }
    let configs: Vec<FollowerConfig> = rigs
        .iter()
        .enumerate()
        .map(|(i, rig)| follower_config(cell, rig, scratch.join(format!("leader-{i:02}"))))
        .collect();
    let (reports, targets) = recover_one_node(cell, configs, &progress, cancel).await;
    let mut stats = Vec::with_capacity(rigs.len());
    for rig in &rigs {
        stats.push(leader_stats(rig).await);
    }
    for rig in rigs {
        rig.shutdown().await;
    }
    let reports = reports?;
    let chaos = events.since(0);
    let leader = LeaderStatsSnapshot::total(stats);
    recovered_many(Several::Leaders, reports, targets, metas, chaos, leader).await
}

/// What a trial has several of: followers of one leader (fan-out), or leaders of one follower
/// node (fan-in).
#[derive(Clone, Copy)]
enum Several {
    Followers,
    Leaders,
}

/// A trial of several recoveries: each target re-read against the leader's files, the reports
/// combined into the trial's (each one's record under `followers` or `leaders`), the fault
/// windows measured on the aggregate.
async fn recovered_many(
    several: Several,
    reports: Vec<RecoveryReport>,
    targets: Vec<PathBuf>,
    metas: Vec<Vec<crate::protocol::FileMeta>>,
    chaos: Vec<Event>,
    leader: LeaderStatsSnapshot,
) -> Result<Recovered, RunError> {
    let checked = verify_all(reports, targets, metas).await?;
    let unit = match several {
        Several::Followers => "follower",
        Several::Leaders => "leader",
    };
    let (mut report, records, shares) = combine(&checked, unit);
    let early = report.annotate_faults(&chaos);
    report.warnings = fault_warnings(&chaos, &early);
    let (followers, leaders) = match several {
        Several::Followers => (records, Vec::new()),
        Several::Leaders => (Vec::new(), records),
    };
    Ok(Recovered {
        report,
        chaos,
        followers,
        leaders,
        shares,
        leader,
        leader_clock: None,
    })
}

/// Starts `cell`'s rig: its leader serving `snapshot` (at the chunk size the cell asks for,
/// even past the leader's default guard), the injector its chaos layer and transport call for
/// with `faults` listening on `injector_listen`, a QUIC certificate written into
/// `certificate_dir`, on `clock` (recording into `events`, or a log of its own).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start_rig(
    cell: &CampaignSpec,
    faults: Vec<Fault>,
    seed: u64,
    snapshot: IndexShards,
    clock: Clock,
    events: Option<Arc<EventLog>>,
    certificate: Certificate,
    injector_listen: &str,
) -> Result<Rig, RunError> {
    let liveness = QuicLiveness {
        idle_timeout: cell.settings.quic_idle_timeout,
        keep_alive: cell.settings.quic_keep_alive,
    };
    let injector = match cell.chaos.layer {
        ChaosLayer::L3 => InjectorKind::Link,
        // QUIC rides UDP, so its faults go through the datagram proxy.
        ChaosLayer::L4 => InjectorKind::proxy_for(cell.settings.transport),
    };
    let mut leader_settings = cell.leader.clone();
    leader_settings.max_chunk_size = leader_settings.max_chunk_size.max(cell.settings.chunk_size);
    let leader_config = LeaderConfig {
        settings: leader_settings,
        ..LeaderConfig::default()
    };
    let mut rig = Rig::builder()
        .leader_config(snapshot, leader_config)
        .injector(injector, faults)
        .injector_listen(injector_listen)
        .transport(cell.settings.transport)
        .tls(cell.settings.tls)
        .certificate(certificate)
        .quic_liveness(liveness)
        .leader_nodes(cell.leader_nodes as usize, cell.settings.mode)
        .node_connections(cell.settings.node_connections as usize)
        .clock(clock)
        .seed(seed);
    if let Some(events) = events {
        rig = rig.events(events);
    }
    Ok(rig.start().await?)
}

/// A follower of `cell` recovering into `target` through `rig`: the cell's settings, time limit
/// and shard count.
fn follower_config(cell: &CampaignSpec, rig: &Rig, target: PathBuf) -> FollowerConfig {
    with_cell(cell, rig.follower_config(target))
}

/// `config` with `cell`'s settings, time limit and shard count.
fn with_cell(cell: &CampaignSpec, mut config: FollowerConfig) -> FollowerConfig {
    config.settings = cell.settings.clone();
    config.time_limit = Some(cell.time_limit);
    config.shards = cell.index.shards;
    config
}

/// Re-reads every completed recovery's target against the leader's files, after every
/// recovery finished, so checking one does not slow the others.
async fn verify_all(
    reports: Vec<RecoveryReport>,
    targets: Vec<PathBuf>,
    metas: Vec<Vec<crate::protocol::FileMeta>>,
) -> Result<Vec<FollowerRun>, RunError> {
    tokio::task::spawn_blocking(move || {
        reports
            .into_iter()
            .zip(targets)
            .map(|(report, target)| {
                let verified = if report.is_completed() {
                    same_index(&metas, &target)
                } else {
                    Err("not completed".into())
                };
                FollowerRun { report, verified }
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| RunError::FollowerTask {
        index: 0,
        message: format!("verifying: {e}"),
    })
}

/// Where a rig in this process listens for its followers.
const LOCAL_LISTEN: &str = "127.0.0.1:0";

/// How long the leader may take to see the followers' connections close before its counters
/// are read anyway (a blackholed connection may never tell it).
const SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

/// The leader's counters (every node's, summed) once every follower connection is closed, or
/// after [`SETTLE`] (zeros for a rig without a leader of its own). Read at once, a follower's last `CloseSession` may
/// still be on its way, and the session it closes would count as left open.
async fn leader_stats(rig: &Rig) -> LeaderStatsSnapshot {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let stats = LeaderStatsSnapshot::total(rig.leader_nodes().iter().map(|n| n.stats()));
        if stats.connections_open == 0 || tokio::time::Instant::now() >= deadline {
            return stats;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Whether the index in `target` is the leader's, shard for shard and file for file.
fn same_index(leader: &[Vec<crate::protocol::FileMeta>], target: &Path) -> Result<(), String> {
    let shards = leader.len() as u32;
    for (shard, metas) in (0..shards).zip(leader) {
        same_files(metas, &shard_dir(target, shard, shards)).map_err(|e| match shards {
            1 => e,
            _ => format!("shard {shard}: {e}"),
        })?;
    }
    Ok(())
}

/// Whether the shard in `target` is the leader's, file for file: the same names, lengths and
/// CRC-32C, read back from disk.
fn same_files(leader: &[crate::protocol::FileMeta], target: &Path) -> Result<(), String> {
    let theirs = IndexSnapshot::load(target)
        .map_err(|e| format!("reading it back: {e}"))?
        .metas();
    let differ = leader.iter().filter(|m| !theirs.contains(m)).count();
    match (differ, theirs.len() == leader.len()) {
        (0, true) => Ok(()),
        (0, false) => Err(format!(
            "{} files on disk, the leader has {}",
            theirs.len(),
            leader.len()
        )),
        (n, _) => Err(format!(
            "{n} of {} files differ from the leader's",
            leader.len()
        )),
    }
}

/// How often the trial's progress is refreshed from its followers'.
const SUM_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Fan-in's follower node: `configs` (one per leader cluster) recovering at once, sharing the
/// node's one limiter and its `node_initial_primaries_recoveries` slots; their reports and
/// targets.
async fn recover_one_node(
    cell: &CampaignSpec,
    configs: Vec<FollowerConfig>,
    progress: &Arc<Progress>,
    cancel: impl Future<Output = ()>,
) -> (Result<Vec<RecoveryReport>, RunError>, Vec<PathBuf>) {
    let targets: Vec<PathBuf> = configs.iter().map(|c| c.target.clone()).collect();
    let throttles = NodeThrottles::new(
        cell.settings.max_bytes_per_sec,
        cell.settings.node_initial_primaries_recoveries,
    );
    (
        recover_all(configs, Some(throttles), progress, cancel).await,
        targets,
    )
}

/// Runs every follower of `configs` at once (each a node of its own, or all on `shared_node`),
/// each in a task of its own with progress of its own, summed into `progress` as they go (bytes and files added up, the highest attempt);
/// `cancel` stops them all. Their reports, in follower order.
async fn recover_all(
    configs: Vec<FollowerConfig>,
    shared_node: Option<NodeThrottles>,
    progress: &Arc<Progress>,
    cancel: impl Future<Output = ()>,
) -> Result<Vec<RecoveryReport>, RunError> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let each: Vec<Arc<Progress>> = configs
        .iter()
        .map(|_| Arc::new(Progress::default()))
        .collect();
    let tasks: Vec<_> = configs
        .into_iter()
        .zip(&each)
        .map(|(config, p)| {
            let mut stopped = stopped.clone();
            let cancel = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let progress = p.clone();
            match &shared_node {
                Some(node) => {
                    tokio::spawn(follower::recover_on(config, node.clone(), progress, cancel))
                }
                None => tokio::spawn(follower::recover(config, progress, cancel)),
            }
        })
        .collect();
    let all = async {
        let mut reports = Vec::with_capacity(tasks.len());
        for (index, task) in tasks.into_iter().enumerate() {
            let joined = task.await.map_err(|e| RunError::FollowerTask {
                index,
                message: e.to_string(),
            });
            reports.push(joined.and_then(|r| r.map_err(RunError::from)));
        }
        reports
    };
    let sum = async {
        let mut tick = tokio::time::interval(SUM_EVERY);
        loop {
            tick.tick().await;
            sum_progress(&each, progress);
        }
    };
    tokio::pin!(all, cancel, sum);
    let reports = loop {
        tokio::select! {
            r = &mut all => break r,
            () = &mut cancel, if !*stop.borrow() => {
                let _ = stop.send(true);
            }
            () = &mut sum => {}
        }
    };
    sum_progress(&each, progress);
    reports.into_iter().collect()
}

/// Sets `total` to the sum of `each` (the highest attempt any is on).
fn sum_progress(each: &[Arc<Progress>], total: &Progress) {
    total.set_sum_of(each, None);
}

/// What the injector warned about (a fault that fired with no connection open) and the fault
/// windows that were over before the recovery started, for the trial's record and line.
fn fault_warnings(chaos: &[Event], early: &[crate::follower::FaultTimes]) -> Vec<String> {
    let warned: Vec<(&str, &str)> = chaos
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Warning { fault, message } => Some((fault.as_str(), message.as_str())),
            _ => None,
        })
        .collect();
    let fired = warned
        .iter()
        .map(|(fault, message)| format!("fault `{fault}`: {message}"));
    // A fault the injector already warned about is not named twice.
    let before = early
        .iter()
        .filter(|w| warned.iter().all(|(f, _)| *f != w.fault))
        .map(|w| {
            format!(
                "fault `{}` ({}) was over before the recovery started: it could not affect it",
                w.fault, w.kind
            )
        });
    fired.chain(before).collect()
}

/// What one trial leaves in its results directory.
struct TrialFiles {
    /// Its line of `trials.jsonl`.
    record: TrialRecord,
    /// `timeseries/<id>.csv`.
    timeseries: String,
    /// `events/<id>.jsonl`.
    events: String,
    /// `requests/<id>.csv`.
    requests: String,
}

/// The index cache of a resumed results directory, `<out>/<campaign>/<run>/`: `<out>/.index-cache`.
fn resumed_cache_root(dir: &Path) -> PathBuf {
    dir.parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join(".index-cache")
}

/// Refuses to resume `dir` with a campaign file other than the one it was started with.
fn check_resumable(dir: &Path, text: &str) -> Result<(), RunError> {
    let original = std::fs::read_to_string(dir.join("campaign.toml")).map_err(io(dir))?;
    if original != text {
        return Err(RunError::ResumeMismatch(dir.to_path_buf()));
    }
    Ok(())
}

/// Creates a new results directory under `out` and writes the campaign file and the
/// environment into it.
fn start_run_dir(
    out: &Path,
    spec: &CampaignSpec,
    text: &str,
    hosts: Option<serde_json::Value>,
) -> Result<PathBuf, RunError> {
    let parent = out.join(&spec.name);
    let dir =
        create_run_dir(&parent, &utc_stamp(SystemTime::now()), spec.seed).map_err(io(&parent))?;
    write_atomic(&dir.join("campaign.toml"), text.as_bytes()).map_err(io(&dir))?;
    let mut env = capture_env();
    if let (Some(hosts), Some(fields)) = (hosts, env.as_object_mut()) {
        fields.insert("hosts".into(), hosts);
    }
    let env = serde_json::to_vec_pretty(&env).unwrap_or_default();
    write_atomic(&dir.join("env.json"), &env).map_err(io(&dir))?;
    Ok(dir)
}

/// The leader's certificate for a trial of `cell`: over TLS on TCP the one the results
/// directory's CA issued (`pki`), which the follower verifies through the CA; otherwise (QUIC,
/// or no `pki`) a self-signed one written into `dir`, which the follower pins.
pub(crate) fn certificate(
    cell: &CampaignSpec,
    pki: Option<&IssuedPaths>,
    dir: &Path,
) -> Certificate {
    match pki {
        Some(pki) if needs_pki(cell) => Certificate::Issued {
            certificate: pki.leader.clone(),
            ca: pki.ca.clone(),
            names: LOCAL_NAMES.iter().map(|n| n.to_string()).collect(),
        },
        _ => Certificate::Generate {
            dir: dir.to_path_buf(),
            names: vec!["localhost".into()],
        },
    }
}

/// Whether trials of `cell` run TLS over TCP (`settings.tls`; QUIC has TLS of its own).
fn needs_pki(cell: &CampaignSpec) -> bool {
    cell.settings.tls && cell.settings.transport == Transport::Tcp
}

/// The results directory's CA and leader certificate (`tls/ca.crt.pem`,
/// `tls/leader.crt.pem`, `tls/leader.key.pem`), when a cell runs TLS over TCP: one set per
/// results directory, kept when the run is resumed.
fn results_pki(campaign: &Campaign, dir: &Path) -> Result<Option<IssuedPaths>, RunError> {
    if !campaign.cells.iter().any(needs_pki) {
        return Ok(None);
    }
    let names: Vec<String> = LOCAL_NAMES.iter().map(|n| n.to_string()).collect();
    Ok(Some(generate_issued(&dir.join("tls"), &names)?))
}

/// The `[hosts]` of a campaign whose leader runs on an agent; every cell must name the same.
fn agent_hosts(campaign: &Campaign) -> Result<Option<&super::hosts::Hosts>, RunError> {
    let Some(first) = campaign.cells.first().map(|c| &c.hosts) else {
        return Ok(None);
    };
    if campaign.cells.iter().any(|c| c.hosts != *first) {
        return Err(RunError::Hosts(
            "every cell of a campaign runs its leader in the same place: a matrix may not vary \
             hosts.*"
                .into(),
        ));
    }
    Ok(first.leader.is_some().then_some(first))
}

/// Runs every trial not yet recorded, in the campaign's order, until done or `cancel`.
pub async fn run(
    campaign: &Campaign,
    text: &str,
    options: &RunOptions,
    cancel: impl Future<Output = ()>,
    mut observe: impl FnMut(RunEvent<'_>),
) -> Result<RunSummary, RunError> {
    let spec = &campaign.spec;
    // Before anything is written: a campaign that cannot run here leaves no directory behind.
    let needs_l3 = campaign
        .cells
        .iter()
        .any(|cell| cell.chaos.layer == ChaosLayer::L3);
    if let Some(why) = needs_l3.then(crate::chaos::link::unavailable).flatten() {
        return Err(RunError::L3Unavailable(why));
    }
    // An agent that cannot be reached or refuses the key fails the campaign here, naming it.
    let agent = match agent_hosts(campaign)? {
        Some(hosts) => Some(RemoteLeader::connect(hosts, Clock::start()).await?),
        None => None,
    };
    let cache_root = match &options.resume {
        Some(dir) => {
            check_resumable(dir, text)?;
            resumed_cache_root(dir)
        }
        None => options
            .cache
            .clone()
            .unwrap_or_else(|| options.out.join(".index-cache")),
    };
    // Scratch of runs killed before they could clean up (SIGKILL) holds tmpfs memory, and
    // counts against the room the trials need.
    let scratch_root = scratch::scratch_root();
    scratch::remove_stale(&scratch_root);
    check_room(campaign, &cache_root, &scratch_root, agent.is_some())?;
    let hosts_env = agent
        .as_ref()
        .map(|a| serde_json::json!({ "leader": a.env() }));
    let dir = match &options.resume {
        Some(dir) => dir.clone(),
        None => start_run_dir(&options.out, spec, text, hosts_env)?,
    };
    // An agent's rigs have CAs of their own.
    let pki = match agent {
        Some(_) => None,
        None => results_pki(campaign, &dir)?,
    };
    let trials_path = dir.join("trials.jsonl");
    repair_torn_tail(&trials_path).map_err(io(&trials_path))?;
    let done: HashSet<String> = read_trials(&trials_path)
        .map_err(io(&trials_path))?
        .into_iter()
        .map(|r| r.trial)
        .collect();
    let pending: Vec<&Trial> = campaign
        .trials
        .iter()
        .filter(|t| !done.contains(&t.id))
        .collect();
    observe(RunEvent::Started {
        dir: &dir,
        to_run: pending.len(),
        total: campaign.trials.len(),
    });
    tokio::pin!(cancel);
    let mut interrupted = false;
    let mut skipped = Vec::new();
    let mut references = References::new();
    for (k, trial) in pending.iter().enumerate() {
        let cell = &campaign.cells[trial.cell];
        if let Err(e) = check_medium(&cell.fault_list(), medium(cell)) {
            let reason = format!(
                "{e} (on {} at {})",
                cell.settings.transport, cell.chaos.layer
            );
            observe(RunEvent::Skipped {
                trial,
                reason: reason.clone(),
            });
            skipped.push((trial.id.clone(), reason));
            continue;
        }
        let remote = agent.as_ref().map(|leader| Remote {
            leader,
            table: &campaign.tables[trial.cell],
            campaign_seed: spec.seed,
            reference: false,
        });
        // An agent's cell is generated there only; its metas are what the copies are checked
        // against.
        let prepared = match remote {
            Some(r) => r
                .leader
                .prepare(r.table, r.campaign_seed, &cell.index, cancel.as_mut())
                .await?
                .map(|metas| TrialIndex::Remote(Arc::new(metas))),
            None => cached_index(&cache_root, &cell.index, cancel.as_mut())
                .await?
                .map(TrialIndex::Local),
        };
        let Some(snapshot) = prepared else {
            interrupted = true;
            break;
        };
        // The reference runs first (once per reference cell), stopped by Ctrl-C like the trial.
        if reference_cell(cell).is_some_and(|(key, _)| !references.contains_key(&key)) {
            observe(RunEvent::MeasuringReference {
                trial,
                runs: REFERENCE_RUNS,
            });
        }
        // Ctrl-C stops the reference's recovery, which then ends (and stops its rig) itself.
        let measured = {
            let (stop_reference, stopped) = tokio::sync::watch::channel(false);
            let measuring = reference_s(
                cell,
                trial.seed,
                &snapshot,
                &mut references,
                (pki.as_ref(), remote),
                stopped,
            );
            tokio::pin!(measuring);
            tokio::select! {
                r = &mut measuring => Some(r),
                _ = &mut cancel => {
                    stop_reference.send_replace(true);
                    let _ = measuring.await;
                    None
                }
            }
        };
        let Some(measured) = measured else {
            interrupted = true;
            break;
        };
        let reference = measured?;
        let progress = Arc::new(Progress::default());
        observe(RunEvent::TrialStart {
            k: k + 1,
            trial,
            progress: progress.clone(),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let trial_cancel = async move {
            let _ = stop_rx.await;
        };
        let run = run_trial(
            spec,
            cell,
            trial,
            snapshot,
            progress,
            trial_cancel,
            reference,
            pki.as_ref(),
            remote,
        );
        tokio::pin!(run);
        let result = tokio::select! {
            r = &mut run => Some(r),
            _ = &mut cancel => None,
        };
        let Some(result) = result else {
            // Let the follower stop cleanly; the interrupted trial is not recorded.
            let _ = stop_tx.send(());
            let _ = run.await;
            interrupted = true;
            break;
        };
        let TrialFiles {
            record,
            timeseries,
            events,
            requests,
        } = result?;
        for (sub, ext, text) in [
            ("timeseries", "csv", timeseries),
            ("events", "jsonl", events),
            ("requests", "csv", requests),
        ] {
            let path = dir.join(sub).join(format!("{}.{ext}", trial.id));
            write_atomic(&path, text.as_bytes()).map_err(io(&path))?;
        }
        append_line(&trials_path, &record).map_err(io(&trials_path))?;
        observe(RunEvent::TrialEnd { record: &record });
    }
    let records = read_trials(&trials_path).map_err(io(&trials_path))?;
    let summary = SummaryMarkdown {
        campaign: &spec.name,
        description: &spec.description,
        skipped: &skipped,
    };
    export::write(&dir, &summary, &records).map_err(io(&dir))?;
    Ok(RunSummary {
        dir,
        records,
        interrupted,
        skipped,
    })
}
