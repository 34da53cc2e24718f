//! The agent's client: HTTPS (rustls, trusting only the CA it is given) with an Elasticsearch
//! API key (`Authorization: ApiKey base64(id:secret)`), one request per connection.
//!
//! What comes back is from the network: the response head is bounded to [`MAX_HEAD`] bytes, the
//! body to [`MAX_BODY`] (or less, where the caller knows what the answer needs), the whole exchange to [`CALL_TIMEOUT`], and every body is parsed as
//! the type it should be or refused naming the agent.

use std::{sync::Arc, time::Duration};

use base64ct::{Base64, Encoding};
use serde::{Serialize, de::DeserializeOwned};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, rustls::pki_types::ServerName};

use super::{AgentError, AgentUrl};
use crate::{
    auth::ApiKey,
    transport::{
        certs::{self, DiagnosingVerifier, TlsClient},
        tls::{describe, rustls_error},
    },
};

/// Longest response head read.
pub const MAX_HEAD: usize = 16 << 10;
/// Longest response body read (a long trial's events).
pub const MAX_BODY: usize = 256 << 20;
/// The longest one call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest the TCP connection and the TLS handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of one agent.
pub struct AgentClient {
    url: AgentUrl,
    name: ServerName<'static>,
    connector: TlsConnector,
    verifier: Arc<DiagnosingVerifier>,
    authorization: String,
}

impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient")
            .field("url", &self.url.to_string())
            .finish()
    }
}

/// One answer: its status, its body, and the local instants around the exchange.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// Just before the request was written (after the TLS handshake).
    pub sent: tokio::time::Instant,
    /// Just after the answer was read.
    pub received: tokio::time::Instant,
}

impl AgentClient {
    /// A client of the agent at `url` trusting `tls.ca` (and verifying `tls.server_name`, or
    /// the URL's host), authenticating with `key`.
    pub fn new(url: AgentUrl, tls: &TlsClient, key: &ApiKey) -> Result<Self, AgentError> {
        let (config, verifier) = certs::client_config(tls).map_err(|e| AgentError::Tls {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        let name = tls.server_name.clone().unwrap_or_else(|| url.host.clone());
        let name = ServerName::try_from(name.clone()).map_err(|e| AgentError::Tls {
            url: url.to_string(),
            message: format!("server name {name:?}: {e}"),
        })?;
        let credentials = format!("{}:{}", key.id(), key.expose_secret());
        Ok(Self {
            url,
            name,
            connector: TlsConnector::from(Arc::new(config)),
            verifier,
            authorization: format!("ApiKey {}", Base64::encode_string(credentials.as_bytes())),
        })
    }

    /// The agent's URL.
    pub fn url(&self) -> &AgentUrl {
        &self.url
    }

    /// `method path` with `body` as JSON; the answer must be 2xx and parse as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, AgentError> {
        let answer = self.exchange(method, path, body).await?;
        self.parse(&answer)
    }

    /// The answer's body as `T`, or the agent's refusal.
    pub fn parse<T: DeserializeOwned>(&self, answer: &Answer) -> Result<T, AgentError> {
        let url = self.url.to_string();
        if !(200..300).contains(&answer.status) {
            let reason = error_reason(&answer.body);
            return Err(match answer.status {
                401 | 403 => AgentError::Refused { url, reason },
                status => AgentError::Remote {
                    url,
                    status,
                    reason,
                },
            });
        }
        serde_json::from_slice(&answer.body).map_err(|e| AgentError::Protocol {
            url,
            message: format!("an answer that is not what was asked for: {e}"),
        })
    }

    /// One request and its answer, whatever the status.
    pub async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Answer, AgentError> {
        self.exchange_limited(method, path, body, MAX_BODY).await
    }

    /// [`AgentClient::exchange`] taking an answer body of at most `max_body` bytes (what the
    /// caller knows the answer needs, e.g. an index's file list).
    pub async fn exchange_limited(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
        max_body: usize,
    ) -> Result<Answer, AgentError> {
        let body = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| AgentError::Protocol {
                url: self.url.to_string(),
                message: format!("encoding the request: {e}"),
            })?,
            None => Vec::new(),
        };
        let exchanged = self.exchange_bytes(method, path, &body, max_body);
        tokio::time::timeout(CALL_TIMEOUT, exchanged)
            .await
            .map_err(|_| AgentError::Timeout {
                url: self.url.to_string(),
                what: format!("{method} {path}"),
                after: CALL_TIMEOUT,
            })?
    }

    async fn exchange_bytes(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        max_body: usize,
    ) -> Result<Answer, AgentError> {
        let url = self.url.to_string();
        let addr = self.url.address();
        let no_answer = || AgentError::Connect {
            url: url.clone(),
            message: format!(
                "no answer within {CONNECT_TIMEOUT:?} (a firewall dropping the port, or a host \
                 that is down)"
            ),
        };
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| no_answer())?
            .map_err(|e| AgentError::Connect {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let _ = tcp.set_nodelay(true);
        let handshake = self.connector.connect(self.name.clone(), tcp);
        let handshake = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
            .await
            .map_err(|_| no_answer())?;
        let mut tls = match handshake {
            Ok(tls) => tls,
            Err(e) => {
                let message = match (self.verifier.take_diagnosis(), rustls_error(&e)) {
                    (Some(diagnosis), _) => diagnosis,
                    (None, Some(tls)) => describe(tls),
                    (None, None) => format!(
                        "{e} (is this port an `rrbench agent`, which always serves TLS? An agent \
                         serving its most connections at once closes new ones too)"
                    ),
                };
                return Err(AgentError::Tls { url, message });
            }
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: \
             application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.url.host_header(),
            self.authorization,
            body.len()
        );
        let lost = |e: std::io::Error| AgentError::Protocol {
            url: url.clone(),
            message: format!("the connection failed mid-request: {e}"),
        };
        let sent = tokio::time::Instant::now();
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        tls.write_all(&request).await.map_err(lost)?;
        tls.flush().await.map_err(lost)?;
        let mut raw = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        let (status, body_start, length) = loop {
            let n = tls.read(&mut chunk).await.map_err(lost)?;
            if n == 0 {
                return Err(AgentError::Protocol {
                    url,
                    message: "the agent closed the connection before answering".into(),
                });
            }
            raw.extend_from_slice(&chunk[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let (status, length) =
                    parse_head(&raw[..end]).map_err(|message| AgentError::Protocol {
                        url: url.clone(),
                        message,
                    })?;
                break (status, end + 4, length);
            }
            if raw.len() > MAX_HEAD {
                return Err(AgentError::Protocol {
                    url,
                    message: format!("an answer head over {MAX_HEAD} bytes"),
                });
            }
        };
        if length > max_body {
            return Err(AgentError::Protocol {
                url,
                message: format!("an answer of {length} bytes, over {max_body}"),
            });
        }
        while raw.len() < body_start + length {
            let n = tls.read(&mut chunk).await.map_err(lost)?;
            if n == 0 {
                return Err(AgentError::Protocol {
                    url,
                    message: format!(
                        "the answer ended after {} of its {length} bytes",
                        raw.len() - body_start
                    ),
                });
            }
            raw.extend_from_slice(&chunk[..n]);
        }
        let received = tokio::time::Instant::now();
        raw.truncate(body_start + length);
        Ok(Answer {
            status,
            body: raw.split_off(body_start),
            sent,
            received,
        })
    }
}

/// The status and `Content-Length` of a response head.
fn parse_head(head: &[u8]) -> Result<(u16, usize), String> {
    let head = std::str::from_utf8(head).map_err(|_| "an answer head that is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| {
            let shown: String = status_line.chars().take(60).collect();
            format!("{shown:?} is not an HTTP status line (is this port an rrbench agent?)")
        })?;
    let mut length = 0;
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value
                .trim()
                .parse()
                .map_err(|_| format!("Content-Length {:?} is not a number", value.trim()))?;
        }
    }
    Ok((status, length))
}

/// The reason in an error body (`{"error": {"reason": ...}}` or `{"error": "..."}`), or the
/// start of the body.
fn error_reason(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let reason = parsed.as_ref().and_then(|v| {
        let error = v.get("error")?;
        error
            .get("reason")
            .and_then(|r| r.as_str())
            .or_else(|| error.as_str())
            .map(str::to_string)
    });
    reason.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_head_gives_its_status_and_length() {
        let head = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\ncontent-length: 12";
        assert_eq!(parse_head(head), Ok((201, 12)));
        assert!(parse_head(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1").is_err());
    }

    #[test]
    fn error_bodies_give_their_reason() {
        let es = br#"{"error":{"type":"security_exception","reason":"bad key"},"status":401}"#;
        assert_eq!(error_reason(es), "bad key");
        assert_eq!(error_reason(br#"{"error":"no rig 7"}"#), "no rig 7");
        assert_eq!(error_reason(b"plain"), "plain");
    }
}
