//! `blackhole`: swallow every byte, keep both sockets open.
//!
//! The proxy keeps reading (so its kernel keeps ACKing and answering keepalive probes) and drops
//! what it reads. Neither side sees an error: only a request timeout or an application ping can
//! notice. Unlike `stall`, no backpressure reaches the sender. Datagrams are dropped.

use super::verdict::{Behaviour, Context, Verdict};

/// The blackhole fault (it has no parameters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Blackhole;

impl Behaviour for Blackhole {
    fn touches_stream(&self) -> bool {
        true
    }

    fn on_chunk(&self, _chunk: &mut [u8], _cx: &mut Context<'_>) -> Verdict {
        Verdict::Drop
    }

    fn on_datagram(&self, _datagram: &mut [u8], _cx: &mut Context<'_>) -> Verdict {
        Verdict::Drop
    }
}
