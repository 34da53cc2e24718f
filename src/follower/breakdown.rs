//! Where a recovery's time went: its duration split into what the engine was doing, measured as
//! the recovery ran (the machine charges every interval between two of its steps to the one
//! activity its state shows), not inferred afterwards.

use serde::{Deserialize, Serialize};

/// What the engine was doing at a moment; one is charged for every instant of a recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// Opening a connection (TCP/QUIC handshake, the channels of a profile).
    Connecting,
    /// Asking the leader for a session and its file list; preparing the target directory.
    OpeningSession,
    /// Waiting with requests in flight: the round trip and the bytes on the wire.
    Network,
    /// The follower's own limiter (`indices.recovery.max_bytes_per_sec`) held a request back.
    FollowerThrottle,
    /// The leader's limiter held replies back (reported by the leader with each chunk).
    LeaderThrottle,
    /// Writing chunks and fsyncing finished files, with nothing to send meanwhile.
    Storage,
    /// The oldest outstanding request had not come back while later ones were already
    /// processed: the window, counted from the oldest, cannot move past it.
    HeadOfLine,
    /// Waiting between attempts (the policy's backoff) or tearing an attempt down.
    Backoff,
}

impl Activity {
    /// Every activity, in the order reports list them.
    pub const ALL: [Activity; 8] = [
        Activity::Network,
        Activity::FollowerThrottle,
        Activity::LeaderThrottle,
        Activity::Storage,
        Activity::HeadOfLine,
        Activity::Connecting,
        Activity::OpeningSession,
        Activity::Backoff,
    ];

    /// The snake_case name used in JSON and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Activity::Connecting => "connecting",
            Activity::OpeningSession => "opening_session",
            Activity::Network => "network",
            Activity::FollowerThrottle => "follower_throttle",
            Activity::LeaderThrottle => "leader_throttle",
            Activity::Storage => "storage",
            Activity::HeadOfLine => "head_of_line",
            Activity::Backoff => "backoff",
        }
    }

    /// Words for a human.
    pub fn describe(self) -> &'static str {
        match self {
            Activity::Connecting => "connecting",
            Activity::OpeningSession => "opening sessions",
            Activity::Network => "network round trips (requests in flight)",
            Activity::FollowerThrottle => "the follower's rate limiter",
            Activity::LeaderThrottle => "the leader's rate limiter",
            Activity::Storage => "writing and fsyncing files",
            Activity::HeadOfLine => "head-of-line blocking (later chunks done, the oldest not)",
            Activity::Backoff => "backing off between attempts",
        }
    }
}

/// Seconds per activity; they sum to the recovery's duration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeBreakdown {
    /// See [`Activity::Connecting`].
    pub connecting_s: f64,
    /// See [`Activity::OpeningSession`].
    pub opening_session_s: f64,
    /// See [`Activity::Network`].
    pub network_s: f64,
    /// See [`Activity::FollowerThrottle`].
    pub follower_throttle_s: f64,
    /// See [`Activity::LeaderThrottle`].
    pub leader_throttle_s: f64,
    /// See [`Activity::Storage`].
    pub storage_s: f64,
    /// See [`Activity::HeadOfLine`].
    pub head_of_line_s: f64,
    /// See [`Activity::Backoff`].
    pub backoff_s: f64,
}

impl TimeBreakdown {
    /// Seconds charged to `a`.
    pub fn get(&self, a: Activity) -> f64 {
        match a {
            Activity::Connecting => self.connecting_s,
            Activity::OpeningSession => self.opening_session_s,
            Activity::Network => self.network_s,
            Activity::FollowerThrottle => self.follower_throttle_s,
            Activity::LeaderThrottle => self.leader_throttle_s,
            Activity::Storage => self.storage_s,
            Activity::HeadOfLine => self.head_of_line_s,
            Activity::Backoff => self.backoff_s,
        }
    }

    /// A mutable slot for `a`.
    pub fn slot(&mut self, a: Activity) -> &mut f64 {
        match a {
            Activity::Connecting => &mut self.connecting_s,
            Activity::OpeningSession => &mut self.opening_session_s,
            Activity::Network => &mut self.network_s,
            Activity::FollowerThrottle => &mut self.follower_throttle_s,
            Activity::LeaderThrottle => &mut self.leader_throttle_s,
            Activity::Storage => &mut self.storage_s,
            Activity::HeadOfLine => &mut self.head_of_line_s,
            Activity::Backoff => &mut self.backoff_s,
        }
    }

    /// Adds every term of `other` (the shards of an index: shard-seconds).
    pub fn add(&mut self, other: &TimeBreakdown) {
        for a in Activity::ALL {
            *self.slot(a) += other.get(a);
        }
    }

    /// The sum of every term.
    pub fn total(&self) -> f64 {
        Activity::ALL.iter().map(|a| self.get(*a)).sum()
    }

    /// The activity with the most time, if any time was charged.
    pub fn largest(&self) -> Option<Activity> {
        Activity::ALL
            .iter()
            .copied()
            .filter(|a| self.get(*a) > 0.0)
            .max_by(|a, b| self.get(*a).total_cmp(&self.get(*b)))
    }

    /// `network 1.20 s (61%), storage 0.50 s (25%), ...`: the terms over 1% of the total,
    /// largest first.
    pub fn line(&self) -> String {
        let total = self.total();
        if total <= 0.0 {
            return "nothing measured".into();
        }
        let mut terms: Vec<Activity> = Activity::ALL
            .iter()
            .copied()
            .filter(|a| self.get(*a) / total >= 0.01)
            .collect();
        terms.sort_by(|a, b| self.get(*b).total_cmp(&self.get(*a)));
        terms
            .iter()
            .map(|a| {
                format!(
                    "{} {:.2} s ({:.0}%)",
                    a.name(),
                    self.get(*a),
                    100.0 * self.get(*a) / total
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One chunk request: when it was sent and how long its reply took (for latency CDFs).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestSample {
    /// Seconds on the run's clock when the request was sent.
    pub t: f64,
    /// Seconds until its reply arrived (or it failed).
    pub latency_s: f64,
    /// The attempt it belonged to.
    pub attempt: u32,
    /// Bytes asked for.
    pub bytes: u32,
    /// Whether a reply arrived (false: it failed or was abandoned).
    pub ok: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_and_line_name_the_biggest_term() {
        let mut b = TimeBreakdown::default();
        assert_eq!(b.largest(), None);
        *b.slot(Activity::Network) = 3.0;
        *b.slot(Activity::Storage) = 1.0;
        assert_eq!(b.largest(), Some(Activity::Network));
        assert_eq!(b.total(), 4.0);
        assert_eq!(b.line(), "network 3.00 s (75%), storage 1.00 s (25%)");
    }
}
