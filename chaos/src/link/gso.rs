//! The `virtio_net_hdr` in front of every packet on an offloading TUN device, and cutting a TCP
//! super-packet into the MTU-sized packets a wire would carry: pure, no I/O.
//!
//! With `TUN_F_TSO4/6` the kernel hands the pump one TCP packet of up to 64 KiB whose header says
//! how to cut it (`gso_type`, `gso_size`), and with `TUN_F_CSUM` a packet whose transport
//! checksum is left to finish (`NEEDS_CSUM`, `csum_start`, `csum_offset`; the field holds the
//! pseudo-header sum). The pump passes header and packet through unchanged when no fault needs
//! to see wire packets; otherwise [`segment`] does what the kernel's software GSO does: each
//! segment gets its share of the payload, its own IP length and id, sequence number, flags and
//! full checksums, and is written back behind an all-zero header (nothing left to the kernel), so
//! a corrupted byte is caught by the receiving kernel's checksum as on a wire.
//! See the kernel's `include/uapi/linux/virtio_net.h` and `virtio_net_hdr_to_skb`.

/// Bytes of the header (`struct virtio_net_hdr`, without `num_buffers`), as set with
/// `TUNSETVNETHDRSZ`.
pub const VNET_HDR_LEN: usize = 10;

/// `flags`: the transport checksum is to be finished from `csum_start`, stored at `csum_offset`.
pub const NEEDS_CSUM: u8 = 1;

/// `gso_type` values (the `ECN` bit aside).
pub mod gso_type {
    /// Not a super-packet.
    pub const NONE: u8 = 0;
    /// TCP over IPv4.
    pub const TCPV4: u8 = 1;
    /// UFO (UDP fragmentation, obsolete).
    pub const UDP: u8 = 3;
    /// TCP over IPv6.
    pub const TCPV6: u8 = 4;
    /// UDP segmentation (USO).
    pub const UDP_L4: u8 = 5;
    /// The sender saw congestion (set alongside the type).
    pub const ECN: u8 = 0x80;
}

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// A `struct virtio_net_hdr` (little-endian on the wire, as tun uses without `TUNSETVNETBE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// [`NEEDS_CSUM`] and friends.
    pub flags: u8,
    /// One of [`gso_type`].
    pub gso_type: u8,
    /// Bytes of headers (a hint; [`segment`] reads the packet's own).
    pub hdr_len: u16,
    /// Payload bytes per segment (the MSS).
    pub gso_size: u16,
    /// Where the checksummed bytes start.
    pub csum_start: u16,
    /// Where, from `csum_start`, the checksum goes.
    pub csum_offset: u16,
}

/// Why a packet cannot be cut or finished (it is then dropped, as a wire drops garbage).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GsoError {
    /// Shorter than its header.
    #[error("frame shorter than its virtio_net_hdr")]
    Short,
    /// IP or TCP headers do not add up.
    #[error("malformed IP or TCP header in a super-packet")]
    Malformed,
    /// A kind of offload the link does not ask for (UFO, USO).
    #[error("unsupported gso_type {0}")]
    Unsupported(u8),
}

impl VnetHdr {
    /// Reads the header in front of `frame`.
    pub fn parse(frame: &[u8]) -> Result<Self, GsoError> {
        let h = frame.get(..VNET_HDR_LEN).ok_or(GsoError::Short)?;
        let u16_at = |at: usize| u16::from_le_bytes([h[at], h[at + 1]]);
        Ok(Self {
            flags: h[0],
            gso_type: h[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// The header as bytes.
    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut h = [0u8; VNET_HDR_LEN];
        h[0] = self.flags;
        h[1] = self.gso_type;
        h[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        h[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        h[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        h[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        h
    }

    /// Whether the packet behind it is a super-packet to be cut.
    pub fn is_gso(&self) -> bool {
        self.gso_type & !gso_type::ECN != gso_type::NONE
    }
}

/// IP + TCP header bytes of a TCP packet, and whether it is IPv4.
fn tcp_headers(packet: &[u8]) -> Result<(usize, usize, bool), GsoError> {
    let first = *packet.first().ok_or(GsoError::Malformed)?;
    let (ip_len, v4, proto) = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            (ihl, true, *packet.get(9).ok_or(GsoError::Malformed)?)
        }
        // Extension headers before TCP are not cut here (Linux's TCP does not send them).
        6 => (40, false, *packet.get(6).ok_or(GsoError::Malformed)?),
        _ => return Err(GsoError::Malformed),
    };
    if proto != PROTO_TCP || ip_len < 20 || packet.len() < ip_len + 20 {
        return Err(GsoError::Malformed);
    }
    let tcp_len = usize::from(packet[ip_len + 12] >> 4) * 4;
    if tcp_len < 20 || packet.len() < ip_len + tcp_len {
        return Err(GsoError::Malformed);
    }
    Ok((ip_len, tcp_len, v4))
}

/// Bytes a wire carries for this packet: each segment repeats the headers.
pub fn wire_len(hdr: &VnetHdr, packet: &[u8]) -> usize {
    if !hdr.is_gso() || hdr.gso_size == 0 {
        return packet.len();
    }
    let Ok((ip_len, tcp_len, _)) = tcp_headers(packet) else {
        return packet.len();
    };
    let headers = ip_len + tcp_len;
    let payload = packet.len() - headers;
    packet.len()
        + payload
            .div_ceil(usize::from(hdr.gso_size))
            .saturating_sub(1)
            * headers
}

/// Sum of 16-bit big-endian words (odd tail padded), not folded.
fn sum16(bytes: &[u8], mut sum: u64) -> u64 {
    let mut pairs = bytes.chunks_exact(2);
    for pair in &mut pairs {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Fills in the IPv4 header checksum.
fn ipv4_checksum(packet: &mut [u8], ip_len: usize) {
    packet[10..12].fill(0);
    let sum = fold(sum16(&packet[..ip_len], 0));
    packet[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// Fills in the TCP checksum of a whole (not super-) packet, pseudo-header included.
fn tcp_checksum(packet: &mut [u8], ip_len: usize, v4: bool) {
    let tcp_len = packet.len() - ip_len;
    let pseudo = if v4 {
        sum16(&packet[12..20], 0)
    } else {
        sum16(&packet[8..40], 0)
    } + u64::from(PROTO_TCP)
        + tcp_len as u64;
    packet[ip_len + 16..ip_len + 18].fill(0);
    let sum = fold(sum16(&packet[ip_len..], pseudo));
    packet[ip_len + 16..ip_len + 18].copy_from_slice(&sum.to_be_bytes());
}

/// Finishes a checksum the kernel left to the device: the field already holds the
/// pseudo-header sum, so the sum from `csum_start` to the end, folded, is the checksum.
fn finish_checksum(hdr: &VnetHdr, packet: &mut [u8]) -> Result<(), GsoError> {
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if at + 2 > packet.len() {
        return Err(GsoError::Malformed);
    }
    let mut sum = fold(sum16(&packet[start..], 0));
    // UDP sends a computed 0 as 0xffff (0 means "no checksum").
    let udp = match packet[0] >> 4 {
        4 => packet.get(9) == Some(&PROTO_UDP),
        _ => packet.get(6) == Some(&PROTO_UDP),
    };
    if sum == 0 && udp {
        sum = 0xffff;
    }
    packet[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// Cuts `packet` as `hdr` describes into wire packets with every checksum filled in, each
/// built in a buffer from `buffer` (cleared before use) and pushed onto `out`. A packet that is
/// not a super-packet comes out alone, its checksum finished if the kernel left it.
pub fn segment(
    hdr: &VnetHdr,
    packet: &[u8],
    mut buffer: impl FnMut() -> Vec<u8>,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), GsoError> {
    let kind = hdr.gso_type & !gso_type::ECN;
    if kind == gso_type::NONE {
        let mut p = buffer();
        p.clear();
        p.extend_from_slice(packet);
        if hdr.flags & NEEDS_CSUM != 0 {
            finish_checksum(hdr, &mut p)?;
        }
        out.push(p);
        return Ok(());
    }
    if kind != gso_type::TCPV4 && kind != gso_type::TCPV6 {
        return Err(GsoError::Unsupported(hdr.gso_type));
    }
    let (ip_len, tcp_len, v4) = tcp_headers(packet)?;
    if v4 != (kind == gso_type::TCPV4) || hdr.gso_size == 0 {
        return Err(GsoError::Malformed);
    }
    let headers = ip_len + tcp_len;
    let (head, payload) = packet.split_at(headers);
    let seq = u32::from_be_bytes([
        head[ip_len + 4],
        head[ip_len + 5],
        head[ip_len + 6],
        head[ip_len + 7],
    ]);
    let id = u16::from_be_bytes([head[4], head[5]]);
    let flags = head[ip_len + 13];
    let mss = usize::from(hdr.gso_size);
    let count = payload.len().div_ceil(mss).max(1);
    for i in 0..count {
        let chunk = &payload[(i * mss).min(payload.len())..((i + 1) * mss).min(payload.len())];
        let mut p = buffer();
        p.clear();
        p.extend_from_slice(head);
        p.extend_from_slice(chunk);
        let len = p.len();
        if v4 {
            p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            p[4..6].copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
            ipv4_checksum(&mut p, ip_len);
        } else {
            p[4..6].copy_from_slice(&((len - ip_len) as u16).to_be_bytes());
        }
        let seg_seq = seq.wrapping_add((i * mss) as u32);
        p[ip_len + 4..ip_len + 8].copy_from_slice(&seg_seq.to_be_bytes());
        let mut f = flags;
        if i + 1 < count {
            f &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            f &= !TCP_CWR;
        }
        p[ip_len + 13] = f;
        tcp_checksum(&mut p, ip_len, v4);
        out.push(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::packet::tcp_checksum as reference_checksum;

    /// An IPv4 TCP super-packet as the kernel hands it over with TSO: `payload` bytes, PSH|ACK,
    /// the checksum field holding the pseudo-header sum.
    fn super_packet(payload: usize) -> Vec<u8> {
        let mut p = vec![0u8; 40 + payload];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
        p[4..6].copy_from_slice(&0xfffeu16.to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = PROTO_TCP;
        p[12..16].copy_from_slice(&[100, 64, 0, 1]);
        p[16..20].copy_from_slice(&[100, 64, 0, 2]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&5201u16.to_be_bytes());
        p[24..28].copy_from_slice(&0xffff_f000u32.to_be_bytes());
        p[32] = 0x50;
        p[33] = 0x18 | TCP_CWR;
        for (i, b) in p[40..].iter_mut().enumerate() {
            *b = (i * 7 % 251) as u8;
        }
        p
    }

    fn tso(mss: u16) -> VnetHdr {
        VnetHdr {
            flags: NEEDS_CSUM,
            gso_type: gso_type::TCPV4,
            hdr_len: 40,
            gso_size: mss,
            csum_start: 20,
            csum_offset: 16,
        }
    }

    #[test]
    fn the_header_reads_back_what_was_written() {
        let h = tso(1448);
        assert_eq!(VnetHdr::parse(&h.to_bytes()), Ok(h));
        assert_eq!(VnetHdr::parse(&[0; 9]), Err(GsoError::Short));
    }

    #[test]
    fn a_super_packet_becomes_mss_sized_segments_with_valid_checksums() {
        let payload = 10_000;
        let packet = super_packet(payload);
        let mut out = Vec::new();
        segment(&tso(1448), &packet, Vec::new, &mut out).expect("segment");
        assert_eq!(out.len(), payload.div_ceil(1448));
        let mut joined = Vec::new();
        for (i, s) in out.iter().enumerate() {
            assert!(s.len() <= 1488, "segment {i} is {} bytes", s.len());
            assert_eq!(usize::from(u16::from_be_bytes([s[2], s[3]])), s.len());
            assert_eq!(
                u16::from_be_bytes([s[4], s[5]]),
                0xfffeu16.wrapping_add(i as u16)
            );
            assert_eq!(fold(sum16(&s[..20], 0)), 0, "IP checksum of {i}");
            assert_eq!(reference_checksum(s), 0, "TCP checksum of {i}");
            let seq = u32::from_be_bytes([s[24], s[25], s[26], s[27]]);
            assert_eq!(
                seq,
                0xffff_f000u32.wrapping_add(i as u32 * 1448),
                "seq wraps"
            );
            let last = i + 1 == out.len();
            assert_eq!(s[33] & TCP_PSH != 0, last, "PSH on the last only");
            assert_eq!(s[33] & TCP_CWR != 0, i == 0, "CWR on the first only");
            joined.extend_from_slice(&s[40..]);
        }
        assert_eq!(joined, packet[40..], "the payload, in order, once");
        assert_eq!(
            wire_len(&tso(1448), &packet),
            out.iter().map(Vec::len).sum::<usize>()
        );
    }

    #[test]
    fn a_left_checksum_is_finished_and_a_plain_one_kept() {
        let mut packet = super_packet(100);
        // What the kernel leaves in the field: the pseudo-header sum, not complemented.
        let pseudo = sum16(&packet[12..20], 0) + u64::from(PROTO_TCP) + 120;
        let folded = !fold(pseudo);
        packet[36..38].copy_from_slice(&folded.to_be_bytes());
        let hdr = VnetHdr {
            flags: NEEDS_CSUM,
            csum_start: 20,
            csum_offset: 16,
            ..VnetHdr::default()
        };
        let mut out = Vec::new();
        segment(&hdr, &packet, Vec::new, &mut out).expect("finish");
        assert_eq!(reference_checksum(&out[0]), 0);
        let mut again = Vec::new();
        segment(&VnetHdr::default(), &out[0], Vec::new, &mut again).expect("plain");
        assert_eq!(again, out);
    }

    #[test]
    fn malformed_input_is_refused_not_a_panic() {
        let hdr = tso(1448);
        for bad in [
            &[][..],
            &[0x45; 10][..],
            &[0x60; 30][..],
            &super_packet(10)[..30],
        ] {
            let mut out = Vec::new();
            assert!(segment(&hdr, bad, Vec::new, &mut out).is_err(), "{bad:?}");
        }
        let udp = VnetHdr {
            gso_type: gso_type::UDP_L4,
            ..hdr
        };
        let mut out = Vec::new();
        assert_eq!(
            segment(&udp, &super_packet(10), Vec::new, &mut out),
            Err(GsoError::Unsupported(gso_type::UDP_L4))
        );
    }
}
