//! `http-files`: a `wasi:http` file server. It answers with the files of
//! the directory the host mounts at `/` (`--dir-ro SITE::/`), as
//! `wasm-sendfile serve`'s static server does (single ranges, conditional
//! requests, `index.html`, dotfiles refused), and hands every file body to
//! the host with `http-file.respond`, so it goes out by `sendfile(2)`: no
//! byte of a file passes through this guest.
//!
//! `HTTP_FILES_BODY=stream` makes it read each file into its memory and
//! write it through the ordinary body stream instead (what a `wasi:http`
//! file server must do without the capability), to compare.

mod reply;

use reply::{Body, Reply};
use std::io::Write as _;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
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
        Body::File { file, offset, len } => {
            let mut bytes = vec![0; len as usize];
            let mut got = 0;
            while got < bytes.len() {
                match file
                    .descriptor()
                    .read((bytes.len() - got) as u64, offset + got as u64)
                {
                    Ok((chunk, _)) if chunk.is_empty() => break,
                    Ok((chunk, _)) => {
                        bytes[got..got + chunk.len()].copy_from_slice(&chunk);
                        got += chunk.len();
                    }
                    Err(_) => break,
                }
            }
            bytes.truncate(got);
            write_body(out, response, &bytes);
        }
        Body::Text(text) => write_body(out, response, text.as_bytes()),
        Body::None => ResponseOutparam::set(out, Ok(response)),
    }
}

/// Answers with `bytes` through the ordinary `wasi:http` body stream.
fn write_body(out: ResponseOutparam, response: OutgoingResponse, bytes: &[u8]) {
    let body = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().expect("the body's stream, once");
    // Writes of at most 4 KiB: a stream takes no more per call.
    for piece in bytes.chunks(4096) {
        if stream.write_all(piece).is_err() {
            return;
        }
    }
    let _ = stream.flush();
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}
