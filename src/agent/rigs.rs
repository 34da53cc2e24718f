//! What an agent runs: the indices it generated (cached in its data directory, shared by every
//! rig that serves them) and the rigs it started, each a campaign cell's leader and injector
//! on the agent's clock, until stopped or its lease ends.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use crate::{
    agent_api::wire::{IndexState, MAX_RIGS, RigStarted, RigStopped, StartRig, WireEvent},
    campaign::{
        CampaignSpec,
        runner::{cache_dir, cached_index, certificate, reference_cell, start_rig},
    },
    chaos::EventLog,
    clock::Clock,
    index::IndexShards,
    leader::LeaderStatsSnapshot,
    rig::Rig,
};

/// An index by its cache directory's name.
enum Index {
    Building,
    Ready(IndexShards),
    Failed(String),
}

struct Running {
    rig: Rig,
    events: Arc<EventLog>,
    until: Instant,
    dir: tempfile::TempDir,
}

/// A request the rig table refuses: its HTTP status and why.
#[derive(Debug)]
pub struct Refused {
    /// 400, 404, 409, 503 or 500.
    pub status: u16,
    /// Why.
    pub reason: String,
}

fn refused(status: u16, reason: impl Into<String>) -> Refused {
    Refused {
        status,
        reason: reason.into(),
    }
}

/// The agent's indices and rigs.
pub struct Rigs {
    clock: Clock,
    cache: PathBuf,
    scratch: PathBuf,
    bind: IpAddr,
    indices: Mutex<HashMap<PathBuf, Index>>,
    running: Mutex<HashMap<u64, Running>>,
    next: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Rigs {
    /// Rigs listening on `bind`, stamping on `clock`, indices cached under `data`.
    pub fn new(clock: Clock, data: PathBuf, bind: IpAddr) -> Self {
        Self {
            clock,
            cache: data.join("index-cache"),
            scratch: data.join("rigs"),
            bind,
            indices: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        }
    }

    /// The agent's clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The cell a request carries, read as the campaign read it.
    fn cell(value: &serde_json::Value, seed: u64) -> Result<CampaignSpec, Refused> {
        let table: toml::Table = serde_json::from_value(value.clone())
            .map_err(|e| refused(400, format!("the cell is not a table: {e}")))?;
        CampaignSpec::from_cell_table(table, seed)
            .map_err(|e| refused(400, format!("the cell: {e}")))
    }

    /// Starts generating the cell's index if it is not there yet; its state.
    pub fn prepare(
        self: &Arc<Self>,
        value: &serde_json::Value,
        seed: u64,
    ) -> Result<IndexState, Refused> {
        let cell = Self::cell(value, seed)?;
        let key = cache_dir(&self.cache, &cell.index);
        let mut indices = lock(&self.indices);
        match indices.get(&key) {
            Some(Index::Ready(_)) => return Ok(IndexState::Ready),
            Some(Index::Building) => return Ok(IndexState::Building),
            Some(Index::Failed(message)) => {
                return Ok(IndexState::Failed {
                    message: message.clone(),
                });
            }
            None => {}
        }
        indices.insert(key.clone(), Index::Building);
        drop(indices);
        let rigs = self.clone();
        tokio::spawn(async move {
            std::fs::create_dir_all(&rigs.cache).ok();
            let never = std::pin::pin!(std::future::pending::<()>());
            let built = match cached_index(&rigs.cache, &cell.index, never).await {
                Ok(Some(shards)) => Index::Ready(shards),
                Ok(None) => Index::Failed("stopped".into()),
                Err(e) => Index::Failed(e.to_string()),
            };
            lock(&rigs.indices).insert(key, built);
        });
        Ok(IndexState::Building)
    }

    /// Starts a rig for the request's cell, on an index already prepared.
    pub async fn start(&self, request: StartRig) -> Result<RigStarted, Refused> {
        let cell = Self::cell(&request.cell.cell, request.cell.seed)?;
        let key = cache_dir(&self.cache, &cell.index);
        let snapshot = match lock(&self.indices).get(&key) {
            Some(Index::Ready(shards)) => shards.clone(),
            _ => {
                return Err(refused(
                    409,
                    "the cell's index is not ready: POST /indices first",
                ));
            }
        };
        if lock(&self.running).len() >= MAX_RIGS {
            return Err(refused(
                503,
                format!("{MAX_RIGS} rigs are running: stop one (DELETE /rigs/ID) first"),
            ));
        }
        let faults = match request.reference {
            true => reference_cell(&cell)
                .map(|(_, faults)| faults)
                .ok_or_else(|| refused(400, "this cell has no reference"))?,
            false => cell.fault_list(),
        };
        let lease = Duration::try_from_secs_f64(request.lease_s)
            .ok()
            .filter(|l| !l.is_zero() && *l <= Duration::from_secs(7 * 86_400))
            .ok_or_else(|| {
                refused(
                    400,
                    format!("lease_s {} is not 0 to 7 days", request.lease_s),
                )
            })?;
        std::fs::create_dir_all(&self.scratch)
            .map_err(|e| refused(500, format!("{}: {e}", self.scratch.display())))?;
        let dir = tempfile::Builder::new()
            .prefix("rig-")
            .tempdir_in(&self.scratch)
            .map_err(|e| refused(500, format!("{}: {e}", self.scratch.display())))?;
        let clock = Clock::start();
        let rig_epoch_s = self.clock.elapsed().as_secs_f64() - clock.elapsed().as_secs_f64();
        let events = Arc::new(EventLog::new(clock));
        let listen = SocketAddr::new(self.bind, 0).to_string();
        let rig = start_rig(
            &cell,
            faults,
            request.trial_seed,
            snapshot,
            clock,
            Some(events.clone()),
            certificate(&cell, None, dir.path()),
            &listen,
        )
        .await
        .map_err(|e| refused(500, format!("starting the rig: {e}")))?;
        let ports = rig
            .dial_list()
            .split(',')
            .filter_map(|a| a.parse::<SocketAddr>().ok())
            .map(|a| a.port())
            .collect();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.running).insert(
            id,
            Running {
                rig,
                events,
                until: Instant::now() + lease,
                dir,
            },
        );
        Ok(RigStarted {
            id,
            ports,
            rig_epoch_s,
        })
    }

    /// A running rig's leader counters, every node's summed.
    pub fn stats(&self, id: u64) -> Result<LeaderStatsSnapshot, Refused> {
        let running = lock(&self.running);
        let r = running.get(&id).ok_or_else(|| no_rig(id))?;
        Ok(LeaderStatsSnapshot::total(
            r.rig.leader_nodes().iter().map(|n| n.stats()),
        ))
    }

    /// A running rig's events from the `from`th on.
    pub fn events(&self, id: u64, from: usize) -> Result<Vec<WireEvent>, Refused> {
        let running = lock(&self.running);
        let r = running.get(&id).ok_or_else(|| no_rig(id))?;
        Ok(r.events.since(from).iter().map(WireEvent::from).collect())
    }

    /// Ids of the running rigs.
    pub fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = lock(&self.running).keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Stops a rig: its events and its leader's last counters.
    pub async fn stop(&self, id: u64) -> Result<RigStopped, Refused> {
        let r = lock(&self.running).remove(&id).ok_or_else(|| no_rig(id))?;
        Ok(finish(r).await)
    }

    /// Stops the rigs whose lease ended; their ids.
    pub async fn reap(&self) -> Vec<u64> {
        let now = Instant::now();
        let expired: Vec<(u64, Running)> = {
            let mut running = lock(&self.running);
            let ids: Vec<u64> = running
                .iter()
                .filter(|(_, r)| r.until <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| running.remove(&id).map(|r| (id, r)))
                .collect()
        };
        let mut ids = Vec::new();
        for (id, r) in expired {
            finish(r).await;
            ids.push(id);
        }
        ids
    }

    /// Stops every rig.
    pub async fn stop_all(&self) {
        let all: Vec<Running> = lock(&self.running).drain().map(|(_, r)| r).collect();
        for r in all {
            finish(r).await;
        }
    }
}

async fn finish(r: Running) -> RigStopped {
    let stats = LeaderStatsSnapshot::total(r.rig.leader_nodes().iter().map(|n| n.stats()));
    let events = r.rig.shutdown().await;
    drop(r.dir);
    RigStopped {
        events: events.iter().map(WireEvent::from).collect(),
        stats,
    }
}

fn no_rig(id: u64) -> Refused {
    refused(404, format!("no rig {id} (stopped, or its lease ended)"))
}
