//! From a request target to a file inside the served directory, and what
//! to send of it (conditional requests, single byte ranges).

use crate::http::{self, Head, Request};
use std::io::ErrorKind;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wasi::filesystem::types::{DescriptorStat, DescriptorType};
use wasm_sendfile_sdk::fs::File;

/// What to send for a request.
pub struct Reply {
    pub status: u16,
    /// Status line and headers (and a small body, for errors).
    pub head: Vec<u8>,
    /// The file range to send after the head, by sendfile.
    pub body: Option<(File, u64, u64)>,
}

impl Reply {
    fn error(status: u16, keep_alive: bool, head_only: bool) -> Reply {
        Reply {
            status,
            head: http::error_response(status, keep_alive, head_only),
            body: None,
        }
    }
}

/// The decoded path of `target` under `root`, or the status refusing it.
/// `..` segments, NUL bytes and targets not starting with `/` are refused
/// before the filesystem is asked; the host's preopen refuses symlinks that
/// lead outside anyway.
pub fn path_of(root: &str, target: &str) -> Result<String, u16> {
    let raw = target.split(['?', '#']).next().unwrap_or("");
    if !raw.starts_with('/') {
        return Err(400);
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| 400u16)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return Err(400);
    }
    if decoded.split('/').any(|seg| seg == "..") {
        return Err(403);
    }
    let rel = decoded.trim_start_matches('/');
    Ok(format!("{}/{rel}", root.trim_end_matches('/')))
}

/// Opens `path`, serving `index.html` for directories, and stats it once
/// (type, size and modification time all come from that one call).
fn open(path: &str) -> Result<(File, String, DescriptorStat), u16> {
    let status = |e: std::io::Error| -> u16 {
        match e.kind() {
            ErrorKind::NotFound | ErrorKind::NotADirectory => 404,
            ErrorKind::PermissionDenied => 403,
            _ => 404,
        }
    };
    let stat = |f: &File| f.descriptor().stat().map_err(|_| 404u16);
    let file = File::open(path).map_err(status)?;
    let st = stat(&file)?;
    if st.type_ == DescriptorType::Directory {
        let index = format!("{}/index.html", path.trim_end_matches('/'));
        let file = File::open(&index).map_err(status)?;
        let st = stat(&file)?;
        return Ok((file, index, st));
    }
    Ok((file, path.to_string(), st))
}

/// A single byte range, resolved against the file size.
#[derive(Debug, PartialEq, Eq)]
pub enum Range {
    /// Serve everything (no range, several ranges, or one we do not parse).
    Full,
    /// Serve `start..=end`.
    Part(u64, u64),
    /// Outside the file: 416.
    Unsatisfiable,
}

/// Parses a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`).
pub fn range(header: Option<&str>, size: u64) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match parse(b) {
            Some(0) => Range::Unsatisfiable,
            Some(n) if size > 0 => Range::Part(size.saturating_sub(n), size - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Full,
        },
        (false, _) => {
            let Some(start) = parse(a) else {
                return Range::Full;
            };
            let end = if b.is_empty() {
                Some(u64::MAX)
            } else {
                parse(b)
            };
            match end {
                None => Range::Full,
                Some(end) if end < start => Range::Full,
                Some(_) if start >= size => Range::Unsatisfiable,
                Some(end) => Range::Part(start, end.min(size - 1)),
            }
        }
        (true, true) => Range::Full,
    }
}

/// The file's validators: `ETag` and modification time (whole seconds).
fn validators(stat: &DescriptorStat) -> (String, SystemTime) {
    let (secs, nanos) = stat
        .data_modification_timestamp
        .map_or((0, 0), |t| (t.seconds, t.nanoseconds));
    let etag = format!("\"{:x}-{:x}-{:x}\"", stat.size, secs, nanos);
    (etag, UNIX_EPOCH + Duration::from_secs(secs))
}

/// Whether the client's cached copy is still good (→ 304).
fn not_modified(req: &Request, etag: &str, modified: SystemTime) -> bool {
    if let Some(tags) = req.header("if-none-match") {
        return tags.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        });
    }
    req.header("if-modified-since")
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .is_some_and(|since| modified <= since)
}

/// Whether `If-Range` (if any) allows serving a range.
fn if_range_holds(req: &Request, etag: &str, modified: SystemTime) -> bool {
    match req.header("if-range") {
        None => true,
        Some(v) if v.trim().starts_with('"') => v.trim() == etag,
        Some(v) => httpdate::parse_http_date(v.trim()).is_ok_and(|d| d == modified),
    }
}

/// The reply to `req` for the directory preopened at `root`.
pub fn reply(root: &str, req: &Request, keep_alive: bool) -> Reply {
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        return Reply::error(405, keep_alive, head_only);
    }
    let opened = path_of(root, &req.target).and_then(|p| open(&p));
    let (file, path, stat) = match opened {
        Ok(v) => v,
        Err(status) => return Reply::error(status, keep_alive, head_only),
    };
    let (etag, modified) = validators(&stat);
    let size = stat.size;
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    let base = |status| {
        Head::new(status, keep_alive)
            .header("Last-Modified", httpdate::fmt_http_date(modified))
            .header("ETag", &etag)
            .header("Accept-Ranges", "bytes")
    };
    if not_modified(req, &etag, modified) {
        return Reply {
            status: 304,
            head: base(304).finish(),
            body: None,
        };
    }
    let range = if if_range_holds(req, &etag, modified) {
        range(req.header("range"), size)
    } else {
        Range::Full
    };
    let (status, start, len, head) = match range {
        Range::Full => (200, 0, size, base(200)),
        Range::Part(a, b) => (
            206,
            a,
            b - a + 1,
            base(206).header("Content-Range", format!("bytes {a}-{b}/{size}")),
        ),
        Range::Unsatisfiable => {
            let head = Head::new(416, keep_alive)
                .header("Content-Range", format!("bytes */{size}"))
                .header("Content-Length", 0)
                .finish();
            return Reply {
                status: 416,
                head,
                body: None,
            };
        }
    };
    let head = head
        .header("Content-Type", mime)
        .header("Content-Length", len)
        .finish();
    let body = (!head_only && len > 0).then_some((file, start, len));
    Reply { status, head, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range(None, 100), Range::Full);
        assert_eq!(range(Some("bytes=0-9"), 100), Range::Part(0, 9));
        assert_eq!(range(Some("bytes=90-"), 100), Range::Part(90, 99));
        assert_eq!(range(Some("bytes=-10"), 100), Range::Part(90, 99));
        assert_eq!(range(Some("bytes=-500"), 100), Range::Part(0, 99));
        assert_eq!(range(Some("bytes=50-500"), 100), Range::Part(50, 99));
        assert_eq!(range(Some("bytes=100-"), 100), Range::Unsatisfiable);
        assert_eq!(range(Some("bytes=-0"), 100), Range::Unsatisfiable);
        assert_eq!(range(Some("bytes=5-1"), 100), Range::Full);
        assert_eq!(range(Some("bytes=0-1,5-6"), 100), Range::Full);
        assert_eq!(range(Some("items=0-1"), 100), Range::Full);
    }

    #[test]
    fn paths() {
        assert_eq!(path_of("/www", "/a/b.txt?x=1"), Ok("/www/a/b.txt".into()));
        assert_eq!(path_of("/www", "/a%20b"), Ok("/www/a b".into()));
        assert_eq!(path_of("/www", "/../etc/passwd"), Err(403));
        assert_eq!(path_of("/www", "/%2e%2e/etc"), Err(403));
        assert_eq!(path_of("/www", "/a/%2e%2e%2f..%2fx"), Err(403));
        assert_eq!(path_of("/www", "relative"), Err(400));
        assert_eq!(path_of("/www", "/a%00b"), Err(400));
        assert_eq!(path_of("/www", "/"), Ok("/www/".into()));
    }
}
