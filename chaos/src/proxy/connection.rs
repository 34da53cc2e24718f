//! One relayed connection: its two pipes and a supervisor that ends it.
//!
//! The supervisor ends a connection in one of three ways. *Reset*: both ends are reset, so both
//! peers see a reset (ECONNRESET, not EOF): `SO_LINGER(0)` then close for TCP. *Close*: FIN to
//! both. *Closed*: both directions reached EOF on their own. Which faults end a connection, and
//! how, each fault's [`Behaviour::on_connection`] says; the supervisor asks when the connection
//! opens, when a fault turns on or is taken away, and on an idle tick. A fault may also answer
//! with a time ([`Verdict::CloseIn`], toxiproxy's `timeout`): the supervisor keeps one timer per
//! such fault ([`Timers`]), counted from when the fault reached the connection, and drops it
//! when the fault turns off. The relay is generic over its ends
//! ([`Socket`]): TCP sockets for the proxy, in-memory ends for the simulator.
//!
//! [`Behaviour::on_connection`]: crate::fault::Behaviour::on_connection
//! [`Timers`]: super::timers::Timers

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use socket2::SockRef;
use tokio::{
    net::TcpStream,
    sync::{
        broadcast::{self, error::RecvError},
        watch,
    },
    task::JoinSet,
    time::{Instant, Interval},
};

use super::{Edge, Shared, pipe::pipe, socket::Socket, table::FaultTable, timers::Timers};
use crate::{
    events::EventKind,
    fault::{ConnEvent, Direction, Fault, Moved, Verdict},
    rng::SeededRng,
    shutdown::Signal,
};

/// How a connection ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// RST both sides, because of this fault (or `peer`).
    Reset(String),
    /// FIN both sides, for this reason.
    Close(String),
}

pub(crate) struct Conn<S: Socket> {
    pub(crate) id: u64,
    pub(crate) shared: Arc<Shared>,
    client: S,
    server: S,
    opened: Instant,
    up: AtomicU64,
    down: AtomicU64,
    last_data: AtomicU64,
    ending: watch::Sender<Option<Ending>>,
    toxic: Mutex<Draws>,
    reach: Mutex<Reach>,
}

/// What each fault found when it reached this connection (it opened with the fault on, or the
/// fault turned on with it open): the bytes moved by then, by fault name, forgotten when the
/// fault leaves the table. Byte counts that run from a fault's arrival (toxiproxy's
/// `limit_data`) subtract it.
#[derive(Default)]
struct Reach {
    generation: u64,
    by_name: HashMap<String, Moved>,
}

/// Each fault's toxicity draw for one connection, by fault name: a fault kept across a change
/// of faults keeps its draw wherever it moves in the table; a fault gone is forgotten.
#[derive(Default)]
struct Draws {
    generation: u64,
    by_name: HashMap<String, f64>,
}

impl<S: Socket> Conn<S> {
    /// A connection between `client` and `server`, recorded as open, with the faults due on
    /// arrival applied. [`relay`] then carries it.
    pub(crate) fn open(
        shared: Arc<Shared>,
        client: S,
        server: S,
        peer: String,
        id: u64,
    ) -> (Arc<Self>, watch::Receiver<Option<Ending>>) {
        let (ending, ended) = watch::channel(None);
        let conn = Arc::new(Conn {
            id,
            shared: shared.clone(),
            client,
            server,
            opened: Instant::now(),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            last_data: AtomicU64::new(0),
            ending,
            toxic: Mutex::new(Draws::default()),
            reach: Mutex::new(Reach::default()),
        });
        shared.open.fetch_add(1, Ordering::Relaxed);
        shared.stats.opened();
        conn.record(EventKind::ConnOpen { conn: id, peer });
        if let Some(e) = conn.on_arrival() {
            conn.end(e);
        }
        (conn, ended)
    }

    /// (source, destination) for bytes flowing `flow`.
    pub(crate) fn streams(&self, flow: Direction) -> (&S, &S) {
        match flow {
            Direction::Downstream => (&self.server, &self.client),
            _ => (&self.client, &self.server),
        }
    }

    pub(crate) fn table(&self) -> Arc<FaultTable> {
        self.shared.table()
    }

    /// Data moved now (for idle timeouts).
    pub(crate) fn touch(&self) {
        self.last_data
            .store(self.opened.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    fn since_data(&self) -> Duration {
        self.opened
            .elapsed()
            .saturating_sub(Duration::from_nanos(self.last_data.load(Ordering::Relaxed)))
    }

    pub(crate) fn add_moved(&self, flow: Direction, n: usize) {
        let counter = if flow == Direction::Downstream {
            &self.down
        } else {
            &self.up
        };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        self.shared.stats.add_moved(flow, n as u64);
    }

    /// Bytes moved so far in each direction.
    pub(crate) fn moved(&self) -> Moved {
        Moved {
            up: self.up.load(Ordering::Relaxed),
            down: self.down.load(Ordering::Relaxed),
        }
    }

    /// Whether fault `index` of `table` affects this connection: drawn once, from the seed.
    pub(crate) fn is_toxic(&self, table: &FaultTable, index: usize, fault: &Fault) -> bool {
        if fault.toxicity >= 1.0 {
            return true;
        }
        let mut draws = self.toxic.lock().unwrap_or_else(|p| p.into_inner());
        if table.generation > draws.generation {
            draws.generation = table.generation;
            draws
                .by_name
                .retain(|name, _| table.slots.iter().any(|s| s.fault.name == *name));
        }
        let drawn = match draws.by_name.get(&fault.name) {
            Some(u) => *u,
            None => {
                let u = SeededRng::for_connection(self.shared.seed, self.id, index, 0).unit();
                draws.by_name.insert(fault.name.clone(), u);
                u
            }
        };
        // As `SeededRng::chance` decides, against the toxicity in force now.
        fault.toxicity > 0.0 && drawn < fault.toxicity
    }

    /// The bytes moved when the fault `name` of `table` reached this connection: noted now if
    /// this is the first that is heard of it.
    pub(crate) fn reached(&self, table: &FaultTable, name: &str) -> Moved {
        let mut reach = self.reach.lock().unwrap_or_else(|p| p.into_inner());
        if table.generation > reach.generation {
            reach.generation = table.generation;
            reach
                .by_name
                .retain(|n, _| table.slots.iter().any(|s| s.fault.name == *n));
        }
        if let Some(moved) = reach.by_name.get(name) {
            return *moved;
        }
        let moved = self.moved();
        reach.by_name.insert(name.to_string(), moved);
        moved
    }

    /// Asks the supervisor to end the connection (the first request wins).
    pub(crate) fn end(&self, ending: Ending) {
        self.ending.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(ending);
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn record(&self, kind: EventKind) {
        self.shared.events.record(kind);
    }

    /// How fault `index` ends this connection on `event`, if it does. A fault that acts on the
    /// whole injector (down) ends every connection; others only those they picked.
    fn ending_on(
        &self,
        table: &FaultTable,
        index: usize,
        fault: &Fault,
        event: ConnEvent,
    ) -> Option<Ending> {
        let behaviour = fault.kind.behaviour();
        let picked = || behaviour.whole_injector() || self.is_toxic(table, index, fault);
        match behaviour.on_connection(event) {
            Verdict::Reset if picked() => Some(Ending::Reset(fault.name.clone())),
            Verdict::Close if picked() => Some(Ending::Close(fault.kind.type_name().into())),
            _ => None,
        }
    }

    /// The first fault that is on and ends this connection on `event`.
    fn first_ending(&self, event: ConnEvent) -> Option<Ending> {
        let table = self.table();
        table
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_on())
            .find_map(|(i, s)| self.ending_on(&table, i, &s.fault, event))
    }

    /// Arms the timer fault `index` of `table` asks for on `event`, if it asks and picked this
    /// connection.
    fn arm_on(
        &self,
        timers: &mut Timers,
        table: &FaultTable,
        index: usize,
        fault: &Fault,
        event: ConnEvent,
    ) {
        if let Verdict::CloseIn(after) = fault.kind.behaviour().on_connection(event)
            && self.is_toxic(table, index, fault)
        {
            let ending = Ending::Close(fault.name.clone());
            timers.arm(&fault.name, Instant::now() + after, ending);
        }
    }

    /// A fault edge: a fault that fires on open connections (reset, down) as it turns on, one
    /// that starts a timer (timeout) as it turns on or drops it as it turns off, and one taken
    /// away while on that ends its connections (timeout).
    fn on_edge(&self, edge: Edge, timers: &mut Timers) -> Option<Ending> {
        let table = self.table();
        timers.retain(|name| table.slots.iter().any(|s| s.fault.name == name));
        if let Some(kind) = edge.removed {
            return match kind.behaviour().on_connection(ConnEvent::Removed) {
                Verdict::Close => Some(Ending::Close(format!("{} removed", kind.type_name()))),
                _ => None,
            };
        }
        if edge.generation != table.generation {
            return None;
        }
        let fault = &table.slots.get(edge.index)?.fault;
        if !edge.on {
            timers.disarm(&fault.name);
            return None;
        }
        self.reached(&table, &fault.name);
        self.arm_on(timers, &table, edge.index, fault, ConnEvent::TurnedOn);
        self.ending_on(&table, edge.index, fault, ConnEvent::TurnedOn)
    }

    /// A fault already on when the connection arrives (a reset window) may end it at once;
    /// every fault on reaches it now.
    fn on_arrival(&self) -> Option<Ending> {
        let table = self.table();
        for slot in table.slots.iter().filter(|s| s.is_on()) {
            self.reached(&table, &slot.fault.name);
        }
        self.first_ending(ConnEvent::Opened)
    }

    /// The timers of the faults on as the connection arrives.
    fn arrival_timers(&self) -> Timers {
        let table = self.table();
        let mut timers = Timers::default();
        for (i, slot) in table.slots.iter().enumerate().filter(|(_, s)| s.is_on()) {
            self.arm_on(&mut timers, &table, i, &slot.fault, ConnEvent::Opened);
        }
        timers
    }

    /// An idle timeout that has run out.
    fn idle_expired(&self) -> Option<Ending> {
        self.first_ending(ConnEvent::Idle(self.since_data()))
    }
}

/// The supervisor's idle check: a twentieth of the shortest idle timeout in force, or none when
/// no fault times idleness (then a connection costs no wake-ups while it waits).
fn idle_ticker(table: &FaultTable) -> Option<Interval> {
    let idle = table.shortest_idle()?;
    let period = (idle / 20).clamp(Duration::from_millis(5), Duration::from_millis(250));
    Some(tokio::time::interval(period))
}

async fn next_timer(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn next_tick(tick: &mut Option<Interval>) {
    match tick {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Relays a client that the proxy accepted to a new connection to its upstream (the next in
/// turn when there are several).
pub(crate) async fn serve(
    shared: Arc<Shared>,
    client: TcpStream,
    peer: SocketAddr,
    id: u64,
    shutdown: Signal,
) {
    let edges = shared.edges.subscribe();
    let server = match tokio::time::timeout(
        Duration::from_secs(10),
        TcpStream::connect(shared.upstream_of(id)),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return failed(&shared, id, client, e.to_string()),
        Err(_) => {
            return failed(
                &shared,
                id,
                client,
                "upstream connect timed out after 10s".into(),
            );
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (conn, ended) = Conn::open(shared, client, server, peer.to_string(), id);
    relay(conn, ended, edges, shutdown).await;
}

/// Carries an open connection until a fault, a side or shutdown ends it, then ends it so both
/// peers see how. `edges` was subscribed to before the connection opened, so no edge is missed.
pub(crate) async fn relay<S: Socket>(
    conn: Arc<Conn<S>>,
    mut ended: watch::Receiver<Option<Ending>>,
    mut edges: broadcast::Receiver<Edge>,
    mut shutdown: Signal,
) {
    let mut pipes = JoinSet::new();
    pipes.spawn(pipe(conn.clone(), Direction::Upstream));
    pipes.spawn(pipe(conn.clone(), Direction::Downstream));
    let mut tick = idle_ticker(&conn.table());
    let mut timers = conn.arrival_timers();
    let mut finished = 0;
    let ending = loop {
        // Biased: when several are ready at once, the outcome does not depend on a coin toss
        // (the simulator replays exactly).
        tokio::select! {
            biased;
            _ = shutdown.recv() => break Ending::Close("shutdown".into()),
            _ = ended.changed() => match ended.borrow().clone() {
                Some(e) => break e,
                None => continue,
            },
            edge = edges.recv() => match edge {
                Ok(edge) => {
                    if let Some(e) = conn.on_edge(edge, &mut timers) {
                        break e;
                    }
                    tick = idle_ticker(&conn.table());
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break Ending::Close("shutdown".into()),
            },
            _ = next_timer(timers.next()) => if let Some(e) = timers.due(Instant::now()) {
                break e;
            },
            _ = next_tick(&mut tick) => if let Some(e) = conn.idle_expired() {
                break e;
            },
            joined = pipes.join_next() => {
                finished += 1;
                if joined.is_none() || finished == 2 {
                    break Ending::Close("closed".into());
                }
            }
        }
    };
    // A pipe that failed asked for its ending before returning; that reason wins.
    let ending = ended.borrow().clone().unwrap_or(ending);
    pipes.abort_all();
    while pipes.join_next().await.is_some() {}
    let Moved {
        up: bytes_up,
        down: bytes_down,
    } = conn.moved();
    let id = conn.id;
    match ending {
        Ending::Reset(fault) => {
            conn.client.reset();
            conn.server.reset();
            conn.shared.stats.reset();
            conn.record(EventKind::ConnReset {
                conn: id,
                fault,
                bytes_up,
                bytes_down,
            });
        }
        Ending::Close(reason) => {
            conn.client.close();
            conn.server.close();
            conn.record(EventKind::ConnClose {
                conn: id,
                reason,
                bytes_up,
                bytes_down,
            });
        }
    }
    conn.shared.open.fetch_sub(1, Ordering::Relaxed);
    // The last reference: dropping it closes both ends (TCP: with RST after a zero linger).
    drop(conn);
}

fn failed(shared: &Shared, id: u64, client: TcpStream, reason: String) {
    let _ = SockRef::from(&client).set_linger(Some(Duration::ZERO));
    shared.stats.failed();
    shared
        .events
        .record(EventKind::ConnFailed { conn: id, reason });
}
