//! The leader's handler of one byte stream from a follower (a TCP connection, or one stream of
//! a QUIC connection): read requests, answer each, never let bad input take down anything but
//! (at worst) this stream, and never let one connection hold more than its share of memory,
//! sessions or a connection slot (a QUIC connection's streams share one budget and one slot).
//! Accepting connections and streams, and the state they share, are the parent module's.
//!
//! Chunk requests are served concurrently: each is a task that waits on the node rate limiter
//! (before the read, as Elasticsearch does; fair between sessions), then queues its response
//! for the writer task. A block-aligned chunk (every chunk of the usual sizes) gets its checksum
//! folded from the snapshot's block checksums, not from a pass over its bytes; on a plain TCP
//! socket to another host it is not read here at all, the writer sends its bytes with
//! `sendfile` ([`super::writer`], [`sendfile_pays`]). Otherwise it reads with `pread` into a
//! reused buffer ([`super::buffers`]) and checksums that if it is not aligned. The session's in-flight count drops
//! *before* the response is queued, so the leader can never count a request that the follower
//! already considers done. Any malformed frame gets an `Error` frame and closes this stream (its
//! framing is lost); a well-formed but invalid request (unknown session, out-of-range file,
//! offset or length, a limit reached) gets an `Error` frame and the stream carries on.
//!
//! Memory is bounded by backpressure, not by queues: a chunk request first reserves its length
//! from the connection's buffer budget (two `max_chunk_size`), and the reservation is returned
//! only when the response has been written to the socket. A follower that stops reading its
//! responses therefore stops the leader reading its requests, and TCP (or QUIC's flow control)
//! pushes back on it. Slow
//! or silent peers are bounded in time: `Hello` within `handshake_timeout` of the accept, every
//! frame whole within `handshake_timeout` of its first byte.
//!
//! A byte stream here is a whole connection (TCP, or an in-memory pipe) or one stream of a QUIC
//! connection; which one is [`Channel::whole_connection`]. Accepting connections, their slots and
//! QUIC's connection level are the accept loop's (`super`).

use std::{net::SocketAddr, os::unix::fs::FileExt, sync::Arc};

use bytes::Bytes;
use tokio::{
    io::{AsyncRead, BufReader},
    sync::{Semaphore, mpsc},
    task::JoinSet,
    time::{Duration, Instant, timeout},
};

use super::{
    Shared,
    buffers::BufferPool,
    session::SessionRefused,
    slots::Activity,
    stats::LeaderStats,
    writer::{FileRange, Response, ResponseSink, write_responses},
};
use crate::{
    auth::{Admitted, Grant, Refusal, admit, remembered},
    chaos::shutdown::Signal,
    index::IndexFile,
    protocol::{ErrorCode, Message, ProtocolError, VERSION, encode, encode_followed_by},
    transport::{
        frame_io::{ReadError, read_frame_within},
        tls::looks_like_tls,
    },
    vocabulary::ZeroCopy,
};

/// Largest request payload accepted: requests are small (ids, offsets, an index name, a token).
pub const MAX_REQUEST_PAYLOAD: u32 = 64 << 10;

/// Whether to keep reading after a request.
enum Flow {
    Continue,
    Close,
}

/// Checks a chunk request against the session's files; returns the file to read.
pub(crate) fn check_chunk(
    files: &[IndexFile],
    file: u32,
    offset: u64,
    len: u32,
    max_chunk: u64,
) -> Result<&IndexFile, (ErrorCode, String)> {
    let Some(f) = files.get(file as usize) else {
        return Err((
            ErrorCode::FileOutOfRange,
            format!(
                "file {file} is not in the session (it has {} files)",
                files.len()
            ),
        ));
    };
    if offset >= f.meta.len {
        return Err((
            ErrorCode::OffsetOutOfRange,
            format!(
                "offset {offset} is at or past the end of {} ({} bytes)",
                f.meta.name, f.meta.len
            ),
        ));
    }
    if len == 0 || u64::from(len) > max_chunk || offset + u64::from(len) > f.meta.len {
        return Err((
            ErrorCode::LengthOutOfRange,
            format!(
                "length {len} at offset {offset} is not within 1..={max_chunk} and the {} bytes of {}",
                f.meta.len, f.meta.name
            ),
        ));
    }
    Ok(f)
}

/// Small responses (acks, errors, pongs, file lists) queued at most per connection; beyond,
/// the reader waits, which stops it reading requests.
const RESPONSE_QUEUE: usize = 64;

/// What the handler of one stream holds while it serves it.
struct Handler {
    activity: Arc<Activity>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    responses: mpsc::Sender<Response>,
    /// Bytes of chunk responses this connection may have read but not yet written.
    budget: Arc<Semaphore>,
    chunks: JoinSet<()>,
    greeted: bool,
    /// What the follower's API key may recover (`None`: no key, or the leader requires none).
    grant: Option<Grant>,
    /// When the `Hello` must have been answered.
    hello_by: Instant,
    /// Whether the writer can send chunk bytes from the file (`sendfile` on plain TCP).
    zero_copy: bool,
    /// Read buffers for the chunks it cannot: two of them cover the buffer budget.
    buffers: Arc<BufferPool>,
}

/// Bytes of chunk responses one connection may have read but not yet written: two of the
/// largest chunks, so a follower's window spread over its channels fits, and a connection that
/// pipelines more waits for its responses to be read. A QUIC connection's streams share one.
pub(crate) fn buffer_budget(shared: &Shared) -> Arc<Semaphore> {
    let bytes = 2 * shared.config.settings.max_chunk_size.bytes();
    Arc::new(Semaphore::new(bytes as usize))
}

/// One byte stream the leader serves, and what it shares with the rest of its connection.
pub(crate) struct Channel {
    /// The peer, for logs.
    pub(crate) peer: SocketAddr,
    /// The connection's liveness; it also owns the connection's sessions.
    pub(crate) activity: Arc<Activity>,
    /// The connection's buffer budget ([`buffer_budget`]).
    pub(crate) budget: Arc<Semaphore>,
    /// The stream is the whole connection (TCP, in memory), so it closes itself when its slot
    /// is needed. A QUIC stream leaves that to its connection, which closes all its streams.
    pub(crate) whole_connection: bool,
}

/// The leader closes a connection for being too slow or too idle.
pub(crate) fn closing(shared: &Shared, peer: SocketAddr, why: &str) {
    LeaderStats::add(&shared.stats.connections_closed_by_leader, 1);
    shared.log(format!("{peer}: closing the connection: {why}"));
}

/// Serves one byte stream until the follower leaves, the stream breaks, or shutdown.
pub(crate) async fn serve_halves(
    read: impl AsyncRead + Unpin,
    write: impl ResponseSink,
    channel: Channel,
    shared: Arc<Shared>,
    mut shutdown: Signal,
) {
    let Channel {
        peer,
        activity,
        budget,
        whole_connection,
    } = channel;
    let within = shared.config.settings.handshake_timeout;
    let hello_by = Instant::now() + within;
    let mut read = BufReader::with_capacity(64 << 10, read);
    let (responses, queue) = mpsc::channel(RESPONSE_QUEUE);
    let zero_copy = write.tcp().is_some()
        && match shared.config.settings.zero_copy {
            ZeroCopy::Auto => sendfile_pays(peer),
            ZeroCopy::Always => true,
            ZeroCopy::Never => false,
        };
    let writer = tokio::spawn(write_responses(write, queue));
    let mut conn = Handler {
        activity: activity.clone(),
        peer,
        shared: shared.clone(),
        responses,
        budget,
        chunks: JoinSet::new(),
        greeted: false,
        grant: None,
        hello_by,
        zero_copy,
        buffers: shared.buffers.clone(),
    };
    loop {
        // Only these branches can interrupt a half-read frame, and then we stop anyway.
        let frame = tokio::select! {
            _ = shutdown.recv() => break,
            _ = activity.shed.notified(), if whole_connection => {
                conn.closing("silent or idle with no session, and its slot is needed");
                break;
            }
            _ = tokio::time::sleep_until(hello_by), if !conn.greeted => {
                conn.closing(&format!("no Hello within handshake_timeout {within:?}"));
                break;
            }
            frame = read_frame_within(&mut read, MAX_REQUEST_PAYLOAD, within) => frame,
        };
        activity.touch();
        let flow = match frame {
            Ok(Some(frame)) => tokio::select! {
                _ = shutdown.recv() => break,
                _ = activity.shed.notified(), if whole_connection => {
                    conn.closing("idle with no session, and its slot is needed");
                    break;
                }
                flow = conn.handle(frame.request_id, frame.message) => flow,
            },
            Ok(None) => Flow::Close,
            Err(ReadError::Protocol(ProtocolError::BadMagic(first))) if looks_like_tls(&first) => {
                let why = "a TLS client (its first bytes are a TLS ClientHello, not an rrbench \
                           frame) connected to this plaintext leader; start the leader with \
                           --tls, or recover without --tls; closing the connection";
                conn.refuse(0, ErrorCode::Malformed, why.into()).await;
                Flow::Close
            }
            Err(ReadError::Protocol(e)) => {
                conn.refuse(0, e.code(), format!("{e}; closing the connection"))
                    .await;
                Flow::Close
            }
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                conn.closing(&format!("{e} (handshake_timeout)"));
                Flow::Close
            }
            Err(ReadError::Io(e)) => {
                conn.shared.log(format!("{peer}: connection error: {e}"));
                Flow::Close
            }
        };
        while conn.chunks.try_join_next().is_some() {}
        if let Flow::Close = flow {
            break;
        }
    }
    conn.chunks.abort_all();
    drop(conn);
    // Let queued responses (an Error frame, say) reach the peer before the socket closes.
    if let Ok(Ok(Err(e))) = timeout(Duration::from_secs(5), writer).await {
        shared.log(format!("{peer}: writing to the follower failed: {e}"));
    }
}

/// Whether `file` still holds `offset..end`; if so, asks the kernel to read that range into the
/// page cache now (`POSIX_FADV_WILLNEED`), so `sendfile` later rarely waits for the disk.
#[allow(unsafe_code)]
fn prefetch(file: &std::fs::File, offset: u64, end: u64) -> bool {
    use std::os::fd::AsRawFd;
    if file.metadata().map_or(true, |m| m.len() < end) {
        return false;
    }
    if let (Ok(start), Ok(len)) = (
        libc::off_t::try_from(offset),
        libc::off_t::try_from(end - offset),
    ) {
        // SAFETY: the descriptor is open for the call (borrowed from `file`); the call reads
        // no memory of ours. Advice only: its result does not matter.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), start, len, libc::POSIX_FADV_WILLNEED) };
    }
    true
}

/// Whether sending chunk bytes from the page cache saves work for a follower at `peer` (the
/// leader's `zero_copy = auto`).
/// Measured on loopback (512 MiB into tmpfs, 8 interleaved runs each, load 4-7 on 2 cores),
/// `sendfile` halved the leader's CPU (0.38 to 0.26 s) but raised the follower's from 0.45 to
/// 0.56 s and lowered throughput (676 to 587 MiB/s): the follower's `recv` then copies from
/// cold page-cache pages instead of socket buffers the leader's `send` had just written into a
/// shared cache. A follower on another host never shares that cache, so there the saving is the
/// leader's alone (one leader serving many followers spends it on all of them).
pub(crate) fn sendfile_pays(peer: SocketAddr) -> bool {
    // `::ffff:127.0.0.1` (a dual-stack listener) is loopback too.
    !peer.ip().to_canonical().is_loopback()
}

/// A chunk request counted in flight on its session until dropped: when the response is ready,
/// or when the task is aborted (its connection closed) while it waited on the limiter.
struct InFlight {
    shared: Arc<Shared>,
    session: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.sessions().end_chunk(self.session);
    }
}

/// The wire code for a request the session table refused.
fn refused_code(refused: &SessionRefused) -> ErrorCode {
    match refused {
        SessionRefused::Unknown(_) => ErrorCode::UnknownSession,
        _ => ErrorCode::LimitExceeded,
    }
}

impl Handler {
    async fn send(&self, request_id: u64, message: &Message) {
        match encode(request_id, message) {
            Ok(frame) => {
                let response = Response {
                    frame,
                    from_file: None,
                    _budget: None,
                };
                let _ = self.responses.send(response).await;
            }
            Err(e) => self
                .shared
                .log(format!("{}: cannot encode response: {e}", self.peer)),
        }
    }

    async fn refuse(&self, request_id: u64, code: ErrorCode, message: String) {
        self.shared
            .log(format!("{}: refused ({code:?}): {message}", self.peer));
        LeaderStats::add(&self.shared.stats.errors_sent, 1);
        self.send(request_id, &Message::Error { code, message })
            .await;
    }

    /// The leader closes this connection for being too slow or too idle.
    fn closing(&self, why: &str) {
        closing(&self.shared, self.peer, why);
    }

    async fn handle(&mut self, id: u64, message: Message) -> Flow {
        let kind = message.kind();
        match message {
            Message::Hello { version, auth } => {
                if version != u16::from(VERSION) {
                    let msg = format!("protocol version {version} is not {VERSION}");
                    self.refuse(id, ErrorCode::UnsupportedVersion, msg).await;
                    return Flow::Close;
                }
                match self.admit(auth.into_string()).await {
                    Ok(Admitted::Key(grant)) => self.grant = Some(grant),
                    Ok(Admitted::Open | Admitted::Token) => {}
                    Err((code, message)) => {
                        self.refuse(id, code, message).await;
                        return Flow::Close;
                    }
                }
                self.greeted = true;
                self.activity.greet();
                let version = u16::from(VERSION);
                self.send(id, &Message::HelloAck { version }).await;
            }
            _ if !kind.is_request() => {
                let msg = format!("{kind:?} is a response, not a request");
                self.refuse(id, ErrorCode::UnexpectedMessage, msg).await;
            }
            _ if !self.greeted => {
                let msg = format!("{kind:?} before Hello: send Hello first");
                self.refuse(id, ErrorCode::UnexpectedMessage, msg).await;
            }
            Message::OpenSession { index, shard } => self.open_session(id, &index, shard).await,
            Message::GetChunk {
                session,
                file,
                offset,
                len,
            } => self.get_chunk(id, session, file, offset, len).await,
            Message::CloseSession { session } => {
                let holder = self.shared.holder_of(session);
                let closed = holder.sessions().close(session);
                if closed {
                    // Not "expired": the follower ended it (a finished recovery or attempt).
                    holder.log(format!("{}: session {session} closed", self.peer));
                    self.send(id, &Message::SessionClosed { session }).await;
                } else {
                    let msg = format!("no session {session}");
                    self.refuse(id, ErrorCode::UnknownSession, msg).await;
                }
            }
            Message::Ping { nonce } => self.send(id, &Message::Pong { nonce }).await,
            _ => unreachable!("every request kind is handled above"),
        }
        Flow::Continue
    }

    /// Checks a `Hello`'s credentials; a refusal is logged as the leader sees it and returned
    /// as the follower is told it. What needs no argon2 (no key, a key remembered) is decided
    /// here; an argon2 check runs on a blocking thread holding one of the keys' permits
    /// ([`crate::auth::key_store::KEY_CHECKS`], shared by every node) until it ends, so a flood
    /// of `Hello`s takes neither the async workers nor unbounded memory. A `Hello` that cannot
    /// get a permit before its `handshake_timeout` is told to try again.
    async fn admit(&self, hello: String) -> Result<Admitted, (ErrorCode, String)> {
        let config = &self.shared.config;
        let (token, keys) = (config.auth_token.clone(), config.api_keys.clone());
        let decided = match &keys {
            None => Some(admit(token.as_ref(), None, &hello)),
            Some(keys) => remembered(token.as_ref(), keys, &hello),
        };
        let admitted = match (decided, keys) {
            (Some(decided), _) => decided,
            (None, None) => unreachable!("only a leader with keys defers a decision"),
            (None, Some(keys)) => {
                let permit = tokio::time::timeout_at(self.hello_by, keys.checks().acquire_owned());
                let Ok(Ok(permit)) = permit.await else {
                    let busy = "the leader is busy checking other API keys and could not check \
                                this one within its handshake_timeout; try again";
                    self.shared.log(format!("{}: {busy}", self.peer));
                    return Err((ErrorCode::LimitExceeded, busy.into()));
                };
                let checked = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    admit(token.as_ref(), Some(&keys), &hello)
                })
                .await
                .map_err(|e| (ErrorCode::Internal, format!("checking credentials: {e}")))?;
                if let Ok(Admitted::Key(grant)) = &checked {
                    let id = grant.id();
                    self.shared
                        .log(format!("{}: authenticated API key [{id}]", self.peer));
                }
                checked
            }
        };
        admitted.map_err(|refused| {
            self.shared.log(format!("{}: {refused}", self.peer));
            let code = match refused {
                Refusal::IndexNotAllowed { .. } => ErrorCode::Forbidden,
                _ => ErrorCode::Unauthorized,
            };
            (code, refused.to_follower())
        })
    }

    async fn open_session(&self, id: u64, index: &str, shard: u32) {
        if let Some(grant) = &self.grant
            && let Err(refused) = grant.check_index(index)
        {
            self.shared.log(format!("{}: {refused}", self.peer));
            self.refuse(id, ErrorCode::Forbidden, refused.to_follower())
                .await;
            return;
        }
        // In a cluster, the session lives on the node holding the shard's primary.
        let shared = &self.shared.primary_of(shard);
        if index != shared.config.index_name {
            let msg = format!(
                "no index {index:?}; this leader serves {:?}",
                shared.config.index_name
            );
            self.refuse(id, ErrorCode::UnknownIndex, msg).await;
            return;
        }
        let shards = shared.index.count();
        let Some(snapshot) = shared.index.shard(shard) else {
            let msg = format!(
                "no shard {shard} in index {index:?}: it has {shards} (0..={})",
                shards - 1
            );
            self.refuse(id, ErrorCode::UnknownShard, msg).await;
            return;
        };
        let files = snapshot.files().clone();
        // Tokio's clock, so paused (simulated) time drives session expiry in tests.
        let now = Instant::now().into_std();
        let opened = shared.sessions().open(files, self.activity.id, now);
        let session = match opened {
            Ok(session) => session,
            Err(refused) => {
                self.refuse(id, refused_code(&refused), refused.to_string())
                    .await;
                return;
            }
        };
        LeaderStats::add(&shared.stats.sessions_opened, 1);
        let open = shared.sessions().len() as u64;
        shared
            .stats
            .sessions_open_max
            .fetch_max(open, std::sync::atomic::Ordering::Relaxed);
        let on = if shards > 1 {
            format!(" on shard {shard}")
        } else {
            String::new()
        };
        shared.log(format!("{}: session {session} opened{on}", self.peer));
        let files = snapshot.metas();
        self.send(
            id,
            &Message::SessionOpened {
                session,
                shards,
                files,
            },
        )
        .await;
    }

    async fn get_chunk(&mut self, id: u64, session: u64, file: u32, offset: u64, len: u32) {
        // Read on the node holding the session, under that node's limiter.
        let shared = self.shared.holder_of(session);
        let max_chunk = shared.config.settings.max_chunk_size.bytes();
        let checked = match shared.sessions().get(session) {
            None => Err((
                ErrorCode::UnknownSession,
                SessionRefused::Unknown(session).to_string(),
            )),
            Some(files) => check_chunk(files, file, offset, len, max_chunk).cloned(),
        };
        let target = match checked {
            Ok(target) => target,
            Err((code, msg)) => return self.refuse(id, code, msg).await,
        };
        // Backpressure: room in this connection's buffers first (no more requests are read
        // meanwhile), then the request counts as in flight on its session.
        let Ok(budget) = self.budget.clone().acquire_many_owned(len).await else {
            return;
        };
        let begun = shared.sessions().begin_chunk(session);
        if let Err(refused) = begun {
            return self
                .refuse(id, refused_code(&refused), refused.to_string())
                .await;
        }
        let in_flight = InFlight {
            shared: shared.clone(),
            session,
        };
        let responses = self.responses.clone();
        let peer = self.peer;
        // A block-aligned chunk's checksum is folded from the snapshot's block checksums: no
        // checksum pass over its bytes, and with `sendfile` no read of them either.
        let precomputed = target.chunk_crc(offset, u64::from(len));
        let from_file = self.zero_copy && precomputed.is_some();
        let buffers = self.buffers.clone();
        self.chunks.spawn(async move {
            let waited = shared.limiter.pause(session, u64::from(len)).await;
            LeaderStats::add(&shared.stats.throttle_nanos, waited.as_nanos() as u64);
            let throttled_micros = u32::try_from(waited.as_micros()).unwrap_or(u32::MAX);
            // `sendfile` runs on the writer's task: have the kernel start reading the range into
            // the page cache first, off the async workers, and take the reading path for a
            // file that shrank since it was loaded (that path answers with an Error frame).
            let whole = if from_file {
                let (handle, end) = (target.file.clone(), offset + u64::from(len));
                tokio::task::spawn_blocking(move || prefetch(&handle, offset, end))
                    .await
                    .unwrap_or(false)
            } else {
                false
            };
            if let (true, Some(crc32c)) = (whole, precomputed) {
                drop(in_flight);
                let head = Message::Chunk {
                    file,
                    offset,
                    crc32c,
                    throttled_micros,
                    data: Bytes::new(),
                };
                if let Ok(frame) = encode_followed_by(id, &head, len) {
                    LeaderStats::add(&shared.stats.chunks_served, 1);
                    LeaderStats::add(&shared.stats.bytes_sent, u64::from(len));
                    LeaderStats::add(&shared.stats.bytes_sent_from_file, u64::from(len));
                    let response = Response {
                        frame,
                        from_file: Some(FileRange {
                            file: target.file.clone(),
                            offset,
                            len: len as usize,
                        }),
                        _budget: Some(budget),
                    };
                    let _ = responses.send(response).await;
                }
                return;
            }
            let handle = target.file.clone();
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = buffers.take(len as usize);
                handle.read_exact_at(buf.as_mut_slice(), offset)?;
                let crc = precomputed.unwrap_or_else(|| crc32c::crc32c(buf.as_ref()));
                Ok::<_, std::io::Error>((buf.freeze(), crc))
            })
            .await;
            drop(in_flight);
            let message = match read {
                Ok(Ok((data, crc32c))) => {
                    LeaderStats::add(&shared.stats.chunks_served, 1);
                    LeaderStats::add(&shared.stats.bytes_sent, u64::from(len));
                    Message::Chunk {
                        file,
                        offset,
                        crc32c,
                        throttled_micros,
                        data,
                    }
                }
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        Err(e) => e.to_string(),
                        Ok(Ok(_)) => unreachable!(),
                    };
                    let message = format!("reading {}: {why}", target.meta.name);
                    shared.log(format!("{peer}: {message}"));
                    LeaderStats::add(&shared.stats.errors_sent, 1);
                    Message::Error {
                        code: ErrorCode::Internal,
                        message,
                    }
                }
            };
            if let Ok(frame) = encode(id, &message) {
                let response = Response {
                    frame,
                    from_file: None,
                    _budget: Some(budget),
                };
                let _ = responses.send(response).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FileMeta;

    fn files() -> Vec<IndexFile> {
        let tmp = tempfile::tempfile().expect("tmp");
        vec![IndexFile {
            meta: FileMeta {
                name: "_0.fdt".into(),
                len: 100,
                crc32c: 0,
            },
            file: Arc::new(tmp),
            blocks: Default::default(),
        }]
    }

    #[test]
    fn sendfile_is_for_followers_on_other_hosts() {
        assert!(!sendfile_pays("127.0.0.1:9300".parse().expect("addr")));
        assert!(!sendfile_pays("127.0.0.2:9300".parse().expect("addr")));
        assert!(!sendfile_pays("[::1]:9300".parse().expect("addr")));
        assert!(sendfile_pays("10.0.0.7:9300".parse().expect("addr")));
        assert!(sendfile_pays("[2001:db8::1]:9300".parse().expect("addr")));
        assert!(!sendfile_pays(
            "[::ffff:127.0.0.1]:9300".parse().expect("addr")
        ));
    }

    #[test]
    fn a_range_past_a_file_that_shrank_takes_the_reading_path() {
        use std::io::Write;
        let mut file = tempfile::tempfile().expect("tmp");
        file.write_all(&[7u8; 1000]).expect("write");
        assert!(prefetch(&file, 0, 1000));
        file.set_len(600).expect("shrink");
        assert!(!prefetch(&file, 512, 1000), "shrank since it was loaded");
        assert!(prefetch(&file, 0, 600));
    }

    #[test]
    fn chunk_requests_are_range_checked() {
        let f = files();
        assert!(check_chunk(&f, 0, 0, 100, 1 << 20).is_ok());
        assert!(check_chunk(&f, 0, 99, 1, 1 << 20).is_ok());
        let code =
            |file, offset, len, max| check_chunk(&f, file, offset, len, max).err().map(|e| e.0);
        assert_eq!(code(1, 0, 1, 1 << 20), Some(ErrorCode::FileOutOfRange));
        assert_eq!(
            code(u32::MAX, 0, 1, 1 << 20),
            Some(ErrorCode::FileOutOfRange)
        );
        assert_eq!(code(0, 100, 1, 1 << 20), Some(ErrorCode::OffsetOutOfRange));
        assert_eq!(
            code(0, u64::MAX, 1, 1 << 20),
            Some(ErrorCode::OffsetOutOfRange)
        );
        assert_eq!(code(0, 0, 0, 1 << 20), Some(ErrorCode::LengthOutOfRange));
        assert_eq!(code(0, 50, 51, 1 << 20), Some(ErrorCode::LengthOutOfRange));
        assert_eq!(code(0, 0, 100, 64), Some(ErrorCode::LengthOutOfRange));
    }
}
