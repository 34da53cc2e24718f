//! The machine against a random world: thousands of seeded runs in which the leader answers,
//! fails, stalls and loses channels at random, the disk fails now and then, and time jumps to
//! whichever timer is next. Each run checks the invariants every policy promises: it ends, never
//! asks again for a byte it holds verified, a restarting policy starts every later attempt from
//! an empty target, the resumable one wastes at most one window per failure, and the counters
//! agree with the ledger. A failing seed is printed with the line that replays it.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::*;
use crate::{
    protocol::{ErrorCode, FileMeta},
    transport::TransportError,
    units::ByteSize,
};

/// Whether to print every event and action (`RRBENCH_MODEL_TRACE=1`, with one seed), read once:
/// the check runs on every step of a million worlds.
fn tracing() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("RRBENCH_MODEL_TRACE").is_some())
}

/// What the world owes the machine: an action performed and not answered yet.
#[derive(Clone, Debug)]
enum Owed {
    Connect,
    OpenSession,
    Chunk(ChunkRequest),
    Write(u64),
    Finalize(usize),
    Finish,
}

/// One random world and what it saw.
struct World {
    rng: SeededRng,
    files: Vec<FileMeta>,
    settings: RecoverySettings,
    now: Instant,
    owed: Vec<Owed>,
    attempts_started: u32,
    steps: u32,
    /// The file list the driver's store was made for, if it has one.
    store: Option<Vec<FileMeta>>,
    /// Half the worlds have no time limit, so a recovery that cannot end shows as one.
    time_limit: Option<Duration>,
}

fn failure(rng: &mut SeededRng) -> Failure {
    let e = match (rng.unit() * 6.0) as u32 {
        0 => TransportError::Reset,
        1 => TransportError::Eof,
        2 => TransportError::Timeout(Duration::from_secs(1)),
        3 => TransportError::Remote {
            code: ErrorCode::UnknownSession,
            message: "expired".into(),
        },
        4 => TransportError::ChannelLost {
            channel: 1,
            cause: Box::new(TransportError::Reset),
        },
        _ => TransportError::Connect {
            addr: "leader".into(),
            message: "refused".into(),
        },
    };
    Failure::transport(Some((rng.unit() * 6.0) as usize), e)
}

impl World {
    fn new(seed: u64) -> Self {
        let mut rng = SeededRng::new(seed, 0x51a);
        let policy =
            [Policy::Elasticsearch, Policy::Opensearch, Policy::Resumable][(seed % 3) as usize];
        let n = 1 + (rng.unit() * 4.0) as usize;
        let files = (0..n)
            .map(|i| FileMeta {
                name: format!("f{i}"),
                len: (rng.unit() * 40.0) as u64,
                crc32c: 0,
            })
            .collect();
        let settings = RecoverySettings {
            policy,
            chunk_size: ByteSize(1 + (rng.unit() * 12.0) as u64),
            max_concurrent_file_chunks: 1 + (rng.unit() * 4.0) as u32,
            max_retries: 1 + (rng.unit() * 8.0) as u32,
            time_scale: 0.01,
            internal_action_timeout: Duration::from_secs(5),
            ..RecoverySettings::default()
        };
        Self {
            rng,
            files,
            settings,
            now: Instant::now(),
            owed: Vec::new(),
            attempts_started: 0,
            steps: 0,
            store: None,
            time_limit: (seed / 3)
                .is_multiple_of(2)
                .then_some(Duration::from_secs(3600)),
        }
    }

    /// Takes the machine's actions, checking each against what it promised.
    fn take_actions(&mut self, r: &mut Recovery) -> Result<bool, String> {
        let mut cleared = false;
        while let Some(action) = r.poll_action() {
            if tracing() {
                eprintln!("action {action:?}");
            }
            match action {
                Action::ClearTarget => {
                    cleared = true;
                    self.store = None;
                }
                Action::Connect => {
                    if matches!(r.phase, Phase::Connecting) {
                        self.attempts_started += 1;
                        if r.policy.restarts_from_zero() && self.attempts_started > 1 && !cleared {
                            return Err(
                                "a restarting policy began an attempt on a full target".into()
                            );
                        }
                    }
                    self.owed.push(Owed::Connect)
                }
                Action::OpenSession => self.owed.push(Owed::OpenSession),
                Action::PrepareStore {
                    files,
                    plan,
                    room_needed,
                } => {
                    let total: u64 = self.files.iter().map(|f| f.len).sum();
                    if r.policy.restarts_from_zero()
                        && (room_needed != total || matches!(plan, StorePlan::Keep))
                    {
                        return Err(format!(
                            "{} kept bytes: {plan:?}, {room_needed} of {total}",
                            r.policy
                        ));
                    }
                    if plan == StorePlan::Keep && self.store.as_ref() != Some(&files) {
                        return Err(format!("kept a store made for {:?}", self.store));
                    }
                    let event = if self.rng.chance(0.03) {
                        // The driver may have cleared the target and dropped its store first.
                        if plan != StorePlan::Keep {
                            self.store = None;
                        }
                        Event::LocalFailed(Failure::new(FailureKind::Io, "disk"))
                    } else {
                        self.store = Some(files);
                        Event::StoreReady
                    };
                    r.handle(event, self.now);
                }
                Action::RequestChunk { request, .. } => {
                    if self.store.as_deref() != Some(self.files.as_slice()) {
                        return Err(format!("a request with no store for the list: {request:?}"));
                    }
                    let ledger = r.ledger().ok_or("a request before the file list")?;
                    let i = request.file as usize;
                    let end = request.offset + u64::from(request.len);
                    let missing = ledger.missing_ranges();
                    let inside = missing[i]
                        .iter()
                        .any(|&(s, e)| s <= request.offset && end <= e);
                    if ledger.is_done(i) || !inside {
                        return Err(format!("asked again for verified bytes: {request:?}"));
                    }
                    self.owed.push(Owed::Chunk(request));
                }
                Action::WriteChunk { seq, .. } => self.owed.push(Owed::Write(seq)),
                Action::FinalizeFile { file, .. } => self.owed.push(Owed::Finalize(file)),
                Action::FinishAttempt { .. } => self.owed.push(Owed::Finish),
                Action::AbortAttempt { .. } => self.owed.clear(),
                Action::Finish => return Ok(true),
            }
        }
        Ok(false)
    }

    /// Answers one owed action, well or badly.
    fn answer(&mut self, r: &mut Recovery) {
        let k = (self.rng.unit() * self.owed.len() as f64) as usize;
        let owed = self.owed.swap_remove(k.min(self.owed.len() - 1));
        let bad = self.rng.chance(0.08);
        let event = match owed {
            Owed::Connect if bad => Event::ConnectFailed(failure(&mut self.rng)),
            Owed::Connect => Event::Connected,
            Owed::OpenSession if bad => Event::OpenSessionFailed(failure(&mut self.rng)),
            Owed::OpenSession => Event::SessionOpened {
                session: 1,
                files: self.files.clone(),
            },
            Owed::Chunk(request) if bad => {
                if self.rng.chance(0.5) {
                    r.handle(Event::ChannelLost { channel: 0 }, self.now);
                }
                Event::ChunkFailed {
                    seq: request.seq,
                    failure: failure(&mut self.rng),
                }
            }
            Owed::Chunk(request) => {
                let data = Bytes::from(vec![7u8; request.len as usize]);
                let crc = crc32c::crc32c(&data);
                // Now and then the leader (or the path) flips a bit.
                let claimed = if self.rng.chance(0.002) { crc ^ 1 } else { crc };
                Event::ChunkArrived {
                    seq: request.seq,
                    reply: ChunkReply::of(request.file, request.offset, data, claimed),
                }
            }
            Owed::Write(_) | Owed::Finalize(_) | Owed::Finish if self.rng.chance(0.01) => {
                Event::LocalFailed(Failure::new(FailureKind::Io, "disk"))
            }
            Owed::Write(seq) => Event::ChunkWritten {
                seq,
                throttled: Duration::ZERO,
            },
            Owed::Finalize(file) => Event::FileFinalized {
                file,
                took: Duration::ZERO,
            },
            Owed::Finish => Event::AttemptFinished,
        };
        if tracing() {
            eprintln!("event {event:?}");
        }
        r.handle(event, self.now);
    }

    /// Runs to the end; returns the report or what broke.
    fn run(mut self) -> Result<RecoveryReport, String> {
        let mut r = Recovery::new(
            self.settings.clone(),
            Clock::start(),
            self.time_limit,
            7,
            None,
            self.now,
        );
        loop {
            self.steps += 1;
            if self.steps > 100_000 {
                return Err("no end after 100 000 steps".into());
            }
            // Now and then a channel is lost while decided requests wait to be sent.
            if self.rng.chance(0.02) {
                r.handle(Event::ChannelLost { channel: 3 }, self.now);
            }
            if self.take_actions(&mut r)? {
                break;
            }
            let c = r.counters();
            let persisted = r.ledger().map_or(0, Ledger::persisted);
            if c.bytes_persisted != persisted {
                return Err(format!(
                    "counters say {} persisted, the ledger {persisted}",
                    c.bytes_persisted
                ));
            }
            // Mostly the world answers; sometimes it stays silent until the next timer.
            let timer = r.poll_timeout();
            match (self.owed.is_empty(), timer) {
                (true, None) => {
                    return Err(format!("stuck: nothing owed, no timer ({:?})", r.phase));
                }
                (false, Some(at)) if self.rng.chance(0.05) => {
                    self.now = self.now.max(at);
                    r.handle_timeout(self.now);
                }
                (false, _) => self.answer(&mut r),
                (true, Some(at)) => {
                    self.now = self.now.max(at);
                    r.handle_timeout(self.now);
                }
            }
        }
        let report = r.report("leader".into(), 0, Vec::new());
        if report.is_completed() {
            if report.bytes != report.bytes_needed || report.files_verified != report.files {
                return Err(format!(
                    "completed with {} of {} bytes",
                    report.bytes, report.bytes_needed
                ));
            }
        } else if report.failure.is_none() || report.failures.is_empty() {
            return Err("failed without a reason".into());
        } else if self.time_limit.is_none()
            && report
                .failures
                .iter()
                .any(|f| f.kind == FailureKind::TimeLimit)
        {
            return Err("a time limit without one".into());
        }
        let accounted = report.time_breakdown.total();
        if (accounted - report.duration_s).abs() > 1e-6 * report.duration_s.max(1.0) {
            return Err(format!(
                "the time breakdown sums to {accounted} s of {} s",
                report.duration_s
            ));
        }
        if self.settings.policy == Policy::Resumable {
            let window = u64::from(self.settings.max_concurrent_file_chunks)
                * self.settings.chunk_size.bytes();
            let bound = report.failures.len() as u64 * window;
            if report.bytes_wasted > bound {
                return Err(format!(
                    "resumable wasted {} bytes in {} failures (window {window})",
                    report.bytes_wasted,
                    report.failures.len()
                ));
            }
        }
        Ok(report)
    }
}

/// Seeds run by the normal suite; `RRBENCH_MODEL_SEEDS` asks for more.
fn seeds() -> u64 {
    std::env::var("RRBENCH_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000)
}

#[test]
fn every_policy_keeps_its_promises_against_thousands_of_random_worlds() {
    let only = std::env::var("RRBENCH_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let range = match only {
        Some(seed) => seed..seed + 1,
        None => 0..seeds(),
    };
    let (mut completed, mut failed) = (0, 0);
    for seed in range {
        match World::new(seed).run() {
            Ok(report) if report.is_completed() => completed += 1,
            Ok(_) => failed += 1,
            Err(why) => panic!(
                "seed {seed}: {why}\nreplay: RRBENCH_MODEL_SEED={seed} RRBENCH_MODEL_TRACE=1 cargo \
                 test --lib every_policy_keeps_its_promises -- --nocapture"
            ),
        }
    }
    assert!(
        completed > 0 && (only.is_some() || failed > 0),
        "{completed} completed, {failed} failed"
    );
}
