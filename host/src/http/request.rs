//! A request's head: parsed with `httparse` and checked against the framing
//! rules of RFC 9112 before a guest sees it.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};

/// Most headers in a request (httparse's array; more is 431).
const MAX_HEADERS: usize = 100;

/// How the request's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A checked request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// Whether the client lets the connection stay open after this
    /// request (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`).
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a 100 before the body.
    pub expect_continue: bool,
}

/// Why a request is refused before any guest runs: the status to answer
/// with (the connection is closed after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub why: &'static str,
}

const fn refuse(status: u16, why: &'static str) -> Refusal {
    Refusal { status, why }
}

/// Whether the bytes from `from` on (and the 3 before, where a line end
/// may have begun) hold a head's end: the blank line (CRLF CRLF, or bare
/// LFs, which httparse also takes). Waiting for it, rather than parsing
/// after every read, keeps a head that trickles in at linear cost.
pub(crate) fn may_be_complete(buf: &[u8], from: usize) -> bool {
    let tail = &buf[from.saturating_sub(3).min(buf.len())..];
    tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n")
}

/// The head at the start of `buf` and its length in bytes, `Ok(None)` if
/// it is not complete yet. `max_head` bounds a head's size: a longer one
/// (complete or not) is 431.
pub(crate) fn parse(buf: &[u8], max_head: usize) -> Result<Option<(Head, usize)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > max_head => {
            return Err(refuse(431, "request head too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(refuse(431, "too many headers")),
        Err(_) => return Err(refuse(400, "malformed request head")),
    };
    if len > max_head {
        return Err(refuse(431, "request head too large"));
    }
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let method = req
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or(refuse(400, "bad method"))?;
    let mut map = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes());
        let value = HeaderValue::from_bytes(h.value);
        match (name, value) {
            (Ok(name), Ok(value)) => {
                map.append(name, value);
            }
            _ => return Err(refuse(400, "bad header")),
        }
    }
    let uri = target(req.path.unwrap_or(""), &method)?;
    check_host(&uri, &map, version)?;
    let framing = framing(&map, version)?;
    let connection = tokens(&map, http::header::CONNECTION);
    let keep_alive = match version {
        Version::HTTP_10 => connection.iter().any(|t| t == "keep-alive"),
        _ => !connection.iter().any(|t| t == "close"),
    };
    let expect_continue = version == Version::HTTP_11
        && map
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let head = Head {
        method,
        uri,
        version,
        headers: map,
        framing,
        keep_alive,
        expect_continue,
    };
    Ok(Some((head, len)))
}

/// The request target (RFC 9112 §3.2): origin form (`/path?query`) or
/// absolute form (`http://host/path`); `*` for `OPTIONS` only. CONNECT's
/// authority form is 400: this server is no proxy.
fn target(path: &str, method: &Method) -> Result<Uri, Refusal> {
    if path == "*" && method == Method::OPTIONS {
        return Ok(Uri::from_static("*"));
    }
    if !path.starts_with('/') && !path.starts_with("http://") && !path.starts_with("https://") {
        return Err(refuse(400, "bad request target"));
    }
    path.parse::<Uri>()
        .map_err(|_| refuse(400, "bad request target"))
}

/// HTTP/1.1 needs exactly one `Host` (RFC 9112 §3.2); a valid authority.
fn check_host(uri: &Uri, headers: &HeaderMap, version: Version) -> Result<(), Refusal> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(refuse(400, "more than one Host"));
    }
    match host {
        None if version == Version::HTTP_11 && uri.authority().is_none() => {
            Err(refuse(400, "no Host"))
        }
        None => Ok(()),
        Some(v) if v.as_bytes().is_empty() => Ok(()),
        Some(v) => match http::uri::Authority::try_from(v.as_bytes()) {
            Ok(a) if a.as_str().contains('@') => Err(refuse(400, "bad Host")),
            Ok(_) => Ok(()),
            Err(_) => Err(refuse(400, "bad Host")),
        },
    }
}

/// The body's framing (RFC 9112 §6.3): `Transfer-Encoding` other than a
/// lone `chunked` is 501; with `Content-Length` too, or on HTTP/1.0, 400
/// (a request smuggling vector); `Content-Length` must be one number
/// (repeats must agree).
fn framing(headers: &HeaderMap, version: Version) -> Result<Framing, Refusal> {
    let te = tokens(headers, http::header::TRANSFER_ENCODING);
    let cl: Vec<&HeaderValue> = headers
        .get_all(http::header::CONTENT_LENGTH)
        .iter()
        .collect();
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        if !cl.is_empty() || version == Version::HTTP_10 {
            return Err(refuse(
                400,
                "Transfer-Encoding with Content-Length or on HTTP/1.0",
            ));
        }
        if te != ["chunked"] {
            return Err(refuse(501, "unsupported Transfer-Encoding"));
        }
        return Ok(Framing::Chunked);
    }
    let mut length = None;
    for value in cl {
        for part in value.as_bytes().split(|&b| b == b',') {
            let part = part.trim_ascii();
            let valid = !part.is_empty() && part.len() <= 19 && part.iter().all(u8::is_ascii_digit);
            let n: u64 = std::str::from_utf8(part)
                .ok()
                .filter(|_| valid)
                .and_then(|s| s.parse().ok())
                .ok_or(refuse(400, "bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(refuse(400, "conflicting Content-Length"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        None | Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
    })
}

/// A comma-separated header's tokens, lowercased, over all its lines.
fn tokens(headers: &HeaderMap, name: HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|t| String::from_utf8_lossy(t.trim_ascii()).to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<(Head, usize)>, Refusal> {
        parse(raw.as_bytes(), 16 * 1024)
    }

    fn status(raw: &str) -> u16 {
        head(raw).expect_err("refused").status
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        let h = |raw| head(raw).unwrap().unwrap().0.keep_alive;
        assert!(h("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!h("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        assert!(!h("GET / HTTP/1.0\r\n\r\n"));
        assert!(h("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn partial_heads_wait_and_long_ones_are_431() {
        assert!(head("GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        let long = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n", "a".repeat(17000));
        assert_eq!(status(&long), 431);
        let many: String = (0..101).map(|i| format!("X{i}: 1\r\n")).collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")),
            431
        );
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let te_cl =
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(te_cl), 400);
        let two_cl = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(status(two_cl), 400);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            400
        );
        let empty_te =
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nContent-Length: 3\r\n\r\n";
        assert_eq!(status(empty_te), 400);
        let gzip = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(status(gzip), 501);
        let te10 = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(te10), 400);
        let same = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n";
        assert_eq!(head(same).unwrap().unwrap().0.framing, Framing::Length(3));
    }

    #[test]
    fn a_head_ends_at_its_blank_line() {
        assert!(!may_be_complete(b"GET / HTTP/1.1\r\nHost: a\r\n", 0));
        assert!(may_be_complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0));
        assert!(may_be_complete(b"GET / HTTP/1.1\nHost: a\n\n", 10));
        // The blank line straddles two reads.
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(may_be_complete(head, head.len() - 1));
    }

    #[test]
    fn host_rules() {
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
        assert!(head("GET http://a/x HTTP/1.1\r\n\r\n").unwrap().is_some());
        assert_eq!(status("GET x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    }
}
