//! The leader against followers that ask for too much: pipelined requests never read, floods
//! of sessions, connections that never speak or speak a byte a second, more QUIC connections
//! than slots. Each was seen exhausting the leader from outside; each must leave it serving a
//! real follower.

mod common;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream as StdStream},
    time::{Duration, Instant},
};

use common::*;
use rrbench::{
    follower::Outcome,
    index::IndexSnapshot,
    protocol::{ErrorCode, Message, encode},
    settings::LeaderSettings,
    transport::{
        TransportError,
        channel::Channel,
        quic::{QuicClient, QuicLiveness, client_endpoint, connect, generate_self_signed},
    },
    units::ByteSize,
    vocabulary::Transport,
};

const MIB: u64 = 1 << 20;

fn frame(id: u64, message: &Message) -> Vec<u8> {
    encode(id, message).expect("encode").to_vec()
}

fn hello() -> Message {
    Message::Hello {
        version: u16::from(rrbench::protocol::VERSION),
        auth: Default::default(),
    }
}

/// A blocking connection that has said Hello and opened a session; returns it with the session
/// and the file list (read from the leader's replies).
fn greeted_session(addr: SocketAddr) -> (StdStream, u64, Vec<rrbench::protocol::FileMeta>) {
    let mut s = StdStream::connect(addr).expect("connect");
    s.write_all(&frame(1, &hello())).expect("hello");
    let open = Message::OpenSession {
        index: "index".into(),
        shard: 0,
    };
    s.write_all(&frame(2, &open)).expect("open");
    let mut buf = bytes::BytesMut::new();
    let mut read = [0u8; 64 << 10];
    loop {
        let n = s.read(&mut read).expect("read");
        assert!(n > 0, "leader closed");
        buf.extend_from_slice(&read[..n]);
        while let Some(f) = rrbench::protocol::decode_frame(&mut buf, 16 << 20).expect("frame") {
            if let Message::SessionOpened { session, files, .. } = f.message {
                return (s, session, files);
            }
        }
    }
}

/// Writes `frames` for at most `within`, as far as the leader reads them, never reading back.
fn pipeline(s: &mut StdStream, frames: impl Iterator<Item = Vec<u8>>, within: Duration) -> usize {
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let end = Instant::now() + within;
    let mut sent = 0;
    for f in frames {
        if Instant::now() > end || s.write_all(&f).is_err() {
            break;
        }
        sent += 1;
    }
    sent
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("field")
}

fn leader_process(dir: &std::path::Path, extra: &[&str]) -> (Child, SocketAddr) {
    let mut args = vec![
        "leader",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let (child, addr) = spawn_announcing(&args);
    (child, addr.parse().expect("addr"))
}

/// 100 pipelined requests for the largest file, never read (once 2.2 GB of RSS from 3 KB of
/// requests), then 200 000 OpenSession calls never read (once 805 MB): the leader's peak RSS
/// stays bounded by its per-connection budget, and it still serves a real recovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_are_never_read_do_not_grow_the_leaders_memory() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 48 * MIB, 4, 81);
    let (leader, addr) = leader_process(snapshot.dir(), &["--max-bytes-per-sec", "0"]);
    let pid = leader.0.id();
    let before = rss_kib(pid, "VmRSS:");

    let (mut s, session, files) = greeted_session(addr);
    let (big, meta) = files
        .iter()
        .enumerate()
        .max_by_key(|(_, f)| f.len)
        .expect("a file");
    let len = meta.len.min(64 * MIB) as u32;
    let chunks = (0..100).map(|i| {
        let ask = Message::GetChunk {
            session,
            file: big as u32,
            offset: 0,
            len,
        };
        frame(10 + i, &ask)
    });
    let sent = pipeline(&mut s, chunks, Duration::from_secs(2));
    let (mut s2, _, _) = greeted_session(addr);
    let opens = (0..200_000u64).map(|i| {
        let open = Message::OpenSession {
            index: "index".into(),
            shard: 0,
        };
        frame(i, &open)
    });
    let opened = pipeline(&mut s2, opens, Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let peak = rss_kib(pid, "VmHWM:");
    let pipelined = u64::from(len) * sent as u64 / 1024;
    eprintln!(
        "RSS {before} KiB before, peak {peak} KiB; {sent} chunk requests of {len} B \
         ({pipelined} KiB) and {opened} OpenSession sent"
    );
    // Two 64 MiB chunks of budget per connection, plus queued small frames.
    assert!(
        peak < before + 200 * 1024,
        "peak RSS {peak} KiB grew past the connection budget (before {before} KiB)"
    );

    let target = tmp.path().join("follower");
    let report = recover(addr, &target, unlimited_follower()).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_identical(&snapshot, &target);
    drop((s, s2, leader));
}

/// At 40mb/s, a connection with a backlog of huge requests once cut a real follower from 40 to
/// 1.17 MiB/s. The node limiter shares the rate between sessions: the follower keeps at least
/// a third of what it gets alone (half, with one other session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelining_client_does_not_starve_a_real_follower() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 16 * MIB, 4, 82);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            max_bytes_per_sec: ByteSize::mib(40),
            ..LeaderSettings::default()
        },
    )
    .await;
    let addr = leader.local_addr();
    let limit = Some(Duration::from_secs(30));
    let alone = recover_within(addr, &tmp.path().join("alone"), unlimited_follower(), limit).await;
    assert_eq!(alone.outcome, Outcome::Completed, "{:?}", alone.failure);

    let attacker = tokio::task::spawn_blocking(move || {
        let (mut s, session, files) = greeted_session(addr);
        let len = files.iter().map(|f| f.len).max().expect("a file") as u32;
        let asks = (0..100).map(|i| {
            let ask = Message::GetChunk {
                session,
                file: 0,
                offset: 0,
                len: len.min(files[0].len as u32),
            };
            frame(10 + i, &ask)
        });
        pipeline(&mut s, asks, Duration::from_millis(500));
        s
    })
    .await
    .expect("attacker");
    let crowded = recover_within(
        addr,
        &tmp.path().join("crowded"),
        unlimited_follower(),
        limit,
    )
    .await;
    assert_eq!(crowded.outcome, Outcome::Completed, "{:?}", crowded.failure);
    let ratio = crowded.throughput_mib_s / alone.throughput_mib_s;
    eprintln!(
        "alone {:.1} MiB/s, beside the pipelining client {:.1} MiB/s: ratio {ratio:.2}",
        alone.throughput_mib_s, crowded.throughput_mib_s
    );
    assert!(ratio > 0.33, "ratio {ratio:.2}");
    drop(attacker);
    leader.shutdown().await;
}

async fn greeted_channel(addr: SocketAddr) -> Channel {
    let channel = Channel::connect(&addr.to_string(), 1 << 24)
        .await
        .expect("connect");
    assert!(matches!(
        channel.request(&hello()).await,
        Ok(Message::HelloAck { .. })
    ));
    channel
}

async fn open(channel: &Channel) -> Result<u64, TransportError> {
    let open = Message::OpenSession {
        index: "index".into(),
        shard: 0,
    };
    match channel.request(&open).await? {
        Message::SessionOpened { session, .. } => Ok(session),
        other => panic!("expected SessionOpened, got {other:?}"),
    }
}

fn limit_refusal(result: Result<u64, TransportError>, names: &str) {
    match result {
        Err(TransportError::Remote { code, message }) => {
            assert_eq!(code, ErrorCode::LimitExceeded);
            assert!(message.contains(names), "{message}");
        }
        other => panic!("expected a refusal naming {names}, got {other:?}"),
    }
}

/// Sessions are capped per connection and in all, their ids are not guessable from one's own,
/// and another connection cannot close a session it was not told the id of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_capped_and_not_guessable() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), MIB, 3, 83);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            max_sessions: 3,
            max_sessions_per_connection: 2,
            ..LeaderSettings::default()
        },
    )
    .await;
    let addr = leader.local_addr();
    let a = greeted_channel(addr).await;
    let victim = open(&a).await.expect("first");
    let second = open(&a).await.expect("second");
    assert!(victim.abs_diff(second) > 1 << 20, "{victim} {second}");
    limit_refusal(open(&a).await, "max_sessions_per_connection");
    let b = greeted_channel(addr).await;
    open(&b).await.expect("another connection");
    limit_refusal(open(&b).await, "max_sessions");

    for guess in [victim + 1, victim - 1, second + 1, victim ^ 1] {
        if guess == second {
            continue;
        }
        let close = Message::CloseSession { session: guess };
        assert!(matches!(
            b.request(&close).await,
            Err(TransportError::Remote {
                code: ErrorCode::UnknownSession,
                ..
            })
        ));
    }
    let chunk = Message::GetChunk {
        session: victim,
        file: 0,
        offset: 0,
        len: 1,
    };
    assert!(matches!(a.request(&chunk).await, Ok(Message::Chunk { .. })));
    assert_eq!(leader.open_sessions(), 3);
    leader.shutdown().await;
}

/// Slots held by connections that never speak, speak a byte at a time, or say Hello and sit:
/// once 5 000 of them failed a real recovery with `no response within 10s`. The leader now
/// closes silent and slow ones at handshake_timeout and sheds idle ones when a real follower
/// needs their slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_give_their_slots_to_a_real_follower() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 4 * MIB, 6, 84);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            max_connections: 10,
            handshake_timeout: Duration::from_millis(800),
            idle_connection_timeout: Duration::from_millis(300),
            ..unlimited_leader()
        },
    )
    .await;
    let addr = leader.local_addr();
    let mut hogs = Vec::new();
    for _ in 0..20 {
        hogs.push(StdStream::connect(addr).expect("silent"));
    }
    for _ in 0..10 {
        let mut s = StdStream::connect(addr).expect("idle");
        s.write_all(&frame(1, &hello())).expect("hello");
        hogs.push(s);
    }
    let hello_bytes = frame(1, &hello());
    let slow = std::thread::spawn(move || {
        // A byte every 300 ms: the whole Hello would take about 7 s; the leader closes the
        // connection at handshake_timeout (800 ms), and a write or two later we see it.
        let mut s = StdStream::connect(addr).expect("slow");
        let start = Instant::now();
        for b in hello_bytes {
            if s.write_all(&[b]).is_err() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        None
    });

    let target = tmp.path().join("follower");
    let limit = Some(Duration::from_secs(30));
    let report = recover_within(addr, &target, unlimited_follower(), limit).await;
    assert_eq!(report.outcome, Outcome::Completed, "{:?}", report.failure);
    assert_identical(&snapshot, &target);
    let slow_for = tokio::task::spawn_blocking(move || slow.join().expect("slow"))
        .await
        .expect("join");
    let slow_for = slow_for.expect("the leader cut the slow Hello off");
    assert!(
        slow_for < Duration::from_secs(4),
        "cut off after {slow_for:?}"
    );
    let stats = leader.stats();
    assert!(
        stats.connections_closed_by_leader >= 20,
        "closed {}",
        stats.connections_closed_by_leader
    );
    drop(hogs);
    leader.shutdown().await;
}

/// `--max-connections 2` once let 10 QUIC connections in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_connections_count_against_max_connections() {
    let tmp = scratch();
    let snapshot: IndexSnapshot = make_index(tmp.path(), MIB, 3, 85);
    let cert = generate_self_signed(&tmp.path().join("cert"), &["localhost".into()]).expect("cert");
    let config = rrbench::leader::LeaderConfig {
        settings: LeaderSettings {
            max_connections: 2,
            ..LeaderSettings::default()
        },
        quic: Some(rrbench::leader::QuicServer {
            certificate: cert.clone(),
            liveness: QuicLiveness::default(),
        }),
        ..rrbench::leader::LeaderConfig::default()
    };
    let leader = rrbench::leader::start(
        "127.0.0.1:0",
        snapshot,
        config,
        rrbench::clock::Clock::start(),
    )
    .await
    .expect("leader");
    let peer = leader.local_addr();
    let client = QuicClient {
        ca: cert.cert.clone(),
        server_name: Some("localhost".into()),
        identity: None,
    };
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..10 {
        let endpoint = client_endpoint(&client, &QuicLiveness::default(), peer).expect("endpoint");
        match connect(&endpoint, peer, &peer.to_string(), &client).await {
            Ok(c) => {
                // A stream proves the leader serves it, not only that the handshake finished.
                let (mut send, _recv) = c.open_bi().await.expect("stream");
                send.write_all(&frame(1, &hello())).await.expect("hello");
                open.push((endpoint, c, send));
            }
            Err(_) => refused += 1,
        }
    }
    assert_eq!(open.len(), 2, "{refused} refused");
    assert!(leader.stats().connections_refused >= 8);
    drop(open);
    leader.shutdown().await;
}

/// Out of file descriptors (EMFILE), the accept loop backs off instead of spinning and says so
/// once a second, not once per attempt (once a line every 50 ms, for as long as it lasted).
#[test]
fn accept_errors_back_off_and_are_logged_once_a_second() {
    use std::io::BufRead;
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), MIB, 3, 86);
    let script = format!(
        "ulimit -n 40 && exec {} leader --dir {} --listen 127.0.0.1:0",
        env!("CARGO_BIN_EXE_rrbench"),
        snapshot.dir().display()
    );
    let mut child = Child(
        std::process::Command::new("sh")
            .args(["-c", &script])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let mut err = std::io::BufReader::new(child.0.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("announcement");
    let addr: SocketAddr = line
        .split_whitespace()
        .nth(2)
        .expect("ADDR")
        .parse()
        .expect("addr");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for l in err.lines().map_while(Result::ok) {
            sink.lock().expect("lines").push(l);
        }
    });
    // More connections than descriptors: the kernel completes them, accept(2) fails.
    let hogs: Vec<_> = (0..80)
        .filter_map(|_| StdStream::connect(addr).ok())
        .collect();
    let cpu = |pid: u32| -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .expect("fields")
            .split_whitespace()
            .collect();
        let ticks: f64 =
            fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
        ticks / 100.0
    };
    let pid = child.0.id();
    let cpu_before = cpu(pid);
    std::thread::sleep(Duration::from_secs(3));
    let cpu_used = cpu(pid) - cpu_before;
    let failed: Vec<String> = lines
        .lock()
        .expect("lines")
        .iter()
        .filter(|l| l.contains("accept failed"))
        .cloned()
        .collect();
    assert!(!failed.is_empty(), "the leader did run out of descriptors");
    assert!(
        failed.len() <= 5,
        "{} lines in 3 s: {failed:?}",
        failed.len()
    );
    assert!(cpu_used < 1.0, "{cpu_used:.2} s of CPU in 3 s: spinning");
    drop(hogs);
}

/// A chunk request aborted while it waited on the limiter (its connection closed) once stayed
/// counted in flight forever; with a cap per session, a few resets wedged the session that the
/// OpenSearch policy retries its chunks on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cut_off_by_a_closed_connection_leave_the_sessions_count() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 8 * MIB, 3, 87);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            max_bytes_per_sec: ByteSize::kib(64),
            max_requests_per_session: 4,
            ..LeaderSettings::default()
        },
    )
    .await;
    let addr = leader.local_addr();
    let first = greeted_channel(addr).await;
    let session = open(&first).await.expect("session");
    let ask = Message::GetChunk {
        session,
        file: 0,
        offset: 0,
        len: 256 << 10,
    };
    for _ in 0..4 {
        let request = first.request(&ask);
        let _ = tokio::time::timeout(Duration::from_millis(20), request).await;
    }
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = greeted_channel(addr).await;
    let small = Message::GetChunk {
        session,
        file: 0,
        offset: 0,
        len: 1,
    };
    match tokio::time::timeout(Duration::from_secs(20), second.request(&small)).await {
        Ok(Ok(Message::Chunk { .. })) => {}
        other => panic!("the session is still usable after its connection closed: {other:?}"),
    }
    leader.shutdown().await;
}

/// One client connection of either transport: a TCP connection, or a QUIC connection that opens
/// one stream when it first speaks (until then it has sent nothing but its handshake).
enum Dialed {
    Tcp(tokio::net::TcpStream),
    Quic {
        _endpoint: quinn::Endpoint,
        connection: quinn::Connection,
        stream: Option<(quinn::SendStream, quinn::RecvStream)>,
    },
}

/// A leader on one transport, and how to dial it.
struct SlotLeader {
    transport: Transport,
    leader: rrbench::leader::LeaderHandle,
    client: QuicClient,
}

impl SlotLeader {
    async fn start(transport: Transport, dir: &std::path::Path, snapshot: IndexSnapshot) -> Self {
        let cert = generate_self_signed(&dir.join("cert"), &["localhost".into()]).expect("cert");
        let config = rrbench::leader::LeaderConfig {
            settings: LeaderSettings {
                max_connections: 1,
                // A connection silent for 100 ms may be shed; a greeted one idle for 300 ms.
                handshake_timeout: Duration::from_secs(1),
                idle_connection_timeout: Duration::from_millis(300),
                ..unlimited_leader()
            },
            quic: (transport == Transport::Quic).then(|| rrbench::leader::QuicServer {
                certificate: cert.clone(),
                liveness: QuicLiveness::default(),
            }),
            ..rrbench::leader::LeaderConfig::default()
        };
        let leader = rrbench::leader::start(
            "127.0.0.1:0",
            snapshot,
            config,
            rrbench::clock::Clock::start(),
        )
        .await
        .expect("leader");
        let client = QuicClient {
            ca: cert.cert,
            server_name: Some("localhost".into()),
            identity: None,
        };
        Self {
            transport,
            leader,
            client,
        }
    }

    /// Connects, saying nothing: a TCP connect, or a finished QUIC handshake.
    async fn dial(&self) -> Result<Dialed, String> {
        let peer = self.leader.local_addr();
        match self.transport {
            Transport::Tcp => tokio::net::TcpStream::connect(peer)
                .await
                .map(Dialed::Tcp)
                .map_err(|e| e.to_string()),
            Transport::Quic => {
                let endpoint = client_endpoint(&self.client, &QuicLiveness::default(), peer)
                    .map_err(|e| e.to_string())?;
                let connection = connect(&endpoint, peer, &peer.to_string(), &self.client)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Dialed::Quic {
                    _endpoint: endpoint,
                    connection,
                    stream: None,
                })
            }
        }
    }

    /// Whether a new connection is served: it dials and its Hello is answered.
    async fn greeted(&self) -> Result<Dialed, String> {
        let mut dialed = self.dial().await?;
        match dialed.request(&hello()).await? {
            Message::HelloAck { .. } => Ok(dialed),
            other => Err(format!("{other:?}")),
        }
    }
}

impl Dialed {
    /// Sends one request and reads one frame back, within 5 s.
    async fn request(&mut self, message: &Message) -> Result<Message, String> {
        use rrbench::transport::frame_io::read_frame;
        use tokio::io::AsyncWriteExt;
        let bytes = frame(1, message);
        let exchange = async {
            let read = match self {
                Dialed::Tcp(s) => {
                    s.write_all(&bytes).await.map_err(|e| e.to_string())?;
                    read_frame(s, 16 << 20).await
                }
                Dialed::Quic {
                    connection, stream, ..
                } => {
                    if stream.is_none() {
                        *stream = Some(connection.open_bi().await.map_err(|e| e.to_string())?);
                    }
                    let Some((send, recv)) = stream.as_mut() else {
                        return Err("no stream".to_string());
                    };
                    send.write_all(&bytes).await.map_err(|e| e.to_string())?;
                    read_frame(recv, 16 << 20).await
                }
            };
            match read {
                Ok(Some(f)) => Ok(f.message),
                Ok(None) => Err("closed by the leader".to_string()),
                Err(e) => Err(e.to_string()),
            }
        };
        tokio::time::timeout(Duration::from_secs(5), exchange)
            .await
            .map_err(|_| "no answer within 5s".to_string())?
    }
}

/// With `max_connections = 1`, a second connection is turned away from a connection that owns
/// a session, and gets the slot of one that never spoke or that sits idle without a session:
/// the same for QUIC as for TCP. QUIC connections once held their slot whatever they did (a
/// handshake and no stream held it for good), so a real follower was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_quic_connection_is_refused_or_sheds_as_a_second_tcp_one() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), MIB, 3, 88);
    for transport in [Transport::Tcp, Transport::Quic] {
        let rig = SlotLeader::start(transport, tmp.path(), snapshot.clone()).await;
        let silent = rig
            .dial()
            .await
            .expect("a first connection, which never speaks");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut owner = rig
            .greeted()
            .await
            .unwrap_or_else(|e| panic!("{transport}: the silent one gives its slot up: {e}"));
        let open = Message::OpenSession {
            index: "index".into(),
            shard: 0,
        };
        let session = match owner.request(&open).await {
            Ok(Message::SessionOpened { session, .. }) => session,
            other => panic!("{transport}: {other:?}"),
        };

        let refused = rig.greeted().await;
        assert!(
            refused.is_err(),
            "{transport}: a connection that owns a session keeps its slot"
        );
        assert_eq!(rig.leader.stats().connections_refused, 1, "{transport}");

        let close = Message::CloseSession { session };
        assert!(
            matches!(
                owner.request(&close).await,
                Ok(Message::SessionClosed { .. })
            ),
            "{transport}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut newcomer = rig
            .greeted()
            .await
            .unwrap_or_else(|e| panic!("{transport}: the idle one gives its slot up: {e}"));
        assert!(
            owner.request(&Message::Ping { nonce: 1 }).await.is_err(),
            "{transport}: the idle connection was closed"
        );
        assert!(matches!(
            newcomer.request(&Message::Ping { nonce: 2 }).await,
            Ok(Message::Pong { nonce: 2 })
        ));
        let stats = rig.leader.stats();
        assert_eq!(
            (
                stats.connections_closed_by_leader,
                stats.connections_refused
            ),
            (2, 1),
            "{transport}: the silent and the idle one closed, one refused"
        );
        drop((silent, owner, newcomer));
        rig.leader.shutdown().await;
    }
}
