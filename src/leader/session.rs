//! Recovery sessions and their expiry: pure state, time passed in as `now`.
//!
//! Elasticsearch (`CcrRestoreSourceService`) gives each session a timer that fires every
//! `recovery_activity_timeout`: if the session saw no chunk request since the previous tick it is
//! closed, otherwise it is marked idle. A session therefore dies between T and 2T after its last
//! request. [`SessionTable::reap`] replays exactly those ticks for whatever time has passed.
//!
//! The table is also the leader's guard against a follower that asks for too much: it caps the
//! sessions open in all and per connection, and the chunk requests in flight per session, and
//! its ids are drawn at random from the whole `u64` range, so knowing your own session says
//! nothing about anyone else's (an id is the capability to read or close a session).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use crate::settings::LeaderSettings;

/// One open session.
#[derive(Debug)]
struct Session<T> {
    pinned: T,
    /// The connection that opened it.
    owner: u64,
    /// No chunk request since the last tick.
    idle: bool,
    next_tick: Instant,
    in_flight: u32,
}

/// How much the table lets followers hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// Sessions open at once, over every connection.
    pub max_sessions: u32,
    /// Sessions open at once that one connection opened.
    pub max_sessions_per_connection: u32,
    /// Chunk requests in flight at once on one session.
    pub max_requests_per_session: u32,
    /// Whether idle sessions expire (an Elasticsearch leader); an OpenSearch one keeps them.
    pub sessions_expire: bool,
}

impl LeaderSettings {
    /// The session table's caps.
    pub fn session_limits(&self) -> SessionLimits {
        SessionLimits {
            max_sessions: self.max_sessions,
            max_sessions_per_connection: self.max_sessions_per_connection,
            max_requests_per_session: self.max_requests_per_session,
            sessions_expire: self.flavor.expires_sessions(),
        }
    }
}

/// A session could not be opened or used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefused {
    /// The whole leader is at `max_sessions`.
    #[error("the leader has {open} sessions open, its max_sessions; {}", if *expires {
        "they expire after recovery_activity_timeout without requests"
    } else {
        "an OpenSearch leader never expires them: only CloseSession frees one, so a follower \
         that restarts without closing leaves its session pinned"
    })]
    TooManySessions {
        /// Sessions open.
        open: u32,
        /// Whether they would expire.
        expires: bool,
    },
    /// This connection is at `max_sessions_per_connection`.
    #[error(
        "this connection has {open} sessions open, the leader's max_sessions_per_connection; \
         close one (CloseSession) or let it expire"
    )]
    TooManySessionsOnConnection {
        /// Sessions this connection opened and that are still open.
        open: u32,
    },
    /// The session is at `max_requests_per_session`.
    #[error(
        "session {session} has {in_flight} chunk requests in flight, the leader's \
         max_requests_per_session (Elasticsearch's follower keeps at most \
         max_concurrent_file_chunks, 1 to 10)"
    )]
    TooManyRequests {
        /// The session.
        session: u64,
        /// Requests in flight on it.
        in_flight: u32,
    },
    /// No such session.
    #[error("no session {0} (never opened, closed or expired)")]
    Unknown(u64),
}

/// Draws session ids.
pub type IdSource = Box<dyn FnMut() -> u64 + Send>;

/// Open sessions, keyed by id, each pinning a `T` (the leader pins its file list).
pub struct SessionTable<T> {
    sessions: HashMap<u64, Session<T>>,
    /// Open sessions per owning connection.
    owned: HashMap<u64, u32>,
    activity_timeout: Duration,
    limits: SessionLimits,
    ids: IdSource,
    max_in_flight: u32,
}

impl<T> std::fmt::Debug for SessionTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTable")
            .field("open", &self.sessions.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Ids from the operating system's random source: unguessable, and a restarted leader does not
/// reuse the ids an old follower still holds.
pub fn random_ids() -> IdSource {
    let rng = ring::rand::SystemRandom::new();
    let mut fallback = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), 0u8);
    Box::new(move || match ring::rand::generate::<[u8; 8]>(&rng) {
        Ok(bytes) => u64::from_be_bytes(bytes.expose()),
        // The OS random source does not fail on Linux; if it ever does, stay unique.
        Err(_) => {
            fallback = fallback.wrapping_add(0x9e37_79b9_7f4a_7c15);
            fallback
        }
    })
}

impl<T: Clone> SessionTable<T> {
    /// An empty table with ids from `ids`.
    pub fn new(activity_timeout: Duration, limits: SessionLimits, ids: IdSource) -> Self {
        Self {
            sessions: HashMap::new(),
            owned: HashMap::new(),
            activity_timeout,
            limits,
            ids,
            max_in_flight: 0,
        }
    }

    /// Opens a session pinning `pinned` for connection `owner`; returns its id.
    pub fn open(&mut self, pinned: T, owner: u64, now: Instant) -> Result<u64, SessionRefused> {
        let open = self.sessions.len() as u32;
        if open >= self.limits.max_sessions {
            return Err(SessionRefused::TooManySessions {
                open,
                expires: self.limits.sessions_expire,
            });
        }
        let owned = self.owned.get(&owner).copied().unwrap_or(0);
        if owned >= self.limits.max_sessions_per_connection {
            return Err(SessionRefused::TooManySessionsOnConnection { open: owned });
        }
        let id = loop {
            let id = (self.ids)();
            if id != 0 && !self.sessions.contains_key(&id) {
                break id;
            }
        };
        self.sessions.insert(
            id,
            Session {
                pinned,
                owner,
                idle: false,
                next_tick: now + self.activity_timeout,
                in_flight: 0,
            },
        );
        *self.owned.entry(owner).or_default() += 1;
        Ok(id)
    }

    /// Sessions open now that connection `owner` opened.
    pub fn owned_by(&self, owner: u64) -> u32 {
        self.owned.get(&owner).copied().unwrap_or(0)
    }

    /// What session `id` pins, without counting as activity.
    pub fn get(&self, id: u64) -> Option<&T> {
        self.sessions.get(&id).map(|s| &s.pinned)
    }

    /// A chunk request begins on session `id`: it counts as activity and as one more request in
    /// flight. Returns what the session pins; refused for an unknown session or one already at
    /// `max_requests_per_session`.
    pub fn begin_chunk(&mut self, id: u64) -> Result<T, SessionRefused> {
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(SessionRefused::Unknown(id))?;
        if s.in_flight >= self.limits.max_requests_per_session {
            return Err(SessionRefused::TooManyRequests {
                session: id,
                in_flight: s.in_flight,
            });
        }
        s.idle = false;
        s.in_flight += 1;
        self.max_in_flight = self.max_in_flight.max(s.in_flight);
        Ok(s.pinned.clone())
    }

    /// A chunk request on session `id` has been answered.
    pub fn end_chunk(&mut self, id: u64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }

    /// Closes session `id`; false if it was not open.
    pub fn close(&mut self, id: u64) -> bool {
        let closed = self.remove(id);
        self.release_memory();
        closed
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some(s) = self.sessions.remove(&id) else {
            return false;
        };
        if let Some(n) = self.owned.get_mut(&s.owner) {
            *n -= 1;
            if *n == 0 {
                self.owned.remove(&s.owner);
            }
        }
        true
    }

    /// Hands memory back once most sessions are gone: a hash map never shrinks by itself, so a
    /// burst of sessions would otherwise keep its peak size for the leader's lifetime.
    fn release_memory(&mut self) {
        if self.sessions.capacity() > 4 * self.sessions.len() + 64 {
            self.sessions.shrink_to_fit();
            self.owned.shrink_to_fit();
        }
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
        for &id in &expired {
            self.remove(id);
        }
        self.release_memory();
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

    /// What every open session pins.
    pub fn pinned(&self) -> impl Iterator<Item = &T> {
        self.sessions.values().map(|s| &s.pinned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(60);
    const LIMITS: SessionLimits = SessionLimits {
        max_sessions: 1000,
        max_sessions_per_connection: 1000,
        max_requests_per_session: 1000,
        sessions_expire: true,
    };

    fn table<T: Clone>(limits: SessionLimits) -> SessionTable<T> {
        SessionTable::new(T, limits, random_ids())
    }

    #[test]
    fn an_untouched_session_dies_at_the_second_tick() {
        let t0 = Instant::now();
        let mut table = table(LIMITS);
        let id = table.open((), 1, t0).expect("open");
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
            let mut table = table(LIMITS);
            let id = table.open((), 1, t0).expect("open");
            table.reap(t0 + last_request_at);
            table.begin_chunk(id).expect("begin");
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
        let mut table = table(LIMITS);
        let id = table.open((), 1, t0).expect("open");
        for k in 1..100 {
            let now = t0 + T / 2 * k;
            assert!(table.reap(now).is_empty(), "tick {k}");
            table.begin_chunk(id).expect("begin");
            table.end_chunk(id);
        }
    }

    #[test]
    fn a_long_gap_is_caught_up_in_one_reap() {
        let t0 = Instant::now();
        let mut table = table(LIMITS);
        let id = table.open((), 1, t0).expect("open");
        assert_eq!(table.reap(t0 + 10 * T), vec![id]);
    }

    #[test]
    fn in_flight_high_water_mark_and_unknown_ids() {
        let mut table = table(LIMITS);
        let id = table.open("files", 1, Instant::now()).expect("open");
        assert_eq!(table.begin_chunk(id), Ok("files"));
        table.begin_chunk(id).expect("second");
        table.end_chunk(id);
        table.begin_chunk(id).expect("third");
        assert_eq!(table.max_in_flight(), 2);
        assert_eq!(
            table.begin_chunk(id ^ 1),
            Err(SessionRefused::Unknown(id ^ 1))
        );
        assert!(table.close(id));
        assert!(!table.close(id));
        assert!(table.is_empty());
    }

    #[test]
    fn ids_are_unique() {
        let now = Instant::now();
        let mut table = table(LIMITS);
        let a = table.open((), 1, now).expect("a");
        let b = table.open((), 1, now).expect("b");
        assert_ne!(a, b);
        assert_ne!(a.abs_diff(b), 1, "ids are not sequential");
    }

    #[test]
    fn session_counts_are_capped_in_all_and_per_connection() {
        let now = Instant::now();
        let mut table = table(SessionLimits {
            max_sessions: 3,
            max_sessions_per_connection: 2,
            ..LIMITS
        });
        let first = table.open((), 1, now).expect("1st");
        table.open((), 1, now).expect("2nd");
        assert_eq!(
            table.open((), 1, now),
            Err(SessionRefused::TooManySessionsOnConnection { open: 2 })
        );
        table.open((), 2, now).expect("another connection");
        assert_eq!(
            table.open((), 3, now),
            Err(SessionRefused::TooManySessions {
                open: 3,
                expires: true
            })
        );
        assert!(table.close(first));
        assert_eq!(table.owned_by(1), 1);
        table.open((), 3, now).expect("room again");
        assert_eq!(table.reap(now + 2 * T).len(), 3);
        assert_eq!(table.owned_by(1), 0);
        assert!(table.is_empty());
    }

    #[test]
    fn requests_in_flight_are_capped_per_session() {
        let mut table = table(SessionLimits {
            max_requests_per_session: 2,
            ..LIMITS
        });
        let id = table.open((), 1, Instant::now()).expect("open");
        table.begin_chunk(id).expect("1");
        table.begin_chunk(id).expect("2");
        assert_eq!(
            table.begin_chunk(id),
            Err(SessionRefused::TooManyRequests {
                session: id,
                in_flight: 2
            })
        );
        table.end_chunk(id);
        table.begin_chunk(id).expect("a slot freed");
    }

    #[test]
    fn memory_is_handed_back_when_sessions_go() {
        let now = Instant::now();
        let mut table = table(LIMITS);
        let ids: Vec<u64> = (0..1000)
            .map(|_| table.open((), 1, now).expect("open"))
            .collect();
        let peak = table.sessions.capacity();
        for id in ids {
            table.close(id);
        }
        assert!(table.sessions.capacity() < peak / 4, "{peak}");
    }
}
