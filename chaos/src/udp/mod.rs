//! The L4 chaos proxy for datagrams (QUIC's UDP), started by [`Proxy::start_udp`]: one front
//! socket, a flow per client address with its own upstream socket, and per-datagram faults
//! (`delay`, `rate`, `loss` with Gilbert–Elliott bursts, `duplicate`, `reorder`, `corrupt`,
//! `blackhole`) on the same schedules, directions, seed and event log as the TCP proxy's faults.
//!
//! What a fault does to one datagram is [`datagram`] (pure). Datagrams that must wait (delay,
//! reorder, rate) go through a per-direction delay line that releases them in time order, so a
//! reordered datagram is overtaken by the ones behind it.

pub mod datagram;

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, hash_map::Entry},
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{net::UdpSocket, sync::mpsc};

use self::datagram::{Effect, Lane, Send};
use crate::{
    events::{EventKind, EventLog},
    fault::{Direction, Fault, Medium, check_medium, name_uniquely},
    link::tun::Tun,
    proxy::{Proxy, ProxyError, edges::EdgeClock},
    rng::SeededRng,
    shutdown::{Shutdown, Signal},
};

/// How often a flow reports what faults did to it.
const EFFECT_REPORT: Duration = Duration::from_millis(100);

pub(crate) struct Shared {
    faults: Vec<Fault>,
    on: Vec<AtomicBool>,
    seed: u64,
    events: Arc<EventLog>,
    flows: AtomicU64,
}

impl Shared {
    pub(crate) fn new(faults: Vec<Fault>, seed: u64, events: Arc<EventLog>) -> Self {
        Self {
            on: faults.iter().map(|_| AtomicBool::new(false)).collect(),
            faults,
            seed,
            events,
            flows: AtomicU64::new(0),
        }
    }

    pub(crate) fn events(&self) -> &EventLog {
        &self.events
    }

    /// The next connection (flow, link) number.
    pub(crate) fn next_conn(&self) -> u64 {
        self.flows.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Turns on the faults due at time zero and starts the task that flips the rest on time.
    pub(crate) fn start_schedule(self: Arc<Self>, shutdown: &mut Shutdown) {
        let started = Instant::now();
        let mut clocks: Vec<EdgeClock> = self
            .faults
            .iter()
            .map(|f| EdgeClock::new(f.schedule, Duration::ZERO))
            .collect();
        fire_edges(&self, &mut clocks, Duration::ZERO);
        shutdown.spawn(|stop| schedule(self, clocks, started, stop));
    }

    /// The faults on now that touch `flow` and this flow (`toxic`), without allocating: this
    /// runs once per datagram.
    fn active<'a>(
        &'a self,
        flow: Direction,
        toxic: &'a [bool],
    ) -> impl Iterator<Item = (usize, &'a Fault)> + 'a {
        self.faults.iter().enumerate().filter(move |(i, f)| {
            self.on[*i].load(Ordering::Relaxed) && f.covers(flow) && toxic[*i]
        })
    }
}

/// A running UDP proxy. Dropping it stops the proxy.
pub struct UdpProxyHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Shutdown,
}

impl UdpProxyHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Client addresses seen so far.
    pub fn flows(&self) -> u64 {
        self.shared.flows.load(Ordering::Relaxed)
    }

    /// Stops relaying, and waits for every flow to report what faults did to it.
    pub async fn shutdown(mut self) {
        self.shutdown.stop().await;
    }
}

fn bind_err(addr: &str) -> impl FnOnce(std::io::Error) -> ProxyError + '_ {
    move |source| ProxyError::Bind {
        addr: addr.to_string(),
        source,
    }
}

impl Proxy {
    /// Binds a UDP socket, turns on the faults due at time zero, and relays datagrams: a flow
    /// per client address, each to `upstream`. Takes datagram faults only.
    pub async fn start_udp(mut self) -> Result<UdpProxyHandle, ProxyError> {
        name_uniquely(&mut self.faults)?;
        check_medium(&self.faults, Medium::Datagrams)?;
        let front = Arc::new(
            UdpSocket::bind(&self.listen)
                .await
                .map_err(bind_err(&self.listen))?,
        );
        let local_addr = front.local_addr().map_err(bind_err(&self.listen))?;
        let upstream = tokio::net::lookup_host(&self.upstream)
            .await
            .map_err(bind_err(&self.upstream))?
            .next()
            .ok_or_else(|| bind_err(&self.upstream)(std::io::Error::other("no address")))?;
        self.events.record(EventKind::ProxyStart {
            listen: local_addr.to_string(),
            upstream: upstream.to_string(),
            seed: self.seed,
            clock_unix_epoch_s: self.events.clock().unix_epoch_s(),
        });
        let shared = Arc::new(Shared::new(self.faults, self.seed, self.events));
        let mut shutdown = Shutdown::new();
        shared.clone().start_schedule(&mut shutdown);
        let relaying = shared.clone();
        shutdown.spawn(|stop| relay(front, upstream, relaying, stop));
        Ok(UdpProxyHandle {
            local_addr,
            shared,
            shutdown,
        })
    }
}

fn fire_edges(shared: &Shared, clocks: &mut [EdgeClock], now: Duration) {
    for (i, clock) in clocks.iter_mut().enumerate() {
        for on in clock.advance(now) {
            shared.on[i].store(on, Ordering::Relaxed);
            let fault = shared.faults[i].name.clone();
            shared.events.record(if on {
                EventKind::FaultOn {
                    fault,
                    kind: shared.faults[i].kind.type_name().into(),
                }
            } else {
                EventKind::FaultOff { fault }
            });
        }
    }
}

/// Flips faults on and off on time.
async fn schedule(
    shared: Arc<Shared>,
    mut clocks: Vec<EdgeClock>,
    started: Instant,
    mut stop: Signal,
) {
    loop {
        let Some(due) = clocks.iter().filter_map(EdgeClock::next_due).min() else {
            return;
        };
        tokio::select! {
            _ = stop.recv() => return,
            _ = tokio::time::sleep_until((started + due).into()) => {}
        }
        fire_edges(&shared, &mut clocks, started.elapsed());
    }
}

/// Where a delay line sends.
#[derive(Clone)]
pub(crate) enum Target {
    /// The upstream socket (connected to the server).
    Upstream(Arc<UdpSocket>),
    /// The front socket, to one client.
    Client(Arc<UdpSocket>, SocketAddr),
    /// A TUN device: the packet enters that side's kernel (the L3 link).
    Tun(Arc<Tun>),
}

impl Target {
    async fn send(&self, bytes: &[u8]) {
        // A datagram that cannot be sent is lost, as on a network.
        let _ = match self {
            Target::Upstream(s) => s.send(bytes).await,
            Target::Client(s, to) => s.send_to(bytes, *to).await,
            Target::Tun(t) => t.send(bytes).await,
        };
    }
}

/// One direction of a flow: faults applied, effects counted, late datagrams queued.
pub(crate) struct Path {
    conn: u64,
    direction: Direction,
    lane: Lane,
    toxic: Vec<bool>,
    target: Target,
    line: mpsc::UnboundedSender<Send>,
    pending: HashMap<(usize, &'static str), u64>,
    reported: Instant,
}

impl Path {
    pub(crate) fn new(
        shared: &Shared,
        conn: u64,
        direction: Direction,
        target: Target,
    ) -> (Self, DelayLine) {
        let lane_id = if direction == Direction::Upstream {
            0
        } else {
            1
        };
        let toxic = shared
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| SeededRng::for_connection(shared.seed, conn, i, 9).chance(f.toxicity))
            .collect();
        let (line, queue) = mpsc::unbounded_channel();
        let path = Self {
            conn,
            direction,
            lane: Lane::new(
                SeededRng::for_connection(shared.seed, conn, 0, lane_id),
                shared.faults.len(),
            ),
            toxic,
            target: target.clone(),
            line,
            pending: HashMap::new(),
            reported: Instant::now(),
        };
        (path, DelayLine { queue, target })
    }

    pub(crate) async fn carry(&mut self, shared: &Shared, bytes: &[u8]) {
        let now = Instant::now();
        let active = shared.active(self.direction, &self.toxic);
        let (sends, effects) = self.lane.apply(active, bytes.to_vec(), now);
        for Effect { fault, effect } in effects {
            *self.pending.entry((fault, effect)).or_default() += bytes.len() as u64;
        }
        for send in sends {
            if send.at <= now {
                self.target.send(&send.bytes).await;
            } else {
                let _ = self.line.send(send);
            }
        }
        if now.duration_since(self.reported) >= EFFECT_REPORT {
            self.report(shared);
        }
    }

    pub(crate) fn report(&mut self, shared: &Shared) {
        for ((fault, effect), bytes) in self.pending.drain() {
            shared.events.record(EventKind::Effect {
                conn: self.conn,
                fault: shared.faults[fault].name.clone(),
                direction: self.direction,
                effect: effect.into(),
                bytes,
            });
        }
        self.reported = Instant::now();
    }
}

/// Releases queued datagrams in time order.
pub(crate) struct DelayLine {
    queue: mpsc::UnboundedReceiver<Send>,
    target: Target,
}

impl DelayLine {
    pub(crate) async fn run(mut self) {
        let mut heap: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
        let mut seq = 0u64;
        loop {
            let next = heap.peek().map(|Reverse((at, _, _))| *at);
            tokio::select! {
                received = self.queue.recv() => match received {
                    Some(Send { at, bytes }) => {
                        seq += 1;
                        heap.push(Reverse((at, seq, bytes)));
                    }
                    None => return,
                },
                _ = tokio::time::sleep_until(next.unwrap_or_else(far_future).into()), if next.is_some() => {
                    let now = Instant::now();
                    while let Some(Reverse((at, _, _))) = heap.peek() {
                        if *at > now {
                            break;
                        }
                        if let Some(Reverse((_, _, bytes))) = heap.pop() {
                            self.target.send(&bytes).await;
                        }
                    }
                }
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

/// Relays datagrams between clients and the upstream until stopped.
async fn relay(front: Arc<UdpSocket>, upstream: SocketAddr, shared: Arc<Shared>, mut stop: Signal) {
    let mut flows: HashMap<SocketAddr, Path> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let received = tokio::select! {
            _ = stop.recv() => break,
            r = front.recv_from(&mut buf) => r,
        };
        // An ICMP error from an earlier send surfaces here on Linux: not fatal for the proxy.
        let Ok((n, client)) = received else { continue };
        let path = match flows.entry(client) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let opened = open_flow(&front, upstream, client, &shared, &stop, &mut tasks).await;
                let Some(path) = opened else { continue };
                e.insert(path)
            }
        };
        path.carry(&shared, &buf[..n]).await;
        while tasks.try_join_next().is_some() {}
    }
    for path in flows.values_mut() {
        path.report(&shared);
    }
    tasks.abort_all();
}

/// A new client: its upstream socket, its two paths and the task that carries replies back.
async fn open_flow(
    front: &Arc<UdpSocket>,
    upstream: SocketAddr,
    client: SocketAddr,
    shared: &Arc<Shared>,
    stop: &Signal,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Option<Path> {
    let local: SocketAddr = if upstream.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).await.ok()?;
    socket.connect(upstream).await.ok()?;
    let socket = Arc::new(socket);
    let conn = shared.next_conn();
    shared.events.record(EventKind::ConnOpen {
        conn,
        peer: client.to_string(),
    });
    let (up, up_line) = Path::new(
        shared,
        conn,
        Direction::Upstream,
        Target::Upstream(socket.clone()),
    );
    let (mut down, down_line) = Path::new(
        shared,
        conn,
        Direction::Downstream,
        Target::Client(front.clone(), client),
    );
    tasks.spawn(up_line.run());
    tasks.spawn(down_line.run());
    let (shared, mut stop) = (shared.clone(), stop.clone());
    tasks.spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let received = tokio::select! {
                _ = stop.recv() => break,
                r = socket.recv(&mut buf) => r,
            };
            let Ok(n) = received else { continue };
            down.carry(&shared, &buf[..n]).await;
        }
        down.report(&shared);
    });
    Some(up)
}
