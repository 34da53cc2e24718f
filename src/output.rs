//! Printing that never panics: `println!` and `eprintln!` panic when the reader has gone away
//! (`rrbench ... | head -1`, `2>&1 | head -1`), and exit 101 with a panic message nobody reads.
//!
//! Here a closed stdout is not an error: the rest of stdout is dropped and the command finishes
//! its work with its own exit code (a recovery's results are on disk whether or not anyone reads
//! the summary). Other stdout errors (a full disk under `> file`) are returned. Writes to stderr
//! ignore every error: a diagnostic that cannot be shown must not stop the work.

use std::{
    io::{self, Write},
    sync::atomic::{AtomicBool, Ordering},
};

/// Set once a stdout write met a closed pipe: later writes are skipped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout and flushes; a reader that went away is not an error.
pub fn stdout(text: &str) -> io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}

/// Writes `text` to stderr; any error (a closed pipe) is ignored.
pub fn stderr(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// `println!` that returns an [`io::Result`] instead of panicking (see [`stdout`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics (see [`stderr`]).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that never panics (see [`stderr`]).
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::output::stderr(&format!($($arg)*))
    };
}

pub(crate) use {err, errln, outln};
