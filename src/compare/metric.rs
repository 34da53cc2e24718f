//! The numbers `compare` compares ([`Metric`]): their names in `trials.jsonl`, units, and which
//! way is better.

use std::fmt;

use super::CompareError;
use crate::results::TrialRecord;

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

    /// Every metric's name, for messages.
    pub(super) fn names() -> String {
        Self::ALL.map(Metric::name).join(", ")
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_round_trip_and_bad_ones_are_named() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()).expect("parse"), m);
        }
        let e = Metric::parse("speed").expect_err("unknown");
        assert!(e.to_string().contains("\"speed\"") && e.to_string().contains("duration_s"));
    }
}
