//! A leader cluster of several nodes in one process: each node its own listener, session table
//! and node-wide rate limiter, the primary of shard `s` on node `s % nodes`.
//!
//! A node asked for a shard whose primary is elsewhere forwards the request inside the
//! cluster, as an Elasticsearch gateway node proxies a remote cluster's request to the node
//! that holds the shard (sniff mode reaches only `cluster.remote.node_connections` gateway
//! nodes): the session lives on the primary's node, its chunks are read there under that node's
//! limiter, and the gateway counts what it forwarded (`requests_forwarded`). The hop inside the
//! cluster is a call, not a socket: it adds no latency of its own.

use std::sync::{Arc, OnceLock, Weak};

use super::{LeaderConfig, LeaderError, LeaderHandle, Shared, start, stats::LeaderStats};
use crate::{clock::Clock, index::IndexShards};

/// Which node this is and where the others are.
pub(crate) struct Cluster {
    me: usize,
    nodes: Vec<Weak<Shared>>,
}

/// The cluster a node belongs to, set once every node listens (a lone node has none).
pub(crate) type Membership = OnceLock<Cluster>;

/// The node holding shard `shard`'s primary.
pub fn primary_node(shard: u32, nodes: usize) -> usize {
    shard as usize % nodes.max(1)
}

/// Starts `listen.len()` nodes serving `index`, node `i` on `listen[i]`, each with `config`.
pub async fn start_cluster(
    listen: &[String],
    index: IndexShards,
    config: LeaderConfig,
    clock: Clock,
) -> Result<Vec<LeaderHandle>, LeaderError> {
    let mut handles = Vec::with_capacity(listen.len());
    for addr in listen {
        handles.push(start(addr, index.clone(), config.clone(), clock).await?);
    }
    let nodes: Vec<Weak<Shared>> = handles.iter().map(|h| Arc::downgrade(&h.shared)).collect();
    for (me, handle) in handles.iter().enumerate() {
        let _ = handle.shared.cluster.set(Cluster {
            me,
            nodes: nodes.clone(),
        });
    }
    Ok(handles)
}

impl Shared {
    /// The node that serves shard `shard`: this one, or (counted as forwarded) the one holding
    /// its primary.
    pub(crate) fn primary_of(self: &Arc<Self>, shard: u32) -> Arc<Shared> {
        let Some(cluster) = self.cluster.get() else {
            return self.clone();
        };
        let owner = primary_node(shard, cluster.nodes.len());
        if owner == cluster.me {
            return self.clone();
        }
        self.forwarded_to(cluster.nodes[owner].upgrade())
    }

    /// The node holding `session`: this one, or (counted as forwarded) another node of the
    /// cluster that has it. A session no node has is this node's to refuse.
    pub(crate) fn holder_of(self: &Arc<Self>, session: u64) -> Arc<Shared> {
        let Some(cluster) = self.cluster.get() else {
            return self.clone();
        };
        if self.sessions().get(session).is_some() {
            return self.clone();
        }
        let holder = cluster
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != cluster.me)
            .filter_map(|(_, node)| node.upgrade())
            .find(|node| node.sessions().get(session).is_some());
        match holder {
            Some(node) => self.forwarded_to(Some(node)),
            None => self.clone(),
        }
    }

    /// Whether connection `id` (of this node) has a session open on this node or, through it,
    /// on another node of the cluster.
    pub(crate) fn owns_sessions(&self, id: u64) -> bool {
        if self.sessions().owned_by(id) > 0 {
            return true;
        }
        self.cluster.get().is_some_and(|cluster| {
            cluster
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != cluster.me)
                .filter_map(|(_, node)| node.upgrade())
                .any(|node| node.sessions().owned_by(id) > 0)
        })
    }

    /// `node` if it still runs (counting one request forwarded to it), else this node (which
    /// then refuses what it does not have).
    fn forwarded_to(self: &Arc<Self>, node: Option<Arc<Shared>>) -> Arc<Shared> {
        match node {
            Some(node) => {
                LeaderStats::add(&self.stats.requests_forwarded, 1);
                node
            }
            None => self.clone(),
        }
    }
}
