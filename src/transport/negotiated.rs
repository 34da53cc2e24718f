//! What TLS settled on: the protocol version and cipher suite of a connection (in a report),
//! and what this machine's rustls would pick (in `env.json`, written before any connection).

use std::fmt;

use serde::{Deserialize, Serialize};
use tokio_rustls::rustls::{self, CommonState};

/// What a handshake settled on: the protocol version and the cipher suite, as rustls names
/// them. A report carries it (`tls`), absent for plaintext.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    /// `TLSv1.3` (TLS over TCP), `QUIC/TLSv1.3` (QUIC always runs TLS 1.3).
    pub protocol: String,
    /// `TLS13_AES_256_GCM_SHA384`; absent for QUIC, whose crypto session quinn does not expose
    /// (its `handshake_data` holds only the ALPN and the server name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<String>,
}

impl Negotiated {
    /// What a finished rustls handshake (either side) agreed on; `None` before it finished.
    pub fn of(state: &CommonState) -> Option<Self> {
        Some(Self {
            protocol: version_name(state.protocol_version()?),
            cipher_suite: state
                .negotiated_cipher_suite()
                .map(|s| suite_name(s.suite())),
        })
    }

    /// A QUIC connection: TLS 1.3 by RFC 9001, its suite not known to rrbench.
    pub fn quic() -> Self {
        Self {
            protocol: "QUIC/TLSv1.3".into(),
            cipher_suite: None,
        }
    }
}

impl fmt::Display for Negotiated {
    /// `TLSv1.3 TLS13_AES_256_GCM_SHA384`, or `QUIC/TLSv1.3 (cipher suite not exposed by
    /// quinn)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cipher_suite {
            Some(suite) => write!(f, "{} {suite}", self.protocol),
            None => write!(f, "{} (cipher suite not exposed by quinn)", self.protocol),
        }
    }
}

/// `TLSv1_3` → `TLSv1.3`, as OpenSSL and Java print versions.
fn version_name(v: rustls::ProtocolVersion) -> String {
    v.as_str()
        .map_or_else(|| format!("{v:?}"), |s| s.replace('_', "."))
}

fn suite_name(s: rustls::CipherSuite) -> String {
    s.as_str().map_or_else(|| format!("{s:?}"), str::to_string)
}

/// What this machine's rustls would negotiate, for `env.json` (written before any
/// connection): the provider's cipher suites in preference order (a rustls leader and follower
/// both use it, so the first TLS 1.3 suite is the one a recovery gets) and whether the CPU has
/// AES instructions (without them AES-GCM runs in software and ChaCha20-Poly1305 is faster).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalPreference {
    /// The crypto provider (`ring`).
    pub provider: &'static str,
    /// Its cipher suites, most preferred first.
    pub cipher_suites: Vec<String>,
    /// The first TLS 1.3 suite: what a TLS 1.3 recovery between two rrbench processes uses.
    pub expected_tls13_suite: Option<String>,
    /// AES-NI (x86) or the ARMv8 AES extension; `None` on other architectures.
    pub cpu_aes: Option<bool>,
}

/// [`LocalPreference`] of this process's rustls.
pub fn local_preference() -> LocalPreference {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()));
    let cipher_suites: Vec<String> = provider
        .cipher_suites
        .iter()
        .map(|s| suite_name(s.suite()))
        .collect();
    let expected_tls13_suite = provider
        .cipher_suites
        .iter()
        .find(|s| s.version() == &rustls::version::TLS13)
        .map(|s| suite_name(s.suite()));
    LocalPreference {
        provider: "ring",
        cipher_suites,
        expected_tls13_suite,
        cpu_aes: cpu_aes(),
    }
}

fn cpu_aes() -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        Some(std::arch::is_x86_feature_detected!("aes"))
    }
    #[cfg(target_arch = "aarch64")]
    {
        Some(std::arch::is_aarch64_feature_detected!("aes"))
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        None
    }
}
