//! Every stream fault through the simulated network, in paused tokio time: what a follower and a
//! leader see, when (in simulated time, to the millisecond), and what the event log says.

use std::{io, sync::Arc, time::Duration};

use rrbench_chaos::{
    Event, EventKind, EventLog, Fault, SimNetwork, SimStream, clock::Clock, sim::BUFFER,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    task::JoinHandle,
    time::{Instant, sleep, sleep_until, timeout},
};

fn faults(specs: &[&str]) -> Vec<Fault> {
    specs.iter().map(|s| s.parse().expect(s)).collect()
}

fn network(specs: &[&str], seed: u64) -> SimNetwork {
    let events = Arc::new(EventLog::new(Clock::start()));
    SimNetwork::new(faults(specs), seed, events).expect("faults")
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Echoes everything back until EOF or an error; returns how it ended.
fn echo(mut s: SimStream) -> JoinHandle<io::Result<()>> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            s.write_all(&buf[..n]).await?;
        }
    })
}

/// Sends `data`, then closes.
fn source(mut s: SimStream, data: Vec<u8>) -> JoinHandle<io::Result<()>> {
    tokio::spawn(async move {
        s.write_all(&data).await?;
        s.shutdown().await
    })
}

async fn round_trip(s: &mut SimStream, msg: &[u8]) -> io::Result<Vec<u8>> {
    s.write_all(msg).await?;
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).await?;
    Ok(got)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn kind(r: io::Result<usize>) -> io::ErrorKind {
    r.expect_err("an error").kind()
}

#[tokio::test(start_paused = true)]
async fn without_faults_bytes_pass_unchanged_and_take_no_time() {
    let net = network(&[], 1);
    let (mut client, server) = net.pair().expect("pair");
    echo(server);
    let t0 = Instant::now();
    let msg = pattern(1 << 20);
    let (mut r, mut w) = tokio::io::split(&mut client);
    let (sent, got) = tokio::join!(w.write_all(&msg), async {
        let mut got = vec![0u8; msg.len()];
        r.read_exact(&mut got).await.map(|_| got)
    });
    sent.expect("send");
    assert!(got.expect("echo") == msg);
    assert_eq!(t0.elapsed(), Duration::ZERO, "in-memory links are instant");
}

#[tokio::test(start_paused = true)]
async fn latency_delays_each_direction_by_exactly_the_delay() {
    let net = network(&["latency:delay=50ms"], 2);
    let (mut client, server) = net.pair().expect("pair");
    echo(server);
    for i in 0..3u8 {
        let t0 = Instant::now();
        assert_eq!(
            round_trip(&mut client, &[i; 100]).await.expect("echo"),
            [i; 100]
        );
        assert_eq!(t0.elapsed(), ms(100), "two one-way delays");
    }
    let one_way = network(&["latency:delay=50ms,direction=upstream"], 2);
    let (mut client, server) = one_way.pair().expect("pair");
    echo(server);
    let t0 = Instant::now();
    round_trip(&mut client, b"x").await.expect("echo");
    assert_eq!(t0.elapsed(), ms(50));
}

/// Round-trip times through a jittery link.
async fn jittered_rtts(seed: u64) -> Vec<Duration> {
    let net = network(&["latency:delay=40ms,jitter=10ms"], seed);
    let (mut client, server) = net.pair().expect("pair");
    echo(server);
    let mut rtts = Vec::new();
    for _ in 0..20 {
        let t0 = Instant::now();
        round_trip(&mut client, b"ping").await.expect("echo");
        rtts.push(t0.elapsed());
    }
    rtts
}

#[tokio::test(start_paused = true)]
async fn jitter_comes_from_the_seed() {
    let a = jittered_rtts(9).await;
    // Timers have millisecond ticks: a delay may end up to a tick late.
    assert!(a.iter().all(|t| (ms(60)..=ms(102)).contains(t)), "{a:?}");
    assert!(a.windows(2).any(|w| w[0] != w[1]), "jitter varies: {a:?}");
    assert_eq!(a, jittered_rtts(9).await, "same seed, same delays");
    assert_ne!(a, jittered_rtts(10).await, "another seed, other delays");
}

#[tokio::test(start_paused = true)]
async fn bandwidth_paces_a_mebibyte_at_one_mebibyte_a_second() {
    let net = network(&["bandwidth:rate=1mb,direction=downstream"], 3);
    let (mut client, server) = net.pair().expect("pair");
    let t0 = Instant::now();
    source(server, pattern(1 << 20));
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.expect("read");
    assert!(got == pattern(1 << 20));
    let took = t0.elapsed();
    // As toxiproxy's: a chunk leaves once its own bytes have had their time on the wire, so the
    // last byte arrives after a full second, not a chunk's share early.
    assert!(
        took >= Duration::from_secs(1) && took <= Duration::from_secs(1) + ms(25),
        "1 MiB at 1 MiB/s took {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn bandwidth_holds_its_rate_over_short_spans_and_for_the_first_bytes() {
    // 400 kB at 500 KB/s, written at once (the case a toxiproxy client test saw at 0.50 s).
    let net = network(&["bandwidth:rate=500kb,direction=downstream"], 3);
    let (mut client, server) = net.pair().expect("pair");
    let t0 = Instant::now();
    source(server, pattern(400_000));
    let rate = 500.0 * 1024.0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = client.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        // Never ahead of the rate by more than one pacing piece (20 ms of it).
        let allowed = t0.elapsed().as_secs_f64() * rate + 0.02 * rate + 1.0;
        assert!(
            got.len() as f64 <= allowed,
            "{} bytes by {:?} at 500 KB/s",
            got.len(),
            t0.elapsed()
        );
    }
    assert!(got == pattern(400_000));
    let took = t0.elapsed().as_secs_f64();
    let nominal = 400_000.0 / rate;
    assert!(
        took >= nominal && took <= nominal + 0.025,
        "400 kB at 500 KB/s took {took:.3} s (nominal {nominal:.3} s)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timed_reset_resets_an_idle_connection_on_both_ends() {
    let net = network(&["reset:at=1s"], 4);
    let (mut client, mut server) = net.pair().expect("pair");
    client.write_all(b"hello").await.expect("write");
    let mut hello = [0u8; 5];
    server
        .read_exact(&mut hello)
        .await
        .expect("before the reset");
    let t0 = Instant::now();
    let mut buf = [0u8; 8];
    let (c, s) = tokio::join!(client.read(&mut buf), async {
        let mut buf = [0u8; 8];
        server.read(&mut buf).await
    });
    assert_eq!(kind(c), io::ErrorKind::ConnectionReset);
    assert_eq!(kind(s), io::ErrorKind::ConnectionReset);
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
    assert_eq!(
        kind(client.write(b"x").await),
        io::ErrorKind::ConnectionReset
    );
    // A connection made after the instant is not reset.
    let (mut later, server) = net.pair().expect("pair");
    echo(server);
    assert_eq!(
        round_trip(&mut later, b"again").await.expect("echo"),
        b"again"
    );
    let events = net.events().since(0);
    let at = |want: &dyn Fn(&EventKind) -> bool| events.iter().find(|e| want(&e.kind)).map(|e| e.t);
    assert_eq!(
        at(&|k| matches!(k, EventKind::FaultOn { fault, .. } if fault == "reset")),
        Some(1.0)
    );
    assert_eq!(
        at(
            &|k| matches!(k, EventKind::ConnReset { conn: 1, fault, bytes_up: 5, .. } if fault == "reset")
        ),
        Some(1.0),
        "{events:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn reset_after_bytes_cuts_at_the_byte_count() {
    let net = network(&["reset:after_bytes=100kb"], 5);
    let (mut client, server) = net.pair().expect("pair");
    let sender = source(server, pattern(1 << 20));
    let mut got = Vec::new();
    let err = client.read_to_end(&mut got).await.expect_err("reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert!(got.len() <= 100 << 10, "{} bytes passed", got.len());
    assert!(got == pattern(got.len()), "what passed is intact");
    let sent = sender.await.expect("task");
    assert_eq!(
        sent.expect_err("the server's end is reset too").kind(),
        io::ErrorKind::ConnectionReset
    );
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_resets_quiet_connections_but_not_busy_ones() {
    let net = network(&["idle_timeout:idle=10s"], 6);
    let (mut quiet, quiet_server) = net.pair().expect("pair");
    let (mut busy, busy_server) = net.pair().expect("pair");
    echo(quiet_server);
    echo(busy_server);
    round_trip(&mut quiet, b"x").await.expect("echo");
    let t0 = Instant::now();
    let watcher = tokio::spawn(async move {
        let mut buf = [0u8; 4];
        (kind(quiet.read(&mut buf).await), t0.elapsed())
    });
    for _ in 0..10 {
        sleep(Duration::from_secs(3)).await;
        round_trip(&mut busy, b"ping")
            .await
            .expect("a busy connection is never reset");
    }
    let (reset, after) = watcher.await.expect("watcher");
    assert_eq!(reset, io::ErrorKind::ConnectionReset);
    // Checked every twentieth of the timeout.
    assert!(
        after >= Duration::from_secs(10) && after <= Duration::from_millis(10_500),
        "reset after {after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn blackhole_shows_neither_data_nor_error_for_its_window() {
    let net = network(&["blackhole:duration=10s"], 7);
    let (mut client, server) = net.pair().expect("pair");
    echo(server);
    client
        .write_all(b"into the void")
        .await
        .expect("write succeeds");
    let mut buf = [0u8; 64];
    assert!(
        timeout(Duration::from_secs(9), client.read(&mut buf))
            .await
            .is_err(),
        "no data and no error until a timeout"
    );
    sleep_until(Instant::now() + Duration::from_secs(2)).await;
    assert_eq!(
        round_trip(&mut client, b"back").await.expect("after"),
        b"back"
    );
    assert_eq!(net.events().effect_bytes(Some("blackhole"), "dropped"), 13);
}

#[tokio::test(start_paused = true)]
async fn stall_blocks_the_writer_then_loses_nothing() {
    let net = network(&["stall:duration=5s,direction=upstream"], 8);
    let (mut client, mut server) = net.pair().expect("pair");
    let data = pattern(1 << 20);
    let t0 = Instant::now();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        server
            .read_to_end(&mut got)
            .await
            .map(|_| (got, t0.elapsed()))
    });
    // Bounded buffers: the writer is blocked once one buffer is full, not buffered without end.
    assert!(
        timeout(Duration::from_secs(4), client.write_all(&data))
            .await
            .is_err(),
        "a stalled link holds the writer back"
    );
    drop(client);
    let (got, when) = reader.await.expect("reader").expect("read");
    assert_eq!(
        got.len(),
        BUFFER,
        "what the writer could put in before it blocked"
    );
    assert!(got == data[..BUFFER], "in order, intact");
    assert!(
        when >= Duration::from_secs(5),
        "read at {when:?}, during the stall"
    );
    assert!(
        net.events()
            .since(0)
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Effect { effect, .. } if effect == "stalled"))
    );
}

#[tokio::test(start_paused = true)]
async fn stall_delivers_everything_once_it_ends() {
    let net = network(&["stall:duration=5s,direction=downstream"], 8);
    let (mut client, server) = net.pair().expect("pair");
    let t0 = Instant::now();
    source(server, pattern(256 << 10));
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.expect("read");
    assert!(got == pattern(256 << 10), "nothing lost");
    assert!(t0.elapsed() >= Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(
        t0.elapsed() <= Duration::from_millis(5010),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn corrupt_changes_bytes_and_counts_them() {
    let len = 1 << 20;
    let net = network(&["corrupt:probability=0.001"], 9);
    let (mut client, server) = net.pair().expect("pair");
    source(server, pattern(len));
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.expect("read");
    assert_eq!(got.len(), len);
    let changed = got
        .iter()
        .zip(pattern(len))
        .filter(|(a, b)| **a != *b)
        .count();
    assert!(
        (700..1400).contains(&changed),
        "{changed} of {len} changed at p = 0.001"
    );
    drop(client);
    sleep(ms(200)).await;
    assert_eq!(net.events().effect_bytes(None, "corrupted"), changed as u64);
}

#[tokio::test(start_paused = true)]
async fn slow_close_delays_the_eof() {
    let net = network(&["slow_close:delay=3s"], 10);
    let (mut client, server) = net.pair().expect("pair");
    source(server, b"0123456789".to_vec());
    let mut first = [0u8; 10];
    client.read_exact(&mut first).await.expect("data");
    let t0 = Instant::now();
    assert_eq!(client.read(&mut first).await.expect("eof"), 0);
    assert_eq!(t0.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn limit_data_closes_after_the_limit() {
    let net = network(&["limit_data:bytes=100kb"], 11);
    let (mut client, server) = net.pair().expect("pair");
    source(server, pattern(1 << 20));
    let mut got = Vec::new();
    client
        .read_to_end(&mut got)
        .await
        .expect("a close, not a reset");
    assert!(got == pattern(100 << 10));
    sleep(ms(1)).await;
    assert!(net.events().since(0).iter().any(|e| matches!(
        &e.kind,
        EventKind::ConnClose { reason, bytes_down: 102_400, .. } if reason == "limit_data"
    )));
}

#[tokio::test(start_paused = true)]
async fn down_refuses_connections_for_its_window_and_closes_open_ones() {
    let net = network(&["down:start=1s,duration=2s"], 12);
    let t0 = Instant::now();
    let (mut before, server) = net.pair().expect("up at first");
    echo(server);
    round_trip(&mut before, b"hi").await.expect("echo");
    sleep_until(t0 + Duration::from_millis(1500)).await;
    let refused = net.pair().expect_err("down");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    let mut buf = [0u8; 4];
    assert_eq!(before.read(&mut buf).await.expect("closed"), 0, "an EOF");
    // At 3 s itself the edge and this task are due together; a moment later it is up.
    sleep_until(t0 + Duration::from_millis(3001)).await;
    let (mut after, server) = net.pair().expect("up again");
    echo(server);
    assert_eq!(round_trip(&mut after, b"ok").await.expect("echo"), b"ok");
    let times: Vec<(f64, &str)> = net
        .events()
        .since(0)
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ProxyDown { .. } => Some((e.t, "down")),
            EventKind::ProxyUp { .. } => Some((e.t, "up")),
            EventKind::ConnClose { reason, .. } if reason == "down" => Some((e.t, "closed")),
            _ => None,
        })
        .collect();
    let mut times = times;
    times.sort_by(|a, b| a.partial_cmp(b).expect("times"));
    assert_eq!(times, [(1.0, "closed"), (1.0, "down"), (3.0, "up")]);
}

#[tokio::test(start_paused = true)]
async fn down_from_the_start_refuses_at_once() {
    let net = network(&["down:duration=1s"], 12);
    assert_eq!(
        net.pair().expect_err("down").kind(),
        io::ErrorKind::ConnectionRefused
    );
    sleep(Duration::from_millis(1001)).await;
    net.pair().expect("up");
}

#[tokio::test(start_paused = true)]
async fn schedules_turn_faults_on_and_off_at_their_simulated_times() {
    let net = network(&["latency:delay=100ms,start=1s,duration=2s,every=10s"], 13);
    let (mut client, server) = net.pair().expect("pair");
    echo(server);
    let t0 = Instant::now();
    async fn rtt_at(client: &mut SimStream, at: Instant) -> Duration {
        sleep_until(at).await;
        let start = Instant::now();
        round_trip(client, b"x").await.expect("echo");
        start.elapsed()
    }
    assert_eq!(rtt_at(&mut client, t0 + ms(500)).await, Duration::ZERO);
    assert_eq!(rtt_at(&mut client, t0 + ms(1500)).await, ms(200));
    assert_eq!(rtt_at(&mut client, t0 + ms(4000)).await, Duration::ZERO);
    assert_eq!(rtt_at(&mut client, t0 + ms(11_500)).await, ms(200));
    let edges: Vec<(f64, bool)> = net
        .events()
        .since(0)
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FaultOn { .. } => Some((e.t, true)),
            EventKind::FaultOff { .. } => Some((e.t, false)),
            _ => None,
        })
        .collect();
    assert_eq!(edges, [(1.0, true), (3.0, false), (11.0, true)]);
}

/// Whether a read on `s` fails at once (it was reset) rather than waiting.
fn reset_already(s: &mut SimStream) -> bool {
    use std::{
        pin::Pin,
        task::{Context, Poll, Waker},
    };
    use tokio::io::{AsyncRead, ReadBuf};
    let mut cx = Context::from_waker(Waker::noop());
    let mut buf = [0u8; 1];
    let mut rb = ReadBuf::new(&mut buf);
    matches!(
        Pin::new(s).poll_read(&mut cx, &mut rb),
        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset
    )
}

#[tokio::test(start_paused = true)]
async fn toxicity_picks_connections_from_the_seed() {
    let run = |seed| async move {
        let net = network(&["reset:toxicity=0.5,start=1s"], seed);
        let conns: Vec<_> = (0..16).map(|_| net.pair().expect("pair")).collect();
        sleep(Duration::from_secs(2)).await;
        let hit: Vec<bool> = conns
            .into_iter()
            .map(|(mut client, _)| reset_already(&mut client))
            .collect();
        hit
    };
    let a = run(42).await;
    let hits = a.iter().filter(|h| **h).count();
    assert!((2..=14).contains(&hits), "{hits} of 16 hit at toxicity 0.5");
    assert_eq!(a, run(42).await, "same seed, same victims");
}

/// A small recovery-like exchange under several faults; returns the event log.
async fn seeded_run(seed: u64) -> Vec<Event> {
    let net = network(
        &[
            "latency:delay=20ms,jitter=15ms",
            "corrupt:probability=0.0005",
            "reset:toxicity=0.5,start=100ms,every=200ms",
            "bandwidth:rate=4mb,direction=downstream",
        ],
        seed,
    );
    for _ in 0..8 {
        let Ok((mut client, server)) = net.pair() else {
            continue;
        };
        echo(server);
        let msg = pattern(200 << 10);
        let (mut r, mut w) = tokio::io::split(&mut client);
        let _ = tokio::join!(w.write_all(&msg), async {
            let mut got = vec![0u8; msg.len()];
            r.read_exact(&mut got).await
        });
    }
    sleep(Duration::from_secs(1)).await;
    net.events().since(0)
}

#[tokio::test(start_paused = true)]
async fn a_seed_replays_the_same_events_at_the_same_simulated_times() {
    let a = seeded_run(77).await;
    assert!(a.len() > 10, "{a:?}");
    assert!(
        a.iter()
            .any(|e| matches!(e.kind, EventKind::ConnReset { .. }))
    );
    let b = seeded_run(77).await;
    let strip = |events: &[Event]| -> Vec<String> {
        events
            .iter()
            .map(|e| match &e.kind {
                // The wall-clock time of the epoch differs between runs; nothing else may.
                EventKind::ProxyStart { seed, .. } => format!("{} start {seed}", e.t),
                other => format!("{} {other:?}", e.t),
            })
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
    assert_ne!(strip(&a), strip(&seeded_run(78).await));
}

#[tokio::test(start_paused = true)]
async fn connect_carries_a_duplex_server_through_the_faults() {
    let net = network(&["latency:delay=30ms"], 14);
    let (server_side, sim_side) = tokio::io::duplex(64 << 10);
    tokio::spawn(async move {
        let (mut r, mut w) = tokio::io::split(server_side);
        let _ = tokio::io::copy(&mut r, &mut w).await;
    });
    let mut client = net.connect(sim_side).expect("connect");
    let t0 = Instant::now();
    assert_eq!(
        round_trip(&mut client, b"duplex").await.expect("echo"),
        b"duplex"
    );
    assert_eq!(t0.elapsed(), ms(60));
}

#[tokio::test(start_paused = true)]
async fn faults_change_while_the_network_runs() {
    let net = network(&[], 15);
    let (mut client, server) = net.pair().expect("pair");
    echo(server);
    round_trip(&mut client, b"1").await.expect("no faults");
    net.set_faults(faults(&["blackhole"])).expect("set");
    sleep(ms(1)).await;
    client.write_all(b"2").await.expect("write");
    let mut buf = [0u8; 1];
    assert!(
        timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .is_err()
    );
    net.set_faults(vec![]).expect("clear");
    sleep(ms(1)).await;
    assert_eq!(round_trip(&mut client, b"3").await.expect("back"), b"3");
    assert_eq!(net.faults().len(), 0);
    let err = net
        .set_faults(faults(&["loss:probability=0.1"]))
        .expect_err("a datagram fault");
    assert!(err.to_string().contains("loss"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_network_closes_its_connections() {
    let net = network(&[], 16);
    let (mut client, _server) = net.pair().expect("pair");
    assert_eq!(net.open_connections(), 1);
    drop(net);
    let mut buf = [0u8; 1];
    assert_eq!(client.read(&mut buf).await.expect("eof"), 0);
}

/// The engine team's use: many short seeded connections in simulated time.
#[tokio::test(start_paused = true)]
async fn a_thousand_connections_run_quickly() {
    let real = std::time::Instant::now();
    let net = network(&["latency:delay=10ms", "bandwidth:rate=100mb"], 17);
    for _ in 0..1000 {
        let (mut client, server) = net.pair().expect("pair");
        echo(server);
        round_trip(&mut client, &pattern(16 << 10))
            .await
            .expect("echo");
    }
    sleep(ms(100)).await;
    assert_eq!(net.open_connections(), 0, "closed connections are gone");
    assert!(
        real.elapsed() < Duration::from_secs(20),
        "1000 connections took {:?} of real time",
        real.elapsed()
    );
}

/// Every read of `s` until EOF: (bytes, when since `t0`).
async fn reads(s: &mut SimStream, t0: Instant) -> Vec<(usize, Duration)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = s.read(&mut buf).await.expect("read");
        if n == 0 {
            return out;
        }
        out.push((n, t0.elapsed()));
    }
}

#[tokio::test(start_paused = true)]
async fn slicer_cuts_a_chunk_into_average_sized_slices_a_delay_apart() {
    let net = network(
        &["slicer:average_size=100b,delay=1ms,direction=downstream"],
        21,
    );
    let (mut client, server) = net.pair().expect("pair");
    let t0 = Instant::now();
    source(server, pattern(1000));
    let got = reads(&mut client, t0).await;
    // toxiproxy's cut, without variation: 1000 → 500 → 250 → 125 → 62 + 63, sixteen slices.
    let sizes: Vec<usize> = got.iter().map(|(n, _)| *n).collect();
    assert_eq!(sizes, [62, 63].repeat(8), "{got:?}");
    let times: Vec<Duration> = got.iter().map(|(_, t)| *t).collect();
    assert_eq!(times, (0..16).map(ms).collect::<Vec<_>>(), "one per ms");
    // The other direction is not sliced.
    let (mut client, server) = net.pair().expect("pair");
    echo(server);
    assert_eq!(
        round_trip(&mut client, &pattern(1000))
            .await
            .expect("echo")
            .len(),
        1000
    );
}

async fn sliced_sizes(seed: u64) -> Vec<usize> {
    let net = network(
        &["slicer:average_size=64b,size_variation=32b,delay=1ms,direction=downstream"],
        seed,
    );
    let (mut client, server) = net.pair().expect("pair");
    source(server, pattern(4000));
    let t0 = Instant::now();
    reads(&mut client, t0)
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn slicer_sizes_vary_within_bounds_and_replay_from_the_seed() {
    let sizes = sliced_sizes(22).await;
    assert_eq!(sizes.iter().sum::<usize>(), 4000);
    assert!(sizes.iter().all(|n| (1..=96).contains(n)), "{sizes:?}");
    assert!(
        sizes.windows(2).any(|w| w[0] != w[1]),
        "they vary: {sizes:?}"
    );
    assert_eq!(sizes, sliced_sizes(22).await, "a seed replays");
    assert_ne!(sizes, sliced_sizes(23).await, "another seed cuts elsewhere");
}

#[tokio::test(start_paused = true)]
async fn timeout_swallows_data_then_closes_its_time_after_reaching_the_connection() {
    let net = network(&["timeout:after=300ms"], 24);
    let (mut client, mut server) = net.pair().expect("pair");
    let t0 = Instant::now();
    client.write_all(b"lost").await.expect("write");
    let mut buf = [0u8; 8];
    let (c, s) = tokio::join!(client.read(&mut buf), async {
        let mut buf = [0u8; 8];
        server.read(&mut buf).await
    });
    assert_eq!(
        (c.expect("client"), s.expect("server")),
        (0, 0),
        "a close, no data"
    );
    assert_eq!(t0.elapsed(), ms(300));
    // On a connection already open, the time counts from when the fault turned on.
    let net = network(&[], 25);
    let (mut client, server) = net.pair().expect("pair");
    echo(server);
    round_trip(&mut client, b"before")
        .await
        .expect("no fault yet");
    sleep(Duration::from_secs(1)).await;
    let added = Instant::now();
    net.set_faults(faults(&["timeout:after=300ms"]))
        .expect("set");
    client.write_all(b"lost").await.expect("write");
    assert_eq!(client.read(&mut buf).await.expect("closed"), 0);
    assert_eq!(added.elapsed(), ms(300));
    sleep(ms(1)).await;
    assert!(net.events().since(0).iter().any(|e| matches!(
        &e.kind,
        EventKind::ConnClose { reason, .. } if reason == "timeout"
    ) && e.t == 1.3));
}

#[tokio::test(start_paused = true)]
async fn removing_a_timeout_closes_the_connections_it_held() {
    let net = network(&[], 26);
    let (mut client, server) = net.pair().expect("pair");
    echo(server);
    round_trip(&mut client, b"1").await.expect("no fault");
    net.set_faults(faults(&["timeout"])).expect("set");
    sleep(ms(1)).await;
    client.write_all(b"2").await.expect("write");
    let mut buf = [0u8; 1];
    assert!(
        timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .is_err(),
        "held"
    );
    // Changed in place (toxiproxy's update) is no removal: the connection stays, held.
    net.set_faults(faults(&["timeout:after=1h"]))
        .expect("update");
    assert!(
        timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .is_err(),
        "still held"
    );
    let removed = Instant::now();
    net.set_faults(vec![]).expect("clear");
    // As toxiproxy's cleanup: data never flows again, the connection closes.
    let read = timeout(ms(10), client.read(&mut buf))
        .await
        .expect("closed at once");
    assert_eq!(read.expect("a close, not a reset"), 0);
    assert_eq!(removed.elapsed(), Duration::ZERO);
    // A connection made afterwards passes data.
    let (mut later, server) = net.pair().expect("pair");
    echo(server);
    assert_eq!(round_trip(&mut later, b"3").await.expect("echo"), b"3");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_window_ending_lets_data_flow_and_drops_its_timer() {
    let net = network(&["timeout:after=5s,start=1s,duration=1s"], 27);
    let (mut client, server) = net.pair().expect("pair");
    echo(server);
    sleep(ms(1500)).await;
    client.write_all(b"x").await.expect("write");
    sleep(ms(1000)).await;
    assert_eq!(
        round_trip(&mut client, b"y")
            .await
            .expect("after the window"),
        b"y"
    );
    sleep(Duration::from_secs(10)).await;
    assert_eq!(
        round_trip(&mut client, b"z").await.expect("never closed"),
        b"z"
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiting_reset_resets_its_wait_after_the_first_data_since_it_reached_the_connection() {
    let net = network(&[], 28);
    let (mut client, mut server) = net.pair().expect("pair");
    client.write_all(b"early").await.expect("write");
    let mut early = [0u8; 5];
    server
        .read_exact(&mut early)
        .await
        .expect("before the fault");
    sleep(Duration::from_secs(1)).await;
    net.set_faults(faults(&[
        "reset:after_bytes=0,wait=500ms,direction=upstream",
    ]))
    .expect("set");
    // Quiet for a while: the wait starts only with the next data.
    sleep(Duration::from_secs(2)).await;
    let t0 = Instant::now();
    client.write_all(b"dropped").await.expect("write");
    let (mut buf, mut other) = ([0u8; 8], [0u8; 8]);
    let (c, s) = tokio::join!(client.read(&mut buf), server.read(&mut other));
    assert_eq!(kind(c), io::ErrorKind::ConnectionReset);
    assert_eq!(
        kind(s),
        io::ErrorKind::ConnectionReset,
        "the data never arrived"
    );
    assert_eq!(t0.elapsed(), ms(500));
}

#[tokio::test(start_paused = true)]
async fn limit_data_counted_from_its_arrival_lets_its_bytes_through_a_busy_connection() {
    for (count_from, passed) in [("added", 100), ("connection", 0)] {
        let net = network(&[], 29);
        let (mut client, server) = net.pair().expect("pair");
        echo(server);
        round_trip(&mut client, &pattern(1000))
            .await
            .expect("no fault yet");
        let spec = format!("limit_data:bytes=100b,count_from={count_from},direction=downstream");
        net.set_faults(faults(&[&spec])).expect("set");
        sleep(ms(1)).await;
        client.write_all(&pattern(300)).await.expect("write");
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.expect("a close");
        assert_eq!(got.len(), passed, "count_from={count_from}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_down_taken_away_while_on_brings_the_network_up_and_says_so() {
    let net = network(&["down"], 30);
    assert!(net.pair().is_err(), "down");
    sleep(ms(1)).await;
    net.set_faults(vec![]).expect("clear");
    sleep(ms(1)).await;
    net.pair().expect("up");
    let events = net.events().since(0);
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::ProxyUp { .. })),
        "{events:?}"
    );
}

/// Bytes read from `s` in each 250 ms of simulated time since `t0`, until `end`.
async fn arrivals(s: &mut SimStream, t0: Instant, end: Instant) -> Vec<usize> {
    let mut per_quarter = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    while let Ok(Ok(n)) = timeout(
        end.saturating_duration_since(Instant::now()),
        s.read(&mut buf),
    )
    .await
    {
        if n == 0 {
            break;
        }
        let quarter = (t0.elapsed().as_millis() / 250) as usize;
        if per_quarter.len() <= quarter {
            per_quarter.resize(quarter + 1, 0);
        }
        per_quarter[quarter] += n;
    }
    per_quarter
}

/// A latency fault holds rate × delay inside the relay: 128 MiB here (512 MiB/s through
/// 250 ms), twice the fixed 64 MiB the relay used to hold per direction, which capped this flow
/// at 256 MiB/s. The queue's limit grows with the bandwidth-delay product instead.
#[tokio::test(start_paused = true)]
async fn latency_does_not_cap_throughput_below_the_bandwidth_delay_product() {
    const MIB: usize = 1 << 20;
    let net = network(&["latency:delay=250ms,direction=upstream"], 4);
    let (mut client, mut server) = net.pair().expect("pair");
    let t0 = Instant::now();
    // 4 MiB every 8 ms (512 MiB/s) for 3 s; behind schedule, it sends what it owes at once.
    let sender = tokio::spawn(async move {
        let block = vec![7u8; 4 * MIB];
        for i in 0..375u32 {
            sleep_until(t0 + ms(8) * i).await;
            client.write_all(&block).await?;
        }
        Ok::<_, io::Error>(client)
    });
    let got = arrivals(&mut server, t0, t0 + ms(3250)).await;
    // A capped relay leaves the sender behind, with nobody reading any more.
    sender.abort();
    // The last second: bytes sent from 2 s to 3 s, a delay later. The ramp (the limit doubles
    // each delay from 16 MiB) is over by then.
    let steady: usize = got[9..13].iter().sum();
    let rate = steady as f64 / MIB as f64;
    assert!(
        rate >= 0.95 * 512.0,
        "{rate:.0} MiB/s through 250 ms; per 250 ms: {:?} MiB",
        got.iter().map(|n| n / MIB).collect::<Vec<_>>()
    );
}

/// What a direction holds stays bounded when its destination stops reading: the relay stops
/// reading once it holds the queue's floor (16 MiB: nothing drained, so no bandwidth-delay
/// product grew it), and the sender meets backpressure.
#[tokio::test(start_paused = true)]
async fn a_destination_that_stops_reading_bounds_what_the_relay_holds() {
    const MIB: usize = 1 << 20;
    let net = network(&["latency:delay=250ms,direction=upstream"], 5);
    let (mut client, _server) = net.pair().expect("pair");
    let block = vec![7u8; MIB];
    let mut sent = 0;
    while let Ok(Ok(n)) = timeout(Duration::from_secs(2), client.write(&block)).await {
        sent += n;
        assert!(sent <= 64 * MIB, "{} MiB taken without end", sent / MIB);
    }
    // The floor, plus a socket buffer on each side of the relay and one read of the relay's.
    assert!(
        (16 * MIB..=16 * MIB + 3 * BUFFER).contains(&sent),
        "{sent} bytes held"
    );
}
