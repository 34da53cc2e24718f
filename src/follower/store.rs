//! What the target directory holds for one recovery: per file, done or the chunks received,
//! the open part files, and (for the resumable policy) the journal.
//!
//! The Elasticsearch and OpenSearch policies build a fresh store for every attempt on an
//! emptied target. The resumable policy keeps its store across attempts and rebuilds it from the
//! journal after a process restart, re-reading and re-checking every journaled chunk.

use std::sync::Arc;

use super::assembler::FileAssembler;
use crate::{
    index::{IndexError, Journal, JournalEntry, PartFile, Recorded, TargetDir},
    protocol::FileMeta,
};

/// The recovery's files and how far each has come.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) files: Vec<FileMeta>,
    pub(crate) parts: Vec<Option<Arc<PartFile>>>,
    pub(crate) assemblers: Vec<FileAssembler>,
    pub(crate) done: Vec<bool>,
    journal: Option<Journal>,
}

impl Store {
    /// Nothing received yet; with `journaled`, a new journal records what arrives.
    pub(crate) fn fresh(
        target: &TargetDir,
        files: Vec<FileMeta>,
        journaled: bool,
    ) -> Result<Self, IndexError> {
        let journal = journaled
            .then(|| Journal::create(target.path(), &files))
            .transpose()?;
        Ok(Self {
            parts: vec![None; files.len()],
            assemblers: files.iter().map(|f| FileAssembler::new(f.len)).collect(),
            done: vec![false; files.len()],
            files,
            journal,
        })
    }

    /// Rebuilds the store from a journal: finished files are re-verified whole, journaled chunks
    /// are read back and kept only if their CRC-32C still matches.
    pub(crate) fn resume(target: &TargetDir, recorded: Recorded) -> Result<Self, IndexError> {
        let mut store = Self::fresh_without_journal(recorded.files);
        // A file may be finished on disk although its `Done` line was lost (killed between the
        // rename and the append): anything under its real name that verifies is kept.
        for (i, meta) in store.files.iter().enumerate() {
            store.done[i] = target.has_verified(meta);
        }
        for &(file, offset, len, crc) in &recorded.chunks {
            let i = file as usize;
            if i >= store.files.len() || store.done[i] {
                continue;
            }
            let part = store.part(target, i)?;
            let intact = part
                .read_at(offset, len)
                .is_ok_and(|bytes| crc32c::crc32c(&bytes) == crc);
            if intact {
                // A chunk that overlaps one already kept is simply not kept twice.
                let _ = store.assemblers[i].add(offset, len, crc);
            }
        }
        store.journal = Some(Journal::reopen(target.path())?);
        Ok(store)
    }

    fn fresh_without_journal(files: Vec<FileMeta>) -> Self {
        Self {
            parts: vec![None; files.len()],
            assemblers: files.iter().map(|f| FileAssembler::new(f.len)).collect(),
            done: vec![false; files.len()],
            files,
            journal: None,
        }
    }

    /// The part file of file `i`, opened (keeping its contents) on first use.
    pub(crate) fn part(
        &mut self,
        target: &TargetDir,
        i: usize,
    ) -> Result<Arc<PartFile>, IndexError> {
        if let Some(p) = &self.parts[i] {
            return Ok(p.clone());
        }
        let p = Arc::new(target.reopen_part(i, &self.files[i])?);
        self.parts[i] = Some(p.clone());
        Ok(p)
    }

    /// Per file, the byte ranges still to fetch.
    pub(crate) fn missing_ranges(&self) -> Vec<Vec<(u64, u64)>> {
        self.assemblers
            .iter()
            .zip(&self.done)
            .map(|(a, &done)| if done { Vec::new() } else { a.missing() })
            .collect()
    }

    /// Bytes on disk and verified: finished files plus checked chunks of the others.
    pub(crate) fn persisted(&self) -> u64 {
        self.files
            .iter()
            .zip(&self.done)
            .zip(&self.assemblers)
            .map(|((f, &done), a)| if done { f.len } else { a.received() })
            .sum()
    }

    /// Bytes and count of finished files.
    pub(crate) fn finished(&self) -> (u64, u64) {
        self.files
            .iter()
            .zip(&self.done)
            .filter(|(_, d)| **d)
            .fold((0, 0), |(b, n), (f, _)| (b + f.len, n + 1))
    }

    /// Records a journal entry, if this store keeps a journal.
    pub(crate) fn journal(&mut self, entry: &JournalEntry) -> Result<(), IndexError> {
        match &mut self.journal {
            Some(j) => j.append(entry),
            None => Ok(()),
        }
    }
}
