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
//! A trial with many followers (`followers = 32`) is judged on its aggregate: its outcome is the
//! worst follower's, its throughput the sum; `min_jain_index`, `min_aggregate_throughput_mib_s`
//! and `min_follower_throughput_mib_s` judge how the followers shared the leader (one follower
//! has a Jain index of 1 and is its own aggregate and minimum).
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
    /// Attempts, at most (of the follower that needed most).
    pub max_attempts: Option<u32>,
    /// Attempts, at least: a fault that must have cost an attempt (a forgotten connection found
    /// dead on first use) did.
    pub min_attempts: Option<u32>,
    /// Jain's fairness index over the followers' throughputs, at least (1/n to 1).
    pub min_jain_index: Option<f64>,
    /// Every follower's bytes over the wall time, MiB/s, at least.
    pub min_aggregate_throughput_mib_s: Option<f64>,
    /// The slowest follower's throughput, MiB/s, at least.
    pub min_follower_throughput_mib_s: Option<f64>,
    /// Shards that needed more than one attempt, at least (an index of several shards).
    pub min_shards_restarted: Option<u32>,
    /// Shards that needed more than one attempt, at most.
    pub max_shards_restarted: Option<u32>,
}

/// How a trial's followers shared the leader, as the fan-out expectations judge it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shares {
    /// Followers in the trial.
    pub followers: usize,
    /// Every follower's bytes over the wall time, MiB/s.
    pub aggregate_mib_s: f64,
    /// Jain's index over their throughputs (`None` when none moved a byte).
    pub jain_index: Option<f64>,
    /// The slowest follower's throughput, MiB/s.
    pub min_follower_mib_s: f64,
}

impl Shares {
    /// One follower: its throughput is the aggregate and the minimum, and it is fair to itself.
    pub fn one(report: &RecoveryReport) -> Self {
        Self {
            followers: 1,
            aggregate_mib_s: report.throughput_mib_s,
            jain_index: Some(1.0),
            min_follower_mib_s: report.throughput_mib_s,
        }
    }
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
            min_attempts: other.min_attempts.or(self.min_attempts),
            min_jain_index: other.min_jain_index.or(self.min_jain_index),
            min_aggregate_throughput_mib_s: other
                .min_aggregate_throughput_mib_s
                .or(self.min_aggregate_throughput_mib_s),
            min_follower_throughput_mib_s: other
                .min_follower_throughput_mib_s
                .or(self.min_follower_throughput_mib_s),
            min_shards_restarted: other.min_shards_restarted.or(self.min_shards_restarted),
            max_shards_restarted: other.max_shards_restarted.or(self.max_shards_restarted),
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

    /// Judges a trial's report against these expectations (`model` in MiB/s, if any); with
    /// many followers `report` is their aggregate and `shares` says how they shared.
    pub fn judge(
        &self,
        report: &RecoveryReport,
        model: Option<f64>,
        shares: &Shares,
    ) -> Vec<Verdict> {
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
        if let Some(min) = self.min_attempts {
            check(
                "min_attempts",
                format!(">= {min}"),
                report.attempts.to_string(),
                report.attempts >= min,
            );
        }
        // An index of one shard has no shard lines: its attempts are the shard's.
        let restarted = match report.shards.len() {
            0 => u32::from(report.attempts > 1),
            _ => report.shards.iter().filter(|s| s.attempts > 1).count() as u32,
        };
        let of_shards = format!("{restarted} of {} shards", report.shards.len().max(1));
        if let Some(min) = self.min_shards_restarted {
            check(
                "min_shards_restarted",
                format!(">= {min}"),
                of_shards.clone(),
                restarted >= min,
            );
        }
        if let Some(max) = self.max_shards_restarted {
            check(
                "max_shards_restarted",
                format!("<= {max}"),
                of_shards,
                restarted <= max,
            );
        }
        let of = |n: usize| format!(" over {n} followers");
        if let Some(min) = self.min_jain_index {
            let (actual, pass) = match shares.jain_index {
                Some(j) => (format!("{j:.3}{}", of(shares.followers)), j >= min),
                None => ("none: no follower moved a byte".into(), false),
            };
            check("min_jain_index", format!(">= {min:.2}"), actual, pass);
        }
        if let Some(min) = self.min_aggregate_throughput_mib_s {
            check(
                "min_aggregate_throughput_mib_s",
                format!(">= {min:.1} MiB/s"),
                format!(
                    "{:.1} MiB/s{}",
                    shares.aggregate_mib_s,
                    of(shares.followers)
                ),
                shares.aggregate_mib_s >= min,
            );
        }
        if let Some(min) = self.min_follower_throughput_mib_s {
            check(
                "min_follower_throughput_mib_s",
                format!(">= {min:.1} MiB/s"),
                format!("{:.1} MiB/s (the slowest)", shares.min_follower_mib_s),
                shares.min_follower_mib_s >= min,
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
            tls: None,
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
            ..Default::default()
        };
        let at_least_two = Expectations {
            min_attempts: Some(2),
            ..Default::default()
        };
        let once = report(Outcome::Completed, 95.0, 0, 1);
        let twice = report(Outcome::Completed, 95.0, 0, 2);
        assert!(!at_least_two.judge(&once, None, &Shares::one(&once))[0].pass);
        assert!(at_least_two.judge(&twice, None, &Shares::one(&twice))[0].pass);
        let judge = |r: &RecoveryReport, m| e.judge(r, m, &Shares::one(r));
        let good = judge(&report(Outcome::Completed, 95.0, 1 << 20, 1), Some(100.0));
        assert!(good.iter().all(|v| v.pass), "{good:?}");
        let bad = judge(&report(Outcome::Failed, 50.0, 9 << 20, 3), Some(100.0));
        assert!(bad.iter().all(|v| !v.pass), "{bad:?}");
        assert_eq!(bad.len(), 4);
        let no_model = judge(&report(Outcome::Completed, 95.0, 0, 1), None);
        assert!(
            no_model.iter().all(|v| v.name != "min_throughput_vs_model"),
            "no model, not judged"
        );
    }

    #[test]
    fn fan_out_expectations_judge_how_the_followers_shared() {
        let e = Expectations {
            min_jain_index: Some(0.9),
            min_aggregate_throughput_mib_s: Some(100.0),
            min_follower_throughput_mib_s: Some(3.0),
            ..Default::default()
        };
        let r = report(Outcome::Completed, 120.0, 0, 1);
        let fair = Shares {
            followers: 32,
            aggregate_mib_s: 120.0,
            jain_index: Some(0.97),
            min_follower_mib_s: 3.2,
        };
        let v = e.judge(&r, None, &fair);
        assert_eq!(v.len(), 3);
        assert!(v.iter().all(|v| v.pass), "{v:?}");
        assert!(v[0].actual.contains("0.970 over 32 followers"), "{v:?}");
        let unfair = Shares {
            jain_index: Some(0.5),
            min_follower_mib_s: 0.4,
            aggregate_mib_s: 80.0,
            ..fair
        };
        assert!(e.judge(&r, None, &unfair).iter().all(|v| !v.pass));
        let idle = Shares {
            jain_index: None,
            ..fair
        };
        assert!(!e.judge(&r, None, &idle)[0].pass, "no bytes, no fairness");
        let one = e.judge(&r, None, &Shares::one(&r));
        assert!(one[0].pass, "one follower is fair to itself: {one:?}");
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
