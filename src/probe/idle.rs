//! Holds the grid's connections idle and uses each once when its idle time is up. Thin: what
//! a fate means and when a kind is decided is [`super::grid`]'s.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::mpsc, task::JoinSet};

use super::{
    Stop,
    grid::{Death, Decision, Fate, IdleKind, KindGrid, decisions},
};
use crate::{
    protocol::Message,
    transport::{
        TransportError,
        connection::{ConnectOptions, Connection},
        dial::Dialer,
        socket::Keepalive,
    },
};

/// What the idle measurement needs.
pub(super) struct IdlePlan {
    pub dialer: Arc<dyn Dialer>,
    /// Options shared by every kind (auth, user timeout, one channel).
    pub options: ConnectOptions,
    /// Keepalive idle and interval, and the ping schedule.
    pub every: Duration,
    /// How long a use waits for its pong.
    pub pong_timeout: Duration,
    /// Longest idle tested.
    pub max_idle: Duration,
}

impl IdlePlan {
    /// The connect options of one kind.
    fn options_for(&self, kind: IdleKind) -> ConnectOptions {
        let mut o = self.options.clone();
        o.socket.keepalive = (kind == IdleKind::Keepalive).then_some(Keepalive {
            idle: self.every,
            interval: self.every,
            count: 3,
        });
        o.ping_schedule = (kind == IdleKind::Pings).then_some(self.every);
        o.ping_timeout = (kind == IdleKind::Pings).then_some(self.pong_timeout);
        o
    }
}

/// How a transport error shows a death: a timeout is a silent drop, anything else a reset.
pub(super) fn death_of(error: &TransportError, on_use: bool) -> Death {
    let timed_out = match error.root() {
        TransportError::PingTimeout(_) | TransportError::Timeout(_) => true,
        TransportError::Io(msg) => msg.contains("timed out"),
        _ => false,
    };
    match (timed_out, on_use) {
        (true, _) => Death::SilentDrop,
        (false, true) => Death::ResetOnUse,
        (false, false) => Death::ResetWhileIdle,
    }
}

/// One connection of the grid: open, idle for `idle` (or die first), then one ping.
async fn hold(
    dialer: Arc<dyn Dialer>,
    options: ConnectOptions,
    idle: Duration,
    pong_timeout: Duration,
) -> Fate {
    let Ok(conn) = Connection::open(dialer.as_ref(), &options).await else {
        return Fate::NotOpened;
    };
    let opened = Instant::now();
    tokio::select! {
        loss = conn.lost() => Fate::Died {
            death: death_of(&loss.error, false),
            idle: opened.elapsed(),
        },
        () = tokio::time::sleep(idle) => {
            let ping = Message::Ping { nonce: u64::MAX };
            match tokio::time::timeout(pong_timeout, conn.request(&ping)).await {
                Ok(Ok(_)) => Fate::Survived,
                Ok(Err((_, e))) => Fate::Died { death: death_of(&e, true), idle },
                Err(_) => Fate::Died { death: Death::SilentDrop, idle },
            }
        }
    }
}

/// Runs every kind's grid at once until each kind is decided, every connection is resolved, or
/// `stop`. Returns the grids as far as they got and whether `stop` cut them short.
pub(super) async fn run(
    plan: &IdlePlan,
    mut grids: Vec<KindGrid>,
    stop: &mut Stop,
    progress: &(dyn Fn(&str) + Sync),
) -> (Vec<KindGrid>, Duration, bool) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for (g, grid) in grids.iter().enumerate() {
        let options = plan.options_for(grid.kind);
        for (k, &idle) in grid.idles.iter().enumerate() {
            let (dialer, options, tx) = (plan.dialer.clone(), options.clone(), tx.clone());
            let pong = plan.pong_timeout;
            tasks.spawn(async move {
                let fate = hold(dialer, options, idle, pong).await;
                let _ = tx.send((g, k, fate));
            });
        }
    }
    drop(tx);
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    let mut shown = decisions(&grids);
    let mut interrupted = false;
    while shown.contains(&Decision::Open) {
        tokio::select! {
            got = rx.recv() => {
                let Some((g, k, fate)) = got else { break };
                grids[g].record(k, fate);
                let now = decisions(&grids);
                for (i, grid) in grids.iter().enumerate() {
                    if now[i] != shown[i] {
                        progress(&decided_line(grid, now[i], start.elapsed()));
                    }
                }
                shown = now;
            }
            _ = tick.tick() => progress(&status_line(&grids, &shown, start.elapsed(), plan.max_idle)),
            () = stop.wait() => {
                interrupted = true;
                break;
            }
        }
    }
    tasks.abort_all();
    (grids, start.elapsed(), interrupted)
}

fn decided_line(grid: &KindGrid, decision: Decision, at: Duration) -> String {
    let secs =
        |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.2} s", d.as_secs_f64()));
    let what = match decision {
        Decision::Dies => format!(
            "dies after {} idle ({}); survived {}",
            secs(grid.shortest_died().map(|d| d.0)),
            grid.shortest_died().map_or("", |d| d.1.describe()),
            secs(grid.longest_survived()),
        ),
        Decision::Survives => format!("survives ({} idle and more)", secs(grid.longest_survived())),
        Decision::Open => "undecided again".to_string(),
    };
    format!(
        "idle [{:5.1} s]: {} connections {what}",
        at.as_secs_f64(),
        grid.kind.name()
    )
}

fn status_line(grids: &[KindGrid], decided: &[Decision], at: Duration, max: Duration) -> String {
    let parts: Vec<String> = grids
        .iter()
        .zip(decided)
        .map(|(g, d)| {
            let state = match d {
                Decision::Open => format!("{}/{} known", g.resolved(), g.idles.len()),
                Decision::Dies => "dies".into(),
                Decision::Survives => "survives".into(),
            };
            format!("{} {state}", g.kind.name())
        })
        .collect();
    format!(
        "idle [{:5.1} s of up to {:.0} s]: {}",
        at.as_secs_f64(),
        max.as_secs_f64(),
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_silent_drops_and_the_rest_resets_by_when_they_were_seen() {
        let reset = TransportError::Reset;
        assert_eq!(death_of(&reset, true), Death::ResetOnUse);
        assert_eq!(death_of(&TransportError::Eof, false), Death::ResetWhileIdle);
        let late = TransportError::PingTimeout(Duration::from_secs(3));
        assert_eq!(death_of(&late, false), Death::SilentDrop);
        let kernel = TransportError::Io("Connection timed out (os error 110)".into());
        assert_eq!(death_of(&kernel, true), Death::SilentDrop);
    }
}
