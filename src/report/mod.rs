//! `rrbench report RESULTS_DIR`: plots of a campaign's results and the documents around them.
//!
//! Writes into the results directory: `plots/<name>.svg` and `.png` for every figure,
//! `report.md` (links the plots) and `report.html` (plots embedded; opens with no network). The
//! figures: the outcome grid (policy × condition, coloured by expectation verdict), throughput
//! against the matrix axis that varies with the model dashed, verified bytes over time attempt
//! by attempt (all policies of a condition on one time axis), where the time went (when the
//! trials measured it), how the followers of one leader shared it (when a trial ran more than
//! one), each shard's timeline with its attempts and wasted bytes (when the index had several),
//! the chunk request latency CDF (when they logged requests), and
//! throughput over time per condition with fault windows shaded and failures and resets marked.
//! Which numbers go in each figure is [`figures`]; drawing is [`crate::plot`].

mod base64;
mod document;
pub mod figures;

/// The trait [`Markdown`] and [`Html`] implement (with the comparison's and the summary's
/// Markdown).
pub use crate::export::Exporter;
pub use base64::encode as base64_encode;
pub use document::{Block, Document, Html, Markdown, escape};

use std::path::{Path, PathBuf};

use crate::{
    export,
    follower::Activity,
    plot::{self, PlotError, Rendered, Scale},
    results::{LoadError, ResultsDir},
};

/// A report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the results.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Drawing or writing a plot.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// Writing a document.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl ReportError {
    /// Whether the directory given is not results (rather than a file failing).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::Load(e) if e.is_bad_input())
    }
}

/// What a report wrote.
#[derive(Clone, Debug)]
pub struct ReportFiles {
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// Every plot, SVG and PNG.
    pub plots: Vec<Rendered>,
}

/// Reads `dir` and writes its plots, `report.md` and `report.html` into it.
pub fn write_report(dir: &Path) -> Result<ReportFiles, ReportError> {
    let results = ResultsDir::open(dir)?;
    let plots_dir = dir.join("plots");
    let mut rendered = Vec::new();
    let groups = results.by_condition();
    let mut blocks = vec![Block::Paragraph(results.description.trim().to_string())];
    blocks.push(Block::List(overview(&results, groups.len(), dir)));

    let figure = |r: &Rendered, caption: String| Block::Figure {
        caption,
        svg: format!("plots/{}.svg", r.name),
        png: format!("plots/{}.png", r.name),
        png_bytes: r.png_bytes.clone(),
    };

    blocks.push(Block::Heading("Outcomes".into()));
    let matrix = figures::outcomes(&results);
    let r = plot::render(&matrix, &plots_dir, "outcomes")?;
    blocks.push(figure(
        &r,
        "Policy × condition, each cell coloured by its expectation verdict (green: every trial \
         met every expectation; red: one was missed, named in the cell; grey: none set), then \
         trials completed, median recovery time of the completed trials, median time for \
         goodput to come back after a fault (completed trials) and median bytes wasted; \
         \"–\" where there is no such figure."
            .into(),
    ));
    rendered.push(r);

    let sweep = figures::sweep(&results);
    blocks.push(Block::Heading(sweep.title.clone()));
    let r = plot::render(&sweep, &plots_dir, "sweep")?;
    let shape = if sweep.joins_points() {
        "the median per point (line)"
    } else {
        "the median per value (bar; the values are categories, so nothing joins them)"
    };
    let scale = match sweep.y_scale {
        Scale::Log => " The y axis is logarithmic: the values span more than a decade.",
        Scale::Linear => "",
    };
    blocks.push(figure(
        &r,
        format!(
            "Throughput of every completed trial (points), {shape}, failed trials (red \
             crosses) and the model (dashed): min(rate limit, window × chunk / RTT), or where a \
             latency sets it, a reference run without the delay plus the round trips.{scale}"
        ),
    ));
    rendered.push(r);

    if let Some(fig) = figures::fan_out(&results) {
        let unit = fig.unit.clone();
        let units = fig.units.clone();
        blocks.push(Block::Heading(
            match unit.as_str() {
                "follower" => "Fan-out: one leader, many followers",
                "leader index" => "Fan-in: one follower node, many leaders",
                _ => "Fan-out and fan-in",
            }
            .into(),
        ));
        let r = plot::render(&fig, &plots_dir, "fanout")?;
        let shown = fig.panels.len();
        let more = if shown == figures::FAN_OUT_PANELS {
            format!(" (the first {shown} such trials; the table lists them all)")
        } else {
            String::new()
        };
        blocks.push(figure(
            &r,
            format!(
                "One panel per trial with more than one {unit}{more}: each {unit}'s \
                 throughput (its bytes over its own duration), fastest first, and the fair \
                 share dashed (the aggregate, every {unit}'s bytes over the wall time from \
                 the first start to the last finish, divided by the {units}). Jain's index \
                 is (Σx)² / (n·Σx²): 1 when every {unit} got the same, 1/n when one got \
                 everything. A fan-in trial's leader indices share the follower node's one \
                 max_bytes_per_sec and its node_initial_primaries_recoveries slots."
            ),
        ));
        rendered.push(r);
        blocks.push(fan_out_table(&figures::fan_out_rows(&results), &unit));
    }

    if let Some(fig) = figures::shards(&results) {
        blocks.push(Block::Heading("Shards".into()));
        let r = plot::render(&fig.figure, &plots_dir, "shards")?;
        let which = match fig.selection {
            figures::ShardSelection::All => "One panel per trial of a sharded index".to_string(),
            figures::ShardSelection::FirstRepetitions => format!(
                "One panel per condition, its first repetition (the {} trials of a sharded \
                 index would not fit; the table lists them all)",
                fig.sharded
            ),
        };
        blocks.push(figure(
            &r,
            format!(
                "{which}, on one time axis: a row per shard from its start to its end, green \
                 when verified, red when it failed; ×N is its attempts. The darker part is the \
                 share of the shard's bytes received that were thrown away, drawn from its \
                 start because failed attempts come before the one that finished (an \
                 estimate of when, exact in amount). Red lines: a fault turning on; a shard \
                 that waits for a recovery slot starts late, after another one ends."
            ),
        ));
        rendered.push(r);
        blocks.push(shard_table(&figures::shard_rows(&results)));
        blocks.push(Block::Paragraph(
            "Shards restarted counts the shards that needed more than one attempt, as the \
             expectation min_shards_restarted does, whether the next attempt resumed or began \
             from zero; wasted MiB tells the two apart. A trial of one shard is listed as its \
             own only shard."
                .into(),
        ));
    }

    let progress = figures::progress(&results);
    if !progress.is_empty() {
        blocks.push(Block::Heading("Verified bytes over time".into()));
        blocks.push(Block::Paragraph(
            "What each attempt kept: bytes written and checked in the target. A policy that \
             restarts from scratch drops to zero at every new attempt; one that resumes \
             carries on from where it stopped. Conditions where every trial went straight \
             through in one attempt are left out (their throughput figure shows them)."
                .into(),
        ));
    }
    for p in &progress {
        let r = plot::render(&p.figure, &plots_dir, &format!("progress-c{:03}", p.cell))?;
        let what = if p.group == "(no matrix)" {
            "Verified".to_string()
        } else {
            format!("{}: verified", p.group)
        };
        blocks.push(figure(
            &r,
            format!(
                "{what} MiB of each repetition, one panel per {}, on one time axis; \
                 dotted: the step to the next attempt; red crosses: failed attempts, labelled \
                 with their kind; red bands: fault windows; dashed: the index size.",
                if p.figure.panels.len() > 1 {
                    "policy or value"
                } else {
                    "condition"
                }
            ),
        ));
        rendered.push(r);
    }

    let medians = figures::breakdown_medians(&results);
    if let Some(fig) = figures::breakdown(&results) {
        blocks.push(Block::Heading("Where the time went".into()));
        let r = plot::render(&fig, &plots_dir, "breakdown")?;
        blocks.push(figure(
            &r,
            "Each condition's recovery time split by what the engine was doing, the median of \
             each activity over the repetitions (so a bar's length can differ a little from \
             the median recovery time in the table)."
                .into(),
        ));
        rendered.push(r);
        blocks.push(breakdown_table(&medians));
        blocks.push(Block::List(
            figures::breakdown_terms(&medians)
                .iter()
                .map(|a| format!("{}: {}", a.name(), a.describe()))
                .collect(),
        ));
    }

    if let Some(fig) = figures::latency_cdf(&results) {
        blocks.push(Block::Heading("Chunk request latency".into()));
        let r = plot::render(&fig, &plots_dir, "latency")?;
        blocks.push(figure(
            &r,
            "Fraction of chunk requests answered within a latency, per condition (every \
             repetition's answered requests; the legend counts those never answered)."
                .into(),
        ));
        rendered.push(r);
    }

    blocks.push(Block::Heading("Throughput over time".into()));
    for (condition, trials) in &groups {
        let cell = trials.first().map_or(0, |t| t.record.cell);
        let fig = figures::throughput(&results.campaign, condition, trials);
        let r = plot::render(&fig, &plots_dir, &format!("throughput-c{cell:03}"))?;
        blocks.push(figure(
            &r,
            format!(
                "{}: goodput (every byte received, including bytes later thrown away) over \
                 0.5 s windows, {} repetition(s); red bands are fault windows, triangles \
                 failed attempts, crosses connections the proxy reset.",
                condition.label(),
                trials.len()
            ),
        ));
        rendered.push(r);
    }

    blocks.push(Block::Heading("Trials".into()));
    blocks.push(trial_table(&results));
    let failing: Vec<String> = results
        .trials
        .iter()
        .flat_map(|t| {
            t.record
                .expectations
                .iter()
                .filter(|v| !v.pass)
                .map(move |v| {
                    format!(
                        "{}: {} expected {}, was {}",
                        t.record.trial, v.name, v.expected, v.actual
                    )
                })
        })
        .collect();
    if !failing.is_empty() {
        blocks.push(Block::Heading("Failed expectations".into()));
        blocks.push(Block::List(failing));
    }

    remove_stale(&plots_dir, &rendered)?;

    let doc = Document {
        title: format!("rrbench report: {}", results.campaign),
        blocks,
    };
    let markdown = write_doc(dir, &Markdown, &doc)?;
    let html = write_doc(dir, &Html, &doc)?;
    Ok(ReportFiles {
        markdown,
        html,
        plots: rendered,
    })
}

/// Removes the plots an earlier report wrote that this one did not (a figure now left out, a
/// condition renumbered), so `plots/` holds only what `report.md` shows. Only files named as
/// this module names its figures are touched.
fn remove_stale(plots_dir: &Path, rendered: &[Rendered]) -> Result<(), ReportError> {
    let ours = |stem: &str| {
        [
            "outcomes",
            "sweep",
            "breakdown",
            "latency",
            "fanout",
            "shards",
        ]
        .contains(&stem)
            || ["progress-c", "throughput-c"].iter().any(|p| {
                stem.strip_prefix(p)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
    };
    let Ok(entries) = std::fs::read_dir(plots_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if (ext == "svg" || ext == "png") && ours(stem) && !rendered.iter().any(|r| r.name == stem)
        {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ReportError::Io { path, source: e });
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn write_doc(
    dir: &Path,
    exporter: &impl Exporter<Input = Document>,
    doc: &Document,
) -> Result<PathBuf, ReportError> {
    export::write(dir, exporter, doc).map_err(|source| ReportError::Io {
        path: dir.join(exporter.file_name()),
        source,
    })
}

fn overview(results: &ResultsDir, conditions: usize, dir: &Path) -> Vec<String> {
    let passed = results.trials.iter().filter(|t| t.record.passed).count();
    let mut items = vec![
        format!("results: {}", dir.display()),
        format!(
            "{} trials in {} conditions; {passed} met every expectation, {} did not",
            results.trials.len(),
            conditions,
            results.trials.len() - passed
        ),
    ];
    if let Some(env) = std::fs::read(dir.join("env.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    {
        let field = |k: &str| match &env[k] {
            serde_json::Value::Null => "?".to_string(),
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        items.push(format!(
            "machine: {} ({} cores), kernel {}, rrbench {} at {}",
            field("cpu"),
            field("cores"),
            field("kernel"),
            field("rrbench_version"),
            field("git_revision")
        ));
    }
    items
}

/// Per trial: followers (or leader indices, `unit`), aggregate, Jain's index and the spread of
/// their throughputs.
fn fan_out_table(rows: &[figures::FanOutRow], unit: &str) -> Block {
    let units = figures::plural(unit);
    let vs_one = format!("vs one {unit}");
    let header = [
        "trial",
        "condition",
        units.as_str(),
        "completed",
        "aggregate MiB/s",
        vs_one.as_str(),
        "Jain",
        "min MiB/s",
        "median MiB/s",
        "max MiB/s",
        "leader sessions open",
    ];
    let rows = rows
        .iter()
        .map(|r| {
            vec![
                r.trial.clone(),
                r.condition.clone(),
                r.followers.to_string(),
                format!("{}/{}", r.completed, r.followers),
                format!("{:.1}", r.aggregate_mib_s),
                r.vs_one.map_or("–".into(), |x| format!("{x:.2}")),
                r.jain_index.map_or("–".into(), |j| format!("{j:.3}")),
                format!("{:.2}", r.min_mib_s),
                format!("{:.2}", r.median_mib_s),
                format!("{:.2}", r.max_mib_s),
                r.leader_sessions_open.to_string(),
            ]
        })
        .collect();
    Block::Table {
        header: header.map(String::from).to_vec(),
        rows,
    }
}

/// Per trial: outcome, each shard's attempts, shards restarted, bytes wasted and duration.
fn shard_table(rows: &[figures::ShardRow]) -> Block {
    let header = [
        "trial",
        "condition",
        "policy",
        "outcome",
        "shards verified",
        "attempts per shard",
        "shards restarted",
        "wasted MiB",
        "duration (s)",
    ];
    let rows = rows
        .iter()
        .map(|r| {
            vec![
                r.trial.clone(),
                r.condition.clone(),
                r.policy.clone(),
                outcome_word(r.outcome).into(),
                format!("{}/{}", r.verified, r.shards),
                r.attempts
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                format!("{} of {}", r.restarted, r.shards),
                format!("{:.1}", r.wasted_mib),
                format!("{:.2}", r.duration_s),
            ]
        })
        .collect();
    Block::Table {
        header: header.map(String::from).to_vec(),
        rows,
    }
}

fn outcome_word(o: crate::follower::Outcome) -> &'static str {
    match o {
        crate::follower::Outcome::Completed => "completed",
        crate::follower::Outcome::Failed => "failed",
    }
}

/// The breakdown's terms per condition, in seconds.
fn breakdown_table(medians: &[figures::BreakdownMedians]) -> Block {
    let terms = figures::breakdown_terms(medians);
    let mut header = vec!["condition".to_string(), "trials".to_string()];
    header.extend(terms.iter().map(|a| format!("{} (s)", a.name())));
    header.extend([
        "sum (s)".into(),
        "median duration (s)".into(),
        "largest".into(),
    ]);
    let index = |a: Activity| Activity::ALL.iter().position(|x| *x == a).unwrap_or(0);
    let rows = medians
        .iter()
        .map(|m| {
            let mut row = vec![m.condition.clone(), m.trials.to_string()];
            row.extend(terms.iter().map(|a| format!("{:.2}", m.seconds[index(*a)])));
            let sum: f64 = m.seconds.iter().sum();
            let largest = terms
                .iter()
                .copied()
                .max_by(|a, b| m.seconds[index(*a)].total_cmp(&m.seconds[index(*b)]))
                .filter(|a| m.seconds[index(*a)] > 0.0)
                .map_or("–", Activity::name);
            row.extend([
                format!("{sum:.2}"),
                format!("{:.2}", m.median_duration_s),
                largest.to_string(),
            ]);
            row
        })
        .collect();
    Block::Table { header, rows }
}

fn trial_table(results: &ResultsDir) -> Block {
    let header = [
        "trial",
        "condition",
        "rep",
        "policy",
        "outcome",
        "MiB/s",
        "steady MiB/s",
        "model MiB/s",
        "vs model",
        "attempts",
        "wasted MiB",
        "expectations",
    ];
    let rows = results
        .trials
        .iter()
        .map(|t| {
            let r = &t.record;
            let held = r.expectations.iter().filter(|v| v.pass).count();
            vec![
                r.trial.clone(),
                crate::results::Condition::of(r).label(),
                r.repetition.to_string(),
                r.policy.clone(),
                outcome_word(r.outcome).into(),
                format!("{:.1}", r.throughput_mib_s),
                r.steady_throughput_mib_s
                    .map_or("-".into(), |m| format!("{m:.1}")),
                r.model_throughput_mib_s
                    .map_or("-".into(), |m| format!("{m:.1}")),
                r.throughput_vs_model
                    .map_or("-".into(), |x| format!("{x:.2}")),
                r.attempts.to_string(),
                format!("{:.1}", r.bytes_wasted as f64 / 1048576.0),
                format!(
                    "{held}/{} {}",
                    r.expectations.len(),
                    if r.passed { "pass" } else { "FAIL" }
                ),
            ]
        })
        .collect();
    Block::Table {
        header: header.map(String::from).to_vec(),
        rows,
    }
}
