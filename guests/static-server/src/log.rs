//! The access log: one line per response on standard output, in nginx's
//! `combined` format followed by the time taken (`$request_time`):
//!
//! ```text
//! 127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "GET /a.txt HTTP/1.1" 200 20 "-" "curl/8.5.0" 0.001
//! ```
//!
//! The byte count is the body bytes actually sent (`$body_bytes_sent`): a
//! transfer cut short logs what went out. Client-supplied fields are
//! escaped as nginx does (`"`, `\`, control and non-ASCII bytes as `\xHH`)
//! and cut to [`MAX_FIELD`] bytes, so a line cannot be forged or split and
//! stays one write.

use crate::dates;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Longest client-supplied field logged (the rest is cut).
pub const MAX_FIELD: usize = 1024;

/// What the log says about one response.
pub struct Entry<'a> {
    pub peer: SocketAddr,
    /// The request line as received, or `None` for a request never read
    /// (a 503 at accept) or not parsed (logged as `-`).
    pub request: Option<&'a str>,
    pub status: u16,
    pub body_bytes: u64,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// Nanoseconds from the request's first byte to the end of the response.
    pub elapsed_ns: u64,
}

/// Writes `entry`'s line to standard output.
pub fn write(entry: &Entry<'_>) {
    println!("{}", line(entry, &dates::log_now()));
}

/// The line for `entry` at time `time` (without the newline).
pub fn line(entry: &Entry<'_>, time: &str) -> String {
    let mut out = String::with_capacity(160);
    let _ = write!(out, "{} - - [{time}] \"", entry.peer.ip());
    field(&mut out, entry.request);
    let _ = write!(out, "\" {} {} \"", entry.status, entry.body_bytes);
    field(&mut out, entry.referer);
    out.push_str("\" \"");
    field(&mut out, entry.user_agent);
    let ms = entry.elapsed_ns / 1_000_000;
    let _ = write!(out, "\" {}.{:03}", ms / 1000, ms % 1000);
    out
}

/// Appends `value` escaped, or `-` when absent or empty.
fn field(out: &mut String, value: Option<&str>) {
    let value = value.filter(|v| !v.is_empty()).unwrap_or("-");
    for b in value.bytes().take(MAX_FIELD) {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(b as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(request: Option<&'a str>, agent: Option<&'a str>) -> Entry<'a> {
        Entry {
            peer: "127.0.0.1:5000".parse().unwrap(),
            request,
            status: 200,
            body_bytes: 20,
            referer: None,
            user_agent: agent,
            elapsed_ns: 1_234_567_890,
        }
    }

    #[test]
    fn combined_format_plus_time() {
        let e = entry(Some("GET /a.txt HTTP/1.1"), Some("curl/8.5.0"));
        assert_eq!(
            line(&e, "06/Nov/1994:08:49:37 +0000"),
            "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a.txt HTTP/1.1\" 200 20 \"-\" \"curl/8.5.0\" 1.234"
        );
        assert!(line(&entry(None, None), "t").contains("\"-\" 200 20 \"-\" \"-\" 1.234"));
    }

    #[test]
    fn client_fields_cannot_forge_lines() {
        let e = entry(
            Some("GET /\" 200 1 \"x\n127.0.0.2 - - HTTP/1.1"),
            Some("é\\"),
        );
        let l = line(&e, "t");
        assert!(!l.contains('\n'), "{l}");
        assert!(l.contains("GET /\\x22 200 1 \\x22x\\x0A127.0.0.2"), "{l}");
        assert!(l.contains("\"\\xC3\\xA9\\x5C\""), "{l}");
        let long = "a".repeat(10 * MAX_FIELD);
        assert!(line(&entry(Some(&long), Some(&long)), "t").len() < 3 * MAX_FIELD);
    }
}
