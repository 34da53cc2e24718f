//! Property tests: the decoder never panics on arbitrary bytes, and every message round-trips.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rrbench::protocol::{ErrorCode, FileMeta, Message, decode_frame, encode};

fn any_message() -> impl Strategy<Value = Message> {
    let meta = (".{0,40}", any::<u64>(), any::<u32>()).prop_map(|(name, len, crc32c)| FileMeta {
        name,
        len,
        crc32c,
    });
    prop_oneof![
        (any::<u16>(), ".{0,64}").prop_map(|(version, auth)| Message::Hello {
            version,
            auth: auth.into(),
        }),
        any::<u16>().prop_map(|version| Message::HelloAck { version }),
        (".{0,64}", any::<u32>()).prop_map(|(index, shard)| Message::OpenSession { index, shard }),
        (
            any::<u64>(),
            any::<u32>(),
            prop::collection::vec(meta, 0..20)
        )
            .prop_map(|(session, shards, files)| Message::SessionOpened {
                session,
                shards,
                files
            }),
        (any::<u64>(), any::<u32>(), any::<u64>(), any::<u32>()).prop_map(
            |(session, file, offset, len)| Message::GetChunk {
                session,
                file,
                offset,
                len
            }
        ),
        (
            any::<u32>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..4096)
        )
            .prop_map(
                |(file, offset, crc32c, throttled_micros, data)| Message::Chunk {
                    file,
                    offset,
                    crc32c,
                    throttled_micros,
                    data: Bytes::from(data)
                }
            ),
        any::<u64>().prop_map(|session| Message::CloseSession { session }),
        any::<u64>().prop_map(|nonce| Message::Ping { nonce }),
        (any::<u16>(), ".{0,64}").prop_map(|(code, message)| Message::Error {
            code: ErrorCode::from_u16(code),
            message
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes, fed whole or in pieces, give frames or errors, never a panic.
    #[test]
    fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048), max in 0u32..4096) {
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decode_frame(&mut buf, max) {}
    }

    /// Valid headers followed by arbitrary payloads: still no panic.
    #[test]
    fn arbitrary_payloads_never_panic(kind in 0u8..16, payload in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = vec![b'R', b'R', rrbench::protocol::VERSION, kind];
        bytes.extend_from_slice(&7u64.to_be_bytes());
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&payload);
        let _ = decode_frame(&mut BytesMut::from(&bytes[..]), 4096);
    }

    #[test]
    fn messages_round_trip(id in any::<u64>(), m in any_message()) {
        let frame = encode(id, &m).expect("encode");
        let mut buf = BytesMut::from(&frame.to_vec()[..]);
        let got = decode_frame(&mut buf, u32::MAX).expect("decode").expect("whole frame");
        prop_assert_eq!(got.request_id, id);
        prop_assert_eq!(got.message, m);
    }
}
