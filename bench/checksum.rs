//! CRC-32C over chunk-sized buffers, with the `crc32c` crate (SSE 4.2 `crc32` instruction,
//! three streams interleaved, when the CPU has it; a table-driven software path otherwise), and
//! the cost of combining a chunk's checksum into its file's: rrbench's combine computing the
//! length's operator each call, the same with the operator cached, the `crc32c` crate's, and the
//! leader's fold of block checksums for a chunk it sends from the page cache.
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
        // rrbench's combine, computing the length's operator every call (before the operator
        // existed this was the crate's combine, `combine_crate` below).
        group.bench_function(format!("combine/{label}"), |b| {
            b.iter(|| {
                rrbench::index::crc32c_combine(
                    std::hint::black_box(0x1234_5678),
                    0x9abc_def0,
                    std::hint::black_box(size as u64),
                )
            })
        });
        group.bench_function(format!("combine_crate/{label}"), |b| {
            b.iter(|| {
                crc32c::crc32c_combine(
                    std::hint::black_box(0x1234_5678),
                    0x9abc_def0,
                    std::hint::black_box(size),
                )
            })
        });
        // What the follower's assembler does per chunk: the operator cached for the length.
        let op = rrbench::index::Crc32cCombine::for_len(size as u64);
        group.bench_function(format!("combine_cached/{label}"), |b| {
            b.iter(|| {
                std::hint::black_box(&op).apply(std::hint::black_box(0x1234_5678), 0x9abc_def0)
            })
        });
    }
    group.finish();
}

/// The leader's checksum of a block-aligned chunk folded from its file's block checksums (what
/// replaces reading and checksumming the chunk when it goes by `sendfile`).
fn block_range(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("f");
    let data: Vec<u8> = (0..(64u32 << 20)).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&path, &data).expect("write");
    let blocks = rrbench::index::BlockCrcs::of_file(&path).expect("read");
    let mut group = c.benchmark_group("checksum");
    for (label, size) in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("block_range/{label}"), |b| {
            b.iter(|| blocks.range(std::hint::black_box(size as u64), size as u64))
        });
    }
    group.finish();
}

criterion_group!(benches, checksum, block_range);
criterion_main!(benches);
