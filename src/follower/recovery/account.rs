//! Where a recovery's time goes, kept as it runs: every interval between two steps of the machine
//! is charged to the one [`Activity`] its state showed during it (see `Recovery::activity`), so
//! the terms sum to the duration by construction. Two terms are refined when their evidence
//! arrives: time charged to the network while a request was the oldest outstanding one moves to
//! the leader's limiter, up to what the leader reports it waited there; time charged to storage
//! while a chunk was being throttled and written moves to the follower's limiter, up to what the
//! driver measured. Neither can move more than was charged, whatever a hostile leader reports.

use std::time::Duration;

use tokio::time::Instant;

use super::super::breakdown::{Activity, RequestSample, TimeBreakdown};

/// The running account.
#[derive(Debug)]
pub(super) struct TimeAccount {
    last: Instant,
    spent: TimeBreakdown,
    requests: Vec<RequestSample>,
    finalize_times: Vec<Duration>,
}

/// What one chunk was charged while it was the oldest outstanding one.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct ChunkCharge {
    /// When it was last sent.
    pub sent_at: Option<Instant>,
    /// Time charged to [`Activity::Network`] on its account.
    pub network: Duration,
    /// Time charged to [`Activity::Storage`] on its account.
    pub storage: Duration,
}

impl ChunkCharge {
    /// Adds `dt` charged to `activity` on this chunk's account.
    pub fn add(&mut self, activity: Activity, dt: Duration) {
        match activity {
            Activity::Network => self.network += dt,
            Activity::Storage => self.storage += dt,
            _ => {}
        }
    }
}

impl TimeAccount {
    /// An account opened at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            last: now,
            spent: TimeBreakdown::default(),
            requests: Vec::new(),
            finalize_times: Vec::new(),
        }
    }

    /// Charges the time since the last step to `activity`; returns it.
    pub fn charge(&mut self, now: Instant, activity: Activity) -> Duration {
        let dt = now.saturating_duration_since(self.last);
        self.last = self.last.max(now);
        *self.spent.slot(activity) += dt.as_secs_f64();
        dt
    }

    /// Moves up to `claimed` of what `charge` put on `from` for one chunk to `to`.
    pub fn refine(
        &mut self,
        charged: &mut Duration,
        claimed: Duration,
        from: Activity,
        to: Activity,
    ) {
        let moved = claimed.min(*charged);
        *charged -= moved;
        let secs = moved.as_secs_f64().min(self.spent.get(from));
        *self.spent.slot(from) -= secs;
        *self.spent.slot(to) += secs;
    }

    /// A request ended (answered when `ok`).
    pub fn request_done(&mut self, sample: RequestSample) {
        self.requests.push(sample);
    }

    /// A file's finalize took `took`.
    pub fn finalized(&mut self, took: Duration) {
        self.finalize_times.push(took);
    }

    /// The terms so far (float dust from refining, below a nanosecond, reads as zero).
    pub fn spent(&self) -> TimeBreakdown {
        let mut spent = self.spent;
        for a in Activity::ALL {
            let slot = spent.slot(a);
            if *slot < 1e-9 {
                *slot = 0.0;
            }
        }
        spent
    }

    /// Every request that ended.
    pub fn requests(&self) -> &[RequestSample] {
        &self.requests
    }

    /// The median time a file's finalize (verify, fsync, rename) took, if any file was.
    pub fn median_finalize(&self) -> Option<Duration> {
        let mut times = self.finalize_times.clone();
        times.sort();
        times.get(times.len() / 2).copied()
    }
}
