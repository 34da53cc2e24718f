//! A small HTTP/1.1 server for control APIs (the toxiproxy-compatible API, `/metrics`): one
//! request at a time per connection, keep-alive, bodies by `Content-Length` only.
//!
//! Requests come from the network, so every part is bounded: the head (request line and headers)
//! to [`MAX_HEAD`] bytes, the body to [`MAX_BODY`], the wait for a whole request to
//! [`READ_TIMEOUT`] (and a kept-alive connection's idle time to [`IDLE_TIMEOUT`]), the
//! connections served at once to [`MAX_CONNECTIONS`], writing and answering to
//! [`WRITE_TIMEOUT`]. A request that breaks a bound, or is not HTTP/1.x, gets `400` (or `413`,
//! `431`, `501`) and the connection is closed. What a handler does with a request is its own:
//! it gets a parsed [`Request`] and returns a [`Response`].
//!
//! [`HttpServer::start_with`] wraps each accepted connection first (rrbench's agent serves its
//! API over TLS this way); the wrapping counts against [`READ_TIMEOUT`] like a request does.

use std::{future::Future, net::SocketAddr, pin::Pin, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::shutdown::{Shutdown, Signal};

/// Longest request line and headers accepted.
pub const MAX_HEAD: usize = 16 << 10;
/// Longest request body accepted.
pub const MAX_BODY: usize = 1 << 20;
/// How long a connection may take to send a whole request, once it has begun one.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a kept-alive connection may sit idle before its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long writing a response, and a handler answering, may take.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; past that, a new one is answered `503` and closed.
pub const MAX_CONNECTIONS: usize = 128;
/// Requests served on one connection before it is closed.
pub const MAX_REQUESTS: usize = 1000;

/// One request.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// `GET`, `POST`, ... as sent (HTTP methods are case-sensitive).
    pub method: String,
    /// The path without its query, percent-decoding not applied (`/proxies/name`).
    pub path: String,
    /// The query string after `?`, if any.
    pub query: Option<String>,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty without `Content-Length`).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path split on `/`, empty segments dropped (`/proxies/a/` is `["proxies", "a"]`).
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// One response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// Further headers (`Allow` on a 405), written as given.
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    /// A JSON body.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
            headers: Vec::new(),
        }
    }

    /// A plain-text body.
    pub fn text(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type,
            body: body.into().into_bytes(),
            headers: Vec::new(),
        }
    }

    /// No body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The same response with one more header. Names and values come from the program, never
    /// from a request, so they need no checking for line breaks.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The same response, and the connection closed after it (an unauthenticated client gets
    /// no second request on it).
    pub fn closing(self) -> Self {
        self.with_header("Connection", "close")
    }

    fn closes(&self) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"))
    }
}

/// What answers requests.
pub type Handler =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// A byte stream a connection is served over (a TCP socket, or TLS over one).
pub trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// Turns an accepted socket into the stream requests are read from (a TLS handshake); an error
/// closes the connection.
pub type Wrap = Arc<
    dyn Fn(TcpStream) -> Pin<Box<dyn Future<Output = std::io::Result<Box<dyn Duplex>>> + Send>>
        + Send
        + Sync,
>;

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct HttpServer {
    local_addr: SocketAddr,
    shutdown: Shutdown,
}

impl HttpServer {
    /// Serves `handler` on `listener` until [`HttpServer::stop`].
    pub fn start(listener: TcpListener, handler: Handler) -> std::io::Result<Self> {
        let plain: Wrap = Arc::new(|stream| Box::pin(async move { Ok(Box::new(stream) as _) }));
        Self::serve(listener, handler, plain, true)
    }

    /// Serves `handler` on `listener`, each connection wrapped by `wrap` first. A connection
    /// past [`MAX_CONNECTIONS`] is closed without a word: a `503` in plaintext would be
    /// garbage inside the wrapping (TLS).
    pub fn start_with(
        listener: TcpListener,
        handler: Handler,
        wrap: Wrap,
    ) -> std::io::Result<Self> {
        Self::serve(listener, handler, wrap, false)
    }

    fn serve(
        listener: TcpListener,
        handler: Handler,
        wrap: Wrap,
        plain: bool,
    ) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let mut shutdown = Shutdown::new();
        shutdown.spawn(move |signal| accept(listener, handler, wrap, plain, signal));
        Ok(Self {
            local_addr,
            shutdown,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and waits for the connections' tasks to end.
    pub async fn stop(mut self) {
        self.shutdown.stop().await;
    }
}

async fn accept(
    listener: TcpListener,
    handler: Handler,
    wrap: Wrap,
    plain: bool,
    mut signal: Signal,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = signal.recv() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // EMFILE and the like: wait a little instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if !plain {
                drop(stream);
                continue;
            }
            tokio::spawn(async move {
                let mut stream = stream;
                let why = format!("more than {MAX_CONNECTIONS} connections at once");
                let body = serde_json::json!({ "error": why, "status": 503 });
                let busy = Response::json(503, &body);
                let _ =
                    tokio::time::timeout(WRITE_TIMEOUT, write_response(&mut stream, &busy, true))
                        .await;
            });
            continue;
        };
        let (handler, wrap, mut signal) = (handler.clone(), wrap.clone(), signal.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            let served = async move {
                if let Ok(Ok(stream)) = tokio::time::timeout(READ_TIMEOUT, wrap(stream)).await {
                    serve(stream, handler).await;
                }
            };
            tokio::select! {
                _ = signal.recv() => {}
                () = served => {}
            }
        });
    }
}

/// Serves one connection: request after request until the peer closes, asks to close, or
/// sends something unacceptable.
async fn serve(mut stream: Box<dyn Duplex>, handler: Handler) {
    let mut buffered = Vec::new();
    for served in 1..=MAX_REQUESTS {
        // Idle until a request begins (a short wait), then the whole of it within READ_TIMEOUT.
        if buffered.is_empty() {
            let begun = tokio::time::timeout(IDLE_TIMEOUT, read_more(&mut stream, &mut buffered));
            if !matches!(begun.await, Ok(Ok(()))) {
                return;
            }
        }
        let read = tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream, &mut buffered));
        let (request, close) = match read.await {
            Err(_) | Ok(Err(Unreadable::Closed)) => return,
            Ok(Err(Unreadable::Bad(status, why))) => {
                let body = serde_json::json!({ "error": why, "status": status });
                let refusal = Response::json(status, &body);
                let written = write_response(&mut stream, &refusal, true);
                let _ = tokio::time::timeout(WRITE_TIMEOUT, written).await;
                return;
            }
            Ok(Ok(parsed)) => parsed,
        };
        let response = match tokio::time::timeout(WRITE_TIMEOUT, handler(request)).await {
            Ok(response) => response,
            Err(_) => {
                let why = format!("no answer within {WRITE_TIMEOUT:?}");
                Response::json(503, &serde_json::json!({ "error": why, "status": 503 }))
            }
        };
        let close = close || served == MAX_REQUESTS || response.closes();
        let written =
            tokio::time::timeout(WRITE_TIMEOUT, write_response(&mut stream, &response, close));
        if !matches!(written.await, Ok(Ok(()))) || close {
            return;
        }
    }
}

enum Unreadable {
    /// The peer closed between requests (or mid-request).
    Closed,
    /// A request that breaks a rule: its status and why.
    Bad(u16, String),
}

/// Reads one request from `stream`, with the bytes already read in `buffered`; leaves any bytes
/// past it (a pipelined request) in `buffered`. Also says whether to close afterwards.
async fn read_request<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    buffered: &mut Vec<u8>,
) -> Result<(Request, bool), Unreadable> {
    // Where the search for the head's end resumes: bytes already searched are not searched
    // again (a client sending one byte at a time must not cost a scan of the whole head each).
    let mut searched = 0;
    let head_end = loop {
        let found = find(&buffered[searched..], b"\r\n\r\n").map(|at| at + searched);
        searched = buffered.len().saturating_sub(3);
        if found.unwrap_or(buffered.len()) > MAX_HEAD {
            return Err(Unreadable::Bad(
                431,
                format!("headers over {MAX_HEAD} bytes"),
            ));
        }
        if let Some(at) = found {
            break at;
        }
        read_more(stream, buffered).await?;
    };
    let head = String::from_utf8(buffered[..head_end].to_vec())
        .map_err(|_| Unreadable::Bad(400, "the request head is not UTF-8".into()))?;
    let (mut request, version) = parse_head(&head)?;
    let length = match request.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| Unreadable::Bad(400, format!("Content-Length {v:?} is not a number")))?,
    };
    if request.header("transfer-encoding").is_some() {
        return Err(Unreadable::Bad(
            501,
            "Transfer-Encoding is not supported: send Content-Length".into(),
        ));
    }
    if length > MAX_BODY {
        return Err(Unreadable::Bad(
            413,
            format!("a body over {MAX_BODY} bytes"),
        ));
    }
    let body_start = head_end + 4;
    while buffered.len() < body_start + length {
        read_more(stream, buffered).await?;
    }
    request.body = buffered[body_start..body_start + length].to_vec();
    buffered.drain(..body_start + length);
    let connection = request.header("connection").map(str::to_ascii_lowercase);
    let close = match version {
        Version::Http10 => connection.as_deref() != Some("keep-alive"),
        Version::Http11 => connection.as_deref() == Some("close"),
    };
    Ok((request, close))
}

async fn read_more<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    buffered: &mut Vec<u8>,
) -> Result<(), Unreadable> {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => Err(Unreadable::Closed),
        Ok(n) => {
            buffered.extend_from_slice(&chunk[..n]);
            Ok(())
        }
    }
}

enum Version {
    Http10,
    Http11,
}

fn parse_head(head: &str) -> Result<(Request, Version), Unreadable> {
    let bad = |why: String| Unreadable::Bad(400, why);
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!(
            "request line {:?} is not METHOD TARGET VERSION",
            line.chars().take(100).collect::<String>()
        )));
    };
    let version = match version {
        "HTTP/1.1" => Version::Http11,
        "HTTP/1.0" => Version::Http10,
        other => {
            let other: String = other.chars().take(20).collect();
            return Err(bad(format!("{other:?} is not HTTP/1.0 or HTTP/1.1")));
        }
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("the method is not an HTTP method".into()));
    }
    if !target.starts_with('/') {
        return Err(bad("the request target is not a path".into()));
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (target, None),
    };
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("a header line without ':'".into()));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok((
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query,
            headers,
            body: Vec::new(),
        },
        version,
    ))
}

async fn write_response<S: AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    response: &Response,
    close: bool,
) -> std::io::Result<()> {
    // A 204 has neither a body nor a Content-Length (RFC 9110, 8.6).
    let mut out = match response.status {
        204 => format!("HTTP/1.1 204 {}\r\n", reason(204)),
        status => format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            reason(status),
            response.content_type,
            response.body.len()
        ),
    };
    for (name, value) in &response.headers {
        // `Connection` is written below, once.
        if !name.eq_ignore_ascii_case("connection") {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response.body);
    stream.write_all(&bytes).await?;
    stream.flush().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        429 => "Too Many Requests",
        507 => "Insufficient Storage",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let handler: Handler = Arc::new(|request: Request| {
            Box::pin(async move {
                if request.path == "/empty" {
                    return Response::empty(204);
                }
                let value = serde_json::json!({
                    "method": request.method,
                    "segments": request.segments(),
                    "query": request.query,
                    "body": String::from_utf8_lossy(&request.body),
                });
                Response::json(200, &value)
            })
        });
        HttpServer::start(listener, handler).expect("start")
    }

    async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(raw).await.expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn requests_are_parsed_kept_alive_and_pipelined() {
        let server = echo_server().await;
        let two = b"POST /proxies/a/?x=1 HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET /version HTTP/1.1\r\nConnection: close\r\n\r\n";
        let out = exchange(server.local_addr(), two).await;
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
        assert!(out.contains(r#""segments":["proxies","a"]"#), "{out}");
        assert!(
            out.contains(r#""query":"x=1""#) && out.contains(r#""body":"body""#),
            "{out}"
        );
        assert!(out.contains(r#""segments":["version"]"#), "{out}");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_204_has_no_length_and_connections_past_the_cap_get_503() {
        let server = echo_server().await;
        let addr = server.local_addr();
        let out = exchange(addr, b"GET /empty HTTP/1.1\r\nConnection: close\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 204"), "{out}");
        assert!(
            !out.to_ascii_lowercase().contains("content-length"),
            "{out}"
        );
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            // One request each, so every connection is being served before the next comes.
            stream
                .write_all(b"GET /v HTTP/1.1\r\n\r\n")
                .await
                .expect("write");
            let mut first = [0u8; 12];
            stream.read_exact(&mut first).await.expect("answered");
            held.push(stream);
        }
        let out = exchange(addr, b"GET / HTTP/1.1\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 503"), "{out}");
        drop(held);
        server.stop().await;
    }

    #[tokio::test]
    async fn what_breaks_a_rule_gets_its_status_and_the_connection_closes() {
        let server = echo_server().await;
        let addr = server.local_addr();
        let big_head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD + 1));
        let big_body = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        for (raw, status) in [
            ("GET / HTTP/2.0\r\n\r\n".to_string(), "400"),
            ("nonsense\r\n\r\n".into(), "400"),
            ("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n".into(), "400"),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
                "501",
            ),
            (big_head, "431"),
            (big_body, "413"),
        ] {
            let out = exchange(addr, raw.as_bytes()).await;
            assert!(
                out.starts_with(&format!("HTTP/1.1 {status}")),
                "{status}: {out}"
            );
            assert!(
                out.contains("Connection: close") && out.contains("\"error\""),
                "{out}"
            );
        }
        server.stop().await;
    }
}
