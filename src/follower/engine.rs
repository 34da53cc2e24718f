//! The recovery engine: attempts and policies around [`super::transfer`].
//!
//! Each policy decides what a failure costs (see [`super::policy`]). Elasticsearch aborts the
//! attempt and starts again from an empty store; OpenSearch retries chunks on connection errors
//! and then starts again from zero; resumable keeps every verified, persisted byte, across
//! attempts and across process restarts (through its journal). A checksum mismatch ends the
//! recovery under every policy: corruption is never retried. The report accounts every byte:
//! needed, transferred, kept, resumed from disk, and wasted.

use std::{
    future::Future,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::{
    policy::Policy,
    progress::{Progress, sample},
    report::{FailureKind, FailureRecord, Outcome, REPORT_SCHEMA, RecoveryReport},
    store::Store,
    transfer::{Fetcher, Link, run_attempt},
};
use crate::{
    auth::{AUTH_TOKEN_ENV, AuthToken},
    chaos::rng::SeededRng,
    clock::Clock,
    index::{IndexError, Journal, TargetDir},
    protocol::ErrorCode,
    ratelimit::NodeRateLimiter,
    settings::{OutOfRange, RecoverySettings, Transport},
    transport::{
        TransportError,
        connection::ConnectOptions,
        quic::{QuicClient, QuicLiveness},
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
    pub auth_token: Option<AuthToken>,
    /// Elasticsearch-named settings.
    pub settings: RecoverySettings,
    /// Time-series sampling interval.
    pub sample_interval: Duration,
    /// The clock every timestamp of the report is read from; share it with a leader or a chaos
    /// proxy and their events line up with the engine's.
    pub clock: Clock,
    /// Stop, whatever the policy says, after this long (a trial's time limit).
    pub time_limit: Option<Duration>,
    /// Seed of the resumable policy's backoff jitter.
    pub seed: u64,
    /// Reach the leader over QUIC (one connection, a stream per channel) instead of TCP; its
    /// liveness comes from `settings` (`quic_idle_timeout`, `quic_keep_alive`).
    pub quic: Option<QuicClient>,
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
            time_limit: None,
            seed: 0,
            quic: None,
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
pub(crate) struct Failure {
    kind: FailureKind,
    message: String,
    /// The channel that failed first, when one did.
    channel: Option<usize>,
    /// Not worth another attempt (corruption, a broken leader).
    fatal: bool,
    /// Whether it came from the network (not from the local disk).
    channel_or_transport: bool,
}

impl Failure {
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        let fatal = kind.is_final();
        Self {
            kind,
            message: message.into(),
            channel: None,
            fatal,
            channel_or_transport: false,
        }
    }

    pub(crate) fn fatal(mut self) -> Self {
        self.fatal = true;
        self
    }

    /// A request failed on `channel` (if known); a lost connection is blamed on the channel that
    /// failed first.
    pub(crate) fn transport(channel: Option<usize>, e: TransportError) -> Self {
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
            TransportError::Remote {
                code: ErrorCode::Unauthorized,
                ..
            } => FailureKind::Unauthorized,
            TransportError::Remote { .. } => FailureKind::Remote,
            TransportError::PingTimeout(_) => FailureKind::Timeout,
            TransportError::ChannelLost { .. } => FailureKind::Eof,
        };
        let message = match e.root() {
            TransportError::Remote {
                code: ErrorCode::Unauthorized,
                message,
            } => unauthorized(message),
            _ => e.to_string(),
        };
        let mut failure = Self::new(kind, message);
        failure.channel = channel;
        failure.channel_or_transport = true;
        failure
    }

    pub(crate) fn local(e: IndexError) -> Self {
        match e {
            IndexError::ChecksumMismatch { .. } | IndexError::LengthMismatch { .. } => {
                Self::new(FailureKind::Corrupt, e.to_string())
            }
            // A leader that lists a bad name twice will list it again: not worth retrying.
            IndexError::UnsafeName(_)
            | IndexError::DuplicateName(_)
            | IndexError::TooManyFiles { .. }
            | IndexError::FileTooLarge { .. } => {
                Self::new(FailureKind::Protocol, e.to_string()).fatal()
            }
            IndexError::TargetFull { .. } => Self::new(FailureKind::Io, e.to_string()).fatal(),
            _ => Self::new(FailureKind::Io, e.to_string()),
        }
    }

    /// A broken or unreachable connection: what OpenSearch retries a chunk on.
    pub(crate) fn is_connection_error(&self) -> bool {
        matches!(
            self.kind,
            FailureKind::Reset
                | FailureKind::Eof
                | FailureKind::Connect
                | FailureKind::Io
                | FailureKind::Timeout
        ) && self.channel_or_transport
    }
}

/// What a refused token means, for a user: the likely cause and the fix.
fn unauthorized(leader_said: &str) -> String {
    format!(
        "the leader refused the auth token ({leader_said}): this follower's token is missing or \
         differs from the leader's; give both the same one (--auth-token-file or \
         {AUTH_TOKEN_ENV})"
    )
}

/// Everything an attempt needs that outlives it.
pub(crate) struct Ctx {
    pub(crate) config: FollowerConfig,
    pub(crate) policy: Policy,
    pub(crate) target: TargetDir,
    pub(crate) limiter: Arc<NodeRateLimiter>,
    pub(crate) progress: Arc<Progress>,
}

impl Ctx {
    pub(crate) fn connect_options(&self) -> ConnectOptions {
        connect_options(&self.config, self.policy)
    }

    pub(crate) fn fetcher(&self, link: Arc<Link>) -> Fetcher {
        Fetcher {
            link,
            limiter: self.limiter.clone(),
            progress: self.progress.clone(),
            policy: self.policy,
            time_scale: self.config.settings.time_scale,
            limit: self
                .policy
                .has_request_timeout()
                .then_some(self.config.settings.internal_action_timeout),
        }
    }
}

/// Waits `delay` unless stopped first; returns the stop's failure.
async fn pause(
    policy: Policy,
    delay: Duration,
    cancel: &mut (impl Future<Output = ()> + Unpin),
    time_up: &mut (impl Future<Output = ()> + Unpin),
    limit: Option<Duration>,
) -> Option<Failure> {
    tokio::select! {
        _ = tokio::time::sleep(delay) => None,
        _ = cancel => Some(Failure::new(FailureKind::Interrupted, "interrupted")),
        _ = time_up => Some(time_limit_failure(limit, policy)),
    }
}

/// The time limit stopped the recovery. Under a policy without a per-request timeout (the
/// OpenSearch plugin's), that is the only thing that ends a wait on a silent leader: say so.
fn time_limit_failure(limit: Option<Duration>, policy: Policy) -> Failure {
    let limit = limit.map(crate::units::format_duration).unwrap_or_default();
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

/// Recovers the index, attempt after attempt as the policy allows, until it is verified, a
/// failure is final, the time limit passes, or `cancel` completes. Returns the report either way.
pub async fn recover(
    config: FollowerConfig,
    progress: Arc<Progress>,
    cancel: impl Future<Output = ()>,
) -> Result<RecoveryReport, FollowerError> {
    config.settings.validate()?;
    let policy = config.settings.policy;
    let target = TargetDir::prepare(&config.target)?;
    // Before the clock starts: a restarting policy removes a previous run's files (the first
    // attempt measures the recovery, not the clean-up); the resumable policy re-reads and
    // re-checks what its journal says is already here.
    let mut store = match policy {
        Policy::Resumable => match Journal::read(target.path())? {
            Some(recorded) => Some(Store::resume(&target, recorded)?),
            None => {
                target.clear()?;
                None
            }
        },
        _ => {
            target.clear()?;
            None
        }
    };
    let bytes_resumed = store.as_ref().map_or(0, Store::persisted);
    let ctx = Ctx {
        limiter: Arc::new(NodeRateLimiter::new(config.settings.max_bytes_per_sec)),
        policy,
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
    let time_limit = ctx.config.time_limit;
    let time_up = async move {
        match time_limit {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(cancel);
    tokio::pin!(time_up);
    let mut jitter = SeededRng::new(ctx.config.seed, 0x5eed);

    let channel_types = ctx.config.settings.connection_profile.channel_types();
    let settings = &ctx.config.settings;
    let mut failures = Vec::new();
    let mut completed = false;
    let mut attempts = 0;
    while attempts < settings.max_retries {
        attempts += 1;
        Progress::set(&ctx.progress.attempt, u64::from(attempts));
        let result = match attempts {
            1 => None,
            n => {
                let delay = policy.attempt_delay(n, settings.time_scale, jitter.unit());
                pause(policy, delay, &mut cancel, &mut time_up, time_limit).await
            }
        };
        let result = match result {
            Some(stopped) => Err(stopped),
            None => tokio::select! {
                r = run_attempt(&ctx, attempts, &mut store) => r,
                _ = &mut cancel => Err(Failure::new(FailureKind::Interrupted, "interrupted")),
                _ = &mut time_up => Err(time_limit_failure(time_limit, policy)),
            },
        };
        match result {
            Ok(()) => {
                completed = true;
                break;
            }
            Err(f) => {
                let fatal = f.fatal;
                // Nothing of a failed attempt is reused by a restarting policy: its part files
                // (sized to the lengths the leader declared) go now, not at the next attempt.
                if policy.restarts_from_zero() {
                    let _ = ctx.target.remove_parts();
                }
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
        Some(last) if last.attempt == settings.max_retries && !last.kind.is_final() => {
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
    let transferred = Progress::get(&p.bytes_transferred);
    // Bytes that ended up in the result: a restarting policy keeps nothing of a failed
    // recovery (its next try would start from an empty store).
    let kept = match (completed, policy.restarts_from_zero()) {
        (true, _) | (false, false) => store
            .as_ref()
            .map_or(0, Store::persisted)
            .saturating_sub(bytes_resumed),
        (false, true) => 0,
    };
    Ok(RecoveryReport {
        schema: REPORT_SCHEMA.into(),
        outcome: if completed {
            Outcome::Completed
        } else {
            Outcome::Failed
        },
        failure,
        leader: ctx.config.leader.clone(),
        started_at: clock.offset(start.into()).as_secs_f64(),
        clock_unix_epoch_s: clock.unix_epoch_s(),
        policy: policy.to_string(),
        bytes,
        bytes_needed: Progress::get(&p.bytes_needed),
        bytes_transferred: transferred,
        bytes_resumed,
        bytes_wasted: transferred.saturating_sub(kept),
        pings_sent: Progress::get(&p.pings_sent),
        files: Progress::get(&p.files_total),
        files_verified: Progress::get(&p.files_verified),
        duration_s: duration.as_secs_f64(),
        throughput_mib_s: mib_per_sec(bytes.saturating_sub(bytes_resumed), duration),
        attempts,
        failures,
        settings: ctx.config.settings.clone(),
        timeseries,
        faults: Vec::new(),
    })
}

/// How to open connections for these settings.
fn connect_options(config: &FollowerConfig, policy: Policy) -> ConnectOptions {
    let s = &config.settings;
    let limit = s.internal_action_timeout;
    // A chunk response is the chunk plus 32 bytes of header and fields; the file list may be
    // bigger than a small chunk, so allow at least 16 MiB.
    let max_response = (s.chunk_size.bytes() + 64)
        .max(16 << 20)
        .min(u64::from(u32::MAX)) as u32;
    // The resumable policy always pings every channel (1 s unless set): it is how it notices a
    // blackhole that TCP keepalive cannot see.
    let ping_schedule = match policy {
        Policy::Resumable => s.ping_schedule.or(Some(Duration::from_secs(1))),
        _ => s.ping_schedule,
    };
    ConnectOptions {
        profile: s.connection_profile,
        // Elasticsearch and OpenSearch close the connection with its first lost channel;
        // rrbench's resumable policy keeps the others unless told otherwise.
        close_all_on_channel_loss: s
            .close_all_on_channel_loss
            .unwrap_or(policy != Policy::Resumable),
        socket: SocketOptions {
            keepalive: s.tcp_keep_alive.then_some(Keepalive {
                idle: s.tcp_keep_idle,
                interval: s.tcp_keep_interval,
                count: s.tcp_keep_count,
            }),
            user_timeout: s.tcp_user_timeout,
        },
        ping_schedule,
        // Over QUIC a pong waits behind the chunk bytes queued on its stream, so under loss a
        // late pong says nothing about the path; QUIC's idle timeout is the dead-path detector
        // there, and pings only keep packets flowing.
        ping_timeout: (policy.pings_detect_dead_channels() && s.transport == Transport::Tcp)
            .then(|| ping_schedule.map(|p| (p * 3).max(Duration::from_secs(1))))
            .flatten(),
        max_response,
        auth: config.auth_token.clone(),
        handshake_timeout: limit,
        quic: config.quic.clone(),
        quic_liveness: QuicLiveness {
            idle_timeout: s.quic_idle_timeout,
            keep_alive: s.quic_keep_alive,
        },
    }
}
