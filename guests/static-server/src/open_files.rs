//! The open-file cache (nginx's `open_file_cache`): a file once served
//! stays open, with its size, validators and response-header lines made
//! once, so that serving it again takes no filesystem call at all.
//!
//! - **Revalidation.** An entry is trusted for [`VALID_NS`] (one second)
//!   after it was last checked; after that, the next request checks that
//!   the name still leads to the same file (`metadata-hash-at`, which tells
//!   a file renamed over it) and that the open file's size and times are
//!   unchanged (`stat`). A changed, replaced or removed file is noticed
//!   within a second; it is then looked up afresh.
//! - **Bounds.** At most [`MAX_ENTRIES`] files (descriptors) per worker: the
//!   least recently used one makes room. Entries unused for [`INACTIVE_NS`]
//!   are closed (nginx's `inactive`).
//! - Only names of files are cached, not directories resolved to their
//!   index: whether `index.html` or `index.htm` answers must be looked up
//!   each time.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wasi::filesystem::types::{DescriptorStat, MetadataHashValue};
use wasm_sendfile_sdk::fs::{self, File};

/// How long an entry is trusted without a check.
pub const VALID_NS: u64 = 1_000_000_000;
/// How long an unused entry stays open.
pub const INACTIVE_NS: u64 = 20_000_000_000;
/// Most open files kept per worker.
pub const MAX_ENTRIES: usize = 256;

/// An open regular file and what its responses say about it.
pub struct OpenFile {
    pub file: File,
    /// The guest path it was opened by.
    pub path: String,
    pub size: u64,
    pub etag: String,
    /// Modification time in whole seconds (clamped to what HTTP dates name).
    pub modified: SystemTime,
    /// `Last-Modified`, `ETag` and `Accept-Ranges` lines, each ending in
    /// CRLF: what 200, 206 and 304 responses carry.
    pub validator_lines: String,
    /// The `Content-Type` value.
    pub content_type: String,
    identity: MetadataHashValue,
    /// What the checks compare: size, modification and change times.
    stamp: Stamp,
}

/// The parts of a stat that change when a file's content does.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: Option<(u64, u32)>,
    changed: Option<(u64, u32)>,
}

impl Stamp {
    fn of(stat: &DescriptorStat) -> Stamp {
        let t =
            |d: Option<wasi::filesystem::types::Datetime>| d.map(|d| (d.seconds, d.nanoseconds));
        Stamp {
            size: stat.size,
            modified: t(stat.data_modification_timestamp),
            changed: t(stat.status_change_timestamp),
        }
    }
}

fn same(a: MetadataHashValue, b: MetadataHashValue) -> bool {
    (a.lower, a.upper) == (b.lower, b.upper)
}

impl OpenFile {
    /// Wraps `file`, opened by `path`, whose stat is `stat`; `None` if its
    /// identity cannot be had. `cache_control` is the site's
    /// `Cache-Control` value, if any.
    pub fn new(
        file: File,
        path: String,
        stat: &DescriptorStat,
        cache_control: Option<&str>,
    ) -> Option<OpenFile> {
        let identity = file.identity().ok()?;
        let (etag, modified) = validators(stat);
        let mut validator_lines = format!(
            "Last-Modified: {}\r\nETag: {etag}\r\nAccept-Ranges: bytes\r\n",
            httpdate::fmt_http_date(modified)
        );
        if let Some(value) = cache_control {
            validator_lines.push_str(&format!("Cache-Control: {value}\r\n"));
        }
        let content_type = content_type(&path);
        Some(OpenFile {
            file,
            path,
            size: stat.size,
            etag,
            modified,
            validator_lines,
            content_type,
            identity,
            stamp: Stamp::of(stat),
        })
    }

    /// Whether `path` still names this file, unchanged.
    fn still_valid(&self) -> bool {
        let renamed_over = !fs::identity(&self.path).is_ok_and(|id| same(id, self.identity));
        if renamed_over {
            return false;
        }
        self.file
            .descriptor()
            .stat()
            .is_ok_and(|st| Stamp::of(&st) == self.stamp)
    }
}

/// The `Content-Type` for `path` by its extension; text types say they
/// are UTF-8 (else browsers guess, and UTF-8 text shows garbled).
pub fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        );
    if textual && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

/// The latest time an HTTP date can name: 9999-12-31T23:59:59Z.
const LAST_HTTP_DATE: u64 = 253_402_300_799;

/// [`LAST_HTTP_DATE`] as a time: later ones are clamped to it.
pub fn last_http_date() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(LAST_HTTP_DATE)
}

/// The file's validators: `ETag` and modification time (whole seconds;
/// a time past the year 9999, which HTTP dates cannot name, counts as the
/// last one they can).
pub fn validators(stat: &DescriptorStat) -> (String, SystemTime) {
    let (secs, nanos) = stat
        .data_modification_timestamp
        .map_or((0, 0), |t| (t.seconds, t.nanoseconds));
    let etag = format!("\"{:x}-{:x}-{:x}\"", stat.size, secs, nanos);
    (
        etag,
        UNIX_EPOCH + Duration::from_secs(secs.min(LAST_HTTP_DATE)),
    )
}

struct Entry {
    open: Rc<OpenFile>,
    checked_ns: u64,
    used_ns: u64,
}

/// The cache, keyed by the request's normalized path.
#[derive(Default)]
pub struct OpenFiles {
    entries: HashMap<String, Entry>,
}

impl OpenFiles {
    /// The file cached for `rel`, checked if its last check is older than
    /// [`VALID_NS`] (and dropped if it changed).
    pub fn get(&mut self, rel: &str, now: u64) -> Option<Rc<OpenFile>> {
        let entry = self.entries.get_mut(rel)?;
        if now.saturating_sub(entry.checked_ns) >= VALID_NS {
            if !entry.open.still_valid() {
                self.entries.remove(rel);
                return None;
            }
            entry.checked_ns = now;
        }
        entry.used_ns = now;
        Some(entry.open.clone())
    }

    /// Caches `open` for `rel` (checked at `now`), making room if need be.
    pub fn insert(&mut self, rel: &str, open: Rc<OpenFile>, now: u64) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(rel) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used_ns)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.entries.insert(
            rel.to_string(),
            Entry {
                open,
                checked_ns: now,
                used_ns: now,
            },
        );
    }

    /// Closes the entries unused for [`INACTIVE_NS`] (their descriptors go
    /// once no response uses them).
    pub fn sweep(&mut self, now: u64) {
        self.entries
            .retain(|_, e| now.saturating_sub(e.used_ns) < INACTIVE_NS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasi::filesystem::types::DescriptorType;

    #[test]
    fn text_types_say_utf_8() {
        assert_eq!(content_type("/a/b.txt"), "text/plain; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("d.json"), "application/json; charset=utf-8");
        assert_eq!(content_type("p.png"), "image/png");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn far_future_times_are_the_last_http_date() {
        use wasi::filesystem::types::Datetime;
        let stat = DescriptorStat {
            type_: DescriptorType::RegularFile,
            link_count: 1,
            size: 1,
            data_access_timestamp: None,
            data_modification_timestamp: Some(Datetime {
                seconds: u64::MAX,
                nanoseconds: 0,
            }),
            status_change_timestamp: None,
        };
        let (_, modified) = validators(&stat);
        assert_eq!(
            httpdate::fmt_http_date(modified),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }
}
