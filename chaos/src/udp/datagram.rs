//! What the active faults do to one datagram: pure, time and randomness are arguments.

use std::time::{Duration, Instant};

use crate::{
    fault::{Fault, FaultKind, bandwidth::Pacer, loss::LossState},
    rng::SeededRng,
};

/// The longest a `rate` fault queues a datagram before dropping it (a router's buffer).
pub const QUEUE_LIMIT: Duration = Duration::from_millis(250);

/// One copy of a datagram to send, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    /// When it may leave.
    pub at: Instant,
    /// The bytes (corrupted, perhaps).
    pub bytes: Vec<u8>,
}

/// What happened to a datagram, per fault, for the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    /// The fault's index in the proxy's list.
    pub fault: usize,
    /// `dropped`, `corrupted`, `duplicated`, `delayed`, `reordered`, `throttled`.
    pub effect: &'static str,
}

/// One direction of one flow: its random stream and the state of its stateful faults.
#[derive(Debug)]
pub struct Lane {
    rng: SeededRng,
    loss: Vec<LossState>,
    pacers: Vec<Pacer>,
}

impl Lane {
    /// A lane for `faults` faults drawing from `rng`.
    pub fn new(rng: SeededRng, faults: usize) -> Self {
        Self {
            rng,
            loss: (0..faults).map(|_| LossState::default()).collect(),
            pacers: (0..faults).map(|_| Pacer::default()).collect(),
        }
    }

    /// Applies `active` faults (index, fault) to a datagram received at `now`; returns the copies
    /// to send (none if it is dropped) and what each fault did.
    pub fn apply<'a>(
        &mut self,
        active: impl Iterator<Item = (usize, &'a Fault)>,
        mut bytes: Vec<u8>,
        now: Instant,
    ) -> (Vec<Send>, Vec<Effect>) {
        let mut effects = Vec::new();
        let mut delay = Duration::ZERO;
        let mut copies = 1;
        let mut paced_at = now;
        for (i, fault) in active {
            let effect = |e| Effect {
                fault: i,
                effect: e,
            };
            match &fault.kind {
                FaultKind::Blackhole => {
                    effects.push(effect("dropped"));
                    return (Vec::new(), effects);
                }
                FaultKind::Loss(loss) => {
                    if let Some(state) = self.loss.get_mut(i)
                        && state.drop_next(loss, &mut self.rng)
                    {
                        effects.push(effect("dropped"));
                        return (Vec::new(), effects);
                    }
                }
                // Per datagram: one byte changed with `probability`.
                FaultKind::Corrupt(c) if !bytes.is_empty() && self.rng.chance(c.probability) => {
                    let at = (self.rng.unit() * bytes.len() as f64) as usize;
                    let at = at.min(bytes.len() - 1);
                    bytes[at] ^= self.rng.nonzero_byte();
                    effects.push(effect("corrupted"));
                }
                FaultKind::Duplicate(d) if self.rng.chance(d.probability) => {
                    copies += 1;
                    effects.push(effect("duplicated"));
                }
                FaultKind::Latency(l) => {
                    delay += l.sample(&mut self.rng);
                    effects.push(effect("delayed"));
                }
                FaultKind::Reorder(r) if self.rng.chance(r.probability) => {
                    delay += r.gap;
                    effects.push(effect("reordered"));
                }
                FaultKind::Bandwidth(b) => {
                    if let Some(pacer) = self.pacers.get_mut(i) {
                        let at = pacer.reserve(now, bytes.len(), b.rate);
                        if at > now + QUEUE_LIMIT {
                            // A router's buffer is finite: past it, the tail is dropped.
                            effects.push(effect("dropped"));
                            return (Vec::new(), effects);
                        }
                        if at > now {
                            effects.push(effect("throttled"));
                        }
                        paced_at = paced_at.max(at);
                    }
                }
                // Stream faults are refused when the proxy starts.
                _ => {}
            }
        }
        let at = paced_at + delay;
        let mut sends: Vec<Send> = (1..copies)
            .map(|_| Send {
                at,
                bytes: bytes.clone(),
            })
            .collect();
        // The last (usually the only) copy takes the buffer itself.
        sends.push(Send { at, bytes });
        (sends, effects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(specs: &[&str]) -> Vec<Fault> {
        specs.iter().map(|s| s.parse().expect("fault")).collect()
    }

    fn lane(n: usize) -> Lane {
        Lane::new(SeededRng::new(1, 1), n)
    }

    #[test]
    fn blackhole_and_certain_loss_drop() {
        let now = Instant::now();
        for spec in ["blackhole", "loss:probability=1"] {
            let f = faults(&[spec]);
            let (sends, effects) = lane(1).apply(f.iter().enumerate(), vec![1, 2, 3], now);
            assert!(sends.is_empty(), "{spec}");
            assert_eq!(effects[0].effect, "dropped");
        }
    }

    #[test]
    fn delay_duplicate_and_corrupt_shape_the_copies() {
        let now = Instant::now();
        let f = faults(&[
            "delay:delay=10ms",
            "duplicate:probability=1",
            "corrupt:probability=1",
        ]);
        let (sends, _) = lane(3).apply(f.iter().enumerate(), vec![0; 100], now);
        assert_eq!(sends.len(), 2);
        assert!(
            sends
                .iter()
                .all(|s| s.at == now + Duration::from_millis(10))
        );
        assert!(
            sends
                .iter()
                .all(|s| s.bytes.iter().filter(|b| **b != 0).count() == 1)
        );
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let now = Instant::now();
        let f = faults(&["loss:probability=30%", "reorder:probability=30%,gap=3ms"]);
        let run = || {
            let mut l = lane(2);
            (0..200)
                .map(|i| l.apply(f.iter().enumerate(), vec![i as u8], now).0)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
