//! CRC-32C of files, and combining chunk checksums into a file checksum.
//!
//! The `crc32c` crate uses the CPU's SSE 4.2 / ARMv8 CRC instructions when present, with a
//! software fallback. Combining lets the follower verify a whole file from its chunks' checksums
//! without reading the file back.
//!
//! Combining is done here rather than with `crc32c::crc32c_combine`, whose GF(2) matrix
//! squaring cost more per call than checksumming a 64 KiB chunk (perf: 5.7 % of a follower's CPU
//! in a loopback recovery). `crc(a ‖ b) = crc(a) · x^(8·len(b)) ⊕ crc(b)` in GF(2)[x] mod the
//! CRC polynomial (zlib's `crc32_combine_gen`/`crc32_combine_op` split): the operator
//! `x^(8·len) mod P` depends only on the length, so [`Crc32cCombine`] computes it once and every
//! chunk of that length is then folded in with one 32-step carry-less multiply.

use std::{fs::File, io::Read, path::Path, sync::Arc};

use super::IndexError;

/// CRC-32C of a whole file, read in 1 MiB blocks.
pub fn crc32c_file(path: &Path) -> Result<u32, IndexError> {
    let mut file = File::open(path).map_err(IndexError::io(path))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut crc = 0;
    loop {
        let n = file.read(&mut buf).map_err(IndexError::io(path))?;
        if n == 0 {
            return Ok(crc);
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
    }
}

/// Bytes per block of [`BlockCrcs`]: small enough that a chunk of any usual size (1 MiB, 10 MiB,
/// a file's tail) starts and ends on one, large enough that a 1 GiB file keeps 64 KiB of them.
pub const CRC_BLOCK: u64 = 64 << 10;

/// A file's CRC-32C and the CRC-32C of each of its [`CRC_BLOCK`]-byte blocks, taken in the one
/// pass that reads it: the leader answers a block-aligned chunk request with a fold of these
/// and so need not read the chunk's bytes into memory to checksum them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockCrcs {
    len: u64,
    crc: u32,
    blocks: Arc<[u32]>,
}

impl BlockCrcs {
    /// Reads the file at `path` once, in 1 MiB reads.
    pub fn of_file(path: &Path) -> Result<Self, IndexError> {
        Self::read(&File::open(path).map_err(IndexError::io(path))?, path)
    }

    /// Reads an open `file` from its current position to its end (`path` names it in errors).
    pub fn read(mut file: &File, path: &Path) -> Result<Self, IndexError> {
        let mut buf = vec![0u8; 1 << 20];
        let block = Crc32cCombine::for_len(CRC_BLOCK);
        let (mut len, mut crc, mut blocks) = (0u64, 0u32, Vec::new());
        loop {
            // Fill the buffer, so that blocks start at multiples of CRC_BLOCK whatever the reads
            // return.
            let mut filled = 0;
            while filled < buf.len() {
                match file
                    .read(&mut buf[filled..])
                    .map_err(IndexError::io(path))?
                {
                    0 => break,
                    n => filled += n,
                }
            }
            for piece in buf[..filled].chunks(CRC_BLOCK as usize) {
                let c = crc32c::crc32c(piece);
                crc = if piece.len() as u64 == CRC_BLOCK {
                    block.apply(crc, c)
                } else {
                    crc32c_combine(crc, c, piece.len() as u64)
                };
                blocks.push(c);
            }
            len += filled as u64;
            if filled < buf.len() {
                return Ok(Self {
                    len,
                    crc,
                    blocks: blocks.into(),
                });
            }
        }
    }

    /// The file's length when it was read.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole file's CRC-32C.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The CRC-32C of bytes `[offset, offset + len)`, if the range starts on a block and ends on
    /// one or at the end of the file; `None` otherwise (the range must then be read).
    pub fn range(&self, offset: u64, len: u64) -> Option<u32> {
        let end = offset.checked_add(len)?;
        let aligned =
            offset.is_multiple_of(CRC_BLOCK) && (end.is_multiple_of(CRC_BLOCK) || end == self.len);
        if len == 0 || end > self.len || !aligned {
            return None;
        }
        let first = usize::try_from(offset / CRC_BLOCK).ok()?;
        let last = usize::try_from(end.div_ceil(CRC_BLOCK)).ok()?;
        let blocks = self.blocks.get(first..last)?;
        let block = Crc32cCombine::for_len(CRC_BLOCK);
        let (full, tail) = match end % CRC_BLOCK {
            0 => (blocks, None),
            rest => (
                &blocks[..blocks.len() - 1],
                blocks.last().map(|&c| (c, rest)),
            ),
        };
        let crc = full.iter().fold(0, |crc, &c| block.apply(crc, c));
        Some(match tail {
            Some((c, rest)) => crc32c_combine(crc, c, rest),
            None => crc,
        })
    }
}

/// The CRC-32C of `a ‖ b`, given `crc(a)`, `crc(b)` and `b`'s length. Computes the length's
/// operator each call; fold many chunks of one length with [`Crc32cCombine`].
pub fn crc32c_combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    // An empty `b` adds nothing (its CRC is 0 anyway), as the crc32c crate answers.
    if len_b == 0 {
        return crc_a;
    }
    Crc32cCombine::for_len(len_b).apply(crc_a, crc_b)
}

/// The combine operator for one length of `b`: `x^(8·len) mod P`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc32cCombine {
    len: u64,
    op: u32,
}

impl Crc32cCombine {
    /// The operator for appending `len` bytes (at most 64 carry-less multiplies).
    pub fn for_len(len: u64) -> Self {
        let mut op = X0;
        let mut n = len;
        // x^(8·len) = ∏ x^(2^(k+3)) over the set bits k of len.
        let mut k = 3;
        while n != 0 {
            if n & 1 != 0 {
                op = mul_mod_p(X2N[k], op);
            }
            n >>= 1;
            k += 1;
        }
        Self { len, op }
    }

    /// The length this operator appends.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it appends nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The CRC-32C of `a ‖ b` for a `b` of this operator's length.
    pub fn apply(&self, crc_a: u32, crc_b: u32) -> u32 {
        mul_mod_p(self.op, crc_a) ^ crc_b
    }
}

/// The CRC-32C (Castagnoli) polynomial, bit-reflected.
const POLY: u32 = 0x82F6_3B78;
/// `x^0` in the reflected representation (the highest bit is the lowest power).
const X0: u32 = 1 << 31;

/// `a · b mod P` in the reflected representation.
const fn mul_mod_p(a: u32, mut b: u32) -> u32 {
    let mut m = X0;
    let mut p = 0;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    p
}

/// `X2N[k] = x^(2^k) mod P` for every `k` a 64-bit byte length can need (`8·len < 2^67`).
const X2N: [u32; 67] = {
    let mut t = [0u32; 67];
    t[0] = X0 >> 1; // x^1
    let mut k = 1;
    while k < t.len() {
        t[k] = mul_mod_p(t[k - 1], t[k - 1]);
        k += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_equals_checksum_of_concatenation() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for split in [0, 1, 4096, 9999, 10_000] {
            let (a, b) = data.split_at(split);
            let combined = crc32c_combine(crc32c::crc32c(a), crc32c::crc32c(b), b.len() as u64);
            assert_eq!(combined, crc32c::crc32c(&data), "split at {split}");
        }
    }

    #[test]
    fn the_cached_operator_equals_the_crates_combine_for_many_lengths() {
        // Length 0 only has one valid `crc_b` (0, the empty string's); the crate returns `crc_a`
        // for any.
        assert_eq!(Crc32cCombine::for_len(0).apply(0x1234_5678, 0), 0x1234_5678);
        let mut lens: Vec<u64> = (1..=4200).collect();
        for shift in 12..40 {
            let p = 1u64 << shift;
            lens.extend([p - 1, p, p + 1, p + 4095]);
        }
        lens.extend([1 << 20, 10 << 20, (1 << 30) + 7, u32::MAX as u64]);
        let (a, b) = (0x1234_5678, 0x9abc_def0);
        for len in lens {
            let op = Crc32cCombine::for_len(len);
            let expected = crc32c::crc32c_combine(a, b, len as usize);
            assert_eq!(op.apply(a, b), expected, "len {len}");
            assert_eq!(crc32c_combine(a, b, len), expected, "len {len}");
            // The same operator serves every pair of checksums of that length.
            assert_eq!(
                op.apply(!a, b ^ 7),
                crc32c::crc32c_combine(!a, b ^ 7, len as usize)
            );
        }
    }

    #[test]
    fn block_crcs_give_every_aligned_range_and_refuse_the_rest() {
        let dir = tempfile::tempdir().expect("tmp");
        for len in [
            0u64,
            1,
            CRC_BLOCK - 1,
            CRC_BLOCK,
            3 * CRC_BLOCK + 17,
            (1 << 20) + 5,
            40 * CRC_BLOCK,
        ] {
            let data: Vec<u8> = (0..len as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &data).expect("write");
            let blocks = BlockCrcs::of_file(&path).expect("read");
            assert_eq!((blocks.len(), blocks.crc()), (len, crc32c::crc32c(&data)));
            assert_eq!(blocks.crc(), crc32c_file(&path).expect("crc"));
            let b = CRC_BLOCK as usize;
            for start in (0..data.len()).step_by(b) {
                let mut ends: Vec<usize> = (start + b..=data.len()).step_by(b).collect();
                ends.push(data.len());
                for end in ends.into_iter().filter(|&e| e > start) {
                    let got = blocks.range(start as u64, (end - start) as u64);
                    assert_eq!(
                        got,
                        Some(crc32c::crc32c(&data[start..end])),
                        "{len}: {start}..{end}"
                    );
                }
            }
            let len = len as usize;
            for (offset, n) in [(1, b), (0, b + 1), (0, 0), (b, len), (0, len + 1), (len, 1)] {
                if offset + n <= len
                    && offset % b == 0
                    && ((offset + n) % b == 0 || offset + n == len)
                    && n > 0
                {
                    continue;
                }
                assert_eq!(
                    blocks.range(offset as u64, n as u64),
                    None,
                    "{len}: {offset}+{n}"
                );
            }
            assert_eq!(blocks.range(u64::MAX, 2), None);
        }
    }

    #[test]
    fn folding_chunks_with_one_operator_gives_the_files_checksum() {
        let data: Vec<u8> = (0..300_001u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for chunk in [1usize, 7, 4096, 65_536, 100_000] {
            let op = Crc32cCombine::for_len(chunk as u64);
            let mut crc = 0;
            for piece in data.chunks(chunk) {
                crc = if piece.len() == chunk {
                    op.apply(crc, crc32c::crc32c(piece))
                } else {
                    crc32c_combine(crc, crc32c::crc32c(piece), piece.len() as u64)
                };
            }
            assert_eq!(crc, crc32c::crc32c(&data), "chunk {chunk}");
        }
    }
}
