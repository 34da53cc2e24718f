//! The throughput a trial should reach, from its settings and faults alone (design §10):
//!
//! `min(max_bytes_per_sec, bottleneck, window × chunk / (RTT + chunk / bottleneck))`
//!
//! The window of `max_concurrent_file_chunks` requests of `chunk_size` bytes is in flight per
//! round trip; each chunk also spends `chunk / bottleneck` on the wire. Rate limits apply on
//! both nodes, so the lower one counts. Pure: no I/O.

use std::time::Duration;

use crate::{
    chaos::{Direction, Fault, FaultKind},
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

/// Model throughput in MiB/s, or `None` when nothing bounds it (no limit, no latency, no
/// bandwidth fault: then the machine is the limit and the model says nothing).
pub fn model_throughput_mib_s(
    settings: &RecoverySettings,
    leader: &LeaderSettings,
    faults: &[Fault],
) -> Option<f64> {
    const MIB: f64 = 1048576.0;
    let rate = [
        settings.max_bytes_per_sec.bytes(),
        leader.max_bytes_per_sec.bytes(),
    ]
    .into_iter()
    .filter(|r| *r > 0)
    .min()
    .map(|r| r as f64);
    let bottleneck = bottleneck(faults);
    let chunk = settings.chunk_size.bytes() as f64;
    let window = f64::from(settings.max_concurrent_file_chunks) * chunk;
    let round_trip = added_rtt(faults).as_secs_f64() + bottleneck.map_or(0.0, |b| chunk / b);
    let window_bound = (round_trip > 0.0).then(|| window / round_trip);
    [rate, bottleneck, window_bound]
        .into_iter()
        .flatten()
        .reduce(f64::min)
        .map(|bytes_per_sec| bytes_per_sec / MIB)
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
    fn scheduled_faults_do_not_shape_the_steady_state() {
        let (s, l) = unlimited();
        assert_eq!(
            model_throughput_mib_s(&s, &l, &faults(&["latency:delay=25ms,start=5s"])),
            None
        );
    }
}
