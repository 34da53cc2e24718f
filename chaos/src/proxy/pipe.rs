//! One direction of a relayed connection: read, ask the faults that are on, act, write.
//!
//! A reader and a writer run concurrently, joined by a queue of segments that each carry the
//! instant they may leave (latency keeps order) and a share of a byte budget that bounds what
//! the relay holds per direction. The reader asks each fault [`Behaviour::before_read`] (a stall
//! holds reading) and [`Behaviour::on_chunk`] (blackhole, corrupt, latency, limit_data,
//! reset-after-bytes); the writer asks [`Behaviour::on_send`] (bandwidth) and, at the end,
//! [`Behaviour::on_eof`] (slow close). What each verdict means for bytes and sockets is decided
//! here; what each fault answers is decided in its file. While no fault touches a direction's
//! bytes and nothing is queued, a TCP reader relays with `splice(2)` instead (see `splice.rs`),
//! and the writer idles.
//!
//! [`Behaviour::before_read`]: crate::fault::Behaviour::before_read
//! [`Behaviour::on_chunk`]: crate::fault::Behaviour::on_chunk
//! [`Behaviour::on_send`]: crate::fault::Behaviour::on_send
//! [`Behaviour::on_eof`]: crate::fault::Behaviour::on_eof

use std::{
    collections::{BTreeMap, HashMap},
    io,
    sync::Arc,
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
    time::Instant,
};

use super::{
    connection::{Conn, Ending},
    socket::Socket,
    table::FaultTable,
};
use crate::{
    events::EventKind,
    fault::{Context, Direction, State, Verdict, latency::deliver_at, stall},
    rng::SeededRng,
};

/// Bytes one direction may hold inside the relay (delayed or paced) before it stops reading.
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

/// One fault's random stream and memory for one direction of one connection.
struct Lane {
    rng: SeededRng,
    state: State,
}

/// Runs one direction until its source ends (then half-closes the destination) or it fails.
pub(crate) async fn pipe<S: Socket>(conn: Arc<Conn<S>>, flow: Direction) {
    let (queue, segments) = mpsc::unbounded_channel();
    let budget = Arc::new(Semaphore::new(BUDGET));
    tokio::join!(
        read_side(&conn, flow, queue, budget),
        write_side(&conn, flow, segments)
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
    budget: Arc<Semaphore>,
) {
    let (src, _) = conn.streams(flow);
    // Allocated at the first read that needs it: an idle connection holds no read buffer.
    let mut buf = BytesMut::new();
    // By fault name: a fault kept across a change of faults keeps its lane wherever it moves in
    // the table; a fault gone is forgotten (`prune`).
    let mut lanes: HashMap<String, Lane> = HashMap::new();
    let mut lanes_of = 0;
    let lane = if flow == Direction::Upstream { 1 } else { 2 };
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
            && budget.available_permits() == BUDGET
            && !touches_data(conn, flow)
        {
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
        let table = conn.table();
        prune(&mut lanes, &mut lanes_of, &table);
        for (i, fault) in table.active_for(flow) {
            if !conn.is_toxic(&table, i, fault) {
                continue;
            }
            if !lanes.contains_key(&fault.name) {
                let fresh = Lane {
                    rng: SeededRng::for_connection(conn.shared.seed, conn.id, i, lane),
                    state: State::default(),
                };
                lanes.insert(fault.name.clone(), fresh);
            }
            let Some(lane) = lanes.get_mut(&fault.name) else {
                continue;
            };
            let len = chunk.len();
            let mut cx = Context {
                now,
                rng: &mut lane.rng,
                state: &mut lane.state,
                moved: conn.moved(),
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
                _ => {}
            }
        }
        effects.flush(conn, false);
        if !chunk.is_empty() {
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

/// Forgets what belongs to faults no longer in `table`, once per generation.
fn prune<T>(by_name: &mut HashMap<String, T>, generation: &mut u64, table: &FaultTable) {
    if table.generation > *generation {
        *generation = table.generation;
        by_name.retain(|name, _| table.slots.iter().any(|s| s.fault.name == *name));
    }
}

/// Writes one piece once the first fault that paces `flow` lets it leave.
async fn send_paced<S: Socket>(
    conn: &Conn<S>,
    flow: Direction,
    states: &mut HashMap<String, State>,
    states_of: &mut u64,
    effects: &mut Effects,
    piece: &[u8],
) -> io::Result<()> {
    let paced = {
        let table = conn.table();
        prune(states, states_of, &table);
        let now = Instant::now();
        table.active_for(flow).find_map(|(i, f)| {
            if !conn.is_toxic(&table, i, f) {
                return None;
            }
            let state = states.entry(f.name.clone()).or_default();
            match f.kind.behaviour().on_send(piece.len(), now, state) {
                Verdict::Pace(at) => Some((f.name.clone(), at)),
                _ => None,
            }
        })
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
) {
    let (_, dst) = conn.streams(flow);
    let mut states: HashMap<String, State> = HashMap::new();
    let mut states_of = 0;
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
            tokio::time::sleep_until(leave_at).await;
        }
        // The first fault that paces this direction (bandwidth) sets when the bytes leave, in
        // pieces no larger than the faults allow at once.
        let piece = {
            let table = conn.table();
            table
                .active_for(flow)
                .filter(|(i, f)| conn.is_toxic(&table, *i, f))
                .filter_map(|(_, f)| f.kind.behaviour().send_piece())
                .min()
                .unwrap_or(usize::MAX)
        };
        let mut rest = data;
        while !rest.is_empty() {
            let next = rest.split_to(rest.len().min(piece));
            if let Err(e) =
                send_paced(conn, flow, &mut states, &mut states_of, &mut effects, &next).await
            {
                conn.end(classify(&e));
                return;
            }
        }
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
