//! One integration binary: every test runs a real guest component in the
//! real host against real files and loopback sockets.

mod cache;
mod embedding;
mod errors;
mod file_target;
mod nonblocking;
mod semantics;
mod sockets;

use std::path::Path;
use wasm_sendfile_tests::{Guest, Output, Peer, guests};

/// A temporary directory on a real disk (not tmpfs), for the guest's preopen.
fn workdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// Writes `data` as `name` in `dir`.
fn put(dir: &Path, name: &str, data: &[u8]) {
    std::fs::write(dir.join(name), data).unwrap();
}

/// Runs `probe send` from `/data/<file>` in `dir` to a fresh peer with the
/// extra `args`; returns the guest's output and what the peer received.
fn send_to_peer(dir: &Path, file: &str, args: &[&str]) -> (Output, Vec<u8>) {
    let peer = Peer::new();
    let addr = peer.addr();
    let received = peer.collect();
    let out = Guest::new(guests::PROBE)
        .dir(dir, "/data")
        .allow_connect(addr)
        .args(["send".to_string(), format!("connect={addr}")])
        .args([format!("file=/data/{file}")])
        .args(args)
        .run();
    out.assert_success();
    (out, received.join().unwrap())
}
