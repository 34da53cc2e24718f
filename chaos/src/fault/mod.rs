//! Faults as data and behaviour: what to do, in which direction, to which connections, when.
//!
//! A [`Fault`] is a kind ([`FaultKind`], one file each below) plus what every fault has: a
//! `direction`, a `toxicity` (the probability that a given connection is affected, drawn from the
//! seeded RNG) and a [`Schedule`]. Faults are read from a command-line spec
//! (`latency:delay=50ms,jitter=5ms`) or from a campaign's TOML table, through one field table, so
//! both give the same errors, naming the fault and the field.
//!
//! Each kind's file holds its parameters *and* its behaviour: an implementation of
//! [`Behaviour`], pure functions from a chunk of stream bytes, a datagram or a connection event
//! to a [`Verdict`] ([`verdict`]). Every injector (the TCP proxy, the UDP proxy, the L3 pump and
//! the simulator) asks those same functions; none of them knows what a fault does. This module
//! does not know which faults are on: that is the injectors' fault table and schedule.

pub mod bandwidth;
pub mod blackhole;
pub mod conntrack;
pub mod corrupt;
pub mod down;
pub mod duplicate;
pub mod idle_timeout;
pub mod latency;
pub mod limit_data;
pub mod loss;
pub mod packet;
pub mod reorder;
pub mod reset;
pub mod slicer;
pub mod slow_close;
pub mod stall;
pub mod timeout;
pub mod verdict;

use std::{collections::BTreeMap, fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::verdict::{Behaviour, ConnEvent, Context, Moved, Pieces, State, Verdict};
use crate::{
    schedule::Schedule,
    units::{ByteSize, parse_duration},
};

/// Which bytes a fault touches. Upstream is client → server (follower → leader).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Client to server.
    Upstream,
    /// Server to client.
    Downstream,
    /// Both.
    #[default]
    Both,
}

impl Direction {
    /// Whether a fault with this direction applies to bytes flowing `flow`.
    pub fn covers(self, flow: Direction) -> bool {
        self == Direction::Both || self == flow
    }
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultKind {
    /// Delay each chunk.
    Latency(latency::Latency),
    /// Limit bytes per second.
    Bandwidth(bandwidth::Bandwidth),
    /// Reset connections (RST on both sides).
    Reset(reset::Reset),
    /// Reset connections that carried no data for a while.
    IdleTimeout(idle_timeout::IdleTimeout),
    /// Swallow data, keep sockets open.
    Blackhole,
    /// Stop reading (backpressure).
    Stall,
    /// Change bytes.
    Corrupt(corrupt::Corrupt),
    /// Delay closes.
    SlowClose(slow_close::SlowClose),
    /// Close after a number of bytes.
    LimitData(limit_data::LimitData),
    /// Refuse and close everything.
    Down,
    /// Drop datagrams (UDP only).
    Loss(loss::Loss),
    /// Send datagrams twice (UDP only).
    Duplicate(duplicate::Duplicate),
    /// Hold datagrams back so later ones overtake them (UDP only).
    Reorder(reorder::Reorder),
    /// Forget TCP flows that carried no packet for a while (L3 link only).
    Conntrack(conntrack::Conntrack),
    /// Cut chunks into small writes, spaced apart.
    Slicer(slicer::Slicer),
    /// Swallow data and close connections a while after the fault reached them.
    Timeout(timeout::Timeout),
}

/// Every fault type name, as written in specs and campaigns.
pub const FAULT_TYPES: &[&str] = &[
    "latency",
    "bandwidth",
    "reset",
    "idle_timeout",
    "blackhole",
    "stall",
    "corrupt",
    "slow_close",
    "limit_data",
    "down",
    "loss",
    "duplicate",
    "reorder",
    "conntrack",
    "slicer",
    "timeout",
];

/// Fault types that act on a TCP byte stream only.
pub const STREAM_ONLY: &[&str] = &[
    "idle_timeout",
    "stall",
    "slow_close",
    "limit_data",
    "down",
    "slicer",
    "timeout",
];

/// Fault types that act on datagrams only.
pub const DATAGRAM_ONLY: &[&str] = &["loss", "duplicate", "reorder"];

/// Fault types that act on TCP connections, as a byte stream (the TCP proxy) or as packets (the
/// L3 link, which forges RSTs): not on UDP.
pub const TCP_ONLY: &[&str] = &["reset"];

/// Fault types that act on the L3 link's packets only (they follow TCP flows packet by packet).
pub const PACKETS_ONLY: &[&str] = &["conntrack"];

const COMMON_FIELDS: &[&str] = &[
    "name",
    "direction",
    "toxicity",
    "start",
    "at",
    "duration",
    "every",
];

impl FaultKind {
    /// The type name (`latency`, `idle_timeout`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Latency(_) => "latency",
            Self::Bandwidth(_) => "bandwidth",
            Self::Reset(_) => "reset",
            Self::IdleTimeout(_) => "idle_timeout",
            Self::Blackhole => "blackhole",
            Self::Stall => "stall",
            Self::Corrupt(_) => "corrupt",
            Self::SlowClose(_) => "slow_close",
            Self::LimitData(_) => "limit_data",
            Self::Down => "down",
            Self::Loss(_) => "loss",
            Self::Duplicate(_) => "duplicate",
            Self::Reorder(_) => "reorder",
            Self::Conntrack(_) => "conntrack",
            Self::Slicer(_) => "slicer",
            Self::Timeout(_) => "timeout",
        }
    }

    fn own_fields(type_name: &str) -> &'static [&'static str] {
        match type_name {
            "latency" => &["delay", "jitter"],
            "bandwidth" => &["rate"],
            "reset" => &["after_bytes", "wait"],
            "idle_timeout" => &["idle"],
            "corrupt" => &["probability"],
            "slow_close" => &["delay"],
            "limit_data" => &["bytes", "count_from"],
            "loss" => &["probability", "p", "r", "bad_loss", "good_loss"],
            "duplicate" => &["probability"],
            "reorder" => &["probability", "gap"],
            "conntrack" => &["idle", "action", "strict", "max_flows"],
            "slicer" => &["average_size", "size_variation", "delay"],
            "timeout" => &["after"],
            _ => &[],
        }
    }
}

/// One fault with its targeting and schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fault {
    /// Unique name within a proxy (events and campaign matrices refer to it).
    pub name: String,
    /// What it does.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Which bytes it touches.
    pub direction: Direction,
    /// Probability that a connection is affected, drawn once per connection.
    pub toxicity: f64,
    /// When it is on.
    #[serde(flatten)]
    pub schedule: Schedule,
}

/// A fault that cannot be built from what was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// Not a known fault type.
    #[error("unknown fault type `{0}` (known: {known})", known = FAULT_TYPES.join(", "))]
    UnknownType(String),
    /// A field the fault does not have.
    #[error("fault `{fault}`: unknown field `{field}` (fields: {allowed})")]
    UnknownField {
        /// Fault type or name.
        fault: String,
        /// The field.
        field: String,
        /// The fields it does have.
        allowed: String,
    },
    /// A field's value is wrong.
    #[error("fault `{fault}`: field `{field}`: {problem}")]
    BadValue {
        /// Fault type or name.
        fault: String,
        /// The field.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A required field is absent.
    #[error("fault `{fault}`: missing field `{field}`")]
    Missing {
        /// Fault type or name.
        fault: String,
        /// The field.
        field: String,
    },
    /// A spec that is not `TYPE` or `TYPE:key=value,...`.
    #[error(
        "fault spec `{0}` is not TYPE or TYPE:key=value,... (e.g. latency:delay=50ms,jitter=5ms)"
    )]
    BadSpec(String),
    /// Two faults share a name.
    #[error("two faults are named `{0}`: give one a name=... of its own")]
    DuplicateName(String),
    /// A stream fault given to the UDP proxy, or a datagram fault to the TCP proxy.
    #[error("fault `{fault}` ({type_name}) acts on {acts_on}; {hint}")]
    WrongMedium {
        /// Fault name.
        fault: String,
        /// Its type.
        type_name: &'static str,
        /// `TCP byte streams` or `datagrams`.
        acts_on: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
}

/// What an injector's faults act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Medium {
    /// The bytes of a TCP connection (the L4 TCP proxy).
    Stream,
    /// UDP datagrams (the L4 UDP proxy).
    Datagrams,
    /// IP packets between network namespaces (the L3 link).
    Packets,
}

impl Medium {
    /// Where the faults this medium cannot carry do act.
    fn hint(self) -> &'static str {
        match self {
            Medium::Stream => {
                "use it on the L3 link (`rrbench link`, `[chaos] layer = \"l3\"` in a campaign), \
                 which drops real packets, or with the UDP proxy (`rrbench proxy --udp`) for QUIC"
            }
            Medium::Datagrams => {
                "the UDP proxy takes delay, rate, loss, duplicate, reorder, corrupt and blackhole"
            }
            Medium::Packets => {
                "the L3 link takes delay, rate, loss, duplicate, reorder, corrupt, blackhole, \
                 reset and conntrack; the other connection faults need the L4 TCP proxy \
                 (`[chaos] layer = \"l4\"`)"
            }
        }
    }
}

/// Why `conntrack` is refused off the L3 link.
const CONNTRACK_HINT: &str = "it forgets flows by their packets, so it needs the L3 link \
     (`rrbench link`, `[chaos] layer = \"l3\"`); through a TCP proxy the proxy's own kernel \
     answers keepalives, so use `idle_timeout` there for a middlebox that counts only data";

/// Refuses faults that cannot act on this injector's medium.
pub fn check_medium(faults: &[Fault], medium: Medium) -> Result<(), FaultError> {
    for f in faults {
        let t = f.kind.type_name();
        if medium != Medium::Packets && PACKETS_ONLY.contains(&t) {
            return Err(FaultError::WrongMedium {
                fault: f.name.clone(),
                type_name: t,
                acts_on: "TCP flows, packet by packet",
                hint: CONNTRACK_HINT,
            });
        }
        if medium == Medium::Datagrams && TCP_ONLY.contains(&t) {
            return Err(FaultError::WrongMedium {
                fault: f.name.clone(),
                type_name: t,
                acts_on: "TCP connections",
                hint: medium.hint(),
            });
        }
        if medium != Medium::Stream && STREAM_ONLY.contains(&t) {
            return Err(FaultError::WrongMedium {
                fault: f.name.clone(),
                type_name: t,
                acts_on: "TCP byte streams",
                hint: medium.hint(),
            });
        }
        if medium == Medium::Stream && DATAGRAM_ONLY.contains(&t) && !f.is_noop() {
            return Err(FaultError::WrongMedium {
                fault: f.name.clone(),
                type_name: t,
                acts_on: "packets",
                hint: medium.hint(),
            });
        }
    }
    Ok(())
}

/// Reads the fields of one fault, remembering which were used.
struct Fields<'a> {
    fault: &'a str,
    map: BTreeMap<String, Value>,
}

impl Fields<'_> {
    fn bad(&self, field: &str, problem: impl fmt::Display) -> FaultError {
        FaultError::BadValue {
            fault: self.fault.to_string(),
            field: field.to_string(),
            problem: problem.to_string(),
        }
    }

    fn text(&self, field: &str) -> Result<Option<String>, FaultError> {
        match self.map.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(self.bad(field, format!("expected text, got {other}"))),
        }
    }

    fn duration(&self, field: &str) -> Result<Option<Duration>, FaultError> {
        self.text(field)?
            .map(|t| parse_duration(&t).map_err(|e| self.bad(field, e)))
            .transpose()
    }

    fn size(&self, field: &str) -> Result<Option<ByteSize>, FaultError> {
        match self.map.get(field) {
            Some(Value::Number(n)) => n
                .as_u64()
                .map(|b| Some(ByteSize(b)))
                .ok_or_else(|| self.bad(field, "expected a size such as 1mb")),
            _ => self
                .text(field)?
                .map(|t| t.parse::<ByteSize>().map_err(|e| self.bad(field, e)))
                .transpose(),
        }
    }

    fn probability(&self, field: &str) -> Result<Option<f64>, FaultError> {
        let Some(text) = self.text(field)? else {
            return Ok(None);
        };
        let p = text
            .trim_end_matches('%')
            .parse::<f64>()
            .map_err(|_| self.bad(field, format!("`{text}` is not a number between 0 and 1")))?;
        let p = if text.ends_with('%') { p / 100.0 } else { p };
        if !(0.0..=1.0).contains(&p) {
            return Err(self.bad(field, format!("{p} is not between 0 and 1")));
        }
        Ok(Some(p))
    }

    fn boolean(&self, field: &str) -> Result<Option<bool>, FaultError> {
        match self.map.get(field) {
            Some(Value::Bool(b)) => Ok(Some(*b)),
            _ => match self.text(field)?.as_deref() {
                None => Ok(None),
                Some("true" | "yes" | "on") => Ok(Some(true)),
                Some("false" | "no" | "off") => Ok(Some(false)),
                Some(other) => Err(self.bad(field, format!("`{other}` is not true or false"))),
            },
        }
    }

    fn count(&self, field: &str) -> Result<Option<usize>, FaultError> {
        let Some(text) = self.text(field)? else {
            return Ok(None);
        };
        match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(self.bad(field, format!("`{text}` is not a whole number above 0"))),
        }
    }

    fn required<T>(&self, field: &str, value: Option<T>) -> Result<T, FaultError> {
        value.ok_or_else(|| FaultError::Missing {
            fault: self.fault.to_string(),
            field: field.to_string(),
        })
    }

    fn positive(&self, field: &str, d: Duration) -> Result<Duration, FaultError> {
        if d.is_zero() {
            return Err(self.bad(field, "must be greater than 0"));
        }
        Ok(d)
    }
}

impl Fault {
    /// Builds a fault of type `type_name` from named fields (strings or numbers).
    pub fn from_fields(type_name: &str, map: BTreeMap<String, Value>) -> Result<Self, FaultError> {
        // The datagram faults' names for two stream faults: `delay` is `latency`, `rate` is
        // `bandwidth`.
        let type_name = match type_name {
            "delay" => "latency",
            "rate" => "bandwidth",
            other => other,
        };
        if !FAULT_TYPES.contains(&type_name) {
            return Err(FaultError::UnknownType(type_name.to_string()));
        }
        let own = FaultKind::own_fields(type_name);
        let label = match map.get("name") {
            Some(Value::String(n)) => n.clone(),
            _ => type_name.to_string(),
        };
        if let Some(field) = map
            .keys()
            .find(|k| !own.contains(&k.as_str()) && !COMMON_FIELDS.contains(&k.as_str()))
        {
            let allowed: Vec<&str> = own.iter().chain(COMMON_FIELDS).copied().collect();
            return Err(FaultError::UnknownField {
                fault: label,
                field: field.clone(),
                allowed: allowed.join(", "),
            });
        }
        let f = Fields { fault: &label, map };
        let kind = match type_name {
            "latency" => FaultKind::Latency(latency::Latency {
                delay: f.required("delay", f.duration("delay")?)?,
                jitter: f.duration("jitter")?.unwrap_or_default(),
            }),
            "bandwidth" => {
                let rate = f.required("rate", f.size("rate")?)?;
                if rate.bytes() == 0 {
                    return Err(f.bad("rate", "must be greater than 0"));
                }
                FaultKind::Bandwidth(bandwidth::Bandwidth { rate })
            }
            "reset" => {
                let after_bytes = f.size("after_bytes")?;
                let wait = f.duration("wait")?;
                if wait.is_some() && after_bytes.is_none() {
                    return Err(f.bad("wait", "needs `after_bytes` (the reset waits after them)"));
                }
                FaultKind::Reset(reset::Reset { after_bytes, wait })
            }
            "idle_timeout" => FaultKind::IdleTimeout(idle_timeout::IdleTimeout {
                idle: f.positive("idle", f.required("idle", f.duration("idle")?)?)?,
            }),
            "blackhole" => FaultKind::Blackhole,
            "stall" => FaultKind::Stall,
            "corrupt" => FaultKind::Corrupt(corrupt::Corrupt {
                probability: f.required("probability", f.probability("probability")?)?,
            }),
            "slow_close" => FaultKind::SlowClose(slow_close::SlowClose {
                delay: f.required("delay", f.duration("delay")?)?,
            }),
            "limit_data" => FaultKind::LimitData(limit_data::LimitData {
                bytes: f.required("bytes", f.size("bytes")?)?,
                count_from: match f.text("count_from")?.as_deref() {
                    None | Some("connection") => limit_data::CountFrom::Connection,
                    Some("added") => limit_data::CountFrom::Added,
                    Some(other) => {
                        return Err(f.bad(
                            "count_from",
                            format!("`{other}` is not connection or added"),
                        ));
                    }
                },
            }),
            "slicer" => {
                let slicer = slicer::Slicer {
                    average_size: f.required("average_size", f.size("average_size")?)?,
                    size_variation: f.size("size_variation")?.unwrap_or_default(),
                    delay: f.duration("delay")?.unwrap_or_default(),
                };
                if let Err(why) = slicer.check() {
                    let field = if slicer.average_size.bytes() == 0 {
                        "average_size"
                    } else {
                        "size_variation"
                    };
                    return Err(f.bad(field, why));
                }
                FaultKind::Slicer(slicer)
            }
            "timeout" => FaultKind::Timeout(timeout::Timeout {
                after: f.duration("after")?.filter(|d| !d.is_zero()),
            }),
            "loss" => {
                let probability = f.probability("probability")?;
                let p = f.probability("p")?;
                match (probability, p) {
                    (Some(probability), None) => {
                        FaultKind::Loss(loss::Loss::Bernoulli { probability })
                    }
                    (None, Some(p)) => FaultKind::Loss(loss::Loss::GilbertElliott {
                        p,
                        r: f.required("r", f.probability("r")?)?,
                        bad_loss: f.probability("bad_loss")?.unwrap_or(1.0),
                        good_loss: f.probability("good_loss")?.unwrap_or(0.0),
                    }),
                    _ => {
                        return Err(f.bad(
                            "probability",
                            "give `probability` (independent loss) or `p` and `r` \
                             (Gilbert-Elliott bursts), not both",
                        ));
                    }
                }
            }
            "duplicate" => FaultKind::Duplicate(duplicate::Duplicate {
                probability: f.required("probability", f.probability("probability")?)?,
            }),
            "reorder" => FaultKind::Reorder(reorder::Reorder {
                probability: f.required("probability", f.probability("probability")?)?,
                gap: f.duration("gap")?.unwrap_or(Duration::from_millis(5)),
            }),
            "conntrack" => FaultKind::Conntrack(conntrack::Conntrack {
                idle: f.positive("idle", f.required("idle", f.duration("idle")?)?)?,
                action: match f.text("action")?.as_deref() {
                    None | Some("drop") => conntrack::Action::Drop,
                    Some("reset") => conntrack::Action::Reset,
                    Some(other) => {
                        return Err(f.bad("action", format!("`{other}` is not drop or reset")));
                    }
                },
                strict: f.boolean("strict")?.unwrap_or(true),
                max_flows: f
                    .count("max_flows")?
                    .unwrap_or(conntrack::Conntrack::MAX_FLOWS),
            }),
            _ => FaultKind::Down,
        };
        let direction = match f.text("direction")?.as_deref() {
            None | Some("both") => Direction::Both,
            Some("upstream") => Direction::Upstream,
            Some("downstream") => Direction::Downstream,
            Some(other) => {
                return Err(f.bad(
                    "direction",
                    format!("`{other}` is not upstream, downstream or both"),
                ));
            }
        };
        if f.map.contains_key("start") && f.map.contains_key("at") {
            return Err(f.bad("at", "give `at` or `start`, not both (they mean the same)"));
        }
        let start = f
            .duration("start")?
            .or(f.duration("at")?)
            .unwrap_or_default();
        // A reset without a byte trigger is an instant: it fires at `start` (and every `every`).
        let default_duration = match kind {
            FaultKind::Reset(reset::Reset {
                after_bytes: None, ..
            }) => Some(Duration::ZERO),
            _ => None,
        };
        let schedule = Schedule {
            start,
            duration: f.duration("duration")?.or(default_duration),
            every: f
                .duration("every")?
                .map(|e| f.positive("every", e))
                .transpose()?,
        };
        Ok(Self {
            name: label.clone(),
            kind,
            direction,
            toxicity: f.probability("toxicity")?.unwrap_or(1.0),
            schedule,
        })
    }

    /// Whether this fault can do nothing at all (a loss, duplicate or reorder probability of 0):
    /// such a fault is accepted by either proxy, so a matrix can include a 0 % point.
    pub fn is_noop(&self) -> bool {
        match &self.kind {
            FaultKind::Loss(l) => l.mean_loss() == 0.0,
            FaultKind::Duplicate(d) => d.probability == 0.0,
            FaultKind::Reorder(r) => r.probability == 0.0,
            _ => false,
        }
    }

    /// Whether this fault touches bytes flowing `flow`.
    pub fn covers(&self, flow: Direction) -> bool {
        self.direction.covers(flow)
    }
}

impl FromStr for Fault {
    type Err = FaultError;

    /// `TYPE` or `TYPE:key=value,key=value`, e.g. `latency:delay=50ms,jitter=5ms`, `blackhole`,
    /// `reset:at=10s`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (type_name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let type_name = type_name.trim();
        if type_name.is_empty() {
            return Err(FaultError::BadSpec(spec.to_string()));
        }
        let mut map = BTreeMap::new();
        for pair in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| FaultError::BadSpec(spec.to_string()))?;
            map.insert(
                key.trim().to_string(),
                Value::String(value.trim().to_string()),
            );
        }
        Self::from_fields(type_name, map)
    }
}

impl<'de> Deserialize<'de> for Fault {
    /// A table with `type` and the fault's fields, as in a campaign:
    /// `{ type = "latency", delay = "50ms", direction = "both" }`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = BTreeMap::<String, Value>::deserialize(d)?;
        let type_name = match map.remove("type") {
            Some(Value::String(t)) => t,
            Some(other) => {
                return Err(serde::de::Error::custom(format!(
                    "fault `type` must be text, got {other}"
                )));
            }
            None => return Err(serde::de::Error::custom("a fault needs a `type`")),
        };
        Self::from_fields(&type_name, map).map_err(serde::de::Error::custom)
    }
}

/// Names faults that have none of their own after their type (`latency`, `latency-2`, ...) and
/// refuses duplicates.
pub fn name_uniquely(faults: &mut [Fault]) -> Result<(), FaultError> {
    let mut seen = std::collections::HashSet::new();
    for fault in faults.iter_mut() {
        let base = fault.name.clone();
        let explicit = base != fault.kind.type_name();
        let mut name = base.clone();
        let mut n = 2;
        while seen.contains(&name) {
            if explicit {
                return Err(FaultError::DuplicateName(name));
            }
            name = format!("{base}-{n}");
            n += 1;
        }
        seen.insert(name.clone());
        fault.name = name;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Result<Fault, FaultError> {
        spec.parse()
    }

    #[test]
    fn specs_parse_with_defaults() {
        let f = parse("latency:delay=50ms,jitter=5ms").expect("latency");
        assert_eq!(
            f.kind,
            FaultKind::Latency(latency::Latency {
                delay: Duration::from_millis(50),
                jitter: Duration::from_millis(5)
            })
        );
        assert_eq!(f.direction, Direction::Both);
        assert_eq!(f.toxicity, 1.0);
        assert_eq!(f.schedule, Schedule::ALWAYS);
        assert_eq!(f.name, "latency");

        let f = parse("reset:at=10s").expect("reset");
        assert_eq!(f.schedule.start, Duration::from_secs(10));
        assert_eq!(
            f.schedule.duration,
            Some(Duration::ZERO),
            "a timed reset is an instant"
        );
        let f = parse("reset:after_bytes=16mb,toxicity=50%").expect("reset after bytes");
        assert_eq!(f.schedule.duration, None);
        assert_eq!(f.toxicity, 0.5);

        assert_eq!(parse("blackhole").expect("bare").kind, FaultKind::Blackhole);
        let f = parse("bandwidth:rate=10mb,direction=downstream,start=1s,duration=2s,every=10s")
            .expect("bw");
        assert_eq!(f.direction, Direction::Downstream);
        assert_eq!(f.schedule.every, Some(Duration::from_secs(10)));
    }

    #[test]
    fn bad_specs_name_the_fault_and_field() {
        let msg = |s: &str| parse(s).expect_err(s).to_string();
        assert!(msg("latency:dleay=5ms").contains("unknown field `dleay`"));
        assert!(msg("latency:dleay=5ms").contains("fault `latency`"));
        assert!(msg("latency:delay=5parsecs").contains("field `delay`"));
        assert!(msg("latency").contains("missing field `delay`"));
        assert!(msg("corrupt:probability=2").contains("field `probability`"));
        assert!(msg("idle_timeout:idle=0s").contains("field `idle`"));
        assert!(msg("bandwidth:rate=0").contains("field `rate`"));
        assert!(msg("latency:delay=1ms,direction=sideways").contains("field `direction`"));
        assert!(msg("teleport").contains("unknown fault type `teleport`"));
        assert!(msg("latency:delay").contains("is not TYPE"));
        assert!(msg("reset:at=1s,start=2s").contains("field `at`"));
    }

    #[test]
    fn faults_read_from_toml_tables() {
        #[derive(Deserialize)]
        struct Campaign {
            faults: BTreeMap<String, Fault>,
        }
        let c: Campaign = toml::from_str(
            r#"
            [faults.wan]
            type = "latency"
            delay = "25ms"
            name = "wan"
            [faults.cut]
            type = "limit_data"
            bytes = 1048576
            toxicity = 0.25
            "#,
        )
        .expect("toml");
        assert_eq!(c.faults["wan"].kind.type_name(), "latency");
        assert_eq!(
            c.faults["cut"].kind,
            FaultKind::LimitData(limit_data::LimitData {
                bytes: ByteSize::mib(1),
                count_from: limit_data::CountFrom::Connection,
            })
        );
        assert_eq!(c.faults["cut"].toxicity, 0.25);
        let err = toml::from_str::<Campaign>(
            "[faults.x]\ntype = \"latency\"\ndelay = \"1ms\"\njiter = \"1ms\"\n",
        )
        .err()
        .expect("typo")
        .to_string();
        assert!(err.contains("unknown field `jiter`"), "{err}");
    }

    #[test]
    fn names_are_made_unique() {
        let mut faults = vec![
            parse("blackhole").expect("a"),
            parse("blackhole").expect("b"),
            parse("stall:name=s").expect("c"),
        ];
        name_uniquely(&mut faults).expect("unique");
        let names: Vec<_> = faults.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["blackhole", "blackhole-2", "s"]);
        let mut dup = vec![
            parse("stall:name=s").expect("a"),
            parse("blackhole:name=s").expect("b"),
        ];
        assert_eq!(
            name_uniquely(&mut dup),
            Err(FaultError::DuplicateName("s".into()))
        );
    }

    #[test]
    fn conntrack_parses_with_defaults_and_checks_its_fields() {
        let f = parse("conntrack:idle=3s").expect("conntrack");
        assert_eq!(
            f.kind,
            FaultKind::Conntrack(conntrack::Conntrack {
                idle: Duration::from_secs(3),
                action: conntrack::Action::Drop,
                strict: true,
                max_flows: conntrack::Conntrack::MAX_FLOWS,
            })
        );
        let f = parse("conntrack:idle=1m,action=reset,strict=false,max_flows=2").expect("all");
        let FaultKind::Conntrack(c) = f.kind else {
            panic!("{f:?}");
        };
        assert_eq!(
            (c.action, c.strict, c.max_flows),
            (conntrack::Action::Reset, false, 2)
        );
        let msg = |s: &str| parse(s).expect_err(s).to_string();
        assert!(msg("conntrack").contains("missing field `idle`"));
        assert!(msg("conntrack:idle=0s").contains("field `idle`"));
        assert!(msg("conntrack:idle=1s,action=nat").contains("field `action`"));
        assert!(msg("conntrack:idle=1s,strict=maybe").contains("field `strict`"));
        assert!(msg("conntrack:idle=1s,max_flows=0").contains("field `max_flows`"));
        let v = serde_json::to_value(parse("conntrack:idle=3s").expect("f")).expect("json");
        assert_eq!(
            (v["type"].as_str(), v["action"].as_str()),
            (Some("conntrack"), Some("drop"))
        );
    }

    #[test]
    fn each_medium_takes_its_faults() {
        let check = |spec: &str, medium| check_medium(&[parse(spec).expect(spec)], medium);
        assert!(check("conntrack:idle=1s", Medium::Packets).is_ok());
        for medium in [Medium::Stream, Medium::Datagrams] {
            let Err(FaultError::WrongMedium { hint, .. }) = check("conntrack:idle=1s", medium)
            else {
                panic!("conntrack on {medium:?}");
            };
            assert!(
                hint.contains("L3 link") && hint.contains("idle_timeout"),
                "{hint}"
            );
        }
        for medium in [Medium::Stream, Medium::Packets] {
            assert!(check("reset:at=1s", medium).is_ok(), "{medium:?}");
            assert!(check("reset:after_bytes=1mb", medium).is_ok(), "{medium:?}");
        }
        assert!(check("reset:at=1s", Medium::Datagrams).is_err());
        assert!(check("idle_timeout:idle=1s", Medium::Packets).is_err());
    }

    #[test]
    fn slicer_timeout_and_waiting_resets_parse_and_check_their_fields() {
        let f = parse("slicer:average_size=64b,size_variation=16b,delay=500micros").expect("s");
        assert_eq!(
            f.kind,
            FaultKind::Slicer(slicer::Slicer {
                average_size: ByteSize(64),
                size_variation: ByteSize(16),
                delay: Duration::from_micros(500),
            })
        );
        let msg = |s: &str| parse(s).expect_err(s).to_string();
        assert!(msg("slicer").contains("missing field `average_size`"));
        assert!(msg("slicer:average_size=0").contains("field `average_size`"));
        assert!(msg("slicer:average_size=8b,size_variation=8b").contains("field `size_variation`"));
        let f = parse("timeout:after=2s").expect("timeout");
        assert_eq!(
            f.kind,
            FaultKind::Timeout(timeout::Timeout {
                after: Some(Duration::from_secs(2))
            })
        );
        let f = parse("timeout").expect("bare timeout");
        assert_eq!(f.kind, FaultKind::Timeout(timeout::Timeout { after: None }));
        let f = parse("reset:after_bytes=0,wait=100ms").expect("reset wait");
        assert_eq!(
            f.kind,
            FaultKind::Reset(reset::Reset {
                after_bytes: Some(ByteSize(0)),
                wait: Some(Duration::from_millis(100)),
            })
        );
        assert!(msg("reset:wait=1s").contains("field `wait`"));
        let f = parse("limit_data:bytes=1kb,count_from=added").expect("limit");
        assert_eq!(
            f.kind,
            FaultKind::LimitData(limit_data::LimitData {
                bytes: ByteSize::kib(1),
                count_from: limit_data::CountFrom::Added,
            })
        );
        assert!(msg("limit_data:bytes=1kb,count_from=later").contains("field `count_from`"));
        for spec in ["slicer:average_size=8b", "timeout"] {
            for medium in [Medium::Datagrams, Medium::Packets] {
                assert!(
                    matches!(check(spec, medium), Err(FaultError::WrongMedium { .. })),
                    "{spec} on {medium:?}"
                );
            }
        }
    }

    fn check(spec: &str, medium: Medium) -> Result<(), FaultError> {
        check_medium(&[parse(spec).expect(spec)], medium)
    }

    #[test]
    fn faults_serialize_flat() {
        let v =
            serde_json::to_value(parse("latency:delay=50ms,start=1s").expect("f")).expect("json");
        assert_eq!(v["type"], "latency");
        assert_eq!(v["delay"], "50ms");
        assert_eq!(v["start"], "1s");
        assert_eq!(v["direction"], "both");
    }
}
