//! A connection to a leader as Elasticsearch opens one: several channels, used as one. Over TCP
//! each channel is its own socket; over QUIC each is a stream of one QUIC connection.
//!
//! To a remote cluster Elasticsearch opens 6 channels and spreads every request type over them
//! (profile [`ConnectionProfile::Remote`]). Inside a cluster it opens 13 typed channels: recovery
//! 2, bulk 3, reg 6, state 1, ping 1 ([`ConnectionProfile::IntraCluster`]); chunk requests ride
//! only the recovery channels and the rest sit idle unless pinged, which is exactly what a
//! middlebox's idle timeout punishes. With `close_all_on_channel_loss` (Elasticsearch's
//! behaviour) the first channel to close takes the whole connection down and every in-flight
//! request on every channel fails. A ping schedule sends a `Ping` on *every* channel; with a
//! ping timeout, a channel whose `Pong` does not come back in time is closed.
//!
//! In proxy mode ([`RemoteMode::Proxy`], `cluster.remote.<alias>.mode: proxy`) Elasticsearch
//! opens `proxy_socket_connections` (18) sockets to one proxy address instead, each its own
//! connection of one channel, and spreads requests over them round robin. They are held here as
//! one [`Connection`] of that many `Any` channels (over QUIC, a stream each); the follower's
//! settings turn `close_all_on_channel_loss` off for them, since one socket lost is one
//! connection lost, not all of them.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::watch,
    task::{JoinHandle, JoinSet},
    time::timeout,
};

use super::{
    TransportError,
    channel::{Answer, Channel},
    dial::{DialOptions, Dialer, Streams},
    quic::QuicLiveness,
    socket::SocketOptions,
};
use crate::{
    auth::Credentials,
    protocol::{Message, VERSION},
    vocabulary::{ChannelType, ConnectionProfile, RemoteMode},
};

/// How to open a connection.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Which channels in sniff mode.
    pub profile: ConnectionProfile,
    /// Sniff (the profile's channels) or proxy (`proxy_sockets` channels of type `Any`).
    pub mode: RemoteMode,
    /// Sockets opened in proxy mode.
    pub proxy_sockets: u32,
    /// One channel closing closes them all (Elasticsearch).
    pub close_all_on_channel_loss: bool,
    /// Keepalive and user timeout per socket.
    pub socket: SocketOptions,
    /// `transport.ping_schedule`: a ping on every channel this often; `None` is off.
    pub ping_schedule: Option<Duration>,
    /// Close a channel whose pong is this late; `None`: pings only keep data moving.
    pub ping_timeout: Option<Duration>,
    /// Largest response accepted.
    pub max_response: u32,
    /// Credentials sent in `Hello` (an empty text without).
    pub auth: Option<Credentials>,
    /// Bound on connecting and greeting each channel.
    pub handshake_timeout: Duration,
    /// The QUIC connection's idle timeout and keep-alive (unused over TCP).
    pub quic_liveness: QuicLiveness,
}

impl ConnectOptions {
    /// The channels to open, in order.
    pub fn channel_types(&self) -> Vec<ChannelType> {
        self.mode.channel_types(self.profile, self.proxy_sockets)
    }

    /// What the dialer needs of these options.
    pub fn dial(&self) -> DialOptions {
        DialOptions {
            max_response: self.max_response,
            socket: self.socket,
            quic_liveness: self.quic_liveness,
        }
    }
}

/// The first channel lost on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelLoss {
    /// Its index.
    pub channel: usize,
    /// Its type.
    pub kind: ChannelType,
    /// Why it closed.
    pub error: TransportError,
}

/// Several channels to one leader, used as one connection.
pub struct Connection {
    channels: Vec<Arc<Channel>>,
    types: Vec<ChannelType>,
    data: Vec<usize>,
    next: AtomicUsize,
    lost: watch::Receiver<Option<ChannelLoss>>,
    pings_sent: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
    /// What opened the channels (a QUIC connection closes when it is dropped).
    _streams: Arc<dyn Streams>,
}

impl Connection {
    /// Opens and greets every channel of the profile (or every proxy-mode socket) through
    /// `dialer`, then starts the loss watcher and pingers.
    pub async fn open(
        dialer: &dyn Dialer,
        options: &ConnectOptions,
    ) -> Result<Self, TransportError> {
        let types = options.channel_types();
        let streams: Arc<dyn Streams> = Arc::from(
            timeout(options.handshake_timeout, dialer.connect(&options.dial()))
                .await
                .map_err(|_| TransportError::Timeout(options.handshake_timeout))??,
        );
        // All channels at once, as Elasticsearch opens a connection's channels: over a WAN the
        // handshakes then cost one round trip, not one per channel.
        let mut opening = JoinSet::new();
        for i in 0..types.len() {
            let (streams, options) = (streams.clone(), options.clone());
            opening.spawn(async move { (i, open_channel(streams.as_ref(), &options).await) });
        }
        let mut slots: Vec<Option<Arc<Channel>>> = vec![None; types.len()];
        while let Some(joined) = opening.join_next().await {
            let (i, channel) = joined.map_err(|e| TransportError::Io(e.to_string()))?;
            slots[i] = Some(Arc::new(channel?));
        }
        let channels: Vec<Arc<Channel>> = slots.into_iter().flatten().collect();
        let data: Vec<usize> = (0..types.len())
            .filter(|&i| matches!(types[i], ChannelType::Any | ChannelType::Recovery))
            .collect();
        let (report, lost) = watch::channel(None);
        let pings_sent = Arc::new(AtomicU64::new(0));
        let mut tasks = vec![tokio::spawn(watch_losses(
            channels.clone(),
            types.clone(),
            options.close_all_on_channel_loss,
            report,
        ))];
        if let Some(every) = options.ping_schedule {
            for ch in &channels {
                tasks.push(tokio::spawn(ping(
                    ch.clone(),
                    every,
                    options.ping_timeout,
                    pings_sent.clone(),
                )));
            }
        }
        Ok(Self {
            channels,
            types,
            data,
            next: AtomicUsize::new(0),
            lost,
            pings_sent,
            tasks,
            _streams: streams,
        })
    }

    /// What TLS negotiated on this connection (every channel is dialled with one
    /// configuration, so the first tells); `None` for plaintext.
    pub fn tls(&self) -> Option<&super::negotiated::Negotiated> {
        self.channels.first().and_then(|c| c.tls())
    }

    /// The next open channel for chunk requests (round robin), with its index; `None` when every
    /// data channel is closed.
    pub fn pick(&self) -> Option<(usize, Arc<Channel>)> {
        for _ in 0..self.data.len() {
            let i = self.data[self.next.fetch_add(1, Ordering::Relaxed) % self.data.len()];
            if !self.channels[i].is_closed() {
                return Some((i, self.channels[i].clone()));
            }
        }
        None
    }

    /// Sends a request on the next data channel; the error says which channel failed.
    pub async fn request(
        &self,
        message: &Message,
    ) -> Result<Message, (Option<usize>, TransportError)> {
        self.exchange(message).await.map(|answer| answer.message)
    }

    /// As [`Connection::request`], with the data CRC the channel computed for a chunk.
    pub async fn exchange(
        &self,
        message: &Message,
    ) -> Result<Answer, (Option<usize>, TransportError)> {
        let Some((i, channel)) = self.pick() else {
            let loss = self.loss();
            let err = loss
                .as_ref()
                .map_or(TransportError::Eof, |l| l.error.clone());
            return Err((loss.map(|l| l.channel), err));
        };
        channel.exchange(message).await.map_err(|e| (Some(i), e))
    }

    /// The first channel lost, if any.
    pub fn loss(&self) -> Option<ChannelLoss> {
        self.lost.borrow().clone()
    }

    /// Waits until a channel is lost (at once if one already is).
    pub fn lost(&self) -> impl Future<Output = ChannelLoss> + Send + 'static {
        let mut lost = self.lost.clone();
        async move {
            loop {
                if let Some(loss) = lost.borrow_and_update().clone() {
                    return loss;
                }
                if lost.changed().await.is_err() {
                    // The connection is gone: nothing will be reported any more.
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether it has no channel (never: every profile opens some).
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// The type of channel `i`.
    pub fn channel_type(&self, i: usize) -> Option<ChannelType> {
        self.types.get(i).copied()
    }

    /// Pings sent so far, over all channels.
    pub fn pings_sent(&self) -> u64 {
        self.pings_sent.load(Ordering::Relaxed)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Opens and greets one channel.
async fn open_channel(
    streams: &dyn Streams,
    options: &ConnectOptions,
) -> Result<Channel, TransportError> {
    let channel = timeout(options.handshake_timeout, streams.open())
        .await
        .map_err(|_| TransportError::Timeout(options.handshake_timeout))??;
    let hello = Message::Hello {
        version: u16::from(VERSION),
        auth: options
            .auth
            .as_ref()
            .map_or_else(String::new, Credentials::wire)
            .into(),
    };
    match timeout(options.handshake_timeout, channel.request(&hello)).await {
        Err(_) => Err(TransportError::Timeout(options.handshake_timeout)),
        Ok(Err(e)) => Err(e),
        Ok(Ok(Message::HelloAck { .. })) => Ok(channel),
        Ok(Ok(other)) => Err(TransportError::Unexpected(other.kind())),
    }
}

/// Waits for the first channel to close; reports it and, if asked, closes all the others.
async fn watch_losses(
    channels: Vec<Arc<Channel>>,
    types: Vec<ChannelType>,
    close_all: bool,
    report: watch::Sender<Option<ChannelLoss>>,
) {
    let mut closing = JoinSet::new();
    for (i, ch) in channels.iter().enumerate() {
        let closed = ch.closed();
        closing.spawn(async move { (i, closed.await) });
    }
    let Some(Ok((i, error))) = closing.join_next().await else {
        return;
    };
    report.send_replace(Some(ChannelLoss {
        channel: i,
        kind: types[i],
        error: error.clone(),
    }));
    if close_all {
        let cause = TransportError::ChannelLost {
            channel: i,
            cause: Box::new(error),
        };
        for (j, ch) in channels.iter().enumerate() {
            if j != i {
                ch.close(cause.clone());
            }
        }
    }
}

/// Pings one channel on a schedule. With a timeout, a late pong closes the channel.
/// How a ping with a deadline ended.
enum PingOutcome {
    /// The pong came.
    Pong,
    /// The request failed (the channel closed): the loss watcher reports why.
    Failed,
    /// Neither the pong nor a single byte arrived for the whole deadline: the path is dead.
    Silent,
}

/// Waits for the pong to `ping`. Bytes arriving mean the path is alive and the pong waits
/// behind them (1 MiB chunks on a slow, lossy path), so waiting goes on while they do; only
/// `limit` without any byte at all is [`PingOutcome::Silent`].
async fn pong_or_progress(channel: &Channel, ping: &Message, limit: Duration) -> PingOutcome {
    let reply = channel.request(ping);
    tokio::pin!(reply);
    let mut seen = channel.bytes_received();
    loop {
        match timeout(limit, &mut reply).await {
            Ok(Ok(_)) => return PingOutcome::Pong,
            Ok(Err(_)) => return PingOutcome::Failed,
            Err(_) => {
                let now = channel.bytes_received();
                if now == seen {
                    return PingOutcome::Silent;
                }
                seen = now;
            }
        }
    }
}

async fn ping(
    channel: Arc<Channel>,
    every: Duration,
    late: Option<Duration>,
    sent: Arc<AtomicU64>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    for nonce in 0u64.. {
        ticker.tick().await;
        if channel.is_closed() {
            return;
        }
        sent.fetch_add(1, Ordering::Relaxed);
        let ping = Message::Ping { nonce };
        match late {
            Some(limit) => match pong_or_progress(&channel, &ping, limit).await {
                PingOutcome::Pong => {}
                PingOutcome::Failed => return,
                PingOutcome::Silent => {
                    channel.close(TransportError::PingTimeout(limit));
                    return;
                }
            },
            None => {
                // Fire and forget, as Elasticsearch's keep-alive pings: what matters is that
                // bytes move on the channel.
                let ch = channel.clone();
                tokio::spawn(async move {
                    let _ = ch.request(&ping).await;
                });
            }
        }
    }
}
