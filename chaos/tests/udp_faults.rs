//! The UDP proxy through real sockets: a UDP echo server behind it, datagrams through it.

use std::{sync::Arc, time::Duration};

use rrbench_chaos::{
    EventKind, EventLog, Fault, FaultError, Proxy, ProxyError, UdpProxyHandle, clock::Clock,
};
use tokio::{net::UdpSocket, time::timeout};

/// An echo server on 127.0.0.1:0; returns its address.
async fn echo() -> std::net::SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

async fn proxy(faults: &[&str], events: Arc<EventLog>) -> UdpProxyHandle {
    Proxy {
        listen: "127.0.0.1:0".into(),
        upstream: echo().await.to_string(),
        faults: faults
            .iter()
            .map(|f| f.parse::<Fault>().expect(f))
            .collect(),
        seed: 3,
        events,
    }
    .start_udp()
    .await
    .expect("start")
}

/// Sends `n` numbered datagrams through `proxy`; returns what came back within `wait` of the
/// last one.
async fn exchange(proxy: &UdpProxyHandle, n: u32, wait: Duration) -> Vec<Vec<u8>> {
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("client");
    client.connect(proxy.local_addr()).await.expect("connect");
    for i in 0..n {
        let mut d = i.to_be_bytes().to_vec();
        d.extend_from_slice(&[0u8; 60]);
        client.send(&d).await.expect("send");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut got = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Ok(Ok(len)) = timeout(wait, client.recv(&mut buf)).await {
        got.push(buf[..len].to_vec());
    }
    got
}

fn number(d: &[u8]) -> u32 {
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn log() -> Arc<EventLog> {
    Arc::new(EventLog::new(Clock::start()))
}

#[tokio::test]
async fn without_faults_every_datagram_comes_back_once() {
    let p = proxy(&[], log()).await;
    let got = exchange(&p, 50, Duration::from_millis(300)).await;
    let mut numbers: Vec<u32> = got.iter().map(|d| number(d)).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..50).collect::<Vec<_>>());
    assert_eq!(p.flows(), 1);
}

#[tokio::test]
async fn blackhole_and_certain_loss_deliver_nothing_and_log_it() {
    for spec in ["blackhole", "loss:probability=100%,direction=upstream"] {
        let events = log();
        let p = proxy(&[spec], events.clone()).await;
        let got = exchange(&p, 20, Duration::from_millis(300)).await;
        assert!(got.is_empty(), "{spec}: {} came back", got.len());
        p.shutdown().await;
        let dropped = events
            .since(0)
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Effect { effect, .. } if effect == "dropped"));
        assert!(dropped, "{spec}: no dropped effect logged");
    }
}

#[tokio::test]
async fn duplicates_corruption_and_partial_loss_do_what_they_say() {
    let p = proxy(&["duplicate:probability=1,direction=upstream"], log()).await;
    let got = exchange(&p, 20, Duration::from_millis(300)).await;
    assert_eq!(got.len(), 40, "each datagram twice");

    let p = proxy(&["corrupt:probability=1,direction=upstream"], log()).await;
    let got = exchange(&p, 20, Duration::from_millis(300)).await;
    assert_eq!(got.len(), 20);
    for d in &got {
        let mut sent = vec![0u8; 64];
        let changed = d.iter().zip(&mut sent).filter(|(a, b)| a != b).count();
        // One byte changed; it may be one of the 4 number bytes, so compare all but those.
        assert!(changed <= 4 + 1 && d.len() == 64, "{d:?}");
    }

    let p = proxy(&["loss:probability=50%"], log()).await;
    let got = exchange(&p, 200, Duration::from_millis(300)).await;
    assert!(
        got.len() > 10 && got.len() < 150,
        "{} of 200 round trips",
        got.len()
    );
}

#[tokio::test]
async fn delay_holds_datagrams_and_reorder_lets_later_ones_overtake() {
    let p = proxy(&["delay:delay=40ms,direction=upstream"], log()).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("client");
    client.connect(p.local_addr()).await.expect("connect");
    let sent = std::time::Instant::now();
    client.send(&[0, 0, 0, 1]).await.expect("send");
    let mut buf = [0u8; 16];
    timeout(Duration::from_secs(5), client.recv(&mut buf))
        .await
        .expect("reply")
        .expect("recv");
    assert!(sent.elapsed() >= Duration::from_millis(40), "not held");

    let p = proxy(
        &["reorder:probability=30%,gap=30ms,direction=upstream"],
        log(),
    )
    .await;
    let got = exchange(&p, 60, Duration::from_millis(300)).await;
    let numbers: Vec<u32> = got.iter().map(|d| number(d)).collect();
    assert_eq!(numbers.len(), 60);
    assert!(
        numbers.windows(2).any(|w| w[1] < w[0]),
        "nothing was overtaken: {numbers:?}"
    );
}

#[tokio::test]
async fn scheduled_faults_turn_on_and_off_in_the_log() {
    let events = log();
    let p = proxy(&["blackhole:start=50ms,duration=50ms"], events.clone()).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    p.shutdown().await;
    let kinds: Vec<String> = events
        .since(0)
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ProxyStart { .. } => Some("start".to_string()),
            EventKind::FaultOn { kind, .. } => Some(format!("on {kind}")),
            EventKind::FaultOff { .. } => Some("off".into()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["start", "on blackhole", "off"]);
}

#[tokio::test]
async fn stream_and_datagram_faults_are_refused_on_the_wrong_proxy() {
    let udp = Proxy {
        listen: "127.0.0.1:0".into(),
        upstream: "127.0.0.1:9".into(),
        faults: vec!["reset:at=1s".parse().expect("fault")],
        seed: 1,
        events: log(),
    }
    .start_udp()
    .await;
    assert!(matches!(
        udp,
        Err(ProxyError::Fault(FaultError::WrongMedium { .. }))
    ));
    let tcp = Proxy {
        listen: "127.0.0.1:0".into(),
        upstream: "127.0.0.1:9".into(),
        faults: vec!["loss:probability=1%".parse().expect("fault")],
        seed: 1,
        events: log(),
    }
    .start()
    .await;
    let Err(e) = tcp else {
        panic!("the TCP proxy took a datagram fault")
    };
    assert!(
        e.to_string().contains("--udp") && e.to_string().contains("L3 link"),
        "{e}"
    );
}
