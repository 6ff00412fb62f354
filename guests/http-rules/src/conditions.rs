//! Conditional requests (RFC 9110 §13).

use crate::Headers;
use std::time::SystemTime;

/// RFC 9110 §13.2.2: `If-Match`, else `If-Unmodified-Since`, failing (412).
pub fn precondition_failed(req: &impl Headers, etag: &str, modified: SystemTime) -> bool {
    if let Some(tags) = req.header("if-match") {
        // Strong comparison: a weak tag never matches.
        return !tags.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t == etag
        });
    }
    req.header("if-unmodified-since")
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .is_some_and(|since| modified > since)
}

/// Whether the client's cached copy is still good (→ 304).
pub fn not_modified(req: &impl Headers, etag: &str, modified: SystemTime) -> bool {
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
pub fn if_range_holds(req: &impl Headers, etag: &str, modified: SystemTime) -> bool {
    match req.header("if-range") {
        None => true,
        Some(v) if v.trim().starts_with('"') => v.trim() == etag,
        Some(v) => httpdate::parse_http_date(v.trim()).is_ok_and(|d| d == modified),
    }
}
