//! `/metrics` (issue 19): the leader's, the proxy's and a running follower's scrapes parse as
//! Prometheus text format 0.0.4 (by the strict parser below), and their byte counters agree with
//! the recovery's report within one chunk. The endpoint answers `GET /metrics` only.

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    sync::Arc,
    time::Duration,
};

use rrbench::{
    follower::{self, FollowerConfig, Progress},
    metrics::{
        CONTENT_TYPE, FollowerCollector, LeaderCollector, Metrics, MetricsServer, ProxyCollector,
    },
    settings::{LeaderSettings, RecoverySettings},
    units::ByteSize,
};

/// A strict reader of the Prometheus text exposition format 0.0.4, for what rrbench writes
/// (counters and gauges): it fails on anything the format does not allow, and on what it
/// allows but rrbench promises not to do (an unnamed family, a counter without `_total`).
mod prom {
    use std::collections::{BTreeMap, HashSet};

    /// One metric family.
    #[derive(Debug, Default)]
    pub struct Family {
        pub kind: String,
        pub help: String,
        /// (labels, value), in order.
        pub samples: Vec<(BTreeMap<String, String>, f64)>,
    }

    fn is_name(s: &str, colon: bool) -> bool {
        let mut chars = s.chars();
        let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
        chars.next().is_some_and(ok_first) && chars.all(|c| ok_first(c) || c.is_ascii_digit())
    }

    fn unescape(s: &str, quote: bool) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if quote => out.push('"'),
                other => return Err(format!("bad escape \\{other:?} in {s:?}")),
            }
        }
        Ok(out)
    }

    fn value(s: &str) -> Result<f64, String> {
        match s {
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ if s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => {
                s.parse().map_err(|e| format!("value {s:?}: {e}"))
            }
            _ => Err(format!("value {s:?}")),
        }
    }

    /// `{a="x",b="y"}` (the braces included) as a map; rest of the line after it.
    fn labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
        let mut map = BTreeMap::new();
        let mut rest = s.strip_prefix('{').ok_or("no {")?;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                return Ok((map, after));
            }
            let (name, after) = rest.split_once("=\"").ok_or(format!("label in {s:?}"))?;
            if !is_name(name, false) || name.starts_with("__") {
                return Err(format!("label name {name:?}"));
            }
            // The value runs to the first unescaped quote.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in after.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    (false, '\n') => return Err("newline in a label value".into()),
                    _ => {}
                }
            }
            let end = end.ok_or(format!("unterminated label value in {s:?}"))?;
            if map
                .insert(name.to_string(), unescape(&after[..end], true)?)
                .is_some()
            {
                return Err(format!("label {name} twice"));
            }
            rest = &after[end + 1..];
            if let Some(more) = rest.strip_prefix(',') {
                rest = more;
            } else if !rest.starts_with('}') {
                return Err(format!("after a label value: {rest:?}"));
            }
        }
    }

    /// Parses `text`, or says the first thing wrong with it.
    pub fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
        if !text.is_empty() && !text.ends_with('\n') {
            return Err("the last line has no newline".into());
        }
        let mut families: BTreeMap<String, Family> = BTreeMap::new();
        let mut helped = HashSet::new();
        let mut finished = HashSet::new();
        let mut current: Option<String> = None;
        let mut seen = HashSet::new();
        let mut enter = |name: &str, current: &mut Option<String>| -> Result<(), String> {
            if current.as_deref() != Some(name) {
                if let Some(done) = current.take() {
                    finished.insert(done);
                }
                if finished.contains(name) {
                    return Err(format!("{name}: its lines are not together"));
                }
                *current = Some(name.to_string());
            }
            Ok(())
        };
        for (n, line) in text.lines().enumerate() {
            let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
            if let Some(comment) = line.strip_prefix('#') {
                let words: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
                match words.as_slice() {
                    ["HELP", name, help] => {
                        enter(name, &mut current).map_err(at)?;
                        if !helped.insert(name.to_string()) {
                            return Err(at("a second HELP".into()));
                        }
                        families.entry(name.to_string()).or_default().help =
                            unescape(help, false).map_err(at)?;
                    }
                    ["TYPE", name, kind] => {
                        enter(name, &mut current).map_err(at)?;
                        let family = families.entry(name.to_string()).or_default();
                        if !family.kind.is_empty() || !family.samples.is_empty() {
                            return Err(at("TYPE twice, or after samples".into()));
                        }
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(kind) {
                            return Err(at(format!("type {kind}")));
                        }
                        family.kind = kind.to_string();
                    }
                    _ => {} // another comment
                }
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
            let name = &line[..name_end];
            if !is_name(name, true) {
                return Err(at(format!("metric name {name:?}")));
            }
            let (labels, rest) = if line[name_end..].starts_with('{') {
                labels(&line[name_end..]).map_err(at)?
            } else {
                (BTreeMap::new(), &line[name_end..])
            };
            let rest = rest
                .strip_prefix(' ')
                .ok_or_else(|| at("no space before the value".into()))?;
            let mut parts = rest.split(' ');
            let v = value(parts.next().unwrap_or("")).map_err(at)?;
            if let Some(ts) = parts.next() {
                ts.parse::<i64>()
                    .map_err(|e| at(format!("timestamp: {e}")))?;
            }
            if parts.next().is_some() {
                return Err(at("more after the timestamp".into()));
            }
            enter(name, &mut current).map_err(at)?;
            let family = families.entry(name.to_string()).or_default();
            if family.kind.is_empty() {
                return Err(at(
                    "a sample without a TYPE (rrbench types every family)".into()
                ));
            }
            if !seen.insert((name.to_string(), labels.clone())) {
                return Err(at("the same series twice".into()));
            }
            family.samples.push((labels, v));
        }
        for (name, family) in &families {
            if !name.starts_with("rrbench_") {
                return Err(format!("{name}: not an rrbench_ name"));
            }
            if family.help.is_empty() {
                return Err(format!("{name}: no HELP"));
            }
            match family.kind.as_str() {
                "counter" if !name.ends_with("_total") => {
                    return Err(format!("counter {name} does not end in _total"));
                }
                "counter" if family.samples.iter().any(|(_, v)| v.is_nan() || *v < 0.0) => {
                    return Err(format!("counter {name} below zero"));
                }
                "gauge" if name.ends_with("_total") => {
                    return Err(format!("gauge {name} ends in _total"));
                }
                _ => {}
            }
        }
        Ok(families)
    }
}

/// `GET path` on `addr` (a fresh connection): status, headers (lower-case names), body.
fn http(addr: &str, method: &str, path: &str) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to /metrics");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').expect("header: value");
        headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut body = String::new();
    reader.read_to_string(&mut body).expect("body");
    (code, headers, body)
}

/// Scrapes `http://addr/metrics` and parses it (asserting the status and content type).
fn scrape(addr: &str) -> BTreeMap<String, prom::Family> {
    let (code, headers, body) = http(addr, "GET", "/metrics");
    assert_eq!(code, 200, "{body}");
    let content_type = headers.iter().find(|(n, _)| n == "content-type");
    assert_eq!(
        content_type.map(|(_, v)| v.as_str()),
        Some(CONTENT_TYPE),
        "{headers:?}"
    );
    assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    prom::parse(&body).unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{body}"))
}

async fn scrape_async(addr: std::net::SocketAddr) -> BTreeMap<String, prom::Family> {
    tokio::task::spawn_blocking(move || scrape(&addr.to_string()))
        .await
        .expect("scrape")
}

/// The one sample of `name` whose labels include `labels`.
fn sample(metrics: &BTreeMap<String, prom::Family>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let family = metrics
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", metrics.keys()));
    let matching: Vec<f64> = family
        .samples
        .iter()
        .filter(|(l, _)| {
            labels
                .iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(matching.len(), 1, "{name}{labels:?}: {family:?}");
    matching[0]
}

fn within_one_chunk(what: &str, metric: f64, report: u64, chunk: u64) {
    let diff = (metric - report as f64).abs();
    assert!(
        diff <= chunk as f64,
        "{what}: {metric} on /metrics, {report} in the report: more than one chunk ({chunk}) apart"
    );
}

#[test]
fn the_parser_is_strict() {
    let good = "# HELP rrbench_x_bytes_total Some \\\\ help.\n# TYPE rrbench_x_bytes_total counter\n\
                rrbench_x_bytes_total{a=\"q\\\"\\n\\\\\",b=\"\"} 3\nrrbench_x_bytes_total 1.5e3 17\n";
    let parsed = prom::parse(good).expect("good text");
    let family = &parsed["rrbench_x_bytes_total"];
    assert_eq!(family.help, "Some \\ help.");
    assert_eq!(family.samples[0].0["a"], "q\"\n\\");
    assert_eq!(family.samples[1].1, 1500.0);
    let head = "# HELP rrbench_x_total h\n# TYPE rrbench_x_total counter\n";
    for bad in [
        format!("{head}rrbench_x_total 1"),            // no final newline
        format!("{head}rrbench_x_total{{a=\"x}} 1\n"), // unterminated value
        format!("{head}rrbench_x_total{{a=\"\\t\"}} 1\n"), // bad escape
        format!("{head}rrbench_x_total{{a=\"1\",a=\"2\"}} 1\n"), // a label twice
        format!("{head}rrbench_x_total one\n"),        // not a number
        format!("{head}rrbench_x_total 1\nrrbench_x_total 2\n"), // a series twice
        format!("{head}rrbench_x_total -1\n"),         // a counter below zero
        format!("{head}{head}rrbench_x_total 1\n"),    // HELP/TYPE twice
        "rrbench_y 1\n".into(),                        // no TYPE
        "# HELP rrbench_y h\n# TYPE rrbench_y counter\nrrbench_y 1\n".into(), // no _total
        "# HELP rrbench_y_total h\n# TYPE rrbench_y_total gauge\nrrbench_y_total 1\n".into(),
        "# HELP other h\n# TYPE other gauge\nother 1\n".into(), // not rrbench_
        "# TYPE rrbench_y gauge\nrrbench_y 1\n".into(),         // no HELP
        // a family's lines apart
        "# HELP rrbench_a h\n# TYPE rrbench_a gauge\nrrbench_a{x=\"1\"} 1\n\
         # HELP rrbench_b h\n# TYPE rrbench_b gauge\nrrbench_b 1\nrrbench_a{x=\"2\"} 1\n"
            .into(),
    ] {
        assert!(prom::parse(&bad).is_err(), "accepted: {bad:?}");
    }
}

/// The leader's and the follower's byte counters, scraped after an in-process recovery, match
/// the report; scraped during it, they never run ahead of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_and_follower_bytes_match_the_report_within_one_chunk() {
    let dir = common::scratch();
    let snapshot = common::make_index(dir.path(), 3 << 20, 6, 11);
    // Slow enough (~1 s) to be scraped while it runs.
    let settings = LeaderSettings {
        max_bytes_per_sec: ByteSize(3 << 20),
        ..LeaderSettings::default()
    };
    let leader = common::start_leader(&snapshot, settings).await;
    let leader_metrics = MetricsServer::start(
        "127.0.0.1:0",
        Metrics::new().with(LeaderCollector::new(vec![leader.stats_source()])),
    )
    .await
    .expect("leader metrics");
    let before = scrape_async(leader_metrics.local_addr()).await;
    assert_eq!(
        sample(&before, "rrbench_leader_served_bytes_total", &[]),
        0.0
    );

    let chunk = 256 << 10;
    let mut config = FollowerConfig::new(leader.local_addr().to_string(), dir.path().join("t"));
    config.settings = RecoverySettings {
        chunk_size: ByteSize(chunk),
        ..common::unlimited_follower()
    };
    let progress = Arc::new(Progress::default());
    let follower_metrics = MetricsServer::start(
        "127.0.0.1:0",
        Metrics::new().with(FollowerCollector::new(progress.clone())),
    )
    .await
    .expect("follower metrics");
    let recovery = tokio::spawn(follower::recover(
        config,
        progress.clone(),
        std::future::pending(),
    ));
    // Mid-run: once the file list has arrived (polled: a loaded machine may take a while).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let during = loop {
        let scraped = scrape_async(follower_metrics.local_addr()).await;
        if sample(&scraped, "rrbench_follower_index_bytes", &[]) > 0.0 {
            break scraped;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no file list: {:?}",
            scraped.keys()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let report = recovery.await.expect("join").expect("recovery runs");
    assert!(report.is_completed(), "{:?}", report.failures);
    assert_eq!(report.bytes, 3 << 20);

    let received_during = sample(&during, "rrbench_follower_received_bytes_total", &[]);
    // Mid-run (the leader's limit makes it last about a second): some bytes, not all.
    assert!(
        received_during < report.bytes_transferred as f64,
        "{received_during}"
    );
    assert_eq!(sample(&during, "rrbench_follower_attempts_total", &[]), 1.0);
    assert_eq!(
        sample(&during, "rrbench_follower_index_bytes", &[]),
        (3u64 << 20) as f64
    );

    let leader_after = scrape_async(leader_metrics.local_addr()).await;
    let follower_after = scrape_async(follower_metrics.local_addr()).await;
    within_one_chunk(
        "leader served",
        sample(&leader_after, "rrbench_leader_served_bytes_total", &[]),
        report.bytes,
        chunk,
    );
    within_one_chunk(
        "follower received",
        sample(
            &follower_after,
            "rrbench_follower_received_bytes_total",
            &[],
        ),
        report.bytes,
        chunk,
    );
    assert_eq!(
        sample(
            &follower_after,
            "rrbench_follower_received_bytes_total",
            &[]
        ),
        report.bytes_transferred as f64
    );
    assert_eq!(
        sample(&leader_after, "rrbench_leader_chunk_requests_total", &[]),
        leader.stats().chunks_served as f64
    );
    assert_eq!(
        sample(&leader_after, "rrbench_leader_sessions_opened_total", &[]),
        1.0
    );
    assert!(
        sample(
            &leader_after,
            "rrbench_leader_limiter_wait_seconds_total",
            &[]
        ) > 0.1
    );
    assert_eq!(
        sample(&follower_after, "rrbench_follower_requests_in_flight", &[]),
        0.0
    );
    // Every name the modules list is on the wire.
    for name in rrbench::metrics::leader::NAMES {
        assert!(leader_after.contains_key(*name), "{name}");
    }
    for name in rrbench::metrics::follower::NAMES {
        assert!(follower_after.contains_key(*name), "{name}");
    }
    follower_metrics.stop().await;
    leader_metrics.stop().await;
    leader.shutdown().await;
}

/// Only `GET /metrics` is answered: 404 for another path, 405 for another method; a hostile
/// request line does not stop the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_answers_get_metrics_only() {
    let progress = Arc::new(Progress::default());
    let server = MetricsServer::start(
        "127.0.0.1:0",
        Metrics::new().with(FollowerCollector::new(progress)),
    )
    .await
    .expect("metrics");
    let addr = server.local_addr().to_string();
    tokio::task::spawn_blocking(move || {
        assert_eq!(http(&addr, "GET", "/").0, 404);
        assert_eq!(http(&addr, "GET", "/metrics/x").0, 404);
        assert_eq!(http(&addr, "GET", "/../metrics").0, 404);
        assert_eq!(http(&addr, "POST", "/metrics").0, 405);
        assert_eq!(http(&addr, "DELETE", "/metrics").0, 405);
        assert_eq!(http(&addr, "HEAD", "/metrics").0, 405);
        let mut junk = TcpStream::connect(&addr).expect("connect");
        junk.write_all(b"\x00\xff garbage\r\n\r\n").expect("junk");
        let mut reply = String::new();
        let _ = junk.read_to_string(&mut reply);
        assert!(reply.starts_with("HTTP/1.1 400"), "{reply:?}");
        // Still serving, with a query string too.
        let (code, _, body) = http(&addr, "GET", "/metrics?x=1");
        assert_eq!(code, 200);
        prom::parse(&body).expect("parses");
    })
    .await
    .expect("requests");
    server.stop().await;
}

/// The proxy counts bytes per direction, connections and its faults' effects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_bytes_per_direction_after_a_recovery() {
    let dir = common::scratch();
    let snapshot = common::make_index(dir.path(), 2 << 20, 4, 5);
    let leader = common::start_leader(&snapshot, common::unlimited_leader()).await;
    let proxy = common::start_proxy(
        leader.local_addr(),
        &["latency:delay=1ms,direction=downstream"],
        3,
        rrbench::clock::Clock::start(),
    )
    .await;
    let metrics = MetricsServer::start(
        "127.0.0.1:0",
        Metrics::new().with(ProxyCollector::new(vec![proxy.stats_source()])),
    )
    .await
    .expect("proxy metrics");
    let chunk = 256 << 10;
    let settings = RecoverySettings {
        chunk_size: ByteSize(chunk),
        ..common::unlimited_follower()
    };
    let report = common::recover(proxy.local_addr(), &dir.path().join("t"), settings).await;
    assert!(report.is_completed(), "{:?}", report.failures);
    // The connections close (and their last effects are reported) just after the recovery.
    let mut scraped;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        scraped = scrape_async(metrics.local_addr()).await;
        if sample(&scraped, "rrbench_proxy_connections_open", &[]) == 0.0
            || std::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let down = sample(
        &scraped,
        "rrbench_proxy_relayed_bytes_total",
        &[("direction", "downstream")],
    );
    let up = sample(
        &scraped,
        "rrbench_proxy_relayed_bytes_total",
        &[("direction", "upstream")],
    );
    // Downstream is the chunks plus their frames; upstream only requests.
    assert!(down >= report.bytes as f64, "{down} < {}", report.bytes);
    within_one_chunk("proxy downstream", down, report.bytes, chunk);
    assert!(up > 0.0 && up < (64 << 10) as f64, "upstream {up}");
    let opened = sample(&scraped, "rrbench_proxy_connections_opened_total", &[]);
    assert!(opened >= 1.0);
    assert_eq!(sample(&scraped, "rrbench_proxy_connections_open", &[]), 0.0);
    assert_eq!(
        sample(
            &scraped,
            "rrbench_proxy_fault_active",
            &[("fault", "latency"), ("type", "latency")]
        ),
        1.0
    );
    assert_eq!(sample(&scraped, "rrbench_proxy_faults_active", &[]), 1.0);
    // The latency delayed every downstream byte, and no upstream one.
    let delayed = sample(
        &scraped,
        "rrbench_proxy_effect_bytes_total",
        &[("effect", "delayed"), ("direction", "downstream")],
    );
    assert_eq!(delayed, down);
    let effects = &scraped["rrbench_proxy_effect_bytes_total"];
    assert!(
        effects
            .samples
            .iter()
            .all(|(l, _)| l["direction"] == "downstream"),
        "{effects:?}"
    );
    for name in rrbench::metrics::proxy::NAMES {
        assert!(scraped.contains_key(*name), "{name}");
    }
    metrics.stop().await;
    proxy.shutdown().await;
    leader.shutdown().await;
}

/// Reads `child`'s stderr up to the `metrics on URL` line; returns the metrics' HOST:PORT and
/// the third word of the first line (`leader on ADDR`, `proxy on ADDR`), and drains the rest in
/// the background.
fn metrics_addr_of(child: &mut std::process::Child) -> (String, String) {
    let err = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(err).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        if let Some(url) = line.strip_prefix("metrics on http://") {
            let addr = url.strip_suffix("/metrics").expect("…/metrics").to_string();
            std::thread::spawn(move || for _ in lines {});
            let first = seen.first().unwrap_or(&line);
            let announced = first.split_whitespace().nth(2).unwrap_or("").to_string();
            return (addr, announced);
        }
        seen.push(line);
    }
    panic!("no `metrics on` line in {seen:?}");
}

fn spawn(args: &[&str]) -> common::Child {
    common::Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args(args)
            .env_remove(common::AUTH_TOKEN_ENV)
            .env_remove(common::API_KEY_ENV)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn rrbench"),
    )
}

/// The commands: `rrbench leader --metrics`, `rrbench proxy --metrics` and `rrbench recover
/// --json --metrics` through the proxy; the scrapes match the JSON report within one chunk.
#[test]
fn the_commands_serve_metrics_that_match_the_json_report() {
    let dir = common::scratch();
    let index = dir.path().join("index");
    let out = common::rrbench(&[
        "gen-index",
        "--dir",
        index.to_str().expect("utf-8"),
        "--size",
        "4mb",
        "--files",
        "5",
    ]);
    assert!(out.status.success(), "{}", common::text(&out.stderr));

    let mut leader = spawn(&[
        "leader",
        "--dir",
        index.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
        "--max-bytes-per-sec",
        "4mb",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let (leader_metrics, leader_addr) = metrics_addr_of(&mut leader.0);
    let mut proxy = spawn(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &leader_addr,
        "--metrics",
        "127.0.0.1:0",
    ]);
    let (proxy_metrics, proxy_addr) = metrics_addr_of(&mut proxy.0);

    let target = dir.path().join("target");
    let mut follower = spawn(&[
        "recover",
        "--from",
        &proxy_addr,
        "--dir",
        target.to_str().expect("utf-8"),
        "--chunk-size",
        "1mb",
        "--json",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let (follower_metrics, _) = metrics_addr_of(&mut follower.0);
    // The leader's 4mb/s makes it last about a second: scraped while it runs.
    std::thread::sleep(Duration::from_millis(300));
    let during = scrape(&follower_metrics);
    let child = std::mem::replace(
        &mut follower.0,
        std::process::Command::new("true").spawn().expect("true"),
    );
    let output = child.wait_with_output().expect("recover");
    assert!(output.status.success(), "{}", common::text(&output.stdout));
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("recover --json prints JSON");
    let report = &json["end"]["report"];
    let bytes = report["bytes"].as_u64().expect("report.bytes");
    let transferred = report["bytes_transferred"].as_u64().expect("transferred");
    assert_eq!(bytes, 4 << 20);
    let chunk = 1 << 20;
    let received_during = sample(&during, "rrbench_follower_received_bytes_total", &[]);
    assert!(received_during <= transferred as f64);

    let leader_after = scrape(&leader_metrics);
    within_one_chunk(
        "leader served",
        sample(&leader_after, "rrbench_leader_served_bytes_total", &[]),
        bytes,
        chunk,
    );
    let proxy_after = scrape(&proxy_metrics);
    let down = sample(
        &proxy_after,
        "rrbench_proxy_relayed_bytes_total",
        &[("direction", "downstream")],
    );
    within_one_chunk("proxy downstream", down, bytes, chunk);
    assert!(down >= bytes as f64);
    assert!(
        sample(
            &proxy_after,
            "rrbench_proxy_relayed_bytes_total",
            &[("direction", "upstream")]
        ) > 0.0
    );
    // The follower's endpoint went with it.
    assert!(TcpStream::connect(&follower_metrics).is_err());
    common::interrupt(&mut proxy);
    common::interrupt(&mut leader);
}

#[test]
fn the_flag_is_in_the_help_and_not_for_the_udp_proxy() {
    for command in ["leader", "recover", "proxy"] {
        let out = common::rrbench(&[command, "--help"]);
        let help = common::text(&out.stdout);
        assert!(
            help.contains("--metrics <ADDR>")
                && help.contains("Serve Prometheus metrics on ADDR (/metrics)"),
            "{command} --help: {help}"
        );
    }
    let help = common::text(&common::rrbench(&["recover", "--help"]).stdout);
    assert!(
        help.contains("--metrics-linger <DURATION>") && help.contains("[default: 0s]"),
        "{help}"
    );
    let out = common::rrbench(&[
        "proxy",
        "--udp",
        "--upstream",
        "127.0.0.1:1",
        "--metrics",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out.stderr));
    assert!(common::text(&out.stderr).contains("--metrics"));
}

/// `recover --metrics-linger`: once the recovery's summary (here the JSON) is out, the endpoint
/// still serves the final values, which match the summary; Ctrl-C ends the linger and the exit
/// code stays the recovery's.
#[test]
fn recover_metrics_linger_serves_the_final_values_after_the_summary() {
    let dir = common::scratch();
    let index = dir.path().join("index");
    let index_arg = index.to_str().expect("utf-8");
    let out = common::rrbench(&["gen-index", "--dir", index_arg, "--size", "1mb"]);
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let (_leader, leader_addr) = common::spawn_announcing(&[
        "leader",
        "--dir",
        index_arg,
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ]);
    let target = dir.path().join("target");
    let mut follower = spawn(&[
        "recover",
        "--from",
        &leader_addr,
        "--dir",
        target.to_str().expect("utf-8"),
        "--chunk-size",
        "256kb",
        "--json",
        "--metrics",
        "127.0.0.1:0",
        "--metrics-linger",
        "30s",
    ]);
    let mut lines = BufReader::new(follower.0.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let mut metrics = None;
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        if let Some(url) = line.strip_prefix("metrics on http://") {
            metrics = url.strip_suffix("/metrics").map(str::to_string);
        }
        let lingering = line.starts_with("metrics: serving the final values");
        seen.push(line);
        if lingering {
            break;
        }
    }
    assert!(
        seen.last()
            .is_some_and(|l| l == "metrics: serving the final values for 30s more (Ctrl-C to stop)"),
        "{seen:?}"
    );
    std::thread::spawn(move || for _ in lines {});
    let metrics = metrics.expect("a `metrics on` line");
    // The summary was written before the announcement; the process is still running.
    let stdout = follower.0.stdout.take().expect("stdout");
    let json: serde_json::Value = serde_json::Deserializer::from_reader(stdout)
        .into_iter()
        .next()
        .expect("a JSON document")
        .expect("recover --json prints JSON");
    let report = &json["end"]["report"];
    assert_eq!(json["end"]["totals"]["outcome"], "completed", "{report}");
    let transferred = report["bytes_transferred"].as_u64().expect("transferred");
    assert_eq!(report["bytes"].as_u64(), Some(1 << 20));
    assert!(follower.0.try_wait().expect("wait").is_none(), "it exited");

    let after = scrape(&metrics);
    assert_eq!(
        sample(&after, "rrbench_follower_received_bytes_total", &[]),
        transferred as f64
    );
    assert_eq!(sample(&after, "rrbench_follower_attempts_total", &[]), 1.0);
    assert_eq!(
        sample(&after, "rrbench_follower_requests_in_flight", &[]),
        0.0
    );
    // Ctrl-C long before the 30 s are up: it stops at once, with the recovery's exit code.
    let status = common::interrupt(&mut follower);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(TcpStream::connect(&metrics).is_err());
}
