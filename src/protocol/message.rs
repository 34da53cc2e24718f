//! The messages of the recovery protocol and their payload layouts.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use super::{
    ErrorCode, ProtocolError,
    wire::{FieldReader, put_string},
};

/// One file of the leader's index, as listed when a session opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Plain file name (no directory part).
    pub name: String,
    /// Length in bytes.
    pub len: u64,
    /// CRC-32C of the whole file.
    pub crc32c: u32,
}

/// Bytes one `FileMeta` takes at least on the wire: an empty name, length and checksum.
const MIN_FILE_META_LEN: usize = 2 + 8 + 4;

/// What a `Hello` carries to authenticate (an API key's `id:secret`, a shared token, or
/// nothing): a secret, so `{:?}` of a message never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HelloAuth(String);

impl HelloAuth {
    /// The credentials as sent.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The credentials, for whoever checks them.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<String> for HelloAuth {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for HelloAuth {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl std::fmt::Debug for HelloAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.is_empty() {
            true => f.write_str("none"),
            false => write!(f, "[redacted, {} bytes]", self.0.len()),
        }
    }
}

/// The bytes of a [`Message::Chunk`] payload before its data: file (4), offset (8), crc32c (4),
/// throttled_micros (4). A reader can checksum the data as it arrives past them.
pub const CHUNK_FIXED_LEN: usize = 20;

/// A protocol message. Requests go follower → leader, responses leader → follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// First message on a connection: protocol version and an auth token (empty if none).
    Hello {
        /// The follower's protocol version.
        version: u16,
        /// Credentials checked by the leader when it is configured with keys or a token.
        auth: HelloAuth,
    },
    /// The leader accepts the connection.
    HelloAck {
        /// The leader's protocol version.
        version: u16,
    },
    /// Open a recovery session on an index; the session pins its file list.
    OpenSession {
        /// Name of the index to recover.
        index: String,
        /// Which of its shards (0 for an index of one shard).
        shard: u32,
    },
    /// A new session and the files it pins.
    SessionOpened {
        /// Session id, used by every chunk request.
        session: u64,
        /// How many shards the index has (as the leader's cluster state would tell): a follower
        /// asked for another count says so instead of recovering part of the index.
        shards: u32,
        /// Every file to copy, in the order the follower should fetch them.
        files: Vec<FileMeta>,
    },
    /// Ask for `len` bytes of file number `file` starting at `offset`.
    GetChunk {
        /// Session id.
        session: u64,
        /// Index into the session's file list.
        file: u32,
        /// Byte offset in the file.
        offset: u64,
        /// Number of bytes.
        len: u32,
    },
    /// The bytes of a chunk and their CRC-32C as computed by the leader. Its payload is
    /// [`CHUNK_FIXED_LEN`] bytes of fields, then `data`.
    Chunk {
        /// Index into the session's file list.
        file: u32,
        /// Byte offset in the file.
        offset: u64,
        /// CRC-32C of `data`.
        crc32c: u32,
        /// Microseconds the request waited on the leader's rate limiter (saturating): the
        /// follower's time breakdown charges it to the leader, never more than it waited itself.
        throttled_micros: u32,
        /// The chunk's bytes.
        data: Bytes,
    },
    /// Close a session.
    CloseSession {
        /// Session id.
        session: u64,
    },
    /// The session is closed.
    SessionClosed {
        /// Session id.
        session: u64,
    },
    /// Application-level liveness probe.
    Ping {
        /// Echoed in the `Pong`.
        nonce: u64,
    },
    /// Answer to a `Ping`.
    Pong {
        /// The `Ping`'s nonce.
        nonce: u64,
    },
    /// A request was refused.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

/// The message kind byte of a frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// [`Message::Hello`].
    Hello = 1,
    /// [`Message::HelloAck`].
    HelloAck = 2,
    /// [`Message::OpenSession`].
    OpenSession = 3,
    /// [`Message::SessionOpened`].
    SessionOpened = 4,
    /// [`Message::GetChunk`].
    GetChunk = 5,
    /// [`Message::Chunk`].
    Chunk = 6,
    /// [`Message::CloseSession`].
    CloseSession = 7,
    /// [`Message::SessionClosed`].
    SessionClosed = 8,
    /// [`Message::Ping`].
    Ping = 9,
    /// [`Message::Pong`].
    Pong = 10,
    /// [`Message::Error`].
    Error = 11,
}

impl Kind {
    /// From the header byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Hello,
            2 => Self::HelloAck,
            3 => Self::OpenSession,
            4 => Self::SessionOpened,
            5 => Self::GetChunk,
            6 => Self::Chunk,
            7 => Self::CloseSession,
            8 => Self::SessionClosed,
            9 => Self::Ping,
            10 => Self::Pong,
            11 => Self::Error,
            _ => return None,
        })
    }

    /// Whether a follower sends this kind (and a leader receives it).
    pub fn is_request(self) -> bool {
        matches!(
            self,
            Self::Hello | Self::OpenSession | Self::GetChunk | Self::CloseSession | Self::Ping
        )
    }
}

impl Message {
    /// This message's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Hello { .. } => Kind::Hello,
            Self::HelloAck { .. } => Kind::HelloAck,
            Self::OpenSession { .. } => Kind::OpenSession,
            Self::SessionOpened { .. } => Kind::SessionOpened,
            Self::GetChunk { .. } => Kind::GetChunk,
            Self::Chunk { .. } => Kind::Chunk,
            Self::CloseSession { .. } => Kind::CloseSession,
            Self::SessionClosed { .. } => Kind::SessionClosed,
            Self::Ping { .. } => Kind::Ping,
            Self::Pong { .. } => Kind::Pong,
            Self::Error { .. } => Kind::Error,
        }
    }

    /// Writes the payload's fixed fields into `head`; returns bulk data (a chunk's bytes) to be
    /// sent after it without copying.
    pub(crate) fn encode_payload(&self, head: &mut BytesMut) -> Result<Bytes, ProtocolError> {
        match self {
            Self::Hello { version, auth } => {
                head.put_u16(*version);
                put_string(head, auth.expose())?;
            }
            Self::HelloAck { version } => head.put_u16(*version),
            Self::OpenSession { index, shard } => {
                put_string(head, index)?;
                head.put_u32(*shard);
            }
            Self::SessionOpened {
                session,
                shards,
                files,
            } => {
                head.put_u64(*session);
                head.put_u32(*shards);
                let count =
                    u32::try_from(files.len()).map_err(|_| ProtocolError::TooLong(files.len()))?;
                head.put_u32(count);
                for f in files {
                    put_string(head, &f.name)?;
                    head.put_u64(f.len);
                    head.put_u32(f.crc32c);
                }
            }
            Self::GetChunk {
                session,
                file,
                offset,
                len,
            } => {
                head.put_u64(*session);
                head.put_u32(*file);
                head.put_u64(*offset);
                head.put_u32(*len);
            }
            Self::Chunk {
                file,
                offset,
                crc32c,
                throttled_micros,
                data,
            } => {
                head.put_u32(*file);
                head.put_u64(*offset);
                head.put_u32(*crc32c);
                head.put_u32(*throttled_micros);
                return Ok(data.clone());
            }
            Self::CloseSession { session } | Self::SessionClosed { session } => {
                head.put_u64(*session)
            }
            Self::Ping { nonce } | Self::Pong { nonce } => head.put_u64(*nonce),
            Self::Error { code, message } => {
                head.put_u16(code.to_u16());
                put_string(head, message)?;
            }
        }
        Ok(Bytes::new())
    }

    /// Decodes a payload of the given kind. Every byte must be consumed.
    pub(crate) fn decode_payload(kind: Kind, payload: Bytes) -> Result<Self, ProtocolError> {
        let mut r = FieldReader::new(kind, payload);
        let message = match kind {
            Kind::Hello => Self::Hello {
                version: r.u16()?,
                auth: r.string()?.into(),
            },
            Kind::HelloAck => Self::HelloAck { version: r.u16()? },
            Kind::OpenSession => Self::OpenSession {
                index: r.string()?,
                shard: r.u32()?,
            },
            Kind::SessionOpened => {
                let session = r.u64()?;
                let shards = r.u32()?;
                let count = r.u32()? as usize;
                // Never trust a count from the wire for an allocation.
                if count > r.remaining() / MIN_FILE_META_LEN {
                    return Err(ProtocolError::Truncated { kind });
                }
                let mut files = Vec::with_capacity(count);
                for _ in 0..count {
                    files.push(FileMeta {
                        name: r.string()?,
                        len: r.u64()?,
                        crc32c: r.u32()?,
                    });
                }
                Self::SessionOpened {
                    session,
                    shards,
                    files,
                }
            }
            Kind::GetChunk => Self::GetChunk {
                session: r.u64()?,
                file: r.u32()?,
                offset: r.u64()?,
                len: r.u32()?,
            },
            Kind::Chunk => Self::Chunk {
                file: r.u32()?,
                offset: r.u64()?,
                crc32c: r.u32()?,
                throttled_micros: r.u32()?,
                data: r.rest(),
            },
            Kind::CloseSession => Self::CloseSession { session: r.u64()? },
            Kind::SessionClosed => Self::SessionClosed { session: r.u64()? },
            Kind::Ping => Self::Ping { nonce: r.u64()? },
            Kind::Pong => Self::Pong { nonce: r.u64()? },
            Kind::Error => Self::Error {
                code: ErrorCode::from_u16(r.u16()?),
                message: r.string()?,
            },
        };
        r.finish()?;
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_printed_for_debugging_shows_no_secret() {
        let hello = Message::Hello {
            version: 1,
            auth: "dc2:s3cretValue".into(),
        };
        let printed = format!("{hello:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("[redacted, 15 bytes]"), "{printed}");
        let none = Message::Hello {
            version: 1,
            auth: HelloAuth::default(),
        };
        assert!(format!("{none:?}").contains("auth: none"));
    }

    #[test]
    fn a_chunk_payload_is_its_fixed_fields_then_its_data() {
        let chunk = Message::Chunk {
            file: 3,
            offset: 1 << 40,
            crc32c: 0xdead_beef,
            throttled_micros: 9,
            data: Bytes::from_static(b"abc"),
        };
        let frame = crate::protocol::encode(1, &chunk).expect("encodes");
        let payload_len = frame.head.len() - crate::protocol::HEADER_LEN;
        assert_eq!(
            payload_len, CHUNK_FIXED_LEN,
            "the fixed fields, before the data"
        );
        assert_eq!(&frame.data[..], b"abc");
    }
}
