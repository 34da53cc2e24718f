//! A self-updating progress line on stderr, drawn only when stderr is a terminal.

use std::{
    io::IsTerminal,
    sync::Arc,
    time::{Duration, Instant},
};

use rrbench::follower::Progress;
use tokio::task::JoinHandle;

/// Redraws the progress line every 200 ms until dropped.
pub struct ProgressLine {
    task: Option<JoinHandle<()>>,
}

impl ProgressLine {
    /// Starts drawing, unless `enabled` is false or stderr is not a terminal.
    pub fn start(progress: Arc<Progress>, enabled: bool) -> Self {
        Self::with_prefix(progress, enabled, String::new())
    }

    /// Like [`ProgressLine::start`], with `prefix` before the counters.
    pub fn with_prefix(progress: Arc<Progress>, enabled: bool, prefix: String) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self { task: None };
        }
        let start = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                crate::output::err!("\r\x1b[2K{prefix}{}", progress.line(start.elapsed()));
            }
        });
        Self { task: Some(task) }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            crate::output::err!("\r\x1b[2K");
        }
    }
}

/// Writes `text` to stdout; a reader that went away (`rrbench ... | head`) is not an error
/// (see [`crate::output`]).
pub fn print_stdout(text: &str) -> std::io::Result<()> {
    crate::output::stdout(text)
}
