//! From a request target to a file inside the served directory, and what
//! to send of it (conditional requests, single byte ranges).

use crate::http::{self, Head, Request};
use crate::listing;
use crate::open_files::{OpenFile, OpenFiles};
use crate::precompressed;
use http_rules::Headers;
use http_rules::conditions::{if_range_holds, not_modified, precondition_failed};
use http_rules::path::{origin_form, path_of};
use http_rules::range::{Range, range};
use std::io::ErrorKind;
use std::rc::Rc;
use wasi::filesystem::types::{DescriptorStat, DescriptorType};
use wasm_sendfile_sdk::fs::{File, metadata};

/// What to send for a request.
pub struct Reply {
    pub status: u16,
    /// Status line and headers (and a small body, for errors).
    pub head: Vec<u8>,
    /// The file range to send after the head, by sendfile.
    pub body: Option<(Rc<OpenFile>, u64, u64)>,
}

impl Reply {
    fn error(status: u16, keep_alive: bool, head_only: bool) -> Reply {
        Reply {
            status,
            head: http::error_response(status, keep_alive, head_only),
            body: None,
        }
    }

    /// A reply whose small body travels in the head's buffer.
    fn inline(status: u16, head: Head, content_type: &str, body: &str, head_only: bool) -> Reply {
        let mut head = head
            .header("Content-Type", content_type)
            .header("Content-Length", body.len())
            .finish();
        if !head_only {
            head.extend_from_slice(body.as_bytes());
        }
        Reply {
            status,
            head,
            body: None,
        }
    }

    /// The length of the status line and headers (what of `head` is not
    /// body).
    pub fn header_len(&self) -> usize {
        http::header_len(&self.head)
    }
}

/// The served directory and what may be served from it.
pub struct Site {
    /// The served directory (a preopen, or a path under one).
    pub root: String,
    /// Whether files and directories whose name starts with `.` (`.env`,
    /// `.git/`) are served; refused with 404 by default.
    pub dotfiles: bool,
    /// Whether a directory without an index is listed (else 403).
    pub listing: bool,
    /// A `Cache-Control` value for files' responses.
    pub cache_control: Option<String>,
}

impl Site {
    /// The header lines a file's responses carry besides its validators:
    /// `Vary`, `Cache-Control` if set, and `Content-Encoding` for a
    /// pre-compressed sibling.
    fn extra_lines(&self, coding: Option<&str>) -> String {
        let mut lines = precompressed::VARY.to_string();
        if let Some(value) = &self.cache_control {
            lines.push_str(&format!("Cache-Control: {value}\r\n"));
        }
        if let Some(coding) = coding {
            lines.push_str(&format!("Content-Encoding: {coding}\r\n"));
        }
        lines
    }
}

/// What a request names, found by `stat-at` before anything is opened:
/// a FIFO (whose open would block until a writer comes), a socket or a
/// device is never opened.
enum Found {
    /// A regular file: its path.
    File(String),
    /// A directory named without its trailing `/`: where to redirect.
    Slash,
    /// A directory without an index, to list: its path.
    Listing(String),
}

/// Finds `rel` under the site's root: a regular file, or a directory's
/// `index.html` or `index.htm` (regular files too); a directory without an
/// index is listed if the site says so, else 403; anything else is 404.
fn find(site: &Site, rel: &str) -> Result<Found, u16> {
    let path = format!("{}{rel}", site.root.trim_end_matches('/'));
    let st = metadata(&path).map_err(status_of)?;
    match st.type_ {
        DescriptorType::RegularFile => Ok(Found::File(path)),
        DescriptorType::Directory if !rel.ends_with('/') => Ok(Found::Slash),
        DescriptorType::Directory => ["index.html", "index.htm"]
            .into_iter()
            .map(|index| format!("{path}{index}"))
            .find(|index| metadata(index).is_ok_and(|st| st.type_ == DescriptorType::RegularFile))
            .map(Found::File)
            .or_else(|| site.listing.then_some(Found::Listing(path)))
            .ok_or(403),
        _ => Err(404),
    }
}

/// The status for a filesystem error: 404 for a name that leads nowhere,
/// 403 for one not allowed, 503 for anything else (out of descriptors,
/// say: the file is there, the server cannot open it now).
fn status_of(e: std::io::Error) -> u16 {
    match e.kind() {
        ErrorKind::PermissionDenied => 403,
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::InvalidInput => 404,
        _ => 503,
    }
}

/// Opens the regular file at `path` and stats it once (size and
/// modification time come from that one call); 404 if it is no longer a
/// regular file.
fn open(path: &str) -> Result<(File, DescriptorStat), u16> {
    let file = File::open(path).map_err(status_of)?;
    let st = file.descriptor().stat().map_err(|_| 404u16)?;
    if st.type_ != DescriptorType::RegularFile {
        return Err(404);
    }
    Ok((file, st))
}

/// What is percent-encoded in a path of a `Location`: controls, space,
/// and what would end or change the path (`?`, `#`, `%`, quotes, `\`...).
/// `/` is kept, so `//` cannot appear: `rel` has no empty segments.
const LOCATION_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A 301 to the directory's URL with its trailing slash (so its relative
/// links resolve inside it), keeping the query. The new path is built from
/// `rel`, the normalized path (never from the raw target: `//evil.example/..`
/// must not become a `Location` that leaves the site).
fn redirect_to_slash(rel: &str, target: &str, keep_alive: bool, head_only: bool) -> Reply {
    let query = origin_form(target)
        .find('?')
        .map_or("", |i| &origin_form(target)[i..]);
    let path = percent_encoding::utf8_percent_encode(rel, LOCATION_PATH);
    let location = format!("{path}/{query}");
    let head = Head::new(301, keep_alive).header("Location", &location);
    let body = format!("301 {}\n", http::reason(301));
    Reply::inline(301, head, "text/plain; charset=utf-8", &body, head_only)
}

/// The listing of the directory at `dir`, whose URL path is `rel`.
fn list(dir: &str, rel: &str, dotfiles: bool, keep_alive: bool, head_only: bool) -> Reply {
    let Some(page) = listing::page(dir, rel, dotfiles) else {
        return Reply::error(403, keep_alive, head_only);
    };
    let head = Head::new(200, keep_alive);
    Reply::inline(200, head, "text/html; charset=utf-8", &page, head_only)
}

/// The pre-compressed sibling of `open` (the file `rel` names) with
/// `suffix`, served with `Content-Encoding: coding`, if it is a regular
/// file: from the cache, or looked up (a missing one is remembered for a
/// second).
fn sibling(
    site: &Site,
    open_files: &mut OpenFiles,
    rel: &str,
    open: &Rc<OpenFile>,
    coding: &str,
    suffix: &str,
    now: u64,
) -> Option<Rc<OpenFile>> {
    let key = format!("{rel}\0{coding}");
    if let Some(found) = open_files.get(&key, now, OpenFile::still_valid) {
        return Some(found);
    }
    if open_files.known_absent(&key, now) {
        return None;
    }
    let path = format!("{}{suffix}", open.path);
    let regular = metadata(&path).is_ok_and(|st| st.type_ == DescriptorType::RegularFile);
    let content_type = Some(open.content_type.clone());
    let found = regular
        .then(|| open_file(site, open_files, path, Some(coding), content_type).ok())
        .flatten();
    match &found {
        Some(found) => open_files.insert(&key, found.clone(), now),
        None => open_files.insert_absent(&key, now),
    }
    found
}

/// Opens the regular file at `path` for the cache, with its header lines
/// (`coding`: a pre-compressed sibling's; `content_type`: the original's,
/// else by `path`). Out of descriptors, the cache sheds entries and the
/// open is tried once more.
fn open_file(
    site: &Site,
    open_files: &mut OpenFiles,
    path: String,
    coding: Option<&str>,
    content_type: Option<String>,
) -> Result<Rc<OpenFile>, u16> {
    let (file, stat) = match open(&path) {
        Err(503) => {
            open_files.shed();
            open(&path)?
        }
        other => other?,
    };
    let content_type = content_type.unwrap_or_else(|| http_rules::validators::content_type(&path));
    let lines = site.extra_lines(coding);
    OpenFile::new(file, path, &stat, &lines, content_type)
        .map(Rc::new)
        .ok_or(503)
}

/// The reply to `req` for `site`, from the open-file cache when it can.
pub fn reply(site: &Site, open_files: &mut OpenFiles, req: &Request, keep_alive: bool) -> Reply {
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        return Reply::error(405, keep_alive, head_only);
    }
    let rel = match path_of(&req.target, site.dotfiles) {
        Ok(rel) => rel,
        Err(status) => return Reply::error(status, keep_alive, head_only),
    };
    let now = crate::clock::monotonic_ns();
    // A directory's entry is its index: still the same one?
    let same_index = |open: &OpenFile| {
        !rel.ends_with('/') || matches!(find(site, &rel), Ok(Found::File(p)) if p == open.path)
    };
    let cached = open_files.get(&rel, now, |open| same_index(open) && open.still_valid());
    let open = match cached {
        Some(open) => open,
        None => {
            let path = match find(site, &rel) {
                Ok(Found::File(path)) => path,
                Ok(Found::Slash) => {
                    return redirect_to_slash(&rel, &req.target, keep_alive, head_only);
                }
                Ok(Found::Listing(dir)) => {
                    return list(&dir, &rel, site.dotfiles, keep_alive, head_only);
                }
                Err(status) => return Reply::error(status, keep_alive, head_only),
            };
            let open = match open_file(site, open_files, path, None, None) {
                Ok(open) => open,
                Err(status) => return Reply::error(status, keep_alive, head_only),
            };
            open_files.insert(&rel, open.clone(), now);
            open
        }
    };
    let open = precompressed::accepted(req)
        .into_iter()
        .find_map(|(coding, suffix)| sibling(site, open_files, &rel, &open, coding, suffix, now))
        .unwrap_or(open);
    let (etag, modified, size) = (open.etag.as_str(), open.modified, open.size);
    if precondition_failed(req, etag, modified) {
        return Reply::error(412, keep_alive, head_only);
    }
    let base = |status| Head::new(status, keep_alive).lines(&open.validator_lines);
    if not_modified(req, etag, modified) {
        return Reply {
            status: 304,
            head: base(304).finish(),
            body: None,
        };
    }
    let range = if if_range_holds(req, etag, modified) {
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
        .header("Content-Type", &open.content_type)
        .header("Content-Length", len)
        .finish();
    let body = (!head_only && len > 0).then_some((open, start, len));
    Reply { status, head, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_site() {
        let location = |rel: &str, target: &str| {
            let reply = redirect_to_slash(rel, target, false, true);
            let head = String::from_utf8(reply.head).unwrap();
            head.lines()
                .find_map(|l| l.strip_prefix("Location: "))
                .unwrap()
                .to_string()
        };
        let rel = path_of("//example.com/../docs", false).unwrap();
        assert_eq!(location(&rel, "//example.com/../docs"), "/docs/");
        let rel = path_of("//example.com/%2e%2e/docs?x", false).unwrap();
        assert_eq!(location(&rel, "//example.com/%2e%2e/docs?x"), "/docs/?x");
        let rel = path_of("/a%20b%3F", false).unwrap();
        assert_eq!(location(&rel, "/a%20b%3F?q=1"), "/a%20b%3F/?q=1");
        let rel = path_of("http://h//x", false).unwrap();
        assert_eq!(location(&rel, "http://h//x"), "/x/");
    }
}
