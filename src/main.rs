//! The `rrbench` command: parses options, runs a subcommand, maps errors to exit codes.
//!
//! Exit codes: 0 success; 1 a recovery that failed or a runtime error; 2 bad input (an unknown
//! flag, a malformed size, a setting out of range, an empty or twice-given auth token, an
//! unusable API key or keys file, an API key over plaintext TCP without
//! --allow-plaintext-credentials, an index that does not fit, not a results directory); 3 a confident
//! regression found by `compare --fail-on-regression`; 130 interrupted by Ctrl-C.

mod agent_command;
mod campaign_command;
mod cli;
mod commands;
mod demo;
mod output;
mod progress_line;
mod recover_output;
mod report_command;
mod stop_signals;

use std::process::ExitCode;

use clap::Parser;
use rrbench::{
    agent::AgentStartError,
    auth::{ApiKeyError, AuthTokenError},
    campaign::{CampaignError, RunError},
    chaos::{FaultError, LinkError, ProxyError},
    compare::CompareError,
    follower::FollowerError,
    index::IndexError,
    leader::LeaderError,
    probe::ProbeError,
    report::ReportError,
    results::LoadError,
    settings::OutOfRange,
};

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::errln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::GenIndex(args) => commands::gen_index(args).await,
            Command::Leader(args) => commands::leader(args).await,
            Command::Recover(args) => commands::recover(args).await,
            Command::Proxy(args) => commands::proxy(args).await,
            Command::ServeApi(args) => commands::serve_api(args).await,
            Command::Link(args) => commands::link(args).await,
            Command::Probe(args) => commands::probe(args).await,
            Command::Campaign(cli::CampaignCommand::Run(args)) => campaign_command::run(args).await,
            Command::Report(args) => report_command::report(args),
            Command::Compare(args) => report_command::compare(args),
            Command::ApiKey(args) => commands::api_key(args),
            Command::Agent(args) => agent_command::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            output::errln!("error: {}", error_text(&e));
            let bad_input = |c: &(dyn std::error::Error + 'static)| {
                c.is::<OutOfRange>()
                    || c.is::<AuthTokenError>()
                    || c.downcast_ref::<ApiKeyError>()
                        .is_some_and(ApiKeyError::is_bad_input)
                    || c.downcast_ref::<LeaderError>()
                        .is_some_and(|e| matches!(e, LeaderError::Credentials(_)))
                    || c.downcast_ref::<FollowerError>()
                        .is_some_and(|e| matches!(e, FollowerError::Credentials(_)))
                    || c.is::<FaultError>()
                    || c.downcast_ref::<ProxyError>()
                        .is_some_and(|e| matches!(e, ProxyError::Fault(_)))
                    || c.downcast_ref::<LinkError>()
                        .is_some_and(|e| matches!(e, LinkError::Fault(_)))
                    || c.is::<CampaignError>()
                    || c.downcast_ref::<AgentStartError>()
                        .is_some_and(AgentStartError::is_bad_input)
                    || c.downcast_ref::<RunError>()
                        .is_some_and(RunError::is_bad_input)
                    || c.downcast_ref::<IndexError>()
                        .is_some_and(IndexError::is_bad_input)
                    || c.downcast_ref::<CompareError>()
                        .is_some_and(CompareError::is_bad_input)
                    || c.downcast_ref::<LoadError>()
                        .is_some_and(LoadError::is_bad_input)
                    || c.downcast_ref::<ProbeError>()
                        .is_some_and(ProbeError::is_bad_input)
                    || c.downcast_ref::<ReportError>()
                        .is_some_and(ReportError::is_bad_input)
            };
            if e.chain().any(bad_input) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The error and its causes, `top: cause: root`, each told once.
///
/// Causes come from two kinds of layer: `anyhow` contexts ("reading FILE"), which do not show
/// their cause, and `thiserror` variants, many of which show it in their own text ("{path}:
/// {source}") and also return it as their `source`. Printing every layer (`{:#}`) told such a
/// cause twice ("No such file or directory (os error 2): No such file or directory (os error
/// 2)"); a cause whose text is already shown is therefore left out.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        let part = part.trim_end();
        if part.is_empty() || text.contains(part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(part);
    }
    text
}

/// Keeps chunk-sized buffers on the heap instead of fresh `mmap`s.
///
/// glibc serves allocations above its mmap threshold (128 KiB at first) with `mmap` and returns
/// them with `munmap`, so every 1 MiB chunk buffer was faulted in page by page and thrown away:
/// perf showed 80-100k minor faults per GiB recovered and page-fault handling among the top kernel
/// costs. Raising the mmap and trim thresholds lets freed chunk buffers be reused. Chunks larger
/// than 64 MiB still get their own mapping.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    const THRESHOLD: libc::c_int = 64 << 20;
    // SAFETY: mallopt only changes allocator tuning parameters; it is called before any thread
    // starts, and failure (return 0) just leaves the defaults in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Shows {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_is_told_once_whether_or_not_its_parent_shows_it() {
        let os = || std::io::Error::from_raw_os_error(libc::ENOENT);
        let shown = anyhow::Error::new(Shows {
            path: "/x".into(),
            source: os(),
        })
        .context("loading the index in /x");
        assert_eq!(
            error_text(&shown),
            format!("loading the index in /x: /x: {}", os())
        );
        let hidden = anyhow::Error::new(os()).context("reading /y");
        assert_eq!(error_text(&hidden), format!("reading /y: {}", os()));
    }
}
