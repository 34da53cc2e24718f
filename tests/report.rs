//! `rrbench report` on the smoke campaign's real results: every plot in SVG and PNG, labels in
//! the SVG text, and an HTML report that stands alone.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
};

use common::{campaign_run, rrbench, scratch, text};

const SMOKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/chaos/campaigns/smoke.toml");

fn only_dir(parent: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = fs::read_dir(parent)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.remove(0)
}

fn svg(dir: &Path, name: &str) -> String {
    let path = dir.join("plots").join(format!("{name}.svg"));
    let svg = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        svg.starts_with("<svg") && svg.len() > 1000,
        "{name}.svg is empty"
    );
    let png = fs::read(dir.join("plots").join(format!("{name}.png"))).expect("png");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 2000,
        "{name}.png is empty"
    );
    svg
}

/// The HTML with every `data:` URI's payload cut out (base64 may contain `//`).
fn strip_data_uris(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find("data:image/png;base64,") {
        out.push_str(&rest[..i]);
        let payload = &rest[i..];
        let end = payload.find('"').expect("a closing quote");
        rest = &payload[end..];
    }
    out.push_str(rest);
    out
}

fn assert_has(haystack: &str, needles: &[&str], what: &str) {
    for n in needles {
        assert!(haystack.contains(n), "{what} lacks {n:?}");
    }
}

#[test]
fn the_smoke_campaign_report_has_every_plot_and_a_standalone_html() {
    let tmp = scratch();
    let out = tmp.path().join("results");
    let out_arg = out.to_str().expect("utf-8");
    let run = campaign_run(&[SMOKE, "--out", out_arg, "--no-report"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let dir = only_dir(&out.join("smoke"));
    assert!(
        !dir.join("plots").exists() && !dir.join("report.html").exists(),
        "--no-report writes no report"
    );

    let report = rrbench(&["report", dir.to_str().expect("utf-8")]);
    assert!(
        report.status.success(),
        "{}{}",
        text(&report.stdout),
        text(&report.stderr)
    );
    assert!(
        text(&report.stdout).contains("6 plots"),
        "{}",
        text(&report.stdout)
    );

    let outcomes = svg(&dir, "outcomes");
    assert_has(
        &outcomes,
        &[
            "smoke: outcomes",
            "policy \\ fault",
            "elasticsearch",
            "resumable",
            "wan.delay=5ms",
        ],
        "outcomes.svg",
    );
    let sweep = svg(&dir, "sweep");
    assert_has(
        &sweep,
        &[
            "throughput vs wan.delay",
            "wan.delay (ms)",
            "throughput (MiB/s)",
            "model",
        ],
        "sweep.svg",
    );
    for cell in 0..4 {
        let ts = svg(&dir, &format!("throughput-c{cell:03}"));
        assert_has(
            &ts,
            &[
                "time since trial start (s)",
                "goodput (MiB/s)",
                "smoke: wan.delay=",
                "rep 1",
            ],
            "throughput svg",
        );
        assert!(
            ts.contains("<polyline"),
            "throughput-c{cell:03} draws no curve"
        );
    }
    let latency = svg(&dir, "throughput-c002");
    assert_has(
        &latency,
        &["wan (latency)", "model 500.0 MiB/s"],
        "the 5 ms cell",
    );

    let html = fs::read_to_string(dir.join("report.html")).expect("html");
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 6);
    let without_payloads = strip_data_uris(&html);
    for external in [
        "http:", "https:", "//", "href=", "url(", "@import", "<script",
    ] {
        assert!(
            !without_payloads.contains(external),
            "report.html references something external: {external:?}"
        );
    }
    assert_has(&html, &["t0001", "t0004", "2/2 pass"], "report.html");
    let md = fs::read_to_string(dir.join("report.md")).expect("md");
    assert_has(&md, &["](plots/sweep.svg)", "| t0001 |"], "report.md");
}

#[test]
fn campaign_run_writes_the_report_at_the_end() {
    let tmp = scratch();
    let out = tmp.path().join("results");
    let run = campaign_run(&[SMOKE, "--out", out.to_str().expect("utf-8")]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("report.html"),
        "{}",
        text(&run.stdout)
    );
    let dir = only_dir(&out.join("smoke"));
    for f in [
        "report.md",
        "report.html",
        "plots/outcomes.png",
        "plots/sweep.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
}

#[test]
fn report_on_something_else_exits_2_and_says_what_it_wants() {
    let tmp = scratch();
    let r = rrbench(&["report", tmp.path().to_str().expect("utf-8")]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    assert!(
        text(&r.stderr).contains("no trials.jsonl"),
        "{}",
        text(&r.stderr)
    );
}
