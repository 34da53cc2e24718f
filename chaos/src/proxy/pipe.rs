//! One direction of a proxied connection: read, apply the faults that are on, write.
//!
//! A reader and a writer run concurrently, joined by a queue of segments that each carry the
//! instant they may leave (latency keeps order) and a share of a byte budget that bounds what
//! the proxy holds per direction. The reader applies stall, blackhole, corrupt, latency,
//! limit_data and reset-after-bytes; the writer applies bandwidth pacing and slow close. While
//! no fault touches a direction's bytes and nothing is queued, the reader relays with
//! `splice(2)` instead (see `splice.rs`), and the writer idles.

use std::{
    collections::HashMap,
    io,
    net::Shutdown,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use socket2::SockRef;
use tokio::{
    net::TcpStream,
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
};

use super::connection::{Conn, Ending};
use crate::{
    events::EventKind,
    fault::{
        Direction, FaultKind, bandwidth::Pacer, corrupt::Corrupter, latency::deliver_at, stall,
    },
    rng::SeededRng,
};

/// Bytes read per system call.
const READ_SIZE: usize = 256 << 10;
/// Bytes one direction may hold inside the proxy (delayed or paced) before it stops reading.
const BUDGET: usize = 64 << 20;
/// Shortest interval between two effect events for the same connection, fault and effect.
const EFFECT_INTERVAL: Duration = Duration::from_millis(100);

enum Segment {
    Data {
        data: Bytes,
        leave_at: Instant,
        _held: OwnedSemaphorePermit,
    },
    /// End the connection after the data before it has been written.
    End(Ending),
}

/// Effect byte counts waiting to be reported.
struct Effects {
    flow: Direction,
    pending: HashMap<(String, &'static str), u64>,
    last: Instant,
}

impl Effects {
    fn new(flow: Direction) -> Self {
        Self {
            flow,
            pending: HashMap::new(),
            last: Instant::now(),
        }
    }

    fn add(&mut self, fault: &str, effect: &'static str, bytes: u64) {
        *self.pending.entry((fault.to_string(), effect)).or_default() += bytes;
    }

    fn flush(&mut self, conn: &Conn, force: bool) {
        if self.pending.is_empty() || (!force && self.last.elapsed() < EFFECT_INTERVAL) {
            return;
        }
        for ((fault, effect), bytes) in self.pending.drain() {
            conn.record(EventKind::Effect {
                conn: conn.id,
                fault,
                direction: self.flow,
                effect: effect.into(),
                bytes,
            });
        }
        self.last = Instant::now();
    }
}

/// Runs one direction until its source ends (then half-closes the destination) or it fails.
pub(crate) async fn pipe(conn: Arc<Conn>, flow: Direction) {
    let (queue, segments) = mpsc::unbounded_channel();
    let budget = Arc::new(Semaphore::new(BUDGET));
    tokio::join!(
        read_side(&conn, flow, queue, budget),
        write_side(&conn, flow, segments)
    );
}

/// Whether a fault that is on and affects this connection changes or times `flow`'s bytes.
fn touches_data(conn: &Conn, flow: Direction) -> bool {
    let table = conn.table();
    table.active_for(flow).any(|(i, f)| {
        let data_fault = match f.kind {
            FaultKind::IdleTimeout(_) | FaultKind::SlowClose(_) | FaultKind::Down => false,
            // Datagram faults reach a TCP proxy only as no-ops (probability 0).
            FaultKind::Loss(_) | FaultKind::Duplicate(_) | FaultKind::Reorder(_) => false,
            FaultKind::Reset(r) => r.after_bytes.is_some(),
            _ => true,
        };
        data_fault && conn.is_toxic(&table, i, f)
    })
}

fn classify(e: &io::Error) -> Ending {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Ending::Reset("peer".into()),
        _ => Ending::Close(format!("socket error: {e}")),
    }
}

async fn read_side(
    conn: &Conn,
    flow: Direction,
    queue: mpsc::UnboundedSender<Segment>,
    budget: Arc<Semaphore>,
) {
    let (src, _) = conn.streams(flow);
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut corrupter = Corrupter::default();
    let mut rngs: HashMap<usize, SeededRng> = HashMap::new();
    let lane = if flow == Direction::Upstream { 1 } else { 2 };
    let mut previous = Instant::now();
    let mut effects = Effects::new(flow);
    #[cfg(target_os = "linux")]
    let mut spliced = super::splice::Pipe::new().ok();
    loop {
        // stall: stop reading while on; the sender's window fills (backpressure).
        loop {
            let table = conn.table();
            let stalled = table
                .active_for(flow)
                .find(|(i, f)| matches!(f.kind, FaultKind::Stall) && conn.is_toxic(&table, *i, f))
                .map(|(_, f)| f.name.clone());
            let Some(name) = stalled else { break };
            effects.add(&name, "stalled", 0);
            effects.flush(conn, false);
            tokio::time::sleep(stall::POLL).await;
        }
        // Zero copy while no fault touches these bytes and nothing copied is still queued.
        #[cfg(target_os = "linux")]
        if let Some(pipe) = spliced.as_ref()
            && budget.available_permits() == BUDGET
            && !touches_data(conn, flow)
        {
            let (src, dst) = conn.streams(flow);
            if let Err(e) = src.readable().await {
                conn.end(classify(&e));
                break;
            }
            // A fault may have turned on while we waited: then these bytes take the copying path.
            if touches_data(conn, flow) {
                continue;
            }
            match super::splice::relay_ready(pipe, src, dst).await {
                Ok(0) => break,
                Ok(n) => {
                    conn.touch();
                    conn.add_moved(flow, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if super::splice::unsupported(&e) => spliced = None,
                Err(e) => {
                    conn.end(classify(&e));
                    break;
                }
            }
            continue;
        }
        if buf.capacity() < READ_SIZE / 4 {
            buf.reserve(READ_SIZE);
        }
        let n = match read_some(src, &mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                conn.end(classify(&e));
                break;
            }
        };
        conn.touch();
        let mut chunk = buf.split_to(n);
        let now = Instant::now();
        let mut delay = Duration::ZERO;
        let mut end_after = None;
        let mut swallowed = false;
        let table = conn.table();
        for (i, fault) in table.active_for(flow) {
            if !conn.is_toxic(&table, i, fault) {
                continue;
            }
            let rng = rngs
                .entry(i)
                .or_insert_with(|| SeededRng::for_connection(conn.shared.seed, conn.id, i, lane));
            let len = chunk.len();
            match fault.kind {
                FaultKind::Blackhole => {
                    effects.add(&fault.name, "dropped", len as u64);
                    swallowed = true;
                }
                FaultKind::Corrupt(c) => {
                    let changed = corrupter.apply(&mut chunk, c.probability, rng);
                    effects.add(&fault.name, "corrupted", changed as u64);
                }
                FaultKind::Latency(l) => {
                    delay += l.sample(rng);
                    effects.add(&fault.name, "delayed", len as u64);
                }
                FaultKind::LimitData(l) => {
                    let allowed = l.allowance(conn.moved(fault.direction), len);
                    if allowed < len {
                        effects.add(&fault.name, "truncated", (len - allowed) as u64);
                        chunk.truncate(allowed);
                        end_after.get_or_insert(Ending::Close(fault.name.clone()));
                    }
                }
                FaultKind::Reset(r) => {
                    if let Some(allowed) = r.allowance(conn.moved(Direction::Both), len)
                        && allowed < len
                    {
                        chunk.truncate(allowed);
                        end_after = Some(Ending::Reset(fault.name.clone()));
                    }
                }
                _ => {}
            }
            if swallowed {
                break;
            }
        }
        effects.flush(conn, false);
        if !swallowed && !chunk.is_empty() {
            conn.add_moved(flow, chunk.len());
            let leave_at = deliver_at(previous, now, delay);
            previous = leave_at;
            let Ok(held) = budget
                .clone()
                .acquire_many_owned(chunk.len().min(BUDGET) as u32)
                .await
            else {
                break;
            };
            if queue
                .send(Segment::Data {
                    data: chunk.freeze(),
                    leave_at,
                    _held: held,
                })
                .is_err()
            {
                break;
            }
        }
        if let Some(ending) = end_after {
            let _ = queue.send(Segment::End(ending));
            break;
        }
    }
    effects.flush(conn, true);
}

async fn read_some(src: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    loop {
        src.readable().await?;
        match src.try_read_buf(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

async fn write_all(dst: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        dst.writable().await?;
        match dst.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn write_side(conn: &Conn, flow: Direction, mut segments: mpsc::UnboundedReceiver<Segment>) {
    let (_, dst) = conn.streams(flow);
    let mut pacer = Pacer::default();
    let mut effects = Effects::new(flow);
    while let Some(segment) = segments.recv().await {
        let (data, leave_at) = match segment {
            Segment::Data {
                data,
                leave_at,
                _held,
            } => (data, leave_at),
            Segment::End(ending) => {
                conn.end(ending);
                return;
            }
        };
        if leave_at > Instant::now() {
            tokio::time::sleep_until(leave_at.into()).await;
        }
        let table = conn.table();
        let paced = table.active_for(flow).find_map(|(i, f)| match f.kind {
            FaultKind::Bandwidth(b) if conn.is_toxic(&table, i, f) => {
                Some((f.name.clone(), b.rate))
            }
            _ => None,
        });
        if let Some((name, rate)) = paced {
            let at = pacer.reserve(Instant::now(), data.len(), rate);
            tokio::time::sleep_until(at.into()).await;
            effects.add(&name, "throttled", data.len() as u64);
            effects.flush(conn, false);
        }
        if let Err(e) = write_all(dst, &data).await {
            conn.end(classify(&e));
            return;
        }
    }
    effects.flush(conn, true);
    // The source closed: pass the close on, late if a slow_close fault says so.
    let table = conn.table();
    let slow = table.active_for(flow).find_map(|(i, f)| match f.kind {
        FaultKind::SlowClose(s) if conn.is_toxic(&table, i, f) => Some(s.delay),
        _ => None,
    });
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    let _ = SockRef::from(dst).shutdown(Shutdown::Write);
}
