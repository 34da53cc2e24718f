//! Read buffers for chunk responses that cannot go by `sendfile` (TLS, QUIC, in-memory
//! streams, ranges that are not block-aligned), handed back for reuse once written.
//!
//! A fresh `vec![0; len]` per chunk cost a 1 MiB `memset` each (perf: 10 % of the leader's CPU
//! in a loopback recovery) on top of the allocation. One pool serves every connection of a
//! node and keeps at most [`NODE_BUFFERS`] free buffers (a pool per connection kept 480 MiB
//! resident for 64 followers at once, against 160 MiB without one): a buffer goes back when the
//! last `Bytes` sharing it is dropped. What the buffers hold between uses is a previous chunk's
//! bytes: every user overwrites the whole range it takes.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Buffers larger than this are freed rather than kept (a `chunk_size` of hundreds of MiB should
/// not stay resident for a connection's life).
const KEEP_AT_MOST_BYTES: usize = 16 << 20;

/// Free buffers a node keeps for its connections.
pub(crate) const NODE_BUFFERS: usize = 8;

/// The free buffers of one node.
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl BufferPool {
    /// A pool that keeps at most `keep` free buffers.
    pub(crate) fn new(keep: usize) -> Arc<Self> {
        Arc::new(Self {
            free: Mutex::new(Vec::new()),
            keep,
        })
    }

    /// A buffer of `len` bytes, zeroed only where no earlier chunk wrote.
    pub(crate) fn take(self: &Arc<Self>, len: usize) -> PooledBuf {
        let mut buf = self.lock().pop().unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        PooledBuf {
            buf,
            len,
            pool: self.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn free_count(&self) -> usize {
        self.lock().len()
    }
}

/// A buffer taken from a [`BufferPool`]; it goes back when dropped.
#[derive(Debug)]
pub(crate) struct PooledBuf {
    buf: Vec<u8>,
    len: usize,
    pool: Arc<BufferPool>,
}

impl PooledBuf {
    /// The bytes to fill.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }

    /// Shares the buffer as `Bytes`; it returns to the pool when the last clone is dropped.
    pub(crate) fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.capacity() > KEEP_AT_MOST_BYTES {
            return;
        }
        let mut free = self.pool.lock();
        if free.len() < self.pool.keep {
            free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_when_its_bytes_are_dropped_and_is_reused() {
        let pool = BufferPool::new(2);
        let mut a = pool.take(8);
        a.as_mut_slice().copy_from_slice(b"abcdefgh");
        let bytes = a.freeze();
        let clone = bytes.slice(2..4);
        assert_eq!(&bytes[..], b"abcdefgh");
        drop(bytes);
        assert_eq!(pool.free_count(), 0, "a slice still shares it");
        assert_eq!(&clone[..], b"cd");
        drop(clone);
        assert_eq!(pool.free_count(), 1);
        // Shorter, then longer than before: the length asked for, whatever the buffer held.
        let b = pool.take(3);
        assert_eq!(b.as_ref().len(), 3);
        drop(b);
        let c = pool.take(20);
        assert_eq!(c.as_ref().len(), 20);
        let (d, e) = (pool.take(1), pool.take(1));
        drop((c, d, e));
        assert_eq!(pool.free_count(), 2, "keeps at most 2");
    }

    #[test]
    fn huge_buffers_are_not_kept() {
        let pool = BufferPool::new(2);
        drop(pool.take(KEEP_AT_MOST_BYTES + 1));
        assert_eq!(pool.free_count(), 0);
    }
}
