//! Connection slots: the one `max_connections` limit for TCP and QUIC, and which connection to
//! close when every slot is taken and a new follower knocks.
//!
//! Idle channels are normal (the intra-cluster profile keeps eleven of its thirteen idle, and
//! Elasticsearch never closes them), so the leader does not reap them on a timer. Only when a
//! new connection finds every slot taken does it close, to make room, the connection idle
//! longest among those that either never said `Hello` and have been silent for a tenth of
//! `handshake_timeout` (a follower greets as soon as it connects), or said it, have sent nothing
//! for `idle_connection_timeout` and own no open session. Thousands of connections that connect
//! and sit can then no longer lock a real follower out.
//!
//! A QUIC connection is one slot holder, listed from its first packet; its streams share its
//! record (a `Hello` or a frame on any of them counts for the connection), and it is shed as a
//! whole.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

/// What the leader knows of one connection's liveness.
#[derive(Debug)]
pub(crate) struct Activity {
    /// Identifies the connection (and owns its sessions).
    pub(crate) id: u64,
    base: Instant,
    /// Milliseconds after `base` of the last whole frame received (or of the accept).
    last_frame_ms: AtomicU64,
    greeted: AtomicBool,
    /// Notified when the connection must close to free its slot.
    pub(crate) shed: Notify,
}

impl Activity {
    /// The peer said a valid `Hello`.
    pub(crate) fn greet(&self) {
        self.greeted.store(true, Ordering::Relaxed);
    }

    /// Whether the peer said a valid `Hello` (on any stream of a QUIC connection).
    pub(crate) fn greeted(&self) -> bool {
        self.greeted.load(Ordering::Relaxed)
    }

    /// A frame arrived.
    pub(crate) fn touch(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last_frame_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self, now: Instant) -> Duration {
        let last = self.base + Duration::from_millis(self.last_frame_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }
}

/// Connection slots and the connections holding them.
#[derive(Debug)]
pub(crate) struct Slots {
    permits: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

/// Connection ids, unique in the process: the nodes of a cluster ([`super::start_cluster`])
/// share session tables through forwarding, so one node's connection 3 must not be another's.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Slots {
    pub(crate) fn new(max_connections: u32) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_connections as usize)),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot if one is free now.
    pub(crate) fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Waits for a slot.
    pub(crate) async fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    /// A fresh activity record, not a candidate for shedding.
    fn unlisted(&self) -> Arc<Activity> {
        Arc::new(Activity {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            base: Instant::now(),
            last_frame_ms: AtomicU64::new(0),
            greeted: AtomicBool::new(false),
            shed: Notify::new(),
        })
    }

    /// Lists a new connection as a candidate for shedding.
    pub(crate) fn list(&self) -> Arc<Activity> {
        let activity = self.unlisted();
        self.open().insert(activity.id, activity.clone());
        activity
    }

    /// The connection has closed.
    pub(crate) fn unlist(&self, id: u64) {
        self.open().remove(&id);
    }

    /// Asks the connection idle longest among those that may give their slot up to close:
    /// never greeted and silent for `silent`, or greeted, idle for `idle` and owning no session.
    /// Returns its id.
    pub(crate) fn shed_one(
        &self,
        silent: Duration,
        idle: Duration,
        owns_session: impl Fn(u64) -> bool,
    ) -> Option<u64> {
        let now = Instant::now();
        let mut open = self.open();
        // Silent ones first, however long a greeted one has been idle: a follower's idle
        // channels (which Elasticsearch keeps) go only when no silent socket is left.
        let (id, _) = open
            .iter()
            .map(|(&id, a)| (id, a.greeted.load(Ordering::Relaxed), a.idle_for(now)))
            .filter(|&(id, greeted, idle_for)| {
                if greeted {
                    idle_for >= idle && !owns_session(id)
                } else {
                    idle_for >= silent
                }
            })
            .map(|(id, greeted, idle_for)| (id, (!greeted, idle_for)))
            .max_by_key(|&(_, rank)| rank)?;
        let victim = open.remove(&id)?;
        victim.shed.notify_one();
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_idle_connection_without_a_session_is_shed() {
        let slots = Slots::new(3);
        let (old, owner, fresh) = (slots.list(), slots.list(), slots.list());
        for a in [&old, &owner, &fresh] {
            a.greet();
        }
        std::thread::sleep(Duration::from_millis(30));
        fresh.touch();
        let never = Duration::from_secs(3600);
        let idle = Duration::from_millis(20);
        let shed = slots.shed_one(never, idle, |id| id == owner.id);
        assert_eq!(shed, Some(old.id), "idle and owning nothing");
        assert_eq!(
            slots.shed_one(never, idle, |id| id == owner.id),
            None,
            "the owner and the fresh one stay"
        );
        assert!(slots.shed_one(never, idle, |_| false) == Some(owner.id));
    }

    #[test]
    fn a_silent_connection_goes_long_before_an_idle_greeted_one() {
        let slots = Slots::new(2);
        let greeted = slots.list();
        greeted.greet();
        let silent = slots.list();
        std::thread::sleep(Duration::from_millis(30));
        let (short, long) = (Duration::from_millis(20), Duration::from_secs(3600));
        assert_eq!(slots.shed_one(short, long, |_| false), Some(silent.id));
        assert_eq!(slots.shed_one(short, long, |_| false), None);
        let silent = slots.list();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            slots.shed_one(short, Duration::ZERO, |_| false),
            Some(silent.id),
            "a silent one goes before a greeted one idle longer"
        );
    }
}
