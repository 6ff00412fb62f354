//! The guest SDK's `std`-like conveniences, run in a real guest against
//! real files (issue 12).

use super::{put, workdir};
use wasm_sendfile_tests::{Guest, Peer, guests, pattern, probe_against, probe_to_collector};

#[test]
fn file_conveniences_behave_like_std() {
    let dir = workdir();
    let out = Guest::new(guests::PROBE)
        .dir(dir.path(), "/data")
        .args(["fs-ops", "path=/data/f"])
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout,
        "create_new: ok\ncreate_new again: err AlreadyExists\nafter append: len=5\n\
         after set_len: size=2\nsync_all: ok\n"
    );
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"Xb");
}

#[test]
fn limits_are_the_hosts_policy() {
    let out = Guest::new(guests::PROBE)
        .policy(|p| {
            p.max_header_trailer_bytes(777)
                .max_chunk(std::num::NonZeroU64::new(65536).unwrap())
                .allow_file_targets(true)
        })
        .args(["limits"])
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout,
        "limits header-trailer-bytes=777 buffers=1024 chunk=65536 file-targets=true\n"
    );
    let out = Guest::new(guests::PROBE).args(["limits"]).run();
    out.assert_success();
    assert!(
        out.stdout.ends_with(" file-targets=false\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_builder_from_the_cursor_sends_from_it_and_moves_it() {
    let dir = workdir();
    let data = pattern(1000);
    put(dir.path(), "f", &data);
    let (out, received) =
        probe_to_collector(dir.path(), &["cursor-builder", "path=/data/f"], |g| g);
    out.assert_success();
    assert_eq!(
        out.stdout,
        "builder sent=21 position=30\nsendfile sent=5 position=35\n\
         offset moves the cursor: position=100\n"
    );
    let mut want = b"H".to_vec();
    want.extend_from_slice(&data[10..35]);
    assert!(received == want, "each byte once, in order");
}

#[test]
fn timeouts_bound_reads_writes_and_sendfile_like_std_on_linux() {
    let dir = workdir();
    put(dir.path(), "big", &pattern(32 << 20));
    // A peer that accepts, then neither sends nor reads until the guest
    // is done.
    let peer = Peer::with_small_receive_buffer();
    let addr = peer.addr();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let conn = peer.accept();
        let _ = finished.recv_timeout(std::time::Duration::from_secs(60));
        drop(conn);
    });
    let out = probe_against(addr, dir.path(), &["timeouts", "path=/data/big"], |g| g);
    done.send(()).unwrap();
    holder.join().unwrap();
    out.assert_success();
    assert_eq!(
        out.stdout,
        "zero read timeout: Err(InvalidInput)\n\
         timeouts: read=Some(300ms) write=Some(300ms)\n\
         read: Err(WouldBlock) waited-enough=true\n\
         sendfile: short=true cursor-follows=true waited-enough=true\n\
         sendfile again: Err((WouldBlock, Some(\"would-block\"))) waited-enough=true \
         cursor-follows=true\n\
         write: Err(WouldBlock) waited-enough=true\n"
    );
}

#[test]
fn connect_timeout_refuses_zero_and_connects() {
    let peer = Peer::new();
    let addr = peer.addr();
    let held = std::thread::spawn(move || drop(peer.accept()));
    let out = Guest::new(guests::PROBE)
        .allow_connect(addr)
        .args(["connect-timeout".to_string(), format!("connect={addr}")])
        .run();
    held.join().unwrap();
    out.assert_success();
    assert_eq!(out.stdout, "zero: Err(InvalidInput)\nconnected: true\n");
}

#[test]
fn the_capabilitys_code_is_reachable_from_an_io_error() {
    let dir = workdir();
    put(dir.path(), "f", b"hello");
    let (out, received) = probe_to_collector(dir.path(), &["send-error-of", "path=/data/f"], |g| g);
    out.assert_success();
    assert_eq!(
        out.stdout,
        "kind=PermissionDenied code=Some((\"bad-descriptor\", 0))\nother: true\n"
    );
    assert!(received.is_empty());
}
