//! Campaigns: declarative TOML matrices of settings × faults × repetitions.
//!
//! This module owns the pure half: parsing and checking a campaign file ([`spec`]), expanding
//! its matrix into trials in a seeded run order ([`matrix`]), and the throughput each trial
//! should reach ([`model`]). Running trials and writing results build on these.

pub mod matrix;
pub mod model;
pub mod spec;

pub use matrix::Trial;
pub use model::model_throughput_mib_s;
pub use spec::{Campaign, CampaignError, CampaignSpec, IndexSpec};
