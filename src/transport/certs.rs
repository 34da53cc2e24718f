//! Certificates and TLS configuration shared by QUIC and TLS over TCP: reading PEM files,
//! generating a self-signed pair, the leader's server configuration (with client certificates
//! for mTLS) and the follower's client configuration, whose verifier explains a refusal.
//!
//! The verifier ([`DiagnosingVerifier`]) wraps rustls's WebPKI verifier and adds two things a
//! user's certificates need. *Pinning*: an end-entity certificate byte-identical to one in the
//! `--ca` bundle is trusted (its dates and names still checked), as `curl --cacert` with OpenSSL
//! does; so a self-signed `openssl req -x509` certificate, which marks itself CA:TRUE and which
//! WebPKI refuses as `CaUsedAsEndEntity`, works as both `--ca` and the leader's certificate.
//! *Diagnosis*: on refusal it describes the certificate and what the follower trusts, modelled
//! on Elasticsearch's `DiagnosticTrustManager`, then names the one most likely cause. It does
//! not own sockets or handshakes ([`super::tls`], [`super::quic`]).

use std::{
    fmt::Write as _,
    fs,
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use tokio_rustls::rustls::{
    self, CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        verify_server_name,
    },
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
    server::{ParsedCertificate, WebPkiClientVerifier},
};
use x509_parser::{certificate::X509Certificate, extensions::GeneralName, prelude::FromDer};

/// Certificates or TLS configuration could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
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
}

/// Reads every certificate in a PEM file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let pem = |problem: String| CertError::Pem {
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

/// Reads the first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| CertError::Pem {
        path: path.to_path_buf(),
        problem: format!("no private key: {e}"),
    })
}

/// A certificate chain (leaf first, then any intermediates) and its private key, PEM files.
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
pub fn generate_self_signed(dir: &Path, names: &[String]) -> Result<CertificatePaths, CertError> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| CertError::Tls(e.to_string()))?;
    let paths = CertificatePaths {
        cert: dir.join("leader.crt.pem"),
        key: dir.join("leader.key.pem"),
    };
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CertError::Write { path, source }
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

/// A CA and the leader certificate it issued, PEM files ([`generate_issued`]).
#[derive(Clone, Debug)]
pub struct IssuedPaths {
    /// The CA's certificate: what a follower trusts (`--ca`).
    pub ca: PathBuf,
    /// The leader's certificate (issued by the CA) and its key.
    pub leader: CertificatePaths,
}

/// The names of a leader certificate of [`generate_issued`].
pub const LOCAL_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A small PKI in `dir`, as a deployment has one: a CA (`ca.crt.pem`) and a leader
/// certificate it issued for `names` (`leader.crt.pem`, `leader.key.pem`: CA:FALSE,
/// serverAuth), so that a follower trusting `ca.crt.pem` verifies a chain, not a pinned leaf.
/// An existing set in `dir` is kept (a resumed campaign serves the same certificate).
///
/// The CA's key is not written: nothing else is issued from it, and a key that never touches
/// the disk cannot leak. The leader's key is 0600 and `dir`, when this creates it, 0700.
pub fn generate_issued(dir: &Path, names: &[String]) -> Result<IssuedPaths, CertError> {
    let paths = IssuedPaths {
        ca: dir.join("ca.crt.pem"),
        leader: CertificatePaths {
            cert: dir.join("leader.crt.pem"),
            key: dir.join("leader.key.pem"),
        },
    };
    if [&paths.ca, &paths.leader.cert, &paths.leader.key]
        .iter()
        .all(|p| p.is_file())
    {
        return Ok(paths);
    }
    let rcgen_err = |e: rcgen::Error| CertError::Tls(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(rcgen_err)?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err)?;
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "rrbench campaign CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).map_err(rcgen_err)?;
    let leader_key = rcgen::KeyPair::generate().map_err(rcgen_err)?;
    let mut leader = rcgen::CertificateParams::new(names.to_vec()).map_err(rcgen_err)?;
    leader
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rrbench leader");
    leader.is_ca = rcgen::IsCa::ExplicitNoCa;
    leader.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leader = leader.signed_by(&leader_key, &ca).map_err(rcgen_err)?;
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CertError::Write { path, source }
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed(dir))?;
    fs::write(&paths.ca, ca.pem()).map_err(failed(&paths.ca))?;
    fs::write(&paths.leader.cert, leader.pem()).map_err(failed(&paths.leader.cert))?;
    write_private(&paths.leader.key, leader_key.serialize_pem().as_bytes())
        .map_err(failed(&paths.leader.key))?;
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

/// How a follower verifies a leader (QUIC or TLS over TCP), and the certificate it presents.
#[derive(Clone, Debug, Default)]
pub struct TlsClient {
    /// PEM file of the leader's certificate or its CA(s).
    pub ca: PathBuf,
    /// The name to verify; default: the host of the address dialled.
    pub server_name: Option<String>,
    /// A client certificate to present (mTLS: the leader's `--client-ca`).
    pub identity: Option<CertificatePaths>,
}

fn trust_store(path: &Path) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), CertError> {
    let certs = read_certificates(path)?;
    let mut roots = RootCertStore::empty();
    for cert in &certs {
        roots.add(cert.clone()).map_err(|e| CertError::Pem {
            path: path.to_path_buf(),
            problem: format!("not a usable certificate: {e}"),
        })?;
    }
    Ok((roots, certs))
}

/// The leader's TLS configuration: its chain and key, and with `client_ca` a required client
/// certificate issued by one of those CAs.
pub fn server_config(
    identity: &CertificatePaths,
    client_ca: Option<&Path>,
) -> Result<rustls::ServerConfig, CertError> {
    let chain = read_certificates(&identity.cert)?;
    let key = read_key(&identity.key)?;
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let (roots, _) = trust_store(path)?;
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| CertError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(chain, key)
        .map_err(|e| CertError::Tls(format!("{}: {e}", identity.cert.display())))
}

/// The follower's TLS configuration: trusts only `client.ca` (with pinning), presents
/// `client.identity` if given. The verifier is returned too: after a refused handshake,
/// [`DiagnosingVerifier::take_diagnosis`] says why.
pub fn client_config(
    client: &TlsClient,
) -> Result<(rustls::ClientConfig, Arc<DiagnosingVerifier>), CertError> {
    let verifier = Arc::new(DiagnosingVerifier::new(&client.ca)?);
    let builder = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let config = match &client.identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let chain = read_certificates(&identity.cert)?;
            let key = read_key(&identity.key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| CertError::Tls(format!("{}: {e}", identity.cert.display())))?
        }
    };
    Ok((config, verifier))
}

/// WebPKI verification plus pinning, and a diagnosis of every refusal.
#[derive(Debug)]
pub struct DiagnosingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    trusted: Vec<CertificateDer<'static>>,
    ca_path: PathBuf,
    last: Mutex<Option<String>>,
}

impl DiagnosingVerifier {
    /// Trusts the certificates of the PEM bundle at `ca`.
    pub fn new(ca: &Path) -> Result<Self, CertError> {
        let (roots, trusted) = trust_store(ca)?;
        let inner = WebPkiServerVerifier::builder(Arc::new(roots))
            .build()
            .map_err(|e| CertError::Tls(e.to_string()))?;
        Ok(Self {
            inner,
            trusted,
            ca_path: ca.to_path_buf(),
            last: Mutex::new(None),
        })
    }

    /// The diagnosis of the last refused certificate, if any (taken: the next refusal writes
    /// a new one).
    pub fn take_diagnosis(&self) -> Option<String> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn refuse(
        &self,
        error: CertificateError,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> rustls::Error {
        let diagnosis = diagnose(&Refusal {
            error: &error,
            end_entity,
            intermediates,
            trusted: &self.trusted,
            ca_path: &self.ca_path,
            server_name: &server_name.to_str(),
            now: now.as_secs() as i64,
        });
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(diagnosis);
        rustls::Error::InvalidCertificate(error)
    }
}

impl ServerCertVerifier for DiagnosingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = self
            .trusted
            .iter()
            .any(|t| t.as_ref() == end_entity.as_ref());
        let refused = if pinned {
            // A trust anchor itself: no chain to build, but its dates and names still count.
            pinned_check(end_entity, server_name, now).err()
        } else {
            match self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(verified) => return Ok(verified),
                Err(rustls::Error::InvalidCertificate(e)) => Some(e),
                Err(other) => return Err(other),
            }
        };
        match refused {
            None => Ok(ServerCertVerified::assertion()),
            Some(e) => Err(self.refuse(e, end_entity, intermediates, server_name, now)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The checks left for a pinned certificate: validity period, purpose (an extended key usage,
/// when there is one, must allow serverAuth, as WebPKI requires of a chain) and name.
fn pinned_check(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), CertificateError> {
    let (_, cert) = X509Certificate::from_der(end_entity.as_ref())
        .map_err(|_| CertificateError::BadEncoding)?;
    let now = now.as_secs() as i64;
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return Err(CertificateError::NotValidYet);
    }
    if now > validity.not_after.timestamp() {
        return Err(CertificateError::Expired);
    }
    let usage = cert
        .extended_key_usage()
        .map_err(|_| CertificateError::BadEncoding)?;
    if let Some(usage) = usage
        && !(usage.value.server_auth || usage.value.any)
    {
        return Err(CertificateError::InvalidPurpose);
    }
    let parsed =
        ParsedCertificate::try_from(end_entity).map_err(|_| CertificateError::BadEncoding)?;
    verify_server_name(&parsed, server_name).map_err(|e| match e {
        rustls::Error::InvalidCertificate(e) => e,
        _ => CertificateError::NotValidForName,
    })
}

/// What was refused, and against what.
struct Refusal<'a> {
    error: &'a CertificateError,
    end_entity: &'a CertificateDer<'a>,
    intermediates: &'a [CertificateDer<'a>],
    trusted: &'a [CertificateDer<'static>],
    ca_path: &'a Path,
    server_name: &'a str,
    now: i64,
}

/// The one most likely reason a certificate was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    UnknownCa,
    Expired,
    NotYetValid,
    WrongName,
    CaAsEndEntity,
    MissingIntermediate,
    NotForServer,
    Other,
}

/// One line: the certificate as Elasticsearch's trust manager describes it, what the follower
/// trusts, then the most likely cause in plain words.
fn diagnose(r: &Refusal<'_>) -> String {
    let Ok((_, cert)) = X509Certificate::from_der(r.end_entity.as_ref()) else {
        return format!(
            "the leader's certificate is not trusted ({:?}) and does not parse as X.509",
            r.error
        );
    };
    let trusted: Vec<X509Certificate<'_>> = r
        .trusted
        .iter()
        .filter_map(|c| X509Certificate::from_der(c.as_ref()).ok().map(|(_, c)| c))
        .collect();
    let sent: Vec<X509Certificate<'_>> = r
        .intermediates
        .iter()
        .filter_map(|c| X509Certificate::from_der(c.as_ref()).ok().map(|(_, c)| c))
        .collect();
    let issuer = cert.issuer().to_string();
    let issuer_sent = sent.iter().any(|c| c.subject().to_string() == issuer);
    let issuer_trusted = trusted.iter().any(|c| c.subject().to_string() == issuer);
    let self_issued = cert.subject().to_string() == issuer;
    let sans = names_of(&cert);
    let (not_before, not_after) = (
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    );
    let dates = if r.now < not_before {
        "the certificate is not valid yet"
    } else if r.now > not_after {
        "the certificate has expired"
    } else {
        "certificate dates are valid"
    };

    let mut out = String::from("the leader's certificate is not trusted: ");
    let _ = write!(
        out,
        "the leader provided a certificate with subject [{}], fingerprint (SHA-256) [{}]; \
         the certificate is valid between [{}] and [{}] (current time is [{}], {dates}); \
         the certificate has subject alternative names [{}]; ",
        cert.subject(),
        fingerprint(r.end_entity.as_ref()),
        utc(not_before),
        utc(not_after),
        utc(r.now),
        sans.join(","),
    );
    if self_issued {
        let _ = write!(out, "the certificate is self-issued [{issuer}]");
    } else if issuer_sent {
        let _ = write!(
            out,
            "the certificate is issued by [{issuer}] and the leader provided a copy of the \
             issuing certificate in its chain"
        );
    } else {
        let _ = write!(
            out,
            "the certificate is issued by [{issuer}] but the leader did not provide a copy of the \
             issuing certificate in its chain"
        );
    }
    let names: Vec<String> = trusted
        .iter()
        .map(|c| format!("[{}]", c.subject()))
        .collect();
    let _ = write!(
        out,
        "; --ca {} trusts {} issuer(s): {}; ",
        r.ca_path.display(),
        trusted.len(),
        names.join(", ")
    );

    let cause = match r.error {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => Cause::Expired,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            Cause::NotYetValid
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            Cause::WrongName
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            Cause::NotForServer
        }
        CertificateError::UnknownIssuer
        | CertificateError::BadSignature
        | CertificateError::Other(_) => {
            if cert.is_ca() && self_issued {
                Cause::CaAsEndEntity
            } else if !issuer_sent && !issuer_trusted && looks_intermediate(&issuer) {
                Cause::MissingIntermediate
            } else {
                Cause::UnknownCa
            }
        }
        _ => Cause::Other,
    };
    let _ = match cause {
        Cause::UnknownCa => write!(
            out,
            "most likely cause: the certificate is not signed by a CA in --ca (issuer [{issuer}] \
             is not among the trusted); pass the CA that issued it, or the certificate itself, \
             with --ca FILE"
        ),
        Cause::Expired => write!(
            out,
            "most likely cause: the certificate expired on {}; give the leader a current one",
            utc(not_after)
        ),
        Cause::NotYetValid => write!(
            out,
            "most likely cause: the certificate is not valid until {} (is a clock wrong?); give \
             the leader a current one",
            utc(not_before)
        ),
        Cause::WrongName => write!(
            out,
            "most likely cause: the name {:?} is not among the certificate's subject \
             alternative names; pass one of them with --server-name NAME, or give the leader a \
             certificate for {:?}",
            r.server_name, r.server_name
        ),
        Cause::CaAsEndEntity => write!(
            out,
            "most likely cause: a CA certificate (CA:TRUE) is used as the leader's own; pass \
             exactly this certificate with --ca to pin it, or give the leader a certificate \
             issued by that CA"
        ),
        Cause::MissingIntermediate => write!(
            out,
            "most likely cause: the leader did not send its intermediate CA [{issuer}]; put it \
             after the leader's own certificate in its --cert file"
        ),
        Cause::NotForServer => write!(
            out,
            "most likely cause: the certificate is not for a server: its extended key usage \
             does not include serverAuth; give the leader a certificate made with \
             extendedKeyUsage=serverAuth (or none)"
        ),
        Cause::Other => write!(out, "rustls says: {:?}", r.error),
    };
    one_line(&out)
}

/// `text` with control characters escaped: names in a certificate come from the network, and a
/// newline or a terminal escape in one must not break the message's one line or forge a log
/// line.
fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// An issuer whose name says it is an intermediate (the leaf alone cannot tell an unknown
/// root from an intermediate the leader did not send: the name is the one clue left).
fn looks_intermediate(issuer: &str) -> bool {
    let lower = issuer.to_ascii_lowercase();
    ["intermediate", "issuing", "sub ca", "subca"]
        .iter()
        .any(|w| lower.contains(w))
}

/// The subject alternative names as Elasticsearch prints them (`DNS:x`, `IP:1.2.3.4`).
fn names_of(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(d) => format!("DNS:{d}"),
            GeneralName::IPAddress(ip) => match ip.len() {
                4 => format!("IP:{}", std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
                16 => {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(ip);
                    format!("IP:{}", std::net::Ipv6Addr::from(octets))
                }
                _ => format!("IP:{ip:02x?}"),
            },
            GeneralName::RFC822Name(e) => format!("email:{e}"),
            GeneralName::URI(u) => format!("URI:{u}"),
            other => format!("{other:?}"),
        })
        .collect()
}

/// SHA-256 of the DER, lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `2026-01-02T03:04:05Z` for seconds since the epoch (UTC, proleptic Gregorian).
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_network_cannot_break_the_line() {
        assert_eq!(
            one_line("CN=a\nforged: ok\u{1b}[2J"),
            "CN=a\\nforged: ok\\u{1b}[2J"
        );
    }

    #[test]
    fn times_print_as_rfc3339_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14T22:13:20Z");
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
    fn an_issued_leader_certificate_verifies_through_its_ca_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let names: Vec<String> = LOCAL_NAMES.iter().map(|n| n.to_string()).collect();
        let issued = generate_issued(tmp.path(), &names).expect("pki");
        let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&issued.leader.key), 0o600);
        let leaf = read_certificates(&issued.leader.cert).expect("leaf");
        let verifier = DiagnosingVerifier::new(&issued.ca).expect("ca");
        assert!(
            !verifier.trusted.iter().any(|t| t == &leaf[0]),
            "the CA is trusted, not the leaf pinned"
        );
        for name in LOCAL_NAMES {
            let name = ServerName::try_from(name).expect("name");
            verifier
                .verify_server_cert(&leaf[0], &[], &name, &[], UnixTime::now())
                .expect("a chain to the CA, for each name");
        }
        let (_, cert) = X509Certificate::from_der(leaf[0].as_ref()).expect("x509");
        assert!(!cert.is_ca());
        // Kept as it is when asked again (a resumed campaign).
        let again = generate_issued(tmp.path(), &names).expect("again");
        assert_eq!(read_certificates(&again.leader.cert).expect("leaf"), leaf);
        // A leader certificate issued by another CA is refused.
        let other = tempfile::tempdir().expect("tmp");
        let stranger = generate_issued(other.path(), &names).expect("other pki");
        let stranger = read_certificates(&stranger.leader.cert).expect("leaf");
        let name = ServerName::try_from("localhost").expect("name");
        assert!(
            verifier
                .verify_server_cert(&stranger[0], &[], &name, &[], UnixTime::now())
                .is_err()
        );
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
