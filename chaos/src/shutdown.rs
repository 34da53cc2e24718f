//! Stopping a group of tasks cleanly: one signal that every task `select!`s on, and a wait until
//! every task has finished.
//!
//! Modelled on mini-redis (`src/shutdown.rs` and the `shutdown_complete` channel of
//! `src/server.rs`). A running server's handle owns a [`Shutdown`]; every task it starts holds a
//! [`Signal`] (from [`Shutdown::spawn`] or [`Shutdown::signal`]) and hands clones to the tasks
//! it starts in turn, one per connection. A task breaks out of its loop when
//! [`Signal::recv`] resolves, cleans up (closes its sockets, records its last events) and returns,
//! dropping its signal. [`Shutdown::stop`] triggers the signal, then waits until every signal
//! has been dropped and every spawned task has returned: nothing the server started is left
//! running.
//!
//! Dropping a [`Shutdown`] triggers the signal too (a dropped handle stops its server), but waits
//! for nothing. This module owns the signal and the wait, not the time limit: a server that must
//! not wait forever on a stuck connection bounds that itself (the proxy and the leader give their
//! connections 5 s, then abort them).
//!
//! A signal must only be held by a task that watches it: one kept in state that outlives the
//! tasks (a handle's shared struct, say) makes [`Shutdown::stop`] wait forever.

use std::future::Future;

use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

/// The owner's side: triggers the signal and waits for the tasks to drain.
#[derive(Debug)]
pub struct Shutdown {
    notify: watch::Sender<bool>,
    /// Cloned into every [`Signal`]; nothing is ever sent. Once `stop` has dropped this one,
    /// `complete_rx` yields `None` when the last signal is dropped.
    complete_tx: Option<mpsc::Sender<()>>,
    complete_rx: mpsc::Receiver<()>,
    tasks: Vec<JoinHandle<()>>,
}

/// A task's side: resolves once shutdown is triggered (or its [`Shutdown`] is dropped). The task
/// holding it (and every clone) counts as running until it drops it.
#[derive(Clone, Debug)]
pub struct Signal {
    notify: watch::Receiver<bool>,
    _complete: Option<mpsc::Sender<()>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal not triggered yet, with no task.
    pub fn new() -> Self {
        let (notify, _) = watch::channel(false);
        let (complete_tx, complete_rx) = mpsc::channel(1);
        Self {
            notify,
            complete_tx: Some(complete_tx),
            complete_rx,
            tasks: Vec::new(),
        }
    }

    /// A new listener, for a task to `select!` on. [`Shutdown::stop`] waits until it is dropped.
    pub fn signal(&self) -> Signal {
        Signal {
            notify: self.notify.subscribe(),
            _complete: self.complete_tx.clone(),
        }
    }

    /// Spawns `task` with a fresh signal; [`Shutdown::stop`] waits for it to return.
    pub fn spawn<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(Signal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let future = task(self.signal());
        self.tasks.push(tokio::spawn(future));
    }

    /// Tells every task to stop, without waiting.
    pub fn trigger(&self) {
        self.notify.send_replace(true);
    }

    /// Whether stopping has been asked for.
    pub fn is_triggered(&self) -> bool {
        *self.notify.borrow()
    }

    /// Tells every task to stop and waits until every [`Signal`] is dropped and every spawned
    /// task has returned. Calling it again returns at once.
    pub async fn stop(&mut self) {
        self.trigger();
        drop(self.complete_tx.take());
        // Nothing is sent: `None` means the last signal is gone.
        let _ = self.complete_rx.recv().await;
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }

    /// Triggers the signal and aborts the spawned tasks at their next await, without waiting:
    /// for a handle dropped where it cannot wait (its `Drop`).
    pub fn abort(&mut self) {
        self.trigger();
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for Shutdown {
    fn drop(&mut self) {
        self.trigger();
    }
}

impl Signal {
    /// Whether stopping has been asked for (or the [`Shutdown`] is gone).
    pub fn is_shutdown(&self) -> bool {
        *self.notify.borrow() || self.notify.has_changed().is_err()
    }

    /// Resolves once stopping has been asked for, at once if it already was. Cancel-safe: use it
    /// as a branch of `select!` in a loop.
    pub async fn recv(&mut self) {
        // An error means the `Shutdown` was dropped: that stops the tasks too.
        let _ = self.notify.wait_for(|&stop| stop).await;
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        time::Duration,
    };

    use super::*;

    #[tokio::test]
    async fn stop_waits_for_every_task_and_the_tasks_they_start() {
        let finished = Arc::new(AtomicUsize::new(0));
        let mut shutdown = Shutdown::new();
        let done = finished.clone();
        shutdown.spawn(|mut signal| async move {
            // A "connection" the task starts holds a clone of its signal.
            let (conn_signal, conn_done) = (signal.clone(), done.clone());
            tokio::spawn(async move {
                let mut signal = conn_signal;
                signal.recv().await;
                // Cleaning up takes a while after the signal.
                tokio::time::sleep(Duration::from_millis(50)).await;
                conn_done.fetch_add(1, Ordering::SeqCst);
            });
            signal.recv().await;
            done.fetch_add(1, Ordering::SeqCst);
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(finished.load(Ordering::SeqCst), 0, "nothing stops unasked");
        shutdown.stop().await;
        assert_eq!(finished.load(Ordering::SeqCst), 2, "both drained");
        shutdown.stop().await;
    }

    #[tokio::test]
    async fn a_signal_taken_after_the_trigger_or_the_drop_resolves_at_once() {
        let shutdown = Shutdown::new();
        let mut before = shutdown.signal();
        assert!(!before.is_shutdown());
        shutdown.trigger();
        let mut after = shutdown.signal();
        after.recv().await;
        before.recv().await;
        assert!(after.is_shutdown() && shutdown.is_triggered());

        let dropped = Shutdown::new();
        let mut orphan = dropped.signal();
        drop(dropped);
        orphan.recv().await;
        assert!(orphan.is_shutdown());
    }
}
