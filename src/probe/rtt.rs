//! Round trips: the connect time (TCP connect and `Hello`) and Ping/Pong round trips on one
//! established connection. The statistics are pure ([`RttStats::from_samples`]); the driver
//! only times requests.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{ProbeError, Stop, secs};
use crate::{
    protocol::Message,
    transport::{connection::Connection, dial::Dialer},
};

/// Min, median and p99 of round-trip samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RttStats {
    /// Samples taken.
    pub samples: usize,
    /// The fastest.
    #[serde(rename = "min_ms", serialize_with = "secs::millis")]
    pub min: Duration,
    /// The median.
    #[serde(rename = "median_ms", serialize_with = "secs::millis")]
    pub median: Duration,
    /// The 99th percentile.
    #[serde(rename = "p99_ms", serialize_with = "secs::millis")]
    pub p99: Duration,
}

impl RttStats {
    /// Statistics of `samples`; `None` without any.
    pub fn from_samples(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort();
        Some(Self {
            samples: sorted.len(),
            min: *sorted.first()?,
            median: percentile(&sorted, 0.5)?,
            p99: percentile(&sorted, 0.99)?,
        })
    }
}

/// The `q` quantile (0 to 1) of ascending `sorted`, interpolated linearly between the two
/// nearest ranks (as numpy's default); `None` when empty.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    let (a, b) = (sorted[lo].as_secs_f64(), sorted[hi].as_secs_f64());
    Some(Duration::from_secs_f64(a + (b - a) * frac))
}

/// Opens one connection, timing it: what a recovery pays before its first request.
pub(super) async fn connect(
    dialer: &dyn Dialer,
    options: &crate::transport::connection::ConnectOptions,
) -> Result<(Connection, Duration), crate::transport::TransportError> {
    let start = Instant::now();
    let conn = Connection::open(dialer, options).await?;
    Ok((conn, start.elapsed()))
}

/// `count` Ping/Pong round trips one after the other on `conn`, each bounded by `limit`;
/// stops early (with the samples so far) on `stop`.
pub(super) async fn ping_pong(
    conn: &Connection,
    count: u32,
    limit: Duration,
    stop: &mut Stop,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<Duration>, ProbeError> {
    let mut samples = Vec::with_capacity(count as usize);
    for nonce in 0..u64::from(count) {
        let ping = Message::Ping { nonce };
        let start = Instant::now();
        let reply = tokio::select! {
            r = tokio::time::timeout(limit, conn.request(&ping)) => r,
            () = stop.wait() => break,
        };
        match reply {
            Ok(Ok(Message::Pong { .. })) => samples.push(start.elapsed()),
            Ok(Ok(other)) => {
                return Err(ProbeError::Unexpected(format!(
                    "the leader answered a Ping with {:?}",
                    other.kind()
                )));
            }
            Ok(Err((_, e))) => return Err(ProbeError::Lost(e)),
            Err(_) => return Err(ProbeError::NoPong(limit)),
        }
        if (nonce + 1) % 10 == 0 {
            progress(&format!("rtt: {} of {count} pings", nonce + 1));
        }
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let sorted: Vec<Duration> = (1..=5).map(|i| ms(i * 10)).collect();
        assert_eq!(percentile(&sorted, 0.5), Some(ms(30)));
        assert_eq!(percentile(&sorted, 0.0), Some(ms(10)));
        assert_eq!(percentile(&sorted, 1.0), Some(ms(50)));
        assert_eq!(percentile(&sorted, 0.25), Some(ms(20)));
        assert_eq!(percentile(&sorted[..2], 0.5), Some(ms(15)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn stats_sort_their_samples() {
        let stats = RttStats::from_samples(&[ms(40), ms(10), ms(30), ms(20)]).expect("samples");
        assert_eq!(stats.samples, 4);
        assert_eq!(stats.min, ms(10));
        assert_eq!(stats.median, ms(25));
        assert!(stats.p99 > ms(39) && stats.p99 <= ms(40));
        assert_eq!(RttStats::from_samples(&[]), None);
    }
}
