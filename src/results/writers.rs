//! Writing results: run directories, appended lines, CSV time series, event lines, and
//! `summary.md` ([`SummaryMarkdown`]). Whole files go through [`crate::export::write_atomic`].

use std::{
    fmt::Write as _,
    fs::{self, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

use super::TrialRecord;
use crate::{
    chaos::Event,
    export::Exporter,
    follower::{FailureRecord, RequestSample, Sample},
};

/// How many runs of one campaign and seed may start in the same second.
const SAME_SECOND_RUNS: u32 = 1000;

/// Creates the directory of a new run of a campaign, `campaign_dir/<stamp>-<seed>/`, or
/// `<stamp>-<seed>-2/`, `-3/`, ... when runs started in the same second have taken the others.
///
/// The last component is made with `create_dir`, which fails when it exists, so two runs can
/// never share a directory even when they race.
pub fn create_run_dir(campaign_dir: &Path, stamp: &str, seed: u64) -> io::Result<PathBuf> {
    fs::create_dir_all(campaign_dir)?;
    let base = format!("{stamp}-{seed:x}");
    for n in 1..=SAME_SECOND_RUNS {
        let name = match n {
            1 => base.clone(),
            n => format!("{base}-{n}"),
        };
        let dir = campaign_dir.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{base} and {SAME_SECOND_RUNS} suffixed directories exist: too many runs started in \
             one second; to continue one of them, give --resume DIR"
        ),
    ))
}

/// Appends one JSON line in a single write, then syncs it.
pub fn append_line<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(&line)?;
    file.sync_data()
}

pub use crate::jsonl::repair_torn_tail;

/// Reads `trials.jsonl`; a torn last line (Ctrl-C mid-write) is ignored.
pub fn read_trials(path: &Path) -> io::Result<Vec<TrialRecord>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// `t,bytes,attempt,verified` per sample.
pub fn timeseries_csv(samples: &[Sample]) -> String {
    let mut out = String::from("t,bytes,attempt,verified\n");
    for s in samples {
        let _ = writeln!(out, "{:.4},{},{},{}", s.t, s.bytes, s.attempt, s.verified);
    }
    out
}

/// `t,latency_s,attempt,bytes,ok` per chunk request.
pub fn requests_csv(requests: &[RequestSample]) -> String {
    let mut out = String::from("t,latency_s,attempt,bytes,ok\n");
    for r in requests {
        let _ = writeln!(
            out,
            "{:.6},{:.6},{},{},{}",
            r.t, r.latency_s, r.attempt, r.bytes, r.ok
        );
    }
    out
}

/// Chaos events and the engine's failures, as JSON lines ordered by time on their shared clock.
pub fn events_jsonl(chaos: &[Event], failures: &[FailureRecord]) -> String {
    let mut lines: Vec<(f64, serde_json::Value)> = chaos
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok().map(|v| (e.t, v)))
        .collect();
    for f in failures {
        let mut v = serde_json::to_value(f).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("source".into(), "engine".into());
            obj.insert("event".into(), "attempt_failed".into());
        }
        lines.push((f.t, v));
    }
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    lines.into_iter().map(|(_, v)| format!("{v}\n")).collect()
}

/// `summary.md`, a campaign run's summary in Markdown: one row per trial, then each failed
/// expectation.
#[derive(Clone, Copy, Debug)]
pub struct SummaryMarkdown<'a> {
    /// The campaign's name (the title).
    pub campaign: &'a str,
    /// What the campaign reproduces (the first paragraph).
    pub description: &'a str,
    /// Trials not run, with why (the last section).
    pub skipped: &'a [(String, String)],
}

impl Exporter for SummaryMarkdown<'_> {
    type Input = [TrialRecord];

    fn file_name(&self) -> &'static str {
        "summary.md"
    }

    fn export(&self, records: &[TrialRecord]) -> String {
        let (campaign, description) = (self.campaign, self.description);
        let mut out = format!("# Campaign `{campaign}`\n\n{}\n\n", description.trim());
        let passed = records.iter().filter(|r| r.passed).count();
        let _ = writeln!(
            out,
            "{} trials, {passed} passed every expectation, {} did not.\n",
            records.len(),
            records.len() - passed
        );
        out.push_str("| trial | params | outcome | MiB/s | steady | model | vs model | time went mostly to | wasted MiB | attempts | expectations |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
        let mut sorted: Vec<&TrialRecord> = records.iter().collect();
        sorted.sort_by(|a, b| a.trial.cmp(&b.trial));
        for r in &sorted {
            let params = r
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let model = r
                .model_throughput_mib_s
                .map_or("-".into(), |m| format!("{m:.1}"));
            let ratio = r
                .throughput_vs_model
                .map_or("-".into(), |x| format!("{x:.2}"));
            let steady = r
                .steady_throughput_mib_s
                .map_or("-".into(), |x| format!("{x:.1}"));
            let mostly = r
                .time_breakdown
                .and_then(|b| b.largest().map(|a| (a, b.get(a) / b.total())))
                .map_or("-".into(), |(a, share)| {
                    format!("{} ({:.0}%)", a.name(), 100.0 * share)
                });
            let held = r.expectations.iter().filter(|v| v.pass).count();
            let _ = writeln!(
                out,
                "| {} | {} | {:?} | {:.1} | {steady} | {model} | {ratio} | {mostly} | {:.1} | {} | {held}/{} {} |",
                r.trial,
                params,
                r.outcome,
                r.throughput_mib_s,
                r.bytes_wasted as f64 / 1048576.0,
                r.attempts,
                r.expectations.len(),
                if r.passed { "pass" } else { "FAIL" }
            );
        }
        let failing: Vec<String> = sorted
            .iter()
            .flat_map(|r| {
                r.expectations.iter().filter(|v| !v.pass).map(move |v| {
                    format!(
                        "- {}: {} expected {}, was {}",
                        r.trial, v.name, v.expected, v.actual
                    )
                })
            })
            .collect();
        let attempts: Vec<String> = sorted
            .iter()
            .flat_map(|r| {
                r.failures
                    .iter()
                    .map(move |f| format!("- {}: {f}", r.trial))
            })
            .collect();
        if !attempts.is_empty() {
            out.push_str("\n## Failed attempts\n\n");
            out.push_str(&attempts.join("\n"));
            out.push('\n');
        }
        if !failing.is_empty() {
            out.push_str("\n## Failed expectations\n\n");
            out.push_str(&failing.join("\n"));
            out.push('\n');
        }
        if !self.skipped.is_empty() {
            out.push_str("\n## Skipped trials\n\n");
            for (id, reason) in self.skipped {
                let _ = writeln!(out, "- {id}: {reason}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::write_atomic;

    #[test]
    fn atomic_writes_and_torn_lines() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("a/b.json");
        write_atomic(&path, b"{}").expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"{}");
        let trials = tmp.path().join("trials.jsonl");
        fs::write(&trials, b"{\"schema\":\"rrbench.trial/1\",\"camp").expect("torn");
        assert!(
            read_trials(&trials).expect("read").is_empty(),
            "a torn line is ignored"
        );
        assert!(
            read_trials(&tmp.path().join("none"))
                .expect("missing")
                .is_empty()
        );
    }

    #[test]
    fn runs_started_in_the_same_second_get_their_own_directories() {
        let tmp = tempfile::tempdir().expect("tmp");
        let campaign = tmp.path().join("smoke");
        let stamp = "20260101T000000Z";
        let dirs: Vec<PathBuf> = (0..3)
            .map(|_| create_run_dir(&campaign, stamp, 7).expect("create"))
            .collect();
        assert_eq!(dirs[0], campaign.join("20260101T000000Z-7"));
        assert_eq!(dirs[1], campaign.join("20260101T000000Z-7-2"));
        let distinct: std::collections::BTreeSet<_> = dirs.iter().collect();
        assert_eq!(distinct.len(), 3, "{dirs:?}");
        assert!(dirs.iter().all(|d| d.is_dir()));
    }

    #[test]
    fn runs_racing_in_the_same_second_never_share_a_directory() {
        let tmp = tempfile::tempdir().expect("tmp");
        let campaign = tmp.path().join("smoke");
        let stamp = "20260101T000000Z";
        let racers = 8;
        let start = std::sync::Barrier::new(racers);
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..racers)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        create_run_dir(&campaign, stamp, 7).expect("create")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("racer"))
                .collect()
        });
        let distinct: std::collections::BTreeSet<_> = dirs.iter().collect();
        assert_eq!(distinct.len(), racers, "{dirs:?}");
        assert!(distinct.contains(&campaign.join("20260101T000000Z-7")));
        assert!(dirs.iter().all(|d| d.is_dir()));
    }

    fn record(trial: &str, delay: &str, passed: bool) -> TrialRecord {
        TrialRecord {
            schema: super::super::TRIAL_SCHEMA.into(),
            campaign: "smoke".into(),
            trial: trial.into(),
            cell: 0,
            repetition: 1,
            seed: 7,
            params: [("faults.wan.delay".to_string(), delay.into())].into(),
            policy: "elasticsearch".into(),
            outcome: if passed {
                crate::follower::Outcome::Completed
            } else {
                crate::follower::Outcome::Failed
            },
            failure: None,
            bytes_needed: 1 << 20,
            bytes_transferred: 1 << 20,
            bytes_wasted: if passed { 0 } else { 3 << 19 },
            duration_s: 1.0,
            throughput_mib_s: if passed { 95.0 } else { 1.3 },
            model_throughput_mib_s: (!passed).then_some(10.0),
            throughput_vs_model: (!passed).then_some(0.13),
            model_terms: None,
            warnings: Vec::new(),
            attempts: if passed { 1 } else { 2 },
            time_breakdown: (!passed).then(|| crate::follower::TimeBreakdown {
                network_s: 0.75,
                backoff_s: 0.25,
                ..Default::default()
            }),
            steady_throughput_mib_s: passed.then_some(97.5),
            failures: if passed {
                Vec::new()
            } else {
                vec![FailureRecord {
                    attempt: 1,
                    t: 0.5,
                    kind: crate::follower::FailureKind::Reset,
                    channel: Some(0),
                    channel_type: None,
                    message: "connection reset by peer".into(),
                    then: "attempt 2 of 2 in 0s, from zero".into(),
                }]
            },
            faults: Vec::new(),
            connections_reset: 0,
            leader_sessions_open: 0,
            leader_pinned_bytes: 0,
            leader_requests_forwarded: 0,
            followers: Vec::new(),
            leaders: Vec::new(),
            shards: Vec::new(),
            aggregate_throughput_mib_s: None,
            jain_index: None,
            tls: None,
            leader_clock: None,
            expectations: vec![super::super::Verdict {
                name: "outcome".into(),
                expected: "completed".into(),
                actual: if passed { "completed" } else { "failed" }.into(),
                pass: passed,
            }],
            passed,
        }
    }

    #[test]
    fn summary_md_has_a_row_per_trial_in_trial_order_then_the_failures() {
        let records = [record("t0002", "5ms", false), record("t0001", "0ms", true)];
        let summary = SummaryMarkdown {
            campaign: "smoke",
            description: "  Two trials.\n",
            skipped: &[],
        };
        assert_eq!(summary.file_name(), "summary.md");
        let expected = "# Campaign `smoke`\n\
             \n\
             Two trials.\n\
             \n\
             2 trials, 1 passed every expectation, 1 did not.\n\
             \n\
             | trial | params | outcome | MiB/s | steady | model | vs model | time went mostly to | \
             wasted MiB | attempts | expectations |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n\
             | t0001 | faults.wan.delay=\"0ms\" | Completed | 95.0 | 97.5 | - | - | - | 0.0 | 1 | \
             1/1 pass |\n\
             | t0002 | faults.wan.delay=\"5ms\" | Failed | 1.3 | - | 10.0 | 0.13 | network (75%) | 1.5 \
             | 2 | 0/1 FAIL |\n\
             \n\
             ## Failed attempts\n\
             \n\
             - t0002: attempt 1 failed at 0.50 s: reset: connection reset by peer; attempt 2 of 2 \
             in 0s, from zero\n\
             \n\
             ## Failed expectations\n\
             \n\
             - t0002: outcome expected completed, was failed\n";
        assert_eq!(summary.export(&records), expected);
        let skipped = [("t0003".to_string(), "needs root".to_string())];
        let with_skipped = SummaryMarkdown {
            skipped: &skipped,
            ..summary
        };
        assert_eq!(
            with_skipped.export(&records),
            format!("{expected}\n## Skipped trials\n\n- t0003: needs root\n")
        );
    }

    #[test]
    fn csv_has_a_header_and_a_row_per_sample() {
        let csv = timeseries_csv(&[
            Sample {
                t: 0.0,
                bytes: 0,
                attempt: 1,
                verified: 0,
            },
            Sample {
                t: 0.05,
                bytes: 10,
                attempt: 1,
                verified: 8,
            },
        ]);
        assert_eq!(
            csv,
            "t,bytes,attempt,verified\n0.0000,0,1,0\n0.0500,10,1,8\n"
        );
    }
}
