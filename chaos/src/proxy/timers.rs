//! A connection's fault timers: when each fault that closes a connection a while after it
//! reached it (toxiproxy's `timeout`) is due. Pure: the supervisor passes the time in, sleeps
//! until [`Timers::next`] and acts on what [`Timers::due`] returns.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::connection::Ending;

/// Armed timers, by fault name (a fault arms one at a time: arming again restarts it).
#[derive(Debug, Default)]
pub(crate) struct Timers {
    by_fault: BTreeMap<String, (Instant, Ending)>,
}

impl Timers {
    /// Ends the connection with `ending` at `at`, in place of any timer `fault` had.
    pub(crate) fn arm(&mut self, fault: &str, at: Instant, ending: Ending) {
        self.by_fault.insert(fault.to_string(), (at, ending));
    }

    /// Drops `fault`'s timer (it turned off).
    pub(crate) fn disarm(&mut self, fault: &str) {
        self.by_fault.remove(fault);
    }

    /// Keeps only the timers of faults `keep` names.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.by_fault.retain(|name, _| keep(name));
    }

    /// When the next timer is due.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_fault.values().map(|(at, _)| *at).min()
    }

    /// The ending of the earliest timer due by `now` (by name among equals), if any.
    pub(crate) fn due(&self, now: Instant) -> Option<Ending> {
        self.by_fault
            .values()
            .filter(|(at, _)| *at <= now)
            .min_by_key(|(at, _)| *at)
            .map(|(_, ending)| ending.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_earliest_due_timer_ends_the_connection_and_rearming_restarts_it() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        assert_eq!((timers.next(), timers.due(t0)), (None, None));
        timers.arm("a", t0 + ms(300), Ending::Close("a".into()));
        timers.arm("b", t0 + ms(200), Ending::Close("b".into()));
        assert_eq!(timers.next(), Some(t0 + ms(200)));
        assert_eq!(timers.due(t0 + ms(199)), None);
        assert_eq!(timers.due(t0 + ms(400)), Some(Ending::Close("b".into())));
        timers.arm("b", t0 + ms(500), Ending::Close("b".into()));
        assert_eq!(timers.next(), Some(t0 + ms(300)));
        timers.disarm("a");
        timers.retain(|name| name != "b");
        assert_eq!(timers.next(), None);
    }
}
