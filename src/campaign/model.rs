//! The throughput a trial should reach (design §10). The bound, from settings and faults alone:
//!
//! `min(follower max_bytes_per_sec, nodes × leader max_bytes_per_sec, paths × bottleneck,
//!     shards × window × chunk / (RTT + chunk / bottleneck))`
//!
//! where `shards` is how many shards the follower node restores at once (each has its own
//! window; `node_initial_primaries_recoveries` caps them), `nodes` how many leader nodes hold
//! their primaries (each node has its own limiter: the sum of the leader node limits in play)
//! and `paths` how many separate injector paths their requests take (one per gateway node in
//! sniff mode over a cluster; else one), while the follower node's one limiter is shared by all.
//! That is for shards spread evenly and restored in one wave; [`shards_model_mib_s`] takes the
//! busiest node and path of each wave of shards ([`Spread`]).
//!
//! The window of `max_concurrent_file_chunks` requests of `chunk_size` bytes is in flight per
//! round trip; each chunk also spends `chunk / bottleneck` on the wire. Rate limits apply on
//! both nodes, so the lower one counts.
//!
//! That bound leaves out what the machine itself costs: each request's service (the leader's
//! read and checksum, the relay's copies, the follower's checksum and write), each file's fsync
//! when its last chunk lands, and the ramp. At one 1 MiB request in flight over a 20 ms round
//! trip those are about a fifth of the time. So where a latency fault sets the bound, the model
//! adds the latency to a *reference* measured in the same run: the same cell with the latency's
//! delay set to zero (the same relay path, copying included). Then
//!
//! `duration = reference + 2 × RTT (hello, open session) + ⌈chunks / window⌉ × RTT`
//!
//! and the model is `min(bound, bytes / duration)`; [`ModelTerms`] says which part is largest.
//! Pure: no I/O.

use std::time::Duration;

use crate::{
    chaos::{Direction, Fault, FaultKind},
    results::ModelTerms,
    settings::{LeaderSettings, RecoverySettings},
};

/// Round-trip time the faults add: latency both ways counts twice, one way once.
pub fn added_rtt(faults: &[Fault]) -> Duration {
    faults
        .iter()
        .filter_map(|f| match f.kind {
            FaultKind::Latency(l)
                if f.schedule.start.is_zero() && f.schedule.duration.is_none() =>
            {
                Some(if f.direction == Direction::Both {
                    2 * l.delay
                } else {
                    l.delay
                })
            }
            _ => None,
        })
        .sum()
}

/// The narrowest always-on bandwidth fault on the data's way back (downstream), bytes/s.
pub fn bottleneck(faults: &[Fault]) -> Option<f64> {
    faults
        .iter()
        .filter_map(|f| match f.kind {
            FaultKind::Bandwidth(b)
                if f.covers(Direction::Downstream)
                    && f.schedule.start.is_zero()
                    && f.schedule.duration.is_none() =>
            {
                Some(b.rate.bytes() as f64)
            }
            _ => None,
        })
        .reduce(f64::min)
}

/// Model throughput in MiB/s of one shard, or `None` when nothing bounds it (no limit, no
/// latency, no bandwidth fault: then the machine is the limit and the model says nothing).
pub fn model_throughput_mib_s(
    settings: &RecoverySettings,
    leader: &LeaderSettings,
    faults: &[Fault],
) -> Option<f64> {
    shards_model_mib_s(settings, leader, faults, &Spread::one())
}

/// Shards of an index of `shards` that one follower node restores at once.
pub fn concurrent_shards(settings: &RecoverySettings, shards: u32) -> u32 {
    shards
        .min(settings.node_initial_primaries_recoveries)
        .max(1)
}

/// Where the shards of an index are served from, and how many a follower node restores at
/// once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spread {
    /// Each shard's (leader node, injector path), in shard order: a leader node has its own
    /// limiter, a path its own bandwidth fault.
    pub placement: Vec<(u32, u32)>,
    /// Shards restored at once ([`concurrent_shards`]).
    pub at_once: u32,
}

impl Spread {
    /// One shard from one leader node over one path.
    pub fn one() -> Self {
        Self {
            placement: vec![(0, 0)],
            at_once: 1,
        }
    }

    /// An index of `shards` shards restored under `settings` from a cluster of `leader_nodes`
    /// (the primary of shard `s` on node `s % leader_nodes`), over one injector per gateway
    /// when `path_per_gateway` (sniff mode through per-node proxies), else over one path.
    pub fn of(
        settings: &RecoverySettings,
        shards: u32,
        leader_nodes: u32,
        path_per_gateway: bool,
    ) -> Self {
        let nodes = leader_nodes.max(1) as usize;
        let gateways = (settings.node_connections.max(1) as usize).min(nodes);
        Self {
            placement: (0..shards.max(1))
                .map(|s| {
                    let path = if path_per_gateway {
                        crate::follower::node::gateway_for(s, gateways, nodes) as u32
                    } else {
                        0
                    };
                    (crate::leader::primary_node(s, nodes) as u32, path)
                })
                .collect(),
            at_once: concurrent_shards(settings, shards),
        }
    }

    /// `indices` indices of one shard, each from a leader cluster of its own over a path of its
    /// own (fan-in), restored under `settings`.
    pub fn apart(settings: &RecoverySettings, indices: u32) -> Self {
        Self {
            placement: (0..indices.max(1)).map(|i| (i, i)).collect(),
            at_once: concurrent_shards(settings, indices),
        }
    }

    /// The shards in the waves they restore in: the first `at_once`, then the next...
    fn waves(&self) -> impl Iterator<Item = &[(u32, u32)]> {
        self.placement.chunks(self.at_once.max(1) as usize)
    }
}

/// The most entries of `wave` that share one key.
fn busiest(wave: &[(u32, u32)], key: impl Fn(&(u32, u32)) -> u32) -> u32 {
    let mut counts = std::collections::BTreeMap::new();
    for place in wave {
        *counts.entry(key(place)).or_insert(0u32) += 1;
    }
    counts.into_values().max().unwrap_or(0)
}

/// Model throughput in MiB/s of the shards of `spread` (of one size, as `gen-index` makes them)
/// restored by one follower node, in waves of `at_once`. A wave of `n` shards, `B` bytes each,
/// lasts as long as its busiest resource takes:
///
/// `B × max(n / follower limit, busiest node's shards / leader limit,
///          busiest path's shards / bottleneck, RTT' / (window × chunk))`
///
/// (each shard has its own window; the follower node's one limiter is shared by all; each
/// leader node has its own limiter and each path its own bottleneck, so the nodes' and paths'
/// bounds add up when the shards spread evenly), and the throughput is every shard's bytes over
/// the waves' sum. With the shards spread evenly over one wave this is
/// `min(follower limit, nodes × leader limit, paths × bottleneck, shards × window / RTT')`.
pub fn shards_model_mib_s(
    settings: &RecoverySettings,
    leader: &LeaderSettings,
    faults: &[Fault],
    spread: &Spread,
) -> Option<f64> {
    const MIB: f64 = 1048576.0;
    let positive = |r: u64| (r > 0).then_some(r as f64);
    let follower_rate = positive(settings.max_bytes_per_sec.bytes());
    let leader_rate = positive(leader.max_bytes_per_sec.bytes());
    let bottleneck = bottleneck(faults);
    let chunk = settings.chunk_size.bytes() as f64;
    let window = f64::from(settings.max_concurrent_file_chunks) * chunk;
    let round_trip = added_rtt(faults).as_secs_f64() + bottleneck.map_or(0.0, |b| chunk / b);
    let window_rate = (round_trip > 0.0).then(|| window / round_trip);
    // Seconds per byte of each shard, wave by wave.
    let mut per_byte = 0.0;
    for wave in spread.waves() {
        let terms = [
            follower_rate.map(|r| wave.len() as f64 / r),
            leader_rate.map(|r| f64::from(busiest(wave, |p| p.0)) / r),
            bottleneck.map(|b| f64::from(busiest(wave, |p| p.1)) / b),
            window_rate.map(|r| 1.0 / r),
        ];
        per_byte += terms.into_iter().flatten().reduce(f64::max)?;
    }
    (per_byte > 0.0).then(|| spread.placement.len() as f64 / per_byte / MIB)
}

/// Model throughput of `followers` followers recovering from one leader at once, summed, in
/// MiB/s; `None` when nothing bounds it. Each follower is a node of its own, so its
/// `max_bytes_per_sec` and its window bound each follower alone, and `followers` times over;
/// the leader's limiter and a bandwidth fault on the one path are shared, so they bound the sum.
/// For one follower this is [`model_throughput_mib_s`].
pub fn fanout_model_mib_s(
    settings: &RecoverySettings,
    leader: &LeaderSettings,
    faults: &[Fault],
    followers: u32,
) -> Option<f64> {
    const MIB: f64 = 1048576.0;
    if followers <= 1 {
        return model_throughput_mib_s(settings, leader, faults);
    }
    let positive = |r: u64| (r > 0).then_some(r as f64);
    let rtt = added_rtt(faults).as_secs_f64();
    let window =
        f64::from(settings.max_concurrent_file_chunks) * settings.chunk_size.bytes() as f64;
    let each = [
        positive(settings.max_bytes_per_sec.bytes()),
        (rtt > 0.0).then(|| window / rtt),
    ]
    .into_iter()
    .flatten()
    .reduce(f64::min);
    [
        each.map(|e| e * f64::from(followers)),
        positive(leader.max_bytes_per_sec.bytes()),
        bottleneck(faults),
    ]
    .into_iter()
    .flatten()
    .reduce(f64::min)
    .map(|bytes_per_sec| bytes_per_sec / MIB)
}

/// Model throughput of one follower node restoring from `leaders` leader clusters at once
/// (fan-in), summed, in MiB/s; `None` when nothing bounds it. Each leader has its own node
/// limiter, its own path (its own copy of every fault, a bandwidth fault included) and its
/// index its own window, so each bounds one recovery; the follower node's one limiter bounds
/// the sum; only `node_initial_primaries_recoveries` of them restore at once, in waves: the
/// [`shards_model_mib_s`] of [`Spread::apart`]. With one wave:
///
/// `min(follower limit, leaders × min(leader limit, bottleneck, window × chunk / RTT'))`
pub fn fanin_model_mib_s(
    settings: &RecoverySettings,
    leader: &LeaderSettings,
    faults: &[Fault],
    leaders: u32,
) -> Option<f64> {
    shards_model_mib_s(settings, leader, faults, &Spread::apart(settings, leaders))
}

/// The faults of a reference trial: every always-on latency with its delay and jitter set to
/// zero (so the bytes still take the relay's copying path). `None` when no latency fault shapes
/// the steady state, so no reference is needed.
pub fn reference_faults(faults: &[Fault]) -> Option<Vec<Fault>> {
    if added_rtt(faults).is_zero() {
        return None;
    }
    Some(
        faults
            .iter()
            .map(|f| {
                let mut f = f.clone();
                if let FaultKind::Latency(l) = &mut f.kind
                    && f.schedule.start.is_zero()
                    && f.schedule.duration.is_none()
                {
                    l.delay = Duration::ZERO;
                    l.jitter = Duration::ZERO;
                }
                f
            })
            .collect(),
    )
}

/// What a trial is judged against.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Model {
    /// MiB/s.
    pub throughput_mib_s: f64,
    /// Its terms, when a reference was measured.
    pub terms: Option<ModelTerms>,
}

/// The index a trial recovers, as the model needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexShape {
    /// Bytes.
    pub bytes: u64,
    /// Chunk requests over every file at the cell's chunk size.
    pub chunks: u64,
    /// The shards restored at once, and the leader nodes and paths they use.
    pub spread: Spread,
}

/// The model for a cell: the bound of [`model_throughput_mib_s`], and where a latency sets it
/// and `reference_s` was measured, the additive model of the module's doc.
pub fn model(
    settings: &RecoverySettings,
    leader: &LeaderSettings,
    faults: &[Fault],
    index: IndexShape,
    reference_s: Option<f64>,
) -> Option<Model> {
    const MIB: f64 = 1048576.0;
    let bound = shards_model_mib_s(settings, leader, faults, &index.spread)?;
    let Some(reference_s) = reference_s.filter(|r| *r > 0.0) else {
        return Some(Model {
            throughput_mib_s: bound,
            terms: None,
        });
    };
    let rtt = added_rtt(faults).as_secs_f64();
    // Concurrent shards each keep a window in flight: that many more requests per round trip.
    let window = u64::from(settings.max_concurrent_file_chunks.max(1))
        * u64::from(index.spread.at_once.max(1));
    let terms = ModelTerms {
        reference_s,
        setup_s: 2.0 * rtt,
        round_trips_s: index.chunks.div_ceil(window) as f64 * rtt,
    };
    Some(Model {
        throughput_mib_s: bound.min(index.bytes as f64 / MIB / terms.total()),
        terms: Some(terms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::ByteSize;

    fn faults(specs: &[&str]) -> Vec<Fault> {
        specs.iter().map(|s| s.parse().expect(s)).collect()
    }

    fn unlimited() -> (RecoverySettings, LeaderSettings) {
        (
            RecoverySettings {
                max_bytes_per_sec: ByteSize(0),
                ..RecoverySettings::default()
            },
            LeaderSettings {
                max_bytes_per_sec: ByteSize(0),
                ..LeaderSettings::default()
            },
        )
    }

    #[test]
    fn concurrent_shards_add_their_windows_under_the_shared_node_limits() {
        let (mut s, l) = unlimited();
        let wan = faults(&["latency:delay=25ms"]);
        // One 5 × 1 MiB window per 50 ms round trip: 100 MiB/s a shard.
        let at_once = |s: &RecoverySettings, n| Spread::of(s, n, 1, false);
        let one = shards_model_mib_s(&s, &l, &wan, &at_once(&s, 1)).expect("bounded");
        assert!((one - 100.0).abs() < 1e-9, "{one}");
        let three = shards_model_mib_s(&s, &l, &wan, &at_once(&s, 3)).expect("bounded");
        assert!((three - 300.0).abs() < 1e-9, "three windows: {three}");
        // Ten shards, but only node_initial_primaries_recoveries (4) at once.
        assert_eq!(concurrent_shards(&s, 10), 4);
        // The follower node's one limiter bounds them all.
        s.max_bytes_per_sec = ByteSize::mib(40);
        let limited = shards_model_mib_s(&s, &l, &wan, &at_once(&s, 3)).expect("bounded");
        assert!((limited - 40.0).abs() < 1e-9, "{limited}");
        assert_eq!(shards_model_mib_s(&s, &l, &[], &at_once(&s, 3)), Some(40.0));
    }

    #[test]
    fn leader_nodes_in_play_sum_their_limits_and_gateway_paths_their_bandwidth() {
        let (s, mut l) = unlimited();
        l.max_bytes_per_sec = ByteSize::mib(10);
        let near = |m: Option<f64>, want: f64| m.is_some_and(|m| (m - want).abs() < 1e-9);
        // Three shards on three nodes, through a proxy per gateway (node_connections 3):
        // three limiters.
        let sniff = Spread::of(&s, 3, 3, true);
        assert_eq!(sniff.placement, [(0, 0), (1, 1), (2, 2)]);
        assert!(near(shards_model_mib_s(&s, &l, &[], &sniff), 30.0));
        // One node: one limiter for all three shards.
        let one_node = Spread::of(&s, 3, 1, true);
        assert!(near(shards_model_mib_s(&s, &l, &[], &one_node), 10.0));
        // Four shards on three nodes: node 0 carries two, so it sets the pace (4 shards in the
        // time node 0 takes for 2: 20 MiB/s, not 30).
        let uneven = Spread::of(&s, 4, 3, false);
        assert!(near(shards_model_mib_s(&s, &l, &[], &uneven), 20.0));
        // Two gateways to three nodes: node 2's shard goes through gateway 0.
        let mut two = s.clone();
        two.node_connections = 2;
        assert_eq!(
            Spread::of(&two, 3, 3, true).placement,
            [(0, 0), (1, 1), (2, 0)]
        );
        // A 16mb bandwidth fault on each path: over one path (proxy mode) it bounds all three
        // once; over three gateways' paths, three times; over two, gateway 0 carries two.
        let narrow = faults(&["bandwidth:rate=16mb"]);
        l.max_bytes_per_sec = ByteSize(0);
        let one_path = Spread::of(&s, 3, 3, false);
        assert!(near(shards_model_mib_s(&s, &l, &narrow, &one_path), 16.0));
        assert!(near(shards_model_mib_s(&s, &l, &narrow, &sniff), 48.0));
        let two_paths = Spread::of(&two, 3, 3, true);
        assert!(near(
            shards_model_mib_s(&two, &l, &narrow, &two_paths),
            24.0
        ));
    }

    #[test]
    fn fan_out_multiplies_what_each_node_limits_and_caps_by_what_they_share() {
        let (mut s, mut l) = unlimited();
        assert_eq!(
            fanout_model_mib_s(&s, &l, &[], 32),
            None,
            "nothing bounds it"
        );
        s.max_bytes_per_sec = ByteSize::mib(4);
        let m = fanout_model_mib_s(&s, &l, &[], 32).expect("node limits");
        assert!((m - 128.0).abs() < 1e-9, "{m}");
        l.max_bytes_per_sec = ByteSize::mib(100);
        let m = fanout_model_mib_s(&s, &l, &[], 32).expect("the leader's limit");
        assert!((m - 100.0).abs() < 1e-9, "{m}");
        let one = fanout_model_mib_s(&s, &l, &[], 1).expect("one");
        assert!((one - 4.0).abs() < 1e-9, "{one}");
    }

    #[test]
    fn fan_in_multiplies_what_each_leader_limits_and_caps_by_the_follower_node() {
        let (mut s, mut l) = unlimited();
        let near = |m: Option<f64>, want: f64| m.is_some_and(|m| (m - want).abs() < 1e-9);
        assert_eq!(fanin_model_mib_s(&s, &l, &[], 3), None, "nothing bounds it");
        // Each leader's own 10mb: three at once give 30, under a 40mb follower node.
        l.max_bytes_per_sec = ByteSize::mib(10);
        s.max_bytes_per_sec = ByteSize::mib(40);
        let m = fanin_model_mib_s(&s, &l, &[], 3).expect("leader limits");
        assert!((m - 30.0).abs() < 1e-9, "{m}");
        // Four leaders at once: 40, the follower node's limit too.
        assert!(near(fanin_model_mib_s(&s, &l, &[], 4), 40.0));
        // Six leaders, but only node_initial_primaries_recoveries (4) at once: a wave of four
        // and a wave of two that takes as long (each index at its leader's 10mb), so 30, not 40.
        let six = fanin_model_mib_s(&s, &l, &[], 6).expect("bounded");
        assert!((six - 30.0).abs() < 1e-9, "{six}");
        s.node_initial_primaries_recoveries = 2;
        assert!(near(fanin_model_mib_s(&s, &l, &[], 6), 20.0));
        // A 25 ms WAN on every path: each 5 × 1 MiB window per 50 ms is 100 MiB/s, so the
        // leaders' limits still bound it.
        let wan = faults(&["latency:delay=25ms"]);
        assert!(near(fanin_model_mib_s(&s, &l, &wan, 2), 20.0));
        let one = fanin_model_mib_s(&s, &l, &[], 1).expect("one");
        assert!((one - 10.0).abs() < 1e-9, "{one}");
    }

    #[test]
    fn latency_bounds_throughput_by_the_window() {
        let (s, l) = unlimited();
        // 5 x 1 MiB per 50 ms round trip (25 ms each way) = 100 MiB/s.
        let m = model_throughput_mib_s(&s, &l, &faults(&["latency:delay=25ms"])).expect("bounded");
        assert!((m - 100.0).abs() < 1e-9, "{m}");
        let one_way = model_throughput_mib_s(
            &s,
            &l,
            &faults(&["latency:delay=25ms,direction=downstream"]),
        )
        .expect("bounded");
        assert!((one_way - 200.0).abs() < 1e-9, "{one_way}");
    }

    #[test]
    fn the_lowest_rate_limit_wins() {
        let (mut s, mut l) = unlimited();
        assert_eq!(
            model_throughput_mib_s(&s, &l, &[]),
            None,
            "nothing bounds it"
        );
        s.max_bytes_per_sec = ByteSize::mib(40);
        l.max_bytes_per_sec = ByteSize::mib(20);
        assert_eq!(model_throughput_mib_s(&s, &l, &[]), Some(20.0));
        assert_eq!(
            model_throughput_mib_s(&s, &l, &faults(&["latency:delay=500ms"])),
            Some(5.0),
            "5 MiB per second-long round trip"
        );
    }

    #[test]
    fn a_bandwidth_fault_is_a_bottleneck_and_adds_wire_time() {
        let (s, l) = unlimited();
        let m = model_throughput_mib_s(&s, &l, &faults(&["bandwidth:rate=10mb"])).expect("bounded");
        assert!((m - 10.0).abs() < 1e-9, "{m}");
        // 25 ms each way plus 0.1 s per 1 MiB chunk at 10 MiB/s: 5 MiB / 0.15 s > 10 MiB/s.
        let m = model_throughput_mib_s(
            &s,
            &l,
            &faults(&["bandwidth:rate=10mb", "latency:delay=25ms"]),
        )
        .expect("b");
        assert!((m - 10.0).abs() < 1e-9, "{m}");
        let narrow = RecoverySettings {
            max_concurrent_file_chunks: 1,
            ..s
        };
        // 1 MiB per (50 ms + 100 ms) = 6.67 MiB/s.
        let m = model_throughput_mib_s(
            &narrow,
            &l,
            &faults(&["bandwidth:rate=10mb", "latency:delay=25ms"]),
        )
        .expect("b");
        assert!((m - 1.0 / 0.15).abs() < 1e-9, "{m}");
    }

    #[test]
    fn a_reference_adds_the_machine_to_the_round_trips() {
        let (s, l) = unlimited();
        let narrow = RecoverySettings {
            max_concurrent_file_chunks: 1,
            ..s
        };
        let wan = faults(&["latency:delay=10ms"]);
        let stripped = reference_faults(&wan).expect("a latency to strip");
        assert_eq!(added_rtt(&stripped), Duration::ZERO);
        assert!(
            matches!(stripped[0].kind, FaultKind::Latency(_)),
            "kept, at zero"
        );
        assert_eq!(reference_faults(&faults(&["bandwidth:rate=10mb"])), None);
        let index = IndexShape {
            bytes: 48 << 20,
            chunks: 48,
            spread: Spread::one(),
        };
        // 48 round trips of 20 ms, 2 to set up, and a 0.27 s reference: 1.27 s for 48 MiB.
        let m = model(&narrow, &l, &wan, index.clone(), Some(0.27)).expect("bounded");
        let terms = m.terms.expect("terms");
        assert!((terms.round_trips_s - 0.96).abs() < 1e-9, "{terms:?}");
        assert!((terms.setup_s - 0.04).abs() < 1e-9, "{terms:?}");
        assert!((m.throughput_mib_s - 48.0 / 1.27).abs() < 1e-9, "{m:?}");
        assert_eq!(terms.largest(), "round trips");
        // Without a reference, the bound alone.
        let bound = model(&narrow, &l, &wan, index.clone(), None).expect("bounded");
        assert_eq!((bound.throughput_mib_s, bound.terms), (50.0, None));
        // The bound still caps it: a 1 MiB/s limit is not beaten by a fast reference.
        let limited = RecoverySettings {
            max_bytes_per_sec: ByteSize::mib(1),
            ..narrow
        };
        let m = model(&limited, &l, &wan, index, Some(0.27)).expect("bounded");
        assert_eq!(m.throughput_mib_s, 1.0);
    }

    #[test]
    fn scheduled_faults_do_not_shape_the_steady_state() {
        let (s, l) = unlimited();
        assert_eq!(
            model_throughput_mib_s(&s, &l, &faults(&["latency:delay=25ms,start=5s"])),
            None
        );
    }
}
