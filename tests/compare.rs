//! `rrbench compare` on synthetic results with a known shift: the sign, the interval, the
//! verdicts, the exit codes, and conditions that exist on one side only; what differs between
//! the runs, which run a campaign directory means, the refusal of two campaigns, the tally, the
//! warnings, and the JSON and CSV beside compare.md.

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
    trials(dir, "synthetic", 64.0, conditions);
}

/// Like [`synthetic`], of campaign `campaign` with an index of `index_mib` MiB.
fn trials(dir: &Path, campaign: &str, index_mib: f64, conditions: &[(u32, usize, f64)]) {
    fs::create_dir_all(dir).expect("dir");
    let mut lines = String::new();
    let mut id = 0;
    for (cell, &(chunks, n, mib_s)) in conditions.iter().enumerate() {
        for rep in 0..n {
            id += 1;
            let t = mib_s * wobble(id);
            let record = json!({
                "schema": "rrbench.trial/1", "campaign": campaign, "trial": format!("t{id:04}"),
                "cell": cell, "repetition": rep + 1, "seed": 1,
                "params": {"settings.max_concurrent_file_chunks": chunks},
                "policy": "elasticsearch", "outcome": "completed", "failure": null,
                "bytes_needed": (index_mib * 1048576.0) as u64,
                "bytes_transferred": (index_mib * 1048576.0) as u64, "bytes_wasted": 0,
                "duration_s": index_mib / t, "throughput_mib_s": t, "model_throughput_mib_s": null,
                "throughput_vs_model": null, "attempts": 1, "failures": [], "faults": [],
                "connections_reset": 0, "expectations": [], "passed": true
            });
            lines.push_str(&record.to_string());
            lines.push('\n');
        }
    }
    fs::write(dir.join("trials.jsonl"), lines).expect("trials");
}

/// A campaign file as `rrbench campaign run` copies it into a run, with its `--set` comments.
fn campaign_toml(sets: &[&str]) -> String {
    let mut text = String::from(
        "name = \"synthetic\"\nseed = 1\nrepetitions = 5\n\n[settings]\n\
         max_bytes_per_sec = \"0\"\n\n[faults.wan]\ntype = \"latency\"\ndelay = \"2ms\"\n\n\
         [matrix]\n\"settings.max_concurrent_file_chunks\" = [5]\n",
    );
    for s in sets {
        text.push_str(&format!("\n# rrbench campaign run --set {s}"));
    }
    text
}

/// `env.json` as `capture_env` writes it, with `cores` cores.
fn env_json(cores: u32) -> String {
    json!({
        "schema": "rrbench.env/1", "cpu": "Test CPU", "cores": cores, "memory_bytes": 1u64 << 33,
        "kernel": "6.1.0", "os": "linux", "arch": "x86_64", "hostname": "bench",
        "tcp_congestion_control": "cubic", "rrbench_version": "0.1.0", "git_revision": "abc1234"
    })
    .to_string()
}

/// Writes what a run records about how it ran.
fn record_run(dir: &Path, campaign_toml: &str, env_json: &str) {
    fs::write(dir.join("campaign.toml"), campaign_toml).expect("campaign.toml");
    fs::write(dir.join("env.json"), env_json).expect("env.json");
}

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8").to_string()
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
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).expect("empty");
    let r = rrbench(&["compare", b, empty.to_str().expect("utf-8")]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        text(&r.stderr).contains("contender") && text(&r.stderr).contains("no trials.jsonl"),
        "{}",
        text(&r.stderr)
    );
}

#[test]
fn what_differs_between_the_runs_is_printed_and_written() {
    let tmp = scratch();
    let (one, five, again) = (
        tmp.path().join("w1"),
        tmp.path().join("w5"),
        tmp.path().join("w5-again"),
    );
    for (dir, set, cores) in [(&one, "1", 4), (&five, "5", 8), (&again, "5", 8)] {
        synthetic(dir, &[(5, 5, 100.0)]);
        let sets = [
            "repetitions=5".to_string(),
            format!("settings.max_concurrent_file_chunks={set}"),
        ];
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        record_run(dir, &campaign_toml(&sets), &env_json(cores));
    }
    let r = rrbench(&["compare", &s(&one), &s(&five)]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let out = text(&r.stdout);
    let chunks = out
        .lines()
        .find(|l| l.contains("settings.max_concurrent_file_chunks"))
        .unwrap_or_else(|| panic!("the setting is named: {out}"));
    assert!(
        chunks.contains("1 (--set)") && chunks.contains("5 (--set)"),
        "{chunks}"
    );
    let cores = out
        .lines()
        .find(|l| l.contains("cores"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        cores.contains("machine") && cores.contains('4') && cores.contains('8'),
        "{cores}"
    );
    assert!(
        !out.contains("repetitions"),
        "the same --set on both sides is no difference: {out}"
    );
    let md = fs::read_to_string(five.join("compare/compare.md")).expect("compare.md");
    assert!(
        md.contains("## What differs between the runs")
            && md.contains(
                "| campaign | `settings.max_concurrent_file_chunks` | 1 (--set) | 5 (--set) |"
            ),
        "{md}"
    );

    let r = rrbench(&["compare", &s(&five), &s(&again)]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(
        text(&r.stdout).contains("what differs between the runs: identical"),
        "{}",
        text(&r.stdout)
    );
}

#[test]
fn a_campaign_directory_means_its_newest_run_and_at_id_picks_another() {
    let tmp = scratch();
    let campaign = tmp.path().join("results/synthetic");
    let (old, new) = (
        campaign.join("20260101T120000Z-1"),
        campaign.join("20260102T080000Z-1"),
    );
    synthetic(&old, &[(5, 5, 100.0)]);
    synthetic(&new, &[(5, 5, 125.0)]);
    let at_old = format!("{}@20260101", s(&campaign));
    let r = rrbench(&["compare", &at_old, &s(&campaign)]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let out = text(&r.stdout);
    assert!(out.contains(&format!("baseline: {}", s(&old))), "{out}");
    assert!(
        out.contains(&format!("contender: {} (newest of 2 runs", s(&new))),
        "{out}"
    );
    assert!(out.contains("improved"), "{out}");
    assert!(
        new.join("compare/compare.md").is_file(),
        "written into the newest run"
    );

    // What the README's old `compare /tmp/w1/smoke/* /tmp/w5/smoke/*` expands to.
    let r = rrbench(&["compare", &s(&old), &s(&new), &s(&old), &s(&new)]);
    assert_eq!(r.status.code(), Some(2));
    let err = text(&r.stderr);
    assert!(
        err.contains("expected two runs") && err.contains("20260102T080000Z-1"),
        "{err}"
    );

    // An id prefix that fits both runs lists them.
    let r = rrbench(&["compare", &format!("{}@2026", s(&campaign)), &s(&new)]);
    assert_eq!(r.status.code(), Some(2));
    let err = text(&r.stderr);
    assert!(
        err.contains("2 runs start with \"2026\"")
            && err.contains("20260101T120000Z-1")
            && err.contains("20260102T080000Z-1"),
        "{err}"
    );
}

#[test]
fn runs_of_different_campaigns_are_refused_unless_forced() {
    let tmp = scratch();
    let (smoke, sweep) = (tmp.path().join("a"), tmp.path().join("b"));
    trials(&smoke, "smoke", 64.0, &[(5, 5, 100.0)]);
    trials(&sweep, "wan-latency-sweep", 64.0, &[(5, 5, 100.0)]);
    let r = rrbench(&["compare", &s(&smoke), &s(&sweep)]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stdout));
    let err = text(&r.stderr);
    assert!(
        err.contains("\"smoke\"")
            && err.contains("\"wan-latency-sweep\"")
            && err.contains("--force"),
        "{err}"
    );
    assert!(!sweep.join("compare").exists(), "nothing written");

    let r = rrbench(&["compare", &s(&smoke), &s(&sweep), "--force"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(
        text(&r.stderr).contains("the campaigns differ"),
        "{}",
        text(&r.stderr)
    );
}

#[test]
fn the_tally_counts_every_row_including_too_few_samples() {
    let tmp = scratch();
    let (base, cont) = (tmp.path().join("a"), tmp.path().join("b"));
    // chunks=1 compares, chunks=5 has one baseline trial, chunks=10 ran in the contender only.
    synthetic(&base, &[(1, 5, 20.0), (5, 1, 100.0)]);
    synthetic(&cont, &[(1, 5, 20.0), (5, 5, 100.0), (10, 5, 150.0)]);
    let r = rrbench(&[
        "compare",
        &s(&base),
        &s(&cont),
        "--metric",
        "throughput_mib_s",
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let out = text(&r.stdout);
    assert!(
        out.contains(
            "3 rows: 0 improved, 0 regressed, 1 no change, 0 within noise, 1 too few samples, \
             0 only in baseline, 1 only in contender"
        ),
        "{out}"
    );
    let md = fs::read_to_string(cont.join("compare/compare.md")).expect("compare.md");
    assert!(
        md.contains("3 rows: ") && md.contains("1 too few samples"),
        "{md}"
    );
}

#[test]
fn compare_json_and_csv_are_written_beside_compare_md_and_parse() {
    let tmp = scratch();
    let (base, cont, out) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("out"),
    );
    synthetic(&base, &[(1, 5, 20.0), (5, 5, 100.0)]);
    synthetic(&cont, &[(1, 5, 20.0), (5, 5, 80.0)]);
    let r = rrbench(&[
        "compare",
        &s(&base),
        &s(&cont),
        "--out",
        &s(&out),
        "--seed",
        "18446744073709551615",
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(text(&r.stdout).contains(&s(&out.join("compare.json"))));

    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("compare.json")).expect("compare.json"))
            .expect("compare.json parses");
    assert_eq!(json["schema"], "rrbench.compare/1");
    assert_eq!(
        json["options"]["seed"], "18446744073709551615",
        "a big seed, as a string"
    );
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 4, "2 metrics x 2 conditions");
    assert_eq!(json["tally"]["total"], 4);
    let regressed = rows
        .iter()
        .find(|r| {
            r["metric"] == "throughput_mib_s"
                && r["condition"]["settings.max_concurrent_file_chunks"] == "5"
        })
        .expect("the chunks=5 throughput row");
    assert_eq!(regressed["verdict"], "regressed");
    assert_eq!(regressed["baseline"]["n"], 5);
    assert!(
        regressed["diff"].as_f64().is_some_and(|d| d < -15.0),
        "{regressed}"
    );

    let csv = fs::read_to_string(out.join("compare.csv")).expect("compare.csv");
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(lines.len(), 5, "a header and 4 rows: {csv}");
    let header = &lines[0];
    assert!(lines.iter().all(|l| l.len() == header.len()), "{csv}");
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name}: {csv}"))
    };
    let (metric, chunks, diff, verdict) = (
        col("metric"),
        col("settings.max_concurrent_file_chunks"),
        col("diff"),
        col("verdict"),
    );
    let row = lines
        .iter()
        .find(|l| l[metric] == "throughput_mib_s" && l[chunks] == "5")
        .unwrap_or_else(|| panic!("{csv}"));
    assert_eq!(row[verdict], "regressed");
    assert!(row[diff].parse::<f64>().is_ok_and(|d| d < -15.0), "{csv}");
}

#[test]
fn short_trials_and_an_a_a_comparison_that_moved_are_warned_about() {
    let tmp = scratch();
    let (base, cont) = (tmp.path().join("a"), tmp.path().join("b"));
    // Trials of 9-15 ms, the same settings on the same machine, 31 % apart.
    trials(&base, "synthetic", 1.0, &[(5, 5, 100.0)]);
    trials(&cont, "synthetic", 1.0, &[(5, 5, 69.0)]);
    for dir in [&base, &cont] {
        record_run(dir, &campaign_toml(&[]), &env_json(4));
    }
    let r = rrbench(&[
        "compare",
        &s(&base),
        &s(&cont),
        "--metric",
        "throughput_mib_s",
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let err = text(&r.stderr);
    assert!(
        err.contains(
            "warning: the median trial lasted 10 ms in the baseline and 14 ms in the contender"
        ) && err.contains("trials this short are dominated by set-up noise; make the index larger"),
        "{err}"
    );
    assert!(
        err.contains("an A/A comparison") && err.contains("1 of 1 rows") && err.contains("-31.0 %"),
        "{err}"
    );
    let md = fs::read_to_string(cont.join("compare/compare.md")).expect("compare.md");
    assert!(md.contains("**warning**: the median trial lasted"), "{md}");

    // Long trials of runs that differ: neither warning.
    let (long_a, long_b) = (tmp.path().join("c"), tmp.path().join("d"));
    trials(&long_a, "synthetic", 1024.0, &[(5, 5, 100.0)]);
    trials(&long_b, "synthetic", 1024.0, &[(5, 5, 69.0)]);
    record_run(&long_a, &campaign_toml(&[]), &env_json(4));
    record_run(
        &long_b,
        &campaign_toml(&["settings.max_bytes_per_sec=\"50mb\""]),
        &env_json(4),
    );
    let r = rrbench(&["compare", &s(&long_a), &s(&long_b)]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(!text(&r.stderr).contains("warning"), "{}", text(&r.stderr));
}
