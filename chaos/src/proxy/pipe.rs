//! One direction of a relayed connection: read, ask the faults that are on, act, write.
//!
//! A reader and a writer run concurrently, joined by a queue of segments that each carry the
//! instant they may leave (latency keeps order) and their share of what the relay holds per
//! direction, whose limit follows the bandwidth-delay product (`queue.rs`): a latency fault never
//! caps the rate at a fixed budget over its delay. The reader asks each fault
//! [`Behaviour::before_read`] (a stall holds reading) and [`Behaviour::on_chunk`] (blackhole,
//! timeout, corrupt, latency, limit_data, reset-after-bytes); the writer asks
//! [`Behaviour::send_pieces`] how to cut each chunk into writes (bandwidth, slicer),
//! [`Behaviour::on_send`] when each may leave (bandwidth, slicer) and, at the end,
//! [`Behaviour::on_eof`] (slow close). A reset that waits (reset_peer with a timeout) holds the
//! reader, which sleeps out the wait and asks for the reset. What each verdict means for bytes and
//! sockets is decided here; what each fault answers is decided in its file. While no fault touches
//! a direction's bytes and nothing is queued, a TCP reader relays with `splice(2)` instead (see
//! `splice.rs`), and the writer idles; unless zero copy is off for the proxy
//! ([`ProxyHandle::set_zero_copy`](super::ProxyHandle::set_zero_copy)), then every byte is copied.
//!
//! [`Behaviour::before_read`]: crate::fault::Behaviour::before_read
//! [`Behaviour::on_chunk`]: crate::fault::Behaviour::on_chunk
//! [`Behaviour::on_send`]: crate::fault::Behaviour::on_send
//! [`Behaviour::send_pieces`]: crate::fault::Behaviour::send_pieces
//! [`Behaviour::on_eof`]: crate::fault::Behaviour::on_eof

use std::{
    collections::{BTreeMap, HashMap},
    io,
    sync::Arc,
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use tokio::{
    sync::mpsc::{self, error::TryRecvError},
    time::Instant,
};

use super::{
    connection::{Conn, Ending},
    queue::{Held, Queue},
    socket::Socket,
    table::FaultTable,
};
use crate::{
    events::EventKind,
    fault::{Context, Direction, Fault, Pieces, State, Verdict, latency::deliver_at, stall},
    rng::SeededRng,
};

/// What tokio's timer adds to a deadline at most by rounding it up to its 1 ms tick.
const TICK_ROUNDING: Duration = Duration::from_micros(999);
/// Shortest interval between two effect events for the same connection, fault and effect.
const EFFECT_INTERVAL: Duration = Duration::from_millis(100);

enum Segment {
    Data {
        data: Bytes,
        leave_at: Instant,
        /// What the faults delayed it by (for the queue's limit).
        delay: Duration,
        /// Given back once written.
        held: Held,
    },
    /// End the connection after the data before it has been written.
    End(Ending),
}

/// Effect byte counts waiting to be reported (in a stable order: a seed replays its events).
struct Effects {
    flow: Direction,
    pending: BTreeMap<(String, &'static str), u64>,
    last: Instant,
}

impl Effects {
    fn new(flow: Direction) -> Self {
        Self {
            flow,
            pending: BTreeMap::new(),
            last: Instant::now(),
        }
    }

    fn add(&mut self, fault: &str, effect: &'static str, bytes: u64) {
        *self.pending.entry((fault.to_string(), effect)).or_default() += bytes;
    }

    fn flush<S: Socket>(&mut self, conn: &Conn<S>, force: bool) {
        if self.pending.is_empty() || (!force && self.last.elapsed() < EFFECT_INTERVAL) {
            return;
        }
        for ((fault, effect), bytes) in std::mem::take(&mut self.pending) {
            conn.shared
                .stats
                .add_effect(&fault, effect, self.flow, bytes);
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

/// One fault's random stream and memory for one side (reader or writer) of one direction of
/// one connection.
struct Lane {
    rng: SeededRng,
    state: State,
}

/// The random stream of a reader's lanes; a writer's is this plus [`WRITER_LANES`].
fn lane_id(flow: Direction) -> u64 {
    if flow == Direction::Upstream { 1 } else { 2 }
}

/// Offsets a writer's lanes from its reader's, so the two draw apart (0 is toxicity's).
const WRITER_LANES: u64 = 2;

/// The lane of fault `index` of the table (kept by name), made on first use.
fn lane_of<'a, S: Socket>(
    lanes: &'a mut HashMap<String, Lane>,
    conn: &Conn<S>,
    index: usize,
    fault: &Fault,
    lane: u64,
) -> &'a mut Lane {
    lanes.entry(fault.name.clone()).or_insert_with(|| Lane {
        rng: SeededRng::for_connection(conn.shared.seed, conn.id, index, lane),
        state: State::default(),
    })
}

/// Runs one direction until its source ends (then half-closes the destination) or it fails.
pub(crate) async fn pipe<S: Socket>(conn: Arc<Conn<S>>, flow: Direction) {
    let (queue, segments) = mpsc::unbounded_channel();
    let held = Arc::new(Queue::default());
    tokio::join!(
        read_side(&conn, flow, queue, &held),
        write_side(&conn, flow, segments, &held)
    );
}

/// Whether a fault that is on and affects this connection changes or times `flow`'s bytes.
#[cfg(target_os = "linux")]
fn touches_data<S: Socket>(conn: &Conn<S>, flow: Direction) -> bool {
    let table = conn.table();
    table
        .active_for(flow)
        .any(|(i, f)| f.kind.behaviour().touches_stream() && conn.is_toxic(&table, i, f))
}

fn classify(e: &io::Error) -> Ending {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Ending::Reset("peer".into()),
        _ => Ending::Close(format!("socket error: {e}")),
    }
}

async fn read_side<S: Socket>(
    conn: &Conn<S>,
    flow: Direction,
    queue: mpsc::UnboundedSender<Segment>,
    held: &Arc<Queue>,
) {
    let (src, _) = conn.streams(flow);
    // Allocated at the first read that needs it: an idle connection holds no read buffer.
    let mut buf = BytesMut::new();
    // By fault name: a fault kept across a change of faults keeps its lane wherever it moves in
    // the table; a fault gone is forgotten (`prune`).
    let mut lanes: HashMap<String, Lane> = HashMap::new();
    let mut lanes_of = 0;
    let lane = lane_id(flow);
    let mut previous = Instant::now();
    let mut effects = Effects::new(flow);
    #[cfg(target_os = "linux")]
    let mut spliced = src.tcp().and_then(|_| super::splice::Pipe::new().ok());
    loop {
        // A fault that holds reading (stall) leaves the bytes with the sender: backpressure.
        loop {
            let table = conn.table();
            let held = table
                .active_for(flow)
                .find(|(i, f)| {
                    f.kind.behaviour().before_read() == Verdict::Hold
                        && conn.is_toxic(&table, *i, f)
                })
                .map(|(_, f)| f.name.clone());
            let Some(name) = held else { break };
            effects.add(&name, "stalled", 0);
            effects.flush(conn, false);
            tokio::time::sleep(stall::POLL).await;
        }
        // Zero copy while no fault touches these bytes and nothing copied is still queued.
        #[cfg(target_os = "linux")]
        if let Some(pipe) = spliced.as_ref()
            && let (Some(src), Some(dst)) = (src.tcp(), conn.streams(flow).1.tcp())
            && held.is_empty()
            && conn.shared.zero_copy()
            && !touches_data(conn, flow)
        {
            if let Err(e) = src.readable().await {
                conn.end(classify(&e));
                break;
            }
            // A fault may have turned on (or zero copy off) while we waited: then these bytes
            // take the copying path.
            if !conn.shared.zero_copy() || touches_data(conn, flow) {
                continue;
            }
            match super::splice::relay_ready(pipe, src, dst).await {
                Ok(0) => break,
                Ok(n) => {
                    conn.touch();
                    conn.add_moved(flow, n);
                    conn.shared.stats.add_spliced(n as u64);
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
        if buf.capacity() < S::READ_SIZE / 4 {
            buf.reserve(S::READ_SIZE);
        }
        let n = match src.read_buf(&mut buf).await {
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
        let mut reset_in = None;
        let table = conn.table();
        prune(&mut lanes, &mut lanes_of, &table);
        for (i, fault) in table.active_for(flow) {
            if !conn.is_toxic(&table, i, fault) {
                continue;
            }
            let reached = conn.reached(&table, &fault.name);
            let lane = lane_of(&mut lanes, conn, i, fault, lane);
            let len = chunk.len();
            let mut cx = Context {
                now,
                rng: &mut lane.rng,
                state: &mut lane.state,
                moved: conn.moved(),
                reached,
                direction: fault.direction,
            };
            let verdict = fault.kind.behaviour().on_chunk(&mut chunk, &mut cx);
            let effect = verdict.effect().unwrap_or_default();
            match verdict {
                Verdict::Drop => {
                    effects.add(&fault.name, effect, len as u64);
                    chunk.clear();
                    break;
                }
                Verdict::Corrupt(changed) => effects.add(&fault.name, effect, changed as u64),
                Verdict::Delay(d) => {
                    delay += d;
                    effects.add(&fault.name, effect, len as u64);
                }
                Verdict::Truncate(keep) => {
                    effects.add(&fault.name, effect, (len - keep) as u64);
                    chunk.truncate(keep);
                    end_after.get_or_insert(Ending::Close(fault.name.clone()));
                }
                Verdict::ResetAfter(keep) => {
                    chunk.truncate(keep);
                    end_after = Some(Ending::Reset(fault.name.clone()));
                }
                Verdict::ResetIn { keep, after } => {
                    effects.add(&fault.name, "dropped", (len - keep) as u64);
                    chunk.truncate(keep);
                    reset_in = Some((now + after, fault.name.clone()));
                    break;
                }
                _ => {}
            }
        }
        effects.flush(conn, false);
        if !chunk.is_empty() {
            conn.add_moved(flow, chunk.len());
            let leave_at = deliver_at(previous, now, delay);
            previous = leave_at;
            let admitted = held.admit(chunk.len()).await;
            if queue
                .send(Segment::Data {
                    data: chunk.freeze(),
                    leave_at,
                    delay: leave_at.saturating_duration_since(now),
                    held: admitted,
                })
                .is_err()
            {
                break;
            }
        }
        if let Some((at, fault)) = reset_in {
            // This direction is read no more (the sender meets backpressure) until the reset.
            effects.flush(conn, true);
            tokio::time::sleep_until(at).await;
            conn.end(Ending::Reset(fault));
            return;
        }
        if let Some(ending) = end_after {
            let _ = queue.send(Segment::End(ending));
            break;
        }
    }
    effects.flush(conn, true);
}

/// Forgets what belongs to faults no longer in `table`, once per generation.
fn prune<T>(by_name: &mut HashMap<String, T>, generation: &mut u64, table: &FaultTable) {
    if table.generation > *generation {
        *generation = table.generation;
        by_name.retain(|name, _| table.slots.iter().any(|s| s.fault.name == *name));
    }
}

/// How the faults on `flow` cut a chunk of `len` bytes into writes: the first fault's slices
/// (or the whole chunk), each capped by the smallest piece any fault allows.
fn plan_pieces<S: Socket>(
    conn: &Conn<S>,
    flow: Direction,
    lanes: &mut HashMap<String, Lane>,
    effects: &mut Effects,
    len: usize,
) -> Vec<usize> {
    let table = conn.table();
    let mut slices = None;
    let mut cap = usize::MAX;
    for (i, f) in table.active_for(flow) {
        if !conn.is_toxic(&table, i, f) {
            continue;
        }
        let lane = lane_of(lanes, conn, i, f, lane_id(flow) + WRITER_LANES);
        match f.kind.behaviour().send_pieces(len, &mut lane.rng) {
            Pieces::Whole => {}
            Pieces::AtMost(n) => cap = cap.min(n.max(1)),
            Pieces::Sizes(sizes) if slices.is_none() => {
                if sizes.len() > 1 {
                    effects.add(&f.name, "sliced", len as u64);
                }
                slices = Some(sizes);
            }
            Pieces::Sizes(_) => {}
        }
    }
    let slices = slices.unwrap_or_else(|| vec![len]);
    if cap == usize::MAX {
        return slices;
    }
    slices
        .into_iter()
        .flat_map(|n| {
            let rest = n % cap;
            std::iter::repeat_n(cap, n / cap).chain((rest > 0).then_some(rest))
        })
        .collect()
}

/// Writes one piece once every fault that paces `flow` lets it leave (the latest wins).
async fn send_paced<S: Socket>(
    conn: &Conn<S>,
    flow: Direction,
    lanes: &mut HashMap<String, Lane>,
    effects: &mut Effects,
    piece: &[u8],
) -> io::Result<()> {
    let paced = {
        let table = conn.table();
        let now = Instant::now();
        let mut latest: Option<(String, Instant)> = None;
        for (i, f) in table.active_for(flow) {
            if !conn.is_toxic(&table, i, f) {
                continue;
            }
            let lane = lane_of(lanes, conn, i, f, lane_id(flow) + WRITER_LANES);
            if let Verdict::Pace(at) = f
                .kind
                .behaviour()
                .on_send(piece.len(), now, &mut lane.state)
                && latest.as_ref().is_none_or(|(_, t)| at > *t)
            {
                latest = Some((f.name.clone(), at));
            }
        }
        latest
    };
    if let Some((name, at)) = paced {
        tokio::time::sleep_until(at).await;
        effects.add(&name, "throttled", piece.len() as u64);
        effects.flush(conn, false);
    }
    conn.streams(flow).1.write_all(piece).await
}

async fn write_side<S: Socket>(
    conn: &Conn<S>,
    flow: Direction,
    mut segments: mpsc::UnboundedReceiver<Segment>,
    queue: &Queue,
) {
    let (_, dst) = conn.streams(flow);
    let mut lanes: HashMap<String, Lane> = HashMap::new();
    let mut lanes_of = 0;
    let mut effects = Effects::new(flow);
    loop {
        let segment = match segments.try_recv() {
            Ok(segment) => segment,
            Err(TryRecvError::Empty) => {
                // Ran dry: the source sets the pace now, not the queue's limit.
                queue.on_idle();
                match segments.recv().await {
                    Some(segment) => segment,
                    None => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        let (data, leave_at, delay, held) = match segment {
            Segment::Data {
                data,
                leave_at,
                delay,
                held,
            } => (data, leave_at, delay, held),
            Segment::End(ending) => {
                conn.end(ending);
                return;
            }
        };
        if leave_at > Instant::now() {
            // tokio's timer rounds a deadline up to its next 1 ms tick, and the wake-up comes
            // later still: 1.35 ms late per hop on average, 3% of an 80 ms round trip. Asking
            // for the tick at or just before the deadline centres the error on it instead. In
            // paused time deadlines sit on ticks, and this is exactly the deadline.
            tokio::time::sleep_until(leave_at - TICK_ROUNDING).await;
        }
        // The faults cut the bytes into writes (slicer, bandwidth) and time each (bandwidth,
        // slicer).
        prune(&mut lanes, &mut lanes_of, &conn.table());
        let len = data.len();
        let pieces = plan_pieces(conn, flow, &mut lanes, &mut effects, len);
        let mut rest = data;
        for n in pieces {
            let next = rest.split_to(n.min(rest.len()));
            if next.is_empty() {
                continue;
            }
            if let Err(e) = send_paced(conn, flow, &mut lanes, &mut effects, &next).await {
                conn.end(classify(&e));
                return;
            }
        }
        // Held until written: an empty queue means every copied byte is out (the reader may
        // splice again without reordering).
        queue.on_sent(len, delay, Instant::now());
        drop(held);
    }
    effects.flush(conn, true);
    // The source closed: pass the close on, late if a fault says so (slow_close).
    let table = conn.table();
    let late = table
        .active_for(flow)
        .find_map(|(i, f)| match f.kind.behaviour().on_eof() {
            Verdict::Delay(d) if conn.is_toxic(&table, i, f) => Some(d),
            _ => None,
        });
    if let Some(delay) = late {
        tokio::time::sleep(delay).await;
    }
    dst.shutdown_write();
}
