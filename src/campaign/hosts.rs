//! A campaign's `[hosts]` table: where its leader (and the chaos in front of it) runs.
//!
//! By default everything runs in this process. With `leader = "agent://HOST:PORT"` each trial's
//! leader and injector run on that host, started by `rrbench agent` there; the followers stay
//! here and dial it across the network, and both sides' events are put on one timeline with
//! the hosts' clock offset.
//!
//! ```toml
//! [hosts]
//! leader = "agent://10.0.0.5:7070"
//! ca = "agent-ca.pem"          # the CA that issued the agent's certificate (or the certificate)
//! api_key_file = "agent.key"   # id:secret, made by `rrbench api-key --type rest`
//! # server_name = "agent-a"    # the name to verify, if the certificate lacks HOST
//! ```
//!
//! Paths are relative to the directory `rrbench campaign run` runs in.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::spec::CampaignSpec;
use crate::agent_api::AgentUrl;

/// Where a campaign's parts run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hosts {
    /// `agent://HOST:PORT`: the leader and the chaos run on that host's agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// The agent's CA (or certificate) to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// The API key (`id:secret`) for the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// The name the agent's certificate must carry (default: the URL's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

impl Hosts {
    /// The leader's agent, if the leader runs on one (checked by [`check`]).
    pub fn leader_agent(&self) -> Option<AgentUrl> {
        self.leader.as_deref().and_then(|l| l.parse().ok())
    }
}

/// Whether `cell` can run with its `[hosts]`: the key it names and why not.
pub fn check(cell: &CampaignSpec) -> Result<(), (&'static str, String, String)> {
    let hosts = &cell.hosts;
    let Some(leader) = &hosts.leader else {
        return Ok(());
    };
    let shown = format!("{leader:?}");
    leader
        .parse::<AgentUrl>()
        .map_err(|why| ("hosts.leader", shown.clone(), why))?;
    if hosts.ca.is_none() || hosts.api_key_file.is_none() {
        return Err((
            "hosts.leader",
            shown,
            "an agent is reached over TLS with an API key: give hosts.ca (the CA of the agent's \
             certificate) and hosts.api_key_file (made by `rrbench api-key --type rest`)"
                .into(),
        ));
    }
    runs_on_agent(cell).map_err(|why| ("hosts.leader", shown, why))
}

/// Whether an agent runs `cell`'s rig: what it does not run yet, each with why. The agent asks
/// this of every cell it is sent, whatever the cell's `[hosts]` says.
///
/// It runs TCP (plain or `settings.tls`) and QUIC leaders, their certificate issued by a CA the
/// agent makes for the rig and hands the campaign; fan-in (`leaders > 1`, each cluster one of
/// the agent's [`crate::agent_api::wire::MAX_RIGS`] slots); faults at L4 (its proxies) or L3 (a
/// link on its host, which the campaign reaches through the agent's forward into it,
/// `agent/forward.rs`; the agent checks its host forwards); and a time limit of at most
/// [`MAX_TIME_LIMIT`].
pub fn runs_on_agent(cell: &CampaignSpec) -> Result<(), String> {
    if cell.leaders as usize > crate::agent_api::wire::MAX_RIGS {
        return Err(format!(
            "a fan-in trial on an agent runs at most {} leader clusters (leaders = {})",
            crate::agent_api::wire::MAX_RIGS,
            cell.leaders
        ));
    }
    if cell.time_limit > MAX_TIME_LIMIT {
        return Err(format!(
            "a trial on an agent runs at most {} (time_limit): the agent stops a rig nobody \
             stopped after twice that",
            crate::units::format_duration(MAX_TIME_LIMIT)
        ));
    }
    Ok(())
}

/// Whether `cell`'s leader on an agent needs a certificate the campaign verifies (TLS over
/// TCP, or QUIC): the agent then makes a CA for the rig and hands its certificate over.
pub fn needs_leader_ca(cell: &CampaignSpec) -> bool {
    cell.settings.tls || cell.settings.transport == crate::vocabulary::Transport::Quic
}

/// The longest `time_limit` of a trial on an agent.
pub const MAX_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(86_400);
