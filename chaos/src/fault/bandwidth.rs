//! `bandwidth`: pace a direction to `rate` bytes per second (per connection, like toxiproxy).
//!
//! A pacer, not a bucket with a large burst: as in toxiproxy, a chunk leaves once it and the
//! bytes before it have had their time on the wire (so even the first bytes of a connection wait
//! `len / rate`), and a stream writes at most [`PIECE`] worth of bytes at once, so the rate
//! holds over short spans too (toxiproxy splits into 100 ms pieces). A sender
//! that wakes late (timers have millisecond granularity) may catch up on at most
//! [`CATCH_UP`] of lost time, so lateness does not accumulate into a lower rate, and an idle
//! link earns no burst larger than that.
//!
//! On a stream the pacing happens as bytes leave (after any latency); a datagram is paced as it
//! arrives, and one that would wait longer than [`QUEUE_LIMIT`] to start is dropped, as a
//! router's finite buffer drops the tail (a dropped packet takes no time on the wire).

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::verdict::{Behaviour, Context, Pieces, State, Verdict};
use crate::{rng::SeededRng, units::ByteSize};

/// Parameters of a bandwidth fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bandwidth {
    /// Bytes per second.
    pub rate: ByteSize,
}

/// The most lost time a pacer makes up for.
pub const CATCH_UP: Duration = Duration::from_millis(20);

/// The most time on the wire a stream writes in one piece.
pub const PIECE: Duration = Duration::from_millis(20);

/// The longest a `rate` fault queues a datagram before dropping it (a router's buffer).
pub const QUEUE_LIMIT: Duration = Duration::from_millis(250);

impl Behaviour for Bandwidth {
    fn touches_stream(&self) -> bool {
        true
    }

    fn on_send(&self, len: usize, now: Instant, state: &mut State) -> Verdict {
        Verdict::Pace(state.pacer.reserve(now, len, self.rate))
    }

    fn send_pieces(&self, _len: usize, _rng: &mut SeededRng) -> Pieces {
        Pieces::AtMost(((self.rate.bytes() as f64 * PIECE.as_secs_f64()) as usize).max(1))
    }

    fn on_datagram(&self, datagram: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        let limit = cx.now + QUEUE_LIMIT;
        match cx
            .state
            .pacer
            .reserve_before(cx.now, limit, datagram.len(), self.rate)
        {
            Some(at) => Verdict::Pace(at),
            None => Verdict::Drop,
        }
    }
}

/// Schedules chunks at a byte rate.
#[derive(Debug, Default)]
pub struct Pacer {
    next_free: Option<Instant>,
}

impl Pacer {
    /// When a chunk of `bytes`, ready at `now`, has had its time on the wire at `rate` bytes
    /// per second after the chunks before it: the instant it may be passed on. At most
    /// [`CATCH_UP`] of idle or late time is banked.
    pub fn reserve(&mut self, now: Instant, bytes: usize, rate: ByteSize) -> Instant {
        let start = self.start(now);
        self.take(start, bytes, rate)
    }

    /// As [`Pacer::reserve`], for a packet in a finite queue: `None` (and the wire stays free)
    /// if it could not start on the wire by `limit`.
    pub fn reserve_before(
        &mut self,
        now: Instant,
        limit: Instant,
        bytes: usize,
        rate: ByteSize,
    ) -> Option<Instant> {
        let start = self.start(now);
        (start <= limit).then(|| self.take(start, bytes, rate))
    }

    fn start(&self, now: Instant) -> Instant {
        let floor = now.checked_sub(CATCH_UP).unwrap_or(now);
        self.next_free.map_or(now, |t| t.max(floor))
    }

    fn take(&mut self, start: Instant, bytes: usize, rate: ByteSize) -> Instant {
        let on_wire = Duration::from_secs_f64(bytes as f64 / rate.bytes().max(1) as f64);
        let done = start + on_wire;
        self.next_free = Some(done);
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_writes_at_most_twenty_milliseconds_at_once() {
        let b = Bandwidth {
            rate: ByteSize::kib(500),
        };
        let mut rng = SeededRng::new(1, 1);
        assert_eq!(b.send_pieces(1 << 20, &mut rng), Pieces::AtMost(10_240));
        let tiny = Bandwidth { rate: ByteSize(10) };
        assert_eq!(tiny.send_pieces(5, &mut rng), Pieces::AtMost(1));
    }

    #[test]
    fn chunks_are_spaced_by_their_time_on_the_wire() {
        let mut p = Pacer::default();
        let t0 = Instant::now();
        let rate = ByteSize::mib(1);
        let half = Duration::from_millis(500);
        // The first chunk waits its own time on the wire, as toxiproxy's does.
        assert_eq!(p.reserve(t0, 1 << 19, rate), t0 + half);
        assert_eq!(p.reserve(t0, 1 << 19, rate), t0 + 2 * half);
        // A late sender catches up on a little lost time...
        let late = t0 + Duration::from_millis(1005);
        let kib = Duration::from_secs_f64(1.0 / 1024.0);
        assert_eq!(p.reserve(late, 1 << 10, rate), t0 + 2 * half + kib);
        // ...but after an idle spell no more than CATCH_UP is owed.
        let later = t0 + Duration::from_secs(5);
        let ten = Duration::from_secs_f64(10.0 / (1 << 20) as f64);
        assert_eq!(p.reserve(later, 10, rate), later - CATCH_UP + ten);
    }
}
