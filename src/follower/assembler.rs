//! Folding the checksums of a file's chunks, arriving in any order, into the file's checksum.

use std::collections::BTreeMap;

use crate::index::Crc32cCombine;

/// A chunk that does not fit the file it claims to belong to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chunk at offset {offset} (+{len}) overlaps or runs past a file of {file_len} bytes")]
pub struct BadChunk {
    /// The chunk's offset.
    pub offset: u64,
    /// The chunk's length.
    pub len: u64,
    /// The file's length.
    pub file_len: u64,
}

/// One file being received.
#[derive(Debug)]
pub struct FileAssembler {
    len: u64,
    /// Bytes `[0, contiguous)` are in and folded into `crc`.
    contiguous: u64,
    crc: u32,
    /// Chunks past a gap: offset → (len, crc).
    pending: BTreeMap<u64, (u64, u32)>,
    /// The combine operator for the last length folded in: every chunk but a file's last has
    /// the same length, and computing the operator costs more than applying it.
    combine: Crc32cCombine,
}

impl FileAssembler {
    /// A file of `len` bytes, nothing received.
    pub fn new(len: u64) -> Self {
        Self {
            len,
            contiguous: 0,
            crc: 0,
            pending: BTreeMap::new(),
            combine: Crc32cCombine::for_len(0),
        }
    }

    /// Records a received chunk and its CRC-32C.
    pub fn add(&mut self, offset: u64, len: u64, crc: u32) -> Result<(), BadChunk> {
        let bad = BadChunk {
            offset,
            len,
            file_len: self.len,
        };
        let end = offset.checked_add(len).ok_or(bad.clone())?;
        let overlaps_next = self
            .pending
            .range(offset..)
            .next()
            .is_some_and(|(&o, _)| o < end);
        let overlaps_prev = self
            .pending
            .range(..offset)
            .next_back()
            .is_some_and(|(&o, &(l, _))| o + l > offset);
        if len == 0 || end > self.len || offset < self.contiguous || overlaps_next || overlaps_prev
        {
            return Err(bad);
        }
        self.pending.insert(offset, (len, crc));
        while let Some((len, crc)) = self.pending.remove(&self.contiguous) {
            if self.combine.len() != len {
                self.combine = Crc32cCombine::for_len(len);
            }
            self.crc = self.combine.apply(self.crc, crc);
            self.contiguous += len;
        }
        Ok(())
    }

    /// Whether every byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.contiguous == self.len
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.contiguous + self.pending.values().map(|(l, _)| l).sum::<u64>()
    }

    /// The byte ranges `[start, end)` not received yet, in order.
    pub fn missing(&self) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut at = self.contiguous;
        for (&offset, &(len, _)) in &self.pending {
            if offset > at {
                gaps.push((at, offset));
            }
            at = offset + len;
        }
        if at < self.len {
            gaps.push((at, self.len));
        }
        gaps
    }

    /// CRC-32C of the contiguous prefix (the whole file once complete).
    pub fn crc(&self) -> u32 {
        self.crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_chunks_give_the_file_checksum() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 253) as u8).collect();
        let mut a = FileAssembler::new(1000);
        for (offset, len) in [(600u64, 400u64), (0, 300), (300, 300)] {
            let piece = &data[offset as usize..(offset + len) as usize];
            assert!(!a.is_complete());
            a.add(offset, len, crc32c::crc32c(piece)).expect("fits");
        }
        assert!(a.is_complete());
        assert_eq!(a.received(), 1000);
        assert_eq!(a.crc(), crc32c::crc32c(&data));
    }

    #[test]
    fn chunks_of_changing_lengths_fold_right_through_the_cached_operator() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        // Lengths that change from one fold to the next, and back, arriving out of order.
        let pieces = [
            (0u64, 4096u64),
            (4096, 4096),
            (8192, 100),
            (8292, 4096),
            (12_388, 37_612),
        ];
        for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 3, 0, 4, 2]] {
            let mut a = FileAssembler::new(data.len() as u64);
            for i in order {
                let (offset, len) = pieces[i];
                let piece = &data[offset as usize..(offset + len) as usize];
                a.add(offset, len, crc32c::crc32c(piece)).expect("fits");
            }
            assert!(a.is_complete());
            assert_eq!(a.crc(), crc32c::crc32c(&data), "order {order:?}");
        }
    }

    #[test]
    fn overlapping_duplicate_or_oversized_chunks_are_refused() {
        let mut a = FileAssembler::new(100);
        a.add(0, 10, 0).expect("first");
        a.add(50, 10, 0).expect("past a gap");
        assert!(a.add(0, 10, 0).is_err(), "duplicate of folded chunk");
        assert!(a.add(50, 10, 0).is_err(), "duplicate of pending chunk");
        assert!(a.add(45, 10, 0).is_err(), "overlaps the next");
        assert!(a.add(55, 10, 0).is_err(), "overlaps the previous");
        assert!(a.add(95, 10, 0).is_err(), "past the end");
        assert!(a.add(20, 0, 0).is_err(), "empty");
        assert!(a.add(u64::MAX, 2, 0).is_err(), "overflow");
        assert_eq!(a.received(), 20);
        assert_eq!(a.missing(), vec![(10, 50), (60, 100)]);
        assert_eq!(FileAssembler::new(0).missing(), vec![]);
    }
}
