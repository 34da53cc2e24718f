//! What an agent runs: the indices it generated (cached in its data directory, shared by every
//! rig that serves them) and the rigs it started, each a campaign cell's leader and injector
//! on the agent's clock, until stopped or its lease ends.
//!
//! Cells come from the network, so what they may ask for is bounded: an index of at most
//! [`Limits::max_index_size`] (every shard together) and [`Limits::max_files`] files a shard,
//! room for it on the data directory's filesystem, one index generated at a time, at most
//! [`MAX_INDICES`] kept open, at most [`MAX_RIGS`] leader clusters over all rigs, each rig
//! seen and stopped only by the key that started it, and only what an agent runs
//! ([`runs_on_agent`]) whatever the cell's own `[hosts]` says.
//!
//! A rig of a cell that runs TLS over TCP or QUIC gets a CA of its own, made when it starts:
//! the CA issues the leader certificate for the names the campaign verifies and its key is
//! never written (only the CA's certificate, which the campaign is sent, and the leader's key,
//! in the rig's directory, removed when it stops). A fan-in cell (`leaders = N`) is one rig of
//! N leader clusters on one clock and event log, and takes N of the [`MAX_RIGS`] slots.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    time::Instant,
};

use crate::{
    agent_api::wire::{
        IndexState, MAX_RIGS, MAX_SERVER_NAMES, RigStarted, RigStopped, StartRig, WireEvent,
    },
    campaign::{
        CampaignSpec,
        fanout::follower_seed,
        hosts::{needs_leader_ca, runs_on_agent},
        runner::{cache_dir, cached_index, certificate, reference_cell, start_rig},
    },
    chaos::EventLog,
    clock::Clock,
    index::{IndexShards, IndexSnapshot, ensure_room},
    leader::LeaderStatsSnapshot,
    rig::{Certificate, InjectorHandle, Rig},
    transport::certs::generate_issued,
    units::ByteSize,
    vocabulary::{ChaosLayer, RemoteMode, Transport},
};

use super::forward::{self, Forward, ForwardError, Protocol};

/// Indices kept loaded (each holds its files open); a ready one no rig uses makes room.
pub const MAX_INDICES: usize = 32;
/// The longest lease a rig may ask for.
pub const MAX_LEASE: Duration = Duration::from_secs(7 * 86_400);
/// How long `DELETE /rigs/{id}` waits for a rig to stop before answering `202` (the client
/// asks again); under the HTTP server's handler timeout.
pub const STOP_WAIT: Duration = Duration::from_secs(8);
/// Events a rig keeps (effect events are at most ten a second per connection, fault and
/// direction); past that the oldest go, and the stop says how many.
pub const RIG_EVENTS: usize = 1_000_000;
/// How long a stopped rig's events wait to be collected.
const KEEP_STOPPED: Duration = Duration::from_secs(600);

/// What a cell may ask an agent for.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest index (every shard together).
    pub max_index_size: ByteSize,
    /// The most files a shard of an index may have.
    pub max_files: u32,
    /// The ports rigs listen on (`None`: any free port), so a firewall or a container can
    /// open exactly those.
    pub rig_ports: Option<(u16, u16)>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_index_size: ByteSize::gib(64),
            max_files: 10_000,
            rig_ports: None,
        }
    }
}

/// An index by its cache directory.
enum Index {
    Building,
    Ready(IndexShards, Instant),
    Failed(String),
}

struct Running {
    owner: String,
    /// The index it serves (its cache directory).
    index: PathBuf,
    /// One per leader cluster (several in fan-in), on one clock and one event log.
    rigs: Vec<Rig>,
    events: Arc<EventLog>,
    until: Instant,
    dir: tempfile::TempDir,
    _slot: OwnedSemaphorePermit,
    /// The ports it holds of `--rig-ports` (given back when it is dropped, after its stop).
    _ports: Vec<Reserved>,
    /// At L3: each link's forward from the agent's public ports into it (removed first at
    /// the stop), and the sockets holding those ports when no `--rig-ports` range is given.
    forwards: Vec<Forward>,
    _holds: Vec<PortHold>,
}

/// A rig being stopped or stopped: its result once there, and until when it is kept.
struct Stopping {
    owner: String,
    done: watch::Receiver<Option<Arc<RigStopped>>>,
    until: Instant,
}

/// A request the rig table refuses: its HTTP status and why.
#[derive(Debug)]
pub struct Refused {
    /// 400, 404, 409, 413, 503 or 500.
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

/// What `DELETE /rigs/{id}` got: the rig's remains, or not yet.
pub enum Stop {
    /// Stopped.
    Done(Arc<RigStopped>),
    /// Still stopping: ask again.
    Pending,
}

/// The agent's indices and rigs.
pub struct Rigs {
    clock: Clock,
    cache: PathBuf,
    scratch: PathBuf,
    bind: IpAddr,
    limits: Limits,
    indices: Mutex<HashMap<PathBuf, Index>>,
    builds: Arc<Semaphore>,
    slots: Arc<Semaphore>,
    /// Rigs running and rigs stopping, behind one lock: a rig is always in one of them until
    /// its remains are collected.
    table: Mutex<Table>,
    /// Ports of `--rig-ports` held by rigs starting or running.
    ports: Arc<Mutex<HashSet<u16>>>,
    next: AtomicU64,
    cancel: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

#[derive(Default)]
struct Table {
    running: HashMap<u64, Running>,
    stopping: HashMap<u64, Stopping>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Rigs {
    /// Rigs listening on `bind`, stamping on `clock`, indices cached under `data`. Rig files
    /// an agent killed earlier left under `data` are removed.
    pub fn new(clock: Clock, data: PathBuf, bind: IpAddr, limits: Limits) -> Self {
        let scratch = data.join("rigs");
        let _ = std::fs::remove_dir_all(&scratch);
        // Forwards into L3 links an agent killed earlier left (none without nftables).
        let _ = forward::remove_stale();
        Self {
            clock,
            cache: data.join("index-cache"),
            scratch,
            bind,
            limits,
            indices: Mutex::new(HashMap::new()),
            builds: Arc::new(Semaphore::new(1)),
            slots: Arc::new(Semaphore::new(MAX_RIGS)),
            table: Mutex::new(Table::default()),
            ports: Arc::new(Mutex::new(HashSet::new())),
            next: AtomicU64::new(1),
            cancel: watch::Sender::new(false),
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// The agent's clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The cell a request carries, read as the campaign read it, and checked against what an
    /// agent runs and its limits.
    fn cell(&self, value: &serde_json::Value, seed: u64) -> Result<CampaignSpec, Refused> {
        let table: toml::Table = serde_json::from_value(value.clone())
            .map_err(|e| refused(400, format!("the cell is not a table: {e}")))?;
        let cell = CampaignSpec::from_cell_table(table, seed)
            .map_err(|e| refused(400, format!("the cell: {e}")))?;
        // Also bounds `leaders` to the agent's slots.
        runs_on_agent(&cell).map_err(|why| refused(400, why))?;
        // An L3 link is reached through this host's forwarding, which is its operator's to
        // turn on: said before an index is generated for nothing.
        if cell.chaos.layer == ChaosLayer::L3 {
            if !forward::forwarding_enabled() {
                return Err(refused(503, ForwardError::ForwardingOff.to_string()));
            }
            // `::` takes IPv4 too (a dual-stack socket), forwarded as any local address.
            if self.bind.is_ipv6() && !self.bind.is_unspecified() {
                return Err(refused(
                    400,
                    format!(
                        "an L3 cell is forwarded into its link over IPv4 only, and this agent \
                         listens on {}: run it on an IPv4 address or `[::]` (--listen)",
                        self.bind
                    ),
                ));
            }
        }
        let index = &cell.index;
        let total = index.size.bytes().saturating_mul(u64::from(index.shards));
        if total > self.limits.max_index_size.bytes() {
            return Err(refused(
                413,
                format!(
                    "index.size {} x {} shards is over this agent's --max-index-size {}",
                    index.size, index.shards, self.limits.max_index_size
                ),
            ));
        }
        if index.files > self.limits.max_files {
            return Err(refused(
                413,
                format!(
                    "index.files {} is over this agent's --max-files {}",
                    index.files, self.limits.max_files
                ),
            ));
        }
        Ok(cell)
    }

    /// Starts generating the cell's index if it is not there yet; its state. A failure is
    /// told once, then forgotten (the next request tries again).
    pub fn prepare(
        self: &Arc<Self>,
        value: &serde_json::Value,
        seed: u64,
    ) -> Result<IndexState, Refused> {
        let cell = self.cell(value, seed)?;
        let key = cache_dir(&self.cache, &cell.index);
        let mut indices = lock(&self.indices);
        match indices.get_mut(&key) {
            Some(Index::Ready(shards, used)) => {
                *used = Instant::now();
                let metas = shards.iter().map(IndexSnapshot::metas).collect();
                return Ok(IndexState::Ready { metas });
            }
            Some(Index::Building) => return Ok(IndexState::Building),
            Some(Index::Failed(message)) => {
                let message = message.clone();
                indices.remove(&key);
                return Ok(IndexState::Failed { message });
            }
            None => {}
        }
        let total = cell
            .index
            .size
            .bytes()
            .saturating_mul(u64::from(cell.index.shards));
        if !key.join(".complete").exists() {
            std::fs::create_dir_all(&self.cache)
                .map_err(|e| refused(500, format!("{}: {e}", self.cache.display())))?;
            ensure_room(&self.cache, total).map_err(|e| refused(507, e.to_string()))?;
        }
        if indices.len() >= MAX_INDICES {
            // Room from the index used longest ago that no rig serves (a rig holds its own
            // handles, but the campaign that prepared it would have to prepare it again).
            let serving: HashSet<PathBuf> = lock(&self.table)
                .running
                .values()
                .map(|r| r.index.clone())
                .collect();
            let spare = indices
                .iter()
                .filter(|(k, _)| !serving.contains(*k))
                .filter_map(|(k, i)| match i {
                    Index::Failed(_) => Some((k.clone(), None)),
                    Index::Ready(_, used) => Some((k.clone(), Some(*used))),
                    Index::Building => None,
                })
                .min_by_key(|(_, used)| *used)
                .map(|(k, _)| k);
            match spare {
                Some(k) => {
                    indices.remove(&k);
                }
                None => {
                    return Err(refused(
                        503,
                        format!("{MAX_INDICES} indices are in use or being generated; retry later"),
                    ));
                }
            }
        }
        indices.insert(key.clone(), Index::Building);
        drop(indices);
        let rigs = self.clone();
        let task = tokio::spawn(async move {
            let Ok(_build) = rigs.builds.clone().acquire_owned().await else {
                return;
            };
            let mut cancel = rigs.cancel.subscribe();
            if *cancel.borrow() {
                return;
            }
            let stopped = std::pin::pin!(async move {
                let _ = cancel.wait_for(|stop| *stop).await;
            });
            let built = match cached_index(&rigs.cache, &cell.index, stopped).await {
                Ok(Some(shards)) => Index::Ready(shards, Instant::now()),
                Ok(None) => Index::Failed("the agent is stopping".into()),
                Err(e) => Index::Failed(e.to_string()),
            };
            lock(&rigs.indices).insert(key, built);
        });
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
        Ok(IndexState::Building)
    }

    /// Starts a rig for `owner` from the request's cell, on an index already prepared.
    pub async fn start(&self, owner: &str, request: StartRig) -> Result<RigStarted, Refused> {
        let cell = self.cell(&request.cell.cell, request.cell.seed)?;
        let key = cache_dir(&self.cache, &cell.index);
        let snapshot = match lock(&self.indices).get_mut(&key) {
            Some(Index::Ready(shards, used)) => {
                *used = Instant::now();
                shards.clone()
            }
            _ => {
                return Err(refused(
                    409,
                    "the cell's index is not ready: POST /indices first",
                ));
            }
        };
        let leaders = cell.leaders.max(1);
        let slot = self
            .slots
            .clone()
            .try_acquire_many_owned(leaders)
            .map_err(|_| {
                refused(
                    503,
                    format!(
                        "{} of the {MAX_RIGS} leader slots are free, this cell needs {leaders}: \
                     stop a rig (DELETE /rigs/ID) first",
                        self.slots.available_permits()
                    ),
                )
            })?;
        let names = server_names(&request.server_names)?;
        let faults = match request.reference {
            true => reference_cell(&cell)
                .map(|(_, faults)| faults)
                .ok_or_else(|| refused(400, "this cell has no reference"))?,
            false => cell.fault_list(),
        };
        let lease = Duration::try_from_secs_f64(request.lease_s)
            .ok()
            .filter(|l| !l.is_zero() && *l <= MAX_LEASE)
            .ok_or_else(|| {
                refused(
                    400,
                    format!(
                        "lease_s {} is not above 0 and up to 7 days",
                        request.lease_s
                    ),
                )
            })?;
        std::fs::create_dir_all(&self.scratch)
            .map_err(|e| refused(500, format!("{}: {e}", self.scratch.display())))?;
        let dir = tempfile::Builder::new()
            .prefix("rig-")
            .tempdir_in(&self.scratch)
            .map_err(|e| refused(500, format!("{}: {e}", self.scratch.display())))?;
        let (certificate, ca_pem) = if needs_leader_ca(&cell) {
            if names.is_empty() {
                return Err(refused(
                    400,
                    "server_names: a TLS or QUIC cell needs the names its leader's certificate \
                     is verified for",
                ));
            }
            let issued = generate_issued(&dir.path().join("tls"), &names)
                .map_err(|e| refused(500, format!("the rig's certificates: {e}")))?;
            let pem = std::fs::read_to_string(&issued.ca)
                .map_err(|e| refused(500, format!("{}: {e}", issued.ca.display())))?;
            let certificate = Certificate::Issued {
                certificate: issued.leader,
                ca: issued.ca,
                names,
            };
            (certificate, Some(pem))
        } else {
            (certificate(&cell, None, dir.path()), None)
        };
        let clock = Clock::start();
        let rig_epoch_s = rig_epoch_s(self.clock, clock);
        let events = Arc::new(EventLog::new(clock).keeping(RIG_EVENTS));
        let udp = cell.settings.transport == Transport::Quic;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut reserved = Vec::with_capacity(leaders as usize);
        let mut rigs: Vec<Rig> = Vec::with_capacity(leaders as usize);
        let mut forwards = Vec::new();
        let mut holds = Vec::new();
        let mut dials: Vec<Vec<u16>> = Vec::with_capacity(leaders as usize);
        for i in 0..leaders as usize {
            // As fan-in in one process: leader i seeded apart, a lone leader on the trial's.
            let seed = match leaders {
                1 => request.trial_seed,
                _ => follower_seed(request.trial_seed, i),
            };
            let started = match self.listen_for(listeners(&cell), udp) {
                Ok((listen, held)) => {
                    let public = held.clone();
                    reserved.push(Reserved {
                        ports: self.ports.clone(),
                        held,
                    });
                    start_rig(
                        &cell,
                        faults.clone(),
                        seed,
                        snapshot.clone(),
                        clock,
                        Some(events.clone()),
                        certificate.clone(),
                        &listen,
                    )
                    .await
                    .map_err(|e| refused(500, format!("starting the rig: {e}")))
                    .map(|rig| (rig, public))
                }
                Err(r) => Err(r),
            };
            let forwarded = match started {
                Ok((rig, public)) => {
                    let forwarded = self
                        .forward_into_link(&rig, &format!("{id}_{i}"), public, udp)
                        .await;
                    rigs.push(rig);
                    forwarded
                }
                Err(r) => Err(r),
            };
            match forwarded {
                Ok(Some(into)) => {
                    forwards.push(into.forward);
                    holds.extend(into.holds);
                    dials.push(into.ports);
                }
                Ok(None) => dials.push(dial_ports(rigs.last().map(Rig::dial_list).as_deref())),
                Err(r) => {
                    if !remove_forwards(forwards).await.is_empty() {
                        // A table left behind still forwards its ports: never hand them out.
                        std::mem::forget(reserved);
                        std::mem::forget(holds);
                    }
                    for rig in rigs {
                        rig.shutdown().await;
                    }
                    return Err(r);
                }
            }
        }
        let ports = dials;
        lock(&self.table).running.insert(
            id,
            Running {
                owner: owner.to_owned(),
                index: key,
                rigs,
                events,
                until: Instant::now() + lease,
                dir,
                _slot: slot,
                _ports: reserved,
                forwards,
                _holds: holds,
            },
        );
        Ok(RigStarted {
            id,
            ports,
            ca_pem,
            rig_epoch_s,
        })
    }

    /// At L3, a forward from this host's public ports into `rig`'s link (nftables table
    /// `name`), so a campaign on another host reaches the leader inside it: one port per dial
    /// address inside the link, from `public` (held of `--rig-ports`) or else held here; with
    /// the ports the campaign dials, in node order. `None` for a rig with nothing to forward
    /// (no link, or a cluster's load balancer, which listens on this host's address itself).
    async fn forward_into_link(
        &self,
        rig: &Rig,
        name: &str,
        public: Vec<u16>,
        udp: bool,
    ) -> Result<Option<IntoLink>, Refused> {
        let Some(link) = rig.injectors().iter().find_map(|i| match i {
            InjectorHandle::Link(link) => Some(link),
            _ => None,
        }) else {
            return Ok(None);
        };
        let mut public = public.into_iter();
        let (mut mappings, mut holds, mut ports) = (Vec::new(), Vec::new(), Vec::new());
        for addr in rig.dial_list().split(',').filter_map(|a| a.parse().ok()) {
            match addr {
                SocketAddr::V4(inside) if *inside.ip() == link.leader_ip() => {
                    let port = match (public.next(), self.limits.rig_ports) {
                        (Some(port), _) => port,
                        (None, None) => {
                            let hold = PortHold::any(self.bind, udp)?;
                            let port = hold.port;
                            holds.push(hold);
                            port
                        }
                        // Never a port outside the range a firewall was opened for.
                        (None, Some((first, last))) => {
                            return Err(refused(
                                500,
                                format!(
                                    "the rig dials more addresses in its link than it held of \
                                     --rig-ports {first}-{last} (a bug: {})",
                                    rig.dial_list()
                                ),
                            ));
                        }
                    };
                    mappings.push((port, inside));
                    ports.push(port);
                }
                other => ports.push(other.port()),
            }
        }
        if mappings.is_empty() {
            return Ok(None);
        }
        let protocol = if udp { Protocol::Udp } else { Protocol::Tcp };
        let bind = match self.bind {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(_) => std::net::Ipv4Addr::UNSPECIFIED,
        };
        let (name, dev) = (name.to_owned(), link.follower_dev().to_owned());
        // `nft` is a process: waited for off the threads that run the other rigs.
        let forward = tokio::task::spawn_blocking(move || {
            Forward::install(&name, bind, &mappings, protocol, &dev)
        })
        .await
        .map_err(|e| refused(500, format!("forwarding into the L3 link: {e}")))?
        .map_err(|e| refused(500, format!("forwarding into the L3 link: {e}")))?;
        Ok(Some(IntoLink {
            forward,
            holds,
            ports,
        }))
    }

    /// Where a rig with `count` listeners listens: port 0 (any), or the first of `count`
    /// consecutive free ports of `--rig-ports`, held for it (so two rigs starting at once do
    /// not pick the same). A QUIC rig's proxy listens on UDP (`udp`), so its ports must be
    /// free for UDP as well as TCP.
    fn listen_for(&self, count: u16, udp: bool) -> Result<(String, Vec<u16>), Refused> {
        let Some((first, last)) = self.limits.rig_ports else {
            return Ok((SocketAddr::new(self.bind, 0).to_string(), Vec::new()));
        };
        let count = count.max(1);
        let mut held = lock(&self.ports);
        let free = |port: u16| {
            let at = SocketAddr::new(self.bind, port);
            !held.contains(&port)
                && std::net::TcpListener::bind(at).is_ok()
                && (!udp || std::net::UdpSocket::bind(at).is_ok())
        };
        let start = (first..=last.saturating_sub(count - 1))
            .filter(|p| u32::from(*p) + u32::from(count) - 1 <= u32::from(last))
            .find(|p| (0..count).all(|k| free(p + k)))
            .ok_or_else(|| {
                refused(
                    503,
                    format!("no {count} consecutive free ports in --rig-ports {first}-{last}"),
                )
            })?;
        let ports: Vec<u16> = (0..count).map(|k| start + k).collect();
        held.extend(&ports);
        Ok((SocketAddr::new(self.bind, start).to_string(), ports))
    }

    /// A running rig of `owner`'s: what `read` reads of it.
    fn with_rig<T>(
        &self,
        owner: &str,
        id: u64,
        read: impl FnOnce(&Running) -> T,
    ) -> Result<T, Refused> {
        let table = lock(&self.table);
        match table.running.get(&id) {
            Some(r) if r.owner == owner => Ok(read(r)),
            _ => Err(no_rig(id)),
        }
    }

    /// A running rig's leader counters, every node's summed.
    pub fn stats(&self, owner: &str, id: u64) -> Result<LeaderStatsSnapshot, Refused> {
        self.with_rig(owner, id, |r| leader_stats(&r.rigs))
    }

    /// A running rig's kept events numbered `from` or later, and the number to go on from.
    pub fn events(
        &self,
        owner: &str,
        id: u64,
        from: usize,
    ) -> Result<(Vec<WireEvent>, usize), Refused> {
        self.with_rig(owner, id, |r| {
            let (events, next) = r.events.since_next(from);
            (events.iter().map(WireEvent::from).collect(), next)
        })
    }

    /// Ids of `owner`'s running rigs.
    pub fn ids(&self, owner: &str) -> Vec<u64> {
        let mut ids: Vec<u64> = lock(&self.table)
            .running
            .iter()
            .filter(|(_, r)| r.owner == owner)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Stops a rig (asked again, waits again): its events and its leader's last counters, or
    /// [`Stop::Pending`] if it takes longer than [`STOP_WAIT`]. The stop goes on either way.
    pub async fn stop(&self, owner: &str, id: u64) -> Result<Stop, Refused> {
        let mut done = {
            let mut table = lock(&self.table);
            if table.running.get(&id).is_some_and(|r| r.owner == owner)
                && let Some(r) = table.running.remove(&id)
            {
                let (done, result) = watch::channel(None);
                let stopping = Stopping {
                    owner: owner.to_owned(),
                    done: result,
                    until: Instant::now() + KEEP_STOPPED,
                };
                table.stopping.insert(id, stopping);
                let task = tokio::spawn(async move {
                    done.send_replace(Some(Arc::new(finish(r).await)));
                });
                lock(&self.tasks).push(task);
            }
            match table.stopping.get(&id) {
                Some(s) if s.owner == owner => s.done.clone(),
                _ => return Err(no_rig(id)),
            }
        };
        let waited = tokio::time::timeout(STOP_WAIT, done.wait_for(Option::is_some)).await;
        let stopped = match waited {
            Ok(Ok(result)) => result.clone(),
            Ok(Err(_)) => {
                lock(&self.table).stopping.remove(&id);
                return Err(refused(500, format!("rig {id} failed while stopping")));
            }
            Err(_) => None,
        };
        Ok(match stopped {
            Some(stopped) => {
                lock(&self.table).stopping.remove(&id);
                Stop::Done(stopped)
            }
            None => Stop::Pending,
        })
    }

    /// Stops the rigs whose lease ended (their ids) and forgets stopped ones nobody collected.
    pub async fn reap(&self) -> Vec<u64> {
        let now = Instant::now();
        let expired: Vec<(u64, Running)> = {
            let mut table = lock(&self.table);
            table.stopping.retain(|_, s| s.until > now);
            let ids: Vec<u64> = table
                .running
                .iter()
                .filter(|(_, r)| r.until <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| table.running.remove(&id).map(|r| (id, r)))
                .collect()
        };
        let mut ids = Vec::new();
        for (id, r) in expired {
            finish(r).await;
            ids.push(id);
        }
        ids
    }

    /// Stops every rig and every index being generated.
    pub async fn stop_all(&self) {
        self.cancel.send_replace(true);
        let all: Vec<Running> = lock(&self.table).running.drain().map(|(_, r)| r).collect();
        for r in all {
            finish(r).await;
        }
        // Rigs being stopped finish; an index being checksummed is not waited for long (it
        // cannot be stopped half way, and its result is not wanted).
        let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
        for task in tasks {
            let _ = tokio::time::timeout(STOP_WAIT, task).await;
        }
    }
}

/// Ports of `--rig-ports` held for a rig, given back when dropped.
struct Reserved {
    ports: Arc<Mutex<HashSet<u16>>>,
    held: Vec<u16>,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let mut ports = lock(&self.ports);
        for p in &self.held {
            ports.remove(p);
        }
    }
}

/// The ports of a rig's dial list (`HOST:PORT,...`).
fn dial_ports(dial: Option<&str>) -> Vec<u16> {
    dial.unwrap_or_default()
        .split(',')
        .filter_map(|a| a.parse::<SocketAddr>().ok())
        .map(|a| a.port())
        .collect()
}

/// A rig's way in from this host's public ports to its L3 link.
struct IntoLink {
    forward: Forward,
    /// The public ports held here (none when `--rig-ports` gave them).
    holds: Vec<PortHold>,
    /// What the campaign dials, in node order.
    ports: Vec<u16>,
}

/// A public port of a forward into a link when no `--rig-ports` range gave one: held by a
/// socket bound to it that never listens (the forward takes the port's packets before any
/// socket would see them), so the host gives it to nothing else while the rig runs.
struct PortHold {
    port: u16,
    _socket: HeldSocket,
}

enum HeldSocket {
    Tcp(tokio::net::TcpSocket),
    Udp(std::net::UdpSocket),
}

impl PortHold {
    /// Any free port on `bind`, for TCP or (QUIC) UDP.
    fn any(bind: IpAddr, udp: bool) -> Result<Self, Refused> {
        let at = SocketAddr::new(bind, 0);
        let failed = |e: std::io::Error| refused(500, format!("holding a port on {at}: {e}"));
        let socket = if udp {
            HeldSocket::Udp(std::net::UdpSocket::bind(at).map_err(failed)?)
        } else {
            let socket = match bind {
                IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
            }
            .map_err(failed)?;
            socket.bind(at).map_err(failed)?;
            HeldSocket::Tcp(socket)
        };
        let port = match &socket {
            HeldSocket::Tcp(s) => s.local_addr(),
            HeldSocket::Udp(s) => s.local_addr(),
        }
        .map_err(failed)?
        .port();
        Ok(Self {
            port,
            _socket: socket,
        })
    }
}

/// How many public ports `cell`'s rig listens on: at L4 a proxy per gateway node in sniff mode
/// over a cluster; at L3 a forwarded port per node in sniff mode over a cluster; else one.
fn listeners(cell: &CampaignSpec) -> u16 {
    let nodes = cell.leader_nodes.max(1);
    let count = match (cell.chaos.layer, cell.settings.mode) {
        // Every node is dialled through the link, each forwarded from a port of its own.
        (ChaosLayer::L3, RemoteMode::Sniff) if nodes > 1 => nodes,
        (ChaosLayer::L4, RemoteMode::Sniff) if nodes > 1 => {
            nodes.min(cell.settings.node_connections.max(1))
        }
        _ => 1,
    };
    count.min(u32::from(u16::MAX)) as u16
}

/// The names a campaign verifies, checked: at most [`MAX_SERVER_NAMES`], each a DNS name or
/// an IP address.
fn server_names(names: &[String]) -> Result<Vec<String>, Refused> {
    if names.len() > MAX_SERVER_NAMES {
        return Err(refused(
            400,
            format!(
                "server_names: {} names, at most {MAX_SERVER_NAMES}",
                names.len()
            ),
        ));
    }
    for name in names {
        if tokio_rustls::rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
            let shown: String = name.chars().take(80).collect();
            return Err(refused(
                400,
                format!("server_names: {shown:?} is not a DNS name or an IP address"),
            ));
        }
    }
    Ok(names.to_vec())
}

/// When `rig`'s clock started, on `agent`'s clock (both read now).
fn rig_epoch_s(agent: Clock, rig: Clock) -> f64 {
    agent.elapsed().as_secs_f64() - rig.elapsed().as_secs_f64()
}

/// Every leader node's counters of every leader cluster, summed.
fn leader_stats(rigs: &[Rig]) -> LeaderStatsSnapshot {
    LeaderStatsSnapshot::total(
        rigs.iter()
            .flat_map(|rig| rig.leader_nodes().iter().map(|n| n.stats())),
    )
}

async fn finish(mut r: Running) -> RigStopped {
    // No new flow into a link that is going away.
    let warnings = remove_forwards(std::mem::take(&mut r.forwards)).await;
    if !warnings.is_empty() {
        // A table left behind still forwards its ports: never hand them to another rig.
        std::mem::forget(std::mem::take(&mut r._ports));
        std::mem::forget(std::mem::take(&mut r._holds));
    }
    let stats = leader_stats(&r.rigs);
    for rig in r.rigs {
        rig.shutdown().await;
    }
    // One log for all of them: read once every one has stopped.
    let events = r.events.since(0);
    drop(r.dir);
    RigStopped {
        events: events.iter().map(WireEvent::from).collect(),
        stats,
        events_dropped: r.events.dropped() as u64,
        warnings,
    }
}

/// Removes `forwards`, running `nft` off the runtime's threads; what could not be removed.
async fn remove_forwards(forwards: Vec<Forward>) -> Vec<String> {
    if forwards.is_empty() {
        return Vec::new();
    }
    let removed = tokio::task::spawn_blocking(move || {
        forwards
            .into_iter()
            .filter_map(|forward| {
                let table = forward.table().to_owned();
                forward.remove().err().map(|e| {
                    format!("the agent could not remove its forward {table} into a link: {e}")
                })
            })
            .collect::<Vec<String>>()
    })
    .await;
    removed.unwrap_or_else(|e| vec![format!("removing the forwards: {e}")])
}

fn no_rig(id: u64) -> Refused {
    refused(
        404,
        format!("no rig {id} of this API key (stopped, or its lease ended)"),
    )
}
