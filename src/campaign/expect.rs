//! Expectations: what each trial should show, judged per trial (a steady-state hypothesis).
//!
//! ```toml
//! [expect]                      # every trial
//! outcome = "completed"
//! min_throughput_vs_model = 0.9
//!
//! [[expect_when]]               # trials whose cell matches
//! match = { "settings.policy" = "elasticsearch" }
//! expect = { outcome = "failed" }
//! ```
//!
//! A matching `expect_when` overrides the keys it sets. Pure: no I/O.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};
use toml::Value;

use crate::{
    follower::{Outcome, RecoveryReport},
    results::Verdict,
    units::{ByteSize, format_duration, option_duration_serde},
};

/// What a trial should show; unset keys are not judged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// `completed` or `failed`.
    pub outcome: Option<Outcome>,
    /// Measured throughput at least this share of the model's.
    pub min_throughput_vs_model: Option<f64>,
    /// Bytes transferred but thrown away, at most.
    pub max_bytes_wasted: Option<ByteSize>,
    /// Every fault window recovered from within this.
    #[serde(default, with = "option_duration_serde")]
    pub max_time_to_recover: Option<Duration>,
    /// Attempts, at most.
    pub max_attempts: Option<u32>,
}

/// Expectations for the trials whose matrix values match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectWhen {
    /// Matrix key → value the cell must have.
    #[serde(rename = "match")]
    pub when: BTreeMap<String, Value>,
    /// What those trials should show.
    pub expect: Expectations,
}

impl Expectations {
    /// These, with every key `other` sets taking its value.
    pub fn overridden_by(&self, other: &Expectations) -> Expectations {
        Expectations {
            outcome: other.outcome.or(self.outcome),
            min_throughput_vs_model: other
                .min_throughput_vs_model
                .or(self.min_throughput_vs_model),
            max_bytes_wasted: other.max_bytes_wasted.or(self.max_bytes_wasted),
            max_time_to_recover: other.max_time_to_recover.or(self.max_time_to_recover),
            max_attempts: other.max_attempts.or(self.max_attempts),
        }
    }

    /// The expectations that apply to a trial with these matrix values.
    pub fn for_cell(&self, when: &[ExpectWhen], params: &[(String, Value)]) -> Expectations {
        when.iter()
            .filter(|w| {
                w.when
                    .iter()
                    .all(|(k, v)| params.iter().any(|(pk, pv)| pk == k && pv == v))
            })
            .fold(self.clone(), |acc, w| acc.overridden_by(&w.expect))
    }

    /// Judges a trial's report against these expectations (`model` in MiB/s, if any).
    pub fn judge(&self, report: &RecoveryReport, model: Option<f64>) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        let mut check = |name: &str, expected: String, actual: String, pass: bool| {
            verdicts.push(Verdict {
                name: name.into(),
                expected,
                actual,
                pass,
            })
        };
        if let Some(want) = self.outcome {
            check(
                "outcome",
                format!("{want:?}").to_lowercase(),
                format!("{:?}", report.outcome).to_lowercase(),
                report.outcome == want,
            );
        }
        // Not judged where nothing bounds the throughput (no limit, latency or bandwidth fault):
        // the model then makes no claim.
        if let (Some(min), Some(m)) = (self.min_throughput_vs_model, model.filter(|m| *m > 0.0)) {
            let ratio = report.throughput_mib_s / m;
            check(
                "min_throughput_vs_model",
                format!(">= {min:.2}"),
                format!(
                    "{ratio:.3} ({:.1} of {m:.1} MiB/s)",
                    report.throughput_mib_s
                ),
                ratio >= min,
            );
        }
        if let Some(max) = self.max_bytes_wasted {
            check(
                "max_bytes_wasted",
                format!("<= {max}"),
                ByteSize(report.bytes_wasted).to_string(),
                report.bytes_wasted <= max.bytes(),
            );
        }
        if let Some(max) = self.max_time_to_recover {
            let worst = report
                .faults
                .iter()
                .map(|f| f.time_to_recover_s)
                .try_fold(0.0f64, |acc, t| t.map(|t| acc.max(t)));
            let (actual, pass) = match worst {
                Some(t) => (format!("{t:.2}s"), t <= max.as_secs_f64()),
                None => ("did not recover".into(), false),
            };
            check(
                "max_time_to_recover",
                format!("<= {}", format_duration(max)),
                actual,
                pass,
            );
        }
        if let Some(max) = self.max_attempts {
            check(
                "max_attempts",
                format!("<= {max}"),
                report.attempts.to_string(),
                report.attempts <= max,
            );
        }
        verdicts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::RecoverySettings;

    fn report(outcome: Outcome, throughput: f64, wasted: u64, attempts: u32) -> RecoveryReport {
        RecoveryReport {
            schema: String::new(),
            outcome,
            failure: None,
            leader: String::new(),
            started_at: 0.0,
            clock_unix_epoch_s: 0.0,
            policy: "elasticsearch".into(),
            bytes: 0,
            bytes_needed: 0,
            bytes_transferred: 0,
            bytes_resumed: 0,
            bytes_wasted: wasted,
            pings_sent: 0,
            files: 0,
            files_verified: 0,
            duration_s: 1.0,
            throughput_mib_s: throughput,
            attempts,
            failures: vec![],
            settings: RecoverySettings::default(),
            timeseries: vec![],
            time_breakdown: Default::default(),
            steady_throughput_mib_s: None,
            file_finalize_s: None,
            warnings: Vec::new(),
            requests: Vec::new(),
            faults: vec![],
            shards: Vec::new(),
        }
    }

    #[test]
    fn each_expectation_is_judged() {
        let e = Expectations {
            outcome: Some(Outcome::Completed),
            min_throughput_vs_model: Some(0.9),
            max_bytes_wasted: Some(ByteSize::mib(8)),
            max_time_to_recover: None,
            max_attempts: Some(2),
        };
        let good = e.judge(&report(Outcome::Completed, 95.0, 1 << 20, 1), Some(100.0));
        assert!(good.iter().all(|v| v.pass), "{good:?}");
        let bad = e.judge(&report(Outcome::Failed, 50.0, 9 << 20, 3), Some(100.0));
        assert!(bad.iter().all(|v| !v.pass), "{bad:?}");
        assert_eq!(bad.len(), 4);
        let no_model = e.judge(&report(Outcome::Completed, 95.0, 0, 1), None);
        assert!(
            no_model.iter().all(|v| v.name != "min_throughput_vs_model"),
            "no model, not judged"
        );
    }

    #[test]
    fn matching_cells_override_keys() {
        let base = Expectations {
            outcome: Some(Outcome::Completed),
            max_attempts: Some(1),
            ..Default::default()
        };
        let when = vec![ExpectWhen {
            when: [("settings.policy".to_string(), Value::from("elasticsearch"))].into(),
            expect: Expectations {
                outcome: Some(Outcome::Failed),
                ..Default::default()
            },
        }];
        let es = base.for_cell(&when, &[("settings.policy".into(), "elasticsearch".into())]);
        assert_eq!(es.outcome, Some(Outcome::Failed));
        assert_eq!(
            es.max_attempts,
            Some(1),
            "keys the override does not set are kept"
        );
        let other = base.for_cell(&when, &[("settings.policy".into(), "resumable".into())]);
        assert_eq!(other.outcome, Some(Outcome::Completed));
    }
}
