//! What the target directory holds for one recovery, as files: the open part files and (for the
//! resumable policy) the journal. How far each file has come is the [`Ledger`]'s business; this
//! is only the I/O behind it.
//!
//! The Elasticsearch and OpenSearch policies build a fresh store for every attempt on an
//! emptied target. The resumable policy keeps its store across attempts and rebuilds it, with its
//! ledger, from the journal after a process restart, re-reading and re-checking every journaled
//! chunk.

use std::sync::Arc;

use super::ledger::Ledger;
use crate::{
    index::{IndexError, Journal, JournalEntry, PartFile, Recorded, TargetDir},
    protocol::FileMeta,
};

/// The recovery's part files and journal.
#[derive(Debug)]
pub(crate) struct Store {
    files: Vec<FileMeta>,
    parts: Vec<Option<Arc<PartFile>>>,
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
            files,
            journal,
        })
    }

    /// Rebuilds the store and its ledger from a journal: finished files are re-verified whole,
    /// journaled chunks are read back and kept only if their CRC-32C still matches.
    pub(crate) fn resume(
        target: &TargetDir,
        recorded: Recorded,
    ) -> Result<(Self, Ledger), IndexError> {
        let mut ledger = Ledger::new(recorded.files.clone());
        let mut store = Self {
            parts: vec![None; recorded.files.len()],
            files: recorded.files,
            journal: None,
        };
        // A file may be finished on disk although its `Done` line was lost (killed between the
        // rename and the append): anything under its real name that verifies is kept.
        for (i, meta) in store.files.iter().enumerate() {
            if target.has_verified(meta) {
                ledger.mark_done(i);
            }
        }
        for &(file, offset, len, crc) in &recorded.chunks {
            let i = file as usize;
            if i >= store.files.len() || ledger.is_done(i) {
                continue;
            }
            let part = store.part(target, i)?;
            let intact = part
                .read_at(offset, len)
                .is_ok_and(|bytes| crc32c::crc32c(&bytes) == crc);
            if intact {
                // A chunk that overlaps one already kept is simply not kept twice.
                let _ = ledger.add_chunk(i, offset, len, crc);
            }
        }
        store.journal = Some(Journal::reopen(target.path())?);
        Ok((store, ledger))
    }

    /// The part file of file `i`, opened (keeping its contents) on first use.
    pub(crate) fn part(
        &mut self,
        target: &TargetDir,
        i: usize,
    ) -> Result<Arc<PartFile>, IndexError> {
        let (Some(slot), Some(meta)) = (self.parts.get_mut(i), self.files.get(i)) else {
            return Err(IndexError::UnsafeName(format!("file #{i}")));
        };
        if let Some(p) = slot {
            return Ok(p.clone());
        }
        let p = Arc::new(target.reopen_part(i, meta)?);
        *slot = Some(p.clone());
        Ok(p)
    }

    /// The listed metadata of file `i`.
    pub(crate) fn meta(&self, i: usize) -> Option<&FileMeta> {
        self.files.get(i)
    }

    /// File `i` is finished: its part file is no longer needed open.
    pub(crate) fn close_part(&mut self, i: usize) {
        if let Some(slot) = self.parts.get_mut(i) {
            *slot = None;
        }
    }

    /// Records a journal entry, if this store keeps a journal.
    pub(crate) fn journal(&mut self, entry: &JournalEntry) -> Result<(), IndexError> {
        match &mut self.journal {
            Some(j) => j.append(entry),
            None => Ok(()),
        }
    }
}
