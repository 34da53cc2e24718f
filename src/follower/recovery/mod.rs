//! The follower's recovery as a pure state machine: events in, actions out, time passed in.
//!
//! [`Recovery`] holds everything a recovery decides: which attempt runs, which chunk is asked for
//! next (through the [`ChunkWindow`]), when a request has waited too long, whether a failure is
//! retried (the chunk, the attempt, or nothing), what the target must hold, and every byte's
//! account (needed, transferred, kept, resumed, wasted). It does no I/O: a driver
//! ([`super::engine`] over sockets and files, or a simulation) performs its [`Action`]s, feeds
//! back what happened as [`Event`]s, and wakes it at [`Recovery::poll_timeout`] through
//! [`Recovery::handle_timeout`] — the way `quinn-proto` is driven.
//!
//! One attempt: [`Action::Connect`] → [`Action::OpenSession`] → [`Action::PrepareStore`] →
//! per chunk [`Action::RequestChunk`] → [`Action::WriteChunk`] → per file
//! [`Action::FinalizeFile`] → [`Action::FinishAttempt`]. The policies are decisions here:
//!
//! | on | elasticsearch | opensearch | resumable |
//! |---|---|---|---|
//! | a chunk request's failure | abort the attempt | connection errors: retry the chunk after 10/20/40/80 s, reconnecting; others abort | abort the attempt |
//! | a chunk request's time limit | `internal_action_timeout` | none | `internal_action_timeout` |
//! | the next attempt | at once, empty target, up to `max_retries` | after 1 s, empty target, without bound | after a jittered backoff, keeping every verified byte, up to `max_retries` |
//!
//! A checksum mismatch, a refused token, the time limit and Ctrl-C end the recovery under every
//! policy.

mod account;
pub mod event;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    time::Duration,
};

pub use event::{Action, ChunkReply, Counters, Event, StorePlan};
use tokio::time::Instant;

use self::account::{ChunkCharge, TimeAccount};
use super::{
    breakdown::{Activity, RequestSample},
    failure::Failure,
    ledger::Ledger,
    report::{FailureKind, FailureRecord, Outcome, REPORT_SCHEMA, RecoveryReport},
    series::{Sample, steady_throughput_mib_s},
    window::{ChunkRequest, ChunkWindow},
};
use crate::{
    chaos::rng::SeededRng,
    clock::Clock,
    index::check_listing,
    settings::RecoverySettings,
    units::{format_duration, mib_per_sec},
    vocabulary::{ChannelType, Policy},
};

/// Where a recovery stands.
#[derive(Debug)]
enum Phase {
    /// Waiting before the next attempt.
    Backoff { until: Instant },
    /// Opening the attempt's connection.
    Connecting,
    /// Waiting for the leader's file list.
    OpeningSession { deadline: Instant },
    /// The driver is making the store ready.
    PreparingStore { session: u64, plan: StorePlan },
    /// Fetching chunks.
    Transferring(Transfer),
    /// Every file is verified; the driver syncs the target.
    Finishing,
    /// Completed or given up.
    Over,
}

/// Whether the attempt's connection can carry a request now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Up,
    Down,
    Connecting,
}

/// One attempt's chunks.
#[derive(Debug)]
struct Transfer {
    session: u64,
    window: ChunkWindow,
    chunks: BTreeMap<u64, Chunk>,
    /// Files finalized without a chunk of this attempt (complete when the attempt began).
    finalizing: BTreeSet<usize>,
}

impl Transfer {
    /// The chunks held until the connection is reopened, in order.
    fn awaiting_connection(&self) -> Vec<u64> {
        self.chunks
            .iter()
            .filter(|(_, c)| c.state == ChunkState::AwaitingConnection)
            .map(|(&seq, _)| seq)
            .collect()
    }
}

/// A chunk request the window let out, until it is processed.
#[derive(Debug)]
struct Chunk {
    request: ChunkRequest,
    /// Failed tries so far (only the OpenSearch policy retries).
    tries: u32,
    state: ChunkState,
    /// Its share of the time account.
    charge: ChunkCharge,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ChunkState {
    /// Sent; waiting for the answer until `deadline` if the policy has one.
    InFlight { deadline: Option<Instant> },
    /// Failed; to be sent again at `until`.
    Backoff { until: Instant },
    /// To be sent once the connection is reopened.
    AwaitingConnection,
    /// Checked; being throttled and written.
    Writing { crc: u32 },
    /// Written; its file's last chunk, holding its window slot until the file is verified.
    Finalizing,
}

/// A recovery, from the first attempt to its report.
#[derive(Debug)]
pub struct Recovery {
    settings: RecoverySettings,
    policy: Policy,
    channel_types: Vec<ChannelType>,
    clock: Clock,
    jitter: SeededRng,
    started: Instant,
    ended: Option<Instant>,
    time_limit: Option<Duration>,
    attempt: u32,
    phase: Phase,
    link: Link,
    /// Whether the current connection has carried an answer: a loss on one that never did is
    /// charged to the requests sent on it, not waited out with another connection.
    link_proven: bool,
    ledger: Option<Ledger>,
    /// A store was being made afresh when an attempt failed: the target may hold anything.
    target_dirty: bool,
    bytes_resumed: u64,
    counters: Counters,
    failures: Vec<FailureRecord>,
    completed: bool,
    actions: VecDeque<Action>,
    /// Where the time went.
    account: TimeAccount,
}

impl Recovery {
    /// Starts a recovery at `now` with its first attempt. `resumed` is what a journal says is
    /// already on disk (the resumable policy); `settings` are validated by the caller; `seed`
    /// drives the resumable policy's backoff jitter.
    pub fn new(
        settings: RecoverySettings,
        clock: Clock,
        time_limit: Option<Duration>,
        seed: u64,
        resumed: Option<Ledger>,
        now: Instant,
    ) -> Self {
        let bytes_resumed = resumed.as_ref().map_or(0, Ledger::persisted);
        let mut recovery = Self {
            policy: settings.policy,
            channel_types: settings.channel_types(),
            settings,
            clock,
            jitter: SeededRng::new(seed, 0x5eed),
            started: now,
            ended: None,
            time_limit,
            attempt: 1,
            phase: Phase::Connecting,
            link: Link::Down,
            link_proven: false,
            ledger: resumed,
            target_dirty: false,
            bytes_resumed,
            counters: Counters::default(),
            failures: Vec::new(),
            completed: false,
            actions: VecDeque::new(),
            account: TimeAccount::new(now),
        };
        recovery.begin_attempt(now);
        recovery
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let limit = self.time_limit.map(|l| self.started + l);
        let phase = match &self.phase {
            Phase::Backoff { until } => Some(*until),
            Phase::OpeningSession { deadline } => Some(*deadline),
            Phase::Transferring(t) => t
                .chunks
                .values()
                .filter_map(|c| match c.state {
                    ChunkState::InFlight { deadline } => deadline,
                    ChunkState::Backoff { until } => Some(until),
                    _ => None,
                })
                .min(),
            Phase::Over => return None,
            _ => None,
        };
        [limit, phase].into_iter().flatten().min()
    }

    /// Whether it completed or gave up (the last action was [`Action::Finish`]).
    pub fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Over)
    }

    /// Whether every file was verified.
    pub fn is_completed(&self) -> bool {
        self.completed
    }

    /// The live counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Every failed attempt so far.
    pub fn failures(&self) -> &[FailureRecord] {
        &self.failures
    }

    /// The store's ledger (what is verified on disk), once a session listed the files.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    /// Timers due at `now` fire: the time limit, a backoff's end, a request's time limit.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_over() {
            return;
        }
        self.charge(now);
        if let Some(limit) = self.time_limit
            && now >= self.started + limit
        {
            let failure = time_limit_failure(limit, self.policy);
            return self.fail_attempt(failure, now);
        }
        let limit = self.settings.internal_action_timeout;
        match &mut self.phase {
            Phase::Backoff { until } if now >= *until => self.begin_attempt(now),
            Phase::OpeningSession { deadline } if now >= *deadline => {
                self.fail_attempt(Failure::timeout(limit), now)
            }
            Phase::Transferring(t) => {
                let timed_out = t.chunks.values().any(
                    |c| matches!(c.state, ChunkState::InFlight { deadline: Some(d) } if now >= d),
                );
                if timed_out {
                    return self.fail_attempt(Failure::timeout(limit), now);
                }
                let due: Vec<u64> = t
                    .chunks
                    .iter()
                    .filter(
                        |(_, c)| matches!(c.state, ChunkState::Backoff { until } if now >= until),
                    )
                    .map(|(&seq, _)| seq)
                    .collect();
                for seq in due {
                    self.send(seq, now);
                }
            }
            _ => {}
        }
    }

    /// Something happened.
    pub fn handle(&mut self, event: Event, now: Instant) {
        if self.is_over() {
            return;
        }
        self.charge(now);
        match event {
            Event::Cancelled => {
                self.fail_attempt(Failure::new(FailureKind::Interrupted, "interrupted"), now)
            }
            Event::LocalFailed(failure) => {
                if !matches!(self.phase, Phase::Backoff { .. }) {
                    self.fail_attempt(failure, now)
                }
            }
            Event::Connected => self.connected(now),
            Event::ConnectFailed(failure) => self.connect_failed(failure, now),
            Event::ChannelLost { .. } => self.channel_lost(),
            Event::OpenSessionFailed(failure) => {
                if matches!(self.phase, Phase::OpeningSession { .. }) {
                    self.fail_attempt(failure, now)
                }
            }
            Event::SessionOpened { session, files } => self.session_opened(session, files, now),
            Event::StoreReady => self.store_ready(now),
            Event::ChunkArrived { seq, reply } => self.chunk_arrived(seq, reply, now),
            Event::ChunkFailed { seq, failure } => self.chunk_failed(seq, failure, now),
            Event::ChunkWritten { seq, throttled } => self.chunk_written(seq, throttled, now),
            Event::FileFinalized { file, took } => self.file_finalized(file, took, now),
            Event::AttemptFinished => {
                if matches!(self.phase, Phase::Finishing) {
                    self.completed = true;
                    self.finish(now);
                }
            }
        }
    }

    /// The report, once over. `timeseries` and `pings_sent` are the driver's; `leader` names it.
    pub fn report(
        &self,
        leader: String,
        pings_sent: u64,
        timeseries: Vec<Sample>,
    ) -> RecoveryReport {
        let ended = self.ended.unwrap_or(self.started);
        let duration = ended.saturating_duration_since(self.started);
        let max_retries = self.settings.max_retries;
        let failure = (!self.completed).then(|| match self.failures.last() {
            Some(last)
                if self.policy.bounds_attempts()
                    && last.attempt == max_retries
                    && !last.kind.is_final() =>
            {
                format!(
                    "{}: {} (gave up after {} attempts)",
                    last.kind, last.message, self.attempt
                )
            }
            Some(last) => format!("{}: {}", last.kind, last.message),
            None => "no attempt was made".to_string(),
        });
        let c = &self.counters;
        // Bytes that ended up in the result: a restarting policy keeps nothing of a failed
        // recovery (its next try would start from an empty store).
        let kept = if self.completed || !self.policy.restarts_from_zero() {
            self.ledger
                .as_ref()
                .map_or(0, Ledger::persisted)
                .saturating_sub(self.bytes_resumed)
        } else {
            0
        };
        RecoveryReport {
            schema: REPORT_SCHEMA.into(),
            outcome: if self.completed {
                Outcome::Completed
            } else {
                Outcome::Failed
            },
            failure,
            leader,
            started_at: self.clock.offset(self.started).as_secs_f64(),
            clock_unix_epoch_s: self.clock.unix_epoch_s(),
            policy: self.policy.to_string(),
            bytes: c.bytes_verified,
            bytes_needed: c.bytes_needed,
            bytes_transferred: c.bytes_transferred,
            bytes_resumed: self.bytes_resumed,
            bytes_wasted: c.bytes_transferred.saturating_sub(kept),
            pings_sent,
            files: c.files_total,
            files_verified: c.files_verified,
            duration_s: duration.as_secs_f64(),
            throughput_mib_s: mib_per_sec(
                c.bytes_verified.saturating_sub(self.bytes_resumed),
                duration,
            ),
            attempts: self.attempt,
            failures: self.failures.clone(),
            settings: self.settings.clone(),
            steady_throughput_mib_s: steady_throughput_mib_s(&timeseries),
            timeseries,
            time_breakdown: self.account.spent(),
            file_finalize_s: self.account.median_finalize().map(|d| d.as_secs_f64()),
            warnings: Vec::new(),
            requests: self.account.requests().to_vec(),
            faults: Vec::new(),
            shards: Vec::new(),
            // The driver's to fill: the machine sees no handshakes.
            tls: None,
        }
    }

    fn begin_attempt(&mut self, _now: Instant) {
        self.counters.attempt = self.attempt;
        if self.policy.restarts_from_zero() && self.attempt > 1 {
            self.ledger = None;
            self.counters.bytes_persisted = 0;
            self.counters.bytes_verified = 0;
            self.counters.files_verified = 0;
            self.actions.push_back(Action::ClearTarget);
        }
        self.phase = Phase::Connecting;
        self.link = Link::Connecting;
        self.actions.push_back(Action::Connect);
    }

    fn connected(&mut self, now: Instant) {
        if self.link != Link::Connecting {
            return;
        }
        self.link = Link::Up;
        self.link_proven = false;
        match &mut self.phase {
            Phase::Connecting => {
                self.phase = Phase::OpeningSession {
                    deadline: now + self.settings.internal_action_timeout,
                };
                self.actions.push_back(Action::OpenSession);
            }
            Phase::Transferring(t) => {
                for seq in t.awaiting_connection() {
                    self.send(seq, now);
                }
            }
            _ => {}
        }
    }

    fn connect_failed(&mut self, failure: Failure, now: Instant) {
        if self.link != Link::Connecting {
            return;
        }
        self.link = Link::Down;
        match &self.phase {
            Phase::Connecting => self.fail_attempt(failure, now),
            Phase::Transferring(t) => {
                // Every chunk waiting for the connection spends a try on it.
                for seq in t.awaiting_connection() {
                    if !matches!(self.phase, Phase::Transferring(_)) {
                        break;
                    }
                    self.chunk_failed(seq, failure.clone(), now);
                }
            }
            _ => {}
        }
    }

    /// The connection lost a channel: requests already sent fail on their own, but the ones
    /// decided and not yet sent wait for a new connection.
    fn channel_lost(&mut self) {
        if self.link != Link::Up {
            return;
        }
        self.link = Link::Down;
        if !self.link_proven {
            // A connection lost before it carried anything: what was decided for it is sent on
            // it and fails (and is charged) there, as on a leader that drops every new channel;
            // holding it for yet another connection could reconnect forever at no cost.
            return;
        }
        let Phase::Transferring(t) = &mut self.phase else {
            return;
        };
        let mut held = false;
        self.actions.retain(|a| match a {
            Action::RequestChunk { request, .. } => {
                if let Some(c) = t.chunks.get_mut(&request.seq) {
                    c.state = ChunkState::AwaitingConnection;
                }
                held = true;
                false
            }
            _ => true,
        });
        if held {
            self.link = Link::Connecting;
            self.actions.push_back(Action::Connect);
        }
    }

    fn session_opened(
        &mut self,
        session: u64,
        files: Vec<crate::protocol::FileMeta>,
        now: Instant,
    ) {
        if !matches!(self.phase, Phase::OpeningSession { .. }) {
            return;
        }
        self.link_proven = true;
        if let Err(e) = check_listing(&files, self.settings.listing_limits()) {
            return self.fail_attempt(Failure::local(e), now);
        }
        let journaled = !self.policy.restarts_from_zero();
        let (ledger, plan) = match self.ledger.take() {
            Some(kept) if kept.files() == files.as_slice() => (kept, StorePlan::Keep),
            // The leader's index changed since the journal was written: nothing is reusable.
            Some(_) => (
                Ledger::new(files.clone()),
                StorePlan::Fresh {
                    clear_first: true,
                    journaled,
                },
            ),
            None => (
                Ledger::new(files.clone()),
                StorePlan::Fresh {
                    clear_first: self.target_dirty,
                    journaled,
                },
            ),
        };
        let (done_bytes, done_files) = ledger.finished();
        self.counters.bytes_needed = ledger.total();
        self.counters.files_total = files.len() as u64;
        self.counters.bytes_verified = done_bytes;
        self.counters.files_verified = done_files;
        self.counters.bytes_persisted = ledger.persisted();
        let room_needed = ledger.total() - ledger.persisted();
        self.ledger = Some(ledger);
        self.phase = Phase::PreparingStore { session, plan };
        self.actions.push_back(Action::PrepareStore {
            files,
            plan,
            room_needed,
        });
    }

    fn store_ready(&mut self, now: Instant) {
        let (Phase::PreparingStore { session, .. }, Some(ledger)) = (&self.phase, &self.ledger)
        else {
            return;
        };
        self.target_dirty = false;
        let mut finalizing = BTreeSet::new();
        for file in ledger.complete_but_not_done() {
            finalizing.insert(file);
            self.actions.push_back(Action::FinalizeFile {
                file,
                len: ledger.files()[file].len,
                crc: ledger.crc(file),
            });
        }
        let window = ChunkWindow::for_ranges(
            ledger.missing_ranges(),
            self.settings.chunk_size.bytes(),
            self.settings.max_concurrent_file_chunks,
        );
        self.phase = Phase::Transferring(Transfer {
            session: *session,
            window,
            chunks: BTreeMap::new(),
            finalizing,
        });
        self.fill_window(now);
    }

    /// Lets out every request the window allows, then finishes the attempt if nothing is left.
    fn fill_window(&mut self, now: Instant) {
        let Phase::Transferring(t) = &mut self.phase else {
            return;
        };
        let mut new = Vec::new();
        while let Some(request) = t.window.next_request() {
            t.chunks.insert(
                request.seq,
                Chunk {
                    request,
                    tries: 0,
                    state: ChunkState::AwaitingConnection,
                    charge: ChunkCharge::default(),
                },
            );
            new.push(request.seq);
        }
        for seq in new {
            self.send(seq, now);
        }
        if let Phase::Transferring(t) = &self.phase
            && t.window.is_done()
            && t.chunks.is_empty()
            && t.finalizing.is_empty()
        {
            let session = t.session;
            self.phase = Phase::Finishing;
            self.actions.push_back(Action::FinishAttempt { session });
        }
    }

    /// Sends chunk `seq`, or holds it until the connection is reopened.
    fn send(&mut self, seq: u64, now: Instant) {
        let Phase::Transferring(t) = &mut self.phase else {
            return;
        };
        let Some(chunk) = t.chunks.get_mut(&seq) else {
            return;
        };
        match self.link {
            Link::Up => {
                let deadline = self
                    .policy
                    .has_request_timeout()
                    .then(|| now + self.settings.internal_action_timeout);
                chunk.state = ChunkState::InFlight { deadline };
                chunk.charge.sent_at = Some(now);
                self.actions.push_back(Action::RequestChunk {
                    session: t.session,
                    request: chunk.request,
                });
            }
            Link::Connecting => chunk.state = ChunkState::AwaitingConnection,
            Link::Down => {
                chunk.state = ChunkState::AwaitingConnection;
                self.link = Link::Connecting;
                self.actions.push_back(Action::Connect);
            }
        }
    }

    fn chunk_arrived(&mut self, seq: u64, reply: ChunkReply, now: Instant) {
        let Phase::Transferring(t) = &mut self.phase else {
            return;
        };
        let Some(chunk) = t.chunks.get_mut(&seq) else {
            return;
        };
        if !matches!(chunk.state, ChunkState::InFlight { .. }) {
            return;
        }
        self.link_proven = true;
        let req = chunk.request;
        let fits = reply.file == req.file
            && reply.offset == req.offset
            && reply.data.len() == req.len as usize;
        let answered = fits && reply.crc == reply.claimed_crc;
        if let Some(sent) = chunk.charge.sent_at.take() {
            let sample = request_sample(&self.clock, sent, now, self.attempt, req.len, answered);
            self.account.request_done(sample);
        }
        if answered {
            // Only a reply that is what was asked for may say how long the leader held it.
            self.account.refine(
                &mut chunk.charge.network,
                reply.leader_throttled,
                Activity::Network,
                Activity::LeaderThrottle,
            );
        }
        if !fits {
            let message = format!(
                "asked for file {} offset {} len {}, got file {} offset {} len {}",
                req.file,
                req.offset,
                req.len,
                reply.file,
                reply.offset,
                reply.data.len()
            );
            return self.fail_attempt(Failure::new(FailureKind::Protocol, message), now);
        }
        self.counters.bytes_transferred += reply.data.len() as u64;
        if reply.crc != reply.claimed_crc {
            let message = format!(
                "chunk of file {} at offset {}: crc32c {:08x} but the leader sent {:08x}",
                req.file, req.offset, reply.crc, reply.claimed_crc
            );
            return self.fail_attempt(Failure::new(FailureKind::Corrupt, message), now);
        }
        chunk.state = ChunkState::Writing { crc: reply.crc };
        self.actions.push_back(Action::WriteChunk {
            seq,
            file: req.file as usize,
            offset: req.offset,
            data: reply.data,
            crc: reply.crc,
        });
    }

    fn chunk_failed(&mut self, seq: u64, failure: Failure, now: Instant) {
        let Phase::Transferring(t) = &mut self.phase else {
            return;
        };
        let Some(chunk) = t.chunks.get_mut(&seq) else {
            return;
        };
        if !matches!(
            chunk.state,
            ChunkState::InFlight { .. } | ChunkState::AwaitingConnection
        ) {
            return;
        }
        if let Some(sent) = chunk.charge.sent_at.take() {
            let sample = request_sample(
                &self.clock,
                sent,
                now,
                self.attempt,
                chunk.request.len,
                false,
            );
            self.account.request_done(sample);
        }
        // OpenSearch retries a chunk on connection errors (and only on those); every other
        // policy, and every other error, ends the attempt.
        let retry = if failure.is_connection_error() {
            chunk.tries += 1;
            self.policy
                .chunk_retry_delay(chunk.tries, self.settings.time_scale)
        } else {
            None
        };
        match retry {
            Some(delay) => chunk.state = ChunkState::Backoff { until: now + delay },
            None => self.fail_attempt(failure, now),
        }
    }

    fn chunk_written(&mut self, seq: u64, throttled: Duration, now: Instant) {
        let (Phase::Transferring(t), Some(ledger)) = (&mut self.phase, &mut self.ledger) else {
            return;
        };
        let Some(chunk) = t.chunks.get_mut(&seq) else {
            return;
        };
        let ChunkState::Writing { crc } = chunk.state else {
            return;
        };
        self.account.refine(
            &mut chunk.charge.storage,
            throttled,
            Activity::Storage,
            Activity::FollowerThrottle,
        );
        let req = chunk.request;
        let file = req.file as usize;
        if let Err(e) = ledger.add_chunk(file, req.offset, u64::from(req.len), crc) {
            return self.fail_attempt(Failure::new(FailureKind::Protocol, e.to_string()), now);
        }
        self.counters.bytes_persisted += u64::from(req.len);
        if ledger.is_complete(file) {
            // The file's last chunk holds its window slot until the file is verified and
            // fsynced, as Elasticsearch's writer does.
            chunk.state = ChunkState::Finalizing;
            self.actions.push_back(Action::FinalizeFile {
                file,
                len: ledger.files()[file].len,
                crc: ledger.crc(file),
            });
        } else {
            t.chunks.remove(&seq);
            t.window.mark_processed(seq);
            self.fill_window(now);
        }
    }

    fn file_finalized(&mut self, file: usize, took: Duration, now: Instant) {
        let (Phase::Transferring(t), Some(ledger)) = (&mut self.phase, &mut self.ledger) else {
            return;
        };
        if ledger.is_done(file) {
            return;
        }
        let holder = t
            .chunks
            .iter()
            .find(|(_, c)| c.state == ChunkState::Finalizing && c.request.file as usize == file)
            .map(|(&seq, _)| seq);
        match holder {
            Some(seq) => {
                t.chunks.remove(&seq);
                t.window.mark_processed(seq);
            }
            None if t.finalizing.remove(&file) => {}
            None => return,
        }
        ledger.mark_done(file);
        self.account.finalized(took);
        self.counters.files_verified += 1;
        self.counters.bytes_verified += ledger.files()[file].len;
        self.fill_window(now);
    }

    /// The attempt failed: record it, drop what it had in flight, and start the next one or stop.
    fn fail_attempt(&mut self, failure: Failure, now: Instant) {
        self.abandon_requests(now);
        let channel_type = failure
            .channel
            .and_then(|c| self.channel_types.get(c).copied());
        self.failures.push(FailureRecord {
            attempt: self.attempt,
            t: self.clock.offset(now).as_secs_f64(),
            kind: failure.kind,
            channel: failure.channel,
            channel_type,
            message: failure.message,
            then: String::new(),
        });
        if let Phase::PreparingStore { plan, .. } = self.phase
            && plan != StorePlan::Keep
        {
            // The driver may have cleared the target or half made a store: the next attempt
            // starts from nothing, on an emptied target.
            self.ledger = None;
            self.target_dirty = true;
        }
        let session = match &self.phase {
            Phase::PreparingStore { session, .. } => Some(*session),
            Phase::Transferring(t) => Some(t.session),
            _ => None,
        };
        self.actions.clear();
        self.actions.push_back(Action::AbortAttempt {
            remove_parts: self.policy.restarts_from_zero(),
            release_session: session.filter(|_| self.policy.releases_session_on_failure()),
        });
        self.link = Link::Down;
        let bounded = self.policy.bounds_attempts();
        if failure.fatal || (bounded && self.attempt >= self.settings.max_retries) {
            self.note_next_step(if failure.fatal {
                format!("{} is final: no retry", failure.kind)
            } else {
                format!("gave up after {} attempts (max_retries)", self.attempt)
            });
            return self.finish(now);
        }
        self.attempt += 1;
        self.counters.attempt = self.attempt;
        let delay =
            self.policy
                .attempt_delay(self.attempt, self.settings.time_scale, self.jitter.unit());
        let from = if self.policy.restarts_from_zero() {
            "from zero"
        } else {
            "resuming what is verified"
        };
        let of = if bounded {
            format!(" of {}", self.settings.max_retries)
        } else {
            " (no bound: only the time limit stops it)".to_string()
        };
        self.note_next_step(format!(
            "attempt {}{of} in {}, {from}",
            self.attempt,
            format_duration(Duration::from_millis(delay.as_millis() as u64))
        ));
        if delay.is_zero() {
            self.begin_attempt(now);
        } else {
            self.phase = Phase::Backoff { until: now + delay };
        }
    }

    /// What the policy does after the last failure, for the user.
    fn note_next_step(&mut self, then: String) {
        if let Some(last) = self.failures.last_mut() {
            last.then = then;
        }
    }

    /// Chunk requests sent and not yet answered.
    pub fn requests_in_flight(&self) -> usize {
        match &self.phase {
            Phase::Transferring(t) => t
                .chunks
                .values()
                .filter(|c| matches!(c.state, ChunkState::InFlight { .. }))
                .count(),
            _ => 0,
        }
    }

    /// Requests still in flight when an attempt fails are recorded as unanswered.
    fn abandon_requests(&mut self, now: Instant) {
        let Phase::Transferring(t) = &self.phase else {
            return;
        };
        // A request's sample is taken once: when it is answered, fails, or is abandoned here.
        for c in t.chunks.values() {
            if let (ChunkState::InFlight { .. }, Some(sent)) = (c.state, c.charge.sent_at) {
                let sample =
                    request_sample(&self.clock, sent, now, self.attempt, c.request.len, false);
                self.account.request_done(sample);
            }
        }
    }

    /// Charges the time since the last step to what the machine was doing, and to the oldest
    /// outstanding chunk's account when it was waiting on that chunk.
    fn charge(&mut self, now: Instant) {
        let activity = self.activity();
        let dt = self.account.charge(now, activity);
        if let Phase::Transferring(t) = &mut self.phase
            && let Some(head) = t.chunks.values_mut().next()
        {
            head.charge.add(activity, dt);
        }
    }

    /// What the machine is waiting on now: the phase outside a transfer; in one, what holds
    /// the oldest outstanding chunk (the window cannot move past it).
    fn activity(&self) -> Activity {
        match &self.phase {
            Phase::Backoff { .. } | Phase::Over => Activity::Backoff,
            Phase::Connecting => Activity::Connecting,
            Phase::OpeningSession { .. } | Phase::PreparingStore { .. } => Activity::OpeningSession,
            Phase::Finishing => Activity::Storage,
            Phase::Transferring(t) => match t.chunks.values().next().map(|c| c.state) {
                None if t.finalizing.is_empty() => Activity::Network,
                None => Activity::Storage,
                Some(ChunkState::InFlight { .. }) if t.window.is_head_of_line_blocked() => {
                    Activity::HeadOfLine
                }
                Some(ChunkState::InFlight { .. }) => Activity::Network,
                Some(ChunkState::Backoff { .. }) => Activity::Backoff,
                Some(ChunkState::AwaitingConnection) => Activity::Connecting,
                Some(ChunkState::Writing { .. } | ChunkState::Finalizing) => Activity::Storage,
            },
        }
    }

    fn finish(&mut self, now: Instant) {
        self.phase = Phase::Over;
        self.ended = Some(now);
        self.actions.push_back(Action::Finish);
    }
}

/// One chunk request's end, for the latency record.
fn request_sample(
    clock: &Clock,
    sent: Instant,
    now: Instant,
    attempt: u32,
    bytes: u32,
    ok: bool,
) -> RequestSample {
    RequestSample {
        t: clock.offset(sent).as_secs_f64(),
        latency_s: now.saturating_duration_since(sent).as_secs_f64(),
        attempt,
        bytes,
        ok,
    }
}

/// The time limit stopped the recovery. Under a policy without a per-request timeout (the
/// OpenSearch plugin's), that is the only thing that ends a wait on a silent leader: say so.
fn time_limit_failure(limit: Duration, policy: Policy) -> Failure {
    let limit = format_duration(limit);
    let why = if policy.has_request_timeout() {
        String::new()
    } else {
        format!(
            " (the {policy} policy has no per-request timeout: a leader that stops answering is \
             waited on until the time limit, as the real one waits forever)"
        )
    };
    Failure::new(
        FailureKind::TimeLimit,
        format!("stopped by the time limit of {limit}{why}"),
    )
}
