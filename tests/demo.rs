//! `rrbench demo --quick` end to end: every step of the story runs and prints its row, the
//! report embeds its plots, and no temporary data is left behind without `--keep` (at the end
//! and on Ctrl-C).

mod common;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const STEPS: [&str; 7] = ["1a", "1b", "2", "3a", "3b", "3c", "3d"];

/// The scratch directories a run with process id `pid` left in the runner's scratch root.
fn scratch_left_by(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("rrbench-trial-{pid}-");
    [Path::new("/dev/shm").to_path_buf(), std::env::temp_dir()]
        .iter()
        .filter_map(|root| std::fs::read_dir(root).ok())
        .flat_map(|d| d.flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// One demo at a time: three at once on 2 cores would starve the timing the story relies on
/// (a 100 ms ping against a 300 ms idle timeout under --quick).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The demo's private index directories left under `tmp` (its TMPDIR).
fn private_indexes_left(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().contains("rrbench-demo-index-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `rrbench demo ARGS` to the end with TMPDIR `tmp`: its exit status, stdout, stderr and
/// process id.
fn demo(tmp: &Path, args: &[&str]) -> (std::process::ExitStatus, String, String, u32) {
    let child = Command::new(env!("CARGO_BIN_EXE_rrbench"))
        .arg("demo")
        .args(args)
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rrbench demo");
    let pid = child.id();
    let out = child.wait_with_output().expect("demo output");
    (
        out.status,
        common::text(&out.stdout),
        common::text(&out.stderr),
        pid,
    )
}

/// The run directories under `out/demo-story/`.
fn runs(out: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(out.join("demo-story"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn demo_quick_tells_every_step_writes_a_report_and_leaves_no_temporary_data() {
    let _one = one_at_a_time();
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let started = Instant::now();
    let (status, stdout, stderr, pid) = demo(
        tmp.path(),
        &["--quick", "--out", out.to_str().expect("utf-8")],
    );
    let took = started.elapsed();
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");

    // A line as each step starts, then its result.
    for step in STEPS {
        let start = format!("step {step:<3} ");
        let at = stdout
            .find(&start)
            .unwrap_or_else(|| panic!("no `{start}` line:\n{stdout}"));
        let result = stdout[at..].lines().nth(1).unwrap_or_default();
        assert!(
            result.trim_start().starts_with("-> completed") || result.contains("-> failed"),
            "step {step}: {result}\n{stdout}"
        );
    }
    // The table: a header and one row per step, in story order, columns aligned.
    let header_at = stdout
        .find("\nstep  policy")
        .unwrap_or_else(|| panic!("no table:\n{stdout}"));
    let table: Vec<&str> = stdout[header_at + 1..]
        .lines()
        .take(1 + STEPS.len())
        .collect();
    let outcome_col = table[0].find("outcome").expect("outcome column");
    for (line, step) in table[1..].iter().zip(STEPS) {
        assert_eq!(
            line.split_whitespace().next(),
            Some(step),
            "{line}\n{stdout}"
        );
        let outcome = &line[outcome_col..];
        let expected = if step == "3a" { "failed" } else { "completed" };
        assert!(
            outcome.starts_with(expected),
            "step {step}: {line}\n{stdout}"
        );
    }
    let row = |step: &str| {
        table[1..]
            .iter()
            .find(|l| l.split_whitespace().next() == Some(step))
            .copied()
            .unwrap_or_default()
    };
    // Every row names its largest time term, with its share.
    for step in STEPS {
        let last = row(step).split_whitespace().last().unwrap_or_default();
        assert!(last.ends_with('%'), "step {step}: {}", row(step));
    }
    assert!(row("3d").contains("resumable"), "{}", row("3d"));
    // Read from the right: ... duration "s" MiB/s wasted term share.
    let column = |step: &str, from_right: usize| -> f64 {
        let words: Vec<&str> = row(step).split_whitespace().collect();
        words[words.len() - from_right].parse().unwrap_or(f64::NAN)
    };
    let (wasted, mib_s) = (|step| column(step, 3), |step| column(step, 4));
    assert!(wasted("3c") > 0.0, "3c restarts from zero: {}", row("3c"));
    assert!(
        wasted("3d") < wasted("3c"),
        "resuming keeps the verified bytes: {} vs {}",
        row("3d"),
        row("3c")
    );
    assert!(
        mib_s("2") < 0.5 * mib_s("1b"),
        "the WAN delay slows step 2: {} vs {}",
        row("2"),
        row("1b")
    );
    // Step 2 is measured against the model; the baseline shows where its time went.
    assert!(stdout.contains("vs model"), "{stdout}");
    assert!(stdout.contains("where the time went: "), "{stdout}");
    // The report: a self-contained HTML with the plots of these runs embedded.
    let report = stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .and_then(|l| l.split(" (").next())
        .unwrap_or_else(|| panic!("no report line:\n{stdout}"));
    let html = std::fs::read_to_string(report).expect("report.html");
    let embedded = html.matches("src=\"data:image/png;base64,").count();
    assert!(embedded >= 3, "{embedded} plots embedded in {report}");
    let run = runs(&out);
    assert_eq!(run.len(), 1, "{run:?}");
    assert!(Path::new(report).starts_with(&run[0]), "{report}");
    let trials = std::fs::read_to_string(run[0].join("trials.jsonl")).expect("trials.jsonl");
    assert_eq!(trials.lines().count(), STEPS.len());
    // Nothing temporary is left: no index, no scratch.
    assert!(
        !out.join(".index-cache").exists(),
        "the index is left:\n{stderr}"
    );
    assert_eq!(private_indexes_left(tmp.path()), Vec::<PathBuf>::new());
    assert_eq!(scratch_left_by(pid), Vec::<PathBuf>::new());
    assert!(stdout.contains("what next:"), "{stdout}");
    eprintln!("demo --quick took {:.1} s", took.as_secs_f64());
}

#[test]
fn demo_quick_keep_keeps_the_index_and_names_it() {
    let _one = one_at_a_time();
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let (status, stdout, stderr, _) = demo(
        tmp.path(),
        &["--quick", "--keep", "--out", out.to_str().expect("utf-8")],
    );
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    let kept: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("index (kept): "))
        .collect();
    assert_eq!(kept.len(), 1, "{stdout}");
    let index = Path::new(kept[0]);
    assert!(index.starts_with(out.join(".index-cache")), "{kept:?}");
    assert!(
        std::fs::read_dir(index).expect("index").count() > 1,
        "{kept:?}"
    );
}

#[test]
fn ctrl_c_mid_demo_exits_130_and_leaves_nothing_behind() {
    let _one = one_at_a_time();
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let mut child = common::Child(
        Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args(["demo", "--quick", "--out", out.to_str().expect("utf-8")])
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let pid = child.0.id();
    let mut lines = BufReader::new(child.0.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Mid-story: once step 3a has started (the index exists, a trial is running).
    for line in lines.by_ref() {
        if line.expect("stdout line").starts_with("step 3a") {
            break;
        }
        assert!(Instant::now() < deadline, "step 3a never started");
    }
    std::thread::spawn(move || for _ in lines {});
    let status = common::interrupt(&mut child);
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(!out.join(".index-cache").exists(), "the index is left");
    assert_eq!(private_indexes_left(tmp.path()), Vec::<PathBuf>::new());
    assert_eq!(
        runs(&out),
        Vec::<PathBuf>::new(),
        "an unfinished run is left"
    );
    assert_eq!(scratch_left_by(pid), Vec::<PathBuf>::new());
}
