//! JSON-lines files that survive a crash mid-append: the results' `trials.jsonl` and the
//! resumable policy's journal.

use std::{
    fs::{self, OpenOptions},
    io,
    path::Path,
};

/// Cuts a torn last line (a write interrupted by Ctrl-C, a crash or kill -9) off a JSON-lines
/// file, so the next appended line starts on a line of its own instead of being glued to the
/// torn one (which would make both unreadable).
pub fn repair_torn_tail(path: &Path) -> io::Result<()> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(whole as u64)?;
    }
    Ok(())
}
