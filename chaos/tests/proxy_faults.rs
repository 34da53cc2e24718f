//! Every fault through a real proxy, with real sockets on 127.0.0.1.

use std::{
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use rrbench_chaos::{EventKind, EventLog, Fault, Proxy, ProxyHandle, clock::Clock};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
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

/// A server that sends `len` bytes of a known pattern to each client, then closes.
async fn source_server(len: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Made once, before any client connects, so timings measure the proxy and not this.
    let data = Arc::new(pattern(len));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let data = data.clone();
            tokio::spawn(async move {
                let _ = s.write_all(&data).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// A server that reports how each of its connections ended.
async fn reporting_server() -> (SocketAddr, mpsc::UnboundedReceiver<io::Result<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1024];
                let end = loop {
                    match s.read(&mut buf).await {
                        Ok(0) => break Ok(0),
                        Ok(n) => {
                            let _ = s.write_all(&buf[..n]).await;
                        }
                        Err(e) => break Err(e),
                    }
                };
                let _ = tx.send(end);
            });
        }
    });
    (addr, rx)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

async fn proxy(upstream: SocketAddr, faults: &[&str], seed: u64) -> ProxyHandle {
    let faults = faults
        .iter()
        .map(|f| f.parse::<Fault>().expect(f))
        .collect();
    Proxy {
        listen: "127.0.0.1:0".into(),
        upstream: upstream.to_string(),
        faults,
        seed,
        events: Arc::new(EventLog::new(Clock::start())),
    }
    .start()
    .await
    .expect("proxy starts")
}

async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> io::Result<Vec<u8>> {
    s.write_all(msg).await?;
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).await?;
    Ok(got)
}

async fn read_to_end_timed(s: &mut TcpStream) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.expect("read");
    (got, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_faults_relays_bytes_unchanged_both_ways() {
    let p = proxy(echo_server().await, &[], 1).await;
    let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
    let msg = pattern(3 << 20);
    let (mut r, mut w) = s.split();
    let (sent, got) = tokio::join!(w.write_all(&msg), async {
        let mut got = vec![0u8; msg.len()];
        r.read_exact(&mut got).await.map(|_| got)
    });
    sent.expect("send");
    assert!(got.expect("echo") == msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_adds_delay_in_both_directions() {
    let delay = Duration::from_millis(60);
    let p = proxy(echo_server().await, &["latency:delay=60ms,jitter=5ms"], 2).await;
    let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
    for i in 0..5u8 {
        let start = Instant::now();
        assert_eq!(
            round_trip(&mut s, &[i; 100]).await.expect("echo"),
            vec![i; 100]
        );
        let rtt = start.elapsed();
        assert!(
            rtt >= 2 * (delay - Duration::from_millis(5)),
            "round trip {rtt:?} < 2 x (delay - jitter)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_holds_the_rate_within_10_percent() {
    let len = 20 << 20;
    let p = proxy(source_server(len).await, &["bandwidth:rate=10mb"], 3).await;
    let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
    let (got, elapsed) = read_to_end_timed(&mut s).await;
    assert_eq!(got.len(), len);
    let rate = len as f64 / 1048576.0 / elapsed.as_secs_f64();
    assert!(
        (9.0..=11.0).contains(&rate),
        "{rate:.2} MiB/s through a 10 MiB/s bandwidth fault"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_at_a_time_resets_an_idle_open_connection_on_both_sides() {
    let (upstream, mut ends) = reporting_server().await;
    let p = proxy(upstream, &["reset:at=500ms"], 4).await;
    let started = Instant::now();
    let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
    round_trip(&mut s, b"hello")
        .await
        .expect("works before the reset");
    // Now idle: nothing is sent, and the reset must still arrive.
    let mut buf = [0u8; 16];
    let err = s
        .read(&mut buf)
        .await
        .expect_err("a reset, not data or EOF");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    let server_end = timeout(Duration::from_secs(5), ends.recv())
        .await
        .expect("server sees it")
        .expect("report");
    assert_eq!(
        server_end.expect_err("server reset too").kind(),
        io::ErrorKind::ConnectionReset
    );
    // A connection made after the instant is not reset.
    let mut s2 = TcpStream::connect(p.local_addr()).await.expect("connect");
    round_trip(&mut s2, b"again")
        .await
        .expect("later connections work");
    let events = p.events().since(0);
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::ConnReset { fault, .. } if fault == "reset"))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::FaultOn { fault, .. } if fault == "reset"))
    );
    assert!(
        warnings(&events).is_empty(),
        "it found a connection open: {events:?}"
    );
}

/// The `fault` of every warning event, read through the JSON form.
fn warnings(events: &[rrbench_chaos::Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| serde_json::to_value(e).expect("json"))
        .filter(|v| v["event"] == "warning")
        .map(|v| v["fault"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instant_fault_with_no_connection_open_warns_once() {
    // A bare `reset` fires as the proxy starts, before anyone can connect; this one fires again
    // every 50 ms, and is warned about once.
    let p = proxy(
        echo_server().await,
        &["reset:every=50ms", "latency:delay=1ms"],
        2,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(220)).await;
    let events = p.events().since(0);
    let fired = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::FaultOn { fault, .. } if fault == "reset"))
        .count();
    assert!(fired >= 3, "{events:?}");
    assert_eq!(warnings(&events), ["reset"], "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_after_bytes_cuts_at_the_byte_count() {
    let p = proxy(
        source_server(1 << 20).await,
        &["reset:after_bytes=100kb"],
        5,
    )
    .await;
    // On a loaded machine the reset can land before `connect` returns: that is the same reset.
    let mut got = Vec::new();
    let err = match TcpStream::connect(p.local_addr()).await {
        Ok(mut s) => s.read_to_end(&mut got).await.expect_err("reset"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert!(
        got.len() <= 100 << 10,
        "{} bytes passed a 100kb reset",
        got.len()
    );
    assert!(got == pattern(got.len()), "what passed is intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_resets_idle_connections_but_not_busy_ones() {
    let idle = Duration::from_millis(400);
    let p = proxy(echo_server().await, &["idle_timeout:idle=400ms"], 6).await;
    let mut quiet = TcpStream::connect(p.local_addr()).await.expect("connect");
    let mut busy = TcpStream::connect(p.local_addr()).await.expect("connect");
    round_trip(&mut quiet, b"x").await.expect("echo");
    let quiet_started = Instant::now();
    let watcher = tokio::spawn(async move {
        let mut buf = [0u8; 4];
        let r = quiet.read(&mut buf).await;
        (r.map_err(|e| e.kind()), quiet_started.elapsed())
    });
    let until = Instant::now() + 3 * idle + idle / 2;
    while Instant::now() < until {
        round_trip(&mut busy, b"ping")
            .await
            .expect("a busy connection is never reset");
        tokio::time::sleep(idle / 3).await;
    }
    let (result, after) = watcher.await.expect("watcher");
    assert_eq!(result, Err(io::ErrorKind::ConnectionReset));
    assert!(
        after >= idle,
        "reset after {after:?}, before the idle timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_shows_neither_data_nor_error_for_its_window() {
    let p = proxy(echo_server().await, &["blackhole:duration=1s"], 7).await;
    let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
    s.write_all(b"into the void").await.expect("write succeeds");
    let mut buf = [0u8; 64];
    assert!(
        timeout(Duration::from_millis(700), s.read(&mut buf))
            .await
            .is_err(),
        "no data and no error"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        round_trip(&mut s, b"back").await.expect("after the window"),
        b"back"
    );
    let dropped = p.events().effect_bytes(None, "dropped");
    assert_eq!(dropped, 13, "the swallowed bytes are in the event log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_changes_bytes() {
    let len = 1 << 20;
    let p = proxy(source_server(len).await, &["corrupt:probability=0.001"], 8).await;
    let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
    let (got, _) = read_to_end_timed(&mut s).await;
    assert_eq!(got.len(), len);
    let changed = got
        .iter()
        .zip(pattern(len))
        .filter(|(a, b)| **a != *b)
        .count();
    assert!(
        (500..2000).contains(&changed),
        "{changed} of {len} bytes changed at p = 0.001"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_refuses_new_connections_for_the_window_then_accepts_again() {
    let p = proxy(echo_server().await, &["down:start=300ms,duration=700ms"], 9).await;
    let started = Instant::now();
    let mut before = TcpStream::connect(p.local_addr())
        .await
        .expect("up at first");
    round_trip(&mut before, b"hi").await.expect("echo");
    tokio::time::sleep_until((started + Duration::from_millis(500)).into()).await;
    let refused = TcpStream::connect(p.local_addr()).await.expect_err("down");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    let mut buf = [0u8; 4];
    assert!(
        matches!(before.read(&mut buf).await, Ok(0) | Err(_)),
        "open connections are closed"
    );
    tokio::time::sleep_until((started + Duration::from_millis(1300)).into()).await;
    let mut after = TcpStream::connect(p.local_addr()).await.expect("up again");
    assert_eq!(round_trip(&mut after, b"ok").await.expect("echo"), b"ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_closes_after_the_limit() {
    let p = proxy(
        source_server(1 << 20).await,
        &["limit_data:bytes=100kb"],
        10,
    )
    .await;
    let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got).await;
    assert_eq!(got.len(), 100 << 10);
    assert!(got == pattern(100 << 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_holds_data_back_until_it_ends_and_loses_nothing() {
    let len = 256 << 10;
    let p = proxy(
        source_server(len).await,
        &["stall:duration=500ms,direction=downstream"],
        11,
    )
    .await;
    let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
    let (got, elapsed) = read_to_end_timed(&mut s).await;
    assert!(got == pattern(len), "nothing lost");
    assert!(
        elapsed >= Duration::from_millis(400),
        "data arrived after {elapsed:?}, during the stall"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_delays_the_close() {
    let p = proxy(source_server(10).await, &["slow_close:delay=400ms"], 12).await;
    let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
    let mut first = [0u8; 10];
    s.read_exact(&mut first).await.expect("data");
    let start = Instant::now();
    assert_eq!(s.read(&mut first).await.expect("eof"), 0);
    assert!(
        start.elapsed() >= Duration::from_millis(350),
        "EOF after {:?}",
        start.elapsed()
    );
}

/// Which of 16 connections a half-toxic reset hits depends only on the seed.
async fn reset_victims(seed: u64) -> Vec<bool> {
    let p = proxy(
        echo_server().await,
        &["reset:after_bytes=1b,toxicity=0.5"],
        seed,
    )
    .await;
    let mut hit = Vec::new();
    for _ in 0..16 {
        let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
        hit.push(round_trip(&mut s, b"ab").await.is_err());
    }
    hit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_picks_connections_from_the_seed() {
    let a = reset_victims(42).await;
    let hits = a.iter().filter(|h| **h).count();
    assert!((2..=14).contains(&hits), "{hits} of 16 hit at toxicity 0.5");
    assert_eq!(a, reset_victims(42).await, "same seed, same victims");
}

/// Waits (at most 10 s) until the proxy has logged an event `matches` accepts: the scheduler
/// applies new faults on its own task, so a loaded machine may take a moment.
async fn wait_for_event(p: &ProxyHandle, matches: impl Fn(&EventKind) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.events().since(0).iter().any(|e| matches(&e.kind)) {
        assert!(
            Instant::now() < deadline,
            "the proxy never logged the expected event"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_change_while_the_proxy_runs() {
    let p = proxy(echo_server().await, &[], 13).await;
    let mut s = TcpStream::connect(p.local_addr()).await.expect("connect");
    round_trip(&mut s, b"1").await.expect("no faults");
    p.set_faults(vec!["blackhole".parse().expect("fault")])
        .expect("set");
    wait_for_event(
        &p,
        |k| matches!(k, EventKind::FaultOn { fault, .. } if fault == "blackhole"),
    )
    .await;
    s.write_all(b"2").await.expect("write");
    let mut buf = [0u8; 1];
    assert!(
        timeout(Duration::from_millis(300), s.read(&mut buf))
            .await
            .is_err(),
        "swallowed"
    );
    p.set_faults(vec![]).expect("clear");
    wait_for_event(
        &p,
        |k| matches!(k, EventKind::FaultOff { fault } if fault == "blackhole"),
    )
    .await;
    assert_eq!(round_trip(&mut s, b"3").await.expect("back"), b"3");
    let kinds: Vec<String> = p
        .events()
        .since(0)
        .iter()
        .map(|e| {
            serde_json::to_value(e).expect("json")["event"]
                .as_str()
                .expect("event")
                .to_string()
        })
        .collect();
    assert!(
        kinds.contains(&"fault_on".to_string()) && kinds.contains(&"fault_off".to_string()),
        "{kinds:?}"
    );
}
