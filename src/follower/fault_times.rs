//! Time to detect and time to recover, from a recovery's report and a chaos event log on the
//! same clock. Pure: no I/O.
//!
//! Time to detect: from a fault turning on (or from the recovery's start, for a fault already on
//! then) to the first failure the engine saw after it. Windows over before the recovery started
//! are set apart: an injector's fault times count from its own start, which may be long before.
//! Time to recover: from the fault turning off (for an instant fault, from when it fired) to the
//! first moment goodput is back above half its median before the fault. Goodput is a rolling
//! rate over [`WINDOW`]: chunks arrive in bursts, so a 50 ms rate is mostly zeros.

use super::{
    report::{FailureRecord, FaultTimes, RecoveryReport},
    series::Sample,
};
use crate::chaos::{Event, EventKind};

/// A fault turning on again this soon (seconds) while its window is open is the same fault
/// logged by another injector.
const SAME_FAULT_S: f64 = 0.05;

/// The span goodput is averaged over, in seconds.
pub const WINDOW: f64 = 0.5;

/// Goodput at each sample at least [`WINDOW`] after the first: (time, bytes/s over the window
/// ending there).
pub fn goodput(series: &[Sample]) -> Vec<(f64, f64)> {
    goodput_over(series, WINDOW)
}

/// Goodput over a `window` of seconds ending at each sample that has one behind it (a report
/// uses a shorter window for recoveries shorter than a few [`WINDOW`]s).
pub fn goodput_over(series: &[Sample], window: f64) -> Vec<(f64, f64)> {
    let mut rates = Vec::new();
    let mut back = 0;
    for s in series {
        while back + 1 < series.len() && series[back + 1].t <= s.t - window {
            back += 1;
        }
        let from = &series[back];
        if s.t - from.t >= window && s.t > from.t {
            rates.push((
                s.t,
                s.bytes.saturating_sub(from.bytes) as f64 / (s.t - from.t),
            ));
        }
    }
    rates
}

/// Average goodput from the first sample to `until` (for faults that start within a window).
fn average_until(series: &[Sample], until: f64) -> Option<f64> {
    let first = series.first()?;
    let last = series.iter().rev().find(|s| s.t <= until)?;
    (last.t > first.t).then(|| last.bytes.saturating_sub(first.bytes) as f64 / (last.t - first.t))
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    Some(xs[xs.len() / 2])
}

/// A chaos log's fault windows, measured against one recovery.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    /// Windows in force at some moment of the recovery. One that opened before the recovery
    /// started counts from the start (`on` is `started_at`): an injector may have run long
    /// before the recovery, and its age is no part of the time to detect.
    pub windows: Vec<FaultTimes>,
    /// Windows that closed, and instants that fired, before the recovery started, as logged:
    /// they cannot have affected it (a `reset` given no time fires when the proxy starts).
    pub before_start: Vec<FaultTimes>,
}

/// Pairs each fault's on and off events and measures detection and recovery against the
/// failures and time series of a recovery that started at `started_at` (all on one clock).
pub fn fault_times(
    events: &[Event],
    started_at: f64,
    failures: &[FailureRecord],
    series: &[Sample],
) -> Measured {
    let rates = goodput(series);
    let mut windows: Vec<FaultTimes> = Vec::new();
    for e in events {
        match &e.kind {
            // Several injectors carrying one fault (a proxy per gateway node, a rig per leader)
            // each log it turning on, within moments of each other: one window.
            EventKind::FaultOn { fault, .. }
                if windows
                    .iter()
                    .any(|w| &w.fault == fault && w.off.is_none() && e.t - w.on < SAME_FAULT_S) => {
            }
            EventKind::FaultOn { fault, kind } => windows.push(FaultTimes {
                fault: fault.clone(),
                kind: kind.clone(),
                on: e.t,
                off: None,
                time_to_detect_s: None,
                time_to_recover_s: None,
            }),
            EventKind::FaultOff { fault } => {
                if let Some(w) = windows
                    .iter_mut()
                    .rev()
                    .find(|w| &w.fault == fault && w.off.is_none())
                {
                    w.off = Some(e.t);
                }
            }
            _ => {}
        }
    }
    let (before_start, mut windows): (Vec<_>, Vec<_>) = windows
        .into_iter()
        .partition(|w| w.off.is_some_and(|off| off < started_at));
    for w in &mut windows {
        w.on = w.on.max(started_at);
        w.time_to_detect_s = failures
            .iter()
            .map(|f| f.t)
            .filter(|&t| t >= w.on)
            .map(|t| t - w.on)
            .reduce(f64::min);
        let before = median(
            rates
                .iter()
                .filter(|(t, _)| *t <= w.on)
                .map(|(_, r)| *r)
                .collect(),
        )
        .or_else(|| average_until(series, w.on));
        let after = w.off.unwrap_or(w.on);
        w.time_to_recover_s = before.filter(|m| *m > 0.0).and_then(|m| {
            rates
                .iter()
                .find(|(t, r)| *t > after && *r >= m / 2.0)
                .map(|(t, _)| t - after)
        });
    }
    Measured {
        windows,
        before_start,
    }
}

impl RecoveryReport {
    /// Measures every fault window of `events` (a chaos log on this report's clock) against this
    /// recovery's start, failures and time series. Returns the windows that lay entirely before
    /// the recovery started (left out of the report), for the caller to warn about.
    pub fn annotate_faults(&mut self, events: &[Event]) -> Vec<FaultTimes> {
        let measured = fault_times(events, self.started_at, &self.failures, &self.timeseries);
        self.faults = measured.windows;
        measured.before_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::follower::report::FailureKind;

    fn event(t: f64, kind: EventKind) -> Event {
        Event {
            t,
            source: "chaos",
            kind,
        }
    }

    fn series(points: &[(f64, u64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(t, bytes)| Sample {
                t,
                bytes,
                attempt: 1,
                verified: bytes,
            })
            .collect()
    }

    #[test]
    fn detection_and_recovery_are_measured_from_the_window_edges() {
        let events = vec![
            event(
                1.0,
                EventKind::FaultOn {
                    fault: "bh".into(),
                    kind: "blackhole".into(),
                },
            ),
            event(3.0, EventKind::FaultOff { fault: "bh".into() }),
        ];
        let failures = vec![FailureRecord {
            attempt: 1,
            t: 1.5,
            kind: FailureKind::Timeout,
            channel: None,
            channel_type: None,
            message: String::new(),
            then: String::new(),
        }];
        // 10 bytes/s until 1 s, nothing during the blackhole, 2/s at 3.5 s, 10/s from 4 s.
        let s = series(&[
            (0.0, 0),
            (0.5, 5),
            (1.0, 10),
            (2.0, 10),
            (3.0, 10),
            (3.5, 11),
            (4.0, 16),
            (4.5, 21),
        ]);
        let times = fault_times(&events, 0.0, &failures, &s).windows;
        assert_eq!(times.len(), 1);
        assert_eq!(times[0].off, Some(3.0));
        assert_eq!(times[0].time_to_detect_s, Some(0.5));
        assert_eq!(times[0].time_to_recover_s, Some(1.0));
    }

    #[test]
    fn one_fault_logged_by_several_injectors_is_one_window() {
        let on = |t| {
            event(
                t,
                EventKind::FaultOn {
                    fault: "cut".into(),
                    kind: "reset".into(),
                },
            )
        };
        // Two proxies fire the same instant 2 ms apart, then both again a second later.
        let events = vec![on(1.0), on(1.002), on(2.0), on(2.001)];
        let s = series(&[(0.0, 0), (3.0, 30)]);
        let times = fault_times(&events, 0.0, &[], &s).windows;
        let ons: Vec<f64> = times.iter().map(|w| w.on).collect();
        assert_eq!(ons, [1.0, 2.0]);
    }

    #[test]
    fn bursty_samples_are_smoothed_over_the_window() {
        // One 1000-byte burst every 0.25 s (4000/s on average), sampled every 50 ms.
        let points: Vec<(f64, u64)> = (0..=40)
            .map(|i| (i as f64 * 0.05, 1000 * (i / 5) as u64))
            .collect();
        let rates = goodput(&series(&points));
        assert!(
            rates.iter().all(|(_, r)| (3000.0..=5000.0).contains(r)),
            "{rates:?}"
        );
        assert_eq!(average_until(&series(&points), 1.0), Some(4000.0));
    }

    #[test]
    fn nothing_seen_means_none() {
        let events = vec![event(
            1.0,
            EventKind::FaultOn {
                fault: "x".into(),
                kind: "latency".into(),
            },
        )];
        let times = fault_times(&events, 0.0, &[], &series(&[(0.0, 0), (2.0, 0)])).windows;
        assert_eq!(times[0].time_to_detect_s, None);
        assert_eq!(times[0].time_to_recover_s, None);
    }

    fn timeout_at(t: f64) -> FailureRecord {
        FailureRecord {
            attempt: 1,
            t,
            kind: FailureKind::Timeout,
            channel: None,
            channel_type: None,
            message: String::new(),
            then: String::new(),
        }
    }

    #[test]
    fn a_window_open_before_the_recovery_counts_from_its_start() {
        // A proxy that ran 15.75 s before the recovery: its blackhole turned on 13.75 s before
        // the recovery started at 0, and the recovery's first timeout came at 2 s.
        let events = vec![event(
            -13.75,
            EventKind::FaultOn {
                fault: "bh".into(),
                kind: "blackhole".into(),
            },
        )];
        let measured = fault_times(&events, 0.0, &[timeout_at(2.0)], &series(&[(0.0, 0)]));
        assert!(measured.before_start.is_empty());
        let w = &measured.windows[0];
        assert_eq!(w.on, 0.0, "{w:?}");
        assert_eq!(w.time_to_detect_s, Some(2.0), "{w:?}");
    }

    #[test]
    fn windows_over_before_the_recovery_started_are_set_apart() {
        let on_off = |name: &str, on: f64, off: f64| {
            [
                event(
                    on,
                    EventKind::FaultOn {
                        fault: name.into(),
                        kind: "reset".into(),
                    },
                ),
                event(off, EventKind::FaultOff { fault: name.into() }),
            ]
        };
        let mut events = on_off("early", -5.0, -5.0).to_vec();
        events.extend(on_off("late", 3.0, 3.0));
        let measured = fault_times(&events, 1.0, &[timeout_at(3.5)], &series(&[(1.0, 0)]));
        let names = |ws: &[FaultTimes]| ws.iter().map(|w| w.fault.clone()).collect::<Vec<_>>();
        assert_eq!(names(&measured.before_start), ["early"]);
        assert_eq!(measured.before_start[0].on, -5.0, "kept as logged");
        assert_eq!(names(&measured.windows), ["late"]);
        assert_eq!(measured.windows[0].time_to_detect_s, Some(0.5));
    }
}
