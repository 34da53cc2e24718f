//! The driver of a recovery: performs a [`Recovery`]'s actions on sockets and files and feeds back
//! what happened.
//!
//! Every decision (which chunk, which timeout, retry or abort, what the target keeps, the byte
//! accounting) is the state machine's, in [`super::recovery`]; this file only does the I/O: it
//! opens connections through a [`Dialer`], sends requests, computes checksums, throttles on the
//! node's rate limiter, writes part files, finalizes and journals, and sleeps until the machine's
//! next timer, all on tokio's time (so a paused runtime drives a whole recovery in simulated
//! time). Requests and writes run as tasks of one attempt; aborting the attempt drops them all.

use std::{sync::Arc, time::Duration};

use tokio::{
    task::JoinSet,
    time::{Instant, sleep_until, timeout},
};

use super::{
    config::{FollowerConfig, FollowerError},
    failure::Failure,
    node::FollowerNode,
    progress::{Progress, Sampler},
    recovery::{Action, ChunkReply, Event, Recovery, StorePlan},
    report::{FailureKind, RecoveryReport},
    store::Store,
    window::ChunkRequest,
};
use crate::{
    index::{IndexError, Journal, JournalEntry, PartFile, TargetDir},
    protocol::Message,
    transport::{channel::Answer, connection::Connection, negotiated::Negotiated},
    vocabulary::Policy,
};

/// Which shard of how many a recovery restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShardOf {
    /// Its number.
    pub shard: u32,
    /// The index's shard count, as the follower expects the leader to say.
    pub shards: u32,
}

/// Recovers one shard into `config.target`, attempt after attempt as the policy allows, until
/// it is verified, a failure is final, the time limit passes, or `cancel` completes, with the
/// limiter and connection of `node`. Returns the report either way (its `pings_sent` is the
/// node's to count).
pub(crate) async fn recover_shard(
    config: FollowerConfig,
    shard: ShardOf,
    node: Arc<FollowerNode>,
    progress: Arc<Progress>,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<RecoveryReport, FollowerError> {
    config.settings.validate()?;
    let policy = config.settings.policy;
    let target = TargetDir::prepare(&config.target)?;
    // Before the clock starts: a restarting policy removes a previous run's files (the first
    // attempt measures the recovery, not the clean-up); the resumable policy re-reads and
    // re-checks what its journal says is already here.
    let (store, resumed) = match policy {
        Policy::Resumable => match Journal::read(target.path())? {
            Some(recorded) => {
                let (store, ledger) = Store::resume(&target, recorded)?;
                (Some(store), Some(ledger))
            }
            None => {
                target.clear()?;
                (None, None)
            }
        },
        _ => {
            target.clear()?;
            (None, None)
        }
    };
    let clock = config.clock;
    let sampler = Sampler::start(progress.clone(), clock, config.sample_interval);
    let mut recovery = Recovery::new(
        config.settings.clone(),
        clock,
        config.time_limit,
        config.seed,
        resumed,
        Instant::now(),
    );
    let mut driver = Driver {
        config,
        shard,
        node,
        target,
        store,
        progress,
        connection: None,
        loss_reported: false,
        tasks: JoinSet::new(),
        tls: None,
    };
    tokio::pin!(cancel);
    loop {
        if driver.perform_all(&mut recovery).await {
            break;
        }
        let wake = recovery.poll_timeout();
        if wake.is_none() && driver.tasks.is_empty() {
            // Nothing in flight, no timer: nothing could ever move the recovery on.
            let stuck = Failure::new(
                FailureKind::Io,
                "internal error: the recovery waits with nothing in flight and no timer",
            );
            recovery.handle(Event::LocalFailed(stuck.fatal()), Instant::now());
            continue;
        }
        let lost = driver
            .connection
            .as_ref()
            .filter(|_| !driver.loss_reported)
            .map(|c| c.lost());
        tokio::select! {
            Some(joined) = driver.tasks.join_next(), if !driver.tasks.is_empty() => {
                let event = match joined {
                    Ok(done) => driver.complete(done),
                    Err(e) => Event::LocalFailed(Failure::new(
                        FailureKind::Io,
                        format!("internal error: a task failed: {e}"),
                    ).fatal()),
                };
                recovery.handle(event, Instant::now());
            }
            _ = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                recovery.handle_timeout(Instant::now());
            }
            loss = async { lost.expect("guarded").await }, if lost.is_some() => {
                driver.loss_reported = true;
                recovery.handle(Event::ChannelLost { channel: loss.channel }, Instant::now());
            }
            _ = &mut cancel => recovery.handle(Event::Cancelled, Instant::now()),
        }
        driver.mirror(&recovery);
    }
    driver.mirror(&recovery);
    driver.connection = None;
    let timeseries = sampler.finish().await;
    let mut report = recovery.report(driver.config.leader.clone(), 0, timeseries);
    report.tls = driver.tls;
    Ok(report)
}

/// How long the courtesy `CloseSession` may keep the last connection open.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// What a task of the attempt ended with.
enum Done {
    /// Feed this to the machine as it is.
    Event(Event),
    /// The node's connection is open.
    Connected(Arc<Connection>),
    /// A chunk is throttled (for `throttled`) and written: journal it, then tell the machine.
    Written {
        seq: u64,
        entry: JournalEntry,
        throttled: Duration,
    },
    /// A file is verified, fsynced and renamed (in `took`): journal it, then tell the machine.
    Finalized { file: usize, took: Duration },
}

/// The I/O side of one recovery.
struct Driver {
    config: FollowerConfig,
    shard: ShardOf,
    /// The limiter and connection shared with the node's other shards.
    node: Arc<FollowerNode>,
    target: TargetDir,
    store: Option<Store>,
    progress: Arc<Progress>,
    /// The attempt's connection (requests in flight keep their own handle to it).
    connection: Option<Arc<Connection>>,
    /// Whether its lost channel was told to the machine.
    loss_reported: bool,
    /// The attempt's requests, writes and finalizations; dropping the set aborts them.
    tasks: JoinSet<Done>,
    /// What the last connection's TLS (or QUIC) handshake settled on.
    tls: Option<Negotiated>,
}

impl Driver {
    /// Performs every action the machine has, feeding back the results of those done at once;
    /// returns whether the recovery is over.
    async fn perform_all(&mut self, recovery: &mut Recovery) -> bool {
        loop {
            // A channel lost while actions were decided: tell the machine before sending more
            // on it (it holds the requests for a new connection).
            if !self.loss_reported
                && let Some(loss) = self.connection.as_ref().and_then(|c| c.loss())
            {
                self.loss_reported = true;
                recovery.handle(
                    Event::ChannelLost {
                        channel: loss.channel,
                    },
                    Instant::now(),
                );
            }
            let Some(action) = recovery.poll_action() else {
                return false;
            };
            if action == Action::Finish {
                return true;
            }
            if let Some(event) = self.perform(action).await {
                recovery.handle(event, Instant::now());
            }
        }
    }

    /// Starts `action`; returns its event when it is done at once.
    async fn perform(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::ClearTarget => {
                self.store = None;
                self.target.clear().err().map(local)
            }
            Action::Connect => {
                let (node, shard) = (self.node.clone(), self.shard.shard);
                self.tasks.spawn(async move {
                    match node.connection(shard).await {
                        Ok(c) => Done::Connected(c),
                        Err(e) => Done::Event(Event::ConnectFailed(Failure::transport(None, e))),
                    }
                });
                None
            }
            Action::OpenSession => {
                let connection = self.connection.clone();
                let open = Message::OpenSession {
                    index: self.config.index.clone(),
                    shard: self.shard.shard,
                };
                let (index, expected) = (self.config.index.clone(), self.shard.shards);
                self.tasks.spawn(async move {
                    Done::Event(match request(connection.clone(), &open).await {
                        Ok(Message::SessionOpened {
                            shards, session, ..
                        }) if shards != expected => {
                            // The leader pinned a session for an index this follower will not
                            // recover: let it go.
                            close_session_later(connection, session);
                            Event::OpenSessionFailed(shard_count_differs(&index, shards, expected))
                        }
                        Ok(Message::SessionOpened { session, files, .. }) => {
                            Event::SessionOpened { session, files }
                        }
                        Ok(other) => Event::OpenSessionFailed(Failure::unexpected(
                            "SessionOpened",
                            other.kind(),
                        )),
                        Err(f) => Event::OpenSessionFailed(f),
                    })
                });
                None
            }
            Action::PrepareStore {
                files,
                plan,
                room_needed,
            } => Some(self.prepare_store(files, plan, room_needed)),
            Action::RequestChunk { session, request } => {
                self.tasks
                    .spawn(fetch(self.connection.clone(), session, request));
                None
            }
            Action::WriteChunk {
                seq,
                file,
                offset,
                data,
                crc,
            } => {
                let part = match self.part(file) {
                    Ok(p) => p,
                    Err(e) => return Some(local(e)),
                };
                let limiter = self.node.limiter().clone();
                self.tasks.spawn(async move {
                    // After the response, before the write, as Elasticsearch throttles.
                    let throttled = limiter.pause(data.len() as u64).await;
                    let len = data.len() as u64;
                    let written =
                        tokio::task::spawn_blocking(move || part.write_at(offset, &data)).await;
                    match written {
                        Ok(Ok(())) => Done::Written {
                            seq,
                            throttled,
                            entry: JournalEntry::Chunk {
                                file: file as u32,
                                offset,
                                len,
                                crc,
                            },
                        },
                        Ok(Err(e)) => Done::Event(local(e)),
                        Err(e) => Done::Event(Event::LocalFailed(Failure::new(
                            FailureKind::Io,
                            e.to_string(),
                        ))),
                    }
                });
                None
            }
            Action::FinalizeFile { file, len, crc } => {
                let part = match self.part(file) {
                    Ok(p) => p,
                    Err(e) => return Some(local(e)),
                };
                let verified = self.store.as_ref().and_then(|s| s.meta(file)).cloned();
                let target = self.target.clone();
                self.tasks
                    .spawn(finalize(part, file, len, crc, target, verified));
                None
            }
            Action::FinishAttempt { session } => Some(self.finish_attempt(session)),
            Action::AbortAttempt {
                remove_parts,
                release_session,
            } => {
                self.tasks = JoinSet::new();
                // The attempt failed on it: neither this shard's next attempt nor another
                // shard's is given it again.
                if let Some(connection) = self.connection.take() {
                    self.node.distrust(&connection);
                }
                if let Some(session) = release_session {
                    release_later(self.node.clone(), self.shard.shard, session);
                }
                // Nothing of a failed attempt is reused by a restarting policy: its part files
                // (sized to the lengths the leader declared) go now, not at the next attempt.
                if remove_parts {
                    let _ = self.target.remove_parts();
                }
                None
            }
            Action::Finish => None,
        }
    }

    /// What a finished task means for the machine (journaling what it wrote first).
    fn complete(&mut self, done: Done) -> Event {
        match done {
            Done::Event(event) => event,
            Done::Connected(connection) => {
                if let Some(tls) = connection.tls() {
                    self.tls = Some(tls.clone());
                }
                self.connection = Some(connection);
                self.loss_reported = false;
                Event::Connected
            }
            Done::Written {
                seq,
                entry,
                throttled,
            } => match self.journal(&entry) {
                Ok(()) => Event::ChunkWritten { seq, throttled },
                Err(e) => local(e),
            },
            Done::Finalized { file, took } => {
                if let Some(store) = &mut self.store {
                    store.close_part(file);
                }
                match self.journal(&JournalEntry::Done { file: file as u32 }) {
                    Ok(()) => Event::FileFinalized { file, took },
                    Err(e) => local(e),
                }
            }
        }
    }

    fn prepare_store(
        &mut self,
        files: Vec<crate::protocol::FileMeta>,
        plan: StorePlan,
        room: u64,
    ) -> Event {
        let prepared = (|| {
            if let StorePlan::Fresh {
                clear_first,
                journaled,
            } = plan
            {
                // A store half made is no store: nothing of the old one is used again.
                self.store = None;
                if clear_first {
                    self.target.clear()?;
                }
                self.store = Some(Store::fresh(&self.target, files, journaled)?);
            }
            self.target.ensure_room_for(room)
        })();
        match prepared {
            Ok(()) => Event::StoreReady,
            Err(e) => local(e),
        }
    }

    fn finish_attempt(&mut self, session: u64) -> Event {
        let synced = self.target.remove_parts().and_then(|()| self.target.sync());
        if let Err(e) = synced {
            return local(e);
        }
        close_session_later(self.connection.take(), session);
        Event::AttemptFinished
    }

    fn part(&mut self, file: usize) -> Result<Arc<PartFile>, IndexError> {
        match &mut self.store {
            Some(store) => store.part(&self.target, file),
            None => Err(IndexError::UnsafeName(format!("file #{file} (no store)"))),
        }
    }

    fn journal(&mut self, entry: &JournalEntry) -> Result<(), IndexError> {
        match &mut self.store {
            Some(store) => store.journal(entry),
            None => Ok(()),
        }
    }

    /// Mirrors the machine's counters into the live progress.
    fn mirror(&self, recovery: &Recovery) {
        let c = recovery.counters();
        let p = &self.progress;
        Progress::set(&p.attempt, u64::from(c.attempt));
        Progress::set(&p.bytes_transferred, c.bytes_transferred);
        Progress::set(&p.bytes_needed, c.bytes_needed);
        Progress::set(&p.files_total, c.files_total);
        Progress::set(&p.bytes_verified, c.bytes_verified);
        Progress::set(&p.files_verified, c.files_verified);
        Progress::set(&p.bytes_persisted, c.bytes_persisted);
        Progress::set(&p.requests_in_flight, recovery.requests_in_flight() as u64);
        let failures = recovery.failures();
        if let Ok(mut seen) = p.failures.lock()
            && seen.len() != failures.len()
        {
            *seen = failures.to_vec();
        }
    }
}

/// Asks the leader to close `session` on `connection`, without waiting: closing is a courtesy
/// (an Elasticsearch leader would expire the session anyway), and a slow or dead connection
/// must not hold the recovery past its end or its time limit.
fn close_session_later(connection: Option<Arc<Connection>>, session: u64) {
    tokio::spawn(async move {
        let close = Message::CloseSession { session };
        let _ = timeout(CLOSE_WAIT, request(connection, &close)).await;
    });
}

/// Asks the leader to close a failed attempt's `session`, as Elasticsearch's restore does in a
/// `finally` through its remote client: on the node's next open connection for `shard` (the
/// failed one is usually closed; the next attempt opens another), within [`CLOSE_WAIT`]. It
/// dials nothing itself, so it never competes with the next attempt's connect; if no connection
/// opens in time, the leader expires the session instead.
fn release_later(node: Arc<FollowerNode>, shard: u32, session: u64) {
    tokio::spawn(async move {
        let deadline = Instant::now() + CLOSE_WAIT;
        while Instant::now() < deadline {
            if let Some(connection) = node.open_connection(shard) {
                let close = Message::CloseSession { session };
                let _ = tokio::time::timeout_at(deadline, connection.request(&close)).await;
                return;
            }
            tokio::time::sleep(RELEASE_POLL).await;
        }
    });
}

/// How often [`release_later`] looks for an open connection.
const RELEASE_POLL: Duration = Duration::from_millis(10);

/// The leader's index has another shard count than the follower restores: recovering some of
/// its shards would leave a wrong index, so no attempt is made again.
fn shard_count_differs(index: &str, leader: u32, expected: u32) -> Failure {
    Failure::new(
        FailureKind::Remote,
        format!(
            "the leader's index {index:?} has {leader} shard(s) but this follower restores \
             {expected}: run with --shards {leader} (index.shards in a campaign)"
        ),
    )
    .fatal()
}

fn local(e: IndexError) -> Event {
    Event::LocalFailed(Failure::local(e))
}

/// Sends one request on the attempt's connection.
async fn request(
    connection: Option<Arc<Connection>>,
    message: &Message,
) -> Result<Message, Failure> {
    exchange(connection, message)
        .await
        .map(|answer| answer.message)
}

/// As [`request`], with the data CRC the channel's reader computed for a chunk.
async fn exchange(
    connection: Option<Arc<Connection>>,
    message: &Message,
) -> Result<Answer, Failure> {
    let Some(connection) = connection else {
        return Err(Failure::transport(
            None,
            crate::transport::TransportError::Eof,
        ));
    };
    connection
        .exchange(message)
        .await
        .map_err(|(channel, e)| Failure::transport(channel, e))
}

/// One chunk request: send, wait, take the checksum the reader computed as the bytes arrived.
async fn fetch(connection: Option<Arc<Connection>>, session: u64, req: ChunkRequest) -> Done {
    let ask = Message::GetChunk {
        session,
        file: req.file,
        offset: req.offset,
        len: req.len,
    };
    let seq = req.seq;
    Done::Event(match exchange(connection, &ask).await {
        Ok(Answer {
            message:
                Message::Chunk {
                    file,
                    offset,
                    crc32c: claimed,
                    throttled_micros,
                    data,
                },
            data_crc,
        }) => {
            let leader_throttled = Duration::from_micros(u64::from(throttled_micros));
            // Every channel's reader checksums a chunk as it lands; a reader that did not
            // (none does today) gets its chunk checksummed here, on this worker.
            let crc = data_crc.unwrap_or_else(|| crc32c::crc32c(&data));
            Event::ChunkArrived {
                seq,
                reply: ChunkReply::checksummed(file, offset, data, claimed, crc)
                    .throttled_on_leader(leader_throttled),
            }
        }
        Ok(Answer { message: other, .. }) => Event::ChunkFailed {
            seq,
            failure: Failure::unexpected("Chunk", other.kind()),
        },
        Err(failure) => Event::ChunkFailed { seq, failure },
    })
}

/// Verifies, fsyncs and renames a finished file (off the async threads). A file already under
/// its real name and verified is finalized too: an aborted attempt's finalize, which a dropped
/// task cannot stop, may have renamed it.
async fn finalize(
    part: Arc<PartFile>,
    file: usize,
    len: u64,
    crc: u32,
    target: TargetDir,
    meta: Option<crate::protocol::FileMeta>,
) -> Done {
    let began = Instant::now();
    let finished = tokio::task::spawn_blocking(move || {
        part.finish(len, crc).or_else(|e| match &meta {
            Some(meta) if target.has_verified(meta) => Ok(()),
            _ => Err(e),
        })
    });
    match finished.await {
        Ok(Ok(())) => Done::Finalized {
            file,
            took: began.elapsed(),
        },
        Ok(Err(e)) => Done::Event(local(e)),
        Err(e) => Done::Event(Event::LocalFailed(Failure::new(
            FailureKind::Io,
            e.to_string(),
        ))),
    }
}
