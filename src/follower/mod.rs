//! The follower: recovers a leader's index into a local directory.
//!
//! [`recovery`] is the whole recovery as a pure state machine (attempts, retries, timeouts, byte
//! accounting; every policy's decisions), built on [`window`] (which chunk next), [`ledger`] (how
//! far each file has come, with [`assembler`] folding checksums) and [`failure`] (what an error
//! means). [`engine`] is its driver over sockets and files: it performs the machine's actions
//! through a [`crate::transport::dial::Dialer`] and the target directory ([`store`]) and feeds
//! back what happened. [`progress`] and [`report`] are what it tells the user; [`policy`] holds
//! the policies' numbers (backoffs, timeouts).

pub mod assembler;
pub mod breakdown;
pub mod config;
pub mod engine;
pub mod failure;
pub mod fault_times;
pub mod ledger;
pub mod policy;
pub mod progress;
pub mod recovery;
pub mod report;
pub mod series;
mod store;
pub mod window;

pub use breakdown::{Activity, RequestSample, TimeBreakdown};
pub use config::{FollowerConfig, FollowerError};
pub use engine::recover;
pub use failure::Failure;
pub use fault_times::fault_times;
pub use progress::Progress;
pub use recovery::Recovery;
pub use report::{FailureKind, FailureRecord, FaultTimes, Outcome, REPORT_SCHEMA, RecoveryReport};
pub use series::Sample;
