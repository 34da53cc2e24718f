//! A leader's decision on a `Hello`'s credentials, from what it requires and what was offered.

use subtle::ConstantTimeEq;

use super::{ApiKeys, AuthToken, Grant, Offered, Refusal};

/// Whom a leader let in.
#[derive(Debug)]
pub enum Admitted {
    /// The leader requires nothing.
    Open,
    /// The deprecated shared token matched.
    Token,
    /// An API key passed: what it may recover.
    Key(Grant),
}

/// Checks `hello`'s text against what the leader requires: its API keys, its shared token
/// (deprecated), both (either passes), or neither (everyone passes). Checking an API key that
/// is not remembered (a first check, a wrong secret, an unknown id) blocks for argon2's time
/// (see [`ApiKeys::authenticate`]); [`remembered`] decides without it when it can.
pub fn admit(
    token: Option<&AuthToken>,
    keys: Option<&ApiKeys>,
    hello: &str,
) -> Result<Admitted, Refusal> {
    if token.is_none() && keys.is_none() {
        return Ok(Admitted::Open);
    }
    match Offered::parse(hello) {
        Offered::ApiKey(offered) => {
            let Some(keys) = keys else {
                return Err(Refusal::KeyNotToken);
            };
            let key = offered.map_err(|e| Refusal::Malformed(e.to_string()))?;
            keys.authenticate(&key).map(Admitted::Key)
        }
        Offered::Token(offered) => match token {
            Some(token) if same_secret(token, &offered) => Ok(Admitted::Token),
            Some(_) => Err(Refusal::WrongToken),
            None => Err(Refusal::TokenNotKey),
        },
        Offered::Nothing if keys.is_some() => Err(Refusal::Missing),
        Offered::Nothing => Err(Refusal::MissingToken),
    }
}

/// The decision on `hello` for a leader with `keys` if it takes no argon2 check: everything
/// but an API key not yet remembered. `None`: call [`admit`] off the async workers.
pub fn remembered(
    token: Option<&AuthToken>,
    keys: &ApiKeys,
    hello: &str,
) -> Option<Result<Admitted, Refusal>> {
    match Offered::parse(hello) {
        Offered::ApiKey(Ok(key)) => keys
            .remembered(&key)
            .map(|decided| decided.map(Admitted::Key)),
        _ => Some(admit(token, Some(keys), hello)),
    }
}

/// Whether a follower `offered` the leader's token, in a time that tells nothing about the
/// token: both sides are hashed to fixed-size SHA-256 digests (so neither a differing byte nor
/// a differing length ends the comparison early), compared in constant time by `subtle`.
fn same_secret(expected: &AuthToken, offered: &str) -> bool {
    let digest = |text: &str| ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let (expected, offered) = (digest(expected.expose()), digest(offered));
    expected.as_ref().ct_eq(offered.as_ref()).into()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::auth::{ApiKey, Credentials, KeyType};

    #[test]
    fn each_combination_of_required_and_offered_is_decided() {
        let key = ApiKey::generate(Some("k")).expect("key");
        let line = key
            .keys_file_line(KeyType::CrossCluster, &[])
            .expect("line");
        let keys = ApiKeys::parse(&line, Path::new("keys")).expect("keys");
        let token = AuthToken::new("tok").expect("token");
        let key_text = Credentials::ApiKey(key).wire();
        let admitted =
            |t: bool, k: bool, hello: &str| admit(t.then_some(&token), k.then_some(&keys), hello);
        assert!(matches!(
            admitted(false, false, "anything"),
            Ok(Admitted::Open)
        ));
        assert!(matches!(admitted(true, false, "tok"), Ok(Admitted::Token)));
        assert!(matches!(admitted(true, true, "tok"), Ok(Admitted::Token)));
        assert!(matches!(
            admitted(false, true, &key_text),
            Ok(Admitted::Key(_))
        ));
        assert!(matches!(
            admitted(true, true, &key_text),
            Ok(Admitted::Key(_))
        ));
        let refused = |t, k, hello: &str| admitted(t, k, hello).expect_err(hello);
        assert_eq!(refused(true, false, "tik"), Refusal::WrongToken);
        assert_eq!(refused(true, false, ""), Refusal::MissingToken);
        assert_eq!(refused(true, false, &key_text), Refusal::KeyNotToken);
        assert_eq!(refused(false, true, "tok"), Refusal::TokenNotKey);
        assert_eq!(refused(true, true, "tik"), Refusal::WrongToken);
        assert_eq!(refused(false, true, ""), Refusal::Missing);
        assert!(matches!(
            refused(false, true, "ApiKey k"),
            Refusal::Malformed(_)
        ));
    }

    #[test]
    fn tokens_compare_by_content_not_by_prefix_or_length() {
        let token = AuthToken::new("abc").expect("token");
        assert!(same_secret(&token, "abc"));
        for other in ["", "ab", "abcd", "abd", "ABC"] {
            assert!(!same_secret(&token, other), "{other:?}");
        }
    }
}
