//! The rrbench wire protocol: frames and messages, pure encode/decode with no I/O.
//!
//! A frame is a fixed 16-byte header followed by a payload:
//!
//! ```text
//! 0      2        3     4             12            16
//! | "RR" | version | kind | request id  | payload len | payload ...
//! ```
//!
//! All integers are big-endian. The request id lets many requests share one connection: a
//! response carries the id of its request. The payload length is checked against a caller-given
//! maximum *before* anything is allocated, so a hostile length cannot exhaust memory. Files are
//! addressed by their index in the session's file list, never by a path. Sockets live in
//! [`crate::transport`]; this module only turns bytes into [`Message`]s and back.

mod error;
mod frame;
mod message;
mod wire;

pub use error::{ErrorCode, ProtocolError};
pub use frame::{
    EncodedFrame, Frame, HEADER_LEN, Header, MAGIC, VERSION, decode_frame, decode_header,
    decode_payload, encode, encode_followed_by,
};
pub use message::{CHUNK_FIXED_LEN, FileMeta, HelloAuth, Kind, Message};
