//! When a fault is active: `start`, `duration`, `every`, as offsets from the injector's start.
//!
//! Pure: time is an argument. A fault with no duration stays on from `start`; with `every`, it
//! turns on at `start`, `start + every`, ... for `duration` each time. A duration of zero is an
//! instant: the fault "fires" at those moments (a reset at 10 s) without staying on.

use std::time::Duration;

use serde::Serialize;

/// A fault's activity windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// First activation, from the proxy's start.
    #[serde(with = "crate::units::duration_serde")]
    pub start: Duration,
    /// How long each activation lasts; `None` is forever.
    #[serde(with = "crate::units::option_duration_serde")]
    pub duration: Option<Duration>,
    /// Period between activations; `None` is once.
    #[serde(with = "crate::units::option_duration_serde")]
    pub every: Option<Duration>,
}

impl Schedule {
    /// Always on from the start.
    pub const ALWAYS: Self = Self {
        start: Duration::ZERO,
        duration: None,
        every: None,
    };

    /// The start of the activation window containing `t`, if `t` is inside one. For a zero
    /// duration, only the instant itself counts.
    pub fn window_at(&self, t: Duration) -> Option<Duration> {
        if t < self.start {
            return None;
        }
        let since = t - self.start;
        let begin = match self.every {
            Some(every) if !every.is_zero() => {
                let k = since.as_nanos() / every.as_nanos();
                self.start + every * (k as u32)
            }
            _ => self.start,
        };
        match self.duration {
            None => Some(begin),
            Some(d) if t < begin + d || (d.is_zero() && t == begin) => Some(begin),
            Some(_) => None,
        }
    }

    /// Whether the fault is on at `t` (an instantaneous fault is never "on" for a span).
    pub fn is_active(&self, t: Duration) -> bool {
        self.window_at(t).is_some() && self.duration != Some(Duration::ZERO)
    }

    /// The next activation (on-edge) strictly after `t`, or `None` if there is none.
    pub fn next_start_after(&self, t: Duration) -> Option<Duration> {
        if t < self.start {
            return Some(self.start);
        }
        let every = self.every.filter(|e| !e.is_zero())?;
        let k = (t - self.start).as_nanos() / every.as_nanos() + 1;
        Some(self.start + every * (k as u32))
    }

    /// The end (off-edge) of the window that starts at `begin`, if it ends.
    pub fn end_of(&self, begin: Duration) -> Option<Duration> {
        self.duration.map(|d| begin + d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn always_on() {
        assert!(Schedule::ALWAYS.is_active(ms(0)));
        assert!(Schedule::ALWAYS.is_active(ms(1_000_000)));
        assert_eq!(Schedule::ALWAYS.next_start_after(ms(5)), None);
    }

    #[test]
    fn one_window() {
        let s = Schedule {
            start: ms(100),
            duration: Some(ms(50)),
            every: None,
        };
        assert!(!s.is_active(ms(99)));
        assert!(s.is_active(ms(100)));
        assert!(s.is_active(ms(149)));
        assert!(!s.is_active(ms(150)));
        assert_eq!(s.next_start_after(ms(0)), Some(ms(100)));
        assert_eq!(s.next_start_after(ms(100)), None);
        assert_eq!(s.end_of(ms(100)), Some(ms(150)));
    }

    #[test]
    fn periodic_windows() {
        let s = Schedule {
            start: ms(10),
            duration: Some(ms(3)),
            every: Some(ms(20)),
        };
        assert_eq!(s.window_at(ms(31)), Some(ms(30)));
        assert!(s.is_active(ms(32)));
        assert!(!s.is_active(ms(33)));
        assert_eq!(s.next_start_after(ms(31)), Some(ms(50)));
        assert_eq!(s.next_start_after(ms(5)), Some(ms(10)));
    }

    #[test]
    fn instants_fire_but_are_never_on() {
        let s = Schedule {
            start: ms(10),
            duration: Some(Duration::ZERO),
            every: Some(ms(100)),
        };
        assert_eq!(s.window_at(ms(110)), Some(ms(110)));
        assert_eq!(s.window_at(ms(111)), None);
        assert!(!s.is_active(ms(110)));
        assert_eq!(s.next_start_after(ms(110)), Some(ms(210)));
    }
}
