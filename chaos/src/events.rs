//! Timestamped events: connections, fault edges and fault effects, on one clock.
//!
//! The log keeps every event in memory (tests and campaigns read it back with
//! [`EventLog::since`]) and, if given a file, appends each as one JSON line, flushed at once so
//! Ctrl-C loses nothing. Effects (bytes delayed, dropped, corrupted) are summed per connection,
//! fault and direction and written at most every 100 ms, so a fast link does not flood the log.
//! Each event also reads as a line of text ([`text`]), and a run's events sum to a [`Summary`].

mod summary;
mod text;

pub use summary::Summary;

use std::{
    fs::{File, OpenOptions},
    io::{self, BufWriter, Write},
    path::Path,
    sync::Mutex,
};

use serde::{Deserialize, Serialize};

use crate::{clock::Clock, fault::Direction};

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Seconds since the clock's epoch.
    pub t: f64,
    /// Who saw it: `chaos` for the proxy.
    pub source: &'static str,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The proxy is listening.
    ProxyStart {
        /// Listen address.
        listen: String,
        /// Upstream address.
        upstream: String,
        /// Seed of every random choice (a string in JSON, exact past 2^53).
        #[serde(with = "crate::seed_text")]
        seed: u64,
        /// Wall-clock time of the log's clock epoch (to line up logs of other processes).
        clock_unix_epoch_s: f64,
    },
    /// The proxy stopped listening (a `down` fault).
    ProxyDown {
        /// The fault.
        fault: String,
    },
    /// The proxy listens again.
    ProxyUp {
        /// The fault.
        fault: String,
    },
    /// A connection was accepted and its upstream connection opened.
    ConnOpen {
        /// Connection id.
        conn: u64,
        /// Client address.
        peer: String,
    },
    /// The upstream could not be reached; the client connection was closed.
    ConnFailed {
        /// Connection id.
        conn: u64,
        /// Why.
        reason: String,
    },
    /// A connection closed without a fault resetting it.
    ConnClose {
        /// Connection id.
        conn: u64,
        /// Why (`closed`, `limit_data`, `down`, ...).
        reason: String,
        /// Bytes client → server.
        bytes_up: u64,
        /// Bytes server → client.
        bytes_down: u64,
    },
    /// A connection was reset (RST both sides).
    ConnReset {
        /// Connection id.
        conn: u64,
        /// The fault (or `peer` when a side reset first).
        fault: String,
        /// Bytes client → server.
        bytes_up: u64,
        /// Bytes server → client.
        bytes_down: u64,
    },
    /// A fault turned on (or fired, for an instant).
    FaultOn {
        /// Fault name.
        fault: String,
        /// Fault type.
        kind: String,
    },
    /// A fault turned off.
    FaultOff {
        /// Fault name.
        fault: String,
    },
    /// What a fault did to one connection's bytes since the last report.
    Effect {
        /// Connection id.
        conn: u64,
        /// Fault name.
        fault: String,
        /// Direction of the bytes.
        direction: Direction,
        /// `delayed`, `throttled`, `dropped`, `corrupted`, `stalled`, `truncated`.
        effect: String,
        /// Bytes affected (for `corrupted`: bytes changed).
        bytes: u64,
    },
    /// A `conntrack` fault on the L3 link started following a TCP flow.
    FlowOpen {
        /// Fault name.
        fault: String,
        /// The flow's ends (`A:p <-> B:q`).
        flow: String,
    },
    /// A `conntrack` fault forgot a flow: idle too long, or evicted from a full table.
    FlowExpired {
        /// Fault name.
        fault: String,
        /// The flow's ends.
        flow: String,
        /// How long it had carried no packet, in seconds.
        idle_s: f64,
        /// Packets that refreshed it after the one that created it.
        refreshes: u64,
        /// `idle` or `evicted`.
        reason: String,
    },
    /// A forgotten (or never seen) flow's packet was dropped on the L3 link.
    FlowDrop {
        /// Fault name.
        fault: String,
        /// The flow's ends.
        flow: String,
        /// Which way the packet was going.
        direction: Direction,
    },
    /// A fault on the L3 link forged an RST to both ends of a flow.
    FlowReset {
        /// Fault name.
        fault: String,
        /// The flow's ends.
        flow: String,
        /// Which way the packet that set it off was going (`both` when none did: the fault
        /// turned on).
        direction: Direction,
    },
    /// A fault that will likely not do what was meant (recorded once per fault).
    Warning {
        /// Fault name.
        fault: String,
        /// What happened, and what to do instead.
        message: String,
    },
}

impl<'de> Deserialize<'de> for Direction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "upstream" => Ok(Direction::Upstream),
            "downstream" => Ok(Direction::Downstream),
            "both" => Ok(Direction::Both),
            other => Err(serde::de::Error::custom(format!(
                "unknown direction `{other}`"
            ))),
        }
    }
}

/// Reads an event log written as JSON lines; `t` is moved by `shift` seconds (to put another
/// process's events on this process's clock). Lines that are not events are skipped.
pub fn read_json_lines(text: &str, shift: f64) -> Vec<Event> {
    text.lines()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            let t = value.get("t")?.as_f64()? + shift;
            let kind = serde_json::from_value::<EventKind>(value).ok()?;
            Some(Event {
                t,
                source: "chaos",
                kind,
            })
        })
        .collect()
}

/// Events read from a log by [`read_json_lines_aligned`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlignedEvents {
    /// The events, on the reader's clock.
    pub events: Vec<Event>,
    /// Whether a `proxy_start` anchored them; without one they are taken as on the reader's
    /// clock already.
    pub anchored: bool,
}

/// Reads an event log written as JSON lines by other processes and puts every event on the clock
/// whose epoch is `clock_unix_epoch_s` (seconds since 1970). Each event is moved by the epoch of
/// the `proxy_start` before it: a log that several injector runs appended to (`--events` appends)
/// has one anchor per run. Events before any anchor are not moved.
pub fn read_json_lines_aligned(text: &str, clock_unix_epoch_s: f64) -> AlignedEvents {
    let mut shift = 0.0;
    let mut anchored = false;
    let events = read_json_lines(text, 0.0)
        .into_iter()
        .map(|mut e| {
            if let EventKind::ProxyStart {
                clock_unix_epoch_s: epoch,
                ..
            } = e.kind
            {
                shift = epoch - clock_unix_epoch_s;
                anchored = true;
            }
            e.t += shift;
            e
        })
        .collect();
    AlignedEvents { events, anchored }
}

/// Where events go.
///
/// In memory it keeps every event, or with [`EventLog::keeping`] at most `n` of them (a proxy
/// or an API server that runs for weeks must not grow without end): past the limit the oldest
/// `effect` event goes (what faults did to bytes, the bulk of a long log), and only when no
/// effect is left the oldest event of any kind, so the fault and connection edges a summary
/// and the fault windows are read from stay. The file, if any, gets every one. Each event has
/// a sequence number, its index in the whole log: `since(from)` gives the kept events from
/// number `from` on, and [`EventLog::since_next`] also where to go on from.
#[derive(Debug)]
pub struct EventLog {
    clock: Clock,
    events: Mutex<Kept>,
    file: Mutex<Option<BufWriter<File>>>,
}

#[derive(Debug, Default)]
struct Kept {
    /// Sequence number and event, in order.
    events: std::collections::VecDeque<(usize, Event)>,
    /// Events recorded so far (the next sequence number).
    recorded: usize,
    /// Events dropped.
    dropped: usize,
    /// Effect events kept (none: no need to look for one).
    effects: usize,
    /// The most kept (`usize::MAX`: all).
    limit: usize,
}

impl Kept {
    fn push(&mut self, event: Event) {
        let is_effect = |e: &Event| matches!(e.kind, EventKind::Effect { .. });
        if self.events.len() >= self.limit {
            let victim = match self.effects {
                0 => 0,
                _ => self
                    .events
                    .iter()
                    .position(|(_, e)| is_effect(e))
                    .unwrap_or(0),
            };
            if let Some((_, gone)) = self.events.remove(victim) {
                self.effects -= usize::from(is_effect(&gone));
                self.dropped += 1;
            }
        }
        self.effects += usize::from(is_effect(&event));
        self.events.push_back((self.recorded, event));
        self.recorded += 1;
    }

    /// The index of the first kept event numbered `from` or later.
    fn first_from(&self, from: usize) -> usize {
        self.events.partition_point(|(seq, _)| *seq < from)
    }
}

impl EventLog {
    /// A log kept in memory, stamped with `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            events: Mutex::new(Kept {
                limit: usize::MAX,
                ..Kept::default()
            }),
            file: Mutex::new(None),
        }
    }

    /// The same log keeping at most `limit` events in memory (at least one).
    pub fn keeping(self, limit: usize) -> Self {
        self.kept().limit = limit.max(1);
        self
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Events no longer in memory (over [`EventLog::keeping`]'s limit).
    pub fn dropped(&self) -> usize {
        self.kept().dropped
    }

    /// A log that also appends JSON lines to `path`.
    pub fn with_file(clock: Clock, path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let log = Self::new(clock);
        *log.file.lock().unwrap_or_else(|p| p.into_inner()) = Some(BufWriter::new(file));
        Ok(log)
    }

    /// The clock events are stamped with.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Records an event now.
    pub fn record(&self, kind: EventKind) {
        let event = Event {
            t: self.clock.elapsed().as_secs_f64(),
            source: "chaos",
            kind,
        };
        if let Some(file) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut()
            && let Ok(line) = serde_json::to_string(&event)
        {
            // A full disk must not stop the proxy; the in-memory log still has the event.
            let _ = writeln!(file, "{line}").and_then(|()| file.flush());
        }
        self.kept().push(event);
    }

    /// The kept events numbered `from` or later (0 for all kept).
    pub fn since(&self, from: usize) -> Vec<Event> {
        self.since_next(from).0
    }

    /// [`EventLog::since`], and the number to ask from next time (every event recorded so far
    /// is before it, kept or not).
    pub fn since_next(&self, from: usize) -> (Vec<Event>, usize) {
        let kept = self.kept();
        let first = kept.first_from(from);
        let events = kept.events.range(first..).map(|(_, e)| e.clone()).collect();
        (events, kept.recorded.max(from))
    }

    /// How many events so far (kept or not).
    pub fn len(&self) -> usize {
        self.kept().recorded
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes that `fault` (any fault for `None`) did `effect` to (`dropped`, `corrupted`, ...),
    /// summed over every effect event so far.
    pub fn effect_bytes(&self, fault: Option<&str>, effect: &str) -> u64 {
        let kept = self.kept();
        kept.events
            .iter()
            .filter_map(|(_, e)| match &e.kind {
                EventKind::Effect {
                    fault: f,
                    effect: x,
                    bytes,
                    ..
                } if x == effect && fault.is_none_or(|name| name == f) => Some(*bytes),
                _ => None,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_keeping_n_events_drops_effects_first_and_numbers_on() {
        let log = EventLog::new(Clock::start()).keeping(3);
        let effect = |bytes| EventKind::Effect {
            conn: 1,
            fault: "wan".into(),
            direction: Direction::Downstream,
            effect: "delayed".into(),
            bytes,
        };
        let edge = |fault: &str| EventKind::ProxyDown {
            fault: fault.into(),
        };
        log.record(edge("first"));
        log.record(effect(1));
        log.record(effect(2));
        log.record(edge("second"));
        log.record(edge("third"));
        assert_eq!((log.len(), log.dropped()), (5, 2));
        // Both effects went; every edge stays.
        let kept = log.since(0);
        let faults: Vec<&str> = kept
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ProxyDown { fault } => Some(fault.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(faults, ["first", "second", "third"]);
        // Numbers are the whole log's: event 4 is "third", and 5 is next.
        assert_eq!(log.since(4).len(), 1);
        let (events, next) = log.since_next(1);
        assert_eq!((events.len(), next), (2, 5), "from 1: second and third");
        assert_eq!(log.since_next(5), (Vec::new(), 5));
        // With no effect left, the oldest of any kind goes.
        log.record(edge("fourth"));
        assert_eq!(log.since(0).len(), 3);
        assert!(
            matches!(&log.since(0)[0].kind, EventKind::ProxyDown { fault } if fault == "second")
        );
    }

    #[test]
    fn events_go_to_memory_and_to_json_lines() {
        let dir = std::env::temp_dir().join(format!("rrbench-events-{}", std::process::id()));
        let log = EventLog::with_file(Clock::start(), &dir).expect("file");
        log.record(EventKind::ConnOpen {
            conn: 1,
            peer: "127.0.0.1:5".into(),
        });
        log.record(EventKind::FaultOn {
            fault: "wan".into(),
            kind: "latency".into(),
        });
        assert_eq!(log.len(), 2);
        assert_eq!(log.since(1).len(), 1);
        let text = std::fs::read_to_string(&dir).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[0]["event"], "conn_open");
        assert_eq!(lines[1]["fault"], "wan");
        assert!(lines[1]["t"].as_f64().expect("t") >= lines[0]["t"].as_f64().expect("t"));
        let back = read_json_lines(&text, 10.0);
        assert_eq!(back.len(), 2);
        assert_eq!(
            back[1].kind,
            EventKind::FaultOn {
                fault: "wan".into(),
                kind: "latency".into()
            }
        );
        assert!(back[0].t >= 10.0);
        std::fs::remove_file(&dir).expect("cleanup");
    }

    #[test]
    fn each_run_appended_to_a_log_is_moved_by_its_own_anchor() {
        let start = |epoch: f64| {
            serde_json::json!({"t": 0.0, "source": "chaos", "event": "proxy_start",
                "listen": "127.0.0.1:1", "upstream": "127.0.0.1:2", "seed": 1,
                "clock_unix_epoch_s": epoch})
        };
        let on = |t: f64| {
            serde_json::json!({"t": t, "source": "chaos", "event": "fault_on",
                "fault": "r", "kind": "reset"})
        };
        // A first proxy run 100 s before the reader's epoch, a second one 2 s after it.
        let text = [start(900.0), on(1.0), start(1002.0), on(1.0)]
            .iter()
            .map(|v| format!("{v}\n"))
            .collect::<String>();
        let read = read_json_lines_aligned(&text, 1000.0);
        assert!(read.anchored);
        let times: Vec<f64> = read.events.iter().map(|e| e.t).collect();
        assert_eq!(times, [-100.0, -99.0, 2.0, 3.0]);
        let unanchored = read_json_lines_aligned(&format!("{}\n", on(1.0)), 1000.0);
        assert!(!unanchored.anchored);
        assert_eq!(unanchored.events[0].t, 1.0);
    }

    #[test]
    fn effect_bytes_sum_by_fault_and_effect() {
        let log = EventLog::new(Clock::start());
        for (fault, effect, bytes) in [
            ("loss", "dropped", 100),
            ("hole", "dropped", 40),
            ("loss", "dropped", 5),
            ("bad", "corrupted", 3),
        ] {
            log.record(EventKind::Effect {
                conn: 1,
                fault: fault.into(),
                direction: crate::Direction::Downstream,
                effect: effect.into(),
                bytes,
            });
        }
        assert_eq!(log.effect_bytes(Some("loss"), "dropped"), 105);
        assert_eq!(log.effect_bytes(None, "dropped"), 145);
        assert_eq!(log.effect_bytes(None, "corrupted"), 3);
        assert_eq!(log.effect_bytes(Some("loss"), "corrupted"), 0);
    }
}
