//! Recovery policies: what happens after a failure. Pure: no I/O, time as numbers.
//!
//! | | elasticsearch | opensearch | resumable (rrbench's own) |
//! |---|---|---|---|
//! | chunk failure | abort the attempt | retry the chunk on connection errors: 5 tries, 10/20/40/80 s | abort the attempt, keep every verified byte |
//! | per-request timeout | `internal_action_timeout` | none | `internal_action_timeout` |
//! | next attempt | new session, empty store, ≤ `max_retries` | after 1 s, new session, empty store, without bound | after backoff with jitter: reconnect, new session, fetch only what is missing, ≤ `max_retries` |
//! | liveness | keepalive, no ping | keepalive, no ping | keepalive and a ping with a pong deadline on every channel |
//!
//! Durations of the profiles are multiplied by `time_scale`, so a test can compress OpenSearch's
//! 10–80 s backoffs into milliseconds. The resumable policy retries the attempt rather than
//! the single chunk: a failure costs at most the chunks in flight (window × chunk size).

use std::time::Duration;

// The enum and its names are in `crate::vocabulary`; this module holds what each policy decides.
use crate::vocabulary::Policy;

/// OpenSearch's chunk retry backoffs, before `time_scale`.
const OPENSEARCH_BACKOFF: [Duration; 4] = [
    Duration::from_secs(10),
    Duration::from_secs(20),
    Duration::from_secs(40),
    Duration::from_secs(80),
];
/// OpenSearch waits this long before restarting a failed restore.
const OPENSEARCH_RESTART_DELAY: Duration = Duration::from_secs(1);
/// Resumable: first backoff and cap.
const RESUMABLE_BACKOFF_BASE: Duration = Duration::from_millis(200);
const RESUMABLE_BACKOFF_CAP: Duration = Duration::from_secs(10);
/// Resumable: the ping interval when `transport.ping_schedule` is off.
const RESUMABLE_PING: Duration = Duration::from_secs(1);

fn scaled(d: Duration, time_scale: f64) -> Duration {
    Duration::from_secs_f64(d.as_secs_f64() * time_scale)
}

impl Policy {
    /// Whether a failed chunk request ends the attempt at once.
    pub fn aborts_on_chunk_failure(self) -> bool {
        !matches!(self, Self::Opensearch)
    }

    /// Whether chunk requests are bounded by `internal_action_timeout`.
    pub fn has_request_timeout(self) -> bool {
        !matches!(self, Self::Opensearch)
    }

    /// Whether `index.allocation.max_retries` bounds the attempts. OpenSearch's plugin restarts a
    /// failed shard restore after 1 s without bound: only the trial's time limit (or Ctrl-C)
    /// stops it.
    pub fn bounds_attempts(self) -> bool {
        !matches!(self, Self::Opensearch)
    }

    /// Whether a failed attempt asks the leader to close its session. Elasticsearch's restore
    /// closes it in a `finally`; OpenSearch's restarts without releasing it, so its sessions
    /// (and the commits they pin) pile up on the leader.
    pub fn releases_session_on_failure(self) -> bool {
        !matches!(self, Self::Opensearch)
    }

    /// Whether a new attempt starts from an empty store.
    pub fn restarts_from_zero(self) -> bool {
        !matches!(self, Self::Resumable)
    }

    /// Whether pings carry a pong deadline (liveness detection), not only data.
    pub fn pings_detect_dead_channels(self) -> bool {
        matches!(self, Self::Resumable)
    }

    /// `transport.ping_schedule` as this policy runs it: the resumable policy always pings every
    /// channel (1 s unless set), which is how it notices a blackhole TCP keepalive cannot see.
    pub fn ping_schedule(self, setting: Option<Duration>) -> Option<Duration> {
        match self {
            Self::Resumable => setting.or(Some(RESUMABLE_PING)),
            _ => setting,
        }
    }

    /// How late a pong (with no byte at all meanwhile) may be before its channel is closed:
    /// three ping intervals, at least 1 s, under the policy that detects dead channels.
    pub fn pong_deadline(self, ping_schedule: Option<Duration>) -> Option<Duration> {
        self.pings_detect_dead_channels()
            .then(|| ping_schedule.map(|p| (p * 3).max(Duration::from_secs(1))))
            .flatten()
    }

    /// Whether the first lost channel closes the whole connection when the setting leaves it
    /// open: Elasticsearch's and OpenSearch's transport does; rrbench's resumable policy keeps
    /// the other channels.
    pub fn closes_all_on_channel_loss(self) -> bool {
        !matches!(self, Self::Resumable)
    }

    /// Chunk retry `try_number` (1 = the first retry): how long to wait first, or `None` when
    /// the policy does not retry chunks or the tries are used up.
    pub fn chunk_retry_delay(self, try_number: u32, time_scale: f64) -> Option<Duration> {
        match self {
            Self::Opensearch => OPENSEARCH_BACKOFF
                .get(try_number.checked_sub(1)? as usize)
                .map(|d| scaled(*d, time_scale)),
            _ => None,
        }
    }

    /// Wait before attempt `next_attempt` (2, 3, ...). `jitter` in `[0, 1)` comes from the
    /// seeded RNG; only the resumable policy uses it.
    pub fn attempt_delay(self, next_attempt: u32, time_scale: f64, jitter: f64) -> Duration {
        match self {
            Self::Elasticsearch => Duration::ZERO,
            Self::Opensearch => scaled(OPENSEARCH_RESTART_DELAY, time_scale),
            Self::Resumable => {
                let exp = next_attempt.saturating_sub(2).min(16);
                let full = RESUMABLE_BACKOFF_BASE
                    .saturating_mul(1 << exp)
                    .min(RESUMABLE_BACKOFF_CAP);
                // "Equal jitter": half fixed, half random, so retries never synchronise.
                scaled(full / 2 + full.mul_f64(jitter / 2.0), time_scale)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opensearch_retries_a_chunk_four_times_with_doubling_backoff() {
        let p = Policy::Opensearch;
        let delays: Vec<_> = (1..=5).map(|n| p.chunk_retry_delay(n, 1.0)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(20)),
                Some(Duration::from_secs(40)),
                Some(Duration::from_secs(80)),
                None
            ]
        );
        assert_eq!(
            p.chunk_retry_delay(1, 0.001),
            Some(Duration::from_millis(10))
        );
        assert_eq!(Policy::Elasticsearch.chunk_retry_delay(1, 1.0), None);
        assert_eq!(Policy::Resumable.chunk_retry_delay(1, 1.0), None);
    }

    #[test]
    fn attempt_delays_per_policy() {
        assert_eq!(
            Policy::Elasticsearch.attempt_delay(2, 1.0, 0.5),
            Duration::ZERO
        );
        assert_eq!(
            Policy::Opensearch.attempt_delay(2, 1.0, 0.5),
            Duration::from_secs(1)
        );
        let r = Policy::Resumable;
        assert_eq!(r.attempt_delay(2, 1.0, 0.0), Duration::from_millis(100));
        assert_eq!(r.attempt_delay(2, 1.0, 0.999_999).as_millis(), 199);
        assert_eq!(r.attempt_delay(3, 1.0, 0.0), Duration::from_millis(200));
        assert_eq!(
            r.attempt_delay(30, 1.0, 0.0),
            Duration::from_secs(5),
            "capped"
        );
    }

    #[test]
    fn policies_parse_and_print() {
        for p in [Policy::Elasticsearch, Policy::Opensearch, Policy::Resumable] {
            assert_eq!(p.to_string().parse::<Policy>(), Ok(p));
        }
        assert!("raft".parse::<Policy>().is_err());
        assert!(Policy::Resumable.pings_detect_dead_channels());
        let second = Some(Duration::from_secs(1));
        assert_eq!(Policy::Resumable.ping_schedule(None), second);
        assert_eq!(Policy::Elasticsearch.ping_schedule(None), None);
        assert_eq!(
            Policy::Resumable.pong_deadline(Some(Duration::from_millis(100))),
            second
        );
        assert_eq!(Policy::Opensearch.pong_deadline(second), None);
        assert!(!Policy::Resumable.closes_all_on_channel_loss());
        assert!(!Policy::Opensearch.has_request_timeout());
        assert!(!Policy::Resumable.restarts_from_zero());
    }
}
