//! From a request to what to answer: the rules of `http-rules` applied to
//! the files under `/`.

use http_rules::Headers;
use http_rules::conditions::{if_range_holds, not_modified, precondition_failed};
use http_rules::path::{origin_form, path_of};
use http_rules::range::{Range, range};
use http_rules::validators::{content_type, validators};
use wasi::filesystem::types::DescriptorType;
use wasi::http::types::{IncomingRequest, Method};
use wasm_sendfile_sdk::fs::{File, metadata};

/// The parts of a `wasi:http` request the rules read.
pub struct Request {
    method: Method,
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    pub fn of(request: &IncomingRequest) -> Self {
        let headers = request
            .headers()
            .entries()
            .into_iter()
            .filter_map(|(k, v)| String::from_utf8(v).ok().map(|v| (k, v)))
            .collect();
        Self {
            method: request.method(),
            target: request.path_with_query().unwrap_or_else(|| "/".into()),
            headers,
        }
    }
}

impl Headers for Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

pub enum Body {
    None,
    Text(String),
    /// `len` bytes of `file` from `offset`.
    File {
        file: File,
        offset: u64,
        len: u64,
    },
}

impl Reply {
    fn error(status: u16) -> Reply {
        let text = format!("{status}\n");
        Reply {
            status,
            headers: vec![
                ("content-type", "text/plain; charset=utf-8".into()),
                ("content-length", text.len().to_string()),
            ],
            body: Body::Text(text),
        }
    }
}

/// The answer to `req`.
pub fn reply(req: &Request) -> Reply {
    if !matches!(req.method, Method::Get | Method::Head) {
        let mut reply = Reply::error(405);
        reply.headers.push(("allow", "GET, HEAD".into()));
        return reply;
    }
    let rel = match path_of(&req.target, false) {
        Ok(rel) => rel,
        Err(status) => return Reply::error(status),
    };
    let path = match find(&rel) {
        Ok(Found::File(path)) => path,
        Ok(Found::Slash) => return redirect_to_slash(&rel, &req.target),
        Err(status) => return Reply::error(status),
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) => return Reply::error(status_of(&e)),
    };
    let Ok(stat) = file.metadata() else {
        return Reply::error(500);
    };
    if stat.type_ != DescriptorType::RegularFile {
        return Reply::error(404);
    }
    let (etag, modified) = validators(&stat);
    let size = stat.size;
    let last_modified = httpdate::fmt_http_date(modified);
    let validator_headers = || {
        vec![
            ("etag", etag.clone()),
            ("last-modified", last_modified.clone()),
            ("accept-ranges", "bytes".into()),
        ]
    };
    if precondition_failed(req, &etag, modified) {
        return Reply::error(412);
    }
    if not_modified(req, &etag, modified) {
        return Reply {
            status: 304,
            headers: validator_headers(),
            body: Body::None,
        };
    }
    let range = if if_range_holds(req, &etag, modified) {
        range(req.header("range"), size)
    } else {
        Range::Full
    };
    let mut headers = validator_headers();
    headers.push(("content-type", content_type(&path)));
    let (status, offset, len) = match range {
        Range::Full => (200, 0, size),
        Range::Part(a, b) => {
            headers.push(("content-range", format!("bytes {a}-{b}/{size}")));
            (206, a, b - a + 1)
        }
        Range::Unsatisfiable => {
            return Reply {
                status: 416,
                headers: vec![
                    ("content-range", format!("bytes */{size}")),
                    ("content-length", "0".into()),
                ],
                body: Body::None,
            };
        }
    };
    headers.push(("content-length", len.to_string()));
    Reply {
        status,
        headers,
        body: Body::File { file, offset, len },
    }
}

enum Found {
    File(String),
    Slash,
}

/// A regular file, or a directory's `index.html`; a directory named
/// without its `/` is redirected; anything else is 404. Nothing but a
/// regular file is opened (a FIFO's open would block).
fn find(rel: &str) -> Result<Found, u16> {
    let st = metadata(rel).map_err(|e| status_of(&e))?;
    match st.type_ {
        DescriptorType::RegularFile => Ok(Found::File(rel.to_string())),
        DescriptorType::Directory if !rel.ends_with('/') => Ok(Found::Slash),
        DescriptorType::Directory => {
            let index = format!("{rel}index.html");
            match metadata(&index) {
                Ok(st) if st.type_ == DescriptorType::RegularFile => Ok(Found::File(index)),
                _ => Err(403),
            }
        }
        _ => Err(404),
    }
}

fn status_of(e: &std::io::Error) -> u16 {
    match e.kind() {
        std::io::ErrorKind::NotFound => 404,
        std::io::ErrorKind::PermissionDenied => 403,
        _ => 404,
    }
}

/// 301 to the directory's path with a `/`, on this site (the path is the
/// normalized one, so `//evil.example` cannot become another host).
fn redirect_to_slash(rel: &str, target: &str) -> Reply {
    let query = origin_form(target)
        .find('?')
        .map_or("", |i| &origin_form(target)[i..]);
    let mut location = String::new();
    for b in rel.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            location.push(b as char);
        } else {
            location.push_str(&format!("%{b:02X}"));
        }
    }
    let mut reply = Reply::error(301);
    reply
        .headers
        .push(("location", format!("/{location}/{query}")));
    reply
}
