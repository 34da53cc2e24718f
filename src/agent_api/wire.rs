//! The JSON bodies of the agent's API, shared by the agent and its client.
//!
//! A campaign cell travels as the TOML table it was read from (`Campaign::tables`), not as the
//! parsed spec, so the agent reads it with the same parser and gets exactly the cell the
//! campaign has.

use rrbench_chaos::{Event, EventKind};
use serde::{Deserialize, Serialize};

use crate::{leader::LeaderStatsSnapshot, protocol::FileMeta};

/// The most leader clusters an agent runs at once: a fan-in rig of `leaders = N` takes N.
pub const MAX_RIGS: usize = 16;
/// The most names a rig's leader certificate is issued for.
pub const MAX_SERVER_NAMES: usize = 8;
/// The largest CA certificate (PEM) a campaign takes from an agent.
pub const MAX_CA_PEM: usize = 64 << 10;

/// `GET /clock`: the agent's monotonic clock.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ClockReading {
    /// Seconds since the agent started.
    pub agent_s: f64,
}

/// `GET /version`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Version {
    /// `rrbench` and its version.
    pub version: String,
}

/// `POST /indices` and `POST /rigs`: a campaign cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellRequest {
    /// The cell's table, as the campaign file gave it (matrix values applied).
    pub cell: serde_json::Value,
    /// The campaign's seed.
    pub seed: u64,
}

/// `POST /indices`: whether the cell's index is ready on the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IndexState {
    /// Being generated.
    Building,
    /// Generated (or found in the agent's cache): its files, shard by shard, which the
    /// campaign checks what its followers recovered against.
    Ready {
        /// Each shard's files (name, length, CRC-32C), in shard order.
        metas: Vec<Vec<FileMeta>>,
    },
    /// Could not be generated: why.
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// `POST /rigs`: start a cell's leader and injector.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StartRig {
    /// The cell.
    #[serde(flatten)]
    pub cell: CellRequest,
    /// The trial's seed.
    pub trial_seed: u64,
    /// Start the cell's reference instead (its latency at zero).
    pub reference: bool,
    /// Stop the rig this long after it started if nobody stopped it (a campaign killed).
    pub lease_s: f64,
    /// The names the campaign verifies the leader's certificate for (the agent URL's host),
    /// at most [`MAX_SERVER_NAMES`]; used when the cell runs TLS over TCP or QUIC.
    #[serde(default)]
    pub server_names: Vec<String>,
}

/// What `POST /rigs` started.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RigStarted {
    /// Its id, for `/rigs/{id}`.
    pub id: u64,
    /// The ports a follower dials, on the agent's host: one list per leader cluster (one, or
    /// `leaders` in fan-in), each in node order.
    pub ports: Vec<Vec<u16>>,
    /// The PEM of the CA that issued the leaders' certificate, when the cell runs TLS over
    /// TCP or QUIC; made for this rig alone (its key is never written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// When the rig's clock started, on the agent's clock (seconds since the agent started):
    /// its events are stamped from here.
    pub rig_epoch_s: f64,
}

/// `DELETE /rigs/{id}`: what a stopped rig leaves.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RigStopped {
    /// Its injector's events, on the rig's clock.
    pub events: Vec<WireEvent>,
    /// Its leader's counters, every node's summed.
    pub stats: LeaderStatsSnapshot,
    /// Its oldest events the agent did not keep (over its limit).
    #[serde(default)]
    pub events_dropped: u64,
    /// What went wrong cleaning up (a forward into a link left behind), for the trial's
    /// warnings.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// An event as it crosses the API.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireEvent {
    /// Seconds since the rig's clock started.
    pub t: f64,
    /// Who saw it.
    pub source: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl From<&Event> for WireEvent {
    fn from(e: &Event) -> Self {
        Self {
            t: e.t,
            source: e.source.to_string(),
            kind: e.kind.clone(),
        }
    }
}

impl WireEvent {
    /// The event, `shift_s` later (onto another clock). Every injector event is the chaos
    /// layer's.
    pub fn into_event(self, shift_s: f64) -> Event {
        Event {
            t: self.t + shift_s,
            source: "chaos",
            kind: self.kind,
        }
    }
}
