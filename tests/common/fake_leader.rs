//! A leader that says whatever a test tells it to: any file list, any chunk bytes. It speaks
//! the real protocol (frames from `rrbench::protocol`), so the follower cannot tell it from a
//! real one; what it lists is up to the test (duplicate names, a terabyte file, ...).

use std::{net::SocketAddr, sync::Arc};

use rrbench::{
    protocol::{FileMeta, Message, VERSION, encode},
    transport::frame_io::read_frame,
};
use tokio::{io::AsyncWriteExt, net::TcpListener};

/// What the fake leader serves: the list it announces, and the bytes behind each entry.
#[derive(Clone, Debug)]
pub struct FakeIndex {
    /// The file list sent in `SessionOpened`.
    pub listed: Vec<FileMeta>,
    /// The bytes served for file `i` (chunks past the end are zeros).
    pub contents: Vec<Vec<u8>>,
}

impl FakeIndex {
    /// Files listed truthfully: each name with its bytes' length and checksum.
    pub fn honest(files: &[(&str, Vec<u8>)]) -> Self {
        Self {
            listed: files
                .iter()
                .map(|(name, data)| FileMeta {
                    name: (*name).into(),
                    len: data.len() as u64,
                    crc32c: crc32c::crc32c(data),
                })
                .collect(),
            contents: files.iter().map(|(_, d)| d.clone()).collect(),
        }
    }

    fn chunk(&self, file: u32, offset: u64, len: u32) -> Vec<u8> {
        let data = self.contents.get(file as usize).map_or(&[][..], |d| d);
        (offset..offset + u64::from(len))
            .map(|i| data.get(i as usize).copied().unwrap_or(0))
            .collect()
    }
}

/// Serves `index` on 127.0.0.1:0 until the test ends; every connection is a channel.
pub async fn start(index: FakeIndex) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake leader");
    let addr = listener.local_addr().expect("addr");
    let index = Arc::new(index);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let index = index.clone();
            tokio::spawn(async move {
                let (mut read, mut write) = stream.into_split();
                while let Ok(Some(frame)) = read_frame(&mut read, 1 << 20).await {
                    let reply = match frame.message {
                        Message::Hello { .. } => Message::HelloAck {
                            version: u16::from(VERSION),
                        },
                        Message::OpenSession { .. } => Message::SessionOpened {
                            session: 7,
                            shards: 1,
                            files: index.listed.clone(),
                        },
                        Message::GetChunk {
                            file, offset, len, ..
                        } => {
                            let data = index.chunk(file, offset, len);
                            Message::Chunk {
                                file,
                                offset,
                                crc32c: crc32c::crc32c(&data),
                                throttled_micros: 0,
                                data: data.into(),
                            }
                        }
                        Message::CloseSession { session } => Message::SessionClosed { session },
                        Message::Ping { nonce } => Message::Pong { nonce },
                        _ => break,
                    };
                    let frame = encode(frame.request_id, &reply).expect("encode");
                    if write.write_all(&frame.to_vec()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}
