//! What the shards one follower node restores share: the node's `max_bytes_per_sec` limiter and
//! its one connection to the leader.
//!
//! Elasticsearch keeps one connection per remote node and sends every shard's requests on it,
//! so when one channel closes (the whole connection closes with it), every shard in flight on
//! that node fails at once. Here the shards' drivers ask [`FollowerNode::connection`] for the
//! connection: the open one if it has lost no channel, else a new one, opened once however many
//! shards ask at the same time. A shard whose attempt failed on a connection that still looks
//! open [`FollowerNode::distrust`]s it, so its next attempt (and every other shard's next one)
//! gets a fresh connection rather than one that may be blackholed; shards still using the old
//! one keep it until their requests end.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::Mutex;

use crate::{
    ratelimit::NodeRateLimiter,
    transport::{
        TransportError,
        connection::{ConnectOptions, Connection},
        dial::Dialer,
    },
    units::ByteSize,
};

/// One follower node's shared limiter and connection.
pub struct FollowerNode {
    limiter: Arc<NodeRateLimiter>,
    dialer: Arc<dyn Dialer>,
    options: ConnectOptions,
    /// The connection attempts are given (held only for a moment, never across an await).
    current: std::sync::Mutex<Option<Arc<Connection>>>,
    /// Held while a connection opens, so shards asking together open one.
    opening: Mutex<()>,
    /// Pings sent on connections no longer current.
    retired_pings: AtomicU64,
    /// Connections opened.
    opened: AtomicU64,
}

impl FollowerNode {
    /// A node limited to `max_bytes_per_sec` (0: unlimited) reaching the leader through
    /// `dialer`.
    pub fn new(
        max_bytes_per_sec: ByteSize,
        dialer: Arc<dyn Dialer>,
        options: ConnectOptions,
    ) -> Self {
        Self {
            limiter: Arc::new(NodeRateLimiter::new(max_bytes_per_sec)),
            dialer,
            options,
            current: std::sync::Mutex::new(None),
            opening: Mutex::new(()),
            retired_pings: AtomicU64::new(0),
            opened: AtomicU64::new(0),
        }
    }

    /// The node's rate limiter.
    pub fn limiter(&self) -> &Arc<NodeRateLimiter> {
        &self.limiter
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<Arc<Connection>>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current connection if it has lost no channel.
    fn healthy(&self) -> Option<Arc<Connection>> {
        self.current()
            .as_ref()
            .filter(|c| c.loss().is_none())
            .cloned()
    }

    /// The open connection, or a new one if it lost a channel or was distrusted.
    pub async fn connection(&self) -> Result<Arc<Connection>, TransportError> {
        if let Some(open) = self.healthy() {
            return Ok(open);
        }
        let _opening = self.opening.lock().await;
        // Another shard may have opened one while this one waited.
        if let Some(open) = self.healthy() {
            return Ok(open);
        }
        let fresh = Arc::new(Connection::open(self.dialer.as_ref(), &self.options).await?);
        self.opened.fetch_add(1, Ordering::Relaxed);
        if let Some(old) = self.current().replace(fresh.clone()) {
            self.retire(&old);
        }
        Ok(fresh)
    }

    fn retire(&self, old: &Connection) {
        self.retired_pings
            .fetch_add(old.pings_sent(), Ordering::Relaxed);
    }

    /// An attempt failed on `connection`: no attempt is given it again.
    pub fn distrust(&self, connection: &Arc<Connection>) {
        let mut current = self.current();
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, connection)) {
            if let Some(old) = current.take() {
                self.retire(&old);
            }
        }
    }

    /// Lets go of the current connection (its channels close when the last request using it
    /// ends).
    pub fn close(&self) {
        if let Some(old) = self.current().take() {
            self.retire(&old);
        }
    }

    /// Pings sent so far on the node's connections (those let go of counted when they were).
    pub fn pings_sent(&self) -> u64 {
        self.retired_pings.load(Ordering::Relaxed)
            + self.current().as_ref().map_or(0, |c| c.pings_sent())
    }

    /// Connections opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}
