//! Middleboxes that forget flows, on the L3 link with real kernel TCP: `conntrack` (idle flows
//! forgotten; keepalive probes are packets and keep them) against the L4 proxy's `idle_timeout`
//! (data only; keepalives do not help), and the L3 `reset`. Needs root for the link; without it
//! each link test says why and passes, unless `RRBENCH_REQUIRE_L3` is set.

use std::{io, sync::Arc, time::Duration};

use rrbench_chaos::{
    EventKind, EventLog, Fault, Link, LinkHandle, Proxy,
    clock::Clock,
    link::{netns::in_netns, usable_in_tests},
};
use socket2::{SockRef, TcpKeepalive};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::mpsc,
    time::{Instant, sleep, timeout},
};

/// Below every conntrack `idle` used here; keepalive probes come this often once idle.
const KEEPALIVE: Duration = Duration::from_secs(1);
/// How long a write may go unacknowledged before the client's kernel gives up.
const USER_TIMEOUT: Duration = Duration::from_secs(2);

fn faults(specs: &[&str]) -> Vec<Fault> {
    specs.iter().map(|f| f.parse::<Fault>().expect(f)).collect()
}

async fn link(specs: &[&str], events: Arc<EventLog>) -> LinkHandle {
    Link {
        faults: faults(specs),
        seed: 9,
        events,
    }
    .start()
    .await
    .expect("link")
}

/// A listener inside the link's namespace; its accepted connections come out of the channel.
fn server_in(link: &LinkHandle) -> (u16, mpsc::UnboundedReceiver<TcpStream>) {
    let ip = link.leader_ip();
    let listener = in_netns(&link.netns_path(), move || {
        let l = std::net::TcpListener::bind((ip, 0))?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .expect("bind in netns");
    let port = listener.local_addr().expect("addr").port();
    serve(TcpListener::from_std(listener).expect("listener"), port)
}

fn serve(listener: TcpListener, port: u16) -> (u16, mpsc::UnboundedReceiver<TcpStream>) {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            if tx.send(s).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// A client with `TCP_USER_TIMEOUT` and, if asked, keepalive every second after a second idle.
async fn client(to: std::net::SocketAddr, keepalive: bool) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    let s = SockRef::from(&socket);
    s.set_tcp_user_timeout(Some(USER_TIMEOUT))
        .expect("TCP_USER_TIMEOUT");
    if keepalive {
        s.set_tcp_keepalive(
            &TcpKeepalive::new()
                .with_time(KEEPALIVE)
                .with_interval(KEEPALIVE)
                .with_retries(3),
        )
        .expect("keepalive");
    }
    socket.connect(to).await.expect("connect")
}

/// A connection across the link, with `hello` delivered: (client, server side).
async fn open(
    link: &LinkHandle,
    port: u16,
    accepted: &mut mpsc::UnboundedReceiver<TcpStream>,
    keepalive: bool,
) -> (TcpStream, TcpStream) {
    let mut c = client((link.leader_ip(), port).into(), keepalive).await;
    let mut s = accepted.recv().await.expect("accepted");
    c.write_all(b"hello").await.expect("write");
    let mut got = [0u8; 5];
    s.read_exact(&mut got).await.expect("hello arrives");
    (c, s)
}

/// What the next read on `s` gives within `within`: bytes, the end, an error, or `None` (nothing).
async fn next_read(s: &mut TcpStream, within: Duration) -> Option<io::Result<Vec<u8>>> {
    let mut buf = vec![0u8; 1024];
    timeout(within, s.read(&mut buf))
        .await
        .ok()
        .map(|r| r.map(|n| buf[..n].to_vec()))
}

fn kind_of(r: Option<io::Result<Vec<u8>>>) -> Option<io::ErrorKind> {
    match r {
        Some(Err(e)) => Some(e.kind()),
        _ => None,
    }
}

fn count(events: &EventLog, what: impl Fn(&EventKind) -> bool) -> usize {
    events.since(0).iter().filter(|e| what(&e.kind)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conntrack_drop_an_idle_flow_hangs_until_the_user_timeout() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["conntrack:idle=2s"], events.clone()).await;
    let (port, mut accepted) = server_in(&link);
    let (mut c, mut s) = open(&link, port, &mut accepted, false).await;
    sleep(Duration::from_secs(3)).await;
    // The write is only queued; its packets meet a middlebox that forgot the flow.
    let wrote = Instant::now();
    c.write_all(b"again").await.expect("queued");
    let err = kind_of(next_read(&mut c, Duration::from_secs(10)).await);
    assert_eq!(
        err,
        Some(io::ErrorKind::TimedOut),
        "TCP_USER_TIMEOUT fails it"
    );
    let took = wrote.elapsed();
    assert!(
        took >= USER_TIMEOUT && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert!(
        next_read(&mut s, Duration::from_millis(200))
            .await
            .is_none(),
        "nothing was delivered, and the server was told nothing"
    );
    assert_eq!(
        count(
            &events,
            |k| matches!(k, EventKind::FlowExpired { reason, idle_s, .. }
            if reason == "idle" && *idle_s >= 2.0)
        ),
        1
    );
    assert!(
        count(&events, |k| matches!(k, EventKind::FlowDrop { .. })) >= 2,
        "retransmissions"
    );
    link.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conntrack_keepalive_below_its_idle_keeps_the_flow() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["conntrack:idle=2s"], events.clone()).await;
    let (port, mut accepted) = server_in(&link);
    let (mut c, mut s) = open(&link, port, &mut accepted, true).await;
    sleep(Duration::from_secs(3)).await;
    c.write_all(b"again").await.expect("write");
    let got = next_read(&mut s, Duration::from_secs(2)).await;
    assert_eq!(got.map(|r| r.expect("read")), Some(b"again".to_vec()));
    assert_eq!(
        count(&events, |k| matches!(k, EventKind::FlowExpired { .. })),
        0,
        "keepalive probes are packets: the flow stayed"
    );
    link.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_on_the_l4_proxy_is_not_kept_by_keepalive() {
    // The same client settings through the TCP proxy: its own kernel answers the probes, and
    // `idle_timeout` counts only data. No root needed.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream = listener.local_addr().expect("addr");
    let (_, mut accepted) = serve(listener, upstream.port());
    let proxy = Proxy {
        listen: "127.0.0.1:0".into(),
        upstream: upstream.to_string(),
        faults: faults(&["idle_timeout:idle=2s"]),
        seed: 9,
        events: Arc::new(EventLog::new(Clock::start())),
    }
    .start()
    .await
    .expect("proxy");
    let mut c = client(proxy.local_addr(), true).await;
    let mut s = accepted.recv().await.expect("accepted");
    c.write_all(b"hello").await.expect("write");
    let mut got = [0u8; 5];
    s.read_exact(&mut got).await.expect("hello arrives");
    sleep(Duration::from_secs(3)).await;
    // Reset while idle: the next read (before any write, which would take the error) says so.
    let err = kind_of(next_read(&mut c, Duration::from_secs(2)).await);
    assert_eq!(
        err,
        Some(io::ErrorKind::ConnectionReset),
        "keepalive did not keep it"
    );
    assert_eq!(
        kind_of(next_read(&mut s, Duration::from_secs(1)).await),
        Some(io::ErrorKind::ConnectionReset)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conntrack_reset_answers_a_forgotten_flow_with_rst_to_both_ends() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["conntrack:idle=2s,action=reset"], events.clone()).await;
    let (port, mut accepted) = server_in(&link);
    let (mut c, mut s) = open(&link, port, &mut accepted, false).await;
    sleep(Duration::from_secs(3)).await;
    c.write_all(b"again").await.expect("queued");
    let within = Duration::from_secs(1);
    assert_eq!(
        kind_of(next_read(&mut c, within).await),
        Some(io::ErrorKind::ConnectionReset),
        "the sender"
    );
    assert_eq!(
        kind_of(next_read(&mut s, within).await),
        Some(io::ErrorKind::ConnectionReset),
        "the other end"
    );
    assert_eq!(
        count(
            &events,
            |k| matches!(k, EventKind::FlowReset { direction, .. }
            if *direction == rrbench_chaos::Direction::Upstream)
        ),
        1
    );
    link.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conntrack_a_full_table_evicts_the_older_flow() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(
        &["conntrack:idle=60s,max_flows=1,action=reset"],
        events.clone(),
    )
    .await;
    let (port, mut accepted) = server_in(&link);
    let (mut c1, mut s1) = open(&link, port, &mut accepted, false).await;
    let (mut c2, mut s2) = open(&link, port, &mut accepted, false).await;
    c1.write_all(b"again").await.expect("queued");
    let within = Duration::from_secs(1);
    assert_eq!(
        kind_of(next_read(&mut c1, within).await),
        Some(io::ErrorKind::ConnectionReset)
    );
    assert_eq!(
        kind_of(next_read(&mut s1, within).await),
        Some(io::ErrorKind::ConnectionReset)
    );
    c2.write_all(b"still").await.expect("write");
    let got = next_read(&mut s2, within).await;
    assert_eq!(got.map(|r| r.expect("read")), Some(b"still".to_vec()));
    assert_eq!(
        count(
            &events,
            |k| matches!(k, EventKind::FlowExpired { reason, .. } if reason == "evicted")
        ),
        1
    );
    link.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l3_reset_at_a_time_resets_an_idle_connection_on_both_ends() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["reset:at=1500ms"], events.clone()).await;
    let (port, mut accepted) = server_in(&link);
    let (mut c, mut s) = open(&link, port, &mut accepted, false).await;
    // Nothing is sent from here on.
    let within = Duration::from_secs(4);
    assert_eq!(
        kind_of(next_read(&mut c, within).await),
        Some(io::ErrorKind::ConnectionReset)
    );
    assert_eq!(
        kind_of(next_read(&mut s, within).await),
        Some(io::ErrorKind::ConnectionReset)
    );
    let reset = events
        .since(0)
        .into_iter()
        .find(|e| matches!(e.kind, EventKind::FlowReset { .. }))
        .expect("a flow_reset event");
    assert!(reset.t >= 1.4, "at {}", reset.t);
    link.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l3_reset_after_bytes_resets_both_ends_mid_transfer() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["reset:after_bytes=256kb"], events.clone()).await;
    let (port, mut accepted) = server_in(&link);
    let (c, mut s) = open(&link, port, &mut accepted, false).await;
    let (_r, mut w) = c.into_split();
    let writer = tokio::spawn(async move { w.write_all(&vec![7u8; 4 << 20]).await });
    let mut received = 0usize;
    let mut buf = vec![0u8; 64 << 10];
    let end = timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => received += n,
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .expect("ends in time");
    assert_eq!(
        end.map_err(|e| e.kind()),
        Err(io::ErrorKind::ConnectionReset)
    );
    // Counted per wire packet (a super-packet is cut first): the reset comes within two
    // packets of the count, not a 64 KiB super-packet early.
    assert!(
        ((256 << 10) - 3000..=256 << 10).contains(&received),
        "the server got {received} bytes"
    );
    let wrote = timeout(Duration::from_secs(5), writer)
        .await
        .expect("writer ends")
        .expect("join");
    assert!(wrote.is_err(), "the client's write fails too");
    link.shutdown().await;
}

/// A `reset` with `after_bytes` resets a flow by its own bytes only: turning on later (here at
/// 1 s) leaves an idle connection that never moved that much alone.
#[tokio::test]
async fn l3_reset_after_bytes_spares_an_idle_flow_when_it_turns_on() {
    if !usable_in_tests() {
        return;
    }
    let events = Arc::new(EventLog::new(Clock::start()));
    let link = link(&["reset:after_bytes=1mb,start=1s"], events.clone()).await;
    let (port, mut accepted) = server_in(&link);
    let (mut c, mut s) = open(&link, port, &mut accepted, false).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.write_all(b"still here")
        .await
        .expect("the write is taken");
    let mut got = [0u8; 10];
    timeout(Duration::from_secs(5), s.read_exact(&mut got))
        .await
        .expect("in time")
        .expect("no reset: the flow moved 10 bytes, not 1 MiB");
    assert_eq!(&got, b"still here");
    link.shutdown().await;
}
