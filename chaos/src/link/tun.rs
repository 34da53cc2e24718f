//! A TUN device: the kernel hands us each IP packet routed to it and takes each packet we write
//! as if it had arrived on the wire.

use std::{
    fs::{File, OpenOptions},
    io::{self, Read, Write},
    os::{fd::AsRawFd, unix::fs::OpenOptionsExt},
};

use tokio::io::unix::AsyncFd;

/// `struct ifreq` as `TUNSETIFF` reads it: a name and the flags (the rest is a union we leave
/// zeroed).
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _union_rest: [u8; 22],
}

/// An open TUN device (IP packets, no packet-information header). Closing it removes the device.
pub struct Tun {
    name: String,
    fd: AsyncFd<File>,
}

impl Tun {
    /// Creates the device `name` (at most 15 bytes) in the calling thread's network namespace.
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
            flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
            _union_rest: [0; 22],
        };
        for (slot, byte) in request.name.iter_mut().zip(name.bytes()) {
            *slot = byte as libc::c_char;
        }
        set_iff(&file, &mut request)
            .map_err(|e| io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")))?;
        Ok(Self {
            name: name.to_string(),
            fd: register(file)?,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one packet into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.readable().await?;
            if let Ok(read) = ready.try_io(|f| f.get_ref().read(buf)) {
                return read;
            }
        }
    }

    /// Writes one packet: it enters the kernel as received on this device.
    pub async fn send(&self, packet: &[u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.writable().await?;
            if let Ok(written) = ready.try_io(|f| f.get_ref().write(packet)) {
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
