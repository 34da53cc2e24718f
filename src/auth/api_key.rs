//! A cross-cluster API key as a follower holds it (`id:secret`), where it is read from, how a
//! new one is made, and the hash of its secret a leader stores.
//!
//! The secret is never on the command line (`ps` shows every argument to every user): it is
//! read from a file (`--api-key-file`) or from [`API_KEY_ENV`]. `Debug` shows the id only.

use std::{
    ffi::OsString,
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, SaltString},
};
use ring::rand::{SecureRandom, SystemRandom};

/// The environment variable a follower reads its API key (`id:secret`) from.
pub const API_KEY_ENV: &str = "RRBENCH_API_KEY";

/// Longest key id accepted.
const MAX_ID: usize = 64;
/// Longest secret accepted.
const MAX_SECRET: usize = 256;

/// What a key is for, as Elasticsearch types them: only `cross_cluster` keys may recover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// A cross-cluster API key: what a follower cluster uses.
    CrossCluster,
    /// A REST API key: for the HTTP API, refused on the transport.
    Rest,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CrossCluster => "cross_cluster",
            Self::Rest => "rest",
        })
    }
}

impl FromStr for KeyType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "cross_cluster" => Ok(Self::CrossCluster),
            "rest" => Ok(Self::Rest),
            other => Err(format!(
                "key type {other:?} is neither cross_cluster nor rest"
            )),
        }
    }
}

/// An API key: its id and its secret. `Debug` shows the id only.
#[derive(Clone)]
pub struct ApiKey {
    id: String,
    secret: String,
}

impl ApiKey {
    /// Reads `id:secret` (`origin` names where it came from, for errors). The id is letters,
    /// digits, `-`, `_` and `.`; the secret is printable ASCII without spaces.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ApiKeyError> {
        let bad = |why: String| ApiKeyError::Malformed {
            origin: origin.to_owned(),
            why,
        };
        let Some((id, secret)) = text.split_once(':') else {
            return Err(bad("it is not id:secret (no ':')".into()));
        };
        check_id(id).map_err(bad)?;
        if secret.is_empty() || secret.len() > MAX_SECRET {
            return Err(bad(format!(
                "its secret is {} bytes, not 1 to {MAX_SECRET}",
                secret.len()
            )));
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad(
                "its secret holds a space, a control character or non-ASCII text".into(),
            ));
        }
        Ok(Self {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The key of whichever source is given: the file, else the environment variable's value,
    /// else none. Both given is refused: which one wins would be a guess.
    pub fn from_sources(
        file: Option<&Path>,
        environment: Option<OsString>,
    ) -> Result<Option<Self>, ApiKeyError> {
        match (file, environment) {
            (None, None) => Ok(None),
            (Some(path), Some(_)) => Err(ApiKeyError::Conflict {
                path: path.to_path_buf(),
            }),
            (Some(path), None) => {
                let origin = format!("--api-key-file {}", path.display());
                let bytes =
                    super::read_bounded(path, 4096).map_err(|source| ApiKeyError::Read {
                        path: path.to_path_buf(),
                        source,
                    })?;
                let text = String::from_utf8(bytes).map_err(|_| ApiKeyError::Malformed {
                    origin: origin.clone(),
                    why: "it is not UTF-8 text".into(),
                })?;
                Self::parse(text.trim_end_matches(['\n', '\r']), &origin).map(Some)
            }
            (None, Some(value)) => {
                let text = value.into_string().map_err(|_| ApiKeyError::Malformed {
                    origin: API_KEY_ENV.into(),
                    why: "it is not UTF-8 text".into(),
                })?;
                Self::parse(&text, API_KEY_ENV).map(Some)
            }
        }
    }

    /// A new key with a random secret (192 bits), and `id` if given, else a random one.
    pub fn generate(id: Option<&str>) -> Result<Self, ApiKeyError> {
        let id = match id {
            Some(id) => {
                check_id(id).map_err(|why| ApiKeyError::Malformed {
                    origin: "--id".into(),
                    why,
                })?;
                id.to_owned()
            }
            None => random_text(15)?,
        };
        Ok(Self {
            id,
            secret: random_text(24)?,
        })
    }

    /// The key's id: not secret, it names the key in every log line and message.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret itself, for the wire. Never print it.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// The argon2id hash of the secret with a random salt, as a PHC string
    /// (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`): what a leader's keys file stores.
    pub fn hash_secret(&self) -> Result<String, ApiKeyError> {
        self.hash_secret_with(argon2::Params::default())
    }

    /// The same with these argon2 parameters.
    pub fn hash_secret_with(&self, params: argon2::Params) -> Result<String, ApiKeyError> {
        let mut salt = [0u8; 16];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| ApiKeyError::Random)?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| ApiKeyError::Hash(e.to_string()))?;
        Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(self.secret.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| ApiKeyError::Hash(e.to_string()))
    }

    /// The line of a leader's keys file that admits this key (see [`super::ApiKeys::parse`]).
    pub fn keys_file_line(
        &self,
        key_type: KeyType,
        names: &[String],
    ) -> Result<String, ApiKeyError> {
        let names = if names.is_empty() {
            "*".to_owned()
        } else {
            names.join(",")
        };
        Ok(format!(
            "{} {key_type} {names} {}",
            self.id,
            self.hash_secret()?
        ))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Whether `id` can name a key: 1 to 64 letters, digits, `-`, `_` or `.`.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.len() > MAX_ID || !id.chars().all(allowed) {
        return Err(format!(
            "its id \"{}\" is not 1 to {MAX_ID} letters, digits, '-', '_' or '.'",
            super::printable(id)
        ));
    }
    Ok(())
}

/// `bytes` random bytes as URL-safe base64 text (no padding).
fn random_text(bytes: usize) -> Result<String, ApiKeyError> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut raw = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| ApiKeyError::Random)?;
    let mut text = String::with_capacity(bytes * 4 / 3 + 1);
    for group in raw.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        let chars = group.len() + 1;
        for i in 0..chars {
            text.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    Ok(text)
}

/// An API key, or a keys file, that cannot be used. Messages name the source and the key id,
/// never a secret.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// The key text is not `id:secret`.
    #[error("the API key from {origin} cannot be used: {why}")]
    Malformed {
        /// Where it came from.
        origin: String,
        /// What is wrong with it.
        why: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Both the file and the environment give a key.
    #[error(
        "the API key is given both by --api-key-file {} and by {API_KEY_ENV}: give one",
        path.display()
    )]
    Conflict {
        /// The file.
        path: PathBuf,
    },
    /// A follower is given both an API key and the deprecated token.
    #[error(
        "both an API key (--api-key-file or {API_KEY_ENV}) and the deprecated auth token are \
         given: give one"
    )]
    BothKinds,
    /// A leader is given both API keys and the deprecated token.
    #[error(
        "both --api-keys and the deprecated auth token are given: give one (a token would admit \
         its holders to every index, whatever the keys allow)"
    )]
    LeaderBothKinds,
    /// The deprecated token cannot be used.
    #[error(transparent)]
    Token(#[from] super::token::AuthTokenError),
    /// A line of a leader's keys file is wrong.
    #[error("{}, line {line}: {why}", path.display())]
    KeysFile {
        /// The file.
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// The operating system's random source failed.
    #[error("the operating system's random number generator failed")]
    Random,
    /// Hashing a secret failed.
    #[error("hashing the API key's secret failed: {0}")]
    Hash(String),
    /// An API key would cross the network in clear text.
    #[error(
        "{side} would send an API key over plaintext TCP, where anyone on the path can read and \
         reuse it: use --tls (or --transport quic), or give --allow-plaintext-credentials for a \
         network you trust"
    )]
    Plaintext {
        /// "this follower" or "this leader's followers".
        side: &'static str,
    },
}

impl ApiKeyError {
    /// Whether the user gave something unusable (exit code 2), rather than the machine failing
    /// (a write, the random source).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Self::Write { .. } | Self::Random | Self::Hash(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_id_colon_secret_and_its_debug_hides_the_secret() {
        let key = ApiKey::parse("agZXJocBmA2beJfq2yKu:s3:cret", "test").expect("key");
        assert_eq!(key.id(), "agZXJocBmA2beJfq2yKu");
        assert_eq!(key.expose_secret(), "s3:cret", "the secret may hold ':'");
        assert!(!format!("{key:?}").contains("s3:cret"));
        for bad in [
            "nocolon",
            ":secret",
            "id:",
            "i d:secret",
            "id:sec ret",
            "id:s\u{e9}cret",
        ] {
            let e = ApiKey::parse(bad, "test").expect_err(bad).to_string();
            assert!(e.starts_with("the API key from test cannot be used"), "{e}");
            assert!(!e.contains("secret\""), "{e}");
        }
    }

    #[test]
    fn generated_keys_are_random_and_their_hash_is_a_salted_argon2id_phc_string() {
        let (a, b) = (
            ApiKey::generate(None).expect("a"),
            ApiKey::generate(None).expect("b"),
        );
        assert_ne!(a.id(), b.id());
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!((a.id().len(), a.expose_secret().len()), (20, 32));
        ApiKey::parse(&format!("{}:{}", a.id(), a.expose_secret()), "t").expect("parses back");
        let (h1, h2) = (a.hash_secret().expect("h1"), a.hash_secret().expect("h2"));
        assert!(h1.starts_with("$argon2id$v=19$"), "{h1}");
        assert_ne!(h1, h2, "each hash has its own salt");
        assert!(!h1.contains(a.expose_secret()));
        let named = ApiKey::generate(Some("follower-dc2")).expect("named");
        assert_eq!(named.id(), "follower-dc2");
        assert!(ApiKey::generate(Some("bad id")).is_err());
    }

    #[test]
    fn one_source_at_most() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("key");
        std::fs::write(&path, "k:secret\n").expect("write");
        let key = ApiKey::from_sources(Some(&path), None)
            .expect("ok")
            .expect("key");
        assert_eq!(key.expose_secret(), "secret", "the line break is trimmed");
        let env = ApiKey::from_sources(None, Some("k:other".into())).expect("ok");
        assert_eq!(env.expect("key").expose_secret(), "other");
        let e = ApiKey::from_sources(Some(&path), Some("k:other".into())).expect_err("both");
        assert!(e.to_string().contains("both by --api-key-file"), "{e}");
        assert!(ApiKey::from_sources(None, None).expect("none").is_none());
    }
}
