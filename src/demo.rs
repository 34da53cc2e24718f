//! `rrbench demo`: the whole engine on one machine in under 30 seconds.
//!
//! Generates an index in a temporary directory, starts a leader in-process on 127.0.0.1:0 and
//! recovers the index twice: with Elasticsearch's defaults (40mb/s on both nodes), then with the
//! rate limit off. Prints the two side by side, double-checks every recovered file against the
//! leader's checksums, writes the result JSON under `results/demo/`, and removes the temporary
//! data.

use crate::output::{errln, outln};
use std::{
    path::Path,
    process::ExitCode,
    sync::Arc,
    time::{Instant, SystemTime},
};

use anyhow::{Context, bail};
use rrbench::{
    clock::{Clock, utc_stamp},
    export::write_atomic,
    follower::{self, Progress, RecoveryReport},
    index::{GenerateSpec, IndexSnapshot, generate},
    leader::{LeaderHandle, LeaderStatsSnapshot},
    rig::Rig,
    settings::{LeaderSettings, RecoverySettings},
    units::ByteSize,
};
use serde::Serialize;

use crate::{cli::DemoArgs, progress_line::ProgressLine};

/// One recovery of the demo.
#[derive(Serialize)]
struct DemoRun {
    name: &'static str,
    leader_settings: LeaderSettings,
    leader_stats: LeaderStatsSnapshot,
    /// Files in the target whose CRC-32C matches the leader's, re-read from disk.
    files_matching_leader: usize,
    report: RecoveryReport,
}

/// What `results/demo/*.json` holds.
#[derive(Serialize)]
struct DemoResult {
    schema: &'static str,
    created: String,
    rrbench_version: &'static str,
    index: serde_json::Value,
    runs: Vec<DemoRun>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::Builder::new()
        .prefix("rrbench-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let source = tmp.path().join("leader");
    let spec = GenerateSpec {
        size: args.size.bytes(),
        files: args.files,
        seed: args.seed,
    };
    errln!(
        "generating a {} index of {} files (seed {}) in {}",
        args.size,
        args.files,
        args.seed,
        source.display()
    );
    let started = Instant::now();
    let dir = source.clone();
    tokio::task::spawn_blocking(move || generate(&dir, &spec, |_| {})).await??;
    let snapshot = {
        let dir = source.clone();
        tokio::task::spawn_blocking(move || IndexSnapshot::load(&dir)).await??
    };
    errln!("  done in {:.1}s", started.elapsed().as_secs_f64());

    let es_defaults = RecoverySettings::default();
    let unlimited = RecoverySettings {
        max_bytes_per_sec: ByteSize(0),
        ..RecoverySettings::default()
    };
    let plans = [
        ("elasticsearch defaults", es_defaults),
        ("unlimited", unlimited),
    ];
    let clock = Clock::start();
    let mut runs = Vec::new();
    for (i, (name, settings)) in plans.into_iter().enumerate() {
        let leader_settings = LeaderSettings {
            max_bytes_per_sec: settings.max_bytes_per_sec,
            ..LeaderSettings::default()
        };
        let rig = Rig::builder()
            .leader(snapshot.clone(), leader_settings.clone())
            .clock(clock)
            .start()
            .await
            .map_err(crate::commands::rig_error)?;
        let target = tmp.path().join(format!("follower-{}", i + 1));
        errln!(
            "recovery {}: {name} (max_bytes_per_sec {}) from {}",
            i + 1,
            show_rate(settings.max_bytes_per_sec),
            rig.dial()
        );
        let mut follower_config = rig.follower_config(&target);
        follower_config.settings = settings;
        let progress = Arc::new(Progress::default());
        let line = ProgressLine::start(progress.clone(), true);
        let report = follower::recover(follower_config, progress, std::future::pending()).await?;
        drop(line);
        let leader_stats = rig.leader().map(LeaderHandle::stats).unwrap_or_default();
        rig.shutdown().await;
        let files_matching_leader = matching_files(&snapshot, &target)?;
        runs.push(DemoRun {
            name,
            leader_settings,
            leader_stats,
            files_matching_leader,
            report,
        });
    }

    print_table(&runs, snapshot.files().len())?;
    let result = DemoResult {
        schema: "rrbench.demo/1",
        created: utc_stamp(SystemTime::now()),
        rrbench_version: env!("CARGO_PKG_VERSION"),
        index: serde_json::json!({ "size": args.size, "files": args.files, "seed": args.seed }),
        runs,
    };
    let path = args.out.join(format!("demo-{}.json", result.created));
    write_atomic(&path, &serde_json::to_vec_pretty(&result)?)
        .with_context(|| format!("writing {}", path.display()))?;
    outln!("\nresult: {}", path.display())?;
    tmp.close().context("removing the temporary data")?;

    let all_good = result
        .runs
        .iter()
        .all(|r| r.report.is_completed() && r.files_matching_leader == snapshot.files().len());
    if !all_good {
        bail!(
            "a demo recovery did not complete and verify; see {}",
            path.display()
        );
    }
    outln!("\n{}", what_next(&invoked_as()))?;
    Ok(ExitCode::SUCCESS)
}

/// How the user ran rrbench (`rrbench`, `target/release/rrbench`), so the hints can be pasted.
fn invoked_as() -> String {
    std::env::args()
        .next()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "rrbench".into())
}

/// What to try after the demo: each a title and its commands (what follows the binary; no
/// quoting needed, so the test can split them on spaces and parse them).
const NEXT_STEPS: &[(&str, &[&str])] = &[
    (
        "one recovery by hand, iperf3-style: a line a second, Mbits/s (one terminal each)",
        &[
            "gen-index --dir /tmp/rr-leader --size 256mb --files 40",
            "leader --dir /tmp/rr-leader --listen 127.0.0.1:9443 --max-bytes-per-sec 0",
            "recover --from 127.0.0.1:9443 --dir /tmp/rr-follower --max-bytes-per-sec 0 -i 1s -f m",
        ],
    ),
    (
        "add latency with the proxy and recover through it (JSON: start, intervals, end)",
        &[
            "proxy --listen 127.0.0.1:19443 --upstream 127.0.0.1:9443 --fault latency:delay=25ms",
            "recover --from 127.0.0.1:19443 --dir /tmp/rr-follower-wan --max-bytes-per-sec 0 --json --logfile /tmp/rr-wan.json",
        ],
    ),
    (
        "run a campaign (about 30 s): stunnel's idle timeout, ping off vs on; plots, report.html",
        &["campaign run chaos/campaigns/stunnel-idle-timeout.toml"],
    ),
    (
        "compare two runs that differ in one setting: a verdict per metric",
        &[
            "campaign run chaos/campaigns/smoke.toml --out /tmp/w1 --set repetitions=5 --set settings.max_concurrent_file_chunks=1",
            "campaign run chaos/campaigns/smoke.toml --out /tmp/w5 --set repetitions=5 --set settings.max_concurrent_file_chunks=5",
            "compare /tmp/w1/smoke /tmp/w5/smoke",
        ],
    ),
];

/// The hint printed at the end of the demo, with `bin` for the binary.
fn what_next(bin: &str) -> String {
    let mut text = String::from("what next:");
    for (title, commands) in NEXT_STEPS {
        text.push_str(&format!("\n  {title}"));
        for command in *commands {
            text.push_str(&format!("\n    {bin} {command}"));
        }
    }
    if !Path::new("chaos/campaigns/smoke.toml").is_file() {
        text.push_str("\n  (campaign files are in chaos/campaigns/ of rrbench's repository)");
    }
    text
}

fn show_rate(rate: ByteSize) -> String {
    if rate.bytes() == 0 {
        "0 (unlimited)".into()
    } else {
        rate.to_string()
    }
}

/// Re-reads the target and counts files whose name, length and CRC-32C match the leader's.
fn matching_files(leader: &IndexSnapshot, target: &Path) -> anyhow::Result<usize> {
    let recovered = IndexSnapshot::load(target)?;
    let theirs = recovered.metas();
    Ok(leader.metas().iter().filter(|m| theirs.contains(m)).count())
}

fn print_table(runs: &[DemoRun], files: usize) -> std::io::Result<()> {
    let col = |f: &dyn Fn(&DemoRun) -> String| {
        runs.iter()
            .map(|r| format!("{:>24}", f(r)))
            .collect::<String>()
    };
    let rows: Vec<(&str, String)> = vec![
        ("", col(&|r| r.name.to_string())),
        (
            "max_bytes_per_sec",
            col(&|r| show_rate(r.report.settings.max_bytes_per_sec)),
        ),
        (
            "chunk_size",
            col(&|r| r.report.settings.chunk_size.to_string()),
        ),
        (
            "max_concurrent_file_chunks",
            col(&|r| r.report.settings.max_concurrent_file_chunks.to_string()),
        ),
        (
            "outcome",
            col(&|r| format!("{:?}", r.report.outcome).to_lowercase()),
        ),
        (
            "files verified",
            col(&|r| format!("{}/{files}", r.files_matching_leader)),
        ),
        (
            "bytes",
            col(&|r| format!("{:.1} MiB", r.report.bytes as f64 / 1048576.0)),
        ),
        (
            "duration",
            col(&|r| format!("{:.2} s", r.report.duration_s)),
        ),
        (
            "throughput",
            col(&|r| format!("{:.1} MiB/s", r.report.throughput_mib_s)),
        ),
        ("attempts", col(&|r| r.report.attempts.to_string())),
        (
            "leader throttle wait (sum)",
            col(&|r| format!("{:.2} s", r.leader_stats.throttle_nanos as f64 / 1e9)),
        ),
        (
            "max in flight (leader)",
            col(&|r| r.leader_stats.max_in_flight_per_session.to_string()),
        ),
    ];
    outln!("")?;
    for (label, values) in rows {
        outln!("{label:<28}{values}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn every_hinted_command_parses_and_campaign_files_exist() {
        for (title, commands) in NEXT_STEPS {
            for command in *commands {
                let argv = std::iter::once("rrbench").chain(command.split_whitespace());
                if let Err(e) = Cli::try_parse_from(argv) {
                    panic!("{title}: `{command}` does not parse: {e}");
                }
                for file in command.split_whitespace().filter(|a| a.ends_with(".toml")) {
                    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
                    assert!(path.is_file(), "{title}: {file} is not in the repository");
                }
            }
        }
        assert!(
            what_next("target/release/rrbench")
                .contains("\n    target/release/rrbench compare /tmp/w1/smoke /tmp/w5/smoke")
        );
    }
}
