//! What `rrbench recover` prints, in the habits of iperf3 and hyperfine users: a line per
//! interval (`-i`, on stdout, also when piped), a line per failed attempt on stderr as it
//! happens, units chosen with `-f`, stdout redirected with `--logfile`, and `--json` as one
//! document shaped like iperf3's (`start`, `intervals`, `end`).
//!
//! It owns the output of a recovery, not the recovery ([`rrbench::follower`]) nor the terminal
//! progress line ([`crate::progress_line`], which it only decides to draw). Parts: [`units`]
//! (formatting), [`intervals`] (readings into intervals, pure), [`reporter`] (the task that
//! takes readings while the recovery runs), [`sink`] (stdout or the log file), [`document`] (the
//! JSON) and [`cpu`] (this process's CPU time).

mod cpu;
mod document;
mod intervals;
mod reporter;
mod sink;
mod units;

use std::{
    io::IsTerminal,
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime},
};

use rrbench::{
    clock::utc_stamp,
    follower::{FollowerConfig, Progress, RecoveryReport},
    results::capture_env,
};

pub use intervals::{Every, parse_interval};
pub use units::Units;

use crate::progress_line::ProgressLine;
use cpu::CpuTimes;
use document::{Start, Timestamp};
use reporter::{Reporter, ReporterConfig, failure_line};

/// The interval when `--interval` is not given and no progress line is drawn (iperf3's).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Output that failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// `--logfile` could not be opened for appending.
    #[error("cannot open the log file {}", path.display())]
    OpenLog {
        /// The path given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line could not be written.
    #[error("cannot write to {target}")]
    Write {
        /// `stdout` or the log file's path.
        target: String,
        /// Why.
        source: std::io::Error,
    },
    /// The JSON document could not be encoded.
    #[error("cannot encode the JSON document")]
    Json(#[from] serde_json::Error),
    /// The reporting task ended abnormally.
    #[error("the interval reporter stopped: {0}")]
    Reporter(String),
}

/// The output of one `rrbench recover`, from before the recovery starts to its summary.
pub struct RecoverOutput {
    json: bool,
    units: Units,
    start: Start,
    reporter: Reporter,
    line: ProgressLine,
    cpu_start: Option<CpuTimes>,
    wall_start: std::time::Instant,
}

/// What `rrbench recover` was asked to print, and where (from its command line).
#[derive(Clone, Debug)]
pub struct OutputOptions {
    /// `--from`.
    pub from: String,
    /// `--dir`.
    pub dir: std::path::PathBuf,
    /// `--index`.
    pub index: String,
    /// `--logfile`.
    pub logfile: Option<std::path::PathBuf>,
    /// `--no-progress`.
    pub no_progress: bool,
    /// `-i`, when given.
    pub interval: Option<Every>,
    /// `-f`.
    pub format: Units,
    /// `--json`.
    pub json: bool,
}

impl RecoverOutput {
    /// Opens `--logfile`, decides between the progress line and interval lines, and starts
    /// reporting on `progress`. Call it right before the recovery, with its configuration.
    pub fn start(
        args: &OutputOptions,
        config: &FollowerConfig,
        progress: Arc<Progress>,
    ) -> Result<Self, OutputError> {
        let sink = sink::Sink::open(args.logfile.as_deref())?;
        let stderr_line = !args.no_progress && std::io::stderr().is_terminal();
        // iperf3 reports every second; on a terminal the progress line does that job unless
        // intervals are asked for, or the output is JSON (whose `intervals` are always filled).
        let every = match args.interval {
            Some(Every(every)) => every,
            None if args.json || !stderr_line => Some(DEFAULT_INTERVAL),
            None => None,
        };
        let print_intervals = !args.json;
        // Interval lines and the progress line on one terminal would garble each other.
        let line_drawn = stderr_line && !(print_intervals && every.is_some() && sink.is_terminal());
        let line = ProgressLine::start(progress.clone(), line_drawn);
        let reporter = Reporter::start(
            progress,
            config.clock,
            ReporterConfig {
                every,
                print_intervals,
                units: args.format,
                clear_line: line_drawn,
            },
            sink,
        );
        let start = Start {
            version: format!("rrbench {}", env!("CARGO_PKG_VERSION")),
            timestamp: Timestamp {
                time: utc_stamp(SystemTime::now()),
                timesecs: config.clock.unix_epoch_s(),
            },
            leader: args.from.clone(),
            target: args.dir.display().to_string(),
            index: args.index.clone(),
            policy: config.settings.policy.to_string(),
            seed: config.seed,
            interval_s: every.map(|d| d.as_secs_f64()),
            format: args.format.letter(),
            settings: config.settings.clone(),
            environment: serde_json::Value::Null,
        };
        Ok(Self {
            json: args.json,
            units: args.format,
            start,
            reporter,
            line,
            cpu_start: CpuTimes::now(),
            wall_start: std::time::Instant::now(),
        })
    }

    /// Stops reporting and prints the end: failures not printed yet (stderr), then the summary
    /// or the JSON document (stdout or the log file).
    pub async fn finish(self, report: &RecoveryReport) -> Result<(), OutputError> {
        let cpu = match (self.cpu_start, CpuTimes::now()) {
            (Some(start), Some(end)) => {
                cpu::utilization(start, end, self.wall_start.elapsed().as_secs_f64())
            }
            _ => None,
        };
        drop(self.line);
        let mut reported = self.reporter.finish().await?;
        for failure in report.failures.iter().skip(reported.failures_printed) {
            failure_line(&failure.to_string(), false);
        }
        if let Some(e) = reported.error.take() {
            return Err(e);
        }
        let sink = &mut reported.sink;
        if self.json {
            let mut start = self.start;
            start.environment = environment();
            return sink.line(&document::document(
                &start,
                &reported.intervals,
                report,
                cpu,
            )?);
        }
        let units = self.units;
        if !reported.intervals.is_empty() {
            sink.line("- - - - - - - - - - - - - - - - - - - - - - - - -")?;
            sink.line(&format!(
                "{}  {:>10}  {:>14}  {}",
                intervals::span(report.started_at, report.started_at + report.duration_s),
                units.size(report.bytes_transferred),
                units.rate(report.bytes_transferred as f64 / report.duration_s.max(1e-9)),
                if report.is_completed() {
                    "received; completed"
                } else {
                    "received; FAILED"
                },
            ))?;
        }
        let size = |bytes: u64| units.size(bytes);
        let rate = |bytes_per_s: f64| units.rate(bytes_per_s);
        sink.line(&format!(
            "recovery from {} into {}: {}",
            self.start.leader,
            self.start.target,
            report.summary_with(&size, &rate)
        ))
    }
}

/// The machine, as a campaign's `env.json` has it, less the git revision of whatever directory
/// the recovery was started in.
fn environment() -> serde_json::Value {
    let mut env = capture_env();
    if let Some(map) = env.as_object_mut() {
        map.remove("git_revision");
    }
    env
}
