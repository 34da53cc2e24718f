//! `rrbench campaign run` end to end with the shipped smoke campaign: results on disk, resume,
//! failing expectations, malformed files.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use common::{campaign_run, run_campaign_text, scratch, text};

const SMOKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/chaos/campaigns/smoke.toml");

/// The one results directory under `out/<campaign>/`.
fn results_dir(out: &Path, campaign: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = fs::read_dir(out.join(campaign))
        .expect("campaign dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.remove(0)
}

/// The distinct trial ids recorded in `dir`.
fn trial_ids(dir: &Path) -> std::collections::BTreeSet<String> {
    records(dir)
        .iter()
        .map(|t| t["trial"].as_str().expect("id").to_string())
        .collect()
}

fn records(dir: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(dir.join("trials.jsonl"))
        .expect("trials.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn the_smoke_campaign_writes_every_result_file() {
    let tmp = scratch();
    let out = tmp.path().join("results");
    let run = campaign_run(&[SMOKE, "--out", out.to_str().expect("utf-8")]);
    assert!(
        run.status.success(),
        "{}{}",
        text(&run.stdout),
        text(&run.stderr)
    );
    let dir = results_dir(&out, "smoke");
    assert_eq!(
        fs::read_to_string(dir.join("campaign.toml")).expect("copy"),
        fs::read_to_string(SMOKE).expect("smoke")
    );
    let env: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("env.json")).expect("env")).expect("json");
    assert!(env["cores"].as_u64().is_some() && env["rrbench_version"].is_string());

    let trials = records(&dir);
    assert_eq!(trials.len(), 4);
    let mut ids: Vec<&str> = trials
        .iter()
        .map(|t| t["trial"].as_str().expect("id"))
        .collect();
    ids.sort();
    assert_eq!(ids, ["t0001", "t0002", "t0003", "t0004"]);
    for t in &trials {
        assert_eq!(t["schema"], "rrbench.trial/1");
        assert_eq!(t["outcome"], "completed");
        assert_eq!(t["passed"], true);
        assert!(t["params"]["settings.policy"].is_string());
        assert!(t["bytes_needed"].as_u64() == Some(8 << 20));
        for key in [
            "bytes_transferred",
            "bytes_wasted",
            "duration_s",
            "throughput_mib_s",
            "attempts",
            "expectations",
            "faults",
        ] {
            assert!(!t[key].is_null(), "{key} missing");
        }
        assert!(
            t["seed"].as_str().is_some_and(|s| s.parse::<u64>().is_ok()),
            "seeds are strings in JSON, exact past 2^53: {}",
            t["seed"]
        );
        let id = t["trial"].as_str().expect("id");
        let csv =
            fs::read_to_string(dir.join("timeseries").join(format!("{id}.csv"))).expect("csv");
        assert!(
            csv.starts_with("t,bytes,attempt,verified\n") && csv.lines().count() >= 3,
            "{csv}"
        );
        let requests =
            fs::read_to_string(dir.join("requests").join(format!("{id}.csv"))).expect("requests");
        assert!(
            requests.starts_with("t,latency_s,attempt,bytes,ok\n") && requests.lines().count() >= 2,
            "a line per chunk request: {requests}"
        );
        assert!(
            t["time_breakdown"]["network_s"].as_f64().is_some(),
            "where the time went"
        );
        let events =
            fs::read_to_string(dir.join("events").join(format!("{id}.jsonl"))).expect("events");
        let kinds: Vec<String> = events
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("event")["event"]
                    .as_str()
                    .expect("kind")
                    .to_string()
            })
            .collect();
        assert!(
            kinds.contains(&"proxy_start".to_string()) && kinds.contains(&"conn_open".to_string()),
            "{kinds:?}"
        );
        let start: serde_json::Value = events
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("event"))
            .find(|e| e["event"] == "proxy_start")
            .expect("proxy_start");
        assert!(
            start["seed"]
                .as_str()
                .is_some_and(|s| s.parse::<u64>().is_ok()),
            "the proxy's seed is a string: {start}"
        );
    }
    let with_latency = trials
        .iter()
        .find(|t| t["params"]["faults.wan.delay"] == "5ms")
        .expect("5 ms cell");
    // The bound is 5 x 1 MiB per 10 ms round trip (500 MiB/s); the model adds the round trips
    // to a reference run of the same cell without the delay.
    let terms = &with_latency["model_terms"];
    let term = |k: &str| terms[k].as_f64().unwrap_or_else(|| panic!("{k}: {terms}"));
    assert!((term("setup_s") - 0.02).abs() < 1e-9, "{terms}");
    let round_trips = term("round_trips_s") / 0.01;
    assert!(
        round_trips >= 1.0 && (round_trips - round_trips.round()).abs() < 1e-6,
        "a whole number of round trips: {terms}"
    );
    assert!(term("reference_s") > 0.0, "{terms}");
    let total = term("reference_s") + term("setup_s") + term("round_trips_s");
    let model = with_latency["model_throughput_mib_s"]
        .as_f64()
        .expect("model");
    assert!(
        (model - (8.0 / total).min(500.0)).abs() < 1e-6,
        "model {model} from {terms}"
    );
    let summary = fs::read_to_string(dir.join("summary.md")).expect("summary");
    assert!(summary.contains("4 trials, 4 passed"), "{summary}");
}

#[test]
fn resume_runs_only_the_unfinished_trials() {
    let tmp = scratch();
    let out = tmp.path().join("results");
    let out_arg = out.to_str().expect("utf-8");
    assert!(campaign_run(&[SMOKE, "--out", out_arg]).status.success());
    let dir = results_dir(&out, "smoke");
    // As if Ctrl-C came during the last trial's line: one complete line lost, half a line left.
    let lines: Vec<String> = fs::read_to_string(dir.join("trials.jsonl"))
        .expect("read")
        .lines()
        .map(String::from)
        .collect();
    let kept = format!("{}\n{{\"schema\":\"rrbench.tri", lines[..3].join("\n"));
    fs::write(dir.join("trials.jsonl"), kept).expect("truncate");
    let resumed = campaign_run(&[SMOKE, "--resume", dir.to_str().expect("utf-8")]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert!(
        text(&resumed.stderr).contains("1 of 4 trials to run"),
        "{}",
        text(&resumed.stderr)
    );
    let ids = trial_ids(&dir);
    assert_eq!(ids.len(), 4, "every trial recorded once");
}

#[test]
fn a_failing_expectation_exits_1_and_names_the_trials() {
    let tmp = scratch();
    let file = tmp.path().join("strict.toml");
    let strict = fs::read_to_string(SMOKE).expect("smoke").replace(
        "max_attempts = 1",
        "max_attempts = 1\nmax_bytes_wasted = \"0b\"\nmin_throughput_vs_model = 100.0",
    );
    fs::write(&file, strict).expect("write");
    let out = tmp.path().join("results");
    let run = campaign_run(&[
        file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(
        stdout.contains("FAIL t0003: min_throughput_vs_model") && stdout.contains("FAIL t0004"),
        "{stdout}"
    );
    let summary =
        fs::read_to_string(results_dir(&out, "smoke").join("summary.md")).expect("summary");
    assert!(
        summary.contains("## Failed expectations")
            && summary.contains("t0003: min_throughput_vs_model"),
        "{summary}"
    );
}

#[test]
fn a_malformed_campaign_exits_2_naming_the_key() {
    let tmp = scratch();
    let file = tmp.path().join("bad.toml");
    fs::write(
        &file,
        fs::read_to_string(SMOKE)
            .expect("smoke")
            .replace("internal_action_timeout", "internal_action_timout"),
    )
    .expect("write");
    let run = campaign_run(&[
        file.to_str().expect("utf-8"),
        "--out",
        tmp.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let err = text(&run.stderr);
    assert!(
        err.contains("internal_action_timout") && err.contains("line"),
        "{err}"
    );
}

#[test]
fn dry_run_lists_the_trials_in_seeded_order() {
    let listing = |seed: &str| text(&campaign_run(&[SMOKE, "--dry-run", "--seed", seed]).stdout);
    let a = listing("1");
    assert!(a.contains("4 trials") && a.contains("t0004"), "{a}");
    assert_eq!(a, listing("1"));
}

/// Ctrl-C (SIGINT) mid-campaign: exit 130, every finished trial kept, and `--resume` runs only
/// the rest.
#[test]
fn ctrl_c_keeps_finished_trials_and_resume_runs_the_rest() {
    let tmp = scratch();
    let file = tmp.path().join("slow.toml");
    // 8 trials of about half a second each: 8 MiB through a leader held at 16 MiB/s.
    let slow = fs::read_to_string(SMOKE)
        .expect("smoke")
        .replace(
            "[leader]\nmax_bytes_per_sec = \"0\"",
            "[leader]\nmax_bytes_per_sec = \"16mb\"",
        )
        .replace("repetitions = 1", "repetitions = 2");
    fs::write(&file, slow).expect("write");
    let out = tmp.path().join("results");
    let child = Command::new(env!("CARGO_BIN_EXE_rrbench"))
        .args([
            "campaign",
            "run",
            file.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait for the first finished trial, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let trials = loop {
        let found = fs::read_dir(out.join("smoke"))
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.expect("entry").path().join("trials.jsonl"))
            .filter(|p| fs::read_to_string(p).is_ok_and(|t| t.lines().count() >= 1));
        if let Some(p) = found {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "no trial finished");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("--resume"),
        "{}",
        text(&output.stderr)
    );
    let dir = trials.parent().expect("dir").to_path_buf();
    let kept = records(&dir).len();
    assert!((1..8).contains(&kept), "{kept} trials kept");

    let resumed = campaign_run(&[
        file.to_str().expect("utf-8"),
        "--resume",
        dir.to_str().expect("utf-8"),
    ]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert!(
        text(&resumed.stderr).contains(&format!("{} of 8 trials to run", 8 - kept)),
        "{}",
        text(&resumed.stderr)
    );
    let ids = trial_ids(&dir);
    assert_eq!(ids.len(), 8);
}

/// An index that cannot fit is refused before any results directory or index is written.
#[test]
fn an_index_larger_than_free_space_exits_2_and_writes_nothing() {
    let tmp = scratch();
    let out = tmp.path().join("results");
    let run = campaign_run(&[
        SMOKE,
        "--out",
        out.to_str().expect("utf-8"),
        "--set",
        "index.size=1024pb",
    ]);
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("1.0 EiB") && err.contains("free") && err.contains("index.size"),
        "{err}"
    );
    assert!(!out.join("smoke").exists(), "no results directory");
    assert!(
        fs::read_dir(out.join(".index-cache")).map_or(true, |mut d| d.next().is_none()),
        "no index"
    );
}

/// Ctrl-C while the campaign's index is being generated stops the generator too: exit 130 soon
/// after, and no partial index is left in the cache.
#[test]
fn ctrl_c_during_index_generation_exits_130_and_leaves_no_partial_index() {
    // On disk, not tmpfs: 4 GiB fits (the free-space check lets it start) and takes seconds.
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("results");
    let child = Command::new(env!("CARGO_BIN_EXE_rrbench"))
        .args([
            "campaign",
            "run",
            SMOKE,
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .args(["--set", "index.size=4gb"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = common::Child(child);
    let cache = out.join(".index-cache");
    let building = || {
        fs::read_dir(&cache).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| fs::read_dir(p).is_ok_and(|mut files| files.next().is_some()))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while building().is_none() {
        assert!(
            child.0.try_wait().expect("wait").is_none(),
            "the run ended before generating"
        );
        assert!(std::time::Instant::now() < deadline, "no index generated");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = common::interrupt(&mut child);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(130), "{err}");
    let left: Vec<_> = fs::read_dir(&cache)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "partial index left: {left:?}");
}

/// Two campaigns started together into one `--out` both finish, in directories of their own,
/// although both need the same index and neither finds it cached.
#[test]
fn two_campaigns_into_one_out_at_once_both_finish() {
    let tmp = scratch();
    let out = tmp.path().join("results");
    let file = tmp.path().join("tiny.toml");
    fs::write(
        &file,
        "name = \"tiny\"\nseed = 3\nrepetitions = 1\n[index]\nsize = \"2mb\"\nfiles = 3\nseed = 41\n\
         [settings]\nmax_bytes_per_sec = \"0\"\n",
    )
    .expect("campaign file");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args(["campaign", "run", "--no-report"])
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (
            a.join().expect("join").expect("run"),
            b.join().expect("join").expect("run"),
        )
    });
    for run in [&a, &b] {
        assert!(run.status.success(), "{}", text(&run.stderr));
    }
    let dirs: Vec<PathBuf> = fs::read_dir(out.join("tiny"))
        .expect("campaign dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    for dir in &dirs {
        assert_eq!(records(dir).len(), 1, "{}", dir.display());
    }
}

/// A fault that can do nothing (a bare `reset`, which fires as the trial starts, before the
/// follower has connected) is named in the trial's record and line, not passed over silently.
#[test]
fn a_fault_that_fired_with_no_connection_is_warned_about() {
    let tmp = scratch();
    let out = tmp.path().join("results");
    let file = tmp.path().join("bare-reset.toml");
    fs::write(
        &file,
        "name = \"bare-reset\"\nseed = 3\nrepetitions = 1\n[index]\nsize = \"1mb\"\nfiles = 2\n\
         seed = 41\n[settings]\nmax_bytes_per_sec = \"0\"\n[faults.cut]\ntype = \"reset\"\n",
    )
    .expect("campaign file");
    let run = campaign_run(&[
        file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--no-report",
    ]);
    let err = text(&run.stderr);
    assert!(run.status.success(), "{err}");
    let trial = &records(&results_dir(&out, "bare-reset"))[0];
    let warnings = trial["warnings"].as_array().expect("warnings recorded");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("`cut`"))),
        "{warnings:?}"
    );
    assert!(err.contains("warning: fault `cut`"), "{err}");
}

/// A tiny fan-out campaign: one leader, 32 followers at once, judged on how they shared it.
const FAN_OUT: &str = "name = \"fan-out\"\nseed = 5\nfollowers = 32\ntime_limit = \"30s\"\n\
    [index]\nsize = \"384kb\"\nfiles = 3\nseed = 43\n\
    [leader]\nmax_bytes_per_sec = \"0\"\n\
    [settings]\nmax_bytes_per_sec = \"0\"\nchunk_size = \"64kb\"\n\
    [expect]\noutcome = \"completed\"\nmin_jain_index = 0.01\n";

/// 32 followers of one leader each recover the whole index byte-identical, and the record lists
/// every one of them with the trial's aggregate and Jain's index, judged.
#[test]
fn thirty_two_followers_recover_one_leader_at_once() {
    let tmp = scratch();
    let out = tmp.path().join("results");
    let file = tmp.path().join("fan-out.toml");
    fs::write(&file, FAN_OUT).expect("campaign file");
    let run = campaign_run(&[
        file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--no-report",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let trial = &records(&results_dir(&out, "fan-out"))[0];
    assert_eq!(trial["outcome"], "completed", "{trial}");
    let followers = trial["followers"].as_array().expect("followers listed");
    assert_eq!(followers.len(), 32);
    for (i, f) in followers.iter().enumerate() {
        assert_eq!(f["index"].as_u64(), Some(i as u64));
        assert_eq!(f["outcome"], "completed", "{f}");
        assert_eq!(f["verified"], true, "byte-identical to the leader: {f}");
        assert_eq!(f["bytes"].as_u64(), Some(384 << 10), "{f}");
        assert!(
            f["throughput_mib_s"].as_f64().is_some_and(|t| t > 0.0),
            "{f}"
        );
    }
    assert_eq!(trial["bytes_needed"].as_u64(), Some(32 * (384 << 10)));
    let jain = trial["jain_index"].as_f64().expect("jain_index");
    assert!(jain > 0.0 && jain <= 1.0, "{jain}");
    let aggregate = trial["aggregate_throughput_mib_s"]
        .as_f64()
        .expect("aggregate");
    assert_eq!(trial["throughput_mib_s"].as_f64(), Some(aggregate));
    let verdict = trial["expectations"]
        .as_array()
        .expect("verdicts")
        .iter()
        .find(|v| v["name"] == "min_jain_index")
        .expect("the Jain expectation is judged");
    assert_eq!(verdict["pass"], true, "{verdict}");
    assert!(
        verdict["actual"]
            .as_str()
            .is_some_and(|a| a.contains("over 32 followers")),
        "{verdict}"
    );
}

/// `followers` must name at least one follower; the error names the key, in the file and in a
/// matrix cell. One follower writes none of the fan-out fields.
#[test]
fn zero_followers_are_refused_naming_the_key() {
    use rrbench::campaign::Campaign;
    for bad in [
        FAN_OUT.replace("followers = 32", "followers = 0"),
        FAN_OUT.replace("followers = 32", "followers = 100000"),
        FAN_OUT.replace("followers = 32\n", "") + "[matrix]\nfollowers = [1, 0]\n",
    ] {
        let e = Campaign::parse(&bad, None)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("followers") && e.contains("1 to 128"), "{e}");
    }
    let e = Campaign::parse(&FAN_OUT.replace("= 32", "= \"many\""), None)
        .expect_err("not a number")
        .to_string();
    assert!(e.contains("followers"), "{e}");
    let matrix = FAN_OUT.replace("followers = 32\n", "") + "[matrix]\nfollowers = [1, 32]\n";
    let c = Campaign::parse(&matrix, None).expect("a matrix of followers");
    let counts: Vec<u32> = c.cells.iter().map(|cell| cell.followers).collect();
    assert_eq!(counts, [1, 32]);
    let c = Campaign::parse(&FAN_OUT.replace("followers = 32\n", ""), None).expect("default");
    assert_eq!(c.cells[0].followers, 1, "one follower by default");
}

/// A tiny fan-in campaign: one follower node, three leader clusters at once, under one 8mb
/// node limit.
const FAN_IN: &str = "name = \"fan-in\"\nseed = 6\nleaders = 3\ntime_limit = \"30s\"\n\
    [index]\nsize = \"512kb\"\nfiles = 2\nseed = 44\n\
    [leader]\nmax_bytes_per_sec = \"0\"\n\
    [settings]\nmax_bytes_per_sec = \"8mb\"\nchunk_size = \"64kb\"\n\
    [expect]\noutcome = \"completed\"\nmin_jain_index = 0.5\n";

/// Three leaders' indices restored at once by one follower node, each byte-identical in its own
/// directory; the record lists each leader's recovery, and their aggregate is held to the one
/// node limit (8 MiB/s for all three, not 8 each).
#[test]
fn one_follower_node_restores_three_leaders_indices_under_one_limit() {
    let run = run_campaign_text("fan-in", FAN_IN);
    let trial = &run.records[0];
    assert_eq!(trial["outcome"], "completed", "{trial}");
    assert!(trial.get("followers").is_none(), "not fan-out: {trial}");
    let leaders = trial["leaders"].as_array().expect("leaders listed");
    assert_eq!(leaders.len(), 3);
    for (i, l) in leaders.iter().enumerate() {
        assert_eq!(l["index"].as_u64(), Some(i as u64));
        assert_eq!(l["verified"], true, "byte-identical to leader {i}'s: {l}");
        assert_eq!(l["bytes"].as_u64(), Some(512 << 10), "{l}");
    }
    let aggregate = trial["aggregate_throughput_mib_s"]
        .as_f64()
        .expect("aggregate");
    assert!(
        aggregate < 8.0 * 1.5,
        "three indices on one 8mb node moved {aggregate:.1} MiB/s together (a limiter each \
         would allow 24)"
    );
    let model = trial["model_throughput_mib_s"].as_f64().expect("a model");
    assert!(
        (model - 8.0).abs() < 1e-6,
        "the node limit bounds fan-in: {model}"
    );
    let verdict = trial["expectations"]
        .as_array()
        .expect("verdicts")
        .iter()
        .find(|v| v["name"] == "min_jain_index")
        .expect("the Jain expectation is judged");
    assert_eq!(verdict["pass"], true, "{verdict}");
}

/// `leaders` out of range, or with fan-out or shards in the same cell, is refused naming the
/// key.
#[test]
fn fan_in_out_of_range_or_mixed_is_refused_naming_the_key() {
    use rrbench::campaign::Campaign;
    for (bad, says) in [
        (FAN_IN.replace("leaders = 3", "leaders = 0"), "1 to 32"),
        (FAN_IN.replace("leaders = 3", "leaders = 33"), "1 to 32"),
        (
            FAN_IN.replace("leaders = 3", "leaders = 3\nfollowers = 2"),
            "not both",
        ),
        (
            FAN_IN.replace("files = 2", "files = 2\nshards = 2"),
            "one shard",
        ),
    ] {
        let e = Campaign::parse(&bad, None)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("leaders") && e.contains(says), "{e}");
    }
    let matrix = FAN_IN.replace("leaders = 3\n", "") + "[matrix]\nleaders = [1, 3]\n";
    let c = Campaign::parse(&matrix, None).expect("a matrix of leaders");
    let counts: Vec<u32> = c.cells.iter().map(|cell| cell.leaders).collect();
    assert_eq!(counts, [1, 3]);
}

/// A leader cluster of three nodes, each held at 4mb, serving an index of three shards (one
/// primary per node), reached through two gateways in sniff mode or one address in proxy mode.
const LEADER_NODES: &str = "name = \"leader-nodes\"\nseed = 7\nleader_nodes = 3\n\
    time_limit = \"30s\"\n\
    [index]\nsize = \"512kb\"\nfiles = 2\nseed = 45\nshards = 3\n\
    [leader]\nmax_bytes_per_sec = \"4mb\"\n\
    [settings]\nmax_bytes_per_sec = \"0\"\nchunk_size = \"64kb\"\nnode_connections = 2\n\
    [matrix]\n\"settings.mode\" = [\"sniff\", \"proxy\"]\n\
    [expect]\noutcome = \"completed\"\n";

/// Over three leader nodes every shard completes byte-identical in both modes; the model sums
/// the three nodes' limits (12 MiB/s, not 4); and the third node's shard, which no gateway holds
/// in sniff mode, went through a gateway (requests forwarded inside the leader cluster).
#[test]
fn a_campaign_over_three_leader_nodes_sums_their_limits_and_forwards_through_gateways() {
    let run = run_campaign_text("leader-nodes", LEADER_NODES);
    assert_eq!(run.records.len(), 2);
    for trial in &run.records {
        assert_eq!(trial["outcome"], "completed", "{trial}");
        let shards = trial["shards"].as_array().expect("shard lines");
        assert_eq!(shards.len(), 3, "{trial}");
        let model = trial["model_throughput_mib_s"].as_f64().expect("a model");
        assert!(
            (model - 12.0).abs() < 1e-6,
            "three leader nodes at 4mb each: {model}"
        );
        assert!(
            trial["throughput_mib_s"].as_f64().expect("throughput") > 4.0 * 1.5,
            "more than one node's limit: {trial}"
        );
        let forwarded = trial["leader_requests_forwarded"].as_u64().unwrap_or(0);
        assert!(forwarded > 0, "a gateway forwarded requests: {trial}");
    }
}

/// `leader_nodes` out of range, or over QUIC, is refused naming the key.
#[test]
fn leader_nodes_out_of_range_or_over_quic_are_refused_naming_the_key() {
    use rrbench::campaign::Campaign;
    for (bad, says) in [
        (
            LEADER_NODES.replace("leader_nodes = 3", "leader_nodes = 0"),
            "1 to 64",
        ),
        (
            LEADER_NODES.replace("node_connections = 2", "transport = \"quic\""),
            "TCP",
        ),
    ] {
        let e = Campaign::parse(&bad, None)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("leader_nodes") && e.contains(says), "{e}");
    }
}

#[test]
fn a_shard_count_out_of_range_or_fanned_out_is_refused_naming_the_key() {
    use rrbench::campaign::Campaign;
    let one = FAN_OUT.replace("followers = 32\n", "");
    for (shards, says) in [("0", "1 to 1024"), ("5000", "1 to 1024")] {
        let text = one.replace("seed = 43\n", &format!("seed = 43\nshards = {shards}\n"));
        let e = Campaign::parse(&text, None)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("index.shards") && e.contains(says), "{e}");
    }
    let sharded = one.replace("seed = 43\n", "seed = 43\nshards = 3\n");
    let c = Campaign::parse(&sharded, None).expect("three shards");
    assert_eq!(c.cells[0].index.shards, 3);
    let fanned = FAN_OUT.replace("seed = 43\n", "seed = 43\nshards = 3\n");
    let e = Campaign::parse(&fanned, None)
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("followers") && e.contains("index.shards = 3"),
        "{e}"
    );
}

/// Every campaign shipped in chaos/campaigns/ parses, every cell is valid, and its header
/// comment says what story it reproduces.
#[test]
fn every_shipped_campaign_parses() {
    use rrbench::campaign::Campaign;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/chaos/campaigns");
    let mut seen = 0;
    for entry in fs::read_dir(dir).expect("campaigns dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("read");
        let c = Campaign::parse(&text, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!c.trials.is_empty(), "{}", path.display());
        assert!(
            text.starts_with('#'),
            "{}: a story comment first",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 15, "{seen} campaigns");
}

/// A tiny campaign over TCP, in plaintext and with `settings.tls`.
const TLS: &str = "name = \"tls\"\nseed = 8\ntime_limit = \"30s\"\n\
    [index]\nsize = \"256kb\"\nfiles = 2\nseed = 46\n\
    [leader]\nmax_bytes_per_sec = \"0\"\n\
    [settings]\nmax_bytes_per_sec = \"0\"\nchunk_size = \"64kb\"\n\
    [matrix]\n\"settings.tls\" = [false, true]\n\
    [expect]\noutcome = \"completed\"\n";

/// With `settings.tls` the results directory gets a CA and a leader certificate it issued
/// (the follower trusts the CA, so the chain is verified, not a leaf pinned), and the TLS
/// trial's record names the protocol and cipher suite; the plaintext trial's has no `tls`.
/// `env.json` says what this machine's rustls would pick.
#[test]
fn a_tls_campaign_issues_its_certificates_and_records_the_cipher_suite() {
    use std::os::unix::fs::PermissionsExt;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let run = run_campaign_text("tls", TLS);
    assert_eq!(run.records.len(), 2);
    for trial in &run.records {
        assert_eq!(trial["outcome"], "completed", "{trial}");
        let tls = &trial["tls"];
        if trial["params"]["settings.tls"] == true {
            assert_eq!(tls["protocol"], "TLSv1.3", "{trial}");
            assert!(
                tls["cipher_suite"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("TLS13_")),
                "{trial}"
            );
        } else {
            assert!(tls.is_null(), "plaintext has no tls: {trial}");
        }
    }
    let pki = run.dir.join("tls");
    let der = |name: &str| {
        rrbench::transport::certs::read_certificates(&pki.join(name)).expect(name)[0].to_vec()
    };
    let (ca, leader) = (der("ca.crt.pem"), der("leader.crt.pem"));
    let (_, ca) = X509Certificate::from_der(&ca).expect("CA");
    let (_, leader) = X509Certificate::from_der(&leader).expect("leader");
    assert!(ca.is_ca() && !leader.is_ca());
    assert_eq!(leader.issuer(), ca.subject(), "issued by the CA");
    assert_ne!(leader.subject(), ca.subject());
    let sans: Vec<String> = leader
        .subject_alternative_name()
        .expect("SAN")
        .expect("SAN")
        .value
        .general_names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect();
    assert!(
        sans.iter().any(|n| n.contains("localhost")) && sans.len() == 2,
        "{sans:?}"
    );
    let mode = fs::metadata(pki.join("leader.key.pem"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let env: serde_json::Value =
        serde_json::from_slice(&fs::read(run.dir.join("env.json")).expect("env")).expect("json");
    assert!(
        env["tls"]["cipher_suites"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{env}"
    );
    assert_eq!(
        env["tls"]["expected_tls13_suite"], run.records[1]["tls"]["cipher_suite"],
        "what env.json expects is what the TLS trial got"
    );
}
