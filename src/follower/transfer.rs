//! One attempt: connect, open a session, and fetch every missing chunk through the window.
//!
//! Each chunk request is a task: send, wait (bounded by `internal_action_timeout` unless the
//! policy has no per-request timeout), check the chunk's CRC-32C, throttle on the node limiter
//! (after the response, as Elasticsearch does), write at its offset. The OpenSearch policy
//! retries a chunk on connection errors, reconnecting through a shared [`Link`]. When a file's
//! last chunk lands, its length and combined checksum are checked against the session's list,
//! then it is fsynced and renamed.

use std::{sync::Arc, time::Duration};

use tokio::{sync::Mutex, task::JoinSet, time::timeout};

use super::{
    engine::{Ctx, Failure},
    progress::Progress,
    report::FailureKind,
    store::Store,
    window::{ChunkRequest, ChunkWindow},
};
use crate::{
    index::{JournalEntry, PartFile, check_listing},
    protocol::Message,
    ratelimit::NodeRateLimiter,
    transport::{
        TransportError,
        connection::{ConnectOptions, Connection},
    },
};

/// A connection that is reopened when it breaks (shared by every request of an attempt).
pub(crate) struct Link {
    addr: String,
    options: ConnectOptions,
    current: Mutex<Option<Arc<Connection>>>,
}

impl Link {
    pub(crate) fn new(addr: String, options: ConnectOptions) -> Self {
        Self {
            addr,
            options,
            current: Mutex::new(None),
        }
    }

    /// The open connection, or a new one if there is none or it lost a channel.
    async fn get(&self) -> Result<Arc<Connection>, Failure> {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref()
            && c.loss().is_none()
        {
            return Ok(c.clone());
        }
        let c = Connection::open(&self.addr, &self.options)
            .await
            .map_err(|e| Failure::transport(None, e))?;
        let c = Arc::new(c);
        *current = Some(c.clone());
        Ok(c)
    }

    /// Pings sent on the current connection.
    pub(crate) async fn pings_sent(&self) -> u64 {
        self.current
            .lock()
            .await
            .as_ref()
            .map_or(0, |c| c.pings_sent())
    }
}

/// Sends one request on the next data channel, waiting at most `limit` if given.
async fn call(link: &Link, message: &Message, limit: Option<Duration>) -> Result<Message, Failure> {
    let connection = link.get().await?;
    let request = connection.request(message);
    let result = match limit {
        Some(limit) => match timeout(limit, request).await {
            Ok(r) => r,
            Err(_) => return Err(Failure::transport(None, TransportError::Timeout(limit))),
        },
        None => request.await,
    };
    result.map_err(|(channel, e)| Failure::transport(channel, e))
}

fn unexpected(what: &str, got: &Message) -> Failure {
    Failure::new(
        FailureKind::Protocol,
        format!("expected {what}, got {:?}", got.kind()),
    )
}

/// One attempt. For restarting policies, every attempt after the first empties the target.
pub(crate) async fn run_attempt(
    ctx: &Ctx,
    attempt: u32,
    store: &mut Option<Store>,
) -> Result<(), Failure> {
    let settings = &ctx.config.settings;
    let limit = settings.internal_action_timeout;
    if ctx.policy.restarts_from_zero() && attempt > 1 {
        *store = None;
        ctx.target.clear().map_err(Failure::local)?;
    }
    let link = Arc::new(Link::new(ctx.config.leader.clone(), ctx.connect_options()));
    let open = Message::OpenSession {
        index: ctx.config.index.clone(),
    };
    let (session, files) = match call(&link, &open, Some(limit)).await? {
        Message::SessionOpened { session, files } => (session, files),
        other => return Err(unexpected("SessionOpened", &other)),
    };
    check_listing(&files, settings.listing_limits()).map_err(Failure::local)?;
    let journaled = !ctx.policy.restarts_from_zero();
    let current = match store.take() {
        Some(s) if s.files == files => s,
        Some(_) => {
            // The leader's index changed since the journal was written: nothing is reusable.
            ctx.target.clear().map_err(Failure::local)?;
            Store::fresh(&ctx.target, files, journaled).map_err(Failure::local)?
        }
        None => Store::fresh(&ctx.target, files, journaled).map_err(Failure::local)?,
    };
    let store = store.insert(current);
    let total: u64 = store.files.iter().map(|f| f.len).sum();
    ctx.target
        .ensure_room_for(total - store.persisted())
        .map_err(Failure::local)?;
    let progress = &ctx.progress;
    let (done_bytes, done_files) = store.finished();
    Progress::set(
        &progress.bytes_needed,
        store.files.iter().map(|f| f.len).sum(),
    );
    Progress::set(&progress.files_total, store.files.len() as u64);
    Progress::set(&progress.bytes_verified, done_bytes);
    Progress::set(&progress.files_verified, done_files);
    Progress::set(&progress.bytes_persisted, store.persisted());

    let result = transfer_files(ctx, &link, session, store).await;
    Progress::add(&ctx.progress.pings_sent, link.pings_sent().await);
    result?;
    ctx.target.remove_parts().map_err(Failure::local)?;
    ctx.target.sync().map_err(Failure::local)?;
    // Closing is a courtesy: the leader would expire the session anyway.
    let _ = call(&link, &Message::CloseSession { session }, Some(limit)).await;
    Ok(())
}

/// What a finished task tells the attempt loop.
enum Step {
    /// A chunk was received, checked and written.
    Fetched { req: ChunkRequest, crc: u32 },
    /// A file was verified, fsynced and renamed.
    Finalized { seq: Option<u64>, file: usize },
}

/// Verifies, fsyncs and renames a finished file (off the async threads).
async fn finalize(part: Arc<PartFile>, len: u64, crc: u32) -> Result<(), Failure> {
    tokio::task::spawn_blocking(move || part.finish(len, crc))
        .await
        .map_err(|e| Failure::new(FailureKind::Io, e.to_string()))?
        .map_err(Failure::local)
}

/// Keeps the window full until every file is verified.
async fn transfer_files(
    ctx: &Ctx,
    link: &Arc<Link>,
    session: u64,
    store: &mut Store,
) -> Result<(), Failure> {
    let settings = &ctx.config.settings;
    // Dropping the set (on any early return) aborts every request still in flight.
    let mut tasks: JoinSet<Result<Step, Failure>> = JoinSet::new();
    // Files with nothing left to fetch (empty files; a resumed file whose last chunk landed just
    // before a crash) are finalized at once.
    for i in 0..store.files.len() {
        if !store.done[i] && store.assemblers[i].is_complete() {
            let part = store.part(&ctx.target, i).map_err(Failure::local)?;
            let (len, crc) = (store.files[i].len, store.assemblers[i].crc());
            let finish = finalize(part, len, crc);
            tasks.spawn(async move {
                finish
                    .await
                    .map(|()| Step::Finalized { seq: None, file: i })
            });
        }
    }
    let mut window = ChunkWindow::for_ranges(
        store.missing_ranges(),
        settings.chunk_size.bytes(),
        settings.max_concurrent_file_chunks,
    );
    loop {
        while let Some(req) = window.next_request() {
            let part = store
                .part(&ctx.target, req.file as usize)
                .map_err(Failure::local)?;
            tasks.spawn(fetch_chunk(ctx.fetcher(link.clone()), session, req, part));
        }
        if window.is_done() && tasks.is_empty() {
            return Ok(());
        }
        let Some(joined) = tasks.join_next().await else {
            return Err(Failure::new(
                FailureKind::Io,
                "internal error: window stalled with nothing in flight",
            )
            .fatal());
        };
        let step = joined
            .map_err(|e| Failure::new(FailureKind::Io, format!("chunk task failed: {e}")))??;
        match step {
            Step::Fetched { req, crc } => {
                let i = req.file as usize;
                store.assemblers[i]
                    .add(req.offset, u64::from(req.len), crc)
                    .map_err(|e| Failure::new(FailureKind::Protocol, e.to_string()))?;
                store
                    .journal(&JournalEntry::Chunk {
                        file: req.file,
                        offset: req.offset,
                        len: u64::from(req.len),
                        crc,
                    })
                    .map_err(Failure::local)?;
                Progress::add(&ctx.progress.bytes_persisted, u64::from(req.len));
                if !store.assemblers[i].is_complete() {
                    window.mark_processed(req.seq);
                    continue;
                }
                // The file's last chunk holds its window slot until the file is verified and
                // fsynced, as Elasticsearch's writer does.
                let part = store.part(&ctx.target, i).map_err(Failure::local)?;
                let finish = finalize(part, store.files[i].len, store.assemblers[i].crc());
                tasks.spawn(async move {
                    finish.await.map(|()| Step::Finalized {
                        seq: Some(req.seq),
                        file: i,
                    })
                });
            }
            Step::Finalized { seq, file } => {
                if let Some(seq) = seq {
                    window.mark_processed(seq);
                }
                store.done[file] = true;
                store.parts[file] = None;
                store
                    .journal(&JournalEntry::Done { file: file as u32 })
                    .map_err(Failure::local)?;
                Progress::add(&ctx.progress.files_verified, 1);
                Progress::add(&ctx.progress.bytes_verified, store.files[file].len);
            }
        }
    }
}

/// What a chunk task needs from the attempt.
pub(crate) struct Fetcher {
    pub(crate) link: Arc<Link>,
    pub(crate) limiter: Arc<NodeRateLimiter>,
    pub(crate) progress: Arc<Progress>,
    pub(crate) policy: super::policy::Policy,
    pub(crate) time_scale: f64,
    pub(crate) limit: Option<Duration>,
}

/// One chunk: request (retrying if the policy says so), check, throttle, write.
async fn fetch_chunk(
    f: Fetcher,
    session: u64,
    req: ChunkRequest,
    part: Arc<PartFile>,
) -> Result<Step, Failure> {
    let ask = Message::GetChunk {
        session,
        file: req.file,
        offset: req.offset,
        len: req.len,
    };
    let mut tries = 0;
    let (data, claimed_crc) = loop {
        match call(&f.link, &ask, f.limit).await {
            Ok(Message::Chunk {
                file,
                offset,
                crc32c,
                data,
            }) if file == req.file && offset == req.offset && data.len() == req.len as usize => {
                break (data, crc32c);
            }
            Ok(Message::Chunk {
                file, offset, data, ..
            }) => {
                return Err(Failure::new(
                    FailureKind::Protocol,
                    format!(
                        "asked for file {} offset {} len {}, got file {file} offset {offset} len {}",
                        req.file,
                        req.offset,
                        req.len,
                        data.len()
                    ),
                ));
            }
            Ok(other) => return Err(unexpected("Chunk", &other)),
            Err(failure) if failure.is_connection_error() => {
                tries += 1;
                match f.policy.chunk_retry_delay(tries, f.time_scale) {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(failure),
                }
            }
            Err(failure) => return Err(failure),
        }
    };
    Progress::add(&f.progress.bytes_transferred, data.len() as u64);
    f.limiter.pause(data.len() as u64).await;
    let crc = tokio::task::spawn_blocking(move || {
        let crc = crc32c::crc32c(&data);
        if crc != claimed_crc {
            return Err(Failure::new(
                FailureKind::Corrupt,
                format!(
                    "chunk of file {} at offset {}: crc32c {crc:08x} but the leader sent {claimed_crc:08x}",
                    req.file, req.offset
                ),
            ));
        }
        part.write_at(req.offset, &data).map_err(Failure::local)?;
        Ok(crc)
    })
    .await
    .map_err(|e| Failure::new(FailureKind::Io, e.to_string()))??;
    Ok(Step::Fetched { req, crc })
}
