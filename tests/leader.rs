//! The leader against bad input and idle sessions, over real sockets: every bad request gets an
//! `Error` frame, and the leader keeps serving everyone else.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::*;
use rrbench::{
    auth::AuthToken,
    clock::Clock,
    leader::{self, LeaderConfig},
    protocol::{ErrorCode, HEADER_LEN, Kind, Message, VERSION, decode_frame},
    settings::LeaderSettings,
    transport::{TransportError, channel::Channel},
    vocabulary::LeaderFlavor,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Writes raw bytes and closes the sending side, then reads every frame until the leader closes the connection.
async fn send_raw(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<Message> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    // Half-close: the leader sees the end of our bytes, as when a client goes away.
    stream.shutdown().await.expect("shutdown");
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let read_all = async {
        loop {
            if stream.read_buf(&mut buf).await.expect("read") == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read_all)
        .await
        .expect("leader closes the connection");
    while let Some(frame) = decode_frame(&mut buf, 1 << 20).expect("leader sends valid frames") {
        frames.push(frame.message);
    }
    frames
}

fn error_code(m: &Message) -> Option<ErrorCode> {
    match m {
        Message::Error { code, .. } => Some(*code),
        _ => None,
    }
}

async fn expect_refused(channel: &Channel, message: Message, code: ErrorCode) {
    match channel.request(&message).await {
        Err(TransportError::Remote {
            code: got,
            message: text,
        }) => {
            assert_eq!(got, code, "{message:?}: {text}");
            assert!(!text.is_empty());
        }
        other => panic!("{message:?}: expected {code:?}, got {other:?}"),
    }
}

async fn greeted(addr: std::net::SocketAddr) -> Channel {
    let channel = Channel::connect(&addr.to_string(), 1 << 24)
        .await
        .expect("connect");
    let hello = Message::Hello {
        version: u16::from(VERSION),
        auth: Default::default(),
    };
    assert!(matches!(
        channel.request(&hello).await,
        Ok(Message::HelloAck { .. })
    ));
    channel
}

async fn open(channel: &Channel) -> (u64, Vec<rrbench::protocol::FileMeta>) {
    let open = Message::OpenSession {
        index: "index".into(),
        shard: 0,
    };
    match channel.request(&open).await.expect("open session") {
        Message::SessionOpened { session, files, .. } => (session, files),
        other => panic!("expected SessionOpened, got {other:?}"),
    }
}

fn chunk(session: u64, file: u32, offset: u64, len: u32) -> Message {
    Message::GetChunk {
        session,
        file,
        offset,
        len,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_errors_and_the_leader_keeps_serving() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 4 << 20, 5, 11);
    let leader = start_leader(&snapshot, unlimited_leader()).await;
    let addr = leader.local_addr();

    // Garbage: an HTTP request is not a frame.
    let frames = send_raw(addr, b"GET / HTTP/1.1\r\nHost: leader\r\n\r\n").await;
    assert_eq!(
        frames.iter().map(error_code).collect::<Vec<_>>(),
        vec![Some(ErrorCode::Malformed)]
    );

    // An oversized frame is refused from its header, before any payload arrives.
    let mut huge = vec![b'R', b'R', VERSION, Kind::GetChunk as u8];
    huge.extend_from_slice(&9u64.to_be_bytes());
    huge.extend_from_slice(&(512u32 << 20).to_be_bytes());
    assert_eq!(huge.len(), HEADER_LEN);
    let frames = send_raw(addr, &huge).await;
    assert_eq!(
        frames.iter().map(error_code).collect::<Vec<_>>(),
        vec![Some(ErrorCode::FrameTooLarge)]
    );

    // A truncated frame followed by a close: nothing to answer, nothing broken.
    assert!(send_raw(addr, &huge[..7]).await.is_empty());

    // Well-formed but invalid requests: an error each, and the connection stays usable.
    let channel = Channel::connect(&addr.to_string(), 1 << 24)
        .await
        .expect("connect");
    expect_refused(
        &channel,
        Message::OpenSession {
            index: "index".into(),
            shard: 0,
        },
        ErrorCode::UnexpectedMessage,
    )
    .await;
    drop(channel);
    let channel = greeted(addr).await;
    let (session, files) = open(&channel).await;
    let n = files.len() as u32;
    let len0 = files[0].len;
    expect_refused(
        &channel,
        Message::OpenSession {
            index: "nope".into(),
            shard: 0,
        },
        ErrorCode::UnknownIndex,
    )
    .await;
    expect_refused(
        &channel,
        chunk(session + 1000, 0, 0, 10),
        ErrorCode::UnknownSession,
    )
    .await;
    expect_refused(
        &channel,
        chunk(session, n, 0, 10),
        ErrorCode::FileOutOfRange,
    )
    .await;
    expect_refused(
        &channel,
        chunk(session, u32::MAX, 0, 10),
        ErrorCode::FileOutOfRange,
    )
    .await;
    expect_refused(
        &channel,
        chunk(session, 0, len0, 1),
        ErrorCode::OffsetOutOfRange,
    )
    .await;
    expect_refused(
        &channel,
        chunk(session, 0, u64::MAX, 1),
        ErrorCode::OffsetOutOfRange,
    )
    .await;
    expect_refused(
        &channel,
        chunk(session, 0, 0, 0),
        ErrorCode::LengthOutOfRange,
    )
    .await;
    expect_refused(
        &channel,
        chunk(session, 0, len0 - 1, 2),
        ErrorCode::LengthOutOfRange,
    )
    .await;
    expect_refused(
        &channel,
        Message::HelloAck { version: 1 },
        ErrorCode::UnexpectedMessage,
    )
    .await;
    expect_refused(
        &channel,
        Message::CloseSession {
            session: session + 1000,
        },
        ErrorCode::UnknownSession,
    )
    .await;
    // ...and a valid request on the same connection still works.
    match channel
        .request(&chunk(session, 0, 0, 100))
        .await
        .expect("valid chunk")
    {
        Message::Chunk { data, .. } => assert_eq!(data.len(), 100),
        other => panic!("expected a chunk, got {other:?}"),
    }
    assert!(matches!(
        channel.request(&Message::Ping { nonce: 9 }).await,
        Ok(Message::Pong { nonce: 9 })
    ));
    assert!(leader.stats().errors_sent >= 13, "{:?}", leader.stats());

    // After all that, a whole recovery still succeeds.
    let target = tmp.path().join("follower");
    let report = recover(addr, &target, unlimited_follower()).await;
    assert!(report.is_completed(), "{:?}", report.failure);
    assert_identical(&snapshot, &target);
    leader.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_expires_and_a_busy_one_survives() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 1 << 20, 3, 12);
    let t = Duration::from_millis(300);
    let settings = LeaderSettings {
        recovery_activity_timeout: t,
        ..unlimited_leader()
    };
    let leader = start_leader(&snapshot, settings).await;
    let channel = greeted(leader.local_addr()).await;
    let (idle, _) = open(&channel).await;
    let (busy, _) = open(&channel).await;
    // Keep `busy` active every T/3 for 3.5 T; never touch `idle`.
    let end = tokio::time::Instant::now() + t * 7 / 2;
    while tokio::time::Instant::now() < end {
        assert!(
            matches!(
                channel.request(&chunk(busy, 0, 0, 1)).await,
                Ok(Message::Chunk { .. })
            ),
            "busy session survives"
        );
        tokio::time::sleep(t / 3).await;
    }
    expect_refused(&channel, chunk(idle, 0, 0, 1), ErrorCode::UnknownSession).await;
    assert!(matches!(
        channel.request(&chunk(busy, 0, 0, 1)).await,
        Ok(Message::Chunk { .. })
    ));
    assert_eq!(leader.stats().sessions_expired, 1);
    assert_eq!(leader.open_sessions(), 1);
    leader.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_lives_at_least_t_after_its_last_request() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 1 << 20, 3, 13);
    let t = Duration::from_millis(400);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            recovery_activity_timeout: t,
            ..unlimited_leader()
        },
    )
    .await;
    let channel = greeted(leader.local_addr()).await;
    let (session, _) = open(&channel).await;
    tokio::time::sleep(t * 3 / 4).await;
    assert!(
        matches!(
            channel.request(&chunk(session, 0, 0, 1)).await,
            Ok(Message::Chunk { .. })
        ),
        "alive within T"
    );
    tokio::time::sleep(t * 5 / 2).await;
    expect_refused(&channel, chunk(session, 0, 0, 1), ErrorCode::UnknownSession).await;
    leader.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_auth_token_is_refused() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 1 << 20, 3, 14);
    let config = LeaderConfig {
        settings: unlimited_leader(),
        auth_token: Some(AuthToken::new("s3cret").expect("token")),
        ..LeaderConfig::default()
    };
    let leader = leader::start("127.0.0.1:0", snapshot, config, Clock::start())
        .await
        .expect("start");
    let channel = Channel::connect(&leader.local_addr().to_string(), 1 << 20)
        .await
        .expect("connect");
    let hello = Message::Hello {
        version: u16::from(VERSION),
        auth: "guess".into(),
    };
    expect_refused(&channel, hello, ErrorCode::Unauthorized).await;
    let channel = Channel::connect(&leader.local_addr().to_string(), 1 << 20)
        .await
        .expect("connect");
    let none = Message::Hello {
        version: u16::from(VERSION),
        auth: Default::default(),
    };
    match channel.request(&none).await {
        Err(TransportError::Remote { code, message }) => {
            assert_eq!(code, ErrorCode::Unauthorized);
            assert!(message.contains("no auth token sent"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let channel = Channel::connect(&leader.local_addr().to_string(), 1 << 20)
        .await
        .expect("connect");
    let hello = Message::Hello {
        version: u16::from(VERSION),
        auth: "s3cret".into(),
    };
    assert!(matches!(
        channel.request(&hello).await,
        Ok(Message::HelloAck { .. })
    ));
}

/// Sends `message` on an in-memory connection and reads the leader's answer; `None` when the
/// leader has closed the connection.
async fn exchange(
    stream: &mut tokio::io::DuplexStream,
    id: u64,
    message: &Message,
) -> Option<Message> {
    let frame = rrbench::protocol::encode(id, message).expect("encode");
    stream.write_all(&frame.to_vec()).await.ok()?;
    let answer = rrbench::transport::frame_io::read_frame(stream, 1 << 20).await;
    answer.expect("a valid frame").map(|f| f.message)
}

/// An in-memory connection to `leader`, greeted (request 1), with a session opened on it
/// (request 2).
async fn in_memory_session(leader: &leader::LeaderHandle) -> (tokio::io::DuplexStream, u64) {
    let mut stream = leader.connect_in_memory().expect("in-memory connection");
    let hello = Message::Hello {
        version: u16::from(VERSION),
        auth: Default::default(),
    };
    assert!(matches!(
        exchange(&mut stream, 1, &hello).await,
        Some(Message::HelloAck { .. })
    ));
    match exchange(&mut stream, 2, &open_session()).await {
        Some(Message::SessionOpened { session, .. }) => (stream, session),
        other => panic!("expected SessionOpened, got {other:?}"),
    }
}

fn open_session() -> Message {
    Message::OpenSession {
        index: "index".into(),
        shard: 0,
    }
}

/// The real leader, reached over an in-memory pipe, on tokio's paused clock: its session expiry
/// (`recovery_activity_timeout` of 60 s, reaped between T and 2T after the last request) runs on
/// simulated time, so three simulated minutes pass in well under a second of real time.
#[tokio::test(start_paused = true)]
async fn an_in_memory_session_expires_after_the_activity_timeout_in_simulated_time() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 1 << 20, 3, 15);
    let t = Duration::from_secs(60);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            recovery_activity_timeout: t,
            ..unlimited_leader()
        },
    )
    .await;
    let (real, simulated) = (std::time::Instant::now(), tokio::time::Instant::now());
    let (mut stream, session) = in_memory_session(&leader).await;
    match exchange(&mut stream, 3, &chunk(session, 0, 0, 100)).await {
        Some(Message::Chunk { data, .. }) => assert_eq!(data.len(), 100),
        other => panic!("expected a chunk, got {other:?}"),
    }
    let stats = leader.stats();
    assert_eq!((stats.connections_accepted, stats.connections_open), (1, 1));

    // Just short of T after its last request the session lives; a chunk request renews it.
    tokio::time::sleep(t - Duration::from_secs(1)).await;
    assert!(matches!(
        exchange(&mut stream, 4, &chunk(session, 0, 0, 1)).await,
        Some(Message::Chunk { .. })
    ));
    assert_eq!(leader.stats().sessions_expired, 0);
    // 2T (and a reaper tick) after that request it is gone.
    tokio::time::sleep(2 * t + Duration::from_secs(2)).await;
    assert_eq!(leader.stats().sessions_expired, 1);
    assert_eq!(leader.open_sessions(), 0);
    match exchange(&mut stream, 5, &chunk(session, 0, 0, 1)).await {
        Some(Message::Error { code, .. }) => assert_eq!(code, ErrorCode::UnknownSession),
        other => panic!("expected UnknownSession, got {other:?}"),
    }
    assert!(simulated.elapsed() >= 3 * t, "{:?}", simulated.elapsed());
    assert!(
        real.elapsed() < Duration::from_secs(30),
        "simulated time, not real: {:?}",
        real.elapsed()
    );
    drop(stream);
    leader.shutdown().await;
}

/// The leader's connection rules on the paused clock, through the in-memory way in: a
/// connection that never says Hello is closed at `handshake_timeout` (10 s), and with one slot a
/// greeted connection idle for `idle_connection_timeout` (60 s) without a session gives it up to
/// a newcomer, who waited for it as a TCP connection would.
#[tokio::test(start_paused = true)]
async fn hello_deadlines_and_idle_shedding_run_on_simulated_time() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 1 << 20, 3, 16);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            max_connections: 1,
            ..unlimited_leader()
        },
    )
    .await;
    let real = std::time::Instant::now();
    let settings = LeaderSettings::default();
    let mut silent = leader.connect_in_memory().expect("in memory");
    let start = tokio::time::Instant::now();
    let mut rest = Vec::new();
    assert_eq!(
        silent.read_to_end(&mut rest).await.expect("closed cleanly"),
        0
    );
    let waited = start.elapsed();
    assert!(
        waited >= settings.handshake_timeout && waited < settings.handshake_timeout * 2,
        "closed after {waited:?}"
    );
    assert_eq!(leader.stats().connections_closed_by_leader, 1);

    let hello = Message::Hello {
        version: u16::from(VERSION),
        auth: Default::default(),
    };
    let mut idle = leader.connect_in_memory().expect("in memory");
    assert!(matches!(
        exchange(&mut idle, 1, &hello).await,
        Some(Message::HelloAck { .. })
    ));
    tokio::time::sleep(settings.idle_connection_timeout + Duration::from_secs(1)).await;
    let mut newcomer = leader.connect_in_memory().expect("in memory");
    assert!(matches!(
        exchange(&mut newcomer, 1, &hello).await,
        Some(Message::HelloAck { .. })
    ));
    assert_eq!(
        exchange(&mut idle, 2, &Message::Ping { nonce: 1 }).await,
        None,
        "the idle connection gave its slot up"
    );
    let stats = leader.stats();
    assert_eq!(
        (
            stats.connections_accepted,
            stats.connections_closed_by_leader
        ),
        (3, 2)
    );
    assert!(
        real.elapsed() < Duration::from_secs(30),
        "{:?}",
        real.elapsed()
    );
    drop((silent, idle, newcomer));
    leader.shutdown().await;
}

/// An OpenSearch leader never expires a session: one left idle for three activity timeouts is
/// still served, and when `max_sessions` is reached the refusal says why sessions pile up.
#[tokio::test(start_paused = true)]
async fn an_opensearch_leader_keeps_an_idle_session_past_twice_the_activity_timeout() {
    let tmp = scratch();
    let snapshot = make_index(tmp.path(), 1 << 20, 3, 15);
    let t = Duration::from_secs(60);
    let leader = start_leader(
        &snapshot,
        LeaderSettings {
            recovery_activity_timeout: t,
            max_sessions: 2,
            flavor: LeaderFlavor::Opensearch,
            ..unlimited_leader()
        },
    )
    .await;
    let (mut stream, session) = in_memory_session(&leader).await;
    tokio::time::sleep(3 * t).await;
    assert_eq!(leader.stats().sessions_expired, 0);
    assert_eq!(leader.open_sessions(), 1, "still pinned after 3T idle");
    match exchange(&mut stream, 3, &chunk(session, 0, 0, 100)).await {
        Some(Message::Chunk { data, .. }) => assert_eq!(data.len(), 100),
        other => panic!("expected a chunk, got {other:?}"),
    }
    // A follower that reopens without closing piles sessions up until max_sessions.
    let open = open_session();
    assert!(matches!(
        exchange(&mut stream, 4, &open).await,
        Some(Message::SessionOpened { .. })
    ));
    match exchange(&mut stream, 5, &open).await {
        Some(Message::Error { message, .. }) => assert!(
            message.contains("never expires") && message.contains("CloseSession"),
            "{message}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(leader.stats().sessions_open, 2, "both pinned, counted");
    drop(stream);
    leader.shutdown().await;
}
