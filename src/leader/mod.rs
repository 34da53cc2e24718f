//! The leader: serves an index directory to followers over TCP or QUIC.
//!
//! It owns sessions (each pins the file list and expires after `recovery_activity_timeout` of
//! inactivity), chunk reads, and the node-wide rate limiter applied before each read. It does
//! not own the wire format ([`crate::protocol`]) or the files' generation ([`crate::index`]).
//! The shape follows mini-redis: one accept loop capped by a semaphore (the `max_connections`
//! slots) for TCP connections, QUIC connections and in-memory streams alike
//! ([`LeaderHandle::serve_stream`]), a task per connection that `select!`s on its work and a
//! shutdown signal ([`crate::chaos::shutdown`]), and a drain on exit.
//!
//! Every timer reads tokio's clock (`tokio::time::Instant`), so a whole leader runs under paused,
//! simulated time (`#[tokio::test(start_paused = true)]`): session expiry, `Hello` deadlines and
//! idle shedding included.

mod buffers;
mod cluster;
mod handler;
mod session;
mod slots;
mod stats;
mod writer;

pub use cluster::{primary_node, start_cluster};
pub use handler::MAX_REQUEST_PAYLOAD;
pub use session::{SessionLimits, SessionRefused, SessionTable, random_ids};
pub use stats::{LeaderStats, LeaderStatsSnapshot};

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use socket2::SockRef;
use tokio::{
    io::{AsyncRead, AsyncWrite, DuplexStream},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, mpsc},
    task::JoinSet,
    time::Instant,
};

use self::{
    handler::{Channel, buffer_budget, closing, serve_halves},
    slots::Activity,
};
use crate::{
    auth::{ApiKeyError, ApiKeys, AuthToken},
    chaos::{
        link::netns::in_netns,
        shutdown::{Shutdown, Signal},
    },
    clock::Clock,
    index::{IndexFile, IndexShards},
    ratelimit::FairRateLimiter,
    settings::{LeaderSettings, OutOfRange},
    transport::{
        certs::{self, CertError},
        quic::{CertificatePaths, QuicError, QuicLiveness, server_endpoint},
        tls::{UNEXPECTED_MESSAGE_ALERT, leader_handshake_failure, linger, looks_like_tls},
    },
    vocabulary::CongestionControl,
};

/// How a leader is set up.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// Elasticsearch-named settings.
    pub settings: LeaderSettings,
    /// The index name followers must ask for in `OpenSession`.
    pub index_name: String,
    /// Shared secret every `Hello` must carry, if set (deprecated: use `api_keys`).
    pub auth_token: Option<AuthToken>,
    /// The API keys a follower's `Hello` may carry, if set ([`crate::auth::key_store`]). With
    /// `auth_token` as well, either passes, and a token holder may recover any index (the
    /// command line refuses both).
    pub api_keys: Option<Arc<ApiKeys>>,
    /// Accept API keys over plaintext TCP (without it, a leader with `api_keys` must serve TLS
    /// or QUIC).
    pub allow_plaintext_credentials: bool,
    /// Log sessions and refused requests to stderr.
    pub log: bool,
    /// Serve QUIC on UDP instead of TCP, with this certificate.
    pub quic: Option<QuicServer>,
    /// Serve TLS on TCP with this certificate (and, for mTLS, these client CAs).
    pub tls: Option<TlsServer>,
    /// Listen inside this network namespace (`/run/netns/NAME`): the leader's end of the L3
    /// link.
    pub netns: Option<PathBuf>,
}

/// A TLS (TCP) leader's certificate, and the CAs whose client certificates it requires.
#[derive(Clone, Debug)]
pub struct TlsServer {
    /// Certificate chain (leaf first, then intermediates) and key (PEM).
    pub certificate: CertificatePaths,
    /// Require a client certificate issued by a CA in this PEM bundle (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// A QUIC leader's certificate and liveness.
#[derive(Clone, Debug)]
pub struct QuicServer {
    /// Certificate and key (PEM).
    pub certificate: CertificatePaths,
    /// Idle timeout and keep-alive.
    pub liveness: QuicLiveness,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        Self {
            settings: LeaderSettings::default(),
            index_name: "index".into(),
            auth_token: None,
            api_keys: None,
            allow_plaintext_credentials: false,
            log: false,
            quic: None,
            tls: None,
            netns: None,
        }
    }
}

/// The leader could not start.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// A setting is out of range.
    #[error(transparent)]
    Settings(#[from] OutOfRange),
    /// The QUIC endpoint could not be set up.
    #[error(transparent)]
    Quic(#[from] QuicError),
    /// The TLS certificate, key or client CAs are unusable.
    #[error(transparent)]
    Tls(#[from] CertError),
    /// API keys would arrive in clear text.
    #[error(transparent)]
    Credentials(#[from] ApiKeyError),
    /// The kernel refused the congestion controller.
    #[error(
        "leader congestion_control `{name}`: {source} (this kernel has: {available}; as root \
         `modprobe tcp_{name}` may add it)"
    )]
    CongestionControl {
        /// The algorithm.
        name: String,
        /// `/proc/sys/net/ipv4/tcp_available_congestion_control`.
        available: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

type Files = Arc<Vec<IndexFile>>;

/// State shared by the accept loop, the reaper and every connection.
pub(crate) struct Shared {
    index: IndexShards,
    sessions: Mutex<SessionTable<Files>>,
    limiter: FairRateLimiter,
    slots: slots::Slots,
    stats: LeaderStats,
    config: LeaderConfig,
    clock: Clock,
    /// The other nodes, when this is one node of a cluster ([`start_cluster`]).
    cluster: cluster::Membership,
    /// TLS on TCP connections ([`LeaderConfig::tls`]).
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Read buffers for chunk responses, shared by every connection of the node.
    buffers: std::sync::Arc<buffers::BufferPool>,
}

impl Shared {
    fn sessions(&self) -> MutexGuard<'_, SessionTable<Files>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self, message: String) {
        if self.config.log {
            use std::io::Write;
            // A closed stderr (`rrbench leader 2>&1 | head`) must not stop serving.
            let _ = writeln!(
                std::io::stderr(),
                "[leader {:>9.3}s] {message}",
                self.clock.elapsed().as_secs_f64()
            );
        }
    }
}

/// A running leader. Dropping it stops the server; [`LeaderHandle::shutdown`] also waits for
/// connections to drain.
pub struct LeaderHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    streams: mpsc::Sender<InMemory>,
    shutdown: Shutdown,
}

/// A running leader's counters, apart from its [`LeaderHandle`]: cheap to clone, for a
/// metrics endpoint that outlives a borrow of the handle.
#[derive(Clone)]
pub struct LeaderStatsSource {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LeaderStatsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderStatsSource").finish_non_exhaustive()
    }
}

impl LeaderStatsSource {
    /// Counters so far (as [`LeaderHandle::stats`]).
    pub fn snapshot(&self) -> LeaderStatsSnapshot {
        let sessions = self.shared.sessions();
        let (max, open) = (sessions.max_in_flight(), sessions.len() as u64);
        let pinned: u64 = sessions
            .pinned()
            .map(|files| files.iter().map(|f| f.meta.len).sum::<u64>())
            .sum();
        drop(sessions);
        self.shared.stats.snapshot(max, open, pinned)
    }
}

/// Streams handed to [`LeaderHandle::serve_stream`] and not yet taken by the accept loop, at
/// most: past it, as with a full listen backlog, a new one is refused.
const STREAM_BACKLOG: usize = 1024;

/// Bytes an in-memory pipe ([`LeaderHandle::connect_in_memory`]) buffers each way, as a socket
/// buffer would: a writer that far ahead waits for the reader.
const PIPE_BUFFER: usize = 64 << 10;

/// Any byte stream the leader can serve as a connection.
trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

/// A stream on its way to the accept loop, with the peer address its logs name.
struct InMemory {
    stream: Box<dyn ByteStream>,
    peer: SocketAddr,
}

impl LeaderHandle {
    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counters so far.
    pub fn stats(&self) -> LeaderStatsSnapshot {
        self.stats_source().snapshot()
    }

    /// Its counters, through a handle that can be kept (for a metrics endpoint).
    pub fn stats_source(&self) -> LeaderStatsSource {
        LeaderStatsSource {
            shared: self.shared.clone(),
        }
    }

    /// Sessions open now.
    pub fn open_sessions(&self) -> usize {
        self.shared.sessions().len()
    }

    /// Serves `stream` as a new connection to this leader, one accepted on its listener in all
    /// but the socket: it goes through the same accept loop as a TCP connection (it waits for
    /// one of the `max_connections` slots, may shed a silent or idle connection to get one, and
    /// is closed unserved after `handshake_timeout` without), counts in [`LeaderStats`], and is
    /// served by the same per-connection handler, with the same `Hello` deadline, limits,
    /// sessions and rate limiter. `peer` is the address its log lines name (a simulated
    /// network's address for the follower, say). This works on a QUIC leader too: the stream
    /// is served as one TCP connection would be.
    ///
    /// For tests and simulation: a follower dialer over in-memory pipes, or a simulated network
    /// with latency and faults between the two ends, runs the real leader without a socket and,
    /// with paused tokio time, in simulated time. See [`LeaderHandle::connect_in_memory`] for
    /// the plain pipe. The stream is served as given, without TLS, whatever
    /// [`LeaderConfig::tls`] says: credentials on it are only as private as the stream.
    ///
    /// Fails with `ConnectionRefused` when the leader has stopped, or when
    /// 1024 streams are still waiting for the accept loop.
    pub fn serve_stream(
        &self,
        stream: impl AsyncRead + AsyncWrite + Send + Unpin + 'static,
        peer: SocketAddr,
    ) -> std::io::Result<()> {
        let stream = InMemory {
            stream: Box::new(stream),
            peer,
        };
        self.streams.try_send(stream).map_err(|e| {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => {
                    format!("{STREAM_BACKLOG} in-memory connections already wait to be accepted")
                }
                mpsc::error::TrySendError::Closed(_) => "the leader has stopped".to_string(),
            };
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, why)
        })
    }

    /// A new connection to this leader over an in-memory pipe (no socket): the client's end.
    /// Write request frames to it and read the responses, as on a TCP connection; the leader's
    /// end is served by [`LeaderHandle::serve_stream`] (same slots, limits and stats as TCP),
    /// and its log lines name the peer `0.0.0.0:0`. Each direction buffers 64 KiB.
    pub fn connect_in_memory(&self) -> std::io::Result<DuplexStream> {
        let (client, server) = tokio::io::duplex(PIPE_BUFFER);
        self.serve_stream(server, SocketAddr::from(([0, 0, 0, 0], 0)))?;
        Ok(client)
    }

    /// Stops accepting, signals every connection, and waits (at most 5 s) for them to finish.
    pub async fn shutdown(mut self) {
        self.shutdown.stop().await;
    }
}

/// Binds `listen` and serves `index` (every shard of it) until shut down.
pub async fn start(
    listen: &str,
    index: impl Into<IndexShards>,
    config: LeaderConfig,
    clock: Clock,
) -> Result<LeaderHandle, LeaderError> {
    config.settings.validate()?;
    refuse_plaintext_keys(&config)?;
    let listener = match &config.quic {
        Some(quic) => Listener::quic(listen, &config, quic)?,
        None => Listener::tcp(listen, &config)?,
    };
    let local_addr = listener.local_addr().map_err(bind_error(listen))?;
    let tls = match &config.tls {
        Some(tls) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(
            certs::server_config(&tls.certificate, tls.client_ca.as_deref())?,
        ))),
        None => None,
    };
    let shared = Shared::new(index.into(), config, clock, tls);
    let (streams, incoming_streams) = mpsc::channel(STREAM_BACKLOG);
    let mut shutdown = Shutdown::new();
    let serving = shared.clone();
    shutdown.spawn(|signal| run(listener, incoming_streams, serving, signal));
    Ok(LeaderHandle {
        local_addr,
        shared,
        streams,
        shutdown,
    })
}

fn bind_error(listen: &str) -> impl Fn(std::io::Error) -> LeaderError + '_ {
    move |source| LeaderError::Bind {
        addr: listen.to_string(),
        source,
    }
}

/// Binds `listen` with `make`, inside `netns` when given (a socket stays in the namespace it
/// was created in).
fn bind<T: Send>(
    listen: &str,
    netns: Option<&Path>,
    make: impl FnOnce(&str) -> std::io::Result<T> + Send,
) -> Result<T, LeaderError> {
    match netns {
        Some(netns) => in_netns(netns, || make(listen)),
        None => make(listen),
    }
    .map_err(|source| LeaderError::Bind {
        addr: match netns {
            Some(netns) => format!("{listen} in {}", netns.display()),
            None => listen.to_string(),
        },
        source,
    })
}

/// Sets the congestion controller on the listener; accepted connections inherit it, and an
/// algorithm the kernel lacks is found at start.
fn set_congestion_control(
    listener: &std::net::TcpListener,
    congestion: CongestionControl,
) -> Result<(), LeaderError> {
    let Some(name) = congestion.tcp_name() else {
        return Ok(());
    };
    SockRef::from(listener)
        .set_tcp_congestion(name.as_bytes())
        .map_err(|source| LeaderError::CongestionControl {
            name: name.to_string(),
            available: std::fs::read_to_string(
                "/proc/sys/net/ipv4/tcp_available_congestion_control",
            )
            .unwrap_or_default()
            .trim()
            .to_string(),
            source,
        })
}

/// API keys are secrets: a leader takes them only inside TLS or QUIC, unless told the network
/// is trusted.
pub(crate) fn refuse_plaintext_keys(config: &LeaderConfig) -> Result<(), ApiKeyError> {
    let plaintext = config.tls.is_none() && config.quic.is_none();
    if config.api_keys.is_some() && plaintext && !config.allow_plaintext_credentials {
        return Err(ApiKeyError::Plaintext {
            side: "this leader's followers",
        });
    }
    Ok(())
}

impl Shared {
    fn new(
        index: IndexShards,
        config: LeaderConfig,
        clock: Clock,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Arc<Self> {
        Arc::new(Shared {
            index,
            sessions: Mutex::new(SessionTable::new(
                config.settings.recovery_activity_timeout,
                config.settings.session_limits(),
                random_ids(),
            )),
            limiter: FairRateLimiter::new(config.settings.max_bytes_per_sec),
            slots: slots::Slots::new(config.settings.max_connections),
            stats: LeaderStats::default(),
            config,
            clock,
            cluster: cluster::Membership::new(),
            tls,
            buffers: buffers::BufferPool::new(buffers::NODE_BUFFERS),
        })
    }

    /// A connection is established (a TCP accept, a QUIC handshake done, a stream handed in).
    fn opened(&self) {
        LeaderStats::add(&self.stats.connections_accepted, 1);
        LeaderStats::add(&self.stats.connections_open, 1);
    }

    /// An established connection has ended.
    fn closed(&self) {
        self.stats
            .connections_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Where the leader's connections come from: a TCP listener or a QUIC endpoint (in-memory
/// streams come in beside either).
enum Listener {
    Tcp(TcpListener),
    Quic(quinn::Endpoint),
}

impl Listener {
    fn tcp(listen: &str, config: &LeaderConfig) -> Result<Self, LeaderError> {
        let listener = bind(listen, config.netns.as_deref(), |addr| {
            // A backlog for fan-out: 32 followers' 192 channels connect at once.
            crate::chaos::listen::tcp_listener(addr)
        })?;
        set_congestion_control(&listener, config.settings.congestion_control)?;
        // Registered with the runtime here, not on the namespace thread (which has none).
        let listener = TcpListener::from_std(listener).map_err(bind_error(listen))?;
        Ok(Self::Tcp(listener))
    }

    /// A QUIC endpoint on `listen` (UDP); every stream of every connection is a channel.
    fn quic(listen: &str, config: &LeaderConfig, quic: &QuicServer) -> Result<Self, LeaderError> {
        let socket = bind(listen, config.netns.as_deref(), |addr| {
            std::net::UdpSocket::bind(addr)
        })?;
        let endpoint = server_endpoint(
            socket,
            &quic.certificate,
            &quic.liveness,
            config.settings.congestion_control,
        )?;
        Ok(Self::Quic(endpoint))
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Self::Tcp(l) => l.local_addr(),
            Self::Quic(e) => e.local_addr(),
        }
    }

    /// The next connection; `None` once the endpoint is closed.
    async fn accept(&self) -> Option<std::io::Result<Arrival>> {
        match self {
            Self::Tcp(l) => Some(l.accept().await.map(|(s, peer)| Arrival::Tcp(s, peer))),
            Self::Quic(e) => e.accept().await.map(|i| Ok(Arrival::Quic(Box::new(i)))),
        }
    }

    /// Closes every connection at once (QUIC); a TCP listener has nothing to close.
    fn close(&self) {
        if let Self::Quic(endpoint) = self {
            endpoint.close(0u32.into(), b"leader shutting down");
        }
    }
}

/// A connection that has arrived and has no slot yet.
enum Arrival {
    Tcp(TcpStream, SocketAddr),
    /// Held from its first packet: half-open handshakes count against `max_connections` like
    /// open connections, so a flood of them cannot grow memory. (Boxed: it is large, and the
    /// accept loop moves arrivals around.)
    Quic(Box<quinn::Incoming>),
    Stream(InMemory),
}

impl Arrival {
    /// Whether it waits for a slot while none can be freed. A TCP connection (or a stream) is
    /// established already and can only be closed, so it waits, as in a listen backlog, up to
    /// `handshake_timeout`. A QUIC handshake can be refused outright, which its client learns
    /// at once, rather than left unanswered: it waits only for the slot of a connection that was
    /// shed for it.
    fn queues(&self) -> bool {
        !matches!(self, Self::Quic(_))
    }

    /// Turns it away: a refusal for QUIC, a close for the rest.
    fn refuse(self) {
        if let Self::Quic(incoming) = self {
            incoming.refuse();
        }
    }

    /// The log line for `n` arrivals turned away at `max` connections.
    fn refusals(&self, n: u64, max: u32) -> String {
        match self {
            Self::Quic(_) => format!("{n} QUIC connection(s) refused: at max_connections {max}"),
            _ => format!(
                "{n} connection(s) closed unserved: every one of max_connections {max} is busy"
            ),
        }
    }
}

async fn run(
    listener: Listener,
    streams: mpsc::Receiver<InMemory>,
    shared: Arc<Shared>,
    shutdown: Signal,
) {
    let reaper = tokio::spawn(reap_sessions(shared.clone(), shutdown.clone()));
    accept_loop(listener, streams, shared, shutdown).await;
    let _ = reaper.await;
}

/// Takes each new connection (TCP, QUIC or in-memory) in turn, finds it a slot, and serves it
/// in a task of its own.
async fn accept_loop(
    listener: Listener,
    mut streams: mpsc::Receiver<InMemory>,
    shared: Arc<Shared>,
    mut shutdown: Signal,
) {
    let mut connections = JoinSet::new();
    let mut accept_errors = EveryFewSeconds::default();
    let mut refusals = EveryFewSeconds::default();
    loop {
        let arrival = tokio::select! {
            _ = shutdown.recv() => break,
            Some(stream) = streams.recv() => Arrival::Stream(stream),
            accepted = listener.accept() => match accepted {
                Some(Ok(arrival)) => arrival,
                Some(Err(e)) => {
                    // Out of file descriptors and the like: back off instead of spinning, and
                    // say so once a second, not once per attempt.
                    if let Some(n) = accept_errors.due() {
                        shared.log(format!(
                            "accept failed ({n} time(s) since the last line): {e}"
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                None => break,
            },
        };
        let permit = tokio::select! {
            _ = shutdown.recv() => break,
            permit = slot_for_new_connection(&shared, arrival.queues()) => permit,
        };
        let Some(permit) = permit else {
            LeaderStats::add(&shared.stats.connections_refused, 1);
            if let Some(n) = refusals.due() {
                let max = shared.config.settings.max_connections;
                shared.log(arrival.refusals(n, max));
            }
            arrival.refuse();
            continue;
        };
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        connections.spawn(serve_connection(arrival, permit, shared, shutdown));
        while connections.try_join_next().is_some() {}
    }
    listener.close();
    drain(connections).await;
}

/// Serves one connection that holds a slot, listed as a candidate for shedding from its arrival
/// (a QUIC connection from its first packet) until it ends; then gives the slot back.
async fn serve_connection(
    arrival: Arrival,
    permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    shutdown: Signal,
) {
    let activity = shared.slots.list();
    let id = activity.id;
    match arrival {
        Arrival::Tcp(stream, peer) => {
            let _ = stream.set_nodelay(true);
            match shared.tls.clone() {
                Some(acceptor) => {
                    serve_tls(acceptor, stream, peer, &shared, activity, shutdown).await;
                }
                None => {
                    let (read, write) = stream.into_split();
                    serve_byte_stream(read, write, peer, &shared, activity, shutdown).await;
                }
            }
        }
        Arrival::Stream(InMemory { stream, peer }) => {
            let (read, write) = tokio::io::split(stream);
            serve_byte_stream(read, write, peer, &shared, activity, shutdown).await;
        }
        Arrival::Quic(incoming) => serve_quic(*incoming, &shared, activity, shutdown).await,
    }
    shared.slots.unlist(id);
    drop(permit);
}

/// A connection that is one byte stream (TCP, in memory).
async fn serve_byte_stream(
    read: impl AsyncRead + Unpin,
    write: impl writer::ResponseSink,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    activity: Arc<Activity>,
    shutdown: Signal,
) {
    shared.opened();
    let channel = Channel {
        peer,
        activity,
        budget: buffer_budget(shared),
        whole_connection: true,
    };
    serve_halves(read, write, channel, shared.clone(), shutdown).await;
    shared.closed();
}

/// A TLS connection: its handshake within `handshake_timeout`, then one byte stream. A failed
/// handshake is logged with its cause (the client's alert, a missing or untrusted client
/// certificate, a plaintext follower), and its alert is given time to reach the follower.
async fn serve_tls(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    activity: Arc<Activity>,
    mut shutdown: Signal,
) {
    let within = shared.config.settings.handshake_timeout;
    // One deadline for the peek and the handshake together, and both give way to shutdown and
    // to a newcomer needing the slot, as a plaintext connection's greeting does.
    let deadline = tokio::time::Instant::now() + within;
    let mut first = [0u8; 2];
    // Only for the log line: a plaintext follower's first bytes are an rrbench frame.
    let peeked = tokio::select! {
        _ = shutdown.recv() => return,
        _ = activity.shed.notified() => return closing(shared, peer, SHED),
        peeked = tokio::time::timeout_at(deadline, stream.peek(&mut first)) => match peeked {
            Ok(Ok(n)) => n,
            _ => 0,
        },
    };
    // Plaintext only when it starts as an rrbench frame does (a short peek of a ClientHello
    // is not taken for one).
    let plaintext = peeked > 0 && first[0] == crate::protocol::MAGIC[0] && !looks_like_tls(&first);
    if plaintext {
        use tokio::io::AsyncWriteExt;
        let mut stream = stream;
        shared.log(format!(
            "{peer}: {}",
            leader_handshake_failure(&std::io::Error::other("plaintext"), &first, false)
        ));
        // Answered as a TLS server would: the follower's first bytes then say "TLS".
        // Three times: a follower reads a whole 16-byte frame header before it checks the
        // magic, and a TLS client stops at the first.
        let _ = stream.write_all(&UNEXPECTED_MESSAGE_ALERT.repeat(3)).await;
        linger(&mut stream).await;
        return;
    }
    let handshake = tokio::select! {
        _ = shutdown.recv() => return,
        _ = activity.shed.notified() => return closing(shared, peer, SHED),
        done = tokio::time::timeout_at(deadline, acceptor.accept(stream).into_fallible()) => done,
    };
    match handshake {
        Ok(Ok(tls)) => {
            let (read, write) = tokio::io::split(tls);
            serve_byte_stream(read, write, peer, shared, activity, shutdown).await;
        }
        Ok(Err((e, mut stream))) => {
            let client_ca = shared
                .config
                .tls
                .as_ref()
                .is_some_and(|t| t.client_ca.is_some());
            shared.log(format!(
                "{peer}: {}",
                leader_handshake_failure(&e, &[], client_ca)
            ));
            linger(&mut stream).await;
        }
        Err(_) => {
            LeaderStats::add(&shared.stats.connections_closed_by_leader, 1);
            shared.log(format!(
                "{peer}: TLS handshake not done within handshake_timeout {within:?}"
            ));
        }
    }
}

/// Why a connection gives its slot up to a newcomer (the same words for TCP and QUIC).
const SHED: &str = "silent or idle with no session, and its slot is needed";

/// A QUIC connection: its handshake within `handshake_timeout`, then every bidirectional stream
/// the follower opens is one channel.
async fn serve_quic(
    incoming: quinn::Incoming,
    shared: &Arc<Shared>,
    activity: Arc<Activity>,
    mut shutdown: Signal,
) {
    let peer = incoming.remote_address();
    let handshake = shared.config.settings.handshake_timeout;
    let connection = tokio::select! {
        _ = shutdown.recv() => return,
        // A handshake is silent until its Hello: a newcomer may need its slot, as a TCP
        // connection's that never spoke.
        _ = activity.shed.notified() => return closing(shared, peer, SHED),
        done = tokio::time::timeout(handshake, incoming) => match done {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                shared.log(format!("{peer}: QUIC handshake failed: {e}"));
                return;
            }
            Err(_) => {
                LeaderStats::add(&shared.stats.connections_closed_by_leader, 1);
                shared.log(format!(
                    "{peer}: QUIC handshake not done within handshake_timeout {handshake:?}"
                ));
                return;
            }
        },
    };
    shared.opened();
    serve_quic_connection(connection, peer, shared, activity, shutdown).await;
    shared.closed();
}

/// Every bidirectional stream the follower opens is one channel. The connection, not its
/// streams, holds the slot, owns the sessions and has the buffer budget; so the connection
/// as a whole must say `Hello` (on any stream) within `handshake_timeout`, and is shed as a
/// whole, like a TCP connection.
async fn serve_quic_connection(
    connection: quinn::Connection,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    activity: Arc<Activity>,
    mut shutdown: Signal,
) {
    let within = shared.config.settings.handshake_timeout;
    let hello_by = Instant::now() + within;
    let mut streams = JoinSet::new();
    let budget = buffer_budget(shared);
    let close = |why: &str| {
        closing(shared, peer, why);
        connection.close(0u32.into(), why.as_bytes());
    };
    loop {
        let accepted = tokio::select! {
            _ = shutdown.recv() => break,
            _ = activity.shed.notified() => {
                close(SHED);
                break;
            }
            _ = tokio::time::sleep_until(hello_by), if !activity.greeted() => {
                // A stream may have said it while we slept.
                if activity.greeted() {
                    continue;
                }
                close(&format!("no Hello within handshake_timeout {within:?}"));
                break;
            }
            accepted = connection.accept_bi() => accepted,
        };
        match accepted {
            Ok((send, recv)) => {
                let channel = Channel {
                    peer,
                    activity: activity.clone(),
                    budget: budget.clone(),
                    whole_connection: false,
                };
                let (shared, shutdown) = (shared.clone(), shutdown.clone());
                streams.spawn(serve_halves(recv, send, channel, shared, shutdown));
            }
            Err(e) => {
                shared.log(format!("{peer}: QUIC connection ended: {e}"));
                break;
            }
        }
        while streams.try_join_next().is_some() {}
    }
    drain(streams).await;
}

/// Waits (at most 5 s) for `tasks` to finish, then aborts the rest.
async fn drain(mut tasks: JoinSet<()>) {
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        tasks.abort_all();
    }
}

/// Says at most once every few seconds that something happened, and how often since: a flood
/// of refused connections or failing accepts must not become a flood of log lines.
#[derive(Default)]
struct EveryFewSeconds {
    last: Option<Instant>,
    count: u64,
}

impl EveryFewSeconds {
    /// Counts one event; returns the count to report when a line is due.
    fn due(&mut self) -> Option<u64> {
        self.count += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

/// A slot for a connection just arrived. While every slot is taken, it asks a connection that
/// may give its slot up (silent since its arrival, or idle with no session: see [`slots`]) to
/// close, and waits; after `handshake_timeout` without a slot it gives up. One that does not
/// `queue` (QUIC: see [`Arrival::queues`]) gives up at once unless it shed a connection.
async fn slot_for_new_connection(shared: &Shared, queue: bool) -> Option<OwnedSemaphorePermit> {
    let settings = &shared.config.settings;
    let silent = settings.handshake_timeout / 10;
    let give_up = Instant::now() + settings.handshake_timeout;
    let mut shed_any = false;
    loop {
        if let Some(permit) = shared.slots.try_take() {
            return Some(permit);
        }
        // A gateway's connection may own sessions on the other nodes of its cluster.
        let owns = |id| shared.owns_sessions(id);
        if let Some(id) = shared
            .slots
            .shed_one(silent, settings.idle_connection_timeout, owns)
        {
            shed_any = true;
            shared.log(format!(
                "connection {id} shed: silent or idle with no session, and a new connection needs \
                 its slot"
            ));
        }
        let wait = (silent / 4).max(Duration::from_millis(5));
        let now = Instant::now();
        if now >= give_up || !(queue || shed_any) {
            return None;
        }
        let until = (now + wait).min(give_up);
        if let Ok(permit) = tokio::time::timeout_at(until, shared.slots.take()).await {
            return permit;
        }
    }
}

/// Runs the expiry ticks often enough that a session dies within a tenth of T of its due tick.
async fn reap_sessions(shared: Arc<Shared>, mut shutdown: Signal) {
    if !shared.config.settings.flavor.expires_sessions() {
        // OpenSearch's leader keeps a session until the follower closes it.
        return;
    }
    let t = shared.config.settings.recovery_activity_timeout;
    let period = (t / 10).clamp(Duration::from_millis(5), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = ticker.tick() => {}
        }
        // Tokio's clock, so paused (simulated) time drives expiry in tests.
        let expired = shared.sessions().reap(Instant::now().into_std());
        for session in expired {
            LeaderStats::add(&shared.stats.sessions_expired, 1);
            shared.log(format!(
                "session {session} expired (recovery_activity_timeout {t:?})"
            ));
        }
    }
}
