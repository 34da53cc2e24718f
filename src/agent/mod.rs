//! `rrbench agent`: a long-running server on a host that starts and stops campaign rigs (a
//! cell's leader and the chaos in front of it) on request, serves their event logs and reports
//! its clock, so a campaign on another host can put its leader here.
//!
//! Its API is HTTPS only (rustls; the certificate and key it is given) and every request needs
//! an Elasticsearch REST API key (`Authorization: ApiKey base64(id:secret)`, see [`auth`]):
//!
//! | request | answer |
//! |---|---|
//! | `GET /version` | `{"version": "rrbench 0.x"}` |
//! | `GET /clock` | `{"agent_s": seconds since the agent started}` (monotonic) |
//! | `POST /indices` `{cell, seed}` | `{"state": "building"\|"ready"\|"failed"}`: generates the cell's index once; `ready` carries its files' metas per shard |
//! | `POST /rigs` `{cell, seed, trial_seed, reference, lease_s, server_names}` | `{id, ports: [[per node] per leader cluster], ca_pem?, rig_epoch_s}` |
//! | `GET /rigs` | `{"rigs": [ids]}` |
//! | `GET /rigs/{id}/stats` | the leader's counters |
//! | `GET /rigs/{id}/events?from=N` | `{"events": [...], "next": M}`, on the rig's clock |
//! | `DELETE /rigs/{id}` | `{events, stats}`: the rig stopped; `202 {"state": "stopping"}`: ask again |
//!
//! Errors are Elasticsearch-shaped: `{"error": {"type": ..., "reason": ...}, "status": N}`; a
//! refused key also closes the connection. A key sees and stops only the rigs it started. A rig
//! nobody stops is stopped when its lease ends; stopping the agent stops every rig and every
//! index being generated. What a cell may ask for is bounded ([`rigs::Limits`]).

pub mod auth;
pub mod forward;
pub mod rigs;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rrbench_chaos::http::{Duplex, Handler, HttpServer, Request, Response, Wrap};
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{
    agent_api::wire::{CellRequest, ClockReading, StartRig, Version},
    auth::{ApiKeyError, ApiKeys},
    clock::Clock,
    transport::certs::{self, CertError, CertificatePaths},
};
use rigs::{Limits, Refused, Rigs, Stop};

/// How often rigs past their lease are looked for.
const REAP_EVERY: Duration = Duration::from_secs(1);

/// What an agent needs.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Where its API listens; rigs listen on the same address's IP.
    pub listen: String,
    /// Its certificate chain and key.
    pub identity: CertificatePaths,
    /// The keys file (`rrbench api-key --type rest` appends to it).
    pub api_keys: PathBuf,
    /// Where indices are generated and rigs keep their files.
    pub data_dir: PathBuf,
    /// What a cell may ask for.
    pub limits: Limits,
}

/// Why an agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentStartError {
    /// The listen address.
    #[error("--listen {addr}: {message}")]
    Listen {
        /// As given.
        addr: String,
        /// Why.
        message: String,
    },
    /// The certificate or key.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// The keys file.
    #[error(transparent)]
    Keys(#[from] ApiKeyError),
    /// The data directory.
    #[error("--data-dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl AgentStartError {
    /// Whether it is the operator's input (exit code 2): an address, a certificate or key, a
    /// keys file that cannot be used.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Listen { .. } | Self::Certificate(_) => true,
            Self::Keys(e) => e.is_bad_input(),
            Self::DataDir { .. } => false,
        }
    }
}

/// A line for the agent's log.
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

/// A running agent.
pub struct Agent {
    server: HttpServer,
    rigs: Arc<Rigs>,
    reaper: tokio::task::JoinHandle<()>,
}

impl Agent {
    /// Starts serving.
    pub async fn start(config: AgentConfig, log: Log) -> Result<Self, AgentStartError> {
        let listen_err = |message: String| AgentStartError::Listen {
            addr: config.listen.clone(),
            message,
        };
        let addr: SocketAddr = config
            .listen
            .parse()
            .map_err(|e| listen_err(format!("{e}: give IP:PORT, e.g. 10.0.0.5:7070")))?;
        let server_config = certs::server_config(&config.identity, None)?;
        let keys = Arc::new(ApiKeys::load(&config.api_keys)?);
        std::fs::create_dir_all(&config.data_dir).map_err(|source| AgentStartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| listen_err(e.to_string()))?;
        let rigs = Arc::new(Rigs::new(
            Clock::start(),
            config.data_dir.clone(),
            addr.ip(),
            config.limits,
        ));
        let acceptor = TlsAcceptor::from(Arc::new(server_config));
        let wrap: Wrap = Arc::new(move |tcp| {
            let acceptor = acceptor.clone();
            Box::pin(async move { Ok(Box::new(acceptor.accept(tcp).await?) as Box<dyn Duplex>) })
        });
        let handler = handler(rigs.clone(), keys, log.clone());
        let server = HttpServer::start_with(listener, handler, wrap)
            .map_err(|e| listen_err(e.to_string()))?;
        let reaper = {
            let (rigs, log) = (rigs.clone(), log.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(REAP_EVERY).await;
                    for id in rigs.reap().await {
                        log(format!("rig {id}: its lease ended; stopped"));
                    }
                }
            })
        };
        Ok(Self {
            server,
            rigs,
            reaper,
        })
    }

    /// Where the API listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops serving and stops every rig.
    pub async fn stop(self) {
        self.reaper.abort();
        self.server.stop().await;
        self.rigs.stop_all().await;
    }
}

fn error(status: u16, kind: &str, reason: &str) -> Response {
    Response::json(
        status,
        &json!({ "error": { "type": kind, "reason": reason }, "status": status }),
    )
}

fn ok(value: &impl Serialize) -> Response {
    match serde_json::to_value(value) {
        Ok(v) => Response::json(200, &v),
        Err(e) => error(500, "exception", &e.to_string()),
    }
}

fn from_refused(r: Refused) -> Response {
    let kind = match r.status {
        404 => "resource_not_found_exception",
        400 => "illegal_argument_exception",
        _ => "exception",
    };
    error(r.status, kind, &r.reason)
}

/// Logs refusals at most once a second, counting the ones it did not log: a client without a
/// key must not be able to fill the agent's log.
struct RefusalLog {
    log: Log,
    last: Mutex<(Option<Instant>, u64)>,
}

impl RefusalLog {
    fn refused(&self, line: String) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let (when, unlogged) = &mut *last;
        if when.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            *unlogged += 1;
            return;
        }
        let more = match std::mem::take(unlogged) {
            0 => String::new(),
            n => format!(" (and {n} more refused since the last line)"),
        };
        *when = Some(Instant::now());
        (self.log)(format!("{line}{more}"));
    }
}

fn handler(rigs: Arc<Rigs>, keys: Arc<ApiKeys>, log: Log) -> Handler {
    let refusals = Arc::new(RefusalLog {
        log: log.clone(),
        last: Mutex::new((None, 0)),
    });
    Arc::new(move |request: Request| {
        let (rigs, keys, log, refusals) =
            (rigs.clone(), keys.clone(), log.clone(), refusals.clone());
        Box::pin(async move {
            let owner = match auth::authorize(&keys, request.header("authorization")).await {
                Ok(owner) => owner,
                Err(refusal) => {
                    let path: String = request.path.chars().take(80).collect();
                    refusals.refused(format!(
                        "refused {} {path:?}: {}",
                        request.method, refusal.log
                    ));
                    return error(refusal.status, "security_exception", &refusal.reason)
                        .with_header("WWW-Authenticate", "ApiKey")
                        .closing();
                }
            };
            route(&rigs, &log, &owner, &request).await
        })
    })
}

fn body<T: serde::de::DeserializeOwned>(request: &Request) -> Result<T, Response> {
    serde_json::from_slice(&request.body)
        .map_err(|e| error(400, "parse_exception", &format!("the request body: {e}")))
}

async fn route(rigs: &Arc<Rigs>, log: &Log, owner: &str, request: &Request) -> Response {
    let segments = request.segments();
    let method = request.method.as_str();
    let rig_id = |text: &str| {
        text.parse::<u64>().map_err(|_| {
            error(
                400,
                "illegal_argument_exception",
                &format!("{text:?} is not a rig id"),
            )
        })
    };
    let answer = match (method, segments.as_slice()) {
        ("GET", ["version"]) => Ok(ok(&Version {
            version: format!("rrbench {}", env!("CARGO_PKG_VERSION")),
        })),
        ("GET", ["clock"]) => Ok(ok(&ClockReading {
            agent_s: rigs.clock().elapsed().as_secs_f64(),
        })),
        ("POST", ["indices"]) => body::<CellRequest>(request).map(|cell| {
            rigs.prepare(&cell.cell, cell.seed)
                .map_or_else(from_refused, |state| ok(&state))
        }),
        ("GET", ["rigs"]) => Ok(ok(&json!({ "rigs": rigs.ids(owner) }))),
        ("POST", ["rigs"]) => match body::<StartRig>(request) {
            Err(e) => Err(e),
            Ok(start) => Ok(match rigs.start(owner, start).await {
                Ok(started) => {
                    log(format!(
                        "rig {}: started for API key [{owner}], ports {:?}",
                        started.id, started.ports
                    ));
                    ok(&started)
                }
                Err(r) => {
                    log(format!("refused to start a rig: {}", r.reason));
                    from_refused(r)
                }
            }),
        },
        ("GET", ["rigs", id, "stats"]) => {
            rig_id(id).map(|id| rigs.stats(owner, id).map_or_else(from_refused, |s| ok(&s)))
        }
        ("GET", ["rigs", id, "events"]) => rig_id(id).map(|id| {
            let from = query_from(request.query.as_deref());
            rigs.events(owner, id, from)
                .map_or_else(from_refused, |(events, next)| {
                    ok(&json!({ "events": events, "next": next }))
                })
        }),
        ("DELETE", ["rigs", id]) => match rig_id(id) {
            Err(e) => Err(e),
            Ok(id) => Ok(match rigs.stop(owner, id).await {
                Ok(Stop::Done(stopped)) => {
                    let dropped = match stopped.events_dropped {
                        0 => String::new(),
                        n => format!(" ({n} older ones not kept)"),
                    };
                    log(format!(
                        "rig {id}: stopped, {} events{dropped}",
                        stopped.events.len()
                    ));
                    ok(&*stopped)
                }
                Ok(Stop::Pending) => Response::json(202, &json!({ "state": "stopping" })),
                Err(r) => from_refused(r),
            }),
        },
        (_, ["version" | "clock" | "indices" | "rigs", ..]) => Err(error(
            405,
            "illegal_argument_exception",
            &format!("{method} is not allowed on {}", request.path),
        )),
        _ => Err(error(
            404,
            "resource_not_found_exception",
            &format!("no such endpoint: {}", request.path),
        )),
    };
    answer.unwrap_or_else(|e| e)
}

/// `from=N` in a query string (0 without).
fn query_from(query: Option<&str>) -> usize {
    query
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("from="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
