//! CRC-32C of files, and combining chunk checksums into a file checksum.
//!
//! The `crc32c` crate uses the CPU's SSE 4.2 / ARMv8 CRC instructions when present, with a
//! software fallback. Combining lets the follower verify a whole file from its chunks' checksums
//! without reading the file back.

use std::{fs::File, io::Read, path::Path};

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

/// The CRC-32C of `a ‖ b`, given `crc(a)`, `crc(b)` and `b`'s length.
pub fn crc32c_combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    crc32c::crc32c_combine(crc_a, crc_b, len_b as usize)
}

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
}
