//! What kind of middlebox the idle results point to. Pure.
//!
//! Middleboxes forget idle connections in two ways (design.md): a *data-idle* one (stunnel's
//! `TIMEOUTidle`, an L7 proxy) counts only bytes of data, so keepalive probes do not reset its
//! clock and only application pings keep a connection; a *packet-idle* one (conntrack, a NAT or
//! cloud firewall) counts packets, so keepalive is enough.

use std::time::Duration;

use serde::Serialize;

use super::{
    grid::{IdleKind, KindSummary},
    secs,
};

/// The path's idle behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathClass {
    /// Data-idle: silent and keepalive connections die at about the same idle, pinged ones
    /// survive.
    StunnelLike,
    /// Packet-idle: silent connections die, keepalive and pinged ones survive.
    ConntrackLike,
    /// Every kind survived every idle tested.
    NoIdleTimeout,
    /// Anything else (undecided, pinged connections dying, keepalive dying much later).
    Inconclusive,
}

impl PathClass {
    /// How it reads in the text report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::StunnelLike => "stunnel-like (data-idle timeout: only data keeps a connection)",
            Self::ConntrackLike => {
                "conntrack-like (packet-idle timeout: keepalive probes keep a connection)"
            }
            Self::NoIdleTimeout => "no idle timeout up to the longest idle tested",
            Self::Inconclusive => "inconclusive",
        }
    }
}

/// The classification and the timeouts it found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Classification {
    /// The class.
    pub class: PathClass,
    /// The timeout that only data resets (keepalive does not help).
    #[serde(rename = "data_idle_timeout_s", serialize_with = "secs::option")]
    pub data_idle: Option<Duration>,
    /// The timeout that any packet resets (keepalive helps).
    #[serde(rename = "packet_idle_timeout_s", serialize_with = "secs::option")]
    pub packet_idle: Option<Duration>,
    /// Why, in a sentence.
    pub reason: String,
}

/// Classifies the kinds' results; `resolution` is the grid's step (two deaths within a couple
/// of steps are "about the same idle").
pub fn classify(kinds: &[KindSummary], resolution: f64, max_idle: Duration) -> Classification {
    let find = |k: IdleKind| kinds.iter().find(|s| s.kind == k);
    let inconclusive = |reason: String| Classification {
        class: PathClass::Inconclusive,
        data_idle: None,
        packet_idle: None,
        reason,
    };
    let (Some(s), Some(k), Some(p)) = (
        find(IdleKind::Silent),
        find(IdleKind::Keepalive),
        find(IdleKind::Pings),
    ) else {
        return inconclusive("the idle measurement did not run".into());
    };
    if let Some(open) = [s, k, p].iter().find(|x| !x.decided) {
        return inconclusive(format!(
            "{} connections undecided ({} of {} known): the probe stopped early",
            open.kind.name(),
            open.resolved,
            open.tested
        ));
    }
    let secs = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64());
    let same = |a: Option<Duration>, b: Option<Duration>| {
        let (a, b) = (secs(a), secs(b));
        a > 0.0 && b > 0.0 && a.max(b) / a.min(b) <= (1.0 + resolution).powi(2) * 1.05
    };
    match (s.dies, k.dies, p.dies) {
        (false, false, false) => Classification {
            class: PathClass::NoIdleTimeout,
            data_idle: None,
            packet_idle: None,
            reason: format!("every kind survived {:.1} s idle", max_idle.as_secs_f64()),
        },
        (true, true, false) if same(s.timeout, k.timeout) => Classification {
            class: PathClass::StunnelLike,
            data_idle: s.timeout.min(k.timeout),
            packet_idle: None,
            reason: format!(
                "silent and keepalive connections die after about {:.1} s idle; pinged ones \
                 survive: keepalive probes do not count, data does",
                secs(s.timeout.min(k.timeout))
            ),
        },
        (true, true, false) => Classification {
            class: PathClass::Inconclusive,
            data_idle: k.timeout,
            packet_idle: s.timeout,
            reason: format!(
                "silent connections die after {:.1} s but keepalive ones only after {:.1} s: \
                 perhaps two middleboxes (packet-idle, then data-idle)",
                secs(s.timeout),
                secs(k.timeout)
            ),
        },
        (true, false, false) => Classification {
            class: PathClass::ConntrackLike,
            data_idle: None,
            packet_idle: s.timeout,
            reason: format!(
                "silent connections die after about {:.1} s idle; keepalive and pinged ones \
                 survive: any packet resets the clock",
                secs(s.timeout)
            ),
        },
        (_, _, true) => inconclusive(format!(
            "even pinged connections die after {:.1} s: a limit on connection lifetime, or \
             pings that do not reach the middlebox",
            secs(p.timeout)
        )),
        (false, true, false) => inconclusive(
            "keepalive connections die but silent ones survive: keepalive probes are refused \
             on this path"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(kind: IdleKind, timeout: Option<f64>) -> KindSummary {
        let d = timeout.map(Duration::from_secs_f64);
        KindSummary {
            kind,
            tested: 10,
            resolved: 10,
            longest_survived: None,
            shortest_died: d,
            first_death: None,
            timeout: d,
            deaths: Vec::new(),
            decided: true,
            dies: d.is_some(),
            inconsistent: false,
            not_opened: 0,
        }
    }

    fn run(s: Option<f64>, k: Option<f64>, p: Option<f64>) -> Classification {
        let kinds = [
            kind(IdleKind::Silent, s),
            kind(IdleKind::Keepalive, k),
            kind(IdleKind::Pings, p),
        ];
        classify(&kinds, 0.1, Duration::from_secs(60))
    }

    #[test]
    fn data_idle_packet_idle_and_none_are_told_apart() {
        let stunnel = run(Some(3.0), Some(3.1), None);
        assert_eq!(stunnel.class, PathClass::StunnelLike);
        assert_eq!(stunnel.data_idle, Some(Duration::from_secs(3)));
        let conntrack = run(Some(30.0), None, None);
        assert_eq!(conntrack.class, PathClass::ConntrackLike);
        assert_eq!(conntrack.packet_idle, Some(Duration::from_secs(30)));
        assert_eq!(run(None, None, None).class, PathClass::NoIdleTimeout);
    }

    #[test]
    fn odd_or_undecided_results_are_inconclusive_and_say_why() {
        let two = run(Some(3.0), Some(30.0), None);
        assert_eq!(two.class, PathClass::Inconclusive);
        assert_eq!(two.packet_idle, Some(Duration::from_secs(3)));
        assert!(
            run(Some(3.0), Some(3.0), Some(3.0))
                .reason
                .contains("pinged")
        );
        let mut kinds = vec![kind(IdleKind::Silent, None)];
        kinds[0].decided = false;
        kinds.push(kind(IdleKind::Keepalive, None));
        kinds.push(kind(IdleKind::Pings, None));
        let c = classify(&kinds, 0.1, Duration::from_secs(60));
        assert_eq!(c.class, PathClass::Inconclusive);
        assert!(
            c.reason.contains("silent connections undecided"),
            "{}",
            c.reason
        );
    }
}
