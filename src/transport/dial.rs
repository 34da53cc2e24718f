//! How a follower reaches a leader: the seam between a connection and what carries its bytes.
//!
//! A [`Dialer`] prepares one connection ([`Dialer::connect`]) and hands back [`Streams`], which
//! open the byte stream of each channel. [`TcpDialer`] opens a socket per channel; [`QuicDialer`]
//! handshakes one QUIC connection and opens a bidirectional stream per channel; [`MemoryDialer`]
//! asks a function for in-memory streams (a leader served in the same process, perhaps through a
//! simulated network), so a whole recovery runs without a socket. The greeting, the pings and the
//! loss handling above are the same for all three ([`super::connection::Connection`]).

use std::{fmt, future::Future, io, pin::Pin, sync::Arc};

use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    TransportError,
    channel::Channel,
    negotiated::Negotiated,
    quic::{self, QuicClient, QuicLiveness},
    socket::SocketOptions,
};

/// What every channel's stream is opened with.
#[derive(Clone, Debug, Default)]
pub struct DialOptions {
    /// Largest response accepted on a channel.
    pub max_response: u32,
    /// Keepalive and user timeout per TCP socket.
    pub socket: SocketOptions,
    /// The QUIC connection's idle timeout and keep-alive (QUIC only).
    pub quic_liveness: QuicLiveness,
}

/// A boxed, sendable future (the traits here are used as `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens connections to one leader.
pub trait Dialer: Send + Sync + fmt::Debug {
    /// Prepares one connection with `options` (a QUIC handshake; nothing for TCP or memory).
    fn connect<'a>(
        &'a self,
        options: &'a DialOptions,
    ) -> BoxFuture<'a, Result<Box<dyn Streams>, TransportError>>;

    /// The leader's address as a user knows it (for messages and reports).
    fn address(&self) -> String;

    /// Whether what is sent is encrypted on the way (TLS, QUIC): credentials such as API keys
    /// may only be sent through such a dialer.
    fn encrypted(&self) -> bool {
        false
    }
}

/// Opens the channels of one connection.
pub trait Streams: Send + Sync {
    /// Opens one channel's stream (not greeted yet).
    fn open(&self) -> BoxFuture<'_, Result<Channel, TransportError>>;
}

/// A TCP socket per channel, with the options' keepalive and user timeout.
#[derive(Clone, Debug)]
pub struct TcpDialer {
    /// `host:port` of the leader.
    pub addr: String,
}

struct TcpStreams {
    addr: String,
    options: DialOptions,
}

impl Dialer for TcpDialer {
    fn connect<'a>(
        &'a self,
        options: &'a DialOptions,
    ) -> BoxFuture<'a, Result<Box<dyn Streams>, TransportError>> {
        let streams = TcpStreams {
            addr: self.addr.clone(),
            options: options.clone(),
        };
        Box::pin(async move { Ok(Box::new(streams) as Box<dyn Streams>) })
    }

    fn address(&self) -> String {
        self.addr.clone()
    }
}

impl Streams for TcpStreams {
    fn open(&self) -> BoxFuture<'_, Result<Channel, TransportError>> {
        Box::pin(Channel::connect_with(
            &self.addr,
            self.options.max_response,
            &self.options.socket,
        ))
    }
}

/// One QUIC connection per follower connection, a bidirectional stream per channel.
#[derive(Clone, Debug)]
pub struct QuicDialer {
    /// `host:port` of the leader.
    pub addr: String,
    /// Which certificate to trust, which name to verify.
    pub client: QuicClient,
}

struct QuicStreams {
    _endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    max_response: u32,
}

impl Dialer for QuicDialer {
    fn connect<'a>(
        &'a self,
        options: &'a DialOptions,
    ) -> BoxFuture<'a, Result<Box<dyn Streams>, TransportError>> {
        Box::pin(async move {
            let connect_err = |message: String| TransportError::Connect {
                addr: self.addr.clone(),
                message,
            };
            let peer = tokio::net::lookup_host(&self.addr)
                .await
                .map_err(|e| connect_err(e.to_string()))?
                .next()
                .ok_or_else(|| connect_err("no address".into()))?;
            let (endpoint, verifier) =
                quic::client_endpoint_diagnosed(&self.client, &options.quic_liveness, peer)
                    .map_err(|e| connect_err(e.to_string()))?;
            let connection =
                quic::connect_diagnosed(&endpoint, Some(&verifier), peer, &self.addr, &self.client)
                    .await?;
            Ok(Box::new(QuicStreams {
                _endpoint: endpoint,
                connection,
                max_response: options.max_response,
            }) as Box<dyn Streams>)
        })
    }

    fn address(&self) -> String {
        self.addr.clone()
    }

    fn encrypted(&self) -> bool {
        true
    }
}

impl Streams for QuicStreams {
    fn open(&self) -> BoxFuture<'_, Result<Channel, TransportError>> {
        Box::pin(async move {
            let (send, recv) = self
                .connection
                .open_bi()
                .await
                .map_err(|e| TransportError::Io(e.to_string()))?;
            Ok(Channel::from_halves(recv, send, self.max_response).with_tls(Negotiated::quic()))
        })
    }
}

impl Drop for QuicStreams {
    fn drop(&mut self) {
        self.connection.close(0u32.into(), b"done");
    }
}

/// A byte stream of any kind, boxed (what [`MemoryDialer`]'s function returns).
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// Opens one in-memory stream to the leader, or fails as a refused connect would.
pub type OpenStream = dyn Fn() -> io::Result<Box<dyn ByteStream>> + Send + Sync;

/// In-memory streams from a function: no socket, no port, and (on paused tokio time) no wall
/// clock. The function may route each stream through a simulated network.
#[derive(Clone)]
pub struct MemoryDialer {
    name: String,
    open: Arc<OpenStream>,
}

impl MemoryDialer {
    /// Streams from `open`; `name` stands for the leader's address in messages.
    pub fn new(
        name: impl Into<String>,
        open: impl Fn() -> io::Result<Box<dyn ByteStream>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            open: Arc::new(open),
        }
    }
}

impl fmt::Debug for MemoryDialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDialer")
            .field("name", &self.name)
            .finish()
    }
}

struct MemoryStreams {
    dialer: MemoryDialer,
    max_response: u32,
}

impl Dialer for MemoryDialer {
    fn connect<'a>(
        &'a self,
        options: &'a DialOptions,
    ) -> BoxFuture<'a, Result<Box<dyn Streams>, TransportError>> {
        let streams = MemoryStreams {
            dialer: self.clone(),
            max_response: options.max_response,
        };
        Box::pin(async move { Ok(Box::new(streams) as Box<dyn Streams>) })
    }

    fn address(&self) -> String {
        self.name.clone()
    }
}

impl Streams for MemoryStreams {
    fn open(&self) -> BoxFuture<'_, Result<Channel, TransportError>> {
        let opened = (self.dialer.open)();
        Box::pin(async move {
            let stream = opened.map_err(|e| TransportError::Connect {
                addr: self.dialer.name.clone(),
                message: e.to_string(),
            })?;
            let (read, write) = tokio::io::split(stream);
            Ok(Channel::from_halves(read, write, self.max_response))
        })
    }
}
