//! The demo's story: the embedded campaign file, the overrides `--quick` and the index options
//! add to it, and what each of its cells is called in the demo's table. Pure: no I/O.
//!
//! The story is `chaos/campaigns/demo-story.toml`, run as a campaign, so everything it writes
//! comes from the code paths `rrbench campaign run` and `rrbench report` use. This module does
//! not run it (see [`super`]).

use std::time::Duration;

use rrbench::{
    campaign::{Campaign, CampaignError, CampaignSpec},
    chaos::{Fault, FaultKind},
    units::{ByteSize, format_duration},
    vocabulary::{ConnectionProfile, Policy},
};

/// The campaign file, as shipped.
pub const STORY: &str = include_str!("../../chaos/campaigns/demo-story.toml");

/// Where the story file is in rrbench's repository.
pub const STORY_PATH: &str = "chaos/campaigns/demo-story.toml";

/// `--quick`: a 4 MiB index, and step 3's times scaled so its faults still strike (the file's
/// header lists the same overrides, so the quick story can be run as a campaign too).
pub const QUICK: &[&str] = &[
    "index.size=4mb",
    "index.files=6",
    "leader.max_bytes_per_sec=4mb",
    "settings.ping_schedule=100ms",
    "faults.stunnel.idle=300ms",
    "faults.cut.at=500ms",
];

/// The index options of `rrbench demo`, as `--set` overrides of the story.
#[derive(Clone, Debug, Default)]
pub struct IndexOptions {
    /// `--size`.
    pub size: Option<ByteSize>,
    /// `--files`.
    pub files: Option<u32>,
    /// `--seed`.
    pub seed: Option<u64>,
}

/// The smallest index step 3 works with: a recovery at step 3's leader rate (16mb/s, 4mb/s
/// with `--quick`) must outlast its idle timeout and its reset (2 s; 300 ms and 500 ms) by half
/// again, or 3a completes and 3c sees no reset.
pub fn check_size(
    quick: bool,
    size: Option<ByteSize>,
) -> Result<(), rrbench::settings::OutOfRange> {
    let smallest = if quick { 3 << 20 } else { 48 << 20 };
    match size {
        Some(size) if size.bytes() < smallest => Err(rrbench::settings::OutOfRange {
            setting: "demo index size",
            flag: "size",
            value: size.to_string(),
            range: "is at least 48mb (3mb with --quick): a smaller index is recovered before \
                    step 3's idle timeout and reset strike, and the story cannot be told",
        }),
        _ => Ok(()),
    }
}

/// The overrides a run applies to [`STORY`]: `--quick`'s, then the index options (which win).
pub fn overrides(quick: bool, index: &IndexOptions) -> Vec<String> {
    let mut o: Vec<String> = if quick {
        QUICK.iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    };
    let mut set = |key: &str, value: String| {
        o.retain(|x| !x.starts_with(&format!("{key}=")));
        o.push(format!("{key}={value}"));
    };
    if let Some(size) = index.size {
        set("index.size", size.to_string());
    }
    if let Some(files) = index.files {
        set("index.files", files.to_string());
    }
    if let Some(seed) = index.seed {
        set("index.seed", seed.to_string());
    }
    o
}

/// The story parsed with `overrides`, its trials in story order (the file's order, cell by
/// cell) rather than shuffled: a story is told in order.
pub fn parse(overrides: &[String]) -> Result<Campaign, CampaignError> {
    let mut campaign = Campaign::parse_with(STORY, None, overrides)?;
    campaign.trials.sort_by_key(|t| (t.cell, t.repetition));
    Ok(campaign)
}

/// The campaign text a results directory keeps: the file and its overrides as comments, as
/// `rrbench campaign run --set` writes it, so `campaign run FILE --set ... --resume DIR` can
/// continue a kept run.
pub fn results_text(overrides: &[String]) -> String {
    let mut text = STORY.to_string();
    for o in overrides {
        text.push_str(&format!("\n# rrbench campaign run --set {o}"));
    }
    text
}

/// One cell of the story as the demo names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// `1a`, `2`, `3c`: the chapter (what faults are on) and, when it has several cells, a letter.
    pub label: String,
    /// The chapter: 1 clean, 2 the WAN, 3 the idle timeout.
    pub chapter: u8,
    /// What the cell runs under, from its resolved settings and faults.
    pub condition: String,
}

/// The chapter a cell belongs to, from the faults it switches on: an idle timeout, else a
/// latency that adds time, else none.
fn chapter(cell: &CampaignSpec) -> u8 {
    let faults = cell.fault_list();
    if faults
        .iter()
        .any(|f| matches!(f.kind, FaultKind::IdleTimeout(_)))
    {
        3
    } else if faults.iter().any(adds_delay) {
        2
    } else {
        1
    }
}

/// Whether `f` is a latency that adds time (the story keeps its WAN on at 0 ms elsewhere).
fn adds_delay(f: &Fault) -> bool {
    matches!(f.kind, FaultKind::Latency(l) if !(l.delay.is_zero() && l.jitter.is_zero()))
}

/// Every cell's step, in cell order.
pub fn steps(cells: &[CampaignSpec]) -> Vec<Step> {
    let chapters: Vec<u8> = cells.iter().map(chapter).collect();
    let mut steps = Vec::with_capacity(cells.len());
    for (i, cell) in cells.iter().enumerate() {
        let c = chapters[i];
        let siblings = chapters.iter().filter(|x| **x == c).count();
        let nth = chapters[..i].iter().filter(|x| **x == c).count();
        let label = if siblings > 1 {
            format!("{c}{}", (b'a' + nth.min(25) as u8) as char)
        } else {
            c.to_string()
        };
        steps.push(Step {
            label,
            chapter: c,
            condition: condition(cell),
        });
    }
    steps
}

/// A title for each chapter, printed before its first step.
pub fn chapter_title(chapter: u8) -> &'static str {
    match chapter {
        1 => "Elasticsearch's defaults on a clean path, then the rate limit off",
        2 => "the same without a limit behind a WAN: the window sets the pace",
        _ => "stunnel's idle timeout on the intra-cluster profile, then a reset",
    }
}

fn rate(r: ByteSize) -> String {
    if r.bytes() == 0 {
        "unlimited".into()
    } else {
        format!("{r}/s")
    }
}

fn duration(d: Duration) -> String {
    format_duration(d)
}

/// What a cell runs under, in a few words: rate limits, channels, then the faults that act
/// and the ping, in the order a reader meets them.
pub fn condition(cell: &CampaignSpec) -> String {
    let mut parts = Vec::new();
    let (leader, follower) = (
        cell.leader.max_bytes_per_sec,
        cell.settings.max_bytes_per_sec,
    );
    parts.push(match (leader.bytes(), follower.bytes()) {
        (l, f) if l == f => rate(leader),
        (_, 0) => format!("{} leader", rate(leader)),
        (0, _) => format!("{} follower", rate(follower)),
        _ => format!("{} leader, {} follower", rate(leader), rate(follower)),
    });
    if cell.settings.connection_profile == ConnectionProfile::IntraCluster {
        parts.push(format!("{} channels", cell.settings.channel_types().len()));
    }
    let faults = cell.fault_list();
    let acting: Vec<&Fault> = faults
        .iter()
        .filter(|f| !matches!(f.kind, FaultKind::Latency(_)) || adds_delay(f))
        .collect();
    let rank = |f: &&Fault| match f.kind {
        FaultKind::Latency(_) => 0,
        FaultKind::IdleTimeout(_) => 1,
        _ => 3,
    };
    let mut words: Vec<(u8, String)> = acting.iter().map(|f| (rank(f), fault_words(f))).collect();
    let idle = acting
        .iter()
        .any(|f| matches!(f.kind, FaultKind::IdleTimeout(_)));
    let ping = cell
        .settings
        .policy
        .ping_schedule(cell.settings.ping_schedule);
    if idle || ping.is_some() {
        let ping = match ping {
            Some(p) => format!("ping {}", duration(p)),
            None => "no ping".into(),
        };
        words.push((2, ping));
    }
    words.sort_by_key(|(rank, _)| *rank);
    parts.extend(words.into_iter().map(|(_, w)| w));
    if acting.is_empty() {
        parts.push("clean".into());
    }
    parts.join(", ")
}

fn fault_words(f: &Fault) -> String {
    match &f.kind {
        FaultKind::Latency(l) if l.jitter.is_zero() => {
            format!("+{} each way", duration(l.delay))
        }
        FaultKind::Latency(l) => format!("+{} ±{} each way", duration(l.delay), duration(l.jitter)),
        FaultKind::IdleTimeout(i) => format!("idle {}", duration(i.idle)),
        FaultKind::Reset(r) => match r.after_bytes {
            Some(b) => format!("reset after {b}"),
            None => format!("reset at {}", duration(f.schedule.start)),
        },
        other => other.type_name().to_string(),
    }
}

/// The policy's name as the table shows it.
pub fn policy(cell: &CampaignSpec) -> &'static str {
    match cell.settings.policy {
        Policy::Elasticsearch => "elasticsearch",
        Policy::Opensearch => "opensearch",
        Policy::Resumable => "resumable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_too_small_for_step_3_is_refused() {
        let mib = |n: u64| Some(ByteSize::mib(n));
        assert!(check_size(false, mib(16)).is_err());
        assert!(check_size(false, mib(48)).is_ok() && check_size(false, None).is_ok());
        assert!(check_size(true, mib(2)).is_err() && check_size(true, mib(4)).is_ok());
    }

    #[test]
    fn the_story_parses_in_order_with_and_without_quick() {
        for quick in [false, true] {
            let o = overrides(quick, &IndexOptions::default());
            let c = parse(&o).expect("the story parses");
            let cells: Vec<usize> = c.trials.iter().map(|t| t.cell).collect();
            assert_eq!(cells, (0..c.cells.len()).collect::<Vec<_>>(), "story order");
            let labels: Vec<String> = steps(&c.cells).into_iter().map(|s| s.label).collect();
            assert_eq!(labels, ["1a", "1b", "2", "3a", "3b", "3c", "3d"]);
        }
    }

    #[test]
    fn quick_scales_step_three_and_the_index_options_win() {
        let o = overrides(
            true,
            &IndexOptions {
                size: Some(ByteSize::mib(2)),
                files: None,
                seed: Some(9),
            },
        );
        let c = parse(&o).expect("parses");
        assert!(
            c.cells
                .iter()
                .all(|cell| cell.index.size == ByteSize::mib(2))
        );
        assert!(c.cells.iter().all(|cell| cell.index.seed == 9));
        let steps = steps(&c.cells);
        assert_eq!(
            steps[3].condition,
            "4mb/s leader, 13 channels, idle 300ms, no ping"
        );
        assert_eq!(
            steps[5].condition,
            "4mb/s leader, 13 channels, idle 300ms, ping 100ms, reset at 500ms"
        );
        assert_eq!(steps[0].condition, "40mb/s, clean");
        assert_eq!(steps[2].condition, "unlimited, +25ms each way");
    }

    #[test]
    fn the_results_keep_the_overrides_as_campaign_run_writes_them() {
        let text = results_text(&["index.size=4mb".to_string()]);
        assert!(text.starts_with(STORY));
        assert!(text.ends_with("\n# rrbench campaign run --set index.size=4mb"));
    }
}
