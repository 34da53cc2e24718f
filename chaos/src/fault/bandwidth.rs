//! `bandwidth`: pace a direction to `rate` bytes per second (per connection, like toxiproxy).
//!
//! A pacer, not a bucket with a large burst: each chunk is scheduled to leave when the bytes
//! before it have had their time on the wire, so the rate holds over short spans too. A sender
//! that wakes late (timers have millisecond granularity) may catch up on at most
//! [`CATCH_UP`] of lost time, so lateness does not accumulate into a lower rate, and an idle
//! link earns no burst larger than that.
//!
//! On a stream the pacing happens as bytes leave (after any latency); a datagram is paced as it
//! arrives, and one that would wait longer than [`QUEUE_LIMIT`] is dropped, as a router's finite
//! buffer drops the tail.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::verdict::{Behaviour, Context, State, Verdict};
use crate::units::ByteSize;

/// Parameters of a bandwidth fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bandwidth {
    /// Bytes per second.
    pub rate: ByteSize,
}

/// The most lost time a pacer makes up for.
pub const CATCH_UP: Duration = Duration::from_millis(20);

/// The longest a `rate` fault queues a datagram before dropping it (a router's buffer).
pub const QUEUE_LIMIT: Duration = Duration::from_millis(250);

impl Behaviour for Bandwidth {
    fn touches_stream(&self) -> bool {
        true
    }

    fn on_send(&self, len: usize, now: Instant, state: &mut State) -> Verdict {
        Verdict::Pace(state.pacer.reserve(now, len, self.rate))
    }

    fn on_datagram(&self, datagram: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        let at = cx.state.pacer.reserve(cx.now, datagram.len(), self.rate);
        if at > cx.now + QUEUE_LIMIT {
            Verdict::Drop
        } else {
            Verdict::Pace(at)
        }
    }
}

/// Schedules chunks at a byte rate.
#[derive(Debug, Default)]
pub struct Pacer {
    next_free: Option<Instant>,
}

impl Pacer {
    /// When a chunk of `bytes`, ready at `now`, may be sent at `rate` bytes per second. At most
    /// [`CATCH_UP`] of idle or late time is banked.
    pub fn reserve(&mut self, now: Instant, bytes: usize, rate: ByteSize) -> Instant {
        let floor = now.checked_sub(CATCH_UP).unwrap_or(now);
        let start = self.next_free.map_or(now, |t| t.max(floor));
        let on_wire = Duration::from_secs_f64(bytes as f64 / rate.bytes().max(1) as f64);
        self.next_free = Some(start + on_wire);
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_spaced_by_their_time_on_the_wire() {
        let mut p = Pacer::default();
        let t0 = Instant::now();
        let rate = ByteSize::mib(1);
        assert_eq!(p.reserve(t0, 1 << 19, rate), t0);
        let second = p.reserve(t0, 1 << 19, rate);
        assert_eq!(second - t0, Duration::from_millis(500));
        // A late sender catches up on a little lost time...
        let late = t0 + Duration::from_millis(1005);
        assert_eq!(p.reserve(late, 1 << 10, rate), t0 + Duration::from_secs(1));
        // ...but after an idle spell no more than CATCH_UP is owed.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(p.reserve(later, 10, rate), later - CATCH_UP);
    }
}
