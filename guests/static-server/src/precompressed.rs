//! Pre-compressed siblings (nginx's `gzip_static`, for Brotli and gzip):
//! a request for `style.css` from a client that accepts `br` or `gzip` is
//! answered with `style.css.br` or `style.css.gz` when that sibling is a
//! regular file, sent by sendfile like any file, with `Content-Encoding`.
//! Every file response says `Vary: Accept-Encoding` (nginx's
//! `gzip_vary`), so caches keep the representations apart.

use crate::http::Request;
use http_rules::Headers;

/// The encodings served, best first: (content-coding, file suffix).
pub const ENCODINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// The header line every file response carries.
pub const VARY: &str = "Vary: Accept-Encoding\r\n";

/// The encodings of [`ENCODINGS`] that `req` accepts (`Accept-Encoding`,
/// RFC 9110 §12.5.3: a coding with `q=0` is refused; `*` stands for any
/// coding not named), best first.
pub fn accepted(req: &Request) -> Vec<(&'static str, &'static str)> {
    let Some(header) = req.header("accept-encoding") else {
        return Vec::new();
    };
    let mut named: Vec<(String, bool)> = Vec::new();
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if coding.is_empty() {
            continue;
        }
        let q_zero = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .or_else(|| p.trim().strip_prefix("Q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        named.push((coding, !q_zero));
    }
    let star = named.iter().find(|(c, _)| c == "*").map(|(_, ok)| *ok);
    ENCODINGS
        .into_iter()
        .filter(|(coding, _)| {
            let alias = if *coding == "gzip" { "x-gzip" } else { *coding };
            match named.iter().find(|(c, _)| c == coding || c == alias) {
                Some((_, ok)) => *ok,
                None => star.unwrap_or(false),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(accept: Option<&str>) -> Request {
        Request {
            method: "GET".into(),
            target: "/".into(),
            minor: 1,
            headers: accept
                .map(|a| vec![("Accept-Encoding".to_string(), a.to_string())])
                .unwrap_or_default(),
        }
    }

    #[test]
    fn accept_encoding_is_read_as_rfc_9110_says() {
        let names = |a| {
            accepted(&req(a))
                .into_iter()
                .map(|(c, _)| c)
                .collect::<Vec<_>>()
        };
        assert!(names(None).is_empty());
        assert_eq!(names(Some("gzip, deflate, br")), ["br", "gzip"]);
        assert_eq!(names(Some("gzip")), ["gzip"]);
        assert_eq!(names(Some("x-gzip")), ["gzip"]);
        assert_eq!(names(Some("br;q=0, gzip;q=0.5")), ["gzip"]);
        assert_eq!(names(Some("*")), ["br", "gzip"]);
        assert_eq!(names(Some("*;q=0, gzip")), ["gzip"]);
        assert!(names(Some("identity")).is_empty());
        assert!(names(Some("gzip;q=0")).is_empty());
    }
}
