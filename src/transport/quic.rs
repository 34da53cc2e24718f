//! QUIC (quinn) for both sides: endpoints, certificates, and the errors a user can act on.
//!
//! Mapping: one QUIC connection per follower connection, and one bidirectional stream per
//! channel of the connection profile (6 for `remote`), each carrying the same multiplexed frames
//! as a TCP channel. A stream per channel rather than per request keeps the protocol and the
//! leader's request handling byte-for-byte the same on both transports; QUIC still removes the
//! head-of-line blocking *between* channels (a lost packet stalls one stream, not the
//! connection), and with the default window of 5 requests round-robined over 6 channels each
//! stream carries about one chunk at a time, so a stream per request would change little.
//! Flow-control windows are raised so one stream can carry several 1 MiB chunks in flight.
//!
//! Packets: quinn starts at 1200-byte datagrams and by default searches no higher than 1452.
//! Each packet costs a header, an AEAD seal and open and its share of acknowledgements, so on a
//! path that carries larger datagrams (loopback's MTU is 65536, jumbo frames are 9000) both ends
//! advertise and search up to [`MAX_UDP_PAYLOAD`]; on a 1500-byte path the larger probes are lost
//! and the search settles where Ethernet allows. The UDP socket buffers are raised so a burst of
//! a congestion window is not dropped by the receiving socket.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use quinn::{
    ClientConfig, Endpoint, EndpointConfig, IdleTimeout, MtuDiscoveryConfig, ServerConfig,
    TransportConfig, VarInt, congestion,
};

pub use super::certs::{
    CertError, CertificatePaths, DiagnosingVerifier, TlsClient, generate_self_signed,
    read_certificates,
};
use super::{TransportError, certs};
use crate::vocabulary::CongestionControl;

/// ALPN protocol id of rrbench's recovery protocol.
const ALPN: &[u8] = b"rrbench/1";

/// The largest UDP payload either end advertises and MTU discovery searches up to. quinn sends
/// up to 10 datagrams of the path's MTU in one GSO batch, and the kernel refuses a batch over
/// 64 KiB (the send fails and quinn drops it), so 10 of these fit in one.
pub const MAX_UDP_PAYLOAD: u16 = 6500;

/// UDP socket send and receive buffers asked for (the kernel caps them at `net.core.*mem_max`).
const SOCKET_BUFFER: usize = 8 << 20;

/// Liveness of a QUIC connection (the transport's own, not application pings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuicLiveness {
    /// Close the connection after this long without a packet from the peer.
    pub idle_timeout: Duration,
    /// Send a PING frame this often when nothing else is sent; `None` is off.
    pub keep_alive: Option<Duration>,
}

impl Default for QuicLiveness {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keep_alive: None,
        }
    }
}

/// QUIC set-up failed before any connection.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// A certificate, a key or the TLS configuration is unusable.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// TLS rejected the configuration (a key that does not match its certificate...).
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The UDP socket could not be bound.
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An idle timeout out of QUIC's range.
    #[error("quic idle timeout {0:?} is out of range (1ms to about 2^62 ms)")]
    IdleTimeout(Duration),
}

fn transport(
    liveness: &QuicLiveness,
    congestion: CongestionControl,
) -> Result<TransportConfig, QuicError> {
    let mut t = TransportConfig::default();
    match congestion {
        // quinn's default is CUBIC.
        CongestionControl::System => {}
        CongestionControl::Cubic => {
            t.congestion_controller_factory(Arc::new(congestion::CubicConfig::default()));
        }
        CongestionControl::Bbr => {
            t.congestion_controller_factory(Arc::new(congestion::BbrConfig::default()));
        }
        CongestionControl::Reno => {
            t.congestion_controller_factory(Arc::new(congestion::NewRenoConfig::default()));
        }
    }
    t.max_idle_timeout(Some(
        IdleTimeout::try_from(liveness.idle_timeout)
            .map_err(|_| QuicError::IdleTimeout(liveness.idle_timeout))?,
    ));
    t.keep_alive_interval(liveness.keep_alive);
    // Several 1 MiB chunks in flight per stream, tens per connection, at WAN round trips.
    t.stream_receive_window(VarInt::from_u32(16 << 20));
    t.receive_window(VarInt::from_u32(128 << 20));
    t.send_window(128 << 20);
    t.max_concurrent_bidi_streams(VarInt::from_u32(64));
    let mut mtu = MtuDiscoveryConfig::default();
    mtu.upper_bound(MAX_UDP_PAYLOAD);
    t.mtu_discovery_config(Some(mtu));
    Ok(t)
}

fn endpoint_config() -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config
        .max_udp_payload_size(MAX_UDP_PAYLOAD)
        .expect("a payload size within QUIC's range");
    config
}

/// Larger socket buffers, best effort: a smaller one only costs throughput.
fn enlarge_buffers(socket: &std::net::UdpSocket) {
    let socket = socket2::SockRef::from(socket);
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
}

/// A leader's QUIC endpoint on `listen` with the given certificate.
pub fn server_endpoint(
    socket: std::net::UdpSocket,
    certificate: &CertificatePaths,
    liveness: &QuicLiveness,
    congestion: CongestionControl,
) -> Result<Endpoint, QuicError> {
    let listen = socket.local_addr().map_err(|source| QuicError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let mut tls = certs::server_config(certificate, None)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport(liveness, congestion)?));
    let bind_err = |source| QuicError::Bind {
        addr: listen,
        source,
    };
    socket.set_nonblocking(true).map_err(bind_err)?;
    enlarge_buffers(&socket);
    Endpoint::new(
        endpoint_config(),
        Some(config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(bind_err)
}

/// How a follower reaches a QUIC leader (the same as over TLS on TCP).
pub type QuicClient = TlsClient;

/// A client endpoint and its configuration, trusting only `client.ca`.
pub fn client_endpoint(
    client: &QuicClient,
    liveness: &QuicLiveness,
    peer: SocketAddr,
) -> Result<Endpoint, QuicError> {
    client_endpoint_diagnosed(client, liveness, peer).map(|(endpoint, _)| endpoint)
}

/// [`client_endpoint`], and its verifier, which explains a refused certificate
/// ([`connect_diagnosed`]).
pub fn client_endpoint_diagnosed(
    client: &QuicClient,
    liveness: &QuicLiveness,
    peer: SocketAddr,
) -> Result<(Endpoint, Arc<DiagnosingVerifier>), QuicError> {
    let (mut tls, verifier) = certs::client_config(client)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport(liveness, CongestionControl::System)?));
    let local: SocketAddr = if peer.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let bind_err = |source| QuicError::Bind {
        addr: local,
        source,
    };
    let socket = std::net::UdpSocket::bind(local).map_err(bind_err)?;
    socket.set_nonblocking(true).map_err(bind_err)?;
    enlarge_buffers(&socket);
    let mut endpoint = Endpoint::new(
        endpoint_config(),
        None,
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(bind_err)?;
    endpoint.set_default_client_config(config);
    Ok((endpoint, verifier))
}

/// Dials `addr` and completes the handshake. A certificate the follower does not trust is
/// refused with a message naming the flag that fixes it.
pub async fn connect(
    endpoint: &Endpoint,
    peer: SocketAddr,
    addr: &str,
    client: &QuicClient,
) -> Result<quinn::Connection, TransportError> {
    connect_diagnosed(endpoint, None, peer, addr, client).await
}

/// [`connect`]; a certificate `verifier` refused is described by its diagnosis, one line, and
/// the error is [`TransportError::Tls`] (not worth another attempt).
pub async fn connect_diagnosed(
    endpoint: &Endpoint,
    verifier: Option<&DiagnosingVerifier>,
    peer: SocketAddr,
    addr: &str,
    client: &QuicClient,
) -> Result<quinn::Connection, TransportError> {
    let connect_err = |message: String| TransportError::Connect {
        addr: addr.to_string(),
        message,
    };
    let name = client.server_name.clone().unwrap_or_else(|| host_of(addr));
    let connecting = endpoint
        .connect(peer, &name)
        .map_err(|e| connect_err(e.to_string()))?;
    connecting.await.map_err(|e| {
        if let Some(diagnosis) = verifier.and_then(DiagnosingVerifier::take_diagnosis) {
            return TransportError::Tls(format!("{addr}: {diagnosis}"));
        }
        let text = e.to_string();
        connect_err(if text.contains("UnknownIssuer") || text.contains("BadSignature") {
            format!(
                "the leader's certificate is not trusted ({text}); pass the leader's certificate \
                 or its CA with --ca FILE"
            )
        } else if text.contains("NotValidForName") || text.contains("not valid for name") {
            format!(
                "the leader's certificate is not valid for {name:?} ({text}); pass the name it \
                 was issued for with --server-name NAME"
            )
        } else {
            text
        })
    })
}

/// `host` of `host:port` (brackets of an IPv6 literal removed).
pub fn host_of(addr: &str) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("127.0.0.1:9443"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9443"), "::1");
        assert_eq!(host_of("leader.example:1"), "leader.example");
    }
}
