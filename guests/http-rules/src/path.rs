//! From a request target to a path inside the served directory.

/// The path of `target` relative to the served directory, decoded and with
/// its dot segments removed (RFC 3986 §5.2.4), or the status refusing it.
/// An absolute-form target (`http://host/path`, RFC 9112 §3.2.2) is taken
/// by its path. `..` above the root is 403; NUL bytes, backslashes and
/// targets without a leading `/` are 400; dotfiles are 404 unless allowed.
/// The host's preopen refuses symlinks that lead outside anyway.
pub fn path_of(target: &str, dotfiles: bool) -> Result<String, u16> {
    let target = origin_form(target);
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
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." | "" if !last => {}
            "." => kept.push(""),
            ".." => {
                kept.pop().ok_or(403u16)?;
                if last {
                    kept.push("");
                }
            }
            seg => {
                if seg.starts_with('.') && !dotfiles {
                    return Err(404);
                }
                kept.push(seg);
            }
        }
    }
    Ok(format!("/{}", kept.join("/")))
}

/// The path-and-query part of a target: itself, or an absolute-form
/// target's path (`/` if it has none).
pub fn origin_form(target: &str) -> &str {
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &target[7..]
    } else if lower.starts_with("https://") {
        &target[8..]
    } else {
        return target;
    };
    match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => &rest[i..],
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = |t: &str| path_of(t, false);
        assert_eq!(p("/a/b.txt?x=1"), Ok("/a/b.txt".into()));
        assert_eq!(p("/a%20b"), Ok("/a b".into()));
        assert_eq!(p("/../etc/passwd"), Err(403));
        assert_eq!(p("/%2e%2e/etc"), Err(403));
        assert_eq!(p("/a/%2e%2e%2f..%2fx"), Err(403));
        assert_eq!(p("relative"), Err(400));
        assert_eq!(p("/a%00b"), Err(400));
        assert_eq!(p("/"), Ok("/".into()));
        // Dot segments are removed while they stay inside the root.
        assert_eq!(p("/sub/../x"), Ok("/x".into()));
        assert_eq!(p("/a/./b//c"), Ok("/a/b/c".into()));
        assert_eq!(p("/a/b/.."), Ok("/a/".into()));
        assert_eq!(p("/a/."), Ok("/a/".into()));
        assert_eq!(p("/docs/"), Ok("/docs/".into()));
        // Dotfiles, unless allowed.
        assert_eq!(p("/.env"), Err(404));
        assert_eq!(p("/.git/config"), Err(404));
        assert_eq!(p("/a/%2egit/config"), Err(404));
        assert_eq!(path_of("/.env", true), Ok("/.env".into()));
        // Absolute form.
        assert_eq!(p("http://x/hello.txt"), Ok("/hello.txt".into()));
        assert_eq!(p("HTTPS://x:8080/a?q"), Ok("/a".into()));
        assert_eq!(p("http://x"), Ok("/".into()));
        assert_eq!(origin_form("http://x?q=1"), "/");
    }
}
