//! `rrbench probe`: measures a path to a leader the way a recovery would use it (the same
//! transport, so through the same TCP proxies and tunnels) and turns the measurements into
//! Elasticsearch settings.
//!
//! It owns the measurements and their interpretation: [`rtt`] (connect time, Ping/Pong round
//! trips), [`throughput`] (a short transfer of real chunks over one and several connections),
//! [`grid`] and [`idle`] (the idle timeout, from a grid of connections held idle at once),
//! [`classify`] (stunnel-like, conntrack-like, none), [`advice`] (settings with reasons) and
//! [`output`] (text, `elasticsearch.yml`, `PUT _cluster/settings`, JSON). It does not own the
//! transport or the protocol, which it uses as the follower does, nor the leader.

pub mod advice;
pub mod classify;
pub mod grid;
pub mod idle;
pub mod output;
pub mod rtt;
pub mod throughput;

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::sync::watch;

use self::{
    advice::{Advice, AdviceInputs},
    classify::Classification,
    grid::{IdleKind, KindGrid, KindSummary, geometric_grid},
    rtt::RttStats,
    throughput::{Throughput, Transfer},
};
use crate::{
    auth::Credentials,
    protocol::ErrorCode,
    transport::{
        TransportError,
        connection::ConnectOptions,
        dial::{Dialer, TcpDialer},
        quic::QuicLiveness,
        quic::TlsClient,
        socket::SocketOptions,
        tls::TlsDialer,
    },
    units::ByteSize,
    vocabulary::{ConnectionProfile, RemoteMode},
};

/// What to probe and how.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// The leader (or the proxy in front of it), `HOST:PORT`.
    pub to: String,
    /// The index to open a session on for the transfer.
    pub index: String,
    /// Credentials for the leader's `Hello`: an API key or the deprecated token.
    pub auth: Option<Credentials>,
    /// Reach the leader over TLS, trusting this (`None`: plaintext TCP).
    pub tls: Option<TlsClient>,
    /// Send an API key over plaintext TCP (refused without it).
    pub allow_plaintext_credentials: bool,
    /// Ping/Pong round trips to time.
    pub pings: u32,
    /// Connections of the second transfer (the first uses one).
    pub connections: u32,
    /// Length of each transfer; zero skips them.
    pub transfer_time: Duration,
    /// Bytes per chunk request.
    pub chunk_size: ByteSize,
    /// Chunk requests in flight per connection.
    pub window: u32,
    /// Shortest idle of the grid.
    pub min_idle: Duration,
    /// Longest idle of the grid; zero skips the idle measurement.
    pub max_idle: Duration,
    /// Step of the grid: each idle is `1 + resolution` times the one before.
    pub resolution: f64,
    /// Keepalive idle and interval of the keepalive kind, ping schedule of the pings kind.
    pub probe_every: Duration,
    /// How long a use waits for its pong; also the sockets' `TCP_USER_TIMEOUT`.
    pub pong_timeout: Duration,
    /// Rate the window advice is sized for; 0: the measured throughput.
    pub max_bytes_per_sec: ByteSize,
    /// Remote cluster alias in the advice.
    pub alias: String,
}

impl ProbeConfig {
    /// The defaults `rrbench probe` uses, against `to`.
    pub fn new(to: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            index: "index".into(),
            auth: None,
            tls: None,
            allow_plaintext_credentials: false,
            pings: 20,
            connections: 4,
            transfer_time: Duration::from_secs(2),
            chunk_size: ByteSize::mib(1),
            window: 10,
            min_idle: Duration::from_millis(250),
            max_idle: Duration::from_secs(900),
            resolution: 0.1,
            probe_every: Duration::from_secs(1),
            pong_timeout: Duration::from_secs(3),
            max_bytes_per_sec: ByteSize::mib(40),
            alias: "leader".into(),
        }
    }

    /// Checks the values that would make the probe meaningless.
    pub fn validate(&self) -> Result<(), ProbeError> {
        let bad = |what: String| Err(ProbeError::Invalid(what));
        let sends_key = self.auth.as_ref().is_some_and(Credentials::is_api_key);
        if sends_key && self.tls.is_none() && !self.allow_plaintext_credentials {
            let refused = crate::auth::ApiKeyError::Plaintext { side: "this probe" };
            return bad(refused.to_string());
        }
        if self.pings == 0 {
            return bad("--pings must be at least 1".into());
        }
        if !(1..=64).contains(&self.connections) {
            return bad(format!("--connections {} is not 1-64", self.connections));
        }
        if !(1..=100).contains(&self.window) {
            return bad(format!("--window {} is not 1-100", self.window));
        }
        if !(1024..=(64 << 20)).contains(&self.chunk_size.bytes()) {
            return bad(format!("--chunk-size {} is not 1kb-64mb", self.chunk_size));
        }
        if !(0.01..=1.0).contains(&self.resolution) {
            return bad(format!(
                "--resolution {} is not 0.01-1 (a step of 1 % to 100 %)",
                self.resolution
            ));
        }
        if self.pong_timeout.is_zero() || self.probe_every.is_zero() {
            return bad("--pong-timeout and --probe-every must be above 0".into());
        }
        if self.probe_every < Duration::from_secs(1) {
            return bad(
                "--probe-every must be at least 1s (keepalive counts whole seconds)".into(),
            );
        }
        if !self.max_idle.is_zero() && self.max_idle < self.min_idle {
            return bad(format!(
                "--max-idle {} is below the grid's first idle ({})",
                crate::units::format_duration(self.max_idle),
                crate::units::format_duration(self.min_idle)
            ));
        }
        Ok(())
    }

    /// Connect options of every probe connection: one channel (a proxy-mode socket), the
    /// user timeout, the token; no keepalive, no pings (the idle kinds add theirs).
    fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            profile: ConnectionProfile::Remote,
            mode: RemoteMode::Proxy,
            proxy_sockets: 1,
            close_all_on_channel_loss: false,
            socket: SocketOptions {
                keepalive: None,
                user_timeout: Some(self.pong_timeout),
            },
            ping_schedule: None,
            ping_timeout: None,
            max_response: (self.chunk_size.bytes() + 64).max(16 << 20) as u32,
            auth: self.auth.clone(),
            handshake_timeout: Duration::from_secs(10),
            quic_liveness: QuicLiveness::default(),
        }
    }
}

/// Why the probe could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A value of the configuration is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The first connection failed.
    #[error("cannot reach a leader at {addr}: {cause}; {hint}")]
    Connect {
        /// The address.
        addr: String,
        /// The transport's error.
        cause: TransportError,
        /// The likely cause.
        hint: &'static str,
    },
    /// The leader refused the credentials.
    #[error(
        "the leader at {addr} refused this probe's credentials: {leader_said} (give the \
         follower's API key with --api-key-file or RRBENCH_API_KEY, or the same auth token as \
         the leader's)"
    )]
    Unauthorized {
        /// The address.
        addr: String,
        /// The leader's message.
        leader_said: String,
    },
    /// The leader does not serve the index.
    #[error("the leader serves no index `{index}` ({leader_said}); name it with --index")]
    UnknownIndex {
        /// The index asked for.
        index: String,
        /// The leader's message.
        leader_said: String,
    },
    /// The index has no byte to transfer.
    #[error("the leader's index `{0}` has no bytes to transfer")]
    EmptyIndex(String),
    /// A connection broke during a measurement.
    #[error("the connection broke: {0}")]
    Lost(TransportError),
    /// No answer in time during a measurement.
    #[error("no answer within {0:?}")]
    NoPong(Duration),
    /// The leader answered with something else.
    #[error("{0}")]
    Unexpected(String),
    /// Stopped by the caller.
    #[error("interrupted")]
    Interrupted,
}

impl ProbeError {
    /// Whether the user gave a bad value (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::Invalid(_) | Self::UnknownIndex { .. })
    }

    fn connect(addr: &str, cause: TransportError) -> Self {
        if let TransportError::Remote {
            code: ErrorCode::Unauthorized | ErrorCode::Forbidden,
            message,
        } = cause.root()
        {
            return Self::Unauthorized {
                addr: addr.into(),
                leader_said: message.clone(),
            };
        }
        let hint = match cause.root() {
            TransportError::Connect { message, .. }
                if message.contains(
                    &std::io::Error::from_raw_os_error(libc::ECONNREFUSED).to_string(),
                ) =>
            {
                "nothing listens there (is `rrbench leader` running, and is the port right?)"
            }
            TransportError::Connect { .. } => {
                "the host does not resolve or cannot be reached (a typo in --to, a firewall?)"
            }
            TransportError::Timeout(_) => {
                "no answer to the greeting: a firewall dropping packets, or not an rrbench leader"
            }
            TransportError::Protocol(crate::protocol::ProtocolError::BadMagic(first))
                if crate::transport::tls::looks_like_tls(first) =>
            {
                "the leader speaks TLS: probe with --tls and --ca FILE"
            }
            TransportError::Tls(_) => {
                "TLS failed: the cause above names the certificate refused, or the side not \
                 speaking TLS"
            }
            TransportError::Protocol(_) => "something that is not an rrbench leader answered",
            _ => "the connection broke during the greeting (not an rrbench leader?)",
        };
        Self::Connect {
            addr: addr.into(),
            cause,
            hint,
        }
    }
}

/// A stop signal the phases watch.
#[derive(Clone)]
pub(crate) struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Resolves once stopped (never if the signal is gone).
    pub(crate) async fn wait(&mut self) {
        if self.0.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The idle measurement's results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IdleReport {
    /// Shortest idle tested.
    #[serde(rename = "min_idle_s", serialize_with = "secs::seconds")]
    pub min_idle: Duration,
    /// Longest idle tested.
    #[serde(rename = "max_idle_s", serialize_with = "secs::seconds")]
    pub max_idle: Duration,
    /// Grid step.
    pub resolution: f64,
    /// Connections per kind.
    pub grid_len: usize,
    /// How long it ran.
    #[serde(rename = "elapsed_s", serialize_with = "secs::seconds")]
    pub elapsed: Duration,
    /// Per kind.
    pub kinds: Vec<KindSummary>,
}

/// Everything measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProbeReport {
    /// The address probed.
    pub to: String,
    /// The index transferred from.
    pub index: String,
    /// TCP connect and `Hello` of the first connection.
    #[serde(rename = "connect_ms", serialize_with = "secs::option_millis")]
    pub connect: Option<Duration>,
    /// Ping/Pong round trips.
    pub rtt: Option<RttStats>,
    /// Transfers: one connection, then `connections`.
    pub throughput: Vec<Throughput>,
    /// The idle timeout.
    pub idle: Option<IdleReport>,
    /// The path's classification.
    pub path: Classification,
    /// The settings advised.
    pub advice: Advice,
    /// Stopped by Ctrl-C (what is here is what was measured so far).
    pub interrupted: bool,
    /// Measurements that failed or were skipped, and why.
    pub notes: Vec<String>,
    /// Total time.
    #[serde(rename = "elapsed_s", serialize_with = "secs::seconds")]
    pub elapsed: Duration,
}

/// Runs the probe: connect and RTT, then the idle grid with the transfers running beside it.
/// `progress` gets one line per step; `cancel` resolving stops every phase and the report says
/// what was measured so far.
pub async fn run(
    config: ProbeConfig,
    progress: &(dyn Fn(&str) + Sync),
    cancel: impl Future<Output = ()>,
) -> Result<ProbeReport, ProbeError> {
    config.validate()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let body = measure(&config, progress, Stop(stop_rx));
    tokio::pin!(body, cancel);
    let mut cancelled = false;
    loop {
        tokio::select! {
            r = &mut body => return r,
            () = &mut cancel, if !cancelled => {
                cancelled = true;
                progress("interrupted: stopping; reporting what was measured so far");
                stop_tx.send_replace(true);
            }
        }
    }
}

async fn measure(
    config: &ProbeConfig,
    progress: &(dyn Fn(&str) + Sync),
    mut stop: Stop,
) -> Result<ProbeReport, ProbeError> {
    let start = Instant::now();
    let dialer: Arc<dyn Dialer> = match &config.tls {
        Some(client) => Arc::new(TlsDialer {
            addr: config.to.clone(),
            client: client.clone(),
        }),
        None => Arc::new(TcpDialer {
            addr: config.to.clone(),
        }),
    };
    let options = config.connect_options();
    let mut notes = Vec::new();
    progress(&format!("connecting to {}", config.to));
    let opened = tokio::select! {
        r = rtt::connect(dialer.as_ref(), &options) => Some(r),
        () = stop.wait() => None,
    };
    let (mut connect, mut rtt_stats) = (None, None);
    let mut interrupted = opened.is_none();
    if let Some(opened) = opened {
        let (conn, took) = opened.map_err(|e| ProbeError::connect(&config.to, e))?;
        connect = Some(took);
        progress(&format!(
            "connected in {:.1} ms; timing {} pings",
            took.as_secs_f64() * 1e3,
            config.pings
        ));
        let samples = rtt::ping_pong(
            &conn,
            config.pings,
            config.pong_timeout,
            &mut stop,
            progress,
        )
        .await;
        match samples {
            Ok(s) => rtt_stats = RttStats::from_samples(&s),
            Err(e) => notes.push(format!("rtt: {e}")),
        }
        if let Some(r) = &rtt_stats {
            progress(&format!(
                "rtt: min {:.2} ms, median {:.2} ms, p99 {:.2} ms",
                r.min.as_secs_f64() * 1e3,
                r.median.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3
            ));
        }
    }
    let mut throughput = Vec::new();
    let mut idle = None;
    if !interrupted {
        // The transfers first: queued behind them, a ping of the idle grid could miss its pong
        // timeout and look like a silent drop. A wrong index name stops the probe here.
        let (t, t_notes) =
            transfers(config, dialer.as_ref(), &options, stop.clone(), progress).await?;
        throughput = t;
        notes.extend(t_notes);
        interrupted |= *stop.0.borrow();
    }
    if !interrupted {
        let idle_result =
            idle_phase(config, dialer.clone(), &options, stop.clone(), progress).await;
        if let Some((report, cut)) = idle_result {
            interrupted |= cut;
            idle = Some(report);
        }
        interrupted |= *stop.0.borrow();
    }
    if let Some(r) = &rtt_stats {
        for t in &mut throughput {
            t.bdp_bytes = Some((t.mib_per_sec * (1 << 20) as f64 * r.median.as_secs_f64()) as u64);
        }
    }
    let path = match &idle {
        Some(i) => classify::classify(&i.kinds, config.resolution, config.max_idle),
        None => classify::classify(&[], config.resolution, config.max_idle),
    };
    let advice = advice::advise(&AdviceInputs {
        rtt: rtt_stats.map(|r| r.median),
        measured_mib_s: throughput.iter().map(|t| t.mib_per_sec).reduce(f64::max),
        path: path.clone(),
        max_bytes_per_sec: config.max_bytes_per_sec,
        chunk_size: config.chunk_size,
        alias: config.alias.clone(),
        max_idle: config.max_idle,
    });
    Ok(ProbeReport {
        to: config.to.clone(),
        index: config.index.clone(),
        connect,
        rtt: rtt_stats,
        throughput,
        idle,
        path,
        advice,
        interrupted,
        notes,
        elapsed: start.elapsed(),
    })
}

/// The two transfers, one after the other; failures become notes, except a wrong index name
/// or an empty index (bad input: the error).
async fn transfers(
    config: &ProbeConfig,
    dialer: &dyn Dialer,
    options: &ConnectOptions,
    mut stop: Stop,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Vec<Throughput>, Vec<String>), ProbeError> {
    let (mut done, mut notes) = (Vec::new(), Vec::new());
    if config.transfer_time.is_zero() {
        notes.push("throughput: skipped (--transfer-time 0)".into());
        return Ok((done, notes));
    }
    let t = Transfer {
        dialer,
        options,
        index: &config.index,
        chunk: config.chunk_size.bytes(),
        window: config.window,
        time: config.transfer_time,
        request_timeout: Duration::from_secs(30),
    };
    let mut counts = vec![1];
    if config.connections > 1 {
        counts.push(config.connections);
    }
    for n in counts {
        progress(&format!(
            "throughput: {:.1} s over {n} connection(s), {} chunks of {} in flight each",
            config.transfer_time.as_secs_f64(),
            config.window,
            config.chunk_size
        ));
        match throughput::run(&t, n, &mut stop).await {
            Ok(r) => {
                progress(&format!(
                    "throughput: {n} connection(s): {:.1} MiB/s",
                    r.mib_per_sec
                ));
                done.push(r);
            }
            Err(ProbeError::Interrupted) => break,
            Err(e @ (ProbeError::UnknownIndex { .. } | ProbeError::EmptyIndex(_))) => {
                return Err(e);
            }
            Err(e) => {
                progress(&format!("throughput: {e}"));
                notes.push(format!("throughput over {n} connection(s): {e}"));
                break;
            }
        }
    }
    Ok((done, notes))
}

/// The idle grid of every kind; `None` when skipped.
async fn idle_phase(
    config: &ProbeConfig,
    dialer: Arc<dyn Dialer>,
    options: &ConnectOptions,
    mut stop: Stop,
    progress: &(dyn Fn(&str) + Sync),
) -> Option<(IdleReport, bool)> {
    let idles = geometric_grid(config.min_idle, config.max_idle, config.resolution);
    if idles.is_empty() {
        return None;
    }
    progress(&format!(
        "idle: {} connections per kind (silent, keepalive {}, pings every {}), idle {:.2} s to \
         {:.0} s, all at once",
        idles.len(),
        crate::units::format_duration(config.probe_every),
        crate::units::format_duration(config.probe_every),
        idles[0].as_secs_f64(),
        config.max_idle.as_secs_f64()
    ));
    let plan = idle::IdlePlan {
        dialer,
        options: options.clone(),
        every: config.probe_every,
        pong_timeout: config.pong_timeout,
        max_idle: config.max_idle,
    };
    let grids = IdleKind::ALL
        .iter()
        .map(|&k| KindGrid::new(k, idles.clone()))
        .collect();
    let (grids, elapsed, cut) = idle::run(&plan, grids, &mut stop, progress).await;
    Some((
        IdleReport {
            min_idle: idles[0],
            max_idle: config.max_idle,
            resolution: config.resolution,
            grid_len: idles.len(),
            elapsed,
            kinds: grid::summarize(&grids),
        },
        cut,
    ))
}

/// Durations as numbers in JSON: seconds, or milliseconds.
pub(crate) mod secs {
    use std::time::Duration;

    use serde::Serializer;

    /// Seconds.
    pub fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Milliseconds.
    pub fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1e3)
    }

    /// Seconds or null.
    pub fn option<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    /// Milliseconds or null.
    pub fn option_millis<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_secs_f64() * 1e3)),
            None => s.serialize_none(),
        }
    }
}
