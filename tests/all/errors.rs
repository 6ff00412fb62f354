//! Every misuse gets its typed error, and the host keeps running.

use super::{put, send_to_peer, workdir};
use wasm_sendfile_tests::{
    Guest, Output, Peer, guests, pattern, probe_against, probe_to_collector,
};

fn probe(dir: &std::path::Path, args: &[&str]) -> Output {
    Guest::new(guests::PROBE)
        .dir(dir, "/data")
        .allow_bind("127.0.0.1")
        .policy(|p| p.allow_file_targets(true).max_header_trailer_bytes(64))
        .args(args)
        .run()
}

#[test]
fn source_opened_write_only_is_bad_descriptor() {
    let dir = workdir();
    put(dir.path(), "f", &pattern(100));
    let (out, got) = send_to_peer(dir.path(), "f", &["source-mode=write"]);
    assert_eq!(out.line("err"), "err code=bad-descriptor total=0 file=0");
    assert!(got.is_empty());
    assert_eq!(out.metrics.failed_calls, 1);
}

#[test]
fn directory_as_source_is_invalid() {
    let dir = workdir();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let (out, _) = send_to_peer(dir.path(), "sub", &[]);
    assert_eq!(out.line("err"), "err code=invalid total=0 file=0");
}

#[test]
fn offsets_beyond_off_t_and_zero_max_chunk_are_invalid() {
    let dir = workdir();
    put(dir.path(), "f", &pattern(100));
    let (out, _) = send_to_peer(dir.path(), "f", &["offset=9223372036854775808"]);
    assert_eq!(out.line("err"), "err code=invalid total=0 file=0");
    let (out, _) = send_to_peer(dir.path(), "f", &["max-chunk=0"]);
    assert_eq!(out.line("err"), "err code=invalid total=0 file=0");
}

#[test]
fn headers_over_the_policy_limit_are_access_denied() {
    let dir = workdir();
    put(dir.path(), "f", &pattern(100));
    let (out, got) = probe_to_collector(
        dir.path(),
        &[
            "send",
            "file=/data/f",
            "header=0123456789",
            "trailer=0123456789",
        ],
        |g| g.policy(|p| p.max_header_trailer_bytes(16)),
    );
    assert_eq!(out.line("err"), "err code=access-denied total=0 file=0");
    assert!(got.is_empty());
}

#[test]
fn unconnected_and_listening_sockets_are_not_connected() {
    let dir = workdir();
    put(dir.path(), "f", &pattern(100));
    let out = probe(
        dir.path(),
        &["socket-state", "state=unconnected", "file=/data/f"],
    );
    assert_eq!(out.line("err"), "err code=not-connected total=0 file=0");
    let out = probe(
        dir.path(),
        &[
            "socket-state",
            "state=listening",
            "bind=127.0.0.1:0",
            "file=/data/f",
        ],
    );
    assert_eq!(out.line("err"), "err code=not-connected total=0 file=0");
}

#[test]
fn a_socket_shut_down_for_writing_is_a_broken_pipe() {
    let dir = workdir();
    put(dir.path(), "f", &pattern(100));
    let (out, got) = probe_to_collector(
        dir.path(),
        &["socket-state", "state=shutdown", "file=/data/f"],
        |g| g,
    );
    assert_eq!(out.line("err"), "err code=broken-pipe total=0 file=0");
    assert!(got.is_empty());
}

#[test]
fn a_peer_that_went_away_is_a_broken_pipe_or_reset_never_a_crash() {
    let dir = workdir();
    put(dir.path(), "f", &pattern(200_000));
    let peer = Peer::new();
    let addr = peer.addr();
    let closer = std::thread::spawn(move || drop(peer.accept()));
    let args = ["socket-state", "state=peer-closed", "file=/data/f"];
    let out = probe_against(addr, dir.path(), &args, |g| g);
    closer.join().unwrap();
    let code = out.field("err", "code");
    assert!(
        code == "broken-pipe" || code == "connection-reset",
        "{out:#?}"
    );
}
