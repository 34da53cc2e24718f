//! Command-line definitions (clap derive). Each subcommand's options map onto the library's
//! settings structs; ranges are checked there, so the CLI, the demo and campaign files agree.
//! Values that name a choice (`--policy`, `--transport`, ...) parse as the words of
//! [`rrbench::vocabulary`].

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use rrbench::{
    auth::{
        API_KEY_ENV, AUTH_TOKEN_ENV, ApiKey, ApiKeyError, ApiKeys, AuthToken, AuthTokenError,
        Credentials, KeyType, TokenSource,
    },
    chaos::Fault,
    settings::{LeaderSettings, RecoverySettings},
    transport::quic::TlsClient,
    units::{ByteSize, parse_duration, parse_optional_duration},
    vocabulary::{
        CongestionControl, ConnectionProfile, LeaderFlavor, Policy, RemoteMode, Transport, ZeroCopy,
    },
};

use crate::recover_output::{Every, OutputOptions, Units, parse_interval};

/// Benchmark and chaos toolkit for remote recovery throughput.
///
/// rrbench reproduces Elasticsearch cross-cluster replication's remote recovery over real
/// sockets: a leader serves an index directory, a follower pulls it as concurrent, rate-limited,
/// checksum-verified chunk requests. Sizes are written as Elasticsearch writes them (1mb = 1 MiB,
/// 512kb, 40mb), durations too (500ms, 60s, 5m).
///
/// Try it: `rrbench demo`. Or by hand:
///   rrbench gen-index --dir /tmp/leader --size 1gb --files 40 --seed 7
///   rrbench leader --dir /tmp/leader --listen 127.0.0.1:9443
///   rrbench recover --from 127.0.0.1:9443 --dir /tmp/follower
#[derive(Debug, Parser)]
#[command(name = "rrbench", version, verbatim_doc_comment)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// rrbench's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The story in under a minute: Elasticsearch's defaults, a WAN against the window model,
    /// stunnel's idle timeout with and without a ping, a reset under restart-from-zero and
    /// resume; the runs side by side and a report.html.
    Demo(DemoArgs),
    /// Write a deterministic, incompressible index shaped like a Lucene shard.
    GenIndex(GenIndexArgs),
    /// Serve an index directory to followers until Ctrl-C.
    Leader(LeaderArgs),
    /// Recover an index from a leader into a directory, verifying every file.
    Recover(RecoverArgs),
    /// Relay TCP between follower and leader, injecting faults, until Ctrl-C.
    Proxy(ProxyArgs),
    /// Serve toxiproxy's HTTP API with no proxy yet, as toxiproxy-server does: toxiproxy's
    /// clients create proxies and toxics on it, and rrbench's faults are toxics too.
    ServeApi(ServeApiArgs),
    /// Join a network namespace for the leader to this host through a packet pump that injects
    /// faults on every IP packet (needs root), until Ctrl-C.
    Link(LinkArgs),
    /// Measure the path to a leader as a recovery uses it (RTT, throughput, idle timeout) and
    /// print the Elasticsearch settings that fit it.
    Probe(ProbeArgs),
    /// Run declarative campaigns: settings x faults x repetitions, with results on disk.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Plot a campaign's results: writes plots/*.svg and *.png, report.md and a self-contained
    /// report.html (plots embedded; opens without network) into the results directory.
    Report(ReportArgs),
    /// Compare a baseline results directory with a contender, condition by condition: medians,
    /// difference, 95% bootstrap interval, Mann-Whitney p and a verdict per metric.
    Compare(CompareArgs),
    /// Make a cross-cluster API key: its hash goes into a leader's keys file (--api-keys), the
    /// key itself into a file for the follower (--api-key-file).
    ApiKey(ApiKeyArgs),
    /// Run leaders and chaos for campaigns on other hosts: an HTTPS API (with API keys) that
    /// starts and stops a campaign cell's leader and proxy here, serves their events and its
    /// clock, until SIGINT or SIGTERM.
    Agent(crate::agent_command::AgentArgs),
}

/// Options of `rrbench api-key`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Example:
  rrbench api-key --keys-file leader-keys.txt --key-file dc2.key --index 'logs-*'
  rrbench leader --tls --api-keys leader-keys.txt ...
  rrbench recover --tls --ca ca.pem --api-key-file dc2.key ...

The keys file has one key a line: id, type, index names (comma-separated, * matches any run of
characters), and the argon2id hash of the secret. Only the hash is stored on the leader; the
secret is in the key file alone (id:secret, readable by its owner only). A key is refused with
the cause named as Elasticsearch names it: invalid credentials, a `rest` key where a
`cross_cluster` key is expected, or an index its names do not include.")]
pub struct ApiKeyArgs {
    /// The leader's keys file: the new key's line is appended (the file is made, owner-only,
    /// if missing).
    #[arg(long, value_name = "PATH")]
    pub keys_file: PathBuf,
    /// Where to write the key for the follower (id:secret); an existing file is not replaced.
    #[arg(long, value_name = "PATH")]
    pub key_file: PathBuf,
    /// The key's id (letters, digits, '-', '_', '.'); default: a random one.
    #[arg(long)]
    pub id: Option<String>,
    /// cross_cluster (what a follower uses), or rest (refused by a leader, as Elasticsearch
    /// refuses REST keys for remote clusters; for testing that refusal).
    #[arg(long = "type", default_value = "cross_cluster", value_parser = parse_key_type)]
    pub key_type: KeyType,
    /// An index name the key may recover, * matching any run of characters (repeatable).
    /// Default: every index (*).
    #[arg(long = "index", value_name = "NAME")]
    pub indices: Vec<String>,
}

fn parse_key_type(text: &str) -> Result<KeyType, String> {
    text.parse()
}

/// Options of `rrbench report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results directory written by `rrbench campaign run` (results/<campaign>/<stamp>-<seed>).
    pub dir: PathBuf,
}

/// Options of `rrbench compare`. The subcommand's doc comment is its `about`; the rest of its
/// `--help` is the `after_long_help` below (a variant's doc comment replaces the struct's).
#[derive(Debug, Args)]
#[command(after_long_help = "\
Runs: each of BASELINE and CONTENDER is one of
  results/smoke/20260101T120000Z-1   a run directory (it holds trials.jsonl)
  results/smoke                      a campaign directory: its newest run, by the start
                                     time in the run's name (<stamp>-<seed>)
  results/smoke@ID                   the run of results/smoke named ID, or whose name
                                     starts with ID, e.g. results/smoke@20260101T12
When no run is the obvious one (an id prefix fitting several, two runs started in the same
second, runs not named <stamp>-<seed>), or a glob gives more than two runs, the error lists the
runs to choose from.

It prints what differs between the runs (campaign settings with their --set and --seed,
faults, rrbench version, machine; \"identical\" when nothing does), the table, and a tally of
every row (too few samples and one-sided conditions included). Runs of two different campaigns
are refused unless --force. It writes compare.md, compare.json and compare.csv.

Trials are matched by their matrix values; different repetition counts are fine and a
condition run on one side only is listed as such. Verdicts: \"no change\" when the
Mann-Whitney p is at or above --significance; \"within noise\" when the interval of the
difference reaches into +-noise-threshold of the baseline median; otherwise \"improved\" or
\"regressed\", by which way the metric is better. With fewer than 4 repetitions per side no
difference can reach p < 0.05: run 5 or more. Warnings: a median trial under a second (set-up
noise dominates), and an A/A comparison (nothing differs) that moved beyond the noise threshold.

Exit codes: 0 compared (whatever the verdicts); 3 a confident regression with
--fail-on-regression; 2 bad input (not a run, no run or several fitting, unknown metric,
different campaigns without --force).")]
pub struct CompareArgs {
    /// The reference run: RUN_DIR, CAMPAIGN_DIR (its newest run) or CAMPAIGN_DIR@ID.
    pub baseline: PathBuf,
    /// The run to judge against it, in the same forms.
    pub contender: PathBuf,
    /// More runs than two, refused with the list (what a glob such as results/smoke/* gives).
    #[arg(hide = true)]
    pub extra: Vec<PathBuf>,
    /// Metric to compare (repeatable): throughput_mib_s, duration_s, bytes_wasted, attempts,
    /// throughput_vs_model, time_to_recover_s. Default: throughput_mib_s and duration_s.
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
    /// Exit 3 if any metric regressed with confidence.
    #[arg(long)]
    pub fail_on_regression: bool,
    /// Compare runs of two different campaigns (trials are matched by matrix values only).
    #[arg(long)]
    pub force: bool,
    /// Where compare.md, compare.json, compare.csv and plots/compare-*.svg|png go (default:
    /// CONTENDER/compare, in the contender's run directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// p-value below which a difference counts as significant.
    #[arg(long, default_value_t = 0.05)]
    pub significance: f64,
    /// Relative change below which a significant difference is called noise (0.02 = 2%).
    #[arg(long, default_value_t = 0.02)]
    pub noise_threshold: f64,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 10_000)]
    pub resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `rrbench campaign ...`.
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Run every trial of a campaign file (see chaos/campaigns/ for examples) and write
    /// results/<campaign>/<stamp>/: campaign.toml, env.json, trials.jsonl, timeseries/,
    /// events/, summary.md, and a report (plots/, report.md, report.html). Exit 1 if an expectation fails, 2 if the file is invalid.
    Run(CampaignRunArgs),
}

/// Options of `rrbench campaign run`.
#[derive(Debug, Args)]
pub struct CampaignRunArgs {
    /// The campaign file (TOML).
    pub file: PathBuf,
    /// Results root.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Continue an interrupted run in this results directory (only unfinished trials run).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// List the trials in run order and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Override the file's seed (run order and every random choice).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a value of the file, e.g. --set settings.max_concurrent_file_chunks=1 or
    /// --set repetitions=5 (repeatable). Runs differing only in --set compare with
    /// `rrbench compare`; --resume needs the same --set flags.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Do not write plots and report.md/report.html at the end (run `rrbench report DIR` later).
    #[arg(long)]
    pub no_report: bool,
}

/// A duration, or `-1` for off (as `transport.ping_schedule: -1`). A newtype, because clap
/// reads a plain `Option` field as "flag may be absent".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffOrDuration(pub Option<Duration>);

fn parse_off_or_duration(text: &str) -> Result<OffOrDuration, rrbench::units::UnitError> {
    parse_optional_duration(text).map(OffOrDuration)
}

/// What an address should look like, for every message about one.
const HOST_PORT: &str = "expected HOST:PORT, e.g. 127.0.0.1:9300";

/// An address to connect to (`--from`, `--upstream`): `HOST:PORT` with a port from 1. Checked
/// before anything runs, so a missing port is bad input (exit 2), not a network failure that a
/// recovery retries `max_retries` times. Names are not resolved here.
pub fn parse_dial_address(text: &str) -> Result<String, String> {
    match parse_address(text)? {
        0 => Err(format!("port 0 cannot be connected to; {HOST_PORT}")),
        _ => Ok(text.to_string()),
    }
}

/// One address to connect to, or several separated by commas (a leader cluster's nodes), each
/// checked as [`parse_dial_address`] does.
pub fn parse_dial_addresses(text: &str) -> Result<String, String> {
    for one in text.split(',') {
        parse_dial_address(one.trim()).map_err(|e| format!("`{}`: {e}", one.trim()))?;
    }
    Ok(text.split(',').map(str::trim).collect::<Vec<_>>().join(","))
}

/// An address to listen on (`--listen`): `HOST:PORT`; port 0 lets the OS pick one.
pub fn parse_listen_address(text: &str) -> Result<String, String> {
    parse_address(text).map(|_| text.to_string())
}

/// The port of `HOST:PORT` (`[v6]:PORT` for an IPv6 address), or what is wrong with it (clap
/// names the flag and the value before it).
fn parse_address(text: &str) -> Result<u16, String> {
    let bad = |why: &str| Err(format!("{why}; {HOST_PORT}"));
    let (host, port) = match text.rsplit_once(':') {
        Some(_) if text.ends_with(']') => return bad("no port"),
        Some(split) => split,
        None => return bad("no port"),
    };
    let host_ok = match host.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')
            .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok()),
        None if host.contains(':') => {
            return bad("an IPv6 address goes in brackets, as in [::1]:9300");
        }
        None if host.is_empty() => return bad("no host"),
        None => host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
    };
    if !host_ok {
        return bad(&format!("`{host}` is not a host name or an IP address"));
    }
    match port.parse::<u16>() {
        Ok(port) => Ok(port),
        Err(_) if port.is_empty() => bad("no port"),
        Err(_) => bad(&format!("port `{port}` is not a number from 0 to 65535")),
    }
}

/// Options of `rrbench demo`.
#[derive(Debug, Args)]
#[command(
    allow_negative_numbers = true,
    after_long_help = "\
Runs chaos/campaigns/demo-story.toml (embedded in the binary) through the campaign runner, in
story order, over loopback with the in-process chaos proxy:
  1a Elasticsearch's defaults (40mb/s on both nodes), 1b the rate limit off;
  2  the same behind a 25 ms (each way) WAN, measured against the window model;
  3a stunnel's 2 s idle timeout on the 13-channel intra-cluster profile, no ping;
  3b the same with transport.ping_schedule; 3c and a reset at 2 s; 3d the same reset under
     the resumable policy.
`rrbench campaign run chaos/campaigns/demo-story.toml` runs the same trials (shuffled).

What stays: the results directory OUT/demo-story/<run>/ (trials.jsonl, timeseries/, events/,
plots/, report.md and a self-contained report.html). What goes, at the end, on an error and on
Ctrl-C: the index generated under OUT/.index-cache/ (unless --keep), and a results directory
without its report. The recovered copies are the runner's scratch, removed after each trial.

Exit codes: 0 the story went as told; 1 a step did not (named on stderr: its expectation from
the campaign file) or an error; 130 Ctrl-C."
)]
pub struct DemoArgs {
    /// Index size (default: the story's 64mb; 4mb with --quick).
    #[arg(long)]
    pub size: Option<ByteSize>,
    /// Number of files (default: the story's 12; 6 with --quick).
    #[arg(long)]
    pub files: Option<u32>,
    /// Seed for the index's sizes and bytes (default: the story's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the results and report.html go (OUT/demo-story/<run>/), and the index while it
    /// runs (OUT/.index-cache/).
    #[arg(long, default_value = "results/demo")]
    pub out: PathBuf,
    /// A few seconds instead of under a minute: a 4 MiB index, step 3's leader at 4mb/s, its
    /// idle timeout at 300ms, ping at 100ms and reset at 500ms. Every step still runs.
    #[arg(long)]
    pub quick: bool,
    /// Keep the generated index under OUT/.index-cache/ (the next demo reuses it) and print
    /// its path.
    #[arg(long)]
    pub keep: bool,
}

/// Options of `rrbench gen-index`.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct GenIndexArgs {
    /// Directory to write (created if missing; must be empty).
    #[arg(long)]
    pub dir: PathBuf,
    /// Total size over all files (of each shard, with --shards).
    #[arg(long, default_value = "1gb")]
    pub size: ByteSize,
    /// Number of files: a few large segment files, many small ones, and a segments_N.
    #[arg(long, default_value_t = 40)]
    pub files: u32,
    /// Seed: the same seed always writes the same bytes.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Shards: more than one writes DIR/0, DIR/1, ..., each of --size bytes in --files files
    /// (each shard from its own seed derived from --seed); `rrbench leader --dir DIR` serves
    /// them all and `rrbench recover --shards N` restores them.
    #[arg(long, default_value_t = 1)]
    pub shards: u32,
}

/// Options of `rrbench leader`.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct LeaderArgs {
    /// Index directory to serve (every regular, non-hidden file in it).
    #[arg(long)]
    pub dir: PathBuf,
    /// Address to listen on, HOST:PORT (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9443", value_parser = parse_listen_address)]
    pub listen: String,
    /// Leader nodes of the cluster (1-64), node i listening on PORT+i (all on free ports with
    /// port 0), each with its own max_bytes_per_sec limiter; shard s's primary is on node
    /// s % nodes, and a node asked for a shard it does not hold forwards the request to the one
    /// that does (a gateway, as in sniff mode). TCP only. Followers: --from with every address.
    #[arg(long, default_value_t = 1)]
    pub nodes: u32,
    /// ccr.indices.recovery.max_bytes_per_sec: node-wide limit applied before each chunk read,
    /// shared by all sessions; 0 = unlimited.
    #[arg(long, default_value = "40mb")]
    pub max_bytes_per_sec: ByteSize,
    /// ccr.indices.recovery.recovery_activity_timeout: a session with no chunk request for this
    /// long is closed at the next tick (it dies between T and 2T).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub recovery_activity_timeout: Duration,
    /// Connections served at once, TCP and QUIC alike; more TCP ones wait in the accept
    /// queue, more QUIC ones are refused.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: u32,
    /// Largest chunk a follower may request (1kb-1gb). A connection buffers at most two of
    /// them, so this bounds its memory; OpenSearch's chunk_size is 10mb by default.
    #[arg(long, default_value = "64mb")]
    pub max_chunk_size: ByteSize,
    /// Sessions open at once over all followers; more are refused with an error.
    #[arg(long, default_value_t = 1024)]
    pub max_sessions: u32,
    /// Sessions open at once that one connection opened.
    #[arg(long, default_value_t = 16)]
    pub max_sessions_per_connection: u32,
    /// Chunk requests in flight at once on one session; more are refused with an error
    /// (Elasticsearch's follower keeps at most max_concurrent_file_chunks, 1-10).
    #[arg(long, default_value_t = 32)]
    pub max_requests_per_session: u32,
    /// A new connection must send its Hello within this, and a request, once begun, must
    /// arrive whole within it; slower peers are disconnected.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,
    /// When every connection slot is taken, a connection that sent nothing for this long and
    /// owns no session is closed to make room (idle channels are otherwise left alone).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub idle_connection_timeout: Duration,
    /// Index name followers must ask for.
    #[arg(long, default_value = "index")]
    pub index_name: String,
    /// Serve Prometheus metrics on ADDR (/metrics), HOST:PORT: bytes served, sessions,
    /// requests, refusals, limiter wait (a cluster's nodes summed).
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_address)]
    pub metrics: Option<String>,
    /// The API keys (or the deprecated shared secret) followers must send.
    #[command(flatten)]
    pub auth: LeaderAuthArgs,
    /// Do not log sessions and refused requests.
    #[arg(long)]
    pub quiet: bool,
    /// tcp, or quic (UDP, TLS 1.3; one connection, a stream per channel).
    #[arg(long, default_value = "tcp")]
    pub transport: Transport,
    /// TCP: serve TLS (1.3, rustls). Followers then need --tls and --ca.
    #[arg(long)]
    pub tls: bool,
    /// QUIC or --tls: the certificate chain to present (PEM: the leader's certificate, then any
    /// intermediates). Without --cert/--key a self-signed certificate for the listen address
    /// and localhost is generated into a private directory (0700, key 0600) under the temporary
    /// directory and its path printed.
    #[arg(long, value_name = "PEM", requires = "key")]
    pub cert: Option<PathBuf>,
    /// QUIC or --tls: the certificate's private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,
    /// QUIC or --tls: keep the directory of the generated certificate and key when the leader
    /// stops. By default it is removed on Ctrl-C; its path is printed either way.
    #[arg(long, conflicts_with = "cert")]
    pub keep_cert: bool,
    /// --tls: require a client certificate issued by a CA in this PEM bundle (mTLS); the
    /// followers then need --cert and --key.
    #[arg(long, value_name = "PEM", requires = "tls")]
    pub client_ca: Option<PathBuf>,
    /// QUIC liveness of every connection.
    #[command(flatten)]
    pub quic: QuicLivenessArgs,
    /// Congestion control for the chunks it sends: system (TCP: the kernel's
    /// net.ipv4.tcp_congestion_control; QUIC: quinn's CUBIC), cubic, bbr or reno. Set it when
    /// comparing transports: the two defaults may differ.
    #[arg(long, default_value = "system")]
    pub congestion_control: CongestionControl,
    /// Whose leader to behave as: elasticsearch closes a session idle for
    /// --recovery-activity-timeout; opensearch (the CCR plugin) never expires one, so sessions a
    /// restarting follower leaves behind stay pinned (counted in the stats printed on exit).
    #[arg(long, default_value = "elasticsearch")]
    pub flavor: LeaderFlavor,
    /// How chunk bytes leave over plain TCP: auto (sendfile(2) from the page cache to
    /// followers on other hosts; on loopback reading costs the pair less), always (sendfile to
    /// every follower, loopback too: to test or measure that path on one machine) or never
    /// (read and write every chunk). Only chunks aligned to 64 KiB blocks (or ending a file) can
    /// go by sendfile; others, and TLS and QUIC, are always read.
    #[arg(long, default_value = "auto")]
    pub zero_copy: ZeroCopy,
    /// Listen inside this network namespace (a name from `ip netns list`, such as the one
    /// `rrbench link` prints, or a path like /run/netns/NAME).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
}

/// What a leader requires of followers: API keys, or the deprecated shared token.
#[derive(Debug, Args)]
pub struct LeaderAuthArgs {
    /// Serve only followers whose Hello carries a cross-cluster API key listed in this file (one
    /// key a line: id, type, index names, argon2 hash; `rrbench api-key` makes them). Keys
    /// travel only inside TLS: give --tls (or --transport quic), or
    /// --allow-plaintext-credentials.
    #[arg(long, value_name = "PATH")]
    pub api_keys: Option<PathBuf>,
    /// Accept API keys over plaintext TCP, where anyone on the path can read them: only on a
    /// network you trust.
    #[arg(long)]
    pub allow_plaintext_credentials: bool,
    /// The deprecated shared token.
    #[command(flatten)]
    pub token: AuthTokenArgs,
}

impl LeaderAuthArgs {
    /// The keys file's keys, if given; refused over plaintext unless allowed. `encrypted`: the
    /// leader serves TLS or QUIC.
    pub fn api_keys(
        &self,
        encrypted: bool,
    ) -> Result<Option<std::sync::Arc<ApiKeys>>, ApiKeyError> {
        let Some(path) = &self.api_keys else {
            return Ok(None);
        };
        if !encrypted && !self.allow_plaintext_credentials {
            return Err(ApiKeyError::Plaintext {
                side: "this leader's followers",
            });
        }
        ApiKeys::load(path).map(|keys| Some(std::sync::Arc::new(keys)))
    }
}

/// How a follower proves who it is: an API key from a file or the environment (never the
/// command line), or the deprecated shared token.
#[derive(Debug, Args)]
pub struct FollowerAuthArgs {
    /// Send the cross-cluster API key in this file (id:secret, as `rrbench api-key` writes it;
    /// a line break at its end is trimmed). Or set it in the environment variable
    /// RRBENCH_API_KEY.
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    /// Send an API key over plaintext TCP, where anyone on the path can read it: only on a
    /// network you trust. Without it, a key is sent only inside TLS or QUIC.
    #[arg(long)]
    pub allow_plaintext_credentials: bool,
    /// The deprecated shared token.
    #[command(flatten)]
    pub token: AuthTokenArgs,
}

impl FollowerAuthArgs {
    /// The credentials to send, if any: an API key ([`API_KEY_ENV`] or --api-key-file) or the
    /// token, not both. A key is refused before anything is sent when `encrypted` is false
    /// (plaintext TCP) and plaintext was not allowed; `side` names the sender in the message.
    pub fn credentials(
        &self,
        encrypted: bool,
        side: &'static str,
    ) -> Result<Option<Credentials>, ApiKeyError> {
        let key =
            ApiKey::from_sources(self.api_key_file.as_deref(), std::env::var_os(API_KEY_ENV))?;
        if let Some(path) = &self.api_key_file {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map(|m| m.permissions().mode());
            if mode.is_ok_and(|mode| mode & 0o077 != 0) {
                crate::output::errln!(
                    "warning: {} can be read by other users of this machine: chmod 600 it",
                    path.display()
                );
            }
        }
        let token = self.token.token()?;
        match (key, token) {
            (Some(_), Some(_)) => Err(ApiKeyError::BothKinds),
            (Some(_), None) if !encrypted && !self.allow_plaintext_credentials => {
                Err(ApiKeyError::Plaintext { side })
            }
            (Some(key), None) => Ok(Some(Credentials::ApiKey(key))),
            (None, token) => Ok(token.map(Credentials::Token)),
        }
    }
}

/// The deprecated shared secret a leader requires in every follower's Hello, and a follower
/// sends: from a flag, a file or the environment, at most one of them.
#[derive(Args)]
pub struct AuthTokenArgs {
    /// Deprecated (use API keys: --api-keys, --api-key-file). Shared secret: a leader with one
    /// serves only followers that send the same. Command-line arguments are visible to other
    /// users of the machine (ps, /proc): prefer --auth-token-file or the environment variable
    /// RRBENCH_AUTH_TOKEN. Give at most one of the three; an empty token is refused.
    #[arg(long, value_name = "TOKEN", conflicts_with = "auth_token_file")]
    pub auth_token: Option<String>,
    /// Deprecated (use API keys). Read the shared secret from this file (line breaks at its
    /// end are trimmed). Or set it in the environment variable RRBENCH_AUTH_TOKEN.
    #[arg(long, value_name = "PATH")]
    pub auth_token_file: Option<PathBuf>,
}

impl AuthTokenArgs {
    /// The token of whichever source is given: a flag or [`AUTH_TOKEN_ENV`]. A token, being
    /// deprecated, is announced as such on stderr.
    pub fn token(&self) -> Result<Option<AuthToken>, AuthTokenError> {
        let sources = [
            self.auth_token.clone().map(TokenSource::Argument),
            self.auth_token_file.clone().map(TokenSource::File),
            std::env::var_os(AUTH_TOKEN_ENV).map(TokenSource::Environment),
        ];
        let named: Vec<String> = sources.iter().flatten().map(ToString::to_string).collect();
        let token = AuthToken::from_sources(sources.into_iter().flatten())?;
        if token.is_some() {
            crate::output::errln!(
                "warning: the shared auth token ({}) is deprecated: it admits every follower \
                 alike and crosses plaintext TCP in clear; use API keys (rrbench api-key, \
                 leader --api-keys, recover --api-key-file)",
                named.join(", ")
            );
        }
        Ok(token)
    }
}

/// Never shows the secret.
impl std::fmt::Debug for AuthTokenArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthTokenArgs")
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("auth_token_file", &self.auth_token_file)
            .finish()
    }
}

/// QUIC's own liveness settings.
#[derive(Debug, Args)]
pub struct QuicLivenessArgs {
    /// QUIC: close a connection that hears nothing from its peer for this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub quic_idle_timeout: Duration,
    /// QUIC: send a PING frame this often when idle (-1: off). Counts as traffic for the
    /// peer's idle timeout, unlike TCP keepalives for a middlebox.
    #[arg(long, default_value = "-1", value_parser = parse_off_or_duration)]
    pub quic_keep_alive: OffOrDuration,
}

impl QuicLivenessArgs {
    /// The liveness these options describe.
    pub fn liveness(&self) -> rrbench::transport::quic::QuicLiveness {
        rrbench::transport::quic::QuicLiveness {
            idle_timeout: self.quic_idle_timeout,
            keep_alive: self.quic_keep_alive.0,
        }
    }
}

impl LeaderArgs {
    /// The settings these options describe.
    pub fn settings(&self) -> LeaderSettings {
        LeaderSettings {
            max_bytes_per_sec: self.max_bytes_per_sec,
            recovery_activity_timeout: self.recovery_activity_timeout,
            max_connections: self.max_connections,
            max_chunk_size: self.max_chunk_size,
            max_sessions: self.max_sessions,
            max_sessions_per_connection: self.max_sessions_per_connection,
            max_requests_per_session: self.max_requests_per_session,
            handshake_timeout: self.handshake_timeout,
            idle_connection_timeout: self.idle_connection_timeout,
            congestion_control: self.congestion_control,
            flavor: self.flavor,
            zero_copy: self.zero_copy,
        }
    }
}

/// Options of `rrbench recover` (checked where the command runs against the ranges of the
/// chosen policy's implementation: [`RecoverySettings::validate_strict`]).
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct RecoverArgs {
    /// Leader address, HOST:PORT; in sniff mode a comma-separated list of the leader cluster's
    /// nodes (the first --node-connections are the gateways), e.g. as `rrbench leader --nodes 3`
    /// prints them.
    #[arg(long, value_parser = parse_dial_addresses)]
    pub from: String,
    /// Target directory (created if missing; must be empty or a previous rrbench target).
    #[arg(long)]
    pub dir: PathBuf,
    /// Index name to ask for.
    #[arg(long, default_value = "index")]
    pub index: String,
    /// Shards of the index (index.number_of_shards; the leader must have as many): one is
    /// recovered into --dir itself, more into DIR/0, DIR/1, ..., up to
    /// --node-initial-primaries-recoveries at once.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub shards: u32,
    /// ccr.indices.recovery.chunk_size: bytes per chunk request (1kb-1gb) [default 1mb; 10mb
    /// under --policy opensearch, whose plugin takes 1mb-1gb].
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<ByteSize>,
    /// ccr.indices.recovery.max_concurrent_file_chunks: chunk requests in flight (1-10),
    /// counted from the oldest outstanding one [default 5; under --policy opensearch also 5,
    /// at least 1 and no upper bound (rrbench stops at 1000)].
    #[arg(long, value_name = "N")]
    pub max_concurrent_file_chunks: Option<u32>,
    /// ccr.indices.recovery.max_bytes_per_sec: follower-side limit applied after each response;
    /// 0 = unlimited [default 40mb; 0 under --policy opensearch, whose plugin has no limit].
    #[arg(long, value_name = "RATE")]
    pub max_bytes_per_sec: Option<ByteSize>,
    /// ccr.indices.recovery.internal_action_timeout: bound on each request.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub internal_action_timeout: Duration,
    /// index.allocation.max_retries: total attempts before giving up (1-1000). Each attempt
    /// opens a new session and starts from an empty target, as Elasticsearch does. The
    /// opensearch policy ignores it: OpenSearch restarts a failed restore without bound.
    #[arg(long, default_value_t = 5)]
    pub max_retries: u32,
    /// cluster.routing.allocation.node_initial_primaries_recoveries: shards of a sharded index
    /// restored at once (1-1000). They share this node's max_bytes_per_sec limiter and its one
    /// connection to the leader, so one lost channel fails every shard in flight.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub node_initial_primaries_recoveries: u32,
    /// Channels to open in sniff mode: remote (6, chunks spread over all) or intra-cluster (13
    /// typed: recovery 2, bulk 3, reg 6, state 1, ping 1; chunks ride the recovery channels
    /// only). CCR always uses the remote profile; intra-cluster is node-to-node traffic inside
    /// one cluster, such as peer recovery (the 13-channel stunnel story).
    #[arg(long, default_value = "remote")]
    pub connection_profile: ConnectionProfile,
    /// cluster.remote.<alias>.mode: sniff (one connection of the profile's channels) or proxy
    /// (--proxy-socket-connections sockets to the one --from address, a one-channel
    /// connection each, requests round robin; losing one fails only its requests).
    #[arg(long, default_value = "sniff")]
    pub mode: RemoteMode,
    /// cluster.remote.<alias>.proxy_socket_connections: sockets opened in proxy mode (1-1000).
    #[arg(long, default_value_t = 18)]
    pub proxy_socket_connections: u32,
    /// cluster.remote.node_connections: in sniff mode, how many of the --from addresses (the
    /// leader cluster's gateway nodes) to connect to (1-100); a shard goes straight to its
    /// primary's node when that is a gateway, else through the gateways in turn, which forward
    /// it inside the leader cluster.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub node_connections: u32,
    /// When one channel closes, close the whole connection and fail every in-flight request.
    /// Default: true for the elasticsearch and opensearch policies in sniff mode; false for
    /// resumable, and in proxy mode (each socket is a connection of its own).
    #[arg(long, action = clap::ArgAction::Set)]
    pub close_all_on_channel_loss: Option<bool>,
    /// network.tcp.keep_alive: TCP keepalive probes on every channel.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub tcp_keep_alive: bool,
    /// network.tcp.keep_idle: idle time before the first keepalive probe.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub tcp_keep_idle: Duration,
    /// network.tcp.keep_interval: time between keepalive probes.
    #[arg(long, default_value = "75s", value_parser = parse_duration)]
    pub tcp_keep_interval: Duration,
    /// network.tcp.keep_count: unanswered probes before the connection is dropped.
    #[arg(long, default_value_t = 9)]
    pub tcp_keep_count: u32,
    /// TCP_USER_TIMEOUT: how long sent data may go unacknowledged (-1: the OS default).
    #[arg(long, default_value = "-1", value_parser = parse_off_or_duration)]
    pub tcp_user_timeout: OffOrDuration,
    /// transport.ping_schedule: a ping on every channel this often; -1 is off. Pings move data,
    /// so they keep idle-timeout middleboxes (stunnel, firewalls) from resetting channels.
    #[arg(long, default_value = "-1", value_parser = parse_off_or_duration)]
    pub ping_schedule: OffOrDuration,
    /// Open the connection to the leader, leave it idle this long, then recover (rrbench's own
    /// knob): a remote cluster is connected long before a follow request, so the first
    /// recovery runs on a connection a firewall or NAT may have forgotten (`probe` finds how
    /// long that takes). 0 recovers at once.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub idle_before_recovery: Duration,
    /// What a failure costs. elasticsearch: abort, new session, empty store (up to
    /// max_retries). opensearch: retry a chunk on connection errors (10/20/40/80 s), then start
    /// over after 1 s, without bound (set --time-limit). resumable: reconnect and fetch only what is missing; survives a restart of this
    /// process through a journal in --dir.
    #[arg(long, default_value = "elasticsearch")]
    pub policy: Policy,
    /// Multiply the policies' fixed durations (backoffs, restart delays): 0.01 turns
    /// OpenSearch's 80 s backoff into 0.8 s.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Give up after this long, whatever the policy (-1: never).
    #[arg(long, default_value = "-1", value_parser = parse_off_or_duration)]
    pub time_limit: OffOrDuration,
    /// Seed of the resumable policy's backoff jitter.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Serve Prometheus metrics on ADDR (/metrics), HOST:PORT, while the recovery runs: bytes
    /// received, requests in flight, attempts, failures.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_address)]
    pub metrics: Option<String>,
    /// After the recovery ends, keep serving --metrics' final values this long, so a Prometheus
    /// scrape (every 15 s to 1 min) still finds a short recovery's last counters; Ctrl-C ends
    /// it at once, leaving the exit code as the recovery made it. Not after a recovery that
    /// Ctrl-C interrupted. 0: stop serving when the recovery ends.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = parse_duration)]
    pub metrics_linger: Duration,
    /// An event log written by `rrbench proxy --events` on this machine: the result then gives,
    /// per fault window, the time to detect it and the time to recover from it.
    #[arg(long, value_name = "FILE")]
    pub chaos_events: Option<PathBuf>,
    /// The API key (or the deprecated shared secret) to send.
    #[command(flatten)]
    pub auth: FollowerAuthArgs,
    /// Print one JSON document shaped like iperf3's instead of the summary: `start` (settings,
    /// environment, leader, policy, seed), `intervals`, and `end` (totals, where the time went,
    /// failures, CPU, and the flat report as `end.report`). Seeds are strings.
    #[arg(long)]
    pub json: bool,
    /// Do not draw the progress line, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// A line every INTERVAL on stdout (iperf3's -i): time range, bytes moved, rate, requests in
    /// flight, attempt, share verified; with --json, the `intervals` array. Default 1s, except on
    /// a terminal, where the progress line is drawn instead. A bare number is seconds; 0: none.
    #[arg(short = 'i', long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub interval: Option<Every>,
    /// Units of rates and sizes (iperf3's -f): k, m, g for Kbits/s, Mbits/s, Gbits/s; K, M, G
    /// for KiB/s, MiB/s, GiB/s (sizes in KiB, MiB, GiB either way).
    #[arg(short = 'f', long, value_name = "LETTER", default_value = "M")]
    pub format: Units,
    /// Append what would go to stdout (interval lines, summary or JSON) to FILE instead, a line
    /// at a time, as iperf3's --logfile; failure lines stay on stderr.
    #[arg(long, value_name = "FILE")]
    pub logfile: Option<PathBuf>,
    /// tcp, or quic (needs --ca).
    #[arg(long, default_value = "tcp")]
    pub transport: Transport,
    /// TCP: connect with TLS (the leader runs with --tls); needs --ca.
    #[arg(long, requires = "ca")]
    pub tls: bool,
    /// QUIC or --tls: trust these certificates (PEM bundle: CAs, or the leader's own
    /// certificate, which is then pinned), e.g. the one `rrbench leader` printed.
    #[arg(long, value_name = "PEM", required_if_eq("transport", "quic"))]
    pub ca: Option<PathBuf>,
    /// QUIC or --tls: the name the leader's certificate must carry (default: the host of
    /// --from).
    #[arg(long)]
    pub server_name: Option<String>,
    /// --tls: present this client certificate chain (PEM) to a leader with --client-ca (mTLS;
    /// a QUIC leader asks for none).
    #[arg(long, value_name = "PEM", requires_all = ["key", "tls"])]
    pub cert: Option<PathBuf>,
    /// --tls: the client certificate's private key (PEM).
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,
    /// QUIC liveness of the connection.
    #[command(flatten)]
    pub quic: QuicLivenessArgs,
    /// Refuse a leader that lists more files than this in a session (a guard against a broken
    /// or hostile leader, checked before any file is created).
    #[arg(long, default_value_t = 10_000)]
    pub max_files: u32,
    /// Refuse a leader that declares a file larger than this (Elasticsearch advises shards of
    /// at most 50gb).
    #[arg(long, default_value = "64gb")]
    pub max_file_size: ByteSize,
}

impl RecoverArgs {
    /// What to print and where.
    pub fn output_options(&self) -> OutputOptions {
        OutputOptions {
            from: self.from.clone(),
            dir: self.dir.clone(),
            index: self.index.clone(),
            logfile: self.logfile.clone(),
            no_progress: self.no_progress,
            interval: self.interval,
            format: self.format,
            json: self.json,
        }
    }

    /// The settings these options describe: what a flag gives, else the policy's default.
    pub fn settings(&self) -> RecoverySettings {
        let defaults = RecoverySettings::defaults_for(self.policy);
        RecoverySettings {
            max_bytes_per_sec: self.max_bytes_per_sec.unwrap_or(defaults.max_bytes_per_sec),
            max_concurrent_file_chunks: self
                .max_concurrent_file_chunks
                .unwrap_or(defaults.max_concurrent_file_chunks),
            chunk_size: self.chunk_size.unwrap_or(defaults.chunk_size),
            internal_action_timeout: self.internal_action_timeout,
            max_retries: self.max_retries,
            node_initial_primaries_recoveries: self.node_initial_primaries_recoveries,
            connection_profile: self.connection_profile,
            mode: self.mode,
            proxy_socket_connections: self.proxy_socket_connections,
            node_connections: self.node_connections,
            close_all_on_channel_loss: self.close_all_on_channel_loss,
            tcp_keep_alive: self.tcp_keep_alive,
            tcp_keep_idle: self.tcp_keep_idle,
            tcp_keep_interval: self.tcp_keep_interval,
            tcp_keep_count: self.tcp_keep_count,
            tcp_user_timeout: self.tcp_user_timeout.0,
            ping_schedule: self.ping_schedule.0,
            policy: self.policy,
            time_scale: self.time_scale,
            transport: self.transport,
            tls: self.tls,
            quic_idle_timeout: self.quic.quic_idle_timeout,
            quic_keep_alive: self.quic.quic_keep_alive.0,
            max_files: self.max_files,
            max_file_size: self.max_file_size,
            idle_before_recovery: self.idle_before_recovery,
        }
    }
}

/// Options of `rrbench link`.
///
/// Makes a network namespace for the leader and joins it to this host with two TUN devices and a
/// packet pump that applies faults to every IP packet, so the real kernel TCP (or QUIC's UDP)
/// sees real RTT, loss, queueing and silence: congestion control, retransmission timeouts,
/// keepalive probes that go unanswered. rrbench's netem. Needs root and iproute2.
///
/// It prints the namespace and the leader's address; then, for example:
///   rrbench leader --netns NAME --listen LEADER_IP:9443 --dir DIR
///   rrbench recover --from LEADER_IP:9443 --dir TARGET
///   ip netns exec NAME iperf3 -s          and   iperf3 -c LEADER_IP
///
/// Faults (each also takes direction, toxicity, start, duration, every, name; see `proxy`):
///   delay:delay=25ms,jitter=5ms       rate:rate=10mb             loss:probability=1%
///   loss:p=1%,r=30%  (Gilbert-Elliott bursts)                    duplicate:probability=1%
///   reorder:probability=2%,gap=5ms    corrupt:probability=0.1%   blackhole:start=5s,duration=3s
/// `delay` in the direction `both` (the default) delays each way: 25ms gives a 50 ms RTT.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true, verbatim_doc_comment)]
pub struct LinkArgs {
    /// Faults, seed and event log.
    #[command(flatten)]
    pub injector: InjectorArgs,
}

/// What every fault injector (`proxy`, `proxy --udp`, `link`) takes.
#[derive(Debug, Args)]
pub struct InjectorArgs {
    /// A fault to inject (repeatable).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<Fault>,
    /// Seed of every random choice (jitter, loss, corruption, toxicity).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Append every event to this file as JSON lines.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Print only the start line and warnings to stderr: no fault edges, resets or summary.
    #[arg(long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print every event to stderr (each connection, and what faults did to its bytes, at most
    /// every 100 ms per connection and fault), not only fault edges, resets and warnings.
    #[arg(long)]
    pub verbose: bool,
}

/// Options of `rrbench proxy`.
///
/// Faults are `TYPE` or `TYPE:key=value,...`; every fault also takes `direction`
/// (upstream|downstream|both), `toxicity` (0-1, or 50%: the share of connections affected),
/// `start` (or `at`), `duration`, `every`, and `name`. Times count from the proxy's start.
///
///   latency:delay=50ms,jitter=5ms     bandwidth:rate=10mb        reset:at=10s
///   reset:after_bytes=16mb            idle_timeout:idle=5s       blackhole:start=5s,duration=10s
///   stall                             corrupt:probability=1e-6   slow_close:delay=1s
///   limit_data:bytes=1mb              down:start=10s,duration=5s
///
/// With --udp (for QUIC) it relays datagrams, a flow per client address, and takes datagram
/// faults (corrupt changes one byte of a datagram with `probability`):
///   delay:delay=25ms,jitter=5ms       rate:rate=10mb             loss:probability=1%
///   loss:p=1%,r=30%  (Gilbert-Elliott bursts; bad_loss, good_loss)  duplicate:probability=1%
///   reorder:probability=2%,gap=5ms    corrupt:probability=1%     blackhole:start=5s,duration=3s
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true, verbatim_doc_comment)]
pub struct ProxyArgs {
    /// Address to listen on, HOST:PORT (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:19443", value_parser = parse_listen_address)]
    pub listen: String,
    /// Address to relay to (the leader), HOST:PORT.
    #[arg(long, value_parser = parse_dial_address)]
    pub upstream: String,
    /// Faults, seed and event log.
    #[command(flatten)]
    pub injector: InjectorArgs,
    /// Relay UDP datagrams (QUIC) instead of TCP connections.
    #[arg(long)]
    pub udp: bool,
    /// Also serve toxiproxy's HTTP API here (HOST:PORT; toxiproxy's port is 8474): this proxy
    /// is in it under --name, its --fault specs as its toxics, and clients may add more.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_listen_address, conflicts_with = "udp")]
    pub api: Option<String>,
    /// This proxy's name in the API (--api).
    #[arg(long, default_value = "rrbench", requires = "api")]
    pub name: String,
    /// Serve Prometheus metrics on ADDR (/metrics), HOST:PORT: bytes per direction,
    /// connections, faults active, effects. TCP proxy only, without --api.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_address, conflicts_with_all = ["udp", "api"])]
    pub metrics: Option<String>,
    /// Copy every byte through user space, as when a fault touches it, even with no fault on.
    /// By default bytes no fault touches are relayed inside the kernel with splice(2) (Linux),
    /// which costs less CPU; this measures what the copying path costs. TCP proxy only,
    /// without --api.
    #[arg(long, conflicts_with_all = ["udp", "api"])]
    pub no_splice: bool,
}

/// Options of `rrbench serve-api`.
///
/// The endpoints are toxiproxy's (GET/POST /proxies, GET/POST/PATCH/DELETE /proxies/NAME,
/// POST /populate, POST /reset, GET/POST /proxies/NAME/toxics,
/// GET/POST/PATCH/DELETE /proxies/NAME/toxics/TOXIC, GET /version), and so are the toxics:
/// latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, noop; rrbench's
/// own faults are toxic types too, with their own fields: reset, idle_timeout, blackhole,
/// stall, corrupt, down. The README's "toxiproxy API" says what each maps to.
///
///   rrbench serve-api --listen 127.0.0.1:8474
///   curl -s -X POST localhost:8474/proxies \
///     -d '{"name":"leader","listen":"127.0.0.1:19443","upstream":"127.0.0.1:9443"}'
///   curl -s -X POST localhost:8474/proxies/leader/toxics \
///     -d '{"type":"latency","attributes":{"latency":50}}'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ServeApiArgs {
    /// Address the API listens on, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:8474", value_parser = parse_listen_address)]
    pub listen: String,
    /// Seed of every random choice (jitter, corruption, toxicity).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Append every event of every proxy to this file as JSON lines.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Print only the start line and warnings to stderr: no fault edges, resets or summary.
    #[arg(long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print every event to stderr, not only fault edges, resets and warnings.
    #[arg(long)]
    pub verbose: bool,
}

/// Options of `rrbench probe`. The subcommand's doc comment is its `about`; the rest of its
/// `--help` is the `after_long_help` below.
#[derive(Debug, Args)]
#[command(after_long_help = "\
What it measures, over rrbench's own transport (the same sockets, Hello and frames as a
recovery, so through the same TCP proxies and tunnels):

  RTT          connect time (TCP connect + Hello) and min / median / p99 of --pings Ping/Pong
               round trips on one connection. The median sets how many chunks must be in
               flight: a recovery moves at most window x chunk_size per round trip.
  throughput   a --transfer-time transfer of real chunks of --index (a session, --window
               requests in flight per connection), over 1 and over --connections connections,
               with the bandwidth-delay product (throughput x median RTT). If 1 connection is
               much slower than N, the window, not the path, is the limit. \"requests waited N s
               in all on the leader's limiter\" (summed over requests in flight): when it is a
               good share of the transfer, the leader's own max_bytes_per_sec set the pace.
  idle timeout how long a connection may sit idle before the path (stunnel, a firewall, a NAT,
               a load balancer) forgets it. Three kinds of connection are held idle: silent (no
               keepalive, no pings), keepalive only (TCP keepalive every --probe-every) and
               application pings (a Ping every --probe-every, as transport.ping_schedule).
               Rather than doubling and bisecting one connection at a time (which would take
               many times the timeout), each kind opens a grid of connections at once, one per
               idle time from 0.25 s to --max-idle, each --resolution longer than the one
               before; connection k is used (a Ping, waiting --pong-timeout for the Pong) after
               its idle time. So the whole measurement takes at most about --max-idle, and it
               ends early once every kind is decided: a kind that dies is decided when every
               shorter idle survived; a kind that outlives twice another kind's timeout is
               taken to survive it. Deaths are told apart: RST on next use, RST while idle,
               silent drop (no Pong; sockets carry TCP_USER_TIMEOUT = --pong-timeout).

The path is then classified:
  stunnel-like    silent and keepalive die at about the same idle, pings survive: a data-idle
                  timeout. Keepalive does not help; set transport.ping_schedule (and
                  cluster.remote.<alias>.transport.ping_schedule) below it.
  conntrack-like  silent dies, keepalive and pings survive: a packet-idle timeout. Set
                  network.tcp.keep_idle / keep_interval below it (or ping).
  no idle timeout nothing died up to --max-idle.
  inconclusive    anything else, with the reason.

The advice is printed as text, as an elasticsearch.yml snippet and as the body of a
PUT _cluster/settings request (dynamic settings only); --json prints everything as one JSON
document instead. Window advice: ccr.indices.recovery.max_concurrent_file_chunks x chunk_size
to hold --max-bytes-per-sec x RTT in flight, and what the window model then predicts:
min(rate, window x chunk / RTT).

Progress goes to stderr; Ctrl-C stops and prints what was measured so far (exit 130).
Exit codes: 0 measured; 1 the leader cannot be reached, refused the token, or broke; 2 bad
input (an address without a port, a value out of range, an index the leader does not serve).

Example: rrbench probe --to 10.0.0.5:9443 --max-idle 30m")]
#[command(allow_negative_numbers = true)]
pub struct ProbeArgs {
    /// The leader, or the proxy or tunnel in front of it, HOST:PORT.
    #[arg(long, value_parser = parse_dial_address)]
    pub to: String,
    /// Index to open a session on for the throughput transfer (the follower's default).
    #[arg(long, default_value = "index")]
    pub index: String,
    /// Ping/Pong round trips to time.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub pings: u32,
    /// Connections of the second transfer (the first uses one), 1-64.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub connections: u32,
    /// Length of each transfer; 0 skips them.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub transfer_time: Duration,
    /// Bytes per chunk request (ccr.indices.recovery.chunk_size).
    #[arg(long, default_value = "1mb")]
    pub chunk_size: ByteSize,
    /// Chunk requests in flight per connection during the transfer, 1-100 (large, to measure
    /// the path rather than a window).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub window: u32,
    /// Longest idle tested; the idle measurement takes at most about this long. 0 skips it.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub max_idle: Duration,
    /// Step of the idle grid as a fraction: each idle is (1 + this) times the one before.
    #[arg(long, default_value_t = 0.1)]
    pub resolution: f64,
    /// Keepalive idle and interval of the keepalive connections, ping schedule of the pinged
    /// ones (at least 1s).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub probe_every: Duration,
    /// How long a use of an idle connection waits for its Pong; also the sockets'
    /// TCP_USER_TIMEOUT, so a silently dropped connection is found this fast.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub pong_timeout: Duration,
    /// ccr.indices.recovery.max_bytes_per_sec the window advice is sized for; 0: the measured
    /// throughput.
    #[arg(long, default_value = "40mb")]
    pub max_bytes_per_sec: ByteSize,
    /// The remote cluster's alias in cluster.remote.<alias>.* settings.
    #[arg(long, default_value = "leader")]
    pub alias: String,
    /// Connect with TLS (the leader runs with --tls); needs --ca. The path then measured is
    /// the one a --tls recovery uses, handshakes and encryption included.
    #[arg(long, requires = "ca")]
    pub tls: bool,
    /// --tls: trust these certificates (PEM bundle: CAs, or the leader's own certificate).
    #[arg(long, value_name = "PEM", requires = "tls")]
    pub ca: Option<PathBuf>,
    /// --tls: the name the leader's certificate must carry (default: the host of --to).
    #[arg(long, requires = "tls")]
    pub server_name: Option<String>,
    /// --tls: present this client certificate chain (PEM) to a leader with --client-ca.
    #[arg(long, value_name = "PEM", requires_all = ["key", "tls"])]
    pub cert: Option<PathBuf>,
    /// --tls: the client certificate's private key (PEM).
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,
    /// The API key (or the deprecated shared secret) to send.
    #[command(flatten)]
    pub auth: FollowerAuthArgs,
    /// Print everything as one JSON document on stdout instead of the text report.
    #[arg(long)]
    pub json: bool,
}

impl ProbeArgs {
    /// The library's configuration.
    pub fn config(&self) -> Result<rrbench::probe::ProbeConfig, ApiKeyError> {
        let mut c = rrbench::probe::ProbeConfig::new(self.to.clone());
        c.index = self.index.clone();
        c.auth = self.auth.credentials(self.tls, "this probe")?;
        c.allow_plaintext_credentials = self.auth.allow_plaintext_credentials;
        c.tls = self.ca.clone().map(|ca| TlsClient {
            ca,
            server_name: self.server_name.clone(),
            identity: self
                .cert
                .clone()
                .zip(self.key.clone())
                .map(|(cert, key)| rrbench::transport::quic::CertificatePaths { cert, key }),
        });
        c.pings = self.pings;
        c.connections = self.connections;
        c.transfer_time = self.transfer_time;
        c.chunk_size = self.chunk_size;
        c.window = self.window;
        c.max_idle = self.max_idle;
        c.resolution = self.resolution;
        c.probe_every = self.probe_every;
        c.pong_timeout = self.pong_timeout;
        c.max_bytes_per_sec = self.max_bytes_per_sec;
        c.alias = self.alias.clone();
        Ok(c)
    }
}
