//! A trial's leader and injector on another host's agent (`[hosts] leader = "agent://..."`).
//!
//! Before any trial, [`RemoteLeader::connect`] reaches the agent (TLS, API key) and estimates
//! its clock's offset from this process's clock; a campaign whose agent cannot be reached or
//! refuses its key fails there, naming the agent, and leaves nothing behind. Each trial then
//! asks the agent to have the cell's index ready, starts the cell's rig there
//! ([`RemoteLeader::start`]), dials the ports it answers on the agent's host, and at the end
//! takes the rig's events and leader counters back ([`RemoteRig::stop`]), its events moved onto
//! the trial's clock.
//!
//! The agent also answers with what the campaign host then does not have to make: the index's
//! file metas (what the followers' copies are checked against; the index is generated only
//! there), and, for a cell over TLS or QUIC, the CA that issued the rig's leader certificate
//! for the agent URL's host (written into the trial's scratch directory for the followers to
//! trust). Both are from the network, so both are bounded and parsed before use.
//!
//! The clocks: the agent stamps a rig's events from the rig's start (`rig_epoch_s` on the
//! agent's clock); the trial stamps its own from its start (`trial_epoch_s` on this process's
//! clock). With the agent's clock `offset_s` ahead of ours, an event at `t` on the rig is at
//! `t + rig_epoch_s - offset_s - trial_epoch_s` on the trial's clock ([`shift_s`]), within the
//! offset's uncertainty. The offset is measured again before each trial (clocks drift apart by
//! tens of parts per million), and each trial's record keeps the one it used.
//!
//! A rig is always stopped: at the end of its trial, by a Ctrl-C (the trial ends, then stops
//! it), and, should its trial be dropped half way, by a `DELETE` sent as it is dropped; if all
//! of that fails, the agent stops it when its lease ends.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde_json::json;
use tokio_rustls::rustls::{
    RootCertStore,
    pki_types::{CertificateDer, pem::PemObject},
};

use super::{
    CampaignSpec, IndexSpec,
    hosts::{Hosts, needs_leader_ca},
    runner::RunError,
};
use crate::{
    agent_api::{
        AgentClient, AgentError, AgentUrl, ClockOffset, estimate_offset_with,
        wire::{CellRequest, IndexState, MAX_CA_PEM, RigStarted, RigStopped, StartRig, Version},
    },
    auth::ApiKey,
    chaos::Event,
    clock::Clock,
    index::{GenerateSpec, plan_files, shard_seed},
    leader::LeaderStatsSnapshot,
    protocol::FileMeta,
    transport::certs::TlsClient,
};

/// The most bytes one file's meta may take in an answer (a generated index's names are short;
/// this leaves room for long ones).
const META_JSON: usize = 384;

/// How often the agent is asked whether an index it builds is ready.
const INDEX_POLL: Duration = Duration::from_millis(200);
/// How long the leader may take to see the followers' connections close (as in this process).
const SETTLE: Duration = Duration::from_millis(500);
/// Clock samples before the campaign, and before each trial.
const FIRST_SAMPLES: usize = 16;
const TRIAL_SAMPLES: usize = 8;
/// Warnings a stopped rig may add to its trial's.
const MAX_AGENT_WARNINGS: usize = 8;
/// Tries of `DELETE /rigs/{id}` that cannot connect, and how long it may answer "stopping".
const STOP_TRIES: usize = 3;
const STOP_LIMIT: Duration = Duration::from_secs(120);

/// A campaign's agent for its leader, and how its clock relates to ours.
#[derive(Debug)]
pub struct RemoteLeader {
    client: Arc<AgentClient>,
    /// This process's clock, which `offset` is measured against.
    clock: Clock,
    offset: ClockOffset,
    version: String,
}

/// One trial's rig on the agent; dropped before [`RemoteRig::stop`], it is stopped anyway.
pub struct RemoteRig<'a> {
    leader: &'a RemoteLeader,
    id: u64,
    /// Per leader cluster, the addresses to dial.
    dial: Vec<String>,
    /// The rig's CA, written into the trial's scratch directory.
    ca: Option<PathBuf>,
    shift_s: f64,
    offset: ClockOffset,
    stopped: bool,
}

/// What a stopped rig left: its events on the trial's clock, its leader's counters, and
/// warnings (the agent did not keep every event, or could not clean up after the rig).
pub struct Stopped {
    /// The injector's events.
    pub events: Vec<Event>,
    /// The leader's counters.
    pub stats: LeaderStatsSnapshot,
    /// For the trial's warnings.
    pub warnings: Vec<String>,
}

/// Seconds to add to a rig's event times to put them on the trial's clock: the rig's epoch
/// on the agent's clock, moved onto ours (`offset_s` = agent minus ours), less the trial's
/// epoch on ours.
pub fn shift_s(offset_s: f64, rig_epoch_s: f64, trial_epoch_s: f64) -> f64 {
    rig_epoch_s - offset_s - trial_epoch_s
}

impl RemoteLeader {
    /// Reaches the agent `hosts` names, with its CA and API key, and estimates its clock.
    pub async fn connect(hosts: &Hosts, clock: Clock) -> Result<Self, RunError> {
        let (Some(url), Some(ca), Some(key_file)) =
            (hosts.leader_agent(), &hosts.ca, &hosts.api_key_file)
        else {
            return Err(RunError::Hosts(
                "hosts.leader needs hosts.ca and hosts.api_key_file".into(),
            ));
        };
        let key = read_key(key_file, &url)?;
        let tls = TlsClient {
            ca: ca.clone(),
            server_name: hosts.server_name.clone(),
            identity: None,
        };
        let client = AgentClient::new(url, &tls, &key)?;
        let version: Version = client.call("GET", "/version", None::<&()>).await?;
        let ours = format!("rrbench {}", env!("CARGO_PKG_VERSION"));
        if version.version != ours {
            return Err(RunError::Hosts(format!(
                "the agent at {} runs {}, this campaign {ours}: a cell reads the same on both \
                 only with one version; run the same rrbench on both hosts",
                client.url(),
                version.version
            )));
        }
        let offset = estimate_offset_with(&client, clock, FIRST_SAMPLES).await?;
        Ok(Self {
            client: Arc::new(client),
            clock,
            offset,
            version: version.version,
        })
    }

    /// The agent's address.
    pub fn url(&self) -> &AgentUrl {
        self.client.url()
    }

    /// What `env.json` records of the agent and its clock.
    pub fn env(&self) -> serde_json::Value {
        json!({
            "url": self.url().to_string(),
            "version": self.version,
            "clock_offset_s": self.offset.offset_s,
            "clock_uncertainty_s": self.offset.uncertainty_s,
            "clock_samples": self.offset.samples,
            "clock_best_rtt_s": self.offset.best_rtt_s,
            "method": "NTP-style: the shortest of the samples' round trips; offset = agent - \
                       campaign; measured again before each trial (trials.jsonl leader_clock)",
        })
    }

    /// Has the agent generate (or find) the cell's index (`index`); its files shard by shard,
    /// or `None` if `cancel` came first.
    pub async fn prepare(
        &self,
        table: &toml::Table,
        seed: u64,
        index: &IndexSpec,
        cancel: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    ) -> Result<Option<Vec<Vec<FileMeta>>>, RunError> {
        let request = cell_request(table, seed)?;
        let limit = metas_limit(index);
        let poll = async {
            loop {
                let answer = self
                    .client
                    .exchange_limited("POST", "/indices", Some(&request), limit)
                    .await?;
                let state: IndexState = self.client.parse(&answer)?;
                match state {
                    IndexState::Ready { metas } => {
                        return check_metas(metas, index).map_err(|message| AgentError::Protocol {
                            url: self.url().to_string(),
                            message,
                        });
                    }
                    IndexState::Failed { message } => {
                        return Err(AgentError::Remote {
                            url: self.url().to_string(),
                            status: 500,
                            reason: format!("generating the index: {message}"),
                        });
                    }
                    IndexState::Building => tokio::time::sleep(INDEX_POLL).await,
                }
            }
        };
        tokio::select! {
            done = poll => done.map(Some).map_err(RunError::from),
            () = cancel => Ok(None),
        }
    }

    /// Starts the rig of `cell` (read from `table`; its reference's, with `reference`) on the
    /// agent for a trial whose clock is `trial_clock`, stopped by the agent after `lease` if
    /// nobody stops it: its `leaders` leader clusters (fan-in), and for a cell over TLS or QUIC
    /// their CA written into `scratch`.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        &self,
        table: &toml::Table,
        cell: &CampaignSpec,
        seeds: (u64, u64),
        reference: bool,
        lease: Duration,
        trial_clock: Clock,
        scratch: &Path,
    ) -> Result<RemoteRig<'_>, RunError> {
        let (campaign_seed, trial_seed) = seeds;
        let offset = estimate_offset_with(&self.client, self.clock, TRIAL_SAMPLES).await?;
        // The trial clock's epoch on this process's clock: both read now.
        let trial_epoch_s =
            self.clock.elapsed().as_secs_f64() - trial_clock.elapsed().as_secs_f64();
        let request = StartRig {
            cell: cell_request(table, campaign_seed)?,
            trial_seed,
            reference,
            lease_s: lease.as_secs_f64(),
            server_names: vec![self.url().host.clone()],
        };
        let started: RigStarted = match self.client.call("POST", "/rigs", Some(&request)).await {
            // The agent let the index go (it keeps a few): have it ready again, once.
            Err(AgentError::Remote { status: 409, .. }) => {
                let never = std::pin::pin!(std::future::pending::<()>());
                self.prepare(table, campaign_seed, &cell.index, never)
                    .await?;
                self.client.call("POST", "/rigs", Some(&request)).await?
            }
            other => other?,
        };
        let ca = match check_started(&started, cell.leaders, needs_leader_ca(cell)) {
            Ok(pem) => pem.map(|pem| write_ca(&pem, scratch)).transpose(),
            Err(message) => Err(message),
        };
        let ca = match ca {
            Ok(ca) => ca,
            Err(message) => {
                let _ = delete(&self.client, started.id).await;
                return Err(AgentError::Protocol {
                    url: self.url().to_string(),
                    message: format!("rig {}: {message}", started.id),
                }
                .into());
            }
        };
        let dial = started
            .ports
            .iter()
            .map(|ports| {
                let list: Vec<String> = ports.iter().map(|p| self.url().on_port(*p)).collect();
                list.join(",")
            })
            .collect();
        Ok(RemoteRig {
            leader: self,
            id: started.id,
            dial,
            ca,
            shift_s: shift_s(offset.offset_s, started.rig_epoch_s, trial_epoch_s),
            offset,
            stopped: false,
        })
    }
}

impl RemoteRig<'_> {
    /// Per leader cluster, the addresses a follower dials, comma-separated in node order.
    pub fn dial_lists(&self) -> &[String] {
        &self.dial
    }

    /// How a follower trusts the rig's leaders (TLS over TCP, or QUIC): the rig's CA, verifying
    /// the agent's host it dials; `None` for plain TCP.
    pub fn tls_client(&self) -> Option<TlsClient> {
        self.ca.as_ref().map(|ca| TlsClient {
            ca: ca.clone(),
            server_name: None,
            identity: None,
        })
    }

    /// The clock offset this trial's events were moved by.
    pub fn offset(&self) -> ClockOffset {
        self.offset
    }

    /// Stops the rig once its leader has seen the followers' connections close (or after
    /// [`SETTLE`]); its events on the trial's clock and its leader's counters.
    pub async fn stop(mut self) -> Result<Stopped, RunError> {
        let client = self.leader.client.clone();
        let stats_path = format!("/rigs/{}/stats", self.id);
        let deadline = tokio::time::Instant::now() + SETTLE;
        // Only a wait: the counters that count come with the rig's remains.
        while let Ok(stats) = client
            .call::<LeaderStatsSnapshot>("GET", &stats_path, None::<&()>)
            .await
        {
            if stats.connections_open == 0 || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Not stopped: dropped, it asks once more.
        let stopped = delete(&client, self.id).await?;
        self.stopped = true;
        let dropped = (stopped.events_dropped > 0).then(|| {
            format!(
                "the agent kept only the latest {} of the proxy's events ({} older ones are not \
                 in events/)",
                stopped.events.len(),
                stopped.events_dropped
            )
        });
        // What the agent says it left behind, bounded: it comes from the network.
        let left = stopped
            .warnings
            .iter()
            .take(MAX_AGENT_WARNINGS)
            .map(|w| format!("{}: {}", self.leader.url(), truncated(w, 500)));
        let warnings = dropped.into_iter().chain(left).collect();
        let events = stopped
            .events
            .into_iter()
            .map(|e| e.into_event(self.shift_s))
            .collect();
        Ok(Stopped {
            events,
            stats: stopped.stats,
            warnings,
        })
    }
}

impl Drop for RemoteRig<'_> {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let (client, id) = (self.leader.client.clone(), self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = delete(&client, id).await;
            });
        }
    }
}

/// `DELETE /rigs/{id}` until the rig's remains come back: asked again while it answers
/// "stopping" (up to [`STOP_LIMIT`]) and, a few times, when the agent cannot be reached.
async fn delete(client: &AgentClient, id: u64) -> Result<RigStopped, RunError> {
    let path = format!("/rigs/{id}");
    let until = tokio::time::Instant::now() + STOP_LIMIT;
    let mut unreachable = 0;
    loop {
        match client.exchange("DELETE", &path, None::<&()>).await {
            Ok(answer) if answer.status == 202 && tokio::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(answer) if answer.status == 202 => {
                return Err(AgentError::Timeout {
                    url: client.url().to_string(),
                    what: format!("DELETE {path} (the rig is still stopping)"),
                    after: STOP_LIMIT,
                }
                .into());
            }
            // Busy (its handlers' time ran out): ask again, as for "stopping".
            Ok(answer) if answer.status == 503 && tokio::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(answer) => return Ok(client.parse(&answer)?),
            // Unreachable, or too busy to take the connection (it closes it before TLS).
            Err(
                AgentError::Connect { .. } | AgentError::Tls { .. } | AgentError::Timeout { .. },
            ) if unreachable + 1 < STOP_TRIES => {
                unreachable += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The longest `POST /indices` answer taken for `index`: room for its metas (`files` a shard,
/// which the agent refuses past its `--max-files`, times `shards`), and no more, as the answer
/// is from the network.
fn metas_limit(index: &IndexSpec) -> usize {
    (index.shards.max(1) as usize)
        .saturating_mul(index.files.max(1) as usize)
        .saturating_mul(META_JSON)
        .saturating_add(64 << 10)
        .min(crate::agent_api::client::MAX_BODY)
}

/// Whether the index the agent has is the cell's: as many shards, each with exactly the files
/// (names and lengths) the cell's index is generated with, which this host plans without
/// writing anything. Only the checksums are the agent's word; the follower and the re-read of
/// its copy check every byte against them.
fn check_metas(metas: Vec<Vec<FileMeta>>, index: &IndexSpec) -> Result<Vec<Vec<FileMeta>>, String> {
    if metas.len() != index.shards as usize {
        return Err(format!(
            "an index of {} shards for a cell of index.shards = {}",
            metas.len(),
            index.shards
        ));
    }
    for (shard, files) in (0..index.shards).zip(&metas) {
        let planned = plan_files(&GenerateSpec {
            size: index.size.bytes(),
            files: index.files,
            seed: shard_seed(index.seed, shard),
        })
        .map_err(|e| format!("the cell's index: {e}"))?;
        let mut want: Vec<(&str, u64)> = planned.iter().map(|f| (f.name.as_str(), f.len)).collect();
        let mut got: Vec<(&str, u64)> = files.iter().map(|f| (f.name.as_str(), f.len)).collect();
        want.sort_unstable();
        got.sort_unstable();
        if got == want {
            continue;
        }
        let extra = got.iter().find(|f| !want.contains(f));
        let missing = want.iter().find(|f| !got.contains(f));
        let what = match (extra, missing) {
            (Some((name, len)), _) => format!("{name} of {len} bytes, which it does not plan"),
            (None, Some((name, len))) => format!("no {name} of {len} bytes"),
            // The same files, one of them twice.
            (None, None) => format!("{} files where it plans {}", got.len(), want.len()),
        };
        return Err(format!(
            "shard {shard} of the agent's index is not the cell's (index.size {}, index.files {}, \
             index.seed {}): {what}",
            index.size, index.files, index.seed
        ));
    }
    Ok(metas)
}

/// What a started rig must carry: a port list per leader cluster, none empty, and a CA exactly
/// when the cell needs one (that CA's PEM, checked by [`check_ca_pem`]).
fn check_started(
    started: &RigStarted,
    leaders: u32,
    needs_ca: bool,
) -> Result<Option<String>, String> {
    if started.ports.len() != leaders.max(1) as usize {
        return Err(format!(
            "{} port lists for a cell of {} leader clusters",
            started.ports.len(),
            leaders.max(1)
        ));
    }
    if let Some(i) = started.ports.iter().position(Vec::is_empty) {
        return Err(format!("leader cluster {i} with no port to dial"));
    }
    if let Some(i) = started.ports.iter().position(|p| p.contains(&0)) {
        return Err(format!(
            "leader cluster {i} to be dialled on port 0: {:?}",
            started.ports[i]
        ));
    }
    match (&started.ca_pem, needs_ca) {
        (Some(pem), true) => check_ca_pem(pem).map(|()| Some(pem.clone())),
        (None, true) => Err("no CA for a cell over TLS or QUIC".into()),
        (_, false) => Ok(None),
    }
}

/// A CA certificate from the agent: at most [`MAX_CA_PEM`] bytes, PEM certificates that parse
/// as X.509 trust anchors.
pub fn check_ca_pem(pem: &str) -> Result<(), String> {
    if pem.len() > MAX_CA_PEM {
        return Err(format!("a CA of {} bytes, over {MAX_CA_PEM}", pem.len()));
    }
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a CA that is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("a CA with no CERTIFICATE block".into());
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("a CA that is not a usable certificate: {e}"))?;
    }
    Ok(())
}

/// Writes the rig's CA into the trial's scratch directory.
fn write_ca(pem: &str, scratch: &Path) -> Result<PathBuf, String> {
    let path = scratch.join("agent-rig-ca.crt.pem");
    std::fs::write(&path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// `text` cut to at most `max` characters, said so.
fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}... (cut)", &text[..at]),
        None => text.to_string(),
    }
}

fn cell_request(table: &toml::Table, seed: u64) -> Result<CellRequest, RunError> {
    let cell = serde_json::to_value(table)
        .map_err(|e| RunError::Hosts(format!("the cell cannot be sent to the agent: {e}")))?;
    Ok(CellRequest { cell, seed })
}

fn read_key(path: &Path, url: &AgentUrl) -> Result<ApiKey, RunError> {
    ApiKey::from_sources(Some(path), None)
        .map_err(|e| RunError::Hosts(format!("hosts.api_key_file for {url}: {e}")))?
        .ok_or_else(|| RunError::Hosts(format!("hosts.api_key_file for {url}: no key")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_from_the_agent_is_bounded_and_parsed_before_use() {
        let dir = tempfile::tempdir().expect("dir");
        let issued = crate::transport::certs::generate_issued(dir.path(), &["10.0.0.5".into()])
            .expect("pki");
        let pem = std::fs::read_to_string(&issued.ca).expect("ca");
        assert_eq!(check_ca_pem(&pem), Ok(()));
        let oversize = format!("{pem}{}", "#".repeat(MAX_CA_PEM));
        let refused = check_ca_pem(&oversize).expect_err("oversize");
        assert!(refused.contains("over 65536"), "{refused}");
        for bad in [
            "",
            "not a certificate",
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        ] {
            assert!(check_ca_pem(bad).is_err(), "{bad:?}");
        }
        // A rig over TLS must come with one; one that is not a CA is refused.
        let started = RigStarted {
            id: 1,
            ports: vec![vec![9]],
            ca_pem: Some("garbage".into()),
            rig_epoch_s: 0.0,
        };
        assert!(check_started(&started, 1, true).is_err());
        let started = RigStarted {
            ca_pem: None,
            ..started
        };
        assert!(check_started(&started, 1, true).is_err());
        assert_eq!(check_started(&started, 1, false), Ok(None));
        assert!(
            check_started(&started, 2, false).is_err(),
            "a port list each"
        );
    }

    #[test]
    fn index_metas_from_the_agent_have_the_cells_shape() {
        let spec = |shards, files| IndexSpec {
            size: crate::units::ByteSize::mib(1),
            files,
            seed: 0,
            shards,
        };
        // The agent's largest index (10 000 files a shard, its --max-files default) fits the
        // limit, with the largest numbers a meta can carry.
        let planned = crate::index::plan_files(&crate::index::GenerateSpec {
            size: 1 << 40,
            files: 10_000,
            seed: 1,
        })
        .expect("plan");
        let shard: Vec<FileMeta> = planned
            .iter()
            .map(|f| FileMeta {
                name: f.name.clone(),
                len: u64::MAX,
                crc32c: u32::MAX,
            })
            .collect();
        let answer = serde_json::to_vec(&IndexState::Ready {
            metas: vec![shard; 4],
        })
        .expect("json");
        let limit = metas_limit(&spec(4, 10_000));
        assert!(answer.len() <= limit, "{} > {limit}", answer.len());
        assert!(limit < 64 << 20, "and bounded: {limit}");
        let huge = IndexSpec {
            shards: 1024,
            ..spec(1, 10_000)
        };
        assert!(metas_limit(&huge) <= crate::agent_api::client::MAX_BODY);
    }

    #[test]
    fn the_agents_file_list_must_be_the_cells_index_name_for_name_and_length() {
        let index = IndexSpec {
            size: crate::units::ByteSize::mib(1),
            files: 4,
            seed: 9,
            shards: 2,
        };
        let planned = |shard: u32| -> Vec<FileMeta> {
            plan_files(&GenerateSpec {
                size: index.size.bytes(),
                files: index.files,
                seed: shard_seed(index.seed, shard),
            })
            .expect("plan")
            .into_iter()
            .map(|f| FileMeta {
                name: f.name,
                len: f.len,
                crc32c: 7,
            })
            .collect()
        };
        let good = vec![planned(0), planned(1)];
        assert!(check_metas(good.clone(), &index).is_ok());
        // In another order too (the leader lists them as it likes).
        let mut reversed = good.clone();
        reversed[1].reverse();
        assert!(check_metas(reversed, &index).is_ok());
        let err = |metas: Vec<Vec<FileMeta>>| check_metas(metas, &index).expect_err("refused");
        assert!(err(vec![planned(0)]).contains("1 shards"));
        // A length the plan does not have (also: no sum of them overflows).
        let mut longer = good.clone();
        longer[0][0].len = u64::MAX;
        assert!(err(longer).contains("which it does not plan"));
        // A file twice, in place of another: a copy that has the twin would pass a check by
        // containment.
        let mut twice = good.clone();
        twice[1][1] = twice[1][0].clone();
        assert!(err(twice).contains("shard 1"));
        let mut fewer = good.clone();
        fewer[0].pop();
        assert!(err(fewer).contains("no "));
        // Shard 1's files as shard 0's: another seed.
        assert!(err(vec![planned(1), planned(1)]).contains("shard 0"));
    }

    #[test]
    fn rig_events_move_onto_the_trial_clock() {
        // The agent's clock reads 100 s when ours reads 40 s (offset 60 s). Its rig started at
        // 103 s on its clock (43 s on ours); the trial at 42.5 s on ours. An event 2 s into the
        // rig is at 45 s on ours: 2.5 s into the trial.
        let shift = shift_s(60.0, 103.0, 42.5);
        assert!((2.0 + shift - 2.5).abs() < 1e-9, "shift {shift}");
        // A clock behind ours moves events the other way.
        assert!((shift_s(-10.0, 5.0, 14.0) - 1.0).abs() < 1e-9);
    }
}
