//! The leader's pinned view of an index directory.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{IndexError, checksum::BlockCrcs, names::is_safe_file_name};
use crate::protocol::FileMeta;

/// One file of a snapshot, kept open so a session can read it even if the directory changes.
#[derive(Clone, Debug)]
pub struct IndexFile {
    /// Name, length and checksum.
    pub meta: FileMeta,
    /// Open handle for positional reads.
    pub file: Arc<File>,
    /// The checksums of its blocks, taken in the pass that checksummed it (empty: none kept).
    pub blocks: BlockCrcs,
}

impl IndexFile {
    /// The CRC-32C of `len` bytes at `offset` without reading them, when the range is
    /// block-aligned (see [`BlockCrcs::range`]).
    pub fn chunk_crc(&self, offset: u64, len: u64) -> Option<u32> {
        self.blocks.range(offset, len)
    }
}

/// Every regular file of a directory with its length and CRC-32C, read once at load time; sorted
/// by name. Hidden files (such as the follower's marker) and subdirectories are not part of it.
#[derive(Clone, Debug)]
pub struct IndexSnapshot {
    dir: PathBuf,
    files: Arc<Vec<IndexFile>>,
}

impl IndexSnapshot {
    /// Scans `dir`, opening and checksumming every file.
    pub fn load(dir: &Path) -> Result<Self, IndexError> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(dir).map_err(IndexError::io(dir))? {
            let entry = entry.map_err(IndexError::io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let is_file = entry.file_type().map_err(IndexError::io(&path))?.is_file();
            if is_file && is_safe_file_name(&name) {
                entries.push((name, path));
            }
        }
        entries.sort();
        let mut files = Vec::with_capacity(entries.len());
        for (name, path) in entries {
            let file = File::open(&path).map_err(IndexError::io(&path))?;
            // Length and checksums from one read of the handle kept, so they describe its bytes.
            let blocks = BlockCrcs::read(&file, &path)?;
            files.push(IndexFile {
                meta: FileMeta {
                    name,
                    len: blocks.len(),
                    crc32c: blocks.crc(),
                },
                file: Arc::new(file),
                blocks,
            });
        }
        if files.is_empty() {
            return Err(IndexError::NoFiles);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            files: Arc::new(files),
        })
    }

    /// The directory this snapshot was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files, in fetch order.
    pub fn files(&self) -> &Arc<Vec<IndexFile>> {
        &self.files
    }

    /// The metadata list sent when a session opens.
    pub fn metas(&self) -> Vec<FileMeta> {
        self.files.iter().map(|f| f.meta.clone()).collect()
    }

    /// Total bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.meta.len).sum()
    }
}
