//! What a fault decides, and the questions every injector asks it.
//!
//! Each fault file implements [`Behaviour`]: pure functions (no I/O; time, randomness and state
//! are arguments) from one chunk of stream bytes, one datagram, or one moment in a connection's
//! life to a [`Verdict`], as turmoil's `Rule::on_packet` returns a verdict per packet and each of
//! toxiproxy's toxics is one file. The injectors own the I/O and act on verdicts: the TCP proxy
//! and the simulator ([`crate::sim`]) through the stream relay (`proxy/pipe.rs`,
//! `proxy/connection.rs`), the UDP proxy and the L3 pump through [`crate::datagram`]. Adding a
//! fault is one file implementing [`Behaviour`] and one [`FaultKind`] variant (with its line in
//! [`FaultKind::behaviour`]); every injector then applies it.
//!
//! This module owns the vocabulary only; which faults are on, for which connections, is the
//! injectors' fault table.

use std::time::Duration;

use tokio::time::Instant;

use super::{
    Direction, FaultKind, bandwidth::Pacer, blackhole::Blackhole, corrupt::Corrupter, down::Down,
    loss::LossState, slicer::SliceGap, stall::Stall,
};
use crate::rng::SeededRng;

/// What a fault decides about one chunk, datagram or connection event.
///
/// Injectors fold the verdicts of every fault that is on, in the order the faults were given:
/// delays add up, the latest pace wins, the first `Drop` ends the questioning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    Pass,
    /// Hold it this long before passing it on (latency). Order is kept on a stream.
    Delay(Duration),
    /// Hold it this long so later datagrams overtake it (reorder).
    Reorder(Duration),
    /// Not before this instant (bandwidth pacing).
    Pace(Instant),
    /// This many of its bytes were changed in place (corrupt); may be zero.
    Corrupt(usize),
    /// Send one more copy (duplicate).
    Duplicate,
    /// Swallow it; the connection or flow stays open (blackhole, loss, a full queue).
    Drop,
    /// Pass only its first `n` bytes, then close the connection (limit_data).
    Truncate(usize),
    /// Pass only its first `n` bytes, then reset the connection (reset after bytes).
    ResetAfter(usize),
    /// Pass only its first `keep` bytes, read no more in this direction, and reset the
    /// connection `after` that (toxiproxy's `reset_peer` with a timeout).
    ResetIn {
        /// Bytes of the chunk passed on.
        keep: usize,
        /// How long until the reset.
        after: Duration,
    },
    /// Close the connection (FIN on both sides) this long from now unless the fault turns off
    /// first (toxiproxy's `timeout`).
    CloseIn(Duration),
    /// Do not read the source while this holds: backpressure (stall).
    Hold,
    /// Reset the connection now: RST on both sides (reset, idle_timeout).
    Reset,
    /// Close the connection now: FIN on both sides (down).
    Close,
    /// Refuse a new connection (down).
    Refuse,
}

impl Verdict {
    /// The name of the effect, as effect events record it (`delayed`, `dropped`, ...).
    pub fn effect(&self) -> Option<&'static str> {
        Some(match self {
            Verdict::Delay(_) => "delayed",
            Verdict::Reorder(_) => "reordered",
            Verdict::Pace(_) => "throttled",
            Verdict::Corrupt(_) => "corrupted",
            Verdict::Duplicate => "duplicated",
            Verdict::Drop => "dropped",
            Verdict::Truncate(_) => "truncated",
            Verdict::Hold => "stalled",
            _ => return None,
        })
    }
}

/// A moment in a connection's life that a fault may act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnEvent {
    /// A client asks to connect.
    Connect,
    /// A connection has just opened while the fault is on.
    Opened,
    /// The fault has just turned on (or fired, if instantaneous) with the connection open.
    TurnedOn,
    /// A periodic check: no data moved either way for this long.
    Idle(Duration),
    /// The fault was taken out of the injector's faults while on, with the connection open
    /// (toxiproxy's toxic removal, which a `timeout` answers by closing).
    Removed,
}

/// Bytes a connection has carried so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Client to server.
    pub up: u64,
    /// Server to client.
    pub down: u64,
}

impl Moved {
    /// The bytes moved since `earlier` (a count taken before this one).
    pub fn since(self, earlier: Moved) -> Moved {
        Moved {
            up: self.up.saturating_sub(earlier.up),
            down: self.down.saturating_sub(earlier.down),
        }
    }

    /// The bytes that flowed in `direction` (both directions summed for `Both`).
    pub fn covered_by(self, direction: Direction) -> u64 {
        match direction {
            Direction::Upstream => self.up,
            Direction::Downstream => self.down,
            Direction::Both => self.up + self.down,
        }
    }
}

/// What a stateful fault remembers between chunks or datagrams of one direction of one
/// connection or flow. A fault that needs memory of its own adds its state type here.
#[derive(Debug, Default)]
pub struct State {
    /// `bandwidth`: when the wire is next free.
    pub pacer: Pacer,
    /// `corrupt` on a stream: where the next changed byte falls.
    pub corrupter: Corrupter,
    /// `loss`: the Gilbert–Elliott state.
    pub loss: LossState,
    /// `slicer`: when the next slice may be written.
    pub slice_gap: SliceGap,
}

/// How a chunk about to be written to a stream is cut into writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pieces {
    /// As one write (as far as this fault cares).
    Whole,
    /// In writes of at most this many bytes (bandwidth, so its rate holds over short spans).
    AtMost(usize),
    /// In writes of exactly these sizes, in order, summing to the chunk's length (slicer).
    Sizes(Vec<usize>),
}

/// What a fault is shown with a chunk or datagram.
#[derive(Debug)]
pub struct Context<'a> {
    /// When it was read (tokio time).
    pub now: Instant,
    /// The random stream this fault draws from here.
    pub rng: &'a mut SeededRng,
    /// This fault's memory for this direction of this connection or flow.
    pub state: &'a mut State,
    /// Bytes the connection carried before this chunk (zero for datagrams).
    pub moved: Moved,
    /// Bytes the connection had carried when this fault reached it (when it opened with the
    /// fault on, or when the fault turned on with it open); zero for datagrams.
    pub reached: Moved,
    /// The fault's own direction (which bytes it counts).
    pub direction: Direction,
}

/// A fault's behaviour: one pure function per question an injector asks. Every answer defaults
/// to [`Verdict::Pass`], so each fault implements only what it does.
pub trait Behaviour {
    /// Whether, while on, the fault changes or times the stream bytes it covers (then the TCP
    /// proxy copies them through user space instead of splicing).
    fn touches_stream(&self) -> bool {
        false
    }

    /// Whether the fault acts on the whole injector rather than on connections it picks:
    /// direction and toxicity do not apply.
    fn whole_injector(&self) -> bool {
        false
    }

    /// Stream: asked before each read from the source. [`Verdict::Hold`] stops reading.
    fn before_read(&self) -> Verdict {
        Verdict::Pass
    }

    /// Stream: a chunk was just read from the source; it may be changed in place.
    fn on_chunk(&self, chunk: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        let _ = (chunk, cx);
        Verdict::Pass
    }

    /// Stream: `len` bytes are about to be written to the destination at `now`.
    fn on_send(&self, len: usize, now: Instant, state: &mut State) -> Verdict {
        let _ = (len, now, state);
        Verdict::Pass
    }

    /// Stream: how a chunk of `len` bytes about to be written is cut into writes (bandwidth
    /// caps each write, slicer cuts the chunk into slices drawn from `rng`). The writer cuts
    /// at the first fault's [`Pieces::Sizes`], then caps each piece by the smallest
    /// [`Pieces::AtMost`]; each piece then asks [`Behaviour::on_send`].
    fn send_pieces(&self, len: usize, rng: &mut SeededRng) -> Pieces {
        let _ = (len, rng);
        Pieces::Whole
    }

    /// Stream: the source closed. [`Verdict::Delay`] holds the close back.
    fn on_eof(&self) -> Verdict {
        Verdict::Pass
    }

    /// A connection event: [`Verdict::Reset`], [`Verdict::Close`], [`Verdict::CloseIn`] or
    /// [`Verdict::Refuse`].
    fn on_connection(&self, event: ConnEvent) -> Verdict {
        let _ = event;
        Verdict::Pass
    }

    /// One datagram or IP packet; it may be changed in place.
    fn on_datagram(&self, datagram: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        let _ = (datagram, cx);
        Verdict::Pass
    }
}

impl FaultKind {
    /// This kind's behaviour: the one place a new fault is registered with the injectors.
    pub fn behaviour(&self) -> &dyn Behaviour {
        match self {
            FaultKind::Latency(f) => f,
            FaultKind::Bandwidth(f) => f,
            FaultKind::Reset(f) => f,
            FaultKind::IdleTimeout(f) => f,
            FaultKind::Blackhole => &Blackhole,
            FaultKind::Stall => &Stall,
            FaultKind::Corrupt(f) => f,
            FaultKind::SlowClose(f) => f,
            FaultKind::LimitData(f) => f,
            FaultKind::Down => &Down,
            FaultKind::Loss(f) => f,
            FaultKind::Duplicate(f) => f,
            FaultKind::Reorder(f) => f,
            FaultKind::Conntrack(f) => f,
            FaultKind::Slicer(f) => f,
            FaultKind::Timeout(f) => f,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Fault;

    fn kind(spec: &str) -> FaultKind {
        spec.parse::<Fault>().expect(spec).kind
    }

    fn chunk_verdict(spec: &str, chunk: &mut [u8], moved: Moved) -> Verdict {
        let mut rng = SeededRng::new(1, 1);
        let mut state = State::default();
        let mut cx = Context {
            now: Instant::now(),
            rng: &mut rng,
            state: &mut state,
            moved,
            reached: Moved::default(),
            direction: Direction::Both,
        };
        kind(spec).behaviour().on_chunk(chunk, &mut cx)
    }

    #[test]
    fn stream_verdicts() {
        let moved = Moved { up: 60, down: 30 };
        let mut chunk = [0u8; 20];
        assert_eq!(
            chunk_verdict("latency:delay=7ms", &mut chunk, moved),
            Verdict::Delay(Duration::from_millis(7))
        );
        assert_eq!(chunk_verdict("blackhole", &mut chunk, moved), Verdict::Drop);
        assert_eq!(
            chunk_verdict("limit_data:bytes=100b", &mut chunk, moved),
            Verdict::Truncate(10)
        );
        assert_eq!(
            chunk_verdict("limit_data:bytes=1kb", &mut chunk, moved),
            Verdict::Pass
        );
        assert_eq!(
            chunk_verdict("reset:after_bytes=95b", &mut chunk, moved),
            Verdict::ResetAfter(5)
        );
        assert_eq!(
            chunk_verdict("reset:after_bytes=95b,wait=1s", &mut chunk, moved),
            Verdict::ResetIn {
                keep: 5,
                after: Duration::from_secs(1)
            }
        );
        assert_eq!(chunk_verdict("timeout", &mut chunk, moved), Verdict::Drop);
        assert_eq!(
            chunk_verdict("corrupt:probability=1", &mut chunk, moved),
            Verdict::Corrupt(20)
        );
        assert!(chunk.iter().all(|b| *b != 0), "changed in place");
        assert_eq!(kind("stall").behaviour().before_read(), Verdict::Hold);
        assert_eq!(
            kind("slow_close:delay=2s").behaviour().on_eof(),
            Verdict::Delay(Duration::from_secs(2))
        );
    }

    #[test]
    fn connection_verdicts() {
        let at = kind("reset:at=1s");
        assert_eq!(
            at.behaviour().on_connection(ConnEvent::TurnedOn),
            Verdict::Reset
        );
        assert_eq!(
            kind("reset:after_bytes=1kb")
                .behaviour()
                .on_connection(ConnEvent::TurnedOn),
            Verdict::Pass
        );
        let idle = kind("idle_timeout:idle=10s");
        let check = |s| idle.behaviour().on_connection(ConnEvent::Idle(s));
        assert_eq!(check(Duration::from_secs(9)), Verdict::Pass);
        assert_eq!(check(Duration::from_secs(10)), Verdict::Reset);
        let down = kind("down");
        assert!(down.behaviour().whole_injector());
        assert_eq!(
            down.behaviour().on_connection(ConnEvent::Connect),
            Verdict::Refuse
        );
        assert_eq!(
            down.behaviour().on_connection(ConnEvent::TurnedOn),
            Verdict::Close
        );
    }

    #[test]
    fn which_faults_touch_stream_bytes() {
        let touches = |s: &str| kind(s).behaviour().touches_stream();
        for spec in [
            "latency:delay=1ms",
            "bandwidth:rate=1mb",
            "blackhole",
            "stall",
            "corrupt:probability=0.1",
            "limit_data:bytes=1kb",
            "reset:after_bytes=1kb",
            "slicer:average_size=8b",
            "timeout:after=1s",
        ] {
            assert!(touches(spec), "{spec}");
        }
        for spec in [
            "reset:at=1s",
            "idle_timeout:idle=1s",
            "slow_close:delay=1s",
            "down",
            "loss:probability=0",
        ] {
            assert!(!touches(spec), "{spec}");
        }
    }
}
