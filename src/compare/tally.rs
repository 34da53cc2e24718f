//! How many rows reached each verdict: every row is counted, the ones that could not be judged
//! (too few samples, one side only) too, so the counts add up to the rows.

use std::fmt;

use super::{ChangeVerdict, Row};

/// Rows per verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Every verdict with its count, in [`ChangeVerdict::ALL`] order.
    pub counts: Vec<(ChangeVerdict, usize)>,
    /// Rows in all.
    pub total: usize,
}

impl Tally {
    /// Counts `rows`.
    pub fn of(rows: &[Row]) -> Self {
        let counts = ChangeVerdict::ALL
            .into_iter()
            .map(|v| (v, rows.iter().filter(|r| r.verdict == v).count()))
            .collect();
        Self {
            counts,
            total: rows.len(),
        }
    }

    /// The count of one verdict.
    pub fn get(&self, verdict: ChangeVerdict) -> usize {
        self.counts
            .iter()
            .find(|(v, _)| *v == verdict)
            .map_or(0, |(_, n)| *n)
    }
}

/// `7 rows: 1 improved, 2 regressed, 1 no change, 0 within noise, 2 too few samples, 1 only in
/// baseline, 0 only in contender`.
impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(v, n)| format!("{n} {v}"))
            .collect();
        let s = if self.total == 1 { "" } else { "s" };
        write!(f, "{} row{s}: {}", self.total, parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compare::Metric, results::Condition};

    fn row(verdict: ChangeVerdict) -> Row {
        Row {
            metric: Metric::DurationS,
            condition: Condition::default(),
            baseline: Vec::new(),
            contender: Vec::new(),
            baseline_median: None,
            contender_median: None,
            diff: None,
            diff_relative: None,
            ci: None,
            p: None,
            verdict,
        }
    }

    #[test]
    fn every_row_is_counted_once() {
        let rows: Vec<Row> = [
            ChangeVerdict::Regressed,
            ChangeVerdict::TooFewSamples,
            ChangeVerdict::TooFewSamples,
            ChangeVerdict::OnlyInContender,
            ChangeVerdict::NoChange,
        ]
        .into_iter()
        .map(row)
        .collect();
        let t = Tally::of(&rows);
        assert_eq!(t.counts.iter().map(|(_, n)| n).sum::<usize>(), t.total);
        assert_eq!(t.get(ChangeVerdict::TooFewSamples), 2);
        assert_eq!(
            t.to_string(),
            "5 rows: 0 improved, 1 regressed, 1 no change, 0 within noise, 2 too few samples, \
             0 only in baseline, 1 only in contender"
        );
    }
}
