//! What the shards one follower node restores share: the node's `max_bytes_per_sec` limiter and
//! its one connection to each leader node it reaches (its gateways, in sniff mode).
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

/// One follower node's shared limiter and its connections, one per gateway node.
pub struct FollowerNode {
    limiter: Arc<NodeRateLimiter>,
    gateways: Vec<Gateway>,
}

/// The connection to one leader node.
struct Gateway {
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
    /// A node limited to `max_bytes_per_sec` (0: unlimited) reaching the leader cluster through
    /// `dialers`, one per gateway node (shard `s` goes through gateway `s % gateways`).
    pub fn new(
        max_bytes_per_sec: ByteSize,
        dialers: Vec<Arc<dyn Dialer>>,
        options: ConnectOptions,
    ) -> Self {
        Self {
            limiter: Arc::new(NodeRateLimiter::new(max_bytes_per_sec)),
            gateways: dialers
                .into_iter()
                .map(|dialer| Gateway {
                    dialer,
                    options: options.clone(),
                    current: std::sync::Mutex::new(None),
                    opening: Mutex::new(()),
                    retired_pings: AtomicU64::new(0),
                    opened: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// The node's rate limiter.
    pub fn limiter(&self) -> &Arc<NodeRateLimiter> {
        &self.limiter
    }

    /// The connection shard `shard`'s requests go on: to its gateway, the open one, or a new
    /// one if it lost a channel or was distrusted.
    pub async fn connection(&self, shard: u32) -> Result<Arc<Connection>, TransportError> {
        match self
            .gateways
            .get(shard as usize % self.gateways.len().max(1))
        {
            Some(gateway) => gateway.connection().await,
            None => Err(TransportError::Io("no leader address to connect to".into())),
        }
    }

    /// An attempt failed on `connection`: no attempt is given it again.
    pub fn distrust(&self, connection: &Arc<Connection>) {
        for gateway in &self.gateways {
            gateway.distrust(connection);
        }
    }

    /// Lets go of every connection (their channels close when the last request using them
    /// ends).
    pub fn close(&self) {
        for gateway in &self.gateways {
            if let Some(old) = gateway.current().take() {
                gateway.retire(&old);
            }
        }
    }

    /// Pings sent so far on the node's connections (those let go of counted when they were).
    pub fn pings_sent(&self) -> u64 {
        self.gateways.iter().map(Gateway::pings_sent).sum()
    }

    /// Connections opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.gateways
            .iter()
            .map(|g| g.opened.load(Ordering::Relaxed))
            .sum()
    }
}

impl Gateway {
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

    async fn connection(&self) -> Result<Arc<Connection>, TransportError> {
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

    fn distrust(&self, connection: &Arc<Connection>) {
        let mut current = self.current();
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, connection))
            && let Some(old) = current.take()
        {
            self.retire(&old);
        }
    }

    fn pings_sent(&self) -> u64 {
        self.retired_pings.load(Ordering::Relaxed)
            + self.current().as_ref().map_or(0, |c| c.pings_sent())
    }
}
