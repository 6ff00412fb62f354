//! One integration binary: every test runs a real guest component in the
//! real host against real files and loopback sockets.

mod cache;
mod copy_path;
mod embedding;
mod errors;
mod faults;
mod file_target;
mod hostile;
mod model;
mod nonblocking;
mod python_guest;
mod sdk;
mod seeds;
mod semantics;
mod sockets;
mod tcp;
mod tcp_differential;

use std::path::Path;
use wasm_sendfile_tests::{Output, probe_to_collector};

/// A temporary directory on a real disk (not tmpfs), for the guest's preopen.
fn workdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// Writes `data` as `name` in `dir`.
fn put(dir: &Path, name: &str, data: &[u8]) {
    std::fs::write(dir.join(name), data).unwrap();
}

/// Runs `probe send` from `/data/<file>` in `dir` to a fresh peer with the
/// extra `args`; returns the guest's output (which must be a success) and
/// what the peer received.
fn send_to_peer(dir: &Path, file: &str, args: &[&str]) -> (Output, Vec<u8>) {
    let source = format!("file=/data/{file}");
    let mut all = vec!["send", source.as_str()];
    all.extend_from_slice(args);
    let (out, got) = probe_to_collector(dir, &all, |g| g);
    out.assert_success();
    (out, got)
}
