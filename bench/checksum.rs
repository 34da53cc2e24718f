//! CRC-32C over chunk-sized buffers, with the `crc32c` crate (SSE 4.2 `crc32` instruction,
//! three streams interleaved, when the CPU has it; a table-driven software path otherwise), and
//! the cost of combining a chunk's checksum into its file's.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SIZES: [(&str, usize); 3] = [("64KiB", 64 << 10), ("1MiB", 1 << 20), ("10MiB", 10 << 20)];

fn checksum(c: &mut Criterion) {
    #[cfg(target_arch = "x86_64")]
    eprintln!(
        "crc32c crate; CPU crc32 instruction (sse4.2): {}",
        if std::arch::is_x86_feature_detected!("sse4.2") {
            "yes, hardware path"
        } else {
            "no, software path"
        }
    );
    let mut group = c.benchmark_group("checksum");
    for (label, size) in SIZES {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("crc32c/{label}"), |b| {
            b.iter(|| crc32c::crc32c(std::hint::black_box(&data)))
        });
        group.bench_function(format!("combine/{label}"), |b| {
            b.iter(|| {
                rrbench::index::crc32c_combine(
                    std::hint::black_box(0x1234_5678),
                    0x9abc_def0,
                    size as u64,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, checksum);
criterion_main!(benches);
