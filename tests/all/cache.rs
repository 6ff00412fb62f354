//! `no-disk-io` and `no-cache`: the page cache decides.

use super::{put, send_to_peer, workdir};
use wasm_sendfile_tests::{Guest, evict, guests, pattern, warm};

#[test]
fn no_disk_io_is_busy_on_an_uncached_range_and_sends_once_cached() {
    let dir = workdir();
    let data = pattern(2 << 20);
    put(dir.path(), "f", &data);
    let path = dir.path().join("f");

    evict(&path);
    let (out, got) = send_to_peer(dir.path(), "f", &["no-disk-io"]);
    assert_eq!(out.line("err"), "err code=busy total=0 file=0");
    assert!(got.is_empty());

    warm(&path);
    let (out, got) = send_to_peer(dir.path(), "f", &["no-disk-io"]);
    assert_eq!(out.num("ok", "file"), 2 << 20);
    assert!(got == data, "bytes differ");
}

#[test]
fn without_no_disk_io_an_uncached_file_is_read_from_disk() {
    let dir = workdir();
    let data = pattern(2 << 20);
    put(dir.path(), "f", &data);
    evict(&dir.path().join("f"));
    let (out, got) = send_to_peer(dir.path(), "f", &[]);
    assert_eq!(out.num("ok", "file"), 2 << 20);
    assert!(got == data, "bytes differ");
}

/// A directory with a 2 MiB `src` on disk and in the page cache.
fn cached_source() -> (tempfile::TempDir, Vec<u8>) {
    let dir = workdir();
    let data = pattern(2 << 20);
    put(dir.path(), "src", &data);
    let src = dir.path().join("src");
    std::fs::File::open(&src).unwrap().sync_all().unwrap();
    warm(&src);
    (dir, data)
}

/// The sent range has left the page cache: a `no-disk-io` send is busy.
fn assert_evicted(dir: &std::path::Path) {
    let (out, _) = send_to_peer(dir, "src", &["no-disk-io"]);
    assert_eq!(out.line("err"), "err code=busy total=0 file=0");
}

#[test]
fn no_cache_drops_the_sent_range_from_the_page_cache() {
    let (dir, _) = cached_source();
    let out = Guest::new(guests::PROBE)
        .dir(dir.path(), "/data")
        .policy(|p| p.allow_file_targets(true))
        .args(["send", "file=/data/src", "to-file=/data/dst", "no-cache"])
        .run();
    assert_eq!(out.num("ok", "file"), 2 << 20);
    assert_evicted(dir.path());
}

/// Issue 9, finding 8: to a socket, `no-cache` used to drop nothing (the
/// pages were still queued when the call ended). Now the range leaves the
/// cache once the peer has it: after a peer that read everything, a
/// `no-disk-io` send of the same range is `busy`.
#[test]
fn no_cache_to_a_socket_drops_the_range_once_the_peer_has_it() {
    let (dir, data) = cached_source();
    let (out, got) = send_to_peer(dir.path(), "src", &["no-cache"]);
    assert_eq!(out.num("ok", "file"), 2 << 20);
    assert!(got == data, "bytes differ");
    assert_evicted(dir.path());
}
