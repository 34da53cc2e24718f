//! A toxic added through the toxiproxy API while a recovery runs acts on the connections the
//! recovery already has open, and deleting it gives the throughput back; the recovery neither
//! reconnects nor retries, and completes verified. All real parts: `rrbench leader`,
//! `rrbench proxy --api` and `rrbench recover --json --metrics`, the follower's throughput read
//! from its own `/metrics` as a Prometheus scraper would.
//!
//! Rates are compared as loose ratios (the follower's own limit is 1mb/s, the toxic leaves each
//! connection 20 KB/s), never against a wall-clock time.

mod common;

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::Path,
    time::{Duration, Instant},
};

use common::{Child, spawn_announcing, spawn_announcing_line, text};

/// The toxic's rate, toxiproxy's KB/s (1000 bytes/s), per connection.
const TOXIC_RATE_KB: u64 = 20;

/// `method path` with `body` on `addr`: status and body.
fn call(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    let (head, body) = out.split_once("\r\n\r\n").expect("head");
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok());
    (status.expect("status"), body.to_string())
}

/// One unlabelled sample of the follower's `/metrics`.
fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// A scrape of the follower: bytes received, attempts.
fn scrape(metrics: &str) -> (f64, f64) {
    let (status, body) = call(metrics, "GET", "/metrics", "");
    assert_eq!(status, 200, "{body}");
    (
        metric(&body, "rrbench_follower_received_bytes_total"),
        metric(&body, "rrbench_follower_attempts_total"),
    )
}

/// The follower's receive rate over about `window`, bytes a second; every scrape sees one
/// attempt.
fn rate(metrics: &str, window: Duration) -> f64 {
    let (b0, a0) = scrape(metrics);
    let t0 = Instant::now();
    std::thread::sleep(window);
    let (b1, a1) = scrape(metrics);
    let elapsed = t0.elapsed().as_secs_f64();
    assert_eq!((a0, a1), (1.0, 1.0), "the recovery started over");
    (b1 - b0) / elapsed
}

/// The proxy's events (`--events`), parsed.
fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The ids of the connections the proxy opened.
fn opened(events: &[serde_json::Value]) -> BTreeSet<u64> {
    events
        .iter()
        .filter(|e| e["event"] == "conn_open")
        .filter_map(|e| e["conn"].as_u64())
        .collect()
}

#[test]
fn a_toxic_added_mid_recovery_slows_its_open_connections_and_deleting_it_restores_them() {
    let dir = common::scratch();
    let index = dir.path().join("index");
    let index_arg = index.to_str().expect("utf-8");
    let out = common::rrbench(&["gen-index", "--dir", index_arg, "--size", "5mb"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let (_leader, leader) = spawn_announcing(&[
        "leader",
        "--dir",
        index_arg,
        "--listen",
        "127.0.0.1:0",
        "--max-bytes-per-sec",
        "0",
        "--quiet",
    ]);
    let events_path = dir.path().join("proxy-events.jsonl");
    let (_proxy, line) = spawn_announcing_line(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &leader,
        "--api",
        "127.0.0.1:0",
        "--name",
        "leader",
        "--events",
        events_path.to_str().expect("utf-8"),
        "--quiet",
    ]);
    // `proxy "leader" on ADDR -> UPSTREAM ...; toxiproxy API on http://API; Ctrl-C to stop`
    let words: Vec<&str> = line.split_whitespace().collect();
    let on = words.iter().position(|w| *w == "on").expect("on ADDR");
    let proxy = words[on + 1].to_string();
    let api = line
        .split_once("http://")
        .and_then(|(_, rest)| rest.split([';', ' ']).next())
        .expect("the API's address")
        .to_string();

    let target = dir.path().join("target");
    let mut recover = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args([
                "recover",
                "--from",
                &proxy,
                "--dir",
                target.to_str().expect("utf-8"),
                // Small chunks: the counter moves many times a second even under the toxic.
                "--chunk-size",
                "16kb",
                "--max-bytes-per-sec",
                "1mb",
                "--json",
                "--no-progress",
                "--metrics",
                "127.0.0.1:0",
            ])
            .env_remove(common::AUTH_TOKEN_ENV)
            .env_remove(common::API_KEY_ENV)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn recover"),
    );
    let mut stdout = recover.0.stdout.take().expect("stdout");
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let mut stderr = BufReader::new(recover.0.stderr.take().expect("stderr")).lines();
    let metrics = stderr
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("metrics on http://")
                .and_then(|u| u.strip_suffix("/metrics"))
                .map(str::to_string)
        })
        .expect("a `metrics on` line");
    let stderr = std::thread::spawn(move || stderr.map_while(Result::ok).collect::<Vec<_>>());

    // Under way: the file list has come and chunks flow.
    let deadline = Instant::now() + Duration::from_secs(10);
    while scrape(&metrics).0 < (128 << 10) as f64 {
        assert!(Instant::now() < deadline, "no bytes through the proxy");
        std::thread::sleep(Duration::from_millis(20));
    }
    let window = Duration::from_millis(1000);
    // What is in flight when the toxic changes drains first.
    let settle = Duration::from_millis(400);
    let before = rate(&metrics, window);
    let open_before = opened(&events(&events_path));
    assert!(!open_before.is_empty(), "the proxy logged no connection");

    let toxic = format!(
        r#"{{"name":"slow","type":"bandwidth","stream":"downstream","attributes":{{"rate":{TOXIC_RATE_KB}}}}}"#
    );
    let (status, body) = call(&api, "POST", "/proxies/leader/toxics", &toxic);
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(settle);
    let during = rate(&metrics, window);

    let (status, body) = call(&api, "DELETE", "/proxies/leader/toxics/slow", "");
    assert_eq!(status, 204, "{body}");
    std::thread::sleep(settle);
    let after = rate(&metrics, window);

    let status = recover.0.wait().expect("recover");
    let (stdout, stderr) = (
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr"),
    );
    let rates = format!(
        "before {before:.0} B/s, with the toxic {during:.0} B/s, after {after:.0} B/s\n{}",
        stderr.join("\n")
    );
    eprintln!("{rates}");
    assert!(status.success(), "{rates}\n{stdout}");
    // Each open connection gets 20 KB/s: a fraction of the follower's own 1mb/s however many
    // connections carry chunks, and on a loaded machine too.
    assert!(during < 0.5 * before, "the toxic did not slow it: {rates}");
    assert!(
        after > 2.0 * during,
        "deleting the toxic did not help: {rates}"
    );
    assert!(after > 0.5 * before, "not back to its pace: {rates}");

    let json: serde_json::Value = serde_json::from_str(&stdout).expect("recover --json");
    let totals = &json["end"]["totals"];
    assert_eq!(totals["outcome"], "completed", "{totals}");
    assert_eq!(totals["attempts"], 1, "{totals}");
    assert_eq!(totals["files"], totals["files_verified"], "{totals}");
    assert_eq!(totals["bytes"], 5 << 20, "{totals}");

    // No reconnect: every connection the proxy saw was open before the toxic, and the toxic
    // acted on those.
    let events = events(&events_path);
    assert_eq!(opened(&events), open_before, "a connection opened later");
    let slowed: BTreeSet<u64> = events
        .iter()
        .filter(|e| e["event"] == "effect" && e["fault"] == "slow")
        .filter(|e| e["bytes"].as_u64().is_some_and(|b| b > 0))
        .filter_map(|e| e["conn"].as_u64())
        .collect();
    assert!(
        !slowed.is_empty() && slowed.is_subset(&open_before),
        "the toxic acted on {slowed:?}, the connections were {open_before:?}"
    );
}
