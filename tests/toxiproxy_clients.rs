//! rrbench's toxiproxy API driven as its users drive toxiproxy: with curl
//! (scripts/toxiproxy-curl.sh, status codes and bodies) and with a published client library,
//! toxiproxy-python (scripts/toxiproxy-client-test.py: latency and bandwidth observed on the
//! wire, removed, the proxy taken down, reset, populate), against `rrbench serve-api`; and
//! `rrbench proxy --api`, whose proxy is in the API under its name.
//!
//! Without curl, or without python and the client (scripts/toxiproxy-client-install.sh puts it
//! in target/toxiproxy-venv), the tests print why and pass, unless
//! `RRBENCH_REQUIRE_TOXIPROXY_CLIENT` is set: scripts/test.sh sets it and installs them.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use common::{Child, spawn_announcing_line, text};

const REQUIRE: &str = "RRBENCH_REQUIRE_TOXIPROXY_CLIENT";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a tool is there; without it a test skips, or fails when [`REQUIRE`] is set.
fn available(what: &str, works: bool, install: &str) -> bool {
    if works {
        return true;
    }
    assert!(
        std::env::var_os(REQUIRE).is_none(),
        "{what} is missing and {REQUIRE} is set: {install}"
    );
    eprintln!("skipping: {what} is missing ({install})");
    false
}

/// `rrbench serve-api` on a free port: the child and the API's address.
fn serve_api() -> (Child, String) {
    let (child, line) = spawn_announcing_line(&["serve-api", "--listen", "127.0.0.1:0", "--quiet"]);
    (child, api_addr(&line))
}

/// The address after `http://` in a start line.
fn api_addr(line: &str) -> String {
    let (_, rest) = line.split_once("http://").expect("the API's address");
    rest.split(|c: char| c.is_whitespace() || c == ';')
        .next()
        .expect("ADDR")
        .to_string()
}

/// A raw `Connection: close` request; the status and the body.
fn call(api: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(api).expect("connect api");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").expect("head");
    (head[9..12].parse().expect("status"), body.to_string())
}

#[test]
fn curl_sees_toxiproxy_s_status_codes_and_bodies() {
    let curl = Command::new("curl").arg("--version").output();
    if !available(
        "curl",
        curl.is_ok_and(|o| o.status.success()),
        "apt-get install -y curl",
    ) {
        return;
    }
    let (_api, addr) = serve_api();
    let out = Command::new("bash")
        .arg(root().join("scripts/toxiproxy-curl.sh"))
        .args([&addr, "127.0.0.1:9"])
        .output()
        .expect("run the curl script");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("every check passed"), "{stdout}");
    assert!(stdout.lines().count() >= 30, "{stdout}");
}

/// The python that has the client: `RRBENCH_TOXIPROXY_PYTHON`, the virtualenv that
/// scripts/toxiproxy-client-install.sh makes, or `python3`.
fn client_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("RRBENCH_TOXIPROXY_PYTHON").map(PathBuf::from),
        Some(root().join("target/toxiproxy-venv/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", "import toxiproxy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn toxiproxy_python_drives_rrbench_unchanged() {
    let python = client_python();
    if !available(
        "python with toxiproxy-python",
        python.is_some(),
        "scripts/toxiproxy-client-install.sh",
    ) {
        return;
    }
    let (_api, addr) = serve_api();
    let out = Command::new(python.expect("python"))
        .arg(root().join("scripts/toxiproxy-client-test.py"))
        .arg(&addr)
        .output()
        .expect("run the client test");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    eprintln!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for step in [
        "latency on the wire (open connection)",
        "bandwidth on the wire",
        "latency gone",
        "bandwidth gone",
        "down: connections refused",
        "reset enabled it and removed its toxics",
        "every step passed",
    ] {
        assert!(stdout.contains(step), "{step}: {stdout}");
    }
}

#[test]
fn the_command_line_proxy_is_in_the_api_under_its_name() {
    let (_proxy, line) = spawn_announcing_line(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:9",
        "--fault",
        "latency:delay=20ms,direction=upstream",
        "--api",
        "127.0.0.1:0",
        "--name",
        "leader",
        "--quiet",
    ]);
    let api = api_addr(&line);
    let (status, body) = call(&api, "GET", "/proxies/leader", "");
    assert_eq!(status, 200, "{body}");
    let proxy: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(proxy["enabled"], true);
    assert_eq!(proxy["upstream"], "127.0.0.1:9");
    let toxic = &proxy["toxics"][0];
    assert_eq!(
        (&toxic["name"], &toxic["type"], &toxic["stream"]),
        (
            &serde_json::json!("latency"),
            &serde_json::json!("latency"),
            &serde_json::json!("upstream")
        ),
        "{proxy}"
    );
    assert_eq!(toxic["attributes"]["delay"], "20ms", "rrbench's own fields");
    let (status, _) = call(&api, "DELETE", "/proxies/leader/toxics/latency", "");
    assert_eq!(status, 204);
    let (status, body) = call(
        &api,
        "POST",
        "/proxies/leader/toxics",
        r#"{"type":"latency","attributes":{"latency":5}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(&api, "GET", "/proxies/rrbench", "");
    assert_eq!(status, 404, "named by --name");
}
