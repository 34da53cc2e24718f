//! What to try after the demo: commands to paste, each checked by a test to parse and to name
//! campaign files that exist.

use std::path::Path;

/// Each a title and its commands (what follows the binary; no quoting needed, so the test can
/// split them on spaces and parse them).
pub const NEXT_STEPS: &[(&str, &[&str])] = &[
    (
        "the full matrix: the three policies under a reset every 3 s, then the WAN sweep (RTT x window x chunk size against the model)",
        &[
            "campaign run chaos/campaigns/policy-shootout.toml",
            "campaign run chaos/campaigns/wan-latency-sweep.toml",
        ],
    ),
    (
        "this story as a campaign, five runs of each step (plots, report.html, compare-able)",
        &["campaign run chaos/campaigns/demo-story.toml --set repetitions=5"],
    ),
    (
        "a real path: serve an index on one host, probe it from the other (RTT, throughput, idle timeout, the settings that fit)",
        &[
            "gen-index --dir /tmp/rr-leader --size 256mb --files 40",
            "leader --dir /tmp/rr-leader --listen 0.0.0.0:9443",
            "probe --to 10.0.0.5:9443",
        ],
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
pub fn what_next(bin: &str) -> String {
    let mut text = String::from("what next:");
    for (title, commands) in NEXT_STEPS {
        text.push_str(&format!("\n  {title}"));
        for command in *commands {
            text.push_str(&format!("\n    {bin} {command}"));
        }
    }
    if !Path::new(super::story::STORY_PATH).is_file() {
        text.push_str("\n  (campaign files are in chaos/campaigns/ of rrbench's repository)");
    }
    text
}

/// How the user ran rrbench (`rrbench`, `target/release/rrbench`), so the hints can be pasted.
pub fn invoked_as() -> String {
    std::env::args()
        .next()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "rrbench".into())
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
