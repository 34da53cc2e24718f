//! `blackhole`: swallow every byte, keep both sockets open.
//!
//! The proxy keeps reading (so its kernel keeps ACKing and answering keepalive probes) and drops
//! what it reads. Neither side sees an error: only a request timeout or an application ping can
//! notice. Unlike `stall`, no backpressure reaches the sender.
