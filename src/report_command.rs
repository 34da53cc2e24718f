//! `rrbench report` and `rrbench compare`.

use std::process::ExitCode;

use anyhow::Context;
use rrbench::{
    compare::{self, ChangeVerdict, CompareOptions, Metric},
    report::write_report,
    results::ResultsDir,
};

use crate::cli::{CompareArgs, ReportArgs};

/// Exit code of a confident regression under `--fail-on-regression`.
const REGRESSED: u8 = 3;

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let files = write_report(&args.dir)
        .with_context(|| format!("writing the report of {}", args.dir.display()))?;
    println!(
        "{} plots (SVG + PNG) in {}",
        files.plots.len(),
        args.dir.join("plots").display()
    );
    println!("report: {}", files.markdown.display());
    println!("report: {} (self-contained)", files.html.display());
    Ok(ExitCode::SUCCESS)
}

pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let metrics = if args.metrics.is_empty() {
        CompareOptions::default().metrics
    } else {
        args.metrics
            .iter()
            .map(|m| Metric::parse(m))
            .collect::<Result<_, _>>()?
    };
    let options = CompareOptions {
        metrics,
        significance: args.significance,
        noise_threshold: args.noise_threshold,
        resamples: args.resamples,
        seed: args.seed,
    };
    options.validate()?;
    let baseline = ResultsDir::open(&args.baseline).context("baseline")?;
    let contender = ResultsDir::open(&args.contender).context("contender")?;
    let comparison = compare::compare(&baseline, &contender, &options);
    crate::progress_line::print_stdout(&compare::terminal_table(&comparison))?;
    for note in &comparison.notes {
        eprintln!("note: {note}");
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.contender.join("compare"));
    let names = ["baseline".to_string(), "contender".to_string()];
    let files = compare::write(&comparison, &out, names)
        .with_context(|| format!("writing {}", out.display()))?;
    println!("\ncompare: {}", files.markdown.display());
    let regressed = comparison.regressions();
    let count = |v: ChangeVerdict| comparison.rows.iter().filter(|r| r.verdict == v).count();
    println!(
        "{} rows: {} improved, {} regressed, {} no change, {} within noise",
        comparison.rows.len(),
        count(ChangeVerdict::Improved),
        regressed.len(),
        count(ChangeVerdict::NoChange),
        count(ChangeVerdict::WithinNoise)
    );
    if args.fail_on_regression && !regressed.is_empty() {
        for r in &regressed {
            eprintln!(
                "regressed: {} at {}: {:.3} -> {:.3}",
                r.metric,
                r.condition.label(),
                r.baseline_median.unwrap_or(f64::NAN),
                r.contender_median.unwrap_or(f64::NAN)
            );
        }
        return Ok(ExitCode::from(REGRESSED));
    }
    Ok(ExitCode::SUCCESS)
}
