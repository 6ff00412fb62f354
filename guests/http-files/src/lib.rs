//! `http-files`: a `wasi:http` file server. It answers with the files of
//! the directory the host mounts at `/` (`--dir-ro SITE::/`), as
//! `wasm-sendfile serve`'s static server does (single ranges, conditional
//! requests, `index.html`, dotfiles refused), and hands every file body to
//! the host with `http-file.respond`, so it goes out by `sendfile(2)`: no
//! byte of a file passes through this guest.
//!
//! `HTTP_FILES_BODY=stream` makes it read each file through its memory,
//! 64 KiB at a time, and write it to the ordinary body stream instead (what
//! a `wasi:http` file server must do without the capability), to compare.

mod reply;

use reply::{Body, Reply};
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::{OutputStream, StreamError};
use wasm_sendfile_sdk::fs::File;
use wasm_sendfile_sdk::http::{FileBody, respond};

wasi::http::proxy::export!(Files);

struct Files;

impl wasi::exports::http::incoming_handler::Guest for Files {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let reply = reply::reply(&reply::Request::of(&request));
        drop(request);
        send(out, reply);
    }
}

/// Whether file bodies go through the body stream (`HTTP_FILES_BODY=stream`).
fn streamed() -> bool {
    std::env::var("HTTP_FILES_BODY").is_ok_and(|v| v == "stream")
}

fn send(out: ResponseOutparam, reply: Reply) {
    let fields: Vec<(String, Vec<u8>)> = reply
        .headers
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_bytes()))
        .collect();
    let headers = Fields::from_list(&fields).expect("headers the server made are valid");
    let response = OutgoingResponse::new(headers);
    response
        .set_status_code(reply.status)
        .expect("a valid status");
    match reply.body {
        Body::File { file, offset, len } if !streamed() => {
            match FileBody::open(file.descriptor(), offset, Some(len)) {
                Ok(body) => {
                    // Fails only if the body was taken, which it was not.
                    let _ = respond(out, response, body);
                }
                Err(e) => ResponseOutparam::set(
                    out,
                    Err(wasi::http::types::ErrorCode::InternalError(Some(
                        e.to_string(),
                    ))),
                ),
            }
        }
        Body::File { file, offset, len } => stream_file(out, response, &file, offset, len),
        Body::Text(text) => write_body(out, response, text.as_bytes()),
        Body::None => ResponseOutparam::set(out, Ok(response)),
    }
}

/// Answers with `len` bytes of `file` from `offset` through the ordinary
/// body stream: read into guest memory a piece at a time, then copied out.
/// If the file ends early, the body stays unfinished (the host closes the
/// connection) rather than short of its `content-length`.
fn stream_file(
    out: ResponseOutparam,
    response: OutgoingResponse,
    file: &File,
    offset: u64,
    len: u64,
) {
    let body = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().expect("the body's stream, once");
    let mut sent = 0;
    while sent < len {
        let want = (len - sent).min(PIECE);
        let chunk = match file.descriptor().read(want, offset + sent) {
            Ok((chunk, _)) if !chunk.is_empty() => chunk,
            _ => return,
        };
        if write_all(&stream, &chunk).is_err() {
            return;
        }
        sent += chunk.len() as u64;
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

/// Bytes read from the file at a time by the streaming path.
const PIECE: u64 = 64 * 1024;

/// Writes all of `bytes`, waiting for the stream's permits.
fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let permit = stream.check_write()?;
        if permit == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = bytes.len().min(permit as usize);
        stream.write(&bytes[..n])?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Answers with `bytes` through the ordinary `wasi:http` body stream.
fn write_body(out: ResponseOutparam, response: OutgoingResponse, bytes: &[u8]) {
    let body = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().expect("the body's stream, once");
    if write_all(&stream, bytes).is_err() {
        return;
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}
