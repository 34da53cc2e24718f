//! `rrbench agent`: serve the agent's API until SIGINT or SIGTERM, then stop every rig.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::Context;
use clap::Args;
use rrbench::{
    agent::{Agent, AgentConfig, rigs::Limits},
    transport::certs::CertificatePaths,
    units::ByteSize,
};
use tokio::signal::unix::{SignalKind, signal};

use crate::{cli::parse_listen_address, output::errln};

/// Options of `rrbench agent`.
///
/// A campaign on another host runs its leader here with `[hosts] leader = "agent://HOST:PORT"`;
/// its followers stay on that host. The API is HTTPS only, and every request needs a REST API
/// key from --api-keys.
///
/// Set-up on the agent's host:
///   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
///     -keyout agent.key -out agent.crt -subj /CN=hostA -addext subjectAltName=IP:10.0.0.5
///   rrbench api-key --type rest --keys-file agent-keys.txt --key-file campaign.key
///   rrbench agent --listen 10.0.0.5:7070 --cert agent.crt --key agent.key \
///     --api-keys agent-keys.txt --data-dir /var/lib/rrbench
/// Then copy agent.crt (as hosts.ca) and campaign.key (as hosts.api_key_file) to the
/// campaign's host.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct AgentArgs {
    /// Where the API listens, IP:PORT; the rigs it starts listen on the same IP.
    #[arg(long, default_value = "127.0.0.1:7070", value_parser = parse_listen_address)]
    pub listen: String,
    /// The agent's certificate chain (PEM).
    #[arg(long, value_name = "PEM")]
    pub cert: PathBuf,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "PEM")]
    pub key: PathBuf,
    /// The keys file of the API keys it takes (`rrbench api-key --type rest`).
    #[arg(long, value_name = "FILE")]
    pub api_keys: PathBuf,
    /// Where indices are generated (and kept, for the next campaign) and rigs keep their files.
    #[arg(long, value_name = "DIR", default_value = "rrbench-agent")]
    pub data_dir: PathBuf,
    /// The largest index a campaign may have generated here (every shard together); the
    /// filesystem of --data-dir must also have room for it.
    #[arg(long, value_name = "SIZE", default_value = "64gb")]
    pub max_index_size: ByteSize,
    /// The most files a shard of a campaign's index may have.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_files: u32,
    /// The ports the leaders' proxies listen on, FIRST-LAST (default: any free port), so a
    /// firewall or `docker run -p` can open exactly those to the campaign's hosts. Anyone who
    /// reaches them can recover the index, as from a leader's transport port. A QUIC cell's
    /// proxy listens on UDP: open the range for UDP too. A fan-in cell takes a port per
    /// leader cluster.
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_port_range)]
    pub rig_ports: Option<(u16, u16)>,
}

fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (first, last) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not FIRST-LAST (e.g. 17000-17099)"))?;
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{p:?} is not a port (1 to 65535)"))
    };
    let (first, last) = (port(first)?, port(last)?);
    if first > last {
        return Err(format!("{first} is above {last}"));
    }
    Ok((first, last))
}

pub async fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let config = AgentConfig {
        listen: args.listen.clone(),
        identity: CertificatePaths {
            cert: args.cert.clone(),
            key: args.key.clone(),
        },
        api_keys: args.api_keys.clone(),
        data_dir: args.data_dir.clone(),
        limits: Limits {
            max_index_size: args.max_index_size,
            max_files: args.max_files,
            rig_ports: args.rig_ports,
        },
    };
    let started = std::time::Instant::now();
    let log: rrbench::agent::Log = Arc::new(move |line: String| {
        errln!("[agent {:>9.3}s] {line}", started.elapsed().as_secs_f64());
    });
    let agent = Agent::start(config, log)
        .await
        .context("the agent cannot start")?;
    errln!(
        "agent on https://{} (API keys from {}, data in {}); SIGINT or SIGTERM to stop",
        agent.local_addr(),
        args.api_keys.display(),
        args.data_dir.display()
    );
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    errln!("stopping: every rig");
    agent.stop().await;
    Ok(ExitCode::SUCCESS)
}
