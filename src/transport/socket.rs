//! TCP socket options for liveness (keepalive, user timeout), as Elasticsearch's
//! `network.tcp.*` settings set them on each channel's socket (socket2). QUIC has its own
//! liveness ([`super::quic::QuicLiveness`]).

use tokio::net::TcpStream;

/// TCP socket options for liveness, set on each channel (socket2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// `network.tcp.keep_alive` with idle, interval and probe count; `None` leaves it off.
    pub keepalive: Option<Keepalive>,
    /// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged before the kernel gives up
    /// on the connection.
    pub user_timeout: Option<std::time::Duration>,
}

/// TCP keepalive timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// `network.tcp.keep_idle`: idle time before the first probe.
    pub idle: std::time::Duration,
    /// `network.tcp.keep_interval`: time between probes.
    pub interval: std::time::Duration,
    /// `network.tcp.keep_count`: unanswered probes before the connection is dropped.
    pub count: u32,
}

impl SocketOptions {
    /// Sets these options on a connected socket.
    pub(super) fn apply(&self, stream: &TcpStream) -> std::io::Result<()> {
        let socket = socket2::SockRef::from(stream);
        if let Some(k) = self.keepalive {
            let params = socket2::TcpKeepalive::new()
                .with_time(k.idle)
                .with_interval(k.interval)
                .with_retries(k.count);
            socket.set_tcp_keepalive(&params)?;
        }
        #[cfg(target_os = "linux")]
        if let Some(t) = self.user_timeout {
            socket.set_tcp_user_timeout(Some(t))?;
        }
        Ok(())
    }
}
