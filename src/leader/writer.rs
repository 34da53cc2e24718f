//! The writer of one stream's responses: frames from a queue, and a chunk's bytes either from
//! memory or, on a plain TCP socket, straight from the page cache with `sendfile(2)`.
//!
//! On loopback into tmpfs the leader spent most of its CPU moving bytes it never looks at: the
//! `pread` copy into a buffer (`_copy_to_iter`, 16 %), zeroing that buffer (10 %), checksumming
//! it (7 %) and the `send` copy out of it (`_copy_from_iter`, 9 %). `sendfile` hands the socket
//! the file's pages instead, and the chunk's CRC-32C comes from the block checksums taken when
//! the snapshot was loaded ([`crate::index::BlockCrcs`]), so the bytes are never read into user
//! space. It is used for followers on other hosts only ([`super::handler::sendfile_pays`] says
//! why). The follower checks every chunk against that checksum and every file against its
//! whole checksum as before, so what it accepts is verified exactly as much: bytes corrupted on
//! the way, or a leader file changed since it was loaded, fail the check.
//!
//! A frame's head is written (and flushed) before its file bytes, so the two are never
//! interleaved with another frame. A `sendfile` that fails or comes up short (the file shrank)
//! leaves a frame half-written: the framing is lost, so it is an error that closes the stream.

use std::{fs::File, io, os::fd::AsRawFd, sync::Arc};

use tokio::{
    io::Interest,
    io::{AsyncWrite, AsyncWriteExt, BufWriter, WriteHalf},
    net::{TcpStream, tcp::OwnedWriteHalf},
    sync::{OwnedSemaphorePermit, mpsc},
};

use crate::{protocol::EncodedFrame, transport::frame_io::write_frame};

/// A stream the leader writes its responses to.
pub(crate) trait ResponseSink: AsyncWrite + Unpin + Send + 'static {
    /// The TCP socket that is the whole stream, if chunk bytes may go to it by `sendfile`
    /// (not under TLS, not a QUIC stream, not an in-memory pipe).
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }
}

impl ResponseSink for OwnedWriteHalf {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self.as_ref())
    }
}

/// TLS sessions and in-memory streams, split: their bytes must pass through user space.
impl<T: AsyncWrite + Send + 'static> ResponseSink for WriteHalf<T> {}

impl ResponseSink for quinn::SendStream {}

/// Bytes of an open file that follow a frame's head on the wire.
#[derive(Debug)]
pub(crate) struct FileRange {
    /// The file (the snapshot's handle).
    pub(crate) file: Arc<File>,
    /// Where the bytes start.
    pub(crate) offset: u64,
    /// How many.
    pub(crate) len: usize,
}

/// A response on its way to the socket, holding the buffer budget its bytes use until written.
pub(crate) struct Response {
    /// The frame; with `from_file`, only its head (its length counts the file's bytes).
    pub(crate) frame: EncodedFrame,
    /// The frame's bulk bytes, sent from the file.
    pub(crate) from_file: Option<FileRange>,
    /// Released when the response has been written.
    pub(crate) _budget: Option<OwnedSemaphorePermit>,
}

/// Writes every response from `queue` until it closes, then shuts the stream down. Frames are
/// buffered and flushed whenever the queue runs dry, so a burst of small frames goes out in few
/// syscalls. A response is dropped (its budget released) once written. Returns the first error.
pub(crate) async fn write_responses<W: ResponseSink>(
    write: W,
    mut queue: mpsc::Receiver<Response>,
) -> io::Result<()> {
    let mut write = BufWriter::with_capacity(64 << 10, write);
    while let Some(response) = queue.recv().await {
        write_response(&mut write, response).await?;
        while let Ok(next) = queue.try_recv() {
            write_response(&mut write, next).await?;
        }
        write.flush().await?;
    }
    write.shutdown().await
}

async fn write_response<W: ResponseSink>(
    write: &mut BufWriter<W>,
    response: Response,
) -> io::Result<()> {
    write_frame(write, &response.frame).await?;
    if let Some(range) = &response.from_file {
        write.flush().await?;
        let Some(tcp) = write.get_ref().tcp() else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "file bytes queued for a stream that is not a TCP socket",
            ));
        };
        sendfile_all(tcp, range).await?;
    }
    Ok(())
}

/// Sends all of `range` on `tcp`, waiting for room in its send buffer as a write would.
async fn sendfile_all(tcp: &TcpStream, range: &FileRange) -> io::Result<()> {
    let mut offset = range.offset;
    let mut left = range.len;
    while left > 0 {
        tcp.writable().await?;
        match tcp.try_io(Interest::WRITABLE, || {
            sendfile(tcp, &range.file, &mut offset, left)
        }) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended inside a chunk (it shrank since it was loaded)",
                ));
            }
            Ok(n) => left -= n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One `sendfile(2)` call: up to `len` bytes of `file` from `*offset` to `socket`; advances
/// `*offset` by what was sent. The standard library has no form of it and the crate takes no
/// dependency for one call (as for `statvfs` in `index::space`).
#[allow(unsafe_code)]
fn sendfile(socket: &TcpStream, file: &File, offset: &mut u64, len: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(*offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset past off_t"))?;
    // Linux sends at most 0x7ffff000 bytes per call anyway.
    let len = len.min(0x7fff_f000);
    // SAFETY: both descriptors are open for the whole call (borrowed from owners that outlive
    // it), `off` is a valid, writable off_t, and sendfile reads no memory of ours besides it.
    let sent = unsafe { libc::sendfile(socket.as_raw_fd(), file.as_raw_fd(), &mut off, len) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    *offset = off as u64;
    Ok(sent as usize)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use bytes::Bytes;
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::protocol::{Message, decode_frame, encode, encode_followed_by};

    #[tokio::test]
    async fn frames_from_memory_and_from_a_file_arrive_whole_and_in_order() {
        let mut tmp = tempfile::tempfile().expect("tmp");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        tmp.write_all(&data).expect("write");
        let file = Arc::new(tmp);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let mut all = Vec::new();
            s.read_to_end(&mut all).await.expect("read");
            all
        });
        let (server, _) = listener.accept().await.expect("accept");
        let (_read, write) = server.into_split();
        let (tx, rx) = mpsc::channel(8);
        let writer = tokio::spawn(write_responses(write, rx));
        let chunk = |offset: u64, data: Bytes| Message::Chunk {
            file: 0,
            offset,
            crc32c: 0,
            throttled_micros: 0,
            data,
        };
        let (offset, len) = (1000u64, 2_500_000usize);
        let head = encode_followed_by(1, &chunk(offset, Bytes::new()), len as u32).expect("head");
        tx.send(Response {
            frame: head,
            from_file: Some(FileRange {
                file: file.clone(),
                offset,
                len,
            }),
            _budget: None,
        })
        .await
        .expect("queue");
        let pong = encode(2, &Message::Pong { nonce: 7 }).expect("pong");
        tx.send(Response {
            frame: pong,
            from_file: None,
            _budget: None,
        })
        .await
        .expect("queue");
        drop(tx);
        writer.await.expect("join").expect("written");
        let mut wire = bytes::BytesMut::from(&client.await.expect("join")[..]);
        let first = decode_frame(&mut wire, 4 << 20)
            .expect("ok")
            .expect("whole");
        let expected = Bytes::copy_from_slice(&data[offset as usize..offset as usize + len]);
        assert_eq!(first.message, chunk(offset, expected));
        let second = decode_frame(&mut wire, 4 << 20)
            .expect("ok")
            .expect("whole");
        assert_eq!(second.message, Message::Pong { nonce: 7 });
        assert!(wire.is_empty());
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_range_is_an_error_not_a_short_frame() {
        let mut tmp = tempfile::tempfile().expect("tmp");
        tmp.write_all(b"short").expect("write");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (_read, write) = server.into_split();
        let (tx, rx) = mpsc::channel(1);
        let range = FileRange {
            file: Arc::new(tmp),
            offset: 0,
            len: 100,
        };
        let head = encode(1, &Message::Pong { nonce: 0 }).expect("frame");
        tx.send(Response {
            frame: head,
            from_file: Some(range),
            _budget: None,
        })
        .await
        .expect("queue");
        drop(tx);
        let err = write_responses(write, rx).await.expect_err("short file");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
