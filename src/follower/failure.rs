//! Why an attempt ended, classified: what the network, the leader or the local disk did, and
//! whether any policy would try again. Pure: it turns transport and index errors into
//! [`Failure`]s, which [`super::recovery::Recovery`] decides on.

use super::report::FailureKind;
use crate::{
    auth::AUTH_TOKEN_ENV,
    index::IndexError,
    protocol::{ErrorCode, ProtocolError},
    transport::{TransportError, tls::looks_like_tls},
};

/// Why a request, a write or an attempt failed.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Classification (the report's `kind`).
    pub kind: FailureKind,
    /// Detail for a user.
    pub message: String,
    /// The channel that failed first, when one did.
    pub channel: Option<usize>,
    /// Not worth another attempt (corruption, a broken leader, a full disk).
    pub fatal: bool,
    /// Whether it came from the network (not from the local disk).
    pub from_network: bool,
}

impl Failure {
    /// A failure of `kind`; final kinds ([`FailureKind::is_final`]) are fatal.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            channel: None,
            fatal: kind.is_final(),
            from_network: false,
        }
    }

    /// The same failure, not worth another attempt.
    pub fn fatal(mut self) -> Self {
        self.fatal = true;
        self
    }

    /// A request failed on `channel` (if known); a lost connection is blamed on the channel that
    /// failed first.
    pub fn transport(channel: Option<usize>, e: TransportError) -> Self {
        let channel = match &e {
            TransportError::ChannelLost { channel, .. } => Some(*channel),
            _ => channel,
        };
        let kind = match e.root() {
            TransportError::Connect { .. } => FailureKind::Connect,
            TransportError::Reset => FailureKind::Reset,
            TransportError::Eof => FailureKind::Eof,
            TransportError::Timeout(_) => FailureKind::Timeout,
            TransportError::Io(_) => FailureKind::Io,
            TransportError::Protocol(_) | TransportError::Unexpected(_) => FailureKind::Protocol,
            TransportError::Remote {
                code: ErrorCode::UnknownSession,
                ..
            } => FailureKind::SessionExpired,
            TransportError::Remote {
                code: ErrorCode::Unauthorized | ErrorCode::Forbidden,
                ..
            } => FailureKind::Unauthorized,
            TransportError::Remote { .. } => FailureKind::Remote,
            TransportError::PingTimeout(_) => FailureKind::Timeout,
            TransportError::Tls(_) => FailureKind::Connect,
            TransportError::ChannelLost { .. } => FailureKind::Eof,
        };
        let message = match e.root() {
            TransportError::Remote {
                code: ErrorCode::Unauthorized,
                message,
            } => unauthorized(message),
            TransportError::Remote {
                code: ErrorCode::Forbidden,
                message,
            } => format!("the leader accepted this follower's API key but refused: {message}"),
            TransportError::Connect { addr, message } if is_refused(message) => {
                format!(
                    "no leader listening at {addr} (is `rrbench leader` running there?): {message}"
                )
            }
            TransportError::Protocol(ProtocolError::BadMagic(first)) if looks_like_tls(first) => {
                "TLS: the leader answered with TLS, not rrbench frames: it runs with --tls; recover with --tls and --ca FILE"
                    .to_string()
            }
            TransportError::Tls(_) => e.root().to_string(),
            _ => e.to_string(),
        };
        // Not transient: a certificate refused, or the two sides not both speaking TLS.
        let tls = match e.root() {
            TransportError::Tls(_) => true,
            TransportError::Protocol(ProtocolError::BadMagic(first)) => looks_like_tls(first),
            _ => false,
        };
        // The leader does not have what was asked for: asking again will not make it.
        let absent = matches!(
            e.root(),
            TransportError::Remote {
                code: ErrorCode::UnknownIndex | ErrorCode::UnknownShard,
                ..
            }
        );
        let mut failure = Self::new(kind, message);
        failure.channel = channel;
        failure.from_network = true;
        failure.fatal |= absent || tls;
        failure
    }

    /// A request got no answer within `limit`.
    pub fn timeout(limit: std::time::Duration) -> Self {
        Self::transport(None, TransportError::Timeout(limit))
    }

    /// The leader answered with something else than `what`.
    pub fn unexpected(what: &str, got: crate::protocol::Kind) -> Self {
        Self::new(
            FailureKind::Protocol,
            format!("expected {what}, got {got:?}"),
        )
    }

    /// The target directory (or what the leader listed for it) failed.
    pub fn local(e: IndexError) -> Self {
        match e {
            IndexError::ChecksumMismatch { .. } | IndexError::LengthMismatch { .. } => {
                Self::new(FailureKind::Corrupt, e.to_string())
            }
            // A leader that lists a bad name twice will list it again: not worth retrying.
            IndexError::UnsafeName(_)
            | IndexError::DuplicateName(_)
            | IndexError::TooManyFiles { .. }
            | IndexError::FileTooLarge { .. } => {
                Self::new(FailureKind::Protocol, e.to_string()).fatal()
            }
            IndexError::TargetFull { .. } => Self::new(FailureKind::Io, e.to_string()).fatal(),
            _ => Self::new(FailureKind::Io, e.to_string()),
        }
    }

    /// A broken or unreachable connection: what OpenSearch retries a chunk on.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self.kind,
            FailureKind::Reset
                | FailureKind::Eof
                | FailureKind::Connect
                | FailureKind::Io
                | FailureKind::Timeout
        ) && self.from_network
    }
}

/// Whether a connect error's text is the OS's "connection refused": nothing listens there.
/// The transport keeps the OS error as text, so it is matched as the OS writes it.
fn is_refused(message: &str) -> bool {
    message.contains(&std::io::Error::from_raw_os_error(libc::ECONNREFUSED).to_string())
}

/// What refused credentials mean, for a user. The leader names the cause of a refused API key
/// itself (as Elasticsearch's do); a refused shared token gets the likely cause and the fix.
fn unauthorized(leader_said: &str) -> String {
    let about_token = ["no auth token sent", "wrong auth token"]
        .iter()
        .any(|start| leader_said.starts_with(start));
    if !about_token {
        return format!("the leader refused this follower's credentials: {leader_said}");
    }
    format!(
        "the leader refused the auth token ({leader_said}): this follower's token is missing or \
         differs from the leader's; give both the same one (--auth-token-file or \
         {AUTH_TOKEN_ENV})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_are_classified_and_blamed_on_the_first_channel() {
        let lost = TransportError::ChannelLost {
            channel: 3,
            cause: Box::new(TransportError::Reset),
        };
        let f = Failure::transport(Some(1), lost);
        assert_eq!((f.kind, f.channel), (FailureKind::Reset, Some(3)));
        assert!(f.is_connection_error() && !f.fatal);
        let refused = Failure::transport(
            None,
            TransportError::Remote {
                code: ErrorCode::Unauthorized,
                message: "wrong auth token".into(),
            },
        );
        assert!(refused.fatal && refused.message.contains("--auth-token-file"));
        let expired = Failure::transport(
            None,
            TransportError::Remote {
                code: ErrorCode::UnknownSession,
                message: String::new(),
            },
        );
        assert_eq!(expired.kind, FailureKind::SessionExpired);
        assert!(!expired.is_connection_error());
    }

    #[test]
    fn a_refused_connection_says_that_no_leader_listens_there() {
        let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let f = Failure::transport(
            None,
            TransportError::Connect {
                addr: "127.0.0.1:9".into(),
                message: refused.to_string(),
            },
        );
        assert_eq!(f.kind, FailureKind::Connect);
        assert!(
            f.message.starts_with(
                "no leader listening at 127.0.0.1:9 (is `rrbench leader` running there?)"
            ),
            "{}",
            f.message
        );
        let unreachable = Failure::transport(
            None,
            TransportError::Connect {
                addr: "127.0.0.1:9".into(),
                message: "Network is unreachable (os error 101)".into(),
            },
        );
        assert!(
            !unreachable.message.contains("no leader"),
            "{}",
            unreachable.message
        );
    }

    #[test]
    fn local_errors_are_never_connection_errors() {
        let io = Failure::local(IndexError::Io {
            path: "/x".into(),
            source: std::io::Error::other("disk"),
        });
        assert_eq!(io.kind, FailureKind::Io);
        assert!(!io.is_connection_error() && !io.fatal);
        let dup = Failure::local(IndexError::DuplicateName("a".into()));
        assert!(dup.fatal);
    }
}
