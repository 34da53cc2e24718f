//! How far each file of one recovery has come: the session's file list, per file the chunks
//! received (an assembler folding their checksums) and whether it is verified. Pure: the bytes
//! themselves are on disk (see [`super::store`]).
//!
//! The restarting policies start every attempt with a fresh ledger. The resumable policy keeps
//! its ledger across attempts and rebuilds it from the journal after a process restart.

use super::assembler::{BadChunk, FileAssembler};
use crate::protocol::FileMeta;

/// The recovery's files and how far each has come.
#[derive(Debug)]
pub struct Ledger {
    files: Vec<FileMeta>,
    assemblers: Vec<FileAssembler>,
    done: Vec<bool>,
}

impl Ledger {
    /// Nothing received yet.
    pub fn new(files: Vec<FileMeta>) -> Self {
        Self {
            assemblers: files.iter().map(|f| FileAssembler::new(f.len)).collect(),
            done: vec![false; files.len()],
            files,
        }
    }

    /// The session's file list.
    pub fn files(&self) -> &[FileMeta] {
        &self.files
    }

    /// Whether file `i` is verified (and renamed to its real name).
    pub fn is_done(&self, i: usize) -> bool {
        self.done.get(i).copied().unwrap_or(false)
    }

    /// File `i` is verified.
    pub fn mark_done(&mut self, i: usize) {
        if let Some(d) = self.done.get_mut(i) {
            *d = true;
        }
    }

    /// Records a chunk of file `i` received, checked and written.
    pub fn add_chunk(&mut self, i: usize, offset: u64, len: u64, crc: u32) -> Result<(), BadChunk> {
        match self.assemblers.get_mut(i) {
            Some(a) => a.add(offset, len, crc),
            None => Err(BadChunk {
                offset,
                len,
                file_len: 0,
            }),
        }
    }

    /// Whether every byte of file `i` has arrived.
    pub fn is_complete(&self, i: usize) -> bool {
        self.assemblers
            .get(i)
            .is_some_and(FileAssembler::is_complete)
    }

    /// CRC-32C of what arrived of file `i` (the whole file's once complete).
    pub fn crc(&self, i: usize) -> u32 {
        self.assemblers.get(i).map_or(0, FileAssembler::crc)
    }

    /// Files whose every byte arrived but which are not verified yet (a resumed file whose last
    /// chunk landed just before a crash; an empty file).
    pub fn complete_but_not_done(&self) -> Vec<usize> {
        (0..self.files.len())
            .filter(|&i| !self.done[i] && self.assemblers[i].is_complete())
            .collect()
    }

    /// Per file, the byte ranges still to fetch.
    pub fn missing_ranges(&self) -> Vec<Vec<(u64, u64)>> {
        self.assemblers
            .iter()
            .zip(&self.done)
            .map(|(a, &done)| if done { Vec::new() } else { a.missing() })
            .collect()
    }

    /// Bytes on disk and verified: finished files plus checked chunks of the others.
    pub fn persisted(&self) -> u64 {
        self.files
            .iter()
            .zip(&self.done)
            .zip(&self.assemblers)
            .map(|((f, &done), a)| if done { f.len } else { a.received() })
            .sum()
    }

    /// Bytes of the whole index.
    pub fn total(&self) -> u64 {
        self.files.iter().map(|f| f.len).sum()
    }

    /// Bytes and count of finished files.
    pub fn finished(&self) -> (u64, u64) {
        self.files
            .iter()
            .zip(&self.done)
            .filter(|(_, d)| **d)
            .fold((0, 0), |(b, n), (f, _)| (b + f.len, n + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, len: u64) -> FileMeta {
        FileMeta {
            name: name.into(),
            len,
            crc32c: 0,
        }
    }

    #[test]
    fn accounts_finished_files_and_received_chunks() {
        let mut l = Ledger::new(vec![meta("a", 10), meta("b", 0), meta("c", 30)]);
        assert_eq!(
            l.complete_but_not_done(),
            vec![1],
            "the empty file is complete at once"
        );
        l.add_chunk(0, 0, 10, 0).expect("fits");
        l.mark_done(0);
        l.add_chunk(2, 10, 10, 0).expect("fits");
        assert_eq!(l.persisted(), 20);
        assert_eq!(l.finished(), (10, 1));
        assert_eq!(
            l.missing_ranges(),
            vec![vec![], vec![], vec![(0, 10), (20, 30)]]
        );
        assert!(l.add_chunk(7, 0, 1, 0).is_err(), "no such file");
        assert_eq!(l.total(), 40);
    }
}
