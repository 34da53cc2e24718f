//! What the active faults do to one datagram: pure, time and randomness are arguments.
//!
//! A [`Lane`] is one direction of one flow. It asks each fault that is on its
//! [`Behaviour::on_datagram`](crate::fault::Behaviour::on_datagram) and folds the verdicts into
//! the copies to send and when; it knows nothing of what any fault does.

use std::time::Duration;

use tokio::time::Instant;

use crate::{
    fault::{Context, Fault, Moved, State, Verdict},
    rng::SeededRng,
};

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
    /// The fault's index in the injector's list.
    pub fault: usize,
    /// `dropped`, `corrupted`, `duplicated`, `delayed`, `reordered`, `throttled`.
    pub effect: &'static str,
}

/// One direction of one flow: its random stream and the state of its stateful faults.
#[derive(Debug)]
pub struct Lane {
    rng: SeededRng,
    states: Vec<State>,
}

impl Lane {
    /// A lane for `faults` faults drawing from `rng`.
    pub fn new(rng: SeededRng, faults: usize) -> Self {
        Self {
            rng,
            states: (0..faults).map(|_| State::default()).collect(),
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
            let Some(state) = self.states.get_mut(i) else {
                continue;
            };
            let mut cx = Context {
                now,
                rng: &mut self.rng,
                state,
                moved: Moved::default(),
                reached: Moved::default(),
                direction: fault.direction,
            };
            let verdict = fault.kind.behaviour().on_datagram(&mut bytes, &mut cx);
            let mut effect = || {
                if let Some(effect) = verdict.effect() {
                    effects.push(Effect { fault: i, effect });
                }
            };
            match verdict {
                Verdict::Drop => {
                    effect();
                    return (Vec::new(), effects);
                }
                Verdict::Corrupt(_) | Verdict::Duplicate => {
                    copies += usize::from(verdict == Verdict::Duplicate);
                    effect();
                }
                Verdict::Delay(d) | Verdict::Reorder(d) => {
                    delay += d;
                    effect();
                }
                Verdict::Pace(at) => {
                    if at > now {
                        effect();
                    }
                    paced_at = paced_at.max(at);
                }
                // Stream and connection verdicts do not arise for datagrams: stream faults are
                // refused when the injector starts.
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
    fn rate_paces_then_drops_past_the_queue() {
        let now = Instant::now();
        // 1 KiB/s: each 100-byte datagram takes ~98 ms on the wire.
        let f = faults(&["rate:rate=1kb"]);
        let on_wire = Duration::from_secs_f64(100.0 / 1024.0);
        let mut l = lane(1);
        let mut sends = Vec::new();
        let mut effects = Vec::new();
        for _ in 0..5 {
            let (s, e) = l.apply(f.iter().enumerate(), vec![0; 100], now);
            sends.extend(s);
            effects.extend(e.into_iter().map(|e| e.effect));
        }
        assert_eq!(sends.len(), 3, "the 4th would start past 250 ms");
        // Each leaves once it has had its own time on the wire.
        assert_eq!(sends[0].at, now + on_wire);
        assert!(sends[2].at > sends[1].at && sends[1].at > sends[0].at);
        assert_eq!(
            effects,
            ["throttled", "throttled", "throttled", "dropped", "dropped"]
        );
        // A dropped datagram took no time on the wire: once the queue drains, one passes.
        let later = sends[2].at;
        let (s, _) = l.apply(f.iter().enumerate(), vec![0; 100], later);
        assert_eq!(s.len(), 1, "the queue drained");
        assert_eq!(s[0].at, later + on_wire);
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
