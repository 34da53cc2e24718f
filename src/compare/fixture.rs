//! A small comparison the exporters' tests share.

use std::collections::BTreeMap;

use super::{
    ChangeVerdict, CompareOptions, Comparison, Difference, Differences, Metric, Row, Section, Side,
};
use crate::{results::Condition, stats::Interval};

fn side(dir: &str) -> Side {
    Side {
        campaign: "smoke".into(),
        dir: dir.into(),
        trials: 2,
        median_duration_s: Some(3.0),
    }
}

/// One row (no change), one difference, a note and a warning.
pub fn comparison() -> Comparison {
    Comparison {
        campaign: "smoke".into(),
        baseline: side("base/"),
        contender: side("new/"),
        differences: Differences {
            items: vec![Difference {
                section: Section::Campaign,
                key: "settings.max_concurrent_file_chunks".into(),
                baseline: "1 (--set)".into(),
                contender: "5 (--set)".into(),
            }],
            unrecorded: vec!["env.json"],
        },
        rows: vec![Row {
            metric: Metric::ThroughputMibS,
            condition: Condition(BTreeMap::from([(
                "settings.policy".to_string(),
                "resumable".to_string(),
            )])),
            baseline: vec![10.0, 12.0],
            contender: vec![20.0, 22.0],
            baseline_median: Some(11.0),
            contender_median: Some(21.0),
            diff: Some(10.0),
            diff_relative: Some(10.0 / 11.0),
            ci: Some(Interval {
                low: 8.0,
                high: 12.0,
            }),
            p: Some(0.1),
            verdict: ChangeVerdict::NoChange,
        }],
        notes: vec!["the campaigns differ".into()],
        warnings: vec!["trials are short".into()],
        options: CompareOptions::default(),
    }
}
