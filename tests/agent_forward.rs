//! An agent's port forward into an L3 link (`rrbench::agent::forward`): two network namespaces
//! play the agent's host and the campaign's, joined by a veth pair; the agent's namespace runs
//! a link whose leader namespace holds a TCP echo server, and forwards a public port on its
//! veth address to it. The campaign connects to that port and must get TCP end to end with the
//! link's faults on it. IPv4 forwarding is switched on inside the agent's namespace only.
//!
//! Needs root, TUN and `nft`; without them each test says why and passes, unless
//! `RRBENCH_REQUIRE_L3` is set (scripts/test.sh sets it as root), when it fails instead.

use std::{
    future::Future,
    io,
    net::{Ipv4Addr, SocketAddrV4},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use rrbench::{
    agent::forward::{self, Forward, ForwardError, Protocol},
    chaos::{
        EventLog, LinkHandle,
        clock::Clock,
        link::{
            netns::{Netns, in_netns, ip},
            usable_in_tests,
        },
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

/// The L3 link tests' link builder and echo server (the chaos crate's).
#[path = "../chaos/tests/common/mod.rs"]
mod l3;

const PUBLIC_PORT: u16 = 40_001;

/// Whether the test can run (root, TUN, `ip`, `nft`); see the module's documentation.
fn usable() -> bool {
    if !usable_in_tests() {
        return false;
    }
    let nft = Command::new("nft").arg("--version").output();
    if nft.is_ok_and(|out| out.status.success()) {
        return true;
    }
    let why = "forwarding needs nftables' `nft` (apt-get install nftables)";
    if std::env::var_os("RRBENCH_REQUIRE_L3").is_some() {
        panic!("RRBENCH_REQUIRE_L3 is set, but {why}");
    }
    eprintln!("skipped: {why}");
    false
}

/// The agent's and the campaign's namespaces, joined by a veth pair: the agent at `.1`, the
/// campaign at `.2`. Both namespaces (and so the veth pair) go on drop, pass or fail.
struct Hosts {
    agent: Netns,
    campaign: Netns,
    agent_ip: Ipv4Addr,
}

impl Hosts {
    /// The pair, with IPv4 forwarding on in the agent's namespace if `forwarding`.
    fn new(forwarding: bool) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let agent = Netns::create(&format!("rrfwd-{pid}-{n}-a")).expect("agent netns");
        let campaign = Netns::create(&format!("rrfwd-{pid}-{n}-c")).expect("campaign netns");
        // The addresses live only in these two namespaces; varying them per process and test
        // just keeps `ip` output readable when several runs overlap.
        let (x, y) = ((pid % 200 + 20) as u8, (n % 250) as u8);
        let agent_ip = Ipv4Addr::new(10, x, y, 1);
        let campaign_ip = Ipv4Addr::new(10, x, y, 2);
        let run = |args: &[&str]| ip(args).unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
        // Made in place, so nothing of it ever sits in the test machine's own namespace.
        run(&[
            "link",
            "add",
            "fwd-agent",
            "netns",
            agent.name(),
            "type",
            "veth",
            "peer",
            "name",
            "fwd-campaign",
            "netns",
            campaign.name(),
        ]);
        for (ns, dev, addr) in [
            (&agent, "fwd-agent", agent_ip),
            (&campaign, "fwd-campaign", campaign_ip),
        ] {
            let addr = format!("{addr}/24");
            run(&["-n", ns.name(), "addr", "add", &addr, "dev", dev]);
            run(&["-n", ns.name(), "link", "set", dev, "up"]);
            run(&["-n", ns.name(), "link", "set", "lo", "up"]);
        }
        if forwarding {
            // Per namespace: this is the agent namespace's switch, not the test machine's.
            in_netns(&agent.path(), || {
                std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
            })
            .expect("ip_forward in the agent's namespace");
        }
        Self {
            agent,
            campaign,
            agent_ip,
        }
    }

    /// The public address the campaign dials.
    fn public(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.agent_ip, PUBLIC_PORT)
    }

    /// Runs `body` as the agent: on a current-thread runtime on a thread inside the agent's
    /// namespace, so the link's devices, `ip` and `nft` commands all land there.
    fn agent<T: Send, F: Future<Output = T>>(&self, body: impl FnOnce() -> F + Send) -> T {
        run_in(&self.agent.path(), body)
    }
}

/// Runs `body` on a current-thread runtime on a thread inside the namespace at `netns`.
fn run_in<T: Send, F: Future<Output = T>>(netns: &Path, body: impl FnOnce() -> F + Send) -> T {
    in_netns(netns, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(runtime.block_on(body()))
    })
    .expect("a thread in the namespace")
}

/// Runs `body` as the campaign, from inside the agent's runtime (which keeps pumping the link
/// meanwhile): a blocking task whose thread enters the campaign's namespace.
async fn as_campaign<T: Send + 'static, F: Future<Output = T>>(
    campaign: PathBuf,
    body: impl FnOnce() -> F + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || run_in(&campaign, body))
        .await
        .expect("the campaign's thread")
}

/// A link with `faults` in the current namespace.
async fn link(faults: &[&str]) -> LinkHandle {
    l3::link(faults, 3, Arc::new(EventLog::new(Clock::start()))).await
}

/// A TCP echo server on the leader's address inside the link; where it listens.
fn echo_in(link: &LinkHandle) -> SocketAddrV4 {
    SocketAddrV4::new(link.leader_ip(), l3::echo_in(link))
}

/// A TCP server on the leader's address inside the link that reads and discards; where it
/// listens.
fn sink_in(link: &LinkHandle) -> SocketAddrV4 {
    let ip = link.leader_ip();
    let listener = in_netns(&link.netns_path(), move || {
        let l = std::net::TcpListener::bind((ip, 0))?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .expect("bind in the leader's namespace");
    let port = listener.local_addr().expect("address").port();
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut s, &mut tokio::io::sink()).await;
            });
        }
    });
    SocketAddrV4::new(ip, port)
}

/// Forwards the public port of any of the agent's addresses to `to` through the link's device.
fn install(link: &LinkHandle, to: SocketAddrV4) -> Forward {
    install_on(Ipv4Addr::UNSPECIFIED, link, to)
}

/// Forwards the public port of `public` to `to` through the link's device.
fn install_on(public: Ipv4Addr, link: &LinkHandle, to: SocketAddrV4) -> Forward {
    Forward::install(
        "test",
        public,
        &[(PUBLIC_PORT, to)],
        Protocol::Tcp,
        link.follower_dev(),
    )
    .expect("the forward installs")
}

/// Sends `len` patterned bytes to `to` and reads the echo back: (sent, received, or the error
/// that ended the reading).
async fn echo_through(to: SocketAddrV4, len: usize) -> (Vec<u8>, io::Result<Vec<u8>>) {
    let sent: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let stream = timeout(Duration::from_secs(5), TcpStream::connect(to))
        .await
        .expect("connects in time")
        .expect("connects");
    let (mut r, mut w) = stream.into_split();
    let data = sent.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await?;
        w.shutdown().await
    });
    let mut got = Vec::with_capacity(len);
    let read = timeout(Duration::from_secs(30), r.read_to_end(&mut got))
        .await
        .expect("the echo ends in time");
    let _ = writer.await;
    (sent, read.map(|_| got))
}

/// The tables `nft` lists in the current namespace.
fn tables() -> String {
    let out = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_campaign_reaches_the_leader_through_the_forward_intact_and_not_after_removal() {
    if !usable() {
        return;
    }
    let hosts = Hosts::new(true);
    let (public, campaign) = (hosts.public(), hosts.campaign.path());
    hosts.agent(|| async move {
        let link = link(&[]).await;
        // On the agent's own address only (an agent on any address is the other tests').
        let forward = install_on(*public.ip(), &link, echo_in(&link));
        assert!(tables().contains(forward.table()), "{}", tables());

        let (sent, got) =
            as_campaign(campaign.clone(), move || echo_through(public, 4 << 20)).await;
        assert!(got.expect("the echo") == sent, "4 MiB came back altered");
        // Through the pump (at least the 4 MiB each way in 64 KiB super-packets), not around it.
        let frames = link.counters().frames;
        assert!(frames >= 128, "the pump saw {frames} frames");

        forward.remove().expect("removed");
        assert!(!tables().contains(forward::TABLE_PREFIX), "{}", tables());
        let started = Instant::now();
        let refused = as_campaign(campaign, move || async move {
            timeout(Duration::from_secs(3), TcpStream::connect(public)).await
        })
        .await;
        // Nothing DNATs the port now and nothing listens on it: the agent's kernel refuses.
        assert_eq!(
            refused
                .expect("refused before the timeout")
                .map(|_| ())
                .map_err(|e| e.kind()),
            Err(io::ErrorKind::ConnectionRefused)
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        link.shutdown().await;
    });
}

/// Corrupted packets are INVALID to the agent's conntrack, so they are not translated: the
/// forward drops the leader's instead of letting the agent's own TCP answer them (see
/// `rrbench::agent::forward`), and the kernels' TCP retransmits them like the lost ones.
#[test]
fn loss_and_corruption_on_the_link_leave_the_forwarded_transfer_intact() {
    if !usable() {
        return;
    }
    let hosts = Hosts::new(true);
    let (public, campaign) = (hosts.public(), hosts.campaign.path());
    hosts.agent(|| async move {
        let link = link(&["loss:probability=2%", "corrupt:probability=2%"]).await;
        let _forward = install(&link, echo_in(&link));
        let (sent, got) = as_campaign(campaign, move || echo_through(public, 4 << 20)).await;
        assert!(got.expect("the echo") == sent, "4 MiB came back altered");
        let counters = link.counters();
        assert!(
            counters.dropped > 0 && counters.corrupted > 0,
            "{counters:?}"
        );
        link.shutdown().await;
    });
}

#[test]
fn the_links_delay_is_on_the_forwarded_path() {
    if !usable() {
        return;
    }
    let hosts = Hosts::new(true);
    let (public, campaign) = (hosts.public(), hosts.campaign.path());
    hosts.agent(|| async move {
        let link = link(&["delay:delay=20ms"]).await;
        let _forward = install(&link, echo_in(&link));
        let rtt = as_campaign(campaign, move || async move {
            let mut s = TcpStream::connect(public).await.expect("connects");
            let started = Instant::now();
            s.write_all(b"ping").await.expect("write");
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.expect("echo");
            started.elapsed()
        })
        .await;
        // 20 ms each way in the pump.
        assert!(rtt >= Duration::from_millis(40), "round trip {rtt:?}");
        link.shutdown().await;
    });
}

#[test]
fn the_links_reset_reaches_the_campaign_mid_transfer() {
    if !usable() {
        return;
    }
    let hosts = Hosts::new(true);
    let (public, campaign) = (hosts.public(), hosts.campaign.path());
    hosts.agent(|| async move {
        let link = link(&["reset:after_bytes=256kb"]).await;
        // Bytes one way only: the link forges its RSTs from the sequence numbers it saw, and
        // with data both ways (an echo) the campaign's end may have moved on by the time its
        // RST lands (about 1 run in 20 of an echo saw no reset at all).
        let _forward = install(&link, sink_in(&link));
        let sent = as_campaign(campaign, move || async move {
            let mut stream = TcpStream::connect(public).await?;
            stream.write_all(&vec![7u8; 4 << 20]).await?;
            let mut rest = Vec::new();
            timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
                .await
                .map_err(|_| io::Error::other("no reset within 10 s"))?
        })
        .await;
        assert_eq!(
            sent.map_err(|e| e.kind()),
            Err(io::ErrorKind::ConnectionReset)
        );
        link.shutdown().await;
    });
}

#[test]
fn without_forwarding_the_install_refuses_and_says_how_to_turn_it_on() {
    if !usable() {
        return;
    }
    let hosts = Hosts::new(false);
    hosts.agent(|| async {
        assert!(!forward::forwarding_enabled());
        let to = SocketAddrV4::new(Ipv4Addr::new(100, 64, 0, 2), 5000);
        let err = Forward::install(
            "test",
            Ipv4Addr::UNSPECIFIED,
            &[(PUBLIC_PORT, to)],
            Protocol::Tcp,
            "lo",
        )
        .expect_err("refused");
        assert!(matches!(err, ForwardError::ForwardingOff), "{err}");
        assert!(
            err.to_string().contains("sysctl -w net.ipv4.ip_forward=1"),
            "{err}"
        );
        assert!(!tables().contains(forward::TABLE_PREFIX), "{}", tables());
    });
}

#[test]
fn remove_stale_deletes_a_dead_agents_table_and_keeps_a_live_ones() {
    if !usable() {
        return;
    }
    let hosts = Hosts::new(true);
    hosts.agent(|| async {
        // Above the largest pid_max (2^22): no such process. And an agent that had this
        // process's pid but started at another time (PID 1 of a restarted container).
        let dead = format!("{}4194305_1_old", forward::TABLE_PREFIX);
        let reused = format!("{}{}_1_old", forward::TABLE_PREFIX, std::process::id());
        for table in [&dead, &reused] {
            let out = Command::new("nft")
                .args(["add", "table", "ip", table])
                .output()
                .expect("nft");
            assert!(out.status.success());
        }
        let to = SocketAddrV4::new(Ipv4Addr::new(100, 64, 0, 2), 5000);
        let live = Forward::install(
            "live",
            Ipv4Addr::UNSPECIFIED,
            &[(PUBLIC_PORT, to)],
            Protocol::Both,
            "lo",
        )
        .expect("installs");
        let mut removed = forward::remove_stale().expect("listed");
        removed.sort();
        let mut expected = vec![dead.clone(), reused.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        let listed = tables();
        assert!(
            !listed.contains(&dead) && !listed.contains(&reused),
            "{listed}"
        );
        assert!(listed.contains(live.table()), "{listed}");
        drop(live);
        assert!(!tables().contains(forward::TABLE_PREFIX), "{}", tables());
    });
}
