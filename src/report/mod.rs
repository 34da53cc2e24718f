//! `rrbench report RESULTS_DIR`: plots of a campaign's results and the documents around them.
//!
//! Writes into the results directory: `plots/<name>.svg` and `.png` for every figure,
//! `report.md` (links the plots) and `report.html` (plots embedded; opens with no network). The
//! figures: the outcome matrix (policy × fault), throughput against the matrix axis that varies
//! with the model dashed, and throughput over time per condition with fault windows shaded and
//! failures and resets marked. Which numbers go in each figure is [`figures`]; drawing is
//! [`crate::plot`].

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
    plot::{self, PlotError, Rendered},
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
        "Policy × fault condition: trials completed, median time to recover after a fault, \
         median recovery time and median bytes wasted."
            .into(),
    ));
    rendered.push(r);

    let sweep = figures::sweep(&results);
    blocks.push(Block::Heading(sweep.title.clone()));
    let r = plot::render(&sweep, &plots_dir, "sweep")?;
    blocks.push(figure(
        &r,
        "Throughput of every trial (circles), the median per point (line) and the model \
         min(rate limit, window × chunk / RTT) (dashed)."
            .into(),
    ));
    rendered.push(r);

    blocks.push(Block::Heading("Throughput over time".into()));
    for (condition, trials) in &groups {
        let cell = trials.first().map_or(0, |t| t.record.cell);
        let fig = figures::throughput(&results.campaign, condition, trials);
        let r = plot::render(&fig, &plots_dir, &format!("throughput-c{cell:03}"))?;
        blocks.push(figure(
            &r,
            format!(
                "{}: goodput over 0.5 s windows, {} repetition(s); red bands are fault windows, \
                 triangles failed attempts, crosses connections the proxy reset.",
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

fn trial_table(results: &ResultsDir) -> Block {
    let header = [
        "trial",
        "condition",
        "rep",
        "policy",
        "outcome",
        "MiB/s",
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
                match r.outcome {
                    crate::follower::Outcome::Completed => "completed".into(),
                    crate::follower::Outcome::Failed => "failed".into(),
                },
                format!("{:.1}", r.throughput_mib_s),
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
