//! `rrbench agent` and campaigns with `[hosts] leader = "agent://..."`: the leader and its
//! chaos on one host, the follower on another, both sides' events on one timeline.
//!
//! Two network namespaces play the two hosts (joined by a veth pair; needs root, as the L3
//! tests do); the refusals run on loopback.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use common::{scratch, text};
use rrbench::{
    agent::{Agent, AgentConfig, rigs::Limits},
    agent_api::{
        AgentClient, AgentError, AgentUrl,
        wire::{CellRequest, ClockReading, IndexState, RigStarted, RigStopped, StartRig},
    },
    auth::ApiKey,
    campaign::Campaign,
    chaos::link::{
        netns::{Netns, ip},
        usable_in_tests,
    },
    transport::certs::{IssuedPaths, TlsClient, generate_issued},
    units::ByteSize,
};

const BIN: &str = env!("CARGO_BIN_EXE_rrbench");

/// A REST key in `dir/keys.txt`, its `id:secret` in `dir/<id>.key`.
fn rest_key(dir: &Path, id: &str, key_type: &str) -> PathBuf {
    let key = dir.join(format!("{id}.key"));
    let out = Command::new(BIN)
        .args(["api-key", "--type", key_type, "--id", id, "--keys-file"])
        .arg(dir.join("keys.txt"))
        .arg("--key-file")
        .arg(&key)
        .output()
        .expect("api-key");
    assert!(out.status.success(), "{}", text(&out.stderr));
    key
}

/// Kills the process on drop; what it printed on stderr so far is in `log`.
struct Running(std::process::Child, Arc<std::sync::Mutex<Vec<String>>>);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `rrbench` binary, run inside `netns` if given.
fn rrbench_in(netns: Option<&str>) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, BIN]);
            c
        }
        None => Command::new(BIN),
    }
}

/// Starts `rrbench agent` (inside `netns`, if given) and waits for its announcement.
fn start_agent(netns: Option<&str>, listen: &str, pki: &IssuedPaths, dir: &Path) -> Running {
    start_agent_with(netns, listen, pki, dir, &[])
}

/// [`start_agent`] with more arguments (`extra`).
fn start_agent_with(
    netns: Option<&str>,
    listen: &str,
    pki: &IssuedPaths,
    dir: &Path,
    extra: &[&str],
) -> Running {
    let mut command = rrbench_in(netns);
    command
        .args(["agent", "--listen", listen, "--cert"])
        .arg(&pki.leader.cert)
        .arg("--key")
        .arg(&pki.leader.key)
        .arg("--api-keys")
        .arg(dir.join("keys.txt"))
        .arg("--data-dir")
        .arg(dir.join(format!("agent-data-{}", listen.replace([':', '.'], "-"))))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn agent");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().expect("a line").expect("text");
    assert!(first.starts_with("agent on https://"), "{first}");
    // Keep reading its log so it never blocks on a full pipe.
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().expect("log").push(line);
        }
    });
    Running(child, log)
}

/// A campaign file whose leader runs on `agent`.
fn campaign(name: &str, agent: &str, ca: &Path, key: &Path, body: &str) -> String {
    format!(
        "name = \"{name}\"\nseed = 3\ntime_limit = \"30s\"\n{body}\n[hosts]\nleader = \
         \"{agent}\"\nca = \"{}\"\napi_key_file = \"{}\"\n",
        ca.display(),
        key.display()
    )
}

fn run_campaign(netns: Option<&str>, file: &Path, out: &Path) -> std::process::Output {
    let mut command = rrbench_in(netns);
    command
        .args(["campaign", "run"])
        .arg(file)
        .arg("--out")
        .arg(out)
        .arg("--no-report")
        .output()
        .expect("campaign")
}

/// Two namespaces joined by a veth pair: `a` at `.1`, `b` at `.2` of a /30 in 100.64.0.0/10.
struct TwoHosts {
    a: Netns,
    b: Netns,
    ip_a: String,
}

impl TwoHosts {
    fn new() -> Self {
        // Tests of one process run at once: each pair of its own.
        static PAIRS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let pair = PAIRS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id().wrapping_mul(8).wrapping_add(pair);
        let a = Netns::create(&format!("rrag-a-{pid}")).expect("netns a");
        let b = Netns::create(&format!("rrag-b-{pid}")).expect("netns b");
        // 100.126.0.0/16: a block of the shared address space the L3 link does not use.
        let block = (pid % 16_000) * 4;
        let ip_of = |n: u32| {
            let v = (100u32 << 24) | (126 << 16) | (block + n);
            std::net::Ipv4Addr::from(v).to_string()
        };
        let (dev_a, dev_b) = (
            format!("rra{}", pid % 100_000),
            format!("rrb{}", pid % 100_000),
        );
        let run = |args: &[&str]| ip(args).unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
        run(&[
            "link", "add", &dev_a, "type", "veth", "peer", "name", &dev_b,
        ]);
        run(&["link", "set", &dev_a, "netns", a.name()]);
        run(&["link", "set", &dev_b, "netns", b.name()]);
        for (ns, dev, n) in [(&a, &dev_a, 1), (&b, &dev_b, 2)] {
            let addr = format!("{}/30", ip_of(n));
            run(&["-n", ns.name(), "addr", "add", &addr, "dev", dev]);
            run(&["-n", ns.name(), "link", "set", dev, "up"]);
            run(&["-n", ns.name(), "link", "set", "lo", "up"]);
        }
        Self {
            a,
            b,
            ip_a: ip_of(1),
        }
    }
}

/// Two hosts, a scratch directory, a CA and certificate for the agent on host `a`, and the
/// campaign's REST key: what every campaign across namespaces starts from.
struct Across {
    hosts: TwoHosts,
    tmp: tempfile::TempDir,
    pki: IssuedPaths,
    key: PathBuf,
}

impl Across {
    /// Runs campaign `name` (its `body`, its leader on the agent at `listen`) in namespace `b`,
    /// which must succeed; what it printed, and its run directory.
    fn run(&self, name: &str, listen: &str, body: &str) -> (String, PathBuf) {
        let file = self.tmp.path().join(format!("{name}.toml"));
        let agent = format!("agent://{listen}");
        std::fs::write(&file, campaign(name, &agent, &self.pki.ca, &self.key, body))
            .expect("write");
        let out = self.tmp.path().join("results");
        let run = run_campaign(Some(self.hosts.b.name()), &file, &out);
        let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
        println!("{stderr}{stdout}");
        assert!(run.status.success(), "{stderr}{stdout}");
        (stdout, only_run_dir(&out, name))
    }
}

fn across() -> Across {
    let hosts = TwoHosts::new();
    let tmp = scratch();
    let pki =
        generate_issued(&tmp.path().join("pki"), std::slice::from_ref(&hosts.ip_a)).expect("pki");
    let key = rest_key(tmp.path(), "campaign", "rest");
    Across {
        hosts,
        tmp,
        pki,
        key,
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

fn only_run_dir(out: &Path, name: &str) -> PathBuf {
    std::fs::read_dir(out.join(name))
        .expect("campaign directory")
        .next()
        .expect("one run")
        .expect("entry")
        .path()
}

#[test]
fn a_campaign_runs_its_leader_on_an_agent_in_another_namespace() {
    if !usable_in_tests() {
        return;
    }
    let across = across();
    let Across {
        hosts, tmp, pki, ..
    } = &across;
    let listen = format!("{}:7070", hosts.ip_a);
    let agent_process = start_agent(Some(hosts.a.name()), &listen, pki, tmp.path());
    // The agent's clock starts well before the campaign's, so an offset applied the wrong way
    // round would put the chaos events seconds off the follower's.
    std::thread::sleep(Duration::from_millis(1500));
    // A reset half way through an 8 MiB recovery at 8 MiB/s: Elasticsearch fails the attempt
    // and starts again, so the follower's failure and the proxy's reset are both in the events.
    let body = "[index]\nsize = \"8mb\"\nfiles = 4\nseed = 2\n[leader]\nmax_bytes_per_sec = \
                \"8mb\"\n[settings]\nmax_bytes_per_sec = \"0\"\n[faults.cut]\ntype = \
                \"reset\"\nat = \"500ms\"\n[faults.wan]\ntype = \"latency\"\ndelay = \
                \"1ms\"\n[expect]\noutcome = \"completed\"\n";
    let (stdout, dir) = across.run("remote", &listen, body);
    assert!(stdout.contains("1 trials recorded, 1 passed"), "{stdout}");
    let agent = format!("agent://{listen}");
    let record = trial_records(&dir).into_iter().next().expect("a trial");
    assert_eq!(record["outcome"], "completed", "{record}");
    assert_eq!(
        record["attempts"], 2,
        "the reset failed the first: {record}"
    );
    assert!(
        record["connections_reset"].as_u64().unwrap_or(0) >= 1,
        "{record}"
    );
    let duration = record["duration_s"].as_f64().expect("duration");

    // The offset is recorded with its uncertainty.
    let env = read_json(&dir.join("env.json"));
    let leader = &env["hosts"]["leader"];
    assert_eq!(leader["url"], agent.as_str(), "{env}");
    let offset = leader["clock_offset_s"].as_f64().expect("offset");
    let uncertainty = leader["clock_uncertainty_s"].as_f64().expect("uncertainty");
    assert_eq!(leader["clock_samples"], 16);
    assert!(
        offset > 1.0,
        "the agent started 1.5 s earlier: offset {offset}"
    );
    assert!((0.0..0.05).contains(&uncertainty), "{uncertainty}");

    // One timeline: the proxy's events (taken from the agent) and the follower's, in order.
    let events: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("events/t0001.jsonl"))
        .expect("events")
        .lines()
        .map(|l| serde_json::from_str(l).expect("event"))
        .collect();
    let times: Vec<f64> = events.iter().map(|e| e["t"].as_f64().expect("t")).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    let of = |source: &str, event: &str| {
        events
            .iter()
            .filter(|e| e["source"] == source && e["event"] == event)
            .map(|e| e["t"].as_f64().expect("t"))
            .collect::<Vec<f64>>()
    };
    let started = of("chaos", "proxy_start");
    let resets = of("chaos", "conn_reset");
    let failed = of("engine", "attempt_failed");
    assert_eq!(started.len(), 1, "{events:?}");
    assert!(!resets.is_empty() && failed.len() == 1, "{events:?}");
    // The rig starts after the trial's clock does, and within the trial.
    assert!(
        (0.0..1.0).contains(&started[0]),
        "proxy started at {}",
        started[0]
    );
    assert!(
        times.iter().all(|t| (0.0..duration + 2.0).contains(t)),
        "{times:?}"
    );
    // The reset fires 500 ms after the proxy starts; the follower fails on it soon after.
    let reset = resets[0];
    assert!((reset - started[0] - 0.5).abs() < 0.1, "reset at {reset}");
    assert!(
        failed[0] >= reset - uncertainty - 0.01 && failed[0] < reset + 1.0,
        "follower failed at {} for a reset at {reset}",
        failed[0]
    );
    // The trial's own offset is recorded with it.
    assert!(
        record["leader_clock"]["offset_s"].as_f64().expect("offset") > 1.0,
        "{record}"
    );

    // Every rig the campaign started (the latency's reference, 3 runs, then the trial) was
    // stopped by it.
    let log = agent_process.1.lock().expect("log").clone();
    let count = |what: &str| log.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count(": started for API key [campaign]"), 4, "{log:?}");
    assert_eq!(count(": stopped, "), 4, "{log:?}");
    assert_eq!(count("lease ended"), 0, "{log:?}");
    // The followers' copy was checked against the agent's file metas: no index here.
    assert!(
        !tmp.path().join("results/.index-cache").exists(),
        "the campaign host generated the index"
    );
}

#[test]
fn an_unreachable_agent_fails_the_campaign_before_any_trial_naming_it() {
    let tmp = scratch();
    let pki = generate_issued(&tmp.path().join("pki"), &["127.0.0.1".into()]).expect("pki");
    let key = rest_key(tmp.path(), "campaign", "rest");
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let agent = format!("agent://127.0.0.1:{port}");
    let body = "[index]\nsize = \"1mb\"\nfiles = 2\nseed = 1\n";
    let file = tmp.path().join("c.toml");
    std::fs::write(&file, campaign("gone", &agent, &pki.ca, &key, body)).expect("write");
    let out = tmp.path().join("results");
    let run = run_campaign(None, &file, &out);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach the agent at {agent}")),
        "{stderr}"
    );
    assert!(!out.join("gone").exists(), "no results directory");
}

#[test]
fn an_agent_refusing_the_key_fails_the_campaign_before_any_trial_naming_it() {
    let tmp = scratch();
    let pki = generate_issued(&tmp.path().join("pki"), &["127.0.0.1".into()]).expect("pki");
    rest_key(tmp.path(), "campaign", "rest");
    let agent_dir = tmp.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let _agent = start_agent(None, &listen, &pki, agent_dir);
    // The right id with another secret.
    let wrong = tmp.path().join("wrong.key");
    std::fs::write(&wrong, "campaign:not-the-secret-at-all").expect("write");
    let agent = format!("agent://{listen}");
    let body = "[index]\nsize = \"1mb\"\nfiles = 2\nseed = 1\n";
    let file = tmp.path().join("c.toml");
    std::fs::write(&file, campaign("refused", &agent, &pki.ca, &wrong, body)).expect("write");
    let out = tmp.path().join("results");
    let run = run_campaign(None, &file, &out);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the agent at {agent} refused this campaign's API key"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("invalid credentials"), "{stderr}");
    assert!(
        !stderr.contains("not-the-secret"),
        "no secret echoed: {stderr}"
    );
    assert!(!out.join("refused").exists(), "no results directory");
}

/// An agent in this process on loopback with the keys of `dir/keys.txt`; its URL, and how to
/// trust it.
async fn in_process(dir: &Path, pki: &IssuedPaths, limits: Limits) -> (Agent, AgentUrl, TlsClient) {
    let config = AgentConfig {
        listen: "127.0.0.1:0".into(),
        identity: pki.leader.clone(),
        api_keys: dir.join("keys.txt"),
        data_dir: dir.join("data"),
        limits,
    };
    let agent = Agent::start(config, Arc::new(|_| {})).await.expect("agent");
    let url = AgentUrl {
        host: "127.0.0.1".into(),
        port: agent.local_addr().port(),
    };
    let tls = TlsClient {
        ca: pki.ca.clone(),
        ..TlsClient::default()
    };
    (agent, url, tls)
}

/// The key in a key file.
fn key(path: &Path) -> ApiKey {
    ApiKey::from_sources(Some(path), None)
        .expect("key")
        .expect("some")
}

#[tokio::test]
async fn the_api_takes_rest_keys_only_and_answers_like_elasticsearch() {
    let tmp = scratch();
    let pki = generate_issued(&tmp.path().join("pki"), &["127.0.0.1".into()]).expect("pki");
    let rest = rest_key(tmp.path(), "ops", "rest");
    let cross = rest_key(tmp.path(), "dc2", "cross_cluster");
    let (agent, url, tls) = in_process(tmp.path(), &pki, Limits::default()).await;
    let client = AgentClient::new(url.clone(), &tls, &key(&rest)).expect("client");
    let first: ClockReading = client
        .call("GET", "/clock", None::<&()>)
        .await
        .expect("clock");
    let second: ClockReading = client
        .call("GET", "/clock", None::<&()>)
        .await
        .expect("clock");
    assert!(second.agent_s >= first.agent_s, "monotonic");
    let missing = client
        .exchange("GET", "/nowhere", None::<&()>)
        .await
        .expect("404");
    assert_eq!(missing.status, 404);
    let not_allowed = client
        .exchange("PUT", "/rigs", None::<&()>)
        .await
        .expect("405");
    assert_eq!(not_allowed.status, 405);
    let no_rig = client
        .call::<serde_json::Value>("DELETE", "/rigs/99", None::<&()>)
        .await;
    assert!(
        matches!(&no_rig, Err(AgentError::Remote { status: 404, reason, .. }) if reason.contains("no rig 99")),
        "{no_rig:?}"
    );
    // A cross-cluster key is for a leader's transport, not for this API.
    let cross = AgentClient::new(url.clone(), &tls, &key(&cross)).expect("client");
    let refused = cross
        .call::<ClockReading>("GET", "/clock", None::<&()>)
        .await;
    let Err(AgentError::Refused { reason, .. }) = &refused else {
        panic!("{refused:?}");
    };
    assert!(
        reason.contains("expected API key type of [rest]"),
        "{reason}"
    );
    // Without TLS trust in the agent's CA, nothing is sent.
    let other = generate_issued(&tmp.path().join("other"), &["127.0.0.1".into()]).expect("pki");
    let stranger = TlsClient {
        ca: other.ca,
        ..TlsClient::default()
    };
    let untrusting = AgentClient::new(url, &stranger, &key(&rest)).expect("client");
    let tls_error = untrusting
        .call::<ClockReading>("GET", "/clock", None::<&()>)
        .await;
    assert!(
        matches!(tls_error, Err(AgentError::Tls { .. })),
        "{tls_error:?}"
    );
    agent.stop().await;
}

/// Polls `POST /indices` until the cell's index is ready: its metas.
async fn ready(client: &AgentClient, cell: &CellRequest) -> Vec<Vec<rrbench::protocol::FileMeta>> {
    let mut state = IndexState::Building;
    for _ in 0..200 {
        state = client
            .call("POST", "/indices", Some(cell))
            .await
            .expect("indices");
        if state != IndexState::Building {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match state {
        IndexState::Ready { metas } => metas,
        other => panic!("{other:?}"),
    }
}

/// A campaign's first cell as an agent is sent it.
fn cell_request(text: &str) -> CellRequest {
    let campaign = Campaign::parse(text, None).expect("campaign");
    CellRequest {
        cell: serde_json::to_value(&campaign.tables[0]).expect("table"),
        seed: campaign.spec.seed,
    }
}

#[tokio::test]
async fn a_rig_lives_from_post_to_delete_for_the_key_that_started_it_only() {
    let tmp = scratch();
    let pki = generate_issued(&tmp.path().join("pki"), &["127.0.0.1".into()]).expect("pki");
    let ops = rest_key(tmp.path(), "ops", "rest");
    let other = rest_key(tmp.path(), "other", "rest");
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let limits = Limits {
        max_index_size: ByteSize::mib(16),
        max_files: 8,
        rig_ports: Some((free_port, free_port)),
    };
    let (agent, url, tls) = in_process(tmp.path(), &pki, limits).await;
    let client = AgentClient::new(url.clone(), &tls, &key(&ops)).expect("client");
    let stranger = AgentClient::new(url, &tls, &key(&other)).expect("client");
    let cell = cell_request(
        "name = \"c\"\nseed = 4\n[index]\nsize = \"2mb\"\nfiles = 2\nseed = 1\n\
         [faults.wan]\ntype = \"latency\"\ndelay = \"1ms\"\n",
    );
    let start = StartRig {
        cell: cell.clone(),
        trial_seed: 9,
        reference: false,
        lease_s: 60.0,
        server_names: vec!["127.0.0.1".into()],
    };
    let status = |r: &Result<serde_json::Value, AgentError>| match r {
        Err(AgentError::Remote { status, .. }) => *status,
        other => panic!("{other:?}"),
    };
    // Before its index is there, no rig.
    let early = client
        .call::<serde_json::Value>("POST", "/rigs", Some(&start))
        .await;
    assert_eq!(status(&early), 409, "{early:?}");
    let metas = ready(&client, &cell).await;
    assert_eq!(metas.len(), 1, "one shard");
    assert_eq!(metas[0].len(), 2, "of two files");
    let started: RigStarted = client
        .call("POST", "/rigs", Some(&start))
        .await
        .expect("rig");
    assert_eq!(started.ports.len(), 1);
    assert_eq!(started.ports[0].len(), 1);
    assert!(started.ca_pem.is_none(), "plain TCP needs no CA");
    // The proxy listens where the agent does.
    std::net::TcpStream::connect(("127.0.0.1", started.ports[0][0])).expect("the rig's port");
    let listed: serde_json::Value = client
        .call("GET", "/rigs", None::<&()>)
        .await
        .expect("list");
    assert_eq!(listed["rigs"], serde_json::json!([started.id]));
    // Another key sees none of it, and cannot stop it.
    let theirs: serde_json::Value = stranger
        .call("GET", "/rigs", None::<&()>)
        .await
        .expect("list");
    assert_eq!(theirs["rigs"], serde_json::json!([]));
    let path = format!("/rigs/{}", started.id);
    let not_theirs = stranger
        .call::<serde_json::Value>("DELETE", &path, None::<&()>)
        .await;
    assert_eq!(status(&not_theirs), 404);
    let stats: serde_json::Value = client
        .call("GET", &format!("{path}/stats"), None::<&()>)
        .await
        .expect("stats");
    assert_eq!(stats["connections_open"], 0, "{stats}");
    let stopped: RigStopped = client
        .call("DELETE", &path, None::<&()>)
        .await
        .expect("stop");
    assert!(
        stopped
            .events
            .iter()
            .any(|e| matches!(e.kind, rrbench::chaos::EventKind::ProxyStart { .. })),
        "{:?}",
        stopped.events
    );
    let again = client
        .call::<serde_json::Value>("DELETE", &path, None::<&()>)
        .await;
    assert_eq!(status(&again), 404, "stopped once");
    // Stopped, it gave its port back.
    let next: RigStarted = client
        .call("POST", "/rigs", Some(&start))
        .await
        .expect("rig");
    assert_eq!(next.ports, [[free_port]]);
    let path = format!("/rigs/{}", next.id);
    let _: RigStopped = client
        .call("DELETE", &path, None::<&()>)
        .await
        .expect("stop");
    // What a cell may not ask an agent for, whatever its own [hosts] says.
    let big = cell_request("name = \"c\"\n[index]\nsize = \"1gb\"\nfiles = 2\n");
    let refused = client
        .call::<serde_json::Value>("POST", "/indices", Some(&big))
        .await;
    assert_eq!(status(&refused), 413, "{refused:?}");
    let l3 =
        cell_request("name = \"c\"\n[index]\nsize = \"1mb\"\nfiles = 2\n[chaos]\nlayer = \"l3\"\n");
    let asked = client
        .call::<serde_json::Value>("POST", "/indices", Some(&l3))
        .await;
    // An L3 cell is reached through this host's forwarding, which the agent never turns on.
    let forwarding =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1");
    if forwarding {
        assert!(asked.is_ok(), "{asked:?}");
    } else {
        assert_eq!(status(&asked), 503, "{asked:?}");
        let said = format!("{:?}", asked.expect_err("refused"));
        assert!(said.contains("sysctl -w net.ipv4.ip_forward=1"), "{said}");
    }
    let forever = StartRig {
        lease_s: 0.0,
        ..start
    };
    let refused = client
        .call::<serde_json::Value>("POST", "/rigs", Some(&forever))
        .await;
    assert_eq!(status(&refused), 400, "{refused:?}");
    agent.stop().await;
}

/// The lines of a run's `trials.jsonl`.
fn trial_records(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("trials.jsonl"))
        .expect("trials")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

/// The lines of a trial's `events/<id>.jsonl`.
fn trial_events(dir: &Path, trial: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(format!("events/{trial}.jsonl")))
        .expect("events")
        .lines()
        .map(|l| serde_json::from_str(l).expect("event"))
        .collect()
}

#[test]
fn tls_quic_and_fan_in_leaders_run_on_an_agent_and_the_campaign_host_generates_no_index() {
    if !usable_in_tests() {
        return;
    }
    let across = across();
    let Across {
        hosts, tmp, pki, ..
    } = &across;
    let listen = format!("{}:7070", hosts.ip_a);
    let agent_process = start_agent(Some(hosts.a.name()), &listen, pki, tmp.path());
    // No fault with a reference: one rig entry per trial.
    let body = "[index]\nsize = \"2mb\"\nfiles = 4\nseed = 2\n[settings]\nmax_bytes_per_sec = \
                \"0\"\n[matrix]\ncase = [{ \"settings.tls\" = true }, { \"settings.transport\" = \
                \"quic\" }, { leaders = 2 }, { leaders = 2, \"settings.transport\" = \"quic\" \
                }]\n[expect]\noutcome = \"completed\"\n";
    let (stdout, dir) = across.run("secure", &listen, body);
    assert!(stdout.contains("4 trials recorded, 4 passed"), "{stdout}");
    let records = trial_records(&dir);
    assert_eq!(records.len(), 4);
    for record in &records {
        assert_eq!(record["outcome"], "completed", "{record}");
    }
    // The run order is shuffled (seeded): each trial by its parameters.
    let with = |params: serde_json::Value| {
        records
            .iter()
            .find(|r| r["params"] == params)
            .unwrap_or_else(|| panic!("a trial of {params}: {records:?}"))
    };
    // TLS over TCP: the follower verified the agent's leader certificate through its CA.
    let tls = with(serde_json::json!({ "settings.tls": true }));
    assert!(!tls["tls"].is_null(), "a TLS handshake is recorded: {tls}");
    let quic = with(serde_json::json!({ "settings.transport": "quic" }));
    assert!(
        !quic["tls"].is_null(),
        "QUIC's handshake is recorded: {quic}"
    );
    // The rigs' CAs came from the agent: the results directory makes none of its own.
    assert!(!dir.join("tls").exists(), "a CA in the results directory");
    // Fan-in (over TCP, and over QUIC): both leaders' recoveries, and both rigs' proxies in
    // the events.
    let fan_ins = [
        serde_json::json!({ "leaders": 2 }),
        serde_json::json!({ "leaders": 2, "settings.transport": "quic" }),
    ];
    for params in fan_ins {
        let fan_in = with(params);
        assert_eq!(
            fan_in["leaders"].as_array().map(Vec::len),
            Some(2),
            "{fan_in}"
        );
        let events = trial_events(&dir, fan_in["trial"].as_str().expect("id"));
        let proxies = events
            .iter()
            .filter(|e| e["source"] == "chaos" && e["event"] == "proxy_start")
            .count();
        assert_eq!(proxies, 2, "{events:?}");
    }
    // The campaign host verified against the agent's metas, and generated nothing itself.
    assert!(
        !tmp.path().join("results/.index-cache").exists(),
        "an index cache on the campaign host"
    );
    let log = agent_process.1.lock().expect("log").clone();
    let count = |what: &str| log.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count(": started for API key [campaign]"), 4, "{log:?}");
    assert_eq!(count(": stopped, "), 4, "{log:?}");
}

#[tokio::test]
async fn a_tls_rig_hands_over_a_ca_for_the_names_asked_and_refuses_bad_names() {
    let tmp = scratch();
    let pki = generate_issued(&tmp.path().join("pki"), &["127.0.0.1".into()]).expect("pki");
    let ops = rest_key(tmp.path(), "ops", "rest");
    let (agent, url, tls) = in_process(tmp.path(), &pki, Limits::default()).await;
    let client = AgentClient::new(url, &tls, &key(&ops)).expect("client");
    let cell = cell_request(
        "name = \"c\"\nseed = 4\n[index]\nsize = \"1mb\"\nfiles = 2\nseed = 1\n\
         [settings]\ntls = true\n",
    );
    ready(&client, &cell).await;
    let start = |names: &[&str]| StartRig {
        cell: cell.clone(),
        trial_seed: 9,
        reference: false,
        lease_s: 60.0,
        server_names: names.iter().map(|n| n.to_string()).collect(),
    };
    for bad in ["not a name!", "exa mple.com", ""] {
        let refused = client
            .call::<serde_json::Value>("POST", "/rigs", Some(&start(&["127.0.0.1", bad])))
            .await;
        assert!(
            matches!(&refused, Err(AgentError::Remote { status: 400, reason, .. })
                if reason.contains(&format!("{bad:?}"))),
            "{refused:?}"
        );
    }
    let many = ["a.example"; 9];
    let refused = client
        .call::<serde_json::Value>("POST", "/rigs", Some(&start(&many)))
        .await;
    assert!(
        matches!(&refused, Err(AgentError::Remote { status: 400, reason, .. }) if reason.contains("at most 8")),
        "{refused:?}"
    );
    let started: RigStarted = client
        .call(
            "POST",
            "/rigs",
            Some(&start(&["127.0.0.1", "agent-a.example"])),
        )
        .await
        .expect("rig");
    let pem = started.ca_pem.clone().expect("a CA for a TLS cell");
    rrbench::campaign::remote::check_ca_pem(&pem).expect("a CA that parses");
    // The leader behind the rig's proxy serves a certificate that CA issued for 127.0.0.1.
    let ca = tmp.path().join("rig-ca.pem");
    std::fs::write(&ca, &pem).expect("write");
    let (config, _) = rrbench::transport::certs::client_config(&TlsClient {
        ca,
        ..TlsClient::default()
    })
    .expect("client config");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", started.ports[0][0]))
        .await
        .expect("the rig's port");
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    connector
        .connect(name, tcp)
        .await
        .expect("a handshake verified through the rig's CA");
    let _: RigStopped = client
        .call("DELETE", &format!("/rigs/{}", started.id), None::<&()>)
        .await
        .expect("stop");
    agent.stop().await;
}

#[tokio::test]
async fn a_quic_rig_takes_a_rig_port_free_for_udp_too() {
    let tmp = scratch();
    let pki = generate_issued(&tmp.path().join("pki"), &["127.0.0.1".into()]).expect("pki");
    let ops = rest_key(tmp.path(), "ops", "rest");
    // A port whose UDP side is taken, its TCP side and the next port free.
    let (udp, first) = (0..50)
        .find_map(|_| {
            let udp = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
            let port = udp.local_addr().ok()?.port();
            let next = port.checked_add(1)?;
            let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", next)).is_ok()
                && std::net::UdpSocket::bind(("127.0.0.1", next)).is_ok();
            free.then_some((udp, port))
        })
        .expect("two free ports");
    let limits = Limits {
        rig_ports: Some((first, first + 1)),
        ..Limits::default()
    };
    let (agent, url, tls) = in_process(tmp.path(), &pki, limits).await;
    let client = AgentClient::new(url, &tls, &key(&ops)).expect("client");
    let cell = cell_request(
        "name = \"c\"\nseed = 4\n[index]\nsize = \"1mb\"\nfiles = 2\nseed = 1\n\
         [settings]\ntransport = \"quic\"\n",
    );
    ready(&client, &cell).await;
    let start = StartRig {
        cell,
        trial_seed: 9,
        reference: false,
        lease_s: 60.0,
        server_names: vec!["127.0.0.1".into()],
    };
    let started: RigStarted = client
        .call("POST", "/rigs", Some(&start))
        .await
        .expect("rig");
    assert_eq!(
        started.ports,
        [[first + 1]],
        "port {first} is taken for UDP"
    );
    assert!(started.ca_pem.is_some(), "QUIC verifies the leader too");
    let _: RigStopped = client
        .call("DELETE", &format!("/rigs/{}", started.id), None::<&()>)
        .await
        .expect("stop");
    drop(udp);
    agent.stop().await;
}

#[tokio::test]
async fn a_fan_in_rig_takes_a_leader_slot_per_cluster() {
    let tmp = scratch();
    let pki = generate_issued(&tmp.path().join("pki"), &["127.0.0.1".into()]).expect("pki");
    let ops = rest_key(tmp.path(), "ops", "rest");
    let (agent, url, tls) = in_process(tmp.path(), &pki, Limits::default()).await;
    let client = AgentClient::new(url, &tls, &key(&ops)).expect("client");
    let start = |leaders: u32| {
        let cell = cell_request(&format!(
            "name = \"c\"\nseed = 4\nleaders = {leaders}\n[index]\nsize = \"1mb\"\nfiles = \
             2\nseed = 1\n"
        ));
        StartRig {
            cell,
            trial_seed: 9,
            reference: false,
            lease_s: 60.0,
            server_names: vec!["127.0.0.1".into()],
        }
    };
    ready(&client, &start(15).cell).await;
    let started: RigStarted = client
        .call("POST", "/rigs", Some(&start(15)))
        .await
        .expect("rig");
    assert_eq!(started.ports.len(), 15, "a port list per leader cluster");
    let refused = client
        .call::<serde_json::Value>("POST", "/rigs", Some(&start(2)))
        .await;
    assert!(
        matches!(&refused, Err(AgentError::Remote { status: 503, reason, .. })
            if reason.contains("1 of the 16 leader slots are free, this cell needs 2")),
        "{refused:?}"
    );
    let stopped: RigStopped = client
        .call("DELETE", &format!("/rigs/{}", started.id), None::<&()>)
        .await
        .expect("stop");
    let proxies = stopped
        .events
        .iter()
        .filter(|e| matches!(e.kind, rrbench::chaos::EventKind::ProxyStart { .. }))
        .count();
    assert_eq!(proxies, 15, "one log for every cluster");
    // The stop gave every slot back.
    let all: RigStarted = client
        .call("POST", "/rigs", Some(&start(16)))
        .await
        .expect("every slot free again");
    let _: RigStopped = client
        .call("DELETE", &format!("/rigs/{}", all.id), None::<&()>)
        .await
        .expect("stop");
    // More than an agent runs at once is refused outright.
    let refused = client
        .call::<serde_json::Value>("POST", "/indices", Some(&start(17).cell))
        .await;
    assert!(
        matches!(&refused, Err(AgentError::Remote { status: 400, reason, .. }) if reason.contains("at most 16")),
        "{refused:?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn a_fan_in_that_fails_half_way_gives_back_what_it_took() {
    let tmp = scratch();
    let pki = generate_issued(&tmp.path().join("pki"), &["127.0.0.1".into()]).expect("pki");
    let ops = rest_key(tmp.path(), "ops", "rest");
    let first = (0..50)
        .find_map(|_| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port();
            let next = port.checked_add(1)?;
            std::net::TcpListener::bind(("127.0.0.1", next))
                .is_ok()
                .then_some(port)
        })
        .expect("two free ports");
    // Two ports: a third leader cluster finds none, after two started.
    let limits = Limits {
        rig_ports: Some((first, first + 1)),
        ..Limits::default()
    };
    let (agent, url, tls) = in_process(tmp.path(), &pki, limits).await;
    let client = AgentClient::new(url, &tls, &key(&ops)).expect("client");
    let start = |leaders: u32| StartRig {
        cell: cell_request(&format!(
            "name = \"c\"\nseed = 4\nleaders = {leaders}\n[index]\nsize = \"1mb\"\nfiles = \
             2\nseed = 1\n"
        )),
        trial_seed: 9,
        reference: false,
        lease_s: 60.0,
        server_names: vec!["127.0.0.1".into()],
    };
    ready(&client, &start(3).cell).await;
    let refused = client
        .call::<serde_json::Value>("POST", "/rigs", Some(&start(3)))
        .await;
    assert!(
        matches!(&refused, Err(AgentError::Remote { status: 503, reason, .. })
            if reason.contains(&format!("--rig-ports {first}-{}", first + 1))),
        "{refused:?}"
    );
    let listed: serde_json::Value = client
        .call("GET", "/rigs", None::<&()>)
        .await
        .expect("list");
    assert_eq!(
        listed["rigs"],
        serde_json::json!([]),
        "nothing left running"
    );
    // Both ports and the slots came back: two clusters start on exactly those ports.
    let started: RigStarted = client
        .call("POST", "/rigs", Some(&start(2)))
        .await
        .expect("the ports and slots are free again");
    assert_eq!(started.ports, [[first], [first + 1]]);
    let _: RigStopped = client
        .call("DELETE", &format!("/rigs/{}", started.id), None::<&()>)
        .await
        .expect("stop");
    agent.stop().await;
}

#[test]
fn an_l3_cell_runs_its_link_on_the_agent_and_the_campaign_reaches_it_through_the_forward() {
    if !usable_in_tests() || !has_nft() {
        return;
    }
    let across = across();
    let Across {
        hosts, tmp, pki, ..
    } = &across;
    // The agent's host forwards (its operator's choice; here only inside its namespace).
    let forwarding = Command::new("ip")
        .args(["netns", "exec", hosts.a.name(), "sh", "-c"])
        .arg("echo 1 > /proc/sys/net/ipv4/ip_forward")
        .status()
        .expect("ip netns exec");
    assert!(forwarding.success());
    // Public ports any free one (held by a socket of the agent's), or from --rig-ports.
    // The first also listens on any address (as the Docker image does): its forwards match
    // whatever is addressed to the host itself.
    let any_port = format!("{}:7070", hosts.ip_a);
    let ranged = format!("{}:7071", hosts.ip_a);
    let agents = [
        start_agent(Some(hosts.a.name()), "0.0.0.0:7070", pki, tmp.path()),
        start_agent_with(
            Some(hosts.a.name()),
            &ranged,
            pki,
            tmp.path(),
            &["--rig-ports", "17000-17019"],
        ),
    ];
    // Loss and delay on the link's packets, so the follower's own TCP (and QUIC) sees them
    // end to end across the agent's forward: one leader over TCP and QUIC; fan-in (a link and
    // a forward per leader), a cluster dialled node by node (a forwarded port per node) and one
    // behind its load balancer (which listens on the agent's address itself).
    let cases = [
        (
            &any_port,
            "{ \"settings.transport\" = \"tcp\" }, { \"settings.transport\" = \"quic\" }",
        ),
        (
            &ranged,
            "{ leaders = 2 }, { leader_nodes = 3, \"settings.mode\" = \"sniff\" }, { \
             leader_nodes = 3, \"settings.mode\" = \"proxy\" }",
        ),
    ];
    for (i, (listen, matrix)) in cases.into_iter().enumerate() {
        let body = format!(
            "[index]\nsize = \"4mb\"\nfiles = 4\nseed = 2\n[settings]\nmax_bytes_per_sec = \
             \"0\"\n[chaos]\nlayer = \"l3\"\n[faults.loss]\ntype = \"loss\"\nprobability = \
             \"1%\"\n[faults.wan]\ntype = \"latency\"\ndelay = \"2ms\"\n[matrix]\ncase = \
             [{matrix}]\n[expect]\noutcome = \"completed\"\n"
        );
        let name = format!("l3-{i}");
        let (stdout, dir) = across.run(&name, listen, &body);
        let records = trial_records(&dir);
        assert_eq!(records.len(), matrix.matches('{').count(), "{stdout}");
        for record in &records {
            assert_eq!(record["outcome"], "completed", "{record}");
            let events = trial_events(&dir, record["trial"].as_str().expect("id"));
            // The links ran on the agent (one per leader), and dropped packets of the
            // follower's flows.
            let links = events
                .iter()
                .filter(|e| e["source"] == "chaos" && e["event"] == "proxy_start")
                .filter(|e| e["listen"].as_str().is_some_and(|l| l.contains("L3 link")))
                .count();
            let leaders = record["params"]["leaders"].as_u64().unwrap_or(1);
            assert_eq!(links as u64, leaders, "{record} {events:?}");
            let dropped = events
                .iter()
                .any(|e| e["source"] == "chaos" && e["event"] == "effect" && e["fault"] == "loss");
            assert!(dropped, "no packet of the follower's was lost: {events:?}");
        }
    }
    for agent in &agents {
        let log = agent.1.lock().expect("log").clone();
        let count = |what: &str| log.iter().filter(|l| l.contains(what)).count();
        let started = count(": started for API key [campaign]");
        assert!(started >= 2, "{log:?}");
        assert_eq!(count(": stopped, "), started, "{log:?}");
    }
    // Every rig's forward was removed with it.
    let tables = Command::new("ip")
        .args(["netns", "exec", hosts.a.name(), "nft", "list", "tables"])
        .output()
        .expect("nft");
    let tables = text(&tables.stdout);
    assert!(!tables.contains("rrbench_rig_"), "{tables}");
}

/// Whether nftables' `nft` is installed (the agent's forward into an L3 link needs it); where
/// the L3 tests must run (`RRBENCH_REQUIRE_L3`), it must be.
fn has_nft() -> bool {
    let installed = Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed && std::env::var_os("RRBENCH_REQUIRE_L3").is_some() {
        panic!("RRBENCH_REQUIRE_L3 is set, but nftables' nft is not installed");
    }
    installed
}
