//! The open-file cache (nginx's `open_file_cache`): a file once served
//! stays open, with its size, validators and response-header lines made
//! once, so that serving it again takes no filesystem call at all.
//!
//! - **Revalidation.** An entry is trusted for [`VALID_NS`] (one second)
//!   after it was last checked; after that, the next request checks that
//!   the name still opens, to the same file (`metadata-hash`, which tells
//!   a file renamed over it), and that the open file's size and
//!   modification time are unchanged (`stat`). A changed, replaced,
//!   removed or no longer readable file is noticed within a second; it is
//!   then looked up afresh. A directory's entry (its index) is also looked
//!   up again then, so a new `index.html` is noticed as well.
//! - **Bounds.** At most [`MAX_ENTRIES`] files (descriptors) per worker: the
//!   least recently used one makes room. Entries unused for [`INACTIVE_NS`]
//!   are closed (nginx's `inactive`).
//! - A file that cannot be opened for want of descriptors makes the
//!   least recently used entries close (see [`OpenFiles::shed`]).

use http_rules::validators::validators;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::SystemTime;
use wasi::filesystem::types::{DescriptorStat, MetadataHashValue};
use wasm_sendfile_sdk::fs::File;

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
    /// identity cannot be had. `extra_lines` (each ending in CRLF) go with
    /// the validators (`Cache-Control`, `Vary`, `Content-Encoding`);
    /// `content_type` is the `Content-Type` value.
    pub fn new(
        file: File,
        path: String,
        stat: &DescriptorStat,
        extra_lines: &str,
        content_type: String,
    ) -> Option<OpenFile> {
        let identity = file.identity().ok()?;
        let (etag, modified) = validators(stat);
        let mut validator_lines = format!(
            "Last-Modified: {}\r\nETag: {etag}\r\nAccept-Ranges: bytes\r\n",
            httpdate::fmt_http_date(modified)
        );
        validator_lines.push_str(extra_lines);
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

    /// Whether `path` still leads to this file, unchanged and still
    /// readable: the name is opened again (so a permission taken away is
    /// noticed, and a file renamed over it has another identity), and the
    /// open file's size and modification time are compared. The new
    /// descriptor is closed; the old one stays in use.
    pub fn still_valid(&self) -> bool {
        let same_file = File::open(&self.path)
            .and_then(|again| again.identity())
            .is_ok_and(|id| same(id, self.identity));
        same_file
            && self
                .file
                .descriptor()
                .stat()
                .is_ok_and(|st| Stamp::of(&st) == self.stamp)
    }
}

struct Entry {
    open: Rc<OpenFile>,
    checked_ns: u64,
    used_ns: u64,
}

/// The cache, keyed by the request's normalized path (and, for a
/// pre-compressed sibling, its encoding).
#[derive(Default)]
pub struct OpenFiles {
    entries: HashMap<String, Entry>,
    /// Names found missing, and when: looked up again after [`VALID_NS`]
    /// (pre-compressed siblings that most files do not have).
    absent: HashMap<String, u64>,
}

impl OpenFiles {
    /// The file cached for `key`, checked by `still_good` if its last check
    /// is older than [`VALID_NS`] (and dropped if that fails).
    pub fn get(
        &mut self,
        key: &str,
        now: u64,
        still_good: impl FnOnce(&OpenFile) -> bool,
    ) -> Option<Rc<OpenFile>> {
        let entry = self.entries.get_mut(key)?;
        if now.saturating_sub(entry.checked_ns) >= VALID_NS {
            if !still_good(&entry.open) {
                self.entries.remove(key);
                return None;
            }
            entry.checked_ns = now;
        }
        entry.used_ns = now;
        Some(entry.open.clone())
    }

    /// Closes the least recently used quarter of the entries (at least
    /// one), for descriptors: the process has run out of them.
    pub fn shed(&mut self) {
        let mut by_use: Vec<(u64, String)> = self
            .entries
            .iter()
            .map(|(k, e)| (e.used_ns, k.clone()))
            .collect();
        by_use.sort_unstable();
        let n = (by_use.len() / 4).max(1);
        for (_, key) in by_use.into_iter().take(n) {
            self.entries.remove(&key);
        }
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

    /// Whether `key` was found missing less than [`VALID_NS`] ago.
    pub fn known_absent(&self, key: &str, now: u64) -> bool {
        self.absent
            .get(key)
            .is_some_and(|t| now.saturating_sub(*t) < VALID_NS)
    }

    /// Records that `key` is missing at `now`.
    pub fn insert_absent(&mut self, key: &str, now: u64) {
        if self.absent.len() >= MAX_ENTRIES {
            self.absent.retain(|_, t| now.saturating_sub(*t) < VALID_NS);
            if self.absent.len() >= MAX_ENTRIES {
                self.absent.clear();
            }
        }
        self.absent.insert(key.to_string(), now);
    }

    /// Closes the entries unused for [`INACTIVE_NS`] (their descriptors go
    /// once no response uses them).
    pub fn sweep(&mut self, now: u64) {
        self.entries
            .retain(|_, e| now.saturating_sub(e.used_ns) < INACTIVE_NS);
        self.absent.retain(|_, t| now.saturating_sub(*t) < VALID_NS);
    }
}
