//! TCP listeners with a backlog sized for fan-out.
//!
//! `std::net::TcpListener::bind` listens with a backlog of 128 (tokio's `bind`, 1024). Thirty-two
//! followers of six channels each connect at once, 192 SYNs, and past the backlog Linux drops
//! them: those followers start a second late (the SYN retransmission), which is what a fan-out
//! trial would then measure. Every rrbench listener uses [`LISTEN_BACKLOG`] instead (the kernel
//! caps it at `net.core.somaxconn`).

use std::{
    io,
    net::{SocketAddr, TcpListener, ToSocketAddrs},
};

use socket2::{Domain, Socket, Type};

/// Connections queued before they are accepted.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Binds the first address `addr` resolves to and listens with [`LISTEN_BACKLOG`]; the
/// listener is non-blocking, ready for tokio's `TcpListener::from_std`.
pub fn tcp_listener(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolves to nothing",
    );
    for addr in addr.to_socket_addrs()? {
        match listen_on(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // As std does on Unix: a restarted leader may bind while old connections are in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listens_on_a_free_port_and_accepts() {
        let listener = tcp_listener("127.0.0.1:0").expect("listen");
        let addr = listener.local_addr().expect("addr");
        let _client = std::net::TcpStream::connect(addr).expect("connect");
        assert!(tcp_listener("no-such-host.invalid:1").is_err());
    }
}
