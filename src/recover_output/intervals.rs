//! Interval reports, as iperf3's `-i`: what moved between two readings of the live counters, and
//! the line each becomes. Pure: the caller reads [`Progress`] when it chooses and hands the
//! readings in ([`super::reporter`] does so on a timer), so the arithmetic is tested without
//! waiting.

use std::time::Duration;

use rrbench::{follower::Progress, units::parse_duration};
use serde::Serialize;

use super::units::Units;

/// `--interval`: how often to report; `None` is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Every(pub Option<Duration>);

/// The shortest interval, iperf3's too: shorter ones would be mostly noise.
pub const SHORTEST: Duration = Duration::from_millis(100);

/// A `--interval` that is neither a duration nor off.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntervalError {
    /// Not a duration.
    #[error(
        "`{0}` is not an interval: write a duration such as 1s or 500ms (a bare number is \
         seconds, as iperf3's -i), or 0 for none"
    )]
    NotADuration(String),
    /// Shorter than [`SHORTEST`].
    #[error("an interval of `{0}` is too short: 100ms at least (0 for none)")]
    TooShort(String),
    /// Longer than [`LONGEST`].
    #[error("an interval of `{0}` is too long: a day at most (0 for none)")]
    TooLong(String),
}

/// The longest interval: past it a line would never come, and an instant plus it may overflow.
const LONGEST: Duration = Duration::from_secs(86_400);

/// Parses `--interval`: `1s`, `500ms`, a bare number of seconds (`-i 2`, as iperf3), or `0` /
/// `-1` for none.
pub fn parse_interval(text: &str) -> Result<Every, IntervalError> {
    let trimmed = text.trim();
    if matches!(trimmed, "0" | "-1") {
        return Ok(Every(None));
    }
    let every = match trimmed.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Duration::try_from_secs_f64(secs)
            .map_err(|_| IntervalError::TooLong(text.to_string()))?,
        Ok(_) => return Err(IntervalError::NotADuration(text.to_string())),
        Err(_) => {
            parse_duration(trimmed).map_err(|_| IntervalError::NotADuration(text.to_string()))?
        }
    };
    if every < SHORTEST {
        return Err(IntervalError::TooShort(text.to_string()));
    }
    if every > LONGEST {
        return Err(IntervalError::TooLong(text.to_string()));
    }
    Ok(Every(Some(every)))
}

/// The live counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading {
    /// Seconds on the run's clock.
    pub t: f64,
    /// Chunk bytes received so far, over all attempts.
    pub bytes_transferred: u64,
    /// Bytes of the index.
    pub bytes_needed: u64,
    /// Bytes written and checked in the target (drops to zero when a policy starts over).
    pub verified: u64,
    /// Files verified in the current attempt.
    pub files_verified: u64,
    /// Files in the index.
    pub files_total: u64,
    /// Chunk requests sent and not yet answered.
    pub requests_in_flight: u64,
    /// The attempt running.
    pub attempt: u64,
}

impl Reading {
    /// Reads `progress` at `t` seconds.
    pub fn of(progress: &Progress, t: f64) -> Self {
        Self {
            t,
            bytes_transferred: Progress::get(&progress.bytes_transferred),
            bytes_needed: Progress::get(&progress.bytes_needed),
            verified: Progress::get(&progress.bytes_persisted),
            files_verified: Progress::get(&progress.files_verified),
            files_total: Progress::get(&progress.files_total),
            requests_in_flight: Progress::get(&progress.requests_in_flight),
            attempt: Progress::get(&progress.attempt),
        }
    }
}

/// One interval: an element of the JSON's `intervals` and one line of text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// Where it begins, in seconds on the run's clock (failure times use the same clock).
    pub start: f64,
    /// Where it ends.
    pub end: f64,
    /// `end - start`.
    pub seconds: f64,
    /// Chunk bytes received in the interval (including bytes a restart later throws away).
    pub bytes: u64,
    /// `bytes` over `seconds`, in bits per second (iperf3's field).
    pub bits_per_second: f64,
    /// The same rate in MiB/s (rrbench's unit elsewhere).
    pub mib_s: f64,
    /// Chunk requests in flight at its end.
    pub requests_in_flight: u64,
    /// The attempt running at its end.
    pub attempt: u64,
    /// Bytes written and checked in the target at its end.
    pub verified_bytes: u64,
    /// `verified_bytes` as a share of the index, in percent.
    pub verified_percent: f64,
    /// Files verified at its end, of `files_total`.
    pub files_verified: u64,
    /// Files in the index.
    pub files_total: u64,
}

/// Turns successive readings into intervals.
#[derive(Clone, Debug)]
pub struct IntervalMeter {
    last: Reading,
}

impl IntervalMeter {
    /// Starts measuring from `first`.
    pub fn new(first: Reading) -> Self {
        Self { last: first }
    }

    /// The interval from the previous reading to `now`.
    pub fn next(&mut self, now: Reading) -> Interval {
        let seconds = (now.t - self.last.t).max(0.0);
        let bytes = now
            .bytes_transferred
            .saturating_sub(self.last.bytes_transferred);
        let bytes_per_s = if seconds > 0.0 {
            bytes as f64 / seconds
        } else {
            0.0
        };
        let verified_percent = if now.bytes_needed > 0 {
            100.0 * now.verified as f64 / now.bytes_needed as f64
        } else {
            0.0
        };
        let interval = Interval {
            start: self.last.t,
            end: now.t,
            seconds,
            bytes,
            bits_per_second: bytes_per_s * 8.0,
            mib_s: bytes_per_s / 1048576.0,
            requests_in_flight: now.requests_in_flight,
            attempt: now.attempt,
            verified_bytes: now.verified,
            verified_percent,
            files_verified: now.files_verified,
            files_total: now.files_total,
        };
        self.last = now;
        interval
    }
}

/// Column widths: interval, transfer, rate, in flight, attempt, verified.
const WIDTHS: [usize; 6] = [18, 10, 14, 9, 7, 8];

/// The column titles, printed once above the interval lines.
pub fn header() -> String {
    let [i, x, r, f, a, v] = WIDTHS;
    format!(
        "{:<i$}  {:>x$}  {:>r$}  {:>f$}  {:>a$}  {:>v$}",
        "Interval", "Transfer", "Rate", "In flight", "Attempt", "Verified"
    )
}

/// `  0.00-1.00   sec    40.0 MiB      40.0 MiB/s          5        1     15.6%`
pub fn line(i: &Interval, units: Units) -> String {
    let [_, x, r, f, a, v] = WIDTHS;
    format!(
        "{}  {:>x$}  {:>r$}  {:>f$}  {:>a$}  {:>v$}",
        span(i.start, i.end),
        units.size(i.bytes),
        units.rate(i.bits_per_second / 8.0),
        i.requests_in_flight,
        i.attempt,
        format!("{:.1}%", i.verified_percent),
    )
}

/// `   0.00-1.00   sec`, 18 characters for times under 10 000 s.
pub fn span(start: f64, end: f64) -> String {
    format!("{:>7}-{:<7}sec", format!("{start:.2}"), format!("{end:.2}"))
}

/// Whether the partial interval at the end of a recovery is worth reporting: it moved bytes, or
/// lasted a tenth of an interval (a few idle milliseconds between the last tick and the end say
/// nothing).
pub fn worth_reporting(last: &Interval, every: Duration) -> bool {
    last.bytes > 0 || last.seconds >= every.as_secs_f64() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(t: f64, bytes: u64, verified: u64, attempt: u64) -> Reading {
        Reading {
            t,
            bytes_transferred: bytes,
            bytes_needed: 8 << 20,
            verified,
            files_verified: 1,
            files_total: 4,
            requests_in_flight: 5,
            attempt,
        }
    }

    #[test]
    fn an_interval_is_what_moved_between_two_readings() {
        let mut meter = IntervalMeter::new(reading(0.0, 0, 0, 1));
        let first = meter.next(reading(1.0, 2 << 20, 1 << 20, 1));
        assert_eq!((first.start, first.end, first.bytes), (0.0, 1.0, 2 << 20));
        assert_eq!(first.mib_s, 2.0);
        assert_eq!(first.bits_per_second, 16.0 * 1048576.0);
        assert_eq!(first.verified_percent, 12.5);
        // A restart from zero: verified drops, the wire count does not go back.
        let second = meter.next(reading(1.5, 3 << 20, 0, 2));
        assert_eq!(
            (second.start, second.seconds, second.bytes),
            (1.0, 0.5, 1 << 20)
        );
        assert_eq!((second.attempt, second.verified_percent), (2, 0.0));
        let empty = meter.next(reading(1.5, 3 << 20, 0, 2));
        assert_eq!((empty.bytes, empty.mib_s), (0, 0.0), "no time, no rate");
        let every = Duration::from_secs(1);
        assert!(!worth_reporting(&empty, every), "an idle moment at the end");
        assert!(worth_reporting(&second, every));
        let idle_tail = meter.next(reading(1.7, 3 << 20, 0, 2));
        assert!(
            worth_reporting(&idle_tail, every),
            "idle, but a fifth of an interval"
        );
    }

    #[test]
    fn a_line_has_every_column_under_its_title() {
        let mut meter = IntervalMeter::new(reading(0.0, 0, 0, 1));
        let text = line(&meter.next(reading(1.0, 40 << 20, 1 << 20, 1)), Units::Mib);
        assert_eq!(
            text,
            "   0.00-1.00   sec    40.0 MiB      40.0 MiB/s          5        1     12.5%"
        );
        assert_eq!(header().len(), text.len(), "{}\n{text}", header());
        let bits = line(&meter.next(reading(2.0, 41 << 20, 0, 1)), Units::Mbits);
        assert!(
            bits.contains("1.00 MiB") && bits.contains("8.39 Mbits/s"),
            "{bits}"
        );
    }

    #[test]
    fn intervals_parse_like_iperf3() {
        let secs = |s: f64| Every(Some(Duration::from_secs_f64(s)));
        assert_eq!(parse_interval("1s"), Ok(secs(1.0)));
        assert_eq!(
            parse_interval("2"),
            Ok(secs(2.0)),
            "a bare number is seconds"
        );
        assert_eq!(parse_interval("0.5"), Ok(secs(0.5)));
        assert_eq!(parse_interval("250ms"), Ok(secs(0.25)));
        assert_eq!(parse_interval("0"), Ok(Every(None)));
        assert_eq!(parse_interval("-1"), Ok(Every(None)));
        assert!(matches!(
            parse_interval("10ms"),
            Err(IntervalError::TooShort(_))
        ));
        assert!(matches!(
            parse_interval("soon"),
            Err(IntervalError::NotADuration(_))
        ));
        assert!(matches!(
            parse_interval("-3"),
            Err(IntervalError::NotADuration(_))
        ));
        for huge in ["1e20", "1e19", "2d", "100000"] {
            assert!(
                matches!(parse_interval(huge), Err(IntervalError::TooLong(_))),
                "{huge}"
            );
        }
    }
}
