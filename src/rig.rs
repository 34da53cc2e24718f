//! One trial's wiring: an in-process leader (one node, or a cluster of several), the fault
//! injector in front of it (the TCP proxy, the UDP proxy for QUIC's datagrams, or the L3 link
//! with the leader in its own namespace), a QUIC certificate, one clock and one event log, and
//! what a follower needs to reach it all.
//!
//! Campaign trials, the demo, the CLI's `leader`, `proxy` and `link`, the benches and the
//! integration tests all start their pieces here. The rig owns the order in which they start
//! (the link first, since the leader listens inside its namespace; then the certificate, which
//! names the leader's address; the leader's nodes; the proxies, in front of the nodes'
//! addresses) and stop (every leader node, then every injector), and which settings follow from
//! which: a QUIC transport gives the leader its certificate and the follower the CA, a link gives
//! the leader its namespace. It does not own what a trial measures, judges or prints, nor the
//! follower itself: it hands out a [`FollowerConfig`] to run.
//!
//! A leader cluster ([`RigBuilder::leader_nodes`], started by [`leader::start_cluster`]) is TCP
//! only, as `rrbench leader --nodes` is. How the follower reaches it follows the remote mode, as
//! an Elasticsearch follower reaches a remote cluster: in sniff mode it dials the nodes
//! themselves (one TCP proxy in front of each, with the same faults, or the link routing to
//! them), so `config.leader` lists every node and the first `node_connections` are its gateways;
//! in proxy mode it dials one address, a TCP proxy relaying each connection to the next node in
//! turn (the load balancer in front of the cluster). Every proxy records into the one event log;
//! each numbers its connections from 1, and its `ProxyStart` event names the node it relays to.
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
    leader::{self, LeaderConfig, LeaderError, LeaderHandle, QuicServer, TlsServer},
    settings::LeaderSettings,
    transport::quic::{
        CertificatePaths, QuicClient, QuicError, QuicLiveness, TlsClient, generate_self_signed,
        host_of,
    },
    vocabulary::{RemoteMode, Transport},
};

/// Most leader nodes a rig starts (as `rrbench leader --nodes`).
pub const MAX_LEADER_NODES: usize = 64;

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
    /// A certificate issued by a CA (as [`crate::transport::certs::generate_issued`] makes
    /// them): the leader serves `certificate`, the follower trusts only `ca` (a chain, not a
    /// pinned leaf) and verifies the host it dials when that is one of `names`, else the first
    /// of `names` (a leader behind an L3 link listens on an address no certificate names).
    Issued {
        /// The leader's certificate and key.
        certificate: CertificatePaths,
        /// The CA the follower trusts.
        ca: PathBuf,
        /// The names `certificate` was issued for.
        names: Vec<String>,
    },
}

/// What the follower trusts and which name it verifies, when that is not simply the leader's
/// certificate and the host it dials.
#[derive(Clone, Debug)]
struct Trust {
    ca: PathBuf,
    names: Vec<String>,
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
    /// [`RigBuilder::leader_nodes`] out of range.
    #[error("leader nodes {nodes}: must be between 1 and {MAX_LEADER_NODES}")]
    LeaderNodes {
        /// The count asked for.
        nodes: usize,
    },
    /// A leader cluster over QUIC or behind the UDP proxy: a cluster serves TCP only.
    #[error(
        "a leader cluster ({nodes} nodes) serves TCP only, as `rrbench leader --nodes` does: \
         use the TCP transport, with the TCP proxy, the link or no injector"
    )]
    ClusterNotTcp {
        /// The nodes asked for.
        nodes: usize,
    },
    /// Several listeners (leader nodes, proxies) on consecutive ports from a fixed one would
    /// pass port 65535.
    #[error("{count} listeners on consecutive ports from {listen} would pass port 65535")]
    ListenPorts {
        /// The first listener's address.
        listen: String,
        /// How many listeners.
        count: usize,
    },
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
    tls: bool,
    client_ca: Option<PathBuf>,
    clock: Option<Clock>,
    seed: u64,
    events: Option<Arc<EventLog>>,
    nodes: usize,
    mode: RemoteMode,
    node_connections: usize,
}

/// A running rig: the leader's nodes (if it started a leader), the injectors (if any), the
/// event log, and the addresses a follower dials.
pub struct Rig {
    leaders: Vec<LeaderHandle>,
    injectors: Vec<InjectorHandle>,
    events: Arc<EventLog>,
    /// Never empty.
    dial: Vec<SocketAddr>,
    /// The follower's remote mode, when the rig started a cluster.
    mode: Option<RemoteMode>,
    transport: Transport,
    certificate: Option<CertificatePaths>,
    trust: Option<Trust>,
    tls: bool,
    clock: Clock,
    seed: u64,
}

/// A rig taken apart ([`Rig::into_parts`]), for a caller that stops the pieces itself
/// ([`RigParts::shutdown`] stops them all). A handle dropped stops its piece too, without
/// waiting for it.
pub struct RigParts {
    /// The leader (node 0 of a cluster), if the rig started one.
    pub leader: Option<LeaderHandle>,
    /// The cluster's other nodes, 1 onwards (empty for a lone leader).
    pub other_nodes: Vec<LeaderHandle>,
    /// The injector (the first, when there is one per leader node), if the rig started one.
    pub injector: Option<InjectorHandle>,
    /// The other injectors, in node order (empty but for sniff mode over a cluster).
    pub other_injectors: Vec<InjectorHandle>,
    /// The event log every piece records to.
    pub events: Arc<EventLog>,
}

impl RigParts {
    /// Stops every leader node (draining its connections), then every injector.
    pub async fn shutdown(self) {
        for leader in self.leader.into_iter().chain(self.other_nodes) {
            leader.shutdown().await;
        }
        for injector in self.injector.into_iter().chain(self.other_injectors) {
            injector.shutdown().await;
        }
    }
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

    /// Starts the leader as a cluster of `nodes` nodes (1 to [`MAX_LEADER_NODES`]; default 1),
    /// node `i` the primary of shards `s` with `s % nodes == i`, and has the follower reach it
    /// in `mode` (default sniff): see the [module docs](self). With one node the rig is as
    /// without this call (the follower's mode is its settings' own). A cluster is TCP only;
    /// without a leader of the rig's, this is ignored.
    pub fn leader_nodes(mut self, nodes: usize, mode: RemoteMode) -> Self {
        self.nodes = nodes;
        self.mode = mode;
        self
    }

    /// In sniff mode over a cluster, how many of its first nodes the follower connects to
    /// (`cluster.remote.node_connections`, default 3): only those get a proxy of their own; the
    /// follower is given the others' own addresses, which it never dials (it learns of them,
    /// as Elasticsearch's sniffer does, but reaches their shards through a gateway).
    pub fn node_connections(mut self, gateways: usize) -> Self {
        self.node_connections = gateways.max(1);
        self
    }

    /// Where the leader listens; default `127.0.0.1:0`, or the leader's address on the link
    /// (port 0) when there is one. A cluster's nodes listen on this host, each on a port of its
    /// own (port 0), or on consecutive ports from the one given.
    pub fn leader_listen(mut self, listen: impl Into<String>) -> Self {
        self.leader_listen = Some(listen.into());
        self
    }

    /// Relays to a leader started elsewhere (when the rig starts none): what `rrbench proxy`
    /// does. A comma-separated list: the TCP proxy relays each connection to the next in turn,
    /// and without an injector the follower dials them all.
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

    /// Where a proxy listens; default `127.0.0.1:0`. One per leader node (sniff mode over a
    /// cluster): each on a port of its own (port 0), or on consecutive ports from the one given.
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

    /// TLS on the TCP transport (ignored for QUIC, which always is): the leader serves its
    /// [`RigBuilder::certificate`], the follower trusts it as its CA.
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// With [`RigBuilder::tls`]: the leader requires client certificates issued by a CA in this
    /// PEM bundle (mTLS).
    pub fn client_ca(mut self, client_ca: PathBuf) -> Self {
        self.client_ca = Some(client_ca);
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
    /// default 0. The proxy in front of leader node `i` is seeded with `seed + i`.
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

    /// Starts the link (if asked for), writes the certificate, starts the leader's nodes and
    /// then the proxies in front of them. On an error, whatever started is stopped again.
    pub async fn start(self) -> Result<Rig, RigError> {
        let nodes = self.nodes;
        if !(1..=MAX_LEADER_NODES).contains(&nodes) {
            return Err(RigError::LeaderNodes { nodes });
        }
        let cluster = nodes > 1 && self.leader.is_some();
        let (mode, seed) = (cluster.then_some(self.mode), self.seed);
        if cluster
            && (self.transport == Transport::Quic || self.injector == Some(InjectorKind::UdpProxy))
        {
            return Err(RigError::ClusterNotTcp { nodes });
        }
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
        let tls = self.tls && self.transport == Transport::Tcp;
        let serves_tls = tls && self.leader.is_some();
        let (certificate, trust) = match self.certificate {
            _ if !serves_quic && !serves_tls => (None, None),
            None => return Err(RigError::NoCertificate),
            Some(Certificate::Given(paths)) => (Some(paths), None),
            Some(Certificate::Generate { dir, names }) => (
                Some(
                    generate_self_signed(&dir, &certificate_names(names, &leader_listen))
                        .map_err(QuicError::from)?,
                ),
                None,
            ),
            Some(Certificate::Issued {
                certificate,
                ca,
                names,
            }) => (Some(certificate), Some(Trust { ca, names })),
        };
        let leaders = match self.leader {
            Some((snapshot, mut config)) => {
                if serves_quic {
                    config.quic = certificate.clone().map(|certificate| QuicServer {
                        certificate,
                        liveness: self.liveness,
                    });
                }
                if serves_tls {
                    config.tls = certificate.clone().map(|certificate| TlsServer {
                        certificate,
                        client_ca: self.client_ca.clone(),
                    });
                }
                if let Some(link) = &link {
                    config.netns = Some(link.netns_path());
                }
                if cluster {
                    let listen = listen_addresses(&leader_listen, nodes)?;
                    leader::start_cluster(&listen, snapshot, config, clock).await?
                } else {
                    vec![leader::start(&leader_listen, snapshot, config, clock).await?]
                }
            }
            None => Vec::new(),
        };
        let leader_addrs: Vec<SocketAddr> = leaders.iter().map(LeaderHandle::local_addr).collect();
        let (injectors, dial) = match (self.injector, link) {
            (_, Some(link)) => {
                // The host routes the leader's addresses through the link. Without a leader of
                // the rig's, one is started by hand inside the namespace: its port is unknown.
                let dial = if leader_addrs.is_empty() {
                    vec![SocketAddr::new(IpAddr::V4(link.leader_ip()), 0)]
                } else {
                    leader_addrs
                };
                let mut injectors = vec![InjectorHandle::Link(link)];
                let dial = load_balance(
                    mode,
                    seed,
                    dial,
                    &self.injector_listen,
                    &events,
                    &mut injectors,
                )
                .await?;
                (injectors, dial)
            }
            (Some(kind), None) => {
                let upstreams = if leader_addrs.is_empty() {
                    vec![self.upstream.ok_or(RigError::NoUpstream)?]
                } else {
                    leader_addrs.iter().map(SocketAddr::to_string).collect()
                };
                // Sniff mode dials each gateway node, so each has a proxy of its own (the nodes
                // past the gateways are never dialled: their own addresses stand in the list);
                // otherwise one proxy relays to them all in turn (the load balancer of proxy
                // mode).
                let (fronts, undialled) = if cluster && self.mode == RemoteMode::Sniff {
                    let gateways = self.node_connections.min(upstreams.len());
                    (
                        upstreams[..gateways].to_vec(),
                        leader_addrs[gateways..].to_vec(),
                    )
                } else {
                    (vec![upstreams.join(",")], Vec::new())
                };
                let listen = listen_addresses(&self.injector_listen, fronts.len())?;
                let mut injectors = Vec::with_capacity(fronts.len());
                let mut dial = Vec::with_capacity(fronts.len() + undialled.len());
                for (i, (upstream, listen)) in fronts.into_iter().zip(listen).enumerate() {
                    let proxy = Proxy {
                        listen,
                        upstream,
                        faults: self.faults.clone(),
                        seed: self.seed.wrapping_add(i as u64),
                        events: events.clone(),
                    };
                    let (injector, at) = if kind == InjectorKind::UdpProxy {
                        let udp = proxy.start_udp().await?;
                        let at = udp.local_addr();
                        (InjectorHandle::Udp(udp), at)
                    } else {
                        let tcp = proxy.start().await?;
                        let at = tcp.local_addr();
                        (InjectorHandle::Tcp(tcp), at)
                    };
                    injectors.push(injector);
                    dial.push(at);
                }
                dial.extend(undialled);
                (injectors, dial)
            }
            (None, None) => {
                let dial = if leader_addrs.is_empty() {
                    self.upstream
                        .as_deref()
                        .and_then(parse_addresses)
                        .ok_or(RigError::NoUpstream)?
                } else {
                    leader_addrs
                };
                let mut injectors = Vec::new();
                let dial = load_balance(
                    mode,
                    seed,
                    dial,
                    &self.injector_listen,
                    &events,
                    &mut injectors,
                )
                .await?;
                (injectors, dial)
            }
        };
        Ok(Rig {
            leaders,
            injectors,
            events,
            dial,
            mode: cluster.then_some(self.mode),
            transport: self.transport,
            certificate,
            trust,
            tls,
            clock,
            seed: self.seed,
        })
    }
}

/// In proxy mode over a cluster (`mode` given) without an L4 proxy of the rig's (at L3, or no
/// injector), a fault-free TCP proxy relaying each new socket to the next of `nodes` in turn,
/// as the load balancer in front of a cluster does (added to `injectors`), listening on `listen`
/// (the rig's `injector_listen`: an agent's public address); its address is then the one the
/// follower dials. Otherwise `nodes` as they are.
async fn load_balance(
    mode: Option<RemoteMode>,
    seed: u64,
    nodes: Vec<SocketAddr>,
    listen: &str,
    events: &Arc<EventLog>,
    injectors: &mut Vec<InjectorHandle>,
) -> Result<Vec<SocketAddr>, RigError> {
    if mode != Some(RemoteMode::Proxy) || nodes.len() < 2 {
        return Ok(nodes);
    }
    let upstream: Vec<String> = nodes.iter().map(SocketAddr::to_string).collect();
    let balancer = Proxy {
        listen: listen.to_string(),
        upstream: upstream.join(","),
        faults: Vec::new(),
        seed,
        events: events.clone(),
    }
    .start()
    .await?;
    let at = balancer.local_addr();
    injectors.push(InjectorHandle::Tcp(balancer));
    Ok(vec![at])
}

/// Where each of `count` listeners binds, given one address: that address for one listener,
/// or for each when its port is 0 (or it is no `HOST:PORT`, so binding says what is wrong);
/// otherwise consecutive ports from the one given, as `rrbench leader --nodes` does.
fn listen_addresses(listen: &str, count: usize) -> Result<Vec<String>, RigError> {
    let port = listen
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
    match port {
        Some((host, port)) if count > 1 && port != 0 => (0..count)
            .map(|i| {
                let port = u16::try_from(i).ok().and_then(|i| port.checked_add(i));
                port.map(|p| format!("{host}:{p}"))
                    .ok_or_else(|| RigError::ListenPorts {
                        listen: listen.to_string(),
                        count,
                    })
            })
            .collect(),
        _ => Ok(vec![listen.to_string(); count]),
    }
}

/// A comma-separated list of socket addresses; `None` if any is not one.
fn parse_addresses(list: &str) -> Option<Vec<SocketAddr>> {
    list.split(',')
        .map(|a| a.trim().parse().ok())
        .collect::<Option<Vec<_>>>()
        .filter(|a| !a.is_empty())
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
            tls: false,
            client_ca: None,
            clock: None,
            seed: 0,
            events: None,
            nodes: 1,
            mode: RemoteMode::Sniff,
            node_connections: 3,
        }
    }

    /// The address the follower dials: the (first) proxy, or else the (first) leader node
    /// (across the link, when there is one). For a link without a leader of the rig's, the
    /// leader's address on the link with port 0.
    pub fn dial(&self) -> SocketAddr {
        self.dial[0]
    }

    /// Every address the follower dials, comma-separated in node order (what
    /// [`FollowerConfig::leader`] takes): one proxy per leader node, the nodes themselves, or
    /// the one address of [`Rig::dial`] (a lone leader, proxy mode).
    pub fn dial_list(&self) -> String {
        let list: Vec<String> = self.dial.iter().map(SocketAddr::to_string).collect();
        list.join(",")
    }

    /// The leader (node 0 of a cluster), if the rig started one.
    pub fn leader(&self) -> Option<&LeaderHandle> {
        self.leaders.first()
    }

    /// Every leader node, in node order (one for a lone leader; none if the rig started none).
    pub fn leader_nodes(&self) -> &[LeaderHandle] {
        &self.leaders
    }

    /// The injector (the first, when there is one per leader node), if the rig started one.
    pub fn injector(&self) -> Option<&InjectorHandle> {
        self.injectors.first()
    }

    /// Every injector: one per leader node in sniff mode over a cluster, else at most one.
    pub fn injectors(&self) -> &[InjectorHandle] {
        &self.injectors
    }

    /// The event log the injectors record to.
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
        let quic = self.transport == Transport::Quic;
        self.client().filter(|_| quic)
    }

    /// How a follower reaches the TLS (TCP) leader: trusting its certificate (or the CA that
    /// issued it), verifying the name in the address it dials.
    pub fn tls_client(&self) -> Option<TlsClient> {
        self.client().filter(|_| self.tls)
    }

    fn client(&self) -> Option<TlsClient> {
        let certificate = self.certificate.as_ref()?;
        Some(match &self.trust {
            None => TlsClient {
                ca: certificate.cert.clone(),
                ..TlsClient::default()
            },
            Some(trust) => {
                let host = host_of(&self.dial().to_string());
                TlsClient {
                    ca: trust.ca.clone(),
                    server_name: (!trust.names.contains(&host))
                        .then(|| trust.names.first().cloned())
                        .flatten(),
                    identity: None,
                }
            }
        })
    }

    /// A follower configuration that recovers into `target` through the rig: the addresses
    /// to dial ([`Rig::dial_list`]), the remote mode (for a cluster), the transport (and the
    /// QUIC CA), the rig's clock and seed; settings otherwise [`FollowerConfig::new`]'s.
    pub fn follower_config(&self, target: impl Into<PathBuf>) -> FollowerConfig {
        let mut config = FollowerConfig::new(self.dial_list(), target);
        if let Some(mode) = self.mode {
            config.settings.mode = mode;
        }
        config.settings.transport = self.transport;
        config.quic = self.quic_client();
        config.tls = self.tls_client();
        config.settings.tls = self.tls;
        config.clock = self.clock;
        config.seed = self.seed;
        config
    }

    /// Stops every leader node (draining its connections), then every injector; returns
    /// every event recorded.
    pub async fn shutdown(self) -> Vec<Event> {
        let events = self.events.clone();
        self.into_parts().shutdown().await;
        events.since(0)
    }

    /// The running pieces, for a caller that keeps and stops them itself.
    pub fn into_parts(self) -> RigParts {
        let mut leaders = self.leaders.into_iter();
        let mut injectors = self.injectors.into_iter();
        RigParts {
            leader: leaders.next(),
            other_nodes: leaders.collect(),
            injector: injectors.next(),
            other_injectors: injectors.collect(),
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

    #[test]
    fn several_listeners_take_port_zero_each_or_consecutive_ports() {
        let listen = |addr, count| listen_addresses(addr, count).expect("addresses");
        assert_eq!(listen("127.0.0.1:0", 3), ["127.0.0.1:0"; 3]);
        assert_eq!(listen("127.0.0.1:9300", 1), ["127.0.0.1:9300"]);
        assert_eq!(
            listen("[::1]:9300", 3),
            ["[::1]:9300", "[::1]:9301", "[::1]:9302"]
        );
        assert!(matches!(
            listen_addresses("127.0.0.1:65535", 2),
            Err(RigError::ListenPorts { count: 2, .. })
        ));
    }

    #[test]
    fn an_upstream_list_is_dialled_whole_or_not_at_all() {
        let list = parse_addresses("127.0.0.1:1, 127.0.0.1:2").expect("two");
        assert_eq!(list.len(), 2);
        assert_eq!(parse_addresses("127.0.0.1:1,leader:9300"), None);
        assert_eq!(parse_addresses(""), None);
    }
}
