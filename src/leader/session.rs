//! Recovery sessions and their expiry: pure state, time passed in as `now`.
//!
//! Elasticsearch (`CcrRestoreSourceService`) gives each session a timer that fires every
//! `recovery_activity_timeout`: if the session saw no chunk request since the previous tick it is
//! closed, otherwise it is marked idle. A session therefore dies between T and 2T after its last
//! request. [`SessionTable::reap`] replays exactly those ticks for whatever time has passed.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    time::{Duration, Instant},
};

/// One open session.
#[derive(Debug)]
struct Session<T> {
    pinned: T,
    /// No chunk request since the last tick.
    idle: bool,
    next_tick: Instant,
    in_flight: u32,
}

/// Open sessions, keyed by id, each pinning a `T` (the leader pins its file list).
#[derive(Debug)]
pub struct SessionTable<T> {
    sessions: HashMap<u64, Session<T>>,
    activity_timeout: Duration,
    next_id: u64,
    max_in_flight: u32,
}

impl<T: Clone> SessionTable<T> {
    /// An empty table. Ids start at a random point so that a restarted leader does not reuse
    /// the ids an old follower still holds.
    pub fn new(activity_timeout: Duration) -> Self {
        let start = RandomState::new().hash_one(0u8) >> 16;
        Self {
            sessions: HashMap::new(),
            activity_timeout,
            next_id: start.max(1),
            max_in_flight: 0,
        }
    }

    /// Opens a session pinning `pinned`; returns its id.
    pub fn open(&mut self, pinned: T, now: Instant) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.sessions.insert(
            id,
            Session {
                pinned,
                idle: false,
                next_tick: now + self.activity_timeout,
                in_flight: 0,
            },
        );
        id
    }

    /// What session `id` pins, without counting as activity.
    pub fn get(&self, id: u64) -> Option<&T> {
        self.sessions.get(&id).map(|s| &s.pinned)
    }

    /// A chunk request begins on session `id`: it counts as activity and as one more request in
    /// flight. Returns what the session pins, or `None` if there is no such session.
    pub fn begin_chunk(&mut self, id: u64) -> Option<T> {
        let s = self.sessions.get_mut(&id)?;
        s.idle = false;
        s.in_flight += 1;
        self.max_in_flight = self.max_in_flight.max(s.in_flight);
        Some(s.pinned.clone())
    }

    /// A chunk request on session `id` has been answered.
    pub fn end_chunk(&mut self, id: u64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }

    /// Closes session `id`; false if it was not open.
    pub fn close(&mut self, id: u64) -> bool {
        self.sessions.remove(&id).is_some()
    }

    /// Runs every expiry tick due by `now`; returns the ids of sessions closed.
    pub fn reap(&mut self, now: Instant) -> Vec<u64> {
        let period = self.activity_timeout;
        let mut expired = Vec::new();
        for (&id, s) in &mut self.sessions {
            while s.next_tick <= now {
                if s.idle {
                    expired.push(id);
                    break;
                }
                s.idle = true;
                s.next_tick += period;
            }
        }
        for id in &expired {
            self.sessions.remove(id);
        }
        expired
    }

    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The most chunk requests ever in flight at once on any one session.
    pub fn max_in_flight(&self) -> u32 {
        self.max_in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(60);

    #[test]
    fn an_untouched_session_dies_at_the_second_tick() {
        let t0 = Instant::now();
        let mut table = SessionTable::new(T);
        let id = table.open((), t0);
        assert!(
            table.reap(t0 + T).is_empty(),
            "first tick only marks it idle"
        );
        assert!(table.get(id).is_some());
        assert_eq!(table.reap(t0 + 2 * T), vec![id]);
        assert!(table.get(id).is_none());
    }

    #[test]
    fn a_session_dies_between_t_and_2t_after_its_last_request() {
        let t0 = Instant::now();
        for last_request_at in [Duration::from_secs(1), Duration::from_secs(59), T + T / 2] {
            let mut table = SessionTable::new(T);
            let id = table.open((), t0);
            table.reap(t0 + last_request_at);
            table.begin_chunk(id);
            table.end_chunk(id);
            let last = t0 + last_request_at;
            let mut died_at = None;
            for ms in (0..=3 * T.as_millis() as u64).step_by(100) {
                let now = last + Duration::from_millis(ms);
                if table.reap(now).contains(&id) {
                    died_at = Some(now - last);
                    break;
                }
            }
            let died_after = died_at.expect("session expires");
            assert!(died_after >= T && died_after <= 2 * T, "{died_after:?}");
        }
    }

    #[test]
    fn a_session_used_within_every_period_survives() {
        let t0 = Instant::now();
        let mut table = SessionTable::new(T);
        let id = table.open((), t0);
        for k in 1..100 {
            let now = t0 + T / 2 * k;
            assert!(table.reap(now).is_empty(), "tick {k}");
            table.begin_chunk(id);
            table.end_chunk(id);
        }
    }

    #[test]
    fn a_long_gap_is_caught_up_in_one_reap() {
        let t0 = Instant::now();
        let mut table = SessionTable::new(T);
        let id = table.open((), t0);
        assert_eq!(table.reap(t0 + 10 * T), vec![id]);
    }

    #[test]
    fn in_flight_high_water_mark_and_unknown_ids() {
        let mut table = SessionTable::new(T);
        let id = table.open("files", Instant::now());
        assert_eq!(table.begin_chunk(id), Some("files"));
        table.begin_chunk(id);
        table.end_chunk(id);
        table.begin_chunk(id);
        assert_eq!(table.max_in_flight(), 2);
        assert_eq!(table.begin_chunk(id + 1), None);
        assert!(table.close(id));
        assert!(!table.close(id));
        assert!(table.is_empty());
    }

    #[test]
    fn ids_are_unique() {
        let now = Instant::now();
        let mut table = SessionTable::new(T);
        let a = table.open((), now);
        let b = table.open((), now);
        assert_ne!(a, b);
    }
}
