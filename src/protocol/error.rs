//! What can be wrong with bytes on the wire, and the codes sent back in `Error` frames.

use super::message::Kind;

/// A frame or payload that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The first two bytes are not `RR`: not an rrbench peer, or the stream lost its framing.
    #[error("bad magic {0:02x?}: not an rrbench frame")]
    BadMagic([u8; 2]),
    /// A protocol version this build does not speak.
    #[error("unsupported protocol version {0} (this build speaks {this})", this = super::VERSION)]
    UnsupportedVersion(u8),
    /// A message kind this build does not know.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// The header announces a payload larger than the receiver accepts.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Announced payload length.
        len: u32,
        /// The receiver's limit.
        max: u32,
    },
    /// The payload ends before the message does.
    #[error("{kind:?} payload truncated")]
    Truncated {
        /// The message being decoded.
        kind: Kind,
    },
    /// The payload has bytes after the message.
    #[error("{kind:?} payload has {extra} trailing bytes")]
    TrailingBytes {
        /// The message being decoded.
        kind: Kind,
        /// How many bytes were left over.
        extra: usize,
    },
    /// A string field is not UTF-8.
    #[error("{kind:?} has a string that is not UTF-8")]
    BadUtf8 {
        /// The message being decoded.
        kind: Kind,
    },
    /// A string or list is too long to encode.
    #[error("field too long to encode: {0} items")]
    TooLong(usize),
}

impl ProtocolError {
    /// The code a leader sends back for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            Self::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            _ => ErrorCode::Malformed,
        }
    }
}

/// Why a request was refused, as carried in an `Error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Bytes that do not decode as a frame or message.
    Malformed,
    /// A frame longer than the receiver accepts.
    FrameTooLarge,
    /// A protocol version the receiver does not speak.
    UnsupportedVersion,
    /// The `Hello` credentials are missing, unknown, wrong or of the wrong type.
    Unauthorized,
    /// `OpenSession` named an index the leader does not serve.
    UnknownIndex,
    /// The session does not exist: never opened, closed, or expired.
    UnknownSession,
    /// The file index is not in the session's file list.
    FileOutOfRange,
    /// The offset is at or past the end of the file.
    OffsetOutOfRange,
    /// The length is zero, too large, or runs past the end of the file.
    LengthOutOfRange,
    /// A message that is not valid here (a response sent as a request, or no `Hello` first).
    UnexpectedMessage,
    /// The leader failed to serve a valid request (for example an I/O error).
    Internal,
    /// The request would go past one of the leader's limits (sessions open, requests in flight
    /// on a session); the message names the limit.
    LimitExceeded,
    /// `OpenSession` named a shard the index does not have.
    UnknownShard,
    /// The follower's API key may not recover the index it named.
    Forbidden,
    /// A code this build does not know.
    Other(u16),
}

impl ErrorCode {
    /// The wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::Malformed => 1,
            Self::FrameTooLarge => 2,
            Self::UnsupportedVersion => 3,
            Self::Unauthorized => 4,
            Self::UnknownIndex => 5,
            Self::UnknownSession => 6,
            Self::FileOutOfRange => 7,
            Self::OffsetOutOfRange => 8,
            Self::LengthOutOfRange => 9,
            Self::UnexpectedMessage => 10,
            Self::Internal => 11,
            Self::LimitExceeded => 12,
            Self::UnknownShard => 13,
            Self::Forbidden => 14,
            Self::Other(n) => n,
        }
    }

    /// From the wire value; unknown values are kept as [`ErrorCode::Other`].
    pub fn from_u16(n: u16) -> Self {
        match n {
            1 => Self::Malformed,
            2 => Self::FrameTooLarge,
            3 => Self::UnsupportedVersion,
            4 => Self::Unauthorized,
            5 => Self::UnknownIndex,
            6 => Self::UnknownSession,
            7 => Self::FileOutOfRange,
            8 => Self::OffsetOutOfRange,
            9 => Self::LengthOutOfRange,
            10 => Self::UnexpectedMessage,
            11 => Self::Internal,
            12 => Self::LimitExceeded,
            13 => Self::UnknownShard,
            14 => Self::Forbidden,
            n => Self::Other(n),
        }
    }
}
