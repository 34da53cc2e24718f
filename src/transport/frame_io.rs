//! Reading and writing whole frames on an async byte stream.

use std::io;

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
    let mut head = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        let n = r.read(&mut head[filled..]).await?;
        if n == 0 {
            if filled == 0 {
                return Ok(None);
            }
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        filled += n;
    }
    let header = decode_header(&head, max_payload)?;
    let len = header.payload_len as usize;
    let mut payload = BytesMut::with_capacity(len);
    let mut limited = r.take(len as u64);
    while payload.len() < len {
        if limited.read_buf(&mut payload).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(Some(decode_payload(&header, payload.freeze())?))
}

/// Writes one frame (not flushed: callers batch small frames and flush when idle).
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &EncodedFrame) -> io::Result<()> {
    w.write_all(&frame.head).await?;
    if !frame.data.is_empty() {
        w.write_all(&frame.data).await?;
    }
    Ok(())
}

/// Writes every frame from `queue` until it closes, then shuts the stream down. Frames are
/// buffered and flushed whenever the queue runs dry, so a burst of small frames goes out in few
/// syscalls without waiting for more. Returns the first write error.
pub async fn write_queued<W: AsyncWrite + Unpin>(
    write: W,
    mut queue: mpsc::UnboundedReceiver<EncodedFrame>,
) -> io::Result<()> {
    let mut write = BufWriter::with_capacity(64 << 10, write);
    while let Some(frame) = queue.recv().await {
        write_frame(&mut write, &frame).await?;
        while let Ok(next) = queue.try_recv() {
            write_frame(&mut write, &next).await?;
        }
        write.flush().await?;
    }
    write.shutdown().await
}
