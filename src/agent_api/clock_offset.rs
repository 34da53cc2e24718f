//! How far another host's clock is from ours, from request/response timings, as NTP estimates
//! it (RFC 5905, 8): a sample is the local time a request left (`sent`), the remote time it was
//! read (`remote`) and the local time its answer arrived (`received`). If the two legs take
//! equally long, the remote clock read `remote` at local time `(sent + received) / 2`; the
//! offset is the difference, and it is wrong by at most half the round trip. Of several
//! samples the one with the shortest round trip bounds the error most tightly, so it is kept.
//!
//! Pure: the samples come in as numbers (seconds on each host's own monotonic clock).

use serde::{Deserialize, Serialize};

/// One request's timings, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Local time the request was written.
    pub sent: f64,
    /// Remote time it was answered.
    pub remote: f64,
    /// Local time the answer was read.
    pub received: f64,
}

impl Sample {
    /// The round trip.
    pub fn rtt(&self) -> f64 {
        self.received - self.sent
    }

    /// The remote clock minus the local one, if the legs are equal.
    pub fn offset(&self) -> f64 {
        self.remote - (self.sent + self.received) / 2.0
    }
}

/// The estimate: `remote = local + offset_s`, within `uncertainty_s` either way.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockOffset {
    /// Remote time minus local time, in seconds.
    pub offset_s: f64,
    /// Half the shortest round trip: the most the offset can be wrong by.
    pub uncertainty_s: f64,
    /// Samples taken.
    pub samples: usize,
    /// The shortest round trip, in seconds.
    pub best_rtt_s: f64,
}

impl ClockOffset {
    /// The estimate from `samples` (the one with the shortest round trip); `None` without a
    /// usable one (none, or only samples whose answer came before the request: a broken clock).
    pub fn estimate(samples: &[Sample]) -> Option<Self> {
        let best = samples
            .iter()
            .filter(|s| s.rtt() >= 0.0 && s.rtt().is_finite() && s.remote.is_finite())
            .min_by(|a, b| a.rtt().total_cmp(&b.rtt()))?;
        Some(Self {
            offset_s: best.offset(),
            uncertainty_s: best.rtt() / 2.0,
            samples: samples.len(),
            best_rtt_s: best.rtt(),
        })
    }

    /// A remote time on the local clock.
    pub fn to_local(&self, remote_s: f64) -> f64 {
        remote_s - self.offset_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_legs_give_the_true_offset() {
        // The remote clock is 100 s ahead; each leg takes 5 ms.
        let s = Sample {
            sent: 10.0,
            remote: 110.005,
            received: 10.010,
        };
        let e = ClockOffset::estimate(&[s]).expect("one sample");
        assert!((e.offset_s - 100.0).abs() < 1e-9, "{e:?}");
        assert!((e.uncertainty_s - 0.005).abs() < 1e-9);
        assert!((e.to_local(110.005) - 10.005).abs() < 1e-9);
    }

    #[test]
    fn the_shortest_round_trip_is_kept_and_bounds_the_error() {
        // True offset -3 s. A slow sample with unequal legs (40 ms out, 2 ms back) is off by
        // 19 ms; the quick one by at most its half round trip.
        let slow = Sample {
            sent: 1.0,
            remote: 1.040 - 3.0,
            received: 1.042,
        };
        let quick = Sample {
            sent: 2.0,
            remote: 2.0007 - 3.0,
            received: 2.001,
        };
        let e = ClockOffset::estimate(&[slow, quick]).expect("samples");
        assert_eq!(e.samples, 2);
        assert!((e.best_rtt_s - 0.001).abs() < 1e-9);
        assert!((e.offset_s + 3.0).abs() <= e.uncertainty_s, "{e:?}");
        assert!((slow.offset() + 3.0).abs() > 0.018);
    }

    #[test]
    fn no_usable_sample_gives_no_estimate() {
        assert_eq!(ClockOffset::estimate(&[]), None);
        let backwards = Sample {
            sent: 5.0,
            remote: 1.0,
            received: 4.0,
        };
        assert_eq!(ClockOffset::estimate(&[backwards]), None);
    }
}
