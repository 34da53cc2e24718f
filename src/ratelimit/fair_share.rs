//! Fair sharing of one byte rate among many takers: pure state, time passed in as `now`.
//!
//! A token bucket refilled at `rate`, and a round robin over the keys (sessions) that wait:
//! each turn grants the key at the front one slice (at most [`FairShare::slice`] bytes) of its
//! oldest request, then sends it to the back of the line. Requests are thus paid for slice by
//! slice, interleaved across keys, so every key with work waiting gets the same bytes per second
//! whatever its chunk size or the number of requests it queued. A plain first-come limiter
//! (the follower's [`super::TokenBucket`], Lucene's) would hand a follower that pipelined a hundred 22 MiB requests a
//! hundred times the share of one that keeps five 1 MiB requests in flight.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

/// One request waiting for bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

#[derive(Debug)]
struct Waiting {
    ticket: Ticket,
    remaining: u64,
}

/// What [`FairShare::poll`] decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Requests now paid for in full, in the order they completed.
    pub granted: Vec<Ticket>,
    /// When the next slice can be granted; `None` when nothing waits.
    pub next: Option<Instant>,
}

/// The bucket and the line.
#[derive(Debug)]
pub struct FairShare {
    rate: f64,
    burst: f64,
    slice: u64,
    tokens: f64,
    last: Instant,
    /// Keys with requests waiting, in turn order.
    turns: VecDeque<u64>,
    queues: HashMap<u64, VecDeque<Waiting>>,
    keys: HashMap<Ticket, u64>,
    next_ticket: u64,
}

impl FairShare {
    /// A full bucket for `rate` bytes per second (> 0) with a burst of 20 ms worth of bytes
    /// (at least 1 KiB): small enough that the rate holds within a few percent over seconds.
    pub fn new(rate: u64, now: Instant) -> Self {
        let rate = rate.max(1) as f64;
        let burst = (rate / 50.0).max(1024.0);
        Self {
            rate,
            burst,
            slice: (burst as u64).min(64 << 10),
            tokens: burst,
            last: now,
            turns: VecDeque::new(),
            queues: HashMap::new(),
            keys: HashMap::new(),
            next_ticket: 0,
        }
    }

    /// Bytes granted per turn.
    pub fn slice(&self) -> u64 {
        self.slice
    }

    /// Puts a request for `bytes` by `key` in line; [`Self::poll`] says when it is paid for.
    pub fn enqueue(&mut self, key: u64, bytes: u64) -> Ticket {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        let queue = self.queues.entry(key).or_default();
        if queue.is_empty() {
            self.turns.push_back(key);
        }
        queue.push_back(Waiting {
            ticket,
            remaining: bytes,
        });
        self.keys.insert(ticket, key);
        ticket
    }

    /// Takes a request out of line (its taker gave up); slices already paid are not refunded.
    pub fn cancel(&mut self, ticket: Ticket) {
        let Some(key) = self.keys.remove(&ticket) else {
            return;
        };
        if let Some(queue) = self.queues.get_mut(&key) {
            queue.retain(|w| w.ticket != ticket);
            if queue.is_empty() {
                self.queues.remove(&key);
                self.turns.retain(|k| *k != key);
            }
        }
    }

    /// Grants every slice the bucket holds by `now`, key by key in turn.
    pub fn poll(&mut self, now: Instant) -> Grants {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        let mut grants = Grants::default();
        while let Some(&key) = self.turns.front() {
            let Some(head) = self.queues.get_mut(&key).and_then(|q| q.front_mut()) else {
                self.turns.pop_front();
                continue;
            };
            let take = head.remaining.min(self.slice);
            if self.tokens < take as f64 {
                // At least a microsecond: a shortfall that rounds to zero would be polled
                // again at the same instant, forever.
                let short = take as f64 - self.tokens;
                let wait = Duration::from_secs_f64(short / self.rate);
                grants.next = Some(now + wait.max(Duration::from_micros(1)));
                return grants;
            }
            self.tokens -= take as f64;
            head.remaining -= take;
            self.turns.pop_front();
            let queue = self.queues.get_mut(&key).expect("the key has a queue");
            if head_done(queue) {
                let done = queue.pop_front().expect("a head");
                self.keys.remove(&done.ticket);
                grants.granted.push(done.ticket);
            }
            if queue.is_empty() {
                self.queues.remove(&key);
            } else {
                self.turns.push_back(key);
            }
        }
        grants
    }
}

fn head_done(queue: &VecDeque<Waiting>) -> bool {
    queue.front().is_some_and(|w| w.remaining == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// Runs the bucket for `secs` of simulated time: `greedy` keeps `backlog` requests of
    /// `greedy_len` queued, `modest` keeps one request of `modest_len` at a time. Returns the
    /// bytes each was granted.
    fn share(secs: u64, greedy_len: u64, backlog: usize, modest_len: u64) -> (u64, u64) {
        let t0 = Instant::now();
        let mut fair = FairShare::new(40 * MIB, t0);
        let mut lens = HashMap::new();
        for _ in 0..backlog {
            lens.insert(fair.enqueue(1, greedy_len), (1, greedy_len));
        }
        if modest_len > 0 {
            lens.insert(fair.enqueue(2, modest_len), (2, modest_len));
        }
        let (mut greedy, mut modest) = (0, 0);
        let mut now = t0;
        while now < t0 + Duration::from_secs(secs) {
            let grants = fair.poll(now);
            for t in grants.granted {
                let (key, len) = lens.remove(&t).expect("known ticket");
                let next = fair.enqueue(key, len);
                lens.insert(next, (key, len));
                if key == 1 {
                    greedy += len;
                } else {
                    modest += len;
                }
            }
            now = grants
                .next
                .expect("work waits")
                .max(now + Duration::from_micros(100));
        }
        (greedy, modest)
    }

    #[test]
    fn one_taker_gets_the_whole_rate() {
        let (greedy, _) = share(10, MIB, 5, 0);
        let rate = greedy as f64 / 10.0 / MIB as f64;
        assert!((38.8..=41.2).contains(&rate), "{rate:.2} MiB/s of 40");
    }

    /// The seen attack: 100 pipelined 22 MiB requests against a follower's five 1 MiB ones.
    #[test]
    fn a_backlog_of_huge_requests_does_not_starve_a_modest_taker() {
        let (greedy, modest) = share(10, 22 * MIB, 100, MIB);
        let (g, m) = (greedy as f64, modest as f64);
        assert!(m / (g + m) > 0.45, "modest got {m} of {} bytes", g + m);
        let total = (g + m) / 10.0 / MIB as f64;
        assert!((38.0..=41.2).contains(&total), "{total:.2} MiB/s of 40");
    }

    #[test]
    fn a_cancelled_request_leaves_the_line() {
        let t0 = Instant::now();
        let mut fair = FairShare::new(MIB, t0);
        let gone = fair.enqueue(1, 10 * MIB);
        let kept = fair.enqueue(2, 1000);
        fair.cancel(gone);
        fair.cancel(gone);
        let grants = fair.poll(t0);
        assert_eq!(grants.granted, vec![kept]);
        assert_eq!(grants.next, None);
    }

    #[test]
    fn an_empty_bucket_says_when_the_next_slice_is_due() {
        let t0 = Instant::now();
        let mut fair = FairShare::new(MIB, t0);
        let slice = fair.slice();
        let burst = fair.poll(t0);
        assert!(burst.granted.is_empty() && burst.next.is_none());
        let big = fair.enqueue(1, 10 * slice);
        let first = fair.poll(t0);
        assert!(first.granted.is_empty());
        let due = first.next.expect("due");
        assert!(due > t0 && due < t0 + Duration::from_secs(1), "{due:?}");
        // The bucket holds one slice at most: the rest is paid slice by slice, when due.
        let mut now = due;
        let done_at = loop {
            let grants = fair.poll(now);
            if grants.granted == vec![big] {
                break now;
            }
            now = grants.next.expect("more is due");
        };
        let expected = Duration::from_secs_f64(9.0 * slice as f64 / MIB as f64);
        let took = done_at - t0;
        assert!(
            took >= expected && took < expected + Duration::from_millis(5),
            "{took:?}"
        );
    }
}
