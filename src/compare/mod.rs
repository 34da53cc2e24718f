//! `rrbench compare`: a baseline run against a contender, metric by metric and condition by
//! condition, with the statistics to tell a change from noise, and what differs between the two
//! runs besides their numbers.
//!
//! Trials are matched by their matrix values ([`Condition`]); repetition counts may differ, and a
//! condition present on one side only is listed, not dropped. The verdict follows criterion:
//! no change unless the Mann–Whitney p-value is below the significance level; a significant
//! change whose bootstrap interval (relative to the baseline median) reaches into the noise band
//! is "within noise"; otherwise improved or regressed, by which way the metric is better.
//!
//! Which run an argument names is [`resolve`]d; what differs between runs (settings, faults,
//! version, machine) is [`Differences`]; warnings about a comparison as a whole are
//! [`Comparison::warnings`]; the renderings are `compare.md`, `compare.json` and
//! `compare.csv`, each an [`crate::export::Exporter`]. Loading results is [`crate::results`]'s,
//! not this module's.

mod csv;
mod differences;
mod error;
#[cfg(test)]
mod fixture;
mod json;
mod markdown;
mod metric;
mod output;
mod select;
mod tally;
mod warnings;

pub use csv::CompareCsv;
pub use differences::{Difference, Differences, RunInfo, Section, diff};
pub use error::CompareError;
pub use json::CompareJson;
pub use markdown::{CompareMarkdown, differences_text, terminal_table};
pub use metric::Metric;
pub use output::{CompareFiles, write};
pub use select::{RunName, Selected, choose, resolve};
pub use tally::Tally;
pub use warnings::SHORT_TRIAL_S;

use std::{fmt, path::PathBuf};

use crate::{
    results::{Condition, LoadedTrial, ResultsDir},
    stats::{Interval, bootstrap_median_diff, mann_whitney, median},
};

/// How to compare.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// Metrics, in the order rows are printed.
    pub metrics: Vec<Metric>,
    /// p-value below which a difference is significant (0.05).
    pub significance: f64,
    /// Relative change (0.02 = 2 %) below which a significant change is called noise.
    pub noise_threshold: f64,
    /// Bootstrap resamples (10 000).
    pub resamples: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            metrics: vec![Metric::ThroughputMibS, Metric::DurationS],
            significance: 0.05,
            noise_threshold: 0.02,
            resamples: 10_000,
            seed: 0,
        }
    }
}

impl CompareOptions {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), CompareError> {
        if !(self.significance > 0.0 && self.significance < 1.0) {
            return Err(CompareError::OutOfRange {
                name: "significance",
                value: self.significance,
                range: "between 0 and 1, exclusive",
            });
        }
        if !(self.noise_threshold >= 0.0 && self.noise_threshold < 1.0) {
            return Err(CompareError::OutOfRange {
                name: "noise_threshold",
                value: self.noise_threshold,
                range: "0 to 1 (a fraction: 0.02 is 2 %)",
            });
        }
        if self.resamples < 100 {
            return Err(CompareError::OutOfRange {
                name: "resamples",
                value: self.resamples as f64,
                range: "at least 100",
            });
        }
        Ok(())
    }
}

/// What a row concludes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeVerdict {
    /// Significant and beyond the noise band, the good way.
    Improved,
    /// Significant and beyond the noise band, the bad way.
    Regressed,
    /// Not significant.
    NoChange,
    /// Significant but the interval reaches into the noise band.
    WithinNoise,
    /// A side has fewer than two samples: nothing can be concluded.
    TooFewSamples,
    /// The condition ran only in the baseline.
    OnlyInBaseline,
    /// The condition ran only in the contender.
    OnlyInContender,
}

impl ChangeVerdict {
    /// Every verdict, in the order a tally lists them.
    pub const ALL: [ChangeVerdict; 7] = [
        ChangeVerdict::Improved,
        ChangeVerdict::Regressed,
        ChangeVerdict::NoChange,
        ChangeVerdict::WithinNoise,
        ChangeVerdict::TooFewSamples,
        ChangeVerdict::OnlyInBaseline,
        ChangeVerdict::OnlyInContender,
    ];

    /// The verdict as a field name (`too_few_samples`), for JSON and CSV.
    pub fn key(self) -> &'static str {
        match self {
            ChangeVerdict::Improved => "improved",
            ChangeVerdict::Regressed => "regressed",
            ChangeVerdict::NoChange => "no_change",
            ChangeVerdict::WithinNoise => "within_noise",
            ChangeVerdict::TooFewSamples => "too_few_samples",
            ChangeVerdict::OnlyInBaseline => "only_in_baseline",
            ChangeVerdict::OnlyInContender => "only_in_contender",
        }
    }
}

impl fmt::Display for ChangeVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeVerdict::Improved => "improved",
            ChangeVerdict::Regressed => "regressed",
            ChangeVerdict::NoChange => "no change",
            ChangeVerdict::WithinNoise => "within noise",
            ChangeVerdict::TooFewSamples => "too few samples",
            ChangeVerdict::OnlyInBaseline => "only in baseline",
            ChangeVerdict::OnlyInContender => "only in contender",
        })
    }
}

/// One metric under one condition.
#[derive(Clone, Debug)]
pub struct Row {
    /// The metric.
    pub metric: Metric,
    /// The condition.
    pub condition: Condition,
    /// Baseline samples (one per trial that has the metric).
    pub baseline: Vec<f64>,
    /// Contender samples.
    pub contender: Vec<f64>,
    /// Median of the baseline.
    pub baseline_median: Option<f64>,
    /// Median of the contender.
    pub contender_median: Option<f64>,
    /// Contender median − baseline median.
    pub diff: Option<f64>,
    /// `diff` over the baseline median (a fraction).
    pub diff_relative: Option<f64>,
    /// 95 % bootstrap interval of `diff`.
    pub ci: Option<Interval>,
    /// Mann–Whitney two-sided p-value.
    pub p: Option<f64>,
    /// The conclusion.
    pub verdict: ChangeVerdict,
}

/// One of the two runs compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    /// Its campaign.
    pub campaign: String,
    /// Its run directory.
    pub dir: PathBuf,
    /// Trials recorded.
    pub trials: usize,
    /// Median `duration_s` of its trials.
    pub median_duration_s: Option<f64>,
}

impl Side {
    /// The facts of a results directory.
    pub fn of(results: &ResultsDir) -> Self {
        let durations: Vec<f64> = results.trials.iter().map(|t| t.record.duration_s).collect();
        Self {
            campaign: results.campaign.clone(),
            dir: results.dir.clone(),
            trials: results.trials.len(),
            median_duration_s: median(&durations),
        }
    }
}

/// `smoke (results/smoke/20260101T000000Z-1)`.
impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.campaign, self.dir.display())
    }
}

/// Everything `compare` found.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The baseline's campaign name (for titles).
    pub campaign: String,
    /// The baseline run.
    pub baseline: Side,
    /// The contender run.
    pub contender: Side,
    /// What differs between the runs besides their numbers.
    pub differences: Differences,
    /// Rows: metrics in the order asked, conditions in the baseline's order, then the
    /// contender's new ones.
    pub rows: Vec<Row>,
    /// Facts about how trials were matched (different campaign names under `--force`).
    pub notes: Vec<String>,
    /// Reasons to distrust the verdicts (trials too short, an A/A comparison that moved).
    pub warnings: Vec<String>,
    /// The options used.
    pub options: CompareOptions,
}

impl Comparison {
    /// Rows that regressed.
    pub fn regressions(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict == ChangeVerdict::Regressed)
            .collect()
    }

    /// Rows per verdict, every row counted.
    pub fn tally(&self) -> Tally {
        Tally::of(&self.rows)
    }
}

/// Refuses runs of two different campaigns unless `force`.
pub fn check_campaigns(
    baseline: &ResultsDir,
    contender: &ResultsDir,
    force: bool,
) -> Result<(), CompareError> {
    if force || baseline.campaign == contender.campaign {
        return Ok(());
    }
    Err(CompareError::CampaignsDiffer {
        baseline: baseline.campaign.clone(),
        baseline_dir: baseline.dir.clone(),
        contender: contender.campaign.clone(),
        contender_dir: contender.dir.clone(),
    })
}

/// Compares two results directories, reading what each run recorded about how it ran
/// (`campaign.toml`, `env.json`) for [`Comparison::differences`].
pub fn compare(
    baseline: &ResultsDir,
    contender: &ResultsDir,
    options: &CompareOptions,
) -> Comparison {
    let differences = diff(
        &RunInfo::read(&baseline.dir),
        &RunInfo::read(&contender.dir),
    );
    compare_with(baseline, contender, differences, options)
}

/// [`compare`] with the differences between the runs already found.
pub fn compare_with(
    baseline: &ResultsDir,
    contender: &ResultsDir,
    differences: Differences,
    options: &CompareOptions,
) -> Comparison {
    // Each side grouped once; conditions in the baseline's order, then the contender's new ones.
    let base_groups = baseline.by_condition();
    let cont_groups = contender.by_condition();
    let mut conditions: Vec<&Condition> = Vec::new();
    for (c, _) in base_groups.iter().chain(&cont_groups) {
        if !conditions.contains(&c) {
            conditions.push(c);
        }
    }
    let samples = |groups: &[(Condition, Vec<&LoadedTrial>)], c: &Condition, m: Metric| {
        groups
            .iter()
            .find(|(k, _)| k == c)
            .map(|(_, trials)| trials.iter().filter_map(|t| m.of(&t.record)).collect())
    };
    let mut rows = Vec::new();
    for &metric in &options.metrics {
        for (k, condition) in conditions.iter().enumerate() {
            let a = samples(&base_groups, condition, metric);
            let b = samples(&cont_groups, condition, metric);
            rows.push(row(metric, (*condition).clone(), a, b, options, k as u64));
        }
    }
    let mut notes = Vec::new();
    if baseline.campaign != contender.campaign {
        notes.push(format!(
            "the campaigns differ ({:?} vs {:?}); trials are matched by matrix values only",
            baseline.campaign, contender.campaign
        ));
    }
    let (baseline, contender) = (Side::of(baseline), Side::of(contender));
    let warnings = [
        warnings::short_trials(baseline.median_duration_s, contender.median_duration_s),
        warnings::a_a_noise(&differences, &rows, options.noise_threshold),
    ]
    .into_iter()
    .flatten()
    .collect();
    Comparison {
        campaign: baseline.campaign.clone(),
        baseline,
        contender,
        differences,
        rows,
        notes,
        warnings,
        options: options.clone(),
    }
}

fn row(
    metric: Metric,
    condition: Condition,
    baseline: Option<Vec<f64>>,
    contender: Option<Vec<f64>>,
    options: &CompareOptions,
    salt: u64,
) -> Row {
    let present = (baseline.is_some(), contender.is_some());
    let baseline = baseline.unwrap_or_default();
    let contender = contender.unwrap_or_default();
    let baseline_median = median(&baseline);
    let contender_median = median(&contender);
    let diff = baseline_median.zip(contender_median).map(|(a, b)| b - a);
    let diff_relative = diff
        .zip(baseline_median)
        .filter(|(_, a)| *a != 0.0)
        .map(|(d, a)| d / a.abs());
    let ci = bootstrap_median_diff(
        &baseline,
        &contender,
        options.resamples,
        0.95,
        options.seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let p = mann_whitney(&baseline, &contender).map(|r| r.p);
    let verdict = match present {
        (true, false) => ChangeVerdict::OnlyInBaseline,
        (false, true) => ChangeVerdict::OnlyInContender,
        _ if baseline.len() < 2 || contender.len() < 2 => ChangeVerdict::TooFewSamples,
        _ => judge(metric, baseline_median, ci, p, options),
    };
    Row {
        metric,
        condition,
        baseline,
        contender,
        baseline_median,
        contender_median,
        diff,
        diff_relative,
        ci,
        p,
        verdict,
    }
}

fn judge(
    metric: Metric,
    baseline_median: Option<f64>,
    ci: Option<Interval>,
    p: Option<f64>,
    options: &CompareOptions,
) -> ChangeVerdict {
    let (Some(p), Some(ci), Some(base)) = (p, ci, baseline_median) else {
        return ChangeVerdict::TooFewSamples;
    };
    if p >= options.significance {
        return ChangeVerdict::NoChange;
    }
    // The noise band in the metric's units; with a zero baseline, any change is beyond it.
    let band = options.noise_threshold * base.abs();
    let up = ci.low > band;
    let down = ci.high < -band;
    match (up, down) {
        (true, _) if metric.higher_is_better() => ChangeVerdict::Improved,
        (true, _) => ChangeVerdict::Regressed,
        (_, true) if metric.higher_is_better() => ChangeVerdict::Regressed,
        (_, true) => ChangeVerdict::Improved,
        _ => ChangeVerdict::WithinNoise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> CompareOptions {
        CompareOptions {
            resamples: 2000,
            ..CompareOptions::default()
        }
    }

    fn ci(low: f64, high: f64) -> Option<Interval> {
        Some(Interval { low, high })
    }

    #[test]
    fn verdicts_follow_direction_significance_and_noise() {
        let o = opts();
        let t = Metric::ThroughputMibS;
        let d = Metric::DurationS;
        assert_eq!(
            judge(t, Some(100.0), ci(5.0, 9.0), Some(0.01), &o),
            ChangeVerdict::Improved
        );
        assert_eq!(
            judge(d, Some(100.0), ci(5.0, 9.0), Some(0.01), &o),
            ChangeVerdict::Regressed
        );
        assert_eq!(
            judge(t, Some(100.0), ci(-9.0, -5.0), Some(0.01), &o),
            ChangeVerdict::Regressed
        );
        assert_eq!(
            judge(t, Some(100.0), ci(-9.0, -5.0), Some(0.2), &o),
            ChangeVerdict::NoChange
        );
        assert_eq!(
            judge(t, Some(100.0), ci(1.0, 3.0), Some(0.01), &o),
            ChangeVerdict::WithinNoise,
            "the interval reaches into the 2 % band"
        );
        assert_eq!(
            judge(
                Metric::BytesWasted,
                Some(0.0),
                ci(10.0, 20.0),
                Some(0.01),
                &o
            ),
            ChangeVerdict::Regressed
        );
    }

    #[test]
    fn one_sided_and_tiny_conditions_are_labelled() {
        let c = Condition::default();
        let o = opts();
        let m = Metric::ThroughputMibS;
        let r = row(m, c.clone(), Some(vec![1.0, 2.0]), None, &o, 0);
        assert_eq!(r.verdict, ChangeVerdict::OnlyInBaseline);
        let r = row(m, c.clone(), None, Some(vec![1.0]), &o, 0);
        assert_eq!(r.verdict, ChangeVerdict::OnlyInContender);
        let r = row(m, c, Some(vec![1.0]), Some(vec![5.0, 6.0]), &o, 0);
        assert_eq!(r.verdict, ChangeVerdict::TooFewSamples);
        assert_eq!(r.diff, Some(4.5));
    }

    #[test]
    fn options_are_range_checked() {
        let mut o = opts();
        o.significance = 1.5;
        assert!(
            o.validate()
                .expect_err("bad")
                .to_string()
                .contains("significance")
        );
    }
}
