//! Reading and writing whole frames on an async byte stream.

use std::{io, time::Duration};

use bytes::BytesMut;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter},
    sync::mpsc,
};

use crate::protocol::{
    EncodedFrame, Frame, HEADER_LEN, ProtocolError, decode_header, decode_payload,
};

/// A frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The stream failed or ended inside a frame.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The bytes are not a valid frame; the stream's framing is lost.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

/// Reads one frame. `Ok(None)` is a clean end of stream between frames. The payload length is
/// checked against `max_payload` before the payload buffer is allocated.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max_payload: u32,
) -> Result<Option<Frame>, ReadError> {
    let Some(first) = read_first_byte(r).await? else {
        return Ok(None);
    };
    read_rest(r, first, max_payload).await.map(Some)
}

/// As [`read_frame`], but once a frame's first byte has arrived the whole frame must arrive
/// within `within`: waiting for a frame is free, sending one a byte a second is not.
pub async fn read_frame_within<R: AsyncRead + Unpin>(
    r: &mut R,
    max_payload: u32,
    within: Duration,
) -> Result<Option<Frame>, ReadError> {
    let Some(first) = read_first_byte(r).await? else {
        return Ok(None);
    };
    match tokio::time::timeout(within, read_rest(r, first, max_payload)).await {
        Ok(frame) => frame.map(Some),
        Err(_) => Err(ReadError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("a frame began but did not arrive whole within {within:?}"),
        ))),
    }
}

async fn read_first_byte<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<u8>> {
    let mut first = [0u8; 1];
    Ok((r.read(&mut first).await? == 1).then_some(first[0]))
}

async fn read_rest<R: AsyncRead + Unpin>(
    r: &mut R,
    first: u8,
    max_payload: u32,
) -> Result<Frame, ReadError> {
    let mut head = [0u8; HEADER_LEN];
    head[0] = first;
    r.read_exact(&mut head[1..]).await?;
    let header = decode_header(&head, max_payload)?;
    let len = header.payload_len as usize;
    let mut payload = BytesMut::with_capacity(len);
    let mut limited = r.take(len as u64);
    while payload.len() < len {
        if limited.read_buf(&mut payload).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(decode_payload(&header, payload.freeze())?)
}

/// Writes one frame (not flushed: callers batch small frames and flush when idle).
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &EncodedFrame) -> io::Result<()> {
    w.write_all(&frame.head).await?;
    if !frame.data.is_empty() {
        w.write_all(&frame.data).await?;
    }
    Ok(())
}

/// Frames waiting to be written: the follower's unbounded queue of requests, or the leader's
/// bounded queue of responses, each holding the memory budget it uses until it is written.
pub trait Outbox {
    /// What the queue holds.
    type Item: AsRef<EncodedFrame>;
    /// The next item, waiting for one; `None` once every sender is gone.
    fn recv(&mut self) -> impl std::future::Future<Output = Option<Self::Item>> + Send;
    /// The next item if one is ready.
    fn try_recv(&mut self) -> Option<Self::Item>;
}

impl Outbox for mpsc::UnboundedReceiver<EncodedFrame> {
    type Item = EncodedFrame;
    fn recv(&mut self) -> impl std::future::Future<Output = Option<EncodedFrame>> + Send {
        mpsc::UnboundedReceiver::recv(self)
    }
    fn try_recv(&mut self) -> Option<EncodedFrame> {
        mpsc::UnboundedReceiver::try_recv(self).ok()
    }
}

impl<T: AsRef<EncodedFrame> + Send> Outbox for mpsc::Receiver<T> {
    type Item = T;
    fn recv(&mut self) -> impl std::future::Future<Output = Option<T>> + Send {
        mpsc::Receiver::recv(self)
    }
    fn try_recv(&mut self) -> Option<T> {
        mpsc::Receiver::try_recv(self).ok()
    }
}

/// Writes every frame from `queue` until it closes, then shuts the stream down. Frames are
/// buffered and flushed whenever the queue runs dry, so a burst of small frames goes out in few
/// syscalls without waiting for more. An item is dropped (its budget released) once written.
/// Returns the first write error.
pub async fn write_queued<W: AsyncWrite + Unpin>(
    write: W,
    mut queue: impl Outbox,
) -> io::Result<()> {
    let mut write = BufWriter::with_capacity(64 << 10, write);
    while let Some(item) = queue.recv().await {
        write_frame(&mut write, item.as_ref()).await?;
        drop(item);
        while let Some(next) = queue.try_recv() {
            write_frame(&mut write, next.as_ref()).await?;
        }
        write.flush().await?;
    }
    write.shutdown().await
}
