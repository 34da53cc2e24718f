//! The leader: serves an index directory to followers over TCP or QUIC.
//!
//! It owns sessions (each pins the file list and expires after `recovery_activity_timeout` of
//! inactivity), chunk reads, and the node-wide rate limiter applied before each read. It does
//! not own the wire format ([`crate::protocol`]) or the files' generation ([`crate::index`]).
//! The shape follows mini-redis: an accept loop capped by a semaphore, a task per connection
//! that `select!`s on its work and a shutdown signal, and a drain on exit.

mod handler;
mod session;
mod slots;
mod stats;

// The code below still calls the handler `connection::` (it is being edited in parallel);
// rename the calls and drop this alias after the merge.
use handler as connection;

pub use handler::MAX_REQUEST_PAYLOAD;
pub use session::{SessionLimits, SessionRefused, SessionTable, random_ids};
pub use stats::{LeaderStats, LeaderStatsSnapshot};

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use socket2::SockRef;
use tokio::{
    net::TcpListener,
    sync::watch,
    task::{JoinHandle, JoinSet},
};

use crate::{
    auth::AuthToken,
    chaos::link::netns::in_netns,
    clock::Clock,
    index::{IndexFile, IndexSnapshot},
    ratelimit::FairRateLimiter,
    settings::{LeaderSettings, OutOfRange},
    transport::quic::{CertificatePaths, QuicError, QuicLiveness, server_endpoint},
    vocabulary::CongestionControl,
};

/// How a leader is set up.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// Elasticsearch-named settings.
    pub settings: LeaderSettings,
    /// The index name followers must ask for in `OpenSession`.
    pub index_name: String,
    /// Shared secret every `Hello` must carry, if set.
    pub auth_token: Option<AuthToken>,
    /// Log sessions and refused requests to stderr.
    pub log: bool,
    /// Serve QUIC on UDP instead of TCP, with this certificate.
    pub quic: Option<QuicServer>,
    /// Listen inside this network namespace (`/run/netns/NAME`): the leader's end of the L3
    /// link.
    pub netns: Option<PathBuf>,
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
            log: false,
            quic: None,
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
    snapshot: IndexSnapshot,
    sessions: Mutex<SessionTable<Files>>,
    limiter: FairRateLimiter,
    slots: slots::Slots,
    stats: LeaderStats,
    config: LeaderConfig,
    clock: Clock,
}

impl Shared {
    fn sessions(&self) -> MutexGuard<'_, SessionTable<Files>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self, message: String) {
        if self.config.log {
            eprintln!(
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
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl LeaderHandle {
    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counters so far.
    pub fn stats(&self) -> LeaderStatsSnapshot {
        let max = self.shared.sessions().max_in_flight();
        self.shared.stats.snapshot(max)
    }

    /// Sessions open now.
    pub fn open_sessions(&self) -> usize {
        self.shared.sessions().len()
    }

    /// Stops accepting, signals every connection, and waits (at most 5 s) for them to finish.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Binds `listen` and serves `snapshot` until shut down.
pub async fn start(
    listen: &str,
    snapshot: IndexSnapshot,
    config: LeaderConfig,
    clock: Clock,
) -> Result<LeaderHandle, LeaderError> {
    config.settings.validate()?;
    if let Some(quic) = config.quic.clone() {
        return start_quic(listen, snapshot, config, clock, &quic).await;
    }
    let listener = bind(listen, config.netns.as_deref(), |addr| {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    })?;
    set_congestion_control(&listener, config.settings.congestion_control)?;
    // Registered with the runtime here, not on the namespace thread (which has none).
    let listener = TcpListener::from_std(listener).map_err(bind_error(listen))?;
    let local_addr = listener.local_addr().map_err(bind_error(listen))?;
    Ok(LeaderHandle::spawn(
        local_addr,
        Shared::new(snapshot, config, clock),
        |shared, shutdown| run(listener, shared, shutdown),
    ))
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

impl LeaderHandle {
    /// Starts `serve` (the accept loop) with a fresh shutdown signal.
    fn spawn<F>(
        local_addr: SocketAddr,
        shared: Arc<Shared>,
        serve: impl FnOnce(Arc<Shared>, watch::Receiver<bool>) -> F,
    ) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(serve(shared.clone(), shutdown_rx));
        Self {
            local_addr,
            shared,
            shutdown,
            task,
        }
    }
}

impl Shared {
    fn new(snapshot: IndexSnapshot, config: LeaderConfig, clock: Clock) -> Arc<Self> {
        Arc::new(Shared {
            snapshot,
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
        })
    }
}

/// Binds a QUIC endpoint on `listen` (UDP) and serves every stream of every connection as a
/// channel.
async fn start_quic(
    listen: &str,
    snapshot: IndexSnapshot,
    config: LeaderConfig,
    clock: Clock,
    quic: &QuicServer,
) -> Result<LeaderHandle, LeaderError> {
    let socket = bind(listen, config.netns.as_deref(), |addr| {
        std::net::UdpSocket::bind(addr)
    })?;
    let endpoint = server_endpoint(
        socket,
        &quic.certificate,
        &quic.liveness,
        config.settings.congestion_control,
    )?;
    let local_addr = endpoint.local_addr().map_err(bind_error(listen))?;
    Ok(LeaderHandle::spawn(
        local_addr,
        Shared::new(snapshot, config, clock),
        |shared, shutdown| run_quic(endpoint, shared, shutdown),
    ))
}

async fn run_quic(
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let reaper = tokio::spawn(reap_sessions(shared.clone(), shutdown.clone()));
    let mut connections = JoinSet::new();
    let mut refusals = EveryFewSeconds::default();
    loop {
        let incoming = tokio::select! {
            _ = shutdown.changed() => break,
            incoming = endpoint.accept() => match incoming {
                Some(i) => i,
                None => break,
            },
        };
        // A handshake holds a slot from its first packet: half-open handshakes count against
        // max_connections like open connections, so a flood of them cannot grow memory.
        let Some(permit) = shared.slots.try_take() else {
            LeaderStats::add(&shared.stats.connections_refused, 1);
            if let Some(n) = refusals.due() {
                shared.log(format!(
                    "{} QUIC connection(s) refused: at max_connections {}",
                    n, shared.config.settings.max_connections
                ));
            }
            incoming.refuse();
            continue;
        };
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        connections.spawn(async move {
            let peer = incoming.remote_address();
            let handshake = shared.config.settings.handshake_timeout;
            let connection = match tokio::time::timeout(handshake, incoming).await {
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
            };
            LeaderStats::add(&shared.stats.connections_accepted, 1);
            LeaderStats::add(&shared.stats.connections_open, 1);
            serve_quic_connection(connection, peer, shared.clone(), shutdown).await;
            shared
                .stats
                .connections_open
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    endpoint.close(0u32.into(), b"leader shutting down");
    drain(connections).await;
    let _ = reaper.await;
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

/// Every bidirectional stream the follower opens is one channel.
async fn serve_quic_connection(
    connection: quinn::Connection,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut streams = JoinSet::new();
    // The connection holds the slot, owns the sessions and has the buffer budget; its streams
    // share them and are never shed on their own.
    let activity = shared.slots.unlisted();
    let budget = connection::buffer_budget(&shared);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = connection.accept_bi() => accepted,
        };
        match accepted {
            Ok((send, recv)) => {
                let (shared, shutdown) = (shared.clone(), shutdown.clone());
                let (activity, budget) = (activity.clone(), budget.clone());
                streams.spawn(connection::serve_halves(
                    recv, send, peer, shared, activity, budget, shutdown,
                ));
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

async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let reaper = tokio::spawn(reap_sessions(shared.clone(), shutdown.clone()));
    accept_loop(listener, shared, shutdown).await;
    let _ = reaper.await;
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut accept_errors = EveryFewSeconds::default();
    let mut refusals = EveryFewSeconds::default();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning, and say
                // so once a second, not once per attempt.
                if let Some(n) = accept_errors.due() {
                    shared.log(format!(
                        "accept failed ({n} time(s) since the last line): {e}"
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = tokio::select! {
            _ = shutdown.changed() => break,
            permit = slot_for_new_connection(&shared) => permit,
        };
        let Some(permit) = permit else {
            LeaderStats::add(&shared.stats.connections_refused, 1);
            if let Some(n) = refusals.due() {
                shared.log(format!(
                    "{n} connection(s) closed unserved: every one of max_connections {} is busy",
                    shared.config.settings.max_connections
                ));
            }
            continue;
        };
        LeaderStats::add(&shared.stats.connections_accepted, 1);
        LeaderStats::add(&shared.stats.connections_open, 1);
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        connections.spawn(async move {
            let activity = shared.slots.list();
            let id = activity.id;
            connection::serve(stream, peer, shared.clone(), activity, shutdown).await;
            shared.slots.unlist(id);
            shared
                .stats
                .connections_open
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drain(connections).await;
}

/// A slot for a connection just accepted. While every slot is taken, it asks a connection that
/// may give its slot up (silent since its accept, or idle with no session: see [`slots`]) to
/// close, and waits; after `handshake_timeout` without a slot it gives up.
async fn slot_for_new_connection(shared: &Shared) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let settings = &shared.config.settings;
    let silent = settings.handshake_timeout / 10;
    let give_up = Instant::now() + settings.handshake_timeout;
    loop {
        if let Some(permit) = shared.slots.try_take() {
            return Some(permit);
        }
        let owns = |id| shared.sessions().owned_by(id) > 0;
        if let Some(id) = shared
            .slots
            .shed_one(silent, settings.idle_connection_timeout, owns)
        {
            shared.log(format!(
                "connection {id} shed: silent or idle with no session, and a new connection needs \
                 its slot"
            ));
        }
        let wait = (silent / 4).max(Duration::from_millis(5));
        let now = Instant::now();
        if now >= give_up {
            return None;
        }
        let until = (now + wait).min(give_up);
        if let Ok(permit) = tokio::time::timeout_at(until.into(), shared.slots.take()).await {
            return permit;
        }
    }
}

/// Runs the expiry ticks often enough that a session dies within a tenth of T of its due tick.
async fn reap_sessions(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let t = shared.config.settings.recovery_activity_timeout;
    let period = (t / 10).clamp(Duration::from_millis(5), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticker.tick() => {}
        }
        let expired = shared.sessions().reap(Instant::now());
        for session in expired {
            LeaderStats::add(&shared.stats.sessions_expired, 1);
            shared.log(format!(
                "session {session} expired (recovery_activity_timeout {t:?})"
            ));
        }
    }
}
