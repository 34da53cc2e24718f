//! In-memory connection ends that behave like TCP sockets where the faults can tell.
//!
//! A *hop* joins a user's [`SimStream`] to the relay's end of it: two bounded byte buffers, one
//! per direction, behind one lock, woken by wakers (no polling). A simulated connection is two
//! hops, client ⇄ relay ⇄ server, and the relay between them is the TCP proxy's own
//! (`proxy/connection.rs`, `proxy/pipe.rs`). What the ends show, as a kernel would:
//!
//! - a full buffer blocks its writer (backpressure: a stalled relay stops a sender);
//! - a half-close (`shutdown`) is an EOF for the reader once it has read what was sent;
//! - a reset fails every read, write and shutdown with `ConnectionReset` at once, and what was
//!   buffered is lost (a RST flushes the queues);
//! - a closed or dropped end makes the other end's writes fail with `BrokenPipe`, and its
//!   reads reach EOF once drained.

use std::{
    future::poll_fn,
    io,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::proxy::socket::Socket;

/// Bytes one direction of a hop holds before its writer blocks: a socket buffer.
pub const BUFFER: usize = 64 << 10;

/// One direction of a hop.
#[derive(Debug, Default)]
struct Half {
    buf: BytesMut,
    /// The writer is done (FIN): the reader gets EOF once `buf` is empty.
    fin: bool,
    /// The reader is gone: writes fail.
    gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

fn park(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}

fn wake(slot: &mut Option<Waker>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}

fn reset_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection reset (simulated)",
    )
}

impl Half {
    /// Hands up to `max` buffered bytes to `take`; 0 at EOF.
    fn poll_read(
        &mut self,
        reset: bool,
        cx: &Context<'_>,
        max: usize,
        take: impl FnOnce(&[u8]),
    ) -> Poll<io::Result<usize>> {
        if reset {
            return Poll::Ready(Err(reset_error()));
        }
        if max == 0 {
            return Poll::Ready(Ok(0));
        }
        if !self.buf.is_empty() {
            let n = self.buf.len().min(max);
            take(&self.buf[..n]);
            self.buf.advance(n);
            wake(&mut self.writer);
            return Poll::Ready(Ok(n));
        }
        if self.fin {
            return Poll::Ready(Ok(0));
        }
        park(&mut self.reader, cx);
        Poll::Pending
    }

    fn poll_write(
        &mut self,
        reset: bool,
        cx: &Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if reset {
            return Poll::Ready(Err(reset_error()));
        }
        if self.gone || self.fin {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "connection closed (simulated)",
            )));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = BUFFER.saturating_sub(self.buf.len());
        if room == 0 {
            park(&mut self.writer, cx);
            return Poll::Pending;
        }
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        wake(&mut self.reader);
        Poll::Ready(Ok(n))
    }

    /// The writer is done.
    fn finish(&mut self) {
        self.fin = true;
        wake(&mut self.reader);
    }

    /// The reader is gone.
    fn abandon(&mut self) {
        self.gone = true;
        self.buf = BytesMut::new();
        wake(&mut self.writer);
    }
}

#[derive(Debug, Default)]
struct Hop {
    /// Written by the user, read by the relay.
    to_relay: Half,
    /// Written by the relay, read by the user.
    to_user: Half,
    /// The relay reset the connection.
    reset: bool,
}

impl Hop {
    fn reset(&mut self) {
        self.reset = true;
        for half in [&mut self.to_relay, &mut self.to_user] {
            half.buf = BytesMut::new();
            wake(&mut half.reader);
            wake(&mut half.writer);
        }
    }
}

type Shared = Arc<Mutex<Hop>>;

fn lock(hop: &Shared) -> MutexGuard<'_, Hop> {
    hop.lock().unwrap_or_else(|p| p.into_inner())
}

/// A new hop: the user's end and the relay's end.
pub(crate) fn hop() -> (SimStream, RelayEnd) {
    let hop = Shared::default();
    (SimStream { hop: hop.clone() }, RelayEnd { hop })
}

/// One end of a simulated connection (the client's or the server's), like a `TcpStream`:
/// [`AsyncRead`] + [`AsyncWrite`], with backpressure, half-close, and resets that fail reads and
/// writes with [`io::ErrorKind::ConnectionReset`]. Dropping it closes it.
#[derive(Debug)]
pub struct SimStream {
    hop: Shared,
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut hop = lock(&self.hop);
        let hop = &mut *hop;
        hop.to_user
            .poll_read(hop.reset, cx, buf.remaining(), |bytes| buf.put_slice(bytes))
            .map_ok(|_| ())
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut hop = lock(&self.hop);
        let hop = &mut *hop;
        hop.to_relay.poll_write(hop.reset, cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if lock(&self.hop).reset {
            return Poll::Ready(Err(reset_error()));
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut hop = lock(&self.hop);
        if hop.reset {
            return Poll::Ready(Err(reset_error()));
        }
        hop.to_relay.finish();
        Poll::Ready(Ok(()))
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        let mut hop = lock(&self.hop);
        hop.to_relay.finish();
        hop.to_user.abandon();
    }
}

/// The relay's end of a hop.
#[derive(Debug)]
pub(crate) struct RelayEnd {
    hop: Shared,
}

impl Socket for RelayEnd {
    const READ_SIZE: usize = BUFFER;

    async fn read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        poll_fn(|cx| {
            let mut hop = lock(&self.hop);
            let hop = &mut *hop;
            hop.to_relay
                .poll_read(hop.reset, cx, Self::READ_SIZE, |bytes| {
                    buf.extend_from_slice(bytes)
                })
        })
        .await
    }

    async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = poll_fn(|cx| {
                let mut hop = lock(&self.hop);
                let hop = &mut *hop;
                hop.to_user.poll_write(hop.reset, cx, data)
            })
            .await?;
            data = &data[n..];
        }
        Ok(())
    }

    fn shutdown_write(&self) {
        lock(&self.hop).to_user.finish();
    }

    fn reset(&self) {
        lock(&self.hop).reset();
    }

    fn close(&self) {
        let mut hop = lock(&self.hop);
        hop.to_user.finish();
        hop.to_relay.abandon();
    }
}

impl Drop for RelayEnd {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn a_sim_stream_is_a_stream_like_any_other() {
        fn stream<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static>() {}
        stream::<SimStream>();
    }

    #[tokio::test]
    async fn bytes_flow_both_ways_and_a_half_close_is_an_eof() {
        let (mut user, relay) = hop();
        user.write_all(b"hello").await.expect("write");
        user.shutdown().await.expect("shutdown");
        let mut got = BytesMut::new();
        assert_eq!(relay.read_buf(&mut got).await.expect("read"), 5);
        assert_eq!(relay.read_buf(&mut got).await.expect("eof"), 0);
        assert_eq!(&got[..], b"hello");
        relay.write_all(b"back").await.expect("write");
        relay.shutdown_write();
        let mut back = Vec::new();
        user.read_to_end(&mut back).await.expect("read");
        assert_eq!(back, b"back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_buffer_blocks_the_writer() {
        let (mut user, relay) = hop();
        let big = vec![7u8; BUFFER + 1];
        let blocked =
            tokio::time::timeout(std::time::Duration::from_secs(10), user.write_all(&big)).await;
        assert!(blocked.is_err(), "the last byte waits for the reader");
        let mut got = BytesMut::new();
        assert_eq!(relay.read_buf(&mut got).await.expect("read"), BUFFER);
    }

    #[tokio::test]
    async fn a_reset_fails_reads_and_writes_and_a_close_breaks_the_pipe() {
        let (mut user, relay) = hop();
        relay.write_all(b"lost").await.expect("write");
        relay.reset();
        let mut buf = [0u8; 8];
        let kind = |r: io::Result<usize>| r.expect_err("error").kind();
        assert_eq!(
            kind(user.read(&mut buf).await),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(kind(user.write(b"x").await), io::ErrorKind::ConnectionReset);

        let (mut user, relay) = hop();
        relay.write_all(b"kept").await.expect("write");
        drop(relay);
        assert_eq!(kind(user.write(b"x").await), io::ErrorKind::BrokenPipe);
        let mut got = Vec::new();
        user.read_to_end(&mut got).await.expect("drained, then EOF");
        assert_eq!(got, b"kept");

        let (user, relay) = hop();
        drop(user);
        let mut got = BytesMut::new();
        assert_eq!(relay.read_buf(&mut got).await.expect("eof"), 0);
        let err = relay.write_all(b"x").await.expect_err("gone");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
