//! One proxied connection: its two pipes and a supervisor that ends it.
//!
//! The supervisor ends a connection in one of three ways. *Reset*: `SO_LINGER(0)` on both
//! sockets, then close, so both peers get a real RST (ECONNRESET, not EOF). *Close*: FIN to both.
//! *Closed*: both directions reached EOF on their own.

use std::{
    collections::HashMap,
    net::{Shutdown, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use socket2::SockRef;
use tokio::{
    net::TcpStream,
    sync::{broadcast::error::RecvError, watch},
    task::JoinSet,
};

use super::{Edge, Shared, pipe::pipe, table::FaultTable};
use crate::{
    events::EventKind,
    fault::{Direction, Fault, FaultKind, reset::Reset},
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

pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) shared: Arc<Shared>,
    client: TcpStream,
    server: TcpStream,
    opened: Instant,
    up: AtomicU64,
    down: AtomicU64,
    last_data: AtomicU64,
    ending: watch::Sender<Option<Ending>>,
    toxic: Mutex<HashMap<(u64, usize), bool>>,
}

impl Conn {
    /// (source, destination) for bytes flowing `flow`.
    pub(crate) fn streams(&self, flow: Direction) -> (&TcpStream, &TcpStream) {
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
    }

    /// Bytes moved in `flow`, or in both directions for `Both`.
    pub(crate) fn moved(&self, flow: Direction) -> u64 {
        let (up, down) = (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        );
        match flow {
            Direction::Upstream => up,
            Direction::Downstream => down,
            Direction::Both => up + down,
        }
    }

    /// Whether fault `index` of `table` affects this connection: drawn once, from the seed.
    pub(crate) fn is_toxic(&self, table: &FaultTable, index: usize, fault: &Fault) -> bool {
        if fault.toxicity >= 1.0 {
            return true;
        }
        let mut toxic = self.toxic.lock().unwrap_or_else(|p| p.into_inner());
        *toxic.entry((table.generation, index)).or_insert_with(|| {
            SeededRng::for_connection(self.shared.seed, self.id, index, 0).chance(fault.toxicity)
        })
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

    /// A fault edge: a reset that fires on open connections, or the proxy going down.
    fn on_edge(&self, edge: Edge) -> Option<Ending> {
        let table = self.table();
        if !edge.on || edge.generation != table.generation {
            return None;
        }
        let fault = &table.slots.get(edge.index)?.fault;
        match fault.kind {
            FaultKind::Reset(Reset { after_bytes: None })
                if self.is_toxic(&table, edge.index, fault) =>
            {
                Some(Ending::Reset(fault.name.clone()))
            }
            FaultKind::Down => Some(Ending::Close("down".into())),
            _ => None,
        }
    }

    /// A reset window already open when the connection arrives resets it at once.
    fn reset_on_arrival(&self) -> Option<Ending> {
        let table = self.table();
        table
            .slots
            .iter()
            .enumerate()
            .find_map(|(i, s)| match s.fault.kind {
                FaultKind::Reset(Reset { after_bytes: None })
                    if s.is_on() && self.is_toxic(&table, i, &s.fault) =>
                {
                    Some(Ending::Reset(s.fault.name.clone()))
                }
                _ => None,
            })
    }

    /// An idle timeout that has run out.
    fn idle_expired(&self) -> Option<Ending> {
        let table = self.table();
        let since = self.since_data();
        table
            .slots
            .iter()
            .enumerate()
            .find_map(|(i, s)| match s.fault.kind {
                FaultKind::IdleTimeout(t)
                    if s.is_on() && t.expired(since) && self.is_toxic(&table, i, &s.fault) =>
                {
                    Some(Ending::Reset(s.fault.name.clone()))
                }
                _ => None,
            })
    }
}

/// How often the supervisor checks idle timeouts: a twentieth of the shortest one.
fn idle_tick(table: &FaultTable) -> Duration {
    table
        .shortest_idle()
        .map_or(Duration::from_millis(250), |idle| {
            (idle / 20).clamp(Duration::from_millis(5), Duration::from_millis(250))
        })
}

pub(crate) async fn serve(
    shared: Arc<Shared>,
    client: TcpStream,
    peer: SocketAddr,
    id: u64,
    mut shutdown: Signal,
) {
    let mut edges = shared.edges.subscribe();
    let server = match tokio::time::timeout(
        Duration::from_secs(10),
        TcpStream::connect(&shared.upstream),
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
    let (ending, mut ended) = watch::channel(None);
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
        toxic: Mutex::new(HashMap::new()),
    });
    shared.open.fetch_add(1, Ordering::Relaxed);
    conn.record(EventKind::ConnOpen {
        conn: id,
        peer: peer.to_string(),
    });
    if let Some(e) = conn.reset_on_arrival() {
        conn.end(e);
    }
    let mut pipes = JoinSet::new();
    pipes.spawn(pipe(conn.clone(), Direction::Upstream));
    pipes.spawn(pipe(conn.clone(), Direction::Downstream));
    let mut tick = tokio::time::interval(idle_tick(&conn.table()));
    let mut finished = 0;
    let ending = loop {
        tokio::select! {
            _ = shutdown.recv() => break Ending::Close("shutdown".into()),
            _ = ended.changed() => match ended.borrow().clone() {
                Some(e) => break e,
                None => continue,
            },
            edge = edges.recv() => match edge {
                Ok(edge) => {
                    if let Some(e) = conn.on_edge(edge) {
                        break e;
                    }
                    tick = tokio::time::interval(idle_tick(&conn.table()));
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break Ending::Close("shutdown".into()),
            },
            _ = tick.tick() => if let Some(e) = conn.idle_expired() {
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
    let (bytes_up, bytes_down) = (
        conn.moved(Direction::Upstream),
        conn.moved(Direction::Downstream),
    );
    match ending {
        Ending::Reset(fault) => {
            for s in [&conn.client, &conn.server] {
                let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
            }
            conn.record(EventKind::ConnReset {
                conn: id,
                fault,
                bytes_up,
                bytes_down,
            });
        }
        Ending::Close(reason) => {
            for s in [&conn.client, &conn.server] {
                let _ = SockRef::from(s).shutdown(Shutdown::Both);
            }
            conn.record(EventKind::ConnClose {
                conn: id,
                reason,
                bytes_up,
                bytes_down,
            });
        }
    }
    shared.open.fetch_sub(1, Ordering::Relaxed);
    // The last reference: dropping it closes both sockets (with RST after a zero linger).
    drop(conn);
}

fn failed(shared: &Shared, id: u64, client: TcpStream, reason: String) {
    let _ = SockRef::from(&client).set_linger(Some(Duration::ZERO));
    shared
        .events
        .record(EventKind::ConnFailed { conn: id, reason });
}
