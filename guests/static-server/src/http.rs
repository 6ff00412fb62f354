//! Requests in (parsed by `httparse`), response heads out.

use http_rules::Headers;
use std::fmt::Write as _;

/// Most headers a request may carry.
pub const MAX_HEADERS: usize = 64;
/// Longest request target accepted (longer: 414).
pub const MAX_TARGET: usize = 4096;
/// Largest request body read and discarded (larger: 413 and close). GET
/// and HEAD need none; a body is framed only so that it is never read as
/// the next request.
pub const MAX_BODY: u64 = 1 << 20;

/// The parts of a request the server uses.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// HTTP/1.x minor version.
    pub minor: u8,
    pub headers: Vec<(String, String)>,
}

impl http_rules::Headers for Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Request {
    /// The request line, as the access log shows it.
    pub fn line(&self) -> String {
        format!("{} {} HTTP/1.{}", self.method, self.target, self.minor)
    }

    /// Whether the connection stays open after the response.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").map(str::to_ascii_lowercase);
        match conn.as_deref() {
            Some(v) if v.split(',').any(|t| t.trim() == "close") => false,
            Some(v) if v.split(',').any(|t| t.trim() == "keep-alive") => true,
            _ => self.minor >= 1,
        }
    }
}

/// What parsing the buffered bytes gave.
pub enum Parsed {
    /// A complete request head of `len` bytes, followed by a body of
    /// `body` bytes (by `Content-Length`) to discard.
    Request(Request, usize, u64),
    /// More bytes are needed.
    Partial,
    /// Not HTTP: answer with this status and close.
    Error(u16),
}

/// Parses one request from the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let target = req.path.unwrap_or("/");
            if target.len() > MAX_TARGET {
                return Parsed::Error(414);
            }
            let body = match framing(req.headers, req.version.unwrap_or(1)) {
                Ok(body) => body,
                Err(status) => return Parsed::Error(status),
            };
            let request = Request {
                method: req.method.unwrap_or("").to_string(),
                target: target.to_string(),
                minor: req.version.unwrap_or(1),
                headers: req
                    .headers
                    .iter()
                    .map(|h| {
                        let v = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_string(), v)
                    })
                    .collect(),
            };
            Parsed::Request(request, len, body)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Error(431),
        // An HTTP version other than 1.x (`HTTP/2.0` in a request line).
        Err(httparse::Error::Version) => Parsed::Error(505),
        Err(_) => Parsed::Error(400),
    }
}

/// RFC 9112 §6 message framing: the length of the request body, so that it
/// is never read as a request (request smuggling). Any `Transfer-Encoding`
/// is refused (501 when it ends in `chunked`, which this server does not
/// decode; 400 otherwise, and always 400 next to a `Content-Length`, §6.1).
/// `Content-Length` must be one decimal number (repeated values must
/// agree, §6.3); over [`MAX_BODY`]: 413. HTTP/1.1 requires exactly one
/// `Host` (§3.2). Every refusal closes the connection.
fn framing(headers: &[httparse::Header<'_>], minor: u8) -> Result<u64, u16> {
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let hosts = named("host").count();
    if hosts > 1 || (minor >= 1 && hosts == 0) {
        return Err(400);
    }
    let lengths: Vec<&[u8]> = named("content-length").collect();
    if let Some(te) = named("transfer-encoding").next_back() {
        let last = te.rsplit(|b| *b == b',').next().unwrap_or_default();
        let chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        return Err(if chunked && lengths.is_empty() {
            501
        } else {
            400
        });
    }
    let mut length = None;
    for value in lengths.iter().flat_map(|v| v.split(|b| *b == b',')) {
        let value = value.trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(400);
        }
        let n: u64 = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or(400u16)?;
        if length.is_some_and(|l| l != n) {
            return Err(400);
        }
        length = Some(n);
    }
    match length.unwrap_or(0) {
        n if n > MAX_BODY => Err(413),
        n => Ok(n),
    }
}

/// The reason phrase of the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Internal Server Error",
    }
}

/// A response head: status line and headers, ending with the blank line.
pub struct Head {
    text: String,
}

impl Head {
    /// Starts a head with the status line and the headers every response has.
    pub fn new(status: u16, keep_alive: bool) -> Self {
        let mut text = String::with_capacity(256);
        let _ = write!(
            text,
            "HTTP/1.1 {status} {}\r\nServer: wasm-sendfile\r\nDate: ",
            reason(status)
        );
        crate::dates::push_http(&mut text);
        text.push_str(if keep_alive {
            "\r\nConnection: keep-alive\r\n"
        } else {
            "\r\nConnection: close\r\n"
        });
        Head { text }
    }

    /// Adds header lines already made (each ending in CRLF).
    pub fn lines(mut self, lines: &str) -> Self {
        self.text.push_str(lines);
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        let _ = write!(self.text, "{name}: {value}\r\n");
        self
    }

    /// The finished head.
    pub fn finish(mut self) -> Vec<u8> {
        self.text.push_str("\r\n");
        self.text.into_bytes()
    }
}

/// How much of `response` is status line and headers: up to and with the
/// blank line (all of it, if it has none).
pub fn header_len(response: &[u8]) -> usize {
    response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4)
}

/// A complete small response with a text body, for errors.
pub fn error_response(status: u16, keep_alive: bool, head_only: bool) -> Vec<u8> {
    let body = format!("{status} {}\n", reason(status));
    let mut head = Head::new(status, keep_alive)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Content-Length", body.len());
    if status == 405 {
        head = head.header("Allow", "GET, HEAD");
    }
    let mut out = head.finish();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_bodies_and_refuses_ambiguous_ones() {
        let body = |raw: &[u8]| match parse(raw) {
            Parsed::Request(_, _, body) => Ok(body),
            Parsed::Error(status) => Err(status),
            Parsed::Partial => panic!("partial"),
        };
        let h = "GET / HTTP/1.1\r\nHost: x\r\n";
        let req = |extra: &str| format!("{h}{extra}\r\n").into_bytes();
        assert_eq!(body(&req("")), Ok(0));
        assert_eq!(body(&req("Content-Length: 5\r\n")), Ok(5));
        assert_eq!(body(&req("Content-Length: 5, 5\r\n")), Ok(5));
        assert_eq!(
            body(&req("Content-Length: 5\r\nContent-Length: 5\r\n")),
            Ok(5)
        );
        // CL.CL, invalid numbers, CL.TE, TE.CL, TE.TE, obfuscated TE.
        assert_eq!(
            body(&req("Content-Length: 5\r\nContent-Length: 6\r\n")),
            Err(400)
        );
        assert_eq!(body(&req("Content-Length: +5\r\n")), Err(400));
        assert_eq!(body(&req("Content-Length: 0x5\r\n")), Err(400));
        assert_eq!(body(&req("Content-Length: \r\n")), Err(400));
        assert_eq!(
            body(&req("Content-Length: 99999999999999999999\r\n")),
            Err(400)
        );
        let cl_te = "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n";
        assert_eq!(body(&req(cl_te)), Err(400));
        assert_eq!(
            body(&req("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")),
            Err(400)
        );
        assert_eq!(body(&req("Transfer-Encoding: chunked\r\n")), Err(501));
        let te_te = "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n";
        assert_eq!(body(&req(te_te)), Err(400));
        assert_eq!(body(&req("Transfer-Encoding: gzip\r\n")), Err(400));
        assert_eq!(body(&req("Content-Length: 2000000\r\n")), Err(413));
        // Host: exactly one on HTTP/1.1; HTTP/1.0 may go without.
        assert_eq!(body(b"GET / HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(
            body(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(400)
        );
        assert_eq!(body(b"GET / HTTP/1.0\r\n\r\n"), Ok(0));
        assert_eq!(body(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"), Err(505));
        // Obsolete line folding is not HTTP/1.1 a server must take.
        assert_eq!(body(&req("X-A: 1\r\n folded\r\n")), Err(400));
    }

    #[test]
    fn parses_a_request_and_keep_alive_rules() {
        let Parsed::Request(r, len, _) = parse(b"GET /a%20b HTTP/1.1\r\nHost: x\r\n\r\nrest")
        else {
            panic!("not parsed");
        };
        assert_eq!(
            (r.method.as_str(), r.target.as_str(), len),
            ("GET", "/a%20b", 32)
        );
        assert!(r.keep_alive());
        let Parsed::Request(r, _, _) = parse(b"GET / HTTP/1.0\r\n\r\n") else {
            panic!()
        };
        assert!(!r.keep_alive());
        let Parsed::Request(r, _, _) =
            parse(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        else {
            panic!()
        };
        assert!(!r.keep_alive());
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nHo"), Parsed::Partial));
        assert!(matches!(
            parse(b"\x01\x02 nonsense\r\n\r\n"),
            Parsed::Error(400)
        ));
    }
}
