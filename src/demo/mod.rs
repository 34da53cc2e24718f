//! `rrbench demo`: why rrbench exists, in under a minute on one machine.
//!
//! Runs the story of `chaos/campaigns/demo-story.toml` (embedded: [`story`]) through the
//! campaign runner, over loopback with the in-process chaos proxy: Elasticsearch's defaults and
//! the rate limit off on a clean path, a WAN against the window model, stunnel's idle timeout
//! with and without a ping, and a reset under restart-from-zero and resume. It prints a line
//! per step as it runs, then the runs side by side ([`table`]), writes the report with the code
//! `rrbench report` uses, and ends with what to try next ([`next`]). The results directory with
//! the report stays under `--out`; the generated index is removed unless `--keep`
//! ([`cleanup`]).

mod cleanup;
mod next;
mod story;
mod table;

use std::{io, process::ExitCode, time::Instant};

use anyhow::Context;
use rrbench::{
    campaign::{self, CampaignSpec, RunEvent, RunOptions, model},
    results::TrialRecord,
};

use self::{
    cleanup::Temporary,
    story::{IndexOptions, STORY_PATH, Step},
    table::Row,
};
use crate::{
    cli::DemoArgs,
    output::{errln, outln},
    progress_line::ProgressLine,
};

/// Exit code when Ctrl-C stopped the demo.
const INTERRUPTED: u8 = 130;

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let began = Instant::now();
    let index = IndexOptions {
        size: args.size,
        files: args.files,
        seed: args.seed,
    };
    story::check_size(args.quick, args.size)?;
    let overrides = story::overrides(args.quick, &index);
    let campaign = story::parse(&overrides).context("the demo's story")?;
    let steps = story::steps(&campaign.cells);
    let text = story::results_text(&overrides);
    let mut temporary = Temporary::new(&args.out, &campaign.spec.name, args.keep);
    let first = &campaign.cells[0].index;
    outln!(
        "rrbench demo: {} steps over loopback through the chaos proxy, a {} index of {} files \
         (the story is {STORY_PATH}{})",
        campaign.trials.len(),
        first.size,
        first.files,
        if args.quick { ", --quick" } else { "" }
    )?;

    // Without --keep the index is generated in a private temporary directory, removed however
    // the demo ends (a kill included: it is under the system's temporary directory), and never
    // shared with another demo running at the same time.
    let private_cache = match args.keep {
        true => None,
        false => Some(
            tempfile::Builder::new()
                .prefix("rrbench-demo-index-")
                .tempdir()
                .context("creating a temporary directory for the demo's index")?,
        ),
    };
    let options = RunOptions {
        out: args.out.clone(),
        resume: None,
        cache: private_cache.as_ref().map(|dir| dir.path().to_path_buf()),
    };
    // One handler for the whole demo: a Ctrl-C while the report is written still stops it.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("listening for Ctrl-C")?;
    let cancel = async {
        interrupt.recv().await;
    };
    let mut narrator = Narrator {
        cells: &campaign.cells,
        steps: &steps,
        rows: Vec::new(),
        line: None,
        chapter: None,
        error: None,
    };
    let summary = campaign::run(&campaign, &text, &options, cancel, |event| {
        if let RunEvent::Started { dir, .. } = &event {
            temporary.started(dir);
        }
        narrator.observe(event);
    })
    .await?;
    narrator.line = None;
    if let Some(e) = narrator.error.take() {
        return Err(e.into());
    }
    if summary.interrupted {
        let removed = temporary.remove();
        errln!(
            "interrupted: nothing kept{}",
            if removed.is_empty() {
                String::new()
            } else {
                format!(" ({} removed)", show_paths(&removed))
            }
        );
        return Ok(ExitCode::from(INTERRUPTED));
    }

    let dir = summary.dir.clone();
    let report = tokio::task::spawn_blocking(move || rrbench::report::write_report(&dir));
    let files = tokio::select! {
        written = report => written?
            .with_context(|| format!("writing the report of {}", summary.dir.display()))?,
        _ = interrupt.recv() => {
            let removed = temporary.remove();
            errln!("interrupted while writing the report: nothing kept ({})", show_paths(&removed));
            return Ok(ExitCode::from(INTERRUPTED));
        }
    };
    temporary.finished();
    let rows = narrator.rows;
    outln!("\n{}", table::render(&rows))?;
    outln!(
        "\nreport: {} ({} plots in {})",
        files.html.display(),
        files.plots.len(),
        summary.dir.join("plots").display()
    )?;
    outln!(
        "results: {} (trials.jsonl, timeseries/, events/, report.md)",
        summary.dir.display()
    )?;
    if args.keep {
        for index in temporary.generated() {
            outln!("index (kept): {}", index.display())?;
        }
    }
    let removed = temporary.remove();
    if !removed.is_empty() {
        errln!("removed the temporary index: {}", show_paths(&removed));
    }

    let failing = summary.failing();
    for r in &failing {
        let step = steps.get(r.cell).map_or("?", |s| s.label.as_str());
        for v in r.expectations.iter().filter(|v| !v.pass) {
            errln!(
                "the story did not go as told: step {step}: {} expected {}, was {}",
                v.name,
                v.expected,
                v.actual
            );
        }
    }
    outln!("\n{}", next::what_next(&next::invoked_as()))?;
    outln!("\ndemo: {:.1} s", began.elapsed().as_secs_f64())?;
    Ok(if failing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn show_paths(paths: &[std::path::PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the story as the runner tells it: a chapter title, a line when a step starts, its
/// result and what it shows when it ends.
struct Narrator<'a> {
    cells: &'a [CampaignSpec],
    steps: &'a [Step],
    rows: Vec<Row>,
    line: Option<ProgressLine>,
    chapter: Option<u8>,
    /// The first stdout error (the rest of the story is not printed after it).
    error: Option<io::Error>,
}

impl Narrator<'_> {
    /// The chapter's title, before the first thing printed for it.
    fn chapter_heading(&mut self, step: &Step) -> io::Result<()> {
        if self.chapter != Some(step.chapter) {
            self.chapter = Some(step.chapter);
            outln!("\n{}. {}", step.chapter, story::chapter_title(step.chapter))?;
        }
        Ok(())
    }

    fn observe(&mut self, event: RunEvent<'_>) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.tell(event) {
            self.error = Some(e);
        }
    }

    fn tell(&mut self, event: RunEvent<'_>) -> io::Result<()> {
        match event {
            RunEvent::Started { .. } => {}
            RunEvent::MeasuringReference { trial, runs } => {
                self.chapter_heading(&self.steps[trial.cell])?;
                outln!(
                    "  (first the model's reference: {runs} recoveries of the same step without the delay)"
                )?;
            }
            RunEvent::TrialStart {
                trial, progress, ..
            } => {
                let step = &self.steps[trial.cell];
                self.chapter_heading(step)?;
                let cell = &self.cells[trial.cell];
                outln!(
                    "step {:<3} {}, {}",
                    step.label,
                    story::policy(cell),
                    step.condition
                )?;
                self.line = Some(ProgressLine::with_prefix(
                    progress,
                    true,
                    format!("      {} | ", step.label),
                ));
            }
            RunEvent::TrialEnd { record } => {
                self.line = None;
                let step = &self.steps[record.cell];
                let cell = &self.cells[record.cell];
                let row = Row::of(step, story::policy(cell), record);
                outln!("  -> {}", result_words(&row))?;
                for more in what_it_shows(step, cell, record) {
                    outln!("     {more}")?;
                }
                self.rows.push(row);
            }
            RunEvent::Skipped { trial, reason } => {
                outln!("step {} skipped: {reason}", self.steps[trial.cell].label)?;
            }
        }
        Ok(())
    }
}

/// A step's result in words, as it ends.
fn result_words(row: &Row) -> String {
    let rate = row
        .mib_s
        .map_or(String::new(), |m| format!(", {m:.1} MiB/s"));
    format!(
        "{} in {:.2} s, {} attempt{}{rate}, wasted {:.1} MiB, largest time term {}",
        row.outcome,
        row.duration_s,
        row.attempts,
        if row.attempts == 1 { "" } else { "s" },
        row.wasted_mib,
        row.largest
    )
}

/// What else a step shows: the baseline's breakdown, the WAN step's model, failures.
fn what_it_shows(step: &Step, cell: &CampaignSpec, record: &TrialRecord) -> Vec<String> {
    let mut lines = Vec::new();
    let first_of_chapter = step.label.len() == 1 || step.label.ends_with('a');
    if step.chapter == 1
        && first_of_chapter
        && let Some(b) = record.time_breakdown.filter(|b| b.total() > 0.0)
    {
        lines.push(format!("where the time went: {}", b.line()));
    }
    if step.chapter == 2 {
        lines.extend(model_lines(cell, record));
    }
    // The failed attempts, the last one of a recovery that gave up as its reason.
    const SHOWN: usize = 2;
    let last = match record.failure {
        Some(_) => record.failures.len().saturating_sub(1),
        None => record.failures.len(),
    };
    for f in record.failures.iter().take(last.min(SHOWN)) {
        lines.push(f.to_string());
    }
    if last > SHOWN {
        lines.push(format!("... and {} more failed attempts", last - SHOWN));
    }
    if let Some(failure) = &record.failure {
        lines.push(format!("gave up: {failure}"));
    }
    lines
}

/// Measured against the model, for a step whose latency sets it.
fn model_lines(cell: &CampaignSpec, record: &TrialRecord) -> Vec<String> {
    let faults = cell.fault_list();
    let rtt = model::added_rtt(&faults);
    let window = cell.settings.max_concurrent_file_chunks;
    let chunk = cell.settings.chunk_size;
    let mut lines = Vec::new();
    if let Some(bound) = campaign::model_throughput_mib_s(&cell.settings, &cell.leader, &faults) {
        lines.push(format!(
            "the window's bound: {window} x {chunk} per {:.0} ms round trip = {bound:.1} MiB/s",
            rtt.as_secs_f64() * 1e3
        ));
    }
    match (record.model_throughput_mib_s, record.throughput_vs_model) {
        (Some(m), Some(ratio)) => {
            let terms = record.model_terms.map_or(String::new(), |t| {
                format!(
                    " (reference {:.2} s + set-up {:.2} s + round trips {:.2} s)",
                    t.reference_s, t.setup_s, t.round_trips_s
                )
            });
            lines.push(format!(
                "measured {:.1} MiB/s vs model {m:.1} MiB/s{terms}: {ratio:.2} of the model",
                record.throughput_mib_s
            ));
        }
        _ => lines.push("no model for this step".into()),
    }
    lines
}
