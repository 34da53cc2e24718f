//! The resumable policy's journal: which chunks of which files are on disk and verified.
//!
//! JSON lines in the target directory: first the session's file list, then one line per chunk
//! written (after its CRC-32C was checked) and one per file verified and renamed. A line is
//! written after the bytes it describes, so a crash can lose the tail of the journal (those
//! chunks are fetched again) but never claim bytes that are not there; on resume every
//! journaled chunk is read back and checked against its CRC-32C anyway, so a torn write or a
//! lost page is caught, not trusted.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::IndexError;
use crate::protocol::FileMeta;

/// The journal's file name in the target directory.
pub const JOURNAL: &str = ".rrbench-journal";

/// One journal line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    /// The file list the journal is about.
    Files {
        /// Name, length and checksum of every file.
        files: Vec<FileMeta>,
    },
    /// A chunk written at its offset after its checksum matched.
    Chunk {
        /// File index.
        file: u32,
        /// Offset.
        offset: u64,
        /// Length.
        len: u64,
        /// CRC-32C of the bytes.
        crc: u32,
    },
    /// A file verified whole, fsynced and renamed to its real name.
    Done {
        /// File index.
        file: u32,
    },
}

/// What a journal recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The file list.
    pub files: Vec<FileMeta>,
    /// Chunks written: (file, offset, len, crc).
    pub chunks: Vec<(u32, u64, u64, u32)>,
    /// Files finished.
    pub done: Vec<u32>,
}

/// An open journal, appended to as chunks land.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Starts a new journal for `files`, replacing any old one.
    pub fn create(dir: &Path, files: &[FileMeta]) -> Result<Self, IndexError> {
        let path = dir.join(JOURNAL);
        let file = File::create(&path).map_err(IndexError::io(&path))?;
        let mut journal = Self { path, file };
        journal.append(&Entry::Files {
            files: files.to_vec(),
        })?;
        Ok(journal)
    }

    /// Continues an existing journal. A torn last line (the process was killed mid-append) is
    /// cut off first: appended to, it would glue the next entry to the torn bytes and make it
    /// unreadable too.
    pub fn reopen(dir: &Path) -> Result<Self, IndexError> {
        let path = dir.join(JOURNAL);
        crate::jsonl::repair_torn_tail(&path).map_err(IndexError::io(&path))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(IndexError::io(&path))?;
        Ok(Self { path, file })
    }

    /// Appends one line (one `write`: a killed process loses nothing already written).
    pub fn append(&mut self, entry: &Entry) -> Result<(), IndexError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| IndexError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(IndexError::io(&self.path))
    }

    /// Reads the journal in `dir`, if there is one. A line that does not parse (a torn write)
    /// is skipped, not taken as the end: every entry is re-checked against the disk on resume,
    /// so reading past a bad line can only find more bytes to keep, never trust wrong ones.
    pub fn read(dir: &Path) -> Result<Option<Recorded>, IndexError> {
        let path = dir.join(JOURNAL);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IndexError::Io { path, source: e }),
        };
        let mut recorded = Recorded::default();
        let mut has_files = false;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(IndexError::io(&path))?;
            let Ok(entry) = serde_json::from_str::<Entry>(&line) else {
                continue;
            };
            match entry {
                Entry::Files { files } => {
                    recorded.files = files;
                    has_files = true;
                }
                Entry::Chunk {
                    file,
                    offset,
                    len,
                    crc,
                } => recorded.chunks.push((file, offset, len, crc)),
                Entry::Done { file } => recorded.done.push(file),
            }
        }
        Ok(has_files.then_some(recorded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_round_trips_and_survives_a_torn_tail() {
        let tmp = tempfile::tempdir().expect("tmp");
        assert_eq!(Journal::read(tmp.path()).expect("read"), None);
        let files = vec![FileMeta {
            name: "_0.fdt".into(),
            len: 10,
            crc32c: 1,
        }];
        let mut j = Journal::create(tmp.path(), &files).expect("create");
        j.append(&Entry::Chunk {
            file: 0,
            offset: 0,
            len: 5,
            crc: 7,
        })
        .expect("chunk");
        drop(j);
        let mut j = Journal::reopen(tmp.path()).expect("reopen");
        j.append(&Entry::Done { file: 0 }).expect("done");
        std::fs::OpenOptions::new()
            .append(true)
            .open(tmp.path().join(JOURNAL))
            .and_then(|mut f| f.write_all(br#"{"entry":"chu"#))
            .expect("torn");
        let r = Journal::read(tmp.path()).expect("read").expect("recorded");
        assert_eq!(r.files, files);
        assert_eq!(r.chunks, vec![(0, 0, 5, 7)]);
        assert_eq!(r.done, vec![0]);
    }

    /// kill -9 mid-append, then a run that appends more: its entries must stay readable.
    #[test]
    fn entries_appended_after_a_torn_tail_are_kept() {
        let tmp = tempfile::tempdir().expect("tmp");
        let files = vec![FileMeta {
            name: "_0.fdt".into(),
            len: 10,
            crc32c: 1,
        }];
        drop(Journal::create(tmp.path(), &files).expect("create"));
        std::fs::OpenOptions::new()
            .append(true)
            .open(tmp.path().join(JOURNAL))
            .and_then(|mut f| f.write_all(br#"{"entry":"chu"#))
            .expect("torn");
        let mut j = Journal::reopen(tmp.path()).expect("reopen");
        let chunk = Entry::Chunk {
            file: 0,
            offset: 0,
            len: 10,
            crc: 9,
        };
        j.append(&chunk).expect("chunk");
        j.append(&Entry::Done { file: 0 }).expect("done");
        let r = Journal::read(tmp.path()).expect("read").expect("recorded");
        assert_eq!(r.chunks, vec![(0, 0, 10, 9)]);
        assert_eq!(r.done, vec![0]);
    }
}
