//! The L3 link with the TUN offloads on: TCP crosses as super-packets while no fault needs wire
//! packets, and the packet faults still meet MTU-sized packets when they are on. Needs root;
//! without it each test says why and passes, unless `RRBENCH_REQUIRE_L3` is set.

mod common;

use std::sync::Arc;

use rrbench_chaos::{
    EventLog, LinkHandle,
    clock::Clock,
    link::{LinkCounters, usable_in_tests},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The largest IP packet the devices' MTU lets through.
const MTU: u64 = 1500;

/// This file's link: its faults, seed 7.
async fn link(faults: &[&str], events: Arc<EventLog>) -> LinkHandle {
    common::link(faults, 7, events).await
}

/// Sends `len` patterned bytes to the echo server across the link and checks they come back
/// identical.
async fn round_trip(link: &LinkHandle, port: u16, len: usize) {
    let sent: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let stream = TcpStream::connect((link.leader_ip(), port))
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut r, mut w) = stream.into_split();
    let out = sent.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&out).await.expect("write");
        w.shutdown().await.expect("shutdown");
    });
    let mut got = Vec::with_capacity(len);
    r.read_to_end(&mut got).await.expect("read");
    writer.await.expect("writer");
    assert_eq!(got.len(), sent.len(), "length");
    assert!(got == sent, "the bytes came back changed");
}

/// Asserts `part / whole` is within `[lo, hi]`.
fn assert_share(what: &str, part: u64, whole: u64, lo: f64, hi: f64, c: &LinkCounters) {
    let share = part as f64 / whole as f64;
    assert!(
        (lo..=hi).contains(&share),
        "{what}: {part} of {whole} packets ({share:.4}), expected {lo}..{hi}; {c:?}"
    );
}

#[tokio::test]
async fn a_large_transfer_crosses_as_super_packets_byte_identical() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&[], events).await;
    let port = common::echo_in(&link);
    round_trip(&link, port, 64 << 20).await;
    let c = link.counters();
    eprintln!("{c:?}");
    link.shutdown().await;
    assert!(
        c.super_packets > 0,
        "the kernel handed over super-packets: {c:?}"
    );
    assert_eq!(c.cut, 0, "nothing to cut with no fault on: {c:?}");
    assert_eq!(c.packets, 0, "no packet met a packet fault: {c:?}");
}

#[tokio::test]
async fn a_fixed_delay_meets_super_packets_whole_and_keeps_the_bytes() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["delay:delay=2ms"], events.clone()).await;
    let port = common::echo_in(&link);
    round_trip(&link, port, 16 << 20).await;
    let c = link.counters();
    eprintln!("{c:?}");
    link.shutdown().await;
    assert!(c.super_packets > 0, "{c:?}");
    assert_eq!(c.cut, 0, "a fixed delay does not need wire packets: {c:?}");
    assert!(events.effect_bytes(None, "delayed") >= 32 << 20);
}

#[tokio::test]
async fn loss_on_an_offloaded_link_drops_about_p_of_mtu_sized_packets() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["loss:probability=2%"], events.clone()).await;
    let port = common::echo_in(&link);
    round_trip(&link, port, 8 << 20).await;
    let c = link.counters();
    eprintln!("{c:?}");
    link.shutdown().await;
    assert!(c.cut > 0, "super-packets were cut into wire packets: {c:?}");
    assert!(
        c.rejoined < c.cut,
        "a super-packet with a lost segment is written as segments: {c:?}"
    );
    assert!(c.largest <= MTU, "a fault met a {}-byte packet", c.largest);
    // 16 MiB of payload each way is > 11 000 wire packets: 2 % is 230 ± 15 (one sigma).
    assert!(c.packets > 11_000, "{c:?}");
    assert_share("dropped", c.dropped, c.packets, 0.015, 0.025, &c);
    let dropped = events.effect_bytes(Some("loss"), "dropped");
    assert!(
        dropped <= c.dropped * MTU,
        "{dropped} bytes dropped in {} packets",
        c.dropped
    );
}

#[tokio::test]
async fn corruption_acts_per_segment_and_tcp_catches_every_one() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["corrupt:probability=2%"], events.clone()).await;
    let port = common::echo_in(&link);
    // Identical bytes: each corrupted segment carries full checksums (nothing left for the
    // kernel to finish), so the receiving kernel drops it and TCP sends it again.
    round_trip(&link, port, 8 << 20).await;
    let c = link.counters();
    eprintln!("{c:?}");
    link.shutdown().await;
    assert!(c.cut > 0, "{c:?}");
    assert!(c.largest <= MTU, "a fault met a {}-byte packet", c.largest);
    assert_share("corrupted", c.corrupted, c.packets, 0.015, 0.025, &c);
    assert!(events.effect_bytes(Some("corrupt"), "corrupted") <= c.corrupted * MTU);
}
