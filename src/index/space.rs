//! Free space: refusing to write an index, or a copy of one, that cannot fit, before any of it
//! is written. A `1tb` index on a smaller disk would otherwise fill it.

use std::{
    ffi::CString,
    io,
    mem::MaybeUninit,
    os::unix::{ffi::OsStrExt, fs::MetadataExt},
    path::Path,
};

use super::IndexError;

/// Headroom kept beyond the bytes to write: filesystem metadata and block rounding, and room
/// for the results, logs and everything else that shares the filesystem.
pub fn with_headroom(bytes: u64) -> u64 {
    bytes
        .saturating_add(bytes / 20)
        .saturating_add(HEADROOM_FIXED)
}

/// The fixed part of [`with_headroom`] (the rest is 5% of the bytes).
const HEADROOM_FIXED: u64 = 64 << 20;

/// `path` itself when it exists, else its nearest existing ancestor: where a directory still to
/// be created will live.
fn existing_ancestor(path: &Path) -> &Path {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("."))
}

/// Bytes an unprivileged writer may still use on the filesystem that holds `path` (or would
/// hold it, for a path not created yet).
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    statvfs_available(existing_ancestor(path))
}

/// Whether `a` and `b` (or the directories that would hold them) are on one filesystem.
pub fn same_filesystem(a: &Path, b: &Path) -> io::Result<bool> {
    let dev = |p: &Path| std::fs::metadata(existing_ancestor(p)).map(|m| m.dev());
    Ok(dev(a)? == dev(b)?)
}

/// Refuses with [`IndexError::NoSpace`] when `bytes`, with headroom, do not fit where `dir` is
/// (or would be).
pub fn ensure_room(dir: &Path, bytes: u64) -> Result<(), IndexError> {
    room_for(dir, bytes, |dir, size, needed, free| IndexError::NoSpace {
        dir,
        size,
        needed,
        free,
    })
}

/// Checks that `bytes` with headroom fit where `dir` is; else the error `full` makes of the
/// directory, the bytes, the bytes with headroom and the free bytes.
pub(crate) fn room_for(
    dir: &Path,
    bytes: u64,
    full: impl FnOnce(std::path::PathBuf, u64, u64, u64) -> IndexError,
) -> Result<(), IndexError> {
    let free = free_bytes(dir).map_err(IndexError::io(dir))?;
    let needed = with_headroom(bytes);
    if needed > free {
        return Err(full(dir.to_path_buf(), bytes, needed, free));
    }
    Ok(())
}

/// `statvfs(2)`: available blocks times the fragment size. The standard library has no safe
/// form of it and the crate takes no dependency for one call.
#[allow(unsafe_code)]
fn statvfs_available(path: &Path) -> io::Result<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    let mut stat = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `stat` points to
    // writable memory the size of `struct statvfs`, which statvfs fills when it returns 0; it is
    // read (assume_init) only then.
    let stat = unsafe {
        if libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        stat.assume_init()
    };
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// A size for people: `1.0 EiB`, `80.3 GiB`, `512 B`.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_read_for_paths_not_created_yet() {
        let tmp = tempfile::tempdir().expect("tmp");
        let later = tmp.path().join("a/b/c");
        let free = free_bytes(&later).expect("statvfs");
        assert!(free > 0);
        assert!(same_filesystem(tmp.path(), &later).expect("dev"));
        assert!(ensure_room(&later, 1 << 10).is_ok());
        assert!(matches!(
            ensure_room(&later, free),
            Err(IndexError::NoSpace { .. })
        ));
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(1 << 60), "1.0 EiB");
        assert_eq!(human(u64::MAX), "16.0 EiB");
    }
}
