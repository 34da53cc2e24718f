//! A simulated network: in-memory connections between clients (followers) and a server
//! (leader) with the TCP proxy's faults, in tokio time, so a test under
//! `#[tokio::test(start_paused = true)]` runs hours of faults in milliseconds and replays
//! exactly from its seed.
//!
//! It is the TCP proxy without sockets. A [`SimNetwork`] holds the proxy's fault table, its
//! schedule task and its event log; each connection is two in-memory hops ([`SimStream`] ⇄
//! relay ⇄ [`SimStream`]) carried by the proxy's own relay (connection supervisor and pipes), so
//! the same [`Fault`] specs, schedules, seeded toxicity and RNG streams give the same effects and
//! the same events, stamped on the event log's [`Clock`](crate::clock::Clock) in simulated time.
//! What it does not have: a listening socket, TCP's own machinery (no segments, windows or
//! retransmissions, so no loss: that is the L3 link's), and the zero-copy path.
//!
//! Timing uses only tokio timers (no threads, no wall clock), and a connection costs three
//! tasks (a supervisor and a pipe per direction) whether or not faults are on.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use rrbench_chaos::{EventLog, clock::Clock, sim::SimNetwork};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let events = Arc::new(EventLog::new(Clock::start()));
//! let faults = vec!["latency:delay=25ms".parse().expect("fault")];
//! let net = SimNetwork::new(faults, 7, events).expect("faults");
//! let (mut follower, mut leader) = net.pair()?;
//! follower.write_all(b"ping").await?; // the leader reads it 25 ms later
//! let mut buf = [0u8; 4];
//! leader.read_exact(&mut buf).await?;
//! # Ok(())
//! # }
//! ```

mod stream;

use std::{io, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::broadcast::{self, error::RecvError},
};

pub use self::stream::{BUFFER, SimStream};
use crate::{
    events::{EventKind, EventLog},
    fault::{
        ConnEvent, Fault, FaultError, Medium, Verdict, check_medium, down::Outage, name_uniquely,
    },
    proxy::{
        Edge, Shared,
        connection::{Conn, relay},
        schedule,
    },
    shutdown::{Shutdown, Signal},
};

/// Fault edges a connection may fall behind by before it misses some (few faults per network).
const EDGE_CAPACITY: usize = 256;

/// In-memory links through faults. Dropping it closes every connection it carries.
///
/// Made inside a tokio runtime (it starts the schedule task); schedules count from its creation.
pub struct SimNetwork {
    shared: Arc<Shared>,
    shutdown: Shutdown,
}

impl SimNetwork {
    /// A network applying `faults` (stream faults, as the TCP proxy takes them), drawing every
    /// random choice from `seed`, recording events in `events` (its clock stamps them). The
    /// faults due at time zero are on when it returns.
    pub fn new(
        mut faults: Vec<Fault>,
        seed: u64,
        events: Arc<EventLog>,
    ) -> Result<Self, FaultError> {
        name_uniquely(&mut faults)?;
        check_medium(&faults, Medium::Stream)?;
        events.record(EventKind::ProxyStart {
            listen: "sim".into(),
            upstream: "sim".into(),
            seed,
            clock_unix_epoch_s: events.clock().unix_epoch_s(),
        });
        let shared = Shared::new("sim".into(), faults, seed, events, EDGE_CAPACITY);
        // Subscribed before the first edges fire, so a `down` due at time zero is seen.
        let gate_edges = shared.subscribe();
        let clocks = shared.first_edges();
        let mut shutdown = Shutdown::new();
        let scheduled = shared.clone();
        shutdown.spawn(|stop| schedule(scheduled, stop, clocks));
        let gated = shared.clone();
        shutdown.spawn(|stop| gate(gated, gate_edges, stop));
        Ok(Self { shared, shutdown })
    }

    /// Connects a client to a new server end through the faults: returns (client's end,
    /// server's end). Hand the server's end to the server as if it had accepted it. A reset
    /// reaches both ends as [`io::ErrorKind::ConnectionReset`]. Refused
    /// ([`io::ErrorKind::ConnectionRefused`]) while a `down` fault is on.
    pub fn pair(&self) -> io::Result<(SimStream, SimStream)> {
        let table = self.shared.table();
        let refused = table.slots.iter().any(|s| {
            s.is_on()
                && s.fault.kind.behaviour().on_connection(ConnEvent::Connect) == Verdict::Refuse
        });
        if refused {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "connection refused (simulated: the network is down)",
            ));
        }
        // Subscribed before the connection opens, so no edge falls between the two.
        let edges = self.shared.subscribe();
        let id = self.shared.next_conn();
        let (client, client_relay) = stream::hop();
        let (server, server_relay) = stream::hop();
        let (conn, ended) = Conn::open(
            self.shared.clone(),
            client_relay,
            server_relay,
            format!("sim:{id}"),
            id,
        );
        tokio::spawn(relay(conn, ended, edges, self.shutdown.signal()));
        Ok((client, server))
    }

    /// Connects a client through the faults to `server`, any in-memory stream to the server
    /// (such as half of [`tokio::io::duplex`]); returns the client's end. Bytes are copied
    /// between `server` and the network's server end by one more task. A reset reaches the
    /// client as `ConnectionReset`, but `server` can only be dropped, which its other half sees
    /// as an EOF or a broken pipe: for a reset on both ends, use [`SimNetwork::pair`].
    pub fn connect<S>(&self, server: S) -> io::Result<SimStream>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (client, mut end) = self.pair()?;
        tokio::spawn(async move {
            let mut server = server;
            let _ = tokio::io::copy_bidirectional_with_sizes(&mut end, &mut server, BUFFER, BUFFER)
                .await;
        });
        Ok(client)
    }

    /// The event log.
    pub fn events(&self) -> &Arc<EventLog> {
        self.shared.events()
    }

    /// The faults in force.
    pub fn faults(&self) -> Vec<Fault> {
        self.shared.faults()
    }

    /// Replaces the faults, as [`ProxyHandle::set_faults`](crate::ProxyHandle::set_faults)
    /// does: schedules still count from the network's creation, a window already open turns on
    /// at once, faults that were on turn off.
    pub fn set_faults(&self, faults: Vec<Fault>) -> Result<(), FaultError> {
        self.shared.set_faults(faults)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.shared.open_connections()
    }

    /// Time since the network was made: the origin of every schedule.
    pub fn elapsed(&self) -> Duration {
        self.shared.now()
    }
}

impl Drop for SimNetwork {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Records the network going down and up, as the proxy's accept loop does when it closes and
/// reopens its listener. (Refusing connects is [`SimNetwork::pair`]'s, from the fault flags.)
async fn gate(shared: Arc<Shared>, mut edges: broadcast::Receiver<Edge>, mut stop: Signal) {
    let mut outage = Outage::default();
    loop {
        let edge = tokio::select! {
            biased;
            _ = stop.recv() => return,
            edge = edges.recv() => match edge {
                Ok(edge) => edge,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        };
        let Some((kind, fault, on)) = shared.edge_fault(&edge) else {
            continue;
        };
        if kind.behaviour().on_connection(ConnEvent::Connect) != Verdict::Refuse {
            continue;
        }
        match outage.edge(on) {
            Some(true) => shared.events().record(EventKind::ProxyDown { fault }),
            Some(false) => shared.events().record(EventKind::ProxyUp { fault }),
            None => {}
        }
    }
}
