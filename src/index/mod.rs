//! The on-disk "index": the leader's file set and the follower's verified copy of it.
//!
//! [`generate`] writes a deterministic, incompressible file set shaped like a Lucene index;
//! [`IndexSnapshot`] is the leader's pinned view of a directory (name, length, CRC-32C per file),
//! [`IndexShards`] that of an index of several shards (`D/0/`, `D/1/`, ...);
//! [`TargetDir`] and [`PartFile`] are the follower's side: positional writes into a temporary
//! name, then length and checksum verification, fsync and rename. Around them: the checks a
//! leader's file list must pass before any file is created ([`check_listing`],
//! [`is_safe_file_name`]), free space ([`ensure_room`]), CRC-32C of files and chunks, and the
//! resumable policy's [`Journal`]. Nothing here touches the network.

mod checksum;
mod generate;
mod journal;
mod listing;
mod names;
mod shards;
mod snapshot;
mod space;
mod target;

pub use checksum::{BlockCrcs, CRC_BLOCK, Crc32cCombine, crc32c_combine, crc32c_file};
pub use generate::{GenerateSpec, GeneratedFile, generate, generate_cancellable, plan_files};
pub use journal::{Entry as JournalEntry, JOURNAL, Journal, Recorded};
pub use listing::{ListingLimits, check_listing};
pub use names::is_safe_file_name;
pub use shards::{IndexShards, generate_shards, shard_count, shard_dir, shard_seed};
pub use snapshot::{IndexFile, IndexSnapshot};
pub(crate) use space::human;
pub use space::{ensure_room, free_bytes, same_filesystem, with_headroom};
pub use target::{PARTS, PartFile, TargetDir};

use std::{io, path::PathBuf};

use crate::units::ByteSize;

/// Errors reading, generating or writing an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The generator was asked for an impossible shape.
    #[error("cannot generate {files} files in {size} bytes: need at least one byte per file")]
    TooSmall {
        /// Requested total size.
        size: u64,
        /// Requested file count.
        files: u32,
    },
    /// The file count is zero.
    #[error("an index needs at least one file")]
    NoFiles,
    /// The shard count is zero.
    #[error("an index needs at least one shard (--shards, or index.shards in a campaign)")]
    NoShards,
    /// Shard directories `0..n` with one missing.
    #[error(
        "{} has {found} shard directories but no shard {shard}: an index missing a shard is not \
         served (regenerate it with gen-index --shards)",
        dir.display()
    )]
    MissingShard {
        /// The index directory.
        dir: PathBuf,
        /// The first shard number missing.
        shard: u32,
        /// Numbered directories found.
        found: u32,
    },
    /// Too little free space for what is to be written; checked before writing any of it.
    #[error(
        "{} has {} free, but writing {} needs {} with headroom (5% + 64 MiB): choose a smaller \
         index (--size, or index.size in a campaign) or free some space",
        .dir.display(), space::human(*.free), space::human(*.size), space::human(*.needed)
    )]
    NoSpace {
        /// Where it would go.
        dir: PathBuf,
        /// Bytes to write.
        size: u64,
        /// Bytes to write with headroom.
        needed: u64,
        /// Bytes free there.
        free: u64,
    },
    /// The follower's target cannot hold what the leader lists.
    #[error(
        "{} has {} free, but the leader lists {} still to recover ({} with headroom): free \
         some space or recover into a larger filesystem (--dir)",
        .dir.display(), space::human(*.free), space::human(*.size), space::human(*.needed)
    )]
    TargetFull {
        /// The target directory.
        dir: PathBuf,
        /// Bytes still to write.
        size: u64,
        /// Bytes with headroom.
        needed: u64,
        /// Bytes free there.
        free: u64,
    },
    /// Generation stopped on request (Ctrl-C); the files it had written are removed.
    #[error("index generation was cancelled; the partial files were removed")]
    Cancelled,
    /// The generator's directory already holds files.
    #[error("{0} is not empty; give an empty or new directory")]
    NotEmpty(PathBuf),
    /// The follower's target holds files rrbench did not put there.
    #[error(
        "{0} is not empty and was not written by rrbench (no {marker} file); refusing to delete \
         its contents: give an empty or new directory",
        marker = target::MARKER
    )]
    ForeignTarget(PathBuf),
    /// A file name that is not a plain name inside the directory.
    #[error("unsafe file name {0:?}: only plain names inside the target directory are allowed")]
    UnsafeName(String),
    /// The file under a verified file's real name is not the one that was written (something
    /// moved another file there).
    #[error("{0}: the file under this name is not the one written and verified")]
    Replaced(PathBuf),
    /// The leader's file list names the same file twice.
    #[error("the file list names {0:?} more than once")]
    DuplicateName(String),
    /// The leader's file list has more files than the follower accepts.
    #[error(
        "the leader lists {files} files, more than max_files (--max-files) = {max}; raise it if \
         the index really has that many"
    )]
    TooManyFiles {
        /// Files listed.
        files: usize,
        /// The limit.
        max: u32,
    },
    /// The leader declared a file larger than the follower accepts.
    #[error(
        "the leader lists {name} at {len} bytes, more than max_file_size (--max-file-size) = \
         {max}; raise it if the index really has such files"
    )]
    FileTooLarge {
        /// File name.
        name: String,
        /// Length declared.
        len: u64,
        /// The limit.
        max: ByteSize,
    },
    /// A written file's length differs from the session's metadata.
    #[error("{name}: length {actual} does not match the expected {expected}")]
    LengthMismatch {
        /// File name.
        name: String,
        /// Length from the session.
        expected: u64,
        /// Length received.
        actual: u64,
    },
    /// A written file's checksum differs from the session's metadata.
    #[error("{name}: crc32c {actual:08x} does not match the expected {expected:08x}")]
    ChecksumMismatch {
        /// File name.
        name: String,
        /// CRC-32C from the session.
        expected: u32,
        /// CRC-32C of the bytes received.
        actual: u32,
    },
}

impl IndexError {
    /// Whether the error is the caller's input (exit code 2): a shape that cannot be generated,
    /// or one that does not fit.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::NoSpace { .. }
                | Self::TooSmall { .. }
                | Self::NoFiles
                | Self::NoShards
                | Self::MissingShard { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
