//! Reading and writing whole frames on an async byte stream.

use std::{io, time::Duration};

use bytes::BytesMut;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter},
    sync::mpsc,
};

use super::receive_buffers::ReceiveBuffers;
use crate::protocol::{
    CHUNK_FIXED_LEN, EncodedFrame, Frame, HEADER_LEN, Header, Kind, ProtocolError, decode_header,
    decode_payload,
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
    let header = read_header(r, first, max_payload).await?;
    let len = header.payload_len as usize;
    let mut payload = BytesMut::with_capacity(len);
    read_payload(r, &mut payload, len, None).await?;
    Ok(decode_payload(&header, payload.freeze())?)
}

async fn read_header<R: AsyncRead + Unpin>(
    r: &mut R,
    first: u8,
    max_payload: u32,
) -> Result<Header, ReadError> {
    let mut head = [0u8; HEADER_LEN];
    head[0] = first;
    r.read_exact(&mut head[1..]).await?;
    Ok(decode_header(&head, max_payload)?)
}

/// Reads `len` bytes into `payload` (empty, room for `len`), each read as large as the stream
/// gives. With `crc_from`, every byte from that offset on is fed to the CRC-32C as it lands,
/// while it is still in the cache the socket copy left it in; returns that CRC.
async fn read_payload<R: AsyncRead + Unpin>(
    r: &mut R,
    payload: &mut BytesMut,
    len: usize,
    crc_from: Option<usize>,
) -> Result<u32, ReadError> {
    let mut crc = 0;
    let mut limited = r.take(len as u64);
    while payload.len() < len {
        let before = payload.len();
        if limited.read_buf(payload).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        if let Some(from) = crc_from.filter(|&from| payload.len() > from) {
            crc = crc32c::crc32c_append(crc, &payload[before.max(from)..]);
        }
    }
    Ok(crc)
}

/// A response frame, and for a chunk the CRC-32C of its data as the reader computed it.
#[derive(Debug)]
pub struct Response {
    /// The frame.
    pub frame: Frame,
    /// For a [`crate::protocol::Message::Chunk`], the CRC-32C of its `data`, computed as the
    /// bytes arrived; `None` for every other message.
    pub data_crc: Option<u32>,
}

/// Reads one response frame as [`read_frame`] does, into a buffer from `buffers`. A chunk's
/// data is checksummed in the same pass as it is read (see [`Response::data_crc`]).
pub async fn read_response<R: AsyncRead + Unpin>(
    r: &mut R,
    max_payload: u32,
    buffers: &ReceiveBuffers,
) -> Result<Option<Response>, ReadError> {
    let Some(first) = read_first_byte(r).await? else {
        return Ok(None);
    };
    let header = read_header(r, first, max_payload).await?;
    let len = header.payload_len as usize;
    let is_chunk = header.kind == Kind::Chunk && len >= CHUNK_FIXED_LEN;
    let mut payload = buffers.take(len);
    let crc = read_payload(r, &mut payload, len, is_chunk.then_some(CHUNK_FIXED_LEN)).await?;
    let frame = decode_payload(&header, buffers.share(payload))?;
    Ok(Some(Response {
        frame,
        data_crc: is_chunk.then_some(crc),
    }))
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

#[cfg(test)]
mod tests {
    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    use bytes::Bytes;
    use tokio::io::ReadBuf;

    use super::*;
    use crate::protocol::{Message, encode};

    /// Hands out `bytes` at most `step` at a time, as a socket might.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self
                .step
                .min(buf.remaining())
                .min(self.bytes.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.bytes[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    fn wire(messages: &[Message]) -> Vec<u8> {
        let mut out = Vec::new();
        for (id, m) in messages.iter().enumerate() {
            let frame = encode(id as u64 + 1, m).expect("encodes");
            out.extend_from_slice(&frame.head);
            out.extend_from_slice(&frame.data);
        }
        out
    }

    fn chunk(data: Bytes, crc32c: u32) -> Message {
        Message::Chunk {
            file: 2,
            offset: 4096,
            crc32c,
            throttled_micros: 0,
            data,
        }
    }

    fn next(read: Result<Option<Response>, ReadError>) -> Response {
        read.expect("reads").expect("a frame, not the end")
    }

    fn data(len: usize) -> Bytes {
        (0..len)
            .map(|i| (i * 31 % 251) as u8)
            .collect::<Vec<_>>()
            .into()
    }

    #[tokio::test]
    async fn a_chunk_is_checksummed_as_it_arrives_however_the_reads_fall() {
        let buffers = ReceiveBuffers::new();
        for len in [0, 1, 19, 4096, 100_000, 1 << 20] {
            let bytes = data(len);
            let crc = crc32c::crc32c(&bytes);
            for step in [1, 7, 20, 21, 4093, 65_536, 1 << 20] {
                if len > 100_000 && step < 4093 {
                    continue; // a byte at a time through a MiB proves nothing more
                }
                let mut r = Trickle {
                    bytes: wire(&[chunk(bytes.clone(), crc), Message::Ping { nonce: 9 }]),
                    at: 0,
                    step,
                };
                let first = next(read_response(&mut r, 2 << 20, &buffers).await);
                assert_eq!(first.data_crc, Some(crc), "len {len}, step {step}");
                assert_eq!(first.frame.message, chunk(bytes.clone(), crc));
                let second = next(read_response(&mut r, 2 << 20, &buffers).await);
                assert_eq!(second.frame.message, Message::Ping { nonce: 9 });
                assert_eq!(second.data_crc, None, "only a chunk has a data CRC");
                let end = read_response(&mut r, 2 << 20, &buffers).await;
                assert!(matches!(end, Ok(None)), "a clean end: {end:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_corrupted_byte_gives_a_crc_that_differs_from_the_leaders() {
        let bytes = data(300_000);
        let claimed = crc32c::crc32c(&bytes);
        let mut raw = wire(&[chunk(bytes, claimed)]);
        for at in [HEADER_LEN + CHUNK_FIXED_LEN, raw.len() / 2, raw.len() - 1] {
            let mut wrong = raw.clone();
            wrong[at] ^= 0x10;
            let mut r = Trickle {
                bytes: wrong,
                at: 0,
                step: 65_536,
            };
            let got = next(read_response(&mut r, 1 << 20, &ReceiveBuffers::new()).await);
            assert_ne!(
                got.data_crc,
                Some(claimed),
                "a flip at byte {at} went unseen"
            );
        }
        raw.truncate(raw.len() - 1);
        let mut r = Trickle {
            bytes: raw,
            at: 0,
            step: 65_536,
        };
        let cut = read_response(&mut r, 1 << 20, &ReceiveBuffers::new()).await;
        assert!(matches!(cut, Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof));
    }

    #[tokio::test]
    async fn a_chunk_dropped_after_its_write_lends_its_buffer_to_the_next() {
        let buffers = ReceiveBuffers::new();
        let bytes = data(1 << 20);
        let crc = crc32c::crc32c(&bytes);
        let mut r = Trickle {
            bytes: wire(&[chunk(bytes.clone(), crc), chunk(bytes, crc)]),
            at: 0,
            step: 1 << 20,
        };
        let read_data = |m: Message| match m {
            Message::Chunk { data, .. } => data,
            other => panic!("not a chunk: {other:?}"),
        };
        let first = next(read_response(&mut r, 2 << 20, &buffers).await);
        let first = read_data(first.frame.message);
        let at = first.as_ptr();
        drop(first);
        assert_eq!(buffers.idle().0, 1);
        let second = next(read_response(&mut r, 2 << 20, &buffers).await);
        let second = read_data(second.frame.message);
        assert_eq!(
            second.as_ptr(),
            at,
            "the second chunk reuses the first's buffer"
        );
        assert_eq!(crc32c::crc32c(&second), crc);
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_before_any_buffer_is_taken() {
        let mut r = Trickle {
            bytes: wire(&[chunk(data(4096), 0)]),
            at: 0,
            step: 4096,
        };
        let refused = read_response(&mut r, 1024, &ReceiveBuffers::new()).await;
        assert!(matches!(refused, Err(ReadError::Protocol(_))));
    }
}
