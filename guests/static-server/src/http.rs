//! Requests in (parsed by `httparse`), response heads out.

use std::fmt::Write as _;

/// Most headers a request may carry.
pub const MAX_HEADERS: usize = 64;
/// Longest request target accepted (longer: 414).
pub const MAX_TARGET: usize = 4096;

/// The parts of a request the server uses.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// HTTP/1.x minor version.
    pub minor: u8,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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
    /// A complete request of `len` bytes (no body: GET and HEAD have none).
    Request(Request, usize),
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
            Parsed::Request(request, len)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Error(431),
        Err(_) => Parsed::Error(400),
    }
}

/// The reason phrase of the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
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
        let mut text = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        let _ = write!(
            text,
            "Server: wasm-sendfile\r\nDate: {}\r\nConnection: {}\r\n",
            httpdate::fmt_http_date(std::time::SystemTime::now()),
            if keep_alive { "keep-alive" } else { "close" }
        );
        Head { text }
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
    fn parses_a_request_and_keep_alive_rules() {
        let Parsed::Request(r, len) = parse(b"GET /a%20b HTTP/1.1\r\nHost: x\r\n\r\nrest") else {
            panic!("not parsed");
        };
        assert_eq!(
            (r.method.as_str(), r.target.as_str(), len),
            ("GET", "/a%20b", 32)
        );
        assert!(r.keep_alive());
        let Parsed::Request(r, _) = parse(b"GET / HTTP/1.0\r\n\r\n") else {
            panic!()
        };
        assert!(!r.keep_alive());
        let Parsed::Request(r, _) = parse(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n") else {
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
