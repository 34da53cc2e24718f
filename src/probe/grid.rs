//! The idle-timeout grid: which idle times to test, what became of each connection, and when a
//! kind of connection is decided. Pure: no sockets, no clock (the driver in [`super::idle`]
//! feeds it what it saw).
//!
//! Instead of doubling and bisecting one connection at a time (which costs the sum of every idle
//! tried, many times the timeout), every idle time of the grid gets its own connection and all
//! start together: connection `k` stays idle for `t_k`, then is used once. The whole measurement
//! then takes about the longest idle tested, and far less when the path resets idle connections
//! (each reset is seen as it happens) and every kind is decided early.

use std::time::Duration;

use serde::Serialize;

use super::secs;

/// The three ways a connection is held idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdleKind {
    /// No keepalive, no pings: nothing crosses the path.
    Silent,
    /// TCP keepalive probes (packets without data), no application pings.
    Keepalive,
    /// Application pings (`transport.ping_schedule`): data on the connection.
    Pings,
}

impl IdleKind {
    /// Every kind, in report order.
    pub const ALL: [IdleKind; 3] = [Self::Silent, Self::Keepalive, Self::Pings];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Silent => "silent",
            Self::Keepalive => "keepalive",
            Self::Pings => "pings",
        }
    }
}

/// How a connection was found dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Death {
    /// Reset (or closed) when it was used after its idle time: the middlebox forgot it and
    /// answered the next packet with a RST.
    ResetOnUse,
    /// Reset (or closed) while it sat idle: the middlebox tore it down actively.
    ResetWhileIdle,
    /// Nothing came back (no pong within the probe's timeout, or the kernel's user timeout or
    /// keepalive gave up): the middlebox dropped its state and now swallows packets.
    SilentDrop,
}

impl Death {
    /// How it reads in the text report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ResetOnUse => "RST on next use",
            Self::ResetWhileIdle => "RST while idle",
            Self::SilentDrop => "silent drop (timeout)",
        }
    }
}

/// What became of one connection of the grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fate {
    /// Not known yet.
    Pending,
    /// Used after its idle time, it answered.
    Survived,
    /// It died; `idle` is how long it had been idle when that was seen (its grid idle for a
    /// death on use, less for a reset seen while idle).
    Died {
        /// How it died.
        death: Death,
        /// Idle time at the death.
        idle: Duration,
    },
    /// It could not be opened (nothing learnt from it).
    NotOpened,
}

/// Idle times from `min` to `max`, each `1 + resolution` times the one before, `max` last.
/// Empty only when `max` is zero.
pub fn geometric_grid(min: Duration, max: Duration, resolution: f64) -> Vec<Duration> {
    if max.is_zero() {
        return Vec::new();
    }
    let ratio = 1.0 + resolution.clamp(0.001, 10.0);
    let min = min.max(Duration::from_millis(1)).min(max);
    let mut grid = Vec::new();
    let mut t = min.as_secs_f64();
    let top = max.as_secs_f64();
    // Stop short of `max` by less than a step: `max` itself closes the grid.
    while t * ratio.sqrt() < top {
        grid.push(Duration::from_secs_f64(t));
        t *= ratio;
    }
    grid.push(max);
    grid
}

/// One kind's connections and their fates.
#[derive(Clone, Debug)]
pub struct KindGrid {
    /// The kind.
    pub kind: IdleKind,
    /// Idle time of each connection, ascending.
    pub idles: Vec<Duration>,
    /// Fate of each connection.
    pub fates: Vec<Fate>,
}

/// A kind's outcome so far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// More waiting could change it.
    Open,
    /// Every idle below the first death was tested and survived: the timeout is known.
    Dies,
    /// It survived every idle tested, or outlived twice another kind's timeout.
    Survives,
}

impl KindGrid {
    /// A kind's grid, every connection pending.
    pub fn new(kind: IdleKind, idles: Vec<Duration>) -> Self {
        let fates = vec![Fate::Pending; idles.len()];
        Self { kind, idles, fates }
    }

    /// Records connection `k`'s fate (the first one recorded stands).
    pub fn record(&mut self, k: usize, fate: Fate) {
        if let Some(slot) = self.fates.get_mut(k)
            && *slot == Fate::Pending
        {
            *slot = fate;
        }
    }

    /// The longest idle a connection survived.
    pub fn longest_survived(&self) -> Option<Duration> {
        self.survivors().max()
    }

    fn survivors(&self) -> impl Iterator<Item = Duration> + '_ {
        self.idles
            .iter()
            .zip(&self.fates)
            .filter(|(_, f)| **f == Fate::Survived)
            .map(|(t, _)| *t)
    }

    /// The shortest idle after which a connection was found dead, and how.
    pub fn shortest_died(&self) -> Option<(Duration, Death)> {
        self.fates
            .iter()
            .filter_map(|f| match *f {
                Fate::Died { death, idle } => Some((idle, death)),
                _ => None,
            })
            .min_by_key(|(idle, _)| *idle)
    }

    /// Every death, by how it looked.
    pub fn deaths(&self) -> Vec<(Death, usize)> {
        let mut counts: Vec<(Death, usize)> = Vec::new();
        for f in &self.fates {
            if let Fate::Died { death, .. } = f {
                match counts.iter_mut().find(|(d, _)| d == death) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((*death, 1)),
                }
            }
        }
        counts
    }

    /// Connections whose fate is known (opened and resolved).
    pub fn resolved(&self) -> usize {
        self.fates
            .iter()
            .filter(|f| !matches!(f, Fate::Pending))
            .count()
    }

    /// The idle timeout as best known: a reset seen while idle tells the moment itself; a
    /// death on use only brackets it, so the geometric middle of the bracket is taken.
    pub fn timeout_estimate(&self) -> Option<Duration> {
        let (died, death) = self.shortest_died()?;
        if death == Death::ResetWhileIdle {
            return Some(died);
        }
        let below = self.survivors().filter(|t| *t < died).max();
        Some(match below {
            Some(s) => Duration::from_secs_f64((s.as_secs_f64() * died.as_secs_f64()).sqrt()),
            None => died,
        })
    }

    /// Whether a connection survived an idle longer than one that died (a flapping path, or
    /// a timeout that is not one number).
    pub fn is_inconsistent(&self) -> bool {
        match (self.longest_survived(), self.shortest_died()) {
            (Some(s), Some((d, _))) => s > d,
            _ => false,
        }
    }

    /// Whether this kind's outcome is known. `others_timeout` is the longest timeout found for
    /// another kind: a kind that outlived twice that survives what kills the others, and waiting
    /// longer would not change the path's classification.
    pub fn decision(&self, others_timeout: Option<Duration>) -> Decision {
        let pending_below = |limit: Duration| {
            self.idles
                .iter()
                .zip(&self.fates)
                .any(|(t, f)| *t < limit && *f == Fate::Pending)
        };
        if let Some((died, _)) = self.shortest_died() {
            return if pending_below(died) {
                Decision::Open
            } else {
                Decision::Dies
            };
        }
        // Every fate known: it survives only if a connection really lived through the longest
        // idle tried (one that never opened proves nothing).
        let longest = self.idles.iter().copied().max();
        if self.fates.iter().all(|f| *f != Fate::Pending)
            && self.longest_survived().is_some_and(|s| Some(s) >= longest)
        {
            return Decision::Survives;
        }
        match (others_timeout, self.longest_survived()) {
            (Some(other), Some(s)) if s >= other * 2 && !pending_below(s) => Decision::Survives,
            _ => Decision::Open,
        }
    }

    /// A summary for the report.
    pub fn summary(&self, others_timeout: Option<Duration>) -> KindSummary {
        let decision = self.decision(others_timeout);
        KindSummary {
            kind: self.kind,
            tested: self.idles.len(),
            resolved: self.resolved(),
            longest_survived: self.longest_survived(),
            shortest_died: self.shortest_died().map(|(t, _)| t),
            first_death: self.shortest_died().map(|(_, d)| d),
            timeout: self.timeout_estimate(),
            deaths: self
                .deaths()
                .into_iter()
                .map(|(death, count)| DeathCount { death, count })
                .collect(),
            decided: decision != Decision::Open,
            dies: decision == Decision::Dies,
            inconsistent: self.is_inconsistent(),
            not_opened: self.fates.iter().filter(|f| **f == Fate::NotOpened).count(),
        }
    }
}

/// How many connections died one way.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DeathCount {
    /// How they died.
    pub death: Death,
    /// How many.
    pub count: usize,
}

/// One kind's result, as reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindSummary {
    /// The kind.
    pub kind: IdleKind,
    /// Connections in its grid.
    pub tested: usize,
    /// Connections whose fate is known.
    pub resolved: usize,
    /// Longest idle survived.
    #[serde(rename = "longest_survived_s", serialize_with = "secs::option")]
    pub longest_survived: Option<Duration>,
    /// Shortest idle that did not survive.
    #[serde(rename = "shortest_died_s", serialize_with = "secs::option")]
    pub shortest_died: Option<Duration>,
    /// How the shortest death looked.
    pub first_death: Option<Death>,
    /// The idle timeout as best known ([`KindGrid::timeout_estimate`]).
    #[serde(rename = "timeout_s", serialize_with = "secs::option")]
    pub timeout: Option<Duration>,
    /// Every death by how it looked.
    pub deaths: Vec<DeathCount>,
    /// Whether the outcome is known.
    pub decided: bool,
    /// Whether connections of this kind die of idleness (else they survived, or undecided).
    pub dies: bool,
    /// A connection survived longer than one that died.
    pub inconsistent: bool,
    /// Connections that never opened (a file-descriptor limit, a leader's `max_connections`,
    /// a full middlebox table): their idles were not tested.
    pub not_opened: usize,
}

/// Every kind's decision: first whether it dies (which needs no other kind), then whether a
/// survivor outlived twice the longest timeout found among the kinds that die.
pub fn decisions(grids: &[KindGrid]) -> Vec<Decision> {
    let alone: Vec<Decision> = grids.iter().map(|g| g.decision(None)).collect();
    (0..grids.len())
        .map(|i| grids[i].decision(others_timeout(grids, &alone, i)))
        .collect()
}

/// The longest timeout among the kinds other than `i` that are decided to die.
fn others_timeout(grids: &[KindGrid], alone: &[Decision], i: usize) -> Option<Duration> {
    (0..grids.len())
        .filter(|&j| j != i && alone[j] == Decision::Dies)
        .filter_map(|j| grids[j].timeout_estimate())
        .max()
}

/// Every kind's summary, decided as [`decisions`] decides.
pub fn summarize(grids: &[KindGrid]) -> Vec<KindSummary> {
    let alone: Vec<Decision> = grids.iter().map(|g| g.decision(None)).collect();
    (0..grids.len())
        .map(|i| grids[i].summary(others_timeout(grids, &alone, i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64) -> Duration {
        Duration::from_secs_f64(x)
    }

    #[test]
    fn the_grid_is_geometric_from_min_and_ends_at_max() {
        let g = geometric_grid(s(0.25), s(8.0), 0.1);
        assert_eq!(g[0], s(0.25));
        assert_eq!(*g.last().expect("points"), s(8.0));
        for w in g.windows(2) {
            let r = w[1].as_secs_f64() / w[0].as_secs_f64();
            assert!(r > 1.0 && r <= 1.1 * 1.05 + 1e-9, "{r}");
        }
        // 0.25 * 1.1^36 = 7.7: 37 steps then 8 s.
        assert_eq!(g.len(), 37);
        assert_eq!(geometric_grid(s(1.0), s(0.5), 0.1), vec![s(0.5)]);
        assert!(geometric_grid(s(1.0), Duration::ZERO, 0.1).is_empty());
    }

    fn grid() -> KindGrid {
        KindGrid::new(IdleKind::Silent, vec![s(1.0), s(2.0), s(4.0), s(8.0)])
    }

    #[test]
    fn a_reset_while_idle_decides_once_every_shorter_idle_survived() {
        let mut g = grid();
        let reset = |idle| Fate::Died {
            death: Death::ResetWhileIdle,
            idle,
        };
        g.record(3, reset(s(3.0)));
        g.record(2, reset(s(3.0)));
        assert_eq!(g.decision(None), Decision::Open, "1 s and 2 s not yet used");
        g.record(0, Fate::Survived);
        g.record(1, Fate::Survived);
        assert_eq!(g.decision(None), Decision::Dies);
        assert_eq!(g.timeout_estimate(), Some(s(3.0)));
        let sum = g.summary(None);
        assert_eq!(sum.longest_survived, Some(s(2.0)));
        assert_eq!(sum.shortest_died, Some(s(3.0)));
        assert_eq!(
            sum.deaths,
            vec![DeathCount {
                death: Death::ResetWhileIdle,
                count: 2
            }]
        );
        assert!(sum.dies && sum.decided && !sum.inconsistent);
    }

    #[test]
    fn a_death_on_use_is_estimated_in_the_middle_of_its_bracket() {
        let mut g = grid();
        g.record(0, Fate::Survived);
        g.record(1, Fate::Survived);
        g.record(
            2,
            Fate::Died {
                death: Death::SilentDrop,
                idle: s(8.0),
            },
        );
        g.record(2, Fate::Survived);
        assert_eq!(
            g.fates[2],
            Fate::Died {
                death: Death::SilentDrop,
                idle: s(8.0)
            }
        );
        assert_eq!(g.timeout_estimate(), Some(s(4.0)));
        assert_eq!(g.decision(None), Decision::Dies);
    }

    #[test]
    fn survival_is_decided_at_the_end_or_at_twice_another_kinds_timeout() {
        let mut g = grid();
        g.record(0, Fate::Survived);
        g.record(1, Fate::Survived);
        assert_eq!(g.decision(None), Decision::Open);
        assert_eq!(g.decision(Some(s(1.5))), Decision::Open, "2 s < 2 x 1.5 s");
        assert_eq!(g.decision(Some(s(1.0))), Decision::Survives);
        g.record(2, Fate::NotOpened);
        g.record(3, Fate::Survived);
        assert_eq!(g.decision(None), Decision::Survives);
        assert_eq!(g.timeout_estimate(), None);
        // The longest idles never opened: nothing says they would have survived.
        let mut h = grid();
        h.record(0, Fate::Survived);
        h.record(1, Fate::Survived);
        h.record(2, Fate::NotOpened);
        h.record(3, Fate::NotOpened);
        assert_eq!(h.decision(None), Decision::Open);
        assert_eq!(h.summary(None).not_opened, 2);
    }

    #[test]
    fn a_survivor_past_a_death_is_inconsistent() {
        let mut g = grid();
        g.record(
            1,
            Fate::Died {
                death: Death::ResetOnUse,
                idle: s(2.0),
            },
        );
        g.record(3, Fate::Survived);
        assert!(g.is_inconsistent());
    }
}
