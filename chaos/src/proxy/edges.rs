//! Turning a schedule into on/off edges as time passes: pure, time is an argument.

use std::time::Duration;

use crate::schedule::Schedule;

/// Most edges one `advance` will produce, so a pathological `every` cannot spin forever.
const MAX_EDGES_PER_ADVANCE: usize = 10_000;

/// Tracks one fault's next edges.
#[derive(Clone, Debug)]
pub(crate) struct EdgeClock {
    schedule: Schedule,
    /// Next on-edge: (when, start of its window).
    pending_on: Option<(Duration, Duration)>,
    off_at: Option<Duration>,
    on: bool,
}

impl EdgeClock {
    /// A clock for `schedule`, starting at `now` (a window already open at `now` turns on now).
    pub(crate) fn new(schedule: Schedule, now: Duration) -> Self {
        let pending_on = match schedule.window_at(now) {
            Some(begin) => Some((now, begin)),
            None => schedule.next_start_after(now).map(|s| (s, s)),
        };
        Self {
            schedule,
            pending_on,
            off_at: None,
            on: false,
        }
    }

    /// A clock for a fault that was already on at `now` (kept across a change of faults): no
    /// on-edge for the window it is in; its off-edge and later windows as usual. Should the
    /// window have closed by `now`, the off-edge is due at once.
    pub(crate) fn resumed_on(schedule: Schedule, now: Duration) -> Self {
        match schedule.window_at(now) {
            Some(begin) => Self {
                schedule,
                pending_on: schedule.next_start_after(begin).map(|s| (s, s)),
                off_at: schedule.end_of(begin),
                on: true,
            },
            None => Self {
                schedule,
                pending_on: schedule.next_start_after(now).map(|s| (s, s)),
                off_at: Some(now),
                on: true,
            },
        }
    }

    /// When the next edge is due.
    pub(crate) fn next_due(&self) -> Option<Duration> {
        let off = if self.on { self.off_at } else { None };
        match (self.pending_on.map(|p| p.0), off) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Every edge due by `now`, in order: `true` for on, `false` for off. An instant fault
    /// yields `true, false` together.
    pub(crate) fn advance(&mut self, now: Duration) -> Vec<bool> {
        let mut edges = Vec::new();
        while edges.len() < MAX_EDGES_PER_ADVANCE {
            let on_due = self.pending_on.filter(|(t, _)| *t <= now);
            let off_due = self.off_at.filter(|t| self.on && *t <= now);
            match (on_due, off_due) {
                (_, Some(off)) if on_due.is_none_or(|(t, _)| off <= t) => {
                    self.on = false;
                    edges.push(false);
                }
                (Some((_, begin)), _) => {
                    self.off_at = self.schedule.end_of(begin);
                    self.pending_on = self.schedule.next_start_after(begin).map(|s| (s, s));
                    if !self.on {
                        self.on = true;
                        edges.push(true);
                    }
                }
                _ => break,
            }
        }
        edges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn always_on_fires_once() {
        let mut c = EdgeClock::new(Schedule::ALWAYS, ms(0));
        assert_eq!(c.advance(ms(0)), vec![true]);
        assert_eq!(c.advance(ms(10_000)), Vec::<bool>::new());
        assert_eq!(c.next_due(), None);
    }

    #[test]
    fn a_window_turns_on_and_off() {
        let s = Schedule {
            start: ms(100),
            duration: Some(ms(50)),
            every: None,
        };
        let mut c = EdgeClock::new(s, ms(0));
        assert_eq!(c.next_due(), Some(ms(100)));
        assert!(c.advance(ms(99)).is_empty());
        assert_eq!(c.advance(ms(120)), vec![true]);
        assert_eq!(c.next_due(), Some(ms(150)));
        assert_eq!(c.advance(ms(150)), vec![false]);
        assert_eq!(c.next_due(), None);
    }

    #[test]
    fn instants_fire_on_and_off_together_every_period() {
        let s = Schedule {
            start: ms(10),
            duration: Some(Duration::ZERO),
            every: Some(ms(100)),
        };
        let mut c = EdgeClock::new(s, ms(0));
        assert_eq!(c.advance(ms(15)), vec![true, false]);
        assert_eq!(c.next_due(), Some(ms(110)));
        assert_eq!(
            c.advance(ms(320)),
            vec![true, false, true, false, true, false]
        );
    }

    #[test]
    fn a_clock_made_inside_a_window_turns_on_now() {
        let s = Schedule {
            start: ms(0),
            duration: Some(ms(100)),
            every: Some(ms(1000)),
        };
        let mut c = EdgeClock::new(s, ms(1050));
        assert_eq!(c.advance(ms(1050)), vec![true]);
        assert_eq!(c.advance(ms(1100)), vec![false]);
        assert_eq!(c.next_due(), Some(ms(2000)));
    }

    #[test]
    fn a_resumed_clock_gives_no_second_on_edge_and_still_turns_off() {
        let s = Schedule {
            start: ms(0),
            duration: Some(ms(100)),
            every: Some(ms(1000)),
        };
        let mut c = EdgeClock::resumed_on(s, ms(50));
        assert!(c.advance(ms(50)).is_empty());
        assert_eq!(c.advance(ms(100)), vec![false]);
        assert_eq!(c.advance(ms(1000)), vec![true]);
        let mut late = EdgeClock::resumed_on(s, ms(500));
        assert_eq!(late.advance(ms(500)), vec![false]);
        assert_eq!(late.next_due(), Some(ms(1000)));
        let mut always = EdgeClock::resumed_on(Schedule::ALWAYS, ms(5));
        assert!(always.advance(ms(10_000)).is_empty());
        assert_eq!(always.next_due(), None);
    }

    #[test]
    fn overlapping_windows_stay_on() {
        let s = Schedule {
            start: ms(0),
            duration: Some(ms(150)),
            every: Some(ms(100)),
        };
        let mut c = EdgeClock::new(s, ms(0));
        assert_eq!(c.advance(ms(0)), vec![true]);
        assert!(
            c.advance(ms(240)).is_empty(),
            "each window starts before the last ends"
        );
    }
}
