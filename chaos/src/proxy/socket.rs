//! The two ends of a relayed connection as the relay sees them: TCP sockets for the proxy,
//! in-memory ends for the simulator ([`crate::sim`]).
//!
//! The relay (`connection.rs`, `pipe.rs`) needs only these operations, all through a shared
//! reference: the pipes of both directions hold each end, one reading it and the other writing
//! it. How an end resets or closes is the end's business; when is the relay's.

use std::{future::Future, io, net::Shutdown, time::Duration};

use bytes::BytesMut;
use socket2::SockRef;
use tokio::net::TcpStream;

/// One end of a relayed connection.
pub(crate) trait Socket: Send + Sync + 'static {
    /// The most bytes the relay reads from it at a time (and keeps ready per direction).
    const READ_SIZE: usize;

    /// Appends what is ready to `buf` (at least one byte, waiting if need be); 0 at end of
    /// stream.
    fn read_buf(&self, buf: &mut BytesMut) -> impl Future<Output = io::Result<usize>> + Send;

    /// Writes all of `data`.
    fn write_all(&self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send;

    /// Passes a close of the other side on: no more writes (FIN).
    fn shutdown_write(&self);

    /// Ends the connection so the peer sees a reset (RST), at the latest when dropped.
    fn reset(&self);

    /// Ends the connection so the peer sees it closed (FIN), at the latest when dropped.
    fn close(&self);

    /// The TCP socket under it, for the zero-copy path.
    #[cfg(target_os = "linux")]
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }
}

impl Socket for TcpStream {
    const READ_SIZE: usize = 256 << 10;

    async fn read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            self.readable().await?;
            match self.try_read_buf(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            self.writable().await?;
            match self.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn shutdown_write(&self) {
        let _ = SockRef::from(self).shutdown(Shutdown::Write);
    }

    /// `SO_LINGER(0)`: the close when the socket is dropped sends RST, not FIN.
    fn reset(&self) {
        let _ = SockRef::from(self).set_linger(Some(Duration::ZERO));
    }

    fn close(&self) {
        let _ = SockRef::from(self).shutdown(Shutdown::Both);
    }

    #[cfg(target_os = "linux")]
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}
