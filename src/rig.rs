//! One trial's wiring: an in-process leader, the fault injector in front of it (the TCP proxy,
//! the UDP proxy for QUIC's datagrams, or the L3 link with the leader in its own namespace), a
//! QUIC certificate, one clock and one event log, and what a follower needs to reach it all.
//!
//! Campaign trials, the demo, the CLI's `leader`, `proxy` and `link`, the benches and the
//! integration tests all start their pieces here. The rig owns the order in which they start
//! (the link first, since the leader listens inside its namespace; then the certificate, which
//! names the leader's address; the leader; the proxy, in front of the leader's address) and stop
//! (leader, then injector), and which settings follow from which: a QUIC transport gives the
//! leader its certificate and the follower the CA, a link gives the leader its namespace. It does
//! not own what a trial measures, judges or prints, nor the follower itself: it hands out a
//! [`FollowerConfig`] to run.
//!
//! ```no_run
//! # async fn demo(snapshot: rrbench::index::IndexSnapshot) -> Result<(), rrbench::rig::RigError> {
//! use rrbench::{rig::{InjectorKind, Rig}, settings::LeaderSettings};
//! let faults = vec!["latency:delay=5ms".parse().expect("fault")];
//! let rig = Rig::builder()
//!     .leader(snapshot, LeaderSettings::default())
//!     .injector(InjectorKind::TcpProxy, faults)
//!     .seed(7)
//!     .start()
//!     .await?;
//! let config = rig.follower_config("/tmp/follower"); // dials the proxy
//! // ... rrbench::follower::recover(config, ...) ...
//! let events = rig.shutdown().await; // the chaos events, on the rig's clock
//! # let _ = (config, events); Ok(()) }
//! ```

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
};

use crate::{
    chaos::{
        Event, EventLog, Fault, Link, LinkError, LinkHandle, Proxy, ProxyError, ProxyHandle,
        UdpProxyHandle,
    },
    clock::Clock,
    follower::FollowerConfig,
    index::IndexShards,
    leader::{self, LeaderConfig, LeaderError, LeaderHandle, QuicServer},
    settings::LeaderSettings,
    transport::quic::{
        CertificatePaths, QuicClient, QuicError, QuicLiveness, generate_self_signed, host_of,
    },
    vocabulary::Transport,
};

/// What carries a rig's faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectorKind {
    /// The L4 TCP proxy ([`Proxy::start`]): faults on a byte stream.
    TcpProxy,
    /// The L4 datagram proxy ([`Proxy::start_udp`]): faults on QUIC's UDP datagrams.
    UdpProxy,
    /// The L3 link ([`Link`]): faults on every IP packet, the leader in a network namespace of
    /// its own (root only).
    Link,
}

impl InjectorKind {
    /// The L4 proxy that carries `transport`: TCP's byte stream, or QUIC's datagrams.
    pub fn proxy_for(transport: Transport) -> Self {
        match transport {
            Transport::Tcp => Self::TcpProxy,
            Transport::Quic => Self::UdpProxy,
        }
    }
}

/// The certificate of a QUIC leader.
#[derive(Clone, Debug)]
pub enum Certificate {
    /// These files.
    Given(CertificatePaths),
    /// A self-signed certificate written into `dir` for `names` and for the host the leader
    /// listens on (unless it is a wildcard address or already named), so a follower that dials
    /// the leader's address verifies it without `--server-name`.
    Generate {
        /// Where `leader.crt.pem` and `leader.key.pem` go.
        dir: PathBuf,
        /// DNS names or IP addresses, before the leader's host.
        names: Vec<String>,
    },
}

/// The rig could not start.
#[derive(Debug, thiserror::Error)]
pub enum RigError {
    /// Starting the leader.
    #[error(transparent)]
    Leader(#[from] LeaderError),
    /// Starting a proxy.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// Setting up the L3 link.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Making the QUIC certificate.
    #[error(transparent)]
    Quic(#[from] QuicError),
    /// A QUIC leader was asked for without [`RigBuilder::certificate`].
    #[error("a QUIC leader needs a certificate (RigBuilder::certificate)")]
    NoCertificate,
    /// Neither a leader nor an upstream address: nothing to relay to or dial.
    #[error("the rig has nothing to relay to or dial: give it a leader or an upstream address")]
    NoUpstream,
}

/// A running injector.
pub enum InjectorHandle {
    /// The TCP proxy.
    Tcp(ProxyHandle),
    /// The UDP (datagram) proxy.
    Udp(UdpProxyHandle),
    /// The L3 link.
    Link(LinkHandle),
}

impl InjectorHandle {
    /// Where a proxy listens; `None` for the link (the follower dials the leader's address,
    /// which the host routes through the link).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(p) => Some(p.local_addr()),
            Self::Udp(p) => Some(p.local_addr()),
            Self::Link(_) => None,
        }
    }

    /// Stops it and waits for its tasks (the link also removes its namespace and devices).
    pub async fn shutdown(self) {
        match self {
            Self::Tcp(p) => p.shutdown().await,
            Self::Udp(p) => p.shutdown().await,
            Self::Link(l) => l.shutdown().await,
        }
    }
}

/// What to start: see [`Rig::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until started"]
pub struct RigBuilder {
    leader: Option<(IndexShards, LeaderConfig)>,
    leader_listen: Option<String>,
    upstream: Option<String>,
    injector: Option<InjectorKind>,
    injector_listen: String,
    faults: Vec<Fault>,
    transport: Transport,
    certificate: Option<Certificate>,
    liveness: QuicLiveness,
    clock: Option<Clock>,
    seed: u64,
    events: Option<Arc<EventLog>>,
}

/// A running rig: the leader (if it started one), the injector (if any), the event log, and
/// the address a follower dials.
pub struct Rig {
    leader: Option<LeaderHandle>,
    injector: Option<InjectorHandle>,
    events: Arc<EventLog>,
    dial: SocketAddr,
    transport: Transport,
    certificate: Option<CertificatePaths>,
    clock: Clock,
    seed: u64,
}

/// A rig taken apart ([`Rig::into_parts`]), for a caller that stops the pieces itself.
pub struct RigParts {
    /// The leader, if the rig started one.
    pub leader: Option<LeaderHandle>,
    /// The injector, if the rig started one.
    pub injector: Option<InjectorHandle>,
    /// The event log every piece records to.
    pub events: Arc<EventLog>,
}

impl RigBuilder {
    /// Serves `snapshot` from an in-process leader with these settings (and
    /// [`LeaderConfig`]'s defaults otherwise).
    pub fn leader(self, snapshot: impl Into<IndexShards>, settings: LeaderSettings) -> Self {
        let config = LeaderConfig {
            settings,
            ..LeaderConfig::default()
        };
        self.leader_config(snapshot, config)
    }

    /// Serves `snapshot` from an in-process leader set up by `config` (index name, auth token,
    /// logging, a namespace of the caller's). The rig sets its `quic` from the transport and
    /// the certificate, and its `netns` when it starts a link.
    pub fn leader_config(mut self, snapshot: impl Into<IndexShards>, config: LeaderConfig) -> Self {
        self.leader = Some((snapshot.into(), config));
        self
    }

    /// Where the leader listens; default `127.0.0.1:0`, or the leader's address on the link
    /// (port 0) when there is one.
    pub fn leader_listen(mut self, listen: impl Into<String>) -> Self {
        self.leader_listen = Some(listen.into());
        self
    }

    /// Relays to a leader started elsewhere (when the rig starts none): what `rrbench proxy`
    /// does.
    pub fn upstream(mut self, addr: impl Into<String>) -> Self {
        self.upstream = Some(addr.into());
        self
    }

    /// Puts `faults` between follower and leader with this injector (no injector, no faults:
    /// the follower dials the leader). The faults must suit it (stream faults for the TCP
    /// proxy, datagram and packet faults for the others): starting checks.
    pub fn injector(mut self, kind: InjectorKind, faults: Vec<Fault>) -> Self {
        self.injector = Some(kind);
        self.faults = faults;
        self
    }

    /// Where a proxy listens; default `127.0.0.1:0`.
    pub fn injector_listen(mut self, listen: impl Into<String>) -> Self {
        self.injector_listen = listen.into();
        self
    }

    /// TCP (default) or QUIC, for the leader and the follower's configuration. A QUIC leader
    /// needs a [`RigBuilder::certificate`].
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// The QUIC leader's certificate (the follower trusts it as its CA).
    pub fn certificate(mut self, certificate: Certificate) -> Self {
        self.certificate = Some(certificate);
        self
    }

    /// The QUIC leader's idle timeout and keep-alive; default [`QuicLiveness::default`].
    pub fn quic_liveness(mut self, liveness: QuicLiveness) -> Self {
        self.liveness = liveness;
        self
    }

    /// The clock the leader logs, the events and the follower's report are stamped on;
    /// default: a clock started by [`RigBuilder::start`].
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Seed of the injector's random choices and of the follower's (its backoff jitter);
    /// default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Where events go (an [`EventLog::with_file`], say); default a fresh log on the rig's
    /// clock.
    pub fn events(mut self, events: Arc<EventLog>) -> Self {
        self.events = Some(events);
        self
    }

    /// Starts the link (if asked for), writes the certificate, starts the leader and then the
    /// proxy in front of it. On an error, whatever started is stopped again.
    pub async fn start(self) -> Result<Rig, RigError> {
        let clock = self.clock.unwrap_or_else(Clock::start);
        let events = self
            .events
            .unwrap_or_else(|| Arc::new(EventLog::new(clock)));
        // At L3 the link comes first: the leader listens inside its namespace.
        let link = match self.injector {
            Some(InjectorKind::Link) => Some(
                Link {
                    faults: self.faults.clone(),
                    seed: self.seed,
                    events: events.clone(),
                }
                .start()
                .await?,
            ),
            _ => None,
        };
        let leader_listen = self.leader_listen.unwrap_or_else(|| match &link {
            Some(link) => format!("{}:0", link.leader_ip()),
            None => "127.0.0.1:0".to_string(),
        });
        let serves_quic = self.transport == Transport::Quic && self.leader.is_some();
        let certificate = match self.certificate {
            _ if !serves_quic => None,
            None => return Err(RigError::NoCertificate),
            Some(Certificate::Given(paths)) => Some(paths),
            Some(Certificate::Generate { dir, names }) => Some(generate_self_signed(
                &dir,
                &certificate_names(names, &leader_listen),
            )?),
        };
        let leader = match self.leader {
            Some((snapshot, mut config)) => {
                config.quic = certificate.clone().map(|certificate| QuicServer {
                    certificate,
                    liveness: self.liveness,
                });
                if let Some(link) = &link {
                    config.netns = Some(link.netns_path());
                }
                Some(leader::start(&leader_listen, snapshot, config, clock).await?)
            }
            None => None,
        };
        let leader_addr = leader.as_ref().map(LeaderHandle::local_addr);
        let (injector, dial) = match (self.injector, link) {
            (_, Some(link)) => {
                // The host routes the leader's address through the link. Without a leader of
                // the rig's, one is started by hand inside the namespace: its port is unknown.
                let dial =
                    leader_addr.unwrap_or_else(|| SocketAddr::new(IpAddr::V4(link.leader_ip()), 0));
                (Some(InjectorHandle::Link(link)), dial)
            }
            (Some(kind), None) => {
                let upstream = leader_addr
                    .map(|a| a.to_string())
                    .or(self.upstream)
                    .ok_or(RigError::NoUpstream)?;
                let proxy = Proxy {
                    listen: self.injector_listen,
                    upstream,
                    faults: self.faults,
                    seed: self.seed,
                    events: events.clone(),
                };
                if kind == InjectorKind::UdpProxy {
                    let udp = proxy.start_udp().await?;
                    let at = udp.local_addr();
                    (Some(InjectorHandle::Udp(udp)), at)
                } else {
                    let tcp = proxy.start().await?;
                    let at = tcp.local_addr();
                    (Some(InjectorHandle::Tcp(tcp)), at)
                }
            }
            (None, None) => {
                let upstream = self.upstream.and_then(|a| a.parse().ok());
                let dial = leader_addr.or(upstream).ok_or(RigError::NoUpstream)?;
                (None, dial)
            }
        };
        Ok(Rig {
            leader,
            injector,
            events,
            dial,
            transport: self.transport,
            certificate,
            clock,
            seed: self.seed,
        })
    }
}

/// `names`, then the host of `listen` unless it is a wildcard or already there.
fn certificate_names(mut names: Vec<String>, listen: &str) -> Vec<String> {
    let host = host_of(listen);
    if !["0.0.0.0", "::", ""].contains(&host.as_str()) && !names.contains(&host) {
        names.push(host);
    }
    names
}

impl Rig {
    /// A rig with nothing in it yet: add a leader (or an upstream), an injector, a transport.
    pub fn builder() -> RigBuilder {
        RigBuilder {
            leader: None,
            leader_listen: None,
            upstream: None,
            injector: None,
            injector_listen: "127.0.0.1:0".into(),
            faults: Vec::new(),
            transport: Transport::Tcp,
            certificate: None,
            liveness: QuicLiveness::default(),
            clock: None,
            seed: 0,
            events: None,
        }
    }

    /// The address the follower dials: the proxy, or else the leader (across the link, when
    /// there is one). For a link without a leader of the rig's, the leader's address on the
    /// link with port 0.
    pub fn dial(&self) -> SocketAddr {
        self.dial
    }

    /// The leader, if the rig started one.
    pub fn leader(&self) -> Option<&LeaderHandle> {
        self.leader.as_ref()
    }

    /// The injector, if the rig started one.
    pub fn injector(&self) -> Option<&InjectorHandle> {
        self.injector.as_ref()
    }

    /// The event log the injector records to.
    pub fn events(&self) -> &Arc<EventLog> {
        &self.events
    }

    /// The clock everything is stamped on.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The QUIC leader's certificate.
    pub fn certificate(&self) -> Option<&CertificatePaths> {
        self.certificate.as_ref()
    }

    /// How a follower reaches the QUIC leader: trusting its certificate, verifying the name in
    /// the address it dials.
    pub fn quic_client(&self) -> Option<QuicClient> {
        self.certificate.as_ref().map(|c| QuicClient {
            ca: c.cert.clone(),
            server_name: None,
        })
    }

    /// A follower configuration that recovers into `target` through the rig: the address to
    /// dial, the transport (and the QUIC CA), the rig's clock and seed; settings otherwise
    /// [`FollowerConfig::new`]'s.
    pub fn follower_config(&self, target: impl Into<PathBuf>) -> FollowerConfig {
        let mut config = FollowerConfig::new(self.dial.to_string(), target);
        config.settings.transport = self.transport;
        config.quic = self.quic_client();
        config.clock = self.clock;
        config.seed = self.seed;
        config
    }

    /// Stops the leader (draining its connections), then the injector; returns every event
    /// recorded.
    pub async fn shutdown(self) -> Vec<Event> {
        if let Some(leader) = self.leader {
            leader.shutdown().await;
        }
        if let Some(injector) = self.injector {
            injector.shutdown().await;
        }
        self.events.since(0)
    }

    /// The running pieces, for a caller that keeps and stops them itself.
    pub fn into_parts(self) -> RigParts {
        RigParts {
            leader: self.leader,
            injector: self.injector,
            events: self.events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_names_the_host_the_leader_listens_on() {
        let names = |given: &[&str], listen| {
            certificate_names(given.iter().map(|n| n.to_string()).collect(), listen)
        };
        assert_eq!(
            names(&["localhost"], "127.0.0.1:0"),
            ["localhost", "127.0.0.1"]
        );
        assert_eq!(names(&[], "100.64.0.2:0"), ["100.64.0.2"]);
        assert_eq!(
            names(&["localhost", "127.0.0.1", "::1"], "[::1]:9443"),
            ["localhost", "127.0.0.1", "::1"]
        );
        assert_eq!(names(&["localhost"], "0.0.0.0:9443"), ["localhost"]);
        assert_eq!(names(&["localhost"], "[::]:9443"), ["localhost"]);
    }
}
