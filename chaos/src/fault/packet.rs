//! IPv4 + TCP headers read from a raw packet, the flow a packet belongs to, and forged RSTs: what
//! the L3 link's flow faults (`conntrack`, `reset`) need to know of a packet, without I/O.
//!
//! Only what a middlebox reads: addresses, ports, sequence and acknowledgement numbers, flags and
//! the payload length. Anything else (IPv6, UDP, fragments, a truncated header) is not a TCP
//! packet here and passes the flow faults untouched.

use std::net::{Ipv4Addr, SocketAddrV4};

const IP_HEADER: usize = 20;
const TCP_HEADER: usize = 20;
const PROTO_TCP: u8 = 6;

/// TCP flags.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// The TCP fields of one IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket {
    /// Sender.
    pub src: SocketAddrV4,
    /// Receiver.
    pub dst: SocketAddrV4,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful with [`flags::ACK`]).
    pub ack: u32,
    /// Flags byte.
    pub flags: u8,
    /// Payload bytes.
    pub payload: usize,
}

impl TcpPacket {
    /// Reads an IPv4 TCP packet; `None` for anything else (never panics on network input).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let first = *bytes.first()?;
        let ihl = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || ihl < IP_HEADER || bytes.len() < ihl + TCP_HEADER {
            return None;
        }
        let total = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let fragment = u16::from_be_bytes([bytes[6], bytes[7]]) & 0x1fff;
        if bytes[9] != PROTO_TCP || fragment != 0 || total > bytes.len() || total < ihl + TCP_HEADER
        {
            return None;
        }
        let ip = |at: usize| Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
        let tcp = &bytes[ihl..total];
        let u16_at = |at: usize| u16::from_be_bytes([tcp[at], tcp[at + 1]]);
        let u32_at =
            |at: usize| u32::from_be_bytes([tcp[at], tcp[at + 1], tcp[at + 2], tcp[at + 3]]);
        let offset = usize::from(tcp[12] >> 4) * 4;
        if offset < TCP_HEADER || offset > tcp.len() {
            return None;
        }
        Some(Self {
            src: SocketAddrV4::new(ip(12), u16_at(0)),
            dst: SocketAddrV4::new(ip(16), u16_at(2)),
            seq: u32_at(4),
            ack: u32_at(8),
            flags: tcp[13],
            payload: tcp.len() - offset,
        })
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// A SYN opening a connection (not the SYN-ACK answering one).
    pub fn opens(&self) -> bool {
        self.has(flags::SYN) && !self.has(flags::ACK) && !self.has(flags::RST)
    }

    /// The sequence number after this segment: what its receiver acknowledges once it has it.
    pub fn seq_end(&self) -> u32 {
        let control = u32::from(self.has(flags::SYN)) + u32::from(self.has(flags::FIN));
        self.seq
            .wrapping_add(self.payload as u32)
            .wrapping_add(control)
    }

    /// The flow, and whether this packet goes from its `lo` end to its `hi` end.
    pub fn flow(&self) -> (FlowKey, bool) {
        FlowKey::of(self.src, self.dst)
    }
}

/// A TCP flow: both directions of one connection map to the same key (ends in address order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// The lower end.
    pub lo: SocketAddrV4,
    /// The higher end.
    pub hi: SocketAddrV4,
}

impl FlowKey {
    /// The flow of a packet from `src` to `dst`, and whether it runs lo → hi.
    pub fn of(src: SocketAddrV4, dst: SocketAddrV4) -> (Self, bool) {
        if (src.ip(), src.port()) <= (dst.ip(), dst.port()) {
            (Self { lo: src, hi: dst }, true)
        } else {
            (Self { lo: dst, hi: src }, false)
        }
    }

    /// A number naming the flow for seeded choices (FNV-1a of its ends; stable across runs).
    pub fn id(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for end in [self.lo, self.hi] {
            for b in end
                .ip()
                .octets()
                .into_iter()
                .chain(end.port().to_be_bytes())
            {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }
}

impl std::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <-> {}", self.lo, self.hi)
    }
}

/// Where each end of a flow has got to, as seen by a middlebox that passed its packets: the
/// sequence number after the last segment each end sent, which is its peer's `rcv_nxt` when
/// nothing was lost. An RST with exactly that sequence number is accepted at once (RFC 5961 §3.2;
/// one merely in the window only draws a challenge ACK).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowSeqs {
    /// After the last segment from `lo`.
    pub lo_end: Option<u32>,
    /// After the last segment from `hi`.
    pub hi_end: Option<u32>,
}

impl FlowSeqs {
    /// Notes a packet that passed.
    pub fn saw(&mut self, p: &TcpPacket, from_lo: bool) {
        let slot = if from_lo {
            &mut self.lo_end
        } else {
            &mut self.hi_end
        };
        let end = p.seq_end();
        // Keep the furthest point (a retransmission or keepalive probe lies behind it).
        *slot = Some(match *slot {
            Some(old) if (end.wrapping_sub(old) as i32) < 0 => old,
            _ => end,
        });
    }
}

/// The two RSTs that reset a flow on both ends: `.0` goes to the `lo` end, `.1` to the `hi` end.
/// `trigger` is the packet that set it off (dropped), if any; its ack number is its sender's
/// `rcv_nxt`, fresher than anything remembered.
pub fn reset_both(
    key: FlowKey,
    seqs: FlowSeqs,
    trigger: Option<(&TcpPacket, bool)>,
) -> [Vec<u8>; 2] {
    // What each end expects next from the other.
    let mut to_lo = seqs.hi_end;
    let mut to_hi = seqs.lo_end;
    if let Some((p, from_lo)) = trigger {
        let (to_sender, to_receiver) = if from_lo {
            (&mut to_lo, &mut to_hi)
        } else {
            (&mut to_hi, &mut to_lo)
        };
        if p.has(flags::ACK) {
            *to_sender = Some(p.ack);
        }
        // The receiver never saw this packet; without memory of its sender, its seq is the best
        // guess of the receiver's rcv_nxt.
        to_receiver.get_or_insert(p.seq);
        if p.opens() {
            // A SYN is answered RST+ACK (RFC 793): seq 0, acknowledging the SYN.
            let rst = forge_rst(p.dst, p.src, 0, Some(p.seq_end()));
            let other = Vec::new();
            return if from_lo { [rst, other] } else { [other, rst] };
        }
    }
    let rst = |from: SocketAddrV4, to: SocketAddrV4, seq: Option<u32>| {
        seq.map(|s| forge_rst(from, to, s, None))
            .unwrap_or_default()
    };
    [rst(key.hi, key.lo, to_lo), rst(key.lo, key.hi, to_hi)]
}

/// An IPv4 TCP RST from `src` to `dst` with sequence number `seq` (and `ack`, with the ACK
/// flag), both checksums filled in.
pub fn forge_rst(src: SocketAddrV4, dst: SocketAddrV4, seq: u32, ack: Option<u32>) -> Vec<u8> {
    let mut p = vec![0u8; IP_HEADER + TCP_HEADER];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((IP_HEADER + TCP_HEADER) as u16).to_be_bytes());
    p[6] = 0x40; // don't fragment
    p[8] = 64; // TTL
    p[9] = PROTO_TCP;
    p[12..16].copy_from_slice(&src.ip().octets());
    p[16..20].copy_from_slice(&dst.ip().octets());
    let ip_sum = checksum(&p[..IP_HEADER], 0);
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    {
        let t = &mut p[IP_HEADER..];
        t[0..2].copy_from_slice(&src.port().to_be_bytes());
        t[2..4].copy_from_slice(&dst.port().to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.unwrap_or(0).to_be_bytes());
        t[12] = ((TCP_HEADER / 4) as u8) << 4;
        t[13] = flags::RST | if ack.is_some() { flags::ACK } else { 0 };
    }
    let tcp_sum = tcp_checksum(&p);
    p[IP_HEADER + 16..IP_HEADER + 18].copy_from_slice(&tcp_sum.to_be_bytes());
    p
}

/// The Internet checksum (RFC 1071) of `bytes`, starting from the partial sum `sum`.
pub fn checksum(bytes: &[u8], mut sum: u32) -> u16 {
    for pair in bytes.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The TCP checksum of an IPv4 packet (pseudo-header included) as it stands: 0 when the checksum
/// field is filled in correctly, the value to put there when it holds 0.
pub fn tcp_checksum(packet: &[u8]) -> u16 {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let tcp = &packet[ihl..total];
    let mut pseudo = [0u8; 12];
    pseudo[..8].copy_from_slice(&packet[12..20]);
    pseudo[9] = PROTO_TCP;
    pseudo[10..12].copy_from_slice(&(tcp.len() as u16).to_be_bytes());
    let partial: u32 = pseudo
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    checksum(tcp, partial)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A TCP packet as a kernel would send it (payload of `payload` zero bytes).
    pub(crate) fn packet(
        src: &str,
        dst: &str,
        seq: u32,
        ack: u32,
        fl: u8,
        payload: usize,
    ) -> Vec<u8> {
        let (src, dst): (SocketAddrV4, SocketAddrV4) =
            (src.parse().expect("src"), dst.parse().expect("dst"));
        let mut p = forge_rst(src, dst, seq, Some(ack));
        p[IP_HEADER + 13] = fl;
        p.resize(IP_HEADER + TCP_HEADER + payload, 0);
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p
    }

    #[test]
    fn parses_what_it_forges_and_both_checksums_verify() {
        let (a, b) = (
            "10.0.0.1:1000".parse().expect("a"),
            "10.0.0.2:80".parse().expect("b"),
        );
        let rst = forge_rst(a, b, 0xdead_beef, None);
        assert_eq!(checksum(&rst[..IP_HEADER], 0), 0, "IPv4 header checksum");
        assert_eq!(tcp_checksum(&rst), 0, "TCP checksum");
        let p = TcpPacket::parse(&rst).expect("tcp");
        assert_eq!(
            (p.src, p.dst, p.seq, p.flags, p.payload),
            (a, b, 0xdead_beef, flags::RST, 0)
        );
        let with_ack = TcpPacket::parse(&forge_rst(a, b, 1, Some(7))).expect("tcp");
        assert_eq!((with_ack.ack, with_ack.flags), (7, flags::RST | flags::ACK));
    }

    #[test]
    fn checksum_matches_a_known_header() {
        // The example header of RFC 1071's usual illustration (Wikipedia "IPv4 header checksum").
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&header, 0), 0xb861);
    }

    #[test]
    fn not_tcp_or_truncated_is_none() {
        let mut p = packet("10.0.0.1:1", "10.0.0.2:2", 1, 1, flags::ACK, 10);
        assert!(TcpPacket::parse(&p[..30]).is_none(), "truncated");
        assert!(TcpPacket::parse(&[0x60; 60]).is_none(), "IPv6");
        assert!(TcpPacket::parse(&[]).is_none());
        p[9] = 17;
        assert!(TcpPacket::parse(&p).is_none(), "UDP");
    }

    #[test]
    fn both_directions_are_one_flow() {
        let up = TcpPacket::parse(&packet("10.0.0.1:5000", "10.0.0.2:80", 1, 1, flags::ACK, 3))
            .expect("up");
        let down = TcpPacket::parse(&packet("10.0.0.2:80", "10.0.0.1:5000", 1, 1, flags::ACK, 0))
            .expect("down");
        let ((k1, d1), (k2, d2)) = (up.flow(), down.flow());
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
        assert_eq!(k1.id(), k2.id());
        assert_eq!(up.payload, 3);
        assert_eq!(up.seq_end(), 4);
    }

    #[test]
    fn resets_carry_the_sequence_each_end_expects() {
        let data = TcpPacket::parse(&packet(
            "10.0.0.1:5000",
            "10.0.0.2:80",
            100,
            900,
            flags::ACK,
            10,
        ))
        .expect("data");
        let reply = TcpPacket::parse(&packet(
            "10.0.0.2:80",
            "10.0.0.1:5000",
            900,
            110,
            flags::ACK,
            0,
        ))
        .expect("reply");
        let (key, from_lo) = data.flow();
        let mut seqs = FlowSeqs::default();
        seqs.saw(&data, from_lo);
        seqs.saw(&reply, !from_lo);
        // A keepalive probe behind the front does not move it back.
        let probe = TcpPacket::parse(&packet(
            "10.0.0.1:5000",
            "10.0.0.2:80",
            109,
            900,
            flags::ACK,
            0,
        ))
        .expect("probe");
        seqs.saw(&probe, from_lo);
        assert_eq!(seqs.lo_end, Some(110));
        // Later data from lo, dropped, sets the resets off.
        let late = TcpPacket::parse(&packet(
            "10.0.0.1:5000",
            "10.0.0.2:80",
            110,
            900,
            flags::ACK,
            5,
        ))
        .expect("late");
        let [to_lo, to_hi] = reset_both(key, seqs, Some((&late, true)));
        let (to_lo, to_hi) = (
            TcpPacket::parse(&to_lo).expect("lo"),
            TcpPacket::parse(&to_hi).expect("hi"),
        );
        assert_eq!(
            (to_lo.src, to_lo.dst, to_lo.seq),
            (key.hi, key.lo, 900),
            "the sender's ack"
        );
        assert_eq!(
            (to_hi.src, to_hi.dst, to_hi.seq),
            (key.lo, key.hi, 110),
            "what hi received"
        );
        assert!(to_lo.has(flags::RST) && to_hi.has(flags::RST));
        // A SYN is refused with RST+ACK to its sender alone.
        let syn = TcpPacket::parse(&packet("10.0.0.1:5001", "10.0.0.2:80", 7, 0, flags::SYN, 0))
            .expect("syn");
        let (k, lo) = syn.flow();
        let [r, none] = reset_both(k, FlowSeqs::default(), Some((&syn, lo)));
        let r = TcpPacket::parse(&r).expect("rst");
        assert!(none.is_empty());
        assert_eq!((r.seq, r.ack, r.flags), (0, 8, flags::RST | flags::ACK));
    }
}
