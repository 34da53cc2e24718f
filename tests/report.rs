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
    // Outcomes, the sweep and one throughput figure per cell; nothing fails in the smoke
    // campaign, so no progress figure (and a breakdown and a latency CDF once the engine
    // measures them).
    let plots = fs::read_dir(dir.join("plots"))
        .expect("plots")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .count();
    assert!(plots >= 6, "{plots} plots");
    assert!(
        text(&report.stdout).contains(&format!("{plots} plots")),
        "{}",
        text(&report.stdout)
    );

    let outcomes = svg(&dir, "outcomes");
    assert_has(
        &outcomes,
        &[
            "smoke: outcomes",
            "policy \\ condition",
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
        // The model: the 500 MiB/s bound, or less once the reference run is added.
        &["on throughout: wan (latency)", "model ", " MiB/s"],
        "the 5 ms cell",
    );

    let html = fs::read_to_string(dir.join("report.html")).expect("html");
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), plots);
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

// Synthetic results: what a campaign writes, made up so each figure's shape is known. They are
// written to disk and read back through `ResultsDir::open`, the way `rrbench report` reads them.

use rrbench::{
    follower::{
        FailureKind, FailureRecord, FaultTimes, Outcome, RequestSample, Sample, TimeBreakdown,
    },
    plot::{CellVerdict, verdict_colour},
    report::{figures, write_report},
    results::{ResultsDir, TRIAL_SCHEMA, TrialRecord, Verdict, requests_csv, timeseries_csv},
};

const MIB: f64 = 1048576.0;
const INDEX_MIB: f64 = 32.0;

/// 16 MiB/s, the connection reset at 1 s, attempt 2 from 1.2 s, starting from nothing when
/// `restart` and from the 16 MiB already verified otherwise.
fn synthetic_series(restart: bool) -> Vec<Sample> {
    (0..=80)
        .map(|i| {
            let t = i as f64 * 0.05;
            let (attempt, verified) = if t < 1.0 {
                (1, 16.0 * t)
            } else if t < 1.2 {
                (1, 16.0)
            } else {
                let kept = if restart { 0.0 } else { 16.0 };
                (2, (kept + 16.0 * (t - 1.2)).min(INDEX_MIB))
            };
            Sample {
                t,
                bytes: (16.0 * t * MIB) as u64,
                attempt,
                verified: (verified * MIB) as u64,
            }
        })
        .collect()
}

fn synthetic_record(n: usize, policy: &str, rep: u32) -> TrialRecord {
    let restart = policy == "elasticsearch";
    TrialRecord {
        schema: TRIAL_SCHEMA.into(),
        campaign: "synthetic-reset".into(),
        trial: format!("t{n:04}"),
        cell: usize::from(!restart),
        repetition: rep,
        seed: 1,
        params: [("settings.policy".to_string(), policy.into())].into(),
        policy: policy.into(),
        outcome: Outcome::Completed,
        failure: None,
        bytes_needed: (INDEX_MIB * MIB) as u64,
        bytes_transferred: (INDEX_MIB * MIB) as u64,
        bytes_wasted: if restart { 16 << 20 } else { 0 },
        duration_s: if restart { 3.2 } else { 2.2 },
        throughput_mib_s: if restart { 10.0 } else { 14.5 },
        model_throughput_mib_s: Some(16.0),
        throughput_vs_model: None,
        model_terms: None,
        warnings: Vec::new(),
        attempts: 2,
        failures: vec![FailureRecord {
            attempt: 1,
            t: 1.0,
            kind: FailureKind::Reset,
            channel: None,
            channel_type: None,
            message: "connection reset by peer".into(),
            then: String::new(),
        }],
        faults: vec![FaultTimes {
            fault: "cut".into(),
            kind: "reset".into(),
            on: 1.0,
            off: None,
            time_to_detect_s: Some(0.0),
            time_to_recover_s: Some(0.2),
        }],
        time_breakdown: None,
        steady_throughput_mib_s: None,
        connections_reset: 1,
        leader_sessions_open: 0,
        leader_pinned_bytes: 0,
        leader_requests_forwarded: 0,
        followers: Vec::new(),
        leaders: Vec::new(),
        shards: Vec::new(),
        aggregate_throughput_mib_s: None,
        jain_index: None,
        // Elasticsearch completes but re-sends what it had: its expectation fails.
        tls: None,
        leader_clock: None,
        expectations: vec![Verdict {
            name: "max_bytes_wasted".into(),
            expected: "<= 5mb".into(),
            actual: if restart { "16mb" } else { "0b" }.into(),
            pass: !restart,
        }],
        passed: !restart,
    }
}

/// Writes a two-policy, two-repetition campaign into `dir`; with `measured`, every trial also
/// has a time breakdown and a request log.
fn write_synthetic(dir: &Path, measured: bool) {
    fs::create_dir_all(dir.join("timeseries")).expect("mkdir");
    fs::create_dir_all(dir.join("requests")).expect("mkdir");
    let mut lines = String::new();
    let mut n = 0;
    for policy in ["elasticsearch", "resumable"] {
        for rep in 1..=2 {
            n += 1;
            let mut r = synthetic_record(n, policy, rep);
            if measured {
                r.time_breakdown = Some(TimeBreakdown {
                    network_s: 1.5,
                    storage_s: 0.3,
                    connecting_s: 0.05,
                    backoff_s: if policy == "elasticsearch" { 1.0 } else { 0.2 },
                    ..TimeBreakdown::default()
                });
                let slower = if policy == "elasticsearch" { 3.0 } else { 1.0 };
                let requests: Vec<RequestSample> = (0..200)
                    .map(|i| RequestSample {
                        t: i as f64 * 0.01,
                        latency_s: (0.002 + (i * 37 % 200) as f64 * 0.0004) * slower,
                        attempt: 1,
                        bytes: 1 << 20,
                        ok: i != 100,
                    })
                    .collect();
                fs::write(
                    dir.join("requests").join(format!("{}.csv", r.trial)),
                    requests_csv(&requests),
                )
                .expect("requests");
            } else {
                // What a run that does not log requests yet leaves: a header and no rows.
                fs::write(
                    dir.join("requests").join(format!("{}.csv", r.trial)),
                    requests_csv(&[]),
                )
                .expect("requests");
            }
            fs::write(
                dir.join("timeseries").join(format!("{}.csv", r.trial)),
                timeseries_csv(&synthetic_series(policy == "elasticsearch")),
            )
            .expect("series");
            lines.push_str(&serde_json::to_string(&r).expect("json"));
            lines.push('\n');
        }
    }
    fs::write(dir.join("trials.jsonl"), lines).expect("trials");
}

/// A `<polyline>` of an SVG.
#[derive(Debug)]
struct Polyline {
    stroke: String,
    width: String,
    points: Vec<(i32, i32)>,
}

/// Every `<polyline>` of `svg`.
fn polylines(svg: &str) -> Vec<Polyline> {
    let attr = |tag: &str, name: &str| -> String {
        let key = format!(" {name}=\"");
        tag.find(&key)
            .map(|i| {
                let rest = &tag[i + key.len()..];
                rest[..rest.find('"').unwrap_or(0)].to_string()
            })
            .unwrap_or_default()
    };
    svg.split("<polyline")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find("/>").unwrap_or(rest.len())];
            let points = attr(tag, "points")
                .split_whitespace()
                .filter_map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect();
            Polyline {
                stroke: attr(tag, "stroke"),
                width: attr(tag, "stroke-width"),
                points,
            }
        })
        .collect()
}

fn hex(c: plotters::style::RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// The RGB of pixel (x, y) of a PNG.
fn pixel(png_bytes: &[u8], x: u32, y: u32) -> [u8; 3] {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes.to_vec()));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let at = (y * info.width + x) as usize * 3;
    [buf[at], buf[at + 1], buf[at + 2]]
}

#[test]
fn a_report_shows_restarts_verdicts_and_categories_and_leaves_out_what_was_not_measured() {
    let tmp = scratch();
    let dir = tmp.path();
    write_synthetic(dir, false);
    // A stale figure from an earlier report of richer results goes.
    fs::create_dir_all(dir.join("plots")).expect("mkdir");
    fs::write(dir.join("plots/breakdown.svg"), "<svg/>").expect("stale");
    let files = write_report(dir).expect("a report");
    let names: Vec<&str> = files.plots.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "outcomes",
            "sweep",
            "progress-c000",
            "throughput-c000",
            "throughput-c001"
        ]
    );
    for absent in [
        "breakdown.svg",
        "breakdown.png",
        "latency.svg",
        "latency.png",
    ] {
        assert!(!dir.join("plots").join(absent).exists(), "{absent}");
    }
    let md = fs::read_to_string(&files.markdown).expect("md");
    assert!(!md.contains("Where the time went") && !md.contains("request latency"));
    assert!(md.contains("## Verified bytes over time"), "{md}");
    let results = ResultsDir::open(dir).expect("results");

    // The restart shape, read back from where the curves were drawn: each attempt is its own
    // curve, and under elasticsearch the second one starts again from the bottom of its panel.
    let progress = figures::progress(&results);
    let fig = &progress[0].figure;
    let progress_svg = svg(dir, "progress-c000");
    let rep1 = hex(rrbench::plot::colour(0));
    let curves = polylines(&progress_svg);
    let starts_at_zero = |panel: usize| {
        let (top, bottom) = fig.panel_bounds(panel);
        let mine: Vec<&Vec<(i32, i32)>> = curves
            .iter()
            .filter(|l| {
                l.stroke == rep1
                    && l.width == "2"
                    && l.points.iter().all(|p| (top..bottom).contains(&p.1))
            })
            .map(|l| &l.points)
            .collect();
        assert_eq!(mine.len(), 2, "panel {panel}: one curve per attempt");
        let zero = mine.iter().flat_map(|c| c.iter().map(|p| p.1)).max();
        mine.iter()
            .filter(|c| c.first().map(|p| p.1) == zero)
            .count()
    };
    assert!(
        progress_svg.contains("elasticsearch: 2/2 completed"),
        "panel title"
    );
    assert_eq!(
        starts_at_zero(0),
        2,
        "elasticsearch starts attempt 2 from nothing"
    );
    assert_eq!(
        starts_at_zero(1),
        1,
        "resumable starts attempt 2 where 1 stopped"
    );
    assert!(
        progress_svg.contains("\nreset\n</text>"),
        "the failure is labelled with its kind"
    );

    // The outcome grid: elasticsearch completed, but missed an expectation, so its cell is red
    // in the figure data, in the SVG and in the PNG.
    let matrix = figures::outcomes(&results);
    assert_eq!(matrix.rows, ["elasticsearch", "resumable"]);
    let fail = verdict_colour(CellVerdict::Fail);
    let pass = verdict_colour(CellVerdict::Pass);
    assert_eq!(matrix.cell_colour(0, 0), fail);
    assert_eq!(matrix.cell_colour(1, 0), pass);
    let outcomes = svg(dir, "outcomes");
    let png_bytes = fs::read(dir.join("plots/outcomes.png")).expect("png");
    for (row, colour) in [(0, fail), (1, pass)] {
        let (x0, y0, x1, y1) = matrix.cell_rect(row, 0);
        let rect = format!(
            "<rect x=\"{x0}\" y=\"{y0}\" width=\"{}\" height=\"{}\" opacity=\"1\" fill=\"{}\"",
            x1 - x0,
            y1 - y0,
            hex(colour)
        );
        assert!(outcomes.contains(&rect), "no {rect} in outcomes.svg");
        assert_eq!(
            pixel(&png_bytes, (x1 - 5) as u32, (y1 - 5) as u32),
            [colour.0, colour.1, colour.2],
            "row {row}'s cell in outcomes.png"
        );
    }
    assert!(
        outcomes.contains("max_bytes_wasted 16mb"),
        "the missed expectation is named"
    );

    // A sweep over policies: categories, so no line joins them; every curve of the series'
    // colour is a median's short bar within one category.
    let sweep = figures::sweep(&results);
    assert!(sweep.categories.is_some() && !sweep.joins_points());
    let sweep_svg = svg(dir, "sweep");
    let series = hex(rrbench::plot::colour(0));
    let bars: Vec<_> = polylines(&sweep_svg)
        .into_iter()
        .filter(|l| l.stroke == series && l.width != "1")
        .collect();
    assert_eq!(bars.len(), 2, "one median bar per policy: {bars:?}");
    for Polyline { points: pts, .. } in &bars {
        let xs: Vec<i32> = pts.iter().map(|p| p.0).collect();
        let span = xs.iter().max().unwrap_or(&0) - xs.iter().min().unwrap_or(&0);
        assert!(
            pts.len() == 2 && span < 300,
            "a line across categories: {pts:?}"
        );
    }
}

#[test]
fn measured_time_and_requests_add_the_breakdown_and_the_latency_cdf() {
    let tmp = scratch();
    let dir = tmp.path();
    write_synthetic(dir, true);
    let files = write_report(dir).expect("a report");
    let names: Vec<&str> = files.plots.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&"breakdown") && names.contains(&"latency"),
        "{names:?}"
    );

    let breakdown = svg(dir, "breakdown");
    assert_has(
        &breakdown,
        &[
            "synthetic-reset: where the time went",
            "policy=elasticsearch",
            "network round trips",
            "backing off between attempts",
        ],
        "breakdown.svg",
    );
    let md = fs::read_to_string(&files.markdown).expect("md");
    assert_has(
        &md,
        &[
            "## Where the time went",
            "| condition | trials | network (s) | storage (s) | connecting (s) | backoff (s) | sum (s) |",
            "| policy=elasticsearch | 2 | 1.50 | 0.30 | 0.05 | 1.00 | 2.85 | 3.20 | network |",
            "- backoff: backing off between attempts",
        ],
        "report.md",
    );

    let latency = svg(dir, "latency");
    assert_has(
        &latency,
        &[
            "chunk request latency",
            "fraction of requests",
            "n=398, 2 unanswered",
        ],
        "latency.svg",
    );
    let cdf = figures::latency_cdf(&ResultsDir::open(dir).expect("results")).expect("a CDF");
    for c in &cdf.curves {
        assert!(
            c.points
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
        );
        assert_eq!(c.points.last().map(|p| p.1), Some(1.0));
    }
}

/// A trial with many followers adds the fan-out figure (a bar per follower, fastest first, the
/// fair share dashed, Jain's index in the panel's title) and its table; one without has neither.
#[test]
fn fan_out_trials_get_a_per_follower_figure_and_table() {
    let tmp = scratch();
    let dir = tmp.path();
    write_synthetic(dir, false);
    let report = write_report(dir).expect("a report");
    assert!(report.plots.iter().all(|r| r.name != "fanout"));
    let mut lines = String::new();
    for (n, followers) in [(1usize, 1usize), (2, 8)] {
        let mut r = synthetic_record(n, "elasticsearch", 1);
        r.params = [("followers".to_string(), serde_json::json!(followers))].into();
        r.throughput_mib_s = 100.0;
        if followers > 1 {
            r.followers = (0..followers)
                .map(|index| rrbench::results::FollowerRecord {
                    index,
                    outcome: Outcome::Completed,
                    failure: None,
                    verified: true,
                    attempts: 1,
                    bytes: 1 << 20,
                    bytes_transferred: 1 << 20,
                    started_at_s: 0.0,
                    duration_s: 1.0,
                    throughput_mib_s: 10.0 + index as f64,
                })
                .collect();
            r.aggregate_throughput_mib_s = Some(80.0);
            r.throughput_mib_s = 80.0;
            r.jain_index = Some(0.987);
        }
        lines.push_str(&serde_json::to_string(&r).expect("json"));
        lines.push('\n');
    }
    fs::write(dir.join("trials.jsonl"), lines).expect("trials");
    let files = write_report(dir).expect("a report");
    assert!(files.plots.iter().any(|r| r.name == "fanout"));
    assert_has(
        &svg(dir, "fanout"),
        &[
            "t0002: 8 followers, Jain 0.987, aggregate 80 MiB/s, fair share 10 MiB/s",
            "fastest first",
        ],
        "fanout.svg",
    );
    let md = fs::read_to_string(&files.markdown).expect("md");
    assert_has(
        &md,
        &[
            "## Fan-out: one leader, many followers",
            "| t0002 | followers=8 | 8 | 8/8 | 80.0 | 0.80 | 0.987 | 10.00 | 13.50 | 17.00 | 0 |",
        ],
        "report.md",
    );
}

#[test]
fn sharded_trials_get_a_timeline_and_a_table() {
    let tmp = scratch();
    let dir = tmp.path();
    write_synthetic(dir, false);
    let shard = |n: u32, restart: bool| rrbench::follower::ShardReport {
        shard: n,
        outcome: Outcome::Completed,
        failure: None,
        attempts: if n < 4 { 2 } else { 1 },
        bytes: 4 << 20,
        bytes_needed: 4 << 20,
        bytes_transferred: if restart && n < 4 { 7 << 20 } else { 4 << 20 },
        bytes_wasted: if restart && n < 4 { 3 << 20 } else { 0 },
        started_at: Some(if n < 4 { 0.01 } else { 2.6 }),
        duration_s: if n < 4 { 2.6 } else { 0.6 },
        throughput_mib_s: 1.5,
    };
    let mut lines = String::new();
    let mut n = 0;
    for policy in ["elasticsearch", "resumable"] {
        for rep in 1..=2 {
            n += 1;
            let restart = policy == "elasticsearch";
            let mut r = synthetic_record(n, policy, rep);
            r.shards = (0..5).map(|s| shard(s, restart)).collect();
            r.bytes_wasted = r.shards.iter().map(|s| s.bytes_wasted).sum();
            if n == 4 {
                // One shard gives up, and the one waiting for its slot never starts.
                r.outcome = Outcome::Failed;
                r.shards[3].outcome = Outcome::Failed;
                r.shards[3].attempts = 5;
                r.shards[4] = rrbench::follower::ShardReport::not_started(4, "out of time");
                r.faults[0].off = Some(1.8);
            }
            lines.push_str(&serde_json::to_string(&r).expect("json"));
            lines.push('\n');
        }
    }
    fs::write(dir.join("trials.jsonl"), lines).expect("trials");
    let files = write_report(dir).expect("a report");
    assert!(files.plots.iter().any(|r| r.name == "shards"));
    assert_has(
        &svg(dir, "shards"),
        &[
            "t0001 policy=elasticsearch (rep 1): completed, 4 of 5 shards restarted, 12 MiB \
             wasted, 3.2 s",
            "shard 4",
            "×2 · 3 MiB wasted",
            "×5 · failed",
            "never started",
            "fault turned on: cut (reset)",
            "seconds since the trial started",
        ],
        "shards.svg",
    );
    let md = fs::read_to_string(&files.markdown).expect("md");
    assert_has(
        &md,
        &[
            "## Shards",
            "| trial | condition | policy | outcome | shards verified | attempts per shard |",
            "| t0001 | policy=elasticsearch | elasticsearch | completed | 5/5 | 2 2 2 2 1 | 4 of 5 \
             | 12.0 | 3.20 |",
            "| t0004 | policy=resumable | resumable | failed | 3/5 | 2 2 2 5 0 | 4 of 5 | 0.0 |",
        ],
        "report.md",
    );
    let html = fs::read_to_string(&files.html).expect("html");
    assert!(
        html.contains("<td>2 2 2 2 1</td>"),
        "report.html lacks the row"
    );

    // The same campaign of one-shard indexes: no figure, no table, and the old files go.
    write_synthetic(dir, false);
    let files = write_report(dir).expect("a report");
    assert!(files.plots.iter().all(|r| r.name != "shards"));
    assert!(!dir.join("plots").join("shards.svg").exists());
    assert!(!dir.join("plots").join("shards.png").exists());
    let md = fs::read_to_string(&files.markdown).expect("md");
    assert!(!md.contains("## Shards"), "a table of shards with none");
}
