//! The leader's node limiter: [`FairShare`] driven by tokio time, one line per session.
//!
//! Each waiter puts its request in line, then polls the shared state whenever the next slice is
//! due; whoever polls wakes every waiter whose request was paid for in full. No task of its own:
//! a limiter nobody waits on costs nothing, and paused (simulated) time drives it in tests.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use tokio::{sync::oneshot, time::Instant};

use super::fair_share::{FairShare, Ticket};
use crate::units::ByteSize;

#[derive(Debug)]
struct Line {
    share: FairShare,
    wake: HashMap<Ticket, oneshot::Sender<()>>,
}

impl Line {
    /// Grants what is due and wakes those paid for; returns when the next slice is due.
    fn poll(&mut self) -> Option<Instant> {
        let grants = self.share.poll(Instant::now().into_std());
        for ticket in grants.granted {
            if let Some(tx) = self.wake.remove(&ticket) {
                let _ = tx.send(());
            }
        }
        grants.next.map(Instant::from_std)
    }
}

/// `ccr.indices.recovery.max_bytes_per_sec` on the leader, shared fairly by sessions.
#[derive(Debug)]
pub struct FairRateLimiter {
    rate: ByteSize,
    line: Option<Mutex<Line>>,
}

impl FairRateLimiter {
    /// A limiter for `rate` bytes per second; `0` is unlimited.
    pub fn new(rate: ByteSize) -> Self {
        let line = (rate.bytes() > 0).then(|| {
            Mutex::new(Line {
                share: FairShare::new(rate.bytes(), Instant::now().into_std()),
                wake: HashMap::new(),
            })
        });
        Self { rate, line }
    }

    /// The configured rate (`0b` when unlimited).
    pub fn rate(&self) -> ByteSize {
        self.rate
    }

    fn lock(line: &Mutex<Line>) -> MutexGuard<'_, Line> {
        line.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `bytes` may pass for `key` (a session); returns how long it waited.
    pub async fn pause(&self, key: u64, bytes: u64) -> Duration {
        let Some(line) = &self.line else {
            return Duration::ZERO;
        };
        let start = Instant::now();
        let (tx, mut paid) = oneshot::channel();
        let ticket = {
            let mut l = Self::lock(line);
            let ticket = l.share.enqueue(key, bytes);
            l.wake.insert(ticket, tx);
            ticket
        };
        let mut in_line = InLine { line, ticket };
        loop {
            let next = Self::lock(line).poll();
            if paid.try_recv().is_ok() {
                break;
            }
            let next = next.unwrap_or_else(|| Instant::now() + Duration::from_millis(10));
            tokio::select! {
                _ = &mut paid => break,
                _ = tokio::time::sleep_until(next) => {}
            }
        }
        in_line.paid();
        start.elapsed()
    }
}

/// Takes a request out of line if its waiter goes away before it is paid for.
struct InLine<'a> {
    line: &'a Mutex<Line>,
    ticket: Ticket,
}

impl InLine<'_> {
    fn paid(&mut self) {
        self.ticket = Ticket(u64::MAX);
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        if self.ticket != Ticket(u64::MAX) {
            let mut l = FairRateLimiter::lock(self.line);
            l.share.cancel(self.ticket);
            l.wake.remove(&self.ticket);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const MIB: u64 = 1 << 20;

    #[tokio::test]
    async fn unlimited_never_waits() {
        let l = FairRateLimiter::new(ByteSize(0));
        assert_eq!(l.pause(1, 1 << 30).await, Duration::ZERO);
    }

    /// In simulated time: a session with 32 pipelined 22 MiB requests and one that asks for
    /// 1 MiB at a time share 40 MiB/s about evenly.
    #[tokio::test(start_paused = true)]
    async fn a_pipelining_session_gets_no_more_than_its_share() {
        let l = Arc::new(FairRateLimiter::new(ByteSize::mib(40)));
        for _ in 0..32 {
            let l = l.clone();
            tokio::spawn(async move {
                loop {
                    l.pause(1, 22 * MIB).await;
                }
            });
        }
        let start = Instant::now();
        let mut modest = 0;
        while start.elapsed() < Duration::from_secs(20) {
            l.pause(2, MIB).await;
            modest += MIB;
        }
        let rate = modest as f64 / start.elapsed().as_secs_f64() / MIB as f64;
        assert!((18.0..=21.0).contains(&rate), "{rate:.2} MiB/s of 40");
    }

    /// The leader's limiter keeps simulated time too: 10 MiB at 10 MiB/s, shared by two
    /// sessions, take a simulated second (less the 20 ms burst) and next to no real time.
    #[tokio::test(start_paused = true)]
    async fn ten_mib_at_ten_mib_a_second_take_a_simulated_second() {
        let wall = std::time::Instant::now();
        let l = Arc::new(FairRateLimiter::new("10mb".parse().expect("a size")));
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for session in 0..2 {
            let l = l.clone();
            set.spawn(async move {
                for _ in 0..80 {
                    l.pause(session, 64 << 10).await;
                }
                start.elapsed()
            });
        }
        let mut finished = Vec::new();
        while let Some(took) = set.join_next().await {
            finished.push(took.expect("session"));
        }
        let took = start.elapsed();
        assert!(
            (Duration::from_millis(960)..=Duration::from_millis(1_010)).contains(&took),
            "{took:?}"
        );
        // Shared evenly, the two finish together, but for the full bucket's 20 ms and a slice
        // that the session polled first takes before the other has asked.
        assert!(
            finished
                .iter()
                .all(|t| took - *t <= Duration::from_millis(30)),
            "{finished:?}"
        );
        assert!(
            wall.elapsed() < Duration::from_millis(500),
            "{:?}",
            wall.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_waiter_gives_its_place_back() {
        let l = FairRateLimiter::new(ByteSize::mib(1));
        let hog = l.pause(1, 100 * MIB);
        let _ = tokio::time::timeout(Duration::from_millis(100), hog).await;
        let start = Instant::now();
        l.pause(2, 64 << 10).await;
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
    }
}
