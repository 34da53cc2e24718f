//! Counters a running leader exposes: to tests, to `rrbench leader` (printed as JSON when it
//! stops) and to the demo's side-by-side table. Campaign trials record the sessions left open,
//! the bytes they pin and the requests forwarded (summed over a cluster's nodes).

use std::sync::atomic::{AtomicU64, Ordering};

/// Leader counters; all monotonic except `connections_open`.
#[derive(Debug, Default)]
pub struct LeaderStats {
    /// Connections accepted so far.
    pub connections_accepted: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Sessions opened.
    pub sessions_opened: AtomicU64,
    /// Sessions closed by `recovery_activity_timeout`.
    pub sessions_expired: AtomicU64,
    /// The most sessions open at once (shards restored concurrently show here).
    pub sessions_open_max: AtomicU64,
    /// Requests this node passed to the node holding their shard (as a gateway).
    pub requests_forwarded: AtomicU64,
    /// Chunk requests served.
    pub chunks_served: AtomicU64,
    /// Chunk payload bytes sent.
    pub bytes_sent: AtomicU64,
    /// Of those, bytes sent from the page cache (`sendfile`), never read into the leader.
    pub bytes_sent_from_file: AtomicU64,
    /// `Error` frames sent.
    pub errors_sent: AtomicU64,
    /// Nanoseconds spent waiting on the node rate limiter.
    pub throttle_nanos: AtomicU64,
    /// Connections the leader closed: no `Hello` in time, a frame too slow, or shed when idle
    /// and their slot was needed.
    pub connections_closed_by_leader: AtomicU64,
    /// Connections refused at `max_connections` (QUIC; a TCP one that waited in vain).
    pub connections_refused: AtomicU64,
}

/// A point-in-time copy of [`LeaderStats`], plus the session table's high-water mark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LeaderStatsSnapshot {
    /// Connections accepted so far.
    pub connections_accepted: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Sessions opened.
    pub sessions_opened: u64,
    /// Sessions closed by `recovery_activity_timeout`.
    pub sessions_expired: u64,
    /// The most sessions open at once.
    pub sessions_open_max: u64,
    /// Requests this node passed to the node holding their shard (as a gateway).
    pub requests_forwarded: u64,
    /// Sessions open now: each pins its file list (an OpenSearch leader never expires one, so
    /// those a restarting follower leaves behind pile up here).
    pub sessions_open: u64,
    /// Bytes of files the open sessions pin (a file pinned by two sessions counts twice, as two
    /// commits held open would).
    pub pinned_bytes: u64,
    /// Chunk requests served.
    pub chunks_served: u64,
    /// Chunk payload bytes sent.
    pub bytes_sent: u64,
    /// Of those, bytes sent from the page cache (`sendfile`), never read into the leader.
    pub bytes_sent_from_file: u64,
    /// `Error` frames sent.
    pub errors_sent: u64,
    /// Nanoseconds spent waiting on the node rate limiter.
    pub throttle_nanos: u64,
    /// Connections the leader closed for being too slow or idle when a slot was needed.
    pub connections_closed_by_leader: u64,
    /// Connections refused at `max_connections`.
    pub connections_refused: u64,
    /// Most chunk requests ever outstanding at once on one session, as the leader saw them.
    pub max_in_flight_per_session: u32,
}

impl LeaderStatsSnapshot {
    /// Several nodes' (or several clusters') counters as one: every count summed, the
    /// high-water marks (`sessions_open_max`, `max_in_flight_per_session`) the highest of any
    /// one node (so `sessions_open_max` is a node's, not the cluster's at one moment).
    pub fn total(all: impl IntoIterator<Item = Self>) -> Self {
        all.into_iter().fold(Self::default(), |a, b| Self {
            connections_accepted: a.connections_accepted + b.connections_accepted,
            connections_open: a.connections_open + b.connections_open,
            sessions_opened: a.sessions_opened + b.sessions_opened,
            sessions_expired: a.sessions_expired + b.sessions_expired,
            sessions_open_max: a.sessions_open_max.max(b.sessions_open_max),
            requests_forwarded: a.requests_forwarded + b.requests_forwarded,
            sessions_open: a.sessions_open + b.sessions_open,
            pinned_bytes: a.pinned_bytes + b.pinned_bytes,
            chunks_served: a.chunks_served + b.chunks_served,
            bytes_sent: a.bytes_sent + b.bytes_sent,
            bytes_sent_from_file: a.bytes_sent_from_file + b.bytes_sent_from_file,
            errors_sent: a.errors_sent + b.errors_sent,
            throttle_nanos: a.throttle_nanos + b.throttle_nanos,
            connections_closed_by_leader: a.connections_closed_by_leader
                + b.connections_closed_by_leader,
            connections_refused: a.connections_refused + b.connections_refused,
            max_in_flight_per_session: a.max_in_flight_per_session.max(b.max_in_flight_per_session),
        })
    }
}

impl LeaderStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(
        &self,
        max_in_flight_per_session: u32,
        sessions_open: u64,
        pinned_bytes: u64,
    ) -> LeaderStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LeaderStatsSnapshot {
            connections_accepted: get(&self.connections_accepted),
            connections_open: get(&self.connections_open),
            sessions_opened: get(&self.sessions_opened),
            sessions_expired: get(&self.sessions_expired),
            sessions_open_max: get(&self.sessions_open_max),
            requests_forwarded: get(&self.requests_forwarded),
            sessions_open,
            pinned_bytes,
            chunks_served: get(&self.chunks_served),
            bytes_sent: get(&self.bytes_sent),
            bytes_sent_from_file: get(&self.bytes_sent_from_file),
            errors_sent: get(&self.errors_sent),
            throttle_nanos: get(&self.throttle_nanos),
            connections_closed_by_leader: get(&self.connections_closed_by_leader),
            connections_refused: get(&self.connections_refused),
            max_in_flight_per_session,
        }
    }
}
