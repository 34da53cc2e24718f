//! What the L3 link's packet pump costs: per 64 KiB super-packet, the pure work of cutting it
//! into wire packets and putting each through a 1 % loss (what the pump does while a packet
//! fault is on); and, as root, one TCP stream on loopback (the reference, in the same run) and
//! across a real link with no fault, with a fixed 1 ms delay each way (super-packets passed
//! through whole) and with a loss of 0.001 % (every super-packet cut, and written whole again
//! when no segment was lost), in one group.
#![allow(missing_docs)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use rrbench_chaos::{
    EventLog, Fault, Link, LinkHandle,
    clock::Clock,
    datagram::lane::Lane,
    link::{
        gso::{self, VnetHdr},
        netns::in_netns,
        unavailable,
    },
    rng::SeededRng,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Payload of one super-packet: 45 segments of 1448 bytes, as Linux's TSO hands them over.
const PAYLOAD: usize = 45 * 1448;

/// Bytes one TCP transfer across the link moves.
const TRANSFER: u64 = 64 << 20;

/// An IPv4 TCP super-packet and its header, as the kernel hands it to the pump.
fn super_packet() -> (VnetHdr, Vec<u8>) {
    let mut p = vec![0u8; 40 + PAYLOAD];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((40 + PAYLOAD) as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[100, 64, 0, 1]);
    p[16..20].copy_from_slice(&[100, 64, 0, 2]);
    p[32] = 0x50;
    p[33] = 0x18;
    let hdr = VnetHdr {
        flags: gso::NEEDS_CSUM,
        gso_type: gso::gso_type::TCPV4,
        hdr_len: 40,
        gso_size: 1448,
        csum_start: 20,
        csum_offset: 16,
    };
    (hdr, p)
}

fn pure(c: &mut Criterion) {
    let (hdr, packet) = super_packet();
    let loss: Vec<Fault> = vec!["loss:probability=1%".parse().expect("fault")];
    let mut group = c.benchmark_group("link_pump");
    group.throughput(Throughput::Bytes(PAYLOAD as u64));
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    group.bench_function("cut_64k", |b| {
        b.iter(|| {
            gso::segment(&hdr, &packet, || spare.pop().unwrap_or_default(), &mut out)
                .expect("segment");
            spare.append(&mut out);
        })
    });
    let mut lane = Lane::new(SeededRng::new(1, 1), loss.len());
    let now = tokio::time::Instant::now();
    group.bench_function("cut_64k_and_loss_1pct", |b| {
        b.iter(|| {
            gso::segment(&hdr, &packet, || spare.pop().unwrap_or_default(), &mut out)
                .expect("segment");
            for segment in out.drain(..) {
                let (sends, _) = lane.apply(loss.iter().enumerate(), segment, now);
                spare.extend(sends.into_iter().map(|s| s.bytes));
            }
        })
    });
    group.finish();
}

/// Serves `listener`: reads each connection to its end and answers one byte.
fn sink(listener: std::net::TcpListener) -> u16 {
    let port = listener.local_addr().expect("addr").port();
    let listener = TcpListener::from_std(listener).expect("listener");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 20];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                let _ = s.write_all(&[1]).await;
            });
        }
    });
    port
}

/// A listener bound inside the link's namespace.
fn bind_in(link: &LinkHandle) -> std::net::TcpListener {
    let ip = link.leader_ip();
    in_netns(&link.netns_path(), move || {
        let l = std::net::TcpListener::bind((ip, 0))?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .expect("bind in netns")
}

async fn transfer(to: SocketAddr, chunk: &[u8]) -> Duration {
    let started = std::time::Instant::now();
    let mut s = TcpStream::connect(to).await.expect("connect");
    let mut left = TRANSFER as usize;
    while left > 0 {
        let n = left.min(chunk.len());
        s.write_all(&chunk[..n]).await.expect("write");
        left -= n;
    }
    s.shutdown().await.expect("shutdown");
    let mut done = [0u8; 1];
    s.read_exact(&mut done).await.expect("answer");
    started.elapsed()
}

fn across(c: &mut Criterion) {
    if let Some(why) = unavailable() {
        eprintln!("link_tcp skipped: {why}");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("link_tcp");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(TRANSFER));
    let chunk = vec![7u8; 1 << 20];
    let mut bench = |label: &str, to: SocketAddr| {
        group.bench_function(BenchmarkId::new("one_stream", label), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let chunk = &chunk;
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += transfer(to, chunk).await;
                    }
                    total
                }
            })
        });
    };
    let loopback = runtime.block_on(async {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        sink(l)
    });
    bench("loopback", SocketAddr::from(([127, 0, 0, 1], loopback)));
    for (label, faults) in [
        ("link_no_fault", &[][..]),
        ("link_delay_1ms", &["delay:delay=1ms"][..]),
        ("link_loss_0.001pct", &["loss:probability=0.001%"][..]),
    ] {
        let link = runtime.block_on(async {
            Link {
                faults: faults.iter().map(|f| f.parse().expect("fault")).collect(),
                seed: 1,
                events: Arc::new(EventLog::new(Clock::start())),
            }
            .start()
            .await
            .expect("link")
        });
        let port = runtime.block_on(async { sink(bind_in(&link)) });
        bench(label, SocketAddr::from((link.leader_ip(), port)));
        runtime.block_on(link.shutdown());
    }
    group.finish();
}

criterion_group!(benches, pure, across);
criterion_main!(benches);
