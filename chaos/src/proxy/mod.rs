//! The L4 TCP proxy: accepts clients, connects each to the upstream (the next of several in
//! turn, as a load balancer in front of a cluster), applies faults.
//!
//! Structure (mini-redis style): an accept loop, a task per connection that `select!`s on its
//! pipes, fault edges, an idle tick and shutdown, and a scheduler task that flips each fault on
//! and off on time and broadcasts the edges. The data path reads the on/off flags; connection
//! supervisors react to edges (a reset fires on connections already open, idle or not).
//!
//! The relay behind the listener (fault table, schedule, connection supervisor, pipes) is
//! generic over its two ends (`socket.rs`), so the simulator ([`crate::sim`]) runs the very same
//! code over in-memory ends. What each fault does is its [`Behaviour`](crate::fault::Behaviour);
//! this module only acts on the verdicts.

pub(crate) mod connection;
pub(crate) mod edges;
mod pipe;
mod queue;
pub(crate) mod socket;
#[cfg(target_os = "linux")]
mod splice;
mod stats;
pub(crate) mod table;
mod timers;

pub use self::stats::{EffectTotal, FaultState, ProxyStatsSnapshot, ProxyStatsSource};

use std::{
    net::SocketAddr,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    net::TcpListener,
    sync::{Notify, broadcast},
    task::JoinSet,
    time::Instant,
};

use self::{edges::EdgeClock, table::FaultTable};
use crate::{
    events::{EventKind, EventLog},
    fault::{
        ConnEvent, Fault, FaultError, FaultKind, Medium, Verdict, check_medium, down::Outage,
        name_uniquely,
    },
    shutdown::{Shutdown, Signal},
};

/// A fault turned on or off, or was taken out of the faults while on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Edge {
    pub(crate) generation: u64,
    pub(crate) index: usize,
    pub(crate) on: bool,
    /// Taken out of the faults while on (then `index` is no slot of `generation`'s): what it
    /// was, so open connections can answer [`ConnEvent::Removed`].
    pub(crate) removed: Option<FaultKind>,
}

/// The proxy could not start or take new faults.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The faults are not valid together.
    #[error(transparent)]
    Fault(#[from] FaultError),
    /// New faults were put in force but the scheduler did not take them up in time (it is
    /// stopping, or starved), so whether the next byte meets them is not known.
    #[error("the proxy did not take up its new faults within {0:?} (is it stopping?)")]
    NotApplied(Duration),
}

/// What to start.
#[derive(Clone, Debug)]
pub struct Proxy {
    /// Address to listen on (`127.0.0.1:0` picks a port).
    pub listen: String,
    /// Address every connection is relayed to, or a comma-separated list of them (`a,b,c`):
    /// then, like a load balancer in front of a cluster, each accepted connection goes to the
    /// next in turn (connection 1 to the first, 2 to the second, and round again). A lone
    /// address is the whole list. The datagram proxy ([`Proxy::start_udp`]) takes one address.
    pub upstream: String,
    /// Faults to apply; times count from the proxy's start.
    pub faults: Vec<Fault>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Where events go (its clock stamps them).
    pub events: Arc<EventLog>,
}

pub(crate) struct Shared {
    /// Where connections go, in turn (never empty).
    upstreams: Vec<String>,
    seed: u64,
    started: Instant,
    events: Arc<EventLog>,
    table: RwLock<Arc<FaultTable>>,
    table_changed: Notify,
    edges: broadcast::Sender<Edge>,
    next_conn: AtomicU64,
    open: AtomicU64,
    /// The generation of faults the scheduler has taken up (turned on what was due).
    applied: AtomicU64,
    /// Whether bytes no fault touches may go by `splice(2)` ([`ProxyHandle::set_zero_copy`]).
    zero_copy: AtomicBool,
    /// Running totals (for `/metrics`).
    pub(crate) stats: stats::ProxyStats,
}

impl Shared {
    /// A relay's shared state, with `faults` (named and checked) not yet on; `upstream` is
    /// where connections are relayed (a name only, for the simulator).
    pub(crate) fn new(
        upstream: String,
        faults: Vec<Fault>,
        seed: u64,
        events: Arc<EventLog>,
        edge_capacity: usize,
    ) -> Arc<Self> {
        let (edges, _) = broadcast::channel(edge_capacity);
        Arc::new(Shared {
            upstreams: upstreams_of(&upstream),
            seed,
            started: Instant::now(),
            events,
            table: RwLock::new(Arc::new(FaultTable::new(0, faults))),
            table_changed: Notify::new(),
            edges,
            next_conn: AtomicU64::new(1),
            open: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            zero_copy: AtomicBool::new(true),
            stats: stats::ProxyStats::default(),
        })
    }

    /// Turns on the faults due at time zero; returns the edge clocks [`schedule`] carries on.
    pub(crate) fn first_edges(&self) -> Vec<EdgeClock> {
        let table = self.table();
        let mut clocks: Vec<EdgeClock> = table
            .slots
            .iter()
            .map(|s| EdgeClock::new(s.fault.schedule, Duration::ZERO))
            .collect();
        self.fire_edges(&table, &mut clocks, Duration::ZERO);
        clocks
    }

    /// The faults in the table now.
    pub(crate) fn faults(&self) -> Vec<Fault> {
        self.table().slots.iter().map(|s| s.fault.clone()).collect()
    }

    pub(crate) fn table(&self) -> Arc<FaultTable> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the faults (see [`ProxyHandle::set_faults`]).
    pub(crate) fn set_faults(&self, mut faults: Vec<Fault>) -> Result<(), FaultError> {
        name_uniquely(&mut faults)?;
        check_medium(&faults, Medium::Stream)?;
        let mut removed = Vec::new();
        let generation = {
            let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
            let now = self.now();
            let old = table.clone();
            let mut next = FaultTable::new(old.generation + 1, faults);
            next.at = now;
            // Each slot's state for `now`, before it is published: a fault kept unchanged keeps
            // its state (a live connection never sees it lapse), a new one whose window is open
            // is on at once (the scheduler records its `fault_on` and tells connections).
            let mut kept = vec![false; old.slots.len()];
            for slot in &mut next.slots {
                let same =
                    (0..old.slots.len()).find(|&j| !kept[j] && old.slots[j].fault == slot.fault);
                match same {
                    Some(j) => {
                        kept[j] = true;
                        slot.carried = true;
                        slot.set_on(old.slots[j].is_on());
                    }
                    None => slot.set_on(slot.fault.schedule.is_active(now)),
                }
            }
            for (slot, _) in old.slots.iter().zip(&kept).filter(|(_, k)| !**k) {
                if slot.is_on() {
                    slot.set_on(false);
                    self.events.record(EventKind::FaultOff {
                        fault: slot.fault.name.clone(),
                    });
                    // A fault replaced by one of its name (a toxic updated) is not taken away.
                    if !next.slots.iter().any(|s| s.fault.name == slot.fault.name) {
                        removed.push(slot.fault.kind);
                    }
                }
            }
            let generation = next.generation;
            *table = Arc::new(next);
            generation
        };
        // Open connections hear of faults taken away while on (a timeout closes them).
        for kind in removed {
            let _ = self.edges.send(Edge {
                generation,
                index: usize::MAX,
                on: false,
                removed: Some(kind),
            });
        }
        self.table_changed.notify_one();
        Ok(())
    }

    /// The fault an edge is about, its name, and whether it is on after it (a fault taken
    /// away is off, named by its type); `None` for an edge of a table replaced since.
    pub(crate) fn edge_fault(&self, edge: &Edge) -> Option<(FaultKind, String, bool)> {
        if let Some(kind) = edge.removed {
            return Some((kind, kind.type_name().to_string(), false));
        }
        let table = self.table();
        let slot = table
            .slots
            .get(edge.index)
            .filter(|_| edge.generation == table.generation)?;
        Some((slot.fault.kind, slot.fault.name.clone(), edge.on))
    }

    /// Fault edges from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Edge> {
        self.edges.subscribe()
    }

    /// The upstream connection `id` is relayed to: round-robin over the list, in the order
    /// connections were accepted (ids count from 1).
    pub(crate) fn upstream_of(&self, id: u64) -> &str {
        let at = id.saturating_sub(1) % self.upstreams.len() as u64;
        &self.upstreams[at as usize]
    }

    /// A new connection id.
    pub(crate) fn next_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether bytes no fault touches may be relayed with `splice(2)`.
    pub(crate) fn zero_copy(&self) -> bool {
        self.zero_copy.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub(crate) fn open_connections(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    pub(crate) fn events(&self) -> &Arc<EventLog> {
        &self.events
    }

    /// Time since the proxy started: the origin of every schedule.
    pub(crate) fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// An instant fault (a `reset` given no time fires at the proxy's start) acts only on the
    /// connections open when it fires: with none open it does nothing, which is worth saying.
    fn warn_if_idle(&self, slot: &table::Slot) {
        if self.open_connections() > 0 || !slot.first_warning() {
            return;
        }
        let at = self.now().as_secs_f64();
        self.events.record(EventKind::Warning {
            fault: slot.fault.name.clone(),
            message: format!(
                "fired at {at:.3}s with no connection open, so it did nothing: an instant fault \
                 acts only on the connections open when it fires; give it a time when the \
                 follower is connected, counted from the proxy's start (`at=10s`), or repeat it \
                 (`every=5s`)"
            ),
        });
    }

    /// Applies every edge due by `now`: flips flags, records events, tells connections.
    fn fire_edges(&self, table: &FaultTable, clocks: &mut [EdgeClock], now: Duration) {
        for (index, clock) in clocks.iter_mut().enumerate() {
            for on in clock.advance(now) {
                let slot = &table.slots[index];
                slot.set_on(on);
                let fault = slot.fault.name.clone();
                self.events.record(if on {
                    EventKind::FaultOn {
                        fault,
                        kind: slot.fault.kind.type_name().into(),
                    }
                } else {
                    EventKind::FaultOff { fault }
                });
                if on && slot.fault.schedule.duration == Some(Duration::ZERO) {
                    self.warn_if_idle(slot);
                }
                let _ = self.edges.send(Edge {
                    generation: table.generation,
                    index,
                    on,
                    removed: None,
                });
            }
        }
    }
}

/// The addresses in `upstream` (comma-separated, blanks around each ignored); a list with no
/// address in it is kept whole, so connecting to it fails as that address would.
fn upstreams_of(upstream: &str) -> Vec<String> {
    let list: Vec<String> = upstream
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect();
    if list.is_empty() {
        vec![upstream.to_string()]
    } else {
        list
    }
}

/// A running proxy. Dropping it stops the proxy.
pub struct ProxyHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Shutdown,
}

impl Proxy {
    /// Binds, turns on the faults due at time zero, and starts serving.
    pub async fn start(mut self) -> Result<ProxyHandle, ProxyError> {
        name_uniquely(&mut self.faults)?;
        check_medium(&self.faults, Medium::Stream)?;
        let bind_error = |source| ProxyError::Bind {
            addr: self.listen.clone(),
            source,
        };
        // Resolving may block: off the runtime's threads.
        let listen = self.listen.clone();
        let listener = tokio::task::spawn_blocking(move || crate::listen::tcp_listener(listen))
            .await
            .map_err(|e| bind_error(std::io::Error::other(e)))?
            .and_then(TcpListener::from_std)
            .map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: self.listen.clone(),
            source,
        })?;
        self.events.record(EventKind::ProxyStart {
            listen: local_addr.to_string(),
            upstream: self.upstream.clone(),
            seed: self.seed,
            clock_unix_epoch_s: self.events.clock().unix_epoch_s(),
        });
        let shared = Shared::new(self.upstream, self.faults, self.seed, self.events, 4096);
        // Faults due at time zero are on before the first connection is accepted.
        let clocks = shared.first_edges();
        let mut shutdown = Shutdown::new();
        let serving = shared.clone();
        shutdown.spawn(|signal| run(listener, local_addr, serving, signal, clocks));
        Ok(ProxyHandle {
            local_addr,
            shared,
            shutdown,
        })
    }
}

impl ProxyHandle {
    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The event log.
    pub fn events(&self) -> &Arc<EventLog> {
        &self.shared.events
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// Its counters, through a handle that can be kept (for a metrics endpoint).
    pub fn stats_source(&self) -> ProxyStatsSource {
        ProxyStatsSource {
            shared: self.shared.clone(),
        }
    }

    /// Time since the proxy started: the origin of its faults' schedules.
    pub fn now(&self) -> Duration {
        self.shared.now()
    }

    /// Whether bytes no fault touches are relayed inside the kernel with `splice(2)` (Linux,
    /// TCP; on by default) or, when off, copied through user space as bytes a fault touches
    /// are. Off, a proxy with no faults costs what the copying path costs (for measuring it,
    /// or for a kernel whose splice misbehaves); the bytes relayed are the same either way.
    /// Takes effect at each connection's next read, open connections included.
    pub fn set_zero_copy(&self, on: bool) {
        self.shared.zero_copy.store(on, Ordering::Relaxed);
    }

    /// See [`ProxyHandle::set_zero_copy`].
    pub fn zero_copy(&self) -> bool {
        self.shared.zero_copy()
    }

    /// The faults in force.
    pub fn faults(&self) -> Vec<Fault> {
        self.shared.faults()
    }

    /// Replaces the faults while the proxy runs. Their schedules still count from the proxy's
    /// start; a window already open turns on at once. A fault kept unchanged (equal, name and
    /// all) keeps its state without a gap or new events; faults removed that were on turn off.
    pub fn set_faults(&self, faults: Vec<Fault>) -> Result<(), ProxyError> {
        Ok(self.shared.set_faults(faults)?)
    }

    /// [`ProxyHandle::set_faults`], then waits (a second at most) until the scheduler has turned
    /// on the faults due now, so the next byte relayed meets them (a control API answers only
    /// then, as toxiproxy answers once every link has its toxic). Past the second,
    /// [`ProxyError::NotApplied`]: the faults stay in force, and the caller says so.
    pub async fn set_faults_applied(&self, faults: Vec<Fault>) -> Result<(), ProxyError> {
        const WAIT: Duration = Duration::from_secs(1);
        self.shared.set_faults(faults)?;
        let wanted = self.shared.table().generation;
        let deadline = Instant::now() + WAIT;
        while self.shared.applied.load(Ordering::Acquire) < wanted {
            if Instant::now() >= deadline {
                return Err(ProxyError::NotApplied(WAIT));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// Stops accepting, closes every connection, and waits for them.
    pub async fn shutdown(mut self) {
        self.shutdown.stop().await;
    }
}

async fn run(
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Signal,
    clocks: Vec<EdgeClock>,
) {
    let scheduler = tokio::spawn(schedule(shared.clone(), shutdown.clone(), clocks));
    accept_loop(listener, local_addr, shared, shutdown).await;
    let _ = scheduler.await;
}

/// Flips faults on and off on time; starts over when the faults are replaced.
pub(crate) async fn schedule(
    shared: Arc<Shared>,
    mut shutdown: Signal,
    mut clocks: Vec<EdgeClock>,
) {
    let mut table = shared.table();
    loop {
        shared.fire_edges(&table, &mut clocks, shared.now());
        shared.applied.store(table.generation, Ordering::Release);
        let next = clocks.iter().filter_map(EdgeClock::next_due).min();
        let wake = async {
            match next {
                Some(t) => tokio::time::sleep_until(shared.started + t).await,
                None => std::future::pending().await,
            }
        };
        // Biased: when several are ready at once, the outcome does not depend on a coin toss
        // (the simulator replays exactly).
        tokio::select! {
            biased;
            _ = shutdown.recv() => return,
            _ = shared.table_changed.notified() => {
                // `set_faults` turned off what it removed and set every slot's state for
                // `table.at`: from there, a kept fault that is on resumes, others start over.
                table = shared.table();
                clocks = table
                    .slots
                    .iter()
                    .map(|s| {
                        if s.carried && s.is_on() {
                            EdgeClock::resumed_on(s.fault.schedule, table.at)
                        } else {
                            EdgeClock::new(s.fault.schedule, table.at)
                        }
                    })
                    .collect();
            }
            _ = wake => {}
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: Signal,
) {
    let mut listener = Some(listener);
    let mut edges = shared.edges.subscribe();
    let mut outage = Outage::default();
    let mut connections = JoinSet::new();
    loop {
        let accept = async {
            match &listener {
                Some(l) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.recv() => break,
            edge = edges.recv() => {
                let Ok(edge) = edge else { continue };
                let Some((kind, fault, on)) = shared.edge_fault(&edge) else { continue };
                // A fault that refuses connections (down) closes the listener while it is on.
                if kind.behaviour().on_connection(ConnEvent::Connect) != Verdict::Refuse {
                    continue;
                }
                match outage.edge(on) {
                    Some(true) => {
                        listener = None; // closing the socket: connects are refused
                        shared.events.record(EventKind::ProxyDown { fault });
                    }
                    Some(false) => {
                        listener = rebind(local_addr).await;
                        shared.events.record(EventKind::ProxyUp { fault });
                    }
                    None => {}
                }
            }
            accepted = accept => {
                let Ok((client, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let id = shared.next_conn();
                connections.spawn(connection::serve(shared.clone(), client, peer, id, shutdown.clone()));
            }
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        connections.abort_all();
    }
}

/// Listens on the same address again after a `down` window.
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    fn fault(spec: &str) -> Fault {
        spec.parse().expect("fault")
    }

    fn fault_events(events: &EventLog) -> Vec<String> {
        events
            .since(0)
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::FaultOn { fault, .. } => Some(format!("on {fault}")),
                EventKind::FaultOff { fault } => Some(format!("off {fault}")),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn faults_not_taken_up_in_time_are_an_error() {
        let events = Arc::new(EventLog::new(Clock::start()));
        let shared = Shared::new("x".into(), Vec::new(), 1, events, 16);
        // No scheduler runs: nothing takes the faults up.
        let handle = ProxyHandle {
            local_addr: "127.0.0.1:1".parse().expect("addr"),
            shared,
            shutdown: Shutdown::new(),
        };
        let faults = vec![fault("latency:delay=10ms")];
        let applied = handle.set_faults_applied(faults).await;
        assert!(
            matches!(applied, Err(ProxyError::NotApplied(_))),
            "{applied:?}"
        );
    }

    #[tokio::test]
    async fn replacing_faults_keeps_the_unchanged_ones_on_without_a_gap_or_events() {
        let events = Arc::new(EventLog::new(Clock::start()));
        let slow = fault("latency:name=slow,delay=100ms");
        let shared = Shared::new("x".into(), vec![slow.clone()], 1, events.clone(), 16);
        let clocks = shared.first_edges();
        let mut shutdown = Shutdown::new();
        let scheduling = shared.clone();
        shutdown.spawn(|signal| schedule(scheduling, signal, clocks));
        tokio::time::sleep(Duration::from_millis(20)).await;
        for i in 0..3 {
            let mut faults = vec![slow.clone()];
            faults.extend((0..=i).map(|j| fault(&format!("blackhole:name=b{j},at=1h"))));
            faults.push(fault(&format!("corrupt:name=now{i},probability=0.1")));
            shared.set_faults(faults).expect("faults");
            // Published already on: before the scheduler has run, the data path sees them.
            let table = shared.table();
            assert!(table.slots[0].is_on(), "the kept latency lapsed");
            assert!(
                table.slots.last().expect("slot").is_on(),
                "a new open window"
            );
            assert!(!table.slots[1].is_on(), "not due yet");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            fault_events(&events),
            [
                "on slow", "on now0", "off now0", "on now1", "off now1", "on now2"
            ]
        );
        shutdown.stop().await;
    }

    /// Relays `n` bytes each way through a proxy with no faults; returns (spliced, relayed).
    #[cfg(target_os = "linux")]
    async fn relay_both_ways(zero_copy: bool, n: usize) -> (u64, u64) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let server = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let upstream = server.local_addr().expect("addr").to_string();
        let echo = tokio::spawn(async move {
            let (mut s, _) = server.accept().await.expect("accept");
            let mut got = vec![0u8; n];
            s.read_exact(&mut got).await.expect("read");
            s.write_all(&got).await.expect("write");
        });
        let proxy = Proxy {
            listen: "127.0.0.1:0".into(),
            upstream,
            faults: Vec::new(),
            seed: 1,
            events: Arc::new(EventLog::new(Clock::start())),
        }
        .start()
        .await
        .expect("proxy");
        proxy.set_zero_copy(zero_copy);
        assert_eq!(proxy.zero_copy(), zero_copy);
        let mut client = tokio::net::TcpStream::connect(proxy.local_addr())
            .await
            .expect("connect");
        let sent: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        client.write_all(&sent).await.expect("write");
        let mut back = vec![0u8; n];
        client.read_exact(&mut back).await.expect("read");
        assert!(back == sent, "the bytes came back changed");
        echo.await.expect("echo");
        // The relay counts a chunk once written, so the last may be counted just after the
        // client read it.
        let stats = proxy.stats_source();
        let mut snapshot = stats.snapshot();
        for _ in 0..500 {
            if snapshot.bytes_upstream + snapshot.bytes_downstream >= 2 * n as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            snapshot = stats.snapshot();
        }
        proxy.shutdown().await;
        (
            snapshot.bytes_spliced,
            snapshot.bytes_upstream + snapshot.bytes_downstream,
        )
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn with_no_fault_zero_copy_splices_every_byte_and_off_copies_every_byte() {
        let n = 4 << 20;
        let (spliced, relayed) = relay_both_ways(true, n).await;
        assert_eq!(relayed, 2 * n as u64);
        assert_eq!(spliced, relayed, "zero copy on: every byte by splice");
        let (spliced, relayed) = relay_both_ways(false, n).await;
        assert_eq!(relayed, 2 * n as u64);
        assert_eq!(spliced, 0, "zero copy off: no byte by splice");
    }

    #[test]
    fn an_upstream_list_is_split_on_commas_and_a_lone_address_is_the_whole_list() {
        assert_eq!(upstreams_of("127.0.0.1:9300"), ["127.0.0.1:9300"]);
        assert_eq!(upstreams_of("a:1, b:2,,c:3 "), ["a:1", "b:2", "c:3"]);
        assert_eq!(upstreams_of(" , "), [" , "]);
    }
}
