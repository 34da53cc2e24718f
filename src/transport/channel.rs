//! The follower's side of one channel (a TCP connection or a QUIC stream): many requests in
//! flight, matched by request id.
//!
//! A writer task drains an outgoing queue into a buffered socket and flushes whenever the queue
//! runs dry, so small requests are batched without adding latency. A reader task routes each
//! response to the request waiting for it. When the connection breaks, every waiting request gets
//! the same error: one lost connection fails all of its in-flight requests, as in Elasticsearch.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, BufReader, ReadBuf},
    net::TcpStream,
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

use super::{
    TransportError,
    frame_io::{ReadError, read_response, write_queued},
    negotiated::Negotiated,
    receive_buffers::ReceiveBuffers,
    socket::SocketOptions,
};
use crate::protocol::{EncodedFrame, Message, encode};

type Reply = oneshot::Sender<Result<Answer, TransportError>>;

/// A response, and for a chunk the CRC-32C of its data, computed as the bytes were read.
#[derive(Debug)]
pub struct Answer {
    /// The response.
    pub message: Message,
    /// For a [`Message::Chunk`], the CRC-32C of its `data` as received; `None` otherwise.
    pub data_crc: Option<u32>,
}

/// Requests waiting for a response, or the error that closed the connection.
struct Pending {
    waiting: HashMap<u64, Reply>,
    closed: Option<TransportError>,
    /// Tells watchers (a multi-channel connection) why this channel closed.
    on_close: watch::Sender<Option<TransportError>>,
}

impl Pending {
    /// Marks the connection broken and fails every waiting request with `err`.
    fn fail_all(&mut self, err: TransportError) {
        if self.closed.is_none() {
            self.closed = Some(err.clone());
            self.on_close.send_replace(Some(err.clone()));
        }
        for (_, reply) in self.waiting.drain() {
            let _ = reply.send(Err(err.clone()));
        }
    }
}

/// One channel to a leader (a TCP connection or a QUIC stream), shared by many concurrent
/// requests.
pub struct Channel {
    outgoing: mpsc::UnboundedSender<EncodedFrame>,
    pending: Arc<Mutex<Pending>>,
    closed: watch::Receiver<Option<TransportError>>,
    next_id: AtomicU64,
    received: Arc<AtomicU64>,
    tasks: [JoinHandle<()>; 2],
    /// What its TLS (or QUIC) handshake settled on; `None` in plaintext.
    tls: Option<Negotiated>,
}

/// Locks `pending`, recovering the data if a task panicked while holding it.
fn lock(pending: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Channel {
    /// Connects (TCP_NODELAY on) and starts the reader and writer tasks. Responses longer than
    /// `max_response` bytes are refused as a protocol error.
    pub async fn connect(addr: &str, max_response: u32) -> Result<Self, TransportError> {
        Self::connect_with(addr, max_response, &SocketOptions::default()).await
    }

    /// Connects with TCP keepalive and user-timeout options applied before any data moves.
    pub async fn connect_with(
        addr: &str,
        max_response: u32,
        options: &SocketOptions,
    ) -> Result<Self, TransportError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| TransportError::Connect {
                addr: addr.to_string(),
                message: e.to_string(),
            })?;
        stream
            .set_nodelay(true)
            .map_err(|e| TransportError::from_io(&e))?;
        options
            .apply(&stream)
            .map_err(|e| TransportError::from_io(&e))?;
        Ok(Self::from_stream(stream, max_response))
    }

    /// Wraps an open stream.
    pub fn from_stream(stream: TcpStream, max_response: u32) -> Self {
        let (read, write) = stream.into_split();
        Self::from_halves(read, write, max_response)
    }

    /// Wraps the two halves of any byte stream (a TCP socket, a QUIC bidirectional stream).
    pub fn from_halves(
        read: impl AsyncRead + Unpin + Send + 'static,
        write: impl AsyncWrite + Unpin + Send + 'static,
        max_response: u32,
    ) -> Self {
        let (on_close, closed) = watch::channel(None);
        let pending = Arc::new(Mutex::new(Pending {
            waiting: HashMap::new(),
            closed: None,
            on_close,
        }));
        let (outgoing, queue) = mpsc::unbounded_channel();
        let received = Arc::new(AtomicU64::new(0));
        let read = Counting {
            inner: read,
            count: received.clone(),
        };
        let reader = tokio::spawn(read_responses(read, max_response, pending.clone()));
        let writer = tokio::spawn(write_requests(write, queue, pending.clone()));
        Self {
            outgoing,
            pending,
            closed,
            next_id: AtomicU64::new(1),
            received,
            tasks: [reader, writer],
            tls: None,
        }
    }

    /// This channel, marked as running over a handshake that settled on `tls`.
    pub fn with_tls(mut self, tls: Negotiated) -> Self {
        self.tls = Some(tls);
        self
    }

    /// What its TLS (or QUIC) handshake settled on; `None` in plaintext.
    pub fn tls(&self) -> Option<&Negotiated> {
        self.tls.as_ref()
    }

    /// Bytes received so far: evidence that the path is alive even while a response waits
    /// behind others (a pong queued after a 1 MiB chunk on a slow, lossy path).
    pub fn bytes_received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Whether the connection has broken.
    pub fn is_closed(&self) -> bool {
        lock(&self.pending).closed.is_some()
    }

    /// Resolves with the error that closed this channel, once it closes.
    pub fn closed(&self) -> impl std::future::Future<Output = TransportError> + Send + 'static {
        let mut closed = self.closed.clone();
        async move {
            loop {
                if let Some(err) = closed.borrow_and_update().clone() {
                    return err;
                }
                if closed.changed().await.is_err() {
                    return TransportError::Eof;
                }
            }
        }
    }

    /// Closes the socket and fails every waiting request with `err`.
    pub fn close(&self, err: TransportError) {
        lock(&self.pending).fail_all(err);
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Sends `message` and waits for its response. An `Error` frame becomes
    /// [`TransportError::Remote`]. Dropping the future (for a timeout) forgets the request.
    pub async fn request(&self, message: &Message) -> Result<Message, TransportError> {
        self.exchange(message).await.map(|answer| answer.message)
    }

    /// As [`Channel::request`], with the data CRC the reader computed for a chunk.
    pub async fn exchange(&self, message: &Message) -> Result<Answer, TransportError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = encode(id, message)?;
        let (reply, response) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if let Some(err) = &pending.closed {
                return Err(err.clone());
            }
            pending.waiting.insert(id, reply);
        }
        let _forget = Forget {
            pending: &self.pending,
            id,
        };
        if self.outgoing.send(frame).is_err() {
            return Err(TransportError::Eof);
        }
        match response.await {
            Ok(Ok(Answer {
                message: Message::Error { code, message },
                ..
            })) => Err(TransportError::Remote { code, message }),
            Ok(result) => result,
            Err(_) => Err(TransportError::Eof),
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

/// Removes a request from the pending table when its caller stops waiting.
struct Forget<'a> {
    pending: &'a Mutex<Pending>,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.pending).waiting.remove(&self.id);
    }
}

async fn read_responses(
    read: impl AsyncRead + Unpin,
    max_response: u32,
    pending: Arc<Mutex<Pending>>,
) {
    let mut read = BufReader::with_capacity(64 << 10, read);
    // The chunks this channel receives are read into buffers their writes give back.
    let buffers = ReceiveBuffers::new();
    let err = loop {
        match read_response(&mut read, max_response, &buffers).await {
            Ok(Some(response)) => {
                // A response to a request that timed out has nobody waiting: drop it.
                let waiting = lock(&pending).waiting.remove(&response.frame.request_id);
                if let Some(reply) = waiting {
                    let _ = reply.send(Ok(Answer {
                        message: response.frame.message,
                        data_crc: response.data_crc,
                    }));
                }
            }
            Ok(None) => break TransportError::Eof,
            Err(ReadError::Io(e)) => break TransportError::from_io(&e),
            Err(ReadError::Protocol(e)) => break TransportError::Protocol(e),
        }
    };
    lock(&pending).fail_all(err);
}

async fn write_requests(
    write: impl AsyncWrite + Unpin,
    queue: mpsc::UnboundedReceiver<EncodedFrame>,
    pending: Arc<Mutex<Pending>>,
) {
    if let Err(e) = write_queued(write, queue).await {
        lock(&pending).fail_all(TransportError::from_io(&e));
    }
}
