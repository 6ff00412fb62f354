//! A response on the wire: the head the server writes for a guest's
//! `wasi:http` response, and its body, framed by the server.

use super::io::{IoEnd, Output};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version, header};
use http_body::Body;
use http_body_util::BodyExt;
use std::time::Duration;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How the response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body may follow (1xx, 204, 304).
    None,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 clients).
    Chunked,
    /// Until the connection closes (HTTP/1.0 clients, length unknown).
    UntilClose,
}

impl Framing {
    /// The framing of a body of `length` (if known) for a `status` answer
    /// to a `version` client.
    pub fn of(status: StatusCode, length: Option<u64>, version: Version) -> Self {
        if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Framing::None;
        }
        match (length, version) {
            (Some(n), _) => Framing::Length(n),
            (None, Version::HTTP_10) => Framing::UntilClose,
            (None, _) => Framing::Chunked,
        }
    }
}

/// Headers the server sets itself: framing and connection management.
fn server_managed(name: &header::HeaderName) -> bool {
    [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
        header::HeaderName::from_static("keep-alive"),
        header::UPGRADE,
    ]
    .contains(name)
}

/// The response head: status line, the guest's headers (less the ones the
/// server manages), `Date` unless the guest set one, the framing, and
/// `Connection: close` if the connection ends after this response (or
/// `Connection: keep-alive` to an HTTP/1.0 client if it does not).
pub(crate) fn head(
    status: StatusCode,
    headers: &HeaderMap,
    framing: Framing,
    close: bool,
    version: Version,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if server_managed(name) {
            continue;
        }
        line(&mut out, name.as_str(), value.as_bytes());
    }
    if !headers.contains_key(header::DATE) {
        let now = httpdate::fmt_http_date(std::time::SystemTime::now());
        line(&mut out, "date", now.as_bytes());
    }
    match framing {
        Framing::Length(n) => line(&mut out, "content-length", n.to_string().as_bytes()),
        Framing::Chunked => line(&mut out, "transfer-encoding", b"chunked"),
        Framing::None | Framing::UntilClose => {}
    }
    if close {
        line(&mut out, "connection", b"close");
    } else if version == Version::HTTP_10 {
        line(&mut out, "connection", b"keep-alive");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A short error response of the server's own (the connection closes
/// after it).
pub(crate) fn error(status: u16, why: &str) -> Vec<u8> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = format!("{why}\n");
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let length = Framing::Length(body.len() as u64);
    let mut out = head(status, &headers, length, true, Version::HTTP_11);
    out.extend_from_slice(body.as_bytes());
    out
}

/// The length a guest's body declares: its `Content-Length` header (which
/// wasmtime-wasi-http holds the guest's writes to), else the body's exact
/// size hint.
pub(crate) fn declared_length(headers: &HeaderMap, body: &HyperOutgoingBody) -> Option<u64> {
    let header = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    header.or(body.size_hint().exact())
}

/// Whether the method's response carries no body (HEAD).
pub(crate) fn bodiless(method: &Method) -> bool {
    method == Method::HEAD
}

/// How sending a stream body ended.
#[derive(Debug)]
pub(crate) enum BodyEnd {
    /// All of it, framed: the connection may carry another response.
    Complete,
    /// The guest's body failed or disagreed with its length, or the socket
    /// failed: the connection must close (mid-body, nothing else can tell
    /// the client).
    Broken,
}

/// Sends a guest's stream body framed as `framing`, each write waiting at
/// most `idle` for the client to take bytes. A chunked body's last chunk
/// goes out, and a body delimited by the close counts as complete, only if
/// `returned` (the guest returned from its handler, not trapped) says so:
/// a body cut short must not look complete. Returns the body bytes sent.
pub(crate) async fn send_body(
    conn: &Output,
    mut body: HyperOutgoingBody,
    framing: Framing,
    idle: Duration,
    returned: impl Future<Output = bool>,
) -> (BodyEnd, u64) {
    let mut sent = 0u64;
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "response body failed");
                return (BodyEnd::Broken, sent);
            }
        };
        let data: Bytes = match frame.into_data() {
            Ok(data) => data,
            // Trailers: not sent (the request had no `TE: trailers` checks
            // here); the body ends with them.
            Err(_) => break,
        };
        if data.is_empty() {
            continue;
        }
        if let Framing::Length(n) = framing
            && sent + data.len() as u64 > n
        {
            return (BodyEnd::Broken, sent);
        }
        let written = match framing {
            Framing::Chunked => {
                let mut chunk = Vec::with_capacity(data.len() + 16);
                chunk.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                chunk.extend_from_slice(&data);
                chunk.extend_from_slice(b"\r\n");
                conn.write_all(&chunk, idle).await
            }
            _ => conn.write_all(&data, idle).await,
        };
        if let Err(e) = written {
            log_io("response body", &e);
            return (BodyEnd::Broken, sent);
        }
        sent += data.len() as u64;
    }
    let whole = match framing {
        Framing::Length(n) => sent == n,
        Framing::Chunked | Framing::UntilClose => returned.await,
        Framing::None => true,
    };
    if !whole {
        return (BodyEnd::Broken, sent);
    }
    if framing == Framing::Chunked && conn.write_all(b"0\r\n\r\n", idle).await.is_err() {
        return (BodyEnd::Broken, sent);
    }
    (BodyEnd::Complete, sent)
}

/// Logs a socket ending at debug level (clients leaving is routine).
pub(crate) fn log_io(what: &str, e: &IoEnd) {
    tracing::debug!(%e, "{what}: connection ended");
}
