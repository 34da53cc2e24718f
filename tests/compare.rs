//! `rrbench compare` on synthetic results with a known shift: the sign, the interval, the
//! verdicts, the exit codes, and conditions that exist on one side only.

mod common;

use std::{fs, path::Path};

use common::{rrbench, scratch, text};
use rrbench::{
    compare::{ChangeVerdict, CompareOptions, Metric, compare},
    results::ResultsDir,
};
use serde_json::json;

/// Deterministic spread of ±2.5 % around 1.0.
fn wobble(i: usize) -> f64 {
    1.0 + ((i * 37) % 11) as f64 / 200.0 - 0.025
}

/// Writes a results directory: per condition (`chunks` value), `n` trials with throughput around
/// `mib_s` (duration = 64 MiB / throughput).
fn synthetic(dir: &Path, conditions: &[(u32, usize, f64)]) {
    fs::create_dir_all(dir).expect("dir");
    let mut lines = String::new();
    let mut id = 0;
    for (cell, &(chunks, n, mib_s)) in conditions.iter().enumerate() {
        for rep in 0..n {
            id += 1;
            let t = mib_s * wobble(id);
            let record = json!({
                "schema": "rrbench.trial/1", "campaign": "synthetic", "trial": format!("t{id:04}"),
                "cell": cell, "repetition": rep + 1, "seed": 1,
                "params": {"settings.max_concurrent_file_chunks": chunks},
                "policy": "elasticsearch", "outcome": "completed", "failure": null,
                "bytes_needed": 64u64 << 20, "bytes_transferred": 64u64 << 20, "bytes_wasted": 0,
                "duration_s": 64.0 / t, "throughput_mib_s": t, "model_throughput_mib_s": null,
                "throughput_vs_model": null, "attempts": 1, "failures": [], "faults": [],
                "connections_reset": 0, "expectations": [], "passed": true
            });
            lines.push_str(&record.to_string());
            lines.push('\n');
        }
    }
    fs::write(dir.join("trials.jsonl"), lines).expect("trials");
}

fn row_verdicts(base: &Path, cont: &Path) -> Vec<(Metric, ChangeVerdict, f64, f64, f64)> {
    let a = ResultsDir::open(base).expect("baseline");
    let b = ResultsDir::open(cont).expect("contender");
    compare(&a, &b, &CompareOptions::default())
        .rows
        .iter()
        .map(|r| {
            let ci = r.ci.expect("interval");
            (r.metric, r.verdict, r.diff.expect("diff"), ci.low, ci.high)
        })
        .collect()
}

#[test]
fn a_known_shift_has_the_right_sign_an_interval_without_zero_and_a_verdict() {
    let tmp = scratch();
    let (base, slower, same) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    synthetic(&base, &[(5, 8, 100.0)]);
    synthetic(&slower, &[(5, 6, 80.0)]);
    synthetic(&same, &[(5, 8, 100.0)]);

    let rows = row_verdicts(&base, &slower);
    let (m, v, diff, low, high) = rows[0];
    assert_eq!((m, v), (Metric::ThroughputMibS, ChangeVerdict::Regressed));
    assert!(
        diff < -15.0 && high < 0.0 && low < high,
        "{diff} [{low}, {high}]"
    );
    let (m, v, diff, low, _) = rows[1];
    assert_eq!(
        (m, v),
        (Metric::DurationS, ChangeVerdict::Regressed),
        "longer is worse"
    );
    assert!(diff > 0.0 && low > 0.0, "{diff} {low}");

    let rows = row_verdicts(&slower, &base);
    assert_eq!(rows[0].1, ChangeVerdict::Improved);
    assert!(rows[0].2 > 15.0 && rows[0].3 > 0.0);
    assert_eq!(rows[1].1, ChangeVerdict::Improved, "shorter is better");

    for (_, v, diff, low, high) in row_verdicts(&base, &same) {
        assert_eq!(v, ChangeVerdict::NoChange);
        assert!(diff == 0.0 && low <= 0.0 && high >= 0.0);
    }
}

#[test]
fn fail_on_regression_sets_the_exit_code_only_for_a_confident_regression() {
    let tmp = scratch();
    let (base, slower, faster) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    synthetic(&base, &[(5, 8, 100.0)]);
    synthetic(&slower, &[(5, 8, 80.0)]);
    synthetic(&faster, &[(5, 8, 125.0)]);
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();

    let plain = rrbench(&["compare", &s(&base), &s(&slower)]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    assert!(
        text(&plain.stdout).contains("regressed"),
        "{}",
        text(&plain.stdout)
    );

    let strict = rrbench(&["compare", &s(&base), &s(&slower), "--fail-on-regression"]);
    assert_eq!(strict.status.code(), Some(3), "{}", text(&strict.stderr));
    assert!(text(&strict.stderr).contains("regressed: throughput_mib_s"));

    let better = rrbench(&["compare", &s(&base), &s(&faster), "--fail-on-regression"]);
    assert_eq!(better.status.code(), Some(0), "{}", text(&better.stderr));
    assert!(text(&better.stdout).contains("improved"));

    let same = rrbench(&["compare", &s(&base), &s(&base), "--fail-on-regression"]);
    assert_eq!(same.status.code(), Some(0));
    assert!(text(&same.stdout).contains("no change"));

    let md = fs::read_to_string(faster.join("compare/compare.md")).expect("compare.md");
    assert!(
        md.contains("| throughput_mib_s |") && md.contains("improved"),
        "{md}"
    );
    let svg = fs::read_to_string(faster.join("compare/plots/compare-throughput_mib_s.svg"))
        .expect("distribution plot");
    assert!(svg.contains("throughput (MiB/s)") && svg.contains("contender"));
    assert!(
        faster
            .join("compare/plots/compare-duration_s.png")
            .is_file()
    );
}

#[test]
fn different_repetitions_and_missing_conditions_are_shown_not_fatal() {
    let tmp = scratch();
    let (base, cont) = (tmp.path().join("a"), tmp.path().join("b"));
    synthetic(&base, &[(1, 5, 20.0), (5, 5, 100.0)]);
    synthetic(&cont, &[(1, 7, 20.0), (10, 3, 150.0)]);
    let out = tmp.path().join("out");
    let r = rrbench(&[
        "compare",
        base.to_str().expect("utf-8"),
        cont.to_str().expect("utf-8"),
        "--metric",
        "throughput_mib_s",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let table = text(&r.stdout);
    assert!(table.contains("only in baseline"), "{table}");
    assert!(table.contains("only in contender"), "{table}");
    assert!(
        table.contains("(n=5)") && table.contains("(n=7)"),
        "{table}"
    );
    assert!(out.join("compare.md").is_file());
}

#[test]
fn bad_metrics_and_directories_exit_2_naming_them() {
    let tmp = scratch();
    let base = tmp.path().join("a");
    synthetic(&base, &[(5, 3, 100.0)]);
    let b = base.to_str().expect("utf-8");
    let r = rrbench(&["compare", b, b, "--metric", "speed"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        text(&r.stderr).contains("unknown metric \"speed\""),
        "{}",
        text(&r.stderr)
    );
    let r = rrbench(&["compare", b, tmp.path().to_str().expect("utf-8")]);
    assert_eq!(r.status.code(), Some(2));
    assert!(text(&r.stderr).contains("contender"), "{}", text(&r.stderr));
}
