//! `rrbench report` and `rrbench compare`.

use crate::output::{errln, outln};
use std::process::ExitCode;

use anyhow::Context;
use rrbench::{
    compare::{self, CompareError, CompareOptions, Metric},
    report::write_report,
    results::ResultsDir,
};

use crate::cli::{CompareArgs, ReportArgs};

/// Exit code of a confident regression under `--fail-on-regression`.
const REGRESSED: u8 = 3;

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let files = write_report(&args.dir)
        .with_context(|| format!("writing the report of {}", args.dir.display()))?;
    outln!(
        "{} plots (SVG + PNG) in {}",
        files.plots.len(),
        args.dir.join("plots").display()
    )?;
    outln!("report: {}", files.markdown.display())?;
    outln!("report: {} (self-contained)", files.html.display())?;
    Ok(ExitCode::SUCCESS)
}

pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    if !args.extra.is_empty() {
        let all = [&args.baseline, &args.contender]
            .into_iter()
            .chain(&args.extra)
            .cloned()
            .collect();
        return Err(CompareError::TooManyRuns(all).into());
    }
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
    let open = |arg: &std::path::Path, role: &str| -> anyhow::Result<ResultsDir> {
        let selected = compare::resolve(arg).context(role.to_string())?;
        let results = ResultsDir::open(&selected.dir).context(role.to_string())?;
        match &selected.how {
            Some(how) => outln!("{role}: {} ({how})", selected.dir.display())?,
            None => outln!("{role}: {}", selected.dir.display())?,
        }
        Ok(results)
    };
    let baseline = open(&args.baseline, "baseline")?;
    let contender = open(&args.contender, "contender")?;
    compare::check_campaigns(&baseline, &contender, args.force)?;
    let comparison = compare::compare(&baseline, &contender, &options);
    let mut text = compare::differences_text(&comparison.differences);
    text.push('\n');
    text.push_str(&compare::terminal_table(&comparison));
    crate::progress_line::print_stdout(&text)?;
    for note in &comparison.notes {
        errln!("note: {note}");
    }
    for warning in &comparison.warnings {
        errln!("warning: {warning}");
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| contender.dir.join("compare"));
    let names = ["baseline".to_string(), "contender".to_string()];
    let files = compare::write(&comparison, &out, names)
        .with_context(|| format!("writing {}", out.display()))?;
    outln!("\ncompare: {}", files.markdown.display())?;
    outln!("compare: {}", files.json.display())?;
    outln!("compare: {}", files.csv.display())?;
    outln!("{}", comparison.tally())?;
    let regressed = comparison.regressions();
    if args.fail_on_regression && !regressed.is_empty() {
        for r in &regressed {
            errln!(
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
