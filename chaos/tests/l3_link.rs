//! The L3 link with real packets: a TCP server inside the leader's namespace, a client in the
//! host namespace, and the kernel's own TCP between them. Needs root; without it each test says
//! why and passes, unless `RRBENCH_REQUIRE_L3` is set (scripts/test.sh sets it when root).

mod common;

use std::{sync::Arc, time::Duration};

use rrbench_chaos::{
    EventKind, EventLog, FaultError, Link, LinkError, LinkHandle, clock::Clock,
    link::usable_in_tests,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// This file's link: its faults, seed 5.
async fn link(faults: &[&str], events: Arc<EventLog>) -> LinkHandle {
    common::link(faults, 5, events).await
}

/// Sends `len` patterned bytes to the echo server across the link and reads them back.
async fn round_trip(link: &LinkHandle, port: u16, len: usize) -> (Vec<u8>, Vec<u8>) {
    let sent: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let stream = TcpStream::connect((link.leader_ip(), port))
        .await
        .expect("connect");
    let (mut r, mut w) = stream.into_split();
    let out = sent.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&out).await.expect("write");
        w.shutdown().await.expect("shutdown");
    });
    let mut got = Vec::with_capacity(len);
    r.read_to_end(&mut got).await.expect("read");
    writer.await.expect("writer");
    (sent, got)
}

#[tokio::test]
async fn bytes_cross_the_link_and_the_namespace_is_removed_after() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&[], events.clone()).await;
    let name = link.netns_name().to_string();
    let dev = link.follower_dev().to_string();
    assert!(std::path::Path::new("/run/netns").join(&name).exists());
    let port = common::echo_in(&link);
    let (sent, got) = round_trip(&link, port, 1 << 20).await;
    assert_eq!(got, sent);
    // The leader's address is not local to the host: the bytes went through the pump.
    assert!(
        TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "the echo server must live in the namespace only"
    );
    link.shutdown().await;
    assert!(!std::path::Path::new("/run/netns").join(&name).exists());
    // The device goes when its last descriptor closes; a test running alongside may have
    // forked `ip` with a copy of it, which lasts until that child's exec (close-on-exec).
    let sys = std::path::Path::new("/sys/class/net").join(&dev);
    for _ in 0..100 {
        if !sys.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!sys.exists(), "{dev} outlived the link");
}

#[tokio::test]
async fn tcp_recovers_from_packet_loss_and_corruption_with_identical_bytes() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(
        &["loss:probability=5%", "corrupt:probability=1%"],
        events.clone(),
    )
    .await;
    let port = common::echo_in(&link);
    let (sent, got) = round_trip(&link, port, 4 << 20).await;
    assert_eq!(got, sent, "kernel TCP retransmits what the link dropped");
    link.shutdown().await;
    assert!(events.effect_bytes(Some("loss"), "dropped") > 0);
    assert!(events.effect_bytes(Some("corrupt"), "corrupted") > 0);
}

#[tokio::test]
async fn delay_shows_in_the_round_trip_time() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["delay:delay=30ms"], events).await;
    let port = common::echo_in(&link);
    let started = std::time::Instant::now();
    let _stream = TcpStream::connect((link.leader_ip(), port))
        .await
        .expect("connect");
    // SYN and SYN-ACK each wait 30 ms in the pump.
    assert!(started.elapsed() >= Duration::from_millis(60));
    link.shutdown().await;
}

#[tokio::test]
async fn a_blackhole_silences_the_path_until_it_lifts() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["blackhole:start=0s,duration=1500ms"], events.clone()).await;
    let port = common::echo_in(&link);
    // The SYN is swallowed; the kernel retransmits it (1 s, then 3 s) until one gets through.
    let (sent, got) = round_trip(&link, port, 64 << 10).await;
    assert_eq!(got, sent);
    link.shutdown().await;
    let log = events.since(0);
    let off = log
        .iter()
        .find(|e| matches!(&e.kind, EventKind::FaultOff { fault } if fault == "blackhole"))
        .expect("the blackhole lifted");
    assert!(events.effect_bytes(Some("blackhole"), "dropped") > 0);
    assert!(off.t >= 1.5, "lifted at {}", off.t);
}

#[tokio::test]
async fn connection_faults_are_refused_on_packets() {
    // Checked before anything is set up, so this runs without root too.
    let events = Arc::new(EventLog::new(Clock::start()));
    let started = Link {
        faults: vec!["idle_timeout:idle=1s".parse().expect("fault")],
        seed: 1,
        events,
    }
    .start()
    .await;
    let Err(LinkError::Fault(FaultError::WrongMedium { hint, .. })) = started else {
        panic!("expected a medium error");
    };
    assert!(hint.contains("L4 TCP proxy"), "{hint}");
}

/// A `reset` with `after_bytes` on an echo, bytes both ways and a delay keeping them in flight:
/// the RST forged for an end from the sequence numbers seen may be stale by the time it lands
/// (that end then ignores it), and the end must be reset all the same, every connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_after_bytes_resets_an_echo_with_bytes_in_flight_both_ways() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(
        &["reset:after_bytes=256kb", "delay:delay=1ms"],
        events.clone(),
    )
    .await;
    let port = common::echo_in(&link);
    for attempt in 0..8 {
        let stream = TcpStream::connect((link.leader_ip(), port))
            .await
            .expect("connect");
        let (mut r, mut w) = stream.into_split();
        let writer = tokio::spawn(async move { w.write_all(&vec![7u8; 4 << 20]).await });
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut got))
            .await
            .expect("the echo ends in time");
        let wrote = writer.await.expect("writer");
        assert!(
            read.is_err() || wrote.is_err(),
            "connection {attempt} was not reset: echoed {} bytes",
            got.len()
        );
        assert!(
            got.len() < 4 << 20,
            "connection {attempt} echoed everything"
        );
    }
    // One reset per connection: none lost, none doubled by the hold's answers.
    let resets = events
        .since(0)
        .iter()
        .filter(|e| matches!(e.kind, EventKind::FlowReset { .. }))
        .count();
    assert_eq!(resets, 8, "{:?}", events.since(0));
    link.shutdown().await;
}
