//! What goes into a [`super::Recovery`] (events: what the driver saw happen) and what comes out
//! (actions: what the driver is to do). Plain data.

use std::time::Duration;

use bytes::Bytes;

use super::super::{failure::Failure, window::ChunkRequest};
use crate::protocol::FileMeta;

/// Something the driver saw happen. Every event of an attempt arrives before the driver performs
/// that attempt's [`Action::AbortAttempt`]; after it, none of the old attempt's do.
#[derive(Clone, Debug)]
pub enum Event {
    /// [`Action::Connect`] succeeded: every channel is open and greeted.
    Connected,
    /// [`Action::Connect`] failed.
    ConnectFailed(Failure),
    /// The connection lost a channel (the ones in flight on it fail on their own); the next
    /// request needs a new connection.
    ChannelLost {
        /// Which channel.
        channel: usize,
    },
    /// The leader answered [`Action::OpenSession`].
    SessionOpened {
        /// Session id.
        session: u64,
        /// The files to recover.
        files: Vec<FileMeta>,
    },
    /// [`Action::OpenSession`] failed (a transport error or an unexpected answer).
    OpenSessionFailed(Failure),
    /// [`Action::PrepareStore`] is done: the target holds what the plan says, with room for the
    /// rest.
    StoreReady,
    /// The leader answered [`Action::RequestChunk`] `seq` with a chunk.
    ChunkArrived {
        /// The request's sequence number.
        seq: u64,
        /// What came back.
        reply: ChunkReply,
    },
    /// [`Action::RequestChunk`] `seq` failed (a transport error or an unexpected answer).
    ChunkFailed {
        /// The request's sequence number.
        seq: u64,
        /// Why.
        failure: Failure,
    },
    /// [`Action::WriteChunk`] `seq` is throttled, written and journaled.
    ChunkWritten {
        /// The request's sequence number.
        seq: u64,
        /// How long the follower's rate limiter held it before the write.
        throttled: Duration,
    },
    /// [`Action::FinalizeFile`] is done: the file is verified, fsynced, renamed and journaled.
    FileFinalized {
        /// The file's index in the list.
        file: usize,
        /// How long verifying, fsyncing and renaming took (the model's per-file term).
        took: Duration,
    },
    /// A local action (clearing, preparing, writing, finalizing, syncing) failed.
    LocalFailed(Failure),
    /// [`Action::FinishAttempt`] is done: the target directory is synced.
    AttemptFinished,
    /// The user asked to stop.
    Cancelled,
}

/// The leader's answer to a chunk request, with the checksum the driver computed over it.
#[derive(Clone, Debug)]
pub struct ChunkReply {
    /// The file the leader says it is.
    pub file: u32,
    /// The offset the leader says it is.
    pub offset: u64,
    /// The bytes.
    pub data: Bytes,
    /// The CRC-32C the leader sent.
    pub claimed_crc: u32,
    /// The CRC-32C of `data`.
    pub crc: u32,
    /// How long the leader says the request waited on its rate limiter (untrusted: the time
    /// breakdown never charges it more than the follower itself waited).
    pub leader_throttled: Duration,
}

impl ChunkReply {
    /// A reply for `data`, its checksum computed here (the simulation and the engine's tests).
    pub fn of(file: u32, offset: u64, data: Bytes, claimed_crc: u32) -> Self {
        let crc = crc32c::crc32c(&data);
        Self::checksummed(file, offset, data, claimed_crc, crc)
    }

    /// A reply for `data` whose CRC-32C `crc` was computed as it was received.
    pub fn checksummed(file: u32, offset: u64, data: Bytes, claimed_crc: u32, crc: u32) -> Self {
        Self {
            file,
            offset,
            data,
            claimed_crc,
            crc,
            leader_throttled: Duration::ZERO,
        }
    }

    /// The same reply, with the leader's reported rate-limiter wait.
    pub fn throttled_on_leader(self, leader_throttled: Duration) -> Self {
        Self {
            leader_throttled,
            ..self
        }
    }
}

/// What the target is to hold before chunks are fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorePlan {
    /// Keep what the store holds (the resumable policy, same file list as before).
    Keep,
    /// Start a new store (with a journal if `journaled`); first empty the target if it holds a
    /// previous file list's parts.
    Fresh {
        /// Empty the target first.
        clear_first: bool,
        /// Record chunks in a journal (the resumable policy).
        journaled: bool,
    },
}

/// Something for the driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Empty the target and forget the store (a restarting policy's next attempt).
    ClearTarget,
    /// Open a connection (every channel of the profile); answer [`Event::Connected`] or
    /// [`Event::ConnectFailed`].
    Connect,
    /// Ask the leader for a session; answer [`Event::SessionOpened`] or
    /// [`Event::OpenSessionFailed`]. Its time limit is the machine's.
    OpenSession,
    /// Make the store hold `plan` for `files`, and check there is room for `room_needed` more
    /// bytes; answer [`Event::StoreReady`] or [`Event::LocalFailed`].
    PrepareStore {
        /// The session's file list.
        files: Vec<FileMeta>,
        /// Keep or start afresh.
        plan: StorePlan,
        /// Bytes still to write.
        room_needed: u64,
    },
    /// Send a chunk request on the current connection; answer [`Event::ChunkArrived`] or
    /// [`Event::ChunkFailed`]. Its time limit is the machine's.
    RequestChunk {
        /// Session id.
        session: u64,
        /// What to ask for.
        request: ChunkRequest,
    },
    /// Throttle on the node's rate limiter, write `data` at `offset` of file `file`'s part file,
    /// journal it; answer [`Event::ChunkWritten`] or [`Event::LocalFailed`].
    WriteChunk {
        /// The request's sequence number.
        seq: u64,
        /// File index.
        file: usize,
        /// Byte offset.
        offset: u64,
        /// The bytes, checked.
        data: Bytes,
        /// Their CRC-32C.
        crc: u32,
    },
    /// Verify file `file` whole against `len` and `crc`, fsync and rename it, journal it;
    /// answer [`Event::FileFinalized`] or [`Event::LocalFailed`].
    FinalizeFile {
        /// File index.
        file: usize,
        /// Its length.
        len: u64,
        /// Its CRC-32C, folded from its chunks.
        crc: u32,
    },
    /// Every file is verified: remove the part directory, fsync the target, close the session
    /// (a courtesy; its answer does not matter); answer [`Event::AttemptFinished`] or
    /// [`Event::LocalFailed`].
    FinishAttempt {
        /// Session id.
        session: u64,
    },
    /// The attempt failed: drop its connection and every request and write in flight; with
    /// `remove_parts`, remove its part files (best effort: a restarting policy keeps nothing).
    AbortAttempt {
        /// Remove the part directory.
        remove_parts: bool,
        /// Ask the leader to close this session (as Elasticsearch's restore does in a
        /// `finally`; OpenSearch's leaves it pinned). A courtesy: nothing waits for it.
        release_session: Option<u64>,
    },
    /// The recovery is over (see [`super::Recovery::outcome`]).
    Finish,
}

/// The live counters the driver mirrors into [`crate::follower::Progress`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Current attempt, from 1.
    pub attempt: u32,
    /// Chunk bytes received, over all attempts.
    pub bytes_transferred: u64,
    /// Bytes of the index.
    pub bytes_needed: u64,
    /// Files in the index.
    pub files_total: u64,
    /// Bytes of files verified in the current attempt (and before it, for a kept store).
    pub bytes_verified: u64,
    /// Files verified in the current attempt (and before it, for a kept store).
    pub files_verified: u64,
    /// Bytes written and verified (finished files and checked chunks of the others).
    pub bytes_persisted: u64,
}
