//! `http-file`: a `wasi:http` guest answers a request with a range of a
//! file, which the host (`wasm-sendfile http`) sends with `sendfile(2)`.
//! The response's status and headers are set with the usual `wasi:http`
//! calls; the host sets `content-length` to the range's length.
//!
//! ```no_run
//! use wasm_sendfile_sdk::http::{FileBody, respond};
//! use wasm_sendfile_sdk::wasi::http::types::{Fields, OutgoingResponse, ResponseOutparam};
//! # fn handle(out: ResponseOutparam) -> Result<(), wasm_sendfile_sdk::http::BodyError> {
//! let file = wasm_sendfile_sdk::fs::File::open("/index.html").expect("open");
//! let body = FileBody::open(file.descriptor(), 0, None)?;
//! let headers = Fields::from_list(&[("content-type".into(), b"text/html".to_vec())]).unwrap();
//! let response = OutgoingResponse::new(headers);
//! respond(out, response, body)
//! # }
//! ```

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wasm-sendfile:sendfile/http-guest",
        with: {
            "wasi:io/poll@0.2.12": wasi::io::poll,
            "wasi:io/error@0.2.12": wasi::io::error,
            "wasi:io/streams@0.2.12": wasi::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasi::clocks::monotonic_clock,
            "wasi:clocks/wall-clock@0.2.12": wasi::clocks::wall_clock,
            "wasi:filesystem/types@0.2.12": wasi::filesystem::types,
            "wasi:http/types@0.2.12": wasi::http::types,
        },
    });
}

use bindings::wasm_sendfile::sendfile::http_file as raw;
use wasi::filesystem::types::Descriptor;
use wasi::http::types::{OutgoingResponse, ResponseOutparam};

pub use raw::BodyError;

/// A checked file range to answer with (the WIT `file-body`). It keeps the
/// file open until the response is sent or the body is dropped.
pub struct FileBody(raw::FileBody);

impl FileBody {
    /// The range of `file` from `offset`, at most `count` bytes (`None`: to
    /// the end), clipped to the file's size now.
    ///
    /// # Errors
    /// [`BodyError::BadDescriptor`] if `file` is not open for reading,
    /// [`BodyError::Invalid`] if it is not a regular file or `offset` is
    /// above 2^63 - 1, [`BodyError::Io`] if its size cannot be read.
    pub fn open(file: &Descriptor, offset: u64, count: Option<u64>) -> Result<Self, BodyError> {
        raw::open_body(file, offset, count).map(FileBody)
    }

    /// The body's size: what `content-length` will say.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.0.length()
    }
}

/// Answers the request: `out` is set to `response` with `body` as its
/// body. A `HEAD` request gets the head alone.
///
/// # Errors
/// [`BodyError::BodyTaken`] if `response.body()` was called; the request
/// is then answered with a `wasi:http` internal error (500).
pub fn respond(
    out: ResponseOutparam,
    response: OutgoingResponse,
    body: FileBody,
) -> Result<(), BodyError> {
    raw::respond(out, response, body.0)
}
