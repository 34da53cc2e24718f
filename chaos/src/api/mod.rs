//! A toxiproxy-compatible HTTP API for the TCP proxy, so toxiproxy's client libraries (and the
//! test suites written against them) drive rrbench's proxies unchanged.
//!
//! The endpoints, JSON shapes, status codes and error bodies are toxiproxy's (`api.go`): proxies
//! by name (`GET/POST /proxies`, `GET/POST/PATCH/DELETE /proxies/{name}`, `POST /populate`,
//! `POST /reset`), their toxics (`GET/POST /proxies/{name}/toxics`,
//! `GET/POST/PATCH/DELETE /proxies/{name}/toxics/{toxic}`) and `GET /version`. Errors are
//! `{"error": "proxy not found", "status": 404}`.
//!
//! Parts, one job each: [`toxic`] reads toxics and maps them onto rrbench's faults (no I/O);
//! [`registry`] owns the running proxies and their toxics, and applies toxics to live
//! connections ([`crate::proxy::ProxyHandle::set_faults_applied`]); [`routes`] turns HTTP
//! requests into registry calls. The HTTP server itself is [`crate::http`]. This module does not
//! know what a fault does: that is [`crate::fault`]'s.

pub mod registry;
pub mod routes;
pub mod toxic;

use std::sync::Arc;

use serde_json::json;
use tokio::net::TcpListener;

pub use self::registry::Registry;
use crate::http::{Handler, HttpServer, Request, Response};

/// toxiproxy's default API port.
pub const DEFAULT_PORT: u16 = 8474;

/// The toxiproxy release whose API this one follows; `GET /version` says it, with rrbench's.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

/// Why a request failed; each has toxiproxy's status and message (then detail after `: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The body is not what the endpoint reads (400).
    #[error("bad request body: {0}")]
    BadBody(String),
    /// A required field is empty or absent (400).
    #[error("missing required field: {0}")]
    Missing(String),
    /// No proxy has that name (404).
    #[error("proxy not found")]
    ProxyNotFound,
    /// A proxy has that name already (409).
    #[error("proxy already exists")]
    ProxyExists,
    /// `stream` is not upstream or downstream (400); toxiproxy's words exactly, though rrbench
    /// also takes `both` (the README says so).
    #[error("stream was invalid, can be either upstream or downstream")]
    InvalidStream,
    /// Not a toxic type toxiproxy or rrbench has (400).
    #[error("invalid toxic type: {0}")]
    InvalidToxicType(String),
    /// A toxic's attributes are wrong (400).
    #[error("bad toxic: {0}")]
    BadToxic(String),
    /// The proxy has a toxic of that name already (409).
    #[error("toxic already exists")]
    ToxicExists,
    /// The proxy has no toxic of that name (404).
    #[error("toxic not found")]
    ToxicNotFound,
    /// More proxies or toxics than this server holds (400).
    #[error("{0}")]
    TooMany(String),
    /// A path no endpoint serves (404).
    #[error("not found: {0}")]
    NoRoute(String),
    /// A method the path does not take (405); the response's `Allow` header lists the ones it
    /// does.
    #[error("method not allowed: {what}")]
    Method {
        /// The method and path asked for.
        what: String,
        /// The methods the path takes, as `Allow` lists them (`GET, POST`).
        allow: &'static str,
    },
    /// The proxy could not listen, or took no faults (500, as toxiproxy answers a listen error).
    #[error("{0}")]
    Proxy(String),
}

impl ApiError {
    /// The HTTP status toxiproxy answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::ProxyNotFound | Self::ToxicNotFound | Self::NoRoute(_) => 404,
            Self::ProxyExists | Self::ToxicExists => 409,
            Self::Method { .. } => 405,
            Self::Proxy(_) => 500,
            _ => 400,
        }
    }

    /// toxiproxy's error body.
    pub fn response(&self) -> Response {
        let status = self.status();
        let response = Response::json(
            status,
            &json!({ "error": self.to_string(), "status": status }),
        );
        match self {
            Self::Method { allow, .. } => response.with_header("Allow", *allow),
            _ => response,
        }
    }
}

/// Serves the API for `registry` on `listener`.
pub fn serve(listener: TcpListener, registry: Arc<Registry>) -> std::io::Result<HttpServer> {
    let handler: Handler = Arc::new(move |request: Request| {
        let registry = registry.clone();
        Box::pin(async move { routes::handle(&registry, request).await })
    });
    HttpServer::start(listener, handler)
}
