//! Who may use an agent: an Elasticsearch REST API key in `Authorization: ApiKey
//! base64(id:secret)`, checked against the agent's keys file.
//!
//! As on a leader, a key's first check runs argon2 on a blocking thread holding one of the
//! keys' permits; a key that passed is remembered and decided without argon2.

use std::{sync::Arc, time::Duration};

use base64ct::{Base64, Encoding};

use crate::auth::{ApiKey, ApiKeys, KeyType};

/// How long a request waits for an argon2 permit before it is told to retry.
const PERMIT_WAIT: Duration = Duration::from_secs(5);
/// Longest `Authorization` header value considered.
const MAX_HEADER: usize = 1024;

/// Why a request is not let in: its status, what the client is told, what the agent logs.
#[derive(Debug, PartialEq, Eq)]
pub struct Unauthorized {
    /// 401, or 429 when the checks are busy.
    pub status: u16,
    /// The client's message.
    pub reason: String,
    /// The agent's log line (which may say more).
    pub log: String,
}

/// The key in an `Authorization` header value.
pub fn parse_header(value: Option<&str>) -> Result<ApiKey, String> {
    let value = value.ok_or(
        "missing authentication credentials for REST request: send `Authorization: ApiKey \
         base64(id:secret)`",
    )?;
    if value.len() > MAX_HEADER {
        return Err(format!("an Authorization header over {MAX_HEADER} bytes"));
    }
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("ApiKey") {
        let scheme: String = scheme.chars().take(20).collect();
        return Err(format!(
            "the Authorization scheme is {scheme:?}, not ApiKey: this agent takes API keys only"
        ));
    }
    let decoded = Base64::decode_vec(encoded.trim())
        .map_err(|_| "the ApiKey credentials are not base64".to_string())?;
    let text = String::from_utf8(decoded)
        .map_err(|_| "the ApiKey credentials are not UTF-8 text".to_string())?;
    ApiKey::parse(&text, "the Authorization header").map_err(|e| e.to_string())
}

/// Checks the request's `Authorization` header against `keys` (a `rest` key).
pub async fn authorize(keys: &Arc<ApiKeys>, header: Option<&str>) -> Result<String, Unauthorized> {
    let refuse = |reason: String, log: String| Unauthorized {
        status: 401,
        reason,
        log,
    };
    let key = parse_header(header).map_err(|why| refuse(why.clone(), why))?;
    let id = key.id().to_owned();
    let decided = match keys.remembered_as(&key, KeyType::Rest) {
        Some(decided) => decided,
        None => {
            let permits = keys.checks();
            let Ok(Ok(permit)) = tokio::time::timeout(PERMIT_WAIT, permits.acquire_owned()).await
            else {
                return Err(Unauthorized {
                    status: 429,
                    reason: "too many API key checks at once; retry".into(),
                    log: format!("API key [{id}]: no check permit within {PERMIT_WAIT:?}"),
                });
            };
            let keys = keys.clone();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                keys.authenticate_as(&key, KeyType::Rest)
            })
            .await
            .map_err(|e| refuse("the check failed".into(), format!("API key check: {e}")))?
        }
    };
    decided
        .map(|grant| grant.id().to_owned())
        .map_err(|refusal| refuse(refusal.to_follower(), refusal.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authorization_header_carries_a_base64_key() {
        let encoded = Base64::encode_string(b"ops:s3cret-value");
        let key = parse_header(Some(&format!("ApiKey {encoded}"))).expect("key");
        assert_eq!(key.id(), "ops");
        assert_eq!(key.expose_secret(), "s3cret-value");
        let missing = parse_header(None).expect_err("none");
        assert!(
            missing.contains("missing authentication credentials"),
            "{missing}"
        );
        let basic = parse_header(Some("Basic dXNlcjpwYXNz")).expect_err("basic");
        assert!(basic.contains("\"Basic\", not ApiKey"), "{basic}");
        assert!(parse_header(Some("ApiKey !!!")).is_err());
        let no_colon = Base64::encode_string(b"nocolon");
        assert!(parse_header(Some(&format!("ApiKey {no_colon}"))).is_err());
    }
}
