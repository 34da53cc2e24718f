//! What the shards one follower node restores share: the node's `max_bytes_per_sec` limiter,
//! its `node_initial_primaries_recoveries` slots ([`NodeThrottles`], shared by every index the
//! node restores, whichever leader cluster it comes from) and its one connection to each leader
//! node it reaches (its gateways, in sniff mode; one [`FollowerNode`] per leader cluster).
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

use tokio::sync::{Mutex, Semaphore};

use crate::{
    ratelimit::NodeRateLimiter,
    transport::{
        TransportError,
        connection::{ConnectOptions, Connection},
        dial::Dialer,
    },
    units::ByteSize,
};

/// What every recovery on one follower node shares, from however many leader clusters: the
/// node's one `max_bytes_per_sec` limiter, and its `node_initial_primaries_recoveries` slots
/// (a shard restores only while it holds one). Clones share them.
#[derive(Clone)]
pub struct NodeThrottles {
    limiter: Arc<NodeRateLimiter>,
    slots: Arc<Semaphore>,
}

impl NodeThrottles {
    /// A node limited to `max_bytes_per_sec` (0: unlimited) restoring up to `slots` shards at
    /// once (at least one).
    pub fn new(max_bytes_per_sec: ByteSize, slots: u32) -> Self {
        Self {
            limiter: Arc::new(NodeRateLimiter::new(max_bytes_per_sec)),
            slots: Arc::new(Semaphore::new(slots.max(1) as usize)),
        }
    }

    /// The node's rate limiter.
    pub fn limiter(&self) -> &Arc<NodeRateLimiter> {
        &self.limiter
    }

    /// The node's shard slots.
    pub fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }
}

/// One follower node's throttles and its connections to one leader cluster, one per gateway
/// node.
pub struct FollowerNode {
    throttles: NodeThrottles,
    gateways: Vec<Gateway>,
    /// Nodes of the leader cluster (the gateways are the first of them).
    leader_nodes: usize,
}

/// The connection to one leader node.
struct Gateway {
    dialer: Arc<dyn Dialer>,
    options: ConnectOptions,
    /// The connection attempts are given (held only for a moment, never across an await).
    current: std::sync::Mutex<Option<Arc<Connection>>>,
    /// Held while a connection opens, so shards asking together open one.
    opening: Mutex<()>,
    /// Opens tried so far, and how the last one failed: shards that waited behind a failed
    /// open get its error rather than dialling again one after another.
    tries: AtomicU64,
    last_failure: std::sync::Mutex<Option<(u64, TransportError)>>,
    /// Pings sent on connections no longer current.
    retired_pings: AtomicU64,
    /// Connections opened.
    opened: AtomicU64,
}

impl FollowerNode {
    /// A node with `throttles` reaching a leader cluster of `leader_nodes` nodes through
    /// `dialers`, one per gateway: the first nodes of the cluster, in order
    /// ([`Self::gateway_of`] says which carries a shard).
    pub fn new(
        throttles: NodeThrottles,
        dialers: Vec<Arc<dyn Dialer>>,
        leader_nodes: usize,
        options: ConnectOptions,
    ) -> Self {
        Self {
            leader_nodes: leader_nodes.max(dialers.len()).max(1),
            throttles,
            gateways: dialers
                .into_iter()
                .map(|dialer| Gateway {
                    dialer,
                    options: options.clone(),
                    current: std::sync::Mutex::new(None),
                    opening: Mutex::new(()),
                    tries: AtomicU64::new(0),
                    last_failure: std::sync::Mutex::new(None),
                    retired_pings: AtomicU64::new(0),
                    opened: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// The node's rate limiter.
    pub fn limiter(&self) -> &Arc<NodeRateLimiter> {
        self.throttles.limiter()
    }

    /// The node's shard slots.
    pub fn slots(&self) -> &Arc<Semaphore> {
        self.throttles.slots()
    }

    /// The connection shard `shard`'s requests go on: to its gateway, the open one, or a new
    /// one if it lost a channel or was distrusted.
    pub async fn connection(&self, shard: u32) -> Result<Arc<Connection>, TransportError> {
        match self.gateways.get(self.gateway_of(shard)) {
            Some(gateway) => gateway.connection().await,
            None => Err(TransportError::Io("no leader address to connect to".into())),
        }
    }

    /// Opens the connection to every gateway (those that fail are tried again when a shard
    /// asks): what a follower node holds once the remote cluster is configured.
    pub async fn connect_all(&self) {
        for gateway in &self.gateways {
            let _ = gateway.connection().await;
        }
    }

    /// The connection shard `shard`'s requests would go on, if one is open and has lost no
    /// channel (nothing is dialled).
    pub fn open_connection(&self, shard: u32) -> Option<Arc<Connection>> {
        self.gateways.get(self.gateway_of(shard))?.healthy()
    }

    /// The gateway shard `shard`'s requests go through: the node holding its primary (shard
    /// `s` on node `s % leader_nodes`, as `rrbench leader --nodes` places them) when that node
    /// is a gateway, as Elasticsearch sends to a connected node directly; else one of the
    /// gateways in turn, which forwards it inside the leader cluster.
    pub fn gateway_of(&self, shard: u32) -> usize {
        gateway_for(shard, self.gateways.len(), self.leader_nodes)
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
        let tried_before = self.tries.load(Ordering::Relaxed);
        let _opening = self.opening.lock().await;
        // Another shard may have opened one while this one waited, or failed to.
        if let Some(open) = self.healthy() {
            return Ok(open);
        }
        let failed_meanwhile = {
            let failed = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
            failed
                .as_ref()
                .filter(|(try_number, _)| *try_number > tried_before)
                .map(|(_, error)| error.clone())
        };
        if let Some(error) = failed_meanwhile {
            return Err(error);
        }
        let try_number = self.tries.fetch_add(1, Ordering::Relaxed) + 1;
        let opened = Connection::open(self.dialer.as_ref(), &self.options).await;
        let fresh = match opened {
            Ok(c) => Arc::new(c),
            Err(e) => {
                *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((try_number, e.clone()));
                return Err(e);
            }
        };
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

/// Which of `gateways` (the first nodes of a cluster of `leader_nodes`) carries shard `shard`:
/// see [`FollowerNode::gateway_of`].
pub fn gateway_for(shard: u32, gateways: usize, leader_nodes: usize) -> usize {
    let gateways = gateways.max(1);
    let primary = shard as usize % leader_nodes.max(1);
    if primary < gateways {
        primary
    } else {
        shard as usize % gateways
    }
}

#[cfg(test)]
mod tests {
    use super::gateway_for;

    #[test]
    fn a_shard_goes_to_its_primarys_node_when_it_is_a_gateway() {
        // Four leader nodes, three gateways: node 3's shards (3, 7) go through one in turn.
        let routes: Vec<usize> = (0..8).map(|s| gateway_for(s, 3, 4)).collect();
        assert_eq!(routes, [0, 1, 2, 0, 0, 1, 2, 1]);
        // Every node a gateway: always straight to the primary.
        assert!((0..9).all(|s| gateway_for(s, 3, 3) == s as usize % 3));
        // One address (a lone leader, or proxy mode).
        assert!((0..5).all(|s| gateway_for(s, 1, 1) == 0));
    }
}
