//! Where `rrbench recover`'s standard output goes: stdout, or `--logfile` (appended to, as
//! iperf3 does). Every line is written and flushed on its own, so an interrupted run loses
//! nothing it printed.

use std::{
    fs::File,
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
};

use super::OutputError;

/// Stdout or the log file.
#[derive(Debug)]
pub enum Sink {
    /// The process's stdout; a reader that went away (`| head`) is not an error.
    Stdout,
    /// `--logfile`, opened for appending.
    File {
        /// As given, for messages.
        path: PathBuf,
        /// Unbuffered: one write per line.
        file: File,
    },
}

impl Sink {
    /// Stdout, or `logfile` opened for appending (created if missing).
    pub fn open(logfile: Option<&Path>) -> Result<Self, OutputError> {
        let Some(path) = logfile else {
            return Ok(Self::Stdout);
        };
        let file = File::options()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|source| OutputError::OpenLog {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self::File {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Whether lines land on a terminal (then the progress line would mix with them).
    pub fn is_terminal(&self) -> bool {
        match self {
            Self::Stdout => std::io::stdout().is_terminal(),
            Self::File { file, .. } => file.is_terminal(),
        }
    }

    /// Writes `text` and a line break, and flushes.
    pub fn line(&mut self, text: &str) -> Result<(), OutputError> {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        match self {
            Self::Stdout => {
                let mut out = std::io::stdout().lock();
                match out.write_all(&bytes).and_then(|()| out.flush()) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                    other => other.map_err(|source| OutputError::Write {
                        target: "stdout".into(),
                        source,
                    }),
                }
            }
            Self::File { path, file } => file
                .write_all(&bytes)
                .and_then(|()| file.flush())
                .map_err(|source| OutputError::Write {
                    target: path.display().to_string(),
                    source,
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_file_is_appended_to_line_by_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("out.log");
        std::fs::write(&path, "earlier run\n").expect("write");
        let mut sink = Sink::open(Some(&path)).expect("opens");
        sink.line("one").expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "earlier run\none\n",
            "written at once, after what was there"
        );
        let missing = dir.path().join("no/such/dir/out.log");
        let e = Sink::open(Some(&missing)).expect_err("no directory");
        assert!(e.to_string().contains("no/such/dir/out.log"), "{e}");
        assert!(
            std::error::Error::source(&e).is_some(),
            "the cause is chained, not repeated"
        );
    }
}
