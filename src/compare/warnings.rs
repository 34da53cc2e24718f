//! Warnings about a comparison as a whole, for results a reader would otherwise trust: trials too
//! short to measure anything but set-up, and an A/A comparison (nothing differs between the runs)
//! whose rows still moved beyond the noise threshold.

use super::{Differences, Row};

/// Median trial duration below which a trial measures mostly set-up (seconds).
pub const SHORT_TRIAL_S: f64 = 1.0;

/// Warns when the median trial of either side lasted under [`SHORT_TRIAL_S`].
pub fn short_trials(
    baseline_median_s: Option<f64>,
    contender_median_s: Option<f64>,
) -> Option<String> {
    let short = |m: Option<f64>| m.is_some_and(|m| m < SHORT_TRIAL_S);
    if !(short(baseline_median_s) || short(contender_median_s)) {
        return None;
    }
    let ms = |m: Option<f64>| m.map_or("-".into(), |m| format!("{:.0} ms", 1000.0 * m));
    Some(format!(
        "the median trial lasted {} in the baseline and {} in the contender (under {SHORT_TRIAL_S} \
         s): trials this short are dominated by set-up noise; make the index larger",
        ms(baseline_median_s),
        ms(contender_median_s)
    ))
}

/// Warns when nothing differs between the runs yet some row's median moved by more than
/// `noise_threshold` (a fraction): what an A/A comparison shows is the noise itself.
pub fn a_a_noise(differences: &Differences, rows: &[Row], noise_threshold: f64) -> Option<String> {
    if !differences.identical() {
        return None;
    }
    let moved: Vec<(&Row, f64)> = rows
        .iter()
        .filter_map(|r| r.diff_relative.map(|d| (r, d)))
        .filter(|(_, d)| d.abs() > noise_threshold)
        .collect();
    let (worst, d) = moved
        .iter()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))?;
    Some(format!(
        "nothing differs between the runs (an A/A comparison), yet {} of {} rows moved by more \
         than ±{:.1} % (largest: {} at {}, {:+.1} %): that is the noise of this set-up; changes \
         of that size elsewhere are not evidence (run more repetitions, make trials longer or \
         raise --noise-threshold)",
        moved.len(),
        rows.len(),
        100.0 * noise_threshold,
        worst.metric,
        worst.condition.label(),
        100.0 * d
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        compare::{ChangeVerdict, Difference, Metric, Section},
        results::Condition,
    };

    fn row(diff_relative: Option<f64>) -> Row {
        Row {
            metric: Metric::ThroughputMibS,
            condition: Condition::default(),
            baseline: vec![1.0, 1.0],
            contender: vec![1.0, 1.0],
            baseline_median: Some(1.0),
            contender_median: Some(1.0),
            diff: None,
            diff_relative,
            ci: None,
            p: None,
            verdict: ChangeVerdict::NoChange,
        }
    }

    #[test]
    fn short_trials_are_named_on_either_side() {
        assert_eq!(short_trials(Some(2.0), Some(1.0)), None);
        assert_eq!(short_trials(None, None), None);
        let w = short_trials(Some(2.0), Some(0.012)).expect("short contender");
        assert!(
            w.contains("12 ms in the contender") && w.contains("make the index larger"),
            "{w}"
        );
        assert!(short_trials(Some(0.5), Some(3.0)).is_some());
    }

    #[test]
    fn an_a_a_comparison_that_moves_beyond_the_noise_is_flagged() {
        let same = Differences::default();
        let rows = [row(Some(0.01)), row(Some(-0.31)), row(None)];
        let w = a_a_noise(&same, &rows, 0.02).expect("A/A beyond noise");
        assert!(w.contains("1 of 3 rows") && w.contains("-31.0 %"), "{w}");
        assert_eq!(
            a_a_noise(&same, &rows[..1], 0.02),
            None,
            "within the threshold"
        );
        let differs = Differences {
            items: vec![Difference {
                section: Section::Campaign,
                key: "repetitions".into(),
                baseline: "1".into(),
                contender: "2".into(),
            }],
            unrecorded: Vec::new(),
        };
        assert_eq!(
            a_a_noise(&differs, &rows, 0.02),
            None,
            "not an A/A comparison"
        );
        let unknown = Differences {
            items: Vec::new(),
            unrecorded: vec!["env.json"],
        };
        assert_eq!(
            a_a_noise(&unknown, &rows, 0.02),
            None,
            "not known to be A/A"
        );
    }
}
