//! Checked big-endian field reads and writes, so a short payload is an error and never a panic.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{ProtocolError, message::Kind};

/// Reads fields from one message's payload, failing with `Truncated` instead of panicking.
pub(crate) struct FieldReader {
    kind: Kind,
    buf: Bytes,
}

impl FieldReader {
    pub(crate) fn new(kind: Kind, buf: Bytes) -> Self {
        Self { kind, buf }
    }

    fn need(&self, n: usize) -> Result<(), ProtocolError> {
        if self.buf.remaining() < n {
            return Err(ProtocolError::Truncated { kind: self.kind });
        }
        Ok(())
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ProtocolError> {
        self.need(2)?;
        Ok(self.buf.get_u16())
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ProtocolError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    pub(crate) fn u64(&mut self) -> Result<u64, ProtocolError> {
        self.need(8)?;
        Ok(self.buf.get_u64())
    }

    /// A string written as a u16 length and UTF-8 bytes.
    pub(crate) fn string(&mut self) -> Result<String, ProtocolError> {
        let len = usize::from(self.u16()?);
        self.need(len)?;
        let raw = self.buf.split_to(len);
        String::from_utf8(raw.to_vec()).map_err(|_| ProtocolError::BadUtf8 { kind: self.kind })
    }

    /// Everything that is left, without copying.
    pub(crate) fn rest(&mut self) -> Bytes {
        self.buf.split_off(0)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.remaining()
    }

    /// Fails if any byte is left over.
    pub(crate) fn finish(self) -> Result<(), ProtocolError> {
        match self.buf.remaining() {
            0 => Ok(()),
            extra => Err(ProtocolError::TrailingBytes {
                kind: self.kind,
                extra,
            }),
        }
    }
}

/// Writes a string as a u16 length and its UTF-8 bytes.
pub(crate) fn put_string(buf: &mut BytesMut, s: &str) -> Result<(), ProtocolError> {
    let len = u16::try_from(s.len()).map_err(|_| ProtocolError::TooLong(s.len()))?;
    buf.put_u16(len);
    buf.put_slice(s.as_bytes());
    Ok(())
}
