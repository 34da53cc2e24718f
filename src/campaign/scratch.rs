//! Trial scratch directories: where a trial's follower writes its copy (and QUIC its
//! certificate), and the cleanup of those a killed run left behind.
//!
//! A scratch directory is removed when its trial ends, but not when the run is killed with
//! SIGKILL; on tmpfs that keeps memory until reboot. Each name carries the pid of the run that
//! owns it (`rrbench-trial-<pid>-XXXXXX`), so the next run can remove those whose owner is gone
//! and leave those of runs still going alone.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// Start of every scratch directory's name.
const PREFIX: &str = "rrbench-trial-";

/// Where trial scratch goes: `/dev/shm` when there is one (fsync must not dominate trial
/// timings), else the system's temporary directory.
pub(crate) fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// A new scratch directory in `root`, named after this process; removed when dropped.
pub(crate) fn trial_dir(root: &Path) -> std::io::Result<TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-", std::process::id()))
        .tempdir_in(root)
}

/// The owner's pid in a scratch name; `None` for other names, and for those of older versions,
/// which carried no pid (their owner cannot be told, so they are left alone).
fn owner_pid(name: &str) -> Option<u32> {
    let (pid, _) = name.strip_prefix(PREFIX)?.split_once('-')?;
    pid.parse().ok()
}

/// Whether process `pid` exists. A pid reused by another process counts as alive: its scratch
/// stays until a later run, which is the safe side.
fn is_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the scratch directories in `root` whose owning process is gone and returns them.
/// Best effort: what cannot be read or removed is left. Without `/proc` nothing can be told
/// apart, so nothing is removed.
pub(crate) fn remove_stale(root: &Path) -> Vec<PathBuf> {
    if !Path::new("/proc/self").exists() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| owner_pid(&e.file_name().to_string_lossy()).is_some_and(|pid| !is_alive(pid)))
        .map(|e| e.path())
        .filter(|path| std::fs::remove_dir_all(path).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_owner_pid() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = trial_dir(root.path()).expect("scratch");
        let name = dir.path().file_name().expect("name").to_string_lossy();
        assert_eq!(owner_pid(&name), Some(std::process::id()), "{name}");
        assert_eq!(
            owner_pid("rrbench-trial-Ab3xYz"),
            None,
            "older, pid-less names"
        );
        assert_eq!(owner_pid("rrbench-test-12-x"), None);
    }

    #[test]
    fn stale_scratch_of_dead_processes_is_removed_and_live_scratch_kept() {
        let root = tempfile::tempdir().expect("tmp");
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let stale = root.path().join(format!("{PREFIX}{dead}-abc123"));
        let live = root
            .path()
            .join(format!("{PREFIX}{}-def456", std::process::id()));
        let other = root.path().join(format!("{PREFIX}oldstyle"));
        for dir in [&stale, &live, &other] {
            std::fs::create_dir_all(dir.join("index")).expect("mkdir");
            std::fs::write(dir.join("index/_0.fdt"), b"bytes").expect("write");
        }
        assert_eq!(remove_stale(root.path()), vec![stale.clone()]);
        assert!(!stale.exists(), "the dead run's scratch is removed");
        assert!(live.exists(), "a live run's scratch is left alone");
        assert!(other.exists(), "names without a pid are left alone");
    }
}
