//! Prometheus metrics: `GET /metrics` in the text exposition format 0.0.4, for the leader
//! (`rrbench leader --metrics`), the TCP proxy (`rrbench proxy --metrics`) and a running
//! follower (`rrbench recover --metrics`).
//!
//! This module owns the metric names and their help, one file per component ([`leader`],
//! [`proxy`], [`follower`]), each a [`Collector`] that reads its component's counters at
//! scrape time, the writer they share (`text`), and the endpoint. It counts nothing itself:
//! the counters are the components' own (`LeaderStats`, the proxy's `ProxyStats`, the
//! follower's [`Progress`](crate::follower::Progress)), so `/metrics` and the JSON a run
//! prints agree. The format is `prometheus-client`'s (the Prometheus project's Rust client);
//! the HTTP server is [`crate::chaos::http`]. Names follow Prometheus's conventions:
//! `rrbench_<component>_<what>_<unit>`, `_total` for counters, bytes and seconds.
//!
//! The endpoint faces the network: it answers `GET /metrics` and nothing else (`404` for any
//! other path, `405` for another method on `/metrics`), and reads no request body.

pub mod follower;
pub mod leader;
pub mod proxy;
mod text;

use std::{net::SocketAddr, sync::Arc};

use prometheus_client::{encoding::prometheus_text, registry::Registry};

use crate::chaos::http::{Handler, HttpServer, Request, Response};

pub use prometheus_client::collector::Collector;

pub use self::{follower::FollowerCollector, leader::LeaderCollector, proxy::ProxyCollector};

/// The `Content-Type` of a scrape: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The path metrics are served on.
pub const PATH: &str = "/metrics";

/// The metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address could not be bound.
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What one scrape shows: the collectors registered, rendered in order.
#[derive(Debug, Default)]
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// No metrics yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a component's metrics.
    pub fn with(mut self, collector: impl Collector) -> Self {
        self.registry.register_collector(Box::new(collector));
        self
    }

    /// The metrics now, in the text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String does not fail; an encoder that did would leave a partial body,
        // which a scraper reads as a broken scrape, not as wrong numbers.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }

    /// The answer to `request`: the metrics for `GET /metrics`, `404` for another path, `405`
    /// for another method.
    pub fn respond(&self, request: &Request) -> Response {
        if request.path != PATH {
            return Response::text(404, "text/plain; charset=utf-8", "not found\n");
        }
        if request.method != "GET" {
            return Response::text(
                405,
                "text/plain; charset=utf-8",
                "method not allowed: GET /metrics only\n",
            );
        }
        Response::text(200, CONTENT_TYPE, self.render())
    }
}

/// A running metrics endpoint; dropping it stops it.
#[derive(Debug)]
pub struct MetricsServer {
    http: HttpServer,
}

impl MetricsServer {
    /// Serves `metrics` on `listen` (`HOST:PORT`; port 0 picks one).
    pub async fn start(listen: &str, metrics: Metrics) -> Result<Self, MetricsError> {
        let bind_error = |source| MetricsError::Bind {
            addr: listen.to_string(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(bind_error)?;
        let metrics = Arc::new(metrics);
        let handler: Handler = Arc::new(move |request: Request| {
            let metrics = metrics.clone();
            Box::pin(async move { metrics.respond(&request) })
        });
        let http = HttpServer::start(listener, handler).map_err(bind_error)?;
        Ok(Self { http })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// The URL to scrape.
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.local_addr())
    }

    /// Stops it and waits for its connections to end.
    pub async fn stop(self) {
        self.http.stop().await;
    }
}
