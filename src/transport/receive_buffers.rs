//! Receive buffers a channel's reader takes again once the chunks read into them are written.
//!
//! A chunk's bytes travel from the socket into a buffer, through the checksum, and into the part
//! file's `pwrite`; then they are dropped. Allocating a fresh buffer of a MiB for each chunk costs
//! a `malloc` and, for pages the allocator has handed back, a page fault per 4 KiB. Here a chunk
//! is a [`Bytes`] whose owner puts the buffer back on its last drop (on whichever thread that
//! is), and the reader takes it for a later chunk. Small frames are not worth it and take a
//! plain allocation; at most [`IDLE_BUFFERS`] buffers and [`IDLE_BYTES`] bytes wait idle, so a
//! burst of large chunks does not pin its memory for the rest of the recovery.

use std::sync::{Arc, Mutex, Weak};

use bytes::{Bytes, BytesMut};

/// Payloads shorter than this are read into a fresh allocation.
pub const POOLED_FROM: usize = 64 << 10;
/// At most this many idle buffers are kept.
pub const IDLE_BUFFERS: usize = 8;
/// At most this many bytes of idle buffers are kept.
pub const IDLE_BYTES: usize = 32 << 20;

/// One channel reader's pool of receive buffers. Cloning shares the pool.
#[derive(Clone, Default)]
pub struct ReceiveBuffers {
    idle: Arc<Mutex<Vec<BytesMut>>>,
}

impl ReceiveBuffers {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty buffer with room for `len` bytes: an idle one large enough if there is one,
    /// else a new allocation.
    pub fn take(&self, len: usize) -> BytesMut {
        if len >= POOLED_FROM {
            let mut idle = lock(&self.idle);
            if let Some(i) = idle.iter().position(|b| b.capacity() >= len) {
                return idle.swap_remove(i);
            }
        }
        BytesMut::with_capacity(len)
    }

    /// The bytes of `buffer`, shared; a pooled-size buffer comes back to this pool when the last
    /// clone or slice of them is dropped.
    pub fn share(&self, buffer: BytesMut) -> Bytes {
        if buffer.capacity() < POOLED_FROM {
            return buffer.freeze();
        }
        Bytes::from_owner(Pooled {
            buffer,
            home: Arc::downgrade(&self.idle),
        })
    }

    /// How many buffers are idle, and their bytes of capacity.
    pub fn idle(&self) -> (usize, usize) {
        let idle = lock(&self.idle);
        (idle.len(), idle.iter().map(BytesMut::capacity).sum())
    }
}

fn lock(idle: &Mutex<Vec<BytesMut>>) -> std::sync::MutexGuard<'_, Vec<BytesMut>> {
    idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A pooled buffer lent out as [`Bytes`]; goes home when dropped.
struct Pooled {
    buffer: BytesMut,
    home: Weak<Mutex<Vec<BytesMut>>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // The channel (and its pool) may be gone: then the buffer is simply freed.
        let Some(home) = self.home.upgrade() else {
            return;
        };
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let mut idle = lock(&home);
        let held: usize = idle.iter().map(BytesMut::capacity).sum();
        if idle.len() < IDLE_BUFFERS && held + buffer.capacity() <= IDLE_BYTES {
            idle.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(buffers: &ReceiveBuffers, len: usize, byte: u8) -> Bytes {
        let mut b = buffers.take(len);
        b.resize(len, byte);
        buffers.share(b)
    }

    #[test]
    fn a_dropped_chunk_returns_its_buffer_and_the_next_take_reuses_it() {
        let buffers = ReceiveBuffers::new();
        let chunk = filled(&buffers, 1 << 20, 7);
        let at = chunk.as_ptr();
        assert_eq!(buffers.idle(), (0, 0), "lent out, not idle");
        drop(chunk);
        let (count, bytes) = buffers.idle();
        assert_eq!(count, 1);
        assert!(bytes >= 1 << 20);
        let again = buffers.take(1 << 20);
        assert_eq!(again.as_ptr(), at, "the same allocation");
        assert!(again.is_empty(), "a taken buffer holds no old bytes");
        assert_eq!(buffers.idle(), (0, 0));
    }

    #[test]
    fn a_buffer_stays_lent_while_any_slice_of_it_lives() {
        let buffers = ReceiveBuffers::new();
        let chunk = filled(&buffers, 256 << 10, 1);
        let tail = chunk.slice(20..);
        drop(chunk);
        assert_eq!(buffers.idle().0, 0);
        assert!(tail.iter().all(|&b| b == 1), "the bytes are intact");
        drop(tail);
        assert_eq!(buffers.idle().0, 1);
    }

    #[test]
    fn small_payloads_are_not_pooled() {
        let buffers = ReceiveBuffers::new();
        drop(filled(&buffers, 100, 0));
        assert_eq!(buffers.idle(), (0, 0));
    }

    #[test]
    fn a_take_larger_than_every_idle_buffer_allocates() {
        let buffers = ReceiveBuffers::new();
        drop(filled(&buffers, 128 << 10, 0));
        let big = buffers.take(1 << 20);
        assert!(big.capacity() >= 1 << 20);
        assert_eq!(buffers.idle().0, 1, "the small one still waits");
    }

    #[test]
    fn idle_buffers_are_capped_by_count_and_bytes() {
        let buffers = ReceiveBuffers::new();
        let many: Vec<Bytes> = (0..IDLE_BUFFERS + 3)
            .map(|_| filled(&buffers, POOLED_FROM, 0))
            .collect();
        drop(many);
        assert_eq!(buffers.idle().0, IDLE_BUFFERS);

        let buffers = ReceiveBuffers::new();
        let big: Vec<Bytes> = (0..4).map(|_| filled(&buffers, 12 << 20, 0)).collect();
        drop(big);
        let (count, bytes) = buffers.idle();
        assert!(bytes <= IDLE_BYTES, "{bytes} idle bytes");
        assert_eq!(count, 2, "two of 12 MiB fit under 32 MiB");
    }

    #[test]
    fn a_chunk_outliving_its_pool_is_simply_freed() {
        let buffers = ReceiveBuffers::new();
        let chunk = filled(&buffers, 1 << 20, 3);
        drop(buffers);
        assert_eq!(chunk.len(), 1 << 20);
        drop(chunk);
    }
}
