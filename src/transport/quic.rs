//! QUIC (quinn) for both sides: endpoints, certificates, and the errors a user can act on.
//!
//! Mapping: one QUIC connection per follower connection, and one bidirectional stream per
//! channel of the connection profile (6 for `remote`), each carrying the same multiplexed frames
//! as a TCP channel. A stream per channel rather than per request keeps the protocol and the
//! leader's request handling byte-for-byte the same on both transports; QUIC still removes the
//! head-of-line blocking *between* channels (a lost packet stalls one stream, not the
//! connection), and with the default window of 5 requests round-robined over 6 channels each
//! stream carries about one chunk at a time, so a stream per request would change little.
//! Flow-control windows are raised so one stream can carry several 1 MiB chunks in flight.

use std::{
    fs,
    io::Write,
    net::SocketAddr,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use quinn::{
    ClientConfig, Endpoint, IdleTimeout, ServerConfig, TransportConfig, VarInt, congestion,
    rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};

use super::TransportError;
use crate::vocabulary::CongestionControl;

/// ALPN protocol id of rrbench's recovery protocol.
const ALPN: &[u8] = b"rrbench/1";

/// Liveness of a QUIC connection (the transport's own, not application pings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuicLiveness {
    /// Close the connection after this long without a packet from the peer.
    pub idle_timeout: Duration,
    /// Send a PING frame this often when nothing else is sent; `None` is off.
    pub keep_alive: Option<Duration>,
}

impl Default for QuicLiveness {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keep_alive: None,
        }
    }
}

/// QUIC set-up failed before any connection.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {problem}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A generated certificate or key could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// TLS rejected the configuration (a key that does not match its certificate...).
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The UDP socket could not be bound.
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An idle timeout out of QUIC's range.
    #[error("quic idle timeout {0:?} is out of range (1ms to about 2^62 ms)")]
    IdleTimeout(Duration),
}

fn transport(
    liveness: &QuicLiveness,
    congestion: CongestionControl,
) -> Result<TransportConfig, QuicError> {
    let mut t = TransportConfig::default();
    match congestion {
        // quinn's default is CUBIC.
        CongestionControl::System => {}
        CongestionControl::Cubic => {
            t.congestion_controller_factory(Arc::new(congestion::CubicConfig::default()));
        }
        CongestionControl::Bbr => {
            t.congestion_controller_factory(Arc::new(congestion::BbrConfig::default()));
        }
        CongestionControl::Reno => {
            t.congestion_controller_factory(Arc::new(congestion::NewRenoConfig::default()));
        }
    }
    t.max_idle_timeout(Some(
        IdleTimeout::try_from(liveness.idle_timeout)
            .map_err(|_| QuicError::IdleTimeout(liveness.idle_timeout))?,
    ));
    t.keep_alive_interval(liveness.keep_alive);
    // Several 1 MiB chunks in flight per stream, tens per connection, at WAN round trips.
    t.stream_receive_window(VarInt::from_u32(16 << 20));
    t.receive_window(VarInt::from_u32(128 << 20));
    t.send_window(128 << 20);
    t.max_concurrent_bidi_streams(VarInt::from_u32(64));
    Ok(t)
}

/// Reads every certificate in a PEM file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, QuicError> {
    let pem = |problem: String| QuicError::Pem {
        path: path.to_path_buf(),
        problem,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem("no CERTIFICATE block in the file".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, QuicError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| QuicError::Pem {
        path: path.to_path_buf(),
        problem: format!("no private key: {e}"),
    })
}

/// The leader's certificate and key files.
#[derive(Clone, Debug)]
pub struct CertificatePaths {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// Writes a self-signed certificate for `names` (DNS names or IP addresses) into `dir` as
/// `leader.crt.pem` and `leader.key.pem`; a follower trusts it with `--ca dir/leader.crt.pem`.
///
/// The key is created readable by its owner only (0600), and `dir`, when this creates it, is
/// 0700; a directory that already exists keeps its mode.
pub fn generate_self_signed(dir: &Path, names: &[String]) -> Result<CertificatePaths, QuicError> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    let paths = CertificatePaths {
        cert: dir.join("leader.crt.pem"),
        key: dir.join("leader.key.pem"),
    };
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| QuicError::Write { path, source }
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed(dir))?;
    fs::write(&paths.cert, certified.cert.pem()).map_err(failed(&paths.cert))?;
    write_private(&paths.key, certified.signing_key.serialize_pem().as_bytes())
        .map_err(failed(&paths.key))?;
    Ok(paths)
}

/// Writes `bytes` to a new file at `path` that only its owner can read, replacing any file
/// there. The mode is given at creation, so the key is never readable by others, not even
/// between a write and a chmod; `create_new` also refuses a symlink planted at `path`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

/// A leader's QUIC endpoint on `listen` with the given certificate.
pub fn server_endpoint(
    socket: std::net::UdpSocket,
    certificate: &CertificatePaths,
    liveness: &QuicLiveness,
    congestion: CongestionControl,
) -> Result<Endpoint, QuicError> {
    let listen = socket.local_addr().map_err(|source| QuicError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let chain = read_certificates(&certificate.cert)?;
    let key = read_key(&certificate.key)?;
    let mut tls = quinn::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport(liveness, congestion)?));
    let bind_err = |source| QuicError::Bind {
        addr: listen,
        source,
    };
    socket.set_nonblocking(true).map_err(bind_err)?;
    Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(bind_err)
}

/// How a follower reaches a QUIC leader.
#[derive(Clone, Debug)]
pub struct QuicClient {
    /// PEM file of the leader's certificate or its CA.
    pub ca: PathBuf,
    /// The name to verify; default: the host of the address dialled.
    pub server_name: Option<String>,
}

/// A client endpoint and its configuration, trusting only `client.ca`.
pub fn client_endpoint(
    client: &QuicClient,
    liveness: &QuicLiveness,
    peer: SocketAddr,
) -> Result<Endpoint, QuicError> {
    let mut roots = quinn::rustls::RootCertStore::empty();
    for cert in read_certificates(&client.ca)? {
        roots.add(cert).map_err(|e| QuicError::Pem {
            path: client.ca.clone(),
            problem: format!("not a usable certificate: {e}"),
        })?;
    }
    let mut tls = quinn::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport(liveness, CongestionControl::System)?));
    let local: SocketAddr = if peer.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let mut endpoint = Endpoint::client(local).map_err(|source| QuicError::Bind {
        addr: local,
        source,
    })?;
    endpoint.set_default_client_config(config);
    Ok(endpoint)
}

/// Dials `addr` and completes the handshake. A certificate the follower does not trust is
/// refused with a message naming the flag that fixes it.
pub async fn connect(
    endpoint: &Endpoint,
    peer: SocketAddr,
    addr: &str,
    client: &QuicClient,
) -> Result<quinn::Connection, TransportError> {
    let connect_err = |message: String| TransportError::Connect {
        addr: addr.to_string(),
        message,
    };
    let name = client.server_name.clone().unwrap_or_else(|| host_of(addr));
    let connecting = endpoint
        .connect(peer, &name)
        .map_err(|e| connect_err(e.to_string()))?;
    connecting.await.map_err(|e| {
        let text = e.to_string();
        connect_err(if text.contains("UnknownIssuer") || text.contains("BadSignature") {
            format!(
                "the leader's certificate is not trusted ({text}); pass the leader's certificate \
                 or its CA with --ca FILE"
            )
        } else if text.contains("NotValidForName") || text.contains("not valid for name") {
            format!(
                "the leader's certificate is not valid for {name:?} ({text}); pass the name it \
                 was issued for with --server-name NAME"
            )
        } else {
            text
        })
    })
}

/// `host` of `host:port` (brackets of an IPv6 literal removed).
pub fn host_of(addr: &str) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("127.0.0.1:9443"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9443"), "::1");
        assert_eq!(host_of("leader.example:1"), "leader.example");
    }

    #[test]
    fn a_generated_certificate_reads_back_and_bad_pem_is_named() {
        let tmp = tempfile::tempdir().expect("tmp");
        let paths = generate_self_signed(tmp.path(), &["localhost".into()]).expect("gen");
        assert_eq!(read_certificates(&paths.cert).expect("cert").len(), 1);
        assert!(read_key(&paths.key).is_ok());
        let junk = tmp.path().join("junk.pem");
        fs::write(&junk, "not pem").expect("write");
        let e = read_certificates(&junk).expect_err("junk").to_string();
        assert!(e.contains("junk.pem"), "{e}");
    }

    #[test]
    fn a_generated_key_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("cert");
        let paths = generate_self_signed(&dir, &["localhost".into()]).expect("gen");
        let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&paths.key), 0o600, "key");
        assert_eq!(mode(&dir), 0o700, "directory");
    }
}
