//! Campaigns: declarative TOML matrices of settings × faults × repetitions.
//!
//! This module owns the pure half: parsing and checking a campaign file ([`spec`]), expanding
//! its matrix into trials in a seeded run order ([`matrix`]), the throughput each trial
//! should reach ([`model`]), what each trial should show ([`expect`]), and how the reports of a
//! trial's many followers become the trial's ([`fanout`]), and where its parts run ([`hosts`]). [`runner`] runs the
//! trials in-process and writes their results.

pub mod expect;
pub mod fanout;
pub mod hosts;
pub mod matrix;
pub mod model;
pub mod remote;
pub mod runner;
mod scratch;
pub mod spec;

pub use expect::{ExpectWhen, Expectations, Shares};
pub use matrix::Trial;
pub use model::model_throughput_mib_s;
pub use runner::{RunError, RunEvent, RunOptions, RunSummary, run};
pub use spec::{Campaign, CampaignError, CampaignSpec, IndexSpec};
