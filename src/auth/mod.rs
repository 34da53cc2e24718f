//! Who may recover from a leader: the credentials a follower sends in its `Hello`, and how a
//! leader checks them.
//!
//! Two kinds, as Elasticsearch has certificates and cross-cluster API keys:
//!
//! - **API keys** ([`api_key`], [`key_store`]), shaped like Elasticsearch's cross-cluster API
//!   keys: the leader reads a file of keys (an id, a type, the index names the key may recover,
//!   and an argon2 hash of its secret); the follower sends `id:secret`, read from a file or the
//!   environment, never the command line. A key crosses the network only inside TLS (or QUIC)
//!   unless both sides are told otherwise.
//! - **A shared token** ([`token`]), deprecated: one secret for every follower, compared in
//!   constant time. It still works and says it is deprecated.
//!
//! On the wire both ride in `Hello`'s one text field ([`Credentials::wire`]): an API key as
//! `ApiKey <id>:<secret>`, a token as itself, nothing as the empty string.

pub mod api_key;
mod gate;
pub mod key_store;
pub mod token;

pub use api_key::{API_KEY_ENV, ApiKey, ApiKeyError, KeyType};
pub use gate::{Admitted, admit, remembered};
pub use key_store::{ApiKeys, Grant, Refusal};
pub use token::{AUTH_TOKEN_ENV, AuthToken, AuthTokenError, TokenSource};

/// What starts `Hello`'s text when it carries an API key (the HTTP scheme Elasticsearch uses
/// for API keys).
pub const API_KEY_SCHEME: &str = "ApiKey ";

/// What a follower sends in its `Hello`.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// A cross-cluster API key.
    ApiKey(ApiKey),
    /// The deprecated shared token.
    Token(AuthToken),
}

impl Credentials {
    /// The text `Hello` carries. It holds the secret: never print it.
    pub fn wire(&self) -> String {
        match self {
            Self::ApiKey(key) => format!("{API_KEY_SCHEME}{}:{}", key.id(), key.expose_secret()),
            Self::Token(token) => token.expose().to_owned(),
        }
    }

    /// Whether these are an API key (which may not cross the network in clear text).
    pub fn is_api_key(&self) -> bool {
        matches!(self, Self::ApiKey(_))
    }
}

/// What a leader read in a `Hello`'s text: it arrived from the network, so nothing in it is
/// trusted yet. `Debug` shows no secret.
pub enum Offered {
    /// The text was empty.
    Nothing,
    /// `ApiKey …`: an API key, or text that only claims to be one.
    ApiKey(Result<ApiKey, ApiKeyError>),
    /// Any other text: a shared token.
    Token(String),
}

impl std::fmt::Debug for Offered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Nothing => f.write_str("Nothing"),
            Self::ApiKey(key) => f.debug_tuple("ApiKey").field(key).finish(),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

impl Offered {
    /// Reads `Hello`'s text.
    pub fn parse(text: &str) -> Self {
        if text.is_empty() {
            Self::Nothing
        } else if let Some(key) = text.strip_prefix(API_KEY_SCHEME) {
            Self::ApiKey(ApiKey::parse(key, "the follower's Hello"))
        } else {
            Self::Token(text.to_owned())
        }
    }
}

/// The bytes of the file at `path`, refused past `limit` bytes (a path such as /dev/zero, or
/// the wrong file, must not fill the memory).
pub(crate) fn read_bounded(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is larger than {limit} bytes, too large for what it should hold"),
        ));
    }
    Ok(bytes)
}

/// A name from the network as one line of at most 128 characters: control characters escaped,
/// the rest cut with an ellipsis.
pub(crate) fn printable(name: &str) -> String {
    let escaped: String = name.escape_debug().collect();
    match escaped.char_indices().nth(128) {
        Some((at, _)) => format!("{}…", &escaped[..at]),
        None => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip_through_hello_text() {
        let key = ApiKey::parse("k1:s3cret-s3cret", "test").expect("key");
        let wire = Credentials::ApiKey(key).wire();
        assert_eq!(wire, "ApiKey k1:s3cret-s3cret");
        match Offered::parse(&wire) {
            Offered::ApiKey(Ok(key)) => {
                assert_eq!((key.id(), key.expose_secret()), ("k1", "s3cret-s3cret"));
            }
            other => panic!("{other:?}"),
        }
        let token = Credentials::Token(AuthToken::new("tok").expect("token"));
        assert!(matches!(Offered::parse(&token.wire()), Offered::Token(t) if t == "tok"));
        assert!(matches!(Offered::parse(""), Offered::Nothing));
        assert!(matches!(
            Offered::parse("ApiKey no-colon"),
            Offered::ApiKey(Err(_))
        ));
        for hello in ["ApiKey k1:s3cret-s3cret", "s3cret-s3cret"] {
            let shown = format!("{:?}", Offered::parse(hello));
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }
}
