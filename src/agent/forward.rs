//! Port forwarding from the agent host's public ports into a rig's L3 link: one nftables table
//! per rig that DNATs each public port to a leader address inside the link, and masquerades the
//! DNATed flows as they leave through the link's follower-side device. The leader's namespace
//! only knows the follower-side address, so it answers; and the link's flow gate, keyed on that
//! address, sees the flows. TCP (or QUIC's UDP) stays end to end between the campaign's follower
//! and the leader, with the link's faults on its packets.
//!
//! This module owns the table (made with `nft -f -`, one atomic transaction) and the checks
//! around it. It does not start links or pick ports (`rigs.rs` does), and it never turns on the
//! host's IPv4 forwarding: without `net.ipv4.ip_forward` it refuses. It does turn forwarding on
//! for the link's own device, which the agent made.
//!
//! The table a rig gets, for public port 40001 of the agent's 10.0.0.5 to the leader at
//! 100.64.0.2:5000 on `rrb00001f` (an agent listening on any address matches `fib daddr type
//! local` instead: any of the host's own addresses, never a flow it only routes):
//!
//! ```text
//! table ip rrbench_rig_<agent pid>_<its start time>_<rig> {
//!     chain prerouting {
//!         type nat hook prerouting priority dstnat; policy accept;
//!         ip daddr 10.0.0.5 tcp dport 40001 dnat to 100.64.0.2:5000
//!     }
//!     chain postrouting {
//!         type nat hook postrouting priority srcnat; policy accept;
//!         oifname "rrb00001f" ct status dnat masquerade
//!     }
//!     chain input {
//!         type filter hook input priority filter; policy accept;
//!         iifname "rrb00001f" ct state invalid counter drop
//!         ip daddr 10.0.0.5 tcp dport { 40001 } ct state invalid counter drop
//!     }
//! }
//! ```
//!
//! Why the `input` chain: NAT is decided on a flow's first packet and kept in its conntrack
//! entry; a later packet conntrack calls INVALID (a checksum the link's `corrupt` broke, a
//! segment outside the tracked TCP window) has no entry, so it is not translated at all. One from
//! the leader keeps the follower-side address as its destination, which is local, so it goes up
//! the host's own stack. A broken checksum is dropped there (with 2 % corruption that was every
//! one of ~70 per 4 MiB in tests/agent_forward.rs, and no RST); but a well-formed segment that is
//! merely out of window would find no socket and draw an RST that crosses the link and kills the
//! leader's connection, which no real path would do. So they are dropped first, and counted (`nft
//! list table ip NAME` shows how many). An INVALID packet from the campaign is not translated
//! either and would meet the host's public port itself (and draw an RST to the campaign); those
//! are dropped too.
//!
//! A host firewall that drops forwarded packets (Docker sets iptables' `FORWARD` policy to
//! `DROP`) drops these too: an accept in this table cannot overrule a drop in another, so such a
//! host needs its own rule letting the link's device (`rrb*f`) forward.
//!
//! Only packets that arrive from outside are forwarded (the `prerouting` hook): a campaign on the
//! agent's own host would need an `output` chain too, and reaches a link there directly anyway.
//!
//! Removing the table stops new flows; flows already translated keep their conntrack entries
//! (nft cannot delete those) until they end or time out. Their packets then head for a link
//! that is gone and are dropped. Where conntrack-tools' `conntrack` is installed, removal also
//! deletes the entries for the rig's public ports, so nothing is left behind at all.

use std::{
    fmt::Write as _,
    io::{self, Write as _},
    net::{Ipv4Addr, SocketAddrV4},
    path::Path,
    process::{Command, Stdio},
};

/// Prefix of every table this module makes: `rrbench_rig_<agent pid>_<its start time>_<rig>`.
pub const TABLE_PREFIX: &str = "rrbench_rig_";

/// The host switch forwarding needs.
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Longest rig name in a table name (nft allows 256 bytes for the whole name).
const NAME_MAX: usize = 64;

/// Why a forward could not be installed or removed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The `nft` command is not installed.
    #[error("forwarding into an L3 link needs nftables' `nft` command (apt-get install nftables)")]
    NoNft,
    /// `nft` ran and failed (or could not be run).
    #[error("`nft {command}` failed: {stderr} (forwarding into an L3 link needs root)")]
    Nft {
        /// What `nft` was asked to do.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The host does not forward IPv4; the agent will not switch that on by itself.
    #[error(
        "IPv4 forwarding is off on this host (net.ipv4.ip_forward = 0), so the campaign cannot \
         reach an L3 link's leader; turn it on with `sysctl -w net.ipv4.ip_forward=1` (and in \
         /etc/sysctl.d/ to keep it), or run L3 cells on the campaign's host"
    )]
    ForwardingOff,
    /// Forwarding could not be turned on for the link's device.
    #[error("turning on forwarding for device {dev}: {source}")]
    Device {
        /// The device.
        dev: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An argument that would not make a valid (or safe) ruleset.
    #[error("bad port forward: {0}")]
    BadInput(String),
}

/// Which transport's packets a forward carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// TCP only.
    Tcp,
    /// UDP only (QUIC).
    Udp,
    /// Both, on the same ports.
    Both,
}

impl Protocol {
    fn names(self) -> &'static [&'static str] {
        match self {
            Self::Tcp => &["tcp"],
            Self::Udp => &["udp"],
            Self::Both => &["tcp", "udp"],
        }
    }
}

/// An installed forward: its nftables table, deleted on drop (or by [`Forward::remove`]).
#[derive(Debug)]
pub struct Forward {
    table: String,
    mappings: Vec<(u16, SocketAddrV4)>,
    protocol: Protocol,
    removed: bool,
}

impl Forward {
    /// Installs the table for rig `rig` (letters, digits, `_` and `-`): each `(public port, to)`
    /// in `mappings` DNATs that port of `public` (the agent's address; unspecified: any of this
    /// host's own addresses, never a flow the host only routes) to `to`, and the DNATed flows
    /// leave through `via_dev` (the link's follower-side device) masqueraded. Replaces a table
    /// of the same name, in the same transaction. Refuses while the host does not forward
    /// IPv4. Runs `nft`: call it off the async runtime's threads.
    pub fn install(
        rig: &str,
        public: Ipv4Addr,
        mappings: &[(u16, SocketAddrV4)],
        protocol: Protocol,
        via_dev: &str,
    ) -> Result<Self, ForwardError> {
        let table = table_name(&agent_tag(), rig)?;
        announce();
        let ruleset = ruleset(&table, public, mappings, protocol, via_dev)?;
        if !forwarding_enabled() {
            return Err(ForwardError::ForwardingOff);
        }
        let dev_forwarding = Path::new("/proc/sys/net/ipv4/conf")
            .join(via_dev)
            .join("forwarding");
        std::fs::write(dev_forwarding, "1").map_err(|source| ForwardError::Device {
            dev: via_dev.to_string(),
            source,
        })?;
        nft(&["-f", "-"], Some(&ruleset))?;
        Ok(Self {
            table,
            mappings: mappings.to_vec(),
            protocol,
            removed: false,
        })
    }

    /// The table's name (for `nft list table ip NAME`).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Deletes the table, then (where `conntrack` is installed) the conntrack entries of the
    /// flows it translated.
    pub fn remove(mut self) -> Result<(), ForwardError> {
        self.delete()
    }

    fn delete(&mut self) -> Result<(), ForwardError> {
        self.removed = true;
        let deleted = nft(&["delete", "table", "ip", &self.table], None);
        forget_flows(&self.mappings, self.protocol);
        deleted.map(drop)
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.delete();
        }
    }
}

/// Whether this host (this network namespace) forwards IPv4 (`net.ipv4.ip_forward`).
pub fn forwarding_enabled() -> bool {
    std::fs::read_to_string(IP_FORWARD).is_ok_and(|v| v.trim() == "1")
}

/// Deletes the tables of agents that are gone (killed before they removed them); returns their
/// names. Another running agent's tables stay, whichever PID namespace it runs in: an agent is
/// known by its pid and start time, and it is alive while its presence socket (an abstract
/// Unix socket, which belongs to the network namespace the tables are in) takes connections.
/// A new agent with an old one's pid (PID 1 of a restarted container) has another start time.
pub fn remove_stale() -> Result<Vec<String>, ForwardError> {
    let ours = agent_tag();
    announce();
    let listing = nft(&["list", "tables", "ip"], None)?;
    let mut removed = Vec::new();
    for table in listing
        .lines()
        .filter_map(|line| line.trim().strip_prefix("table ip "))
    {
        let Some((pid, started)) = table.strip_prefix(TABLE_PREFIX).and_then(|rest| {
            let mut parts = rest.splitn(3, '_');
            Some((parts.next()?, parts.next()?))
        }) else {
            continue;
        };
        let tag = format!("{pid}_{started}");
        if tag != ours && !present(&tag) {
            nft(&["delete", "table", "ip", table], None)?;
            removed.push(table.to_string());
        }
    }
    Ok(removed)
}

/// The abstract socket name an agent with `tag` listens on while it runs.
fn presence_name(tag: &str) -> String {
    format!("rrbench-agent-{tag}")
}

/// Starts this process's presence socket (once; it lives as long as the process), so other
/// agents in this network namespace keep its tables.
fn announce() {
    use std::os::{linux::net::SocketAddrExt, unix::net::SocketAddr as UnixAddr};
    static PRESENCE: std::sync::OnceLock<Option<std::os::unix::net::UnixListener>> =
        std::sync::OnceLock::new();
    PRESENCE.get_or_init(|| {
        let name = presence_name(&agent_tag());
        let addr = UnixAddr::from_abstract_name(name.as_bytes()).ok()?;
        std::os::unix::net::UnixListener::bind_addr(&addr).ok()
    });
}

/// Whether the agent with `tag` runs in this network namespace (its presence socket answers).
fn present(tag: &str) -> bool {
    use std::os::{linux::net::SocketAddrExt, unix::net::SocketAddr as UnixAddr};
    let name = presence_name(tag);
    UnixAddr::from_abstract_name(name.as_bytes())
        .and_then(|addr| std::os::unix::net::UnixStream::connect_addr(&addr))
        .is_ok()
}

/// This agent in a table's name: `<pid>_<start time>`.
fn agent_tag() -> String {
    let started = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| start_time(&stat))
        .unwrap_or_else(|| "0".into());
    format!("{}_{started}", std::process::id())
}

/// A process's start time (clock ticks after boot): field 22 of a `/proc/PID/stat` line.
fn start_time(stat: &str) -> Option<String> {
    // The command name (field 2) is in parentheses and may hold spaces and parentheses: count
    // from the last `)`, which ends it (field 3 is then the first after it).
    let after = &stat[stat.rfind(')')? + 1..];
    let field = after.split_whitespace().nth(19)?;
    field
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| field.to_string())
}

/// `rrbench_rig_<agent>_<rig>`, or why `rig` cannot be in it.
fn table_name(agent: &str, rig: &str) -> Result<String, ForwardError> {
    let fits = !rig.is_empty()
        && rig.len() <= NAME_MAX
        && rig
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !fits {
        return Err(ForwardError::BadInput(format!(
            "rig name {rig:?} (1 to {NAME_MAX} letters, digits, `_` or `-`)"
        )));
    }
    Ok(format!("{TABLE_PREFIX}{agent}_{rig}"))
}

/// The transaction that (re)creates `table`; see the module's documentation.
fn ruleset(
    table: &str,
    public: Ipv4Addr,
    mappings: &[(u16, SocketAddrV4)],
    protocol: Protocol,
    via_dev: &str,
) -> Result<String, ForwardError> {
    check_device(via_dev)?;
    if public.is_broadcast() || public.is_multicast() {
        return Err(ForwardError::BadInput(format!(
            "{public} is not an address of this host"
        )));
    }
    // Only packets to the agent's address (or, listening on any, to one of this host's own):
    // flows the host routes for others, or to another address's service, are left alone.
    let to_us = match public.is_unspecified() {
        true => "fib daddr type local ".to_string(),
        false => format!("ip daddr {public} "),
    };
    if mappings.is_empty() {
        return Err(ForwardError::BadInput("no ports to forward".into()));
    }
    for (i, (port, to)) in mappings.iter().enumerate() {
        if *port == 0 || to.port() == 0 {
            return Err(ForwardError::BadInput(format!("port 0 in {port} -> {to}")));
        }
        let ip = to.ip();
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Err(ForwardError::BadInput(format!("{to} is not one host")));
        }
        if mappings[..i].iter().any(|(p, _)| p == port) {
            return Err(ForwardError::BadInput(format!(
                "public port {port} forwarded twice"
            )));
        }
    }
    // Creating then deleting first makes the whole thing a replace that works whether or not
    // the table exists, in one transaction.
    let mut rules = format!("add table ip {table}\ndelete table ip {table}\ntable ip {table} {{\n");
    rules.push_str(
        "    chain prerouting {\n        type nat hook prerouting priority dstnat; policy accept;\n",
    );
    for (port, to) in mappings {
        for proto in protocol.names() {
            let _ = writeln!(rules, "        {to_us}{proto} dport {port} dnat to {to}");
        }
    }
    let _ = write!(
        rules,
        "    }}\n    chain postrouting {{\n        type nat hook postrouting priority srcnat; \
         policy accept;\n        oifname \"{via_dev}\" ct status dnat masquerade\n    }}\n    \
         chain input {{\n        type filter hook input priority filter; policy accept;\n        \
         iifname \"{via_dev}\" ct state invalid counter drop\n"
    );
    let ports = mappings
        .iter()
        .map(|(port, _)| port.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    for proto in protocol.names() {
        let _ = writeln!(
            rules,
            "        {to_us}{proto} dport {{ {ports} }} ct state invalid counter drop"
        );
    }
    rules.push_str("    }\n}\n");
    Ok(rules)
}

/// A device name as the kernel allows it, and nothing that could leave nft's quotes.
fn check_device(dev: &str) -> Result<(), ForwardError> {
    let fits = !dev.is_empty()
        && dev.len() < libc::IFNAMSIZ
        && dev != "."
        && dev != ".."
        && dev
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b));
    if fits {
        Ok(())
    } else {
        Err(ForwardError::BadInput(format!("device name {dev:?}")))
    }
}

/// Runs `nft ARGS` with `stdin`; returns what it printed.
fn nft(args: &[&str], stdin: Option<&str>) -> Result<String, ForwardError> {
    let command = args.join(" ");
    let failed = |stderr: String| ForwardError::Nft {
        command: command.clone(),
        stderr,
    };
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ForwardError::NoNft,
            _ => failed(e.to_string()),
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // nft reads all of its input before it answers, so this cannot fill both pipes.
        pipe.write_all(text.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Deletes the conntrack entries of the flows the table translated (to a public port, answered
/// by the leader it was forwarded to), where conntrack-tools is installed (best effort: without
/// it they end or time out by themselves; see the module's documentation).
fn forget_flows(mappings: &[(u16, SocketAddrV4)], protocol: Protocol) {
    for (port, to) in mappings {
        for proto in protocol.names() {
            let (port, leader, leader_port) =
                (port.to_string(), to.ip().to_string(), to.port().to_string());
            let _ = Command::new("conntrack")
                .args(["-D", "-p", proto, "--orig-port-dst", &port])
                .args(["--reply-src", &leader, "--reply-port-src", &leader_port])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(s: &str) -> SocketAddrV4 {
        s.parse().expect("address")
    }

    #[test]
    fn the_ruleset_dnats_each_port_and_masquerades_only_dnated_flows() {
        let rules = ruleset(
            "rrbench_rig_7_r1",
            Ipv4Addr::new(10, 0, 0, 5),
            &[
                (40001, to("100.64.0.2:5000")),
                (40002, to("100.64.0.6:5001")),
            ],
            Protocol::Both,
            "rrb00001f",
        )
        .expect("valid");
        assert_eq!(
            rules,
            "add table ip rrbench_rig_7_r1\n\
             delete table ip rrbench_rig_7_r1\n\
             table ip rrbench_rig_7_r1 {\n    \
             chain prerouting {\n        \
             type nat hook prerouting priority dstnat; policy accept;\n        \
             ip daddr 10.0.0.5 tcp dport 40001 dnat to 100.64.0.2:5000\n        \
             ip daddr 10.0.0.5 udp dport 40001 dnat to 100.64.0.2:5000\n        \
             ip daddr 10.0.0.5 tcp dport 40002 dnat to 100.64.0.6:5001\n        \
             ip daddr 10.0.0.5 udp dport 40002 dnat to 100.64.0.6:5001\n    \
             }\n    \
             chain postrouting {\n        \
             type nat hook postrouting priority srcnat; policy accept;\n        \
             oifname \"rrb00001f\" ct status dnat masquerade\n    \
             }\n    \
             chain input {\n        \
             type filter hook input priority filter; policy accept;\n        \
             iifname \"rrb00001f\" ct state invalid counter drop\n        \
             ip daddr 10.0.0.5 tcp dport { 40001, 40002 } ct state invalid counter drop\n        \
             ip daddr 10.0.0.5 udp dport { 40001, 40002 } ct state invalid counter drop\n    \
             }\n\
             }\n"
        );
    }

    #[test]
    fn bad_input_is_refused_before_nft_runs() {
        let ok = [(40001, to("100.64.0.2:5000"))];
        let bad = |r: Result<String, ForwardError>| matches!(r, Err(ForwardError::BadInput(_)));
        let any = Ipv4Addr::UNSPECIFIED;
        assert!(bad(ruleset(
            "t",
            Ipv4Addr::BROADCAST,
            &ok,
            Protocol::Tcp,
            "rrb1f"
        )));
        assert!(bad(ruleset("t", any, &ok, Protocol::Tcp, "eth0\" ; flush")));
        assert!(bad(ruleset("t", any, &ok, Protocol::Tcp, "")));
        assert!(bad(ruleset(
            "t",
            any,
            &ok,
            Protocol::Tcp,
            "sixteen-chars-ab"
        )));
        assert!(bad(ruleset("t", any, &[], Protocol::Tcp, "rrb1f")));
        assert!(bad(ruleset(
            "t",
            any,
            &[(0, to("100.64.0.2:5000"))],
            Protocol::Tcp,
            "rrb1f"
        )));
        assert!(bad(ruleset(
            "t",
            any,
            &[(1, to("0.0.0.0:5000"))],
            Protocol::Tcp,
            "rrb1f"
        )));
        assert!(bad(ruleset(
            "t",
            any,
            &[ok[0], ok[0]],
            Protocol::Tcp,
            "rrb1f"
        )));
        assert!(matches!(
            table_name("1_5", "a b"),
            Err(ForwardError::BadInput(_))
        ));
        assert!(matches!(
            table_name("1_5", ""),
            Err(ForwardError::BadInput(_))
        ));
        assert_eq!(
            table_name("12_345", "rig-3").expect("valid"),
            "rrbench_rig_12_345_rig-3"
        );
    }

    #[test]
    fn an_agent_on_any_address_forwards_only_what_is_addressed_to_this_host() {
        let rules = ruleset(
            "t",
            Ipv4Addr::UNSPECIFIED,
            &[(40001, to("100.64.0.2:5000"))],
            Protocol::Tcp,
            "rrb1f",
        )
        .expect("valid");
        assert!(
            rules.contains("fib daddr type local tcp dport 40001 dnat to 100.64.0.2:5000"),
            "{rules}"
        );
    }

    #[test]
    fn an_agent_is_known_by_its_pid_and_its_start_time() {
        // Field 22 of a stat line whose command name holds spaces and parentheses.
        let line = "4242 (a b) (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 \
                    987654 12345678 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        assert_eq!(start_time(line).as_deref(), Some("987654"));
        assert_eq!(start_time("4242 (x) S 1"), None, "a short line");
        let tag = agent_tag();
        let (pid, started) = tag.split_once('_').expect("pid_start");
        assert_eq!(pid, std::process::id().to_string());
        assert!(started.parse::<u64>().is_ok_and(|t| t > 0), "{tag}");
        // Announced, this process is present; an agent of another start time is not.
        announce();
        assert!(present(&tag));
        assert!(!present(&format!("{pid}_1")));
    }
}
