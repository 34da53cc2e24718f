//! Zero-copy relaying with `splice(2)` for bytes no fault touches (Linux).
//!
//! With no fault on the bytes of a direction, the proxy moves them socket → pipe → socket
//! inside the kernel: no copy through user space, which on loopback was 41% of the proxy's CPU
//! (perf: `_copy_to_iter` + `_copy_from_iter`). HAProxy does the same. Each call drains the pipe
//! completely before returning, so switching back to the copying path when a fault turns on
//! never reorders bytes.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    ptr,
};

use tokio::{io::Interest, net::TcpStream};

/// Bytes moved per splice round trip.
pub(crate) const SPLICE_MAX: usize = 1 << 20;

/// A non-blocking pipe used as the splice buffer of one direction.
pub(crate) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    /// A new pipe, enlarged to [`SPLICE_MAX`] where the system allows.
    #[allow(unsafe_code)]
    pub(crate) fn new() -> io::Result<Self> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two new descriptors into `fds`, which we own; the result is checked.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and nothing else owns them.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: F_SETPIPE_SZ only resizes the pipe; failing leaves the default size.
        unsafe {
            libc::fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                SPLICE_MAX as libc::c_int,
            )
        };
        Ok(Self { read, write })
    }
}

#[allow(unsafe_code)]
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: both descriptors are open for the whole call (owned by the caller's pipe and
    // streams); null offsets mean "the descriptor's own position", as pipes and sockets require.
    let n = unsafe {
        libc::splice(
            from,
            ptr::null_mut(),
            to,
            ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Whether an error means splice cannot be used here at all (then the caller copies instead).
pub(crate) fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

/// Moves what `src` has ready (at most [`SPLICE_MAX`] bytes) to `dst`; 0 at end of stream.
/// The caller has already waited for `src` to be readable. Returns `WouldBlock` if the
/// readiness was spurious.
pub(crate) async fn relay_ready(
    pipe: &Pipe,
    src: &TcpStream,
    dst: &TcpStream,
) -> io::Result<usize> {
    let n = src.try_io(Interest::READABLE, || {
        splice(src.as_raw_fd(), pipe.write.as_raw_fd(), SPLICE_MAX)
    })?;
    let mut left = n;
    while left > 0 {
        dst.writable().await?;
        match dst.try_io(Interest::WRITABLE, || {
            splice(pipe.read.as_raw_fd(), dst.as_raw_fd(), left)
        }) {
            Ok(m) => left -= m,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
