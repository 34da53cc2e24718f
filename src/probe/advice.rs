//! Elasticsearch settings from what the probe measured, each with its reason. Pure.

use std::time::Duration;

use serde::Serialize;

use super::classify::{Classification, PathClass};
use crate::units::ByteSize;

/// Elasticsearch's default `ccr.indices.recovery.max_concurrent_file_chunks`.
const DEFAULT_WINDOW: u32 = 5;
/// Its upper bound.
const MAX_WINDOW: u32 = 10;
/// `network.tcp.keep_idle` and `keep_interval` go up to 300 s (Elasticsearch's own default).
const MAX_KEEP: Duration = Duration::from_secs(300);

/// What the advice is computed from.
#[derive(Clone, Debug)]
pub struct AdviceInputs {
    /// Median RTT.
    pub rtt: Option<Duration>,
    /// Best measured throughput, MiB/s.
    pub measured_mib_s: Option<f64>,
    /// The idle classification.
    pub path: Classification,
    /// The rate the recovery should reach (`ccr.indices.recovery.max_bytes_per_sec`; 0: the
    /// measured throughput).
    pub max_bytes_per_sec: ByteSize,
    /// `ccr.indices.recovery.chunk_size` to start from.
    pub chunk_size: ByteSize,
    /// The remote cluster's alias in `cluster.remote.<alias>.*`.
    pub alias: String,
    /// Longest idle tested.
    pub max_idle: Duration,
}

/// One setting to apply.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setting {
    /// Its Elasticsearch name.
    pub name: String,
    /// Its value as written in `elasticsearch.yml` and in the settings API.
    pub value: String,
    /// Whether `PUT _cluster/settings` can set it (else `elasticsearch.yml` and a restart).
    pub dynamic: bool,
    /// Why.
    pub reason: String,
}

/// The advice: settings, remarks, and what the window model predicts with them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Advice {
    /// Settings to apply.
    pub settings: Vec<Setting>,
    /// Remarks that are not settings.
    pub notes: Vec<String>,
    /// Throughput the window model predicts with the advised window, chunk and rate, MiB/s.
    pub predicted_mib_s: Option<f64>,
}

/// Half of `timeout` rounded down to a whole second; under 2 s, half rounded down to 100 ms (at
/// least 100 ms): comfortably below it, so one late ping or probe is not fatal.
pub fn half_below(timeout: Duration) -> Duration {
    let half = timeout / 2;
    if half >= Duration::from_secs(1) {
        Duration::from_secs(half.as_secs())
    } else {
        Duration::from_millis((half.as_millis() as u64 / 100 * 100).max(100))
    }
}

/// The window model: a window of `window` chunks of `chunk` bytes per round trip, capped at
/// `rate` bytes/s (0: no cap). MiB/s.
pub fn window_model_mib_s(rate: u64, window: u32, chunk: u64, rtt: Duration) -> f64 {
    let per_rtt = f64::from(window) * chunk as f64 / rtt.as_secs_f64().max(1e-6);
    let capped = if rate == 0 {
        per_rtt
    } else {
        per_rtt.min(rate as f64)
    };
    capped / (1 << 20) as f64
}

/// The window and chunk size that keep `rate × rtt` bytes in flight: at least Elasticsearch's
/// default window (fewer gains nothing), at most 10, then larger chunks (whole MiB).
pub fn fill_window(rate: f64, rtt: Duration, chunk: u64) -> (u32, u64) {
    let bdp = rate * rtt.as_secs_f64();
    let needed = (bdp / chunk.max(1) as f64).ceil().max(1.0);
    if needed <= f64::from(MAX_WINDOW) {
        return ((needed as u32).max(DEFAULT_WINDOW), chunk);
    }
    let mib = (1u64 << 20) as f64;
    let chunk = ((bdp / f64::from(MAX_WINDOW) / mib).ceil() as u64).max(1) << 20;
    (MAX_WINDOW, chunk)
}

fn text(d: Duration) -> String {
    crate::units::format_duration(d)
}

/// The advice for these inputs.
pub fn advise(i: &AdviceInputs) -> Advice {
    let mut a = Advice::default();
    let max_idle = text(i.max_idle);
    match (i.path.class, i.path.data_idle) {
        (_, Some(t)) => {
            let ping = text(half_below(t));
            let reason = format!(
                "connections that carry no data for {:.1} s are cut (keepalive probes do not \
                 count); a ping every {ping}, under half of that, keeps every channel moving",
                t.as_secs_f64()
            );
            a.settings.push(Setting {
                name: "transport.ping_schedule".into(),
                value: ping.clone(),
                dynamic: false,
                reason: reason.clone(),
            });
            a.settings.push(Setting {
                name: format!("cluster.remote.{}.transport.ping_schedule", i.alias),
                value: ping,
                dynamic: true,
                reason: "the same for the remote cluster's connections (CCR), settable live".into(),
            });
        }
        (PathClass::NoIdleTimeout, None) => a.notes.push(format!(
            "no idle timeout up to {max_idle}: transport.ping_schedule and network.tcp.keep_* \
             need no change for idleness (probe with a longer --max-idle to look further)"
        )),
        _ => {}
    }
    if let Some(t) = i.path.packet_idle {
        let keep = half_below(t).max(Duration::from_secs(1));
        if half_below(t) < Duration::from_secs(1) && i.path.data_idle.is_none() {
            // The kernel takes keepalive times in whole seconds: under 2 s, a probe a second
            // is not comfortably below the timeout, but a ping (any data) is.
            let ping = text(half_below(t));
            a.settings.push(Setting {
                name: format!("cluster.remote.{}.transport.ping_schedule", i.alias),
                value: ping.clone(),
                dynamic: true,
                reason: format!(
                    "silent connections die after {:.1} s: keepalive (whole seconds, at least \
                     1s) cannot probe under half of that, a ping every {ping} can",
                    t.as_secs_f64()
                ),
            });
        } else if keep >= MAX_KEEP {
            a.notes.push(format!(
                "silent connections die after {:.0} s: Elasticsearch's keepalive (300 s) \
                 already probes sooner",
                t.as_secs_f64()
            ));
        } else {
            let value = format!("{}s", keep.as_secs());
            let reason = format!(
                "silent connections die after {:.1} s but keepalive ones survive: probes every \
                 {value} (under half of it) keep the middlebox's state",
                t.as_secs_f64()
            );
            for name in ["network.tcp.keep_idle", "network.tcp.keep_interval"] {
                a.settings.push(Setting {
                    name: name.into(),
                    value: value.clone(),
                    dynamic: false,
                    reason: reason.clone(),
                });
            }
        }
    }
    if i.path.class == PathClass::StunnelLike {
        a.notes.push(
            "network.tcp.keep_*: keepalive probes carry no data, so they do not stop these \
             resets; leave them as they are (they still find dead peers)"
                .into(),
        );
    }
    window_advice(i, &mut a);
    a
}

fn window_advice(i: &AdviceInputs, a: &mut Advice) {
    let Some(rtt) = i.rtt else { return };
    let rate = match (i.max_bytes_per_sec.bytes(), i.measured_mib_s) {
        (0, Some(m)) => m * (1 << 20) as f64,
        (0, None) => return,
        (r, _) => r as f64,
    };
    let (window, chunk) = fill_window(rate, rtt, i.chunk_size.bytes());
    let bdp = rate * rtt.as_secs_f64();
    let rate_mib = rate / (1 << 20) as f64;
    let chunk_text = ByteSize(chunk).to_string();
    a.settings.push(Setting {
        name: "ccr.indices.recovery.max_concurrent_file_chunks".into(),
        value: window.to_string(),
        dynamic: true,
        reason: format!(
            "{rate_mib:.1} MiB/s x {:.1} ms RTT = {:.2} MiB in flight (the bandwidth-delay \
             product): {window} chunks of {chunk_text} hold it",
            rtt.as_secs_f64() * 1e3,
            bdp / (1 << 20) as f64
        ),
    });
    if chunk != i.chunk_size.bytes() {
        a.settings.push(Setting {
            name: "ccr.indices.recovery.chunk_size".into(),
            value: chunk_text.clone(),
            dynamic: true,
            reason: format!("10 chunks (the most in flight) of {chunk_text} fill the product"),
        });
    }
    if i.max_bytes_per_sec.bytes() > 0 {
        a.settings.push(Setting {
            name: "ccr.indices.recovery.max_bytes_per_sec".into(),
            value: i.max_bytes_per_sec.to_string(),
            dynamic: true,
            reason: "the rate the window above is sized for (--max-bytes-per-sec)".into(),
        });
    }
    let predicted = window_model_mib_s(rate as u64, window, chunk, rtt);
    a.predicted_mib_s = Some(predicted);
    if let Some(m) = i.measured_mib_s
        && m < rate_mib * 0.9
    {
        a.notes.push(format!(
            "the path measured {m:.1} MiB/s, below the {rate_mib:.1} MiB/s aimed at: the \
             leader's own max_bytes_per_sec or the path's bandwidth caps a recovery first"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(class: PathClass, data: Option<u64>, packet: Option<u64>) -> Classification {
        Classification {
            class,
            data_idle: data.map(Duration::from_secs),
            packet_idle: packet.map(Duration::from_secs),
            reason: String::new(),
        }
    }

    fn inputs(path: Classification) -> AdviceInputs {
        AdviceInputs {
            rtt: Some(Duration::from_millis(40)),
            measured_mib_s: Some(100.0),
            path,
            max_bytes_per_sec: ByteSize::mib(40),
            chunk_size: ByteSize::mib(1),
            alias: "leader".into(),
            max_idle: Duration::from_secs(900),
        }
    }

    fn value<'a>(a: &'a Advice, name: &str) -> Option<&'a str> {
        a.settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.value.as_str())
    }

    #[test]
    fn half_below_rounds_down_to_seconds_then_tenths() {
        assert_eq!(half_below(Duration::from_secs(3)), Duration::from_secs(1));
        assert_eq!(
            half_below(Duration::from_secs(43_200)),
            Duration::from_secs(21_600)
        );
        assert_eq!(
            half_below(Duration::from_millis(1500)),
            Duration::from_millis(700)
        );
        assert_eq!(
            half_below(Duration::from_millis(50)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn a_packet_idle_under_two_seconds_gets_a_ping_not_a_keepalive() {
        let mut short = path(PathClass::ConntrackLike, None, Some(3));
        short.packet_idle = Some(Duration::from_millis(1500));
        let a = advise(&inputs(short));
        assert_eq!(value(&a, "network.tcp.keep_idle"), None);
        assert_eq!(
            value(&a, "cluster.remote.leader.transport.ping_schedule"),
            Some("700ms")
        );
    }

    #[test]
    fn a_data_idle_path_gets_pings_and_no_keepalive_change() {
        let a = advise(&inputs(path(PathClass::StunnelLike, Some(3), None)));
        assert_eq!(value(&a, "transport.ping_schedule"), Some("1s"));
        assert_eq!(
            value(&a, "cluster.remote.leader.transport.ping_schedule"),
            Some("1s")
        );
        assert_eq!(value(&a, "network.tcp.keep_idle"), None);
        assert!(a.notes.iter().any(|n| n.contains("carry no data")));
    }

    #[test]
    fn a_packet_idle_path_gets_keepalive_below_it() {
        let a = advise(&inputs(path(PathClass::ConntrackLike, None, Some(60))));
        assert_eq!(value(&a, "network.tcp.keep_idle"), Some("30s"));
        assert_eq!(value(&a, "network.tcp.keep_interval"), Some("30s"));
        assert_eq!(value(&a, "transport.ping_schedule"), None);
        let long = advise(&inputs(path(PathClass::ConntrackLike, None, Some(3600))));
        assert_eq!(value(&long, "network.tcp.keep_idle"), None);
    }

    #[test]
    fn the_window_fills_the_bandwidth_delay_product() {
        // 40 MiB/s x 40 ms = 1.6 MiB: the default 5 x 1 MiB holds it.
        let a = advise(&inputs(path(PathClass::NoIdleTimeout, None, None)));
        assert_eq!(
            value(&a, "ccr.indices.recovery.max_concurrent_file_chunks"),
            Some("5")
        );
        assert_eq!(value(&a, "ccr.indices.recovery.chunk_size"), None);
        let p = a.predicted_mib_s.expect("model");
        assert!((p - 40.0).abs() < 1e-9, "{p}");
        // 1 GiB/s x 100 ms = 102.4 MiB: 10 chunks of 11 MiB.
        assert_eq!(
            fill_window(1024.0 * 1048576.0, Duration::from_millis(100), 1 << 20),
            (10, 11 << 20)
        );
        assert_eq!(
            fill_window(80.0 * 1048576.0, Duration::from_millis(100), 1 << 20).0,
            8
        );
        let m = window_model_mib_s(0, 5, 1 << 20, Duration::from_millis(50));
        assert!((m - 100.0).abs() < 1e-9);
    }
}
