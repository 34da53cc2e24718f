//! Campaigns: declarative TOML matrices of settings × faults × repetitions.
//!
//! This module owns the pure half: parsing and checking a campaign file ([`spec`]), expanding
//! its matrix into trials in a seeded run order ([`matrix`]), and the throughput each trial
//! should reach ([`model`]), and what each trial should show ([`expect`]). [`runner`] runs the
//! trials in-process and writes their results.

pub mod expect;
pub mod matrix;
pub mod model;
pub mod runner;
mod scratch;
pub mod spec;

pub use expect::{ExpectWhen, Expectations};
pub use matrix::Trial;
pub use model::model_throughput_mib_s;
pub use runner::{RunError, RunEvent, RunOptions, RunSummary, run};
pub use spec::{Campaign, CampaignError, CampaignSpec, IndexSpec};
