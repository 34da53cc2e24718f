//! The L4 chaos proxy for datagrams (QUIC's UDP), started by [`Proxy::start_udp`]: one front
//! socket, a flow per client address with its own upstream socket, and per-datagram faults
//! (`delay`, `rate`, `loss` with Gilbert–Elliott bursts, `duplicate`, `reorder`, `corrupt`,
//! `blackhole`) on the same schedules, directions, seed and event log as the TCP proxy's faults.
//!
//! This module owns the sockets and flows. What faults do to datagrams, their schedule, the
//! per-direction paths and the delay lines that release late datagrams in time order are
//! [`crate::datagram`], shared with the L3 pump.

use std::{
    collections::{HashMap, hash_map::Entry},
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
};

use tokio::net::UdpSocket;

use crate::{
    datagram::{Path, Shared, Sink},
    events::EventKind,
    fault::{Direction, Medium, check_medium, name_uniquely},
    proxy::{Proxy, ProxyError},
    shutdown::{Shutdown, Signal},
};

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

/// Where the UDP proxy sends a flow's datagrams.
#[derive(Clone)]
enum Target {
    /// The upstream socket (connected to the server).
    Upstream(Arc<UdpSocket>),
    /// The front socket, to one client.
    Client(Arc<UdpSocket>, SocketAddr),
}

impl Sink for Target {
    async fn send(&self, bytes: &[u8]) {
        // A datagram that cannot be sent is lost, as on a network.
        let _ = match self {
            Target::Upstream(s) => s.send(bytes).await,
            Target::Client(s, to) => s.send_to(bytes, *to).await,
        };
    }
}

/// Relays datagrams between clients and the upstream until stopped.
async fn relay(front: Arc<UdpSocket>, upstream: SocketAddr, shared: Arc<Shared>, mut stop: Signal) {
    let mut flows: HashMap<SocketAddr, Path<Target>> = HashMap::new();
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
) -> Option<Path<Target>> {
    let local: SocketAddr = if upstream.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).await.ok()?;
    socket.connect(upstream).await.ok()?;
    let socket = Arc::new(socket);
    let conn = shared.next_conn();
    shared.events().record(EventKind::ConnOpen {
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
