//! The recovery engine: attempts, the chunk window over a channel, throttling, verification.
//!
//! One attempt: empty the target, connect, `Hello`, `OpenSession`, then keep the window full of
//! `GetChunk` requests. Each request is a task: send, wait at most `internal_action_timeout`,
//! check the chunk's CRC-32C, throttle on the node limiter (after the response, as Elasticsearch
//! does), write at its offset. When a file's last chunk lands, its length and combined checksum
//! are checked against the session's list, then it is fsynced and renamed. Any failure ends the
//! attempt (Elasticsearch policy); a checksum mismatch ends the recovery (corruption is never
//! retried).

use std::{
    future::Future,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::watch, task::JoinSet, time::timeout};

use super::{
    assembler::FileAssembler,
    progress::{Progress, sample},
    report::{FailureKind, FailureRecord, Outcome, REPORT_SCHEMA, RecoveryReport},
    window::{ChunkRequest, ChunkWindow},
};
use crate::{
    clock::Clock,
    index::{IndexError, PartFile, TargetDir, is_safe_file_name},
    protocol::{ErrorCode, FileMeta, Message},
    ratelimit::NodeRateLimiter,
    settings::{OutOfRange, RecoverySettings},
    transport::{
        TransportError,
        connection::{ConnectOptions, Connection},
        tcp::{Keepalive, SocketOptions},
    },
    units::mib_per_sec,
};

/// What to recover, from where, into where, and how.
#[derive(Clone, Debug)]
pub struct FollowerConfig {
    /// Leader address, `host:port`.
    pub leader: String,
    /// Target directory.
    pub target: PathBuf,
    /// Index name to ask the leader for.
    pub index: String,
    /// Shared secret for `Hello`.
    pub auth_token: Option<String>,
    /// Elasticsearch-named settings.
    pub settings: RecoverySettings,
    /// Time-series sampling interval.
    pub sample_interval: Duration,
    /// The clock every timestamp of the report is read from; share it with a leader or a chaos
    /// proxy and their events line up with the engine's.
    pub clock: Clock,
}

impl FollowerConfig {
    /// Default settings for recovering `leader` into `target`.
    pub fn new(leader: impl Into<String>, target: impl Into<PathBuf>) -> Self {
        Self {
            leader: leader.into(),
            target: target.into(),
            index: "index".into(),
            auth_token: None,
            settings: RecoverySettings::default(),
            sample_interval: Duration::from_millis(50),
            clock: Clock::start(),
        }
    }
}

/// The recovery could not start (a failed recovery is a report, not this error).
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// A setting is out of range.
    #[error(transparent)]
    Settings(#[from] OutOfRange),
    /// The target directory cannot be used.
    #[error(transparent)]
    Target(#[from] IndexError),
}

/// Why an attempt ended.
#[derive(Debug)]
struct Failure {
    kind: FailureKind,
    message: String,
    /// The channel that failed first, when one did.
    channel: Option<usize>,
    /// Not worth another attempt (corruption, a broken leader).
    fatal: bool,
}

impl Failure {
    fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        let fatal = matches!(kind, FailureKind::Corrupt | FailureKind::Interrupted);
        Self {
            kind,
            message: message.into(),
            channel: None,
            fatal,
        }
    }

    fn fatal(mut self) -> Self {
        self.fatal = true;
        self
    }

    /// A request failed on `channel` (if known); a lost connection is blamed on the channel that
    /// failed first.
    fn transport(channel: Option<usize>, e: TransportError) -> Self {
        let channel = match &e {
            TransportError::ChannelLost { channel, .. } => Some(*channel),
            _ => channel,
        };
        let kind = match e.root() {
            TransportError::Connect { .. } => FailureKind::Connect,
            TransportError::Reset => FailureKind::Reset,
            TransportError::Eof => FailureKind::Eof,
            TransportError::Timeout(_) => FailureKind::Timeout,
            TransportError::Io(_) => FailureKind::Io,
            TransportError::Protocol(_) | TransportError::Unexpected(_) => FailureKind::Protocol,
            TransportError::Remote {
                code: ErrorCode::UnknownSession,
                ..
            } => FailureKind::SessionExpired,
            TransportError::Remote { .. } => FailureKind::Remote,
            TransportError::PingTimeout(_) => FailureKind::Timeout,
            TransportError::ChannelLost { .. } => FailureKind::Eof,
        };
        let mut failure = Self::new(kind, e.to_string());
        failure.channel = channel;
        failure
    }

    fn local(e: IndexError) -> Self {
        match e {
            IndexError::ChecksumMismatch { .. } | IndexError::LengthMismatch { .. } => {
                Self::new(FailureKind::Corrupt, e.to_string())
            }
            IndexError::UnsafeName(_) => Self::new(FailureKind::Protocol, e.to_string()).fatal(),
            _ => Self::new(FailureKind::Io, e.to_string()),
        }
    }
}

/// What a finished task tells the attempt loop.
enum Step {
    /// A chunk was received, checked and written.
    Fetched { req: ChunkRequest, crc: u32 },
    /// A file was verified, fsynced and renamed.
    Finalized { seq: u64, len: u64 },
}

/// Everything an attempt needs that outlives it.
struct Ctx {
    config: FollowerConfig,
    target: TargetDir,
    limiter: Arc<NodeRateLimiter>,
    progress: Arc<Progress>,
}

/// Recovers the index, attempt after attempt as the policy allows, until it is verified, a
/// failure is final, or `cancel` completes. Returns the report either way.
pub async fn recover(
    config: FollowerConfig,
    progress: Arc<Progress>,
    cancel: impl Future<Output = ()>,
) -> Result<RecoveryReport, FollowerError> {
    config.settings.validate()?;
    let target = TargetDir::prepare(&config.target)?;
    // A previous run's files are removed before the clock starts: the first attempt measures
    // the recovery, not the clean-up. Later attempts clear inside the clock (a restart's cost).
    target.clear()?;
    let ctx = Ctx {
        limiter: Arc::new(NodeRateLimiter::new(config.settings.max_bytes_per_sec)),
        config,
        target,
        progress,
    };
    let start = Instant::now();
    let clock = ctx.config.clock;
    let (stop, stopped) = watch::channel(false);
    let sampler = tokio::spawn(sample(
        ctx.progress.clone(),
        clock,
        ctx.config.sample_interval,
        stopped,
    ));
    tokio::pin!(cancel);

    let channel_types = ctx.config.settings.connection_profile.channel_types();
    let mut failures = Vec::new();
    let mut completed = false;
    let mut attempts = 0;
    while attempts < ctx.config.settings.max_retries {
        attempts += 1;
        Progress::set(&ctx.progress.attempt, u64::from(attempts));
        let result = tokio::select! {
            r = run_attempt(&ctx, attempts) => r,
            _ = &mut cancel => Err(Failure::new(FailureKind::Interrupted, "interrupted")),
        };
        match result {
            Ok(()) => {
                completed = true;
                break;
            }
            Err(f) => {
                let fatal = f.fatal;
                failures.push(FailureRecord {
                    attempt: attempts,
                    t: clock.elapsed().as_secs_f64(),
                    kind: f.kind,
                    channel: f.channel,
                    channel_type: f.channel.and_then(|c| channel_types.get(c).copied()),
                    message: f.message,
                });
                if fatal {
                    break;
                }
            }
        }
    }
    let duration = start.elapsed();
    let _ = stop.send(true);
    let timeseries = sampler.await.unwrap_or_default();

    let failure = (!completed).then(|| match failures.last() {
        Some(last)
            if last.attempt == ctx.config.settings.max_retries
                && !matches!(last.kind, FailureKind::Corrupt | FailureKind::Interrupted) =>
        {
            format!(
                "{}: {} (gave up after {attempts} attempts)",
                last.kind, last.message
            )
        }
        Some(last) => format!("{}: {}", last.kind, last.message),
        None => "no attempt was made".to_string(),
    });
    let p = &ctx.progress;
    let bytes = Progress::get(&p.bytes_verified);
    Ok(RecoveryReport {
        schema: REPORT_SCHEMA.into(),
        outcome: if completed {
            Outcome::Completed
        } else {
            Outcome::Failed
        },
        failure,
        leader: ctx.config.leader.clone(),
        started_at: clock.offset(start).as_secs_f64(),
        policy: "elasticsearch".into(),
        bytes,
        bytes_needed: Progress::get(&p.bytes_needed),
        bytes_transferred: Progress::get(&p.bytes_transferred),
        files: Progress::get(&p.files_total),
        files_verified: Progress::get(&p.files_verified),
        duration_s: duration.as_secs_f64(),
        throughput_mib_s: mib_per_sec(bytes, duration),
        attempts,
        failures,
        settings: ctx.config.settings.clone(),
        timeseries,
    })
}

/// Sends one request on the next data channel and waits at most `limit` for its response.
async fn call(
    connection: &Connection,
    message: &Message,
    limit: Duration,
) -> Result<Message, Failure> {
    match timeout(limit, connection.request(message)).await {
        Ok(result) => result.map_err(|(channel, e)| Failure::transport(channel, e)),
        Err(_) => Err(Failure::transport(None, TransportError::Timeout(limit))),
    }
}

/// How to open connections for these settings.
fn connect_options(config: &FollowerConfig, limit: Duration) -> ConnectOptions {
    let s = &config.settings;
    // A chunk response is the chunk plus 32 bytes of header and fields; the file list may be
    // bigger than a small chunk, so allow at least 16 MiB.
    let max_response = (s.chunk_size.bytes() + 64)
        .max(16 << 20)
        .min(u64::from(u32::MAX)) as u32;
    ConnectOptions {
        profile: s.connection_profile,
        close_all_on_channel_loss: s.close_all_on_channel_loss,
        socket: SocketOptions {
            keepalive: s.tcp_keep_alive.then_some(Keepalive {
                idle: s.tcp_keep_idle,
                interval: s.tcp_keep_interval,
                count: s.tcp_keep_count,
            }),
            user_timeout: s.tcp_user_timeout,
        },
        ping_schedule: s.ping_schedule,
        ping_timeout: None,
        max_response,
        auth: config.auth_token.clone().unwrap_or_default(),
        handshake_timeout: limit,
    }
}

fn unexpected(what: &str, got: &Message) -> Failure {
    Failure::new(
        FailureKind::Protocol,
        format!("expected {what}, got {:?}", got.kind()),
    )
}

/// One attempt: an empty target, a new connection, a new session, every chunk.
async fn run_attempt(ctx: &Ctx, attempt: u32) -> Result<(), Failure> {
    let settings = &ctx.config.settings;
    let limit = settings.internal_action_timeout;
    let progress = &ctx.progress;
    Progress::set(&progress.bytes_verified, 0);
    Progress::set(&progress.files_verified, 0);
    if attempt > 1 {
        ctx.target.clear().map_err(Failure::local)?;
    }

    let connection = Connection::open(&ctx.config.leader, &connect_options(&ctx.config, limit))
        .await
        .map_err(|e| Failure::transport(None, e))?;
    let connection = Arc::new(connection);
    let open = Message::OpenSession {
        index: ctx.config.index.clone(),
    };
    let (session, files) = match call(&connection, &open, limit).await? {
        Message::SessionOpened { session, files } => (session, files),
        other => return Err(unexpected("SessionOpened", &other)),
    };
    if let Some(bad) = files.iter().find(|f| !is_safe_file_name(&f.name)) {
        return Err(Failure::local(IndexError::UnsafeName(bad.name.clone())));
    }
    Progress::set(&progress.bytes_needed, files.iter().map(|f| f.len).sum());
    Progress::set(&progress.files_total, files.len() as u64);

    transfer_files(ctx, &connection, session, &files).await?;
    ctx.target.sync().map_err(Failure::local)?;
    // Closing is a courtesy: the leader would expire the session anyway.
    let _ = call(&connection, &Message::CloseSession { session }, limit).await;
    Ok(())
}

/// Keeps the window full until every file is verified.
async fn transfer_files(
    ctx: &Ctx,
    connection: &Arc<Connection>,
    session: u64,
    files: &[FileMeta],
) -> Result<(), Failure> {
    let settings = &ctx.config.settings;
    let mut parts: Vec<Option<Arc<PartFile>>> = vec![None; files.len()];
    let mut assemblers: Vec<FileAssembler> =
        files.iter().map(|f| FileAssembler::new(f.len)).collect();
    for (i, f) in files.iter().enumerate().filter(|(_, f)| f.len == 0) {
        let part = ctx.target.create_part(f).map_err(Failure::local)?;
        part.finish(0, 0).map_err(Failure::local)?;
        parts[i] = None;
        Progress::add(&ctx.progress.files_verified, 1);
    }
    let mut window = ChunkWindow::new(
        files.iter().map(|f| f.len).collect(),
        settings.chunk_size.bytes(),
        settings.max_concurrent_file_chunks,
    );
    // Dropping the set (on any early return) aborts every request still in flight.
    let mut tasks: JoinSet<Result<Step, Failure>> = JoinSet::new();
    loop {
        while let Some(req) = window.next_request() {
            let i = req.file as usize;
            let part = match &parts[i] {
                Some(p) => p.clone(),
                None => {
                    let p = Arc::new(ctx.target.create_part(&files[i]).map_err(Failure::local)?);
                    parts[i] = Some(p.clone());
                    p
                }
            };
            tasks.spawn(fetch_chunk(
                connection.clone(),
                ctx.limiter.clone(),
                ctx.progress.clone(),
                session,
                req,
                part,
                settings.internal_action_timeout,
            ));
        }
        if window.is_done() {
            return Ok(());
        }
        let Some(joined) = tasks.join_next().await else {
            return Err(Failure::new(
                FailureKind::Io,
                "internal error: window stalled with nothing in flight",
            )
            .fatal());
        };
        let step = joined
            .map_err(|e| Failure::new(FailureKind::Io, format!("chunk task failed: {e}")))??;
        match step {
            Step::Fetched { req, crc } => {
                let i = req.file as usize;
                assemblers[i]
                    .add(req.offset, u64::from(req.len), crc)
                    .map_err(|e| Failure::new(FailureKind::Protocol, e.to_string()))?;
                if !assemblers[i].is_complete() {
                    window.mark_processed(req.seq);
                    continue;
                }
                // The file's last chunk holds its window slot until the file is verified and
                // fsynced, as Elasticsearch's writer does.
                let Some(part) = parts[i].take() else {
                    return Err(Failure::new(
                        FailureKind::Io,
                        "internal error: file finished twice",
                    )
                    .fatal());
                };
                let (len, crc) = (files[i].len, assemblers[i].crc());
                tasks.spawn(async move {
                    tokio::task::spawn_blocking(move || part.finish(len, crc))
                        .await
                        .map_err(|e| Failure::new(FailureKind::Io, e.to_string()))?
                        .map_err(Failure::local)?;
                    Ok(Step::Finalized { seq: req.seq, len })
                });
            }
            Step::Finalized { seq, len } => {
                window.mark_processed(seq);
                Progress::add(&ctx.progress.files_verified, 1);
                Progress::add(&ctx.progress.bytes_verified, len);
            }
        }
    }
}

/// One chunk: request, check, throttle, write.
async fn fetch_chunk(
    connection: Arc<Connection>,
    limiter: Arc<NodeRateLimiter>,
    progress: Arc<Progress>,
    session: u64,
    req: ChunkRequest,
    part: Arc<PartFile>,
    limit: Duration,
) -> Result<Step, Failure> {
    let ask = Message::GetChunk {
        session,
        file: req.file,
        offset: req.offset,
        len: req.len,
    };
    let (data, claimed_crc) = match call(&connection, &ask, limit).await? {
        Message::Chunk {
            file,
            offset,
            crc32c,
            data,
        } if file == req.file && offset == req.offset && data.len() == req.len as usize => {
            (data, crc32c)
        }
        Message::Chunk {
            file, offset, data, ..
        } => {
            return Err(Failure::new(
                FailureKind::Protocol,
                format!(
                    "asked for file {} offset {} len {}, got file {file} offset {offset} len {}",
                    req.file,
                    req.offset,
                    req.len,
                    data.len()
                ),
            ));
        }
        other => return Err(unexpected("Chunk", &other)),
    };
    Progress::add(&progress.bytes_transferred, data.len() as u64);
    limiter.pause(data.len() as u64).await;
    let crc = tokio::task::spawn_blocking(move || {
        let crc = crc32c::crc32c(&data);
        if crc != claimed_crc {
            return Err(Failure::new(
                FailureKind::Corrupt,
                format!(
                    "chunk of file {} at offset {}: crc32c {crc:08x} but the leader sent {claimed_crc:08x}",
                    req.file, req.offset
                ),
            ));
        }
        part.write_at(req.offset, &data).map_err(Failure::local)?;
        Ok(crc)
    })
    .await
    .map_err(|e| Failure::new(FailureKind::Io, e.to_string()))??;
    Ok(Step::Fetched { req, crc })
}
