//! Helpers shared by the integration tests: scratch directories, an index, a leader on
//! 127.0.0.1:0 and the chaos proxy (both through [`rrbench::rig`]), a recovery, and a tiny relay
//! that misbehaves on purpose.
#![allow(dead_code, missing_docs)]

pub mod fake_leader;
pub mod pki;

use std::{
    fs,
    net::SocketAddr,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use rrbench::{
    chaos::{Fault, ProxyHandle},
    clock::Clock,
    follower::{self, FollowerConfig, Progress, RecoveryReport},
    index::{GenerateSpec, IndexShards, IndexSnapshot, generate, generate_shards, shard_dir},
    leader::LeaderHandle,
    rig::{InjectorHandle, InjectorKind, Rig},
    settings::{LeaderSettings, RecoverySettings},
    units::ByteSize,
};
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A scratch directory on tmpfs when there is one, so fsync does not dominate timings.
pub fn scratch() -> TempDir {
    let shm = Path::new("/dev/shm");
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("rrbench-test-");
        b
    };
    if shm.is_dir()
        && let Ok(dir) = builder().tempdir_in(shm)
    {
        return dir;
    }
    builder().tempdir().expect("temp dir")
}

/// Generates an index in `root/leader` and loads it.
pub fn make_index(root: &Path, size: u64, files: u32, seed: u64) -> IndexSnapshot {
    let dir = root.join("leader");
    generate(&dir, &GenerateSpec { size, files, seed }, |_| {}).expect("generate");
    IndexSnapshot::load(&dir).expect("load")
}

pub fn unlimited_leader() -> LeaderSettings {
    LeaderSettings {
        max_bytes_per_sec: ByteSize(0),
        ..LeaderSettings::default()
    }
}

pub fn unlimited_follower() -> RecoverySettings {
    RecoverySettings {
        max_bytes_per_sec: ByteSize(0),
        ..RecoverySettings::default()
    }
}

pub async fn start_leader(snapshot: &IndexSnapshot, settings: LeaderSettings) -> LeaderHandle {
    let rig = Rig::builder()
        .leader(snapshot.clone(), settings)
        .start()
        .await
        .expect("leader starts");
    rig.into_parts().leader.expect("a leader")
}

pub async fn recover(
    addr: SocketAddr,
    target: &Path,
    settings: RecoverySettings,
) -> RecoveryReport {
    recover_within(addr, target, settings, None).await
}

/// A recovery that gives up after `time_limit`, whatever its policy says.
pub async fn recover_within(
    addr: SocketAddr,
    target: &Path,
    settings: RecoverySettings,
    time_limit: Option<std::time::Duration>,
) -> RecoveryReport {
    let mut config = FollowerConfig::new(addr.to_string(), target);
    config.settings = settings;
    config.time_limit = time_limit;
    follower::recover(
        config,
        Arc::new(Progress::default()),
        std::future::pending(),
    )
    .await
    .expect("recovery runs")
}

/// A chaos proxy on 127.0.0.1:0 in front of `upstream`, with faults written as specs
/// (`"latency:delay=5ms"`), a seed, and events stamped on `clock`.
pub async fn start_proxy(
    upstream: SocketAddr,
    faults: &[&str],
    seed: u64,
    clock: Clock,
) -> ProxyHandle {
    let rig = Rig::builder()
        .upstream(upstream.to_string())
        .injector(InjectorKind::TcpProxy, parse_faults(faults))
        .seed(seed)
        .clock(clock)
        .start()
        .await
        .expect("proxy starts");
    match rig.into_parts().injector {
        Some(InjectorHandle::Tcp(proxy)) => proxy,
        _ => panic!("the rig started no TCP proxy"),
    }
}

/// Faults written as specs (`"latency:delay=5ms"`).
pub fn parse_faults(faults: &[&str]) -> Vec<Fault> {
    faults
        .iter()
        .map(|f| f.parse::<Fault>().expect(f))
        .collect()
}

/// An index of `shards` shards of `size` bytes each (6 files, seed 16) generated in `dir`.
pub fn make_sharded_index(dir: &Path, shards: u32, size: u64) -> IndexShards {
    let spec = GenerateSpec {
        size,
        files: 6,
        seed: 16,
    };
    let never = AtomicBool::new(false);
    generate_shards(dir, &spec, shards, &never, |_| {}).expect("generate");
    IndexShards::load(dir).expect("load")
}

/// Every shard of `target` holds exactly the leader's files (names, lengths, CRC-32C).
pub fn assert_shards_identical(index: &IndexShards, target: &Path) {
    for shard in 0..index.count() {
        let dir = shard_dir(target, shard, index.count());
        for f in index.shard(shard).expect("shard").files().iter() {
            let bytes = fs::read(dir.join(&f.meta.name))
                .unwrap_or_else(|e| panic!("shard {shard} {}: {e}", f.meta.name));
            assert_eq!(
                bytes.len() as u64,
                f.meta.len,
                "shard {shard} {}",
                f.meta.name
            );
            assert_eq!(crc32c::crc32c(&bytes), f.meta.crc32c, "shard {shard}");
        }
    }
}

/// Asserts that every leader file exists in `target` with identical bytes, and nothing else
/// (but the marker) is there.
pub fn assert_identical(snapshot: &IndexSnapshot, target: &Path) {
    for f in snapshot.files().iter() {
        let want = fs::read(snapshot.dir().join(&f.meta.name)).expect("leader file");
        let got = fs::read(target.join(&f.meta.name))
            .unwrap_or_else(|e| panic!("{} missing in target: {e}", f.meta.name));
        assert!(want == got, "{} differs", f.meta.name);
    }
    let names: Vec<String> = fs::read_dir(target)
        .expect("target")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(
        names.len(),
        snapshot.files().len(),
        "extra files in target: {names:?}"
    );
}

/// What the relay does to one connection's leader → follower bytes.
#[derive(Clone, Copy, Debug)]
pub enum Mischief {
    /// Relay faithfully.
    Pass,
    /// After this many bytes, reset the follower's connection (RST via SO_LINGER 0).
    ResetAfter(u64),
}

/// A reset that fires once, on whichever connection carries the byte that brings the total over
/// all connections (leader → follower) to `at`.
#[derive(Clone, Debug)]
pub struct ResetAtTotal {
    at: u64,
    total: Arc<AtomicU64>,
    fired: Arc<AtomicBool>,
}

/// A relay in front of `upstream` that resets once, when `at` bytes have passed in total, and
/// relays everything else faithfully.
pub async fn reset_relay(upstream: SocketAddr, at: u64) -> SocketAddr {
    let global = ResetAtTotal {
        at,
        total: Arc::new(AtomicU64::new(0)),
        fired: Arc::new(AtomicBool::new(false)),
    };
    relay_with(upstream, vec![], Some(global)).await.0
}

/// A TCP relay in front of `upstream`: connection `i` gets `plan[i]`, later ones `Pass`.
/// Returns the address to connect to and a log of what each connection did.
pub async fn relay(
    upstream: SocketAddr,
    plan: Vec<Mischief>,
) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    relay_with(upstream, plan, None).await
}

async fn relay_with(
    upstream: SocketAddr,
    plan: Vec<Mischief>,
    global: Option<ResetAtTotal>,
) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let addr = listener.local_addr().expect("addr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((client, _)) = listener.accept().await {
            let mischief = plan.get(n).copied().unwrap_or(Mischief::Pass);
            n += 1;
            let log = log2.clone();
            let global = global.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let what = pipe(client, server, mischief, global).await;
                log.lock().expect("log").push(what);
            });
        }
    });
    (addr, log)
}

async fn pipe(
    mut client: TcpStream,
    mut server: TcpStream,
    mischief: Mischief,
    global: Option<ResetAtTotal>,
) -> String {
    if matches!(mischief, Mischief::ResetAfter(_)) || global.is_some() {
        client.set_zero_linger().expect("linger");
    }
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let up = async {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        "follower closed".to_string()
    };
    let down = async {
        let mut buf = vec![0u8; 64 << 10];
        let mut moved = 0u64;
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return "leader closed".to_string(),
                Ok(n) => n,
            };
            let (start, end) = (moved, moved + n as u64);
            if let Some(g) = &global {
                let before = g.total.fetch_add(n as u64, Ordering::SeqCst);
                if before + n as u64 >= g.at && !g.fired.swap(true, Ordering::SeqCst) {
                    let keep = g.at.saturating_sub(before) as usize;
                    let _ = cw.write_all(&buf[..keep.min(n)]).await;
                    return format!("reset at {} bytes in total", g.at);
                }
            }
            match mischief {
                Mischief::ResetAfter(limit) if end >= limit => {
                    let keep = (limit - start) as usize;
                    let _ = cw.write_all(&buf[..keep]).await;
                    return format!("reset after {limit} bytes");
                }
                _ => {}
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                return "follower gone".to_string();
            }
            moved = end;
        }
    };
    tokio::select! {
        what = up => what,
        what = down => what,
    }
}

/// Runs the `rrbench` binary built for these tests and waits for it.
pub fn rrbench(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"))
        .args(args)
        .output()
        .expect("run rrbench")
}

/// The environment variable the leader and the follower read an auth token from.
pub const AUTH_TOKEN_ENV: &str = "RRBENCH_AUTH_TOKEN";

/// The environment variable a follower reads its API key from.
pub const API_KEY_ENV: &str = "RRBENCH_API_KEY";

/// Runs `rrbench ARGS` with `envs` (and no inherited auth token) and waits at most `limit`,
/// killing it then: a command that should have refused to start fails the test, not hangs it.
pub fn rrbench_within(
    args: &[&str],
    envs: &[(&str, &str)],
    limit: std::time::Duration,
) -> std::process::Output {
    use std::process::Stdio;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"));
    command
        .args(args)
        .env_remove(AUTH_TOKEN_ENV)
        .env_remove(API_KEY_ENV)
        .envs(envs.iter().copied());
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().expect("output")
}

/// Runs `rrbench campaign run ARGS...` and waits for it.
pub fn campaign_run(args: &[&str]) -> std::process::Output {
    let mut all = vec!["campaign", "run"];
    all.extend_from_slice(args);
    rrbench(&all)
}

/// A process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Kills the child on drop, so a failing test never leaves a process running.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `rrbench ARGS` and returns it, its first stderr line, and a thread that collects the
/// rest of stderr until the process exits.
pub fn spawn_collecting(args: &[&str]) -> (Child, String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader};
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args(args)
            .env_remove(AUTH_TOKEN_ENV)
            .env_remove(API_KEY_ENV)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let mut err = BufReader::new(child.0.stderr.take().expect("stderr"));
    let mut first = String::new();
    err.read_line(&mut first).expect("first line");
    let rest = std::thread::spawn(move || err.lines().map_while(Result::ok).collect());
    (child, first, rest)
}

/// Starts `rrbench ARGS` and returns the child and its first stderr line (the rest of stderr is
/// drained in the background).
pub fn spawn_announcing_line(args: &[&str]) -> (Child, String) {
    let (child, line, _rest) = spawn_collecting(args);
    (child, line)
}

/// Starts `rrbench ARGS` and returns the child and its stderr lines up to and including the
/// first that starts with `last` (the rest of stderr is drained in the background).
pub fn spawn_until_line(args: &[&str], last: &str) -> (Child, Vec<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args(args)
            .env_remove(AUTH_TOKEN_ENV)
            .env_remove(API_KEY_ENV)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let mut lines = BufReader::new(child.0.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        let done = line.starts_with(last);
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.starts_with(last)),
        "no line starting with {last:?} in {seen:?}"
    );
    std::thread::spawn(move || for _ in lines {});
    (child, seen)
}

/// Starts `rrbench ARGS` and returns the child and the third word of its first stderr line
/// (`leader on ADDR ...`, `proxy on ADDR ...`).
pub fn spawn_announcing(args: &[&str]) -> (Child, String) {
    let (child, line) = spawn_announcing_line(args);
    let addr = line.split_whitespace().nth(2).expect("ADDR").to_string();
    (child, addr)
}

/// Sends SIGINT (Ctrl-C) to `child` and waits, at most 10 s, for it to exit.
pub fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    send_signal(child, "INT")
}

/// Sends SIGTERM (what `kill`, systemd and scripts send) to `child` and waits, at most 10 s,
/// for it to exit.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    send_signal(child, "TERM")
}

fn send_signal(child: &mut Child, signal: &str) -> std::process::ExitStatus {
    let pid = child.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process did not stop on SIG{signal}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A campaign run by [`run_campaign_text`].
pub struct CampaignRun {
    /// Holds the campaign file and the results.
    pub tmp: TempDir,
    /// What `campaign run` printed.
    pub stdout: String,
    /// The results directory.
    pub dir: std::path::PathBuf,
    /// `trials.jsonl`, parsed.
    pub records: Vec<serde_json::Value>,
}

/// Writes `toml` (a campaign named `name`) to a scratch directory, runs it without a report,
/// asserts it succeeded, and reads back its trials.
pub fn run_campaign_text(name: &str, toml: &str) -> CampaignRun {
    let tmp = scratch();
    let file = tmp.path().join(format!("{name}.toml"));
    fs::write(&file, toml).expect("campaign");
    let out = tmp.path().join("results");
    let run = campaign_run(&[
        file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--no-report",
    ]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", text(&run.stderr));
    let dir = fs::read_dir(out.join(name))
        .expect("campaign directory")
        .next()
        .expect("one run")
        .expect("entry")
        .path();
    let records = fs::read_to_string(dir.join("trials.jsonl"))
        .expect("trials")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    CampaignRun {
        tmp,
        stdout,
        dir,
        records,
    }
}
