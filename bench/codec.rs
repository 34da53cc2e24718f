//! Encoding and decoding chunk frames. The chunk's bytes are shared, not copied, in both
//! directions, so this measures the header and field work per frame, reported per byte carried.
#![allow(missing_docs)]

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rrbench::protocol::{Message, decode_frame, encode};

const SIZES: [(&str, usize); 3] = [("64KiB", 64 << 10), ("1MiB", 1 << 20), ("10MiB", 10 << 20)];

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for (label, size) in SIZES {
        let chunk = Message::Chunk {
            file: 3,
            offset: 1 << 30,
            crc32c: 0xdead_beef,
            throttled_micros: 0,
            data: Bytes::from(vec![7u8; size]),
        };
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("encode/{label}"), |b| {
            b.iter(|| encode(42, std::hint::black_box(&chunk)))
        });
        let wire = encode(42, &chunk).expect("encode").to_vec();
        group.bench_function(format!("decode/{label}"), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |mut buf| decode_frame(&mut buf, u32::MAX).expect("decode"),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
