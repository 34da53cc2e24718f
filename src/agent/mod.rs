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
//! | `POST /indices` `{cell, seed}` | `{"state": "building"\|"ready"\|"failed"}`: generates the cell's index once |
//! | `POST /rigs` `{cell, seed, trial_seed, reference, lease_s}` | `{id, ports, rig_epoch_s}` |
//! | `GET /rigs` | `{"rigs": [ids]}` |
//! | `GET /rigs/{id}/stats` | the leader's counters |
//! | `GET /rigs/{id}/events?from=N` | `{"events": [...]}`, on the rig's clock |
//! | `DELETE /rigs/{id}` | `{events, stats}`: the rig stopped |
//!
//! Errors are Elasticsearch-shaped: `{"error": {"type": ..., "reason": ...}, "status": N}`. A
//! rig nobody stops is stopped when its lease ends; stopping the agent stops every rig.

pub mod auth;
pub mod rigs;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

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
use rigs::{Refused, Rigs};

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

fn handler(rigs: Arc<Rigs>, keys: Arc<ApiKeys>, log: Log) -> Handler {
    Arc::new(move |request: Request| {
        let (rigs, keys, log) = (rigs.clone(), keys.clone(), log.clone());
        Box::pin(async move {
            if let Err(refusal) = auth::authorize(&keys, request.header("authorization")).await {
                log(format!(
                    "refused {} {}: {}",
                    request.method, request.path, refusal.log
                ));
                return error(refusal.status, "security_exception", &refusal.reason);
            }
            route(&rigs, &log, &request).await
        })
    })
}

fn body<T: serde::de::DeserializeOwned>(request: &Request) -> Result<T, Response> {
    serde_json::from_slice(&request.body)
        .map_err(|e| error(400, "parse_exception", &format!("the request body: {e}")))
}

async fn route(rigs: &Arc<Rigs>, log: &Log, request: &Request) -> Response {
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
        ("GET", ["rigs"]) => Ok(ok(&json!({ "rigs": rigs.ids() }))),
        ("POST", ["rigs"]) => match body::<StartRig>(request) {
            Err(e) => Err(e),
            Ok(start) => Ok(match rigs.start(start).await {
                Ok(started) => {
                    log(format!(
                        "rig {}: started, ports {:?}",
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
            rig_id(id).map(|id| rigs.stats(id).map_or_else(from_refused, |s| ok(&s)))
        }
        ("GET", ["rigs", id, "events"]) => rig_id(id).map(|id| {
            let from = query_from(request.query.as_deref());
            rigs.events(id, from)
                .map_or_else(from_refused, |events| ok(&json!({ "events": events })))
        }),
        ("DELETE", ["rigs", id]) => match rig_id(id) {
            Err(e) => Err(e),
            Ok(id) => Ok(match rigs.stop(id).await {
                Ok(stopped) => {
                    log(format!(
                        "rig {id}: stopped, {} events",
                        stopped.events.len()
                    ));
                    ok(&stopped)
                }
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
