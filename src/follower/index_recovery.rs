//! A follower node restoring a whole index: every shard of it, up to
//! `cluster.routing.allocation.node_initial_primaries_recoveries` at once, each its own
//! recovery ([`super::engine`]: its own session, window, attempts and retries) and all sharing
//! the node's one rate limiter and one connection to the leader ([`FollowerNode`]).
//!
//! An index of one shard is recovered into the target directory itself; an index of `n`
//! shards into `target/0`, `target/1`, ..., as `rrbench gen-index --shards n` lays one out.
//! The report is the index's totals with a line per shard ([`super::shard_report`]).

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{
    sync::{OwnedSemaphorePermit, watch},
    task::JoinSet,
    time::Instant,
};

use super::{
    config::{FollowerConfig, FollowerError, connect_options},
    engine::{ShardOf, recover_shard},
    node::{FollowerNode, NodeThrottles},
    progress::{Progress, Sampler},
    report::{Outcome, RecoveryReport},
    shard_report::{IndexTotals, combine},
};
use crate::{
    auth::ApiKeyError,
    index::{IndexError, TargetDir, shard_dir, shard_seed},
    settings::OutOfRange,
    transport::{
        dial::{Dialer, QuicDialer, TcpDialer},
        tls::TlsDialer,
    },
    units::mib_per_sec,
    vocabulary::RemoteMode,
};

/// Recovers every shard of the index, each attempt after attempt as the policy allows, until
/// all are verified or have failed for good, the time limit passes, or `cancel` completes.
/// Returns the report either way. The follower node is this recovery's alone: see
/// [`recover_on`] for several indices on one node.
pub async fn recover(
    config: FollowerConfig,
    progress: Arc<Progress>,
    cancel: impl Future<Output = ()>,
) -> Result<RecoveryReport, FollowerError> {
    let throttles = NodeThrottles::new(
        config.settings.max_bytes_per_sec,
        config.settings.node_initial_primaries_recoveries,
    );
    recover_on(config, throttles, progress, cancel).await
}

/// [`recover`] on a follower node whose limiter and shard slots are `throttles` (fan-in: one
/// node restoring indices from several leader clusters at once, every shard of each sharing
/// them; `config.settings`' own `max_bytes_per_sec` and `node_initial_primaries_recoveries`
/// are then the node's, given when `throttles` was made). The connections are this index's.
pub async fn recover_on(
    config: FollowerConfig,
    throttles: NodeThrottles,
    progress: Arc<Progress>,
    cancel: impl Future<Output = ()>,
) -> Result<RecoveryReport, FollowerError> {
    config.settings.validate()?;
    if !(1..=MAX_SHARDS).contains(&config.shards) {
        return Err(FollowerError::Settings(OutOfRange {
            setting: "index.number_of_shards",
            flag: "shards",
            value: config.shards.to_string(),
            range: "must be between 1 and 1024",
        }));
    }
    let node = Arc::new(FollowerNode::new(
        throttles,
        dialers_of(&config)?,
        config.leader.split(',').count(),
        connect_options(&config, config.settings.policy),
    ));
    // A connection opened long before the follow request, left unused.
    let idle = config.settings.idle_before_recovery;
    tokio::pin!(cancel);
    let mut cancelled = false;
    if !idle.is_zero() {
        node.connect_all().await;
        tokio::select! {
            () = tokio::time::sleep(idle) => {}
            () = &mut cancel => cancelled = true,
        }
    }
    let cancel = async move {
        if !cancelled {
            cancel.await;
        }
    };
    if config.shards == 1 {
        return recover_one_shard(config, node, progress, cancel).await;
    }
    recover_shards(config, node, progress, cancel).await
}

/// An index of one shard: it waits for one of the node's slots (at once, unless other indices
/// hold them all), then recovers into the target itself. Its clock runs from before the wait,
/// as an index's of several shards does: time spent queued for a slot is part of its duration.
/// Cancelled or out of time while it waits, it fails saying so (after a recovery that stops at
/// once, so the report has every field).
async fn recover_one_shard(
    mut config: FollowerConfig,
    node: Arc<FollowerNode>,
    progress: Arc<Progress>,
    cancel: impl Future<Output = ()>,
) -> Result<RecoveryReport, FollowerError> {
    let one = ShardOf {
        shard: 0,
        shards: 1,
    };
    let out_of_time = async {
        match config.time_limit {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let began = Instant::now();
    tokio::pin!(cancel);
    let slot = tokio::select! {
        permit = node.slots().clone().acquire_owned() => permit.map_err(|_| INTERRUPTED_WAITING),
        () = &mut cancel => Err(INTERRUPTED_WAITING),
        () = out_of_time => Err(OUT_OF_TIME_WAITING),
    };
    let waited = began.elapsed();
    let never_started = slot.as_ref().err().copied();
    config.time_limit = match never_started {
        None => config.time_limit.map(|limit| limit.saturating_sub(waited)),
        // Only the (ready) cancellation stops it, so the report says why.
        Some(_) => None,
    };
    let stop = async move {
        if never_started.is_none() {
            cancel.await;
        }
    };
    let mut report = recover_shard(config, one, node.clone(), progress.clone(), stop).await?;
    drop(slot);
    node.close();
    if let Some(why) = never_started {
        report.outcome = Outcome::Failed;
        report.failure = Some(why.to_string());
    }
    if waited >= Duration::from_millis(1) {
        report.started_at -= waited.as_secs_f64();
        report.duration_s += waited.as_secs_f64();
        report.throughput_mib_s = mib_per_sec(
            report.bytes.saturating_sub(report.bytes_resumed),
            Duration::from_secs_f64(report.duration_s),
        );
    }
    report.pings_sent = node.pings_sent();
    Progress::set(&progress.pings_sent, report.pings_sent);
    Ok(report)
}

/// Why a shard never started: cancelled while it waited for a slot.
const INTERRUPTED_WAITING: &str =
    "interrupted while it waited for a slot (node_initial_primaries_recoveries)";

/// Why a shard never started: the time limit passed while it waited for a slot.
const OUT_OF_TIME_WAITING: &str =
    "the time limit passed while it waited for a slot (node_initial_primaries_recoveries)";

/// The dialers the configuration asks for ([`chosen_dialers`]); an API key is refused here,
/// before anything is sent, unless every dialer encrypts (or plaintext is allowed).
fn dialers_of(config: &FollowerConfig) -> Result<Vec<Arc<dyn Dialer>>, FollowerError> {
    let dialers = chosen_dialers(config)?;
    let sends_key = config.credentials.as_ref().is_some_and(|c| c.is_api_key());
    let in_clear_text = dialers.iter().any(|d| !d.encrypted());
    if in_clear_text && sends_key && !config.allow_plaintext_credentials {
        return Err(FollowerError::Credentials(ApiKeyError::Plaintext {
            side: "this follower",
        }));
    }
    Ok(dialers)
}

/// The one given, else QUIC, TLS or TCP to each gateway of `leader` (a comma-separated list in
/// sniff mode, of which the first `node_connections` are used; proxy mode has one
/// `proxy_address`).
fn chosen_dialers(config: &FollowerConfig) -> Result<Vec<Arc<dyn Dialer>>, FollowerError> {
    if let Some(dialer) = &config.dialer {
        return Ok(vec![dialer.clone()]);
    }
    let addresses: Vec<&str> = config.leader.split(',').map(str::trim).collect();
    if config.settings.mode == RemoteMode::Proxy && addresses.len() > 1 {
        return Err(FollowerError::Settings(OutOfRange {
            setting: "cluster.remote.<alias>.proxy_address",
            flag: "from",
            value: config.leader.clone(),
            range: "is one address in proxy mode (a load balancer in front of the cluster)",
        }));
    }
    let gateways = config.settings.node_connections.max(1) as usize;
    Ok(addresses
        .into_iter()
        .take(gateways)
        .map(|addr| -> Arc<dyn Dialer> {
            match (&config.quic, &config.tls) {
                (Some(client), _) => Arc::new(QuicDialer {
                    addr: addr.to_string(),
                    client: client.clone(),
                }),
                (None, Some(client)) => Arc::new(TlsDialer {
                    addr: addr.to_string(),
                    client: client.clone(),
                }),
                (None, None) => Arc::new(TcpDialer {
                    addr: addr.to_string(),
                }),
            }
        })
        .collect())
}

/// Most shards of an index rrbench restores (each is a directory, a session and a window).
pub const MAX_SHARDS: u32 = 1024;

/// How often the index's progress is summed from its shards'.
const SUM_EVERY: Duration = Duration::from_millis(20);

async fn recover_shards(
    config: FollowerConfig,
    node: Arc<FollowerNode>,
    progress: Arc<Progress>,
    cancel: impl Future<Output = ()>,
) -> Result<RecoveryReport, FollowerError> {
    let shards = config.shards;
    claim_parent(&config)?;
    let clock = config.clock;
    let began = Instant::now();
    let started_at = clock.elapsed().as_secs_f64();
    let sampler = Sampler::start(progress.clone(), clock, config.sample_interval);
    let (cancelled, cancel_seen) = watch::channel(false);
    let slots = node.slots().clone();
    let deadline = config.time_limit.map(|l| began + l);
    let parts: Vec<Arc<Progress>> = (0..shards).map(|_| Arc::default()).collect();
    let mut running = JoinSet::new();
    let mut done: Vec<(u32, Result<RecoveryReport, String>)> = Vec::new();
    let mut error = None;
    let mut next = 0;
    let mut ticker = tokio::time::interval(SUM_EVERY);
    // Shard `next`'s task, holding `permit` (one of the node's slots) until it ends.
    let shard_task = |next: u32, permit: Option<OwnedSemaphorePermit>| {
        let shard = ShardOf {
            shard: next,
            shards,
        };
        let mut shard_config = config.clone();
        shard_config.target = shard_dir(&config.target, next, shards);
        shard_config.seed = shard_seed(config.seed, next);
        // The index's time limit, not a fresh one per shard.
        shard_config.time_limit = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let (node, part) = (node.clone(), parts[next as usize].clone());
        let mut cancel_seen = cancel_seen.clone();
        async move {
            let until_cancelled = async move {
                let _ = cancel_seen.wait_for(|c| *c).await;
            };
            let report = recover_shard(shard_config, shard, node, part, until_cancelled).await;
            drop(permit);
            (shard.shard, report)
        }
    };
    tokio::pin!(cancel);
    loop {
        let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        let stopping = *cancelled.borrow() || out_of_time || error.is_some();
        if stopping && next == 0 {
            // Shard 0 runs whatever happens (and stops at once), so the index has a report to
            // fold into.
            running.spawn(shard_task(0, None));
            next = 1;
        }
        // Shards start in order, each as soon as one of the node's slots is free.
        while !stopping && next < shards {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            running.spawn(shard_task(next, Some(permit)));
            next += 1;
        }
        let waiting = !stopping && next < shards;
        if running.is_empty() && !waiting {
            break;
        }
        tokio::select! {
            // Every slot was held (by this index's shards or another index's on the node).
            Ok(permit) = slots.clone().acquire_owned(), if waiting => {
                running.spawn(shard_task(next, Some(permit)));
                next += 1;
            }
            Some(joined) = running.join_next() => match joined {
                Ok((shard, Ok(report))) => done.push((shard, Ok(report))),
                Ok((_, Err(e))) => {
                    // A shard that cannot even start (its target refused) stops the index.
                    error.get_or_insert(e);
                    let _ = cancelled.send(true);
                }
                Err(e) => {
                    error.get_or_insert(FollowerError::Target(IndexError::Io {
                        path: config.target.clone(),
                        source: std::io::Error::other(format!(
                            "internal error: a shard's task failed: {e}"
                        )),
                    }));
                    let _ = cancelled.send(true);
                }
            },
            _ = ticker.tick() => sum_progress(&parts, &progress, &node),
            _ = &mut cancel, if !*cancelled.borrow() => {
                let _ = cancelled.send(true);
            }
        }
    }
    let why = if *cancelled.borrow() {
        INTERRUPTED_WAITING
    } else {
        OUT_OF_TIME_WAITING
    };
    done.extend((next..shards).map(|s| (s, Err(why.to_string()))));
    sum_progress(&parts, &progress, &node);
    let duration_s = began.elapsed().as_secs_f64();
    node.close();
    let timeseries = sampler.finish().await;
    if let Some(e) = error {
        return Err(e);
    }
    let first = done
        .iter()
        .position(|(s, r)| *s == 0 && r.is_ok())
        .map(|i| done.swap_remove(i).1);
    let Some(Ok(first)) = first else {
        return Err(FollowerError::Target(IndexError::Io {
            path: config.target.clone(),
            source: std::io::Error::other("internal error: shard 0 has no report"),
        }));
    };
    Ok(combine(
        first,
        done,
        IndexTotals {
            started_at,
            duration_s,
            timeseries,
            pings_sent: node.pings_sent(),
        },
    ))
}

/// Claims the target for the shards' directories: a previous recovery's files in it (an index
/// of one shard) are removed; anything not rrbench's is refused.
fn claim_parent(config: &FollowerConfig) -> Result<(), IndexError> {
    let parent = TargetDir::prepare(&config.target)?;
    parent.remove_files_but_shards(config.shards)
}

/// The index's counters are the sums of its shards' (attempt: the highest; failures: all);
/// pings are the node's, counted once per connection.
fn sum_progress(parts: &[Arc<Progress>], total: &Progress, node: &FollowerNode) {
    total.set_sum_of(parts, Some("shard"));
    Progress::set(&total.pings_sent, node.pings_sent());
}
