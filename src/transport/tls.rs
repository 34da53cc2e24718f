//! TLS over TCP (tokio-rustls): the follower's [`TlsDialer`] and the words both sides use for a
//! failed handshake.
//!
//! Certificates and verification are [`super::certs`]' (shared with QUIC). What this adds is
//! telling apart what a user can fix: a certificate the follower refused (the verifier's
//! diagnosis), a client certificate the leader refused (a TLS alert after the handshake, in TLS
//! 1.3), and the two sides not both speaking TLS: the first bytes tell, a TLS record starts
//! `0x16 0x03` (handshake) or `0x15 0x03` (alert), an rrbench frame with its magic `RR`.
//! Every one of these is [`TransportError::Tls`]: not transient, not retried.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{
    TlsConnector,
    rustls::{self, AlertDescription, pki_types::ServerName},
};

use super::{
    TransportError,
    certs::{self, DiagnosingVerifier, TlsClient},
    channel::Channel,
    dial::{BoxFuture, DialOptions, Dialer, Streams},
    negotiated::Negotiated,
    quic::host_of,
};
use crate::protocol::MAGIC;

/// Whether the first bytes of a stream are a TLS record (a ClientHello, or an alert).
pub fn looks_like_tls(first: &[u8]) -> bool {
    matches!(first, [0x15 | 0x16, 0x03, ..])
}

/// A TLS connection per channel, each a TCP socket with the options' keepalive and user
/// timeout, verified by [`certs::client_config`]'s verifier.
#[derive(Clone, Debug)]
pub struct TlsDialer {
    /// `host:port` of the leader.
    pub addr: String,
    /// What to trust, which name to verify, which certificate to present.
    pub client: TlsClient,
}

struct TlsStreams {
    addr: String,
    name: ServerName<'static>,
    connector: TlsConnector,
    verifier: Arc<DiagnosingVerifier>,
    options: DialOptions,
}

impl Dialer for TlsDialer {
    fn connect<'a>(
        &'a self,
        options: &'a DialOptions,
    ) -> BoxFuture<'a, Result<Box<dyn Streams>, TransportError>> {
        Box::pin(async move {
            let tls_err =
                |message: String| TransportError::Tls(format!("{}: {message}", self.addr));
            let (config, verifier) =
                certs::client_config(&self.client).map_err(|e| tls_err(e.to_string()))?;
            let name = self
                .client
                .server_name
                .clone()
                .unwrap_or_else(|| host_of(&self.addr));
            let name = ServerName::try_from(name.clone())
                .map_err(|e| tls_err(format!("--server-name {name:?}: {e}")))?;
            Ok(Box::new(TlsStreams {
                addr: self.addr.clone(),
                name,
                connector: TlsConnector::from(Arc::new(config)),
                verifier,
                options: options.clone(),
            }) as Box<dyn Streams>)
        })
    }

    fn address(&self) -> String {
        self.addr.clone()
    }

    fn encrypted(&self) -> bool {
        true
    }
}

impl Streams for TlsStreams {
    fn open(&self) -> BoxFuture<'_, Result<Channel, TransportError>> {
        Box::pin(async move {
            let tcp =
                TcpStream::connect(&self.addr)
                    .await
                    .map_err(|e| TransportError::Connect {
                        addr: self.addr.clone(),
                        message: e.to_string(),
                    })?;
            tcp.set_nodelay(true)
                .map_err(|e| TransportError::from_io(&e))?;
            self.options
                .socket
                .apply(&tcp)
                .map_err(|e| TransportError::from_io(&e))?;
            let first = Arc::new(Mutex::new(Vec::new()));
            let sniffed = Sniffed {
                inner: tcp,
                first: first.clone(),
            };
            let connecting = self.connector.connect(self.name.clone(), sniffed);
            match connecting.into_fallible().await {
                Ok(stream) => {
                    let negotiated = Negotiated::of(stream.get_ref().1);
                    let (read, write) = tokio::io::split(stream);
                    let channel = Channel::from_halves(read, write, self.options.max_response);
                    Ok(match negotiated {
                        Some(n) => channel.with_tls(n),
                        None => channel,
                    })
                }
                Err((e, mut sniffed)) => {
                    // The alert rustls wrote must reach the leader before a reset would.
                    linger(&mut sniffed.inner).await;
                    let first = first.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    Err(handshake_error(&self.addr, &e, &first, &self.verifier))
                }
            }
        })
    }
}

/// What a failed client handshake means for a user.
fn handshake_error(
    addr: &str,
    e: &io::Error,
    first: &[u8],
    verifier: &DiagnosingVerifier,
) -> TransportError {
    if let Some(diagnosis) = verifier.take_diagnosis() {
        return TransportError::Tls(format!("{addr}: {diagnosis}"));
    }
    if first.starts_with(&MAGIC) {
        return TransportError::Tls(format!(
            "{addr}: the leader answered the TLS handshake in plaintext (an rrbench frame, not a \
             TLS ServerHello): it does not run TLS; start it with --tls, or recover without --tls"
        ));
    }
    match rustls_error(e) {
        Some(tls) => TransportError::Tls(format!("{addr}: {}", describe(tls))),
        None => TransportError::from_io(e),
    }
}

/// The rustls error inside an I/O error from a TLS stream, if that is what it is.
pub fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Whether a rustls error is about certificates (not transient: retrying cannot help), as
/// opposed to a record that failed to decrypt, a protocol slip or an alert about the stream,
/// which a corrupting path or a reset also causes and a new attempt may survive.
pub fn is_certificate_error(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
                    | AlertDescription::HandshakeFailure
                    | AlertDescription::UnknownCA
                    | AlertDescription::BadCertificate
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::CertificateExpired
                    | AlertDescription::CertificateRevoked
                    | AlertDescription::UnsupportedCertificate
                    | AlertDescription::AccessDenied
            )
    )
}

/// A rustls error seen by the follower, in words: the leader's alerts name what it refused.
pub fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired)
        | rustls::Error::AlertReceived(AlertDescription::HandshakeFailure) => format!(
            "the leader requires a client certificate (it runs with --client-ca) and refused \
             the handshake (TLS alert {}): pass this follower's certificate with --cert and --key",
            alert_name(e)
        ),
        rustls::Error::AlertReceived(
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::DecryptError,
        ) => format!(
            "the leader did not trust this follower's client certificate (TLS alert {}): give \
             the follower a certificate issued by a CA in the leader's --client-ca",
            alert_name(e)
        ),
        other => format!("TLS handshake failed: {other}"),
    }
}

fn alert_name(e: &rustls::Error) -> String {
    match e {
        rustls::Error::AlertReceived(a) => snake(&format!("{a:?}")),
        _ => String::new(),
    }
}

/// `UnknownCA` → `unknown_ca`, as the TLS RFCs name alerts.
fn snake(camel: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = camel.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let prev_lower = i > 0 && chars[i - 1].is_lowercase();
        if i > 0 && c.is_uppercase() && (prev_lower || next_lower) {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A leader's handshake that failed, as its log line says it (the other side of
/// [`describe`]).
pub fn leader_handshake_failure(e: &io::Error, first: &[u8], client_ca: bool) -> String {
    if first.starts_with(&MAGIC) {
        return "a plaintext follower connected to this TLS leader (its first bytes are an \
                rrbench frame, not a TLS ClientHello), closing connection: the follower needs \
                --tls and --ca"
            .into();
    }
    match rustls_error(e) {
        Some(rustls::Error::AlertReceived(a)) => match a {
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied
            // A signature that does not verify: a trusted issuer's name, another key.
            | AlertDescription::DecryptError => format!(
                "client did not trust this server's certificate (TLS alert {}), closing \
                 connection",
                snake(&format!("{a:?}"))
            ),
            other => format!(
                "TLS alert {} from the client, closing connection",
                snake(&format!("{other:?}"))
            ),
        },
        Some(rustls::Error::NoCertificatesPresented) if client_ca => {
            "the client sent no certificate (empty client certificate chain) and --client-ca \
             requires one, closing connection: the follower needs --cert and --key"
                .into()
        }
        Some(rustls::Error::InvalidCertificate(c)) => format!(
            "the client's certificate is not trusted ({c:?}): it is not signed by a CA in \
             --client-ca, closing connection"
        ),
        Some(other) => format!("TLS handshake failed: {other}, closing connection"),
        None => format!("TLS handshake failed: {e}, closing connection"),
    }
}

/// A fatal `unexpected_message` alert as a TLS 1.2 record: what a TLS leader answers a
/// plaintext follower with, so that its first bytes say "TLS".
pub const UNEXPECTED_MESSAGE_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0a];

/// Closes the sending side and reads what the peer still sends, briefly: closing a socket
/// with unread bytes resets it, and the reset could overtake the alert just written.
pub async fn linger(stream: &mut TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Remembers the first two bytes read through it. Writes pass through, vectored ones whole:
/// rustls hands its records over as one vectored write, and after a refused handshake
/// tokio-rustls makes exactly one last write (the middlebox-compatibility ChangeCipherSpec
/// *and* the alert); a write of only the first buffer would send the CCS and drop the alert, so
/// the leader would see an end of stream where the follower refused its certificate.
struct Sniffed<S> {
    inner: S,
    first: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let mut first = self.first.lock().unwrap_or_else(|p| p.into_inner());
            let wanted = 2usize.saturating_sub(first.len());
            let new = &buf.filled()[before..];
            first.extend_from_slice(&new[..wanted.min(new.len())]);
        }
        polled
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Sniffed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::negotiated::local_preference;

    #[test]
    fn only_certificate_errors_are_final() {
        assert!(is_certificate_error(&rustls::Error::AlertReceived(
            AlertDescription::UnknownCA
        )));
        assert!(is_certificate_error(
            &rustls::Error::NoCertificatesPresented
        ));
        // A record a corrupting path spoiled: a broken connection, retried like a reset.
        assert!(!is_certificate_error(&rustls::Error::DecryptError));
        assert!(!is_certificate_error(&rustls::Error::AlertReceived(
            AlertDescription::BadRecordMac
        )));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert!(matches!(
            crate::transport::TransportError::from_io(&io),
            crate::transport::TransportError::Io(_)
        ));
    }

    #[test]
    fn alerts_are_named_as_the_rfcs_do() {
        assert_eq!(snake("UnknownCA"), "unknown_ca");
        assert_eq!(snake("BadCertificate"), "bad_certificate");
        assert_eq!(snake("CertificateRequired"), "certificate_required");
    }

    /// A TLS server on 127.0.0.1 with a fresh self-signed certificate, and what its one
    /// accepted handshake ended with.
    async fn server(
        dir: &std::path::Path,
    ) -> (
        String,
        tokio::task::JoinHandle<Result<Option<Negotiated>, io::Error>>,
    ) {
        let identity = certs::generate_self_signed(dir, &["127.0.0.1".into()]).expect("cert");
        let config = certs::server_config(&identity, None).expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let accepted = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let tls = acceptor.accept(tcp).await?;
            Ok(Negotiated::of(tls.get_ref().1))
        });
        (addr, accepted)
    }

    fn dialer(addr: &str, ca: std::path::PathBuf) -> TlsDialer {
        TlsDialer {
            addr: addr.into(),
            client: TlsClient {
                ca,
                ..TlsClient::default()
            },
        }
    }

    #[tokio::test]
    async fn the_leader_reads_the_alert_of_a_follower_that_refused_its_certificate() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (addr, accepted) = server(&tmp.path().join("leader")).await;
        // Another CA, of another name (a root of the leader's issuer name but another key
        // would be refused as a bad signature, alert decrypt_error).
        let other = certs::generate_issued(&tmp.path().join("other"), &["127.0.0.1".into()])
            .expect("another CA");
        let streams = dialer(&addr, other.ca)
            .connect(&DialOptions::default())
            .await
            .expect("streams");
        let refused = streams.open().await.err().expect("refused");
        assert!(
            matches!(&refused, TransportError::Tls(m) if m.contains("not trusted")),
            "{refused:?}"
        );
        let e = accepted.await.expect("task").expect_err("handshake fails");
        // Not "tls handshake eof": the alert arrived before the end of the stream.
        assert!(
            matches!(
                rustls_error(&e),
                Some(rustls::Error::AlertReceived(AlertDescription::UnknownCA))
            ),
            "{e}"
        );
        assert_eq!(
            leader_handshake_failure(&e, &[], false),
            "client did not trust this server's certificate (TLS alert unknown_ca), closing \
             connection"
        );
    }

    #[tokio::test]
    async fn a_tls_channel_names_its_protocol_and_cipher_suite() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (addr, accepted) = server(&tmp.path().join("leader")).await;
        let streams = dialer(&addr, tmp.path().join("leader").join("leader.crt.pem"))
            .connect(&DialOptions::default())
            .await
            .expect("streams");
        let channel = streams.open().await.expect("handshake");
        let on_leader = accepted.await.expect("task").expect("accepted");
        let tls = channel.tls().cloned().expect("negotiated");
        assert_eq!(tls.protocol, "TLSv1.3");
        assert_eq!(Some(&tls), on_leader.as_ref(), "both sides agree");
        assert_eq!(
            tls.cipher_suite,
            local_preference().expected_tls13_suite,
            "{tls}"
        );
        assert_eq!(
            tls.to_string(),
            format!("TLSv1.3 {}", tls.cipher_suite.clone().expect("suite"))
        );
        let quic = serde_json::to_value(Negotiated::quic()).expect("json");
        assert_eq!(quic, serde_json::json!({"protocol": "QUIC/TLSv1.3"}));
    }

    #[test]
    fn first_bytes_tell_tls_from_rrbench_frames() {
        assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
        assert!(looks_like_tls(&[0x15, 0x03]));
        assert!(!looks_like_tls(&MAGIC));
    }
}
