//! `rrbench campaign run`: parse, list or run a campaign, with a progress line and an ETA.

use std::{process::ExitCode, time::Instant};

use anyhow::Context;
use rrbench::campaign::{self, Campaign, RunEvent, RunOptions};

use crate::{
    cli::CampaignRunArgs,
    output::{errln, outln},
    progress_line::ProgressLine,
};

const INTERRUPTED: u8 = 130;

fn describe(params: &[(String, toml::Value)]) -> String {
    if params.is_empty() {
        return "(no matrix)".into();
    }
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn run(args: CampaignRunArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let parsed = Campaign::parse_with(&text, args.seed, &args.overrides)
        .with_context(|| format!("campaign {}", args.file.display()))?;
    // The results keep the file as given plus the overrides as comments, so `--resume` with
    // other overrides is refused like a changed file.
    let mut text = text;
    for o in &args.overrides {
        text.push_str(&format!("\n# rrbench campaign run --set {o}"));
    }
    if args.dry_run {
        let mut listing = format!(
            "campaign {:?}: {} cells x {} repetitions = {} trials (seed {}), in run order:\n",
            parsed.spec.name,
            parsed.cells.len(),
            parsed.spec.repetitions,
            parsed.trials.len(),
            parsed.spec.seed
        );
        for t in &parsed.trials {
            listing.push_str(&format!(
                "  {} cell {:>3} rep {} {}\n",
                t.id,
                t.cell,
                t.repetition,
                describe(&t.params)
            ));
        }
        crate::progress_line::print_stdout(&listing)?;
        return Ok(ExitCode::SUCCESS);
    }
    let options = RunOptions {
        out: args.out.clone(),
        resume: args.resume.clone(),
        cache: None,
    };
    let cancel = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let started = Instant::now();
    let mut to_run = 0;
    let mut finished = 0;
    let mut line: Option<ProgressLine> = None;
    let summary = campaign::run(&parsed, &text, &options, cancel, |event| match event {
        RunEvent::Started { dir, to_run: n, total } => {
            to_run = n;
            errln!("campaign {:?}: {n} of {total} trials to run; results in {}", parsed.spec.name, dir.display());
        }
        RunEvent::TrialStart { k, trial, progress } => {
            let eta = match finished {
                0 => String::new(),
                done => {
                    let per = started.elapsed().as_secs_f64() / done as f64;
                    format!(" ETA {:.0}s", per * (to_run - done) as f64)
                }
            };
            let prefix = format!("[{k}/{to_run}]{eta} {} | ", trial.id);
            line = Some(ProgressLine::with_prefix(progress, true, prefix));
        }
        RunEvent::MeasuringReference { trial, runs } => {
            errln!(
                "      {}: measuring the model's reference first ({runs} recoveries of the same cell without the added delay)",
                trial.id
            );
        }
        RunEvent::Skipped { trial, reason } => {
            finished += 1;
            errln!("[{finished}/{to_run}] {} {} | skipped: {reason}", trial.id, describe(&trial.params));
        }
        RunEvent::TrialEnd { record } => {
            line = None;
            finished += 1;
            let held = record.expectations.iter().filter(|v| v.pass).count();
            let model = match (record.model_throughput_mib_s, &record.model_terms) {
                (None, _) => "model -".to_string(),
                (Some(m), None) => format!("model {m:.1}"),
                (Some(m), Some(terms)) => format!("model {m:.1}, mostly {}", terms.largest()),
            };
            let steady = record
                .steady_throughput_mib_s
                .map_or(String::new(), |s| format!(", steady {s:.1}"));
            let time = record
                .time_breakdown
                .filter(|b| b.total() > 0.0)
                .map_or("-".into(), |b| b.line());
            let params: Vec<String> = record.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            errln!(
                "[{finished}/{to_run}] {} {} | {:?} | {:.1} MiB/s{steady} ({model}) | wasted {:.1} MiB | attempts {} | expectations {held}/{} {}",
                record.trial,
                params.join(" "),
                record.outcome,
                record.throughput_mib_s,
                record.bytes_wasted as f64 / 1048576.0,
                record.attempts,
                record.expectations.len(),
                if record.passed { "pass" } else { "FAIL" }
            );
            errln!("      where the time went: {time}");
            for w in &record.warnings {
                errln!("      warning: {w}");
            }
            const SHOWN: usize = 4;
            for f in record.failures.iter().take(SHOWN) {
                errln!("      {f}");
            }
            if record.failures.len() > SHOWN {
                errln!("      ... and {} more failed attempts (events/{}.jsonl)", record.failures.len() - SHOWN, record.trial);
            }
        }
    })
    .await?;
    drop(line);
    if !summary.skipped.is_empty() {
        outln!(
            "{} trials skipped (a fault that cannot act on their transport): {}",
            summary.skipped.len(),
            summary
                .skipped
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        )?;
    }
    let failing = summary.failing();
    outln!(
        "{} trials recorded, {} passed every expectation, {} did not; summary: {}",
        summary.records.len(),
        summary.records.len() - failing.len(),
        failing.len(),
        summary.dir.join("summary.md").display()
    )?;
    for r in &failing {
        for v in r.expectations.iter().filter(|v| !v.pass) {
            outln!(
                "  FAIL {}: {} expected {}, was {}",
                r.trial,
                v.name,
                v.expected,
                v.actual
            )?;
        }
    }
    let report_failed = !args.no_report
        && !summary.records.is_empty()
        && {
            match rrbench::report::write_report(&summary.dir) {
                Ok(files) => {
                    outln!(
                        "report: {} and {} ({} plots in {})",
                        files.markdown.display(),
                        files.html.display(),
                        files.plots.len(),
                        summary.dir.join("plots").display()
                    )?;
                    false
                }
                Err(e) => {
                    // The trials are on disk already; say so and keep going to the exit code.
                    errln!(
                        "error: the report failed ({e}); results are intact, retry with\n  rrbench report {}",
                        summary.dir.display()
                    );
                    true
                }
            }
        };
    if summary.interrupted {
        errln!(
            "interrupted: finished trials are kept; continue with\n  rrbench campaign run {} --resume {}",
            args.file.display(),
            summary.dir.display()
        );
        return Ok(ExitCode::from(INTERRUPTED));
    }
    Ok(if failing.is_empty() && !report_failed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
