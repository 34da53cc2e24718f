//! Network namespaces: made and removed with iproute2's `ip`, and entered by a short-lived thread
//! to create sockets inside one (a socket stays in the namespace it was created in, whichever
//! thread uses it afterwards).

use std::{
    fs::File,
    io,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    process::Command,
};

use super::LinkError;

/// Where `ip netns add` mounts named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace `name` (replacing a leftover one of that name).
    pub fn create(name: &str) -> Result<Self, LinkError> {
        if path_of(name).exists() {
            let _ = ip(&["netns", "del", name]);
        }
        ip(&["netns", "add", name])?;
        Ok(Self {
            name: name.to_string(),
        })
    }

    /// Its name (for `ip -n NAME`, `ip netns exec NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file that holds it open (for [`in_netns`], `nsenter --net=`).
    pub fn path(&self) -> PathBuf {
        path_of(&self.name)
    }
}

/// The file of a namespace given as `ip netns` names it, or as a path (anything with a `/`).
pub fn path_of(name: &str) -> PathBuf {
    if name.contains('/') {
        PathBuf::from(name)
    } else {
        Path::new(NETNS_DIR).join(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Runs `ip ARGS`; an error names the command and says what `ip` printed.
pub fn ip(args: &[&str]) -> Result<(), LinkError> {
    let command = format!("ip {}", args.join(" "));
    let output = Command::new("ip").args(args).output().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            LinkError::NoIp
        } else {
            LinkError::Command {
                command: command.clone(),
                output: e.to_string(),
            }
        }
    })?;
    if !output.status.success() {
        return Err(LinkError::Command {
            command,
            output: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Runs `make` on a thread inside the network namespace held open by `netns` (a path such as
/// `/run/netns/NAME`), so the sockets it creates live there.
pub fn in_netns<T: Send>(
    netns: &Path,
    make: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    let file = File::open(netns)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", netns.display())))?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                enter(&file)?;
                make()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
    })
}

#[allow(unsafe_code)]
fn enter(netns: &File) -> io::Result<()> {
    // SAFETY: setns only reads the descriptor, which `netns` keeps open for the call; it moves
    // this (short-lived) thread alone into that network namespace.
    if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("setns: {e}")));
    }
    Ok(())
}

/// Deletes `rrbench-PID-N` namespaces whose process is gone (left by a crash or `kill -9`).
pub fn remove_stale(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}
