//! The machine a run was on, for `env.json` (read from /proc and the OS; no extra crate).

use std::{fs, process::Command};

use serde_json::{Value, json};

fn proc_field(path: &str, key: &str) -> Option<String> {
    fs::read_to_string(path).ok()?.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// CPU, cores, memory, kernel, rrbench version and git revision, and what TLS would negotiate
/// here (`tls`: see [`crate::transport::negotiated::local_preference`]).
pub fn capture_env() -> Value {
    let memory_kib = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok());
    let git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    json!({
        "schema": "rrbench.env/1",
        "cpu": proc_field("/proc/cpuinfo", "model name"),
        "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "memory_bytes": memory_kib.map(|k| k * 1024),
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string()),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "hostname": fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()),
        // What `congestion_control = "system"` means for TCP on this machine.
        "tcp_congestion_control": fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control").ok().map(|s| s.trim().to_string()),
        "rrbench_version": env!("CARGO_PKG_VERSION"),
        "git_revision": git,
        // Written before any connection: what this machine's rustls would pick, and whether
        // the CPU makes AES-GCM cheap (a TLS run's cost depends on it).
        "tls": crate::transport::negotiated::local_preference(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_the_machine() {
        let env = capture_env();
        assert_eq!(env["schema"], "rrbench.env/1");
        assert!(env["cores"].as_u64().is_some_and(|n| n >= 1));
        assert_eq!(env["rrbench_version"], env!("CARGO_PKG_VERSION"));
        let tls = &env["tls"];
        assert_eq!(tls["provider"], "ring");
        assert_eq!(tls["expected_tls13_suite"], tls["cipher_suites"][0]);
        assert!(
            tls["cipher_suites"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s == "TLS13_AES_128_GCM_SHA256")),
            "{tls}"
        );
        if cfg!(target_arch = "x86_64") {
            assert!(tls["cpu_aes"].is_boolean(), "{tls}");
        }
    }
}
