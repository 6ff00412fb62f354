//! How responses are reported: to the host's metrics when `serve
//! --metrics` is on, and in the access log: one line per response on standard output, in nginx's
//! `combined` format followed by the time taken (`$request_time`):
//!
//! ```text
//! 127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "GET /a.txt HTTP/1.1" 200 20 "-" "curl/8.5.0" 0.001
//! ```
//!
//! The byte count is the body bytes actually sent (`$body_bytes_sent`): a
//! transfer cut short logs what went out. Client-supplied fields are
//! escaped as nginx does (`"`, `\`, control and non-ASCII bytes as `\xHH`)
//! and cut to [`MAX_FIELD`] bytes once escaped, so a line cannot be forged
//! or split: the whole line, newline included, stays under [`MAX_LINE`]
//! bytes and goes out in one write, whole, even when several workers
//! append to one file. A log that cannot be written (a full disk, a closed
//! pipe) is reported once on standard error; serving goes on.

use crate::dates;
use std::cell::Cell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;

/// Longest client-supplied field logged, escaped (the rest is cut).
pub const MAX_FIELD: usize = 1000;

/// Longest line, newline included: less than one WASI output-stream write
/// (4096 bytes), so a line is never split.
pub const MAX_LINE: usize = 4000;

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

thread_local! {
    static FAILED: Cell<bool> = const { Cell::new(false) };
}

/// Where each finished response is reported.
#[derive(Clone, Copy)]
pub struct Report {
    /// A line in the access log.
    pub access_log: bool,
    /// The host's metrics (`http-stats`).
    pub metrics: bool,
}

impl Report {
    /// Reports `entry` wherever this says.
    pub fn report(self, entry: &Entry<'_>) {
        if self.metrics {
            wasm_sendfile_sdk::http_stats::response_sent(entry.status, entry.body_bytes);
        }
        if self.access_log {
            write(entry);
        }
    }
}

/// Writes `entry`'s line to standard output, in one write.
pub fn write(entry: &Entry<'_>) {
    let mut line = line(entry, &dates::log_now());
    line.push('\n');
    debug_assert!(line.len() <= MAX_LINE);
    let result = std::io::stdout().lock().write_all(line.as_bytes());
    if let Err(e) = result
        && !FAILED.replace(true)
    {
        eprintln!("static-server: cannot write the access log ({e}); serving goes on");
    }
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

/// Appends `value` escaped, or `-` when absent or empty; at most
/// [`MAX_FIELD`] bytes (a `\xHH` is never cut in two).
fn field(out: &mut String, value: Option<&str>) {
    let value = value.filter(|v| !v.is_empty()).unwrap_or("-");
    let limit = out.len() + MAX_FIELD;
    for b in value.bytes() {
        let escaped = b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b);
        if out.len() + if escaped { 4 } else { 1 } > limit {
            break;
        }
        if escaped {
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
        // The worst case: every field long and every byte escaped.
        let long = "\"".repeat(10 * MAX_FIELD);
        let mut worst = entry(Some(&long), Some(&long));
        worst.referer = Some(&long);
        let worst = line(&worst, "06/Nov/1994:08:49:37 +0000");
        assert!(worst.len() < MAX_LINE, "{}", worst.len());
        assert!(worst.contains("\\x22\" 200"), "no \\xHH cut in two");
    }
}
