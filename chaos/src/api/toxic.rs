//! Toxics: toxiproxy's toxic types read with toxiproxy's attributes and meaning, and mapped onto
//! rrbench's [`Fault`]s; rrbench's own faults as additional toxic types with their own fields.
//!
//! A toxic is what the API shows (`name`, `type`, `stream`, `toxicity`, `attributes`, as
//! toxiproxy marshals it) plus the fault it became, if any (a `noop`, a `bandwidth` of rate 0
//! and a `latency` of 0 do nothing, as in toxiproxy). Every toxiproxy toxic maps onto a fault
//! with toxiproxy's meaning: `timeout` onto rrbench's `timeout` (its timer counted per
//! connection from when the toxic reached it; removing it closes the connections it held),
//! `reset_peer` onto `reset` after 0 bytes with a `wait`, `slicer` onto `slicer`, and
//! `limit_data` onto `limit_data` counted from when the toxic reached each connection. Sizes
//! toxiproxy itself cannot cut with (a `slicer` with `average_size` 0, or a `size_variation`
//! not below it, which crash toxiproxy) are refused. This module does no I/O: it only turns JSON
//! into faults.

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Map, Value, json};

use super::ApiError;
use crate::{
    fault::{
        Direction, FAULT_TYPES, Fault, FaultKind, Medium,
        bandwidth::Bandwidth,
        check_medium,
        latency::Latency,
        limit_data::{CountFrom, LimitData},
        reset::Reset,
        slicer::Slicer,
        slow_close::SlowClose,
        timeout::Timeout,
    },
    schedule::Schedule,
    units::ByteSize,
};

/// toxiproxy's toxic types that rrbench maps, with their attributes (all whole numbers).
pub const TOXIPROXY_TYPES: &[(&str, &[&str])] = &[
    ("latency", &["latency", "jitter"]),
    ("bandwidth", &["rate"]),
    ("slow_close", &["delay"]),
    ("timeout", &["timeout"]),
    ("reset_peer", &["timeout"]),
    ("slicer", &["average_size", "size_variation", "delay"]),
    ("limit_data", &["bytes"]),
    ("noop", &[]),
];

/// The longest time attribute taken (a day, in milliseconds): more is surely a mistake.
pub const MAX_MILLIS: u64 = 86_400_000;
/// The longest toxic or proxy name taken.
pub const MAX_NAME: usize = 256;

/// Fields every rrbench fault has that a toxic carries outside its attributes.
const TOXIC_LEVEL: &[&str] = &["name", "direction", "toxicity", "type"];

/// Which attribute names a toxic's type reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// toxiproxy's attributes and meaning (`latency` in milliseconds, `rate` in KB/s, ...).
    Toxiproxy,
    /// rrbench's own fault fields (`idle = "5s"`, `after_bytes = "1mb"`, schedules, ...).
    Rrbench,
}

/// One toxic of a proxy.
#[derive(Clone, Debug, PartialEq)]
pub struct Toxic {
    /// Unique within its proxy.
    pub name: String,
    /// Its type, as given.
    pub type_name: String,
    /// Which attribute names and meaning its type has.
    pub dialect: Dialect,
    /// Which bytes it touches.
    pub stream: Direction,
    /// Probability that a connection is affected.
    pub toxicity: f64,
    /// As shown (toxiproxy's: every attribute of the type, defaults filled in).
    pub attributes: Map<String, Value>,
    /// What it does on the proxy; `None` when it does nothing.
    pub fault: Option<Fault>,
}

/// A toxic's fields as read from a request, before they are checked together.
#[derive(Clone, Debug)]
pub struct ToxicInput {
    /// `name`, if given.
    pub name: Option<String>,
    /// `type`.
    pub type_name: String,
    /// `stream`, if given (toxiproxy's default is downstream).
    pub stream: Option<String>,
    /// `toxicity`, if given (default 1).
    pub toxicity: Option<f64>,
    /// `attributes` (default none).
    pub attributes: Map<String, Value>,
}

impl ToxicInput {
    /// Reads a `POST /proxies/{proxy}/toxics` body.
    pub fn from_json(body: &Value) -> Result<Self, ApiError> {
        let object = body
            .as_object()
            .ok_or_else(|| ApiError::BadBody("a toxic is a JSON object".into()))?;
        let text = |field: &str| -> Result<Option<String>, ApiError> {
            match object.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(ApiError::BadBody(format!(
                    "`{field}` must be a string, got {}",
                    shown(other)
                ))),
            }
        };
        let type_name = text("type")?.unwrap_or_default();
        Ok(Self {
            name: text("name")?.filter(|n| !n.is_empty()),
            type_name,
            stream: text("stream")?.filter(|s| !s.is_empty()),
            toxicity: toxicity_of(object.get("toxicity"))?,
            attributes: attributes_of(object.get("attributes"))?,
        })
    }
}

/// A toxicity from JSON: a number from 0 to 1, absent or `null` for the default.
pub fn toxicity_of(value: Option<&Value>) -> Result<Option<f64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(t) if (0.0..=1.0).contains(&t) => Ok(Some(t)),
            _ => Err(ApiError::BadBody(format!(
                "`toxicity` must be a number from 0 to 1, got {}",
                shown(v)
            ))),
        },
    }
}

/// Attributes from JSON: an object, absent or `null` for none.
pub fn attributes_of(value: Option<&Value>) -> Result<Map<String, Value>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(other) => Err(ApiError::BadBody(format!(
            "`attributes` must be an object, got {}",
            shown(other)
        ))),
    }
}

/// A value as an error quotes it: short, whatever was sent.
pub fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

/// Checks a proxy or toxic name: not empty, at most [`MAX_NAME`] bytes, no `/` (it could not
/// be addressed in a path) and no control characters.
pub fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::Missing(what.to_string()));
    }
    if name.len() > MAX_NAME {
        return Err(ApiError::BadBody(format!(
            "{what} is over {MAX_NAME} bytes"
        )));
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return Err(ApiError::BadBody(format!(
            "{what} {:?} has a '/' or a control character: it could not be addressed in a path",
            name.chars().take(60).collect::<String>()
        )));
    }
    Ok(())
}

/// Reads a stream: toxiproxy's `upstream` (client to server) or `downstream`, in any case, and
/// rrbench's `both`.
pub fn parse_stream(stream: &str) -> Result<Direction, ApiError> {
    match stream.to_ascii_lowercase().as_str() {
        "upstream" => Ok(Direction::Upstream),
        "downstream" => Ok(Direction::Downstream),
        "both" => Ok(Direction::Both),
        _ => Err(ApiError::InvalidStream),
    }
}

/// A stream as toxiproxy writes it.
pub fn stream_name(stream: Direction) -> &'static str {
    match stream {
        Direction::Upstream => "upstream",
        Direction::Downstream => "downstream",
        Direction::Both => "both",
    }
}

/// The dialect of a toxic type given over the API: toxiproxy's names are toxiproxy's, the rest
/// of rrbench's fault types are rrbench's. `None`: no such type.
pub fn dialect_of(type_name: &str) -> Option<Dialect> {
    if TOXIPROXY_TYPES.iter().any(|(t, _)| *t == type_name) {
        Some(Dialect::Toxiproxy)
    } else if FAULT_TYPES.contains(&type_name) {
        Some(Dialect::Rrbench)
    } else {
        None
    }
}

/// Every type name the API takes, for errors.
pub fn known_types() -> String {
    let toxiproxy: Vec<&str> = TOXIPROXY_TYPES.iter().map(|(t, _)| *t).collect();
    let own: Vec<&str> = FAULT_TYPES
        .iter()
        .copied()
        .filter(|t| dialect_of(t) == Some(Dialect::Rrbench))
        .collect();
    format!(
        "toxiproxy's {}; rrbench's {}",
        toxiproxy.join(", "),
        own.join(", ")
    )
}

/// A toxic checked as far as toxiproxy checks one before it looks for its name among the
/// proxy's (stream, type, name): what is left to check is its attributes ([`ToxicDraft::build`]).
#[derive(Clone, Debug)]
pub struct ToxicDraft {
    /// Its name (given, or the default `TYPE_STREAM`).
    pub name: String,
    /// `type`.
    pub type_name: String,
    /// How to read its attributes.
    pub dialect: Dialect,
    /// Which bytes it touches.
    pub stream: Direction,
    /// The share of connections it affects.
    pub toxicity: f64,
    /// Its attributes, unchecked.
    pub attributes: Map<String, Value>,
}

impl ToxicDraft {
    /// The toxic, once its attributes are checked.
    pub fn build(self) -> Result<Toxic, ApiError> {
        Toxic::build(
            self.name,
            self.type_name,
            self.dialect,
            self.stream,
            self.toxicity,
            self.attributes,
        )
    }
}

impl Toxic {
    /// Builds a toxic; `dialect` says how to read `attributes`.
    pub fn build(
        name: String,
        type_name: String,
        dialect: Dialect,
        stream: Direction,
        toxicity: f64,
        attributes: Map<String, Value>,
    ) -> Result<Self, ApiError> {
        let (kind, attributes) = match dialect {
            Dialect::Toxiproxy => toxiproxy_kind(&type_name, &attributes)?,
            Dialect::Rrbench => (Some(rrbench_kind(&type_name, &attributes)?), attributes),
        };
        let fault = kind.map(|(kind, schedule)| Fault {
            name: name.clone(),
            kind,
            direction: stream,
            toxicity,
            schedule,
        });
        if let Some(f) = &fault {
            check_medium(std::slice::from_ref(f), Medium::Stream)
                .map_err(|e| ApiError::BadToxic(e.to_string()))?;
        }
        Ok(Self {
            name,
            type_name,
            dialect,
            stream,
            toxicity,
            attributes,
            fault,
        })
    }

    /// The toxic a fault from rrbench's command line shows as: rrbench's type and fields.
    pub fn from_fault(fault: Fault) -> Self {
        let mut attributes = match serde_json::to_value(&fault) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let hidden = |k: &str, v: &Value| {
            TOXIC_LEVEL.contains(&k) || v.is_null() || (k == "start" && v.as_str() == Some("0s"))
        };
        attributes.retain(|k, v| !hidden(k, v));
        Self {
            name: fault.name.clone(),
            type_name: fault.kind.type_name().to_string(),
            dialect: Dialect::Rrbench,
            stream: fault.direction,
            toxicity: fault.toxicity,
            attributes,
            fault: Some(fault),
        }
    }

    /// The same toxic with `attributes` laid over its own and a new toxicity (toxiproxy's
    /// `PATCH /proxies/{proxy}/toxics/{toxic}`).
    pub fn updated(
        &self,
        attributes: Map<String, Value>,
        toxicity: Option<f64>,
    ) -> Result<Self, ApiError> {
        let mut merged = self.attributes.clone();
        merged.extend(attributes);
        Self::build(
            self.name.clone(),
            self.type_name.clone(),
            self.dialect,
            self.stream,
            toxicity.unwrap_or(self.toxicity),
            merged,
        )
    }

    /// As toxiproxy marshals a toxic.
    pub fn to_json(&self) -> Value {
        json!({
            "attributes": self.attributes,
            "name": self.name,
            "type": self.type_name,
            "stream": stream_name(self.stream),
            "toxicity": self.toxicity,
        })
    }
}

/// A toxiproxy attribute: a whole number, at least 0, at most `max`; 0 when absent.
fn whole(
    type_name: &str,
    attributes: &Map<String, Value>,
    field: &str,
    unit: &str,
    max: u64,
) -> Result<u64, ApiError> {
    let Some(value) = attributes.get(field) else {
        return Ok(0);
    };
    match value.as_u64() {
        Some(n) if n <= max => Ok(n),
        _ => Err(ApiError::BadToxic(format!(
            "{type_name}: attribute `{field}` must be a whole number of {unit} from 0 to {max}, \
             got {}",
            shown(value)
        ))),
    }
}

type Kind = Option<(FaultKind, Schedule)>;

/// Reads a toxiproxy toxic: its fault (if it does anything) and its attributes as toxiproxy
/// shows them (every one of the type, 0 when not given).
fn toxiproxy_kind(
    type_name: &str,
    attributes: &Map<String, Value>,
) -> Result<(Kind, Map<String, Value>), ApiError> {
    let allowed = TOXIPROXY_TYPES
        .iter()
        .find(|(t, _)| *t == type_name)
        .map(|(_, a)| *a)
        .unwrap_or_default();
    if let Some(unknown) = attributes.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::BadToxic(format!(
            "{type_name}: unknown attribute `{}` (attributes: {})",
            unknown.chars().take(60).collect::<String>(),
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        )));
    }
    let ms = |field: &str| whole(type_name, attributes, field, "milliseconds", MAX_MILLIS);
    let mut shown = Map::new();
    let mut show = |field: &str, n: u64| {
        shown.insert(field.to_string(), Value::from(n));
    };
    let always = |kind| Some((kind, Schedule::ALWAYS));
    let kind = match type_name {
        "latency" => {
            let (latency, jitter) = (ms("latency")?, ms("jitter")?);
            show("latency", latency);
            show("jitter", jitter);
            always(FaultKind::Latency(Latency {
                delay: Duration::from_millis(latency),
                jitter: Duration::from_millis(jitter),
            }))
        }
        "bandwidth" => {
            // toxiproxy's KB is 1000 bytes (a byte takes 1 ms / rate); rate 0 is no limit.
            let rate = whole(type_name, attributes, "rate", "KB/s", u64::MAX / 1000)?;
            show("rate", rate);
            (rate > 0).then(|| {
                (
                    FaultKind::Bandwidth(Bandwidth {
                        rate: ByteSize(rate * 1000),
                    }),
                    Schedule::ALWAYS,
                )
            })
        }
        "slow_close" => {
            let delay = ms("delay")?;
            show("delay", delay);
            always(FaultKind::SlowClose(SlowClose {
                delay: Duration::from_millis(delay),
            }))
        }
        "timeout" => {
            // 0: drop data and never close; the connection still closes when it is removed.
            let timeout = ms("timeout")?;
            show("timeout", timeout);
            always(FaultKind::Timeout(Timeout {
                after: (timeout > 0).then(|| Duration::from_millis(timeout)),
            }))
        }
        "reset_peer" => {
            // The next data after the toxic reached the connection is dropped, then the
            // connection is reset `timeout` later (at once for 0).
            let timeout = ms("timeout")?;
            show("timeout", timeout);
            always(FaultKind::Reset(Reset {
                after_bytes: Some(ByteSize(0)),
                wait: (timeout > 0).then(|| Duration::from_millis(timeout)),
            }))
        }
        "slicer" => {
            let size = |field| whole(type_name, attributes, field, "bytes", u32::MAX as u64);
            let (average, variation) = (size("average_size")?, size("size_variation")?);
            let delay = whole(
                type_name,
                attributes,
                "delay",
                "microseconds",
                MAX_MILLIS * 1000,
            )?;
            show("average_size", average);
            show("size_variation", variation);
            show("delay", delay);
            let slicer = Slicer {
                average_size: ByteSize(average),
                size_variation: ByteSize(variation),
                delay: Duration::from_micros(delay),
            };
            slicer
                .check()
                .map_err(|why| ApiError::BadToxic(format!("{type_name}: {why}")))?;
            always(FaultKind::Slicer(slicer))
        }
        "limit_data" => {
            let bytes = whole(type_name, attributes, "bytes", "bytes", u64::MAX)?;
            show("bytes", bytes);
            always(FaultKind::LimitData(LimitData {
                bytes: ByteSize(bytes),
                count_from: CountFrom::Added,
            }))
        }
        _ => None,
    };
    Ok((kind, shown))
}

/// Reads one of rrbench's own fault types from rrbench's field names (as in `--fault` specs:
/// `idle = "5s"`, `after_bytes = "1mb"`, `start`, `duration`, `every`).
fn rrbench_kind(
    type_name: &str,
    attributes: &Map<String, Value>,
) -> Result<(FaultKind, Schedule), ApiError> {
    if let Some(field) = attributes
        .keys()
        .find(|k| TOXIC_LEVEL.contains(&k.as_str()))
    {
        return Err(ApiError::BadToxic(format!(
            "{type_name}: `{field}` is not an attribute: name, stream (for direction) and \
             toxicity are the toxic's own fields"
        )));
    }
    let map: BTreeMap<String, Value> = attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let fault =
        Fault::from_fields(type_name, map).map_err(|e| ApiError::BadToxic(e.to_string()))?;
    Ok((fault.kind, fault.schedule))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    fn toxiproxy(type_name: &str, a: Value) -> Result<Toxic, ApiError> {
        Toxic::build(
            "t".into(),
            type_name.into(),
            Dialect::Toxiproxy,
            Direction::Downstream,
            1.0,
            attrs(a),
        )
    }

    #[test]
    fn toxiproxy_toxics_map_onto_faults_with_toxiproxy_units() {
        let t = toxiproxy("latency", json!({"latency": 100})).expect("latency");
        assert_eq!(t.attributes, attrs(json!({"latency": 100, "jitter": 0})));
        let f = t.fault.expect("fault");
        assert_eq!(
            f.kind,
            FaultKind::Latency(Latency {
                delay: Duration::from_millis(100),
                jitter: Duration::ZERO
            })
        );
        assert_eq!(
            (f.direction, f.schedule),
            (Direction::Downstream, Schedule::ALWAYS)
        );
        let t = toxiproxy("bandwidth", json!({"rate": 100})).expect("bandwidth");
        assert_eq!(
            t.fault.expect("fault").kind,
            FaultKind::Bandwidth(Bandwidth {
                rate: ByteSize(100_000)
            })
        );
        assert!(
            toxiproxy("bandwidth", json!({}))
                .expect("rate 0")
                .fault
                .is_none()
        );
        assert!(toxiproxy("noop", json!({})).expect("noop").fault.is_none());
        let t = toxiproxy("timeout", json!({"timeout": 0})).expect("timeout 0");
        assert_eq!(
            t.fault.expect("fault").kind,
            FaultKind::Timeout(Timeout { after: None })
        );
        let t = toxiproxy("timeout", json!({"timeout": 100})).expect("timeout 100");
        assert_eq!(
            t.fault.expect("fault").kind,
            FaultKind::Timeout(Timeout {
                after: Some(Duration::from_millis(100))
            })
        );
        let t = toxiproxy("reset_peer", json!({})).expect("reset_peer 0");
        assert_eq!(
            t.fault.expect("fault").kind,
            FaultKind::Reset(Reset {
                after_bytes: Some(ByteSize(0)),
                wait: None,
            })
        );
        let t = toxiproxy("reset_peer", json!({"timeout": 100})).expect("reset_peer 100");
        assert_eq!(
            t.fault.expect("fault").kind,
            FaultKind::Reset(Reset {
                after_bytes: Some(ByteSize(0)),
                wait: Some(Duration::from_millis(100)),
            })
        );
        let t = toxiproxy("limit_data", json!({"bytes": 5})).expect("limit_data");
        assert_eq!(
            t.fault.expect("fault").kind,
            FaultKind::LimitData(LimitData {
                bytes: ByteSize(5),
                count_from: CountFrom::Added,
            })
        );
        let t = toxiproxy("slicer", json!({"average_size": 10, "delay": 500})).expect("slicer");
        assert_eq!(
            t.attributes,
            attrs(json!({"average_size": 10, "size_variation": 0, "delay": 500}))
        );
        assert_eq!(
            t.fault.expect("fault").kind,
            FaultKind::Slicer(Slicer {
                average_size: ByteSize(10),
                size_variation: ByteSize(0),
                delay: Duration::from_micros(500),
            })
        );
    }

    #[test]
    fn bad_attributes_are_refused_with_the_reason() {
        for a in [json!({}), json!({"average_size": 10, "size_variation": 10})] {
            let Err(ApiError::BadToxic(why)) = toxiproxy("slicer", a.clone()) else {
                panic!("slicer {a} taken");
            };
            assert!(why.starts_with("slicer: "), "{why}");
        }
        for bad in [
            json!({"latency": -1}),
            json!({"latency": 1.5}),
            json!({"latency": "5"}),
            json!({"latency": MAX_MILLIS + 1}),
            json!({"latncy": 5}),
        ] {
            let Err(ApiError::BadToxic(why)) = toxiproxy("latency", bad.clone()) else {
                panic!("{bad} taken");
            };
            assert!(why.starts_with("latency: "), "{why}");
        }
    }

    #[test]
    fn rrbench_faults_are_toxics_with_their_own_fields() {
        let t = Toxic::build(
            "idle".into(),
            "idle_timeout".into(),
            Dialect::Rrbench,
            Direction::Both,
            0.5,
            attrs(json!({"idle": "5s"})),
        )
        .expect("idle_timeout");
        let f = t.fault.expect("fault");
        assert_eq!((f.name.as_str(), f.toxicity), ("idle", 0.5));
        let refused = |type_name: &str, a: Value| {
            Toxic::build(
                "x".into(),
                type_name.into(),
                Dialect::Rrbench,
                Direction::Both,
                1.0,
                attrs(a),
            )
            .expect_err(type_name)
            .to_string()
        };
        assert!(refused("loss", json!({"probability": 0.1})).contains("packets"));
        assert!(refused("conntrack", json!({"idle": "1s"})).contains("L3 link"));
        assert!(refused("idle_timeout", json!({"idel": "1s"})).contains("unknown field"));
        assert!(refused("stall", json!({"toxicity": 1})).contains("toxic's own"));
    }

    #[test]
    fn a_command_line_fault_shows_its_own_fields_and_updates_keep_the_rest() {
        let fault: Fault = "latency:delay=50ms,direction=upstream"
            .parse()
            .expect("fault");
        let t = Toxic::from_fault(fault);
        assert_eq!(
            (t.type_name.as_str(), t.stream),
            ("latency", Direction::Upstream)
        );
        assert_eq!(t.attributes["delay"], "50ms");
        assert!(!t.attributes.contains_key("name") && !t.attributes.contains_key("start"));
        let u = t
            .updated(attrs(json!({"jitter": "5ms"})), Some(0.5))
            .expect("update");
        assert_eq!(u.attributes["delay"], "50ms");
        assert_eq!(u.fault.expect("fault").toxicity, 0.5);
    }
}
