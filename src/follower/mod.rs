//! The follower: recovers a leader's index into a local directory.
//!
//! [`recovery`] is the whole recovery as a pure state machine (attempts, retries, timeouts, byte
//! accounting; every policy's decisions), built on [`window`] (which chunk next), [`ledger`] (how
//! far each file has come, with [`assembler`] folding checksums) and [`failure`] (what an error
//! means). [`engine`] is its driver over sockets and files: it performs the machine's actions
//! through a [`crate::transport::dial::Dialer`] and the target directory ([`store`]) and feeds
//! back what happened, for one shard. [`index_recovery`] restores every shard of an index, up
//! to `node_initial_primaries_recoveries` at once, sharing one [`node`] (the node's rate limiter
//! and its connection to the leader). [`progress`] and [`report`] (with [`shard_report`]) are
//! what it tells the user; [`policy`] holds the policies' numbers (backoffs, timeouts).

pub mod assembler;
pub mod breakdown;
pub mod config;
pub mod engine;
pub mod failure;
pub mod fault_times;
pub mod index_recovery;
pub mod ledger;
pub mod node;
pub mod policy;
pub mod progress;
pub mod recovery;
pub mod report;
pub mod series;
pub mod shard_report;
mod store;
pub mod window;

pub use breakdown::{Activity, RequestSample, TimeBreakdown};
pub use config::{FollowerConfig, FollowerError};
pub use failure::Failure;
pub use fault_times::fault_times;
pub use index_recovery::{recover, recover_on};
pub use node::NodeThrottles;
pub use progress::Progress;
pub use recovery::Recovery;
pub use report::{
    FailureKind, FailureRecord, FaultTimes, Outcome, REPORT_SCHEMA, RecoveryReport, ShardReport,
};
pub use series::Sample;
