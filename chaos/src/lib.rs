//! rrbench-chaos: the faults real networks and middleboxes cause, injected on purpose.
//!
//! A [`proxy::Proxy`] sits between a follower and a leader and applies [`fault::Fault`]s to the
//! bytes and connections that pass: latency, bandwidth, resets (on connections already open and
//! idle, too), stunnel-style idle timeouts, blackholes, stalls, corruption, slow close, data
//! limits, toxiproxy's slicer (short writes) and timeout, and the proxy going down; on the L3
//! link, a `conntrack` middlebox that forgets idle TCP flows, and resets forged as RST packets.
//! Faults are data and behaviour: one serde-read enum, each kind
//! in its own file under [`fault`] with its parameters and its [`fault::Behaviour`] (pure
//! functions from bytes or events to a [`fault::Verdict`]), each with a direction, a toxicity
//! (the probability that a connection is affected), a schedule and a seeded random source, so a
//! trial replays exactly. Every connection, fault edge and effect is an [`events::Event`] on the
//! same [`clock::Clock`] the engine uses.
//!
//! The injectors all ask the same fault functions: the TCP [`proxy`], the UDP proxy ([`udp`]),
//! the L3 link's packet pump ([`link`]), both of those through the [`datagram`] machinery, and
//! the simulated network ([`sim`]), which runs the TCP proxy's relay over in-memory streams in
//! tokio time, for seeded simulations under paused time.
//!
//! Layers, each using only those before it: [`units`], [`clock`], [`rng`], [`schedule`] →
//! [`fault`] → [`events`] → [`proxy`] (fault table, edges, relay) → [`sim`] and [`datagram`]
//! → [`udp`] and [`link`]; [`api`] (toxiproxy's HTTP API, over [`http`]) drives the TCP proxy.
//!
//! This crate also owns the leaf modules both crates need: [`clock`], [`units`] and [`shutdown`]
//! (how every server here, the injectors and rrbench's leader, stops and drains its tasks).

pub mod api;
pub mod clock;
pub mod datagram;
pub mod events;
pub mod fault;
pub mod http;
pub mod link;
pub mod listen;
pub mod proxy;
pub mod rng;
pub mod schedule;
pub mod seed_text;
pub mod shutdown;
pub mod sim;
pub mod udp;
pub mod units;

pub use events::{Event, EventKind, EventLog};
pub use fault::{Direction, Fault, FaultError, FaultKind};
pub use link::{Link, LinkError, LinkHandle};
pub use proxy::{Proxy, ProxyError, ProxyHandle};
pub use schedule::Schedule;
pub use shutdown::{Shutdown, Signal};
pub use sim::{SimNetwork, SimStream};
pub use udp::UdpProxyHandle;
