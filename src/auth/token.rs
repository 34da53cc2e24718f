//! The shared secret a leader requires in every follower's `Hello`, and where it is read from.
//! Deprecated: one secret for every follower, which says nothing about which one it is nor
//! what it may recover; API keys ([`super::api_key`]) replace it.
//!
//! It owns the token's invariants: never empty (an empty token would admit the followers that
//! send none) and never printed (`Debug` shows no secret). It reads the token from one of three
//! sources, a file and the environment being the ones other users of the machine cannot see in
//! `ps`. Comparing a token with a follower's is the leader's job ([`crate::leader`]).

use std::{ffi::OsString, fmt, path::PathBuf};

/// The environment variable the leader and the follower read a token from.
pub const AUTH_TOKEN_ENV: &str = "RRBENCH_AUTH_TOKEN";

/// A non-empty shared secret. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct AuthToken(String);

impl AuthToken {
    /// A token holding `secret`; an empty one is refused.
    pub fn new(secret: impl Into<String>) -> Result<Self, AuthTokenError> {
        Self::checked(secret.into(), || "the configuration".into())
    }

    fn checked(secret: String, origin: impl FnOnce() -> String) -> Result<Self, AuthTokenError> {
        if secret.is_empty() {
            return Err(AuthTokenError::Empty { origin: origin() });
        }
        if secret.starts_with(super::API_KEY_SCHEME) {
            return Err(AuthTokenError::LooksLikeApiKey { origin: origin() });
        }
        Ok(Self(secret))
    }

    /// The token of the one source given, `None` for none. Two or more sources are refused:
    /// which one wins would be a guess.
    pub fn from_sources(
        sources: impl IntoIterator<Item = TokenSource>,
    ) -> Result<Option<Self>, AuthTokenError> {
        let mut sources = sources.into_iter();
        let Some(source) = sources.next() else {
            return Ok(None);
        };
        if let Some(other) = sources.next() {
            return Err(AuthTokenError::Conflict {
                first: source.to_string(),
                second: other.to_string(),
            });
        }
        source.read().map(Some)
    }

    /// The secret itself, for the wire. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

/// Where a token is given.
pub enum TokenSource {
    /// On the command line (`--auth-token`), where every user can read it (`ps`, /proc).
    Argument(String),
    /// In a file (`--auth-token-file`); line breaks at its end are trimmed.
    File(PathBuf),
    /// In [`AUTH_TOKEN_ENV`].
    Environment(OsString),
}

impl TokenSource {
    /// Reads the token this source holds.
    pub fn read(self) -> Result<AuthToken, AuthTokenError> {
        let origin = self.to_string();
        let text = match self {
            Self::Argument(text) => text,
            Self::File(path) => {
                let bytes = super::read_bounded(&path, 64 << 10).map_err(|source| {
                    AuthTokenError::Read {
                        path: path.clone(),
                        source,
                    }
                })?;
                let text = String::from_utf8(bytes).map_err(|_| AuthTokenError::NotText {
                    origin: origin.clone(),
                })?;
                text.trim_end_matches(['\n', '\r']).to_string()
            }
            Self::Environment(value) => {
                value.into_string().map_err(|_| AuthTokenError::NotText {
                    origin: origin.clone(),
                })?
            }
        };
        AuthToken::checked(text, || origin)
    }
}

/// Names the source as a user gave it (never its secret).
impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Argument(_) => f.write_str("--auth-token"),
            Self::File(path) => write!(f, "--auth-token-file {}", path.display()),
            Self::Environment(_) => f.write_str(AUTH_TOKEN_ENV),
        }
    }
}

/// A token that cannot be used. Messages name the source, never the secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthTokenError {
    /// The token is empty.
    #[error(
        "the auth token from {origin} is empty, and an empty token is no token (a leader with \
         one would let in every follower that sends none); give a non-empty secret, or none"
    )]
    Empty {
        /// Where it came from.
        origin: String,
    },
    /// The token starts as an API key does on the wire, so a leader would read it as one.
    #[error(
        "the auth token from {origin} starts with \"ApiKey \", which is how an API key is sent: \
         choose another token, or send the key with --api-key-file"
    )]
    LooksLikeApiKey {
        /// Where it came from.
        origin: String,
    },
    /// The token file could not be read.
    #[error("cannot read the auth token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The token is not UTF-8 text (`Hello` carries text).
    #[error("the auth token from {origin} is not UTF-8 text")]
    NotText {
        /// Where it came from.
        origin: String,
    },
    /// More than one source gives a token.
    #[error(
        "the auth token is given both by {first} and by {second}: give one of --auth-token-file, \
         {AUTH_TOKEN_ENV} or --auth-token"
    )]
    Conflict {
        /// One source.
        first: String,
        /// Another.
        second: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_file(contents: &[u8]) -> Result<AuthToken, AuthTokenError> {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("token");
        std::fs::write(&path, contents).expect("write");
        TokenSource::File(path).read()
    }

    #[test]
    fn a_file_loses_its_trailing_line_break_and_nothing_else() {
        assert_eq!(from_file(b"s3cret\n").expect("token").expose(), "s3cret");
        assert_eq!(from_file(b"s3cret\r\n").expect("token").expose(), "s3cret");
        assert_eq!(
            from_file(b" s3 cret ").expect("token").expose(),
            " s3 cret "
        );
        assert!(matches!(
            from_file(b"\n"),
            Err(AuthTokenError::Empty { .. })
        ));
        assert!(matches!(
            from_file(b"\xff\n"),
            Err(AuthTokenError::NotText { .. })
        ));
    }

    #[test]
    fn empty_tokens_are_refused_from_every_source() {
        assert!(AuthToken::new("").is_err());
        assert!(matches!(
            AuthToken::new("ApiKey id:secret"),
            Err(AuthTokenError::LooksLikeApiKey { .. })
        ));
        for source in [
            TokenSource::Argument(String::new()),
            TokenSource::Environment(OsString::new()),
        ] {
            let e = source.read().expect_err("empty").to_string();
            assert!(e.contains("is empty"), "{e}");
        }
    }

    #[test]
    fn one_source_at_most_and_no_secret_in_messages() {
        assert!(matches!(AuthToken::from_sources([]), Ok(None)));
        let got = AuthToken::from_sources([TokenSource::Environment("s3cret".into())]);
        assert_eq!(got.expect("ok").expect("token").expose(), "s3cret");
        let e = AuthToken::from_sources([
            TokenSource::Argument("s3cret".into()),
            TokenSource::Environment("s3cret".into()),
        ])
        .expect_err("two sources")
        .to_string();
        assert!(e.contains("--auth-token and by RRBENCH_AUTH_TOKEN"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let token = AuthToken::new("s3cret").expect("token");
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
