//! The faults a relay (the TCP proxy's or the simulator's) applies right now, with an on/off
//! flag each that the data path reads; the scheduler flips the flags, nothing else does.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::fault::{Direction, Fault, FaultKind};

/// One fault and whether it is on.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) fault: Fault,
    on: AtomicBool,
    warned: AtomicBool,
    /// Kept unchanged from the previous generation, its on/off state with it: the scheduler
    /// resumes it rather than turning it on again (no gap, no second `fault_on`).
    pub(crate) carried: bool,
}

impl Slot {
    /// True the first time only: a fault is warned about once, however often it fires.
    pub(crate) fn first_warning(&self) -> bool {
        !self.warned.swap(true, Ordering::Relaxed)
    }

    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    pub(crate) fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }
}

/// A generation of faults; replaced whole when the faults change.
#[derive(Debug)]
pub(crate) struct FaultTable {
    pub(crate) generation: u64,
    /// When (since the proxy's start) the on/off states it was published with were computed.
    pub(crate) at: std::time::Duration,
    pub(crate) slots: Vec<Slot>,
}

impl FaultTable {
    pub(crate) fn new(generation: u64, faults: Vec<Fault>) -> Self {
        let slots = faults
            .into_iter()
            .map(|fault| Slot {
                fault,
                on: AtomicBool::new(false),
                warned: AtomicBool::new(false),
                carried: false,
            })
            .collect();
        Self {
            generation,
            at: std::time::Duration::ZERO,
            slots,
        }
    }

    /// Faults that are on and touch bytes flowing `flow`, with their index.
    pub(crate) fn active_for(&self, flow: Direction) -> impl Iterator<Item = (usize, &Fault)> {
        self.slots
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.is_on() && s.fault.covers(flow))
            .map(|(i, s)| (i, &s.fault))
    }

    /// The shortest idle timeout among the faults, if any.
    pub(crate) fn shortest_idle(&self) -> Option<std::time::Duration> {
        self.slots
            .iter()
            .filter_map(|s| match s.fault.kind {
                FaultKind::IdleTimeout(t) => Some(t.idle),
                _ => None,
            })
            .min()
    }
}
