//! rrbench: a benchmark and chaos toolkit for remote recovery throughput.
//!
//! An Elasticsearch follower bootstraps by *remote recovery*: it opens a session on the leader,
//! receives the file list (name, length, checksum) and pulls the files as concurrent,
//! rate-limited chunk requests. rrbench reproduces that engine over real sockets so its
//! throughput and failure modes can be measured.
//!
//! The engine's modules follow the data's path: [`protocol`] (frames, no I/O) → [`transport`]
//! (channels over TCP or QUIC) → [`leader`] (sessions, reads, rate limit) and [`follower`]
//! (window, verification, attempts) → [`index`] (files on disk). [`settings`] holds the
//! Elasticsearch-named settings, written in [`units`] and in the words of [`vocabulary`];
//! [`ratelimit`] and [`auth`] serve both sides. Around the engine, [`campaign`] runs matrices of
//! settings × faults ([`chaos`]) and writes [`results`]; [`report`], [`compare`] and [`plot`]
//! turn results into documents and figures, with [`stats`] and the one [`export::Exporter`].
//!
//! [`rig`] wires a leader, a fault injector and a follower's configuration together for a trial.
//! [`metrics`] serves their counters to Prometheus (`--metrics`).
//!
//! Imports go one way, from the campaign and the documents down to the protocol, the vocabulary
//! and the units: no module imports one that imports it back (`tests/module_graph.rs`).

pub mod agent;
pub mod agent_api;
pub mod auth;
pub mod campaign;
pub mod compare;
pub mod export;
pub mod follower;
pub mod index;
pub mod jsonl;
pub mod leader;
pub mod metrics;
pub mod plot;
pub mod probe;
pub mod protocol;
pub mod ratelimit;
pub mod report;
pub mod results;
pub mod rig;
pub mod settings;
pub mod stats;
pub mod transport;
pub mod vocabulary;

/// Fault injection: the L4 proxy, faults and events (the `rrbench-chaos` crate).
pub use rrbench_chaos as chaos;
/// The one clock every engine and chaos event is stamped with (defined by the chaos crate, which
/// sits below this one).
pub use rrbench_chaos::clock;
/// Elasticsearch-style sizes and durations (shared with the chaos crate's fault parameters).
pub use rrbench_chaos::units;
