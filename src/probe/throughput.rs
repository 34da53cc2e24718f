//! A short transfer of real chunks: open a session on the leader's index and keep a window of
//! chunk requests in flight on each connection, as the follower does, for a fixed time. The
//! chunk order is pure ([`ChunkCursor`]); the driver counts the bytes that arrived in time.
//!
//! The window here is a plain count of requests in flight (a new one goes out as soon as any
//! returns), not the follower's head-of-line window: the probe measures what the path carries,
//! not what a given window setting gets out of it (that is [`super::advice`]'s model).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::task::JoinSet;

use super::{ProbeError, Stop, secs};
use crate::{
    protocol::{ErrorCode, Message},
    transport::{
        TransportError,
        connection::{ConnectOptions, Connection},
        dial::Dialer,
    },
};

/// Chunk requests over a file list, starting over at the first file after the last: a short
/// index still fills any transfer time.
#[derive(Clone, Debug)]
pub struct ChunkCursor {
    lens: Vec<u64>,
    chunk: u64,
    file: usize,
    offset: u64,
}

impl ChunkCursor {
    /// A cursor over files of these lengths; `None` when they hold no byte.
    pub fn new(lens: Vec<u64>, chunk: u64) -> Option<Self> {
        let first = lens.iter().position(|&l| l > 0)?;
        Some(Self {
            lens,
            chunk: chunk.clamp(1, u64::from(u32::MAX)),
            file: first,
            offset: 0,
        })
    }

    /// The next `(file, offset, len)`.
    pub fn next_chunk(&mut self) -> (u32, u64, u32) {
        let len = (self.lens[self.file] - self.offset).min(self.chunk);
        let chunk = (self.file as u32, self.offset, len as u32);
        self.offset += len;
        while self.offset >= self.lens[self.file] {
            self.offset = 0;
            self.file = (self.file + 1) % self.lens.len();
            if self.lens[self.file] > 0 {
                break;
            }
        }
        chunk
    }
}

/// One transfer's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Throughput {
    /// Connections used, each with its own session and window.
    pub connections: u32,
    /// Bytes of the chunks that arrived within the transfer time.
    pub bytes: u64,
    /// How long the transfer ran.
    #[serde(rename = "elapsed_s", serialize_with = "secs::seconds")]
    pub elapsed: Duration,
    /// `bytes / elapsed`.
    pub mib_per_sec: f64,
    /// Time the leader said its own rate limiter held the requests, summed: when it is a good
    /// share of the transfer, the leader's `max_bytes_per_sec`, not the path, set the pace.
    #[serde(rename = "leader_throttled_s", serialize_with = "secs::seconds")]
    pub leader_throttled: Duration,
    /// Bandwidth-delay product at this throughput and the median RTT: the bytes that must be
    /// in flight to keep the path this busy.
    pub bdp_bytes: Option<u64>,
}

/// What one transfer needs.
pub(super) struct Transfer<'a> {
    pub dialer: &'a dyn Dialer,
    pub options: &'a ConnectOptions,
    pub index: &'a str,
    pub chunk: u64,
    pub window: u32,
    pub time: Duration,
    pub request_timeout: Duration,
}

/// Per connection: bytes in time and the leader's throttling.
type Moved = (u64, Duration);

/// Runs a transfer over `connections` connections at once.
pub(super) async fn run(
    t: &Transfer<'_>,
    connections: u32,
    stop: &mut Stop,
) -> Result<Throughput, ProbeError> {
    let start = Instant::now();
    let deadline = start + t.time;
    let mut per_conn = Vec::new();
    for _ in 0..connections {
        per_conn.push(one_connection(t, deadline));
    }
    let all = async {
        let mut moved = Vec::new();
        // Joined in one task: every connection's future is polled together.
        let results = join_all(per_conn).await;
        for r in results {
            moved.push(r?);
        }
        Ok::<_, ProbeError>(moved)
    };
    let moved = tokio::select! {
        m = all => m?,
        () = stop.wait() => return Err(ProbeError::Interrupted),
    };
    let elapsed = start.elapsed().min(t.time).max(Duration::from_millis(1));
    let bytes: u64 = moved.iter().map(|m| m.0).sum();
    Ok(Throughput {
        connections,
        bytes,
        elapsed,
        mib_per_sec: bytes as f64 / (1 << 20) as f64 / elapsed.as_secs_f64(),
        leader_throttled: moved.iter().map(|m| m.1).sum(),
        bdp_bytes: None,
    })
}

/// Polls every future to completion in the current task.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// One connection: a session, then a window of chunk requests until the deadline.
async fn one_connection(t: &Transfer<'_>, deadline: Instant) -> Result<Moved, ProbeError> {
    let conn = Arc::new(
        Connection::open(t.dialer, t.options)
            .await
            .map_err(ProbeError::Lost)?,
    );
    let open = Message::OpenSession {
        index: t.index.to_string(),
        shard: 0,
    };
    let (session, files) = match conn.request(&open).await {
        Ok(Message::SessionOpened { session, files, .. }) => (session, files),
        Ok(other) => {
            return Err(ProbeError::Unexpected(format!(
                "the leader answered OpenSession with {:?}",
                other.kind()
            )));
        }
        Err((
            _,
            TransportError::Remote {
                code: ErrorCode::UnknownIndex,
                message,
            },
        )) => {
            return Err(ProbeError::UnknownIndex {
                index: t.index.to_string(),
                leader_said: message,
            });
        }
        Err((_, e)) => return Err(ProbeError::Lost(e)),
    };
    let Some(mut cursor) = ChunkCursor::new(files.iter().map(|f| f.len).collect(), t.chunk) else {
        return Err(ProbeError::EmptyIndex(t.index.to_string()));
    };
    let mut in_flight = JoinSet::new();
    let (mut bytes, mut throttled) = (0u64, Duration::ZERO);
    let mut failure = None;
    loop {
        while Instant::now() < deadline && in_flight.len() < t.window as usize {
            let (file, offset, len) = cursor.next_chunk();
            let (conn, limit) = (conn.clone(), t.request_timeout);
            in_flight.spawn(async move {
                let ask = Message::GetChunk {
                    session,
                    file,
                    offset,
                    len,
                };
                tokio::time::timeout(limit, conn.request(&ask)).await
            });
        }
        let next = tokio::time::timeout_at(deadline.into(), in_flight.join_next()).await;
        match next {
            Err(_) | Ok(None) => break,
            Ok(Some(Ok(Ok(Ok(Message::Chunk {
                data,
                throttled_micros,
                ..
            }))))) => {
                bytes += data.len() as u64;
                throttled += Duration::from_micros(u64::from(throttled_micros));
            }
            Ok(Some(Ok(Ok(Ok(other))))) => {
                failure = Some(ProbeError::Unexpected(format!(
                    "the leader answered GetChunk with {:?}",
                    other.kind()
                )));
                break;
            }
            Ok(Some(Ok(Ok(Err((_, e)))))) => {
                failure = Some(ProbeError::Lost(e));
                break;
            }
            Ok(Some(Ok(Err(_)))) => {
                failure = Some(ProbeError::NoPong(t.request_timeout));
                break;
            }
            Ok(Some(Err(e))) => {
                failure = Some(ProbeError::Unexpected(e.to_string()));
                break;
            }
        }
    }
    in_flight.abort_all();
    // A courtesy close, not waited for long: the leader expires the session anyway.
    let close = Message::CloseSession { session };
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.request(&close)).await;
    match failure {
        Some(e) => Err(e),
        None => Ok((bytes, throttled)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_chunks_each_file_and_starts_over_skipping_empty_files() {
        let mut c = ChunkCursor::new(vec![0, 5, 0, 2], 3).expect("bytes");
        let got: Vec<_> = (0..5).map(|_| c.next_chunk()).collect();
        assert_eq!(
            got,
            vec![(1, 0, 3), (1, 3, 2), (3, 0, 2), (1, 0, 3), (1, 3, 2)]
        );
        assert!(ChunkCursor::new(vec![0, 0], 3).is_none());
        assert!(ChunkCursor::new(vec![], 3).is_none());
    }
}
