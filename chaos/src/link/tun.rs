//! A TUN device with the kernel's offloads on: every packet read or written is preceded by a
//! `virtio_net_hdr` ([`super::gso::VnetHdr`]), and the kernel may hand over a TCP super-packet
//! of up to 64 KiB with its checksum left to finish (TSO, checksum offload) and takes such a
//! packet back as it is, so a burst of MTU-sized segments crosses the pump in one read and one
//! write. What a header means and how a super-packet is cut into wire packets is `gso.rs`.

use std::{
    fs::{File, OpenOptions},
    io::{self, Read, Write},
    os::{fd::AsRawFd, unix::fs::OpenOptionsExt},
};

use tokio::io::unix::AsyncFd;

use super::gso::VNET_HDR_LEN;

/// `struct ifreq` as `TUNSETIFF` reads it: a name and the flags (the rest is a union we leave
/// zeroed).
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _union_rest: [u8; 22],
}

/// Offloads asked of the kernel: checksums and TCP segmentation, IPv4 and IPv6. UDP
/// segmentation (`TUN_F_USO4/6`) is left off: the kernel then cuts UDP GSO bursts itself, so a
/// QUIC datagram always reaches the faults whole.
const OFFLOADS: libc::c_uint = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;

/// An open TUN device (IP packets behind a `virtio_net_hdr`, no packet-information header).
/// Closing it removes the device.
pub struct Tun {
    name: String,
    fd: AsyncFd<File>,
}

impl Tun {
    /// Creates the device `name` (at most 15 bytes) in the calling thread's network namespace,
    /// with the offloads on.
    pub fn create(name: &str) -> io::Result<Self> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface name {name:?} must be 1 to 15 bytes"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("/dev/net/tun: {e}")))?;
        let mut request = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short,
            _union_rest: [0; 22],
        };
        for (slot, byte) in request.name.iter_mut().zip(name.bytes()) {
            *slot = byte as libc::c_char;
        }
        set_iff(&file, &mut request)
            .map_err(|e| io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")))?;
        set_offloads(&file)
            .map_err(|e| io::Error::new(e.kind(), format!("TUN offloads on {name}: {e}")))?;
        Ok(Self {
            name: name.to_string(),
            fd: register(file)?,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one frame (a `virtio_net_hdr`, then the packet) into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.readable().await?;
            if let Ok(read) = ready.try_io(|f| f.get_ref().read(buf)) {
                return read;
            }
        }
    }

    /// Reads one frame into `buf`, replacing what it held, with room for `max` bytes: the
    /// frame lands in the buffer itself (no zeroing first), so the pump can hand the buffer on
    /// (to a delay line) instead of copying the frame out.
    pub async fn recv_into(&self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        buf.clear();
        buf.reserve(max);
        loop {
            let mut ready = self.fd.readable().await?;
            if let Ok(read) = ready.try_io(|f| read_spare(f.get_ref(), buf)) {
                return read;
            }
        }
    }

    /// Writes one frame (a `virtio_net_hdr`, then the packet): it enters the kernel as received
    /// on this device.
    pub async fn send(&self, frame: &[u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.writable().await?;
            if let Ok(written) = ready.try_io(|f| f.get_ref().write(frame)) {
                return written;
            }
        }
    }

    /// Writes one plain packet, complete with its checksums, behind an all-zero header.
    pub async fn send_packet(&self, packet: &[u8]) -> io::Result<usize> {
        let header = [0u8; VNET_HDR_LEN];
        loop {
            let mut ready = self.fd.writable().await?;
            if let Ok(written) = ready.try_io(|f| writev(f.get_ref(), &header, packet)) {
                return written;
            }
        }
    }
}

#[allow(unsafe_code)]
fn register(file: File) -> io::Result<AsyncFd<File>> {
    // SAFETY: `file` owns its descriptor and moves into the `AsyncFd`, which neither replaces nor
    // closes it while registered.
    unsafe { AsyncFd::register(file).map_err(io::Error::from) }
}

#[allow(unsafe_code)]
fn set_iff(file: &File, request: &mut IfReq) -> io::Result<()> {
    // SAFETY: `request` is a live, correctly laid out `struct ifreq` for the duration of the call
    // and the descriptor is open; TUNSETIFF reads the name and flags and writes back the name.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, request as *mut IfReq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[allow(unsafe_code)]
fn set_offloads(file: &File) -> io::Result<()> {
    let size = VNET_HDR_LEN as libc::c_int;
    // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer, which lives for the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETVNETHDRSZ, &size) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: TUNSETOFFLOAD takes the flags as the argument itself, not through a pointer.
    let rc = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(OFFLOADS),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[allow(unsafe_code)]
fn read_spare(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    // SAFETY: read(2) writes at most `spare.len()` bytes at the pointer, all inside the vector's
    // allocation, which `buf` holds borrowed for the call.
    let rc = unsafe { libc::read(file.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel initialised the `rc` bytes after the old length, within the capacity.
    unsafe { buf.set_len(buf.len() + rc as usize) };
    Ok(rc as usize)
}

#[allow(unsafe_code)]
fn writev(file: &File, header: &[u8], packet: &[u8]) -> io::Result<usize> {
    let parts = [
        libc::iovec {
            iov_base: header.as_ptr() as *mut libc::c_void,
            iov_len: header.len(),
        },
        libc::iovec {
            iov_base: packet.as_ptr() as *mut libc::c_void,
            iov_len: packet.len(),
        },
    ];
    // SAFETY: both iovecs point into slices that outlive the call; writev only reads them.
    let rc = unsafe { libc::writev(file.as_raw_fd(), parts.as_ptr(), 2) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}
