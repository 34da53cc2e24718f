//! Recovery and leader settings, named as Elasticsearch names them, with their ranges.
//!
//! The CLI and campaign files parse values into these structs; [`RecoverySettings::validate`]
//! and [`LeaderSettings::validate`] check ranges before anything runs, so a bad value is reported
//! with its Elasticsearch name and its range instead of failing half-way through a recovery.
//! Settings that name a choice (policy, profile, transport, congestion controller) take the
//! words of [`crate::vocabulary`]; what the follower and the leader make of the settings is
//! theirs (this module imports neither).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    units::{ByteSize, duration_serde, format_duration, option_duration_serde},
    vocabulary::{
        ChannelType, CongestionControl, ConnectionProfile, LeaderFlavor, Policy, RemoteMode,
        Transport, ZeroCopy,
    },
};

/// A setting outside its range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{setting} (--{flag}) = {value} is out of range: {range}")]
pub struct OutOfRange {
    /// The Elasticsearch name, e.g. `ccr.indices.recovery.chunk_size`.
    pub setting: &'static str,
    /// The command-line flag that sets it.
    pub flag: &'static str,
    /// The value given, as written back.
    pub value: String,
    /// The allowed range, in words.
    pub range: &'static str,
}

/// Follower-side settings of one recovery. `Default` is Elasticsearch 8.x's;
/// [`RecoverySettings::defaults_for`] gives each policy's own (OpenSearch's plugin has larger
/// chunks and no rate limit). Read from a table, any setting left out keeps its default and an
/// unknown one is an error; a campaign file fills what it leaves out from its policy's defaults
/// ([`RecoverySettings::fill_policy_defaults`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecoverySettings {
    /// `ccr.indices.recovery.max_bytes_per_sec`: node-wide rate limit, applied after each chunk
    /// response arrives; `0b` means unlimited.
    pub max_bytes_per_sec: ByteSize,
    /// `ccr.indices.recovery.max_concurrent_file_chunks`: chunk requests in flight (1–10).
    pub max_concurrent_file_chunks: u32,
    /// `ccr.indices.recovery.chunk_size`: bytes per chunk request (1kb–1gb).
    pub chunk_size: ByteSize,
    /// `ccr.indices.recovery.internal_action_timeout`: bound on each chunk request.
    #[serde(with = "duration_serde")]
    pub internal_action_timeout: Duration,
    /// `index.allocation.max_retries`: attempts before the shard stays failed (1–1000), per
    /// shard.
    pub max_retries: u32,
    /// `cluster.routing.allocation.node_initial_primaries_recoveries`: shards of the index the
    /// follower node restores at once (CCR restores primaries from a snapshot-like source, so
    /// this throttle applies, not `node_concurrent_recoveries`); they share the node's rate
    /// limiter and its connection to the leader.
    pub node_initial_primaries_recoveries: u32,
    /// Channels to open in sniff mode: `remote` (6; what CCR always uses) or `intra-cluster` (13
    /// typed: node-to-node traffic inside one cluster, such as peer recovery).
    pub connection_profile: ConnectionProfile,
    /// `cluster.remote.<alias>.mode`: `sniff` (the profile's channels on one connection) or
    /// `proxy` (`proxy_socket_connections` one-channel connections to one address).
    pub mode: RemoteMode,
    /// `cluster.remote.<alias>.proxy_socket_connections`: sockets opened in proxy mode (1–1000).
    pub proxy_socket_connections: u32,
    /// `cluster.remote.node_connections`: gateway nodes connected to in sniff mode (1–100); the
    /// follower is given their addresses, and a shard whose primary is on another node is
    /// reached through one of them.
    pub node_connections: u32,
    /// One channel closing closes the whole connection; `None` is the default: on for the
    /// elasticsearch and opensearch policies in sniff mode, off for resumable and in proxy mode
    /// (where every socket is a connection of its own).
    pub close_all_on_channel_loss: Option<bool>,
    /// `network.tcp.keep_alive`.
    pub tcp_keep_alive: bool,
    /// `network.tcp.keep_idle`: idle time before the first keepalive probe.
    #[serde(with = "duration_serde")]
    pub tcp_keep_idle: Duration,
    /// `network.tcp.keep_interval`: time between keepalive probes.
    #[serde(with = "duration_serde")]
    pub tcp_keep_interval: Duration,
    /// `network.tcp.keep_count`: unanswered probes before the kernel drops the connection.
    pub tcp_keep_count: u32,
    /// `TCP_USER_TIMEOUT`: how long sent data may go unacknowledged; `None` is the OS default.
    #[serde(with = "option_duration_serde")]
    pub tcp_user_timeout: Option<Duration>,
    /// `transport.ping_schedule`: a ping on every channel this often; `None` (`-1`) is off.
    #[serde(with = "option_duration_serde")]
    pub ping_schedule: Option<Duration>,
    /// What to do after a failure: elasticsearch, opensearch or resumable.
    pub policy: Policy,
    /// Multiplies the policies' fixed durations (OpenSearch's 10–80 s backoffs, its 1 s restart
    /// delay, resumable's backoff) so tests can compress hours into seconds.
    pub time_scale: f64,
    /// `tcp` (Elasticsearch's channels) or `quic` (one QUIC connection, a stream per channel).
    pub transport: Transport,
    /// TLS on the TCP transport (the follower trusts the leader's certificate; a campaign's
    /// rig generates a self-signed one per trial). QUIC is always TLS.
    pub tls: bool,
    /// QUIC: the connection closes after this long without a packet from the peer.
    #[serde(with = "duration_serde")]
    pub quic_idle_timeout: Duration,
    /// QUIC: a PING frame this often when idle; `None` (`-1`) is off.
    #[serde(with = "option_duration_serde")]
    pub quic_keep_alive: Option<Duration>,
    /// The most files a leader may list in a session (rrbench's guard, not an Elasticsearch
    /// setting): a list longer than this is refused before any file is created.
    pub max_files: u32,
    /// The largest file a leader may declare (rrbench's guard): Elasticsearch advises shards of
    /// at most 50gb, so a larger single file is far more likely a broken or hostile leader.
    pub max_file_size: ByteSize,
    /// How long the node connection sits open and unused before the recovery starts (rrbench's,
    /// not an Elasticsearch setting): a remote cluster is connected long before a follow
    /// request, so the first recovery runs on a connection a middlebox may have forgotten.
    /// 0 (the default) recovers at once.
    #[serde(with = "duration_serde")]
    pub idle_before_recovery: Duration,
}

impl RecoverySettings {
    /// The settings whose default depends on the policy, by their table keys.
    pub const POLICY_DEFAULTED: [&'static str; 3] = [
        "chunk_size",
        "max_concurrent_file_chunks",
        "max_bytes_per_sec",
    ];

    /// The defaults of `policy`'s implementation. Elasticsearch's (and resumable's, which starts
    /// from them) are [`RecoverySettings::default`]; the OpenSearch CCR plugin's chunks are 10mb,
    /// 5 at once, with no byte-rate limit (and no per-request timeout: the policy has none).
    pub fn defaults_for(policy: Policy) -> Self {
        let es = Self {
            policy,
            ..Self::default()
        };
        match policy {
            Policy::Elasticsearch | Policy::Resumable => es,
            Policy::Opensearch => Self {
                chunk_size: ByteSize::mib(10),
                max_concurrent_file_chunks: 5,
                max_bytes_per_sec: ByteSize(0),
                ..es
            },
        }
    }

    /// Replaces each setting of [`RecoverySettings::POLICY_DEFAULTED`] for which `was_set` is
    /// false with the default of `self.policy`: what a user gave always wins.
    pub fn fill_policy_defaults(&mut self, was_set: impl Fn(&str) -> bool) {
        let d = Self::defaults_for(self.policy);
        if !was_set("chunk_size") {
            self.chunk_size = d.chunk_size;
        }
        if !was_set("max_concurrent_file_chunks") {
            self.max_concurrent_file_chunks = d.max_concurrent_file_chunks;
        }
        if !was_set("max_bytes_per_sec") {
            self.max_bytes_per_sec = d.max_bytes_per_sec;
        }
    }

    /// The channels a connection opens: the profile's in sniff mode, one per socket in proxy
    /// mode.
    pub fn channel_types(&self) -> Vec<ChannelType> {
        self.mode
            .channel_types(self.connection_profile, self.proxy_socket_connections)
    }

    /// What the follower accepts as a leader's file list.
    pub fn listing_limits(&self) -> crate::index::ListingLimits {
        crate::index::ListingLimits {
            max_files: self.max_files,
            max_file_size: self.max_file_size,
        }
    }
}

impl Default for RecoverySettings {
    /// Elasticsearch 8.x: keepalive on, idle and interval lowered to 300 s and 75 s (Linux's
    /// defaults are 7200 s and 75 s), 9 probes, ping off.
    fn default() -> Self {
        Self {
            max_bytes_per_sec: ByteSize::mib(40),
            max_concurrent_file_chunks: 5,
            chunk_size: ByteSize::mib(1),
            internal_action_timeout: Duration::from_secs(60),
            max_retries: 5,
            node_initial_primaries_recoveries: 4,
            connection_profile: ConnectionProfile::Remote,
            mode: RemoteMode::Sniff,
            proxy_socket_connections: 18,
            node_connections: 3,
            close_all_on_channel_loss: None,
            tcp_keep_alive: true,
            tcp_keep_idle: Duration::from_secs(300),
            tcp_keep_interval: Duration::from_secs(75),
            tcp_keep_count: 9,
            tcp_user_timeout: None,
            ping_schedule: None,
            policy: Policy::Elasticsearch,
            time_scale: 1.0,
            transport: Transport::Tcp,
            tls: false,
            quic_idle_timeout: Duration::from_secs(30),
            quic_keep_alive: None,
            max_files: 10_000,
            max_file_size: ByteSize::gib(64),
            idle_before_recovery: Duration::ZERO,
        }
    }
}

/// The smallest non-zero rate: the limiter counts in KiB.
const MIN_RATE: ByteSize = ByteSize::kib(1);

impl RecoverySettings {
    /// Checks every setting against its range.
    pub fn validate(&self) -> Result<(), OutOfRange> {
        check_rate(self.max_bytes_per_sec)?;
        let ranges = PolicyRanges::of(self.policy);
        if !(1..=ranges.max_chunks).contains(&self.max_concurrent_file_chunks) {
            return Err(OutOfRange {
                setting: ranges.chunks_setting,
                flag: "max-concurrent-file-chunks",
                value: self.max_concurrent_file_chunks.to_string(),
                range: ranges.chunks_range,
            });
        }
        if !(ByteSize::kib(1)..=ByteSize::gib(1)).contains(&self.chunk_size) {
            return Err(OutOfRange {
                setting: ranges.chunk_setting,
                flag: "chunk-size",
                value: self.chunk_size.to_string(),
                range: "must be between 1kb and 1gb",
            });
        }
        if !(1..=100).contains(&self.node_connections) {
            return Err(OutOfRange {
                setting: "cluster.remote.node_connections",
                flag: "node-connections",
                value: self.node_connections.to_string(),
                range: "must be between 1 and 100",
            });
        }
        if !(1..=1000).contains(&self.proxy_socket_connections) {
            return Err(OutOfRange {
                setting: "cluster.remote.proxy_socket_connections",
                flag: "proxy-socket-connections",
                value: self.proxy_socket_connections.to_string(),
                range: "must be between 1 and 1000",
            });
        }
        check_positive(
            "ccr.indices.recovery.internal_action_timeout",
            "internal-action-timeout",
            self.internal_action_timeout,
        )?;
        check_a_second_or_more("network.tcp.keep_idle", "tcp-keep-idle", self.tcp_keep_idle)?;
        check_a_second_or_more(
            "network.tcp.keep_interval",
            "tcp-keep-interval",
            self.tcp_keep_interval,
        )?;
        if !(1..=255).contains(&self.tcp_keep_count) {
            return Err(OutOfRange {
                setting: "network.tcp.keep_count",
                flag: "tcp-keep-count",
                value: self.tcp_keep_count.to_string(),
                range: "must be between 1 and 255",
            });
        }
        if let Some(t) = self.tcp_user_timeout {
            check_positive("tcp_user_timeout", "tcp-user-timeout", t)?;
        }
        if let Some(p) = self.ping_schedule {
            check_positive("transport.ping_schedule", "ping-schedule", p)?;
        }
        if !(self.time_scale > 0.0 && self.time_scale <= 1000.0) {
            return Err(OutOfRange {
                setting: "time_scale",
                flag: "time-scale",
                value: self.time_scale.to_string(),
                range: "must be greater than 0 and at most 1000",
            });
        }
        if self.max_files == 0 {
            return Err(OutOfRange {
                setting: "max_files",
                flag: "max-files",
                value: self.max_files.to_string(),
                range: "must be at least 1",
            });
        }
        if self.max_file_size.bytes() == 0 {
            return Err(OutOfRange {
                setting: "max_file_size",
                flag: "max-file-size",
                value: self.max_file_size.to_string(),
                range: "must be at least 1b",
            });
        }
        if !(1..=1000).contains(&self.max_retries) {
            return Err(OutOfRange {
                setting: "index.allocation.max_retries",
                flag: "max-retries",
                value: self.max_retries.to_string(),
                range: "must be between 1 and 1000 (total attempts)",
            });
        }
        if !(1..=1000).contains(&self.node_initial_primaries_recoveries) {
            return Err(OutOfRange {
                setting: "cluster.routing.allocation.node_initial_primaries_recoveries",
                flag: "node-initial-primaries-recoveries",
                value: self.node_initial_primaries_recoveries.to_string(),
                range: "must be between 1 and 1000 (shards restored at once)",
            });
        }
        Ok(())
    }
}

impl RecoverySettings {
    /// [`RecoverySettings::validate`], and the floors of the policy's implementation that
    /// rrbench's engine does not need: the OpenSearch plugin refuses a chunk_size below 1mb.
    /// The command line applies them. Campaign files and the library do not, so a simulation
    /// may shrink chunks under any policy (tests/sim.rs runs opensearch with 16kb chunks and
    /// chaos/campaigns/blackhole-liveness.toml with 256kb).
    pub fn validate_strict(&self) -> Result<(), OutOfRange> {
        self.validate()?;
        let ranges = PolicyRanges::of(self.policy);
        if self.chunk_size < ranges.min_chunk {
            return Err(OutOfRange {
                setting: ranges.chunk_setting,
                flag: "chunk-size",
                value: self.chunk_size.to_string(),
                range: ranges.chunk_range,
            });
        }
        Ok(())
    }
}

/// Where the policies' implementations differ in what they accept.
struct PolicyRanges {
    chunk_setting: &'static str,
    min_chunk: ByteSize,
    chunk_range: &'static str,
    chunks_setting: &'static str,
    max_chunks: u32,
    chunks_range: &'static str,
}

impl PolicyRanges {
    fn of(policy: Policy) -> Self {
        match policy {
            Policy::Elasticsearch | Policy::Resumable => Self {
                chunk_setting: "ccr.indices.recovery.chunk_size",
                min_chunk: ByteSize::kib(1),
                chunk_range: "must be between 1kb and 1gb",
                chunks_setting: "ccr.indices.recovery.max_concurrent_file_chunks",
                max_chunks: 10,
                chunks_range: "must be between 1 and 10",
            },
            Policy::Opensearch => Self {
                chunk_setting: "plugins.replication.follower.index.recovery.chunk_size",
                min_chunk: ByteSize::mib(1),
                chunk_range: "must be between 1mb and 1gb under the opensearch policy",
                chunks_setting: "plugins.replication.follower.index.recovery.max_concurrent_file_chunks",
                max_chunks: 1000,
                chunks_range: "must be at least 1 under the opensearch policy (OpenSearch has no \
                               upper bound; rrbench stops at 1000)",
            },
        }
    }
}

/// Leader-side settings (defaults for anything left out; unknown settings are errors).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaderSettings {
    /// `ccr.indices.recovery.max_bytes_per_sec` on the leader node: applied before each chunk is
    /// read, shared by every session; `0b` means unlimited.
    pub max_bytes_per_sec: ByteSize,
    /// `ccr.indices.recovery.recovery_activity_timeout`: a session with no chunk request for this
    /// long is closed at the next tick, so it dies between T and 2T after its last request.
    #[serde(with = "duration_serde")]
    pub recovery_activity_timeout: Duration,
    /// Connections served at once, over TCP and QUIC alike (a QUIC connection counts once,
    /// whatever its streams). A new one past it sheds a silent or idle connection when there is
    /// one; else a TCP one waits in the accept queue and a QUIC one is refused.
    pub max_connections: u32,
    /// Largest chunk a follower may ask for in one request. Each connection buffers at most two
    /// of these (requests read but not yet answered), so this also bounds a connection's memory.
    pub max_chunk_size: ByteSize,
    /// Sessions open at once over all followers; more are refused with an error.
    pub max_sessions: u32,
    /// Sessions open at once that one connection opened.
    pub max_sessions_per_connection: u32,
    /// Chunk requests in flight at once on one session; more are refused with an error
    /// (Elasticsearch's follower keeps at most `max_concurrent_file_chunks`, 1–10).
    pub max_requests_per_session: u32,
    /// A new connection must complete its `Hello` within this, and a request frame, once its
    /// first byte arrived, must arrive whole within it: a peer that sends nothing, or one byte
    /// a second, holds a connection slot no longer.
    #[serde(with = "duration_serde")]
    pub handshake_timeout: Duration,
    /// A connection that sent nothing for this long and owns no open session may be closed
    /// when the leader needs its slot for a new connection (only then: idle channels are
    /// normal, and the intra-cluster profile has eleven of them).
    #[serde(with = "duration_serde")]
    pub idle_connection_timeout: Duration,
    /// The congestion controller the leader sends chunks with (the sender's decides): over TCP
    /// `TCP_CONGESTION` on every connection, over QUIC quinn's controller. `system` is the
    /// kernel's `net.ipv4.tcp_congestion_control` for TCP and quinn's default (CUBIC) for QUIC,
    /// which may differ: set it to compare transports fairly.
    pub congestion_control: CongestionControl,
    /// Whose leader this is: `elasticsearch` expires idle sessions after
    /// `recovery_activity_timeout`; `opensearch` (the CCR plugin) never does.
    pub flavor: LeaderFlavor,
    /// How chunk bytes leave over plain TCP: `auto` (`sendfile` to followers on other hosts),
    /// `always` (loopback too) or `never`. An rrbench setting; Elasticsearch has none.
    pub zero_copy: ZeroCopy,
}

impl Default for LeaderSettings {
    fn default() -> Self {
        Self {
            max_bytes_per_sec: ByteSize::mib(40),
            recovery_activity_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_chunk_size: ByteSize::mib(64),
            max_sessions: 1024,
            max_sessions_per_connection: 16,
            max_requests_per_session: 32,
            handshake_timeout: Duration::from_secs(10),
            idle_connection_timeout: Duration::from_secs(60),
            congestion_control: CongestionControl::System,
            flavor: LeaderFlavor::Elasticsearch,
            zero_copy: ZeroCopy::Auto,
        }
    }
}

impl LeaderSettings {
    /// Checks every setting against its range.
    pub fn validate(&self) -> Result<(), OutOfRange> {
        check_rate(self.max_bytes_per_sec)?;
        check_positive(
            "ccr.indices.recovery.recovery_activity_timeout",
            "recovery-activity-timeout",
            self.recovery_activity_timeout,
        )?;
        if self.max_connections == 0 {
            return Err(OutOfRange {
                setting: "max_connections",
                flag: "max-connections",
                value: "0".into(),
                range: "must be at least 1",
            });
        }
        if !(ByteSize::kib(1)..=ByteSize::gib(1)).contains(&self.max_chunk_size) {
            return Err(OutOfRange {
                setting: "max_chunk_size",
                flag: "max-chunk-size",
                value: self.max_chunk_size.to_string(),
                range: "must be between 1kb and 1gb",
            });
        }
        for (setting, flag, value) in [
            ("max_sessions", "max-sessions", self.max_sessions),
            (
                "max_sessions_per_connection",
                "max-sessions-per-connection",
                self.max_sessions_per_connection,
            ),
            (
                "max_requests_per_session",
                "max-requests-per-session",
                self.max_requests_per_session,
            ),
        ] {
            if value == 0 {
                return Err(OutOfRange {
                    setting,
                    flag,
                    value: "0".into(),
                    range: "must be at least 1",
                });
            }
        }
        check_positive(
            "handshake_timeout",
            "handshake-timeout",
            self.handshake_timeout,
        )?;
        check_positive(
            "idle_connection_timeout",
            "idle-connection-timeout",
            self.idle_connection_timeout,
        )?;
        Ok(())
    }
}

fn check_rate(rate: ByteSize) -> Result<(), OutOfRange> {
    if rate.bytes() != 0 && rate < MIN_RATE {
        return Err(OutOfRange {
            setting: "ccr.indices.recovery.max_bytes_per_sec",
            flag: "max-bytes-per-sec",
            value: rate.to_string(),
            range: "must be 0 (unlimited) or at least 1kb",
        });
    }
    Ok(())
}

/// Keepalive times: the kernel takes them in whole seconds, so less than one would be refused
/// by the socket (`EINVAL`) only once a connection opens.
fn check_a_second_or_more(
    setting: &'static str,
    flag: &'static str,
    value: Duration,
) -> Result<(), OutOfRange> {
    if value < Duration::from_secs(1) {
        return Err(OutOfRange {
            setting,
            flag,
            value: format_duration(value),
            range: "must be at least 1s (the kernel counts keepalive times in whole seconds)",
        });
    }
    Ok(())
}

fn check_positive(
    setting: &'static str,
    flag: &'static str,
    value: Duration,
) -> Result<(), OutOfRange> {
    if value.is_zero() {
        return Err(OutOfRange {
            setting,
            flag,
            value: format_duration(value),
            range: "must be greater than 0",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_elasticsearch_defaults_and_valid() {
        let s = RecoverySettings::default();
        assert_eq!(s.chunk_size, ByteSize::mib(1));
        assert_eq!(s.max_concurrent_file_chunks, 5);
        assert_eq!(s.max_bytes_per_sec, ByteSize::mib(40));
        assert_eq!(s.internal_action_timeout, Duration::from_secs(60));
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(LeaderSettings::default().validate(), Ok(()));
    }

    #[test]
    fn out_of_range_names_the_setting_and_range() {
        let mut s = RecoverySettings {
            max_concurrent_file_chunks: 11,
            ..Default::default()
        };
        let msg = s.validate().expect_err("11 chunks").to_string();
        assert!(
            msg.contains("ccr.indices.recovery.max_concurrent_file_chunks"),
            "{msg}"
        );
        assert!(msg.contains("1 and 10"), "{msg}");

        s.max_concurrent_file_chunks = 1;
        for bad in [
            ByteSize(1023),
            ByteSize::gib(1).max(ByteSize(ByteSize::gib(1).0 + 1)),
        ] {
            s.chunk_size = bad;
            let err = s.validate().expect_err("chunk size");
            assert_eq!(err.setting, "ccr.indices.recovery.chunk_size");
        }
        s.chunk_size = ByteSize::kib(1);
        assert_eq!(s.validate(), Ok(()));
        s.max_bytes_per_sec = ByteSize(10);
        assert_eq!(
            s.validate().expect_err("rate").setting,
            "ccr.indices.recovery.max_bytes_per_sec"
        );
        s.max_bytes_per_sec = ByteSize(0);
        s.internal_action_timeout = Duration::ZERO;
        assert_eq!(
            s.validate().expect_err("timeout").flag,
            "internal-action-timeout"
        );
    }

    #[test]
    fn keepalive_times_under_a_second_are_refused_by_name() {
        let s = RecoverySettings {
            tcp_keep_idle: Duration::from_millis(500),
            ..RecoverySettings::default()
        };
        let e = s.validate().expect_err("refused").to_string();
        assert!(
            e.contains("network.tcp.keep_idle") && e.contains("whole seconds"),
            "{e}"
        );
        let s = RecoverySettings {
            tcp_keep_interval: Duration::from_millis(999),
            ..RecoverySettings::default()
        };
        assert!(s.validate().is_err());
    }

    #[test]
    fn each_policy_has_its_implementations_defaults() {
        for policy in [Policy::Elasticsearch, Policy::Resumable] {
            let s = RecoverySettings::defaults_for(policy);
            assert_eq!(
                s,
                RecoverySettings {
                    policy,
                    ..Default::default()
                }
            );
        }
        let os = RecoverySettings::defaults_for(Policy::Opensearch);
        assert_eq!(os.policy, Policy::Opensearch);
        assert_eq!(os.chunk_size, ByteSize::mib(10));
        assert_eq!(os.max_concurrent_file_chunks, 5);
        assert_eq!(os.max_bytes_per_sec, ByteSize(0), "no rate limit");
        assert!(!os.policy.has_request_timeout());
        assert_eq!(os.validate_strict(), Ok(()));
        assert_eq!(os.mode, RemoteMode::Sniff);
        assert_eq!(os.proxy_socket_connections, 18);
    }

    #[test]
    fn policy_defaults_fill_only_what_was_not_set() {
        let mut s = RecoverySettings {
            policy: Policy::Opensearch,
            chunk_size: ByteSize::mib(2),
            ..Default::default()
        };
        s.fill_policy_defaults(|key| key == "chunk_size");
        assert_eq!(s.chunk_size, ByteSize::mib(2), "given: kept");
        assert_eq!(s.max_bytes_per_sec, ByteSize(0), "not given: opensearch's");
        let mut es = RecoverySettings::default();
        es.fill_policy_defaults(|_| false);
        assert_eq!(es, RecoverySettings::default());
    }

    #[test]
    fn each_policy_is_checked_against_its_own_ranges() {
        let with = |policy, chunks, chunk| RecoverySettings {
            max_concurrent_file_chunks: chunks,
            chunk_size: chunk,
            ..RecoverySettings::defaults_for(policy)
        };
        // OpenSearch has no upper bound on the window (rrbench's guard is 1000) ...
        assert_eq!(
            with(Policy::Opensearch, 20, ByteSize::mib(10)).validate_strict(),
            Ok(())
        );
        let e = with(Policy::Opensearch, 1001, ByteSize::mib(10))
            .validate()
            .expect_err("1001");
        assert_eq!(
            e.setting,
            "plugins.replication.follower.index.recovery.max_concurrent_file_chunks"
        );
        assert!(
            e.to_string().contains("1001") && e.range.contains("1000"),
            "{e}"
        );
        // ... Elasticsearch stops at 10.
        let e = with(Policy::Elasticsearch, 20, ByteSize::mib(1))
            .validate()
            .expect_err("20");
        assert!(e.to_string().contains("between 1 and 10"), "{e}");
        // OpenSearch's chunks are at least 1mb; the engine itself runs smaller ones.
        let small = with(Policy::Opensearch, 5, ByteSize::kib(512));
        assert_eq!(small.validate(), Ok(()));
        let e = small.validate_strict().expect_err("512kb");
        assert_eq!(e.flag, "chunk-size");
        assert!(
            e.to_string().contains("512kb") && e.range.contains("1mb and 1gb"),
            "{e}"
        );
        assert_eq!(
            with(Policy::Elasticsearch, 5, ByteSize::kib(512)).validate_strict(),
            Ok(())
        );
        let e = with(Policy::Opensearch, 5, ByteSize::gib(2))
            .validate()
            .expect_err("2gb");
        assert!(e.to_string().contains("1gb"), "{e}");
    }

    #[test]
    fn proxy_mode_opens_its_sockets_and_their_count_is_bounded() {
        let mut s = RecoverySettings {
            mode: RemoteMode::Proxy,
            ..Default::default()
        };
        assert_eq!(s.channel_types(), [ChannelType::Any; 18]);
        s.connection_profile = ConnectionProfile::IntraCluster;
        assert_eq!(
            s.channel_types().len(),
            18,
            "proxy mode ignores the profile"
        );
        for bad in [0, 1001] {
            s.proxy_socket_connections = bad;
            let e = s.validate().expect_err("out of range");
            assert_eq!(e.setting, "cluster.remote.proxy_socket_connections");
            assert!(
                e.to_string().contains(&bad.to_string()) && e.range.contains("1 and 1000"),
                "{e}"
            );
        }
        s.mode = RemoteMode::Sniff;
        s.proxy_socket_connections = 18;
        assert_eq!(s.channel_types().len(), 13);
    }

    #[test]
    fn settings_serialize_in_elasticsearch_units() {
        let json = serde_json::to_value(RecoverySettings::default()).expect("json");
        assert_eq!(json["chunk_size"], "1mb");
        assert_eq!(json["internal_action_timeout"], "1m");
        let back: RecoverySettings = serde_json::from_value(json).expect("back");
        assert_eq!(back, RecoverySettings::default());
    }
}
