//! The datagram machinery the UDP proxy ([`crate::udp`]) and the L3 pump ([`crate::link`])
//! share: the faults in force and their schedule (`Shared`), one direction of a flow with its
//! faults applied and its effects counted (`Path`), and a delay line that releases late
//! datagrams in time order, so a reordered datagram is overtaken by the ones behind it.
//!
//! What a fault does to one datagram is [`lane`] (pure), which asks each fault's
//! [`Behaviour`](crate::fault::Behaviour). Where datagrams come from and go to (UDP sockets, TUN
//! devices) is the injectors' business: they hand a `Path` a sink to send through.

pub mod lane;

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap},
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::{Notify, mpsc},
    time::Instant,
};

use self::lane::{Effect, Lane, Send};
use crate::{
    events::{EventKind, EventLog},
    fault::{Direction, Fault, FaultKind},
    proxy::edges::EdgeClock,
    rng::SeededRng,
    shutdown::{Shutdown, Signal},
};

/// How often a flow reports what faults did to it.
const EFFECT_REPORT: Duration = Duration::from_millis(100);

/// Where a path delivers datagrams: a socket, a client address, a TUN device.
pub(crate) trait Sink: Clone + std::marker::Send + Sync + 'static {
    /// Sends one datagram. One that cannot be sent is lost, as on a network.
    fn send(&self, bytes: &[u8]) -> impl Future<Output = ()> + std::marker::Send;
}

/// The faults of one datagram injector, their on/off flags and its event log.
pub(crate) struct Shared {
    faults: Vec<Fault>,
    on: Vec<AtomicBool>,
    /// How often each fault has turned on (an instant fault is on and off at once, so a flag
    /// alone could miss it).
    fired: Vec<AtomicU64>,
    /// Woken at every edge, for injectors that act when a fault turns on (the L3 link's resets).
    pub(crate) edges: Notify,
    seed: u64,
    events: Arc<EventLog>,
    pub(crate) flows: AtomicU64,
}

impl Shared {
    pub(crate) fn new(faults: Vec<Fault>, seed: u64, events: Arc<EventLog>) -> Self {
        Self {
            on: faults.iter().map(|_| AtomicBool::new(false)).collect(),
            fired: faults.iter().map(|_| AtomicU64::new(0)).collect(),
            edges: Notify::new(),
            faults,
            seed,
            events,
            flows: AtomicU64::new(0),
        }
    }

    pub(crate) fn events(&self) -> &EventLog {
        &self.events
    }

    /// The faults, in the order given.
    pub(crate) fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// The seed of every random choice.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether fault `i` is on now.
    pub(crate) fn is_on(&self, i: usize) -> bool {
        self.on[i].load(Ordering::Relaxed)
    }

    /// How often fault `i` has turned on (or fired).
    pub(crate) fn fired(&self, i: usize) -> u64 {
        self.fired[i].load(Ordering::Relaxed)
    }

    /// The next connection (flow, link) number.
    pub(crate) fn next_conn(&self) -> u64 {
        self.flows.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Turns on the faults due at time zero and starts the task that flips the rest on time.
    pub(crate) fn start_schedule(self: Arc<Self>, shutdown: &mut Shutdown) {
        let started = Instant::now();
        let mut clocks: Vec<EdgeClock> = self
            .faults
            .iter()
            .map(|f| EdgeClock::new(f.schedule, Duration::ZERO))
            .collect();
        fire_edges(&self, &mut clocks, Duration::ZERO);
        shutdown.spawn(|stop| schedule(self, clocks, started, stop));
    }

    /// The faults on now that touch `flow` and this flow (`toxic`), without allocating: this
    /// runs once per datagram.
    fn active<'a>(
        &'a self,
        flow: Direction,
        toxic: &'a [bool],
    ) -> impl Iterator<Item = (usize, &'a Fault)> + 'a {
        self.faults.iter().enumerate().filter(move |(i, f)| {
            self.on[*i].load(Ordering::Relaxed) && f.covers(flow) && toxic[*i]
        })
    }
}

fn fire_edges(shared: &Shared, clocks: &mut [EdgeClock], now: Duration) {
    for (i, clock) in clocks.iter_mut().enumerate() {
        for on in clock.advance(now) {
            shared.on[i].store(on, Ordering::Relaxed);
            if on {
                shared.fired[i].fetch_add(1, Ordering::Relaxed);
            }
            shared.edges.notify_one();
            let fault = shared.faults[i].name.clone();
            shared.events.record(if on {
                EventKind::FaultOn {
                    fault,
                    kind: shared.faults[i].kind.type_name().into(),
                }
            } else {
                EventKind::FaultOff { fault }
            });
        }
    }
}

/// Flips faults on and off on time.
async fn schedule(
    shared: Arc<Shared>,
    mut clocks: Vec<EdgeClock>,
    started: Instant,
    mut stop: Signal,
) {
    loop {
        let Some(due) = clocks.iter().filter_map(EdgeClock::next_due).min() else {
            return;
        };
        tokio::select! {
            _ = stop.recv() => return,
            _ = tokio::time::sleep_until(started + due) => {}
        }
        fire_edges(&shared, &mut clocks, started.elapsed());
    }
}

/// Most spare buffers a path keeps for reuse (64 KiB each at most on the L3 link).
const POOL_MAX: usize = 256;

/// Spare buffers, handed back by whoever sent a datagram, so carrying one allocates nothing
/// once the pool has filled.
#[derive(Default)]
pub(crate) struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    /// An empty buffer, with the capacity of one used before if there is one.
    pub(crate) fn take(&self) -> Vec<u8> {
        let mut spare = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut buf = spare.pop().unwrap_or_default();
        buf.clear();
        buf
    }

    /// Keeps `buf` for reuse.
    pub(crate) fn give(&self, buf: Vec<u8>) {
        let mut spare = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < POOL_MAX {
            spare.push(buf);
        }
    }
}

/// What the faults on now need to see of a path's packets (the L3 link hands over bursts of
/// TCP segments as one super-packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// No fault is on: pass packets straight through.
    Nothing,
    /// Only faults that treat every packet of a burst alike are on (a fixed delay, a path
    /// blackhole): a burst may meet them as one.
    Bursts,
    /// Some fault decides packet by packet (loss, corruption, duplication, reordering, jitter,
    /// a rate with a queue limit): it must see the packets a wire would carry.
    Packets,
}

/// What one datagram met on a path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Carried {
    /// Copies sent or queued (0: dropped).
    pub(crate) copies: usize,
    /// Whether a fault changed its bytes.
    pub(crate) corrupted: bool,
    /// Whether any fault acted on it (dropped, changed, copied, held back).
    pub(crate) touched: bool,
}

/// Whether `fault` does the same to every packet of a burst, so it may meet the burst as one.
fn alike_for_a_burst(fault: &Fault) -> bool {
    match fault.kind {
        FaultKind::Latency(l) => l.jitter.is_zero(),
        FaultKind::Blackhole => true,
        _ => false,
    }
}

/// One direction of a flow: faults applied, effects counted, late datagrams queued.
pub(crate) struct Path<T: Sink> {
    conn: u64,
    direction: Direction,
    lane: Lane,
    toxic: Vec<bool>,
    target: T,
    line: mpsc::UnboundedSender<Send>,
    pending: BTreeMap<(usize, &'static str), u64>,
    reported: Instant,
    pool: Arc<Pool>,
}

impl<T: Sink> Path<T> {
    pub(crate) fn new(
        shared: &Shared,
        conn: u64,
        direction: Direction,
        target: T,
    ) -> (Self, DelayLine<T>) {
        let lane_id = if direction == Direction::Upstream {
            0
        } else {
            1
        };
        let toxic = shared
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| SeededRng::for_connection(shared.seed, conn, i, 9).chance(f.toxicity))
            .collect();
        let (line, queue) = mpsc::unbounded_channel();
        let pool = Arc::new(Pool::default());
        let path = Self {
            conn,
            direction,
            lane: Lane::new(
                SeededRng::for_connection(shared.seed, conn, 0, lane_id),
                shared.faults.len(),
            ),
            toxic,
            target: target.clone(),
            line,
            pending: BTreeMap::new(),
            reported: Instant::now(),
            pool: pool.clone(),
        };
        (
            path,
            DelayLine {
                queue,
                target,
                pool,
                precise: false,
            },
        )
    }

    /// This path's spare buffers.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// What the faults on now need to see of this path's packets.
    pub(crate) fn need(&self, shared: &Shared) -> Need {
        let mut need = Need::Nothing;
        for (_, fault) in shared.active(self.direction, &self.toxic) {
            if !alike_for_a_burst(fault) {
                return Need::Packets;
            }
            need = Need::Bursts;
        }
        need
    }

    pub(crate) async fn carry(&mut self, shared: &Shared, bytes: &[u8]) {
        let mut owned = self.pool.take();
        owned.extend_from_slice(bytes);
        self.carry_owned(shared, owned, bytes.len(), Need::Packets, |_, b| b)
            .await;
    }

    /// Applies the faults on now to `bytes` (counted as `counted` bytes in the effects: what a
    /// wire would carry), then sends each copy as `frame` makes it (the sink's own framing).
    /// See [`Path::decide`] for `seen`. Every buffer ends up back in the pool.
    pub(crate) async fn carry_owned(
        &mut self,
        shared: &Shared,
        bytes: Vec<u8>,
        counted: usize,
        seen: Need,
        frame: impl FnMut(&Pool, Vec<u8>) -> Vec<u8>,
    ) -> Carried {
        let now = Instant::now();
        let mut sends = Vec::with_capacity(1);
        let carried = self.decide(shared, bytes, counted, seen, now, &mut sends);
        self.dispatch(shared, now, sends.drain(..), frame).await;
        carried
    }

    /// Applies the faults on now to `bytes` received at `now` (counted as `counted` bytes in
    /// the effects) and pushes the copies to send onto `sends`, without sending them. With
    /// `seen` at [`Need::Bursts`], `bytes` is a whole burst (and perhaps the sink's framing) and
    /// only the faults that treat a burst alike apply: one that turned on since [`Path::need`]
    /// was asked waits for the next packet.
    pub(crate) fn decide(
        &mut self,
        shared: &Shared,
        bytes: Vec<u8>,
        counted: usize,
        seen: Need,
        now: Instant,
        sends: &mut Vec<Send>,
    ) -> Carried {
        let active = shared
            .active(self.direction, &self.toxic)
            .filter(|(_, f)| seen == Need::Packets || alike_for_a_burst(f));
        let (copies, effects) = self.lane.apply(active, bytes, now);
        let mut carried = Carried {
            copies: copies.len(),
            corrupted: false,
            touched: !effects.is_empty() || copies.iter().any(|c| c.at > now),
        };
        for Effect { fault, effect } in effects {
            carried.corrupted |= effect == "corrupted";
            *self.pending.entry((fault, effect)).or_default() += counted as u64;
        }
        sends.extend(copies);
        carried
    }

    /// Sends `sends` decided at `now`, each as `frame` makes it: those due now at once, the
    /// others through the delay line. Every buffer ends up back in the pool.
    pub(crate) async fn dispatch(
        &mut self,
        shared: &Shared,
        now: Instant,
        sends: impl IntoIterator<Item = Send>,
        mut frame: impl FnMut(&Pool, Vec<u8>) -> Vec<u8>,
    ) {
        for send in sends {
            let framed = frame(&self.pool, send.bytes);
            if send.at <= now {
                self.target.send(&framed).await;
                self.pool.give(framed);
            } else {
                let _ = self.line.send(Send {
                    at: send.at,
                    bytes: framed,
                });
            }
        }
        self.maybe_report(shared, now);
    }

    /// Reports effects if the last report is old enough.
    pub(crate) fn maybe_report(&mut self, shared: &Shared, now: Instant) {
        if now.duration_since(self.reported) >= EFFECT_REPORT {
            self.report(shared);
        }
    }

    pub(crate) fn report(&mut self, shared: &Shared) {
        for ((fault, effect), bytes) in std::mem::take(&mut self.pending) {
            shared.events.record(EventKind::Effect {
                conn: self.conn,
                fault: shared.faults[fault].name.clone(),
                direction: self.direction,
                effect: effect.into(),
                bytes,
            });
        }
        self.reported = Instant::now();
    }
}

/// Releases queued datagrams in time order.
pub(crate) struct DelayLine<T: Sink> {
    queue: mpsc::UnboundedReceiver<Send>,
    target: T,
    pool: Arc<Pool>,
    precise: bool,
}

impl<T: Sink> DelayLine<T> {
    /// Releases datagrams on a timer of the OS's precision rather than tokio's millisecond
    /// wheel, which rounds every wait up to the next tick: a 1 ms delay would hold a packet
    /// 1 to 2 ms, a round trip meant to be 2 ms would be near 4 ms, and a TCP window would carry
    /// half as much. Runs on real time only (no paused tokio clock), so only the L3 link asks.
    pub(crate) fn precise(mut self) -> Self {
        self.precise = true;
        self
    }

    /// Each turn releases what is due, then waits for the next datagram or the next deadline.
    /// A wake takes every datagram already queued, and the timer is re-armed only when the
    /// earliest deadline changes: with a fixed delay a new datagram never leaves first, so a
    /// stream of them costs no system call each (it was one `timerfd_settime` per datagram).
    pub(crate) async fn run(self) {
        self.release().await;
    }

    /// [`DelayLine::run`], returning how often it armed its timer once its queue closes.
    async fn release(mut self) -> u64 {
        let mut heap: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
        let mut seq = 0u64;
        // Without a timerfd (it cannot fail short of running out of descriptors), tokio's timer.
        let mut timer = self.precise.then(|| Timer::new().ok()).flatten();
        loop {
            let now = Instant::now();
            while let Some(Reverse((at, _, _))) = heap.peek() {
                if *at > now {
                    break;
                }
                if let Some(Reverse((_, _, bytes))) = heap.pop() {
                    self.target.send(&bytes).await;
                    self.pool.give(bytes);
                }
            }
            let next = heap.peek().map(|Reverse((at, _, _))| *at);
            tokio::select! {
                received = self.queue.recv() => {
                    let Some(Send { at, bytes }) = received else {
                        return timer.map_or(0, |t| t.arms);
                    };
                    seq += 1;
                    heap.push(Reverse((at, seq, bytes)));
                    while let Ok(Send { at, bytes }) = self.queue.try_recv() {
                        seq += 1;
                        heap.push(Reverse((at, seq, bytes)));
                    }
                }
                _ = sleep_until(timer.as_mut(), next.unwrap_or_else(far_future)), if next.is_some() => {}
            }
        }
    }
}

/// Waits until `at` on `timer` if there is one, else on tokio's timer.
async fn sleep_until(timer: Option<&mut Timer>, at: Instant) {
    match timer {
        Some(t) => t.sleep_until(at).await,
        None => tokio::time::sleep_until(at).await,
    }
}

/// A timerfd: one-shot waits to the OS's timer precision (microseconds), not tokio's 1 ms.
struct Timer {
    fd: tokio::io::unix::AsyncFd<std::fs::File>,
    /// The deadline the timer is armed for and has not yet been seen to expire at.
    armed: Option<Instant>,
    /// How often it was armed.
    arms: u64,
}

impl Timer {
    #[allow(unsafe_code)]
    fn new() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: timerfd_create takes no pointers; a non-negative result is a new descriptor
        // nobody else owns.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let file = unsafe { std::fs::File::from_raw_fd(fd) };
        // SAFETY: `file` owns its descriptor and moves into the `AsyncFd`, which neither
        // replaces nor closes it while registered.
        Ok(Self {
            fd: unsafe { tokio::io::unix::AsyncFd::register(file)? },
            armed: None,
            arms: 0,
        })
    }

    /// Waits until `at`, arming the timer only if it is not armed for `at` already. Dropping
    /// the wait early leaves the timer armed (the next wait for the same deadline keeps it, one
    /// for another re-arms it); an expiry left over from before wakes a wait early at worst (the
    /// caller looks at the clock).
    async fn sleep_until(&mut self, at: Instant) {
        use std::{io::Read, os::fd::AsRawFd};
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        if self.armed != Some(at) {
            if self.arm(self.fd.get_ref().as_raw_fd(), left).is_err() {
                self.armed = None;
                return tokio::time::sleep_until(at).await;
            }
            self.armed = Some(at);
            self.arms += 1;
        }
        loop {
            let Ok(mut ready) = self.fd.readable().await else {
                self.armed = None;
                return tokio::time::sleep_until(at).await;
            };
            let mut expirations = [0u8; 8];
            if let Ok(read) = ready.try_io(|f| f.get_ref().read(&mut expirations)) {
                self.armed = None;
                if read.is_err() {
                    tokio::time::sleep_until(at).await;
                }
                return;
            }
        }
    }

    #[allow(unsafe_code)]
    fn arm(&self, fd: std::os::fd::RawFd, after: Duration) -> std::io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                // Never all zero, which would disarm it.
                tv_nsec: libc::c_long::from(after.subsec_nanos().max(1)),
            },
        };
        // SAFETY: `spec` lives for the call and the old value is not asked for (null).
        let rc = unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram and when it arrived.
    type Arrival = (Instant, Vec<u8>);

    /// Records when each datagram arrived.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Arrival>>>);

    impl Sink for Recorder {
        async fn send(&self, bytes: &[u8]) {
            let mut got = self.0.lock().expect("recorder lock");
            got.push((Instant::now(), bytes.to_vec()));
        }
    }

    #[tokio::test]
    async fn a_precise_line_releases_in_deadline_order_never_early_arming_once_per_deadline() {
        let (tx, queue) = mpsc::unbounded_channel();
        let target = Recorder::default();
        let line = DelayLine {
            queue,
            target: target.clone(),
            pool: Arc::new(Pool::default()),
            precise: false,
        }
        .precise();
        let t0 = Instant::now();
        // 100 datagrams in four groups of one deadline each, queued out of order; each names
        // its deadline group and its place in the queue.
        let groups = [30u64, 10, 25, 15];
        for i in 0..100u8 {
            let group = groups[usize::from(i) % groups.len()];
            let at = t0 + Duration::from_millis(group);
            tx.send(Send {
                at,
                bytes: vec![group as u8, i],
            })
            .expect("the line is running");
        }
        let running = tokio::spawn(line.release());
        // The line drops what it still holds when its queue closes: close it once all is out.
        for _ in 0..500 {
            if target.0.lock().expect("recorder lock").len() == 100 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(tx);
        let arms = running.await.expect("the line ends");
        let got = target.0.lock().expect("recorder lock").clone();
        assert_eq!(got.len(), 100, "every datagram is released");
        for (when, bytes) in &got {
            let due = t0 + Duration::from_millis(u64::from(bytes[0]));
            assert!(
                *when >= due,
                "datagram {} left before its deadline",
                bytes[1]
            );
        }
        let order: Vec<(u8, u8)> = got.iter().map(|(_, b)| (b[0], b[1])).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "by deadline, then in the order queued");
        assert!(
            (1..=4).contains(&arms),
            "one arm per distinct deadline, not one per datagram: {arms}"
        );
    }
}
