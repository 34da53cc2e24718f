//! The L3 link: the leader's end in a network namespace of its own, joined to the host by two
//! TUN devices and a packet pump that applies the datagram faults (`delay`, `rate`, `loss`,
//! `duplicate`, `reorder`, `corrupt`, `blackhole`) to every IP packet. The real kernel TCP (or
//! QUIC's UDP) stack on both ends then sees real RTT, loss, queueing and silence: congestion
//! control, retransmission timeouts, keepalive probes that go unanswered. The kernel here has
//! no netem; this is rrbench's.
//!
//! ```text
//!  host namespace                        namespace rrbench-PID-N
//!  follower ── 100.64.x.1 ─ tun rrbXf    tun rrbXl ─ 100.64.x.2 ── leader
//!                              │              ▲
//!                              └─► pump ──────┘  (and back), faults per packet
//! ```
//!
//! The follower's end stays in the host namespace, so the follower, `iperf3 -c` or `socat` reach
//! the leader at [`LinkHandle::leader_ip`] unchanged; the leader's sockets are created inside the
//! namespace ([`netns::in_netns`], `ip netns exec`). Root (CAP_NET_ADMIN) and iproute2 are needed.
//! What a fault does to one packet, the schedule and the delay lines are [`crate::datagram`],
//! shared with the UDP proxy; this module owns the namespace, the devices and the pump.
//!
//! Two faults follow TCP flows rather than packets: `conntrack` (a middlebox that forgets idle
//! flows) and `reset` (forged RSTs). They sit in a gate both pumps pass every packet through
//! first (`flows.rs`), which holds both devices, so a packet one way can be answered with an RST
//! into each kernel. The RSTs skip the datagram faults.
//!
//! Both devices run with the kernel's offloads on (`tun.rs`, `gso.rs`): a TCP sender's burst
//! crosses as one super-packet of up to 64 KiB, passed through untouched while no fault is on or
//! only a fixed delay or a blackhole is (they treat every packet of a burst alike). While any
//! fault that decides packet by packet is on (loss, corrupt, duplicate, reorder, jitter, rate),
//! the pump cuts each super-packet into the MTU-sized segments a wire would carry, with full
//! checksums, and the fault meets each segment: 1 % loss is 1 % of wire packets. When the faults
//! pass every segment of one untouched and at once, the original super-packet is written instead
//! (the receiver's GRO would have merged them anyway), so a fault that seldom acts costs a cut
//! and its checksums, not 45 writes.

mod flows;
pub mod gso;
mod hold;
pub mod netns;
pub mod tun;

use std::{
    net::Ipv4Addr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
};

use self::{
    gso::{VNET_HDR_LEN, VnetHdr},
    netns::{Netns, ip},
    tun::Tun,
};
use crate::{
    datagram::{Need, Path, Pool, Shared, Sink, lane::Send},
    events::{EventKind, EventLog},
    fault::{Direction, Fault, FaultError, Medium, check_medium, name_uniquely},
    shutdown::{Shutdown, Signal},
};

/// Prefix of the namespaces a link makes (`rrbench-PID-N`).
pub const NETNS_PREFIX: &str = "rrbench-";

/// The largest frame a TUN device hands over: a 64 KiB super-packet behind its header.
const FRAME_MAX: usize = 65_536 + VNET_HDR_LEN;

/// Frames up to this size are copied on to a delay line; larger ones go on in the buffer they
/// were read into (a copy of a 64 KiB super-packet was 6 % of the pump's time with a delay on).
const COPIED_MAX: usize = 4096;

/// The link could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// iproute2 is missing.
    #[error("the L3 link needs iproute2's `ip` command (apt-get install iproute2)")]
    NoIp,
    /// An `ip` command failed.
    #[error(
        "`{command}` failed: {output} (the L3 link needs root, i.e. CAP_NET_ADMIN and \
         CAP_SYS_ADMIN; without it use the L4 proxies)"
    )]
    Command {
        /// The command line.
        command: String,
        /// What it printed.
        output: String,
    },
    /// Creating or using a TUN device failed.
    #[error("TUN device {name}: {source} (the L3 link needs root and /dev/net/tun)")]
    Tun {
        /// The interface.
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The faults are not valid on packets.
    #[error(transparent)]
    Fault(#[from] FaultError),
}

/// What to start.
#[derive(Clone, Debug)]
pub struct Link {
    /// Packet faults; times count from the link's start.
    pub faults: Vec<Fault>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Where events go (its clock stamps them).
    pub events: Arc<EventLog>,
}

/// A running link. Dropping it stops the pump and removes the namespace and both devices.
pub struct LinkHandle {
    follower_ip: Ipv4Addr,
    leader_ip: Ipv4Addr,
    follower_dev: String,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    // Last: the namespace goes after the pump has let go of its device.
    netns: Netns,
}

impl LinkHandle {
    /// The follower's address (host namespace).
    pub fn follower_ip(&self) -> Ipv4Addr {
        self.follower_ip
    }

    /// The leader's address (inside [`LinkHandle::netns_name`]); the host routes it through the
    /// link.
    pub fn leader_ip(&self) -> Ipv4Addr {
        self.leader_ip
    }

    /// The leader's namespace, for `ip netns exec NAME ...`.
    pub fn netns_name(&self) -> &str {
        self.netns.name()
    }

    /// The file holding the leader's namespace, for [`netns::in_netns`].
    pub fn netns_path(&self) -> PathBuf {
        self.netns.path()
    }

    /// The host-side TUN device.
    pub fn follower_dev(&self) -> &str {
        &self.follower_dev
    }

    /// What the pumps have carried so far, both directions together.
    pub fn counters(&self) -> LinkCounters {
        self.counters.snapshot()
    }

    /// Stops the pump (packets in flight are dropped) and removes the link.
    pub async fn shutdown(mut self) {
        self.shutdown.stop().await;
    }
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        // Nobody can wait here: the pump lets go of its devices at its next await.
        self.shutdown.abort();
    }
}

/// What the pumps carried, both directions together: how often the offloads worked and what the
/// packet faults met.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames read from the devices.
    pub frames: u64,
    /// Of those, super-packets (several wire packets' worth).
    pub super_packets: u64,
    /// Super-packets cut into wire packets because a fault decided packet by packet.
    pub cut: u64,
    /// Of those, written whole after all: the faults passed every one of their packets
    /// untouched and at once.
    pub rejoined: u64,
    /// Packets put one by one through the faults that decide packet by packet.
    pub packets: u64,
    /// Of those, dropped.
    pub dropped: u64,
    /// Of those, corrupted.
    pub corrupted: u64,
    /// The largest packet (IP bytes) put through those faults.
    pub largest: u64,
}

#[derive(Default)]
struct Counters {
    frames: AtomicU64,
    super_packets: AtomicU64,
    cut: AtomicU64,
    rejoined: AtomicU64,
    packets: AtomicU64,
    dropped: AtomicU64,
    corrupted: AtomicU64,
    largest: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> LinkCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LinkCounters {
            frames: get(&self.frames),
            super_packets: get(&self.super_packets),
            cut: get(&self.cut),
            rejoined: get(&self.rejoined),
            packets: get(&self.packets),
            dropped: get(&self.dropped),
            corrupted: get(&self.corrupted),
            largest: get(&self.largest),
        }
    }
}

/// Why the L3 link cannot run on this machine, if it cannot (not root, no TUN, no `ip`).
pub fn unavailable() -> Option<String> {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        return Some("the L3 link needs root (CAP_NET_ADMIN)".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("the L3 link needs /dev/net/tun (the tun kernel module)".into());
    }
    match std::process::Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        _ => Some(LinkError::NoIp.to_string()),
    }
}

/// For tests that need the link: true where it can run; where it cannot, says why on stderr and
/// returns false, unless `RRBENCH_REQUIRE_L3` is set (scripts/test.sh sets it as root), which
/// turns the skip into a failure.
pub fn usable_in_tests() -> bool {
    match unavailable() {
        None => true,
        Some(why) if std::env::var_os("RRBENCH_REQUIRE_L3").is_some() => {
            panic!("RRBENCH_REQUIRE_L3 is set, but {why}")
        }
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// A /30 of 100.64.0.0/10 (shared address space, never routed to the internet) and device
/// names for the `n`th link of this process.
fn plan(n: u32) -> (u32, Ipv4Addr, Ipv4Addr) {
    let pid = std::process::id();
    let mut block = (pid.wrapping_mul(64).wrapping_add(n)) % (1 << 20);
    // Another process's link with the same block would share its device names: move on.
    while std::path::Path::new("/sys/class/net")
        .join(format!("rrb{block:05x}f"))
        .exists()
    {
        block = (block + 1) % (1 << 20);
    }
    let base = u32::from(Ipv4Addr::new(100, 64, 0, 0)) + block * 4;
    (block, Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
}

fn tun(name: &str) -> Result<Tun, LinkError> {
    Tun::create(name).map_err(|source| LinkError::Tun {
        name: name.to_string(),
        source,
    })
}

/// Turns IPv6 off on a device, so router solicitations and the like don't cross the link
/// (best effort; the pump carries them anyway).
fn quiet_ipv6(dev: &str) {
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1");
}

impl Link {
    /// Makes the namespace and both devices, turns on the faults due at time zero, and starts
    /// pumping packets.
    pub async fn start(mut self) -> Result<LinkHandle, LinkError> {
        static LINKS: AtomicU32 = AtomicU32::new(0);
        name_uniquely(&mut self.faults)?;
        check_medium(&self.faults, Medium::Packets)?;
        netns::remove_stale(NETNS_PREFIX);
        let n = LINKS.fetch_add(1, Ordering::Relaxed);
        let netns = Netns::create(&format!("{NETNS_PREFIX}{}-{n}", std::process::id()))?;
        let (block, follower_ip, leader_ip) = plan(n);
        let (near_dev, far_dev) = (format!("rrb{block:05x}f"), format!("rrb{block:05x}l"));
        let near = Arc::new(tun(&near_dev)?);
        let far = Arc::new(tun(&far_dev)?);
        let ns = netns.name().to_string();
        let (f, l) = (follower_ip.to_string(), leader_ip.to_string());
        quiet_ipv6(&near_dev);
        ip(&["addr", "add", &f, "peer", &l, "dev", &near_dev])?;
        ip(&["link", "set", &near_dev, "up"])?;
        ip(&["link", "set", &far_dev, "netns", &ns])?;
        let far_path = netns.path();
        let dev = far_dev.clone();
        let _ = netns::in_netns(&far_path, move || {
            quiet_ipv6(&dev);
            Ok(())
        });
        ip(&["-n", &ns, "addr", "add", &l, "peer", &f, "dev", &far_dev])?;
        ip(&["-n", &ns, "link", "set", &far_dev, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;

        let shared = Arc::new(Shared::new(self.faults, self.seed, self.events));
        let events = shared.events();
        events.record(EventKind::ProxyStart {
            listen: format!("{f} on {near_dev} (L3 link)"),
            upstream: format!("{l} on {far_dev} in netns {ns}"),
            seed: self.seed,
            clock_unix_epoch_s: events.clock().unix_epoch_s(),
        });
        let conn = shared.next_conn();
        events.record(EventKind::ConnOpen {
            conn,
            peer: format!("{f} <-> {l}"),
        });
        let mut shutdown = Shutdown::new();
        shared.clone().start_schedule(&mut shutdown);
        let (up, up_line) = Path::new(&shared, conn, Direction::Upstream, far.clone());
        let (down, down_line) = Path::new(&shared, conn, Direction::Downstream, near.clone());
        // The delay lines end when their pump has dropped its path.
        shutdown.spawn(|_| up_line.precise().run());
        shutdown.spawn(|_| down_line.precise().run());
        let gate = flows::Gate::new(shared.clone(), near.clone(), far.clone(), follower_ip);
        if let Some(gate) = gate.clone() {
            shutdown.spawn(|stop| gate.run(stop));
        }
        let counters = Arc::new(Counters::default());
        let upstream = Pump {
            from: near.clone(),
            to: far.clone(),
            gate: gate.clone().map(|g| (g, true)),
            shared: shared.clone(),
            counters: counters.clone(),
        };
        let downstream = Pump {
            from: far,
            to: near,
            gate: gate.map(|g| (g, false)),
            shared,
            counters: counters.clone(),
        };
        shutdown.spawn(|stop| upstream.run(up, stop));
        shutdown.spawn(|stop| downstream.run(down, stop));
        Ok(LinkHandle {
            follower_ip,
            leader_ip,
            follower_dev: near_dev,
            counters,
            shutdown,
            netns,
        })
    }
}

/// A frame (header and packet) written to a TUN device enters that side's kernel as if it came
/// off the wire.
impl Sink for Arc<Tun> {
    async fn send(&self, frame: &[u8]) {
        // A packet that cannot be written is lost, as on a network.
        let _ = Tun::send(self, frame).await;
    }
}

/// Puts an all-zero header (nothing left to the kernel) in front of a finished wire packet.
fn plain_frame(pool: &Pool, packet: Vec<u8>) -> Vec<u8> {
    let mut frame = pool.take();
    frame.extend_from_slice(&[0; VNET_HDR_LEN]);
    frame.extend_from_slice(&packet);
    pool.give(packet);
    frame
}

/// One direction: every packet the kernel routes into `from`, through the flow faults' gate
/// (with whether `from` is the near device) and the packet faults, into `to`.
struct Pump {
    from: Arc<Tun>,
    to: Arc<Tun>,
    gate: Option<(Arc<flows::Gate>, bool)>,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
}

impl Pump {
    /// Carries packets along `path` until stopped or the device goes away.
    async fn run(self, mut path: Path<Arc<Tun>>, mut stop: Signal) {
        let mut buf = Vec::with_capacity(FRAME_MAX);
        let mut segments = Vec::new();
        let mut sends = Vec::new();
        // One wait for the stop across every read: a fresh one per frame cost a watch
        // subscription and `select!`'s random pick each time.
        let stopped = stop.recv();
        tokio::pin!(stopped);
        loop {
            let received = tokio::select! {
                biased;
                _ = &mut stopped => break,
                r = self.from.recv_into(&mut buf, FRAME_MAX) => r,
            };
            // An error: the device went away (the link is being removed).
            if received.is_err() {
                break;
            }
            self.carry(&mut path, &mut buf, &mut segments, &mut sends)
                .await;
        }
        path.report(&self.shared);
    }

    /// Carries the frame in `frame`; the buffer may be handed on and replaced by a spare one.
    async fn carry(
        &self,
        path: &mut Path<Arc<Tun>>,
        frame: &mut Vec<u8>,
        segments: &mut Vec<Vec<u8>>,
        sends: &mut Vec<Send>,
    ) {
        let c = &self.counters;
        c.frames.fetch_add(1, Ordering::Relaxed);
        // A frame without its header is nothing the kernel would send: dropped.
        let Ok(hdr) = VnetHdr::parse(&frame[..]) else {
            return;
        };
        let packet = &frame[VNET_HDR_LEN..];
        if hdr.is_gso() {
            c.super_packets.fetch_add(1, Ordering::Relaxed);
        }
        if let Some((gate, from_near)) = &self.gate {
            if hdr.is_gso() && gate.counts_bytes() {
                // A byte count stops where a wire's would: each wire packet is checked, and
                // the ones that pass go on as plain packets.
                let cut = {
                    let pool = path.pool();
                    gso::segment(&hdr, packet, || pool.take(), segments)
                };
                if cut.is_err() {
                    segments.clear();
                    return;
                }
                c.cut.fetch_add(1, Ordering::Relaxed);
                let mut passed = Vec::with_capacity(segments.len());
                for segment in segments.drain(..) {
                    match gate.check(*from_near, &segment) {
                        Some(rsts) => {
                            gate.send(rsts).await;
                            path.pool().give(segment);
                        }
                        None => passed.push(segment),
                    }
                }
                for segment in passed {
                    let mut plain = plain_frame(path.pool(), segment);
                    self.pass(path, VnetHdr::default(), &mut plain, segments, sends)
                        .await;
                    path.pool().give(plain);
                }
                return;
            }
            if let Some(rsts) = gate.check(*from_near, packet) {
                gate.send(rsts).await;
                return;
            }
        }
        self.pass(path, hdr, frame, segments, sends).await;
    }

    /// Carries a frame the gate let through: whole, as a burst, or cut into wire packets, as
    /// the packet faults on need. A burst takes `frame`'s buffer with it and leaves a spare one.
    async fn pass(
        &self,
        path: &mut Path<Arc<Tun>>,
        hdr: VnetHdr,
        frame: &mut Vec<u8>,
        segments: &mut Vec<Vec<u8>>,
        sends: &mut Vec<Send>,
    ) {
        let c = &self.counters;
        match path.need(&self.shared) {
            Need::Nothing => {
                // As the kernel handed it over, header and all: the other kernel finishes it.
                let _ = self.to.send(frame).await;
                path.maybe_report(&self.shared, tokio::time::Instant::now());
            }
            Need::Bursts => {
                let wire = gso::wire_len(&hdr, &frame[VNET_HDR_LEN..]);
                let owned = if frame.len() > COPIED_MAX {
                    // It goes on in the buffer it was read into (to the delay line, which gives
                    // it to the pool when sent); the next read gets a spare one.
                    let spare = path.pool().take();
                    std::mem::replace(frame, spare)
                } else {
                    // An ACK: copied into a pooled buffer (copying a few bytes costs less than
                    // giving up the read buffer, whose replacement may have to be allocated);
                    // a pooled buffer may be a frame's size, so this bounds no memory.
                    let mut owned = path.pool().take();
                    owned.extend_from_slice(frame);
                    owned
                };
                path.carry_owned(&self.shared, owned, wire, Need::Bursts, |_, b| b)
                    .await;
            }
            Need::Packets => {
                let packet = &frame[VNET_HDR_LEN..];
                let pool = path.pool();
                // Malformed: a wire would not carry it either.
                if gso::segment(&hdr, packet, || pool.take(), segments).is_err() {
                    segments.clear();
                    return;
                }
                if hdr.is_gso() {
                    c.cut.fetch_add(1, Ordering::Relaxed);
                }
                let now = tokio::time::Instant::now();
                let mut untouched = true;
                for segment in segments.drain(..) {
                    let len = segment.len();
                    c.packets.fetch_add(1, Ordering::Relaxed);
                    c.largest.fetch_max(len as u64, Ordering::Relaxed);
                    let carried =
                        path.decide(&self.shared, segment, len, Need::Packets, now, sends);
                    untouched &= !carried.touched && carried.copies == 1;
                    if carried.copies == 0 {
                        c.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    if carried.corrupted {
                        c.corrupted.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if untouched {
                    // Every wire packet of it passed untouched and at once: they reach the other
                    // kernel together, as the super-packet they were cut from (what GRO makes
                    // of them on a real receiver), in one write instead of one each.
                    for send in sends.drain(..) {
                        path.pool().give(send.bytes);
                    }
                    c.rejoined
                        .fetch_add(u64::from(hdr.is_gso()), Ordering::Relaxed);
                    let _ = self.to.send(frame).await;
                    path.maybe_report(&self.shared, now);
                } else {
                    path.dispatch(&self.shared, now, sends.drain(..), plain_frame)
                        .await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_link_gets_a_slash_30_of_the_shared_address_space() {
        let shared = (u32::from(Ipv4Addr::new(100, 64, 0, 0)), 1u32 << 22);
        let mut seen = std::collections::HashSet::new();
        for n in 0..64 {
            let (block, follower, leader) = plan(n);
            let (f, l) = (u32::from(follower), u32::from(leader));
            assert!(
                f >= shared.0 && l < shared.0 + shared.1,
                "{follower} {leader}"
            );
            assert_eq!(f & !3, l & !3, "one /30");
            assert_eq!(
                (f & 3, l & 3),
                (1, 2),
                "neither network nor broadcast address"
            );
            assert!(format!("rrb{block:05x}f").len() < libc::IFNAMSIZ);
            assert!(seen.insert(block), "link {n} reuses block {block}");
        }
    }
}
