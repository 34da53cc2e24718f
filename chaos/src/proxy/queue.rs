//! How many bytes one direction of a relayed connection may hold (delayed by latency, paced by
//! bandwidth, or waiting on a slow destination) before its reader stops reading.
//!
//! A latency fault holds every byte for its delay, so the relay holds `rate × delay`: a fixed
//! cap would cap the rate at `cap / delay` (64 MiB through 300 ms was 213 MiB/s, a third of the
//! same relay without the delay). The limit here follows the bandwidth-delay product instead:
//! twice the rate the destination drained at over the last busy interval times the longest delay
//! a segment was given, never below [`FLOOR`] and never above [`CEILING`]. Held to its limit, a
//! flow drains `limit / delay`, so the next limit doubles (slow start); a destination that drains
//! slower than the source sends keeps the limit at twice what it takes in a delay; an idle
//! interval (the queue ran dry: the source, not the relay, set the pace) leaves it alone. So what
//! one direction holds is bounded by `min(CEILING, max(FLOOR, 2 × drain rate × (delay + 1 ms)))`.
//!
//! [`Window`] decides (pure: the time is passed in); [`Queue`] holds the count and wakes the
//! reader.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

/// The least a direction may hold: enough that a relay without delay keeps both sockets busy
/// (64 reads of 256 KiB), and a stalled destination costs no more than this.
pub(crate) const FLOOR: usize = 16 << 20;
/// The most a direction may hold, whatever the bandwidth-delay product: 512 MiB (1.7 GiB/s
/// through 300 ms).
pub(crate) const CEILING: usize = 512 << 20;
/// The shortest interval the drain rate is measured over.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Added to each delay: the writer's timer may wake this much late.
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// The limit of one direction, from what its writer drained.
#[derive(Debug)]
pub(crate) struct Window {
    limit: usize,
    /// The current interval: when it began (its first write), bytes written, the longest delay.
    start: Option<Instant>,
    drained: u64,
    delay: Duration,
    /// Whether the queue ran dry during the interval.
    idle: bool,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            limit: FLOOR,
            start: None,
            drained: 0,
            delay: Duration::ZERO,
            idle: false,
        }
    }
}

impl Window {
    /// Bytes the direction may hold now.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The writer found nothing queued: the source sets the pace, so this interval says nothing
    /// about what the relay should hold.
    pub(crate) fn on_idle(&mut self) {
        self.idle = true;
    }

    /// The writer wrote `bytes` that the faults had delayed by `delay`. Returns the new limit
    /// when an interval ends and the limit changes.
    pub(crate) fn on_sent(&mut self, bytes: usize, delay: Duration, now: Instant) -> Option<usize> {
        let start = *self.start.get_or_insert(now);
        self.drained += bytes as u64;
        self.delay = self.delay.max(delay);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < self.delay.max(MIN_INTERVAL) {
            return None;
        }
        let busy = !self.idle;
        let (drained, delay) = (self.drained, self.delay);
        self.start = Some(now);
        self.drained = 0;
        self.delay = Duration::ZERO;
        self.idle = false;
        if !busy {
            return None;
        }
        let rate = drained as f64 / elapsed.as_secs_f64();
        let bdp = rate * (delay + TIMER_SLACK).as_secs_f64();
        let limit = ((2.0 * bdp) as usize).clamp(FLOOR, CEILING);
        (limit != self.limit).then(|| {
            self.limit = limit;
            limit
        })
    }
}

/// The bytes one direction holds against its limit, shared by its reader and writer.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    state: Mutex<(usize, Window)>,
    room: Notify,
}

/// Bytes held in the queue, given back when dropped (written, or the pipe ended).
#[derive(Debug)]
pub(crate) struct Held {
    queue: Arc<Queue>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        state.0 -= self.bytes;
        drop(state);
        self.queue.room.notify_one();
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, Window)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().0 == 0
    }

    /// Bytes held now.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.lock().0
    }

    /// Waits until `bytes` more fit under the limit (at once when nothing is held, so a chunk
    /// larger than the limit still passes), then holds them.
    pub(crate) async fn admit(self: &Arc<Self>, bytes: usize) -> Held {
        loop {
            let room = self.room.notified();
            {
                let mut state = self.lock();
                if state.0 == 0 || state.0 + bytes <= state.1.limit() {
                    state.0 += bytes;
                    return Held {
                        queue: self.clone(),
                        bytes,
                    };
                }
            }
            room.await;
        }
    }

    /// See [`Window::on_idle`].
    pub(crate) fn on_idle(&self) {
        self.lock().1.on_idle();
    }

    /// See [`Window::on_sent`]; a larger limit wakes the reader.
    pub(crate) fn on_sent(&self, bytes: usize, delay: Duration, now: Instant) {
        if self.lock().1.on_sent(bytes, delay, now).is_some() {
            self.room.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Drains at whatever the limit allows through `delay` for `intervals` intervals; returns
    /// the limits.
    fn held_to_its_limit(window: &mut Window, delay: Duration, intervals: u32) -> Vec<usize> {
        let t0 = Instant::now();
        let mut limits = Vec::new();
        for i in 0..intervals {
            // One interval of `delay`: what was admitted a delay ago leaves in 10 writes.
            let per_write = window.limit() / 10;
            for j in 0..=10 {
                let at = t0 + delay * i + delay * j / 10;
                if let Some(l) = window.on_sent(per_write, delay, at) {
                    limits.push(l);
                }
            }
        }
        limits
    }

    #[test]
    fn a_flow_held_to_its_limit_doubles_it_up_to_the_ceiling() {
        let mut w = Window::default();
        assert_eq!(w.limit(), FLOOR);
        let limits = held_to_its_limit(&mut w, ms(300), 12);
        assert!(limits.windows(2).all(|p| p[1] > p[0]), "{limits:?}");
        assert!(limits[0] >= 2 * FLOOR, "{limits:?}");
        assert_eq!(w.limit(), CEILING);
    }

    #[test]
    fn a_slow_destination_keeps_the_limit_near_twice_its_bdp() {
        let mut w = Window::default();
        held_to_its_limit(&mut w, ms(200), 10);
        assert_eq!(w.limit(), CEILING);
        // Now the destination takes 100 MiB/s: 1 MiB every 10 ms for two seconds.
        let t0 = Instant::now() + Duration::from_secs(10);
        for i in 0..200 {
            w.on_sent(MIB, ms(200), t0 + ms(10) * i);
        }
        let bdp = 100 * MIB / 5; // 100 MiB/s × 200 ms
        assert!(
            (2 * bdp..=2 * bdp + 4 * MIB).contains(&w.limit()),
            "{} MiB",
            w.limit() / MIB
        );
        // Without a delay, the floor.
        for i in 0..200 {
            w.on_sent(
                MIB,
                Duration::ZERO,
                t0 + Duration::from_secs(3) + ms(10) * i,
            );
        }
        assert_eq!(w.limit(), FLOOR);
    }

    #[test]
    fn an_idle_interval_leaves_the_limit_alone() {
        let mut w = Window::default();
        held_to_its_limit(&mut w, ms(100), 4);
        let grown = w.limit();
        assert!(grown > FLOOR);
        let t0 = Instant::now() + Duration::from_secs(10);
        for i in 0..100 {
            w.on_idle();
            w.on_sent(1, ms(100), t0 + ms(10) * i);
        }
        assert_eq!(w.limit(), grown);
    }

    #[tokio::test]
    async fn the_queue_admits_up_to_its_limit_and_one_chunk_when_empty() {
        let q = Arc::new(Queue::default());
        let big = q.admit(FLOOR + 1).await;
        assert_eq!(q.held(), FLOOR + 1);
        let waiting = tokio::spawn({
            let q = q.clone();
            async move { q.admit(MIB).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(big);
        let held = waiting.await.expect("admitted");
        assert_eq!(q.held(), MIB);
        drop(held);
        assert!(q.is_empty());
    }
}
