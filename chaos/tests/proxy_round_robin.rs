//! A proxy given several upstreams is a load balancer: connections go to each in turn.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use rrbench_chaos::{EventLog, Proxy, clock::Clock};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    time::timeout,
};

/// A server that greets every client with its own `name`, then closes.
async fn naming_server(name: u8) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(&[name]).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// The name of the server a new connection through `proxy` reaches.
async fn reached(proxy: SocketAddr) -> u8 {
    let mut s = TcpStream::connect(proxy).await.expect("connect");
    let mut name = Vec::new();
    timeout(Duration::from_secs(5), s.read_to_end(&mut name))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(name.len(), 1, "one greeting");
    name[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_alternate_between_the_upstreams_in_turn() {
    let (a, b) = (naming_server(b'a').await, naming_server(b'b').await);
    let proxy = Proxy {
        listen: "127.0.0.1:0".into(),
        upstream: format!("{a}, {b}"),
        faults: Vec::new(),
        seed: 1,
        events: Arc::new(EventLog::new(Clock::start())),
    }
    .start()
    .await
    .expect("proxy starts");
    let mut names = Vec::new();
    // One at a time, so connection ids follow the order of the connects.
    for _ in 0..5 {
        names.push(reached(proxy.local_addr()).await);
    }
    assert_eq!(names, b"ababa");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_upstream_takes_every_connection() {
    let a = naming_server(b'a').await;
    let proxy = Proxy {
        listen: "127.0.0.1:0".into(),
        upstream: a.to_string(),
        faults: Vec::new(),
        seed: 1,
        events: Arc::new(EventLog::new(Clock::start())),
    }
    .start()
    .await
    .expect("proxy starts");
    for _ in 0..3 {
        assert_eq!(reached(proxy.local_addr()).await, b'a');
    }
    proxy.shutdown().await;
}
