//! One monotonic clock for a process, so engine, leader and chaos events line up.
//!
//! Every timestamp rrbench records is an offset from one [`Clock`]'s epoch. The clock reads
//! tokio's time ([`tokio::time::Instant`]): in real time that is the system's monotonic clock,
//! and under paused tokio time (`#[tokio::test(start_paused = true)]`, the simulator in
//! [`crate::sim`]) it is the simulated time, so events carry simulated timestamps. Wall-clock
//! time is used only to note the epoch ([`Clock::unix_epoch_s`]) and to name result files
//! ([`utc_stamp`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// A monotonic epoch shared by everything that records events in one run.
///
/// It also notes the wall-clock time of its epoch, so logs written by two processes on one
/// machine (a proxy and a follower) can be put on one time axis.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Instant,
    unix_epoch_s: f64,
}

impl Clock {
    /// A clock whose epoch is now (tokio's now: simulated under paused time).
    pub fn start() -> Self {
        Self {
            epoch: Instant::now(),
            unix_epoch_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }

    /// Wall-clock time of the epoch, in seconds since 1970.
    pub fn unix_epoch_s(&self) -> f64 {
        self.unix_epoch_s
    }

    /// Time since the epoch.
    pub fn elapsed(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Offset of `t` from the epoch (zero if `t` is earlier). A `std::time::Instant` converts
    /// with `.into()`; under paused time only tokio's instants are on this clock.
    pub fn offset(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.epoch)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::start()
    }
}

/// A UTC timestamp for file names, such as `20261123T181044Z`.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamp_formats_known_instants() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_457_444);
        assert_eq!(utc_stamp(t), "20261123T181044Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_stamp(leap), "20000229T000000Z");
    }

    #[tokio::test(start_paused = true)]
    async fn paused_tokio_time_drives_the_clock() {
        let clock = Clock::start();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.elapsed(), Duration::from_secs(3600));
        assert_eq!(clock.offset(Instant::now()), Duration::from_secs(3600));
        assert_eq!(clock.offset(t0 - Duration::from_secs(1)), Duration::ZERO);
    }
}
