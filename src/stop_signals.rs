//! The signals that stop a long-running command cleanly: Ctrl-C (SIGINT) and SIGTERM (`kill`,
//! systemd, a script's cleanup). Listened for from the moment a command starts, so a signal
//! that arrives while it is still setting up (the L3 link making its namespace) is kept and
//! stops it as soon as it is up, instead of the signal's default action ending the process
//! before it removes what it made.

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGINT and SIGTERM, each caught from [`StopSignals::listen`] on.
pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Starts catching both signals (their default actions no longer end the process).
    pub fn listen() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("listening for Ctrl-C")?,
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    /// Waits for either signal; one that arrived since `listen` returns at once.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
