//! Moving frames between follower and leader, over TCP or QUIC.
//!
//! [`frame_io`] reads and writes [`crate::protocol`] frames on any async byte stream, for both
//! sides. The rest is the follower's: a [`channel::Channel`] is one TCP connection or one QUIC
//! stream on which many requests are in flight at once, each matched to its response by request
//! id; a [`connection::Connection`] is the channels of a connection profile used as one, with
//! its pings and its reaction to a lost channel; [`socket`] holds the TCP liveness options and
//! [`quic`] the QUIC endpoints, [`tls`] TLS over TCP and [`certs`] the certificates both use
//! (for the leader too). Timeouts are the caller's:
//! a request future may simply be dropped. Serving requests is the leader's
//! ([`crate::leader`]); what a frame means is the protocol's.

pub mod certs;
pub mod channel;
pub mod connection;
pub mod dial;
pub mod frame_io;
pub mod negotiated;
pub mod quic;
pub mod receive_buffers;
pub mod socket;
pub mod tls;

/// The old path of the channel and its socket options (this module was `tcp.rs`, though its
/// channels also ride QUIC streams). Kept for the follower's code; use [`channel`] and
/// [`socket`].
use std::{io, time::Duration};

use crate::protocol::{ErrorCode, Kind, ProtocolError};

/// Why a request on a channel failed. Cloneable: one broken connection fails every request that
/// was waiting on it with the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The connection could not be opened.
    #[error("cannot connect to {addr}: {message}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// The OS error.
        message: String,
    },
    /// The peer (or a middlebox) reset the connection: ECONNRESET, EPIPE.
    #[error("connection reset by peer")]
    Reset,
    /// The peer closed the connection.
    #[error("connection closed by peer (EOF)")]
    Eof,
    /// No response within the request's time limit.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// Another socket error.
    #[error("socket error: {0}")]
    Io(String),
    /// The peer sent bytes that do not decode.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The leader answered with an `Error` frame.
    #[error("leader refused the request ({code:?}): {message}")]
    Remote {
        /// The leader's error code.
        code: ErrorCode,
        /// The leader's message.
        message: String,
    },
    /// The leader answered with a message of the wrong kind.
    #[error("unexpected {0:?} in response")]
    Unexpected(Kind),
    /// Another channel of the same connection closed, and with it the whole connection.
    #[error("connection closed because channel {channel} failed: {cause}")]
    ChannelLost {
        /// The channel that failed first.
        channel: usize,
        /// Why it failed.
        cause: Box<TransportError>,
    },
    /// TLS refused: a certificate one side did not trust, or one side not speaking TLS. Not
    /// transient; the message says which and what fixes it, in one line.
    #[error("TLS: {0}")]
    Tls(String),
    /// A ping got no pong, and the channel not a single byte, in time; it was closed.
    #[error("no pong (and no byte) within {0:?}")]
    PingTimeout(Duration),
}

impl TransportError {
    /// The first failure behind this one (through channel losses).
    pub fn root(&self) -> &TransportError {
        match self {
            Self::ChannelLost { cause, .. } => cause.root(),
            other => other,
        }
    }
}

impl TransportError {
    /// Classifies a socket error: resets are told apart from a clean close and from other errors.
    pub fn from_io(e: &io::Error) -> Self {
        // A certificate refused (TLS 1.3: the leader refusing a client certificate shows after
        // the handshake) is final; any other TLS error (a record that does not decrypt, as a
        // corrupting path makes) is a broken connection like any other.
        if let Some(tls) = tls::rustls_error(e) {
            if tls::is_certificate_error(tls) {
                return Self::Tls(tls::describe(tls));
            }
            return Self::Io(format!("TLS: {tls}"));
        }
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Self::Reset,
            io::ErrorKind::UnexpectedEof => Self::Eof,
            _ => Self::Io(e.to_string()),
        }
    }
}
