//! Which chunk to request next, and whether the window allows it: pure, no I/O.
//!
//! Elasticsearch's `CcrRepository` numbers chunk requests with a sequence number across all
//! files and, before sending request `s`, waits until every request up to
//! `s - max_concurrent_file_chunks` has been *processed* (its bytes throttled and written). So the
//! window is counted from the oldest outstanding request: one slow chunk at the head blocks new
//! requests even if later ones are done (head-of-line). Files are requested in order; chunks of
//! one file may be in flight together and complete in any order.

use std::collections::BTreeSet;

/// A chunk request planned by the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRequest {
    /// Sequence number, counting from 0 across all files.
    pub seq: u64,
    /// Index of the file in the session's list.
    pub file: u32,
    /// Byte offset in the file.
    pub offset: u64,
    /// Bytes requested.
    pub len: u32,
}

/// Plans chunk requests over a file list and enforces the window.
#[derive(Debug)]
pub struct ChunkWindow {
    /// Per file, the byte ranges still to fetch, in order.
    ranges: Vec<Vec<(u64, u64)>>,
    next_range: usize,
    chunk_size: u64,
    max_concurrent: u64,
    next_file: usize,
    next_offset: u64,
    next_seq: u64,
    /// Every sequence number below this has been processed.
    processed_below: u64,
    /// Processed sequence numbers above the contiguous prefix.
    processed_above: BTreeSet<u64>,
}

impl ChunkWindow {
    /// A window over files of these lengths. Zero-length files get no request. `chunk_size` is
    /// at most `u32::MAX` bytes (settings cap it at 1 GiB).
    pub fn new(file_lens: Vec<u64>, chunk_size: u64, max_concurrent: u32) -> Self {
        let ranges = file_lens.iter().map(|&len| vec![(0, len)]).collect();
        Self::for_ranges(ranges, chunk_size, max_concurrent)
    }

    /// A window over only the missing byte ranges `[start, end)` of each file (a resumed
    /// recovery). Empty ranges are skipped.
    pub fn for_ranges(ranges: Vec<Vec<(u64, u64)>>, chunk_size: u64, max_concurrent: u32) -> Self {
        let mut w = Self {
            ranges,
            next_range: 0,
            chunk_size: chunk_size.clamp(1, u64::from(u32::MAX)),
            max_concurrent: u64::from(max_concurrent.max(1)),
            next_file: 0,
            next_offset: 0,
            next_seq: 0,
            processed_below: 0,
            processed_above: BTreeSet::new(),
        };
        w.skip_finished_files();
        w
    }

    /// Moves the cursor to the next byte still to request.
    fn skip_finished_files(&mut self) {
        while self.next_file < self.ranges.len() {
            match self.ranges[self.next_file].get(self.next_range) {
                Some(&(start, end)) if self.next_offset.max(start) < end => {
                    self.next_offset = self.next_offset.max(start);
                    return;
                }
                Some(_) => self.next_range += 1,
                None => {
                    self.next_file += 1;
                    self.next_range = 0;
                    self.next_offset = 0;
                }
            }
        }
    }

    /// Requests issued but not yet counted out of the window (from the oldest outstanding one).
    pub fn in_window(&self) -> u64 {
        self.next_seq - self.processed_below
    }

    /// Whether a later request is processed while an earlier one is not: the oldest outstanding
    /// request holds the window (head-of-line).
    pub fn is_head_of_line_blocked(&self) -> bool {
        !self.processed_above.is_empty()
    }

    /// Whether every chunk has been requested.
    pub fn all_requested(&self) -> bool {
        self.next_file >= self.ranges.len()
    }

    /// Whether every chunk has been requested and processed.
    pub fn is_done(&self) -> bool {
        self.all_requested() && self.processed_below == self.next_seq
    }

    /// The next request, if the window has room and chunks remain.
    pub fn next_request(&mut self) -> Option<ChunkRequest> {
        if self.all_requested() || self.in_window() >= self.max_concurrent {
            return None;
        }
        let end = self.ranges[self.next_file][self.next_range].1;
        let remaining = end - self.next_offset;
        let len = remaining.min(self.chunk_size);
        let request = ChunkRequest {
            seq: self.next_seq,
            file: self.next_file as u32,
            offset: self.next_offset,
            len: len as u32,
        };
        self.next_seq += 1;
        self.next_offset += len;
        self.skip_finished_files();
        Some(request)
    }

    /// Request `seq` has been processed (throttled and written).
    pub fn mark_processed(&mut self, seq: u64) {
        if seq < self.processed_below || seq >= self.next_seq {
            return;
        }
        self.processed_above.insert(seq);
        while self.processed_above.remove(&self.processed_below) {
            self.processed_below += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(w: &mut ChunkWindow) -> Vec<ChunkRequest> {
        std::iter::from_fn(|| w.next_request()).collect()
    }

    #[test]
    fn files_are_split_in_order_into_chunks() {
        let mut w = ChunkWindow::new(vec![10, 0, 25], 10, 10);
        let got: Vec<_> = drain(&mut w)
            .iter()
            .map(|r| (r.file, r.offset, r.len))
            .collect();
        assert_eq!(got, vec![(0, 0, 10), (2, 0, 10), (2, 10, 10), (2, 20, 5)]);
        assert!(w.all_requested());
        assert!(!w.is_done());
    }

    #[test]
    fn the_window_holds_at_most_max_requests() {
        let mut w = ChunkWindow::new(vec![100], 10, 3);
        assert_eq!(drain(&mut w).len(), 3);
        assert_eq!(w.in_window(), 3);
        w.mark_processed(0);
        assert_eq!(drain(&mut w).len(), 1);
    }

    #[test]
    fn the_window_counts_from_the_oldest_outstanding_request() {
        let mut w = ChunkWindow::new(vec![100], 10, 3);
        drain(&mut w); // 0, 1, 2
        w.mark_processed(1);
        w.mark_processed(2);
        assert_eq!(
            w.next_request(),
            None,
            "request 0 still outstanding blocks the window"
        );
        w.mark_processed(0);
        let next: Vec<_> = drain(&mut w).iter().map(|r| r.seq).collect();
        assert_eq!(next, vec![3, 4, 5]);
    }

    #[test]
    fn done_when_everything_is_processed_in_any_order() {
        let mut w = ChunkWindow::new(vec![30, 5], 10, 10);
        let reqs = drain(&mut w);
        for r in reqs.iter().rev() {
            assert!(!w.is_done());
            w.mark_processed(r.seq);
        }
        assert!(w.is_done());
    }

    #[test]
    fn empty_file_lists_are_done_at_once_and_stray_marks_are_ignored() {
        let mut w = ChunkWindow::new(vec![0, 0], 10, 5);
        assert!(w.is_done());
        w.mark_processed(7);
        assert_eq!(w.next_request(), None);
    }

    #[test]
    fn only_missing_ranges_are_requested() {
        let mut w = ChunkWindow::for_ranges(
            vec![vec![(10, 35)], vec![], vec![(0, 5), (20, 20), (40, 45)]],
            10,
            10,
        );
        let got: Vec<_> = drain(&mut w)
            .iter()
            .map(|r| (r.file, r.offset, r.len))
            .collect();
        assert_eq!(
            got,
            vec![(0, 10, 10), (0, 20, 10), (0, 30, 5), (2, 0, 5), (2, 40, 5)]
        );
    }

    #[test]
    fn a_one_chunk_window_is_strictly_sequential() {
        let mut w = ChunkWindow::new(vec![35], 10, 1);
        let mut seen = vec![];
        while let Some(r) = w.next_request() {
            assert_eq!(w.next_request(), None);
            seen.push(r.offset);
            w.mark_processed(r.seq);
        }
        assert_eq!(seen, vec![0, 10, 20, 30]);
        assert!(w.is_done());
    }
}
