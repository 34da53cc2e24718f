//! The time series of a recovery: a sample of its counters at least ten times a second, and
//! the steady-state throughput read from it.

use serde::{Deserialize, Serialize};

/// One point of the time series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds on the run's clock (shared with leader and chaos events).
    pub t: f64,
    /// Chunk bytes received so far, over all attempts.
    pub bytes: u64,
    /// The attempt running at that moment.
    pub attempt: u64,
    /// Bytes written and checked in the target at that moment (finished files and checked
    /// chunks of the others): drops to zero when a policy restarts from scratch, and does not
    /// when it resumes. Zero in series written before this column existed.
    #[serde(default)]
    pub verified: u64,
}

/// Throughput once the ramp is over, in the spirit of iperf3's `-O`: MiB/s received from a tenth
/// of the transfer in (counted from the first byte, so connecting and opening the session are
/// left out as well) to the end. `None` for a transfer too short to have a steady state (under
/// 0.2 s or 5 samples after the omitted part).
pub fn steady_throughput_mib_s(series: &[Sample]) -> Option<f64> {
    let first = series.iter().position(|s| s.bytes > 0)?;
    let start = series[first];
    let end = *series.last()?;
    let span = end.t - start.t;
    if span < 0.2 {
        return None;
    }
    let omit_until = start.t + span / 10.0;
    let from = series.iter().find(|s| s.t >= omit_until)?;
    let after = series.iter().filter(|s| s.t >= omit_until).count();
    let secs = end.t - from.t;
    (after >= 5 && secs > 0.0)
        .then(|| end.bytes.saturating_sub(from.bytes) as f64 / 1048576.0 / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_throughput_omits_the_set_up_and_the_ramp() {
        // 0.5 s of set-up, a slow first second, then 10 MiB/s to t = 10.5 s.
        let mut series = vec![Sample {
            t: 0.0,
            bytes: 0,
            attempt: 1,
            verified: 0,
        }];
        for i in 1..=100 {
            let t = 0.5 + f64::from(i) * 0.1;
            let bytes = if t <= 1.5 {
                ((t - 0.5) * 1048576.0) as u64
            } else {
                1048576 + ((t - 1.5) * 10.0 * 1048576.0) as u64
            };
            series.push(Sample {
                t,
                bytes,
                attempt: 1,
                verified: bytes,
            });
        }
        let steady = steady_throughput_mib_s(&series).expect("long enough");
        assert!((steady - 10.0).abs() < 0.05, "{steady}");
        assert_eq!(steady_throughput_mib_s(&series[..3]), None, "too short");
    }
}
