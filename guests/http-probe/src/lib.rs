//! `http-probe`: a `wasi:http` component for the tests of `wasm-sendfile
//! http`. The request's path picks what it does, most of it hostile:
//!
//! - `/trap`: panics before answering.
//! - `/spin`: loops forever before answering (an epoch deadline must stop it).
//! - `/hang`: waits forever on a pollable before answering.
//! - `/never`: returns without answering.
//! - `/taken`: takes the response's stream body, then calls `respond`.
//! - `/body-error/NAME`: opens a file body on `/NAME` under the grant at
//!   `/` and answers 200 with the error's name, or `ok LEN`. `root` is
//!   the directory itself; `write-only/NAME` opens `NAME` for writing only.
//! - `/file/NAME`: answers with `/NAME` as a file body (no range).
//! - `/trap-mid-body`: answers with a stream body, writes part, panics.
//! - `/count`: reads the request body; answers 200 with its length, or
//!   `error after N` if the stream failed.
//! - `/drop-then-hang`: drops the outparam unset, then waits forever.
//! - `/stall-mid-body`: answers with a stream body, writes part, then
//!   waits forever.
//! - `/status/N`: answers with status `N` and no body.
//! - `/answer-then-count`: answers first (a stream body), then reads the
//!   request body and writes its length, or `error after N`.

use std::io::Write as _;
use wasi::filesystem::types::{Descriptor, DescriptorFlags, OpenFlags, PathFlags};
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasm_sendfile_sdk::http::{FileBody, respond};

wasi::http::proxy::export!(Probe);

struct Probe;

impl wasi::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        match path.as_str() {
            "/trap" => panic!("asked to trap"),
            "/spin" =>
            {
                #[allow(clippy::empty_loop)]
                loop {}
            }
            "/hang" => {
                hang();
                text(out, 200, "woke up");
            }
            "/never" => {}
            "/drop-then-hang" => {
                drop(out);
                hang();
            }
            "/stall-mid-body" => {
                let _body = answer_with_part_of_a_body(out);
                hang();
            }
            "/taken" => {
                let response = OutgoingResponse::new(Fields::new());
                let _stream_body = response.body().expect("the body, once");
                let file = root().open_at(
                    PathFlags::empty(),
                    "a.txt",
                    OpenFlags::empty(),
                    DescriptorFlags::READ,
                );
                let body = FileBody::open(&file.expect("a.txt"), 0, None).expect("a body");
                let result = respond(out, response, body);
                // The host answered 500 already; the result shows on stderr.
                eprintln!("respond: {result:?}");
            }
            "/trap-mid-body" => {
                let _body = answer_with_part_of_a_body(out);
                panic!("asked to trap mid-body");
            }
            "/count" => {
                let answer = count(request);
                text(out, 200, &answer);
            }
            "/answer-then-count" => {
                let response = OutgoingResponse::new(Fields::new());
                let body = response.body().expect("the body, once");
                ResponseOutparam::set(out, Ok(response));
                let answer = count(request);
                let mut stream = body.write().expect("the stream");
                let _ = stream.write_all(answer.as_bytes());
                let _ = stream.flush();
                drop(stream);
                let _ = OutgoingBody::finish(body, None);
            }
            p => {
                if let Some(status) = p.strip_prefix("/status/") {
                    let response = OutgoingResponse::new(Fields::new());
                    let status = status.parse().expect("a number");
                    response
                        .set_status_code(status)
                        .expect("a status wasi:http takes");
                    ResponseOutparam::set(out, Ok(response));
                } else if p == "/body-error/root" {
                    let answer = match FileBody::open(&root(), 0, None) {
                        Ok(body) => format!("ok {}", body.len()),
                        Err(e) => e.name().to_string(),
                    };
                    text(out, 200, &answer);
                } else if let Some(name) = p.strip_prefix("/body-error/") {
                    let (name, flags) = match name.strip_prefix("write-only/") {
                        Some(name) => (name, DescriptorFlags::WRITE),
                        None => (name, DescriptorFlags::READ),
                    };
                    let answer =
                        match root().open_at(PathFlags::empty(), name, OpenFlags::empty(), flags) {
                            Ok(file) => match FileBody::open(&file, 0, None) {
                                Ok(body) => format!("ok {}", body.len()),
                                Err(e) => e.name().to_string(),
                            },
                            Err(e) => format!("open: {e:?}"),
                        };
                    text(out, 200, &answer);
                } else if let Some(name) = p.strip_prefix("/file/") {
                    let file = root().open_at(
                        PathFlags::empty(),
                        name,
                        OpenFlags::empty(),
                        DescriptorFlags::READ,
                    );
                    let body = FileBody::open(&file.expect("the file"), 0, None).expect("a body");
                    let response = OutgoingResponse::new(Fields::new());
                    respond(out, response, body).expect("answered");
                } else {
                    text(out, 404, "no such probe");
                }
            }
        }
    }
}

/// Reads `request`'s body to its end: its length, or `error after N`.
fn count(request: IncomingRequest) -> String {
    let body = request.consume().expect("the body");
    let mut stream = body.stream().expect("the stream");
    let mut n = 0usize;
    let mut buf = [0u8; 65536];
    loop {
        match std::io::Read::read(&mut stream, &mut buf) {
            Ok(0) => return n.to_string(),
            Ok(k) => n += k,
            Err(_) => return format!("error after {n}"),
        }
    }
}

/// Answers with a stream body and writes 1000 bytes of it, leaving it
/// unfinished: the body (and its stream) stay open while it is held.
fn answer_with_part_of_a_body(
    out: ResponseOutparam,
) -> (OutgoingBody, wasi::io::streams::OutputStream) {
    let response = OutgoingResponse::new(Fields::new());
    let body = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().expect("the stream");
    let _ = stream.write_all(&[b'x'; 1000]);
    let _ = stream.flush();
    (body, stream)
}

/// Waits (in a host call, not computing) for ever.
fn hang() {
    let never = wasi::clocks::monotonic_clock::subscribe_duration(u64::MAX);
    never.block();
}

/// The directory granted at `/`.
fn root() -> Descriptor {
    wasi::filesystem::preopens::get_directories()
        .into_iter()
        .find(|(_, path)| path == "/")
        .expect("a grant at /")
        .0
}

fn text(out: ResponseOutparam, status: u16, text: &str) {
    let length = text.len().to_string().into_bytes();
    let headers = Fields::from_list(&[("content-length".into(), length)]).expect("a header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("a status");
    let body = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().expect("the stream");
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}
