//! `--listing`: an HTML page listing a directory without an index, as
//! `python3 -m http.server` and nginx's `autoindex` show one: names (links
//! escaped for HTML and percent-encoded for URLs), sizes and modification
//! times. Listed are what can be served: regular files and directories
//! (following symlinks that stay inside the served directory); dotfiles
//! only when they are served. Names that are not UTF-8 cannot be named in
//! WASI 0.2 and are not listed.

use std::fmt::Write as _;
use std::time::SystemTime;

/// Most entries listed: the first ones the directory yields, sorted; a
/// larger directory's page says how many were left out (the page is built
/// in guest memory).
pub const MAX_ENTRIES: usize = 10_000;

/// One listed name.
struct Entry {
    name: String,
    dir: bool,
    size: u64,
    modified: Option<SystemTime>,
}

/// The listing page of the directory at `path` (a guest path), whose URL
/// path is `url_path` (ending in `/`); `None` if it cannot be read.
pub fn page(path: &str, url_path: &str, dotfiles: bool) -> Option<String> {
    let mut entries = Vec::new();
    let mut left_out = 0usize;
    for entry in std::fs::read_dir(path).ok()?.filter_map(Result::ok) {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') && !dotfiles {
            continue;
        }
        if entries.len() == MAX_ENTRIES {
            left_out += 1;
            continue;
        }
        // Follows symlinks, as serving does; one that leads nowhere (or
        // outside the directory) is not listed.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if !meta.is_file() && !meta.is_dir() {
            // A FIFO, socket or device: never served (404), so not listed.
            continue;
        }
        entries.push(Entry {
            name,
            dir: meta.is_dir(),
            size: meta.len(),
            modified: meta.modified().ok(),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Some(render(url_path, &entries, left_out))
}

fn render(url_path: &str, entries: &[Entry], left_out: usize) -> String {
    let title = format!("Index of {}", html(url_path));
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body>\n<h1>{title}</h1>\n<table>\n<tr><th>Name</th><th>Last modified</th><th>Size</th></tr>\n"
    );
    if url_path != "/" {
        out.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in entries {
        let slash = if e.dir { "/" } else { "" };
        let href = percent_encoding::utf8_percent_encode(&e.name, HREF);
        let when = e
            .modified
            .map(|t| httpdate::fmt_http_date(t.min(http_rules::validators::last_http_date())))
            .unwrap_or_default();
        let size = if e.dir {
            "-".to_string()
        } else {
            e.size.to_string()
        };
        let _ = writeln!(
            out,
            "<tr><td><a href=\"./{href}{slash}\">{}{slash}</a></td><td>{when}</td><td>{size}</td></tr>",
            html(&e.name)
        );
    }
    out.push_str("</table>\n");
    if left_out > 0 {
        let _ = writeln!(out, "<p>{left_out} more entries not listed.</p>");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// What is percent-encoded in a link to a name: everything but
/// unreserved characters (RFC 3986 §2.3).
const HREF: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` escaped for HTML text and attribute values.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_encoded() {
        let e = Entry {
            name: "<img src=x onerror=alert(1)> & \"q\" ?#.txt".into(),
            dir: false,
            size: 7,
            modified: None,
        };
        let page = render("/a&b/", &[e], 3);
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot; ?#.txt"));
        assert!(page.contains(
            "href=\"./%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%20%26%20%22q%22%20%3F%23.txt\""
        ));
        assert!(page.contains("<title>Index of /a&amp;b/</title>"));
        assert!(page.contains("3 more entries"));
        assert!(page.contains("<a href=\"../\">"));
    }
}
