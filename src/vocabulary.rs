//! The words settings are written in: recovery policy, connection profile, remote mode, channel
//! type, transport, congestion controller and chaos layer, each with the one spelling it has in
//! TOML, JSON and on the command line (serde, `FromStr`, `Display`).
//!
//! This module imports nothing from the crate, so [`crate::settings`], [`crate::follower`],
//! [`crate::transport`], [`crate::leader`] and [`crate::campaign`] can all name a setting
//! without importing one another. It owns the names and what each one *is* (a profile's
//! channels, a controller's Linux name), not what the code does with it: a policy's decisions
//! are in [`crate::follower::policy`], opening a profile's channels in
//! [`crate::transport::connection`], setting a controller in [`crate::transport::quic`] and the
//! leader, choosing an injector for a layer in [`crate::campaign::runner`].

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Which recovery strategy to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Elasticsearch 8.x CCR: any failure aborts, the next attempt starts from zero.
    #[default]
    Elasticsearch,
    /// OpenSearch CCR plugin: chunk retries on connection errors, then a restart from zero.
    Opensearch,
    /// rrbench's own: never re-transfer a verified, persisted byte; resume after restarts.
    Resumable,
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "elasticsearch" => Ok(Self::Elasticsearch),
            "opensearch" => Ok(Self::Opensearch),
            "resumable" => Ok(Self::Resumable),
            other => Err(format!(
                "`{other}` is not a policy (elasticsearch, opensearch, resumable)"
            )),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Elasticsearch => "elasticsearch",
            Self::Opensearch => "opensearch",
            Self::Resumable => "resumable",
        })
    }
}

/// Which channels a connection opens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionProfile {
    /// 6 channels, every request type on all of them (a remote cluster connection).
    #[default]
    Remote,
    /// 13 typed channels; chunks ride the 2 recovery channels only.
    IntraCluster,
}

impl FromStr for ConnectionProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "remote" => Ok(Self::Remote),
            "intra-cluster" => Ok(Self::IntraCluster),
            other => Err(format!(
                "`{other}` is not a connection profile (remote, intra-cluster)"
            )),
        }
    }
}

impl fmt::Display for ConnectionProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Remote => "remote",
            Self::IntraCluster => "intra-cluster",
        })
    }
}

/// How a follower reaches a remote cluster (`cluster.remote.<alias>.mode`). CCR always uses the
/// remote connection profile; the mode says how many sockets carry it, and to where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteMode {
    /// Connections to the remote's gateway nodes, each of 6 channels (the profile's); when one
    /// channel closes, Elasticsearch closes the whole connection.
    #[default]
    Sniff,
    /// `cluster.remote.<alias>.proxy_socket_connections` sockets to one `proxy_address` (a load
    /// balancer, a cloud endpoint), each its own connection of one channel: losing one fails
    /// only the requests it carried.
    Proxy,
}

impl FromStr for RemoteMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sniff" => Ok(Self::Sniff),
            "proxy" => Ok(Self::Proxy),
            other => Err(format!("`{other}` is not a remote mode (sniff, proxy)")),
        }
    }
}

impl fmt::Display for RemoteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sniff => "sniff",
            Self::Proxy => "proxy",
        })
    }
}

impl RemoteMode {
    /// The channels a connection opens in this mode: the profile's in sniff mode, `sockets`
    /// channels that carry everything in proxy mode.
    pub fn channel_types(self, profile: ConnectionProfile, sockets: u32) -> Vec<ChannelType> {
        match self {
            Self::Sniff => profile.channel_types(),
            Self::Proxy => vec![ChannelType::Any; sockets as usize],
        }
    }
}

/// What a channel carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    /// Every request type (remote profile).
    Any,
    /// Recovery requests (file chunks).
    Recovery,
    /// Bulk indexing.
    Bulk,
    /// Regular requests.
    Reg,
    /// Cluster state.
    State,
    /// Pings.
    Ping,
}

impl ConnectionProfile {
    /// The channels this profile opens, in order.
    pub fn channel_types(self) -> Vec<ChannelType> {
        use ChannelType::*;
        match self {
            Self::Remote => vec![Any; 6],
            Self::IntraCluster => [(Recovery, 2), (Bulk, 3), (Reg, 6), (State, 1), (Ping, 1)]
                .into_iter()
                .flat_map(|(t, n)| std::iter::repeat_n(t, n))
                .collect(),
        }
    }
}

/// The transport between follower and leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// TCP channels, as Elasticsearch.
    #[default]
    Tcp,
    /// QUIC (quinn): one connection, one bidirectional stream per channel.
    Quic,
}

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(Self::Tcp),
            "quic" => Ok(Self::Quic),
            other => Err(format!("`{other}` is not a transport (tcp, quic)")),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Quic => "quic",
        })
    }
}

/// A congestion control algorithm, for both transports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CongestionControl {
    /// Each transport's default.
    #[default]
    System,
    /// CUBIC (RFC 9438): loss-based, Linux's long-time default.
    Cubic,
    /// BBR: model-based; random loss barely slows it.
    Bbr,
    /// Reno / NewReno: loss-based, the Mathis bound's model.
    Reno,
}

impl CongestionControl {
    /// The Linux name for `TCP_CONGESTION`; `None` leaves the kernel's default.
    pub fn tcp_name(self) -> Option<&'static str> {
        match self {
            Self::System => None,
            Self::Cubic => Some("cubic"),
            Self::Bbr => Some("bbr"),
            Self::Reno => Some("reno"),
        }
    }
}

impl FromStr for CongestionControl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "system" => Ok(Self::System),
            "cubic" => Ok(Self::Cubic),
            "bbr" => Ok(Self::Bbr),
            "reno" => Ok(Self::Reno),
            other => Err(format!(
                "`{other}` is not a congestion controller (system, cubic, bbr, reno)"
            )),
        }
    }
}

impl fmt::Display for CongestionControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tcp_name().unwrap_or("system"))
    }
}

/// How a leader sends chunk bytes over plain TCP: from the page cache with `sendfile(2)`, or
/// read into a buffer and written (TLS and QUIC always read: their bytes are encrypted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZeroCopy {
    /// `sendfile` to followers on other hosts only: on loopback the follower's copy out of
    /// cold page-cache pages costs more than the leader saves (`leader/handler.rs`).
    #[default]
    Auto,
    /// `sendfile` to every follower, loopback included (to test or measure that path on one
    /// machine). Only chunks aligned to the 64 KiB checksum blocks (or ending a file) can go
    /// that way; others are read.
    Always,
    /// Never: every chunk is read and written, as before `sendfile`.
    Never,
}

impl FromStr for ZeroCopy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => Err(format!(
                "`{other}` is not a zero-copy mode (auto, always, never)"
            )),
        }
    }
}

impl fmt::Display for ZeroCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Always => "always",
            Self::Never => "never",
        })
    }
}

/// Whose leader the follower talks to: the two CCR implementations keep a recovery session
/// differently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaderFlavor {
    /// Elasticsearch: a session with no chunk request for `recovery_activity_timeout` is closed.
    #[default]
    Elasticsearch,
    /// The OpenSearch CCR plugin: a session is never expired; only `CloseSession` ends it, so a
    /// follower that restarts without closing leaves it pinned.
    Opensearch,
}

impl LeaderFlavor {
    /// Whether idle sessions expire after `recovery_activity_timeout`.
    pub fn expires_sessions(self) -> bool {
        self == Self::Elasticsearch
    }
}

impl FromStr for LeaderFlavor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "elasticsearch" => Ok(Self::Elasticsearch),
            "opensearch" => Ok(Self::Opensearch),
            other => Err(format!(
                "`{other}` is not a leader flavor (elasticsearch, opensearch)"
            )),
        }
    }
}

impl fmt::Display for LeaderFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Elasticsearch => "elasticsearch",
            Self::Opensearch => "opensearch",
        })
    }
}

/// Which injector carries a campaign's faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChaosLayer {
    /// The L4 proxies: TCP for TCP channels (connection faults), UDP for QUIC (datagram faults).
    /// No privileges.
    #[default]
    L4,
    /// The L3 link: the leader in a network namespace, packet faults on every IP packet, for both
    /// transports. Needs root.
    L3,
}

impl fmt::Display for ChaosLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChaosLayer::L4 => "l4",
            ChaosLayer::L3 => "l3",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each word's serde name, which is also its `Display` (and `FromStr`, where it has one):
    /// campaign files, `--json` reports and flags all spell it the same way.
    fn same_spelling<T>(word: T, name: &str)
    where
        T: Serialize + for<'de> Deserialize<'de> + fmt::Display + PartialEq + fmt::Debug,
    {
        assert_eq!(
            serde_json::to_value(&word).expect("serialize"),
            serde_json::Value::from(name)
        );
        assert_eq!(word.to_string(), name);
        let back: T = serde_json::from_value(name.into()).expect("deserialize");
        assert_eq!(back, word);
    }

    fn parses<T: FromStr + PartialEq + fmt::Debug>(word: T, name: &str) {
        assert_eq!(name.parse::<T>().ok(), Some(word));
    }

    #[test]
    fn every_word_has_one_spelling() {
        for (p, name) in [
            (Policy::Elasticsearch, "elasticsearch"),
            (Policy::Opensearch, "opensearch"),
            (Policy::Resumable, "resumable"),
        ] {
            same_spelling(p, name);
            parses(p, name);
        }
        for (c, name) in [
            (ConnectionProfile::Remote, "remote"),
            (ConnectionProfile::IntraCluster, "intra-cluster"),
        ] {
            same_spelling(c, name);
            parses(c, name);
        }
        for (m, name) in [(RemoteMode::Sniff, "sniff"), (RemoteMode::Proxy, "proxy")] {
            same_spelling(m, name);
            parses(m, name);
        }
        for (t, name) in [(Transport::Tcp, "tcp"), (Transport::Quic, "quic")] {
            same_spelling(t, name);
            parses(t, name);
        }
        for (c, name) in [
            (CongestionControl::System, "system"),
            (CongestionControl::Cubic, "cubic"),
            (CongestionControl::Bbr, "bbr"),
            (CongestionControl::Reno, "reno"),
        ] {
            same_spelling(c, name);
            parses(c, name);
        }
        for (l, name) in [(ChaosLayer::L4, "l4"), (ChaosLayer::L3, "l3")] {
            same_spelling(l, name);
        }
        assert_eq!(
            serde_json::to_value(ChannelType::Recovery).expect("serialize"),
            "recovery"
        );
    }

    #[test]
    fn unknown_words_are_refused_with_the_choices() {
        let err = "raft".parse::<Policy>().expect_err("not a policy");
        assert!(
            err.contains("elasticsearch, opensearch, resumable"),
            "{err}"
        );
        assert!("udp".parse::<Transport>().is_err());
        assert!("vegas".parse::<CongestionControl>().is_err());
        assert!("local".parse::<ConnectionProfile>().is_err());
        let err = "direct".parse::<RemoteMode>().expect_err("not a mode");
        assert!(err.contains("sniff, proxy"), "{err}");
    }

    #[test]
    fn defaults_are_elasticsearch_defaults() {
        assert_eq!(Policy::default(), Policy::Elasticsearch);
        assert_eq!(ConnectionProfile::default(), ConnectionProfile::Remote);
        assert_eq!(Transport::default(), Transport::Tcp);
        assert_eq!(CongestionControl::default(), CongestionControl::System);
        assert_eq!(ChaosLayer::default(), ChaosLayer::L4);
        assert_eq!(RemoteMode::default(), RemoteMode::Sniff);
    }

    #[test]
    fn profiles_open_elasticsearch_channels() {
        assert_eq!(
            ConnectionProfile::Remote.channel_types(),
            [ChannelType::Any; 6]
        );
        let intra = ConnectionProfile::IntraCluster.channel_types();
        assert_eq!(intra.len(), 13);
        let count = |t| intra.iter().filter(|&&c| c == t).count();
        assert_eq!(count(ChannelType::Recovery), 2);
        assert_eq!(count(ChannelType::Bulk), 3);
        assert_eq!(count(ChannelType::Reg), 6);
        assert_eq!(count(ChannelType::State), 1);
        assert_eq!(count(ChannelType::Ping), 1);
        assert_eq!(
            RemoteMode::Proxy.channel_types(ConnectionProfile::IntraCluster, 18),
            [ChannelType::Any; 18]
        );
        assert_eq!(
            RemoteMode::Sniff.channel_types(ConnectionProfile::Remote, 18),
            [ChannelType::Any; 6]
        );
        assert_eq!(CongestionControl::System.tcp_name(), None);
        assert_eq!(CongestionControl::Bbr.tcp_name(), Some("bbr"));
    }
}
