//! `compare.json` ([`CompareJson`]): the whole comparison for programs: the runs, what differs,
//! the warnings, the tally and every row with its samples. Seeds are strings, so a reader whose
//! numbers are doubles cannot round them.

use serde_json::{Value, json};

use super::{Comparison, Side};
use crate::export::Exporter;

/// Schema id of `compare.json`.
pub const COMPARE_SCHEMA: &str = "rrbench.compare/1";

/// Writes `compare.json`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompareJson;

fn side(s: &Side) -> Value {
    json!({
        "campaign": s.campaign,
        "dir": s.dir.display().to_string(),
        "run": s.dir.file_name().map(|n| n.to_string_lossy().into_owned()),
        "trials": s.trials,
        "median_duration_s": s.median_duration_s,
    })
}

fn samples(xs: &[f64], median: Option<f64>) -> Value {
    json!({"n": xs.len(), "median": median, "samples": xs})
}

impl CompareJson {
    /// The comparison as a JSON value.
    pub fn value(c: &Comparison) -> Value {
        let o = &c.options;
        let tally = c.tally();
        let mut counts = serde_json::Map::new();
        counts.insert("total".into(), tally.total.into());
        for (v, n) in &tally.counts {
            counts.insert(v.key().into(), (*n).into());
        }
        let differences: Vec<Value> = c
            .differences
            .items
            .iter()
            .map(|d| {
                json!({
                    "section": d.section.to_string(),
                    "key": d.key,
                    "baseline": d.baseline,
                    "contender": d.contender,
                })
            })
            .collect();
        let rows: Vec<Value> = c
            .rows
            .iter()
            .map(|r| {
                json!({
                    "metric": r.metric.name(),
                    "condition": r.condition.0,
                    "baseline": samples(&r.baseline, r.baseline_median),
                    "contender": samples(&r.contender, r.contender_median),
                    "diff": r.diff,
                    "diff_relative": r.diff_relative,
                    "ci95": r.ci.map(|ci| json!({"low": ci.low, "high": ci.high})),
                    "p": r.p,
                    "verdict": r.verdict.key(),
                })
            })
            .collect();
        json!({
            "schema": COMPARE_SCHEMA,
            "campaign": c.campaign,
            "baseline": side(&c.baseline),
            "contender": side(&c.contender),
            "identical": c.differences.identical(),
            "differences": differences,
            "unrecorded": c.differences.unrecorded,
            "notes": c.notes,
            "warnings": c.warnings,
            "options": {
                "metrics": o.metrics.iter().map(|m| m.name()).collect::<Vec<_>>(),
                "significance": o.significance,
                "noise_threshold": o.noise_threshold,
                "resamples": o.resamples,
                "seed": o.seed.to_string(),
            },
            "tally": counts,
            "rows": rows,
        })
    }
}

impl Exporter for CompareJson {
    type Input = Comparison;

    fn file_name(&self) -> &'static str {
        "compare.json"
    }

    fn export(&self, c: &Comparison) -> String {
        let mut text = serde_json::to_string_pretty(&Self::value(c)).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::fixture::comparison;

    #[test]
    fn compare_json_has_the_runs_the_differences_the_tally_and_the_rows() {
        assert_eq!(CompareJson.file_name(), "compare.json");
        let text = CompareJson.export(&comparison());
        let v: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["schema"], COMPARE_SCHEMA);
        assert_eq!(v["baseline"]["dir"], "base/");
        assert_eq!(v["identical"], false);
        assert_eq!(
            v["differences"][0]["key"],
            "settings.max_concurrent_file_chunks"
        );
        assert_eq!(v["differences"][0]["contender"], "5 (--set)");
        assert_eq!(v["unrecorded"][0], "env.json");
        assert_eq!(v["options"]["seed"], "0", "seeds are strings");
        assert_eq!(v["tally"]["total"], 1);
        assert_eq!(v["tally"]["no_change"], 1);
        assert_eq!(v["tally"]["too_few_samples"], 0);
        let row = &v["rows"][0];
        assert_eq!(row["condition"]["settings.policy"], "resumable");
        assert_eq!(row["baseline"]["samples"], json!([10.0, 12.0]));
        assert_eq!(row["ci95"]["low"], 8.0);
        assert_eq!(row["verdict"], "no_change");
        assert_eq!(v["warnings"][0], "trials are short");
    }
}
