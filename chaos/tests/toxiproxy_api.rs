//! The toxiproxy-compatible API over real HTTP (raw requests on 127.0.0.1), with its toxics
//! observed on the wire through the proxy to an echo server.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use rrbench_chaos::{
    EventLog,
    api::{self, Registry},
    clock::Clock,
    http::HttpServer,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    time::timeout,
};

/// An echo server; returns its address.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn api_server() -> HttpServer {
    let events = Arc::new(EventLog::new(Clock::start()));
    let registry = Arc::new(Registry::new(7, events));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    api::serve(listener, registry).expect("serve")
}

/// One request, `Connection: close`; the status and the body (JSON, or a string if not).
async fn call(api: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call_within(Duration::from_secs(5), api, method, path, body).await
}

/// [`call`], answered within `limit`.
async fn call_within(
    limit: Duration,
    api: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(api).await.expect("connect api");
    s.write_all(raw.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    timeout(limit, s.read_to_end(&mut out))
        .await
        .expect("api answered in time")
        .expect("read");
    let text = String::from_utf8(out).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head[9..12].parse().expect("status");
    let value = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    (status, value)
}

/// The round trip of a small message through `s` (echoed), median of five.
async fn rtt(s: &mut TcpStream) -> Duration {
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        s.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        timeout(Duration::from_secs(5), s.read_exact(&mut buf))
            .await
            .expect("echo in time")
            .expect("echo");
        times.push(start.elapsed());
    }
    times.sort();
    times[2]
}

/// `POST /proxies` of `name` in front of `upstream` (201); the address it listens on.
async fn create_proxy(api: SocketAddr, name: &str, upstream: &str) -> SocketAddr {
    let create = json!({"name": name, "upstream": upstream});
    let (status, proxy) = call(api, "POST", "/proxies", Some(create)).await;
    assert_eq!(status, 201, "{proxy}");
    proxy["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("addr")
}

#[tokio::test]
async fn proxies_and_toxics_as_toxiproxy_serves_them_observed_on_the_wire() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();

    let (status, version) = call(api, "GET", "/version", None).await;
    assert_eq!(status, 200);
    assert!(version["version"].as_str().expect("text").starts_with("2."));

    let create = json!({"name": "leader", "listen": "127.0.0.1:0", "upstream": upstream});
    let (status, proxy) = call(api, "POST", "/proxies", Some(create.clone())).await;
    assert_eq!(status, 201, "{proxy}");
    assert_eq!(
        (&proxy["name"], &proxy["enabled"], &proxy["toxics"]),
        (&json!("leader"), &json!(true), &json!([]))
    );
    let listen: SocketAddr = proxy["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("addr");
    assert_ne!(listen.port(), 0, "the bound address is shown");

    // toxiproxy's errors, bodies and all.
    let (status, body) = call(api, "POST", "/proxies", Some(create)).await;
    assert_eq!(
        (status, body),
        (409, json!({"error": "proxy already exists", "status": 409}))
    );
    let (status, body) = call(api, "GET", "/proxies/nope", None).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "proxy not found", "status": 404}))
    );
    let (status, _) = call(
        api,
        "POST",
        "/proxies/nope/toxics",
        Some(json!({"type": "latency"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = call(api, "POST", "/proxies", Some(json!({"name": "x"}))).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "missing required field: upstream");
    let (status, body) = call(api, "GET", "/proxies/leader/toxics/nope", None).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "toxic not found", "status": 404}))
    );
    for (bad, says) in [
        (json!({"type": "teleport"}), "invalid toxic type"),
        (
            json!({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 10}}),
            "size_variation",
        ),
        (json!({"type": "slicer"}), "average_size"),
        (
            json!({"type": "latency", "attributes": {"latency": -5}}),
            "whole number",
        ),
        (
            json!({"type": "latency", "stream": "sideways"}),
            "stream was invalid",
        ),
        (json!({"type": "latency", "toxicity": 2}), "toxicity"),
        (
            json!({"type": "loss", "attributes": {"probability": 0.1}}),
            "packets",
        ),
        (json!(["not", "an", "object"]), "bad request body"),
    ] {
        let (status, body) = call(api, "POST", "/proxies/leader/toxics", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["status"], 400);
        let error = body["error"].as_str().expect("error");
        assert!(error.contains(says), "{bad}: {error}");
    }

    // A connection open before the toxic: the toxic takes effect on it.
    let mut conn = TcpStream::connect(listen).await.expect("connect proxy");
    conn.set_nodelay(true).expect("nodelay");
    let before = rtt(&mut conn).await;
    let latency = json!({"type": "latency", "attributes": {"latency": 100, "jitter": 0}});
    let (status, toxic) = call(api, "POST", "/proxies/leader/toxics", Some(latency.clone())).await;
    assert_eq!(status, 200, "{toxic}");
    assert_eq!(
        toxic,
        json!({"attributes": {"latency": 100, "jitter": 0}, "name": "latency_downstream",
               "type": "latency", "stream": "downstream", "toxicity": 1.0})
    );
    let (status, _) = call(api, "POST", "/proxies/leader/toxics", Some(latency)).await;
    assert_eq!(status, 409, "a toxic of the same name");
    let with = rtt(&mut conn).await;
    assert!(
        with >= before + Duration::from_millis(90),
        "latency 100 ms on an open connection: rtt {before:?} -> {with:?}"
    );
    let mut fresh = TcpStream::connect(listen).await.expect("connect proxy");
    assert!(
        rtt(&mut fresh).await >= Duration::from_millis(90),
        "and on a new one"
    );
    let (status, toxics) = call(api, "GET", "/proxies/leader/toxics", None).await;
    assert_eq!((status, toxics.as_array().map(Vec::len)), (200, Some(1)));
    let (status, _) = call(
        api,
        "DELETE",
        "/proxies/leader/toxics/latency_downstream",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let after = rtt(&mut conn).await;
    assert!(after < Duration::from_millis(50), "latency gone: {after:?}");

    // Bandwidth, roughly: 500 KB/s downstream carries 400 kB back in about 0.8 s (rrbench's
    // pacer lets a chunk start at once and holds the next for its time on the wire, so up to a
    // read's worth, 64 KiB, is early).
    let bandwidth = json!({"type": "bandwidth", "name": "slow", "attributes": {"rate": 500}});
    let (status, _) = call(api, "POST", "/proxies/leader/toxics", Some(bandwidth)).await;
    assert_eq!(status, 200);
    let data = vec![7u8; 400_000];
    let start = Instant::now();
    let (mut rd, mut wr) = conn.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(&data).await.expect("write");
        wr
    });
    let mut back = vec![0u8; 400_000];
    timeout(Duration::from_secs(5), rd.read_exact(&mut back))
        .await
        .expect("in time")
        .expect("read");
    let took = start.elapsed();
    assert!(
        (Duration::from_millis(550)..Duration::from_secs(3)).contains(&took),
        "400 kB at 500 KB/s took {took:?}"
    );
    let conn = rd.reunite(writer.await.expect("writer")).expect("reunite");

    // PATCH changes a toxic's attributes; the rest stays.
    let (status, toxic) = call(
        api,
        "PATCH",
        "/proxies/leader/toxics/slow",
        Some(json!({"attributes": {"rate": 1000}})),
    )
    .await;
    assert_eq!((status, &toxic["attributes"]["rate"]), (200, &json!(1000)));

    // Disabled: the open connection is closed and new ones are refused.
    let (status, proxy) = call(
        api,
        "POST",
        "/proxies/leader",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!((status, &proxy["enabled"]), (200, &json!(false)));
    let mut conn = conn;
    let mut buf = [0u8; 1];
    let closed = timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    assert!(
        TcpStream::connect(listen).await.is_err(),
        "refused while disabled"
    );

    // Reset: enabled again on the same address, every toxic gone.
    let (status, _) = call(api, "POST", "/reset", None).await;
    assert_eq!(status, 204);
    let (_, proxy) = call(api, "GET", "/proxies/leader", None).await;
    assert_eq!(
        (&proxy["enabled"], &proxy["toxics"]),
        (&json!(true), &json!([]))
    );
    assert_eq!(proxy["listen"], listen.to_string());
    let mut again = TcpStream::connect(listen).await.expect("listening again");
    assert!(rtt(&mut again).await < Duration::from_millis(50));

    // Populate: a new proxy, and the same one kept as it is.
    let populate = json!([
        {"name": "other", "listen": "127.0.0.1:0", "upstream": upstream},
        {"name": "leader", "listen": listen.to_string(), "upstream": upstream},
    ]);
    let (status, body) = call(api, "POST", "/populate", Some(populate)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["proxies"].as_array().map(Vec::len), Some(2));
    let (status, body) = call(api, "POST", "/populate", Some(json!([{"name": "n"}]))).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "missing required field: upstream at proxy 1");
    let (_, all) = call(api, "GET", "/proxies", None).await;
    let mut names: Vec<&String> = all.as_object().expect("a map").keys().collect();
    names.sort();
    assert_eq!(names, ["leader", "other"]);

    // Delete.
    let (status, _) = call(api, "DELETE", "/proxies/other", None).await;
    assert_eq!(status, 204);
    let (status, _) = call(api, "DELETE", "/proxies/other", None).await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn rrbench_faults_are_toxics_too_and_a_browser_is_refused() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();
    let create = json!({"name": "p", "upstream": upstream});
    let (status, proxy) = call(api, "POST", "/proxies", Some(create)).await;
    assert_eq!(status, 201);
    assert!(
        proxy["listen"]
            .as_str()
            .expect("listen")
            .starts_with("127.0.0.1:")
    );
    let listen: SocketAddr = proxy["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("addr");

    // reset_peer 0: the next data resets the connection.
    let mut conn = TcpStream::connect(listen).await.expect("connect");
    assert!(rtt(&mut conn).await < Duration::from_secs(1));
    let reset = json!({"type": "reset_peer", "stream": "upstream"});
    let (status, _) = call(api, "POST", "/proxies/p/toxics", Some(reset)).await;
    assert_eq!(status, 200);
    conn.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    let read = timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .expect("in time");
    assert!(matches!(read, Err(_) | Ok(0)), "reset: {read:?}");
    let (status, _) = call(api, "DELETE", "/proxies/p/toxics/reset_peer_upstream", None).await;
    assert_eq!(status, 204);

    // rrbench's own: an idle timeout with rrbench's field, both directions.
    let idle = json!({"type": "idle_timeout", "name": "idle", "stream": "both",
                      "attributes": {"idle": "200ms"}});
    let (status, toxic) = call(api, "POST", "/proxies/p/toxics", Some(idle)).await;
    assert_eq!(status, 200, "{toxic}");
    assert_eq!(toxic["stream"], "both");
    let mut conn = TcpStream::connect(listen).await.expect("connect");
    let started = Instant::now();
    let read = timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .expect("in time");
    assert!(matches!(read, Err(_) | Ok(0)), "idle timeout: {read:?}");
    assert!(started.elapsed() >= Duration::from_millis(150));

    // A browser's request, as toxiproxy refuses it.
    let mut s = TcpStream::connect(api).await.expect("connect");
    s.write_all(b"GET /proxies HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    server.stop().await;
}

#[tokio::test]
async fn adding_a_toxic_never_lets_a_live_connection_skip_the_others() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();
    let listen = create_proxy(api, "p", &upstream).await;
    let latency = json!({"type": "latency", "name": "slow", "attributes": {"latency": 60}});
    let (status, _) = call(api, "POST", "/proxies/p/toxics", Some(latency)).await;
    assert_eq!(status, 200);
    let conn = TcpStream::connect(listen).await.expect("connect");
    let (mut rx, mut tx) = conn.into_split();
    // A ping every millisecond, each its send time; every echo must take the latency.
    let started = Instant::now();
    let pinging = tokio::spawn(async move {
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_millis(1500) {
            let at = started.elapsed().as_micros() as u64;
            tx.write_all(&at.to_be_bytes()).await.expect("write");
            sent += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sent
    });
    let adding = tokio::spawn(async move {
        // Adding a toxic, then removing it: each replaces the proxy's faults.
        for _ in 0..60 {
            let other = json!({"type": "latency", "name": "other", "attributes": {"latency": 0}});
            let (status, body) = call(api, "POST", "/proxies/p/toxics", Some(other)).await;
            assert_eq!(status, 200, "{body}");
            tokio::time::sleep(Duration::from_millis(5)).await;
            let (status, _) = call(api, "DELETE", "/proxies/p/toxics/other", None).await;
            assert_eq!(status, 204);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let sent = pinging.await.expect("pinging");
    let mut fastest = Duration::MAX;
    for _ in 0..sent {
        let mut buf = [0u8; 8];
        timeout(Duration::from_secs(5), rx.read_exact(&mut buf))
            .await
            .expect("echo in time")
            .expect("echo");
        let at = Duration::from_micros(u64::from_be_bytes(buf));
        fastest = fastest.min(started.elapsed() - at);
    }
    adding.await.expect("adding");
    assert!(
        fastest >= Duration::from_millis(55),
        "a round trip skipped the latency: {fastest:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_instant_reset_added_later_fires_and_one_already_over_is_refused() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();
    let listen = create_proxy(api, "p", &upstream).await;
    let mut conn = TcpStream::connect(listen).await.expect("connect");
    assert!(rtt(&mut conn).await < Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Counted from the proxy's start, 0s is over: refused, saying why.
    let over = json!({"type": "reset", "name": "over", "attributes": {"start": "0s"}});
    let (status, body) = call(api, "POST", "/proxies/p/toxics", Some(over)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("schedule is over"),
        "{body}"
    );

    // No start: it fires as it is added, on the connection open now.
    let (status, toxic) = call(
        api,
        "POST",
        "/proxies/p/toxics",
        Some(json!({"type": "reset"})),
    )
    .await;
    assert_eq!(status, 200, "{toxic}");
    assert!(toxic["attributes"]["start"].is_string(), "{toxic}");
    // It fires 10 ms ahead: an echo may come back first, then the connection ends.
    let mut buf = [0u8; 4];
    let read = timeout(Duration::from_secs(5), async {
        loop {
            conn.write_all(b"ping").await?;
            match conn.read(&mut buf).await {
                Ok(n) if n > 0 => tokio::time::sleep(Duration::from_millis(5)).await,
                other => return other,
            }
        }
    })
    .await
    .expect("in time");
    assert!(matches!(read, Err(_) | Ok(0)), "reset: {read:?}");
    server.stop().await;
}

/// A listener that takes no connection: its backlog is full, so a connect to it hangs.
async fn unanswering_upstream() -> (tokio::net::TcpListener, SocketAddr, Vec<TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        match timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    (listener, addr, fillers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_slow_to_stop_holds_up_no_other_request() {
    let (_upstream, upstream, _fillers) = unanswering_upstream().await;
    let server = api_server().await;
    let api = server.local_addr();
    let create = json!({"name": "p", "upstream": upstream.to_string()});
    let (status, proxy) = call(api, "POST", "/proxies", Some(create)).await;
    assert_eq!(status, 201);
    let listen: SocketAddr = proxy["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("addr");
    // Its connection waits on the upstream's connect, so stopping the proxy waits out the drain.
    let _client = TcpStream::connect(listen).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let deleting = tokio::spawn(async move {
        call_within(Duration::from_secs(10), api, "DELETE", "/proxies/p", None).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let (status, _) = call(api, "GET", "/proxies", None).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a list waited {:?} for another proxy's stop",
        started.elapsed()
    );
    let (status, _) = deleting.await.expect("deleting");
    assert_eq!(status, 204);
    server.stop().await;
}

#[tokio::test]
async fn a_toxic_is_checked_in_toxiproxys_order_and_words() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();
    let create = json!({"name": "p", "upstream": upstream});
    assert_eq!(call(api, "POST", "/proxies", Some(create)).await.0, 201);
    let slow = json!({"type": "latency", "name": "slow", "attributes": {"latency": 10}});
    assert_eq!(
        call(api, "POST", "/proxies/p/toxics", Some(slow)).await.0,
        200
    );

    // A taken name is a 409 before bad attributes are a 400, as toxiproxy checks them.
    let again = json!({"type": "latency", "name": "slow", "attributes": {"latency": "soon"}});
    let (status, body) = call(api, "POST", "/proxies/p/toxics", Some(again)).await;
    assert_eq!(
        (status, body),
        (409, json!({"error": "toxic already exists", "status": 409}))
    );
    let fresh = json!({"type": "latency", "name": "fresh", "attributes": {"latency": "soon"}});
    let (status, body) = call(api, "POST", "/proxies/p/toxics", Some(fresh)).await;
    assert_eq!(status, 400, "bad attributes under a free name: {body}");
    let sideways = json!({"type": "latency", "stream": "sideways"});
    let (status, body) = call(api, "POST", "/proxies/p/toxics", Some(sideways)).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "stream was invalid, can be either upstream or downstream",
                   "status": 400})
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn a_connection_keeps_its_toxicity_draw_when_another_toxic_goes() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();
    let listen = create_proxy(api, "p", &upstream).await;
    let first = json!({"type": "latency", "name": "first", "attributes": {"latency": 0}});
    assert_eq!(
        call(api, "POST", "/proxies/p/toxics", Some(first)).await.0,
        200
    );
    let maybe = json!({"type": "latency", "name": "maybe", "toxicity": 0.5,
                       "attributes": {"latency": 150}});
    assert_eq!(
        call(api, "POST", "/proxies/p/toxics", Some(maybe)).await.0,
        200
    );
    let slow = Duration::from_millis(100);
    let mut conns = Vec::new();
    for _ in 0..10 {
        let mut conn = TcpStream::connect(listen).await.expect("connect");
        let picked = rtt(&mut conn).await >= slow;
        conns.push((conn, picked));
    }
    // `maybe` moves from the second place to the first: each connection's draw stays.
    let (status, _) = call(api, "DELETE", "/proxies/p/toxics/first", None).await;
    assert_eq!(status, 204);
    let before: Vec<bool> = conns.iter().map(|c| c.1).collect();
    let mut after = Vec::new();
    for (conn, _) in &mut conns {
        after.push(rtt(conn).await >= slow);
    }
    assert_eq!(before, after, "which connections the toxic affects");
    assert!(
        before.contains(&true) && before.contains(&false),
        "{before:?}"
    );
    server.stop().await;
}

/// A connection to `listen` with Nagle off.
async fn connect(listen: SocketAddr) -> TcpStream {
    let conn = TcpStream::connect(listen).await.expect("connect proxy");
    conn.set_nodelay(true).expect("nodelay");
    conn
}

/// Reads until EOF or `limit`; every read's size, and how it ended.
async fn reads_until_end(
    conn: &mut TcpStream,
    limit: Duration,
) -> (Vec<usize>, std::io::Result<()>) {
    let mut sizes = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let ended = timeout(limit, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => sizes.push(n),
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .expect("ended in time");
    (sizes, ended)
}

#[tokio::test]
async fn slicer_cuts_what_a_client_reads_into_small_slices_until_removed() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();
    let listen = create_proxy(api, "p", &upstream).await;
    let slicer = json!({"type": "slicer",
                        "attributes": {"average_size": 8, "size_variation": 3, "delay": 5000}});
    let (status, toxic) = call(api, "POST", "/proxies/p/toxics", Some(slicer)).await;
    assert_eq!(status, 200, "{toxic}");
    assert_eq!(
        toxic["attributes"],
        json!({"average_size": 8, "size_variation": 3, "delay": 5000})
    );
    let mut conn = connect(listen).await;
    let started = Instant::now();
    conn.write_all(&[7u8; 64]).await.expect("write");
    let mut sizes = Vec::new();
    let mut buf = [0u8; 64];
    while sizes.iter().sum::<usize>() < 64 {
        let n = timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .expect("in time")
            .expect("read");
        assert!(n > 0, "closed early");
        sizes.push(n);
    }
    // 64 bytes in slices of 5 to 11, 5 ms apart: at least 6 slices, 25 ms; reads may merge
    // some, but not all.
    assert!(sizes.len() >= 3, "{sizes:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(25),
        "{:?}",
        started.elapsed()
    );
    let (status, _) = call(api, "DELETE", "/proxies/p/toxics/slicer_downstream", None).await;
    assert_eq!(status, 204);
    assert!(rtt(&mut conn).await < Duration::from_millis(200));
    server.stop().await;
}

#[tokio::test]
async fn timeout_closes_each_connection_its_time_after_it_reached_it() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();
    let listen = create_proxy(api, "p", &upstream).await;
    let mut before = connect(listen).await;
    assert!(rtt(&mut before).await < Duration::from_secs(1));
    let added = Instant::now();
    let toxic = json!({"type": "timeout", "attributes": {"timeout": 300}});
    let (status, shown) = call(api, "POST", "/proxies/p/toxics", Some(toxic)).await;
    assert_eq!(status, 200, "{shown}");
    before.write_all(b"lost").await.expect("write");
    let (sizes, ended) = reads_until_end(&mut before, Duration::from_secs(5)).await;
    assert!(sizes.is_empty() && ended.is_ok(), "{sizes:?} {ended:?}");
    let took = added.elapsed();
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // A connection made while it is there: closed its time after it opened.
    let opened = Instant::now();
    let mut after = connect(listen).await;
    let (sizes, ended) = reads_until_end(&mut after, Duration::from_secs(5)).await;
    assert!(sizes.is_empty() && ended.is_ok(), "{sizes:?} {ended:?}");
    assert!(
        opened.elapsed() >= Duration::from_millis(280),
        "{:?}",
        opened.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn removing_a_timeout_closes_the_connections_it_held() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();
    let listen = create_proxy(api, "p", &upstream).await;
    let mut conn = connect(listen).await;
    assert!(rtt(&mut conn).await < Duration::from_secs(1));
    let toxic = json!({"type": "timeout", "attributes": {"timeout": 0}});
    let (status, _) = call(api, "POST", "/proxies/p/toxics", Some(toxic)).await;
    assert_eq!(status, 200);
    conn.write_all(b"held").await.expect("write");
    let mut buf = [0u8; 4];
    assert!(
        timeout(Duration::from_millis(300), conn.read(&mut buf))
            .await
            .is_err(),
        "no data, no close while it is there"
    );
    // An update is no removal (toxiproxy restarts the toxic, it does not clean it up).
    let patch = json!({"attributes": {"timeout": 60000}});
    let (status, _) = call(
        api,
        "PATCH",
        "/proxies/p/toxics/timeout_downstream",
        Some(patch),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        timeout(Duration::from_millis(300), conn.read(&mut buf))
            .await
            .is_err(),
        "still held after an update"
    );
    let (status, _) = call(api, "DELETE", "/proxies/p/toxics/timeout_downstream", None).await;
    assert_eq!(status, 204);
    // As toxiproxy: the data held never comes; the connection closes.
    let (sizes, ended) = reads_until_end(&mut conn, Duration::from_secs(2)).await;
    assert!(sizes.is_empty() && ended.is_ok(), "{sizes:?} {ended:?}");
    let mut fresh = connect(listen).await;
    assert!(rtt(&mut fresh).await < Duration::from_secs(1));
    server.stop().await;
}

#[tokio::test]
async fn reset_peer_with_a_timeout_resets_that_long_after_the_next_data() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();
    let listen = create_proxy(api, "p", &upstream).await;
    let mut conn = connect(listen).await;
    assert!(rtt(&mut conn).await < Duration::from_secs(1));
    let toxic = json!({"type": "reset_peer", "stream": "upstream",
                       "attributes": {"timeout": 300}});
    let (status, shown) = call(api, "POST", "/proxies/p/toxics", Some(toxic)).await;
    assert_eq!(
        (status, &shown["attributes"]),
        (200, &json!({"timeout": 300}))
    );
    // Quiet for longer than the timeout: nothing happens before data.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = Instant::now();
    conn.write_all(b"ping").await.expect("write");
    let (sizes, ended) = reads_until_end(&mut conn, Duration::from_secs(5)).await;
    assert!(sizes.is_empty(), "the data was dropped: {sizes:?}");
    let err = ended.expect_err("a reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_secs(2),
        "{took:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn limit_data_counts_from_when_it_was_added_to_a_live_connection() {
    let upstream = echo_server().await.to_string();
    let server = api_server().await;
    let api = server.local_addr();
    let listen = create_proxy(api, "p", &upstream).await;
    let mut conn = connect(listen).await;
    conn.write_all(&[1u8; 1000]).await.expect("write");
    let mut back = vec![0u8; 1000];
    timeout(Duration::from_secs(5), conn.read_exact(&mut back))
        .await
        .expect("in time")
        .expect("echo");
    let toxic = json!({"type": "limit_data", "attributes": {"bytes": 100}});
    let (status, _) = call(api, "POST", "/proxies/p/toxics", Some(toxic)).await;
    assert_eq!(status, 200);
    conn.write_all(&[2u8; 300]).await.expect("write");
    let (sizes, ended) = reads_until_end(&mut conn, Duration::from_secs(5)).await;
    assert!(ended.is_ok(), "{ended:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 100, "{sizes:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_method_a_path_does_not_take_is_a_405_with_allow() {
    let server = api_server().await;
    let api = server.local_addr();
    for (method, path, allow) in [
        ("PUT", "/proxies", "GET, POST"),
        ("DELETE", "/version", "GET"),
        ("GET", "/reset", "POST"),
        ("PUT", "/proxies/p", "GET, POST, PATCH, DELETE"),
        ("DELETE", "/proxies/p/toxics", "GET, POST"),
        ("PUT", "/proxies/p/toxics/t", "GET, POST, PATCH, DELETE"),
    ] {
        let mut s = TcpStream::connect(api).await.expect("connect");
        let raw = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(raw.as_bytes()).await.expect("write");
        let mut out = String::new();
        timeout(Duration::from_secs(5), s.read_to_string(&mut out))
            .await
            .expect("in time")
            .expect("read");
        let (head, _) = out.split_once("\r\n\r\n").expect("a head");
        assert!(head.starts_with("HTTP/1.1 405"), "{method} {path}: {head}");
        assert!(
            head.lines().any(|l| l == format!("Allow: {allow}")),
            "{method} {path}: {head}"
        );
    }
    server.stop().await;
}
