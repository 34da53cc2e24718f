//! What can go wrong in `rrbench compare`: bad options, runs that cannot be picked, two
//! different campaigns, and writing the output.

use std::path::PathBuf;

use super::Metric;

/// A bad `--metric`, option or run, or a file that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Unknown metric name.
    #[error("unknown metric {0:?}; choose from: {names}", names = Metric::names())]
    UnknownMetric(String),
    /// An option outside its range.
    #[error("{name} = {value} is out of range ({range})")]
    OutOfRange {
        /// The option.
        name: &'static str,
        /// Its value.
        value: f64,
        /// The accepted range.
        range: &'static str,
    },
    /// More than two runs on the command line (a shell glob matching several runs).
    #[error(
        "expected two runs (BASELINE CONTENDER), got {}: {}; a glob such as results/smoke/* \
         matches every run of the campaign: give the campaign directory (results/smoke, its \
         newest run) or pick one with results/smoke@ID",
        .0.len(),
        .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    TooManyRuns(Vec<PathBuf>),
    /// A directory with no run in it or under it.
    #[error(
        "{0}: no trials.jsonl here nor in a run directory under it; pass a run directory \
         (results/<campaign>/<stamp>-<seed>) or a campaign directory (results/<campaign>)"
    )]
    NoRuns(PathBuf),
    /// `DIR@ID` where `DIR` is a run, not a campaign directory.
    #[error(
        "{dir}@{id}: {dir} is a run directory; @ID picks one of the runs of a campaign directory"
    )]
    IdOnRun {
        /// The run directory.
        dir: PathBuf,
        /// The id given.
        id: String,
    },
    /// `DIR@ID` where no run's name starts with `ID`.
    #[error("{dir}@{id}: no run of {dir} is named {id}...; its runs: {}", .runs.join(", "))]
    NoSuchRun {
        /// The campaign directory.
        dir: PathBuf,
        /// The id given.
        id: String,
        /// Every run in it, oldest first.
        runs: Vec<String>,
    },
    /// Several runs fit and none is the obvious one.
    #[error(
        "{dir}: {why}; choose one with {dir}@ID, ID one of (or the start of): {}",
        .runs.join(", ")
    )]
    AmbiguousRun {
        /// The campaign directory.
        dir: PathBuf,
        /// Why no run could be picked.
        why: String,
        /// The runs that fit.
        runs: Vec<String>,
    },
    /// The two runs are of different campaigns, and `--force` was not given.
    #[error(
        "the baseline is campaign {baseline:?} ({baseline_dir}) and the contender campaign \
         {contender:?} ({contender_dir}): trials of different campaigns are matched by matrix \
         values only; pass --force to compare them anyway"
    )]
    CampaignsDiffer {
        /// The baseline's campaign.
        baseline: String,
        /// The baseline's run directory.
        baseline_dir: PathBuf,
        /// The contender's campaign.
        contender: String,
        /// The contender's run directory.
        contender_dir: PathBuf,
    },
    /// Drawing a plot.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    /// Reading a directory or writing `compare.md`, `compare.json` or `compare.csv`.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl CompareError {
    /// Whether the user asked for something invalid (rather than a file failing).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Self::Plot(_) | Self::Io { .. })
    }
}
