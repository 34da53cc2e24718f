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
    sync::{Semaphore, watch},
    task::JoinSet,
    time::Instant,
};

use super::{
    config::{FollowerConfig, FollowerError, connect_options},
    engine::{ShardOf, recover_shard},
    node::FollowerNode,
    progress::{Progress, Sampler},
    report::RecoveryReport,
    shard_report::{IndexTotals, combine},
};
use crate::{
    index::{IndexError, TargetDir, shard_dir, shard_seed},
    settings::OutOfRange,
    transport::dial::{Dialer, QuicDialer, TcpDialer},
    vocabulary::RemoteMode,
};

/// Recovers every shard of the index, each attempt after attempt as the policy allows, until
/// all are verified or have failed for good, the time limit passes, or `cancel` completes.
/// Returns the report either way.
pub async fn recover(
    config: FollowerConfig,
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
        config.settings.max_bytes_per_sec,
        dialers_of(&config)?,
        config.leader.split(',').count(),
        connect_options(&config, config.settings.policy),
    ));
    if config.shards == 1 {
        let one = ShardOf {
            shard: 0,
            shards: 1,
        };
        let mut report = recover_shard(config, one, node.clone(), progress.clone(), cancel).await?;
        node.close();
        report.pings_sent = node.pings_sent();
        Progress::set(&progress.pings_sent, report.pings_sent);
        return Ok(report);
    }
    recover_shards(config, node, progress, cancel).await
}

/// The dialers the configuration asks for: the one given, else QUIC or TCP to each gateway of
/// `leader` (a comma-separated list in sniff mode, of which the first `node_connections` are
/// used; proxy mode has one `proxy_address`).
fn dialers_of(config: &FollowerConfig) -> Result<Vec<Arc<dyn Dialer>>, FollowerError> {
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
            match &config.quic {
                Some(client) => Arc::new(QuicDialer {
                    addr: addr.to_string(),
                    client: client.clone(),
                }),
                None => Arc::new(TcpDialer {
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
    let slots = Arc::new(Semaphore::new(
        config.settings.node_initial_primaries_recoveries as usize,
    ));
    let deadline = config.time_limit.map(|l| began + l);
    let parts: Vec<Arc<Progress>> = (0..shards).map(|_| Arc::default()).collect();
    let mut running = JoinSet::new();
    let mut done: Vec<(u32, Result<RecoveryReport, String>)> = Vec::new();
    let mut error = None;
    let mut next = 0;
    let mut ticker = tokio::time::interval(SUM_EVERY);
    tokio::pin!(cancel);
    loop {
        let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        // Shard 0 starts whatever happens, so the index always has a report to fold into.
        let starting = next == 0 || (!*cancelled.borrow() && !out_of_time && error.is_none());
        // Shards start in order, each as soon as a slot is free (shard 0 at once).
        while starting && next < shards {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
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
            running.spawn(async move {
                let until_cancelled = async move {
                    let _ = cancel_seen.wait_for(|c| *c).await;
                };
                let report = recover_shard(shard_config, shard, node, part, until_cancelled).await;
                drop(permit);
                (shard.shard, report)
            });
            next += 1;
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
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
        "interrupted while it waited for a slot (node_initial_primaries_recoveries)"
    } else {
        "the time limit passed while it waited for a slot (node_initial_primaries_recoveries)"
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
