//! `rrbench compare`: a baseline results directory against a contender, metric by metric and
//! condition by condition, with the statistics to tell a change from noise.
//!
//! Trials are matched by their matrix values ([`Condition`]); repetition counts may differ, and a
//! condition present on one side only is listed, not dropped. The verdict follows criterion:
//! no change unless the Mann–Whitney p-value is below the significance level; a significant
//! change whose bootstrap interval (relative to the baseline median) reaches into the noise band
//! is "within noise"; otherwise improved or regressed, by which way the metric is better.

mod markdown;
mod output;

pub use markdown::{CompareMarkdown, terminal_table};
pub use output::{CompareFiles, write};

use std::{fmt, path::PathBuf};

use crate::{
    results::{Condition, LoadedTrial, ResultsDir, TrialRecord},
    stats::{Interval, bootstrap_median_diff, mann_whitney, median},
};

/// A bad `--metric` or option.
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
    /// Drawing a plot.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    /// Writing `compare.md`.
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
        matches!(self, Self::UnknownMetric(_) | Self::OutOfRange { .. })
    }
}

/// A number recorded per trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Goodput of the whole recovery.
    ThroughputMibS,
    /// Wall time of the recovery.
    DurationS,
    /// Bytes received and thrown away.
    BytesWasted,
    /// Attempts made.
    Attempts,
    /// Throughput over the model's.
    ThroughputVsModel,
    /// Longest time to recover over the trial's fault windows.
    TimeToRecoverS,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 6] = [
        Metric::ThroughputMibS,
        Metric::DurationS,
        Metric::BytesWasted,
        Metric::Attempts,
        Metric::ThroughputVsModel,
        Metric::TimeToRecoverS,
    ];

    /// The field name in `trials.jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ThroughputMibS => "throughput_mib_s",
            Metric::DurationS => "duration_s",
            Metric::BytesWasted => "bytes_wasted",
            Metric::Attempts => "attempts",
            Metric::ThroughputVsModel => "throughput_vs_model",
            Metric::TimeToRecoverS => "time_to_recover_s",
        }
    }

    /// Axis text with the unit.
    pub fn axis(self) -> &'static str {
        match self {
            Metric::ThroughputMibS => "throughput (MiB/s)",
            Metric::DurationS => "duration (s)",
            Metric::BytesWasted => "bytes wasted (bytes)",
            Metric::Attempts => "attempts",
            Metric::ThroughputVsModel => "throughput / model",
            Metric::TimeToRecoverS => "time to recover (s)",
        }
    }

    /// Whether a larger value is an improvement.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::ThroughputMibS | Metric::ThroughputVsModel)
    }

    /// The value for one trial, if it has one.
    pub fn of(self, r: &TrialRecord) -> Option<f64> {
        match self {
            Metric::ThroughputMibS => Some(r.throughput_mib_s),
            Metric::DurationS => Some(r.duration_s),
            Metric::BytesWasted => Some(r.bytes_wasted as f64),
            Metric::Attempts => Some(r.attempts as f64),
            Metric::ThroughputVsModel => r.throughput_vs_model,
            Metric::TimeToRecoverS => r
                .faults
                .iter()
                .filter_map(|f| f.time_to_recover_s)
                .reduce(f64::max),
        }
    }

    /// Reads a metric by its `trials.jsonl` name.
    pub fn parse(text: &str) -> Result<Metric, CompareError> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == text)
            .ok_or_else(|| CompareError::UnknownMetric(text.to_string()))
    }

    fn names() -> String {
        Self::ALL.map(Metric::name).join(", ")
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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

/// Everything `compare` found.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The baseline's campaign name (for titles).
    pub campaign: String,
    /// Baseline campaign and directory.
    pub baseline: String,
    /// Contender campaign and directory.
    pub contender: String,
    /// Rows: metrics in the order asked, conditions in the baseline's order, then the
    /// contender's new ones.
    pub rows: Vec<Row>,
    /// Warnings (different campaign names).
    pub notes: Vec<String>,
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
}

/// Compares two results directories.
pub fn compare(
    baseline: &ResultsDir,
    contender: &ResultsDir,
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
    Comparison {
        campaign: baseline.campaign.clone(),
        baseline: format!("{} ({})", baseline.campaign, baseline.dir.display()),
        contender: format!("{} ({})", contender.campaign, contender.dir.display()),
        rows,
        notes,
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
    fn metric_names_round_trip_and_bad_ones_are_named() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()).expect("parse"), m);
        }
        let e = Metric::parse("speed").expect_err("unknown");
        assert!(e.to_string().contains("\"speed\"") && e.to_string().contains("duration_s"));
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
