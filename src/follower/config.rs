//! What a recovery is asked to do: where the leader is, where the index goes, the settings, and
//! how those settings become connection options (the policy's liveness included).

use std::{path::PathBuf, sync::Arc, time::Duration};

use crate::{
    auth::{ApiKeyError, Credentials},
    clock::Clock,
    index::IndexError,
    settings::{OutOfRange, RecoverySettings},
    transport::{
        connection::ConnectOptions,
        dial::Dialer,
        quic::{QuicClient, QuicLiveness, TlsClient},
        socket::{Keepalive, SocketOptions},
    },
    vocabulary::{Policy, RemoteMode, Transport},
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
    /// Shards of the index (`index.number_of_shards`), which the leader must confirm: one is
    /// recovered into `target`, more into `target/0`, `target/1`, ....
    pub shards: u32,
    /// What `Hello` carries: an API key, or the deprecated shared token.
    pub credentials: Option<Credentials>,
    /// Send an API key over plaintext TCP (refused without it: TLS or QUIC carry keys).
    pub allow_plaintext_credentials: bool,
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
    /// Reach the leader over TLS on TCP, trusting this CA (TCP only; QUIC always is TLS).
    pub tls: Option<TlsClient>,
    /// Reach the leader through this instead of TCP or QUIC to `leader` (an in-memory leader,
    /// a simulated network); `leader` then only names it in the report.
    pub dialer: Option<Arc<dyn Dialer>>,
}

impl FollowerConfig {
    /// Default settings for recovering `leader` into `target`.
    pub fn new(leader: impl Into<String>, target: impl Into<PathBuf>) -> Self {
        Self {
            leader: leader.into(),
            target: target.into(),
            index: "index".into(),
            shards: 1,
            credentials: None,
            allow_plaintext_credentials: false,
            settings: RecoverySettings::default(),
            sample_interval: Duration::from_millis(50),
            clock: Clock::start(),
            time_limit: None,
            seed: 0,
            quic: None,
            tls: None,
            dialer: None,
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
    /// An API key would cross the network in clear text.
    #[error(transparent)]
    Credentials(#[from] ApiKeyError),
}

impl FollowerConfig {
    /// How the engine opens connections for this configuration: its channels (the profile's,
    /// or one per proxy socket), whether one lost closes all, socket and ping options.
    pub fn connect_options(&self) -> ConnectOptions {
        connect_options(self, self.settings.policy)
    }
}

/// How to open connections for these settings.
pub(crate) fn connect_options(config: &FollowerConfig, policy: Policy) -> ConnectOptions {
    let s = &config.settings;
    let limit = s.internal_action_timeout;
    // A chunk response is the chunk plus 32 bytes of header and fields; the file list may be
    // bigger than a small chunk, so allow at least 16 MiB.
    let max_response = (s.chunk_size.bytes() + 64)
        .max(16 << 20)
        .min(u64::from(u32::MAX)) as u32;
    let ping_schedule = policy.ping_schedule(s.ping_schedule);
    ConnectOptions {
        profile: s.connection_profile,
        mode: s.mode,
        proxy_sockets: s.proxy_socket_connections,
        close_all_on_channel_loss: s.close_all_on_channel_loss.unwrap_or(match s.mode {
            // Each proxy socket is a connection of its own: losing one loses only its requests.
            RemoteMode::Proxy => false,
            RemoteMode::Sniff => policy.closes_all_on_channel_loss(),
        }),
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
        ping_timeout: (s.transport == Transport::Tcp)
            .then(|| policy.pong_deadline(ping_schedule))
            .flatten(),
        max_response,
        auth: config.credentials.clone(),
        handshake_timeout: limit,
        quic_liveness: QuicLiveness {
            idle_timeout: s.quic_idle_timeout,
            keep_alive: s.quic_keep_alive,
        },
    }
}
