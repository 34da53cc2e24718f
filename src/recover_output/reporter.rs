//! The task that reports while a recovery runs: every interval, a reading of the live counters
//! becomes an [`Interval`] (a line on the sink in text mode; kept for the JSON's `intervals`),
//! and every failed attempt becomes a line on stderr as soon as the engine records it, with its
//! kind and what the policy does next.

use std::{io::Write, sync::Arc, time::Duration};

use rrbench::{clock::Clock, follower::Progress};
use tokio::{sync::oneshot, task::JoinHandle};

use super::{
    OutputError,
    intervals::{Interval, IntervalMeter, Reading, header, line, worth_reporting},
    sink::Sink,
    units::Units,
};

/// How often new failures are looked for: soon enough to read as "as it happens".
const FAILURE_POLL: Duration = Duration::from_millis(100);

/// What the reporter does.
#[derive(Clone, Copy, Debug)]
pub struct ReporterConfig {
    /// Interval length; `None`: no intervals.
    pub every: Option<Duration>,
    /// Write interval lines to the sink as they come (text mode); otherwise only keep them.
    pub print_intervals: bool,
    /// Units of the lines.
    pub units: Units,
    /// Clear the terminal line before a failure line (the progress line is drawn there).
    pub clear_line: bool,
}

/// What the reporter gives back when stopped.
#[derive(Debug)]
pub struct Reported {
    /// The sink, for the summary or the JSON.
    pub sink: Sink,
    /// Every interval, the last one partial.
    pub intervals: Vec<Interval>,
    /// Failures already printed.
    pub failures_printed: usize,
    /// The first write that failed, if one did (reporting stops writing then).
    pub error: Option<OutputError>,
}

/// The running reporter.
pub struct Reporter {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Reported>,
}

impl Reporter {
    /// Starts reporting on `progress`, timed by `clock`.
    pub fn start(
        progress: Arc<Progress>,
        clock: Clock,
        config: ReporterConfig,
        sink: Sink,
    ) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(progress, clock, config, sink, stopped));
        Self { stop, task }
    }

    /// Stops it, after a last (partial) interval up to now.
    pub async fn finish(self) -> Result<Reported, OutputError> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| OutputError::Reporter(e.to_string()))
    }
}

async fn run(
    progress: Arc<Progress>,
    clock: Clock,
    config: ReporterConfig,
    sink: Sink,
    mut stopped: oneshot::Receiver<()>,
) -> Reported {
    let now = || clock.elapsed().as_secs_f64();
    let mut meter = IntervalMeter::new(Reading::of(&progress, now()));
    let mut out = Reported {
        sink,
        intervals: Vec::new(),
        failures_printed: 0,
        error: None,
    };
    let print = config.print_intervals && config.every.is_some();
    let mut intervals = config.every.map(|every| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut failures = tokio::time::interval(FAILURE_POLL);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = failures.tick() => {
                out.failures_printed = print_failures(&progress, out.failures_printed, config.clear_line);
            }
            _ = next_tick(&mut intervals) => {
                let interval = meter.next(Reading::of(&progress, now()));
                if print {
                    out.print(&interval, config.units);
                }
                out.intervals.push(interval);
            }
        }
    }
    out.failures_printed = print_failures(&progress, out.failures_printed, config.clear_line);
    if let Some(every) = config.every {
        let last = meter.next(Reading::of(&progress, now()));
        if worth_reporting(&last, every) {
            if print {
                out.print(&last, config.units);
            }
            out.intervals.push(last);
        }
    }
    out
}

impl Reported {
    /// Writes an interval's line, after the column titles when it is the first.
    fn print(&mut self, interval: &Interval, units: Units) {
        if self.intervals.is_empty() {
            self.write(&header());
        }
        self.write(&line(interval, units));
    }

    /// Writes a line unless an earlier write failed.
    fn write(&mut self, text: &str) {
        if self.error.is_none()
            && let Err(e) = self.sink.line(text)
        {
            self.error = Some(e);
        }
    }
}

async fn next_tick(intervals: &mut Option<tokio::time::Interval>) {
    match intervals {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Prints the failures recorded since the `seen`-th; returns how many are printed now.
fn print_failures(progress: &Progress, seen: usize, clear_line: bool) -> usize {
    let new = progress.failures_since(seen);
    for failure in &new {
        failure_line(&failure.to_string(), clear_line);
    }
    seen + new.len()
}

/// One failure on stderr (a closed stderr is not worth failing the recovery for).
pub fn failure_line(text: &str, clear_line: bool) {
    let clear = if clear_line { "\r\x1b[2K" } else { "" };
    let _ = writeln!(std::io::stderr().lock(), "{clear}{text}");
}
