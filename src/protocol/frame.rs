//! Frame header layout, whole-frame encoding, and a streaming decoder.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{Kind, Message, ProtocolError};

/// The first two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"RR";
/// The protocol version this build speaks.
pub const VERSION: u8 = 3;
/// Length of the fixed frame header.
pub const HEADER_LEN: usize = 16;

/// A validated frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The message kind.
    pub kind: Kind,
    /// Request id; a response carries its request's id.
    pub request_id: u64,
    /// Length of the payload that follows.
    pub payload_len: u32,
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Request id.
    pub request_id: u64,
    /// The message.
    pub message: Message,
}

/// A frame ready to be written: header and fixed fields in `head`, then bulk `data` (a chunk's
/// bytes, shared rather than copied; empty for other messages).
#[derive(Clone, Debug)]
pub struct EncodedFrame {
    /// Header plus the payload's fixed fields.
    pub head: Bytes,
    /// Bulk bytes that follow `head`.
    pub data: Bytes,
}

impl AsRef<EncodedFrame> for EncodedFrame {
    fn as_ref(&self) -> &EncodedFrame {
        self
    }
}

impl EncodedFrame {
    /// Total bytes on the wire.
    pub fn len(&self) -> usize {
        self.head.len() + self.data.len()
    }

    /// Whether the frame is empty (never, for a real frame).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame as one contiguous buffer (copies; for tests and small frames).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        v.extend_from_slice(&self.head);
        v.extend_from_slice(&self.data);
        v
    }
}

/// Encodes a message with its request id.
pub fn encode(request_id: u64, message: &Message) -> Result<EncodedFrame, ProtocolError> {
    let mut head = BytesMut::with_capacity(HEADER_LEN + 64);
    head.put_slice(&MAGIC);
    head.put_u8(VERSION);
    head.put_u8(message.kind() as u8);
    head.put_u64(request_id);
    head.put_u32(0); // payload length, patched below
    let data = message.encode_payload(&mut head)?;
    let payload_len = head.len() - HEADER_LEN + data.len();
    let payload_len =
        u32::try_from(payload_len).map_err(|_| ProtocolError::TooLong(payload_len))?;
    head[12..16].copy_from_slice(&payload_len.to_be_bytes());
    Ok(EncodedFrame {
        head: head.freeze(),
        data,
    })
}

/// Encodes a message whose bulk bytes the caller writes itself, `more` bytes straight after the
/// returned frame (the leader sends a chunk's bytes from the page cache with `sendfile`): the
/// payload length counts them, so `frame ‖ more bytes` is what [`encode`] gives for the message
/// with those bytes as its data.
pub fn encode_followed_by(
    request_id: u64,
    message: &Message,
    more: u32,
) -> Result<EncodedFrame, ProtocolError> {
    let mut frame = encode(request_id, message)?;
    let mut len = [0u8; 4];
    len.copy_from_slice(&frame.head[12..16]);
    let total = u64::from(u32::from_be_bytes(len)) + u64::from(more);
    let total = u32::try_from(total).map_err(|_| ProtocolError::TooLong(total as usize))?;
    let mut head = BytesMut::from(&frame.head[..]);
    head[12..16].copy_from_slice(&total.to_be_bytes());
    frame.head = head.freeze();
    Ok(frame)
}

/// Validates a header; refuses a payload longer than `max_payload` before anything is allocated.
pub fn decode_header(buf: &[u8; HEADER_LEN], max_payload: u32) -> Result<Header, ProtocolError> {
    let mut b = &buf[..];
    let magic = [b.get_u8(), b.get_u8()];
    if magic != MAGIC {
        return Err(ProtocolError::BadMagic(magic));
    }
    let version = b.get_u8();
    if version != VERSION {
        return Err(ProtocolError::UnsupportedVersion(version));
    }
    let kind_byte = b.get_u8();
    let kind = Kind::from_u8(kind_byte).ok_or(ProtocolError::UnknownKind(kind_byte))?;
    let request_id = b.get_u64();
    let payload_len = b.get_u32();
    if payload_len > max_payload {
        return Err(ProtocolError::FrameTooLarge {
            len: payload_len,
            max: max_payload,
        });
    }
    Ok(Header {
        kind,
        request_id,
        payload_len,
    })
}

/// Decodes the payload that followed `header`.
pub fn decode_payload(header: &Header, payload: Bytes) -> Result<Frame, ProtocolError> {
    Ok(Frame {
        request_id: header.request_id,
        message: Message::decode_payload(header.kind, payload)?,
    })
}

/// Streaming decode: takes one whole frame off the front of `buf`, or returns `None` if more
/// bytes are needed. The header is validated as soon as its 16 bytes are there.
pub fn decode_frame(buf: &mut BytesMut, max_payload: u32) -> Result<Option<Frame>, ProtocolError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let mut raw = [0u8; HEADER_LEN];
    raw.copy_from_slice(head);
    let header = decode_header(&raw, max_payload)?;
    let total = HEADER_LEN + header.payload_len as usize;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    let payload = buf.split_to(header.payload_len as usize).freeze();
    decode_payload(&header, payload).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorCode, FileMeta};

    fn samples() -> Vec<Message> {
        vec![
            Message::Hello {
                version: 1,
                auth: "secret".into(),
            },
            Message::HelloAck { version: 1 },
            Message::OpenSession {
                index: "index".into(),
                shard: 3,
            },
            Message::SessionOpened {
                session: 42,
                shards: 5,
                files: vec![
                    FileMeta {
                        name: "_0.cfs".into(),
                        len: 1 << 30,
                        crc32c: 0xdead_beef,
                    },
                    FileMeta {
                        name: "segments_1".into(),
                        len: 0,
                        crc32c: 0,
                    },
                ],
            },
            Message::GetChunk {
                session: 42,
                file: 1,
                offset: 1 << 33,
                len: 1 << 20,
            },
            Message::Chunk {
                file: 3,
                offset: 7,
                crc32c: 9,
                throttled_micros: 1500,
                data: Bytes::from_static(b"chunk bytes"),
            },
            Message::CloseSession { session: 42 },
            Message::SessionClosed { session: 42 },
            Message::Ping { nonce: 5 },
            Message::Pong { nonce: 5 },
            Message::Error {
                code: ErrorCode::UnknownSession,
                message: "no such session".into(),
            },
            Message::Error {
                code: ErrorCode::Other(999),
                message: String::new(),
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for (id, m) in samples().into_iter().enumerate() {
            let frame = encode(id as u64, &m).expect("encode");
            let mut buf = BytesMut::from(&frame.to_vec()[..]);
            let got = decode_frame(&mut buf, u32::MAX)
                .expect("decode")
                .expect("whole");
            assert_eq!(got.request_id, id as u64);
            assert_eq!(got.message, m);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn a_frame_followed_by_its_bytes_is_the_frame_with_them() {
        let data = Bytes::from_static(b"bytes sent from the page cache");
        let chunk = |data: Bytes| Message::Chunk {
            file: 3,
            offset: 1 << 20,
            crc32c: 0xfeed,
            throttled_micros: 7,
            data,
        };
        let whole = encode(9, &chunk(data.clone())).expect("encode").to_vec();
        let head = encode_followed_by(9, &chunk(Bytes::new()), data.len() as u32).expect("head");
        let mut split = head.to_vec();
        split.extend_from_slice(&data);
        assert_eq!(split, whole);
        let mut buf = BytesMut::from(&split[..]);
        let frame = decode_frame(&mut buf, 1 << 20)
            .expect("valid")
            .expect("whole");
        assert_eq!(frame.message, chunk(data));
        assert!(encode_followed_by(9, &chunk(Bytes::new()), u32::MAX).is_err());
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let bytes = encode(7, &Message::Ping { nonce: 1 })
            .expect("encode")
            .to_vec();
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(decode_frame(&mut buf, 1024), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn oversized_frame_is_refused_from_the_header_alone() {
        let mut raw = [0u8; HEADER_LEN];
        raw[..4].copy_from_slice(&[b'R', b'R', VERSION, Kind::Chunk as u8]);
        raw[12..].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = decode_header(&raw, 1 << 20).expect_err("too large");
        assert_eq!(
            err,
            ProtocolError::FrameTooLarge {
                len: u32::MAX,
                max: 1 << 20
            }
        );
        assert_eq!(err.code(), ErrorCode::FrameTooLarge);
    }

    #[test]
    fn bad_magic_version_and_kind_are_refused() {
        let good = encode(1, &Message::Ping { nonce: 1 })
            .expect("encode")
            .to_vec();
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(matches!(
            decode_frame(&mut BytesMut::from(&bad[..]), 64),
            Err(ProtocolError::BadMagic(_))
        ));
        let mut bad = good.clone();
        bad[2] = 9;
        assert_eq!(
            decode_frame(&mut BytesMut::from(&bad[..]), 64),
            Err(ProtocolError::UnsupportedVersion(9))
        );
        let mut bad = good;
        bad[3] = 200;
        assert_eq!(
            decode_frame(&mut BytesMut::from(&bad[..]), 64),
            Err(ProtocolError::UnknownKind(200))
        );
    }

    #[test]
    fn truncated_and_trailing_payloads_are_refused() {
        let mut short = encode(1, &Message::Ping { nonce: 1 })
            .expect("encode")
            .to_vec();
        short.truncate(HEADER_LEN + 4);
        short[12..16].copy_from_slice(&4u32.to_be_bytes());
        assert_eq!(
            decode_frame(&mut BytesMut::from(&short[..]), 64),
            Err(ProtocolError::Truncated { kind: Kind::Ping })
        );
        let mut long = encode(1, &Message::Ping { nonce: 1 })
            .expect("encode")
            .to_vec();
        long.push(0);
        long[12..16].copy_from_slice(&9u32.to_be_bytes());
        assert_eq!(
            decode_frame(&mut BytesMut::from(&long[..]), 64),
            Err(ProtocolError::TrailingBytes {
                kind: Kind::Ping,
                extra: 1
            })
        );
    }

    #[test]
    fn a_huge_file_count_does_not_allocate() {
        let mut frame = encode(
            1,
            &Message::SessionOpened {
                session: 1,
                shards: 1,
                files: vec![],
            },
        )
        .expect("encode")
        .to_vec();
        let n = frame.len();
        frame[n - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            decode_frame(&mut BytesMut::from(&frame[..]), 64),
            Err(ProtocolError::Truncated {
                kind: Kind::SessionOpened
            })
        );
    }

    #[test]
    fn chunk_data_is_not_copied_into_the_head() {
        let data = Bytes::from(vec![7u8; 1 << 20]);
        let frame = encode(
            1,
            &Message::Chunk {
                file: 0,
                offset: 0,
                crc32c: 0,
                throttled_micros: 0,
                data: data.clone(),
            },
        )
        .expect("encode");
        assert_eq!(frame.head.len(), HEADER_LEN + 20);
        assert_eq!(frame.data.as_ptr(), data.as_ptr());
    }
}
