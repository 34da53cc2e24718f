//! The follower: recovers a leader's index into a local directory.
//!
//! [`window`] and [`assembler`] are the pure logic (which chunk next, when a file is whole);
//! [`engine`] drives them over a [`crate::transport::tcp::Channel`], throttles, writes, verifies
//! and retries per policy; [`progress`] and [`report`] are what it tells the user. The only
//! policy so far is Elasticsearch's: any failed chunk request aborts the attempt, and the next
//! attempt opens a new session on an emptied target.

pub mod assembler;
pub mod engine;
pub mod fault_times;
pub mod policy;
pub mod progress;
pub mod report;
mod store;
mod transfer;
pub mod window;

pub use engine::{FollowerConfig, FollowerError, recover};
pub use fault_times::{FaultTimes, fault_times};
pub use policy::Policy;
pub use progress::{Progress, Sample};
pub use report::{FailureKind, FailureRecord, Outcome, REPORT_SCHEMA, RecoveryReport};
