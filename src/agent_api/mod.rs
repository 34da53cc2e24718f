//! Talking to `rrbench agent` on another host: its address (`agent://HOST:PORT`), its API's
//! bodies ([`wire`]), an HTTPS client with an API key ([`client`]), and the clock offset
//! between the two hosts ([`clock_offset`]).
//!
//! The agent itself (the server) is [`crate::agent`]; a campaign that runs its leader on an
//! agent uses this module, and the agent uses [`wire`] too, so neither imports the other.

pub mod client;
pub mod clock_offset;
pub mod wire;

use std::{fmt, str::FromStr, time::Duration};

pub use client::AgentClient;
pub use clock_offset::{ClockOffset, Sample};

/// The agent's port when a URL gives none.
pub const DEFAULT_PORT: u16 = 7070;
/// What an agent's address starts with.
pub const SCHEME: &str = "agent://";
/// Clock samples taken to estimate a host's offset.
pub const CLOCK_SAMPLES: usize = 16;

/// Where an agent listens: `agent://HOST[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentUrl {
    /// A name or an IP address (without brackets).
    pub host: String,
    /// Its port.
    pub port: u16,
}

impl AgentUrl {
    /// `host:port` to connect to (an IPv6 address in brackets).
    pub fn address(&self) -> String {
        format!("{}:{}", self.host_header(), self.port)
    }

    /// The host as a `Host` header and an address carry it.
    pub fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The address of `port` on the agent's host.
    pub fn on_port(&self, port: u16) -> String {
        format!("{}:{port}", self.host_header())
    }
}

impl fmt::Display for AgentUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.address())
    }
}

impl FromStr for AgentUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let rest = text.strip_prefix(SCHEME).ok_or_else(|| {
            format!("{text:?} is not an agent address: write agent://HOST:PORT (e.g. agent://10.0.0.5:{DEFAULT_PORT})")
        })?;
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: an IPv6 address needs its closing ]"))?;
            (host, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
            return Err(format!("{text:?}: no host name or address in it"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{text:?}: port {p:?} is not 1 to 65535"))?,
        };
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

/// What went wrong talking to an agent. Every message names the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No connection.
    #[error(
        "cannot reach the agent at {url}: {message} (is `rrbench agent` running there, and its \
         port open from here?)"
    )]
    Connect {
        /// The agent.
        url: String,
        /// The socket's error.
        message: String,
    },
    /// The TLS handshake failed.
    #[error("TLS with the agent at {url} failed: {message}")]
    Tls {
        /// The agent.
        url: String,
        /// The diagnosis.
        message: String,
    },
    /// The agent refused the API key.
    #[error(
        "the agent at {url} refused this campaign's API key: {reason} (make a key with `rrbench \
         api-key --type rest` into the agent's --api-keys file)"
    )]
    Refused {
        /// The agent.
        url: String,
        /// The agent's reason.
        reason: String,
    },
    /// The agent answered with an error.
    #[error("the agent at {url} answered {status}: {reason}")]
    Remote {
        /// The agent.
        url: String,
        /// HTTP status.
        status: u16,
        /// Its reason.
        reason: String,
    },
    /// An answer that is not the API's.
    #[error("the agent at {url}: {message}")]
    Protocol {
        /// The agent.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// No answer in time.
    #[error("the agent at {url} did not answer {what} within {after:?}")]
    Timeout {
        /// The agent.
        url: String,
        /// The call.
        what: String,
        /// The bound.
        after: Duration,
    },
}

/// The agent's clock offset from `local` (remote minus local, in seconds), from
/// [`CLOCK_SAMPLES`] calls of `GET /clock`.
pub async fn estimate_offset(
    client: &AgentClient,
    local: rrbench_chaos::clock::Clock,
) -> Result<ClockOffset, AgentError> {
    estimate_offset_with(client, local, CLOCK_SAMPLES).await
}

/// [`estimate_offset`] from `count` samples.
pub async fn estimate_offset_with(
    client: &AgentClient,
    local: rrbench_chaos::clock::Clock,
    count: usize,
) -> Result<ClockOffset, AgentError> {
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let answer = client.exchange("GET", "/clock", None::<&()>).await?;
        let reading: wire::ClockReading = client.parse(&answer)?;
        samples.push(Sample {
            sent: local.offset(answer.sent).as_secs_f64(),
            remote: reading.agent_s,
            received: local.offset(answer.received).as_secs_f64(),
        });
    }
    ClockOffset::estimate(&samples).ok_or_else(|| AgentError::Protocol {
        url: client.url().to_string(),
        message: "its clock readings are unusable (not finite)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_urls_parse_with_and_without_a_port() {
        let url: AgentUrl = "agent://10.0.0.5:7071".parse().expect("url");
        assert_eq!((url.host.as_str(), url.port), ("10.0.0.5", 7071));
        assert_eq!(url.to_string(), "agent://10.0.0.5:7071");
        let bare: AgentUrl = "agent://hostA".parse().expect("url");
        assert_eq!(bare.port, DEFAULT_PORT);
        let v6: AgentUrl = "agent://[fd00::1]:9".parse().expect("v6");
        assert_eq!(v6.host, "fd00::1");
        assert_eq!(v6.on_port(80), "[fd00::1]:80");
        for bad in [
            "http://h:1",
            "agent://",
            "agent://h:0",
            "agent://h:x",
            "agent://[::1",
        ] {
            assert!(bad.parse::<AgentUrl>().is_err(), "{bad}");
        }
    }
}
